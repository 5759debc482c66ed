//! Service-to-service channels.
//!
//! A service calls a peer through the peer's generated client over a [`PeerChannel`], which
//! is either an in-process HTTP/2 connection over a duplex pipe (all-in-one: the same
//! encoding, middleware and auth as the network path, no sockets) or a remote address
//! (mesh: behind a circuit breaker, so a dead peer fails fast with UNAVAILABLE). A service
//! never knows which. [`CallContext`] carries the caller's deadline, credentials and request
//! id into outbound calls; [`retry_idempotent`] retries UNAVAILABLE with backoff and is only
//! for calls that are safe to repeat.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::transport::Endpoint;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_resilience::circuitbreaker::CircuitBreakerLayer;

use crate::error::ErrorCode;

/// Errors of a peer channel (transport failures, open circuit).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The channel type every generated client is instantiated with: `XClient<PeerChannel>`.
/// Its error is a concrete `Status` (UNAVAILABLE for transport failures and an open
/// circuit), which tonic passes through as the call's status.
pub type PeerChannel =
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, tonic::Status>;

/// In-process connections: the client side dials by sending one half of a duplex pipe to
/// the serving side, which serves it like an accepted TCP connection.
#[derive(Clone)]
pub struct InProcess {
    sender: mpsc::Sender<DuplexStream>,
}

/// The serving side of [`InProcess`]: a stream of connections for
/// [`crate::server::serve_incoming`].
pub type InProcessIncoming = futures::stream::Map<
    ReceiverStream<DuplexStream>,
    fn(DuplexStream) -> Result<DuplexStream, std::io::Error>,
>;

impl InProcess {
    /// A connector and the connections it produces.
    pub fn new() -> (Self, InProcessIncoming) {
        let (sender, receiver) = mpsc::channel(64);
        let incoming = futures::StreamExt::map(
            ReceiverStream::new(receiver),
            Ok as fn(DuplexStream) -> Result<DuplexStream, std::io::Error>,
        );
        (Self { sender }, incoming)
    }

    /// A lazily connecting channel to the in-process server.
    pub fn channel(&self) -> PeerChannel {
        let sender = self.sender.clone();
        let connector = tower::service_fn(move |_uri: http::Uri| {
            let sender = sender.clone();
            async move {
                let (client, server) = tokio::io::duplex(256 * 1024);
                sender.send(server).await.map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "in-process server stopped",
                    )
                })?;
                Ok::<_, std::io::Error>(TokioIo::new(client))
            }
        });
        let channel = Endpoint::from_static("http://in-process.taskmesh")
            .connect_with_connector_lazy(connector);
        BoxCloneSyncService::new(
            channel.map_err(|error| crate::error::peer_unreachable("in-process", &error)),
        )
    }
}

/// Chooses a channel per peer service from configuration.
#[derive(Clone)]
pub struct Peers {
    in_process: Option<InProcess>,
    remote: BTreeMap<String, String>,
}

/// A peer that cannot be reached as configured.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The configured address does not parse.
    #[error("invalid address {address:?} for peer {service}")]
    InvalidAddress {
        /// The peer.
        service: String,
        /// The address.
        address: String,
    },
    /// Neither remote nor in-process.
    #[error("peer {0} is not configured and no in-process server runs")]
    NotConfigured(String),
}

impl Peers {
    /// Remote addresses by service name, plus the in-process server (all-in-one) if any.
    pub fn new(remote: BTreeMap<String, String>, in_process: Option<InProcess>) -> Self {
        Self { in_process, remote }
    }

    /// True when `service` is reached over the network.
    pub fn is_remote(&self, service: &str) -> bool {
        self.remote.contains_key(service)
    }

    /// The channel to `service`.
    pub fn channel(&self, service: &str) -> Result<PeerChannel, PeerError> {
        if let Some(address) = self.remote.get(service) {
            return remote_channel(service, address);
        }
        self.in_process
            .as_ref()
            .map(InProcess::channel)
            .ok_or_else(|| PeerError::NotConfigured(service.to_string()))
    }
}

