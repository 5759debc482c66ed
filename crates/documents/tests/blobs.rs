//! Blob storage on the local filesystem and on object_store's in-memory backend (the same
//! code path an S3-compatible store takes: multipart staging, copy, delete): round trips,
//! deduplication, and nothing left behind by a write that fails or is dropped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use documents::blobs::{BlobError, Blobs, Expected, READ_CHUNK};
use futures::{StreamExt, TryStreamExt};
use sha2::Digest;

fn chunks(
    data: &[u8],
    size: usize,
) -> impl futures::Stream<Item = Result<Bytes, String>> + Unpin + use<> {
    let pieces: Vec<Result<Bytes, String>> = data
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(pieces)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn backends() -> Vec<(&'static str, Blobs, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local = Blobs::local(&dir.path().join("blobs")).unwrap();
    let memory = Blobs::new(Arc::new(object_store::memory::InMemory::new()));
    vec![("local", local, Some(dir)), ("memory", memory, None)]
}

#[tokio::test]
async fn bytes_round_trip_once_per_organization_under_their_hash() {
    for (name, blobs, _dir) in backends().await {
        round_trip(name, &blobs, 3 * 1024 * 1024 + 17).await;
    }
}

async fn round_trip(name: &str, blobs: &Blobs, len: usize) {
    {
        let content = data(len);
        let expected = Expected {
            size: Some(content.len() as u64),
            sha256: Some(sha(&content).to_ascii_uppercase()),
        };
        let stored = blobs
            .write("org-a", chunks(&content, 64 * 1024), 64 << 20, &expected)
            .await
            .unwrap();
        assert_eq!(stored.sha256, sha(&content), "{name}");
        assert_eq!(
            (stored.size_bytes, stored.created),
            (content.len() as u64, true),
            "{name}"
        );
        let pieces: Vec<Bytes> = blobs
            .read("org-a", &stored.sha256)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(pieces.iter().all(|p| p.len() <= READ_CHUNK), "{name}");
        assert_eq!(pieces.concat(), content, "{name}");
        // The same bytes again (other chunking): stored once.
        let again = blobs
            .write(
                "org-a",
                chunks(&content, 1000),
                64 << 20,
                &Expected::default(),
            )
            .await
            .unwrap();
        assert!(!again.created, "{name}");
        assert_eq!(blobs.keys("org-a").await.unwrap().len(), 1, "{name}");
        // Another organization has its own copy, and cannot read the first one's by hash.
        assert!(
            matches!(
                blobs.read("org-b", &stored.sha256).await,
                Err(BlobError::NotFound)
            ),
            "{name}"
        );
        assert!(
            blobs.keys("staging").await.unwrap().is_empty(),
            "{name}: staging left behind"
        );
        blobs.delete("org-a", &stored.sha256).await.unwrap();
        assert!(
            !blobs.exists("org-a", &stored.sha256).await.unwrap(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn failed_writes_leave_nothing_behind() {
    for (name, blobs, _dir) in backends().await {
        failures(name, &blobs).await;
    }
}

async fn failures(name: &str, blobs: &Blobs) {
    {
        let content = data(200_000);
        let cases: Vec<(Expected, u64)> = vec![
            (Expected::default(), 100_000),
            (
                Expected {
                    size: Some(1_000_000),
                    sha256: None,
                },
                500_000,
            ),
            (
                Expected {
                    size: None,
                    sha256: Some("0".repeat(64)),
                },
                1 << 20,
            ),
            (
                Expected {
                    size: Some(5),
                    sha256: None,
                },
                1 << 20,
            ),
        ];
        for (expected, limit) in cases {
            let error = blobs
                .write("org", chunks(&content, 4096), limit, &expected)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    error,
                    BlobError::TooLarge { .. }
                        | BlobError::ChecksumMismatch { .. }
                        | BlobError::SizeMismatch { .. }
                ),
                "{name}: {error}"
            );
        }
        // A client stream that breaks half-way.
        let broken = chunks(&content[..10_000], 4096).chain(futures::stream::iter(vec![Err(
            "connection reset".to_string(),
        )]));
        let error = blobs
            .write("org", broken, 1 << 20, &Expected::default())
            .await
            .unwrap_err();
        assert!(matches!(error, BlobError::Upload(_)), "{name}: {error}");
        assert!(
            blobs.keys("org").await.unwrap().is_empty(),
            "{name}: a content blob was left"
        );
        assert!(
            blobs.keys("staging").await.unwrap().is_empty(),
            "{name}: staging was left"
        );
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(directory) = todo.pop() {
        for entry in std::fs::read_dir(&directory).unwrap().flatten() {
            if entry.path().is_dir() {
                todo.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

#[tokio::test]
async fn a_dropped_write_leaves_nothing_and_types_are_sniffed() {
    for (name, blobs, dir) in backends().await {
        // A write whose client never finishes, dropped (as when a caller disconnects).
        let endless = chunks(&data(50_000), 4096).chain(futures::stream::pending());
        let dropped = tokio::time::timeout(
            Duration::from_millis(200),
            blobs.write("org", endless, 1 << 20, &Expected::default()),
        )
        .await;
        assert!(dropped.is_err(), "{name}");
        assert!(blobs.keys("").await.unwrap().is_empty(), "{name}");
        if let Some(dir) = &dir {
            assert_eq!(
                files_under(dir.path()),
                Vec::<std::path::PathBuf>::new(),
                "{name}"
            );
        }
        let png = [
            &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a][..],
            &[0; 64],
        ]
        .concat();
        let stored = blobs
            .write("org", chunks(&png, 3), 1 << 20, &Expected::default())
            .await
            .unwrap();
        assert_eq!(
            stored.sniffed_content_type.as_deref(),
            Some("image/png"),
            "{name}"
        );
        let text = blobs
            .write(
                "org",
                chunks(b"just words", 4),
                1 << 20,
                &Expected::default(),
            )
            .await
            .unwrap();
        assert_eq!(text.sniffed_content_type, None, "{name}");
    }
}

/// A staging object a crash left between finishing an upload and moving it to its content
/// key (on S3, where nothing deletes it on its own) is swept once old enough.
#[tokio::test]
async fn stale_staging_objects_are_swept() {
    use object_store::ObjectStore;
    let store = Arc::new(object_store::memory::InMemory::new());
    let blobs = Blobs::new(store.clone());
    let leftover = object_store::path::Path::from("staging/left-by-a-crash");
    store
        .put(&leftover, Bytes::from_static(b"partial").into())
        .await
        .unwrap();
    assert_eq!(
        blobs
            .sweep_staging(Duration::from_secs(3_600))
            .await
            .unwrap(),
        0,
        "too young"
    );
    assert_eq!(blobs.sweep_staging(Duration::ZERO).await.unwrap(), 1);
    assert!(blobs.keys("staging").await.unwrap().is_empty());
}

/// The S3 path against a real S3-compatible server (moto's, which CI installs and names in
/// `TASKMESH_TEST_MOTO`), started by the test on a free port and stopped at the end.
#[tokio::test]
async fn the_same_holds_on_an_s3_compatible_server() {
    let Some(moto) = std::env::var_os("TASKMESH_TEST_MOTO") else {
        eprintln!("skipped: TASKMESH_TEST_MOTO (a moto_server binary) is not set");
        return;
    };
    use tokio::io::AsyncBufReadExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = tokio::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let ready = async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains("Running on") {
                return;
            }
        }
        panic!("moto_server exited before it was ready");
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("moto_server did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    let endpoint = format!("http://127.0.0.1:{port}");
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/taskmesh-test"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let blobs = Blobs::s3(
        "s3://taskmesh-test/blobs",
        &[
            ("endpoint", endpoint.as_str()),
            ("allow_http", "true"),
            ("region", "us-east-1"),
            ("access_key_id", "test"),
            ("secret_access_key", "test"),
        ],
    )
    .unwrap();
    // 12 MiB: several multipart parts.
    round_trip("s3", &blobs, 12 * 1024 * 1024 + 5).await;
    failures("s3", &blobs).await;
    server.kill().await.unwrap();
}
