//! NotificationService over tonic: the caller's inbox and preferences in the organization of
//! their token. Every call names the caller as recipient, so another user's notification id
//! behaves like a random one (NOT_FOUND). Errors leave through `mesh::error` once.

mod convert;
pub mod stream;
mod webhook_convert;
mod webhook_deliveries;
pub mod webhooks;

use std::sync::Arc;

use mesh::auth::require_principal;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;
use mesh::request::{Updatable, etag, expected_version, update_paths};
use taskmesh::notifications::v1::notification_service_server::NotificationService;
use taskmesh::notifications::v1::*;
use tonic::{Request, Response, Status};

use crate::domain::{self, Channels, DOMAIN, Kind, MAX_MARK_IDS, NotificationsError, filter};
use crate::store::{INBOX_ORDER, NotificationsStore};

/// The service.
pub struct NotificationsApi {
    pub(crate) store: Arc<dyn NotificationsStore>,
    pub(crate) hub: stream::Hub,
    pub(crate) config: crate::NotificationsConfig,
}

impl NotificationsApi {
    /// The API over `store`, its streams woken through `hub`.
    pub fn new(
        store: Arc<dyn NotificationsStore>,
        hub: stream::Hub,
        config: crate::NotificationsConfig,
    ) -> Self {
        Self { store, hub, config }
    }
}

type Reply<T> = std::result::Result<Response<T>, Status>;
type Result<T> = std::result::Result<T, NotificationsError>;

fn reply<T>(result: Result<T>) -> Reply<T> {
    result
        .map(Response::new)
        .map_err(|error| mesh::ServiceError::from(error).into_status())
}

/// The caller: their organization (from the token) and themselves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub expires_at: Option<i64>,
}

impl Caller {
    fn of<T>(request: &Request<T>) -> Result<Self> {
        let principal = require_principal(request)?;
        Ok(Self {
            organization_id: principal.organization()?,
            user_id: principal.user_id,
            expires_at: principal.expires_at,
        })
    }
}

