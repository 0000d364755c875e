//! Configuration: the seed's runtime knobs, read from flags or environment.
//!
//! Two layers, as in ripgrep's low/high args: [`SimArgs`] holds what clap
//! read (strings, with the seed's environment variables as fallbacks), and
//! [`SimConfig`] holds validated, typed values. Nothing downstream parses a
//! knob. [`SimConfig::from_env`] builds the same thing from the environment
//! alone, for in-process use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::faults::{Fault, FaultSpecError};
use crate::tls::{ServerTls, TlsError};

/// A bad knob, flag or fault spec; the message names the variable or flag and
/// the expected form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A knob's value does not parse.
    #[error("{env} (flag --{flag}): expected {expected}, got {value:?}")]
    InvalidKnob {
        /// Environment variable name of the knob.
        env: &'static str,
        /// Flag name (without `--`).
        flag: String,
        /// The expected form.
        expected: &'static str,
        /// What was given.
        value: String,
    },
    /// A `--fault` (or `SIM_FAULTS`) spec does not parse.
    #[error("--fault / SIM_FAULTS {spec:?}: {reason}")]
    InvalidFault {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: FaultSpecError,
    },
}

/// A fixed-window rate limit: at most `max` requests per key per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRule {
    /// Requests allowed per window and key; 0 disables the limit.
    pub max: u64,
    /// Window length.
    pub window: Duration,
}

/// The rate-limited surfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `/api/chat`, per user id.
    pub chat_stream: RateLimitRule,
    /// `/api/gmail/push`, per source.
    pub gmail_push: RateLimitRule,
    /// `/api/whatsapp/webhook`, per source.
    pub whatsapp: RateLimitRule,
    /// `/api/gmail/oauth/start` and `/callback`, per user id.
    pub gmail_oauth: RateLimitRule,
    /// `/api/whatsapp/link-code`, per user id.
    pub wa_link_code: RateLimitRule,
}

/// Circuit breaker settings for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit.
    pub threshold: u32,
    /// Time open before a half-open probe is let through.
    pub cooldown: Duration,
}

/// Bulkhead settings for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkheadConfig {
    /// Leases held at once.
    pub max_concurrent: u64,
    /// A lease not released within this time is reclaimed.
    pub lease_ttl: Duration,
}

/// Routing settings for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Time allowed for the first token.
    pub timeout: Duration,
    /// Retries on the same provider before failing over.
    pub retries: u32,
}

/// In-memory admission control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionConfig {
    /// Enforce the per-user in-flight limit (else shadow only).
    pub enforce_user_inflight: bool,
    /// Enforce the global in-flight limit (else shadow only).
    pub enforce_global_inflight: bool,
    /// Enforce the global message rate (else shadow only).
    pub enforce_global_msg_rate: bool,
    /// Chat streams in flight per user.
    pub user_max_inflight: u64,
    /// Chat streams in flight in all.
    pub global_max_inflight: u64,
    /// Chat messages admitted per second in all.
    pub global_max_msg_per_sec: u64,
    /// Base Retry-After of an admission rejection.
    pub retry_after: Duration,
    /// Jitter applied to `retry_after`, in percent (0 to 100).
    pub retry_after_jitter_pct: f64,
    /// Enforce the global tool-call rate (else shadow only).
    pub enforce_global_tool_rate: bool,
    /// Estimated tool calls admitted per second in all.
    pub global_max_tool_per_sec: u64,
    /// Tool calls a message is estimated to make, charged at admission.
    pub est_tool_calls_per_msg: f64,
    /// A ticket held in the Redis store expires after this even when its
    /// message never releases it.
    pub ticket_ttl: Duration,
    /// Share of admitted messages recorded as an `allowed` event, in
    /// percent (rejections are always recorded).
    pub allowed_event_sample_pct: f64,
}

/// Where admission state lives (`ADMISSION_REDIS_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAdmissionConfig {
    /// Keep tickets and rate counters in Redis (else in process memory).
    pub enabled: bool,
    /// Evaluate the Redis store beside the in-memory one without letting it
    /// decide.
    pub shadow: bool,
    /// The Redis URL (`redis://`, `rediss://`, or an `https://` REST URL);
    /// reported without its credentials.
    pub url: Option<String>,
    /// The REST token (secret).
    pub token: Option<String>,
    /// Prefix of every admission key.
    pub key_prefix: String,
}

impl RedisAdmissionConfig {
    /// The URL without user, password, path or query: `scheme://host[:port]`.
    pub fn public_url(&self) -> Option<String> {
        let uri: http::Uri = self.url.as_deref()?.parse().ok()?;
        let host = uri.host()?;
        Some(match uri.port_u16() {
            Some(port) => format!("{}://{host}:{port}", uri.scheme_str()?),
            None => format!("{}://{host}", uri.scheme_str()?),
        })
    }
}

/// Rollout flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureFlags {
    /// When false `/api/chat` answers 503.
    pub chat_gateway_enabled: bool,
    /// When false admission decisions are recorded but never reject.
    pub admission_enforce: bool,
    /// When false a primary failure is an error event, not a failover.
    pub provider_failover_enabled: bool,
    /// With the gateway disabled, serve chat on the legacy path while the
    /// gateway decides in shadow (its admission never rejects).
    pub chat_gateway_shadow: bool,
    /// When the admission store fails: reject (true) or admit (false).
    pub fail_closed_on_redis_error: bool,
    /// Serve `GET /api/chat/health` (false: 404).
    pub chat_gateway_health_enabled: bool,
}

/// Snapshot defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsConfig {
    /// Window of a snapshot without `minutes`.
    pub default_window_minutes: u32,
    /// Rows per section of a snapshot without `limit`.
    pub max_rows_per_section: usize,
}

/// The simulated model provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatSimConfig {
    /// Time to first token.
    pub ttft: Duration,
    /// Tokens per answer.
    pub tokens: u32,
    /// Gap between tokens.
    pub token_gap: Duration,
}

/// The tool cache: one namespace per tool kind and version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToolCacheConfig {
    /// Lifetime of a web-search entry.
    pub web_search_ttl: Duration,
    /// Lifetime of a product-search entry.
    pub product_search_ttl: Duration,
    /// Version of the web-search namespace (`search_web_v<N>`).
    pub web_search_version: u32,
    /// Version of the product-search namespace (`search_products_v<N>`).
    pub products_version: u32,
    /// Share of chat messages that call a search tool, in percent; which
    /// messages do is decided by the seed and the message text.
    pub tool_call_pct: f64,
}

/// The tool job queue (`TOOL_JOB_*`, `BULKHEAD_TOOL_JOB_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolQueueConfig {
    /// Tool jobs one chat message may enqueue.
    pub max_per_run: u32,
    /// A running job whose lease passes this is taken back and retried.
    pub lease: Duration,
    /// How long a chat message waits for its tool jobs.
    pub wait: Duration,
    /// How often the runner claims jobs and waiting messages look.
    pub poll: Duration,
    /// Attempts of a job before it is dead-lettered.
    pub max_attempts: u32,
    /// Backoff after the first failed attempt; doubles after each further one.
    pub retry_base: Duration,
    /// A job queued longer than this is dead-lettered unrun.
    pub ttl: Duration,
    /// Queued jobs looked at per claim.
    pub claim_scan: u32,
    /// Jobs running at once over all kinds (the tool-job bulkhead).
    pub bulkhead_max: u64,
    /// A bulkhead lease older than this is reclaimed.
    pub bulkhead_lease: Duration,
    /// Jobs running at once per kind: web, product, global.
    pub run_max: [u32; 3],
    /// Jobs running at once per QoS class: realtime, interactive, batch.
    pub run_max_qos: [u32; 3],
    /// Jobs queued at once per kind: web, product, global.
    pub queue_max: [u32; 3],
    /// How long a dead-lettered job is kept.
    pub dlq_ttl: Duration,
    /// Enforce the caps (false: count what they would refuse, shadow).
    pub enforce: bool,
    /// Simulated time a tool provider takes to answer.
    pub provider_latency: Duration,
}

/// Tool-queue alerting (`TOOL_QUEUE_ALERT*`, `TOOL_QUEUE_SENTRY_DSN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolAlertConfig {
    /// Evaluate alerts at all.
    pub enabled: bool,
    /// How long a fired alert stays in the snapshot, and the window of
    /// dead-lettered jobs counted against `max_dlq`.
    pub window: Duration,
    /// An alert does not fire again within this.
    pub cooldown: Duration,
    /// Most queued jobs before an alert.
    pub max_queued: u64,
    /// Most jobs dead-lettered within the window before an alert.
    pub max_dlq: u64,
    /// Oldest queued age before an alert.
    pub max_queued_age: Duration,
    /// Oldest running age before an alert.
    pub max_running_age: Duration,
    /// Where alerts are sent as Sentry events (`SENTRY_DSN` when unset).
    pub sentry_dsn: Option<String>,
}

/// A chat model class: `fast` or `agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelClass {
    /// Quick answers; its tool jobs are realtime.
    Fast,
    /// Tool-using answers; its tool jobs are interactive.
    Agent,
}

impl ModelClass {
    /// `fast` or `agent`.
    pub fn name(self) -> &'static str {
        match self {
            ModelClass::Fast => "fast",
            ModelClass::Agent => "agent",
        }
    }

    /// Parses `fast` or `agent`.
    pub fn parse(text: &str) -> Option<ModelClass> {
        match text {
            "fast" => Some(ModelClass::Fast),
            "agent" => Some(ModelClass::Agent),
            _ => None,
        }
    }
}

/// The models each class answers with (`CHAT_MODEL_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatModels {
    /// Fast class: primary and secondary provider's model.
    pub fast: [String; 2],
    /// Agent class: primary and secondary provider's model.
    pub agent: [String; 2],
    /// The class of a message that names none.
    pub default_class: ModelClass,
}

impl ChatModels {
    /// The model of `class` on the primary (0) or secondary (1) provider.
    pub fn model(&self, class: ModelClass, provider: usize) -> &str {
        match class {
            ModelClass::Fast => &self.fast[provider.min(1)],
            ModelClass::Agent => &self.agent[provider.min(1)],
        }
    }
}

/// Where this deployment runs (`RELIABILITY_REGION_*`, `RELIABILITY_TOPOLOGY_MODE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionConfig {
    /// The region's id.
    pub id: String,
    /// `single_region`, `active_standby` or `active_active`.
    pub topology: String,
    /// Single-region launch mode: readiness is reported, not failed over.
    pub readiness_only: bool,
}

