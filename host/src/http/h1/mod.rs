//! relhost's own HTTP/1.1 client for `http://` and `https://` targets: the
//! load path.
//!
//! A general client pays per request for what a load generator does not
//! need: a task per connection reached through a channel, a request and a
//! header map moved through it, a pool behind shared locks. Here the
//! exchange runs in the future the worker polls: it takes an idle
//! [`Connection`] (or opens one), writes the request as one buffer, parses
//! the head in place with `httparse` and reads the body through the same
//! fixed buffer, counting bytes and SSE events without keeping them, then
//! puts the connection back. One worker's pool is only touched by that
//! worker, so its lock is never contended. While the open model sends at
//! the pacer's ticks, responses are read at those ticks too (see
//! [`socket`]). An `https://` connection runs its TLS session over the
//! same socket (see [`tls`]).
//!
//! HTTP/2 has a module of its own (see [`super::h2`]).

mod chunked;
mod socket;
mod tls;
pub(crate) mod wire;

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep, sleep_until};

use self::chunked::{Chunked, Malformed};
pub use self::socket::Receive;
use self::socket::{Socket, TickWait, Ticks};
use self::tls::{Connector, Tls};
use self::wire::{Framing, Head};
use super::classify::{classify, describe, io_class};
use super::config::Timeouts;
use super::exchange::{Connections, Exchange, Failure, Tally};
use super::{ClientConfig, ErrorClass, OutgoingRequest};

/// A connection's read buffer starts at this size and doubles, up to
/// [`MAX_BUFFER`], while reads keep filling it (large bodies).
const INITIAL_BUFFER: usize = 4 * 1024;
/// The same over TLS, where rustls buffers the records read and our reads
/// of plaintext make no system call: small, so an event stream held open
/// costs less memory.
const INITIAL_TLS_BUFFER: usize = 1024;
/// The largest read buffer, and so the largest response head.
const MAX_BUFFER: usize = 64 * 1024;
/// Connections [`Pool::preconnect`] opens at once.
const PRECONNECTS_AT_ONCE: usize = 64;

/// Where HTTP/1.1 requests go: scheme, `host:port`, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The URI's scheme and authority, as written: the key of idle connections.
    pub(super) key: Box<str>,
    pub(super) host: Box<str>,
    pub(super) port: u16,
    /// For `https://`: the name the server's certificate must have.
    pub(super) tls: Option<ServerName<'static>>,
}

impl Origin {
    /// The origin of an `http://` or `https://` URI.
    pub(crate) fn of(uri: &http::Uri) -> Option<Origin> {
        let authority = uri.authority()?;
        let host = authority.host();
        let (tls, default_port) = match uri.scheme_str()? {
            "http" => (None, 80),
            "https" => {
                let name = unbracketed(host).to_owned();
                (Some(ServerName::try_from(name).ok()?), 443)
            }
            _ => return None,
        };
        Some(Origin {
            key: format!("{}://{authority}", uri.scheme_str()?).into(),
            host: host.into(),
            port: authority.port_u16().unwrap_or(default_port),
            tls,
        })
    }

    /// `connect` (resolve, TCP and TLS), bounded by `timeout`.
    pub(super) async fn connect_within<T>(
        &self,
        timeout: Duration,
        connect: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(timeout, connect).await {
            Ok(connected) => connected,
            Err(_elapsed) => Err(Failure::new(
                ErrorClass::ConnectTimeout,
                format!(
                    "no connection to {}:{} within {timeout:?}",
                    self.host, self.port
                ),
            )),
        }
    }

    /// The TLS handshake with the origin failed with `e`.
    pub(super) fn handshake_failed(&self, e: &io::Error) -> Failure {
        let reason = format!("TLS handshake with {}: {}", self.host, describe(e));
        Failure::new(classify(e), reason)
    }
}

/// `host` without the brackets of an IPv6 literal.
fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// One worker's HTTP/1.1 connections, idle ones kept per `host:port`.
pub(crate) struct Pool {
    /// Idle connections per `host:port`. A run talks to one or a few
    /// origins, so a list searched in order beats hashing every request.
    idle: Mutex<Vec<(Box<str>, Vec<Connection>)>>,
    /// Exchanges waiting for the worker's next tick to read.
    ticks: Ticks,
    /// TLS sessions for `https://` origins.
    tls: Connector,
    max_idle_per_host: usize,
    timeouts: Timeouts,
}

