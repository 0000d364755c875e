//! A rotation strategy that misbehaves as the run parameter
//! `rotation_hostile` says: `sleep` sleeps in `pick`, `bloat` warns 40
//! times, 384 KiB of escapes each. Otherwise it is round-robin.

use std::sync::atomic::{AtomicU64, Ordering};

use relhost_plugin_sdk::export_rotation;
use relhost_plugin_sdk::host;
use relhost_plugin_sdk::rotation::*;

static SIZE: AtomicU64 = AtomicU64::new(1);

struct RotationHostile;

impl Guest for RotationHostile {
    fn configure(config: RotationConfig) -> Result<RotationInfo, String> {
        SIZE.store(u64::from(config.pool_size.max(1)), Ordering::Relaxed);
        let bloat = host::param("rotation_hostile").as_deref() == Some("bloat");
        Ok(RotationInfo {
            name: "rotation_hostile".into(),
            version: "0.0.1".into(),
            reachable: config.pool_size,
            warnings: if bloat {
                vec!["w\n\u{1b}[31m".repeat(1 << 16); 40]
            } else {
                Vec::new()
            },
        })
    }

    fn pick(first: u64, step: u64, count: u32) -> Vec<u32> {
        if host::param("rotation_hostile").as_deref() == Some("sleep") {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        let size = SIZE.load(Ordering::Relaxed);
        picks(first, step, count, |n| (n % size) as u32)
    }
}

export_rotation!(RotationHostile);
