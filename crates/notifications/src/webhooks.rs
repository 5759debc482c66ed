//! Delivering webhooks: the network guard (DNS resolution checked against
//! [`crate::domain::addresses`] at creation and at every attempt, on the addresses actually
//! connected to), the signed HTTP attempt, and the worker that drains the delivery schedule.
//!
//! Invariants: redirects are never followed; an attempt takes at most [`ATTEMPT_TIMEOUT`];
//! environment proxies are ignored (a proxy would connect on our behalf, past the guard);
//! one replica at a time attempts a delivery (a claim with a lease); an attempt's error text
//! never holds the URL, the response body or a secret.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipnet::IpNet;
use mesh::server::Shutdown;
use taskmesh::events::v1::WebhookDeliveryFailed;

use crate::domain::NotificationsError;
use crate::domain::addresses::refusal;
use crate::domain::signing::{SecretKey, SigningSecret, signature_header};
use crate::domain::webhooks::{EndpointState, FAILING_LIMIT, RETENTION, retry_after};
use crate::store::webhooks::{
    AfterAttempt, Attempt, DeliveryRecord, EndpointRecord, WebhooksStore,
};

/// Longest attempt, from connect to the end of the response headers.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the worker looks for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries attempted at once by one worker.
const CONCURRENCY: usize = 16;

/// Why a URL may not be called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The host resolves (or is) an address the guard refuses.
    Address(String),
    /// The host does not resolve.
    Unresolvable(String),
}

/// Resolves hosts and refuses addresses outside what webhooks may reach.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    allowed: Arc<Vec<IpNet>>,
}

impl Guard {
    /// A guard admitting `allowed` networks besides public addresses.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed: Arc::new(allowed),
        }
    }

    fn check(&self, address: IpAddr) -> Result<(), Refused> {
        match refusal(address, &self.allowed) {
            None => Ok(()),
            Some(why) => Err(Refused::Address(format!("address not allowed ({why})"))),
        }
    }

    /// Resolves `host` and checks every address (any refused address refuses the host: a
    /// name that also points inside is not a public endpoint).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Refused::Unresolvable(host.to_string()))?
            .collect();
        if addresses.is_empty() {
            return Err(Refused::Unresolvable(host.to_string()));
        }
        for address in &addresses {
            self.check(address.ip())?;
        }
        Ok(addresses)
    }

    /// Checks a URL's host: an address literal directly, a name through DNS.
    pub async fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.check(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check(IpAddr::V6(v6)),
            Some(url::Host::Domain(name)) => self.resolve(name, port).await.map(|_| ()),
            None => Err(Refused::Unresolvable(String::new())),
        }
    }

    /// The guard as an API check: its refusal in the API's words for request field `field`.
    pub async fn admit(
        &self,
        url: &url::Url,
        field: &'static str,
    ) -> Result<(), NotificationsError> {
        self.check_url(url).await.map_err(|refused| match refused {
            Refused::Address(description) => {
                NotificationsError::UrlNotAllowed { field, description }
            }
            Refused::Unresolvable(host) => NotificationsError::UrlUnresolvable { field, host },
        })
    }
}

/// reqwest's resolver: the guard, so the connection uses exactly the addresses checked
/// (no second lookup that DNS rebinding could answer differently).
impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let addresses = guard.resolve(name.as_str(), 0).await.map_err(
                |refused| -> Box<dyn std::error::Error + Send + Sync> {
                    match refused {
                        Refused::Address(why) => why.into(),
                        Refused::Unresolvable(_) => "host does not resolve".into(),
                    }
                },
            )?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Response status (0: none).
    pub status: u16,
    /// From sending to the end of the response headers.
    pub latency: Duration,
    /// Empty on success; a short reason otherwise.
    pub error: String,
    /// The sanitized reason code of WebhookDeliveryFailed.
    pub reason: &'static str,
}

impl Outcome {
    /// A 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Makes signed attempts.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    guard: Guard,
    timeout: Duration,
}

impl Sender {
    /// A sender whose connections pass `guard`, each attempt bounded by [`ATTEMPT_TIMEOUT`].
    pub fn new(guard: Guard) -> Result<Self, String> {
        Self::with_timeout(guard, ATTEMPT_TIMEOUT)
    }