impl Pool {
    /// An empty pool; `tls` is the worker's TLS configuration (ALPN
    /// `http/1.1`).
    pub(crate) fn new(config: &ClientConfig, tls: Arc<rustls::ClientConfig>) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            ticks: Ticks::default(),
            tls: Connector::new(tls),
            max_idle_per_host: config.max_idle_per_host,
            timeouts: config.timeouts(),
        }
    }

    /// Sends one request to `origin` (its URI's) and reads the response to
    /// its end; the same contract as [`super::Client::send`].
    pub(crate) async fn send(
        &self,
        origin: &Origin,
        request: &OutgoingRequest,
        event_stream: bool,
    ) -> Exchange {
        let mut wire = Vec::new();
        wire::encode(request, &mut wire);
        self.exchange(origin, &wire, event_stream, Receive::OnArrival)
            .await
    }

    /// Opens up to `count` connections to `origin` (as many as may be kept
    /// idle), [`PRECONNECTS_AT_ONCE`] at a time, and keeps them idle;
    /// returns those opened. One that fails is left out.
    pub(crate) async fn preconnect(&self, origin: &Origin, count: usize) -> Connections {
        let mut opened = Connections::default();
        let mut connects = stream::iter(0..count.min(self.max_idle_per_host))
            .map(|_| self.connect(origin))
            .buffer_unordered(PRECONNECTS_AT_ONCE);
        while let Some(connected) = connects.next().await {
            if let Ok(conn) = connected {
                opened.add(conn.tls.as_ref().map(|tls| tls.resumed()));
                self.put(&origin.key, conn);
            }
        }
        opened
    }

    /// The worker's pacer ticked: exchanges reading at ticks read now.
    pub(crate) fn tick(&self) {
        self.ticks.tick();
    }

    /// Sends a request already written as HTTP/1.1 (`wire`) to `origin` and
    /// reads the response to its end, learning of its arrival as `receive` says.
    pub(crate) async fn exchange(
        &self,
        origin: &Origin,
        wire: &[u8],
        event_stream: bool,
        receive: Receive,
    ) -> Exchange {
        let mut opened = Connections::default();
        let mut exchange = self
            .exchange_opening(origin, wire, event_stream, receive, &mut opened)
            .await;
        exchange.connections = opened;
        exchange
    }

    /// [`Pool::exchange`], counting the connections it opens in `opened`.
    async fn exchange_opening(
        &self,
        origin: &Origin,
        wire: &[u8],
        event_stream: bool,
        receive: Receive,
        opened: &mut Connections,
    ) -> Exchange {
        let start = Instant::now();
        let deadline = start + self.timeouts.request;
        let wait = TickWait::new(&self.ticks);
        // One timer for the whole exchange, made when first needed: the
        // head deadline first, then re-armed whenever the body makes us wait.
        let mut timer = pin!(None::<Sleep>);
        let head = {
            let head = self.head(origin, wire, receive, start, &wait, opened);
            match receive {
                // `select!` yields when the task's budget is spent; a
                // hand-written poll here let the hold stage of a 19,000-stream
                // drill open its connections in a burst that timed out
                // 750-1,500 of them.
                Receive::OnArrival => tokio::select! {
                    biased;
                    head = head => Some(head),
                    () = poll_fn(|cx| poll_timer(timer.as_mut(), deadline, cx)) => None,
                },
                Receive::AtTicks => {
                    let mut head = pin!(head);
                    poll_fn(|cx| {
                        if let Poll::Ready(head) = wait.poll(head.as_mut(), cx) {
                            return Poll::Ready(Some(head));
                        }
                        if wait.parked() {
                            // A tick polls it again: the deadline is checked then.
                            return if wait.passed(deadline) {
                                Poll::Ready(None)
                            } else {
                                Poll::Pending
                            };
                        }
                        poll_timer(timer.as_mut(), deadline, cx).map(|()| None)
                    })
                    .await
                }
            }
        };
        let (mut conn, head) = match head {
            Some(Ok(answer)) => answer,
            Some(Err(failure)) => return Exchange::failed(failure, start.elapsed()),
            None => return Exchange::failed(self.timeouts.head_missed(), start.elapsed()),
        };
        if event_stream && let Some(tls) = &mut conn.tls {
            // An event stream holds its connection long: it keeps no
            // sealed request meanwhile.
            tls.release_sealed();
        }
        let mut tally = Tally::new(start, conn.read_at, head.status, event_stream);
        let mut body = Body::new(head.framing);
        let reusable = loop {
            match body.consume(conn.buffered(), |data| tally.data(data)) {
                Ok((used, done)) => {
                    conn.consume(used);
                    if done {
                        break head.keep_alive && conn.buffered().is_empty();
                    }
                }
                Err(Malformed) => {
                    tally.fail(Failure::new(
                        ErrorClass::BodyAborted,
                        "malformed chunked response body",
                    ));
                    break false;
                }
            }
            let read = conn
                .read_within(timer.as_mut(), self.timeouts.stream_idle, &wait)
                .await;
            // A failed read ends the exchange now.
            tally.read_returned(match read {
                Some(Ok(_)) => conn.read_at,
                _ => Instant::now(),
            });
            match read {
                Some(Ok(0)) if matches!(body, Body::UntilClose) => break false,
                Some(Ok(0)) => {
                    tally.fail(Failure::new(
                        ErrorClass::BodyAborted,
                        "the connection closed in the middle of the body",
                    ));
                    break false;
                }
                Some(Err(e)) => {
                    let reason = format!("reading the body: {e}");
                    tally.fail(Failure::new(ErrorClass::BodyAborted, reason));
                    break false;
                }
                Some(Ok(_)) => {}
                None => {
                    tally.fail(self.timeouts.body_idle());
                    break false;
                }
            }
        };
        if reusable {
            self.put(&origin.key, conn);
        }
        tally.finish()
    }

    /// Writes the request and reads its final response head. A reused
    /// connection the server had already closed is replaced by a new one
    /// once, when that cannot deliver the request twice: the request never
    /// left, or it is idempotent and no byte of an answer came back.
    async fn head(
        &self,
        origin: &Origin,
        wire: &[u8],
        receive: Receive,
        start: Instant,
        wait: &TickWait<'_>,
        opened: &mut Connections,
    ) -> Result<(Connection, Head), Failure> {
        let mut retried = false;
        loop {
            let pooled = if retried {
                None
            } else {
                self.checkout(&origin.key, start)
            };
            let (mut conn, reused) = match pooled {
                Some(conn) => (conn, true),
                // Boxed: connecting is rare, and its future would
                // otherwise size every exchange.
                None => {
                    let conn = Box::pin(self.connect(origin)).await?;
                    opened.add(conn.tls.as_ref().map(|tls| tls.resumed()));
                    (conn, false)
                }
            };
            if let Err(e) = conn.socket.set_mode(receive) {
                // The socket is lost; a new one is opened, as for a stale one.
                if retried {
                    return Err(Failure::new(
                        ErrorClass::Other,
                        format!("setting up the socket: {e}"),
                    ));
                }
                retried = true;
                continue;
            }
            match conn.request_head(wire, wait).await {
                Ok(head) => return Ok((conn, head)),
                Err(failure) => {
                    let safe = failure.unsent || (failure.unanswered && is_idempotent(wire));
                    if !(reused && safe) || retried {
                        return Err(failure.failure);
                    }
                    retried = true;
                }
            }
        }
    }

    /// An idle connection to `key` the server has not closed (as of `now`), if any.
    fn checkout(&self, key: &str, now: Instant) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, conns) = idle.iter_mut().find(|(origin, _)| **origin == *key)?;
        std::iter::from_fn(|| conns.pop()).find_map(|mut conn| {
            conn.is_quiet(now.saturating_duration_since(conn.read_at))
                .then_some(conn)
        })
    }

    fn put(&self, key: &str, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        match idle.iter_mut().find(|(origin, _)| **origin == *key) {
            Some((_, conns)) if conns.len() < self.max_idle_per_host => conns.push(conn),
            Some(_) => {}
            None if self.max_idle_per_host > 0 => idle.push((key.into(), vec![conn])),
            None => {}
        }
    }

    /// A new connection to `origin`, TLS handshake included, within the
    /// connect timeout.
    async fn connect(&self, origin: &Origin) -> Result<Connection, Failure> {
        let open = async {
            let stream = open(&origin.host, origin.port, self.timeouts.connect).await?;
            let Some(name) = &origin.tls else {
                return Ok(Connection::new(stream, None));
            };
            match self.tls.handshake(name.clone(), stream).await {
                Ok((stream, tls)) => Ok(Connection::new(stream, Some(Box::new(tls)))),
                Err(e) => Err(origin.handshake_failed(&e)),
            }
        };
        origin.connect_within(self.timeouts.connect, open).await
    }
}

