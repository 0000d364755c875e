//! What a plugin instance's store holds: its locked-down WASI context, its
//! memory cap and the capabilities the host grants it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use wasmtime::UpdateDeadline;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::sandbox::{Limits, MemoryCap, Stopped};
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
    /// How many log lines it may still write.
    log: LogBudget,
    /// The data directories granted to it, preopened read-only.
    pub(crate) data: Vec<DataDir>,
}

/// A data directory granted to a plugin: preopened read-only at the guest
/// path `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataDir {
    /// The name the plugin declared, and its guest path.
    pub(crate) name: String,
    /// The directory on the host.
    pub(crate) path: std::path::PathBuf,
}

/// Log lines one plugin may write per second; more are dropped and counted.
pub(crate) const LOG_LINES_PER_SECOND: u32 = 20;

/// What becomes of a plugin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogAdmission {
    /// Written; `dropped` lines were dropped since the last one written.
    Write { dropped: u64 },
    /// Dropped, the first since the last one written: say that lines are dropped.
    FirstDropped,
    /// Dropped.
    Dropped,
}

/// A plugin's log budget: [`LOG_LINES_PER_SECOND`] lines per second over
/// all its instances.
#[derive(Debug)]
struct LogBudget {
    /// The current second's start, lines written in it, lines dropped since
    /// the last written one.
    window: std::sync::Mutex<(Instant, u32, u64)>,
}

impl Grants {
    /// What `plugin` is granted: the `declared` secrets that `secrets` has.
    pub(crate) fn new(plugin: &str, declared: BTreeSet<String>, secrets: Arc<Secrets>) -> Self {
        Grants {
            plugin: plugin.to_string(),
            declared,
            secrets,
            log: LogBudget {
                window: std::sync::Mutex::new((Instant::now(), 0, 0)),
            },
            data: Vec::new(),
        }
    }

    /// The same grants plus read-only access to `data`.
    pub(crate) fn with_data(mut self, data: Vec<DataDir>) -> Self {
        self.data = data;
        self
    }

    /// Whether the plugin may write a log line now.
    pub(crate) fn admit_log_line(&self) -> LogAdmission {
        let mut window = self
            .log
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (started, written, dropped) = &mut *window;
        let now = Instant::now();
        if now.duration_since(*started) >= Duration::from_secs(1) {
            *started = now;
            *written = 0;
        }
        if *written >= LOG_LINES_PER_SECOND {
            *dropped += 1;
            return if *dropped == 1 {
                LogAdmission::FirstDropped
            } else {
                LogAdmission::Dropped
            };
        }
        *written += 1;
        LogAdmission::Write {
            dropped: std::mem::take(dropped),
        }
    }

    /// The value of `name`, if the plugin declared it and the run has it.
    pub(crate) fn secret(&self, name: &str) -> Option<&str> {
        if self.declared.contains(name) {
            self.secrets.get(name)
        } else {
            None
        }
    }
}

/// Resources (open files, streams) one instance may hold at once: enough
/// for any plugin's own work, far below what would run the process out of
/// file descriptors.
const MAX_RESOURCES: usize = 1024;

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
    /// The run's stop signal (Ctrl-C, SIGTERM), when it has one.
    stop: Option<watch::Receiver<bool>>,
    /// When the call in progress must have returned.
    call_ends: Instant,
    /// Whether the call in progress may be interrupted by the stop signal:
    /// only a call that began before the stop. Calls made after it (a
    /// response judged in the grace period, the gates of the partial
    /// report) run to their end or their deadline.
    interruptible: bool,
}

impl PluginState {
    /// A fresh state: no preopens but the granted data directories
    /// (read-only), no environment, no arguments, no network, empty stdin,
    /// discarded stdout and stderr, and clocks frozen at zero. Fails when a
    /// granted directory cannot be opened.
    pub(crate) fn new(
        grants: Arc<Grants>,
        params: Arc<Params>,
        limits: &Limits,
        seed: u64,
        stop: Option<watch::Receiver<bool>>,
    ) -> std::io::Result<Self> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .insecure_random_seed(u128::from(seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for dir in &grants.data {
            builder
                .preopened_dir(&dir.path, &dir.name, FsPerms::ReadOnly)
                .map_err(|e| {
                    std::io::Error::other(format!(
                        "data directory {} ({}): {e}",
                        dir.name,
                        dir.path.display()
                    ))
                })?;
        }
        let wasi = builder.build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Ok(PluginState {
            wasi,
            table,
            memory: MemoryCap::new(limits),
            grants,
            params,
            random: SplitMix64::new(seed),
            stop,
            call_ends: Instant::now(),
            interruptible: false,
        })
    }

    /// A call begins, and must return within `deadline`.
    pub(crate) fn begin_call(&mut self, deadline: std::time::Duration) {
        self.call_ends = Instant::now() + deadline;
        self.interruptible = self.stop.as_ref().is_some_and(|stop| !*stop.borrow());
        // A growth refused in an earlier call, and handled by the guest,
        // says nothing about this one.
        self.memory.take_hit();
    }

    /// Called as the epoch passes while guest code runs: ends a call that
    /// outlived its deadline or that the run's stop signal interrupts, and
    /// otherwise yields to the runtime, so that a guest computing for long
    /// never keeps a thread from the signal handler or the other tasks.
    pub(crate) fn check_call(&self) -> wasmtime::Result<UpdateDeadline> {
        if self.interruptible && self.stop.as_ref().is_some_and(|stop| *stop.borrow()) {
            return Err(Stopped::Interrupted.into());
        }
        if Instant::now() >= self.call_ends {
            return Err(Stopped::Deadline.into());
        }
        Ok(UpdateDeadline::Yield(1))
    }

    /// When the call in progress must have returned, and the stop signal
    /// that interrupts it (`None` when nothing does).
    pub(crate) fn bounds(&self) -> (Instant, Option<watch::Receiver<bool>>) {
        let stop = self.stop.clone().filter(|_| self.interruptible);
        (self.call_ends, stop)
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
