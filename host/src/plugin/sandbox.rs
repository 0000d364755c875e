//! The sandbox: engine configuration, call deadlines and memory caps.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;

use wasmtime::{Cache, CacheConfig, Config, Engine, ResourceLimiter};

use std::sync::Arc;

use tokio::sync::watch;
use wasmtime::component::{HasSelf, Linker};

use super::bindings::payload::relhost::plugin::payload_types;
use super::bindings::rotation::relhost::plugin::rotation_types;
use super::bindings::scenario::Scenario;
use super::bindings::slo::relhost::plugin::slo_types;
use super::epoch::{EpochTicker, Running};
use super::error::PluginError;
use super::state::{Params, PluginState};

/// Per-call and per-instance limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest a single guest call may run.
    pub deadline: Duration,
    /// The most linear memory one instance may hold, in bytes.
    pub memory_bytes: u64,
    /// Fuel (roughly, WebAssembly instructions) of one call of a world that
    /// runs under fuel (SLO evaluators), so their verdicts are reproducible.
    pub fuel: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(100),
            memory_bytes: 64 << 20,
            fuel: 100_000_000,
        }
    }
}

impl Limits {
    /// The memory cap in whole MiB, for messages.
    pub(crate) fn memory_mib(&self) -> u64 {
        self.memory_bytes >> 20
    }
}

/// A wasmtime engine whose epoch advances on a background thread while
/// guest code runs.
pub(crate) struct SandboxEngine {
    engine: Engine,
    ticker: EpochTicker,
}

impl SandboxEngine {
    /// An engine with epoch interruption and the component model, with
    /// fuel metering when `fuel` is set, keeping compiled components in
    /// `compile_cache` when given.
    pub(crate) fn new(fuel: bool, compile_cache: Option<&Path>) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(fuel)
            .cache(compile_cache.and_then(open_compile_cache));
        let engine = Engine::new(&config).map_err(|e| PluginError::Runtime(e.to_string()))?;
        let ticker = EpochTicker::start(engine.clone())
            .map_err(|e| PluginError::Runtime(format!("cannot start the epoch thread: {e}")))?;
        Ok(SandboxEngine { engine, ticker })
    }

    /// The engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Guest code is about to run: its deadline is enforced until the
    /// guard is dropped.
    pub(crate) fn running(&self) -> Running {
        self.ticker.running()
    }
}

/// A cache of compiled components in `dir`, made private to the user:
/// what it holds is run as native code. `None` when the directory cannot
/// be made; plugins are then compiled on every run.
///
/// Compiling a component with Cranelift costs each run about 200 ms of CPU,
/// as much as 40,000 requests of a load run. wasmtime keys each entry by a
/// hash of the component, the engine's settings and wasmtime's version, so
/// a changed plugin or sandbox setting compiles afresh.
fn open_compile_cache(dir: &Path) -> Option<Cache> {
    let dir = std::path::absolute(dir).ok()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .ok()?;
    let mut config = CacheConfig::new();
    config.with_directory(dir);
    Cache::new(config).ok()
}

/// What every plugin of a run shares: the two sandboxes (plain, and fuel
/// metered), the limits, the run parameters and the stop signal.
pub(crate) struct RuntimeInner {
    plain: Sandbox,
    fueled: Sandbox,
    pub(crate) limits: Limits,
    pub(crate) params: Arc<Params>,
    /// The run's stop signal: a call in progress ends when it turns true.
    pub(crate) stop: Option<watch::Receiver<bool>>,
}

/// An engine, its epoch ticker, and a linker granting every world's imports.
pub(crate) struct Sandbox {
    pub(crate) engine: SandboxEngine,
    pub(crate) linker: Linker<PluginState>,
}

impl Sandbox {
    fn new(fuel: bool, compile_cache: Option<&Path>) -> Result<Self, PluginError> {
        let engine = SandboxEngine::new(fuel, compile_cache)?;
        let mut linker = Linker::new(engine.engine());
        let runtime_error = |e: wasmtime::Error| PluginError::Runtime(e.to_string());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(runtime_error)?;
        Scenario::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(runtime_error)?;
        // The other worlds share `host` and `types`; they add their own types only.
        rotation_types::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(runtime_error)?;
        slo_types::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(runtime_error)?;
        payload_types::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(runtime_error)?;
        Ok(Sandbox { engine, linker })
    }
}

