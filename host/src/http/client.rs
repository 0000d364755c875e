//! One worker's connection pool and the timed send of one request.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use super::body::{next_piece, read_response};
use super::classify::{classify, describe};
use super::config::Timeouts;
use super::connect::{Resolver, TimedConnector};
use super::exchange::{Connections, Exchange, Failure};
use super::h1::{self, Origin, Receive};
use super::h2;
use super::{ClientConfig, ClientTls, ErrorClass, HttpError};

type Connector = TimedConnector<HttpsConnector<HttpConnector<Resolver>>>;
type Pool = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// A fully built request. `uri` is absolute (scheme, authority, path and query).
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// The request method.
    pub method: http::Method,
    /// The absolute URI: scheme, authority, path and query.
    pub uri: http::Uri,
    /// Request headers (`Host` is added from `uri` when absent).
    pub headers: http::HeaderMap,
    /// The request body (empty for none).
    pub body: Bytes,
}

/// One worker's connections. Each engine worker owns its own `Client`
/// (no lock shared by all workers); cheap to clone within the worker.
///
/// HTTP/1.1 requests, plain or over TLS, take relhost's own client (module
/// `http::h1`); HTTP/2 requests take the `h2` crate's connections the worker
/// keeps (module `http::h2`); the control plane's [`Client::send_collect`]
/// takes a hyper-util pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    /// hyper's pool: the control plane's calls ([`Client::send_collect`]).
    pool: Pool,
    /// HTTP/1.1, plain and over TLS; `None` when the client speaks HTTP/2 only.
    h1: Option<h1::Pool>,
    /// HTTP/2 connections; `None` when the client speaks HTTP/1.1.
    h2: Option<h2::Pool>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeouts", &self.inner.timeouts)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the TLS configuration and one pool. With several workers,
    /// build a [`ClientTls`] once and call [`Client::with_tls`] per worker.
    pub fn new(config: &ClientConfig) -> Result<Client, HttpError> {
        Ok(Client::with_tls(config, &ClientTls::new(config)?))
    }

    /// A new, empty pool that shares an already built TLS configuration.
    /// `tls` must have been built from a config with the same `http2` value
    /// (its ALPN list depends on it); checked in debug builds.
    pub fn with_tls(config: &ClientConfig, tls: &ClientTls) -> Client {
        debug_assert_eq!(
            tls.http2(),
            config.http2,
            "ClientTls built for another http2"
        );
        let mut http = HttpConnector::new_with_resolver(Resolver::default());
        http.set_nodelay(true);
        http.enforce_http(false);
        // hyper-util splits this among a host's addresses, so a dead first
        // address still leaves time for the next; the outer bound below
        // covers resolve, TCP and TLS together.
        http.set_connect_timeout(Some(config.connect_timeout));
        let worker_tls = tls.for_worker();
        let https = HttpsConnector::from((http, Arc::clone(&worker_tls)));
        let connector = TimedConnector::new(https, config.connect_timeout);

        let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
        builder
            .pool_max_idle_per_host(config.max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        if config.http2 {
            builder.http2_only(true);
        }
        let (h1, h2) = match config.http2 {
            false => (Some(h1::Pool::new(config, worker_tls)), None),
            true => (None, Some(h2::Pool::new(config, worker_tls))),
        };
        Client {
            inner: Arc::new(Inner {
                pool: builder.build(connector),
                h1,
                h2,
                timeouts: config.timeouts(),
            }),
        }
    }

    /// Sends one request and reads its response to the end, counting body
    /// bytes (and SSE events when `event_stream`) without keeping them.
    /// Never fails: every outcome is described by the returned [`Exchange`].
    pub async fn send(&self, request: OutgoingRequest, event_stream: bool) -> Exchange {
        let inner = &*self.inner;
        match (&inner.h1, &inner.h2, Origin::of(&request.uri)) {
            (Some(h1), _, Some(origin)) => h1.send(&origin, &request, event_stream).await,
            (_, Some(h2), Some(origin)) => h2.send(&origin, request, event_stream).await,
            _ => self.send_hyper(request, event_stream).await,
        }
    }

    /// Opens connections to the origin of `base` before any request needs
    /// them: up to `count` over HTTP/1.1 (kept idle, at most
    /// [`ClientConfig::max_idle_per_host`]), the worker's share of the
    /// connections over HTTP/2. A connection that cannot be opened is left
    /// to the requests, which count its failure. Returns what was opened.
    pub async fn preconnect(&self, base: &http::Uri, count: usize) -> Connections {
        let inner = &*self.inner;
        match (&inner.h1, &inner.h2, Origin::of(base)) {
            (Some(h1), _, Some(origin)) => h1.preconnect(&origin, count).await,
            (_, Some(h2), Some(origin)) => h2.preconnect(&origin).await,
            _ => Connections::default(),
        }
    }

    /// The origin of `base` when requests to it take relhost's own HTTP/1.1
    /// client (`http://` or `https://`, and the client is not HTTP/2-only).
    /// Such requests may be written as HTTP/1.1 by the caller and sent with
    /// [`Client::send_wire`].
    pub fn http1_origin(&self, base: &http::Uri) -> Option<Origin> {
        self.inner.h1.as_ref().and_then(|_| Origin::of(base))
    }

    /// Sends a request the caller wrote as an HTTP/1.1 message (`wire`:
    /// head and body) to `origin` (from [`Client::http1_origin`]) and reads
    /// the response like [`Client::send`].
    /// With [`Receive::AtTicks`] the response is read at the caller's
    /// ticks ([`Client::tick`]) and timed by the kernel's receive time.
    pub async fn send_wire(
        &self,
        origin: &Origin,
        wire: &[u8],
        event_stream: bool,
        receive: Receive,
    ) -> Exchange {
        match &self.inner.h1 {
            Some(h1) => h1.exchange(origin, wire, event_stream, receive).await,
            None => Exchange::failed(
                Failure::new(
                    ErrorClass::Other,
                    "an HTTP/1.1 message for an HTTP/2 client",
                ),
                Duration::ZERO,
            ),
        }
    }

    /// The caller's tick: exchanges sent with [`Receive::AtTicks`] that
    /// wait for their response read now. Call it at each tick while such
    /// an exchange is in flight.
    pub fn tick(&self) {
        if let Some(h1) = &self.inner.h1 {
            h1.tick();
        }
    }

    /// Sends over hyper's pool (a URL neither client takes).
    async fn send_hyper(&self, request: OutgoingRequest, event_stream: bool) -> Exchange {
        let timeouts = &self.inner.timeouts;
        let start = Instant::now();
        let mut timer = pin!(tokio::time::sleep_until(start + timeouts.request));
        let head = tokio::select! {
            biased;
            head = self.inner.pool.request(hyper_request(request)) => {
                head.map_err(|e| Failure::new(classify(&e), describe(&e)))
            }
            () = &mut timer => Err(timeouts.head_missed()),
        };
        match head {
            Ok(response) => read_response(response, start, timer, timeouts, event_stream).await,
            Err(failure) => Exchange::failed(failure, start.elapsed()),
        }
    }
}

