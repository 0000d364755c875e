//! Guest SDK for relhost plugins.
//!
//! A scenario plugin implements [`TemplateScenario`] (or [`Guest`] for full
//! control) and exports it with [`export_scenario!`](crate::export_scenario);
//! a rotation strategy implements [`rotation::Guest`] and exports it with
//! [`export_rotation!`](crate::export_rotation):
//!
//! ```ignore
//! use relhost_plugin_sdk::*;
//! struct MyScenario;
//! impl Guest for MyScenario { /* describe, plan, build_request, judge */ }
//! export_scenario!(MyScenario);
//! ```

#[doc(hidden)]
#[allow(clippy::too_many_arguments)] // generated from the WIT records
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "scenario",
        pub_export_macro: true,
        export_macro_name: "export_scenario",
        default_bindings_module: "relhost_plugin_sdk::bindings",
    });
}

#[doc(hidden)]
pub mod rotation_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "rotation",
        pub_export_macro: true,
        export_macro_name: "export_rotation",
        default_bindings_module: "relhost_plugin_sdk::rotation_bindings",
    });
}

#[doc(hidden)]
pub mod slo_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "slo-evaluator",
        pub_export_macro: true,
        export_macro_name: "export_slo_evaluator",
        default_bindings_module: "relhost_plugin_sdk::slo_bindings",
    });
}

#[doc(hidden)]
pub mod payload_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "payload-builder",
        pub_export_macro: true,
        export_macro_name: "export_payload_builder",
        default_bindings_module: "relhost_plugin_sdk::payload_bindings",
    });
}

/// The payload-builder world: request bodies a batch at a time, optionally
/// from read-only data directories (preopened under their names).
pub mod payload {
    pub use crate::payload_bindings::Guest;
    pub use crate::payload_bindings::relhost::plugin::payload_types::{
        Batch, BuilderInfo, Payload,
    };
    pub use crate::rotation::mix;

    /// A payload that sets only the body, sent byte for byte (`{{` in it
    /// is not a placeholder).
    pub fn body(bytes: impl Into<Vec<u8>>) -> Payload {
        Payload {
            body: bytes.into(),
            literal: true,
            headers: Vec::new(),
            query: Vec::new(),
        }
    }

    /// A payload that sets only the body, whose placeholders
    /// (`{{credential.thread}}`, `{{uuid}}`, ...) the host fills.
    pub fn templated(text: impl Into<String>) -> Payload {
        Payload {
            body: text.into().into_bytes(),
            literal: false,
            headers: Vec::new(),
            query: Vec::new(),
        }
    }

    /// A data directory's files (name, bytes) in name order, or why they
    /// could not be read.
    pub type DataFiles = Result<Vec<(String, Vec<u8>)>, String>;

    /// The files of data directory `dir`, read on the first call and kept
    /// for the instance's life in `slot`; an empty directory is an error.
    pub fn load_once(
        slot: &'static std::sync::OnceLock<DataFiles>,
        dir: &str,
    ) -> Result<&'static [(String, Vec<u8>)], String> {
        slot.get_or_init(|| {
            let files = read_dir_sorted(dir)?;
            if files.is_empty() {
                return Err(format!("data directory {dir} holds no file"));
            }
            Ok(files)
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
    }

    /// The files of data directory `dir`, sorted by name, as (name, bytes).
    /// Subdirectories and files whose names start with `.` are skipped.
    pub fn read_dir_sorted(dir: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("data directory {dir}: {e}"))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let bytes = std::fs::read(format!("{dir}/{n}"))
                    .map_err(|e| format!("data directory {dir}: {n}: {e}"))?;
                Ok((n, bytes))
            })
            .collect()
    }

    /// The order in which round `round` of `len` requests visits the
    /// positions `0..len`: each once, shuffled by `seed` and the round
    /// (Fisher-Yates). Request `sequence` is in round `sequence / len`, at
    /// `order[sequence % len]`.
    pub fn round_order(seed: u64, round: u64, len: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..len).collect();
        let mut state = mix(seed ^ mix(round));
        for i in (1..len).rev() {
            state = mix(state);
            let j = (state % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }

    /// Payloads for `batch`, one per sequence number, from `items` visited
    /// in seeded rounds (see [`round_order`]): over any `items.len()`
    /// consecutive rounds' worth of requests from a round's start, each item
    /// is used once per round.
    pub fn replay<T>(batch: &Batch, items: &[T], make: impl Fn(&T) -> Payload) -> Vec<Payload> {
        if items.is_empty() {
            return Vec::new();
        }
        let len = items.len();
        let mut cached: Option<(u64, Vec<usize>)> = None;
        (0..u64::from(batch.count))
            .map(|i| {
                let sequence = batch.first + i;
                let round = sequence / len as u64;
                if cached.as_ref().is_none_or(|(r, _)| *r != round) {
                    cached = Some((round, round_order(batch.seed, round, len)));
                }
                let order = &cached.as_ref().expect("cached above").1;
                make(&items[order[(sequence % len as u64) as usize]])
            })
            .collect()
    }
}
pub use payload_bindings::export_payload_builder;