impl RuntimeInner {
    /// The sandboxes of a run (see [`Runtime::with_params`](super::Runtime::with_params)).
    pub(crate) fn new(
        limits: Limits,
        params: Params,
        stop: Option<watch::Receiver<bool>>,
        compile_cache: Option<&Path>,
    ) -> Result<Self, PluginError> {
        Ok(RuntimeInner {
            plain: Sandbox::new(false, compile_cache)?,
            fueled: Sandbox::new(true, compile_cache)?,
            limits,
            params: Arc::new(params),
            stop,
        })
    }

    /// The sandbox a world runs in.
    pub(crate) fn sandbox(&self, fueled: bool) -> &Sandbox {
        if fueled { &self.fueled } else { &self.plain }
    }
}

/// Why the host cut a guest call short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stopped {
    /// The call outlived its deadline, in guest code or waiting on the host.
    #[error("the call outlived its deadline")]
    Deadline,
    /// The run was interrupted (Ctrl-C, SIGTERM).
    #[error("the run was interrupted")]
    Interrupted,
}

/// Table elements one instance may hold over all its tables.
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Memories, tables and core instances one instance may create: a Rust
/// component has one memory, a few tables and about three core instances.
const MAX_ITEMS: usize = 64;

/// Caps an instance's memory, over all its linear memories, and its table
/// elements, over all its tables; remembers whether the memory cap was
/// hit, so a guest abort after a failed allocation is reported as what it is.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    max_bytes: usize,
    /// Bytes of every memory the instance holds.
    bytes: usize,
    /// Elements of every table the instance holds.
    elements: usize,
    /// The last growth allowed, undone if it then failed.
    last_growth: usize,
    hit: bool,
}

impl MemoryCap {
    pub(crate) fn new(limits: &Limits) -> Self {
        MemoryCap {
            max_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
            bytes: 0,
            elements: 0,
            last_growth: 0,
            hit: false,
        }
    }

    /// Whether a growth was refused since the last call; resets the flag.
    pub(crate) fn take_hit(&mut self) -> bool {
        std::mem::take(&mut self.hit)
    }
}

/// `total` with one item grown from `current` to `desired`, if within `max`.
fn grown(total: usize, current: usize, desired: usize, max: usize) -> Option<usize> {
    total
        .checked_sub(current)?
        .checked_add(desired)
        .filter(|total| *total <= max)
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grown(self.bytes, current, desired, self.max_bytes) {
            Some(total) => {
                self.last_growth = total - self.bytes;
                self.bytes = total;
                Ok(true)
            }
            None => {
                self.hit = true;
                Ok(false)
            }
        }
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // Allowed here, refused by the memory itself (its own maximum):
        // it did not grow.
        self.bytes -= std::mem::take(&mut self.last_growth);
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grown(self.elements, current, desired, MAX_TABLE_ELEMENTS) {
            Some(total) => {
                self.elements = total;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn instances(&self) -> usize {
        MAX_ITEMS
    }

    fn tables(&self) -> usize {
        MAX_ITEMS
    }

    fn memories(&self) -> usize {
        MAX_ITEMS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use wasmtime::component::Component;

    /// A core module with two linear memories of 640 pages (40 MiB) each.
    const TWO_MEMORIES: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x05, 0x07, 0x02, // memory section: 7 bytes, 2 memories
        0x00, 0x80, 0x05, // min 640 pages, no max
        0x00, 0x80, 0x05,
    ];

    #[test]
    fn the_memory_cap_holds_over_all_memories_of_an_instance() {
        let engine = Engine::default();
        let module = wasmtime::Module::new(&engine, TWO_MEMORIES).expect("module");
        let instantiate = |mib: u64| {
            let limits = Limits {
                memory_bytes: mib << 20,
                ..Limits::default()
            };
            let mut store = wasmtime::Store::new(&engine, MemoryCap::new(&limits));
            store.limiter(|cap| cap);
            let instance = wasmtime::Instance::new(&mut store, &module, &[]);
            (instance.is_ok(), store.data_mut().take_hit())
        };
        // Each memory fits under 64 MiB; both together do not.
        assert_eq!(instantiate(64), (false, true));
        assert_eq!(instantiate(80), (true, false));
    }

    #[test]
    fn a_component_compiled_once_is_loaded_from_the_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("compiled");
        let cache = open_compile_cache(&root).expect("cache");
        let mode = std::fs::metadata(&root)
            .expect("cache dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let bytes = super::super::artifacts::builtin("http_request").expect("built-in");
        for _ in 0..2 {
            let mut config = Config::new();
            config
                .wasm_component_model(true)
                .epoch_interruption(true)
                .cache(Some(cache.clone()));
            let engine = Engine::new(&config).expect("engine");
            Component::new(&engine, bytes).expect("compiles");
        }
        assert_eq!((cache.cache_misses(), cache.cache_hits()), (1, 1));
    }
}
