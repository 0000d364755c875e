//! `random`: request `n` uses a pool entry drawn from a hash of the seed
//! and `n`: the same seed gives the same sequence, whatever the number of
//! workers; another seed gives another sequence.

use std::sync::atomic::{AtomicU64, Ordering};

use relhost_plugin_sdk::export_rotation;
use relhost_plugin_sdk::rotation::*;

static SIZE: AtomicU64 = AtomicU64::new(1);
static SEED: AtomicU64 = AtomicU64::new(0);

struct Random;

impl Guest for Random {
    fn configure(config: RotationConfig) -> Result<RotationInfo, String> {
        if config.pool_size == 0 {
            return Err("the pool is empty".into());
        }
        SIZE.store(u64::from(config.pool_size), Ordering::Relaxed);
        SEED.store(mix(config.seed), Ordering::Relaxed);
        Ok(RotationInfo {
            name: "random".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reachable: config.pool_size,
            warnings: Vec::new(),
        })
    }

    fn pick(first: u64, step: u64, count: u32) -> Vec<u32> {
        let size = SIZE.load(Ordering::Relaxed);
        let seed = SEED.load(Ordering::Relaxed);
        // Lemire's multiply-shift maps the hash onto 0..size without a division.
        picks(first, step, count, |n| {
            ((u128::from(mix(seed ^ n)) * u128::from(size)) >> 64) as u32
        })
    }
}

export_rotation!(Random);
