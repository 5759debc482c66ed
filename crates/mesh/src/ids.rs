//! Newtype ids shared across service boundaries, so a `UserId` can never be passed where an
//! `OrganizationId` is expected. All are UUIDs (v7 when minted here) in their text form on
//! the wire and in storage: each id is an sqlx type on every backend (stored as `text`), so
//! stores bind and decode ids directly, never through `to_string()`/`parse()`.
//!
//! Services declare their own ids with [`uuid_id!`](crate::uuid_id).

#[doc(hidden)]
pub use sqlx;
#[doc(hidden)]
pub use uuid;

/// Makes a type that round-trips through text (`Display` + `FromStr`) an sqlx type on every
/// backend, stored as `text`: ids, roles and other small enums bind and decode directly.
#[macro_export]
macro_rules! text_sql_type {
    ($type:ty) => {
        impl<DB: $crate::ids::sqlx::Database> $crate::ids::sqlx::Type<DB> for $type
        where
            String: $crate::ids::sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as $crate::ids::sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as $crate::ids::sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: $crate::ids::sqlx::Database> $crate::ids::sqlx::Encode<'q, DB> for $type
        where
            String: $crate::ids::sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as $crate::ids::sqlx::Database>::ArgumentBuffer,
            ) -> Result<$crate::ids::sqlx::encode::IsNull, $crate::ids::sqlx::error::BoxDynError>
            {
                <String as $crate::ids::sqlx::Encode<'q, DB>>::encode(self.to_string(), buf)
            }
        }

        impl<'r, DB: $crate::ids::sqlx::Database> $crate::ids::sqlx::Decode<'r, DB> for $type
        where
            String: $crate::ids::sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as $crate::ids::sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, $crate::ids::sqlx::error::BoxDynError> {
                let text = <String as $crate::ids::sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

/// An id type, as request validation names it ("must be an organization id").
pub trait Id: std::str::FromStr {
    /// What it is, with its article: `an organization id`.
    const DESCRIPTION: &'static str;
}

/// Declares UUID newtype ids (`Name = "a name id"`): minted as UUIDv7, shown and parsed as
/// hyphenated text, and stored as text on every sqlx backend.
#[macro_export]
macro_rules! uuid_id {
    ($($(#[$doc:meta])* $name:ident = $description:literal),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub struct $name($crate::ids::uuid::Uuid);

            impl $name {
                /// A new, time-ordered (UUIDv7) id.
                pub fn new() -> Self {
                    Self($crate::ids::uuid::Uuid::now_v7())
                }

                /// Wraps an existing UUID.
                pub fn from_uuid(uuid: $crate::ids::uuid::Uuid) -> Self {
                    Self(uuid)
                }

                /// The UUID inside.
                pub fn as_uuid(&self) -> $crate::ids::uuid::Uuid {
                    self.0
                }
            }

            impl Default for $name {
                fn default() -> Self {
                    Self::new()
                }
            }

            impl ::std::fmt::Display for $name {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    ::std::fmt::Display::fmt(&self.0.hyphenated(), f)
                }
            }

            $crate::text_sql_type!($name);

            impl $crate::ids::Id for $name {
                const DESCRIPTION: &'static str = $description;
            }

            impl ::std::str::FromStr for $name {
                type Err = $crate::ids::uuid::Error;

                fn from_str(text: &str) -> Result<Self, Self::Err> {
                    $crate::ids::uuid::Uuid::parse_str(text).map(Self)
                }
            }
        )*
    };
}

uuid_id! {
    /// A user account (identity).
    UserId = "a user id",
    /// An organization, i.e. a tenant (tenancy).
    OrganizationId = "an organization id",
    /// A login session, i.e. a refresh-token family (identity).
    SessionId = "a session id",
    /// An event (UUIDv7, also the broker's deduplication id).
    EventId = "an event id",
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
