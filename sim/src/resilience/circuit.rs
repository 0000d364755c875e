//! Circuit breaker per provider: closed → open after `threshold`
//! consecutive failures → half-open after `cooldown` (one probe) → closed on
//! success, open again on failure. Transitions are kept, timestamped, for
//! the snapshot.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::lock;
use crate::config::CircuitConfig;

const KEEP_TRANSITIONS: usize = 1_000;

/// State of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// One state change.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub(crate) from: CircuitState,
    pub(crate) to: CircuitState,
    pub(crate) at: SystemTime,
    pub(crate) at_instant: Instant,
}

#[derive(Debug)]
struct Inner {
    state: CircuitState,
    failures: u32,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
    transitions: VecDeque<Transition>,
}

/// A circuit breaker.
#[derive(Debug)]
pub(crate) struct Circuit {
    cfg: CircuitConfig,
    inner: Mutex<Inner>,
}

/// Permission to call the provider; report the outcome with
/// [`Circuit::success`] or [`Circuit::failure`]. Dropping an unreported
/// probe frees the half-open slot.
#[derive(Debug)]
pub(crate) struct Permit {
    circuit: Arc<Circuit>,
    probe: bool,
    reported: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            lock(&self.circuit.inner).probe_in_flight = false;
        }
    }
}

/// A circuit's state as the snapshot shows it.
#[derive(Debug, Clone)]
pub(crate) struct CircuitView {
    pub(crate) state: CircuitState,
    pub(crate) consecutive_failures: u32,
    pub(crate) threshold: u32,
    pub(crate) cooldown_ms: u64,
    pub(crate) transitions: Vec<Transition>,
}

impl Inner {
    fn move_to(&mut self, to: CircuitState, now: Instant) {
        if self.state == to {
            return;
        }
        let wall = SystemTime::now();
        self.transitions.push_back(Transition {
            from: self.state,
            to,
            at: wall,
            at_instant: now,
        });
        if self.transitions.len() > KEEP_TRANSITIONS {
            self.transitions.pop_front();
        }
        self.state = to;
    }
}

impl Circuit {
    pub(crate) fn new(cfg: CircuitConfig) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            inner: Mutex::new(Inner {
                state: CircuitState::Closed,
                failures: 0,
                opened_at: None,
                probe_in_flight: false,
                transitions: VecDeque::new(),
            }),
        })
    }

    /// A permit, or `None` while open (or while a half-open probe runs).
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        self.try_acquire_at(Instant::now())
    }

    fn try_acquire_at(self: &Arc<Self>, now: Instant) -> Option<Permit> {
        let mut g = lock(&self.inner);
        let probe = match g.state {
            CircuitState::Closed => false,
            CircuitState::Open => {
                let cooled = g
                    .opened_at
                    .is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.cooldown);
                if !cooled {
                    return None;
                }
                g.move_to(CircuitState::HalfOpen, now);
                g.probe_in_flight = true;
                true
            }
            CircuitState::HalfOpen => {
                if g.probe_in_flight {
                    return None;
                }
                g.probe_in_flight = true;
                true
            }
        };
        Some(Permit {
            circuit: Arc::clone(self),
            probe,
            reported: false,
        })
    }

    /// The call succeeded.
    pub(crate) fn success(&self, mut permit: Permit) {
        permit.reported = true;
        let now = Instant::now();
        let mut g = lock(&self.inner);
        g.failures = 0;
        if permit.probe {
            g.probe_in_flight = false;
        }
        if g.state != CircuitState::Closed {
            g.move_to(CircuitState::Closed, now);
            g.opened_at = None;
        }
    }

    /// The call failed; returns true if the circuit is now open.
    pub(crate) fn failure(&self, permit: Permit) -> bool {
        self.failure_at(permit, Instant::now())
    }

    fn failure_at(&self, mut permit: Permit, now: Instant) -> bool {
        permit.reported = true;
        let mut g = lock(&self.inner);
        g.failures = g.failures.saturating_add(1);
        if permit.probe {
            g.probe_in_flight = false;
        }
        let open = match g.state {
            CircuitState::HalfOpen => true,
            CircuitState::Closed => g.failures >= self.cfg.threshold,
            CircuitState::Open => true,
        };
        if open {
            g.move_to(CircuitState::Open, now);
            g.opened_at = Some(now);
        }
        open
    }

    /// The state now (an open circuit past its cooldown shows as open until
    /// the next call probes it).
    pub(crate) fn view(&self) -> CircuitView {
        let g = lock(&self.inner);
        CircuitView {
            state: g.state,
            consecutive_failures: g.failures,
            threshold: self.cfg.threshold,
            cooldown_ms: self.cfg.cooldown.as_millis() as u64,
            transitions: g.transitions.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn circuit(threshold: u32, cooldown_ms: u64) -> Arc<Circuit> {
        Circuit::new(CircuitConfig {
            threshold,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_threshold_and_recovers_through_half_open() {
        let c = circuit(3, 100);
        let t0 = Instant::now();
        for i in 0..3 {
            let p = c.try_acquire_at(t0).expect("closed");
            assert_eq!(c.failure_at(p, t0), i == 2);
        }
        assert_eq!(c.view().state, CircuitState::Open);
        assert!(c.try_acquire_at(t0 + Duration::from_millis(50)).is_none());
        // Cooldown passed: one probe at a time.
        let probe = c
            .try_acquire_at(t0 + Duration::from_millis(100))
            .expect("probe");
        assert_eq!(c.view().state, CircuitState::HalfOpen);
        assert!(c.try_acquire_at(t0 + Duration::from_millis(100)).is_none());
        c.success(probe);
        let v = c.view();
        assert_eq!(v.state, CircuitState::Closed);
        let path: Vec<_> = v.transitions.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            path,
            vec![
                (CircuitState::Closed, CircuitState::Open),
                (CircuitState::Open, CircuitState::HalfOpen),
                (CircuitState::HalfOpen, CircuitState::Closed),
            ]
        );
    }

    #[test]
    fn failed_probe_reopens() {
        let c = circuit(1, 10);
        let t0 = Instant::now();
        let p = c.try_acquire_at(t0).expect("closed");
        assert!(c.failure_at(p, t0));
        let t1 = t0 + Duration::from_millis(10);
        let probe = c.try_acquire_at(t1).expect("probe");
        assert!(c.failure_at(probe, t1));
        assert_eq!(c.view().state, CircuitState::Open);
        assert!(c.try_acquire_at(t1 + Duration::from_millis(5)).is_none());
    }

    #[test]
    fn success_resets_the_failure_count() {
        let c = circuit(2, 10);
        let p = c.try_acquire().expect("closed");
        assert!(!c.failure(p));
        let p = c.try_acquire().expect("closed");
        c.success(p);
        let p = c.try_acquire().expect("closed");
        assert!(!c.failure(p));
        assert_eq!(c.view().state, CircuitState::Closed);
    }

    #[test]
    fn dropped_probe_frees_the_slot() {
        let c = circuit(1, 0);
        let p = c.try_acquire().expect("closed");
        c.failure(p);
        let probe = c.try_acquire().expect("probe");
        drop(probe);
        assert!(c.try_acquire().is_some());
    }
}