/// The validated configuration of a sim.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Bearer token of the ops endpoints; `None` generates one at start.
    pub ops_token: Option<String>,
    /// Admin key of the Convex function API (`Authorization: Convex <key>`);
    /// `None` generates one at start.
    pub deploy_key: Option<String>,
    /// Serve the REST ops routes (`/api/ops/*`); off, only the function API
    /// reads the snapshot.
    pub rest_ops: bool,
    /// Seed of every random decision.
    pub seed: u64,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
    /// `GMAIL_PUBSUB_VERIFY_TOKEN`: `?token=` required on the Gmail push.
    pub gmail_verify_token: Option<String>,
    /// `WHATSAPP_APP_SECRET`: HMAC key of `X-Hub-Signature-256`.
    pub whatsapp_app_secret: Option<String>,
    /// `WHATSAPP_VERIFY_TOKEN`: `hub.verify_token` of the GET challenge.
    pub whatsapp_verify_token: Option<String>,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Circuit of the primary provider.
    pub circuit_primary: CircuitConfig,
    /// Circuit of the secondary provider.
    pub circuit_secondary: CircuitConfig,
    /// Bulkhead of the primary provider.
    pub bulkhead_primary: BulkheadConfig,
    /// Bulkhead of the secondary provider.
    pub bulkhead_secondary: BulkheadConfig,
    /// Routing of the primary provider.
    pub provider_primary: ProviderConfig,
    /// Routing of the secondary provider.
    pub provider_secondary: ProviderConfig,
    /// Admission control.
    pub admission: AdmissionConfig,
    /// Rollout flags.
    pub flags: FeatureFlags,
    /// Snapshot defaults.
    pub ops: OpsConfig,
    /// Simulated provider timing.
    pub chat_sim: ChatSimConfig,
    /// The tool cache.
    pub tool_cache: ToolCacheConfig,
    /// The tool job queue.
    pub tool_queue: ToolQueueConfig,
    /// Circuits of the tool providers: Serper (web), eBay (product),
    /// global search.
    pub tool_circuits: [CircuitConfig; 3],
    /// Bulkheads of the tool providers, in the same order.
    pub tool_bulkheads: [BulkheadConfig; 3],
    /// Tool-queue alerting.
    pub tool_alerts: ToolAlertConfig,
    /// `CIRCUIT_OPENROUTER_*`: the circuit both chat providers default to.
    pub circuit_default: CircuitConfig,
    /// `BULKHEAD_OPENROUTER_*`: the bulkhead both chat providers default to.
    pub bulkhead_default: BulkheadConfig,
    /// `SENTRY_DSN` (secret), the default of the tool-queue alerts' DSN.
    pub sentry_dsn: Option<String>,
    /// Chat model classes and names.
    pub models: ChatModels,
    /// The region.
    pub region: RegionConfig,
    /// Where admission state lives.
    pub admission_redis: RedisAdmissionConfig,
    /// Circuit of the Gmail OAuth token exchange.
    pub circuit_gmail_oauth: CircuitConfig,
    /// Bulkhead of the Gmail OAuth token exchange.
    pub bulkhead_gmail_oauth: BulkheadConfig,
    /// A bulkhead's saturation is reported to Sentry at most once per this.
    pub bulkhead_sentry_cooldown: Duration,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Default for SimConfig {
    fn default() -> Self {
        let circuit = CircuitConfig {
            threshold: 5,
            cooldown: Duration::from_secs(30),
        };
        let bulkhead = BulkheadConfig {
            max_concurrent: 10_000,
            lease_ttl: Duration::from_secs(120),
        };
        Self {
            ops_token: None,
            deploy_key: None,
            rest_ops: true,
            seed: 0,
            faults: Vec::new(),
            gmail_verify_token: None,
            whatsapp_app_secret: None,
            whatsapp_verify_token: None,
            rate_limits: RateLimits {
                chat_stream: RateLimitRule {
                    max: 6_000,
                    window: MINUTE,
                },
                gmail_push: RateLimitRule {
                    max: 6_000_000,
                    window: MINUTE,
                },
                whatsapp: RateLimitRule {
                    max: 6_000_000,
                    window: MINUTE,
                },
                gmail_oauth: RateLimitRule {
                    max: 20,
                    window: MINUTE,
                },
                wa_link_code: RateLimitRule {
                    max: 5,
                    window: MINUTE,
                },
            },
            circuit_primary: circuit,
            circuit_secondary: circuit,
            bulkhead_primary: bulkhead,
            bulkhead_secondary: bulkhead,
            provider_primary: ProviderConfig {
                timeout: Duration::from_secs(10),
                retries: 0,
            },
            provider_secondary: ProviderConfig {
                timeout: Duration::from_secs(15),
                retries: 0,
            },
            admission: AdmissionConfig {
                enforce_user_inflight: true,
                enforce_global_inflight: true,
                enforce_global_msg_rate: true,
                user_max_inflight: 10_000,
                global_max_inflight: 50_000,
                global_max_msg_per_sec: 10_000,
                retry_after: Duration::from_millis(1_000),
                retry_after_jitter_pct: 20.0,
                enforce_global_tool_rate: true,
                global_max_tool_per_sec: 20_000,
                est_tool_calls_per_msg: 1.0,
                ticket_ttl: Duration::from_secs(120),
                allowed_event_sample_pct: 1.0,
            },
            flags: FeatureFlags {
                chat_gateway_enabled: true,
                admission_enforce: true,
                provider_failover_enabled: true,
                chat_gateway_shadow: false,
                fail_closed_on_redis_error: false,
                chat_gateway_health_enabled: true,
            },
            ops: OpsConfig {
                default_window_minutes: 15,
                max_rows_per_section: 100,
            },
            chat_sim: ChatSimConfig {
                ttft: Duration::from_millis(20),
                tokens: 16,
                token_gap: Duration::from_millis(5),
            },
            tool_cache: ToolCacheConfig {
                web_search_ttl: Duration::from_secs(600),
                product_search_ttl: Duration::from_secs(300),
                web_search_version: 1,
                products_version: 1,
                tool_call_pct: 20.0,
            },
            tool_queue: ToolQueueConfig {
                max_per_run: 3,
                lease: Duration::from_secs(30),
                wait: Duration::from_secs(10),
                poll: Duration::from_millis(20),
                max_attempts: 3,
                retry_base: Duration::from_millis(500),
                ttl: Duration::from_secs(60),
                claim_scan: 100,
                bulkhead_max: 256,
                bulkhead_lease: Duration::from_secs(60),
                run_max: [64, 64, 32],
                run_max_qos: [64, 128, 16],
                queue_max: [5_000, 5_000, 2_000],
                dlq_ttl: Duration::from_secs(24 * 3600),
                enforce: true,
                provider_latency: Duration::from_millis(25),
            },
            tool_circuits: [circuit; 3],
            tool_bulkheads: [BulkheadConfig {
                max_concurrent: 128,
                lease_ttl: Duration::from_secs(60),
            }; 3],
            tool_alerts: ToolAlertConfig {
                enabled: true,
                window: Duration::from_secs(15 * 60),
                cooldown: Duration::from_secs(5 * 60),
                max_queued: 1_000,
                max_dlq: 0,
                max_queued_age: Duration::from_secs(30),
                max_running_age: Duration::from_secs(60),
                sentry_dsn: None,
            },
            circuit_default: circuit,
            bulkhead_default: bulkhead,
            sentry_dsn: None,
            models: ChatModels {
                fast: ["sim/fast-primary".into(), "sim/fast-secondary".into()],
                agent: ["sim/agent-primary".into(), "sim/agent-secondary".into()],
                default_class: ModelClass::Fast,
            },
            region: RegionConfig {
                id: "local".into(),
                topology: "single_region".into(),
                readiness_only: false,
            },
            admission_redis: RedisAdmissionConfig {
                enabled: false,
                shadow: false,
                url: None,
                token: None,
                key_prefix: "admission".into(),
            },
            circuit_gmail_oauth: circuit,
            bulkhead_gmail_oauth: BulkheadConfig {
                max_concurrent: 32,
                lease_ttl: Duration::from_secs(30),
            },
            bulkhead_sentry_cooldown: Duration::from_secs(60),
        }
    }
}

/// Declares every knob once: the clap fields (flag + env fallback) and the
/// name table used to look values up and to list them in the snapshot.
macro_rules! knobs {
    ($( $field:ident => $env:literal, $doc:literal; )*) => {
        /// The seed's knobs as read by clap (raw strings, validated later).
        #[derive(clap::Args, Debug, Clone, Default)]
        pub(crate) struct KnobArgs {
            $(
                #[doc = $doc]
                #[arg(long, env = $env, hide_env_values = true, value_name = "VALUE")]
                $field: Option<String>,
            )*
        }

        impl KnobArgs {
            fn lookup(&self, env: &str) -> Option<String> {
                match env {
                    $( $env => self.$field.clone(), )*
                    _ => None,
                }
            }
        }

        /// Every knob's environment variable name, in declaration order.
        pub const KNOB_ENV_NAMES: &[&str] = &[$($env),*];
    };
}