/// Polls the exchange's timer, first making it, due at `at`.
fn poll_timer(mut timer: Pin<&mut Option<Sleep>>, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
    if timer.is_none() {
        timer.set(Some(sleep_until(at)));
    }
    timer
        .as_pin_mut()
        .map_or(Poll::Pending, |timer| timer.poll(cx))
}

/// Resolves `host` (an IP literal needs no lookup) and connects to the first
/// address that accepts. Each address gets an equal share of `deadline`,
/// so a dead first address still leaves time for the next.
pub(super) async fn open(host: &str, port: u16, deadline: Duration) -> Result<TcpStream, Failure> {
    let literal = unbracketed(host);
    let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((literal, port))
            .await
            .map_err(|e| Failure::new(ErrorClass::Dns, format!("resolving {literal}: {e}")))?
            .collect(),
    };
    let share = deadline / u32::try_from(addrs.len()).unwrap_or(u32::MAX).max(1);
    let mut failure = Failure::new(ErrorClass::Dns, format!("{literal} has no address"));
    for addr in addrs {
        match tokio::time::timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Requests are written whole; never wait to coalesce them.
                stream.set_nodelay(true).map_err(|e| {
                    Failure::new(ErrorClass::Other, format!("setting up the socket: {e}"))
                })?;
                return Ok(stream);
            }
            Ok(Err(e)) => {
                let class = io_class(&e, true).unwrap_or(ErrorClass::Other);
                failure = Failure::new(class, format!("connect to {addr}: {e}"));
            }
            Err(_elapsed) => {
                let reason = format!("no connection to {addr} within {share:?}");
                failure = Failure::new(ErrorClass::ConnectTimeout, reason);
            }
        }
    }
    Err(failure)
}

