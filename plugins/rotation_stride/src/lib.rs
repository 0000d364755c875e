//! `stride`: request `n` uses pool entry `(offset + n * stride) mod size`,
//! where the offset comes from the seed.
//!
//! Without `--chat-rotation-stride`, the stride is the first number at or
//! above 0.618 × size that is coprime with the size, so consecutive requests
//! land far apart and every entry is reached. A stride that shares a factor
//! `g` with the size is allowed, but reaches only `size / g` entries: the
//! strategy says so in a warning.

use std::sync::atomic::{AtomicU64, Ordering};

use relhost_plugin_sdk::export_rotation;
use relhost_plugin_sdk::rotation::*;

static SIZE: AtomicU64 = AtomicU64::new(1);
static STRIDE: AtomicU64 = AtomicU64::new(1);
static OFFSET: AtomicU64 = AtomicU64::new(0);

/// The default stride for a pool of `size` entries.
fn default_stride(size: u64) -> u64 {
    if size <= 2 {
        return 1;
    }
    let mut stride = (size * 618).div_ceil(1000).max(1);
    while gcd(stride, size) != 1 {
        stride += 1;
    }
    stride
}

struct Stride;

impl Guest for Stride {
    fn configure(config: RotationConfig) -> Result<RotationInfo, String> {
        let size = u64::from(config.pool_size);
        if size == 0 {
            return Err("the pool is empty".into());
        }
        let stride = match config.stride {
            Some(0) => return Err("the stride must be at least 1".into()),
            Some(stride) => u64::from(stride),
            None => default_stride(size),
        };
        let shared = gcd(stride, size);
        let reachable = (size / shared) as u32;
        let warnings = if shared == 1 {
            Vec::new()
        } else {
            vec![format!(
                "stride {stride} is not coprime with the pool size {size}: it reaches only {reachable} of {size} entries"
            )]
        };
        SIZE.store(size, Ordering::Relaxed);
        STRIDE.store(stride % size, Ordering::Relaxed);
        OFFSET.store(mix(config.seed) % size, Ordering::Relaxed);
        Ok(RotationInfo {
            name: "stride".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reachable,
            warnings,
        })
    }

    fn pick(first: u64, step: u64, count: u32) -> Vec<u32> {
        let size = SIZE.load(Ordering::Relaxed);
        let stride = STRIDE.load(Ordering::Relaxed);
        let offset = OFFSET.load(Ordering::Relaxed);
        // size and stride are below 2^32, so (n mod size) × stride fits in a u64.
        picks(first, step, count, |n| {
            ((offset + (n % size) * stride % size) % size) as u32
        })
    }
}

export_rotation!(Stride);
