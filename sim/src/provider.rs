//! The simulated model providers (primary and secondary), each behind its
//! circuit breaker and bulkhead, with the routing knobs (timeout, retries).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{BulkheadConfig, CircuitConfig, ProviderConfig};
use crate::faults::{OutageMode, OutageProvider};
use crate::resilience::bulkhead::{Bulkhead, Lease};
use crate::resilience::circuit::{Circuit, Permit};

/// Which provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProviderKind {
    Primary,
    Secondary,
}

impl ProviderKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ProviderKind::Primary => "primary",
            ProviderKind::Secondary => "secondary",
        }
    }
}

/// Why a provider call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Error,
    Timeout,
}

impl Failure {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Failure::Error => "error",
            Failure::Timeout => "timeout",
        }
    }
}

/// Why a provider could not be called at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    CircuitOpen,
    BulkheadFull,
}

impl Unavailable {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Unavailable::CircuitOpen => "circuit_open",
            Unavailable::BulkheadFull => "bulkhead_full",
        }
    }
}

/// A reserved call: a circuit permit and a bulkhead lease.
#[derive(Debug)]
pub(crate) struct Reserved {
    pub(crate) permit: Option<Permit>,
    /// Held for the call; released on drop.
    pub(crate) _lease: Lease,
}

/// A simulated provider.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) kind: ProviderKind,
    pub(crate) cfg: ProviderConfig,
    pub(crate) circuit: Arc<Circuit>,
    pub(crate) bulkhead: Arc<Bulkhead>,
}

impl Provider {
    pub(crate) fn new(
        kind: ProviderKind,
        cfg: ProviderConfig,
        circuit: CircuitConfig,
        bulkhead: BulkheadConfig,
    ) -> Self {
        Self {
            kind,
            cfg,
            circuit: Circuit::new(circuit),
            bulkhead: Bulkhead::new(bulkhead),
        }
    }

    /// Reserves a call; the `u64` is the number of expired leases reclaimed.
    pub(crate) fn reserve(&self) -> Result<(Reserved, u64), (Unavailable, u64)> {
        let permit = self
            .circuit
            .try_acquire()
            .ok_or((Unavailable::CircuitOpen, 0))?;
        match self.bulkhead.try_acquire() {
            Ok((lease, expired)) => Ok((
                Reserved {
                    permit: Some(permit),
                    _lease: lease,
                },
                expired,
            )),
            // Dropping the permit frees a half-open probe slot.
            Err(full) => Err((Unavailable::BulkheadFull, full.expired)),
        }
    }

    /// Whether an outage fault takes this provider down, and how.
    pub(crate) fn outage(
        &self,
        outage: Option<(OutageProvider, OutageMode)>,
    ) -> Option<OutageMode> {
        let (which, mode) = outage?;
        let hit = matches!(
            (which, self.kind),
            (OutageProvider::Both, _)
                | (OutageProvider::Primary, ProviderKind::Primary)
                | (OutageProvider::Secondary, ProviderKind::Secondary)
        );
        hit.then_some(mode)
    }

    /// Waits for the first token (`ttft`), within the provider timeout.
    pub(crate) async fn first_token(
        &self,
        ttft: Duration,
        outage: Option<(OutageProvider, OutageMode)>,
    ) -> Result<(), Failure> {
        match self.outage(outage) {
            Some(OutageMode::Error) => {
                tokio::task::yield_now().await;
                Err(Failure::Error)
            }
            Some(OutageMode::Hang) => {
                tokio::time::sleep(self.cfg.timeout).await;
                Err(Failure::Timeout)
            }
            None if ttft > self.cfg.timeout => {
                tokio::time::sleep(self.cfg.timeout).await;
                Err(Failure::Timeout)
            }
            None => {
                tokio::time::sleep(ttft).await;
                Ok(())
            }
        }
    }
}
