//! Building the `taskmesh.events.v1.Event` envelope around a payload message.

use bytes::Bytes;
use mesh::ids::{EventId, OrganizationId, UserId};
use prost::Message;
use taskmesh::events::v1::{Actor, ActorKind, Event};

use crate::bus::EventMessage;

/// Version of the envelope layout written by this build.
pub const SCHEMA_VERSION: i32 = 1;

/// Builds one event.
#[derive(Clone, Debug)]
pub struct EventBuilder {
    event: Event,
}

impl EventBuilder {
    /// An event of `subject` (`taskmesh.<service>.<resource>.<verb>`) about `resource`
    /// (`organizations/{id}/tasks/{id}`), carrying `payload` whose fully-qualified protobuf
    /// name is `payload_type`.
    pub fn new(
        subject: impl Into<String>,
        resource: impl Into<String>,
        payload_type: &str,
        payload: &impl Message,
    ) -> Self {
        let now = std::time::SystemTime::now();
        Self {
            event: Event {
                id: EventId::new().to_string(),
                r#type: subject.into(),
                tenant_id: String::new(),
                actor: Some(Actor {
                    user_id: String::new(),
                    kind: ActorKind::System as i32,
                    service: String::new(),
                }),
                occurred_at: Some(prost_types::Timestamp::from(now)),
                resource: resource.into(),
                payload_type: payload_type.into(),
                payload: payload.encode_to_vec(),
                request_id: String::new(),
                trace_parent: String::new(),
                schema_version: SCHEMA_VERSION,
            },
        }
    }

    /// The tenant the event belongs to.
    pub fn tenant(mut self, organization_id: OrganizationId) -> Self {
        self.event.tenant_id = organization_id.to_string();
        self
    }

    /// A user caused it.
    pub fn user_actor(mut self, user_id: UserId) -> Self {
        self.event.actor = Some(Actor {
            user_id: user_id.to_string(),
            kind: ActorKind::User as i32,
            service: String::new(),
        });
        self
    }

    /// Someone without an account caused it (a share link's visitor).
    pub fn anonymous_actor(mut self) -> Self {
        self.event.actor = Some(Actor {
            user_id: String::new(),
            kind: ActorKind::Anonymous as i32,
            service: String::new(),
        });
        self
    }

    /// A service caused it on its own (a consumer reacting, a scheduled job).
    pub fn service_actor(mut self, service: &str) -> Self {
        self.event.actor = Some(Actor {
            user_id: String::new(),
            kind: ActorKind::Service as i32,
            service: service.into(),
        });
        self
    }

    /// The request that caused it.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.event.request_id = request_id.into();
        self
    }

    /// The envelope.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The message to write to the outbox.
    pub fn build(self) -> EventMessage {
        encode(&self.event).expect("minted as a UUID above")
    }
}

/// The bus message of an envelope (subject = its type, tenant beside the payload); `None`
/// when its id is not a UUID. The inverse of [`decode`].
pub fn encode(event: &Event) -> Option<EventMessage> {
    Some(EventMessage {
        id: event.id.parse().ok()?,
        subject: event.r#type.clone(),
        tenant_id: event.tenant_id.parse().ok(),
        payload: Bytes::from(event.encode_to_vec()),
    })
}

/// Decodes an envelope received from the bus.
pub fn decode(message: &EventMessage) -> Result<Event, prost::DecodeError> {
    Event::decode(message.payload.clone())
}
