//! WebhookService over tonic: the organization's endpoints (owners and admins only), their
//! delivery log, redelivery and test sends. Secrets leave only in the create and rotate
//! responses. Errors leave through `mesh::error` once.

use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use mesh::auth::{OrganizationRole, require_principal};
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;
use mesh::peers::CallContext;
use mesh::request::{Updatable, expected_version, update_paths};
use taskmesh::notifications::v1::webhook_service_server::WebhookService;
use taskmesh::notifications::v1::*;
use tonic::{Request, Response, Status};

use super::webhook_convert::{delivery, endpoint};
use crate::domain::signing::{SecretKey, SigningSecret};
use crate::domain::webhooks::{self, DEFAULT_GRACE, EndpointState, MAX_ENDPOINTS, MAX_GRACE};
use crate::domain::{DOMAIN, NotificationsError, webhook_filters};
use crate::projects::ProjectDirectory;
use crate::store::webhooks::{
    DELIVERY_ORDER, DeliveryRecord, ENDPOINT_ORDER, EndpointChange, EndpointRecord, WebhooksStore,
};
use crate::webhooks::Sender;

type Reply<T> = std::result::Result<Response<T>, Status>;
pub(super) type Result<T> = std::result::Result<T, NotificationsError>;

fn reply<T>(result: Result<T>) -> Reply<T> {
    result
        .map(Response::new)
        .map_err(|error| mesh::ServiceError::from(error).into_status())
}

pub(super) fn internal(error: &str) -> NotificationsError {
    NotificationsError::Service(mesh::ServiceError::internal(DOMAIN, &error))
}

/// The service.
pub struct WebhooksApi {
    pub(super) store: Arc<dyn WebhooksStore>,
    pub(super) sender: Sender,
    pub(super) key: Arc<SecretKey>,
    projects: Arc<dyn ProjectDirectory>,
    pub(super) tests: DefaultKeyedRateLimiter<String>,
}

impl WebhooksApi {
    /// The API over `store`, attempting test sends with `sender`, sealing secrets with `key`
    /// and checking project scopes with `projects`.
    pub fn new(
        store: Arc<dyn WebhooksStore>,
        sender: Sender,
        key: Arc<SecretKey>,
        projects: Arc<dyn ProjectDirectory>,
    ) -> Self {
        let quota = Quota::per_minute(
            std::num::NonZeroU32::new(webhooks::TESTS_PER_MINUTE)
                .unwrap_or(std::num::NonZeroU32::MIN),
        );
        Self {
            store,
            sender,
            key,
            projects,
            tests: RateLimiter::keyed(quota),
        }
    }

    /// The project scope named in `field`: empty for none; otherwise a project the caller
    /// can see.
    async fn project(
        &self,
        context: &CallContext,
        project_id: &str,
        field: &'static str,
    ) -> Result<Option<String>> {
        let project_id = project_id.trim();
        if project_id.is_empty() {
            return Ok(None);
        }
        if uuid::Uuid::parse_str(project_id).is_err() {
            return Err(NotificationsError::InvalidField {
                field,
                description: "must be a project id (UUID)".into(),
            });
        }
        match self.projects.exists(context, project_id).await? {
            true => Ok(Some(project_id.to_string())),
            false => Err(NotificationsError::ProjectNotFound),
        }
    }

    pub(super) async fn existing(&self, caller: &Admin, id: &str) -> Result<EndpointRecord> {
        self.store
            .endpoint(caller.organization_id, id)
            .await?
            .ok_or(NotificationsError::EndpointNotFound)
    }

    pub(super) async fn with_attempts(
        &self,
        caller: &Admin,
        record: &DeliveryRecord,
    ) -> Result<WebhookDelivery> {
        let attempts = self
            .store
            .attempts(caller.organization_id, std::slice::from_ref(&record.id))
            .await?;
        Ok(delivery(record, &attempts))
    }
}

/// An owner or admin of the organization of the token.
pub(super) struct Admin {
    pub(super) organization_id: OrganizationId,
    pub(super) user_id: UserId,
}

impl Admin {
    pub(super) fn of<T>(request: &Request<T>, write: bool) -> Result<Self> {
        let principal = require_principal(request)?;
        let organization_id = principal.organization()?;
        principal.ensure_role(OrganizationRole::Admin)?;
        if write {
            principal.ensure_can_write()?;
        }
        Ok(Self {
            organization_id,
            user_id: principal.user_id,
        })
    }
}

pub(super) fn request_id(text: &str) -> Result<Option<String>> {
    mesh::validate::request_id(text).map_err(|description| NotificationsError::InvalidField {
        field: "request_id",
        description: description.into(),
    })
}

