//! Seeded, lock-free pseudo-random decisions.
//!
//! Every random choice the sim makes (fault decisions, latency jitter,
//! Retry-After jitter) is a pure function of the configured seed, a stream
//! name and a per-stream counter, mixed with splitmix64. Given the same seed
//! and the same order of requests on an endpoint, the sim makes the same
//! decisions.

use std::sync::atomic::{AtomicU64, Ordering};

/// The splitmix64 output function: a well-mixed 64-bit value from `x`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps a 64-bit value to a float in `[0, 1)`.
pub(crate) fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A deterministic stream of random values: `seed` mixed with a counter.
#[derive(Debug)]
pub(crate) struct SeededStream {
    base: u64,
    counter: AtomicU64,
}

impl SeededStream {
    /// A stream for `seed`, separated from other streams by `salt`.
    pub(crate) fn new(seed: u64, salt: u64) -> Self {
        Self {
            base: splitmix64(seed ^ splitmix64(salt)),
            counter: AtomicU64::new(0),
        }
    }

    /// Takes the next index of this stream (one per request, say).
    pub(crate) fn next_index(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The value for draw `purpose` of index `index`: the same inputs always
    /// give the same value.
    pub(crate) fn value(&self, index: u64, purpose: u64) -> u64 {
        splitmix64(self.base ^ splitmix64(index.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ purpose))
    }

    /// A float in `[0, 1)` for draw `purpose` of index `index`.
    pub(crate) fn unit(&self, index: u64, purpose: u64) -> f64 {
        unit_f64(self.value(index, purpose))
    }

    /// The next value of the stream (takes a new index).
    pub(crate) fn next_unit(&self) -> f64 {
        let i = self.next_index();
        self.unit(i, 0)
    }
}

/// A stable 64-bit hash of a string (FNV-1a), used to salt streams by name.
pub(crate) fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// 64 bits from the operating system's hash seed and the clock: for values
/// that must not be guessable (tokens, salts), never for fault decisions.
pub(crate) fn os_random_u64() -> u64 {
    use std::hash::BuildHasher;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let h = std::collections::hash_map::RandomState::new().hash_one((n, t));
    splitmix64(h ^ t.rotate_left(17) ^ n)
}

/// `n` random bytes as lowercase hex, from [`os_random_u64`].
pub(crate) fn random_hex(n_bytes: usize) -> String {
    let mut out = String::with_capacity(n_bytes * 2);
    let mut left = n_bytes;
    while left > 0 {
        let v = os_random_u64().to_le_bytes();
        for b in v.iter().take(left.min(8)) {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
        left = left.saturating_sub(8);
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_known_value() {
        // Reference value of splitmix64 seeded with 0 (first output).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn same_seed_same_values() {
        let a = SeededStream::new(42, fnv1a("chat"));
        let b = SeededStream::new(42, fnv1a("chat"));
        let va: Vec<f64> = (0..100).map(|_| a.next_unit()).collect();
        let vb: Vec<f64> = (0..100).map(|_| b.next_unit()).collect();
        assert_eq!(va, vb);
        assert!(va.iter().all(|v| (0.0..1.0).contains(v)));
    }

    #[test]
    fn different_seed_or_salt_differs() {
        let a = SeededStream::new(42, fnv1a("chat"));
        let b = SeededStream::new(43, fnv1a("chat"));
        let c = SeededStream::new(42, fnv1a("gmail"));
        assert_ne!(a.value(0, 0), b.value(0, 0));
        assert_ne!(a.value(0, 0), c.value(0, 0));
        assert_ne!(a.value(0, 0), a.value(0, 1));
    }

    #[test]
    fn unit_is_roughly_uniform() {
        let s = SeededStream::new(7, 1);
        let n = 10_000;
        let below = (0..n).filter(|i| s.unit(*i, 0) < 0.25).count();
        assert!((2_200..2_800).contains(&below), "{below}");
    }

    #[test]
    fn random_hex_length() {
        assert_eq!(random_hex(16).len(), 32);
        assert_eq!(random_hex(3).len(), 6);
        assert_ne!(random_hex(16), random_hex(16));
    }
}
