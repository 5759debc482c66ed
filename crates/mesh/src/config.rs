//! Typed configuration, parsed once at startup.
//!
//! Sources, later ones winning: built-in defaults, an optional TOML file (`--config`),
//! environment variables `TASKMESH_<SECTION>__<KEY>` (e.g. `TASKMESH_DATABASE__URL`,
//! `TASKMESH_LISTEN`), then command-line flags applied by the binary.
//! Invariant: nothing outside this module (and the binary's flag parsing) reads the
//! environment; secrets are wrapped in [`Secret`] and never appear in `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A configuration value that must not be printed: its `Debug` and `Display` are redacted.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (a connection, a signature).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Everything a taskmesh process needs to know, for every topology.
///
/// Unknown top-level keys are not refused here: a service declares its own section (e.g.
/// `[identity]`) and reads it with [`Config::section`]. The binary calls
/// [`Config::ensure_sections`] with the names of the services it was built with, so a typo
/// in a top-level key is still an error at startup.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address of the public listener (edge, or a single service in mesh mode).
    pub listen: SocketAddr,
    /// Base URL people and browsers reach the edge at, for the URLs services hand out
    /// (document downloads, share links), e.g. `https://tasks.example.com`. Empty:
    /// `http://<listen>`.
    pub public_url: String,
    /// Directory for embedded SQLite files and local blobs.
    pub data_dir: PathBuf,
    /// Logging format and filter.
    pub log: LogConfig,
    /// Storage: embedded SQLite by default, PostgreSQL when a URL is given.
    pub database: DatabaseConfig,
    /// Event bus: in-process by default, NATS JetStream when a URL is given.
    pub events: EventsConfig,
    /// Access-token verification.
    pub auth: AuthConfig,
    /// Limits shared by every gRPC server.
    pub server: ServerConfig,
    /// The public door: browsers, CORS, rate limits.
    pub edge: EdgeConfig,
    /// Remote address per service name (`projects = "http://projects:50051"`). A service not
    /// listed here is reached in-process.
    pub peers: BTreeMap<String, String>,
    /// Each service's own section, by service name, parsed by the service itself.
    #[serde(flatten)]
    pub sections: Sections,
}

/// The raw sections services declare (`[identity]`, `[tenancy]`, ...). Their `Debug` shows
/// only the names: a section may hold secrets, and only its typed form knows which.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sections(BTreeMap<String, figment::value::Value>);

