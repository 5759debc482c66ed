//! Creates with an idempotency key (`request_id`, AIP-155): the same key from the same
//! caller returns the first result, also when the retries race each other.
//!
//! A create first looks the key up (a plain retry); otherwise it creates. When the create
//! fails, the key is looked up once more: a concurrent retry may have won the race (the
//! store's unique index on the key made this one fail with a conflict), and then its result
//! is the answer. Only when nothing was stored under the key does the failure stand.

use std::future::Future;

/// What a keyed create did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// This call created it.
    Created(T),
    /// An earlier (or concurrent) call with the same key did; this is its result.
    Replayed(T),
}

impl<T> Outcome<T> {
    /// The resource, however it came.
    pub fn into_inner(self) -> T {
        match self {
            Self::Created(value) | Self::Replayed(value) => value,
        }
    }
}

/// Creates once per `key`: `lookup` finds what an earlier call with the key stored,
/// `create` makes it. Without a key, just creates.
pub async fn create_once<T, E, L, LF, C, CF>(
    key: Option<&str>,
    lookup: L,
    create: C,
) -> Result<Outcome<T>, E>
where
    L: Fn(String) -> LF,
    LF: Future<Output = Result<Option<T>, E>>,
    C: FnOnce() -> CF,
    CF: Future<Output = Result<T, E>>,
{
    let Some(key) = key else {
        return create().await.map(Outcome::Created);
    };
    if let Some(found) = lookup(key.to_string()).await? {
        return Ok(Outcome::Replayed(found));
    }
    match create().await {
        Ok(created) => Ok(Outcome::Created(created)),
        Err(error) => match lookup(key.to_string()).await {
            Ok(Some(found)) => Ok(Outcome::Replayed(found)),
            _ => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_lost_race_replays_the_winner_and_a_real_failure_stands() {
        let stored: Mutex<Option<u32>> = Mutex::new(None);
        let lookup = |_: String| {
            let found = *stored.lock().unwrap();
            async move { Ok::<_, &str>(found) }
        };
        // The winner stores 1 while this call is creating; its insert conflicts.
        let outcome = create_once(Some("k"), lookup, || async {
            *stored.lock().unwrap() = Some(1);
            Err::<u32, _>("conflict")
        })
        .await;
        assert_eq!(outcome, Ok(Outcome::Replayed(1)));
        // A plain retry replays without creating.
        let outcome = create_once(Some("k"), lookup, || async { Ok(2) }).await;
        assert_eq!(outcome, Ok(Outcome::Replayed(1)));
        // Nothing under the key: the failure is the answer.
        let empty = |_: String| async { Ok::<Option<u32>, &str>(None) };
        assert_eq!(
            create_once(Some("other"), empty, || async {
                Err::<u32, _>("slug taken")
            })
            .await,
            Err("slug taken")
        );
        assert_eq!(
            create_once(None, empty, || async { Ok(3) }).await,
            Ok(Outcome::Created(3))
        );
    }
}
