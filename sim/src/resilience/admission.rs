//! In-memory admission control of chat messages: per-user and global
//! in-flight limits and a global message rate. Each check is enforced only
//! when `FF_ADMISSION_ENFORCE` and its own `ADMISSION_ENFORCE_*` are on;
//! otherwise a would-be rejection is recorded as a shadow decision.
//! Rejections carry Retry-After = `ADMISSION_RETRY_AFTER_MS` ± seeded jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use crate::config::AdmissionConfig;
use crate::rng::SeededStream;

/// Why admission refused (or would refuse) a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    UserInflight,
    GlobalInflight,
    GlobalMsgRate,
}

impl Reason {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Reason::UserInflight => "user_inflight",
            Reason::GlobalInflight => "global_inflight",
            Reason::GlobalMsgRate => "global_msg_rate",
        }
    }
}

/// A refusal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rejection {
    pub(crate) reason: Reason,
    pub(crate) retry_after: Duration,
}

/// An admitted message; in-flight counts drop when it is dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    user: Arc<AtomicU64>,
    admission: Arc<Admission>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.user.fetch_sub(1, Ordering::AcqRel);
        self.admission
            .global_inflight
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// The admission controller.
#[derive(Debug)]
pub(crate) struct Admission {
    cfg: AdmissionConfig,
    enforce: bool,
    global_inflight: AtomicU64,
    rate: Mutex<(u64, u64)>,
    start: Instant,
    jitter: SeededStream,
}

impl Admission {
    pub(crate) fn new(cfg: AdmissionConfig, enforce: bool, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            enforce,
            global_inflight: AtomicU64::new(0),
            rate: Mutex::new((0, 0)),
            start: Instant::now(),
            jitter: SeededStream::new(seed, 0xAD41_5510),
        })
    }

    /// Decides on one message of a user whose in-flight counter is `user`.
    /// `Ok((ticket, shadow))`: admitted, with the reason it would have been
    /// refused had the check been enforced.
    pub(crate) fn admit(
        self: &Arc<Self>,
        user: &Arc<AtomicU64>,
    ) -> Result<(Ticket, Option<Reason>), Rejection> {
        let c = &self.cfg;
        let mut shadow = None;
        let mut check = |over: bool, enforced: bool, reason: Reason| -> Result<(), Rejection> {
            if !over {
                return Ok(());
            }
            if self.enforce && enforced {
                return Err(Rejection {
                    reason,
                    retry_after: self.retry_after(),
                });
            }
            shadow.get_or_insert(reason);
            Ok(())
        };
        check(
            user.load(Ordering::Acquire) >= c.user_max_inflight,
            c.enforce_user_inflight,
            Reason::UserInflight,
        )?;
        check(
            self.global_inflight.load(Ordering::Acquire) >= c.global_max_inflight,
            c.enforce_global_inflight,
            Reason::GlobalInflight,
        )?;
        let over_rate = {
            let sec = self.start.elapsed().as_secs();
            let mut g = lock(&self.rate);
            if g.0 != sec {
                *g = (sec, 0);
            }
            let over = g.1 >= c.global_max_msg_per_sec;
            if !(over && self.enforce && c.enforce_global_msg_rate) {
                g.1 += 1;
            }
            over
        };
        check(over_rate, c.enforce_global_msg_rate, Reason::GlobalMsgRate)?;
        user.fetch_add(1, Ordering::AcqRel);
        self.global_inflight.fetch_add(1, Ordering::AcqRel);
        Ok((
            Ticket {
                user: Arc::clone(user),
                admission: Arc::clone(self),
            },
            shadow,
        ))
    }

    /// Retry-After of a rejection: the base ± jitter, seeded.
    fn retry_after(&self) -> Duration {
        let base = self.cfg.retry_after.as_secs_f64() * 1000.0;
        let j = self.cfg.retry_after_jitter_pct / 100.0;
        let u = self.jitter.next_unit() * 2.0 - 1.0;
        Duration::from_millis((base * (1.0 + j * u)).max(0.0).round() as u64)
    }

    pub(crate) fn global_inflight(&self) -> u64 {
        self.global_inflight.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(user: u64, global: u64, rate: u64) -> AdmissionConfig {
        AdmissionConfig {
            enforce_user_inflight: true,
            enforce_global_inflight: true,
            enforce_global_msg_rate: true,
            user_max_inflight: user,
            global_max_inflight: global,
            global_max_msg_per_sec: rate,
            retry_after: Duration::from_millis(1_000),
            retry_after_jitter_pct: 20.0,
        }
    }

    #[test]
    fn user_then_global_inflight() {
        let a = Admission::new(cfg(1, 2, 1_000), true, 1);
        let u1 = Arc::new(AtomicU64::new(0));
        let u2 = Arc::new(AtomicU64::new(0));
        let u3 = Arc::new(AtomicU64::new(0));
        let t1 = a.admit(&u1).expect("first");
        let r = a.admit(&u1).expect_err("user limit");
        assert_eq!(r.reason, Reason::UserInflight);
        let ms = r.retry_after.as_millis();
        assert!((800..=1_200).contains(&ms), "{ms}");
        let _t2 = a.admit(&u2).expect("second user");
        assert_eq!(
            a.admit(&u3).expect_err("global").reason,
            Reason::GlobalInflight
        );
        drop(t1);
        assert_eq!(u1.load(Ordering::Acquire), 0);
        assert!(a.admit(&u3).is_ok());
    }

    #[test]
    fn message_rate_and_shadow_mode() {
        let a = Admission::new(cfg(100, 100, 2), true, 1);
        let u = Arc::new(AtomicU64::new(0));
        let _a = a.admit(&u).expect("1");
        let _b = a.admit(&u).expect("2");
        assert_eq!(a.admit(&u).expect_err("rate").reason, Reason::GlobalMsgRate);

        let shadow = Admission::new(cfg(0, 100, 100), false, 1);
        let (_t, why) = shadow.admit(&u).expect("shadow admits");
        assert_eq!(why, Some(Reason::UserInflight));
    }

    #[test]
    fn jitter_is_seeded() {
        let a = Admission::new(cfg(0, 1, 1), true, 5);
        let b = Admission::new(cfg(0, 1, 1), true, 5);
        let u = Arc::new(AtomicU64::new(0));
        let ra: Vec<_> = (0..10)
            .map(|_| a.admit(&u).map(|_| ()).expect_err("r").retry_after)
            .collect();
        let rb: Vec<_> = (0..10)
            .map(|_| b.admit(&u).map(|_| ()).expect_err("r").retry_after)
            .collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(|d| *d != ra[0]));
    }
}
