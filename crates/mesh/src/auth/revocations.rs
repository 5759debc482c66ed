//! Credentials revoked before their time, as identity announces them (a session ended, a
//! personal access token revoked). Every process keeps this set and its auth layer refuses
//! what is in it, so a logout reaches every service within about a second instead of when
//! the access token expires.
//!
//! Invariants: an entry is kept for [`HORIZON`], longer than any access token lives and any
//! introspection result is cached, then forgotten (a revoked credential cannot come back
//! after that: its session or token is refused by identity itself); memory is bounded by the
//! revocations of the last hour (plus the minute between prunings).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::{Principal, TokenKind};
use crate::ids::SessionId;

/// How long a revocation is remembered.
pub const HORIZON: Duration = Duration::from_secs(3_600);

/// A revoked credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Revoked {
    /// A session: access tokens naming it (`sid`) stop working.
    Session(SessionId),
    /// A personal access token, by id.
    PersonalAccessToken(String),
}

/// Each revocation with when it may be forgotten, and when expired ones were last dropped.
#[derive(Debug, Default)]
struct Entries {
    until: HashMap<Revoked, Instant>,
    pruned: Option<Instant>,
}

/// How often expired entries are dropped: at most once per interval, so replaying an hour of
/// revocations at start-up is linear, not a scan of the set per event.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The revocations a process knows of.
#[derive(Debug, Default)]
pub struct Revocations {
    entries: Mutex<Entries>,
    /// Woken on every revocation, so a waiter needs no polling.
    changed: tokio::sync::Notify,
}

impl Revocations {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `credential` was revoked at `at` (the event's time); a revocation older
    /// than the horizon is ignored.
    pub fn revoke(&self, credential: Revoked, at: SystemTime) {
        let age = SystemTime::now().duration_since(at).unwrap_or_default();
        let Some(remaining) = HORIZON.checked_sub(age) else {
            return;
        };
        let now = Instant::now();
        if let Ok(mut entries) = self.entries.lock() {
            if entries
                .pruned
                .is_none_or(|pruned| now.duration_since(pruned) >= PRUNE_EVERY)
            {
                entries.until.retain(|_, until| *until > now);
                entries.pruned = Some(now);
            }
            entries.until.insert(credential, now + remaining);
        }
        self.changed.notify_waiters();
    }

    /// Waits until the credential behind `principal` is revoked (at once if it already is).
    pub async fn revoked(&self, principal: &Principal) {
        loop {
            // Registered before the check, so a revocation between the two is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_revoked(principal) {
                return;
            }
            changed.await;
        }
    }

    /// True when the credential behind `principal` was revoked.
    pub fn is_revoked(&self, principal: &Principal) -> bool {
        let credential = match principal.token_kind {
            TokenKind::Access => match principal.session_id {
                Some(session) => Revoked::Session(session),
                None => return false,
            },
            TokenKind::PersonalAccessToken => {
                Revoked::PersonalAccessToken(principal.token_id.clone())
            }
        };
        let now = Instant::now();
        self.entries
            .lock()
            .map(|entries| {
                entries
                    .until
                    .get(&credential)
                    .is_some_and(|until| *until > now)
            })
            .unwrap_or(false)
    }

    /// How many revocations are remembered.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .map(|entries| entries.until.len())
            .unwrap_or(0)
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;
    use crate::ids::UserId;

    fn principal(kind: TokenKind, session: Option<SessionId>, token_id: &str) -> Principal {
        Principal {
            user_id: UserId::new(),
            organization_id: None,
            role: None,
            token_kind: kind,
            scope: Scope::ReadWrite,
            session_id: session,
            token_id: token_id.into(),
            expires_at: None,
        }
    }

    #[test]
    fn revoked_sessions_and_tokens_are_refused_others_pass_old_news_is_ignored() {
        let revocations = Revocations::new();
        let session = SessionId::new();
        let access = principal(TokenKind::Access, Some(session), "jti-1");
        let token = principal(TokenKind::PersonalAccessToken, None, "pat-1");
        assert!(!revocations.is_revoked(&access));
        revocations.revoke(Revoked::Session(session), SystemTime::now());
        revocations.revoke(
            Revoked::PersonalAccessToken("pat-1".into()),
            SystemTime::now(),
        );
        assert!(revocations.is_revoked(&access));
        assert!(revocations.is_revoked(&token));
        assert!(!revocations.is_revoked(&principal(
            TokenKind::Access,
            Some(SessionId::new()),
            "jti-2"
        )));
        // A jti that happens to equal a revoked token id is not a personal access token.
        assert!(!revocations.is_revoked(&principal(TokenKind::Access, None, "pat-1")));
        revocations.revoke(
            Revoked::Session(SessionId::new()),
            SystemTime::now() - HORIZON - Duration::from_secs(1),
        );
        assert_eq!(
            revocations.len(),
            2,
            "news older than the horizon is ignored"
        );
    }
}
