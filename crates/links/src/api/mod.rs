//! LinkService over tonic. Management RPCs act on the organization in the caller's token;
//! ResolveLink is public and shared with the `/l/{slug}` page ([`LinksApi::resolve`]).
//! Errors leave through `mesh::error` once.
//!
//! Invariants: every way a link fails to resolve (unknown, expired, exhausted, disabled,
//! deleted, target gone, another organization's host) answers the same LINK_NOT_FOUND; the
//! visitor context is what this process observed (client address after the trusted-proxy
//! rules, headers), never what a client wrote into the request; a visit counts only when
//! the view was built and the atomic count succeeded.

mod convert;
mod manage;

use std::net::IpAddr;
use std::sync::Arc;

use mesh::ids::OrganizationId;
use ring::hmac;
use taskmesh::links::v1::link_service_server::LinkService;
use taskmesh::links::v1::*;
use tonic::{Request, Response, Status};

use crate::domain::attempts::{self, Limits};
use crate::domain::{LinksError, visitors};
use crate::store::{LinkRecord, LinksStore, VisitRecord};
use crate::targets::Targets;
use kit::passwords::PasswordHasherPool;

type Reply<T> = std::result::Result<Response<T>, Status>;
type Result<T> = std::result::Result<T, LinksError>;

fn reply<T>(result: Result<T>) -> Reply<T> {
    result
        .map(Response::new)
        .map_err(|error| mesh::ServiceError::from(error).into_status())
}

/// Who visits, as this process observed it.
#[derive(Clone, Debug, Default)]
pub struct Visitor {
    /// Client address (after the trusted-proxy rules), if known.
    pub address: Option<IpAddr>,
    /// User-Agent header.
    pub user_agent: String,
    /// Referer header.
    pub referrer: String,
}

impl Visitor {
    /// From request headers: the client address this process decided
    /// (`x-taskmesh-client-ip`), `user-agent` and `referer`.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .chars()
                .take(2_048)
                .collect::<String>()
        };
        Self {
            address: text(mesh::telemetry::CLIENT_IP_HEADER).parse().ok(),
            user_agent: text("user-agent"),
            referrer: text("referer"),
        }
    }
}

/// Settings of the API.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Whether links to external https URLs may be created.
    pub allow_url_links: bool,
    /// Wrong-password limits.
    pub attempts: Limits,
    /// The edge's public base URL.
    pub public_url: String,
}

/// The service.
pub struct LinksApi {
    store: Arc<dyn LinksStore>,
    targets: Arc<dyn Targets>,
    passwords: PasswordHasherPool,
    visitor_key: hmac::Key,
    settings: Settings,
}

impl LinksApi {
    /// The API over its parts; `visitor_key` keys the daily visitor hashes.
    pub fn new(
        store: Arc<dyn LinksStore>,
        targets: Arc<dyn Targets>,
        visitor_key: &[u8],
        settings: Settings,
    ) -> Self {
        Self {
            store,
            targets,
            // Two threads: share-link passwords are rare next to the page's other work.
            passwords: PasswordHasherPool::new("links", 2),
            visitor_key: hmac::Key::new(hmac::HMAC_SHA256, visitor_key),
            settings,
        }
    }

