//! Bulkhead per provider: at most `max_concurrent` leases at once; a lease
//! not released within its TTL is reclaimed (and counted as expired).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::lock;
use crate::config::BulkheadConfig;

#[derive(Debug, Default)]
struct Leases {
    next_id: u64,
    active: HashMap<u64, Instant>,
}

/// A bulkhead.
#[derive(Debug)]
pub(crate) struct Bulkhead {
    cfg: BulkheadConfig,
    inner: Mutex<Leases>,
}

/// A held lease, released on drop.
#[derive(Debug)]
pub(crate) struct Lease {
    bulkhead: Arc<Bulkhead>,
    id: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        lock(&self.bulkhead.inner).active.remove(&self.id);
    }
}

/// No lease available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full {
    /// Leases reclaimed by TTL during this attempt.
    pub(crate) expired: u64,
}

impl Bulkhead {
    pub(crate) fn new(cfg: BulkheadConfig) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            inner: Mutex::new(Leases::default()),
        })
    }

    /// Takes a lease; the second value is how many expired leases were
    /// reclaimed to make room.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Result<(Lease, u64), Full> {
        self.try_acquire_at(Instant::now())
    }

    fn try_acquire_at(self: &Arc<Self>, now: Instant) -> Result<(Lease, u64), Full> {
        let mut g = lock(&self.inner);
        let mut expired = 0;
        if g.active.len() as u64 >= self.cfg.max_concurrent {
            let before = g.active.len();
            g.active.retain(|_, exp| *exp > now);
            expired = (before - g.active.len()) as u64;
        }
        if g.active.len() as u64 >= self.cfg.max_concurrent {
            return Err(Full { expired });
        }
        let id = g.next_id;
        g.next_id += 1;
        g.active.insert(id, now + self.cfg.lease_ttl);
        Ok((
            Lease {
                bulkhead: Arc::clone(self),
                id,
            },
            expired,
        ))
    }

    /// Leases held now (expired ones excluded).
    pub(crate) fn in_use(&self) -> u64 {
        let now = Instant::now();
        lock(&self.inner)
            .active
            .values()
            .filter(|e| **e > now)
            .count() as u64
    }

    pub(crate) fn max_concurrent(&self) -> u64 {
        self.cfg.max_concurrent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn caps_and_releases() {
        let b = Bulkhead::new(BulkheadConfig {
            max_concurrent: 2,
            lease_ttl: Duration::from_secs(60),
        });
        let a = b.try_acquire().expect("first");
        let _c = b.try_acquire().expect("second");
        assert_eq!(b.try_acquire().map(|_| ()), Err(Full { expired: 0 }));
        assert_eq!(b.in_use(), 2);
        drop(a);
        assert!(b.try_acquire().is_ok());
    }

    #[test]
    fn expired_leases_are_reclaimed() {
        let b = Bulkhead::new(BulkheadConfig {
            max_concurrent: 1,
            lease_ttl: Duration::from_millis(10),
        });
        let t0 = Instant::now();
        let stuck = b.try_acquire_at(t0).expect("first");
        assert!(b.try_acquire_at(t0 + Duration::from_millis(5)).is_err());
        let (_l, expired) = b
            .try_acquire_at(t0 + Duration::from_millis(11))
            .expect("reclaimed");
        assert_eq!(expired, 1);
        // Releasing the reclaimed lease later does not free the new one.
        drop(stuck);
        assert!(b.try_acquire_at(t0 + Duration::from_millis(12)).is_err());
    }
}
