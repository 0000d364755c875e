//! Network error classes: every request that gets no status ends in exactly one.

use serde::{Deserialize, Serialize};

/// Why a request got no (complete) response. Classified from the error's
/// kind, never from its message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The target refused the TCP connection.
    ConnectRefused,
    /// The TCP (and TLS) connection was not established within the connect timeout.
    ConnectTimeout,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The connection was reset or closed before the response head arrived.
    Reset,
    /// No response head within the request timeout.
    RequestTimeout,
    /// A response body or event stream went idle for longer than the stream-idle timeout.
    StreamIdleTimeout,
    /// The response body or event stream was cut after the head arrived.
    BodyAborted,
    /// Any other transport failure.
    Other,
}

impl ErrorClass {
    /// Every class, in report order.
    pub const ALL: [ErrorClass; 9] = [
        ErrorClass::ConnectRefused,
        ErrorClass::ConnectTimeout,
        ErrorClass::Dns,
        ErrorClass::Tls,
        ErrorClass::Reset,
        ErrorClass::RequestTimeout,
        ErrorClass::StreamIdleTimeout,
        ErrorClass::BodyAborted,
        ErrorClass::Other,
    ];

    /// The class's name in reports (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::Dns => "dns",
            ErrorClass::Tls => "tls",
            ErrorClass::Reset => "reset",
            ErrorClass::RequestTimeout => "request_timeout",
            ErrorClass::StreamIdleTimeout => "stream_idle_timeout",
            ErrorClass::BodyAborted => "body_aborted",
            ErrorClass::Other => "other",
        }
    }

    /// Position in [`ErrorClass::ALL`], for fixed-size counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}
