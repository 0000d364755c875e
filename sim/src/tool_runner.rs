//! Runs tool jobs: every poll interval the runner takes back lost leases,
//! claims runnable jobs and calls each one's provider (Serper, eBay, global
//! search) through the provider's circuit and bulkhead, with the faults of
//! its fault endpoint (`serper:provider_outage=primary`, latency, errors),
//! and reports a full tool-job bulkhead; once a second it checks the
//! tool-queue alerts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::{BulkheadConfig, CircuitConfig};
use crate::faults::{DependencyAnswer, FaultEndpoint};
use crate::resilience::bulkhead::Bulkhead;
use crate::resilience::circuit::{Circuit, CircuitState};
use crate::state::SimState;
use crate::tool_queue::{Claim, ToolKind};

/// A tool provider with its circuit and bulkhead.
#[derive(Debug)]
pub(crate) struct ToolProvider {
    /// `serper`, `ebay` or `global_search`.
    pub(crate) name: &'static str,
    endpoint: FaultEndpoint,
    pub(crate) circuit: Arc<Circuit>,
    pub(crate) bulkhead: Arc<Bulkhead>,
}

impl ToolProvider {
    /// The provider of each tool kind, in kind order.
    pub(crate) fn all(
        circuits: [CircuitConfig; 3],
        bulkheads: [BulkheadConfig; 3],
    ) -> [ToolProvider; 3] {
        ToolKind::ALL.map(|kind| {
            let (name, endpoint) = match kind {
                ToolKind::Web => ("serper", FaultEndpoint::Serper),
                ToolKind::Product => ("ebay", FaultEndpoint::Ebay),
                ToolKind::Global => ("global_search", FaultEndpoint::GlobalSearch),
            };
            ToolProvider {
                name,
                endpoint,
                circuit: Circuit::new(circuits[kind.index()]),
                bulkhead: Bulkhead::new(bulkheads[kind.index()]),
            }
        })
    }

    /// One call: whether the provider answered. A hanging provider holds
    /// the call for `hang` (the job's lease), then fails it. A health
    /// `probe` is counted apart from jobs' calls.
    async fn call(&self, state: &SimState, latency: Duration, hang: Duration, probe: bool) -> bool {
        let stats = &state.stats;
        let section = if probe { "tool_probe" } else { "tool_provider" };
        let Some(permit) = self.circuit.try_acquire() else {
            if !probe {
                stats.count((section, self.name, "circuit_open"), 1);
            }
            return false;
        };
        let _lease = match self.bulkhead.try_acquire() {
            Ok((lease, _)) => lease,
            Err(_) => {
                stats.count(("bulkhead", self.name, "rejected"), 1);
                state
                    .bulkhead_alerts
                    .saturated(self.name, self.bulkhead.max_concurrent());
                return false;
            }
        };
        let answer = state
            .faults
            .call_dependency(self.endpoint, stats, latency, hang)
            .await;
        let outcome = match answer {
            DependencyAnswer::Ok => {
                self.circuit.success(permit);
                "ok"
            }
            DependencyAnswer::Error | DependencyAnswer::Hang => {
                if self.circuit.failure(permit) {
                    stats.count(("circuit", self.name, "opened"), 1);
                }
                if answer == DependencyAnswer::Hang {
                    "timeout"
                } else {
                    "error"
                }
            }
        };
        stats.count((section, self.name, outcome), 1);
        outcome == "ok"
    }
}

/// Claims and runs tool jobs until `shutdown` turns true. Once a second it
/// also checks the alerts and probes each tool provider whose circuit is
/// open (the probe is the half-open call once the cooldown has passed), so
/// a circuit closes after an outage even when no job is waiting.
pub(crate) async fn run(state: Arc<SimState>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(state.tool_queue.config().poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_probe = Instant::now();
    let mut bulkhead_rejections = 0;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        state.tool_queue.sweep(now);
        for claim in state.tool_queue.claim(now) {
            tokio::spawn(run_job(Arc::clone(&state), claim));
        }
        let (rejections, max) = state.tool_queue.bulkhead_rejections();
        if rejections > bulkhead_rejections {
            bulkhead_rejections = rejections;
            state.bulkhead_alerts.saturated("tool_job", max);
        }
        if now.duration_since(last_probe) >= Duration::from_secs(1) {
            last_probe = now;
            for kind in ToolKind::ALL {
                if state.tool_providers[kind.index()].circuit.view().state == CircuitState::Open {
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let cfg = *state.tool_queue.config();
                        let provider = &state.tool_providers[kind.index()];
                        provider
                            .call(&state, cfg.provider_latency, cfg.lease, true)
                            .await;
                    });
                }
            }
        }
        if state.tool_alerts.due(now) {
            let window = state.cfg.tool_alerts.window;
            let figures = state.tool_queue.alert_figures(now, window);
            let events = state.tool_alerts.check(&figures, now);
            state.tool_alerts.send_later(events);
        }
    }
}

async fn run_job(state: Arc<SimState>, claim: Claim) {
    let cfg = *state.tool_queue.config();
    let provider = &state.tool_providers[claim.kind.index()];
    let ok = provider
        .call(&state, cfg.provider_latency, cfg.lease, false)
        .await;
    state.tool_queue.finish(claim.id, ok, Instant::now());
}
