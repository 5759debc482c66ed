//! A loopback HTTP/1.1 receiver for tests of outgoing HTTP (webhooks): it answers each
//! request with the next status of a script (the last one repeats) and hands every request
//! (headers and raw body bytes) to the test through a channel, so tests wait on requests
//! instead of sleeping. One request per connection (`connection: close`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `POST`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased (the last value of a repeated header).
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

/// A running receiver.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// Requests in arrival order.
    pub requests: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    /// The next request, or a panic after `seconds`.
    pub async fn next(&mut self, seconds: u64) -> Received {
        tokio::time::timeout(
            std::time::Duration::from_secs(seconds),
            self.requests.recv(),
        )
        .await
        .expect("no request arrived in time")
        .expect("the receiver stopped")
    }
}

/// Starts a receiver answering `statuses` in turn (the last one repeats; empty means 200).
pub async fn receiver(statuses: Vec<u16>) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, requests) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new((statuses, 0_usize)));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let path = parts.next().unwrap_or_default().to_string();
                let mut headers = BTreeMap::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|value| value.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0_u8; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let answered = {
                    let mut script = script.lock().unwrap();
                    let (statuses, index) = &mut *script;
                    let status = statuses
                        .get(*index)
                        .or(statuses.last())
                        .copied()
                        .unwrap_or(200);
                    *index += 1;
                    status
                };
                // Handed over before answering: once the client has its answer, the test
                // already has the request.
                let _ = sender.send(Received {
                    method,
                    path,
                    headers,
                    body,
                    answered,
                });
                let response = format!(
                    "HTTP/1.1 {answered} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = reader.get_mut().write_all(response.as_bytes()).await;
                let _ = reader.get_mut().shutdown().await;
            });
        }
    });
    Receiver {
        url: format!("http://127.0.0.1:{port}/hook"),
        requests,
    }
}

/// Checks a Standard Webhooks request the way a receiver would, independently of the
/// sender's implementation (RustCrypto's HMAC, not ring): the timestamp is within five
/// minutes, and returns how many of the `webhook-signature` header's `v1,` signatures were
/// made by `secret` (`whsec_...`) over `id.timestamp.body` (compared in constant time).
pub fn standard_webhook_signatures(secret: &str, request: &Received) -> usize {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};

    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("a base64 secret");
    let id = &request.headers["webhook-id"];
    let timestamp: i64 = request.headers["webhook-timestamp"].parse().unwrap();
    let now = crate::time::now_millis() / 1_000;
    assert!(
        (now - timestamp).abs() <= 300,
        "timestamp {timestamp} is not within 5 minutes of {now}"
    );
    request.headers["webhook-signature"]
        .split(' ')
        .filter_map(|signature| signature.strip_prefix("v1,"))
        .filter_map(|signature| STANDARD.decode(signature).ok())
        .filter(|signature| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(&request.body);
            mac.verify_slice(signature).is_ok()
        })
        .count()
}
