//! What a plugin instance's store holds: its locked-down WASI context, its
//! memory cap and the capabilities the host grants it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::sandbox::{Limits, MemoryCap};
use super::secrets::Secrets;
use crate::rng::SplitMix64;

/// What the host grants one plugin: shared by all its instances.
#[derive(Debug)]
pub(crate) struct Grants {
    /// The plugin's name, for logs and errors.
    pub(crate) plugin: String,
    /// The secrets the plugin declared; nothing else is visible to it.
    pub(crate) declared: BTreeSet<String>,
    /// The run's secrets.
    pub(crate) secrets: Arc<Secrets>,
}

impl Grants {
    /// The value of `name`, if the plugin declared it and the run has it.
    pub(crate) fn secret(&self, name: &str) -> Option<&str> {
        if self.declared.contains(name) {
            self.secrets.get(name)
        } else {
            None
        }
    }
}

/// Run parameters by name, given to every plugin (`--param NAME=VALUE`).
pub type Params = std::collections::BTreeMap<String, String>;

/// The data of one instance's store.
pub(crate) struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) grants: Arc<Grants>,
    /// The run's parameters (`--param`).
    pub(crate) params: Arc<Params>,
    /// The instance's seeded random sequence.
    random: SplitMix64,
}

impl PluginState {
    /// A fresh state: no preopens, no environment, no arguments, no network,
    /// empty stdin, discarded stdout and stderr, and clocks frozen at zero.
    pub(crate) fn new(
        grants: Arc<Grants>,
        params: Arc<Params>,
        limits: &Limits,
        seed: u64,
    ) -> Self {
        let wasi = WasiCtxBuilder::new()
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .insecure_random_seed(u128::from(seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        PluginState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap::new(limits),
            grants,
            params,
            random: SplitMix64::new(seed),
        }
    }

    /// The next number of the seeded sequence.
    pub(crate) fn next_random(&mut self) -> u64 {
        self.random.next_u64()
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A clock that always reads zero: plugins get no time of their own.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
