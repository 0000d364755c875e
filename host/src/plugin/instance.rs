//! One plugin instance of any world: its store, the call deadline, the
//! classification of failed calls and the replacement of a trapped instance.

use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

use super::epoch::Running;
use super::error::{PluginError, PluginFault, root_cause};
use super::sandbox::{Limits, RuntimeInner, Stopped};
use super::state::{Grants, PluginState};
use crate::rng::SplitMix64;

/// A WIT world's generated bindings, as the runtime instantiates them.
pub(crate) trait World: Sized + Send + 'static {
    /// The pre-instantiated form.
    type Pre: Send + Sync + 'static;
    /// The world's name in messages (`scenario`, `rotation`).
    const NAME: &'static str;
    /// Whether calls run under fuel as well as the deadline.
    const FUELED: bool = false;
    /// Checks that a component implements the world.
    fn pre(pre: InstancePre<PluginState>) -> wasmtime::Result<Self::Pre>;
    /// Instantiates the world in `store`.
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<PluginState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;
}

/// Implements [`World`] for a world's generated bindings and their
/// pre-instantiated form: `world!(Scenario, ScenarioPre, "scenario");`,
/// with `fueled` for worlds whose calls run under fuel.
macro_rules! world {
    ($bindings:ident, $pre:ident, $name:literal) => {
        world!(@impl $bindings, $pre, $name, false);
    };
    ($bindings:ident, $pre:ident, $name:literal, fueled) => {
        world!(@impl $bindings, $pre, $name, true);
    };
    (@impl $bindings:ident, $pre:ident, $name:literal, $fueled:literal) => {
        impl $crate::plugin::instance::World for $bindings {
            type Pre = $pre<$crate::plugin::state::PluginState>;
            const NAME: &'static str = $name;
            const FUELED: bool = $fueled;

            fn pre(
                pre: ::wasmtime::component::InstancePre<$crate::plugin::state::PluginState>,
            ) -> ::wasmtime::Result<Self::Pre> {
                $pre::new(pre)
            }

            fn instantiate(
                pre: &Self::Pre,
                store: &mut ::wasmtime::Store<$crate::plugin::state::PluginState>,
            ) -> impl Future<Output = ::wasmtime::Result<Self>> + Send {
                pre.instantiate_async(store)
            }
        }
    };
}
pub(crate) use world;

/// Calls an export of an instance's bindings within the call's bounds and
/// classifies a failure: `guest_call!(instance, "describe", call_describe())`,
/// in a function returning `Result<_, PluginError>`.
macro_rules! guest_call {
    ($instance:expr, $name:literal, $method:ident($($arg:expr),*)) => {{
        let instance = &mut $instance;
        let (bindings, store, bounds) = instance.prepare().await?;
        let result = bounds.run(bindings.$method(store, $($arg),*)).await;
        instance.finish($name, result)
    }};
}
pub(crate) use guest_call;

/// What bounds one guest call besides its epoch checks: a deadline in
/// wall-clock time and the run's stop signal, for calls that wait on the
/// host (a WASI clock subscription is a real sleep).
pub(crate) struct Bounds {
    ends: Instant,
    stop: Option<watch::Receiver<bool>>,
}

impl Bounds {
    fn of(state: &PluginState) -> Self {
        let (ends, stop) = state.bounds();
        Bounds { ends, stop }
    }

    /// Runs `call` to its end, its deadline or the run's stop, whichever
    /// comes first. A call that does not wait on the host ends in its first
    /// poll, without a timer.
    pub(crate) async fn run<T>(
        self,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let mut call = std::pin::pin!(call);
        if let Some(done) = call.as_mut().now_or_never() {
            return done;
        }
        let stopped = async move {
            if let Some(mut stop) = self.stop
                && stop.wait_for(|stopped| *stopped).await.is_ok()
            {
                return;
            }
            std::future::pending().await
        };
        tokio::select! {
            biased;
            done = call => done,
            () = sleep_until(self.ends) => Err(Stopped::Deadline.into()),
            () = stopped => Err(Stopped::Interrupted.into()),
        }
    }
}

/// What every instance of one plugin shares.
pub(crate) struct PluginCore<W: World> {
    pub(crate) runtime: Arc<RuntimeInner>,
    pub(crate) pre: W::Pre,
    pub(crate) label: String,
    pub(crate) sha256: String,
    pub(crate) seed: u64,
}

/// One instance, owned by one worker. After a failed call the instance is
/// replaced by a fresh one before the next call.
pub(crate) struct Instance<W: World> {
    core: Arc<PluginCore<W>>,
    grants: Arc<Grants>,
    worker: u32,
    store: Store<PluginState>,
    bindings: W,
    poisoned: bool,
    /// Held from [`Instance::prepare`] to [`Instance::finish`]: the call's
    /// deadline is enforced meanwhile.
    running: Option<Running>,
}