knobs! {
    rate_limit_chat_stream_max => "RATE_LIMIT_CHAT_STREAM_MAX", "Chat streams per user per window (0 = off)";
    rate_limit_chat_stream_window_ms => "RATE_LIMIT_CHAT_STREAM_WINDOW_MS", "Chat rate-limit window, ms";
    rate_limit_gmail_push_max => "RATE_LIMIT_GMAIL_PUSH_MAX", "Gmail pushes per source per window (0 = off)";
    rate_limit_gmail_push_window_ms => "RATE_LIMIT_GMAIL_PUSH_WINDOW_MS", "Gmail push rate-limit window, ms";
    rate_limit_whatsapp_max => "RATE_LIMIT_WHATSAPP_MAX", "WhatsApp webhooks per source per window (0 = off)";
    rate_limit_whatsapp_window_ms => "RATE_LIMIT_WHATSAPP_WINDOW_MS", "WhatsApp rate-limit window, ms";
    circuit_openrouter_threshold => "CIRCUIT_OPENROUTER_THRESHOLD", "Default circuit threshold of both providers";
    circuit_openrouter_cooldown_ms => "CIRCUIT_OPENROUTER_COOLDOWN_MS", "Default circuit cooldown of both providers, ms";
    circuit_openrouter_primary_threshold => "CIRCUIT_OPENROUTER_PRIMARY_THRESHOLD", "Consecutive failures that open the primary circuit";
    circuit_openrouter_primary_cooldown_ms => "CIRCUIT_OPENROUTER_PRIMARY_COOLDOWN_MS", "Primary circuit cooldown, ms";
    circuit_openrouter_secondary_threshold => "CIRCUIT_OPENROUTER_SECONDARY_THRESHOLD", "Consecutive failures that open the secondary circuit";
    circuit_openrouter_secondary_cooldown_ms => "CIRCUIT_OPENROUTER_SECONDARY_COOLDOWN_MS", "Secondary circuit cooldown, ms";
    bulkhead_openrouter_max_concurrent => "BULKHEAD_OPENROUTER_MAX_CONCURRENT", "Default bulkhead size of both providers";
    bulkhead_openrouter_lease_ttl_ms => "BULKHEAD_OPENROUTER_LEASE_TTL_MS", "Default bulkhead lease TTL of both providers, ms";
    bulkhead_or_pri_max_concurrent => "BULKHEAD_OR_PRI_MAX_CONCURRENT", "Primary bulkhead: leases at once";
    bulkhead_or_pri_lease_ttl_ms => "BULKHEAD_OR_PRI_LEASE_TTL_MS", "Primary bulkhead lease TTL, ms";
    bulkhead_or_sec_max_concurrent => "BULKHEAD_OR_SEC_MAX_CONCURRENT", "Secondary bulkhead: leases at once";
    bulkhead_or_sec_lease_ttl_ms => "BULKHEAD_OR_SEC_LEASE_TTL_MS", "Secondary bulkhead lease TTL, ms";
    chat_provider_primary_timeout_ms => "CHAT_PROVIDER_PRIMARY_TIMEOUT_MS", "Primary provider time to first token allowed, ms";
    chat_provider_primary_retries => "CHAT_PROVIDER_PRIMARY_RETRIES", "Primary provider retries before failover";
    chat_provider_secondary_timeout_ms => "CHAT_PROVIDER_SECONDARY_TIMEOUT_MS", "Secondary provider time to first token allowed, ms";
    chat_provider_secondary_retries => "CHAT_PROVIDER_SECONDARY_RETRIES", "Secondary provider retries";
    admission_enforce_user_inflight => "ADMISSION_ENFORCE_USER_INFLIGHT", "Enforce the per-user in-flight limit (true/false)";
    admission_enforce_global_inflight => "ADMISSION_ENFORCE_GLOBAL_INFLIGHT", "Enforce the global in-flight limit (true/false)";
    admission_enforce_global_msg_rate => "ADMISSION_ENFORCE_GLOBAL_MSG_RATE", "Enforce the global message rate (true/false)";
    admission_user_max_inflight => "ADMISSION_USER_MAX_INFLIGHT", "Chat streams in flight per user";
    admission_global_max_inflight => "ADMISSION_GLOBAL_MAX_INFLIGHT", "Chat streams in flight in all";
    admission_global_max_msg_per_sec => "ADMISSION_GLOBAL_MAX_MSG_PER_SEC", "Chat messages admitted per second";
    admission_retry_after_ms => "ADMISSION_RETRY_AFTER_MS", "Retry-After of an admission rejection, ms";
    admission_retry_after_jitter_pct => "ADMISSION_RETRY_AFTER_JITTER_PCT", "Jitter of the admission Retry-After, percent";
    ff_chat_gateway_enabled => "FF_CHAT_GATEWAY_ENABLED", "Serve /api/chat (false: 503)";
    ff_admission_enforce => "FF_ADMISSION_ENFORCE", "Enforce admission decisions (false: shadow)";
    ff_provider_failover_enabled => "FF_PROVIDER_FAILOVER_ENABLED", "Fail over to the secondary provider";
    ff_chat_gateway_shadow => "FF_CHAT_GATEWAY_SHADOW", "Gateway disabled: serve chat on the legacy path, gateway in shadow";
    ff_fail_closed_on_redis_error => "FF_FAIL_CLOSED_ON_REDIS_ERROR", "Admission store failing: reject (true) or admit (false)";
    ff_chat_gateway_health_enabled => "FF_CHAT_GATEWAY_HEALTH_ENABLED", "Serve GET /api/chat/health (false: 404)";
    admission_enforce_global_tool_rate => "ADMISSION_ENFORCE_GLOBAL_TOOL_RATE", "Enforce the global tool-call rate (true/false)";
    admission_global_max_tool_per_sec => "ADMISSION_GLOBAL_MAX_TOOL_PER_SEC", "Estimated tool calls admitted per second";
    admission_est_tool_calls_per_msg => "ADMISSION_EST_TOOL_CALLS_PER_MSG", "Tool calls charged per admitted message";
    admission_ticket_ttl_ms => "ADMISSION_TICKET_TTL_MS", "Lifetime of an unreleased admission ticket in Redis, ms";
    admission_allowed_event_sample_pct => "ADMISSION_ALLOWED_EVENT_SAMPLE_PCT", "Admitted messages recorded as events, percent";
    admission_redis_enabled => "ADMISSION_REDIS_ENABLED", "Keep admission state in Redis (true/false)";
    admission_redis_shadow_mode => "ADMISSION_REDIS_SHADOW_MODE", "Evaluate the Redis store without letting it decide";
    admission_redis_url => "ADMISSION_REDIS_URL", "Redis URL (redis://, rediss:// or https:// REST)";
    admission_redis_token => "ADMISSION_REDIS_TOKEN", "Redis REST token (secret)";
    admission_redis_key_prefix => "ADMISSION_REDIS_KEY_PREFIX", "Prefix of admission keys";
    rate_limit_gmail_oauth_max => "RATE_LIMIT_GMAIL_OAUTH_MAX", "Gmail OAuth starts and callbacks per user per window (0 = off)";
    rate_limit_gmail_oauth_window_ms => "RATE_LIMIT_GMAIL_OAUTH_WINDOW_MS", "Gmail OAuth rate-limit window, ms";
    rate_limit_wa_link_code_max => "RATE_LIMIT_WA_LINK_CODE_MAX", "WhatsApp link codes per user per window (0 = off)";
    rate_limit_wa_link_code_window_ms => "RATE_LIMIT_WA_LINK_CODE_WINDOW_MS", "WhatsApp link-code rate-limit window, ms";
    circuit_gmail_oauth_threshold => "CIRCUIT_GMAIL_OAUTH_THRESHOLD", "Consecutive failures that open the Gmail OAuth circuit";
    circuit_gmail_oauth_cooldown_ms => "CIRCUIT_GMAIL_OAUTH_COOLDOWN_MS", "Gmail OAuth circuit cooldown, ms";
    bulkhead_gmail_oauth_max_concurrent => "BULKHEAD_GMAIL_OAUTH_MAX_CONCURRENT", "Gmail OAuth token exchanges at once";
    bulkhead_gmail_oauth_lease_ttl_ms => "BULKHEAD_GMAIL_OAUTH_LEASE_TTL_MS", "Gmail OAuth bulkhead lease TTL, ms";
    bulkhead_sentry_cooldown_ms => "BULKHEAD_SENTRY_COOLDOWN_MS", "Least time between two Sentry events of one saturated bulkhead, ms";
    ops_default_window_minutes => "OPS_DEFAULT_WINDOW_MINUTES", "Snapshot window without ?minutes (1-60)";
    ops_max_rows_per_section => "OPS_MAX_ROWS_PER_SECTION", "Snapshot rows per section without ?limit";
    sim_chat_ttft_ms => "SIM_CHAT_TTFT_MS", "Simulated provider: time to first token, ms";
    sim_chat_tokens => "SIM_CHAT_TOKENS", "Simulated provider: tokens per answer";
    sim_chat_token_gap_ms => "SIM_CHAT_TOKEN_GAP_MS", "Simulated provider: gap between tokens, ms";
    tool_cache_web_search_ttl_ms => "TOOL_CACHE_WEB_SEARCH_TTL_MS", "Tool cache: lifetime of a web-search entry, ms";
    tool_cache_product_search_ttl_ms => "TOOL_CACHE_PRODUCT_SEARCH_TTL_MS", "Tool cache: lifetime of a product-search entry, ms";
    tool_cache_web_search_namespace_version => "TOOL_CACHE_WEB_SEARCH_NAMESPACE_VERSION", "Tool cache: version of the web-search namespace (a bump is a cold cache)";
    tool_cache_products_ns_ver => "TOOL_CACHE_PRODUCTS_NS_VER", "Tool cache: version of the product-search namespace";
    sim_tool_call_pct => "SIM_TOOL_CALL_PCT", "Share of chat messages that call a search tool, percent (seeded per message)";
    tool_job_max_per_run => "TOOL_JOB_MAX_PER_RUN", "Tool jobs one chat message may enqueue";
    tool_job_lease_ms => "TOOL_JOB_LEASE_MS", "Lease of a running tool job, ms (then taken back and retried)";
    tool_job_wait_ms => "TOOL_JOB_WAIT_MS", "How long a chat message waits for its tool jobs, ms";
    tool_job_poll_ms => "TOOL_JOB_POLL_MS", "Claim and wait polling interval, ms";
    tool_job_max_attempts => "TOOL_JOB_MAX_ATTEMPTS", "Attempts of a tool job before the dead-letter queue";
    tool_job_retry_base_ms => "TOOL_JOB_RETRY_BASE_MS", "Backoff after a tool job's first failure, ms (doubles)";
    tool_job_ttl_ms => "TOOL_JOB_TTL_MS", "A tool job queued longer is dead-lettered, ms";
    tool_job_claim_scan => "TOOL_JOB_CLAIM_SCAN", "Queued tool jobs looked at per claim";
    bulkhead_tool_job_max => "BULKHEAD_TOOL_JOB_MAX", "Tool jobs running at once over all kinds";
    bulkhead_tool_job_lease_ms => "BULKHEAD_TOOL_JOB_LEASE_MS", "Tool-job bulkhead lease TTL, ms";
    tool_job_runmax_web => "TOOL_JOB_RUNMAX_WEB", "Web-search jobs running at once";
    tool_job_runmax_prod => "TOOL_JOB_RUNMAX_PROD", "Product-search jobs running at once";
    tool_job_runmax_glob => "TOOL_JOB_RUNMAX_GLOB", "Global-search jobs running at once";
    tool_job_runmax_qos_realtime => "TOOL_JOB_RUNMAX_QOS_REALTIME", "Realtime-class tool jobs running at once";
    tool_job_runmax_qos_interactive => "TOOL_JOB_RUNMAX_QOS_INTERACTIVE", "Interactive-class tool jobs running at once";
    tool_job_runmax_qos_batch => "TOOL_JOB_RUNMAX_QOS_BATCH", "Batch-class tool jobs running at once";
    tool_job_qmax_web => "TOOL_JOB_QMAX_WEB", "Web-search jobs queued at once";
    tool_job_qmax_prod => "TOOL_JOB_QMAX_PROD", "Product-search jobs queued at once";
    tool_job_qmax_glob => "TOOL_JOB_QMAX_GLOB", "Global-search jobs queued at once";
    tool_job_dlq_ttl_ms => "TOOL_JOB_DLQ_TTL_MS", "How long a dead-lettered tool job is kept, ms";
    ff_tool_queue_enforce => "FF_TOOL_QUEUE_ENFORCE", "Enforce the tool queue's caps (false: shadow, counted only)";
    circuit_serper_threshold => "CIRCUIT_SERPER_THRESHOLD", "Consecutive failures that open the Serper (web search) circuit";
    circuit_serper_cooldown_ms => "CIRCUIT_SERPER_COOLDOWN_MS", "Serper circuit cooldown, ms";
    circuit_ebay_threshold => "CIRCUIT_EBAY_THRESHOLD", "Consecutive failures that open the eBay (product search) circuit";
    circuit_ebay_cooldown_ms => "CIRCUIT_EBAY_COOLDOWN_MS", "eBay circuit cooldown, ms";
    circuit_global_search_threshold => "CIRCUIT_GLOBAL_SEARCH_THRESHOLD", "Consecutive failures that open the global search circuit";
    circuit_global_search_cooldown_ms => "CIRCUIT_GLOBAL_SEARCH_COOLDOWN_MS", "Global search circuit cooldown, ms";
    bulkhead_serper_max_concurrent => "BULKHEAD_SERPER_MAX_CONCURRENT", "Serper calls at once";
    bulkhead_serper_lease_ttl_ms => "BULKHEAD_SERPER_LEASE_TTL_MS", "Serper bulkhead lease TTL, ms";
    bulkhead_ebay_max_concurrent => "BULKHEAD_EBAY_MAX_CONCURRENT", "eBay calls at once";
    bulkhead_ebay_lease_ttl_ms => "BULKHEAD_EBAY_LEASE_TTL_MS", "eBay bulkhead lease TTL, ms";
    bulkhead_global_search_max_concurrent => "BULKHEAD_GLOBAL_SEARCH_MAX_CONCURRENT", "Global search calls at once";
    bulkhead_global_search_lease_ttl_ms => "BULKHEAD_GLOBAL_SEARCH_LEASE_TTL_MS", "Global search bulkhead lease TTL, ms";
    sim_tool_latency_ms => "SIM_TOOL_LATENCY_MS", "Simulated tool provider answer time, ms";
    tool_queue_alerts_enabled => "TOOL_QUEUE_ALERTS_ENABLED", "Evaluate tool-queue alerts (true/false)";
    tool_queue_alert_window_min => "TOOL_QUEUE_ALERT_WINDOW_MIN", "Tool-queue alert window, minutes";
    tool_queue_alert_cooldown_ms => "TOOL_QUEUE_ALERT_COOLDOWN_MS", "A tool-queue alert does not fire again within this, ms";
    tool_queue_alert_max_queued => "TOOL_QUEUE_ALERT_MAX_QUEUED", "Queued tool jobs before an alert";
    tool_queue_alert_max_dlq => "TOOL_QUEUE_ALERT_MAX_DLQ", "Tool jobs dead-lettered within the window before an alert";
    tool_queue_alert_max_queued_age_ms => "TOOL_QUEUE_ALERT_MAX_QUEUED_AGE_MS", "Oldest queued tool job age before an alert, ms";
    tool_queue_alert_max_running_age_ms => "TOOL_QUEUE_ALERT_MAX_RUNNING_AGE_MS", "Oldest running tool job age before an alert, ms";
    tool_queue_sentry_dsn => "TOOL_QUEUE_SENTRY_DSN", "Sentry DSN of tool-queue alerts (secret; default SENTRY_DSN)";
    sentry_dsn => "SENTRY_DSN", "Sentry DSN (secret), the default of TOOL_QUEUE_SENTRY_DSN";
    chat_model_fast_primary => "CHAT_MODEL_FAST_PRIMARY", "Model of the fast class on the primary provider";
    chat_model_fast_secondary => "CHAT_MODEL_FAST_SECONDARY", "Model of the fast class on the secondary provider";
    chat_model_agent_primary => "CHAT_MODEL_AGENT_PRIMARY", "Model of the agent class on the primary provider";
    chat_model_agent_secondary => "CHAT_MODEL_AGENT_SECONDARY", "Model of the agent class on the secondary provider";
    chat_default_model_class => "CHAT_DEFAULT_MODEL_CLASS", "Class of a chat message that names none: fast or agent";
    reliability_region_id => "RELIABILITY_REGION_ID", "This deployment's region id";
    reliability_topology_mode => "RELIABILITY_TOPOLOGY_MODE", "single_region, active_standby or active_active";
    reliability_region_readiness_only => "RELIABILITY_REGION_READINESS_ONLY", "Single-region launch mode: report readiness only (true/false)";
    sim_rest_ops => "SIM_REST_OPS", "Serve the REST ops routes /api/ops/* (false: only the function API)";
    gmail_pubsub_verify_token => "GMAIL_PUBSUB_VERIFY_TOKEN", "Required ?token= of /api/gmail/push (secret)";
    whatsapp_app_secret => "WHATSAPP_APP_SECRET", "HMAC key of X-Hub-Signature-256 (secret)";
    whatsapp_verify_token => "WHATSAPP_VERIFY_TOKEN", "hub.verify_token of the WhatsApp GET challenge (secret)";
}