impl fmt::Debug for Sections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Config {
    /// [`Config::public_url`] without a trailing `/`, or `http://<listen>` when unset.
    pub fn public_base_url(&self) -> String {
        match self.public_url.trim().trim_end_matches('/') {
            "" => format!("http://{}", self.listen),
            url => url.to_string(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            public_url: String::new(),
            data_dir: PathBuf::from("./data"),
            log: LogConfig::default(),
            database: DatabaseConfig::default(),
            events: EventsConfig::default(),
            auth: AuthConfig::default(),
            server: ServerConfig::default(),
            edge: EdgeConfig::default(),
            peers: BTreeMap::new(),
            sections: Sections::default(),
        }
    }
}

/// Human-readable or JSON log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Compact lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Output format.
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info,sqlx=warn`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            filter: "info,sqlx=warn,h2=warn,async_nats=warn".into(),
        }
    }
}

/// Storage settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// PostgreSQL URL used by services at runtime (a role without ownership or BYPASSRLS).
    /// Absent: embedded SQLite, one file per service under `data_dir`.
    pub url: Option<Secret>,
    /// PostgreSQL URL of the schema owner, used by `taskmesh migrate`. Defaults to `url`.
    pub migration_url: Option<Secret>,
    /// PostgreSQL role the services run as; `migrate` grants it data privileges on each
    /// service schema. It must not own the tables, be superuser or have BYPASSRLS.
    pub runtime_role: Option<String>,
    /// Apply pending migrations when `serve` starts (convenient for embedded mode; turn off
    /// where migrations run as a separate owner step).
    pub auto_migrate: bool,
    /// Pool size per service.
    pub max_connections: u32,
    /// How long a call waits for a pooled connection before failing UNAVAILABLE.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            migration_url: None,
            runtime_role: None,
            auto_migrate: true,
            max_connections: 10,
            acquire_timeout_ms: 3_000,
        }
    }
}

impl DatabaseConfig {
    /// The pool's acquire timeout.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

/// Event bus settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// NATS server URL; absent means the in-process bus.
    pub nats_url: Option<String>,
    /// The namespace of taskmesh's subjects and streams on the NATS server, so several
    /// installations (or test runs) can share one server.
    pub namespace: String,
    /// Deliveries of one message to one consumer before it is dead-lettered.
    pub max_deliver: u32,
    /// How long the broker waits for an ack before redelivering.
    pub ack_wait_ms: u64,
    /// How often the outbox relay polls when nothing woke it.
    pub relay_poll_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            namespace: "taskmesh".into(),
            max_deliver: 5,
            ack_wait_ms: 30_000,
            relay_poll_ms: 1_000,
        }
    }
}

/// Access-token verification settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// Clock skew tolerated on `exp`/`nbf`, in seconds.
    pub leeway_secs: u64,
    /// Minimum time between two JWKS fetches triggered by unknown `kid`s.
    pub jwks_min_refresh_ms: u64,
    /// How long a personal-access-token introspection result is cached.
    pub introspection_cache_ms: u64,
    /// The key (base64, 32 bytes or more) signing service credentials (a service calling
    /// another for no user); every process of a deployment needs the same. Unset: generated
    /// once into `<data_dir>/service-credential.key` (fine for one machine).
    pub service_key: Option<Secret>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "taskmesh".into(),
            audience: "taskmesh".into(),
            leeway_secs: 30,
            jwks_min_refresh_ms: 5_000,
            introspection_cache_ms: 5_000,
            service_key: None,
        }
    }
}

/// Limits every gRPC server applies.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest encoded message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// Longest any call may run: the caller's `grpc-timeout`, capped at this (also the
    /// deadline of calls that arrive without one). Streams included.
    pub default_deadline_ms: u64,
    /// Longest an upload (a client-streaming call) may run, the caller's `grpc-timeout`
    /// capped at this: its duration is the client's bytes, not the server's work.
    pub upload_deadline_ms: u64,
    /// In-flight requests per connection before new ones are shed with RESOURCE_EXHAUSTED.
    pub concurrency_limit: usize,
    /// How long graceful shutdown waits for in-flight calls.
    pub shutdown_grace_ms: u64,
    /// Networks of proxies that speak for their clients (CIDRs, e.g. `10.0.0.0/8`): a load
    /// balancer in front of the edge (its `Forwarded` / `X-Forwarded-For` are read), the
    /// edge in front of a service (its `x-taskmesh-client-ip` is kept). Any other peer is
    /// the client itself, whatever headers it sends. Empty: nobody is trusted.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            default_deadline_ms: 30_000,
            upload_deadline_ms: 600_000,
            concurrency_limit: 256,
            shutdown_grace_ms: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// The default deadline.
    pub fn default_deadline(&self) -> Duration {
        Duration::from_millis(self.default_deadline_ms)
    }

    /// The graceful-shutdown budget.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// Edge settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Origins allowed to call through grpc-web (`*` allows any, for development only).
    pub cors_allowed_origins: Vec<String>,
    /// Largest HTTP request body, in bytes.
    pub max_request_bytes: usize,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// Serve the web console at `/` (assets embedded in the binary).
    pub console: bool,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            cors_allowed_origins: vec![
                "http://localhost:5173".into(),
                "http://127.0.0.1:5173".into(),
            ],
            max_request_bytes: 8 * 1024 * 1024,
            rate_limit: RateLimitConfig::default(),
            console: true,
        }
    }
}

/// Token-bucket limits; 0 disables a limit.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per authenticated principal.
    pub per_principal_per_second: u32,
    /// Burst per principal.
    pub per_principal_burst: u32,
    /// Sustained requests per second per source IP (all callers).
    pub per_ip_per_second: u32,
    /// Burst per source IP.
    pub per_ip_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_principal_per_second: 200,
            per_principal_burst: 400,
            per_ip_per_second: 500,
            per_ip_burst: 1_000,
        }
    }
}

impl Config {
    /// The section of service `name`, typed by the service: defaults for keys it does not
    /// set; unknown keys are an error when `T` denies them (every service's section does).
    pub fn section<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: serde::de::DeserializeOwned + Default,
    {
        match self.sections.0.get(name) {
            None => Ok(T::default()),
            Some(value) => {
                T::deserialize(value).map_err(|error| ConfigError(format!("[{name}]: {error}")))
            }
        }
    }

    /// Replaces the section of service `name` (tests and the binary's flags).
    pub fn set_section<T: Serialize>(
        &mut self,
        name: &str,
        section: &T,
    ) -> Result<(), ConfigError> {
        let value = figment::value::Value::serialize(section)
            .map_err(|error| ConfigError(format!("[{name}]: {error}")))?;
        self.sections.0.insert(name.to_string(), value);
        Ok(())
    }

    /// Changes some settings of service `name`'s section, keeping the others.
    pub fn update_section<T>(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut T),
    ) -> Result<(), ConfigError>
    where
        T: serde::de::DeserializeOwned + Default + Serialize,
    {
        let mut section: T = self.section(name)?;
        change(&mut section);
        self.set_section(name, &section)
    }

    /// Refuses top-level keys that are neither settings of this struct nor the section of a
    /// service in `known`.
    pub fn ensure_sections(&self, known: &[&str]) -> Result<(), ConfigError> {
        match self
            .sections
            .0
            .keys()
            .find(|name| !known.contains(&name.as_str()))
        {
            None => Ok(()),
            Some(unknown) => Err(ConfigError(format!(
                "unknown key {unknown:?}; service sections are: {}",
                known.join(", ")
            ))),
        }
    }
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults, then `file` (if any), then `TASKMESH_*` variables from `env`.
    ///
    /// `env` is passed in (rather than read here) so that tests are hermetic and the
    /// binary's `main` stays the only place that touches the process environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with("TASKMESH_") && !key.starts_with("TASKMESH_TEST_"))
            .collect();
        figment = figment.merge(Serialized::globals(env_to_value(&vars)));
        figment
            .extract()
            .map_err(|error| ConfigError(error.to_string()))
    }
}

/// Turns `TASKMESH_A__B=value` pairs into a nested dictionary (as figment's `Env` provider
/// would), from an explicit list instead of the live process environment.
fn env_to_value(vars: &[(String, String)]) -> figment::value::Dict {
    let mut root = figment::value::Dict::new();
    for (key, value) in vars {
        let path: Vec<String> = key["TASKMESH_".len()..]
            .split("__")
            .map(|part| part.to_ascii_lowercase())
            .collect();
        let parsed: figment::value::Value = value
            .parse()
            .unwrap_or_else(|never: std::convert::Infallible| match never {});
        insert_path(&mut root, &path, parsed);
    }
    root
}

fn insert_path(dict: &mut figment::value::Dict, path: &[String], value: figment::value::Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [head, rest @ ..] => {
            let entry = dict
                .entry(head.clone())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Example {
        ttl_secs: u64,
        name: String,
    }

    #[test]
    fn service_sections_are_typed_by_their_service() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("taskmesh.toml");
        std::fs::write(&file, "[example]\nttl_secs = 5\n").unwrap();
        let env = vec![("TASKMESH_EXAMPLE__NAME".to_string(), "x".to_string())];
        let config = Config::load(Some(&file), env).unwrap();
        config.ensure_sections(&["example"]).unwrap();
        let example: Example = config.section("example").unwrap();
        assert_eq!(
            example,
            Example {
                ttl_secs: 5,
                name: "x".into()
            }
        );
        assert_eq!(
            config.section::<Example>("absent").unwrap(),
            Example::default()
        );

        std::fs::write(&file, "[example]\nttl = 5\n").unwrap();
        let typo = Config::load(Some(&file), Vec::new()).unwrap();
        assert!(typo.section::<Example>("example").is_err());

        let mut config = Config::default();
        config
            .set_section(
                "example",
                &Example {
                    ttl_secs: 9,
                    name: "y".into(),
                },
            )
            .unwrap();
        assert_eq!(config.section::<Example>("example").unwrap().ttl_secs, 9);
    }

    #[test]
    fn defaults_are_embedded_and_local() {
        let config = Config::load(None, Vec::new()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:50051");
        assert!(config.database.url.is_none());
        assert!(config.events.nats_url.is_none());
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("taskmesh.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:6000\"\n[server]\nconcurrency_limit = 7\n",
        )
        .unwrap();
        let env = vec![
            ("TASKMESH_LISTEN".to_string(), "127.0.0.1:7000".to_string()),
            (
                "TASKMESH_DATABASE__URL".to_string(),
                "postgres://u:hunter2@db/x".to_string(),
            ),
            (
                "TASKMESH_TEST_DATABASE_URL".to_string(),
                "ignored".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let config = Config::load(Some(&file), env).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.server.concurrency_limit, 7);
        assert_eq!(
            config.database.url.as_ref().unwrap().expose(),
            "postgres://u:hunter2@db/x"
        );
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("hunter2"),
            "secret leaked into Debug: {printed}"
        );
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:6000\"\n").unwrap();
        let loaded = Config::load(Some(&file), Vec::new()).unwrap();
        assert!(loaded.ensure_sections(&["identity"]).is_err());
        std::fs::write(&file, "[server]\nconcurency_limit = 7\n").unwrap();
        assert!(Config::load(Some(&file), Vec::new()).is_err());
        assert!(Config::load(Some(&dir.path().join("missing.toml")), Vec::new()).is_err());
    }
}
