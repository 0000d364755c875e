//! Admission control of chat messages: per-user and global in-flight
//! limits, a global message rate and a global tool-call rate (each message
//! charged `ADMISSION_EST_TOOL_CALLS_PER_MSG`). Each check is enforced only
//! when `FF_ADMISSION_ENFORCE` and its own `ADMISSION_ENFORCE_*` are on;
//! otherwise a would-be rejection is recorded as a shadow decision.
//! Rejections carry Retry-After = `ADMISSION_RETRY_AFTER_MS` ± seeded jitter.
//!
//! The state lives in process memory or, with `ADMISSION_REDIS_ENABLED`, in
//! a store with the semantics the backend gets from Redis (see
//! [`RedisStore`]): tickets that expire after `ADMISSION_TICKET_TTL_MS`
//! even when never released, and a store that can fail (the `redis`
//! fault), in which case `FF_FAIL_CLOSED_ON_REDIS_ERROR` rejects or admits.
//! With `ADMISSION_REDIS_SHADOW_MODE` the in-memory state decides and the
//! store's decisions are only counted.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use crate::config::{AdmissionConfig, RedisAdmissionConfig};
use crate::rng::SeededStream;

/// Why admission refused (or would refuse) a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    UserInflight,
    GlobalInflight,
    GlobalMsgRate,
    GlobalToolRate,
    /// The admission store failed and `FF_FAIL_CLOSED_ON_REDIS_ERROR` is on.
    StoreUnavailable,
}

impl Reason {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Reason::UserInflight => "user_inflight",
            Reason::GlobalInflight => "global_inflight",
            Reason::GlobalMsgRate => "global_msg_rate",
            Reason::GlobalToolRate => "global_tool_rate",
            Reason::StoreUnavailable => "store_unavailable",
        }
    }
}

/// Where the deciding admission state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreMode {
    /// Process memory.
    Memory,
    /// The Redis store.
    Redis,
    /// Process memory decides; the Redis store is evaluated beside it.
    RedisShadow,
}

impl StoreMode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StoreMode::Memory => "memory",
            StoreMode::Redis => "redis",
            StoreMode::RedisShadow => "redis_shadow",
        }
    }
}

/// A refusal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rejection {
    pub(crate) reason: Reason,
    pub(crate) retry_after: Duration,
}

/// What happened besides the decision, for the statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Notes {
    /// The check that would have refused, had it been enforced.
    pub(crate) shadow: Option<Reason>,
    /// In shadow mode: what the Redis store would have refused.
    pub(crate) store_shadow: Option<Reason>,
    /// The store failed and the message was admitted anyway (fail open).
    pub(crate) failed_open: bool,
    /// The store failed (any mode).
    pub(crate) store_error: bool,
    /// Record this admission as a sampled `allowed` event.
    pub(crate) sampled: bool,
}

/// An admitted message; in-flight counts drop when it is dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    user: Arc<AtomicU64>,
    admission: Arc<Admission>,
    /// The store's ticket, when the store took one.
    store_ticket: Option<u64>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.user.fetch_sub(1, Ordering::AcqRel);
        self.admission
            .global_inflight
            .fetch_sub(1, Ordering::AcqRel);
        if let (Some(id), Some(store)) = (self.store_ticket, &self.admission.store) {
            store.release(id, Instant::now());
        }
    }
}

/// Messages and estimated tool calls admitted in the current second.
#[derive(Debug, Default)]
struct SecondCounters {
    second: u64,
    messages: u64,
    tool_calls: f64,
}

impl SecondCounters {
    fn at(&mut self, second: u64) -> &mut Self {
        if self.second != second {
            *self = SecondCounters {
                second,
                ..Default::default()
            };
        }
        self
    }
}

/// The figures a decision looks at.
#[derive(Debug, Clone, Copy)]
struct Load {
    user_inflight: u64,
    global_inflight: u64,
    messages: u64,
    tool_calls: f64,
}

/// The admission store with Redis semantics: tickets in a set ordered by
/// expiry (a sorted set trimmed by score before each read), per-user
/// ticket counts, and per-second counters that reset with the second.
#[derive(Debug)]
pub(crate) struct RedisStore {
    ttl: Duration,
    prefix: String,
    inner: Mutex<StoreState>,
}

#[derive(Debug, Default)]
struct StoreState {
    next_id: u64,
    by_expiry: BTreeSet<(Instant, u64)>,
    tickets: HashMap<u64, (u32, Instant)>,
    per_user: HashMap<u32, u64>,
    second: SecondCounters,
    expired: u64,
}

impl StoreState {
    /// Drops the tickets whose TTL has passed.
    fn trim(&mut self, now: Instant) {
        while let Some(&(expiry, id)) = self.by_expiry.first() {
            if expiry > now {
                break;
            }
            self.by_expiry.pop_first();
            if let Some((user, _)) = self.tickets.remove(&id) {
                self.expired += 1;
                self.drop_user(user);
            }
        }
    }

