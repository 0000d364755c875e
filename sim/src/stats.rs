//! Windowed counters and latency histograms for the reliability snapshot.
//!
//! Time is cut into one-minute slots kept for [`MAX_WINDOW_MINUTES`]; older
//! slots are reused. Each thread records into its own shard (a mutex that
//! only that thread normally takes), so the hot path takes one uncontended
//! lock per request; a snapshot merges the shards.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The longest snapshot window, in minutes.
pub const MAX_WINDOW_MINUTES: u32 = 60;
const SLOTS: usize = 64;
const SHARDS: usize = 4;

/// A route of the sim, as counted in the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Chat,
    GmailPush,
    WhatsappWebhook,
    WhatsappVerify,
    AuthSignUp,
    AuthSignIn,
    AuthConvexToken,
    Threads,
    Healthz,
    OpsSnapshot,
    OpsFaults,
    FunctionQuery,
    FunctionMutation,
    FunctionAction,
    ChatHealth,
    GmailOauthStart,
    GmailOauthCallback,
    WaLinkCode,
    NotFound,
}

const ROUTES: [Route; 19] = [
    Route::Chat,
    Route::GmailPush,
    Route::WhatsappWebhook,
    Route::WhatsappVerify,
    Route::AuthSignUp,
    Route::AuthSignIn,
    Route::AuthConvexToken,
    Route::Threads,
    Route::Healthz,
    Route::OpsSnapshot,
    Route::OpsFaults,
    Route::FunctionQuery,
    Route::FunctionMutation,
    Route::FunctionAction,
    Route::ChatHealth,
    Route::GmailOauthStart,
    Route::GmailOauthCallback,
    Route::WaLinkCode,
    Route::NotFound,
];
const NR: usize = ROUTES.len();

impl Route {
    /// The name used in the snapshot.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::Chat => "POST /api/chat",
            Route::GmailPush => "POST /api/gmail/push",
            Route::WhatsappWebhook => "POST /api/whatsapp/webhook",
            Route::WhatsappVerify => "GET /api/whatsapp/webhook",
            Route::AuthSignUp => "POST /api/auth/sign-up/email",
            Route::AuthSignIn => "POST /api/auth/sign-in/email",
            Route::AuthConvexToken => "GET /api/auth/convex/token",
            Route::Threads => "POST /api/threads",
            Route::Healthz => "GET /healthz",
            Route::OpsSnapshot => "GET /api/ops/reliability-snapshot",
            Route::OpsFaults => "/api/ops/faults",
            Route::FunctionQuery => "POST /api/query",
            Route::FunctionMutation => "POST /api/mutation",
            Route::FunctionAction => "POST /api/action",
            Route::ChatHealth => "GET /api/chat/health",
            Route::GmailOauthStart => "GET /api/gmail/oauth/start",
            Route::GmailOauthCallback => "GET /api/gmail/oauth/callback",
            Route::WaLinkCode => "POST /api/whatsapp/link-code",
            Route::NotFound => "(unrouted)",
        }
    }
}

const STATUSES: [u16; 16] = [
    200, 201, 204, 400, 401, 403, 404, 405, 413, 422, 429, 500, 502, 503, 504, 0,
];
const NS: usize = STATUSES.len();

fn status_index(s: u16) -> Option<usize> {
    Some(match s {
        200 => 0,
        201 => 1,
        204 => 2,
        400 => 3,
        401 => 4,
        403 => 5,
        404 => 6,
        405 => 7,
        413 => 8,
        422 => 9,
        429 => 10,
        500 => 11,
        502 => 12,
        503 => 13,
        504 => 14,
        _ => return None,
    })
}