/// Command-line arguments of `relhost sim`; every knob also reads the seed's
/// environment variable of the same name.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Bearer token of the ops endpoints (random when unset).
    #[arg(
        long,
        env = "RELIABILITY_OPS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub ops_token: Option<String>,
    /// Admin key of the Convex function API (random when unset).
    #[arg(
        long,
        env = "CONVEX_DEPLOY_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub deploy_key: Option<String>,
    /// A second address that serves only the Convex function API (as
    /// `NAME.convex.cloud`); the first then serves only HTTP actions (as
    /// `NAME.convex.site`).
    #[arg(long, value_name = "ADDR")]
    pub functions_listen: Option<SocketAddr>,
    /// Seed of every random decision (an integer, or any string, hashed).
    #[arg(long, env = "SIM_SEED", value_name = "SEED")]
    pub seed: Option<String>,
    /// A fault active from the start, e.g. `chat:latency=200ms,jitter=50ms`
    /// (repeatable; SIM_FAULTS takes several separated by `;`).
    #[arg(
        long = "fault",
        env = "SIM_FAULTS",
        value_delimiter = ';',
        value_name = "SPEC"
    )]
    pub faults: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first; its names
    /// must include the address clients use), with --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    knobs: KnobArgs,
}

impl Default for SimArgs {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ops_token: None,
            deploy_key: None,
            functions_listen: None,
            seed: None,
            faults: Vec::new(),
            tls_cert: None,
            tls_key: None,
            knobs: KnobArgs::default(),
        }
    }
}

impl SimArgs {
    /// The address to listen on.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The address of the function API, when it has its own.
    pub fn functions_listen(&self) -> Option<SocketAddr> {
        self.functions_listen
    }

    /// The TLS the sim serves with, when `--tls-cert` and `--tls-key` are given.
    pub fn tls(&self) -> Result<Option<ServerTls>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => ServerTls::from_pem_files(cert, key).map(Some),
            _ => Ok(None),
        }
    }

    /// Validates every value into a [`SimConfig`].
    pub fn into_config(self) -> Result<SimConfig, ConfigError> {
        let knobs = self.knobs;
        let mut cfg = build(&|env| knobs.lookup(env))?;
        cfg.ops_token = self.ops_token.filter(|t| !t.is_empty());
        cfg.deploy_key = self.deploy_key.filter(|t| !t.is_empty());
        if let Some(seed) = self.seed.as_deref() {
            cfg.seed = parse_seed(seed);
        }
        cfg.faults = parse_fault_specs(self.faults.iter().map(String::as_str))?;
        Ok(cfg)
    }
}

impl SimConfig {
    /// Reads every knob from the environment (unset or empty: default).
    pub fn from_env() -> Result<Self, ConfigError> {
        let get = |name: &str| std::env::var(name).ok();
        let mut cfg = build(&get)?;
        cfg.ops_token = get("RELIABILITY_OPS_TOKEN").filter(|t| !t.is_empty());
        cfg.deploy_key = get("CONVEX_DEPLOY_KEY").filter(|t| !t.is_empty());
        if let Some(seed) = get("SIM_SEED").filter(|s| !s.is_empty()) {
            cfg.seed = parse_seed(&seed);
        }
        if let Some(specs) = get("SIM_FAULTS") {
            cfg.faults = parse_fault_specs(specs.split(';'))?;
        }
        Ok(cfg)
    }

