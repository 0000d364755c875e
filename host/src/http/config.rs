//! Client settings and the errors of building a client.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::ErrorClass;
use super::exchange::Failure;

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Bound on establishing a new connection: name resolution, TCP connect
    /// and TLS handshake together (see [`crate::http`]).
    pub connect_timeout: Duration,
    /// Bound from the call of [`Client::send`](super::Client::send) until the
    /// response head arrives (includes waiting for a connection).
    pub request_timeout: Duration,
    /// Longest gap allowed between two body frames once the head arrived.
    pub stream_idle_timeout: Duration,
    /// `true`: HTTP/2 only — prior knowledge (h2c) on `http://`, ALPN `h2` on
    /// `https://`. `false`: HTTP/1.1 only.
    pub http2: bool,
    /// A PEM file with extra trusted root certificate(s) (a private CA),
    /// trusted in addition to the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Most idle connections kept per host in a worker's pool.
    pub max_idle_per_host: usize,
    /// With `http2`: the HTTP/2 connections of the whole run, each carrying
    /// as many streams as the server allows (`0`: one per client). A drill
    /// spreads them over its workers ([`ClientConfig::worker_share`]); one
    /// client alone opens them all, and sends each request on the one with
    /// the fewest in flight.
    pub http2_connections: u32,
}

/// The timeouts of every request (see [`ClientConfig`]), and the failures
/// their expiry is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) request: Duration,
    pub(crate) stream_idle: Duration,
}

impl Timeouts {
    /// No response head came within the request timeout.
    pub(crate) fn head_missed(&self) -> Failure {
        let reason = format!("no response head within {:?}", self.request);
        Failure::new(ErrorClass::RequestTimeout, reason)
    }

    /// No body data came within the stream-idle timeout.
    pub(crate) fn body_idle(&self) -> Failure {
        let reason = format!("no body data for {:?}", self.stream_idle);
        Failure::new(ErrorClass::StreamIdleTimeout, reason)
    }
}

impl ClientConfig {
    /// The timeouts of every request.
    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            request: self.request_timeout,
            stream_idle: self.stream_idle_timeout,
        }
    }

    /// The settings of worker `index` of `workers`: its even share of
    /// [`ClientConfig::http2_connections`] (at least one).
    pub fn worker_share(&self, index: u32, workers: u32) -> ClientConfig {
        let workers = workers.max(1);
        let share = self.http2_connections / workers
            + u32::from(index % workers < self.http2_connections % workers);
        ClientConfig {
            http2_connections: share.max(1),
            ..self.clone()
        }
    }
}

impl Default for ClientConfig {
    /// 5 s connect, 30 s request, 30 s stream idle, HTTP/1.1, system roots
    /// only, 1024 idle connections per host, one HTTP/2 connection per client.
    fn default() -> ClientConfig {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(30),
            http2: false,
            ca_cert: None,
            max_idle_per_host: 1024,
            http2_connections: 0,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The `--ca-cert` file could not be read.
    #[error("cannot read CA certificate file {}", path.display())]
    CaCertRead {
        /// The file named by `--ca-cert`.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// The `--ca-cert` file was read but holds no usable certificate.
    #[error("CA certificate file {}: {reason}", path.display())]
    CaCert {
        /// The file named by `--ca-cert`.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
    /// Neither the system nor `--ca-cert` supplied a trusted root.
    #[error(
        "no trusted root certificates: none found in the system store \
         (SSL_CERT_FILE, SSL_CERT_DIR or the platform's bundle) and no --ca-cert given"
    )]
    NoRoots,
    /// rustls rejected the TLS client configuration.
    #[error("cannot build the TLS client configuration")]
    TlsConfig(#[source] rustls::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http2_connections_are_shared_evenly_by_the_workers() {
        let config = |n| ClientConfig {
            http2_connections: n,
            ..ClientConfig::default()
        };
        let shares = |n, workers| -> Vec<u32> {
            (0..workers)
                .map(|i| config(n).worker_share(i, workers).http2_connections)
                .collect()
        };
        assert_eq!(shares(5, 3), [2, 2, 1]);
        assert_eq!(shares(64, 2), [32, 32]);
        assert_eq!(shares(6, 6), [1; 6]);
        // Unset: one per worker.
        assert_eq!(shares(0, 4), [1; 4]);
    }
}
