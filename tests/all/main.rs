//! End-to-end tests: the real `relhost` binary (and its drill library, in
//! process) against the real `relhost-sim` on 127.0.0.1, on ephemeral ports.

mod bare;
mod canary;
mod convex;
mod dashboard;
mod drill;
mod gameday;
mod gate;
mod k8s;
mod library;
mod load;
mod ops;
mod outputs;
mod payloads;
mod pool;
mod registry;
mod rotation;
mod sandbox;
mod secrets;
mod segments;
mod sim;
mod support;
mod tls;