    /// The effective value of every knob, by environment variable name.
    /// Secrets show as `"<set>"` or null.
    pub fn knob_values(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let ms = |d: Duration| Value::from(d.as_millis() as u64);
        let secret = |s: &Option<String>| match s {
            Some(_) => Value::from("<set>"),
            None => Value::Null,
        };
        let rl = &self.rate_limits;
        let a = &self.admission;
        let pairs: Vec<(&str, Value)> = vec![
            ("RATE_LIMIT_CHAT_STREAM_MAX", rl.chat_stream.max.into()),
            (
                "RATE_LIMIT_CHAT_STREAM_WINDOW_MS",
                ms(rl.chat_stream.window),
            ),
            ("RATE_LIMIT_GMAIL_PUSH_MAX", rl.gmail_push.max.into()),
            ("RATE_LIMIT_GMAIL_PUSH_WINDOW_MS", ms(rl.gmail_push.window)),
            ("RATE_LIMIT_WHATSAPP_MAX", rl.whatsapp.max.into()),
            ("RATE_LIMIT_WHATSAPP_WINDOW_MS", ms(rl.whatsapp.window)),
            (
                "CIRCUIT_OPENROUTER_PRIMARY_THRESHOLD",
                self.circuit_primary.threshold.into(),
            ),
            (
                "CIRCUIT_OPENROUTER_PRIMARY_COOLDOWN_MS",
                ms(self.circuit_primary.cooldown),
            ),
            (
                "CIRCUIT_OPENROUTER_SECONDARY_THRESHOLD",
                self.circuit_secondary.threshold.into(),
            ),
            (
                "CIRCUIT_OPENROUTER_SECONDARY_COOLDOWN_MS",
                ms(self.circuit_secondary.cooldown),
            ),
            (
                "BULKHEAD_OR_PRI_MAX_CONCURRENT",
                self.bulkhead_primary.max_concurrent.into(),
            ),
            (
                "BULKHEAD_OR_PRI_LEASE_TTL_MS",
                ms(self.bulkhead_primary.lease_ttl),
            ),
            (
                "BULKHEAD_OR_SEC_MAX_CONCURRENT",
                self.bulkhead_secondary.max_concurrent.into(),
            ),
            (
                "BULKHEAD_OR_SEC_LEASE_TTL_MS",
                ms(self.bulkhead_secondary.lease_ttl),
            ),
            (
                "CHAT_PROVIDER_PRIMARY_TIMEOUT_MS",
                ms(self.provider_primary.timeout),
            ),
            (
                "CHAT_PROVIDER_PRIMARY_RETRIES",
                self.provider_primary.retries.into(),
            ),
            (
                "CHAT_PROVIDER_SECONDARY_TIMEOUT_MS",
                ms(self.provider_secondary.timeout),
            ),
            (
                "CHAT_PROVIDER_SECONDARY_RETRIES",
                self.provider_secondary.retries.into(),
            ),
            (
                "ADMISSION_ENFORCE_USER_INFLIGHT",
                a.enforce_user_inflight.into(),
            ),
            (
                "ADMISSION_ENFORCE_GLOBAL_INFLIGHT",
                a.enforce_global_inflight.into(),
            ),
            (
                "ADMISSION_ENFORCE_GLOBAL_MSG_RATE",
                a.enforce_global_msg_rate.into(),
            ),
            ("ADMISSION_USER_MAX_INFLIGHT", a.user_max_inflight.into()),
            (
                "ADMISSION_GLOBAL_MAX_INFLIGHT",
                a.global_max_inflight.into(),
            ),
            (
                "ADMISSION_GLOBAL_MAX_MSG_PER_SEC",
                a.global_max_msg_per_sec.into(),
            ),
            ("ADMISSION_RETRY_AFTER_MS", ms(a.retry_after)),
            (
                "ADMISSION_RETRY_AFTER_JITTER_PCT",
                a.retry_after_jitter_pct.into(),
            ),
            (
                "FF_CHAT_GATEWAY_ENABLED",
                self.flags.chat_gateway_enabled.into(),
            ),
            ("FF_ADMISSION_ENFORCE", self.flags.admission_enforce.into()),
            (
                "FF_PROVIDER_FAILOVER_ENABLED",
                self.flags.provider_failover_enabled.into(),
            ),
            (
                "OPS_DEFAULT_WINDOW_MINUTES",
                self.ops.default_window_minutes.into(),
            ),
            (
                "OPS_MAX_ROWS_PER_SECTION",
                (self.ops.max_rows_per_section as u64).into(),
            ),
            ("SIM_CHAT_TTFT_MS", ms(self.chat_sim.ttft)),
            ("SIM_CHAT_TOKENS", self.chat_sim.tokens.into()),
            ("SIM_CHAT_TOKEN_GAP_MS", ms(self.chat_sim.token_gap)),
            ("SIM_SEED", self.seed.into()),
            (
                "GMAIL_PUBSUB_VERIFY_TOKEN",
                secret(&self.gmail_verify_token),
            ),
            ("WHATSAPP_APP_SECRET", secret(&self.whatsapp_app_secret)),
            ("WHATSAPP_VERIFY_TOKEN", secret(&self.whatsapp_verify_token)),
            ("RELIABILITY_OPS_TOKEN", secret(&self.ops_token)),
            ("CONVEX_DEPLOY_KEY", secret(&self.deploy_key)),
            ("SIM_REST_OPS", self.rest_ops.into()),
            (
                "TOOL_CACHE_WEB_SEARCH_TTL_MS",
                ms(self.tool_cache.web_search_ttl),
            ),
            (
                "TOOL_CACHE_PRODUCT_SEARCH_TTL_MS",
                ms(self.tool_cache.product_search_ttl),
            ),
            (
                "TOOL_CACHE_WEB_SEARCH_NAMESPACE_VERSION",
                self.tool_cache.web_search_version.into(),
            ),
            (
                "TOOL_CACHE_PRODUCTS_NS_VER",
                self.tool_cache.products_version.into(),
            ),
            ("SIM_TOOL_CALL_PCT", self.tool_cache.tool_call_pct.into()),
        ];
        let q = &self.tool_queue;
        let mut pairs = pairs;
        pairs.extend([
            ("TOOL_JOB_MAX_PER_RUN", q.max_per_run.into()),
            ("TOOL_JOB_LEASE_MS", ms(q.lease)),
            ("TOOL_JOB_WAIT_MS", ms(q.wait)),
            ("TOOL_JOB_POLL_MS", ms(q.poll)),
            ("TOOL_JOB_MAX_ATTEMPTS", q.max_attempts.into()),
            ("TOOL_JOB_RETRY_BASE_MS", ms(q.retry_base)),
            ("TOOL_JOB_TTL_MS", ms(q.ttl)),
            ("TOOL_JOB_CLAIM_SCAN", q.claim_scan.into()),
            ("BULKHEAD_TOOL_JOB_MAX", q.bulkhead_max.into()),
            ("BULKHEAD_TOOL_JOB_LEASE_MS", ms(q.bulkhead_lease)),
            ("TOOL_JOB_DLQ_TTL_MS", ms(q.dlq_ttl)),
            ("FF_TOOL_QUEUE_ENFORCE", q.enforce.into()),
            ("SIM_TOOL_LATENCY_MS", ms(q.provider_latency)),
        ]);
        let a = &self.tool_alerts;
        pairs.extend([
            ("TOOL_QUEUE_ALERTS_ENABLED", a.enabled.into()),
            (
                "TOOL_QUEUE_ALERT_WINDOW_MIN",
                (a.window.as_secs() / 60).into(),
            ),
            ("TOOL_QUEUE_ALERT_COOLDOWN_MS", ms(a.cooldown)),
            ("TOOL_QUEUE_ALERT_MAX_QUEUED", a.max_queued.into()),
            ("TOOL_QUEUE_ALERT_MAX_DLQ", a.max_dlq.into()),
            ("TOOL_QUEUE_ALERT_MAX_QUEUED_AGE_MS", ms(a.max_queued_age)),
            ("TOOL_QUEUE_ALERT_MAX_RUNNING_AGE_MS", ms(a.max_running_age)),
            ("TOOL_QUEUE_SENTRY_DSN", secret(&a.sentry_dsn)),
            ("SENTRY_DSN", secret(&self.sentry_dsn)),
            (
                "CIRCUIT_OPENROUTER_THRESHOLD",
                self.circuit_default.threshold.into(),
            ),
            (
                "CIRCUIT_OPENROUTER_COOLDOWN_MS",
                ms(self.circuit_default.cooldown),
            ),
            (
                "BULKHEAD_OPENROUTER_MAX_CONCURRENT",
                self.bulkhead_default.max_concurrent.into(),
            ),
            (
                "BULKHEAD_OPENROUTER_LEASE_TTL_MS",
                ms(self.bulkhead_default.lease_ttl),
            ),
            (
                "CHAT_MODEL_FAST_PRIMARY",
                self.models.fast[0].clone().into(),
            ),
            (
                "CHAT_MODEL_FAST_SECONDARY",
                self.models.fast[1].clone().into(),
            ),
            (
                "CHAT_MODEL_AGENT_PRIMARY",
                self.models.agent[0].clone().into(),
            ),
            (
                "CHAT_MODEL_AGENT_SECONDARY",
                self.models.agent[1].clone().into(),
            ),
            (
                "CHAT_DEFAULT_MODEL_CLASS",
                self.models.default_class.name().into(),
            ),
            ("RELIABILITY_REGION_ID", self.region.id.clone().into()),
            (
                "RELIABILITY_TOPOLOGY_MODE",
                self.region.topology.clone().into(),
            ),
            (
                "RELIABILITY_REGION_READINESS_ONLY",
                self.region.readiness_only.into(),
            ),
        ]);
        let adm = &self.admission;
        let redis = &self.admission_redis;
        let flags = &self.flags;
        pairs.extend([
            (
                "ADMISSION_ENFORCE_GLOBAL_TOOL_RATE",
                adm.enforce_global_tool_rate.into(),
            ),
            (
                "ADMISSION_GLOBAL_MAX_TOOL_PER_SEC",
                adm.global_max_tool_per_sec.into(),
            ),
            (
                "ADMISSION_EST_TOOL_CALLS_PER_MSG",
                adm.est_tool_calls_per_msg.into(),
            ),
            ("ADMISSION_TICKET_TTL_MS", ms(adm.ticket_ttl)),
            (
                "ADMISSION_ALLOWED_EVENT_SAMPLE_PCT",
                adm.allowed_event_sample_pct.into(),
            ),
            ("ADMISSION_REDIS_ENABLED", redis.enabled.into()),
            ("ADMISSION_REDIS_SHADOW_MODE", redis.shadow.into()),
            ("ADMISSION_REDIS_URL", redis.public_url().into()),
            ("ADMISSION_REDIS_TOKEN", secret(&redis.token)),
            (
                "ADMISSION_REDIS_KEY_PREFIX",
                redis.key_prefix.clone().into(),
            ),
            ("FF_CHAT_GATEWAY_SHADOW", flags.chat_gateway_shadow.into()),
            (
                "FF_FAIL_CLOSED_ON_REDIS_ERROR",
                flags.fail_closed_on_redis_error.into(),
            ),
            (
                "FF_CHAT_GATEWAY_HEALTH_ENABLED",
                flags.chat_gateway_health_enabled.into(),
            ),
            ("RATE_LIMIT_GMAIL_OAUTH_MAX", rl.gmail_oauth.max.into()),
            (
                "RATE_LIMIT_GMAIL_OAUTH_WINDOW_MS",
                ms(rl.gmail_oauth.window),
            ),
            ("RATE_LIMIT_WA_LINK_CODE_MAX", rl.wa_link_code.max.into()),
            (
                "RATE_LIMIT_WA_LINK_CODE_WINDOW_MS",
                ms(rl.wa_link_code.window),
            ),
            (
                "CIRCUIT_GMAIL_OAUTH_THRESHOLD",
                self.circuit_gmail_oauth.threshold.into(),
            ),
            (
                "CIRCUIT_GMAIL_OAUTH_COOLDOWN_MS",
                ms(self.circuit_gmail_oauth.cooldown),
            ),
            (
                "BULKHEAD_GMAIL_OAUTH_MAX_CONCURRENT",
                self.bulkhead_gmail_oauth.max_concurrent.into(),
            ),
            (
                "BULKHEAD_GMAIL_OAUTH_LEASE_TTL_MS",
                ms(self.bulkhead_gmail_oauth.lease_ttl),
            ),
            (
                "BULKHEAD_SENTRY_COOLDOWN_MS",
                ms(self.bulkhead_sentry_cooldown),
            ),
        ]);
        for (envs, values) in [
            (TOOL_RUNMAX_ENVS, q.run_max),
            (TOOL_RUNMAX_QOS_ENVS, q.run_max_qos),
            (TOOL_QMAX_ENVS, q.queue_max),
        ] {
            pairs.extend(envs.into_iter().zip(values.map(Value::from)));
        }
        for (i, [threshold, cooldown, max, lease]) in TOOL_PROVIDER_ENVS.into_iter().enumerate() {
            pairs.extend([
                (threshold, self.tool_circuits[i].threshold.into()),
                (cooldown, ms(self.tool_circuits[i].cooldown)),
                (max, self.tool_bulkheads[i].max_concurrent.into()),
                (lease, ms(self.tool_bulkheads[i].lease_ttl)),
            ]);
        }
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// A seed: a decimal integer as is, anything else hashed.
fn parse_seed(s: &str) -> u64 {
    s.trim()
        .parse::<u64>()
        .unwrap_or_else(|_| crate::rng::fnv1a(s.trim()))
}

fn parse_fault_specs<'a>(specs: impl Iterator<Item = &'a str>) -> Result<Vec<Fault>, ConfigError> {
    specs
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Fault>()
                .map_err(|reason| ConfigError::InvalidFault {
                    spec: s.to_owned(),
                    reason,
                })
        })
        .collect()
}

fn flag_of(env: &str) -> String {
    env.to_ascii_lowercase().replace('_', "-")
}

fn invalid(env: &'static str, expected: &'static str, value: &str) -> ConfigError {
    ConfigError::InvalidKnob {
        env,
        flag: flag_of(env),
        expected,
        value: value.to_owned(),
    }
}

/// Reads typed knobs through `get` (an env-like lookup; empty = unset).
struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn raw(&self, env: &str) -> Option<String> {
        (self.get)(env)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn u64(&self, env: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.raw(env) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| invalid(env, "a non-negative integer", &v)),
        }
    }

    fn u32(&self, env: &'static str, default: u32) -> Result<u32, ConfigError> {
        match self.raw(env) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| invalid(env, "a non-negative integer (at most 4294967295)", &v)),
        }
    }

    fn positive_ms(&self, env: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.raw(env) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => Ok(Duration::from_millis(n)),
                _ => Err(invalid(env, "a positive integer of milliseconds", &v)),
            },
        }
    }

    fn ms(&self, env: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.raw(env) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| invalid(env, "a non-negative integer of milliseconds", &v)),
        }
    }

    fn bool(&self, env: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(env) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(invalid(env, "true or false (also 1/0, yes/no, on/off)", &v)),
            },
        }
    }

    fn pct(&self, env: &'static str, default: f64) -> Result<f64, ConfigError> {
        match self.raw(env) {
            None => Ok(default),
            Some(v) => match v.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
                _ => Err(invalid(env, "a percentage from 0 to 100", &v)),
            },
        }
    }

    fn non_negative(&self, env: &'static str, default: f64) -> Result<f64, ConfigError> {
        match self.raw(env) {
            None => Ok(default),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(invalid(env, "a non-negative number", &v)),
            },
        }
    }

    fn secret(&self, env: &str) -> Option<String> {
        (self.get)(env).filter(|v| !v.is_empty())
    }
}

