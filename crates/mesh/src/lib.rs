//! taskmesh's shared runtime. It knows no service by name: every service crate, the edge
//! and the binary build on it.
//!
//! - [`config`]: typed configuration, parsed once (file, `TASKMESH_*` environment, flags).
//! - [`telemetry`]: logs, a span per RPC, Prometheus metrics, request ids.
//! - [`server`]: mounting services with health and reflection; serving with limits and
//!   graceful shutdown.
//! - [`error`]: the single domain-error → `tonic::Status` mapping with `ErrorInfo`.
//! - [`filter`]: the shared list `filter` grammar (AIP-160 subset), parsed and validated.
//! - [`auth`]: access-token verification and the per-request [`auth::Principal`].
//! - [`db`]: SQLite/PostgreSQL pools, per-service migrations, tenant transactions.
//! - [`peers`]: typed-client channels to other services, in-process or remote.
//! - [`request`]: update masks, etags and request ids, one rule each for every service.
//! - [`paging`]: keyset pages and tamper-evident page tokens for every List.
//! - [`ids`]: newtype ids that are sqlx types on both backends.
//! - `testing` (feature `testsuite`): PostgreSQL/NATS helpers for tests, never in the binary;
//!   `testing_http`: a loopback HTTP receiver (webhook tests).
//!
//! Invariant: nothing here imports a service crate; services depend on each other only
//! through the generated clients of the `taskmesh` contract crate.

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod deadline;
pub mod error;
pub mod filter;
pub mod ids;
pub mod json;
pub mod paging;
pub mod peers;
pub mod request;
pub mod secrets;
pub mod server;
pub mod telemetry;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing_http;
pub mod time;
pub mod validate;

pub use config::Config;
pub use error::{ErrorCode, ServiceError};
