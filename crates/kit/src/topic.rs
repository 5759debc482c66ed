//! Typed event subjects.
//!
//! A service declares each event it publishes once, in its `events` module, as a
//! [`Topic`]: the subject (`taskmesh.<service>.<resource>.<verb>`) bound to the payload
//! message type. The payload's type name is the message's full protobuf name, taken from the
//! generated code (`prost::Name`), so neither can be misspelt at a call site, and a payload of
//! the wrong type does not compile.

use std::marker::PhantomData;

use events::EventBuilder;

/// An event subject and the payload message it carries.
pub struct Topic<P> {
    subject: &'static str,
    payload: PhantomData<fn() -> P>,
}

impl<P> Clone for Topic<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Topic<P> {}

impl<P> std::fmt::Debug for Topic<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Topic").field(&self.subject).finish()
    }
}

impl<P: prost::Name> Topic<P> {
    /// The topic of `subject`.
    pub const fn new(subject: &'static str) -> Self {
        Self {
            subject,
            payload: PhantomData,
        }
    }

    /// The subject.
    pub fn subject(&self) -> &'static str {
        self.subject
    }

    /// The payload's fully-qualified protobuf name.
    pub fn payload_type(&self) -> String {
        P::full_name()
    }

    /// An event of this topic about `resource` (`organizations/{id}/...`); set its tenant,
    /// actor and request id on the returned builder.
    pub fn event(&self, resource: impl Into<String>, payload: &P) -> EventBuilder {
        EventBuilder::new(self.subject, resource, &P::full_name(), payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmesh::events::v1::{Event, OrganizationCreated};

    #[test]
    fn payload_type_names_come_from_the_contracts() {
        const CREATED: Topic<OrganizationCreated> =
            Topic::new("taskmesh.tenancy.organization.created");
        assert_eq!(
            CREATED.payload_type(),
            "taskmesh.events.v1.OrganizationCreated"
        );
        let message = CREATED
            .event("organizations/x", &OrganizationCreated::default())
            .build();
        assert_eq!(message.subject, "taskmesh.tenancy.organization.created");
        let envelope: Event = events::envelope::decode(&message).unwrap();
        assert_eq!(
            envelope.payload_type,
            "taskmesh.events.v1.OrganizationCreated"
        );
    }
}