/// Whether the request written in `wire` has an idempotent method.
fn is_idempotent(wire: &[u8]) -> bool {
    const IDEMPOTENT: [&[u8]; 6] = [
        b"GET ",
        b"HEAD ",
        b"OPTIONS ",
        b"TRACE ",
        b"PUT ",
        b"DELETE ",
    ];
    IDEMPOTENT.iter().any(|method| wire.starts_with(method))
}

/// Why no response head arrived on a connection.
struct HeadFailure {
    failure: Failure,
    /// Writing the request failed: the server cannot have acted on it.
    unsent: bool,
    /// The connection ended before any byte of an answer.
    unanswered: bool,
}

/// One TCP connection with its read buffer (`buf[start..end]` is received
/// and not yet consumed).
struct Connection {
    socket: Socket,
    /// The TLS session over the socket, for `https://`.
    tls: Option<Box<Tls>>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// When the bytes of the latest read arrived.
    read_at: Instant,
}

impl Connection {
    fn new(stream: TcpStream, tls: Option<Box<Tls>>) -> Connection {
        let buffer = match tls {
            Some(_) => INITIAL_TLS_BUFFER,
            None => INITIAL_BUFFER,
        };
        Connection {
            socket: Socket::Reactor(stream),
            tls,
            buf: vec![0; buffer],
            start: 0,
            end: 0,
            read_at: Instant::now(),
        }
    }

