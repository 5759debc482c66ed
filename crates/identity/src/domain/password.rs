//! Password policy and hashing.
//!
//! Policy: 10 to 128 characters, at least two character classes (lowercase, uppercase,
//! digits, other), not one of a built-in list of common passwords (compared
//! case-insensitively, with trailing digits and punctuation removed, so `Password123!` is
//! refused too).
//! Hashing: argon2id with the OWASP parameters (m = 19 MiB, t = 2, p = 1) on blocking
//! threads, bounded by a semaphore so a login flood queues instead of starving the process.
//! Unknown accounts are verified against a dummy hash, so response time does not tell
//! whether an email is registered.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

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

/// Hashes and verifies passwords with bounded concurrency.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasherPool {
    /// At most `concurrency` hashes at once (0: one per CPU).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            concurrency
        };
        let dummy_hash =
            hash_blocking("taskmesh-dummy-password-for-timing").expect("hashing a constant works");
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy_hash: Arc::new(dummy_hash),
        }
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, IdentityError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| IdentityError::Internal("hasher closed".into()))?;
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|error| IdentityError::Internal(error.to_string()))?
    }

    /// True when `password` matches `phc`; with `None` (unknown account) it verifies
    /// against the dummy hash and returns false, taking the same time.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, IdentityError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| IdentityError::Internal("hasher closed".into()))?;
        let known = phc.is_some();
        let phc = phc
            .map(str::to_string)
            .unwrap_or_else(|| self.dummy_hash.to_string());
        let password = password.to_string();
        let matched = tokio::task::spawn_blocking(move || {
            Ok::<_, IdentityError>(
                argon2()
                    .verify_password(password.as_bytes(), phc.as_str())
                    .is_ok(),
            )
        })
        .await
        .map_err(|error| IdentityError::Internal(error.to_string()))??;
        Ok(known && matched)
    }
}

fn hash_blocking(password: &str) -> Result<String, IdentityError> {
    let mut salt_bytes = [0u8; 16];
    rand::fill(&mut salt_bytes);
    PasswordHasher::<PasswordHash>::hash_password_with_salt(
        &argon2(),
        password.as_bytes(),
        &salt_bytes,
    )
    .map(|hash| hash.to_string())
    .map_err(|error| IdentityError::Internal(error.to_string()))
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

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let pool = PasswordHasherPool::new(1);
        let hash = pool.hash("correct-horse-7").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(pool.verify("correct-horse-7", Some(&hash)).await.unwrap());
        assert!(!pool.verify("wrong-horse-7", Some(&hash)).await.unwrap());
        assert!(
            !pool
                .verify("taskmesh-dummy-password-for-timing", None)
                .await
                .unwrap()
        );
    }
}