    /// A visitor's hash for today: unique visitors countable per day, not across days.
    fn visitor_hash(&self, address: &str, now: i64) -> String {
        let day = now.div_euclid(86_400_000);
        let tag = hmac::sign(&self.visitor_key, format!("{day}|{address}").as_bytes());
        tag.as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Checks the password of a protected `link` under the attempt limits: the attempt is
    /// reserved (counted) before the password is verified, and given back when it is right.
    async fn check_password(
        &self,
        link: &LinkRecord,
        password: &str,
        address: &str,
        now: i64,
    ) -> Result<()> {
        let Some(hash) = &link.password_hash else {
            return Ok(());
        };
        if password.is_empty() {
            return Err(LinksError::PasswordRequired);
        }
        let limits = self.settings.attempts;
        let (link_key, source_key) = (
            attempts::link_key(&link.id),
            attempts::source_key(&link.id, address),
        );
        let counters = [
            (link_key.clone(), limits.per_link),
            (source_key.clone(), limits.per_source),
        ];
        if let Some(wait) = self
            .store
            .reserve_attempt(&counters, limits.window_ms, now)
            .await?
        {
            return Err(LinksError::AttemptsExceeded(wait));
        }
        let right = self.passwords.verify(password, Some(hash)).await?;
        if !right {
            return Err(LinksError::PasswordInvalid);
        }
        self.store
            .release_attempt(&[link_key], &[source_key])
            .await?;
        Ok(())
    }

    /// Resolves `slug` for `visitor`: the view of what it shares, the visit counted.
    pub async fn resolve(
        &self,
        slug: &str,
        password: &str,
        organization_slug: &str,
        visitor: &Visitor,
    ) -> Result<ResolveLinkResponse> {
        let now = mesh::time::now_millis();
        if slug.is_empty() || slug.len() > 64 {
            return Err(LinksError::LinkNotFound);
        }
        let link = self
            .store
            .by_slug(slug)
            .await?
            .ok_or(LinksError::LinkNotFound)?;
        if !link.resolvable(now) {
            return Err(LinksError::LinkNotFound);
        }
        if !organization_slug.is_empty()
            && self.targets.organization(organization_slug).await? != Some(link.organization_id)
        {
            return Err(LinksError::LinkNotFound);
        }
        let address = visitor
            .address
            .map(|address| visitors::anonymize(address).to_string())
            .unwrap_or_else(|| "unknown".into());
        let organization_id: OrganizationId = link.organization_id;
        let mut view = ResolveLinkResponse {
            organization_id: organization_id.to_string(),
            note: link.note.clone(),
            ..ResolveLinkResponse::default()
        };
        match link.target_kind.as_str() {
            "task" => {
                view.target = Some(resolve_link_response::Target::TaskId(
                    link.target_id.clone(),
                ));
                view.task = Some(
                    self.targets
                        .task_view(organization_id, &link.target_id, link.allow_comments)
                        .await?
                        .ok_or(LinksError::LinkNotFound)?,
                );
            }
            "document" => {
                view.target = Some(resolve_link_response::Target::DocumentId(
                    link.target_id.clone(),
                ));
                view.document = Some(
                    self.targets
                        .document_view(
                            organization_id,
                            &link.target_id,
                            &link.created_by_user_id.to_string(),
                        )
                        .await?
                        .ok_or(LinksError::LinkNotFound)?,
                );
            }
            _ => view.target = Some(resolve_link_response::Target::Url(link.target_id.clone())),
        }
        // The view first: a link whose target is gone answers NOT_FOUND before any password
        // prompt, like every other link that does not resolve.
        self.check_password(&link, password, &address, now).await?;
        let agent = visitors::agent(&visitor.user_agent);
        let visit = VisitRecord {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id,
            link_id: link.id.clone(),
            visited_at: now,
            referrer_host: visitors::referrer_host(&visitor.referrer),
            browser: agent.browser,
            os: agent.os,
            device_class: agent.device_class.to_string(),
            bot: agent.bot,
            anonymized_address: address.clone(),
            country: String::new(),
        };
        self.store
            .count_visit(&visit, &self.visitor_hash(&address, now))
            .await?
            .ok_or(LinksError::LinkNotFound)?;
        Ok(view)
    }
}

#[tonic::async_trait]
impl LinkService for LinksApi {
    async fn create_link(&self, request: Request<CreateLinkRequest>) -> Reply<CreateLinkResponse> {
        reply(self.create(request).await)
    }

    async fn get_link(&self, request: Request<GetLinkRequest>) -> Reply<GetLinkResponse> {
        reply(self.get(request).await)
    }

    async fn list_links(&self, request: Request<ListLinksRequest>) -> Reply<ListLinksResponse> {
        reply(self.list(request).await)
    }

    async fn update_link(&self, request: Request<UpdateLinkRequest>) -> Reply<UpdateLinkResponse> {
        reply(self.update(request).await)
    }

    async fn delete_link(&self, request: Request<DeleteLinkRequest>) -> Reply<DeleteLinkResponse> {
        reply(self.delete(request).await)
    }

    async fn resolve_link(
        &self,
        request: Request<ResolveLinkRequest>,
    ) -> Reply<ResolveLinkResponse> {
        // The visitor is what this process saw; `request.visitor` from a client is ignored.
        let visitor = Visitor::from_headers(request.metadata().as_ref());
        let message = request.into_inner();
        reply(
            self.resolve(
                &message.slug,
                &message.password,
                &message.organization_slug,
                &visitor,
            )
            .await,
        )
    }

    async fn list_link_visits(
        &self,
        request: Request<ListLinkVisitsRequest>,
    ) -> Reply<ListLinkVisitsResponse> {
        reply(self.list_visits(request).await)
    }
}