    /// A sender whose attempts end after `timeout` (tests use a short one).
    pub fn with_timeout(guard: Guard, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .no_proxy()
            .dns_resolver(Arc::new(guard.clone()))
            .user_agent("taskmesh-webhooks/1")
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|error| format!("webhook HTTP client: {error}"))?;
        Ok(Self {
            client,
            guard,
            timeout,
        })
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// POSTs `body` to `url` signed with `secrets`, as the event `event_id`.
    pub async fn attempt(
        &self,
        url: &str,
        event_id: &str,
        body: &str,
        secrets: &[SigningSecret],
    ) -> Outcome {
        let failed = |error: String, reason| Outcome {
            status: 0,
            latency: Duration::ZERO,
            error,
            reason,
        };
        let Ok(parsed) = url::Url::parse(url) else {
            return failed("invalid URL".into(), "destination_blocked");
        };
        if let Err(refused) = self.guard.check_url(&parsed).await {
            return match refused {
                Refused::Address(why) => failed(why, "destination_blocked"),
                Refused::Unresolvable(_) => failed("host does not resolve".into(), "dns_error"),
            };
        }
        let timestamp = mesh::time::now_millis() / 1_000;
        let started = Instant::now();
        let response = self
            .client
            .post(parsed)
            .header("content-type", "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature_header(secrets, event_id, timestamp, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await;
        let latency = started.elapsed();
        match response {
            Ok(response) => {
                let status = response.status();
                let (error, reason) = if status.is_success() {
                    (String::new(), "")
                } else if status.is_redirection() {
                    (
                        format!("redirect not followed (HTTP {})", status.as_u16()),
                        "redirect",
                    )
                } else {
                    (format!("HTTP {}", status.as_u16()), "http_status")
                };
                Outcome {
                    status: status.as_u16(),
                    latency,
                    error,
                    reason,
                }
            }
            Err(error) => {
                let (error, reason) = describe(&error, self.timeout);
                Outcome {
                    status: 0,
                    latency,
                    error,
                    reason,
                }
            }
        }
    }
}

/// A short, URL-free description of a failed request.
fn describe(error: &reqwest::Error, timeout: Duration) -> (String, &'static str) {
    use std::error::Error as _;
    if error.is_timeout() {
        return (
            format!("timeout after {}s", timeout.as_secs_f64()),
            "timeout",
        );
    }
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let text = causes.join(": ");
    if text.contains("address not allowed") {
        let why = causes
            .iter()
            .find(|cause| cause.starts_with("address not allowed"))
            .cloned()
            .unwrap_or_else(|| "address not allowed".into());
        return (why, "destination_blocked");
    }
    if text.contains("does not resolve") || text.contains("dns error") {
        return ("host does not resolve".into(), "dns_error");
    }
    if text.to_ascii_lowercase().contains("certificate")
        || text.contains("tls")
        || text.contains("TLS")
    {
        return ("tls handshake failed".into(), "tls_error");
    }
    if error.is_connect() {
        if text.contains("refused") {
            return ("connection refused".into(), "connection_refused");
        }
        return ("connection failed".into(), "connection_failed");
    }
    ("request failed".into(), "request_failed")
}

/// The signing secrets an endpoint uses at `now` (the rotated-out one during its grace).
pub fn signing_secrets(
    key: &SecretKey,
    endpoint: &EndpointRecord,
    now: i64,
) -> Result<Vec<SigningSecret>, String> {
    let mut secrets = vec![key.open(&endpoint.id, &endpoint.secret_sealed)?];
    if let (Some(previous), Some(until)) = (
        &endpoint.previous_secret_sealed,
        endpoint.previous_secret_expires_at,
    ) && until > now
    {
        secrets.push(key.open(&endpoint.id, previous)?);
    }
    Ok(secrets)
}

/// What the worker needs.
#[derive(Clone)]
pub struct Deliverer {
    /// Deliveries and endpoints.
    pub store: Arc<dyn WebhooksStore>,
    /// HTTP.
    pub sender: Sender,
    /// Opens sealed secrets.
    pub key: Arc<SecretKey>,
    /// Waits between attempts (before jitter).
    pub delays: Arc<Vec<Duration>>,
}

impl Deliverer {
    /// Attempts deliveries until `shutdown`, and purges the log of what is older than 30
    /// days once an hour.
    pub async fn run(self, shutdown: Shutdown) {
        let mut last_purge: Option<Instant> = None;
        loop {
            let now = mesh::time::now_millis();
            if let Err(error) = self.drain(now).await {
                tracing::warn!(%error, "cannot read the webhook schedule; retrying");
            }
            if last_purge.is_none_or(|at| at.elapsed() > Duration::from_secs(3_600)) {
                last_purge = Some(Instant::now());
                let before = now - mesh::time::duration_millis(RETENTION);
                match self.store.purge_deliveries(before, 1_000).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "old webhook deliveries purged"),
                    Err(error) => tracing::warn!(%error, "cannot purge webhook deliveries"),
                }
            }
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Attempts every delivery due at `now` that this worker can claim.
    pub async fn drain(&self, now: i64) -> Result<(), NotificationsError> {
        let lease = mesh::time::duration_millis(ATTEMPT_TIMEOUT * 6);
        let due = self.store.due_deliveries(now, 64).await?;
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |due| async move {
                let result = async {
                    if !self
                        .store
                        .claim_delivery(&due.delivery_id, now, now + lease)
                        .await?
                    {
                        return Ok(());
                    }
                    self.deliver(due.organization_id, &due.delivery_id).await
                }
                .await;
                if let Err(error) = result {
                    tracing::warn!(delivery = %due.delivery_id, %error, "webhook attempt not recorded; it will be retried");
                }
            })
            .await;
        Ok(())
    }