    fn drop_user(&mut self, user: u32) {
        if let Some(n) = self.per_user.get_mut(&user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(&user);
            }
        }
    }
}

/// What the Redis store holds now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoreView {
    pub(crate) tickets: usize,
    pub(crate) users: usize,
    pub(crate) expired: u64,
    pub(crate) keys: [String; 4],
}

impl RedisStore {
    fn new(ttl: Duration, prefix: &str) -> Self {
        Self {
            ttl,
            prefix: prefix.to_owned(),
            inner: Mutex::new(StoreState::default()),
        }
    }

    fn load(&self, user: u32, now: Instant, second: u64) -> Load {
        let mut g = lock(&self.inner);
        g.trim(now);
        let user_inflight = g.per_user.get(&user).copied().unwrap_or(0);
        let global_inflight = g.tickets.len() as u64;
        let s = g.second.at(second);
        Load {
            user_inflight,
            global_inflight,
            messages: s.messages,
            tool_calls: s.tool_calls,
        }
    }

    fn take(&self, user: u32, now: Instant, second: u64, tool_calls: f64) -> u64 {
        let mut g = lock(&self.inner);
        g.next_id += 1;
        let id = g.next_id;
        let expiry = now + self.ttl;
        g.by_expiry.insert((expiry, id));
        g.tickets.insert(id, (user, expiry));
        *g.per_user.entry(user).or_insert(0) += 1;
        let s = g.second.at(second);
        s.messages += 1;
        s.tool_calls += tool_calls;
        id
    }

    fn release(&self, id: u64, now: Instant) {
        let mut g = lock(&self.inner);
        if let Some((user, expiry)) = g.tickets.remove(&id) {
            g.by_expiry.remove(&(expiry, id));
            g.drop_user(user);
        }
        g.trim(now);
    }

    pub(crate) fn view(&self, now: Instant) -> StoreView {
        let mut g = lock(&self.inner);
        g.trim(now);
        let p = &self.prefix;
        StoreView {
            tickets: g.tickets.len(),
            users: g.per_user.len(),
            expired: g.expired,
            keys: [
                format!("{p}:inflight:global"),
                format!("{p}:inflight:user:<id>"),
                format!("{p}:rate:msg:<second>"),
                format!("{p}:rate:tool:<second>"),
            ],
        }
    }
}

/// The admission controller.
#[derive(Debug)]
pub(crate) struct Admission {
    cfg: AdmissionConfig,
    enforce: bool,
    fail_closed: bool,
    mode: StoreMode,
    global_inflight: AtomicU64,
    memory: Mutex<SecondCounters>,
    store: Option<RedisStore>,
    start: Instant,
    jitter: SeededStream,
    sample: SeededStream,
}

impl Admission {
    /// `enforce` is `FF_ADMISSION_ENFORCE`, `fail_closed`
    /// `FF_FAIL_CLOSED_ON_REDIS_ERROR`.
    pub(crate) fn new(
        cfg: AdmissionConfig,
        redis: &RedisAdmissionConfig,
        enforce: bool,
        fail_closed: bool,
        seed: u64,
    ) -> Arc<Self> {
        let mode = match (redis.enabled, redis.shadow) {
            (false, _) => StoreMode::Memory,
            (true, false) => StoreMode::Redis,
            (true, true) => StoreMode::RedisShadow,
        };
        Arc::new(Self {
            cfg,
            enforce,
            fail_closed,
            mode,
            global_inflight: AtomicU64::new(0),
            memory: Mutex::new(SecondCounters::default()),
            store: (mode != StoreMode::Memory)
                .then(|| RedisStore::new(cfg.ticket_ttl, &redis.key_prefix)),
            start: Instant::now(),
            jitter: SeededStream::new(seed, 0xAD41_5510),
            sample: SeededStream::new(seed, 0xAD41_5511),
        })
    }

    /// Where the deciding state lives.
    pub(crate) fn mode(&self) -> StoreMode {
        self.mode
    }

    /// The first check `load` fails, and whether that check is enforced.
    fn judge(&self, load: Load) -> Option<(Reason, bool)> {
        let c = &self.cfg;
        [
            (
                load.user_inflight >= c.user_max_inflight,
                c.enforce_user_inflight,
                Reason::UserInflight,
            ),
            (
                load.global_inflight >= c.global_max_inflight,
                c.enforce_global_inflight,
                Reason::GlobalInflight,
            ),
            (
                load.messages >= c.global_max_msg_per_sec,
                c.enforce_global_msg_rate,
                Reason::GlobalMsgRate,
            ),
            (
                load.tool_calls + c.est_tool_calls_per_msg > c.global_max_tool_per_sec as f64,
                c.enforce_global_tool_rate,
                Reason::GlobalToolRate,
            ),
        ]
        .into_iter()
        .find(|(over, _, _)| *over)
        .map(|(_, enforced, reason)| (reason, enforced && self.enforce))
    }

