//! Managing links: create, get, list, update, delete, list visits. Links of the caller's
//! organization only; guests may not manage links; changing or deleting a link, and reading
//! its visits, is for its creator, owners and admins.

use mesh::auth::{OrganizationRole, Principal, require_principal};
use mesh::ids::OrganizationId;
use mesh::paging::PageRequest;
use mesh::peers::CallContext;
use mesh::request::Updatable;
use taskmesh::links::v1::*;
use tonic::Request;

use super::{LinksApi, Result, convert};
use crate::domain::rules::{self, ORDER_FIELDS};
use crate::domain::slugs::{self, SlugError};
use crate::domain::{DOMAIN, LinksError};
use crate::store::{LinkChange, LinkOrder, LinkRecord, VISITS_ORDER};

/// A member (not a guest) of the organization in the token.
struct Caller {
    principal: Principal,
    organization_id: OrganizationId,
    role: OrganizationRole,
    context: CallContext,
}

impl Caller {
    fn of<T>(request: &Request<T>) -> Result<Self> {
        let principal = require_principal(request)?.clone();
        let organization_id = principal.organization()?;
        let role = principal.ensure_role(OrganizationRole::Member)?;
        Ok(Self {
            principal,
            organization_id,
            role,
            context: CallContext::from_request(request),
        })
    }

    fn manages(&self, link: &LinkRecord) -> Result<()> {
        if link.created_by_user_id == self.principal.user_id
            || self.role.at_least(OrganizationRole::Admin)
        {
            Ok(())
        } else {
            Err(LinksError::RoleInsufficient(
                "manage a link another member created",
            ))
        }
    }
}

fn slug_error(error: SlugError) -> LinksError {
    LinksError::invalid("link.slug", error.to_string())
}

impl LinksApi {
    /// Checks a target the caller names: (kind, id).
    async fn target(
        &self,
        caller: &Caller,
        target: Option<&link::Target>,
    ) -> Result<(String, String)> {
        match target {
            Some(link::Target::TaskId(id)) => {
                match self.targets.task_readable(&caller.context, id).await? {
                    true => Ok(("task".into(), id.clone())),
                    false => Err(LinksError::TaskNotFound),
                }
            }
            Some(link::Target::DocumentId(id)) => {
                match self.targets.document_readable(&caller.context, id).await? {
                    true => Ok(("document".into(), id.clone())),
                    false => Err(LinksError::DocumentNotFound),
                }
            }
            Some(link::Target::Url(url)) => {
                if !self.settings.allow_url_links {
                    return Err(LinksError::UrlLinksDisabled);
                }
                Ok(("url".into(), rules::url(url)?))
            }
            None => Err(LinksError::invalid(
                "link.target",
                "task_id, document_id or url is required",
            )),
        }
    }

    fn expiry(link: &Link, now: i64) -> Result<Option<i64>> {
        match &link.expire_time {
            None => Ok(None),
            Some(time) => {
                let millis = mesh::time::millis(time);
                if millis <= now {
                    return Err(LinksError::invalid(
                        "link.expire_time",
                        "must be in the future",
                    ));
                }
                Ok(Some(millis))
            }
        }
    }

    async fn password_hash(&self, password: &str) -> Result<Option<String>> {
        if password.is_empty() {
            return Ok(None);
        }
        let hash = self.passwords.hash(rules::password(password)?).await?;
        Ok(Some(hash))
    }

    async fn managed(&self, caller: &Caller, id: &str) -> Result<LinkRecord> {
        if id.is_empty() {
            return Err(LinksError::invalid("id", "required"));
        }
        let link = self
            .store
            .get(caller.organization_id, id)
            .await?
            .ok_or(LinksError::LinkNotFound)?;
        caller.manages(&link)?;
        Ok(link)
    }