fn build(get: &dyn Fn(&str) -> Option<String>) -> Result<SimConfig, ConfigError> {
    let r = Reader { get };
    let d = SimConfig::default();
    let rule = |max_env, win_env, def: RateLimitRule| -> Result<RateLimitRule, ConfigError> {
        Ok(RateLimitRule {
            max: r.u64(max_env, def.max)?,
            window: r.positive_ms(win_env, def.window)?,
        })
    };
    let rate_limits = RateLimits {
        chat_stream: rule(
            "RATE_LIMIT_CHAT_STREAM_MAX",
            "RATE_LIMIT_CHAT_STREAM_WINDOW_MS",
            d.rate_limits.chat_stream,
        )?,
        gmail_push: rule(
            "RATE_LIMIT_GMAIL_PUSH_MAX",
            "RATE_LIMIT_GMAIL_PUSH_WINDOW_MS",
            d.rate_limits.gmail_push,
        )?,
        whatsapp: rule(
            "RATE_LIMIT_WHATSAPP_MAX",
            "RATE_LIMIT_WHATSAPP_WINDOW_MS",
            d.rate_limits.whatsapp,
        )?,
        gmail_oauth: rule(
            "RATE_LIMIT_GMAIL_OAUTH_MAX",
            "RATE_LIMIT_GMAIL_OAUTH_WINDOW_MS",
            d.rate_limits.gmail_oauth,
        )?,
        wa_link_code: rule(
            "RATE_LIMIT_WA_LINK_CODE_MAX",
            "RATE_LIMIT_WA_LINK_CODE_WINDOW_MS",
            d.rate_limits.wa_link_code,
        )?,
    };
    // The generic OPENROUTER knobs are the defaults of both providers.
    let circuit = CircuitConfig {
        threshold: r.u32("CIRCUIT_OPENROUTER_THRESHOLD", d.circuit_primary.threshold)?,
        cooldown: r.positive_ms("CIRCUIT_OPENROUTER_COOLDOWN_MS", d.circuit_primary.cooldown)?,
    };
    let circuit_of = |t_env, c_env| -> Result<CircuitConfig, ConfigError> {
        let threshold = r.u32(t_env, circuit.threshold)?;
        if threshold == 0 {
            return Err(invalid(t_env, "a positive integer", "0"));
        }
        Ok(CircuitConfig {
            threshold,
            cooldown: r.positive_ms(c_env, circuit.cooldown)?,
        })
    };
    let bulkhead = BulkheadConfig {
        max_concurrent: r.u64(
            "BULKHEAD_OPENROUTER_MAX_CONCURRENT",
            d.bulkhead_primary.max_concurrent,
        )?,
        lease_ttl: r.positive_ms(
            "BULKHEAD_OPENROUTER_LEASE_TTL_MS",
            d.bulkhead_primary.lease_ttl,
        )?,
    };
    let bulkhead_of = |m_env, t_env| -> Result<BulkheadConfig, ConfigError> {
        Ok(BulkheadConfig {
            max_concurrent: r.u64(m_env, bulkhead.max_concurrent)?,
            lease_ttl: r.positive_ms(t_env, bulkhead.lease_ttl)?,
        })
    };
    let provider_of = |t_env, r_env, def: ProviderConfig| -> Result<ProviderConfig, ConfigError> {
        Ok(ProviderConfig {
            timeout: r.positive_ms(t_env, def.timeout)?,
            retries: r.u32(r_env, def.retries)?,
        })
    };
    let da = d.admission;
    let admission = AdmissionConfig {
        enforce_user_inflight: r
            .bool("ADMISSION_ENFORCE_USER_INFLIGHT", da.enforce_user_inflight)?,
        enforce_global_inflight: r.bool(
            "ADMISSION_ENFORCE_GLOBAL_INFLIGHT",
            da.enforce_global_inflight,
        )?,
        enforce_global_msg_rate: r.bool(
            "ADMISSION_ENFORCE_GLOBAL_MSG_RATE",
            da.enforce_global_msg_rate,
        )?,
        user_max_inflight: r.u64("ADMISSION_USER_MAX_INFLIGHT", da.user_max_inflight)?,
        global_max_inflight: r.u64("ADMISSION_GLOBAL_MAX_INFLIGHT", da.global_max_inflight)?,
        global_max_msg_per_sec: r.u64(
            "ADMISSION_GLOBAL_MAX_MSG_PER_SEC",
            da.global_max_msg_per_sec,
        )?,
        retry_after: r.ms("ADMISSION_RETRY_AFTER_MS", da.retry_after)?,
        retry_after_jitter_pct: r.pct(
            "ADMISSION_RETRY_AFTER_JITTER_PCT",
            da.retry_after_jitter_pct,
        )?,
        enforce_global_tool_rate: r.bool(
            "ADMISSION_ENFORCE_GLOBAL_TOOL_RATE",
            da.enforce_global_tool_rate,
        )?,
        global_max_tool_per_sec: r.u64(
            "ADMISSION_GLOBAL_MAX_TOOL_PER_SEC",
            da.global_max_tool_per_sec,
        )?,
        est_tool_calls_per_msg: r.non_negative(
            "ADMISSION_EST_TOOL_CALLS_PER_MSG",
            da.est_tool_calls_per_msg,
        )?,
        ticket_ttl: r.positive_ms("ADMISSION_TICKET_TTL_MS", da.ticket_ttl)?,
        allowed_event_sample_pct: r.pct(
            "ADMISSION_ALLOWED_EVENT_SAMPLE_PCT",
            da.allowed_event_sample_pct,
        )?,
    };
    let dr = &d.admission_redis;
    let redis_url = r.raw("ADMISSION_REDIS_URL");
    if let Some(url) = &redis_url {
        let scheme = url
            .parse::<http::Uri>()
            .ok()
            .filter(|u| u.host().is_some())
            .and_then(|u| u.scheme_str().map(str::to_ascii_lowercase));
        if !matches!(
            scheme.as_deref(),
            Some("redis" | "rediss" | "http" | "https")
        ) {
            // The value may hold a password: it is not echoed.
            return Err(invalid(
                "ADMISSION_REDIS_URL",
                "a redis://, rediss:// or https:// URL with a host",
                "<not shown>",
            ));
        }
    }
    let admission_redis = RedisAdmissionConfig {
        enabled: r.bool("ADMISSION_REDIS_ENABLED", dr.enabled)?,
        shadow: r.bool("ADMISSION_REDIS_SHADOW_MODE", dr.shadow)?,
        url: redis_url,
        token: r.secret("ADMISSION_REDIS_TOKEN"),
        key_prefix: r
            .raw("ADMISSION_REDIS_KEY_PREFIX")
            .unwrap_or_else(|| dr.key_prefix.clone()),
    };
    let flags = FeatureFlags {
        chat_gateway_enabled: r.bool("FF_CHAT_GATEWAY_ENABLED", d.flags.chat_gateway_enabled)?,
        admission_enforce: r.bool("FF_ADMISSION_ENFORCE", d.flags.admission_enforce)?,
        provider_failover_enabled: r.bool(
            "FF_PROVIDER_FAILOVER_ENABLED",
            d.flags.provider_failover_enabled,
        )?,
        chat_gateway_shadow: r.bool("FF_CHAT_GATEWAY_SHADOW", d.flags.chat_gateway_shadow)?,
        fail_closed_on_redis_error: r.bool(
            "FF_FAIL_CLOSED_ON_REDIS_ERROR",
            d.flags.fail_closed_on_redis_error,
        )?,
        chat_gateway_health_enabled: r.bool(
            "FF_CHAT_GATEWAY_HEALTH_ENABLED",
            d.flags.chat_gateway_health_enabled,
        )?,
    };
    let window = r.u32("OPS_DEFAULT_WINDOW_MINUTES", d.ops.default_window_minutes)?;
    if !(1..=crate::stats::MAX_WINDOW_MINUTES).contains(&window) {
        return Err(invalid(
            "OPS_DEFAULT_WINDOW_MINUTES",
            "an integer from 1 to 60",
            &window.to_string(),
        ));
    }
    let rows = r.u64(
        "OPS_MAX_ROWS_PER_SECTION",
        d.ops.max_rows_per_section as u64,
    )?;
    if rows == 0 {
        return Err(invalid(
            "OPS_MAX_ROWS_PER_SECTION",
            "a positive integer",
            "0",
        ));
    }
    let dt = d.tool_cache;
    let tool_cache = ToolCacheConfig {
        web_search_ttl: r.positive_ms("TOOL_CACHE_WEB_SEARCH_TTL_MS", dt.web_search_ttl)?,
        product_search_ttl: r
            .positive_ms("TOOL_CACHE_PRODUCT_SEARCH_TTL_MS", dt.product_search_ttl)?,
        web_search_version: r.u32(
            "TOOL_CACHE_WEB_SEARCH_NAMESPACE_VERSION",
            dt.web_search_version,
        )?,
        products_version: r.u32("TOOL_CACHE_PRODUCTS_NS_VER", dt.products_version)?,
        tool_call_pct: r.pct("SIM_TOOL_CALL_PCT", dt.tool_call_pct)?,
    };
    let dq = d.tool_queue;
    let per_kind = |envs: [&'static str; 3], def: [u32; 3]| -> Result<[u32; 3], ConfigError> {
        Ok([
            r.u32(envs[0], def[0])?,
            r.u32(envs[1], def[1])?,
            r.u32(envs[2], def[2])?,
        ])
    };
    let tool_queue = ToolQueueConfig {
        max_per_run: r.u32("TOOL_JOB_MAX_PER_RUN", dq.max_per_run)?,
        lease: r.positive_ms("TOOL_JOB_LEASE_MS", dq.lease)?,
        wait: r.ms("TOOL_JOB_WAIT_MS", dq.wait)?,
        poll: r.positive_ms("TOOL_JOB_POLL_MS", dq.poll)?,
        max_attempts: r.u32("TOOL_JOB_MAX_ATTEMPTS", dq.max_attempts)?.max(1),
        retry_base: r.ms("TOOL_JOB_RETRY_BASE_MS", dq.retry_base)?,
        ttl: r.positive_ms("TOOL_JOB_TTL_MS", dq.ttl)?,
        claim_scan: r.u32("TOOL_JOB_CLAIM_SCAN", dq.claim_scan)?.max(1),
        bulkhead_max: r.u64("BULKHEAD_TOOL_JOB_MAX", dq.bulkhead_max)?,
        bulkhead_lease: r.positive_ms("BULKHEAD_TOOL_JOB_LEASE_MS", dq.bulkhead_lease)?,
        run_max: per_kind(TOOL_RUNMAX_ENVS, dq.run_max)?,
        run_max_qos: per_kind(TOOL_RUNMAX_QOS_ENVS, dq.run_max_qos)?,
        queue_max: per_kind(TOOL_QMAX_ENVS, dq.queue_max)?,
        dlq_ttl: r.positive_ms("TOOL_JOB_DLQ_TTL_MS", dq.dlq_ttl)?,
        enforce: r.bool("FF_TOOL_QUEUE_ENFORCE", dq.enforce)?,
        provider_latency: r.ms("SIM_TOOL_LATENCY_MS", dq.provider_latency)?,
    };
    let da = &d.tool_alerts;
    let window_min = r.u64("TOOL_QUEUE_ALERT_WINDOW_MIN", da.window.as_secs() / 60)?;
    if window_min == 0 {
        return Err(invalid(
            "TOOL_QUEUE_ALERT_WINDOW_MIN",
            "a positive integer of minutes",
            "0",
        ));
    }
    let tool_alerts = ToolAlertConfig {
        enabled: r.bool("TOOL_QUEUE_ALERTS_ENABLED", da.enabled)?,
        window: Duration::from_secs(window_min.saturating_mul(60)),
        cooldown: r.ms("TOOL_QUEUE_ALERT_COOLDOWN_MS", da.cooldown)?,
        max_queued: r.u64("TOOL_QUEUE_ALERT_MAX_QUEUED", da.max_queued)?,
        max_dlq: r.u64("TOOL_QUEUE_ALERT_MAX_DLQ", da.max_dlq)?,
        max_queued_age: r.ms("TOOL_QUEUE_ALERT_MAX_QUEUED_AGE_MS", da.max_queued_age)?,
        max_running_age: r.ms("TOOL_QUEUE_ALERT_MAX_RUNNING_AGE_MS", da.max_running_age)?,
        sentry_dsn: r
            .secret("TOOL_QUEUE_SENTRY_DSN")
            .or_else(|| r.secret("SENTRY_DSN")),
    };
    let text = |env: &str, default: &str| r.raw(env).unwrap_or_else(|| default.to_owned());
    let dm = &d.models;
    let default_class = match r.raw("CHAT_DEFAULT_MODEL_CLASS") {
        None => dm.default_class,
        Some(v) => ModelClass::parse(&v)
            .ok_or_else(|| invalid("CHAT_DEFAULT_MODEL_CLASS", "fast or agent", &v))?,
    };
    let models = ChatModels {
        fast: [
            text("CHAT_MODEL_FAST_PRIMARY", &dm.fast[0]),
            text("CHAT_MODEL_FAST_SECONDARY", &dm.fast[1]),
        ],
        agent: [
            text("CHAT_MODEL_AGENT_PRIMARY", &dm.agent[0]),
            text("CHAT_MODEL_AGENT_SECONDARY", &dm.agent[1]),
        ],
        default_class,
    };
    let topology = text("RELIABILITY_TOPOLOGY_MODE", &d.region.topology);
    if !matches!(
        topology.as_str(),
        "single_region" | "active_standby" | "active_active"
    ) {
        return Err(invalid(
            "RELIABILITY_TOPOLOGY_MODE",
            "single_region, active_standby or active_active",
            &topology,
        ));
    }
    let region = RegionConfig {
        id: text("RELIABILITY_REGION_ID", &d.region.id),
        topology,
        readiness_only: r.bool("RELIABILITY_REGION_READINESS_ONLY", d.region.readiness_only)?,
    };
    let dc = d.circuit_gmail_oauth;
    let oauth_threshold = r.u32("CIRCUIT_GMAIL_OAUTH_THRESHOLD", dc.threshold)?;
    if oauth_threshold == 0 {
        return Err(invalid(
            "CIRCUIT_GMAIL_OAUTH_THRESHOLD",
            "a positive integer",
            "0",
        ));
    }
    let circuit_gmail_oauth = CircuitConfig {
        threshold: oauth_threshold,
        cooldown: r.positive_ms("CIRCUIT_GMAIL_OAUTH_COOLDOWN_MS", dc.cooldown)?,
    };
    let db = d.bulkhead_gmail_oauth;
    let bulkhead_gmail_oauth = BulkheadConfig {
        max_concurrent: r.u64("BULKHEAD_GMAIL_OAUTH_MAX_CONCURRENT", db.max_concurrent)?,
        lease_ttl: r.positive_ms("BULKHEAD_GMAIL_OAUTH_LEASE_TTL_MS", db.lease_ttl)?,
    };
    let mut tool_circuits = d.tool_circuits;
    let mut tool_bulkheads = d.tool_bulkheads;
    for (i, [threshold, cooldown, max, lease]) in TOOL_PROVIDER_ENVS.iter().enumerate() {
        let dc = d.tool_circuits[i];
        let threshold_value = r.u32(threshold, dc.threshold)?;
        if threshold_value == 0 {
            return Err(invalid(threshold, "a positive integer", "0"));
        }
        tool_circuits[i] = CircuitConfig {
            threshold: threshold_value,
            cooldown: r.positive_ms(cooldown, dc.cooldown)?,
        };
        let db = d.tool_bulkheads[i];
        tool_bulkheads[i] = BulkheadConfig {
            max_concurrent: r.u64(max, db.max_concurrent)?,
            lease_ttl: r.positive_ms(lease, db.lease_ttl)?,
        };
    }
    Ok(SimConfig {
        ops_token: None,
        deploy_key: None,
        rest_ops: r.bool("SIM_REST_OPS", d.rest_ops)?,
        seed: d.seed,
        faults: Vec::new(),
        gmail_verify_token: r.secret("GMAIL_PUBSUB_VERIFY_TOKEN"),
        whatsapp_app_secret: r.secret("WHATSAPP_APP_SECRET"),
        whatsapp_verify_token: r.secret("WHATSAPP_VERIFY_TOKEN"),
        rate_limits,
        circuit_primary: circuit_of(
            "CIRCUIT_OPENROUTER_PRIMARY_THRESHOLD",
            "CIRCUIT_OPENROUTER_PRIMARY_COOLDOWN_MS",
        )?,
        circuit_secondary: circuit_of(
            "CIRCUIT_OPENROUTER_SECONDARY_THRESHOLD",
            "CIRCUIT_OPENROUTER_SECONDARY_COOLDOWN_MS",
        )?,
        bulkhead_primary: bulkhead_of(
            "BULKHEAD_OR_PRI_MAX_CONCURRENT",
            "BULKHEAD_OR_PRI_LEASE_TTL_MS",
        )?,
        bulkhead_secondary: bulkhead_of(
            "BULKHEAD_OR_SEC_MAX_CONCURRENT",
            "BULKHEAD_OR_SEC_LEASE_TTL_MS",
        )?,
        provider_primary: provider_of(
            "CHAT_PROVIDER_PRIMARY_TIMEOUT_MS",
            "CHAT_PROVIDER_PRIMARY_RETRIES",
            d.provider_primary,
        )?,
        provider_secondary: provider_of(
            "CHAT_PROVIDER_SECONDARY_TIMEOUT_MS",
            "CHAT_PROVIDER_SECONDARY_RETRIES",
            d.provider_secondary,
        )?,
        admission,
        flags,
        ops: OpsConfig {
            default_window_minutes: window,
            max_rows_per_section: usize::try_from(rows).unwrap_or(usize::MAX),
        },
        chat_sim: ChatSimConfig {
            ttft: r.ms("SIM_CHAT_TTFT_MS", d.chat_sim.ttft)?,
            tokens: r.u32("SIM_CHAT_TOKENS", d.chat_sim.tokens)?,
            token_gap: r.ms("SIM_CHAT_TOKEN_GAP_MS", d.chat_sim.token_gap)?,
        },
        tool_cache,
        tool_queue,
        tool_circuits,
        tool_bulkheads,
        tool_alerts,
        circuit_default: circuit,
        bulkhead_default: bulkhead,
        sentry_dsn: r.secret("SENTRY_DSN"),
        models,
        region,
        admission_redis,
        circuit_gmail_oauth,
        bulkhead_gmail_oauth,
        bulkhead_sentry_cooldown: r
            .ms("BULKHEAD_SENTRY_COOLDOWN_MS", d.bulkhead_sentry_cooldown)?,
    })
}

