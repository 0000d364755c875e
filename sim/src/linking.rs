//! Account linking: the Gmail OAuth flow and WhatsApp link codes.
//!
//! `GET /api/gmail/oauth/start` issues a single-use `state` (valid for
//! [`STATE_TTL`]) and answers Google's authorization URL;
//! `GET /api/gmail/oauth/callback?code&state` exchanges the code at
//! Google's token endpoint, a dependency behind the `GMAIL_OAUTH` circuit
//! and bulkhead that takes [`TOKEN_EXCHANGE_LATENCY`] and fails as the
//! `gmail_oauth` faults say. `POST /api/whatsapp/link-code` issues an
//! 8-digit code that links a WhatsApp number to the user, valid for
//! [`LINK_CODE_TTL`]. Both flows are rate-limited per user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::SimConfig;
use crate::faults::{DependencyAnswer, FaultEndpoint, Faults};
use crate::resilience::bulkhead::Bulkhead;
use crate::resilience::circuit::Circuit;
use crate::resilience::lock;
use crate::resilience::rate_limit::RateLimiter;
use crate::stats::Stats;

/// How long an OAuth `state` may wait for its callback.
pub(crate) const STATE_TTL: Duration = Duration::from_secs(600);
/// How long a WhatsApp link code stays valid.
pub(crate) const LINK_CODE_TTL: Duration = Duration::from_secs(600);
/// Time Google's token endpoint takes to answer.
pub(crate) const TOKEN_EXCHANGE_LATENCY: Duration = Duration::from_millis(15);
/// A hanging token endpoint is given up after this.
const TOKEN_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a token exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExchangeError {
    /// The circuit is open: no call was made.
    CircuitOpen,
    /// The bulkhead is full: no call was made.
    BulkheadFull,
    /// Google answered an error.
    Failed,
    /// Google did not answer in time.
    Timeout,
}

impl ExchangeError {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExchangeError::CircuitOpen => "circuit_open",
            ExchangeError::BulkheadFull => "bulkhead_full",
            ExchangeError::Failed => "error",
            ExchangeError::Timeout => "timeout",
        }
    }
}

/// Issued codes or states kept before expired ones are dropped.
const PURGE_ABOVE: usize = 4_096;

/// Codes or states issued to users, each valid until its deadline.
#[derive(Debug, Default)]
struct Issued {
    by_value: HashMap<String, (u32, Instant)>,
}

impl Issued {
    fn insert(&mut self, value: String, user: u32, deadline: Instant, now: Instant) {
        // Expired entries are dropped when the map grows, not on every insert.
        if self.by_value.len() >= PURGE_ABOVE {
            self.by_value.retain(|_, (_, d)| *d > now);
        }
        self.by_value.insert(value, (user, deadline));
    }

    /// Takes a value once; `None` when unknown or expired.
    fn take(&mut self, value: &str, now: Instant) -> Option<u32> {
        let (user, deadline) = self.by_value.remove(value)?;
        (deadline > now).then_some(user)
    }

    fn live(&self, now: Instant) -> usize {
        self.by_value.values().filter(|(_, d)| *d > now).count()
    }
}

/// The linking flows' state.
#[derive(Debug)]
pub(crate) struct Linking {
    pub(crate) rl_oauth: RateLimiter,
    pub(crate) rl_link_code: RateLimiter,
    pub(crate) circuit: Arc<Circuit>,
    pub(crate) bulkhead: Arc<Bulkhead>,
    states: Mutex<Issued>,
    link_codes: Mutex<Issued>,
}

impl Linking {
    pub(crate) fn new(cfg: &SimConfig) -> Self {
        Self {
            rl_oauth: RateLimiter::new(cfg.rate_limits.gmail_oauth),
            rl_link_code: RateLimiter::new(cfg.rate_limits.wa_link_code),
            circuit: Circuit::new(cfg.circuit_gmail_oauth),
            bulkhead: Bulkhead::new(cfg.bulkhead_gmail_oauth),
            states: Mutex::new(Issued::default()),
            link_codes: Mutex::new(Issued::default()),
        }
    }

    /// A new OAuth `state` for `user`.
    pub(crate) fn issue_state(&self, user: u32) -> String {
        let state = crate::rng::random_hex(16);
        let now = Instant::now();
        lock(&self.states).insert(state.clone(), user, now + STATE_TTL, now);
        state
    }

    /// The user who started the flow of `state` (once).
    pub(crate) fn redeem_state(&self, state: &str) -> Option<u32> {
        lock(&self.states).take(state, Instant::now())
    }

    /// A new 8-digit link code for `user`.
    pub(crate) fn issue_link_code(&self, user: u32) -> String {
        let code = format!("{:08}", crate::rng::os_random_u64() % 100_000_000);
        let now = Instant::now();
        lock(&self.link_codes).insert(code.clone(), user, now + LINK_CODE_TTL, now);
        code
    }

    /// Flows started and codes issued that are still valid.
    pub(crate) fn live(&self) -> (usize, usize) {
        let now = Instant::now();
        (
            lock(&self.states).live(now),
            lock(&self.link_codes).live(now),
        )
    }

    /// Exchanges an authorization code at Google through the circuit and
    /// the bulkhead, with the `gmail_oauth` faults.
    pub(crate) async fn exchange(
        &self,
        faults: &Faults,
        stats: &Stats,
    ) -> Result<(), ExchangeError> {
        let permit = self
            .circuit
            .try_acquire()
            .ok_or(ExchangeError::CircuitOpen)?;
        let _lease = self
            .bulkhead
            .try_acquire()
            .map_err(|_| ExchangeError::BulkheadFull)?;
        let answer = faults
            .call_dependency(
                FaultEndpoint::GmailOauth,
                stats,
                TOKEN_EXCHANGE_LATENCY,
                TOKEN_EXCHANGE_TIMEOUT,
            )
            .await;
        let outcome = match answer {
            DependencyAnswer::Ok => Ok(()),
            DependencyAnswer::Error => Err(ExchangeError::Failed),
            DependencyAnswer::Hang => Err(ExchangeError::Timeout),
        };
        match outcome {
            Ok(()) => self.circuit.success(permit),
            Err(_) => {
                self.circuit.failure(permit);
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_codes_are_single_use_and_expire() {
        let now = Instant::now();
        let mut issued = Issued::default();
        issued.insert("s1".into(), 3, now + Duration::from_secs(1), now);
        issued.insert("s2".into(), 4, now, now);
        assert_eq!(issued.live(now), 1);
        assert_eq!(issued.take("s1", now), Some(3));
        assert_eq!(issued.take("s1", now), None, "single use");
        assert_eq!(issued.take("s2", now), None, "expired");

        let linking = Linking::new(&SimConfig::default());
        let code = linking.issue_link_code(1);
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let state = linking.issue_state(2);
        assert_eq!(linking.live(), (1, 1));
        assert_eq!(linking.redeem_state(&state), Some(2));
    }
}
