//! `round_robin`: request `n` uses pool entry `n mod size`.

use std::sync::atomic::{AtomicU64, Ordering};

use relhost_plugin_sdk::export_rotation;
use relhost_plugin_sdk::rotation::*;

/// The pool size, set by `configure`.
static SIZE: AtomicU64 = AtomicU64::new(1);

struct RoundRobin;

impl Guest for RoundRobin {
    fn configure(config: RotationConfig) -> Result<RotationInfo, String> {
        if config.pool_size == 0 {
            return Err("the pool is empty".into());
        }
        SIZE.store(u64::from(config.pool_size), Ordering::Relaxed);
        Ok(RotationInfo {
            name: "round_robin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reachable: config.pool_size,
            warnings: Vec::new(),
        })
    }

    fn pick(first: u64, step: u64, count: u32) -> Vec<u32> {
        let size = SIZE.load(Ordering::Relaxed);
        picks(first, step, count, |n| (n % size) as u32)
    }
}

export_rotation!(RoundRobin);
