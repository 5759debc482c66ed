//! Finding 3 of the security review (issue 7), alone in its test binary: it reads the
//! process-wide metrics, which other meshes running in parallel in one binary would share.

mod support;

use std::time::Duration;

use support::*;
use taskmesh::identity::v1::LoginRequest;

/// Finding 3: password hashing is bounded by the work actually running. Sixty logins
/// whose deadlines expire while they wait for or run their hash (each costs 19 MiB of argon2
/// memory) never make more hashes run at once than there are workers (the old bound leaked:
/// a cancelled caller freed its permit while its hash ran on), and hashes nobody waits for
/// any more are skipped or refused, not computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_logins_do_not_pile_up_hashing_work() {
    let mesh = Mesh::start_with(|config| {
        config
            .update_section("identity", |identity: &mut identity::IdentityConfig| {
                identity.login_failures_per_address_before_delay = 100_000;
            })
            .unwrap()
    })
    .await;
    // Logins for made-up accounts: each reaches the hasher (a dummy hash, so response time
    // tells nothing) after two reads; sixty of them take two workers far longer than the
    // 300 ms each caller waits, so most give up queued or mid-hash.
    let outcomes = at_once(60, || {
        let mut identity = mesh.identity();
        async move {
            let mut request = tonic::Request::new(LoginRequest {
                email: format!("nobody-{}@example.com", uuid::Uuid::now_v7().simple()),
                password: "wrong-horse-1".into(),
                organization: None,
            });
            request.set_timeout(Duration::from_millis(300));
            identity.login(request).await.map(|_| ())
        }
    })
    .await;
    // The flood is over once a login goes through again (the queue refuses while full).
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    for attempt in 0.. {
        ticks.tick().await;
        let answer = mesh
            .identity()
            .login(LoginRequest {
                email: "nobody@example.com".into(),
                password: "wrong-horse-1".into(),
                organization: None,
            })
            .await;
        match answer {
            Err(status) if status.code() == tonic::Code::ResourceExhausted && attempt < 200 => {}
            _ => break,
        }
    }
    let abandoned = outcomes.iter().filter(|outcome| outcome.is_err()).count();
    let metrics = metrics_text(&mesh).await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let peak = value("taskmesh_password_hashes_peak{pool=\"identity\"} ");
    let computed = value("taskmesh_password_hashes_total{pool=\"identity\",outcome=\"computed\"} ");
    let spared = value("taskmesh_password_hashes_total{pool=\"identity\",outcome=\"skipped\"} ")
        + value("taskmesh_password_hashes_total{pool=\"identity\",outcome=\"refused\"} ");
    println!(
        "{abandoned} of 60 abandoned; hashes: peak {peak}, computed {computed}, spared {spared}"
    );
    assert!(abandoned > 20, "the deadlines did not cut the calls short");
    assert!(
        (1.0..=2.0).contains(&peak),
        "more hashes ran at once than the 2 workers: {peak}"
    );
    assert!(spared > 0.0, "abandoned hashes were computed anyway");
    mesh.stop().await;
}

async fn metrics_text(mesh: &Mesh) -> String {
    use http_body_util::BodyExt;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let url: http::Uri = format!("http://{}/metrics", mesh.address).parse().unwrap();
    let body = http
        .get(url)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}