/// A lazily connecting channel to `address` behind a circuit breaker: after 5 consecutive
/// transport failures calls fail immediately for 10 seconds, then a few probes decide.
pub fn remote_channel(service: &str, address: &str) -> Result<PeerChannel, PeerError> {
    let invalid = || PeerError::InvalidAddress {
        service: service.into(),
        address: address.into(),
    };
    let endpoint = Endpoint::from_shared(address.to_string())
        .map_err(|_| invalid())?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    let channel = endpoint.connect_lazy();
    let breaker = CircuitBreakerLayer::builder()
        .name(format!("peer-{service}"))
        .failure_rate_threshold(0.5)
        .minimum_number_of_calls(5)
        .consecutive_failures(5)
        .wait_duration_in_open(Duration::from_secs(10))
        .permitted_calls_in_half_open(2)
        .build()
        .map_err(|_| invalid())?;
    let guarded = breaker.layer_fn(channel);
    let service = service.to_string();
    Ok(BoxCloneSyncService::new(guarded.map_err(move |error| {
        crate::error::peer_unreachable(&service, &error)
    })))
}

/// What an inbound call hands to the outbound calls it makes.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    deadline: Option<Instant>,
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    request_id: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl CallContext {
    /// Captures the deadline (`grpc-timeout`), credentials and request id of `request`.
    pub fn from_request<T>(request: &tonic::Request<T>) -> Self {
        let metadata = request.metadata();
        let deadline = metadata
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map(|timeout| Instant::now() + timeout);
        Self {
            deadline,
            authorization: metadata.get("authorization").cloned(),
            request_id: metadata.get(crate::telemetry::REQUEST_ID_HEADER).cloned(),
        }
    }

    /// A context with an explicit deadline (background work).
    pub fn with_deadline(deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..Self::default()
        }
    }

    /// The same deadline and request id, with `token` as the credential instead of the
    /// caller's: a service calling as a user it minted a token for.
    pub fn with_bearer(&self, token: &str) -> Self {
        let authorization = format!("Bearer {token}").parse().ok();
        Self {
            authorization,
            ..self.clone()
        }
    }

    /// The same context with a deadline no later than `limit` from now: a peer call that must
    /// not take the caller's whole budget.
    pub fn capped(&self, limit: Duration) -> Self {
        let cap = Instant::now() + limit;
        Self {
            deadline: Some(self.deadline.map_or(cap, |deadline| deadline.min(cap))),
            ..self.clone()
        }
    }

    /// Time left, if the caller set a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Wraps `message` for an outbound call: the remaining deadline as `grpc-timeout`, the
    /// caller's credentials and request id.
    pub fn outbound<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(remaining) = self.remaining() {
            request.set_timeout(remaining);
        }
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        if let Some(request_id) = &self.request_id {
            request
                .metadata_mut()
                .insert(crate::telemetry::REQUEST_ID_HEADER, request_id.clone());
        }
        request
    }
}

/// A lookup's answer with refusals read as absence: `Ok(None)` when the peer refused the
/// call with NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT (what the caller cannot see, or
/// an id that cannot exist, is simply not there); other failures stay failures.
pub fn absent_if_refused<T>(result: Result<T, PeerFailure>) -> Result<Option<T>, PeerFailure> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(failure)
            if matches!(
                failure.refused_with(),
                Some(
                    ErrorCode::NotFound | ErrorCode::PermissionDenied | ErrorCode::InvalidArgument
                )
            ) =>
        {
            Ok(None)
        }
        Err(failure) => Err(failure),
    }
}

/// Parses a `grpc-timeout` value (`<digits><unit>`, unit one of H M S m u n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3_600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// Whether an outbound call may be repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and other calls with no effect when repeated: retried on UNAVAILABLE.
    Idempotent,
    /// Calls that must not run twice: tried once.
    Once,
}

