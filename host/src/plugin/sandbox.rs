//! The sandbox: engine configuration, call deadlines and memory caps.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Cache, CacheConfig, Config, Engine, ResourceLimiter};

use super::epoch::{EPOCH_TICK, EpochTicker, Running};
use super::error::PluginError;

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
    /// The deadline in epoch ticks (at least one).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.deadline.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64 + 1
    }

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
    /// An engine with epoch interruption and the component model, and with
    /// fuel metering when `fuel` is set.
    pub(crate) fn new(fuel: bool) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(fuel)
            .cache(compile_cache().cloned());
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

/// The compiled-plugin cache shared by every engine of the process:
/// `compiled/` under the plugin cache directory (`RELHOST_CACHE_DIR`, else
/// `~/.relhost/cache`). `None` when that directory cannot be made; plugins
/// are then compiled on every run.
fn compile_cache() -> Option<&'static Cache> {
    static CACHE: OnceLock<Option<Cache>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let dir = crate::registry::default_dir(crate::registry::CACHE_DIR_ENV, "cache");
            open_compile_cache(&dir.join("compiled"))
        })
        .as_ref()
}

/// A cache of compiled components in `dir`, made private to the user:
/// what it holds is run as native code.
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

/// Caps an instance's memory and remembers whether the cap was hit, so a
/// guest abort after a failed allocation is reported as what it is.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    max_bytes: usize,
    hit: bool,
}

impl MemoryCap {
    pub(crate) fn new(limits: &Limits) -> Self {
        MemoryCap {
            max_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
            hit: false,
        }
    }

    /// Whether a growth was refused since the last call; resets the flag.
    pub(crate) fn take_hit(&mut self) -> bool {
        std::mem::take(&mut self.hit)
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use wasmtime::component::Component;

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
