//! Runs tool jobs: every poll interval the runner takes back lost leases,
//! claims runnable jobs and calls each one's provider (Serper, eBay, global
//! search) through the provider's circuit and bulkhead, with the faults of
//! its fault endpoint (`serper:provider_outage=primary`, latency, errors);
//! once a second it checks the tool-queue alerts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::{BulkheadConfig, CircuitConfig};
use crate::faults::{FaultEndpoint, OutageMode};
use crate::resilience::bulkhead::Bulkhead;
use crate::resilience::circuit::Circuit;
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
    /// the call for `hang` (the job's lease), then fails it.
    async fn call(&self, state: &SimState, latency: Duration, hang: Duration) -> bool {
        let stats = &state.stats;
        let Some(permit) = self.circuit.try_acquire() else {
            stats.count(("tool_provider", self.name, "circuit_open"), 1);
            return false;
        };
        let _lease = match self.bulkhead.try_acquire() {
            Ok((lease, _)) => lease,
            Err(_) => {
                stats.count(("bulkhead", self.name, "rejected"), 1);
                return false;
            }
        };
        let mut delay = latency;
        let mut failed = false;
        let mut hangs = false;
        if let Some(d) = state.faults.decide(self.endpoint) {
            for kind in d.fired.names() {
                stats.count(("fault", self.endpoint.name(), kind), 1);
            }
            delay += d.delay;
            failed = d.reset || d.error_status.is_some();
            match d.outage {
                Some((_, OutageMode::Hang)) => hangs = true,
                Some((_, OutageMode::Error)) => failed = true,
                None => {}
            }
        }
        tokio::time::sleep(if hangs { hang } else { delay }).await;
        let outcome = if failed || hangs {
            if self.circuit.failure(permit) {
                stats.count(("circuit", self.name, "opened"), 1);
            }
            if hangs { "timeout" } else { "error" }
        } else {
            self.circuit.success(permit);
            "ok"
        };
        stats.count(("tool_provider", self.name, outcome), 1);
        outcome == "ok"
    }
}

/// Claims and runs tool jobs until `shutdown` turns true.
pub(crate) async fn run(state: Arc<SimState>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(state.tool_queue.config().poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
        if state.tool_alerts.due(now) {
            let window = state.cfg.tool_alerts.window;
            let figures = state.tool_queue.alert_figures(now, window);
            let events = state.tool_alerts.check(&figures, now);
            if !events.is_empty() {
                let state = Arc::clone(&state);
                tokio::spawn(async move { state.tool_alerts.send(events).await });
            }
        }
    }
}

async fn run_job(state: Arc<SimState>, claim: Claim) {
    let cfg = *state.tool_queue.config();
    let provider = &state.tool_providers[claim.kind.index()];
    let ok = provider.call(&state, cfg.provider_latency, cfg.lease).await;
    state.tool_queue.finish(claim.id, ok, Instant::now());
}