/// A peer call that failed, classified the same way for every service.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerFailure {
    /// The peer answered and refused (NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT, ...):
    /// retrying will not help. Services map the reason into their own words.
    #[error("{service} refused: {code:?} {reason}: {message}")]
    Refused {
        /// The peer.
        service: &'static str,
        /// Its status code.
        code: ErrorCode,
        /// Its `ErrorInfo` reason, or empty.
        reason: String,
        /// Its message.
        message: String,
    },
    /// The peer could not answer (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
    /// INTERNAL, UNIMPLEMENTED from a peer that does not serve the method yet, ...): the
    /// caller answers UNAVAILABLE.
    #[error("{service} unavailable: {message}")]
    Unavailable {
        /// The peer.
        service: &'static str,
        /// What happened.
        message: String,
    },
}

impl PeerFailure {
    /// Classifies a status from peer `service`.
    pub fn from_status(service: &'static str, status: &tonic::Status) -> Self {
        use tonic::Code;
        let refused = match status.code() {
            Code::NotFound => ErrorCode::NotFound,
            Code::PermissionDenied => ErrorCode::PermissionDenied,
            Code::InvalidArgument | Code::OutOfRange => ErrorCode::InvalidArgument,
            Code::Unauthenticated => ErrorCode::Unauthenticated,
            Code::FailedPrecondition => ErrorCode::FailedPrecondition,
            Code::AlreadyExists => ErrorCode::AlreadyExists,
            Code::Aborted => ErrorCode::Aborted,
            _ => {
                return Self::Unavailable {
                    service,
                    message: status.message().to_string(),
                };
            }
        };
        Self::Refused {
            service,
            code: refused,
            reason: crate::error::reason_of(status).unwrap_or_default(),
            message: status.message().to_string(),
        }
    }

    /// The failure as the calling service answers it when it has no more specific word:
    /// UNAVAILABLE when the peer could not answer; INTERNAL when it refused (a request this
    /// service made should not be refused, so that is a bug here).
    pub fn into_service_error(self, domain: &str) -> crate::ServiceError {
        match &self {
            Self::Unavailable { .. } => crate::ServiceError::dependency_unavailable(domain, &self),
            Self::Refused { .. } => crate::ServiceError::internal(domain, &self),
        }
    }

    /// The refusal's code, if the peer refused.
    pub fn refused_with(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::Unavailable { .. } => None,
        }
    }
}

/// The one way to call a peer: `call` receives `message` wrapped by `context` (the caller's
/// remaining deadline, credentials and request id, see [`CallContext::outbound`]); an
/// idempotent call is retried on UNAVAILABLE (see [`retry_idempotent`]); failures are
/// classified by [`PeerFailure::from_status`].
pub async fn call_peer<M, T, F, Fut>(
    service: &'static str,
    context: &CallContext,
    idempotency: Idempotency,
    message: M,
    mut call: F,
) -> Result<T, PeerFailure>
where
    M: Clone,
    F: FnMut(tonic::Request<M>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let result = match idempotency {
        Idempotency::Idempotent => {
            retry_idempotent(|| call(context.outbound(message.clone()))).await
        }
        Idempotency::Once => call(context.outbound(message)).await,
    };
    result
        .map(tonic::Response::into_inner)
        .map_err(|status| PeerFailure::from_status(service, &status))
}

/// Runs an idempotent call, retrying UNAVAILABLE up to 3 times with jittered exponential
/// backoff (50 ms, doubling). Never use it for calls that must not be repeated.
pub async fn retry_idempotent<T, F, Fut>(call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    call.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(3)
            .with_jitter(),
    )
    .when(|status: &tonic::Status| status.code() == tonic::Code::Unavailable)
    .await
}

#[cfg(test)]
#[path = "peers_tests.rs"]
mod tests;
