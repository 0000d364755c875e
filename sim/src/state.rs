//! The shared state of a running sim.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth_store::AuthStore;
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::provider::{Provider, ProviderKind};
use crate::resilience::admission::Admission;
use crate::resilience::rate_limit::RateLimiter;
use crate::stats::Stats;
use crate::tool_alerts::ToolAlerts;
use crate::tool_cache::ToolCache;
use crate::tool_queue::ToolQueue;
use crate::tool_runner::ToolProvider;

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
            admission: Admission::new(cfg.admission, cfg.flags.admission_enforce, cfg.seed),
            whatsapp_mac,
            started: Instant::now(),
            started_at: SystemTime::now(),
            cfg,
        }
    }

    pub(crate) fn provider(&self, kind: ProviderKind) -> &Provider {
        match kind {
            ProviderKind::Primary => &self.primary,
            ProviderKind::Secondary => &self.secondary,
        }
    }
}
