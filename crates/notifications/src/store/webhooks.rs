//! The webhook store: endpoints, deliveries with their attempts, and the schedule the
//! delivery workers claim from. Endpoint, delivery and attempt rows are tenant data (every
//! query names the organization; row-level security on PostgreSQL); the schedule holds only
//! ids and times, so workers can find due work across organizations.

use events::EventMessage;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Direction, KeyKind, Keyset, Page, PageRequest};

use super::StoreResult;
use crate::domain::webhook_filters::{DeliveryQuery, EndpointQuery};
use crate::domain::webhooks::EndpointState;

/// Endpoints are listed oldest first.
pub const ENDPOINT_ORDER: Keyset = Keyset::new(
    &[("created_at", KeyKind::Int), ("id", KeyKind::Text)],
    Direction::Ascending,
);

/// Deliveries are listed newest first.
pub const DELIVERY_ORDER: Keyset = Keyset::new(
    &[("created_at", KeyKind::Int), ("id", KeyKind::Text)],
    Direction::Descending,
);

/// One endpoint.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EndpointRecord {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Only this project's events, when set.
    pub project_id: Option<String>,
    /// Target URL.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Subscribed types, one per line.
    pub event_types: String,
    /// `EndpointState::as_str`.
    pub state: String,
    /// The signing secret, sealed.
    pub secret_sealed: String,
    /// The rotated-out secret, sealed, while it still signs.
    pub previous_secret_sealed: Option<String>,
    /// When the rotated-out secret stops signing.
    pub previous_secret_expires_at: Option<i64>,
    /// Creator.
    pub created_by_user_id: UserId,
    /// Start of the current run of failures.
    pub failing_since: Option<i64>,
    /// The create's idempotency key.
    pub create_request_id: Option<String>,
    /// Version, for etags.
    pub version: i64,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

impl EndpointRecord {
    /// The subscribed types.
    pub fn types(&self) -> Vec<String> {
        self.event_types.lines().map(str::to_string).collect()
    }

    /// The state (an unknown stored value reads as disabled).
    pub fn state(&self) -> EndpointState {
        EndpointState::parse(&self.state).unwrap_or(EndpointState::Disabled)
    }
}

/// One delivery of one event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRecord {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Endpoint.
    pub endpoint_id: String,
    /// The event (`webhook-id`).
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// What every attempt sends.
    pub body: String,
    /// `DeliveryState::as_str`.
    pub status: String,
    /// Attempts made.
    pub attempt_count: i64,
    /// Last response's status (0: none).
    pub response_status_code: i64,
    /// Last attempt's duration.
    pub latency_ms: i64,
    /// Next attempt, while pending or retrying.
    pub next_attempt_at: Option<i64>,
    /// Last attempt.
    pub last_attempt_at: Option<i64>,
    /// Last failure.
    pub error: String,
    /// A redelivery's idempotency key.
    pub request_id: Option<String>,
    /// Who asked for a redelivery or test.
    pub created_by_user_id: Option<String>,
    /// Queued.
    pub created_at: i64,
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRecord {
    /// Delivery.
    pub delivery_id: String,
    /// 1, 2, ...
    pub number: i64,
    /// When.
    pub attempted_at: i64,
    /// Response status (0: none).
    pub response_status_code: i64,
    /// Duration.
    pub latency_ms: i64,
    /// Failure, empty on success.
    pub error: String,
}

/// A delivery due for an attempt.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DueDelivery {
    /// Delivery.
    pub delivery_id: String,
    /// Its organization.
    pub organization_id: OrganizationId,
}

/// What the delivery system decided after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    /// A 2xx: final.
    Succeeded,
    /// Try again at this time.
    RetryAt(i64),
    /// Given up (the event reports it).
    Failed(Option<Box<EventMessage>>),
}

/// The outcome of one attempt, to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// When it was made.
    pub at: i64,
    /// Response status (0: none).
    pub response_status_code: i64,
    /// Duration.
    pub latency_ms: i64,
    /// Failure, empty on success.
    pub error: String,
    /// What happens next.
    pub next: AfterAttempt,
    /// The endpoint's new state, when this attempt switches it off (410, or three days of
    /// failures), with the notifications that tell owners and admins.
    pub endpoint_state: Option<EndpointState>,
    /// Whether the attempt counts toward the endpoint's run of failures (a test send does
    /// not).
    pub counts_for_endpoint: bool,
}

/// Changes to an endpoint (each `Some` replaces the field).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointChange {
    /// New URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New types, one per line.
    pub event_types: Option<String>,
    /// New project scope (`Some(None)`: every project).
    pub project_id: Option<Option<String>>,
    /// New state (enabling also forgets the run of failures).
    pub state: Option<EndpointState>,
    /// A rotation: the new sealed secret, and until when the current one keeps signing
    /// (`None`: it stops at once).
    pub rotation: Option<(String, Option<i64>)>,
}

/// Webhooks as the API, the event handler and the delivery workers use them.
#[async_trait::async_trait]
pub trait WebhooksStore: Send + Sync {
    /// Adds an endpoint unless the organization already has `max`.
    async fn create_endpoint(&self, record: &EndpointRecord, max: i64) -> StoreResult<()>;

    /// The endpoint `user` created with idempotency key `request_id`.
    async fn endpoint_by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<EndpointRecord>>;

    /// One endpoint.
    async fn endpoint(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<EndpointRecord>>;

    /// A page of endpoints, oldest first.
    async fn list_endpoints(
        &self,
        organization_id: OrganizationId,
        query: &EndpointQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<EndpointRecord>>;

    /// Applies `change` if the version is still `expected` (any when `None`); returns the
    /// endpoint after it. EndpointNotFound / EtagMismatch otherwise.
    async fn update_endpoint(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        change: &EndpointChange,
        now: i64,
    ) -> StoreResult<EndpointRecord>;

    /// Deletes an endpoint with its deliveries.
    async fn delete_endpoint(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
    ) -> StoreResult<()>;

    /// Queues a delivery (due at `delivery.next_attempt_at`, or final when it has none).
    async fn queue_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()>;

    /// One delivery.
    async fn delivery(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<DeliveryRecord>>;

    /// The redelivery `user` asked for with idempotency key `request_id`.
    async fn delivery_by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<DeliveryRecord>>;

    /// A page of an endpoint's deliveries, newest first.
    async fn list_deliveries(
        &self,
        organization_id: OrganizationId,
        endpoint_id: &str,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<DeliveryRecord>>;

    /// The attempts of these deliveries, in order.
    async fn attempts(
        &self,
        organization_id: OrganizationId,
        delivery_ids: &[String],
    ) -> StoreResult<Vec<AttemptRecord>>;

    /// Deliveries due at `now` that no worker holds, oldest due first.
    async fn due_deliveries(&self, now: i64, limit: i64) -> StoreResult<Vec<DueDelivery>>;

    /// Takes a due delivery until `until`; false when another worker holds it or it is no
    /// longer due.
    async fn claim_delivery(&self, delivery_id: &str, now: i64, until: i64) -> StoreResult<bool>;

    /// Records an attempt: the attempt row, the delivery's status, its next time (releasing
    /// the claim), the endpoint's run of failures and state, and any event and
    /// notifications it causes, in one transaction.
    async fn record_attempt(&self, delivery: &DeliveryRecord, attempt: &Attempt)
    -> StoreResult<()>;

    /// Deletes deliveries created before `before` (at most `limit`); returns how many.
    async fn purge_deliveries(&self, before: i64, limit: i64) -> StoreResult<u64>;
}