/// `TOOL_JOB_RUNMAX_*` per kind: web, product, global.
const TOOL_RUNMAX_ENVS: [&str; 3] = [
    "TOOL_JOB_RUNMAX_WEB",
    "TOOL_JOB_RUNMAX_PROD",
    "TOOL_JOB_RUNMAX_GLOB",
];
/// `TOOL_JOB_RUNMAX_QOS_*`: realtime, interactive, batch.
const TOOL_RUNMAX_QOS_ENVS: [&str; 3] = [
    "TOOL_JOB_RUNMAX_QOS_REALTIME",
    "TOOL_JOB_RUNMAX_QOS_INTERACTIVE",
    "TOOL_JOB_RUNMAX_QOS_BATCH",
];
/// `TOOL_JOB_QMAX_*` per kind.
const TOOL_QMAX_ENVS: [&str; 3] = [
    "TOOL_JOB_QMAX_WEB",
    "TOOL_JOB_QMAX_PROD",
    "TOOL_JOB_QMAX_GLOB",
];
/// Circuit threshold and cooldown, bulkhead size and lease TTL of each tool
/// provider: Serper (web), eBay (product), global search.
const TOOL_PROVIDER_ENVS: [[&str; 4]; 3] = [
    [
        "CIRCUIT_SERPER_THRESHOLD",
        "CIRCUIT_SERPER_COOLDOWN_MS",
        "BULKHEAD_SERPER_MAX_CONCURRENT",
        "BULKHEAD_SERPER_LEASE_TTL_MS",
    ],
    [
        "CIRCUIT_EBAY_THRESHOLD",
        "CIRCUIT_EBAY_COOLDOWN_MS",
        "BULKHEAD_EBAY_MAX_CONCURRENT",
        "BULKHEAD_EBAY_LEASE_TTL_MS",
    ],
    [
        "CIRCUIT_GLOBAL_SEARCH_THRESHOLD",
        "CIRCUIT_GLOBAL_SEARCH_COOLDOWN_MS",
        "BULKHEAD_GLOBAL_SEARCH_MAX_CONCURRENT",
        "BULKHEAD_GLOBAL_SEARCH_LEASE_TTL_MS",
    ],
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from_map(pairs: &[(&str, &str)]) -> Result<SimConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        build(&move |k| map.get(k).cloned())
    }

    #[test]
    fn empty_env_is_default() {
        assert_eq!(from_map(&[]), Ok(SimConfig::default()));
    }

    /// The backend's runtime knobs, as its documentation lists them.
    const BACKEND_KNOBS: &[&str] = &[
        "RATE_LIMIT_CHAT_STREAM_MAX",
        "RATE_LIMIT_CHAT_STREAM_WINDOW_MS",
        "RATE_LIMIT_GMAIL_PUSH_MAX",
        "RATE_LIMIT_GMAIL_PUSH_WINDOW_MS",
        "RATE_LIMIT_WHATSAPP_MAX",
        "RATE_LIMIT_WHATSAPP_WINDOW_MS",
        "RATE_LIMIT_GMAIL_OAUTH_MAX",
        "RATE_LIMIT_GMAIL_OAUTH_WINDOW_MS",
        "RATE_LIMIT_WA_LINK_CODE_MAX",
        "RATE_LIMIT_WA_LINK_CODE_WINDOW_MS",
        "CIRCUIT_OPENROUTER_THRESHOLD",
        "CIRCUIT_OPENROUTER_COOLDOWN_MS",
        "CIRCUIT_OPENROUTER_PRIMARY_THRESHOLD",
        "CIRCUIT_OPENROUTER_PRIMARY_COOLDOWN_MS",
        "CIRCUIT_OPENROUTER_SECONDARY_THRESHOLD",
        "CIRCUIT_OPENROUTER_SECONDARY_COOLDOWN_MS",
        "CIRCUIT_SERPER_THRESHOLD",
        "CIRCUIT_SERPER_COOLDOWN_MS",
        "CIRCUIT_GMAIL_OAUTH_THRESHOLD",
        "CIRCUIT_GMAIL_OAUTH_COOLDOWN_MS",
        "CIRCUIT_EBAY_THRESHOLD",
        "CIRCUIT_EBAY_COOLDOWN_MS",
        "CIRCUIT_GLOBAL_SEARCH_THRESHOLD",
        "CIRCUIT_GLOBAL_SEARCH_COOLDOWN_MS",
        "BULKHEAD_OPENROUTER_MAX_CONCURRENT",
        "BULKHEAD_OPENROUTER_LEASE_TTL_MS",
        "BULKHEAD_OR_PRI_MAX_CONCURRENT",
        "BULKHEAD_OR_PRI_LEASE_TTL_MS",
        "BULKHEAD_OR_SEC_MAX_CONCURRENT",
        "BULKHEAD_OR_SEC_LEASE_TTL_MS",
        "BULKHEAD_SERPER_MAX_CONCURRENT",
        "BULKHEAD_SERPER_LEASE_TTL_MS",
        "BULKHEAD_GMAIL_OAUTH_MAX_CONCURRENT",
        "BULKHEAD_GMAIL_OAUTH_LEASE_TTL_MS",
        "BULKHEAD_EBAY_MAX_CONCURRENT",
        "BULKHEAD_EBAY_LEASE_TTL_MS",
        "BULKHEAD_GLOBAL_SEARCH_MAX_CONCURRENT",
        "BULKHEAD_GLOBAL_SEARCH_LEASE_TTL_MS",
        "BULKHEAD_SENTRY_COOLDOWN_MS",
        "CHAT_PROVIDER_PRIMARY_TIMEOUT_MS",
        "CHAT_PROVIDER_PRIMARY_RETRIES",
        "CHAT_PROVIDER_SECONDARY_TIMEOUT_MS",
        "CHAT_PROVIDER_SECONDARY_RETRIES",
        "CHAT_MODEL_FAST_PRIMARY",
        "CHAT_MODEL_FAST_SECONDARY",
        "CHAT_MODEL_AGENT_PRIMARY",
        "CHAT_MODEL_AGENT_SECONDARY",
        "CHAT_DEFAULT_MODEL_CLASS",
        "RELIABILITY_REGION_ID",
        "RELIABILITY_TOPOLOGY_MODE",
        "RELIABILITY_REGION_READINESS_ONLY",
        "ADMISSION_REDIS_ENABLED",
        "ADMISSION_REDIS_SHADOW_MODE",
        "ADMISSION_REDIS_URL",
        "ADMISSION_REDIS_TOKEN",
        "ADMISSION_REDIS_KEY_PREFIX",
        "ADMISSION_ENFORCE_USER_INFLIGHT",
        "ADMISSION_ENFORCE_GLOBAL_INFLIGHT",
        "ADMISSION_ENFORCE_GLOBAL_MSG_RATE",
        "ADMISSION_ENFORCE_GLOBAL_TOOL_RATE",
        "ADMISSION_USER_MAX_INFLIGHT",
        "ADMISSION_GLOBAL_MAX_INFLIGHT",
        "ADMISSION_GLOBAL_MAX_MSG_PER_SEC",
        "ADMISSION_GLOBAL_MAX_TOOL_PER_SEC",
        "ADMISSION_EST_TOOL_CALLS_PER_MSG",
        "ADMISSION_TICKET_TTL_MS",
        "ADMISSION_RETRY_AFTER_MS",
        "ADMISSION_RETRY_AFTER_JITTER_PCT",
        "ADMISSION_ALLOWED_EVENT_SAMPLE_PCT",
        "FF_CHAT_GATEWAY_ENABLED",
        "FF_CHAT_GATEWAY_SHADOW",
        "FF_ADMISSION_ENFORCE",
        "FF_TOOL_QUEUE_ENFORCE",
        "FF_PROVIDER_FAILOVER_ENABLED",
        "FF_FAIL_CLOSED_ON_REDIS_ERROR",
        "FF_CHAT_GATEWAY_HEALTH_ENABLED",
        "OPS_DEFAULT_WINDOW_MINUTES",
        "OPS_MAX_ROWS_PER_SECTION",
        "TOOL_CACHE_WEB_SEARCH_TTL_MS",
        "TOOL_CACHE_PRODUCT_SEARCH_TTL_MS",
        "TOOL_CACHE_WEB_SEARCH_NAMESPACE_VERSION",
        "TOOL_CACHE_PRODUCTS_NS_VER",
        "TOOL_JOB_MAX_PER_RUN",
        "TOOL_JOB_LEASE_MS",
        "TOOL_JOB_WAIT_MS",
        "TOOL_JOB_POLL_MS",
        "TOOL_JOB_MAX_ATTEMPTS",
        "TOOL_JOB_RETRY_BASE_MS",
        "TOOL_JOB_TTL_MS",
        "TOOL_JOB_CLAIM_SCAN",
        "BULKHEAD_TOOL_JOB_MAX",
        "BULKHEAD_TOOL_JOB_LEASE_MS",
        "TOOL_JOB_RUNMAX_WEB",
        "TOOL_JOB_RUNMAX_PROD",
        "TOOL_JOB_RUNMAX_GLOB",
        "TOOL_JOB_RUNMAX_QOS_REALTIME",
        "TOOL_JOB_RUNMAX_QOS_INTERACTIVE",
        "TOOL_JOB_RUNMAX_QOS_BATCH",
        "TOOL_JOB_QMAX_WEB",
        "TOOL_JOB_QMAX_PROD",
        "TOOL_JOB_QMAX_GLOB",
        "TOOL_JOB_DLQ_TTL_MS",
        "TOOL_QUEUE_ALERTS_ENABLED",
        "TOOL_QUEUE_ALERT_WINDOW_MIN",
        "TOOL_QUEUE_ALERT_COOLDOWN_MS",
        "TOOL_QUEUE_ALERT_MAX_QUEUED",
        "TOOL_QUEUE_ALERT_MAX_DLQ",
        "TOOL_QUEUE_ALERT_MAX_QUEUED_AGE_MS",
        "TOOL_QUEUE_ALERT_MAX_RUNNING_AGE_MS",
        "TOOL_QUEUE_SENTRY_DSN",
        "SENTRY_DSN",
    ];

    #[test]
    fn every_backend_knob_is_a_flag_and_in_the_snapshot() {
        let knobs = SimConfig::default().knob_values();
        for name in BACKEND_KNOBS {
            assert!(knobs.contains_key(*name), "{name}: not in the snapshot");
            assert!(KNOB_ENV_NAMES.contains(name), "{name}: no flag");
        }
        assert_eq!(BACKEND_KNOBS.len(), 111);
    }

    /// The knobs listed under "Runtime Reliability Knobs" in the backend's
    /// load-drill README.
    fn knobs_of_readme(text: &str) -> Vec<String> {
        let section = text
            .split("\n## ")
            .find(|s| s.starts_with("Runtime Reliability Knobs"))
            .unwrap_or_default();
        let mut names: Vec<String> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn the_knob_list_is_the_backend_readmes() {
        let path = std::env::var_os("RELHOST_SEED_README")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../shared/seed/load-drills-README.md")
            });
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!(
                "skipped: the backend's README is not at {} (set RELHOST_SEED_README)",
                path.display()
            );
            return;
        };
        let mut ours: Vec<String> = BACKEND_KNOBS.iter().map(|k| (*k).to_owned()).collect();
        ours.sort();
        assert_eq!(knobs_of_readme(&text), ours);
    }

    #[test]
    fn reads_the_knob_section_of_a_readme() {
        let text = "# x\n`NOT_THIS`\n## Runtime Reliability Knobs (env)\n\n- `A_B`, `C_1` (defaults to `A_B`)\n- `lower`\n## Next\n`D`";
        assert_eq!(knobs_of_readme(text), ["A_B", "C_1"]);
    }

    #[test]
    fn reads_typed_knobs() {
        let cfg = from_map(&[
            ("RATE_LIMIT_WHATSAPP_MAX", "3"),
            ("RATE_LIMIT_WHATSAPP_WINDOW_MS", "1500"),
            ("CIRCUIT_OPENROUTER_THRESHOLD", "7"),
            ("CIRCUIT_OPENROUTER_SECONDARY_THRESHOLD", "2"),
            ("FF_PROVIDER_FAILOVER_ENABLED", "false"),
            ("ADMISSION_RETRY_AFTER_JITTER_PCT", "12.5"),
            ("WHATSAPP_APP_SECRET", "s3cret"),
            ("OPS_MAX_ROWS_PER_SECTION", " 5 "),
        ])
        .expect("valid");
        assert_eq!(cfg.rate_limits.whatsapp.max, 3);
        assert_eq!(cfg.rate_limits.whatsapp.window, Duration::from_millis(1500));
        assert_eq!(cfg.circuit_primary.threshold, 7);
        assert_eq!(cfg.circuit_secondary.threshold, 2);
        assert!(!cfg.flags.provider_failover_enabled);
        assert_eq!(cfg.admission.retry_after_jitter_pct, 12.5);
        assert_eq!(cfg.whatsapp_app_secret.as_deref(), Some("s3cret"));
        assert_eq!(cfg.ops.max_rows_per_section, 5);
        let knobs = cfg.knob_values();
        assert_eq!(knobs["WHATSAPP_APP_SECRET"], "<set>");
        assert_eq!(knobs["RATE_LIMIT_WHATSAPP_MAX"], 3);
    }

    #[test]
    fn errors_name_the_variable_and_flag() {
        let err = from_map(&[("RATE_LIMIT_CHAT_STREAM_MAX", "lots")]).expect_err("invalid");
        let msg = err.to_string();
        assert!(msg.contains("RATE_LIMIT_CHAT_STREAM_MAX"), "{msg}");
        assert!(msg.contains("--rate-limit-chat-stream-max"), "{msg}");
        assert!(msg.contains("non-negative integer"), "{msg}");
        let err = from_map(&[("FF_ADMISSION_ENFORCE", "maybe")]).expect_err("invalid");
        assert!(err.to_string().contains("true or false"));
        let err = from_map(&[("OPS_DEFAULT_WINDOW_MINUTES", "0")]).expect_err("invalid");
        assert!(err.to_string().contains("1 to 60"));
        let err = from_map(&[("RATE_LIMIT_WHATSAPP_WINDOW_MS", "0")]).expect_err("invalid");
        assert!(err.to_string().contains("positive"));
        let err = from_map(&[("CHAT_DEFAULT_MODEL_CLASS", "huge")]).expect_err("invalid");
        assert!(err.to_string().contains("fast or agent"));
        let err = from_map(&[("RELIABILITY_TOPOLOGY_MODE", "everywhere")]).expect_err("invalid");
        assert!(err.to_string().contains("active_standby"));
        let err = from_map(&[("TOOL_QUEUE_ALERT_WINDOW_MIN", "0")]).expect_err("invalid");
        assert!(err.to_string().contains("minutes"));
    }

    #[test]
    fn args_parse_flags_and_faults() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: SimArgs,
        }
        let cli = Cli::try_parse_from([
            "sim",
            "--listen=127.0.0.1:9",
            "--seed=abc",
            "--fault=chat:latency=200ms,jitter=50ms",
            "--fault",
            "whatsapp:error_rate=0.5,status=503",
            "--rate-limit-chat-stream-max=4",
        ])
        .expect("parses");
        assert_eq!(cli.args.listen().port(), 9);
        let cfg = cli.args.into_config().expect("valid");
        assert_eq!(cfg.faults.len(), 2);
        assert_eq!(cfg.seed, crate::rng::fnv1a("abc"));
        assert_eq!(cfg.rate_limits.chat_stream.max, 4);

        let cli = Cli::try_parse_from(["sim", "--fault=chat:explode=1"]).expect("parses");
        let err = cli.args.into_config().expect_err("bad fault");
        let msg = err.to_string();
        assert!(msg.contains("--fault"), "{msg}");
        assert!(msg.contains("latency"), "{msg}");
    }

    #[test]
    fn every_knob_has_a_flag_name() {
        assert!(KNOB_ENV_NAMES.len() >= 40);
        for env in KNOB_ENV_NAMES {
            assert!(!flag_of(env).contains('_'));
        }
    }
}