#[tonic::async_trait]
impl WebhookService for WebhooksApi {
    async fn create_webhook_endpoint(
        &self,
        request: Request<CreateWebhookEndpointRequest>,
    ) -> Reply<CreateWebhookEndpointResponse> {
        reply(
            async {
                let caller = Admin::of(&request, true)?;
                let context = CallContext::from_request(&request);
                let message = request.into_inner();
                let key = request_id(&message.request_id)?;
                let url = webhooks::url(&message.url, "url")?;
                let description = webhooks::description(&message.description, "description")?;
                let types = webhooks::event_types(&message.event_types, "event_types")?;
                let project_id = self
                    .project(&context, &message.project_id, "project_id")
                    .await?;
                self.sender.guard().admit(&url, "url").await?;
                let now = mesh::time::now_millis();
                let created = kit::idempotency::create_once(
                    key.as_deref(),
                    |key| async move {
                        self.store
                            .endpoint_by_request(caller.organization_id, caller.user_id, &key)
                            .await
                    },
                    || async {
                        let id = uuid::Uuid::now_v7().to_string();
                        let secret = SigningSecret::generate().map_err(|e| internal(&e))?;
                        let record = EndpointRecord {
                            secret_sealed: self.key.seal(&id, &secret).map_err(|e| internal(&e))?,
                            id,
                            organization_id: caller.organization_id,
                            project_id,
                            url: url.to_string(),
                            description,
                            event_types: types.join("\n"),
                            state: EndpointState::Enabled.as_str().into(),
                            previous_secret_sealed: None,
                            previous_secret_expires_at: None,
                            created_by_user_id: caller.user_id,
                            failing_since: None,
                            create_request_id: key.clone(),
                            version: 1,
                            created_at: now,
                            updated_at: now,
                        };
                        self.store.create_endpoint(&record, MAX_ENDPOINTS).await?;
                        Ok(record)
                    },
                )
                .await?
                .into_inner();
                // A replay shows the same secret: the caller may have lost the first answer.
                let secret = self
                    .key
                    .open(&created.id, &created.secret_sealed)
                    .map_err(|e| internal(&e))?;
                Ok(CreateWebhookEndpointResponse {
                    webhook_endpoint: Some(endpoint(&created, now)),
                    secret: secret.reveal(),
                })
            }
            .await,
        )
    }

    async fn get_webhook_endpoint(
        &self,
        request: Request<GetWebhookEndpointRequest>,
    ) -> Reply<GetWebhookEndpointResponse> {
        reply(
            async {
                let caller = Admin::of(&request, false)?;
                let record = self.existing(&caller, &request.get_ref().id).await?;
                Ok(GetWebhookEndpointResponse {
                    webhook_endpoint: Some(endpoint(&record, mesh::time::now_millis())),
                })
            }
            .await,
        )
    }

