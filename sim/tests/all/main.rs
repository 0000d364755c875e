//! End-to-end tests of relhost-sim over real HTTP on 127.0.0.1:0.

mod admission;
mod auth;
mod chat;
mod faults;
mod functions;
mod garbage;
mod linking;
mod ops;
mod resilience;
mod server;
mod support;
mod webhooks;