    /// One attempt of a claimed delivery, recorded.
    async fn deliver(
        &self,
        organization_id: mesh::ids::OrganizationId,
        delivery_id: &str,
    ) -> Result<(), NotificationsError> {
        let Some(delivery) = self.store.delivery(organization_id, delivery_id).await? else {
            return Ok(());
        };
        let Some(endpoint) = self
            .store
            .endpoint(organization_id, &delivery.endpoint_id)
            .await?
        else {
            return Ok(());
        };
        let now = mesh::time::now_millis();
        let outcome = if endpoint.state() != EndpointState::Enabled {
            Outcome {
                status: 0,
                latency: Duration::ZERO,
                error: "endpoint not enabled".into(),
                reason: "endpoint_disabled",
            }
        } else {
            match signing_secrets(&self.key, &endpoint, now) {
                Ok(secrets) => {
                    self.sender
                        .attempt(&endpoint.url, &delivery.event_id, &delivery.body, &secrets)
                        .await
                }
                Err(error) => {
                    tracing::error!(endpoint = %endpoint.id, %error, "cannot open the webhook secret");
                    Outcome {
                        status: 0,
                        latency: Duration::ZERO,
                        error: "signing secret unavailable on this replica".into(),
                        reason: "secret_unavailable",
                    }
                }
            }
        };
        let attempt = decide(&delivery, &endpoint, &outcome, &self.delays, now);
        tracing::info!(
            delivery = %delivery.id,
            endpoint = %endpoint.id,
            attempt = delivery.attempt_count + 1,
            status = outcome.status,
            error = %outcome.error,
            "webhook attempt"
        );
        self.store.record_attempt(&delivery, &attempt).await
    }
}

/// What follows an attempt: success; retry on schedule; or give up (410 Gone, disabled
/// endpoint, schedule exhausted), with the endpoint switched off after 410 or three days of
/// failures.
pub fn decide(
    delivery: &DeliveryRecord,
    endpoint: &EndpointRecord,
    outcome: &Outcome,
    delays: &[Duration],
    now: i64,
) -> Attempt {
    let number = delivery.attempt_count + 1;
    let latency_ms = i64::try_from(outcome.latency.as_millis()).unwrap_or(i64::MAX);
    let mut endpoint_state = None;
    let next = if outcome.succeeded() {
        AfterAttempt::Succeeded
    } else {
        let enabled = endpoint.state() == EndpointState::Enabled;
        if outcome.status == 410 {
            endpoint_state = Some(EndpointState::Gone);
        } else if enabled
            && endpoint
                .failing_since
                .is_some_and(|since| now - since >= mesh::time::duration_millis(FAILING_LIMIT))
        {
            endpoint_state = Some(EndpointState::DisabledByFailures);
        }
        let retry = (enabled && endpoint_state.is_none())
            .then(|| retry_after(delays, number, rand::random::<f64>()))
            .flatten();
        match retry {
            Some(wait) => AfterAttempt::RetryAt(now + mesh::time::duration_millis(wait)),
            None => {
                let payload = WebhookDeliveryFailed {
                    webhook_endpoint_id: endpoint.id.clone(),
                    delivery_id: delivery.id.clone(),
                    event_id: delivery.event_id.clone(),
                    event_type: delivery.event_type.clone(),
                    attempt_count: number,
                    response_status_code: i32::from(outcome.status),
                    failure_reason: outcome.reason.into(),
                    will_retry: false,
                    next_attempt_time: None,
                    endpoint_disabled: endpoint_state.is_some(),
                };
                let event = crate::events::WEBHOOK_DELIVERY_FAILED
                    .event(
                        format!(
                            "organizations/{}/webhookEndpoints/{}/deliveries/{}",
                            delivery.organization_id, endpoint.id, delivery.id
                        ),
                        &payload,
                    )
                    .tenant(delivery.organization_id)
                    .service_actor("notifications")
                    .build();
                AfterAttempt::Failed(Some(Box::new(event)))
            }
        }
    };
    Attempt {
        at: now,
        response_status_code: i64::from(outcome.status),
        latency_ms,
        error: outcome.error.clone(),
        next,
        endpoint_state,
        counts_for_endpoint: true,
    }
}
