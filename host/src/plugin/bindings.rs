//! Host-side bindings of the `relhost:plugin` WIT package.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "scenario",
    exports: { default: async },
});
