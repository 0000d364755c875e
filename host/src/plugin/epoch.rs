//! The epoch ticker: what interrupts a guest call that outlives its deadline.
//!
//! wasmtime checks a store's epoch deadline as guest code runs, and a
//! background thread advances the engine's epoch every [`EPOCH_TICK`]. A
//! thread waking 200 times a second costs a load run about 1% of its CPU
//! when no guest code runs at all (a request template is filled natively),
//! so the ticker sleeps once no call has run for [`IDLE`], and the next
//! call wakes it. A call in progress ([`Running`]) always keeps it ticking,
//! whatever its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances: how often a running guest's deadline and
/// the stop signal are checked (see `PluginState::check_call`).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Ticks without any call after which the ticker sleeps: long enough that
/// plugins called per request never wait for it to wake.
const IDLE: u32 = 200;

/// State shared by the ticker thread and the callers.
#[derive(Default)]
struct Shared {
    /// Calls (and instantiations) in progress.
    running: AtomicUsize,
    /// Calls ever begun; a change means the ticker was not idle.
    begun: AtomicU64,
    /// The ticker is asleep, or about to be: a beginning call wakes it.
    asleep: AtomicBool,
    stop: AtomicBool,
}

/// A thread advancing an engine's epoch while guest code may run.
pub(crate) struct EpochTicker {
    shared: Arc<Shared>,
    thread: Thread,
    handle: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts the thread, asleep until the first call.
    pub(crate) fn start(engine: Engine) -> std::io::Result<EpochTicker> {
        let shared = Arc::new(Shared::default());
        let handle = std::thread::Builder::new()
            .name("relhost-epoch".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || tick(&engine, &shared)
            })?;
        Ok(EpochTicker {
            shared,
            thread: handle.thread().clone(),
            handle: Some(handle),
        })
    }

    /// Guest code is about to run: the epoch advances until the returned
    /// guard is dropped (and for [`IDLE`] ticks after).
    pub(crate) fn running(&self) -> Running {
        let shared = &self.shared;
        shared.running.fetch_add(1, Ordering::SeqCst);
        shared.begun.fetch_add(1, Ordering::Relaxed);
        // Paired with the ticker's store of `asleep` and load of `running`:
        // either it sees this call, or this call sees it going to sleep.
        if shared.asleep.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        Running(Arc::clone(shared))
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Guest code of one call may be running; the ticker ticks.
pub(crate) struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The ticker thread's loop.
fn tick(engine: &Engine, shared: &Shared) {
    let mut idle = IDLE;
    let mut begun = shared.begun.load(Ordering::Relaxed);
    while !shared.stop.load(Ordering::SeqCst) {
        if idle >= IDLE {
            shared.asleep.store(true, Ordering::SeqCst);
            if shared.running.load(Ordering::SeqCst) == 0 && !shared.stop.load(Ordering::SeqCst) {
                std::thread::park();
            }
            shared.asleep.store(false, Ordering::SeqCst);
            idle = 0;
            continue;
        }
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
        let now = shared.begun.load(Ordering::Relaxed);
        if now == begun && shared.running.load(Ordering::SeqCst) == 0 {
            idle += 1;
        } else {
            idle = 0;
            begun = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module (func (export "spin") (loop (br 0))))`
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // func 0: type 0
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // code
    ];

    /// The engine's current epoch, seen through a store's deadline.
    fn epoch_advances(engine: &Engine, within: Duration) -> bool {
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(1);
        let module = wasmtime::Module::new(engine, SPIN).expect("module");
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instance");
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .expect("spin");
        store.epoch_deadline_trap();
        let (done, waited) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(move || done.send(spin.call(&mut store, ()).is_err()));
            let interrupted = waited.recv_timeout(within);
            if interrupted.is_err() {
                // Release the spinning guest, to fail rather than hang.
                engine.increment_epoch();
            }
            interrupted.unwrap_or(false)
        })
    }

    #[test]
    fn a_running_call_is_interrupted_and_an_idle_ticker_sleeps() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).expect("engine");
        let ticker = EpochTicker::start(engine.clone()).expect("ticker");
        {
            let _running = ticker.running();
            assert!(
                epoch_advances(&engine, Duration::from_secs(5)),
                "a spinning guest is interrupted while a call runs"
            );
        }
        // Idle for longer than IDLE ticks: the ticker sleeps.
        std::thread::sleep(EPOCH_TICK * (IDLE + 40));
        assert!(ticker.shared.asleep.load(Ordering::SeqCst));
        // And a new call wakes it.
        let _running = ticker.running();
        assert!(epoch_advances(&engine, Duration::from_secs(5)));
        assert!(!ticker.shared.asleep.load(Ordering::SeqCst));
    }
}