/// A counter label: (section, label a, label b).
type Label = (&'static str, &'static str, &'static str);

#[derive(Debug, Default)]
struct Slot {
    minute: u64,
    used: bool,
    status: [[u64; NS]; NR],
    other_status: Vec<(usize, u16, u64)>,
    hist: [Option<Histogram<u32>>; NR],
    counters: HashMap<Label, u64>,
    keyed: HashMap<(&'static str, String), u64>,
    chat_users: HashMap<u32, u64>,
}

impl Slot {
    fn reset(&mut self, minute: u64) {
        self.minute = minute;
        self.used = true;
        self.status = [[0; NS]; NR];
        self.other_status.clear();
        for h in self.hist.iter_mut().flatten() {
            h.reset();
        }
        self.counters.clear();
        self.keyed.clear();
        self.chat_users.clear();
    }
}

#[derive(Debug)]
struct Ring {
    slots: Vec<Slot>,
}

impl Ring {
    fn slot(&mut self, minute: u64) -> &mut Slot {
        let i = (minute % SLOTS as u64) as usize;
        let s = &mut self.slots[i];
        if !s.used || s.minute != minute {
            s.reset(minute);
        }
        s
    }
}

/// What a snapshot sees of the merged window.
#[derive(Debug, Default)]
pub(crate) struct WindowView {
    /// (route, status) → count.
    pub(crate) statuses: Vec<(Route, u16, u64)>,
    /// Latency per route.
    pub(crate) latency: Vec<(Route, Histogram<u32>)>,
    /// Static-labelled counters.
    pub(crate) counters: HashMap<Label, u64>,
    /// Keyed counters (section, key).
    pub(crate) keyed: HashMap<(&'static str, String), u64>,
    /// Chat requests by user index.
    pub(crate) chat_users: HashMap<u32, u64>,
}

/// The sim's windowed statistics.
#[derive(Debug)]
pub(crate) struct Stats {
    start: Instant,
    shards: Vec<Mutex<Ring>>,
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

fn shard_index() -> usize {
    SHARD.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            s.set(i);
        }
        i
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn new_hist() -> Option<Histogram<u32>> {
    // 1 µs to 1 h, two significant digits: small enough to keep one per
    // route and minute.
    Histogram::new_with_bounds(1, 3_600_000_000, 2).ok()
}

impl Stats {
    pub(crate) fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Ring {
                    slots: (0..SLOTS).map(|_| Slot::default()).collect(),
                })
            })
            .collect();
        Self {
            start: Instant::now(),
            shards,
        }
    }

    fn minute(&self) -> u64 {
        self.start.elapsed().as_secs() / 60
    }

    fn with_slot<R>(&self, f: impl FnOnce(&mut Slot) -> R) -> R {
        let minute = self.minute();
        let mut ring = lock(&self.shards[shard_index()]);
        f(ring.slot(minute))
    }

    /// Counts one answered request.
    pub(crate) fn record_request(&self, route: Route, status: u16, latency: Duration) {
        let r = route as usize;
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.with_slot(|s| {
            match status_index(status) {
                Some(i) => s.status[r][i] += 1,
                None => match s
                    .other_status
                    .iter_mut()
                    .find(|(rr, st, _)| *rr == r && *st == status)
                {
                    Some(e) => e.2 += 1,
                    None => s.other_status.push((r, status, 1)),
                },
            }
            if s.hist[r].is_none() {
                s.hist[r] = new_hist();
            }
            if let Some(h) = s.hist[r].as_mut() {
                h.saturating_record(us);
            }
        });
    }

    /// Adds `n` to a static-labelled counter.
    pub(crate) fn count(&self, label: Label, n: u64) {
        self.with_slot(|s| *s.counters.entry(label).or_insert(0) += n);
    }

    /// Counts one event of `section` for `key` (e.g. a rate-limited source).
    pub(crate) fn count_keyed(&self, section: &'static str, key: &str) {
        self.with_slot(|s| match s.keyed.get_mut(&(section, key.to_owned())) {
            Some(c) => *c += 1,
            None => {
                s.keyed.insert((section, key.to_owned()), 1);
            }
        });
    }

    /// Counts one chat request of user `user`.
    pub(crate) fn count_chat_user(&self, user: u32) {
        self.with_slot(|s| *s.chat_users.entry(user).or_insert(0) += 1);
    }

    /// Merges the last `minutes` minutes (the current one included).
    pub(crate) fn window(&self, minutes: u32) -> WindowView {
        let now = self.minute();
        let oldest = now.saturating_sub(u64::from(minutes.max(1)) - 1);
        let mut status = [[0u64; NS]; NR];
        let mut other: HashMap<(usize, u16), u64> = HashMap::new();
        let mut hists: Vec<Option<Histogram<u32>>> = (0..NR).map(|_| None).collect();
        let mut view = WindowView::default();
        for shard in &self.shards {
            let ring = lock(shard);
            for s in ring
                .slots
                .iter()
                .filter(|s| s.used && s.minute >= oldest && s.minute <= now)
            {
                for r in 0..NR {
                    for (acc, n) in status[r].iter_mut().zip(&s.status[r]) {
                        *acc += n;
                    }
                    if let Some(h) = &s.hist[r] {
                        if hists[r].is_none() {
                            hists[r] = new_hist();
                        }
                        if let Some(acc) = hists[r].as_mut() {
                            let _ = acc.add(h);
                        }
                    }
                }
                for (r, st, n) in &s.other_status {
                    *other.entry((*r, *st)).or_insert(0) += n;
                }
                for (k, n) in &s.counters {
                    *view.counters.entry(*k).or_insert(0) += n;
                }
                for (k, n) in &s.keyed {
                    *view.keyed.entry(k.clone()).or_insert(0) += n;
                }
                for (k, n) in &s.chat_users {
                    *view.chat_users.entry(*k).or_insert(0) += n;
                }
            }
        }
        for (r, route) in ROUTES.iter().enumerate() {
            for (i, code) in STATUSES.iter().enumerate() {
                if status[r][i] > 0 {
                    view.statuses.push((*route, *code, status[r][i]));
                }
            }
        }
        for ((r, st), n) in other {
            view.statuses.push((ROUTES[r], st, n));
        }
        for (r, h) in hists.into_iter().enumerate() {
            if let Some(h) = h.filter(|h| !h.is_empty()) {
                view.latency.push((ROUTES[r], h));
            }
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let s = Stats::new();
        for i in 1..=100u64 {
            s.record_request(Route::GmailPush, 200, Duration::from_millis(i));
        }
        s.record_request(Route::GmailPush, 418, Duration::from_millis(1));
        s.record_request(Route::Chat, 429, Duration::from_millis(1));
        s.count(("admission", "admitted", "ok"), 2);
        s.count_keyed("rate_limit:whatsapp", "10.0.0.1");
        s.count_keyed("rate_limit:whatsapp", "10.0.0.1");
        s.count_chat_user(3);
        let v = s.window(15);
        let get = |route: Route, code: u16| {
            v.statuses
                .iter()
                .find(|(r, c, _)| *r == route && *c == code)
                .map(|x| x.2)
        };
        assert_eq!(get(Route::GmailPush, 200), Some(100));
        assert_eq!(get(Route::GmailPush, 418), Some(1));
        assert_eq!(get(Route::Chat, 429), Some(1));
        let (_, h) = v
            .latency
            .iter()
            .find(|(r, _)| *r == Route::GmailPush)
            .expect("hist");
        let p50 = h.value_at_quantile(0.5) as f64 / 1000.0;
        assert!((49.0..=52.0).contains(&p50), "{p50}");
        assert_eq!(v.counters[&("admission", "admitted", "ok")], 2);
        assert_eq!(v.keyed[&("rate_limit:whatsapp", "10.0.0.1".to_owned())], 2);
        assert_eq!(v.chat_users[&3], 1);
    }

    #[test]
    fn slots_are_reused_after_a_lap() {
        let mut ring = Ring {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        };
        ring.slot(1).counters.insert(("a", "b", "c"), 5);
        assert_eq!(ring.slot(1).counters.len(), 1);
        assert!(ring.slot(1 + SLOTS as u64).counters.is_empty());
    }
}
