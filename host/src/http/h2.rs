//! HTTP/2 for the load path: the `h2` crate's client connections, kept by
//! the worker itself, and each exchange run in the future the worker polls.
//!
//! hyper's HTTP/2 client puts a channel, a callback and a task of its own
//! between every request and its connection. Here an exchange opens its
//! stream on the connection itself, and reads the response head and body
//! from it; only the connection's I/O runs in a task.
//!
//! A worker keeps [`ClientConfig::http2_connections`] connections (its
//! share); each request goes to the one with the fewest in flight, so a
//! connection whose answers just arrived carries the requests that replace
//! them in one write. A connection that closed is opened again by the next
//! request that needs it.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::future;
use h2::RecvStream;
use h2::client::SendRequest;
use http::Method;
use http::header::{
    CONNECTION, CONTENT_LENGTH, HeaderName, HeaderValue, TE, TRANSFER_ENCODING, UPGRADE,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;
use tokio::time::{Instant, sleep_until};

use super::body::read_response;
use super::classify::{classify, describe};
use super::config::Timeouts;
use super::exchange::{Connections, Exchange, Failure};
use super::h1::{Origin, open};
use super::{ClientConfig, ErrorClass, OutgoingRequest};

/// The window each stream may receive before it is read (as hyper's client).
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// The window the whole connection may receive before it is read.
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// One worker's HTTP/2 connections.
pub(crate) struct Pool {
    slots: Box<[Slot]>,
    /// Where the search for the least busy connection starts next.
    next: AtomicUsize,
    tls: tokio_rustls::TlsConnector,
    timeouts: Timeouts,
}

/// One connection, once opened, and the requests in flight on it.
struct Slot {
    sender: Mutex<Option<Sender>>,
    in_flight: AtomicUsize,
}

/// A connection's request handle, the origin it was opened to, and whether
/// its I/O has ended.
struct Sender {
    key: Box<str>,
    send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
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
            timeouts: config.timeouts(),
        }
    }

    /// Sends `request` to `origin` (its URI's) and reads the response to
    /// its end; the same contract as [`super::Client::send`].
    pub(crate) async fn send(
        &self,
        origin: &Origin,
        request: OutgoingRequest,
        event_stream: bool,
    ) -> Exchange {
        let start = Instant::now();
        let mut timer = pin!(sleep_until(start + self.timeouts.request));
        let slot = self.least_busy();
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&slot.in_flight);
        let mut opened = Connections::default();
        let head = tokio::select! {
            biased;
            head = self.head(slot, origin, request, &mut opened) => head,
            () = &mut timer => Err(self.timeouts.head_missed()),
        };
        let mut exchange = match head {
            Ok(response) => {
                read_response(response, start, timer, &self.timeouts, event_stream).await
            }
            Err(failure) => Exchange::failed(failure, start.elapsed()),
        };
        exchange.connections = opened;
        exchange
    }

    /// Opens every connection to `origin` not yet open; returns those opened.
    /// One that fails is left to the requests.
    pub(crate) async fn preconnect(&self, origin: &Origin) -> Connections {
        let opens = self.slots.iter().map(|slot| async move {
            let mut opened = Connections::default();
            let _ = self.connection(slot, origin, None, &mut opened).await;
            opened
        });
        let mut total = Connections::default();
        for opened in future::join_all(opens).await {
            total.merge(&opened);
        }
        total
    }

    /// Opens the request's stream on `slot`'s connection (opening that
    /// first when needed, counted in `opened`), sends it, and waits for its
    /// response head. A kept connection found closed before the stream
    /// opened is replaced once: the request had not left.
    async fn head(
        &self,
        slot: &Slot,
        origin: &Origin,
        request: OutgoingRequest,
        opened: &mut Connections,
    ) -> Result<http::Response<RecvStream>, Failure> {
        let failed = |e: h2::Error| Failure::new(classify(&e), describe(&e));
        let mut stale = None;
        let mut send = loop {
            let (send, closed, kept) = self
                .connection(slot, origin, stale.as_ref(), opened)
                .await?;
            // Waits while the server's limit of concurrent streams is reached.
            match send.ready().await {
                Ok(send) => break send,
                Err(_) if kept && stale.is_none() => stale = Some(closed),
                Err(e) => return Err(failed(e)),
            }
        };
        let (head, body) = h2_request(request);
        let end_of_stream = body.is_empty();
        let (response, mut stream) = send.send_request(head, end_of_stream).map_err(failed)?;
        if !end_of_stream {
            // Buffered by the connection, which sends it as the server's
            // flow-control windows allow.
            stream.send_data(body, true).map_err(failed)?;
        }
        response.await.map_err(failed)
    }

    /// `slot`'s connection to `origin`, opened (and counted in `opened`)
    /// when there is none, it goes elsewhere, it closed, or it is `stale`;
    /// with its closed flag, and whether it was kept from before.
    async fn connection(
        &self,
        slot: &Slot,
        origin: &Origin,
        stale: Option<&Arc<AtomicBool>>,
        opened: &mut Connections,
    ) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>, bool), Failure> {
        let mut sender = slot.sender.lock().await;
        if let Some(s) = &*sender
            && s.key == origin.key
            && !s.closed.load(Ordering::Relaxed)
            && !stale.is_some_and(|stale| Arc::ptr_eq(stale, &s.closed))
        {
            return Ok((s.send.clone(), Arc::clone(&s.closed), true));
        }
        let (send, closed, resumed) = Box::pin(self.connect(origin)).await?;
        opened.add(resumed);
        *sender = Some(Sender {
            key: origin.key.clone(),
            send: send.clone(),
            closed: Arc::clone(&closed),
        });
        Ok((send, closed, false))
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
    /// preface included, within the connect timeout; the flag its I/O task
    /// sets when it ends; and whether its TLS session resumed an earlier
    /// one (`None`: h2c).
    async fn connect(
        &self,
        origin: &Origin,
    ) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>, Option<bool>), Failure> {
        let connect = async {
            let stream = open(&origin.host, origin.port, self.timeouts.connect).await?;
            let Some(name) = &origin.tls else {
                let (send, closed) = handshake(stream).await?;
                return Ok((send, closed, None));
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
            let (send, closed) = handshake(tls).await?;
            Ok((send, closed, Some(resumed)))
        };
        origin.connect_within(self.timeouts.connect, connect).await
    }
}