    /// Decides on one message of user `user_idx`, whose in-flight counter
    /// is `user`. `store_ok` is whether the Redis store answered (ignored
    /// in memory mode). `Err` is a rejection to send; `Ok` carries the
    /// ticket and the notes for the statistics.
    pub(crate) fn admit(
        self: &Arc<Self>,
        user: &Arc<AtomicU64>,
        user_idx: u32,
        store_ok: bool,
    ) -> Result<(Ticket, Notes), Rejection> {
        let now = Instant::now();
        let second = now.duration_since(self.start).as_secs();
        let mut memory = lock(&self.memory);
        let memory_load = {
            let s = memory.at(second);
            Load {
                user_inflight: user.load(Ordering::Acquire),
                global_inflight: self.global_inflight.load(Ordering::Acquire),
                messages: s.messages,
                tool_calls: s.tool_calls,
            }
        };
        let mut notes = Notes::default();
        let store = self.store.as_ref().filter(|_| store_ok);
        notes.store_error = self.store.is_some() && !store_ok;
        let store_verdict = store.map(|s| self.judge(s.load(user_idx, now, second)));
        let verdict = match self.mode {
            StoreMode::Memory => self.judge(memory_load),
            StoreMode::RedisShadow => {
                notes.store_shadow = store_verdict.flatten().map(|(r, _)| r);
                self.judge(memory_load)
            }
            StoreMode::Redis => match store_verdict {
                Some(v) => v,
                None if self.fail_closed => Some((Reason::StoreUnavailable, self.enforce)),
                None => {
                    notes.failed_open = true;
                    None
                }
            },
        };
        match verdict {
            Some((reason, true)) => {
                return Err(Rejection {
                    reason,
                    retry_after: self.retry_after(),
                });
            }
            Some((reason, false)) => notes.shadow = Some(reason),
            None => {}
        }
        let est = self.cfg.est_tool_calls_per_msg;
        let s = memory.at(second);
        s.messages += 1;
        s.tool_calls += est;
        drop(memory);
        user.fetch_add(1, Ordering::AcqRel);
        self.global_inflight.fetch_add(1, Ordering::AcqRel);
        let store_ticket = store.map(|s| s.take(user_idx, now, second, est));
        notes.sampled = self.sample.next_unit() * 100.0 < self.cfg.allowed_event_sample_pct;
        Ok((
            Ticket {
                user: Arc::clone(user),
                admission: Arc::clone(self),
                store_ticket,
            },
            notes,
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

    /// Estimated tool calls admitted in the current second.
    pub(crate) fn tool_calls_this_second(&self) -> f64 {
        let second = self.start.elapsed().as_secs();
        lock(&self.memory).at(second).tool_calls
    }

    /// The Redis store's contents, when there is a store.
    pub(crate) fn store_view(&self) -> Option<StoreView> {
        self.store.as_ref().map(|s| s.view(Instant::now()))
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
            enforce_global_tool_rate: true,
            global_max_tool_per_sec: 1_000_000,
            est_tool_calls_per_msg: 1.0,
            ticket_ttl: Duration::from_secs(60),
            allowed_event_sample_pct: 0.0,
        }
    }

    fn memory() -> RedisAdmissionConfig {
        RedisAdmissionConfig {
            enabled: false,
            shadow: false,
            url: None,
            token: None,
            key_prefix: "adm".into(),
        }
    }

    fn redis(shadow: bool) -> RedisAdmissionConfig {
        RedisAdmissionConfig {
            enabled: true,
            shadow,
            ..memory()
        }
    }

    fn admission(c: AdmissionConfig) -> Arc<Admission> {
        Admission::new(c, &memory(), true, false, 1)
    }

    fn user() -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(0))
    }

    #[test]
    fn user_then_global_inflight() {
        let a = admission(cfg(1, 2, 1_000));
        let (u1, u2, u3) = (user(), user(), user());
        let t1 = a.admit(&u1, 1, true).expect("first");
        let r = a.admit(&u1, 1, true).expect_err("user limit");
        assert_eq!(r.reason, Reason::UserInflight);
        let ms = r.retry_after.as_millis();
        assert!((800..=1_200).contains(&ms), "{ms}");
        let _t2 = a.admit(&u2, 2, true).expect("second user");
        assert_eq!(
            a.admit(&u3, 3, true).expect_err("global").reason,
            Reason::GlobalInflight
        );
        drop(t1);
        assert_eq!(u1.load(Ordering::Acquire), 0);
        assert!(a.admit(&u3, 3, true).is_ok());
    }

