//! relhost-sim: the reference HTTP target that relhost drills.
//!
//! A hyper server (HTTP/1.1 and HTTP/2 on one port, over TLS when given a
//! certificate) that behaves like the
//! seed's backend: Better Auth-style sign-up/sign-in and threads, an SSE
//! chat endpoint backed by simulated primary/secondary providers with
//! failover, Gmail Pub/Sub push and WhatsApp webhooks, the seed's runtime
//! knobs (rate limits, circuits, bulkheads, admission, feature flags), seeded
//! fault injection, and a reliability snapshot.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = relhost_sim::start("127.0.0.1:0".parse().expect("addr"), Default::default()).await?;
//! println!("{}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod auth_store;
mod body;
mod bulkhead_alerts;
mod config;
mod conn;
mod faults;
mod linking;
mod provider;
mod resilience;
mod rng;
mod routes;
mod sentry;
mod server;
mod state;
mod stats;
mod tls;
mod tool_alerts;
mod tool_cache;
mod tool_queue;
mod tool_runner;

pub use auth_store::Credentials;
pub use config::{
    AdmissionConfig, BulkheadConfig, ChatModels, ChatSimConfig, CircuitConfig, ConfigError,
    FeatureFlags, KNOB_ENV_NAMES, ModelClass, OpsConfig, ProviderConfig, RateLimitRule, RateLimits,
    RedisAdmissionConfig, RegionConfig, SimArgs, SimConfig, ToolAlertConfig, ToolCacheConfig,
    ToolQueueConfig,
};
pub use faults::{
    Fault, FaultEndpoint, FaultKind, FaultSpecError, OutageMode, OutageProvider, VALID_ENDPOINTS,
    VALID_FAULTS,
};
pub use rng::splitmix64;
pub use server::{SimHandle, start, start_at, start_tls};
pub use stats::MAX_WINDOW_MINUTES;
pub use tls::{ServerTls, TlsError};