/// Starts HTTP/2 on `io`: the connection's I/O runs in a task of its own,
/// which sets the returned flag when it ends.
async fn handshake<I>(io: I) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>), Failure>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .enable_push(false)
        .handshake(io)
        .await
        .map_err(|e| Failure::new(classify(&e), describe(&e)))?;
    let closed = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&closed);
    tokio::spawn(async move {
        // Its error reaches the requests in flight, which report it.
        let _ = connection.await;
        done.store(true, Ordering::Relaxed);
    });
    Ok((send, closed))
}

/// The HTTP/2 request head for `request`, and its body. Headers that only
/// HTTP/1.1 connections have are left out (HTTP/2 forbids them); a body,
/// or a method whose body has a meaning, gets its length.
fn h2_request(request: OutgoingRequest) -> (http::Request<()>, Bytes) {
    let OutgoingRequest {
        method,
        uri,
        mut headers,
        body,
    } = request;
    // One pass over the few headers a request has; names are looked up
    // only in the rare request that has such a header.
    if headers.iter().any(|(name, value)| http1_only(name, value)) {
        let names: Vec<HeaderName> = (headers.iter())
            .filter(|(name, value)| http1_only(name, value))
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            headers.remove(name);
        }
    }
    let payload = !matches!(
        method,
        Method::GET | Method::HEAD | Method::DELETE | Method::CONNECT
    );
    if (payload || !body.is_empty()) && !headers.contains_key(CONTENT_LENGTH) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut head = http::Request::new(());
    *head.method_mut() = method;
    *head.uri_mut() = uri;
    *head.headers_mut() = headers;
    (head, body)
}

/// A header only an HTTP/1.1 connection has, which HTTP/2 forbids
/// (RFC 9113, section 8.2.2).
fn http1_only(name: &HeaderName, value: &HeaderValue) -> bool {
    [CONNECTION, TRANSFER_ENCODING, UPGRADE].contains(name)
        || name == "keep-alive"
        || name == "proxy-connection"
        || (name == TE && value != "trailers")
}

/// One request in flight on a connection.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