    #[test]
    fn message_rate_and_shadow_mode() {
        let a = admission(cfg(100, 100, 2));
        let u = user();
        let _a = a.admit(&u, 1, true).expect("1");
        let _b = a.admit(&u, 1, true).expect("2");
        assert_eq!(
            a.admit(&u, 1, true).expect_err("rate").reason,
            Reason::GlobalMsgRate
        );

        let shadow = Admission::new(cfg(0, 100, 100), &memory(), false, false, 1);
        let (_t, notes) = shadow.admit(&u, 1, true).expect("shadow admits");
        assert_eq!(notes.shadow, Some(Reason::UserInflight));
    }

    #[test]
    fn tool_rate_charges_the_estimate_per_message() {
        let mut c = cfg(100, 100, 100);
        c.global_max_tool_per_sec = 5;
        c.est_tool_calls_per_msg = 2.0;
        let a = admission(c);
        let u = user();
        let _t = (0..2)
            .map(|_| a.admit(&u, 1, true).expect("within 5 tool calls"))
            .collect::<Vec<_>>();
        assert_eq!(a.tool_calls_this_second(), 4.0);
        assert_eq!(
            a.admit(&u, 1, true).expect_err("6 > 5").reason,
            Reason::GlobalToolRate
        );
    }

    #[test]
    fn jitter_is_seeded() {
        let a = admission(cfg(0, 1, 1));
        let b = admission(cfg(0, 1, 1));
        let u = user();
        let ra: Vec<_> = (0..10)
            .map(|_| a.admit(&u, 1, true).map(|_| ()).expect_err("r").retry_after)
            .collect();
        let rb: Vec<_> = (0..10)
            .map(|_| b.admit(&u, 1, true).map(|_| ()).expect_err("r").retry_after)
            .collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(|d| *d != ra[0]));
    }

    #[test]
    fn store_failure_fails_open_or_closed() {
        let u = user();
        let open = Admission::new(cfg(10, 10, 10), &redis(false), true, false, 1);
        let (_t, notes) = open.admit(&u, 1, false).expect("fail open");
        assert!(notes.failed_open && notes.store_error);
        assert_eq!(open.store_view().map(|v| v.tickets), Some(0));

        let closed = Admission::new(cfg(10, 10, 10), &redis(false), true, true, 1);
        assert_eq!(
            closed.admit(&u, 1, false).expect_err("fail closed").reason,
            Reason::StoreUnavailable
        );
        // Not enforced: fail-closed is a shadow decision only.
        let shadow = Admission::new(cfg(10, 10, 10), &redis(false), false, true, 1);
        let (_t, notes) = shadow.admit(&u, 1, false).expect("shadow");
        assert_eq!(notes.shadow, Some(Reason::StoreUnavailable));
    }

    #[test]
    fn store_tickets_expire_after_their_ttl() {
        let mut c = cfg(1, 10, 100);
        c.ticket_ttl = Duration::from_millis(1);
        let a = Admission::new(c, &redis(false), true, false, 1);
        let u = user();
        let t = a.admit(&u, 7, true).expect("first");
        // The store lets the ticket go after its TTL, though the message
        // still holds it; the process-local count is not what decides.
        std::thread::sleep(Duration::from_millis(5));
        let view = a.store_view().expect("store");
        assert_eq!((view.tickets, view.expired), (0, 1));
        let _t2 = a.admit(&u, 7, true).expect("expired ticket frees the user");
        drop(t);
        assert_eq!(view.keys[0], "adm:inflight:global");
    }

    #[test]
    fn shadow_store_counts_what_it_would_refuse() {
        let a = Admission::new(cfg(1, 10, 100), &redis(true), true, false, 1);
        let (u1, u2) = (user(), user());
        let _t = a.admit(&u1, 1, true).expect("first");
        // Memory decides: user 1 is at its limit there too.
        assert_eq!(
            a.admit(&u1, 1, true).expect_err("memory refuses").reason,
            Reason::UserInflight
        );
        // A second user whose store view differs from memory's: simulate
        // by a failed store call, which shadow mode tolerates.
        let (_t2, notes) = a.admit(&u2, 2, false).expect("store down, memory decides");
        assert!(notes.store_error && !notes.failed_open);
        assert_eq!(a.store_view().map(|v| v.tickets), Some(1));
    }

    #[test]
    fn allowed_events_are_sampled() {
        let mut c = cfg(1_000, 1_000, 1_000);
        c.allowed_event_sample_pct = 50.0;
        let a = admission(c);
        let u = user();
        let sampled = (0..400)
            .filter(|_| a.admit(&u, 1, true).expect("admit").1.sampled)
            .count();
        assert!((140..=260).contains(&sampled), "{sampled}");
    }
}