    pub(super) async fn create(
        &self,
        request: Request<CreateLinkRequest>,
    ) -> Result<CreateLinkResponse> {
        let caller = Caller::of(&request)?;
        caller.principal.ensure_can_write()?;
        let message = request.get_ref();
        let link = message
            .link
            .as_ref()
            .ok_or_else(|| LinksError::invalid("link", "required"))?;
        let request_id = mesh::validate::request_id(&message.request_id)
            .map_err(|description| LinksError::invalid("request_id", description))?;
        if let Some(request_id) = &request_id
            && let Some(existing) = self
                .store
                .by_request(caller.organization_id, caller.principal.user_id, request_id)
                .await?
        {
            return Ok(CreateLinkResponse {
                link: Some(convert::link(&existing, &self.settings.public_url)),
            });
        }
        let now = mesh::time::now_millis();
        let custom = (!link.slug.is_empty())
            .then(|| {
                slugs::custom(&link.slug)
                    .map(str::to_string)
                    .map_err(slug_error)
            })
            .transpose()?;
        if link.max_visits < 0 {
            return Err(LinksError::invalid(
                "link.max_visits",
                "must not be negative",
            ));
        }
        let expires_at = Self::expiry(link, now)?;
        let note = rules::note(&link.note)?;
        let (target_kind, target_id) = self.target(&caller, link.target.as_ref()).await?;
        let password_hash = self.password_hash(&link.password).await?;
        let mut record = LinkRecord {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id: caller.organization_id,
            slug: String::new(),
            target_kind,
            target_id,
            expires_at,
            max_visits: link.max_visits,
            visit_count: 0,
            password_hash,
            note,
            allow_comments: link.allow_comments,
            disabled: link.disabled,
            created_by_user_id: caller.principal.user_id,
            create_request_id: request_id,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        // A generated slug that collides (about one in 2^65) is drawn again.
        for attempt in 0.. {
            record.slug = match &custom {
                Some(slug) => slug.clone(),
                None => slugs::generate()
                    .map_err(|error| mesh::ServiceError::internal(DOMAIN, &error))?,
            };
            match self.store.create(&record).await {
                Err(LinksError::SlugTaken) if custom.is_none() && attempt < 3 => continue,
                other => other?,
            }
            break;
        }
        Ok(CreateLinkResponse {
            link: Some(convert::link(&record, &self.settings.public_url)),
        })
    }

    pub(super) async fn get(&self, request: Request<GetLinkRequest>) -> Result<GetLinkResponse> {
        let caller = Caller::of(&request)?;
        let id = &request.get_ref().id;
        let link = self
            .store
            .get(caller.organization_id, id)
            .await?
            .ok_or(LinksError::LinkNotFound)?;
        // A member sees only their own links: a slug is a way in to what it shares.
        caller
            .manages(&link)
            .map_err(|_| LinksError::LinkNotFound)?;
        Ok(GetLinkResponse {
            link: Some(convert::link(&link, &self.settings.public_url)),
        })
    }

    pub(super) async fn list(
        &self,
        request: Request<ListLinksRequest>,
    ) -> Result<ListLinksResponse> {
        let caller = Caller::of(&request)?;
        let message = request.get_ref();
        let mut query = rules::filter(&message.filter)?;
        if !caller.role.at_least(OrganizationRole::Admin) {
            // Members list only their own links (a slug is a way in to what it shares).
            query.created_by_user_id = Some(caller.principal.user_id.to_string());
        }
        let (field, descending) = mesh::request::order_by(
            DOMAIN,
            &message.order_by,
            ORDER_FIELDS,
            ("create_time", true),
        )?;
        let order = match field {
            "update_time" => LinkOrder::Updated,
            "visit_count" => LinkOrder::Visits,
            "expire_time" => LinkOrder::Expires,
            _ => LinkOrder::Created,
        };
        let page = PageRequest::new(
            DOMAIN,
            message.page_size,
            &message.page_token,
            format!("{}|{}", message.filter, message.order_by),
            order.keyset(descending),
        )?;
        let page = self
            .store
            .list(
                caller.organization_id,
                &query,
                mesh::time::now_millis(),
                &page,
            )
            .await?;
        Ok(ListLinksResponse {
            links: page
                .items
                .iter()
                .map(|link| convert::link(link, &self.settings.public_url))
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn update(
        &self,
        request: Request<UpdateLinkRequest>,
    ) -> Result<UpdateLinkResponse> {
        let caller = Caller::of(&request)?;
        caller.principal.ensure_can_write()?;
        let message = request.get_ref();
        let link = message
            .link
            .as_ref()
            .ok_or_else(|| LinksError::invalid("link", "required"))?;
        let target = |kind: fn(&link::Target) -> bool| link.target.as_ref().is_some_and(kind);
        let paths = mesh::request::update_paths(
            DOMAIN,
            message.update_mask.as_ref(),
            &[
                Updatable::new("slug", !link.slug.is_empty()),
                Updatable::new("task_id", target(|t| matches!(t, link::Target::TaskId(_)))),
                Updatable::new(
                    "document_id",
                    target(|t| matches!(t, link::Target::DocumentId(_))),
                ),
                Updatable::new("url", target(|t| matches!(t, link::Target::Url(_)))),
                Updatable::new("expire_time", link.expire_time.is_some()),
                Updatable::new("max_visits", link.max_visits != 0),
                Updatable::new("password", !link.password.is_empty()),
                Updatable::new("disabled", link.disabled),
                Updatable::new("note", !link.note.is_empty()),
                Updatable::new("allow_comments", link.allow_comments),
            ],
        )?;
        let expected = mesh::request::expected_version(DOMAIN, &link.etag)?;
        let current = self.managed(&caller, &link.id).await?;
        let now = mesh::time::now_millis();
        let mut change = LinkChange::default();
        for path in paths {
            match path {
                "slug" => {
                    change.slug = Some(slugs::custom(&link.slug).map_err(slug_error)?.to_string())
                }
                "task_id" | "document_id" | "url" => {
                    let wanted = match (path, &link.target) {
                        ("task_id", Some(link::Target::TaskId(_)))
                        | ("document_id", Some(link::Target::DocumentId(_)))
                        | ("url", Some(link::Target::Url(_))) => link.target.as_ref(),
                        _ => None,
                    };
                    change.target = Some(self.target(&caller, wanted).await?);
                }
                "expire_time" => change.expires_at = Some(Self::expiry(link, now)?),
                "max_visits" if link.max_visits < 0 => {
                    return Err(LinksError::invalid(
                        "link.max_visits",
                        "must not be negative",
                    ));
                }
                "max_visits" => change.max_visits = Some(link.max_visits),
                "password" => {
                    change.password_hash = Some(self.password_hash(&link.password).await?)
                }
                "disabled" => change.disabled = Some(link.disabled),
                "note" => change.note = Some(rules::note(&link.note)?),
                _ => change.allow_comments = Some(link.allow_comments),
            }
        }
        let updated = self
            .store
            .update(caller.organization_id, &current.id, expected, &change, now)
            .await?;
        Ok(UpdateLinkResponse {
            link: Some(convert::link(&updated, &self.settings.public_url)),
        })
    }

    pub(super) async fn delete(
        &self,
        request: Request<DeleteLinkRequest>,
    ) -> Result<DeleteLinkResponse> {
        let caller = Caller::of(&request)?;
        caller.principal.ensure_can_write()?;
        let message = request.get_ref();
        let expected = mesh::request::expected_version(DOMAIN, &message.etag)?;
        let link = self.managed(&caller, &message.id).await?;
        self.store
            .delete(
                caller.organization_id,
                &link.id,
                expected,
                caller.principal.user_id,
            )
            .await?;
        Ok(DeleteLinkResponse {})
    }

    pub(super) async fn list_visits(
        &self,
        request: Request<ListLinkVisitsRequest>,
    ) -> Result<ListLinkVisitsResponse> {
        let caller = Caller::of(&request)?;
        let message = request.get_ref();
        let page = PageRequest::new(
            DOMAIN,
            message.page_size,
            &message.page_token,
            message.link_id.clone(),
            VISITS_ORDER,
        )?;
        let link = self.managed(&caller, &message.link_id).await?;
        let page = self
            .store
            .visits(caller.organization_id, &link.id, &page)
            .await?;
        Ok(ListLinkVisitsResponse {
            visits: page.items.iter().map(convert::visit).collect(),
            next_page_token: page.next_page_token,
        })
    }
}
