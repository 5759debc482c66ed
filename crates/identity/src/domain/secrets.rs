//! The prefixes of identity's secrets; generating and hashing them is `mesh::secrets`.

pub use mesh::secrets::{digest, generate};

/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "tmrt_";
/// Prefix of password-reset tokens.
pub const RESET_TOKEN_PREFIX: &str = "tmrst_";
/// Prefix of personal access tokens (shared with the auth layer, which routes on it).
pub const PERSONAL_ACCESS_TOKEN_PREFIX: &str = mesh::auth::PERSONAL_ACCESS_TOKEN_PREFIX;

/// The listing prefix of a personal access token.
pub fn display_prefix(secret: &str) -> String {
    mesh::secrets::display_prefix(PERSONAL_ACCESS_TOKEN_PREFIX, secret)
}
