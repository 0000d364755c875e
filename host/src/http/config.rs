//! Client settings and the errors of building a client.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

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
}

impl Default for ClientConfig {
    /// 5 s connect, 30 s request, 30 s stream idle, HTTP/1.1, system roots
    /// only, 1024 idle connections per host.
    fn default() -> ClientConfig {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(30),
            http2: false,
            ca_cert: None,
            max_idle_per_host: 1024,
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