    /// Nothing arrived while the connection was idle `idle` (see
    /// [`Socket::is_quiet`]), and its TLS session, if any, holds nothing:
    /// records that did arrive are read first, and only plaintext or a
    /// close counts (not the session tickets a TLS 1.3 server sends after
    /// the handshake).
    fn is_quiet(&mut self, idle: Duration) -> bool {
        let quiet = self.socket.is_quiet(idle);
        match &mut self.tls {
            None => quiet,
            Some(tls) => (quiet || tls.read_idle(&mut self.socket)) && tls.is_quiet(),
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Writes the request, then reads up to its final response head
    /// (skipping interim 1xx heads).
    async fn request_head(
        &mut self,
        wire: &[u8],
        wait: &TickWait<'_>,
    ) -> Result<Head, HeadFailure> {
        // A response to HEAD has no body, whatever its head says.
        let head_request = wire.starts_with(b"HEAD ");
        self.socket.begin();
        let wire = match &mut self.tls {
            None => wire,
            Some(tls) => tls.seal(wire).map_err(|e| HeadFailure {
                failure: Failure::new(ErrorClass::Tls, format!("sealing the request: {e}")),
                unsent: true,
                unanswered: true,
            })?,
        };
        let mut written = 0;
        while written < wire.len() {
            let failure = match poll_fn(|cx| self.socket.poll_write(cx, &wire[written..])).await {
                Ok(0) => io::ErrorKind::WriteZero.into(),
                Ok(n) => {
                    written += n;
                    continue;
                }
                Err(e) => e,
            };
            return Err(HeadFailure {
                failure: Failure::new(
                    classify(&failure),
                    format!("writing the request: {failure}"),
                ),
                // Part of a request may already have been acted on.
                unsent: written == 0,
                unanswered: true,
            });
        }
        let mut received = false;
        loop {
            if !self.buffered().is_empty() {
                let parsed = wire::parse_head(self.buffered(), head_request);
                let fail = |reason: &str| HeadFailure {
                    failure: Failure::new(ErrorClass::Other, reason),
                    unsent: false,
                    unanswered: false,
                };
                match parsed.map_err(|_| fail("malformed response head"))? {
                    Some(head) if head.is_interim() => {
                        self.consume(head.len);
                        continue;
                    }
                    Some(head) => {
                        self.consume(head.len);
                        return Ok(head);
                    }
                    None if !self.make_room() => {
                        return Err(fail("a response head larger than 64 KiB"));
                    }
                    None => {}
                }
            }
            match poll_fn(|cx| self.poll_read(cx, wait)).await {
                Ok(0) => {
                    return Err(HeadFailure {
                        failure: Failure::new(
                            ErrorClass::Reset,
                            "the server closed the connection before the response head",
                        ),
                        unsent: false,
                        unanswered: !received,
                    });
                }
                Ok(_) => received = true,
                Err(e) => {
                    return Err(HeadFailure {
                        failure: Failure::new(
                            classify(&e),
                            format!("reading the response head: {e}"),
                        ),
                        unsent: false,
                        unanswered: !received,
                    });
                }
            }
        }
    }

    /// Makes space after the buffered bytes: moves them to the front, or
    /// grows the buffer. `false` when it is full at its largest.
    fn make_room(&mut self) -> bool {
        if self.end < self.buf.len() {
            return true;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return true;
        }
        self.grow()
    }

    fn grow(&mut self) -> bool {
        if self.buf.len() >= MAX_BUFFER {
            return false;
        }
        self.buf.resize(self.buf.len() * 2, 0);
        true
    }

    /// Reads once into the free space after the buffered bytes. A read that
    /// fills an empty buffer grows it, so large bodies take fewer reads.
    fn poll_read(&mut self, cx: &mut Context<'_>, wait: &TickWait<'_>) -> Poll<io::Result<usize>> {
        let room = self.buf.len() - self.end;
        let free = &mut self.buf[self.end..];
        let (n, at) = std::task::ready!(match &mut self.tls {
            None => self.socket.poll_read(cx, wait, free),
            Some(tls) => tls.poll_read(&mut self.socket, cx, wait, free),
        })?;
        self.read_at = at;
        self.end += n;
        if n == room && self.start == 0 {
            self.grow();
        }
        Poll::Ready(Ok(n))
    }

    /// Reads once, waiting at most `idle` from now; `None` when nothing came.
    /// The timer is only armed when the read has to wait.
    async fn read_within(
        &mut self,
        mut timer: Pin<&mut Option<Sleep>>,
        idle: Duration,
        wait: &TickWait<'_>,
    ) -> Option<io::Result<usize>> {
        if !self.make_room() {
            return Some(Err(io::ErrorKind::OutOfMemory.into()));
        }
        let mut deadline = None;
        poll_fn(|cx| {
            if let Poll::Ready(read) = self.poll_read(cx, wait) {
                return Poll::Ready(Some(read));
            }
            let at = *deadline.get_or_insert_with(|| {
                let at = Instant::now() + idle;
                if let Some(timer) = timer.as_mut().as_pin_mut() {
                    timer.reset(at);
                }
                at
            });
            poll_timer(timer.as_mut(), at, cx).map(|()| None)
        })
        .await
    }
}

/// The body still to read, by its framing.
enum Body {
    Empty,
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

impl Body {
    fn new(framing: Framing) -> Body {
        match framing {
            Framing::Empty => Body::Empty,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::Chunked(Chunked::new()),
            Framing::UntilClose => Body::UntilClose,
        }
    }

    /// Takes the body's bytes from `input`, passing its data to `data`.
    /// Returns the bytes used and whether the body ended.
    fn consume(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<(usize, bool), Malformed> {
        match self {
            Body::Empty => Ok((0, true)),
            Body::Length(left) => {
                let take = usize::try_from(*left).map_or(input.len(), |l| l.min(input.len()));
                data(&input[..take]);
                *left -= take as u64;
                Ok((take, *left == 0))
            }
            Body::Chunked(decoder) => decoder.decode(input, data),
            Body::UntilClose => {
                data(input);
                Ok((input.len(), false))
            }
        }
    }
}
