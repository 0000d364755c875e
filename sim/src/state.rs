//! The shared state of a running sim.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth_store::AuthStore;
use crate::bulkhead_alerts::BulkheadAlerts;
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::faults::{DependencyAnswer, FaultEndpoint};
use crate::linking::Linking;
use crate::provider::{Provider, ProviderKind};
use crate::resilience::admission::{Admission, StoreMode};
use crate::resilience::rate_limit::RateLimiter;
use crate::stats::Stats;
use crate::tool_alerts::ToolAlerts;
use crate::tool_cache::ToolCache;
use crate::tool_queue::ToolQueue;
use crate::tool_runner::ToolProvider;

/// How long a command to the admission store may take before the client
/// gives up (a hanging `redis` outage).
pub(crate) const REDIS_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Everything a request handler needs.
#[derive(Debug)]
pub(crate) struct SimState {
    pub(crate) cfg: SimConfig,
    pub(crate) ops_token: String,
    /// Admin key of the function API.
    pub(crate) deploy_key: String,
    pub(crate) tool_cache: ToolCache,
    pub(crate) tool_queue: ToolQueue,
    pub(crate) tool_alerts: ToolAlerts,
    /// Serper, eBay, global search: in tool-kind order.
    pub(crate) tool_providers: [ToolProvider; 3],
    pub(crate) auth: AuthStore,
    pub(crate) stats: Stats,
    pub(crate) faults: Faults,
    pub(crate) rl_chat: RateLimiter,
    pub(crate) rl_gmail: RateLimiter,
    pub(crate) rl_whatsapp: RateLimiter,
    pub(crate) primary: Provider,
    pub(crate) secondary: Provider,
    pub(crate) admission: Arc<Admission>,
    /// Gmail OAuth and WhatsApp link codes.
    pub(crate) linking: Linking,
    /// Saturated bulkheads reported to Sentry.
    pub(crate) bulkhead_alerts: BulkheadAlerts,
    /// The keyed HMAC of `WHATSAPP_APP_SECRET`, cloned per request.
    pub(crate) whatsapp_mac: Option<Hmac<Sha256>>,
    pub(crate) started: Instant,
    pub(crate) started_at: SystemTime,
}

impl SimState {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        let ops_token = cfg
            .ops_token
            .clone()
            .unwrap_or_else(|| format!("ops_{}", crate::rng::random_hex(16)));
        // A generated key has no `prod:NAME|` prefix, so no client mistakes
        // it for a key that names a Convex cloud deployment.
        let deploy_key = cfg
            .deploy_key
            .clone()
            .unwrap_or_else(|| format!("relhost-sim|{}", crate::rng::random_hex(24)));
        let whatsapp_mac = cfg
            .whatsapp_app_secret
            .as_deref()
            .and_then(|s| Hmac::<Sha256>::new_from_slice(s.as_bytes()).ok());
        Self {
            ops_token,
            deploy_key,
            tool_cache: ToolCache::new(cfg.tool_cache, cfg.seed),
            tool_queue: ToolQueue::new(cfg.tool_queue),
            tool_alerts: ToolAlerts::new(cfg.tool_alerts.clone()),
            tool_providers: ToolProvider::all(cfg.tool_circuits, cfg.tool_bulkheads),
            auth: AuthStore::default(),
            stats: Stats::new(),
            faults: Faults::new(cfg.seed, cfg.faults.clone()),
            rl_chat: RateLimiter::new(cfg.rate_limits.chat_stream),
            rl_gmail: RateLimiter::new(cfg.rate_limits.gmail_push),
            rl_whatsapp: RateLimiter::new(cfg.rate_limits.whatsapp),
            primary: Provider::new(
                ProviderKind::Primary,
                cfg.provider_primary,
                cfg.circuit_primary,
                cfg.bulkhead_primary,
            ),
            secondary: Provider::new(
                ProviderKind::Secondary,
                cfg.provider_secondary,
                cfg.circuit_secondary,
                cfg.bulkhead_secondary,
            ),
            admission: Admission::new(
                cfg.admission,
                &cfg.admission_redis,
                cfg.flags.admission_enforce,
                cfg.flags.fail_closed_on_redis_error,
                cfg.seed,
            ),
            linking: Linking::new(&cfg),
            bulkhead_alerts: BulkheadAlerts::new(
                cfg.bulkhead_sentry_cooldown,
                cfg.sentry_dsn.as_deref(),
            ),
            whatsapp_mac,
            started: Instant::now(),
            started_at: SystemTime::now(),
            cfg,
        }
    }

    /// One round trip to the admission store, with the `redis` faults:
    /// whether it answered. Latency delays it; an error, a reset or an
    /// outage fails it; a hanging outage fails it after
    /// [`REDIS_COMMAND_TIMEOUT`]. Always true without a store.
    pub(crate) async fn reach_admission_store(&self) -> bool {
        if self.admission.mode() == StoreMode::Memory {
            return true;
        }
        let answer = self
            .faults
            .call_dependency(
                FaultEndpoint::Redis,
                &self.stats,
                std::time::Duration::ZERO,
                REDIS_COMMAND_TIMEOUT,
            )
            .await;
        answer == DependencyAnswer::Ok
    }

    pub(crate) fn provider(&self, kind: ProviderKind) -> &Provider {
        match kind {
            ProviderKind::Primary => &self.primary,
            ProviderKind::Secondary => &self.secondary,
        }
    }
}
