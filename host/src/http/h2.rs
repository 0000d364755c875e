//! HTTP/2 connections for the load path: hyper's client connections, kept
//! by the worker itself, with no pool, connector service or checkout
//! between a request and its connection.
//!
//! A worker keeps [`ClientConfig::http2_connections`] connections (its
//! share); each request goes to the one with the fewest in flight, so a
//! connection whose answers just arrived carries the requests that replace
//! them in one write. A connection that closed is opened again by the next
//! request that needs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;

use super::classify::{classify, describe};
use super::exchange::{Connections, Failure};
use super::h1::{Origin, open};
use super::{ClientConfig, ErrorClass};

/// One worker's HTTP/2 connections.
pub(crate) struct Pool {
    slots: Box<[Slot]>,
    /// Where the search for the least busy connection starts next.
    next: AtomicUsize,
    tls: tokio_rustls::TlsConnector,
    connect_timeout: Duration,
}

/// One connection, once opened, and the requests in flight on it.
struct Slot {
    sender: Mutex<Option<Sender>>,
    in_flight: AtomicUsize,
}

/// A connection's request handle, and the origin it was opened to.
struct Sender {
    key: Box<str>,
    send: SendRequest<Full<Bytes>>,
}

impl Pool {
    /// No connection yet; `tls` is the worker's TLS configuration (ALPN `h2`).
    pub(crate) fn new(config: &ClientConfig, tls: Arc<rustls::ClientConfig>) -> Pool {
        Pool {
            slots: (0..config.http2_connections.max(1))
                .map(|_| Slot {
                    sender: Mutex::new(None),
                    in_flight: AtomicUsize::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            tls: tokio_rustls::TlsConnector::from(tls),
            connect_timeout: config.connect_timeout,
        }
    }

    /// Sends `request` to `origin` and waits for its response head,
    /// counting in `opened` a connection it opens. The request counts as in
    /// flight on its connection until `InFlight` drops (hold it while the
    /// body is read).
    pub(crate) async fn request(
        &self,
        origin: &Origin,
        request: http::Request<Full<Bytes>>,
        opened: &mut Connections,
    ) -> (Result<hyper::Response<Incoming>, Failure>, InFlight<'_>) {
        let slot = self.least_busy();
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(&slot.in_flight);
        (self.send(slot, origin, request, opened).await, in_flight)
    }

    async fn send(
        &self,
        slot: &Slot,
        origin: &Origin,
        request: http::Request<Full<Bytes>>,
        opened: &mut Connections,
    ) -> Result<hyper::Response<Incoming>, Failure> {
        let mut send = {
            let mut sender = slot.sender.lock().await;
            match &*sender {
                Some(s) if s.key == origin.key && !s.send.is_closed() => s.send.clone(),
                _ => {
                    let (send, resumed) = self.connect(origin).await?;
                    opened.add(resumed);
                    *sender = Some(Sender {
                        key: origin.key.clone(),
                        send: send.clone(),
                    });
                    send
                }
            }
        };
        let failure = |e: hyper::Error| Failure::new(classify(&e), describe(&e));
        send.ready().await.map_err(failure)?;
        send.send_request(request).await.map_err(failure)
    }

    /// The connection with the fewest requests in flight; ties in turn.
    fn least_busy(&self) -> &Slot {
        let slots = self.slots.len();
        let start = match slots {
            1 => 0,
            _ => self.next.fetch_add(1, Ordering::Relaxed) % slots,
        };
        let index = (start..slots)
            .chain(0..start)
            .min_by_key(|&i| self.slots[i].in_flight.load(Ordering::Relaxed))
            .unwrap_or(0);
        &self.slots[index]
    }

    /// A new connection to `origin`, TLS handshake (ALPN `h2`) and HTTP/2
    /// preface included, within the connect timeout; and whether its TLS
    /// session resumed an earlier one (`None`: h2c).
    async fn connect(
        &self,
        origin: &Origin,
    ) -> Result<(SendRequest<Full<Bytes>>, Option<bool>), Failure> {
        let connect = async {
            let stream = open(&origin.host, origin.port, self.connect_timeout).await?;
            let Some(name) = &origin.tls else {
                return Ok((handshake(stream).await?, None));
            };
            let tls = self
                .tls
                .connect(name.clone(), stream)
                .await
                .map_err(|e| origin.handshake_failed(&e))?;
            let session = tls.get_ref().1;
            if session.alpn_protocol() != Some(b"h2") {
                return Err(Failure::new(
                    ErrorClass::Tls,
                    format!("{} did not agree to HTTP/2 (ALPN h2)", origin.host),
                ));
            }
            let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            Ok((handshake(tls).await?, Some(resumed)))
        };
        origin.connect_within(self.connect_timeout, connect).await
    }
}

/// Starts HTTP/2 on `io`: the connection's task runs on the runtime.
async fn handshake<I>(io: I) -> Result<SendRequest<Full<Bytes>>, Failure>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| Failure::new(classify(&e), describe(&e)))?;
    tokio::spawn(connection);
    Ok(send)
}

/// One request in flight on a connection.
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
