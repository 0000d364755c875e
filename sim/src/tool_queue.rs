//! The tool job queue: chat messages that call tools enqueue jobs; a
//! runner claims them (a scan of the oldest, within the per-kind and
//! per-QoS run caps and the tool-job bulkhead), runs them against their
//! provider and retries failures with exponential backoff. A job that fails
//! `max_attempts` times, waits past its TTL or keeps losing its lease goes
//! to the dead-letter queue, which keeps it for the DLQ TTL.
//!
//! With enforcement off (`FF_TOOL_QUEUE_ENFORCE=false`) the caps are only
//! counted: what they would have refused is `shadow_*` in the snapshot.
//!
//! The state machine takes `now` from its callers, so tests drive time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{BulkheadConfig, ToolQueueConfig};
use crate::resilience::bulkhead::{Bulkhead, Lease};

/// A tool a job runs, with its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ToolKind {
    /// Web search (Serper).
    Web,
    /// Product search (eBay).
    Product,
    /// Global search.
    Global,
}

impl ToolKind {
    /// Every kind, in knob order (web, product, global).
    pub(crate) const ALL: [ToolKind; 3] = [ToolKind::Web, ToolKind::Product, ToolKind::Global];

    /// The kind's name in the snapshot.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ToolKind::Web => "web",
            ToolKind::Product => "product",
            ToolKind::Global => "global",
        }
    }

    /// Its position in per-kind arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The QoS class of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qos {
    /// Latency-critical.
    Realtime,
    /// A user is waiting (chat).
    Interactive,
    /// Background work.
    Batch,
}

impl Qos {
    const ALL: [Qos; 3] = [Qos::Realtime, Qos::Interactive, Qos::Batch];

    fn name(self) -> &'static str {
        match self {
            Qos::Realtime => "realtime",
            Qos::Interactive => "interactive",
            Qos::Batch => "batch",
        }
    }
}

/// How a job ended, for whoever waits on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobEnd {
    /// Its provider answered.
    Done,
    /// Dead-lettered: attempts, TTL or leases exhausted.
    DeadLettered,
}

/// What tool-queue alerts watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlertFigures {
    /// Jobs queued now.
    pub(crate) queued: u64,
    /// Jobs dead-lettered within the alert window.
    pub(crate) dead_lettered_in_window: u64,
    /// Age of the oldest queued job.
    pub(crate) oldest_queued_age: Duration,
    /// Age of the oldest running job.
    pub(crate) oldest_running_age: Duration,
}

/// Why a job was not enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// A job the runner claimed, with its tool-job bulkhead lease.
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) id: u64,
    pub(crate) kind: ToolKind,
    pub(crate) _lease: Lease,
}

#[derive(Debug)]
struct Job {
    kind: ToolKind,
    qos: Qos,
    attempts: u32,
    enqueued: Instant,
    not_before: Instant,
    /// When running: its start and lease end.
    running: Option<(Instant, Instant)>,
}

/// Counters per kind.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    enqueued: u64,
    completed: u64,
    failed_attempts: u64,
    retries: u64,
    dead_lettered: u64,
    expired: u64,
    lease_expired: u64,
    rejected: u64,
    shadow_rejected: u64,
    shadow_over_run_max: u64,
}

#[derive(Debug)]
struct DeadJob {
    id: u64,
    kind: ToolKind,
    reason: &'static str,
    attempts: u32,
    at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    queued: VecDeque<u64>,
    /// Jobs in `queued`, per kind (checked on every enqueue).
    queued_of: [u64; 3],
    jobs: HashMap<u64, Job>,
    ended: HashMap<u64, (JobEnd, Instant)>,
    dlq: VecDeque<DeadJob>,
    counts: [Counts; 3],
    bulkhead_rejections: u64,
}

/// The queue.
#[derive(Debug)]
pub(crate) struct ToolQueue {
    cfg: ToolQueueConfig,
    bulkhead: Arc<Bulkhead>,
    inner: Mutex<Inner>,
}

