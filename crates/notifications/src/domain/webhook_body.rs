//! The JSON body of a webhook delivery, built once per event (retries and redeliveries send
//! the same bytes): `{id, type, timestamp, organization_id, project_id, actor{kind, user_id},
//! resource, data}`, where `data` is the payload in protobuf JSON form (lowerCamelCase
//! names, enums by name, 64-bit integers as strings), decoded through the contracts'
//! descriptors so every event type is covered without code per type.

use prost_reflect::{DynamicMessage, SerializeOptions, Value};
use taskmesh::events::v1::{ActorKind, Event};

use super::webhooks::TEST_EVENT_TYPE;

/// What a delivery needs to know about an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// The project the event is about, if any (for project-scoped endpoints).
    pub project_id: Option<String>,
    /// For `webhook_delivery.failed`: the endpoint that failed.
    pub failed_endpoint_id: Option<String>,
    /// The body to POST.
    pub body: String,
}

fn text_field(message: &DynamicMessage, name: &str) -> Option<String> {
    message
        .get_field_by_name(name)
        .and_then(|value| value.as_str().map(str::to_string))
        .filter(|text| !text.is_empty())
}

fn to_json(message: &DynamicMessage) -> Result<serde_json::Value, String> {
    message
        .serialize_with_options(
            serde_json::value::Serializer,
            &SerializeOptions::new().skip_default_fields(false),
        )
        .map_err(|error| error.to_string())
}

/// Describes `event` for delivery; an error when its payload does not decode as its
/// declared type.
pub fn describe(event: &Event) -> Result<Described, String> {
    let descriptor = mesh::json::pool()?
        .get_message_by_name(&event.payload_type)
        .ok_or_else(|| format!("unknown payload type {}", event.payload_type))?;
    let message = DynamicMessage::decode(descriptor, event.payload.as_slice())
        .map_err(|error| format!("payload does not decode: {error}"))?;
    let project_id = text_field(&message, "project_id");
    let failed_endpoint_id = text_field(&message, "webhook_endpoint_id");
    let actor = event.actor.clone().unwrap_or_default();
    let kind = ActorKind::try_from(actor.kind)
        .ok()
        .filter(|kind| *kind != ActorKind::Unspecified)
        .map_or("anonymous".to_string(), |kind| {
            kind.as_str_name()
                .trim_start_matches("ACTOR_KIND_")
                .to_ascii_lowercase()
        });
    let body = serde_json::json!({
        "id": event.id,
        "type": event.r#type,
        "timestamp": event.occurred_at.map(|time| time.to_string()).unwrap_or_default(),
        "organization_id": event.tenant_id,
        "project_id": project_id.clone().unwrap_or_default(),
        "actor": {"kind": kind, "user_id": actor.user_id},
        "resource": event.resource,
        "data": to_json(&message)?,
    });
    Ok(Described {
        project_id,
        failed_endpoint_id,
        body: body.to_string(),
    })
}

/// The body of a SendTestWebhook call: for an event type, its payload message with every
/// field at its default; for the test type, a short message.
pub fn sample(
    event_id: &str,
    event_type: &str,
    organization_id: &str,
    user_id: &str,
    now: i64,
) -> Result<String, String> {
    let data = if event_type == TEST_EVENT_TYPE {
        serde_json::json!({"message": "This is a test delivery from taskmesh."})
    } else {
        let name = payload_name(event_type)?;
        let descriptor = mesh::json::pool()?
            .get_message_by_name(&name)
            .ok_or_else(|| format!("no payload for {event_type}"))?;
        let mut message = DynamicMessage::new(descriptor);
        if message.get_field_by_name("project_id").is_some() {
            message.set_field_by_name("project_id", Value::String(String::new()));
        }
        to_json(&message)?
    };
    Ok(serde_json::json!({
        "id": event_id,
        "type": event_type,
        "timestamp": mesh::time::timestamp(now).to_string(),
        "organization_id": organization_id,
        "project_id": "",
        "actor": {"kind": "user", "user_id": user_id},
        "resource": format!("organizations/{organization_id}"),
        "data": data,
    })
    .to_string())
}

/// The payload message of a deliverable event type, by the naming rule of the events
/// package: `taskmesh.projects.task.work_logged` → `WorkLogged`, otherwise resource + verb
/// (`task.created` → `TaskCreated`), with the few exceptions the table in API_DESIGN.md
/// lists.
fn payload_name(event_type: &str) -> Result<String, String> {
    let exceptions = [
        ("taskmesh.projects.task.work_logged", "WorkLogged"),
        ("taskmesh.projects.task.work_log_deleted", "WorkLogDeleted"),
    ];
    if let Some((_, name)) = exceptions.iter().find(|(t, _)| *t == event_type) {
        return Ok(format!("taskmesh.events.v1.{name}"));
    }
    let mut parts = event_type.rsplit('.');
    let (Some(verb), Some(resource)) = (parts.next(), parts.next()) else {
        return Err(format!("malformed event type {event_type}"));
    };
    let camel = |text: &str| -> String {
        text.split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or(String::new(), |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect()
    };
    Ok(format!(
        "taskmesh.events.v1.{}{}",
        camel(resource),
        camel(verb)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhooks::DELIVERABLE;
    use prost::Message;
    use taskmesh::events::v1::{Actor, TaskCreated};

    #[test]
    fn every_deliverable_type_has_a_sample_payload() {
        for event_type in DELIVERABLE.iter().chain([&TEST_EVENT_TYPE]) {
            let body = sample("e1", event_type, "o1", "u1", 0).unwrap_or_else(|error| {
                panic!("{event_type}: {error}");
            });
            let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(parsed["type"], *event_type);
            assert!(parsed["data"].is_object(), "{event_type}");
        }
    }

    #[test]
    fn a_body_carries_the_envelope_and_the_payload_as_protobuf_json() {
        let payload = TaskCreated {
            task_id: "t1".into(),
            project_id: "p1".into(),
            title: "Ship it".into(),
            ..TaskCreated::default()
        };
        let event = Event {
            id: "e1".into(),
            r#type: "taskmesh.projects.task.created".into(),
            tenant_id: "o1".into(),
            actor: Some(Actor {
                user_id: "u1".into(),
                kind: ActorKind::User.into(),
                service: String::new(),
            }),
            occurred_at: Some(mesh::time::timestamp(1_767_225_600_000)),
            resource: "organizations/o1/tasks/t1".into(),
            payload_type: "taskmesh.events.v1.TaskCreated".into(),
            payload: payload.encode_to_vec(),
            ..Event::default()
        };
        let described = describe(&event).unwrap();
        assert_eq!(described.project_id.as_deref(), Some("p1"));
        let body: serde_json::Value = serde_json::from_str(&described.body).unwrap();
        assert_eq!(body["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(body["actor"]["kind"], "user");
        assert_eq!(body["organization_id"], "o1");
        assert_eq!(body["data"]["taskId"], "t1");
        assert_eq!(body["data"]["title"], "Ship it");
        let wrong = Event {
            payload_type: "taskmesh.events.v1.Nope".into(),
            ..event
        };
        assert!(describe(&wrong).is_err());
    }
}
