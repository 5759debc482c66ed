//! Password policy and hashing.
//!
//! Policy: 10 to 128 characters, at least two character classes (lowercase, uppercase,
//! digits, other), not one of a built-in list of common passwords (compared
//! case-insensitively, with trailing digits and punctuation removed, so `Password123!` is
//! refused too).
//! Hashing lives in `kit::passwords`.

use super::IdentityError;

/// Common passwords, lowercase, without trailing digits or punctuation.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "qwerty",
    "qwertyuiop",
    "letmein",
    "welcome",
    "iloveyou",
    "admin",
    "administrator",
    "abc",
    "abcdef",
    "abcdefgh",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "trustno",
    "superman",
    "batman",
    "master",
    "shadow",
    "michael",
    "starwars",
    "whatever",
    "freedom",
    "changeme",
    "secret",
    "login",
    "hello",
    "charlie",
    "donald",
    "jennifer",
    "jordan",
    "hunter",
    "ashley",
    "ninja",
    "mustang",
    "access",
    "computer",
    "internet",
    "taskmesh",
    "zaq",
    "qazwsx",
    "asdfgh",
    "asdfghjkl",
    "zxcvbnm",
    "football",
    "soccer",
    "hockey",
    "killer",
    "pepper",
    "ginger",
    "summer",
    "winter",
    "spring",
    "autumn",
    "january",
    "december",
    "default",
    "guest",
    "root",
    "test",
    "testing",
    "temp",
    "temporary",
    "mypassword",
    "yourpassword",
    "correcthorsebatterystaple",
];

/// Checks `password` against the policy.
pub fn check_policy(password: &str) -> Result<(), IdentityError> {
    let length = password.chars().count();
    if length < 10 {
        return Err(IdentityError::PasswordTooWeak {
            field: "password",
            reason: "must be at least 10 characters".into(),
        });
    }
    if length > 128 {
        return Err(IdentityError::PasswordTooWeak {
            field: "password",
            reason: "must be at most 128 characters".into(),
        });
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|present| **present).count() < 2 {
        return Err(IdentityError::PasswordTooWeak {
            field: "password",
            reason: "must mix at least two of: lowercase, uppercase, digits, symbols".into(),
        });
    }
    let core = password
        .to_lowercase()
        .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation())
        .to_string();
    let first_char = password.chars().next().unwrap_or_default();
    if COMMON.contains(&core.as_str()) || password.chars().all(|c| c == first_char) {
        return Err(IdentityError::PasswordTooWeak {
            field: "password",
            reason: "is too common".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_single_class_and_common_passwords() {
        for weak in [
            "Short1!",
            "alllowercaseletters",
            "ALLUPPERCASE",
            "12345678901",
            "Password123!",
            "aaaaaaaaaaaa",
            "Qwerty2024",
        ] {
            assert!(check_policy(weak).is_err(), "{weak:?} accepted");
        }
        for strong in [
            "correct-horse-7",
            "Tr0ub4dor&3x",
            "long passphrase with 2 classes",
        ] {
            check_policy(strong).unwrap_or_else(|e| panic!("{strong:?} refused: {e}"));
        }
        assert!(
            check_policy(&"aB3".repeat(50)).is_err(),
            "over 128 characters"
        );
    }
}
