//! relhost: a reliability load platform.
//!
//! A native host owns connections, scheduling and timing; scenarios, payload
//! builders and other team-specific logic ship as sandboxed WebAssembly
//! components. The binary in `main.rs` is a thin wrapper over [`cli::run`].
//!
//! Linux only: the pacer sleeps on timerfd and the load client reads the
//! kernel's receive timestamps (`SO_TIMESTAMPNS`).

#[cfg(not(target_os = "linux"))]
compile_error!("relhost runs on Linux only: its pacer uses timerfd and its client SO_TIMESTAMPNS");

pub mod atomic_file;
pub mod canary;
pub mod cli;
pub mod convex;
pub mod dashboard;
pub mod drill;
pub mod engine;
pub mod exit;
pub mod gameday;
pub mod http;
pub mod k8s;
pub mod merge;
pub mod metrics;
pub mod milestone_gate;
pub mod output;
pub mod plugin;
pub mod policy;
pub mod pool;
pub mod probe;
pub mod redact;
pub mod region;
pub mod registry;
pub mod release_gate;
pub mod report;
mod rng;
pub mod slo;
pub mod snapshot;
