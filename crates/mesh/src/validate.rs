//! Input rules every service applies the same way, so that, say, an email identity accepts
//! at sign-up is one tenancy accepts on an invitation. Each returns the normalized value or
//! a short description for a field violation; services wrap it in their own error enum.

/// Normalizes an email (trimmed, lowercase) and checks its shape: one `@`, a non-empty local
/// part of at most 64 characters, a dotted domain, no whitespace or control characters, at
/// most 254 characters.
pub fn email(text: &str) -> Result<String, &'static str> {
    let email = text.trim().to_lowercase();
    if email.is_empty() {
        return Err("must not be empty");
    }
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("is not an email address");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(email)
        }
        _ => Err("is not an email address"),
    }
}

/// An optional idempotency key: empty means none; at most 128 printable ASCII characters.
pub fn request_id(text: &str) -> Result<Option<String>, &'static str> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > 128 || !text.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be at most 128 printable ASCII characters");
    }
    Ok(Some(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn request_ids() {
        assert_eq!(request_id("").unwrap(), None);
        assert_eq!(request_id("abc-1").unwrap().as_deref(), Some("abc-1"));
        assert!(request_id(&"x".repeat(129)).is_err());
        assert!(request_id("has space").is_err());
    }
}
