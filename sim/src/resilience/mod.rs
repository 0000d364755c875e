//! Resilience mechanisms of the sim: rate limits, circuit breakers,
//! bulkheads and admission control, each honouring the seed's knobs.

pub(crate) mod admission;
pub(crate) mod bulkhead;
pub(crate) mod circuit;
pub(crate) mod rate_limit;

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering from poisoning (a panicked holder leaves plain
/// counters behind, which stay usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