impl<W: World> Instance<W> {
    pub(crate) async fn new(
        core: Arc<PluginCore<W>>,
        grants: Arc<Grants>,
        worker: u32,
    ) -> Result<Self, PluginError> {
        let (store, bindings) = instantiate(&core, &grants, worker).await?;
        Ok(Instance {
            core,
            grants,
            worker,
            store,
            bindings,
            poisoned: false,
            running: None,
        })
    }

    /// Arms the call's deadline (replacing a poisoned instance first) and
    /// hands out the bindings, the store and the bounds of one call; run
    /// the call within the bounds (see [`guest_call!`]).
    pub(crate) async fn prepare(
        &mut self,
    ) -> Result<(&W, &mut Store<PluginState>, Bounds), PluginError> {
        if self.poisoned {
            let (store, bindings) = instantiate(&self.core, &self.grants, self.worker).await?;
            self.store = store;
            self.bindings = bindings;
            self.poisoned = false;
        }
        let limits = self.core.runtime.limits;
        self.running = Some(self.core.runtime.sandbox(W::FUELED).engine.running());
        arm(&mut self.store, &limits);
        if W::FUELED {
            self.store
                .set_fuel(limits.fuel)
                .map_err(|e| PluginError::Runtime(e.to_string()))?;
        }
        let bounds = Bounds::of(self.store.data());
        Ok((&self.bindings, &mut self.store, bounds))
    }

    /// Turns a call's result into ours; a failure poisons the instance.
    pub(crate) fn finish<T>(
        &mut self,
        call: &'static str,
        result: wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        self.running = None;
        result.map_err(|error| {
            self.poisoned = true;
            let limits = self.core.runtime.limits;
            call_error(&self.grants.plugin, call, &error, &mut self.store, &limits)
        })
    }
}

async fn instantiate<W: World>(
    core: &PluginCore<W>,
    grants: &Arc<Grants>,
    worker: u32,
) -> Result<(Store<PluginState>, W), PluginError> {
    let limits = core.runtime.limits;
    let seed = SplitMix64::derive(core.seed, u64::from(worker));
    let state = PluginState::new(
        Arc::clone(grants),
        Arc::clone(&core.runtime.params),
        &limits,
        seed,
        core.runtime.stop.clone(),
    )
    .map_err(|e| PluginError::Data {
        plugin: grants.plugin.clone(),
        reason: e.to_string(),
    })?;
    let sandbox = &core.runtime.sandbox(W::FUELED).engine;
    let _running = sandbox.running();
    let mut store = Store::new(sandbox.engine(), state);
    if W::FUELED {
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PluginError::Runtime(e.to_string()))?;
    }
    store.limiter(|state| &mut state.memory);
    store.epoch_deadline_callback(|store| store.data().check_call());
    // Instantiation runs guest code: it gets a deadline too.
    arm(&mut store, &limits);
    let bounds = Bounds::of(store.data());
    match bounds.run(W::instantiate(&core.pre, &mut store)).await {
        Ok(bindings) => Ok((store, bindings)),
        Err(error) => Err(call_error(
            &grants.plugin,
            "instantiate",
            &error,
            &mut store,
            &limits,
        )),
    }
}

/// Starts a call's deadline: the epoch callback checks it at every tick
/// while guest code runs, [`Bounds::run`] while the call waits on the host.
fn arm(store: &mut Store<PluginState>, limits: &Limits) {
    store.data_mut().begin_call(limits.deadline);
    store.set_epoch_deadline(1);
}

/// Classifies a failed guest call by what the sandbox saw, not by message text.
fn call_error(
    plugin: &str,
    call: &'static str,
    error: &wasmtime::Error,
    store: &mut Store<PluginState>,
    limits: &Limits,
) -> PluginError {
    let fault = if store.data_mut().memory.take_hit() {
        PluginFault::Memory(limits.memory_mib())
    } else if let Some(stopped) = error.downcast_ref::<Stopped>() {
        match stopped {
            Stopped::Deadline => PluginFault::Deadline(limits.deadline),
            Stopped::Interrupted => PluginFault::Interrupted,
        }
    } else if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        PluginFault::Fuel(limits.fuel)
    } else {
        PluginFault::Trap(super::untrusted::clean(
            &root_cause(error),
            super::untrusted::MAX_TEXT,
        ))
    };
    PluginError::Call {
        plugin: plugin.to_string(),
        call,
        fault,
    }
}