    async fn list_webhook_endpoints(
        &self,
        request: Request<ListWebhookEndpointsRequest>,
    ) -> Reply<ListWebhookEndpointsResponse> {
        reply(
            async {
                let caller = Admin::of(&request, false)?;
                let message = request.get_ref();
                let query = webhook_filters::endpoint_query(&message.filter)?;
                let page = PageRequest::new(
                    DOMAIN,
                    message.page_size,
                    &message.page_token,
                    format!("endpoints|{}", message.filter.trim()),
                    ENDPOINT_ORDER,
                )?;
                let page = self
                    .store
                    .list_endpoints(caller.organization_id, &query, &page)
                    .await?;
                let now = mesh::time::now_millis();
                Ok(ListWebhookEndpointsResponse {
                    webhook_endpoints: page.items.iter().map(|r| endpoint(r, now)).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_webhook_endpoint(
        &self,
        request: Request<UpdateWebhookEndpointRequest>,
    ) -> Reply<UpdateWebhookEndpointResponse> {
        reply(
            async {
                let caller = Admin::of(&request, true)?;
                let context = CallContext::from_request(&request);
                let message = request.into_inner();
                let wanted = message
                    .webhook_endpoint
                    .ok_or(NotificationsError::InvalidField {
                        field: "webhook_endpoint",
                        description: "is required".into(),
                    })?;
                let paths = update_paths(
                    DOMAIN,
                    message.update_mask.as_ref(),
                    &[
                        Updatable::new("url", !wanted.url.is_empty()),
                        Updatable::new("description", !wanted.description.is_empty()),
                        Updatable::new("event_types", !wanted.event_types.is_empty()),
                        Updatable::new("project_id", !wanted.project_id.is_empty()),
                        Updatable::new("state", wanted.state != 0),
                    ],
                )?;
                let expected = expected_version(DOMAIN, &wanted.etag)?;
                let mut change = EndpointChange::default();
                for path in paths {
                    match path {
                        "url" => {
                            let url = webhooks::url(&wanted.url, "webhook_endpoint.url")?;
                            self.sender
                                .guard()
                                .admit(&url, "webhook_endpoint.url")
                                .await?;
                            change.url = Some(url.to_string());
                        }
                        "description" => {
                            change.description = Some(webhooks::description(
                                &wanted.description,
                                "webhook_endpoint.description",
                            )?);
                        }
                        "event_types" => {
                            let types = webhooks::event_types(
                                &wanted.event_types,
                                "webhook_endpoint.event_types",
                            )?;
                            change.event_types = Some(types.join("\n"));
                        }
                        "project_id" => {
                            change.project_id = Some(
                                self.project(
                                    &context,
                                    &wanted.project_id,
                                    "webhook_endpoint.project_id",
                                )
                                .await?,
                            );
                        }
                        _ => {
                            change.state = match EndpointState::from_wire(wanted.state) {
                                Some(
                                    state @ (EndpointState::Enabled | EndpointState::Disabled),
                                ) => Some(state),
                                _ => {
                                    return Err(NotificationsError::InvalidField {
                                        field: "webhook_endpoint.state",
                                        description: "must be ENABLED or DISABLED".into(),
                                    });
                                }
                            };
                        }
                    }
                }
                let now = mesh::time::now_millis();
                let record = if change == EndpointChange::default() {
                    self.existing(&caller, &wanted.id).await?
                } else {
                    self.store
                        .update_endpoint(caller.organization_id, &wanted.id, expected, &change, now)
                        .await?
                };
                Ok(UpdateWebhookEndpointResponse {
                    webhook_endpoint: Some(endpoint(&record, now)),
                })
            }
            .await,
        )
    }

    async fn delete_webhook_endpoint(
        &self,
        request: Request<DeleteWebhookEndpointRequest>,
    ) -> Reply<DeleteWebhookEndpointResponse> {
        reply(
            async {
                let caller = Admin::of(&request, true)?;
                let message = request.get_ref();
                let expected = expected_version(DOMAIN, &message.etag)?;
                self.store
                    .delete_endpoint(caller.organization_id, &message.id, expected)
                    .await?;
                Ok(DeleteWebhookEndpointResponse {})
            }
            .await,
        )
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<RotateWebhookSecretRequest>,
    ) -> Reply<RotateWebhookSecretResponse> {
        reply(
            async {
                let caller = Admin::of(&request, true)?;
                let message = request.get_ref();
                let grace = match &message.grace_period {
                    None => DEFAULT_GRACE,
                    Some(grace) => u64::try_from(grace.seconds)
                        .ok()
                        .filter(|_| grace.nanos >= 0)
                        .map(Duration::from_secs)
                        .filter(|grace| *grace <= MAX_GRACE)
                        .ok_or(NotificationsError::InvalidField {
                            field: "grace_period",
                            description: "must be between 0 and 7 days".into(),
                        })?,
                };
                let expected = expected_version(DOMAIN, &message.etag)?;
                let secret = SigningSecret::generate().map_err(|e| internal(&e))?;
                let sealed = self
                    .key
                    .seal(&message.id, &secret)
                    .map_err(|e| internal(&e))?;
                let now = mesh::time::now_millis();
                let until = (!grace.is_zero()).then(|| now + mesh::time::duration_millis(grace));
                let change = EndpointChange {
                    rotation: Some((sealed, until)),
                    ..EndpointChange::default()
                };
                let record = self
                    .store
                    .update_endpoint(caller.organization_id, &message.id, expected, &change, now)
                    .await?;
                Ok(RotateWebhookSecretResponse {
                    webhook_endpoint: Some(endpoint(&record, now)),
                    secret: secret.reveal(),
                })
            }
            .await,
        )
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<ListWebhookDeliveriesRequest>,
    ) -> Reply<ListWebhookDeliveriesResponse> {
        reply(
            async {
                let caller = Admin::of(&request, false)?;
                let message = request.get_ref();
                let query = webhook_filters::delivery_query(&message.filter)?;
                let page = PageRequest::new(
                    DOMAIN,
                    message.page_size,
                    &message.page_token,
                    format!("{}|{}", message.endpoint_id, message.filter.trim()),
                    DELIVERY_ORDER,
                )?;
                self.existing(&caller, &message.endpoint_id).await?;
                let page = self
                    .store
                    .list_deliveries(caller.organization_id, &message.endpoint_id, &query, &page)
                    .await?;
                let ids: Vec<String> = page.items.iter().map(|d| d.id.clone()).collect();
                let attempts = self.store.attempts(caller.organization_id, &ids).await?;
                Ok(ListWebhookDeliveriesResponse {
                    webhook_deliveries: page.items.iter().map(|d| delivery(d, &attempts)).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn redeliver_webhook(
        &self,
        request: Request<RedeliverWebhookRequest>,
    ) -> Reply<RedeliverWebhookResponse> {
        reply(self.redeliver(request).await)
    }

    async fn send_test_webhook(
        &self,
        request: Request<SendTestWebhookRequest>,
    ) -> Reply<SendTestWebhookResponse> {
        reply(self.send_test(request).await)
    }
}
