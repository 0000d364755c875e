//! Host-side bindings of the `relhost:plugin` WIT package: one module per
//! world, sharing the `host` and `types` interfaces.

/// The scenario world.
pub(crate) mod scenario {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "scenario",
        exports: { default: async },
    });
}

/// The rotation world.
pub(crate) mod rotation {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "rotation",
        exports: { default: async },
        with: {
            "relhost:plugin/host": super::scenario::relhost::plugin::host,
            "relhost:plugin/types": super::scenario::relhost::plugin::types,
        },
    });
}

/// The payload-builder world.
pub(crate) mod payload {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "payload-builder",
        exports: { default: async },
        with: {
            "relhost:plugin/host": super::scenario::relhost::plugin::host,
            "relhost:plugin/types": super::scenario::relhost::plugin::types,
        },
    });
}

/// The SLO-evaluator world.
pub(crate) mod slo {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "slo-evaluator",
        exports: { default: async },
        with: {
            "relhost:plugin/host": super::scenario::relhost::plugin::host,
            "relhost:plugin/types": super::scenario::relhost::plugin::types,
        },
    });
}
