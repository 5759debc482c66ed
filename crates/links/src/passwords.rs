//! Link passwords: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), hashed and
//! verified on blocking threads, at most two at a time and at most [`MAX_WAITING`] waiting,
//! so a flood of attempts can neither starve the runtime nor queue without bound (beyond
//! that, a call is refused at once and may retry).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Most hashing jobs waiting for a thread; more are refused.
pub const MAX_WAITING: usize = 32;

/// Hashes and verifies link passwords.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(2)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// One place in the queue, given back when dropped.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Passwords {
    /// A thread's turn, or an error when [`MAX_WAITING`] jobs already wait.
    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, String> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err("too many password checks at once; retry shortly".into());
        }
        let _place = Waiting(self.waiting.clone());
        self.permits
            .acquire()
            .await
            .map_err(|error| error.to_string())
    }

    /// The PHC string of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let _permit = self.turn().await?;
        let password = password.to_string();
        tokio::task::spawn_blocking(move || {
            argon2()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| error.to_string())
        })
        .await
        .map_err(|error| error.to_string())?
    }

    /// Whether `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, String> {
        let _permit = self.turn().await?;
        let (password, hash) = (password.to_string(), hash.to_string());
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|error| error.to_string())?;
            Ok(argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|error| error.to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify("correct horse", &hash).await.unwrap());
        assert!(!passwords.verify("correct horsf", &hash).await.unwrap());
    }
}