fn preferences_message(
    caller: &Caller,
    record: &crate::store::PreferencesRecord,
) -> NotificationPreferences {
    NotificationPreferences {
        organization_id: caller.organization_id.to_string(),
        user_id: caller.user_id.to_string(),
        kind_preferences: Kind::ALL
            .into_iter()
            .map(|kind| {
                let channels = record.channels(kind);
                NotificationKindPreference {
                    kind: kind.wire(),
                    in_app: channels.in_app,
                    email: channels.email,
                }
            })
            .collect(),
        update_time: record.updated_at.map(mesh::time::timestamp),
        etag: etag(record.version),
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationsApi {
    async fn list_notifications(
        &self,
        request: Request<ListNotificationsRequest>,
    ) -> Reply<ListNotificationsResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let query = filter::parse(&message.filter)?;
                let page = PageRequest::new(
                    DOMAIN,
                    message.page_size,
                    &message.page_token,
                    format!("{}|{}", caller.user_id, message.filter.trim()),
                    INBOX_ORDER,
                )?;
                let page = self
                    .store
                    .list(caller.organization_id, caller.user_id, &query, &page)
                    .await?;
                Ok(ListNotificationsResponse {
                    notifications: page.items.iter().map(convert::notification).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn get_unread_count(
        &self,
        request: Request<GetUnreadCountRequest>,
    ) -> Reply<GetUnreadCountResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let unread_count = self
                    .store
                    .unread_count(caller.organization_id, caller.user_id)
                    .await?;
                Ok(GetUnreadCountResponse { unread_count })
            }
            .await,
        )
    }

    async fn mark_notifications_read(
        &self,
        request: Request<MarkNotificationsReadRequest>,
    ) -> Reply<MarkNotificationsReadResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let invalid = |description: &str| NotificationsError::InvalidField {
                    field: "ids",
                    description: description.into(),
                };
                let ids = match (message.ids.is_empty(), message.all) {
                    (true, false) | (false, true) => {
                        return Err(invalid("set exactly one of ids and all"));
                    }
                    (true, true) => None,
                    (false, false) if message.ids.len() > MAX_MARK_IDS => {
                        return Err(invalid("at most 100 ids"));
                    }
                    (false, false) => Some(message.ids.as_slice()),
                };
                let now = mesh::time::now_millis();
                let marked_count = self
                    .store
                    .mark_read(caller.organization_id, caller.user_id, ids, now)
                    .await?;
                if marked_count > 0 {
                    self.hub.wake(caller.organization_id, caller.user_id);
                }
                let unread_count = self
                    .store
                    .unread_count(caller.organization_id, caller.user_id)
                    .await?;
                Ok(MarkNotificationsReadResponse {
                    marked_count,
                    unread_count,
                })
            }
            .await,
        )
    }

    async fn archive_notification(
        &self,
        request: Request<ArchiveNotificationRequest>,
    ) -> Reply<ArchiveNotificationResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let id = request.get_ref().id.trim();
                if id.is_empty() {
                    return Err(NotificationsError::InvalidField {
                        field: "id",
                        description: "is required".into(),
                    });
                }
                let record = self
                    .store
                    .archive(
                        caller.organization_id,
                        caller.user_id,
                        id,
                        mesh::time::now_millis(),
                    )
                    .await?
                    .ok_or(NotificationsError::NotificationNotFound)?;
                self.hub.wake(caller.organization_id, caller.user_id);
                Ok(ArchiveNotificationResponse {
                    notification: Some(convert::notification(&record)),
                })
            }
            .await,
        )
    }

    type StreamNotificationsStream = stream::NotificationStream;

    async fn stream_notifications(
        &self,
        request: Request<StreamNotificationsRequest>,
    ) -> Reply<Self::StreamNotificationsStream> {
        let opened = async {
            let caller = Caller::of(&request)?;
            stream::open(self, caller, &request.get_ref().resume_token).await
        }
        .await;
        reply(opened)
    }

    async fn get_preferences(
        &self,
        request: Request<GetPreferencesRequest>,
    ) -> Reply<GetPreferencesResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let record = self
                    .store
                    .preferences(caller.organization_id, caller.user_id)
                    .await?;
                Ok(GetPreferencesResponse {
                    preferences: Some(preferences_message(&caller, &record)),
                })
            }
            .await,
        )
    }

    async fn update_preferences(
        &self,
        request: Request<UpdatePreferencesRequest>,
    ) -> Reply<UpdatePreferencesResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let preferences = message.preferences.clone().unwrap_or_default();
                let paths = update_paths(
                    DOMAIN,
                    message.update_mask.as_ref(),
                    &[Updatable::new(
                        "kind_preferences",
                        !preferences.kind_preferences.is_empty(),
                    )],
                )?;
                let expected = expected_version(DOMAIN, &preferences.etag)?;
                if paths.is_empty() {
                    let current = self
                        .store
                        .preferences(caller.organization_id, caller.user_id)
                        .await?;
                    if expected.is_some_and(|expected| expected != current.version) {
                        return Err(NotificationsError::EtagMismatch);
                    }
                    return Ok(UpdatePreferencesResponse {
                        preferences: Some(preferences_message(&caller, &current)),
                    });
                }
                let choices: Vec<(Option<Kind>, Channels)> = preferences
                    .kind_preferences
                    .iter()
                    .map(|choice| {
                        (
                            Kind::from_wire(choice.kind),
                            Channels {
                                in_app: choice.in_app,
                                email: choice.email,
                            },
                        )
                    })
                    .collect();
                let changed = domain::preferences(&choices)?;
                let record = self
                    .store
                    .replace_preferences(
                        caller.organization_id,
                        caller.user_id,
                        &changed,
                        // The store checks the etag in the statement that writes.
                        expected,
                        mesh::time::now_millis(),
                    )
                    .await?;
                Ok(UpdatePreferencesResponse {
                    preferences: Some(preferences_message(&caller, &record)),
                })
            }
            .await,
        )
    }
}
