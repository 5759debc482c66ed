//! Finding 3 of the security review (issue 7), alone in its test binary: it watches the
//! process's threads, which other tests running in parallel would disturb.

mod support;

use std::time::Duration;

use support::*;
use taskmesh::identity::v1::SignUpRequest;

/// This process's threads that could hash (Linux), or `None` elsewhere: all but SQLite's
/// connection threads, which follow the pool, not the hashing.
fn threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .map(|name| !name.starts_with("sqlx-sqlite"))
                    .unwrap_or(false)
            })
            .count(),
    )
}

/// Finding 3: password hashing is bounded by the work actually running. Two hundred
/// SignUps whose deadlines expire while they hash (each costs 19 MiB of argon2 memory)
/// must not pile up hashing threads behind the callers' backs.
#[tokio::test]
async fn abandoned_sign_ups_do_not_pile_up_hashing_work() {
    let Some(before) = threads() else {
        println!("skipped: no /proc/self/status");
        return;
    };
    let mesh = Mesh::start_with(|config| {
        config
            .update_section("identity", |identity: &mut identity::IdentityConfig| {
                identity.signups_per_address_before_delay = 100_000;
            })
            .unwrap()
    })
    .await;
    mesh.sign_up("first@example.com").await;
    let settled = threads().unwrap_or(before);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(settled));
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (peak, watching) = (peak.clone(), watching.clone());
        std::thread::spawn(move || {
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(now) = threads() {
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                }
                std::thread::yield_now();
            }
        })
    };
    let outcomes = at_once(200, || {
        let mut identity = mesh.identity();
        async move {
            let mut request = tonic::Request::new(SignUpRequest {
                email: format!("flood-{}@example.com", uuid::Uuid::now_v7().simple()),
                password: "correct-horse-7".into(),
                display_name: "Flood".into(),
                request_id: String::new(),
            });
            request.set_timeout(Duration::from_millis(5));
            identity.sign_up(request).await.map(|_| ())
        }
    })
    .await;
    // Let every hash that did start finish (a correct sign-up queues behind them).
    mesh.sign_up("last@example.com").await;
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap();
    let abandoned = outcomes.iter().filter(|outcome| outcome.is_err()).count();
    let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
    println!("{abandoned} of 200 sign-ups abandoned; threads {settled} -> peak {peak}");
    assert!(abandoned > 100, "the deadlines did not cut the calls short");
    assert!(
        peak <= settled + 8,
        "hashing threads piled up: {settled} -> {peak}"
    );
    mesh.stop().await;
}
