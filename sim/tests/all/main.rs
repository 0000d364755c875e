//! End-to-end tests of relhost-sim over real HTTP on 127.0.0.1:0.

mod auth;
mod chat;
mod faults;
mod functions;
mod garbage;
mod ops;
mod resilience;
mod server;
mod support;
mod webhooks;
