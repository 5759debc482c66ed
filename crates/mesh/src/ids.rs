//! Newtype ids shared across service boundaries, so a `UserId` can never be passed where an
//! `OrganizationId` is expected. All are UUIDs (v7 when minted here) in their text form on
//! the wire.

use std::fmt;
use std::str::FromStr;

macro_rules! uuid_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub struct $name(uuid::Uuid);

            impl $name {
                /// A new, time-ordered (UUIDv7) id.
                pub fn new() -> Self {
                    Self(uuid::Uuid::now_v7())
                }

                /// Wraps an existing UUID.
                pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                    Self(uuid)
                }

                /// The UUID inside.
                pub fn as_uuid(&self) -> uuid::Uuid {
                    self.0
                }
            }

            impl Default for $name {
                fn default() -> Self {
                    Self::new()
                }
            }

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    self.0.hyphenated().fmt(f)
                }
            }

            impl FromStr for $name {
                type Err = uuid::Error;

                fn from_str(text: &str) -> Result<Self, Self::Err> {
                    uuid::Uuid::parse_str(text).map(Self)
                }
            }
        )*
    };
}

uuid_id! {
    /// A user account (identity).
    UserId,
    /// An organization, i.e. a tenant (tenancy).
    OrganizationId,
    /// A login session, i.e. a refresh-token family (identity).
    SessionId,
    /// An event (UUIDv7, also the broker's deduplication id).
    EventId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_reject_garbage() {
        let id = OrganizationId::new();
        let parsed: OrganizationId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