impl ToolQueue {
    pub(crate) fn new(cfg: ToolQueueConfig) -> Self {
        ToolQueue {
            cfg,
            bulkhead: Bulkhead::new(BulkheadConfig {
                max_concurrent: cfg.bulkhead_max,
                lease_ttl: cfg.bulkhead_lease,
            }),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The queue's settings.
    pub(crate) fn config(&self) -> &ToolQueueConfig {
        &self.cfg
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enqueues a job of `kind`; refused when its kind's queue is full and
    /// the caps are enforced.
    pub(crate) fn enqueue(&self, kind: ToolKind, qos: Qos, now: Instant) -> Result<u64, QueueFull> {
        let mut g = self.lock();
        let full = g.queued_of[kind.index()] >= u64::from(self.cfg.queue_max[kind.index()]);
        let counts = &mut g.counts[kind.index()];
        if full {
            if self.cfg.enforce {
                counts.rejected += 1;
                return Err(QueueFull);
            }
            counts.shadow_rejected += 1;
        }
        counts.enqueued += 1;
        g.next_id += 1;
        let id = g.next_id;
        g.jobs.insert(
            id,
            Job {
                kind,
                qos,
                attempts: 0,
                enqueued: now,
                not_before: now,
                running: None,
            },
        );
        g.queued.push_back(id);
        g.queued_of[kind.index()] += 1;
        Ok(id)
    }

    /// Claims refused by the tool-job bulkhead so far, and its size.
    pub(crate) fn bulkhead_rejections(&self) -> (u64, u64) {
        (
            self.lock().bulkhead_rejections,
            self.bulkhead.max_concurrent(),
        )
    }

    /// Claims runnable jobs: of the first `claim_scan` queued, those due,
    /// within the run caps and the tool-job bulkhead.
    pub(crate) fn claim(&self, now: Instant) -> Vec<Claim> {
        let mut g = self.lock();
        let g = &mut *g;
        let mut running = [0u32; 3];
        let mut running_qos = [0u32; 3];
        for job in g.jobs.values().filter(|j| j.running.is_some()) {
            running[job.kind.index()] += 1;
            running_qos[job.qos as usize] += 1;
        }
        let mut claims = Vec::new();
        let mut kept = VecDeque::with_capacity(g.queued.len());
        let mut scanned = 0;
        while let Some(id) = g.queued.pop_front() {
            let Some(job) = g.jobs.get_mut(&id) else {
                continue;
            };
            if scanned >= self.cfg.claim_scan || job.not_before > now {
                scanned += u32::from(scanned < self.cfg.claim_scan);
                kept.push_back(id);
                continue;
            }
            scanned += 1;
            let (k, q) = (job.kind.index(), job.qos as usize);
            let over =
                running[k] >= self.cfg.run_max[k] || running_qos[q] >= self.cfg.run_max_qos[q];
            if over && self.cfg.enforce {
                kept.push_back(id);
                continue;
            }
            let Ok((lease, _)) = self.bulkhead.try_acquire() else {
                g.bulkhead_rejections += 1;
                kept.push_back(id);
                continue;
            };
            if over {
                g.counts[k].shadow_over_run_max += 1;
            }
            running[k] += 1;
            running_qos[q] += 1;
            g.queued_of[k] -= 1;
            job.running = Some((now, now + self.cfg.lease));
            claims.push(Claim {
                id,
                kind: job.kind,
                _lease: lease,
            });
        }
        g.queued = kept;
        claims
    }

    /// Ends an attempt of job `id`: done, or failed (then retried after a
    /// backoff, or dead-lettered after its last attempt). An attempt whose
    /// lease was already taken back is ignored.
    pub(crate) fn finish(&self, id: u64, ok: bool, now: Instant) {
        let mut g = self.lock();
        let Some(job) = g.jobs.get(&id) else {
            return;
        };
        if job.running.is_none() {
            return;
        }
        let k = job.kind.index();
        if ok {
            g.jobs.remove(&id);
            g.counts[k].completed += 1;
            g.ended.insert(id, (JobEnd::Done, now));
        } else {
            g.counts[k].failed_attempts += 1;
            self.retry_or_dead_letter(&mut g, id, "provider_failed", now);
        }
    }

    fn retry_or_dead_letter(&self, g: &mut Inner, id: u64, reason: &'static str, now: Instant) {
        let Some(job) = g.jobs.get_mut(&id) else {
            return;
        };
        job.attempts += 1;
        job.running = None;
        let k = job.kind.index();
        if job.attempts >= self.cfg.max_attempts {
            let dead = DeadJob {
                id,
                kind: job.kind,
                reason,
                attempts: job.attempts,
                at: now,
            };
            g.jobs.remove(&id);
            g.counts[k].dead_lettered += 1;
            g.dlq.push_back(dead);
            g.ended.insert(id, (JobEnd::DeadLettered, now));
        } else {
            let backoff = self
                .cfg
                .retry_base
                .saturating_mul(1 << (job.attempts - 1).min(16));
            job.not_before = now + backoff;
            g.counts[k].retries += 1;
            g.queued.push_back(id);
            g.queued_of[k] += 1;
        }
    }

    /// Takes back expired leases, dead-letters jobs queued past their TTL,
    /// and forgets dead letters past the DLQ TTL and old endings.
    pub(crate) fn sweep(&self, now: Instant) {
        let mut g = self.lock();
        let g = &mut *g;
        let lost: Vec<u64> = g
            .jobs
            .iter()
            .filter(|(_, j)| j.running.is_some_and(|(_, until)| until <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            if let Some(job) = g.jobs.get(&id) {
                g.counts[job.kind.index()].lease_expired += 1;
            }
            self.retry_or_dead_letter(g, id, "lease_expired", now);
        }
        let (queued, jobs) = (&mut g.queued, &g.jobs);
        let mut stale = Vec::new();
        queued.retain(|id| {
            let expired = jobs
                .get(id)
                .is_some_and(|j| now.duration_since(j.enqueued) >= self.cfg.ttl);
            if expired {
                stale.push(*id);
            }
            !expired
        });
        for id in stale {
            if let Some(job) = g.jobs.remove(&id) {
                let k = job.kind.index();
                g.queued_of[k] -= 1;
                g.counts[k].expired += 1;
                g.counts[k].dead_lettered += 1;
                g.dlq.push_back(DeadJob {
                    id,
                    kind: job.kind,
                    reason: "ttl_expired",
                    attempts: job.attempts,
                    at: now,
                });
                g.ended.insert(id, (JobEnd::DeadLettered, now));
            }
        }
        while g
            .dlq
            .front()
            .is_some_and(|d| now.duration_since(d.at) >= self.cfg.dlq_ttl)
        {
            g.dlq.pop_front();
        }
        // Endings are kept long enough for their waiters.
        let keep = self.cfg.wait + Duration::from_secs(5);
        g.ended.retain(|_, (_, at)| now.duration_since(*at) < keep);
    }

    /// The figures alerts compare with their maxima.
    pub(crate) fn alert_figures(&self, now: Instant, window: Duration) -> AlertFigures {
        let g = self.lock();
        let age = |t: Instant| now.saturating_duration_since(t);
        AlertFigures {
            queued: g.queued.len() as u64,
            dead_lettered_in_window: g.dlq.iter().filter(|d| age(d.at) < window).count() as u64,
            oldest_queued_age: g
                .jobs
                .values()
                .filter(|j| j.running.is_none())
                .map(|j| age(j.enqueued))
                .max()
                .unwrap_or_default(),
            oldest_running_age: g
                .jobs
                .values()
                .filter_map(|j| j.running.map(|(s, _)| age(s)))
                .max()
                .unwrap_or_default(),
        }
    }

    /// How job `id` ended, if it has.
    pub(crate) fn ended(&self, id: u64) -> Option<JobEnd> {
        self.lock().ended.get(&id).map(|(end, _)| *end)
    }

    /// The snapshot's `tool_queue` section (`limit` rows of dead letters).
    pub(crate) fn view(&self, now: Instant, limit: usize) -> Value {
        let g = self.lock();
        let age = |t: Instant| now.saturating_duration_since(t).as_millis() as u64;
        let kinds: Vec<Value> = ToolKind::ALL
            .iter()
            .map(|kind| {
                let jobs = g.jobs.values().filter(|j| j.kind == *kind);
                let (queued, running): (Vec<&Job>, Vec<&Job>) = jobs.partition(|j| j.running.is_none());
                let c = g.counts[kind.index()];
                json!({
                    "kind": kind.name(),
                    "queued": queued.len(),
                    "running": running.len(),
                    "oldest_queued_age_ms": queued.iter().map(|j| age(j.enqueued)).max().unwrap_or(0),
                    "oldest_running_age_ms": running.iter().filter_map(|j| j.running.map(|(s, _)| age(s))).max().unwrap_or(0),
                    "queue_max": self.cfg.queue_max[kind.index()],
                    "run_max": self.cfg.run_max[kind.index()],
                    "enqueued": c.enqueued,
                    "completed": c.completed,
                    "failed_attempts": c.failed_attempts,
                    "retries": c.retries,
                    "dead_lettered": c.dead_lettered,
                    "expired": c.expired,
                    "lease_expired": c.lease_expired,
                    "rejected": c.rejected,
                    "shadow_rejected": c.shadow_rejected,
                    "shadow_over_run_max": c.shadow_over_run_max,
                })
            })
            .collect();
        let by_qos: Vec<Value> = Qos::ALL
            .iter()
            .map(|q| {
                json!({
                    "qos": q.name(),
                    "running": g.jobs.values().filter(|j| j.qos == *q && j.running.is_some()).count(),
                    "run_max": self.cfg.run_max_qos[*q as usize],
                })
            })
            .collect();
        let dlq_rows: Vec<Value> = g
            .dlq
            .iter()
            .rev()
            .take(limit)
            .map(|d| json!({"id": d.id, "kind": d.kind.name(), "reason": d.reason, "attempts": d.attempts, "age_ms": age(d.at)}))
            .collect();
        json!({
            "enforced": self.cfg.enforce,
            "queued": g.queued.len(),
            "running": g.jobs.values().filter(|j| j.running.is_some()).count(),
            "oldest_queued_age_ms": g.jobs.values().filter(|j| j.running.is_none()).map(|j| age(j.enqueued)).max().unwrap_or(0),
            "oldest_running_age_ms": g.jobs.values().filter_map(|j| j.running.map(|(s, _)| age(s))).max().unwrap_or(0),
            "dlq_size": g.dlq.len(),
            "dlq": dlq_rows,
            "bulkhead": {
                "max_concurrent": self.bulkhead.max_concurrent(),
                "in_use": self.bulkhead.in_use(),
                "rejections": g.bulkhead_rejections,
            },
            "by_kind": kinds,
            "by_qos": by_qos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ToolQueueConfig {
        ToolQueueConfig {
            max_per_run: 3,
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(5),
            poll: Duration::from_millis(10),
            max_attempts: 3,
            retry_base: Duration::from_millis(100),
            ttl: Duration::from_secs(60),
            claim_scan: 10,
            bulkhead_max: 100,
            bulkhead_lease: Duration::from_secs(60),
            run_max: [2, 2, 2],
            run_max_qos: [10, 10, 10],
            queue_max: [3, 3, 3],
            dlq_ttl: Duration::from_secs(600),
            enforce: true,
            provider_latency: Duration::from_millis(1),
        }
    }

    #[test]
    fn caps_refuse_when_enforced_and_count_when_shadowed() {
        let q = ToolQueue::new(config());
        let t = Instant::now();
        for _ in 0..3 {
            assert!(q.enqueue(ToolKind::Web, Qos::Interactive, t).is_ok());
        }
        assert_eq!(
            q.enqueue(ToolKind::Web, Qos::Interactive, t),
            Err(QueueFull)
        );
        assert!(
            q.enqueue(ToolKind::Global, Qos::Interactive, t).is_ok(),
            "per kind"
        );
        let claims = q.claim(t);
        assert_eq!(
            claims.iter().filter(|c| c.kind == ToolKind::Web).count(),
            2,
            "run cap"
        );
        let shadow = ToolQueue::new(ToolQueueConfig {
            enforce: false,
            ..config()
        });
        for _ in 0..4 {
            assert!(shadow.enqueue(ToolKind::Web, Qos::Batch, t).is_ok());
        }
        assert_eq!(shadow.claim(t).len(), 4);
        let v = shadow.view(t, 10);
        assert_eq!(v["by_kind"][0]["shadow_rejected"], 1);
        assert_eq!(v["by_kind"][0]["shadow_over_run_max"], 2);
    }

    #[test]
    fn failures_back_off_then_dead_letter() {
        let q = ToolQueue::new(config());
        let t = Instant::now();
        let id = q
            .enqueue(ToolKind::Product, Qos::Interactive, t)
            .expect("room");
        let ms = Duration::from_millis;
        for (attempt, at) in [(1, t), (2, t + ms(100)), (3, t + ms(300))] {
            assert!(
                q.claim(at - ms(1)).is_empty() || attempt == 1,
                "not before its backoff"
            );
            let claims = q.claim(at);
            assert_eq!(claims.len(), 1, "attempt {attempt}");
            q.finish(id, false, at);
        }
        assert_eq!(q.ended(id), Some(JobEnd::DeadLettered));
        let v = q.view(t + ms(300), 10);
        assert_eq!(v["dlq_size"], 1);
        assert_eq!(v["by_kind"][1]["retries"], 2);
        assert_eq!(v["dlq"][0]["reason"], "provider_failed");
        q.sweep(t + Duration::from_secs(601));
        assert_eq!(
            q.view(t, 10)["dlq_size"],
            0,
            "the DLQ keeps jobs for its TTL"
        );
    }

    #[test]
    fn lost_leases_and_stale_jobs_are_swept() {
        let q = ToolQueue::new(ToolQueueConfig {
            max_attempts: 1,
            ..config()
        });
        let t = Instant::now();
        let running = q.enqueue(ToolKind::Web, Qos::Realtime, t).expect("room");
        let claims = q.claim(t);
        assert_eq!(claims.len(), 1);
        q.sweep(t + Duration::from_secs(11));
        assert_eq!(q.ended(running), Some(JobEnd::DeadLettered));
        q.finish(running, true, t + Duration::from_secs(12));
        assert_eq!(
            q.ended(running),
            Some(JobEnd::DeadLettered),
            "a late answer is ignored"
        );
        let stale = q.enqueue(ToolKind::Web, Qos::Batch, t).expect("room");
        q.sweep(t + Duration::from_secs(61));
        assert_eq!(q.ended(stale), Some(JobEnd::DeadLettered));
        let v = q.view(t + Duration::from_secs(61), 10);
        assert_eq!(
            (
                v["by_kind"][0]["lease_expired"].as_u64(),
                v["by_kind"][0]["expired"].as_u64()
            ),
            (Some(1), Some(1))
        );
        let done = q.enqueue(ToolKind::Web, Qos::Batch, t).expect("room");
        drop(q.claim(t));
        q.finish(done, true, t);
        assert_eq!(q.ended(done), Some(JobEnd::Done));
    }
}
