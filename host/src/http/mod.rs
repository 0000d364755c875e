//! HTTP client side: connection pools, TLS, event-stream reading and error classes.
//!
//! Each engine worker owns a [`Client`]: relhost's own HTTP/1.1 client for
//! `http://` and `https://` (TLS by rustls over the same sockets), the h2
//! crate's HTTP/2 client connections, and a hyper-util pool for
//! control-plane calls. The rustls
//! configuration is built once per run as a [`ClientTls`] and shared
//! read-only. [`Client::send`] times one request
//! from the moment it is called, reads the whole response without keeping
//! it (counting bytes and, for event streams, SSE events) and ends in an
//! [`Exchange`]: a status, or exactly one [`ErrorClass`].
//!
//! Timeouts: `connect_timeout` bounds establishing a new connection —
//! name resolution, TCP connect and TLS handshake together — and its expiry
//! is `ConnectTimeout`; `request_timeout` runs from the call of `send` until
//! the response head (waiting for or establishing a connection included) and
//! is `RequestTimeout`; `stream_idle_timeout` bounds every gap between body
//! frames.

mod body;
mod classify;
mod client;
mod config;
mod connect;
mod error;
mod excerpt;
mod exchange;
mod h1;
mod h2;
mod sse;
mod tls;
mod url;

#[cfg(test)]
mod tests;

pub use client::{Client, OutgoingRequest};
pub use config::{ClientConfig, HttpError};
pub use error::ErrorClass;
pub use excerpt::{body_excerpt, excerpt};
pub use exchange::{Connections, Exchange};
pub(crate) use h1::wire;
pub use h1::{Origin, Receive};
pub use tls::ClientTls;
pub use url::join_url;