/// The hyper request for `request`.
fn hyper_request(request: OutgoingRequest) -> http::Request<Full<Bytes>> {
    let mut req = http::Request::new(Full::new(request.body));
    *req.method_mut() = request.method;
    *req.uri_mut() = request.uri;
    *req.headers_mut() = request.headers;
    req
}

impl Client {
    /// Largest response body [`Client::send_collect`] keeps.
    pub const COLLECT_LIMIT: usize = 1 << 20;

    /// Sends one request and returns its status, headers and whole body,
    /// for the few control-plane calls that need the answer (sign-up,
    /// sign-in, thread creation), never for load. The same timeouts as
    /// [`Client::send`] apply; a failure is its [`ErrorClass`], and a body
    /// over [`Client::COLLECT_LIMIT`] bytes is [`ErrorClass::Other`].
    pub async fn send_collect(
        &self,
        request: OutgoingRequest,
    ) -> Result<(u16, http::HeaderMap, Bytes), ErrorClass> {
        let inner = &*self.inner;
        let start = Instant::now();
        let mut timer = pin!(tokio::time::sleep_until(start + inner.timeouts.request));
        let head = tokio::select! {
            biased;
            head = inner.pool.request(hyper_request(request)) => head,
            () = &mut timer => return Err(ErrorClass::RequestTimeout),
        };
        let response = head.map_err(|err| classify(&err))?;
        let (parts, mut body) = response.into_parts();
        let mut collected = bytes::BytesMut::new();
        loop {
            match next_piece(&mut body, timer.as_mut(), inner.timeouts.stream_idle).await {
                None => return Err(ErrorClass::StreamIdleTimeout),
                Some(None) => break,
                Some(Some(Ok(data))) => {
                    if collected.len() + data.len() > Self::COLLECT_LIMIT {
                        return Err(ErrorClass::Other);
                    }
                    collected.extend_from_slice(&data);
                }
                Some(Some(Err(_))) => return Err(ErrorClass::BodyAborted),
            }
        }
        Ok((parts.status.as_u16(), parts.headers, collected.freeze()))
    }
}

// Workers may move a client between tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};