/// The SLO-evaluator world: checks from a scenario's figures and thresholds.
pub mod slo {
    pub use crate::slo_bindings::Guest;
    pub use crate::slo_bindings::relhost::plugin::slo_types::{
        Comparator, EvaluatorInfo, ScenarioSummary, SeriesPoint, SloCheck, Unit,
    };

    /// The threshold named `name`, if the policy gave one.
    pub fn threshold(thresholds: &[(String, f64)], name: &str) -> Option<f64> {
        thresholds.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// A check of `observed` against `threshold`.
    pub fn check(
        name: &str,
        observed: f64,
        threshold: f64,
        comparator: Comparator,
        unit: Unit,
    ) -> SloCheck {
        let passed = match comparator {
            Comparator::AtMost => observed <= threshold,
            Comparator::AtLeast => observed >= threshold,
        };
        SloCheck {
            name: name.into(),
            observed,
            threshold,
            comparator,
            unit,
            passed,
            message: None,
        }
    }
}
pub use slo_bindings::export_slo_evaluator;

/// The rotation world: which credential of the pool each request uses.
pub mod rotation {
    pub use crate::rotation_bindings::Guest;
    pub use crate::rotation_bindings::relhost::plugin::rotation_types::{
        RotationConfig, RotationInfo,
    };

    /// Greatest common divisor.
    pub fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }

    /// The splitmix64 finalizer: a well-mixed 64-bit hash of `x`.
    pub fn mix(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `count` indices for `first`, `first + step`, ... computed by `index`.
    pub fn picks(first: u64, step: u64, count: u32, index: impl Fn(u64) -> u32) -> Vec<u32> {
        (0..u64::from(count))
            .map(|i| index(first.wrapping_add(i.wrapping_mul(step))))
            .collect()
    }
}
pub use rotation_bindings::export_rotation;

pub use bindings::relhost::plugin::host;
pub use bindings::relhost::plugin::scenario_types::{
    CallContext, Credential, Descriptor, RequestPlan, ResponseSummary, Signing, Template, Verdict,
};
pub use bindings::relhost::plugin::types::{Header, Load, LogLevel, Method, Request, Stage};
pub use bindings::{Guest, export_scenario};

/// A header from two string slices.
pub fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// An open-model stage: `rate` arrivals per second for `duration_ms`.
pub fn rate_stage(name: &str, rate: f64, duration_ms: u64, ramp_ms: u64) -> Stage {
    Stage {
        name: name.to_string(),
        load: Load::Rate(rate),
        duration_ms,
        ramp_ms,
        max_requests: None,
    }
}

/// A closed-model stage: `users` concurrent virtual users for `duration_ms`.
pub fn concurrency_stage(name: &str, users: u32, duration_ms: u64, ramp_ms: u64) -> Stage {
    Stage {
        name: name.to_string(),
        load: Load::Concurrency(users),
        duration_ms,
        ramp_ms,
        max_requests: None,
    }
}

/// A template for a `POST` of a JSON body, with optional signing.
pub fn json_post(
    path: &str,
    query: Vec<(String, String)>,
    mut headers: Vec<Header>,
    body: &str,
    signing: Option<Signing>,
) -> Template {
    headers.push(header("content-type", "application/json"));
    Template {
        request: Request {
            method: Method::Post,
            path: path.to_string(),
            query,
            headers,
            body: body.as_bytes().to_vec(),
        },
        signing,
    }
}

/// A scenario whose every request follows one template that the host fills
/// natively: no plugin call per request. Implementing it implements [`Guest`].
pub trait TemplateScenario {
    /// What the scenario says about itself.
    fn descriptor() -> Descriptor;
    /// The request template, filled by the host for every request.
    fn template() -> Template;
}

impl<T: TemplateScenario> Guest for T {
    fn describe() -> Descriptor {
        T::descriptor()
    }

    fn plan(_stage: Stage) -> RequestPlan {
        RequestPlan::Template(T::template())
    }

    fn build_request(_ctx: CallContext) -> Request {
        T::template().request
    }

    fn judge(_summary: ResponseSummary) -> Verdict {
        Verdict::Pass
    }
}
