//! TLS over a connection's [`Socket`], for `https://` origins.
//!
//! The handshake is tokio-rustls'; after it the session is driven here, on
//! top of the same socket the plain path uses: a request is sealed into TLS
//! records in one buffer and written with one system call, and records are
//! read through the socket's own reads. So a TLS connection reads at the
//! pacer's ticks and is timed by the kernel's receive time just as a plain
//! one is, and no task, channel or second buffer stands between the
//! exchange and its socket.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, HandshakeKind};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::socket::{Socket, TickWait};

/// Makes TLS sessions with one worker's rustls configuration (its own
/// session cache, so resumption never takes a lock shared by workers).
#[derive(Clone)]
pub(super) struct Connector {
    inner: tokio_rustls::TlsConnector,
}

impl Connector {
    pub(super) fn new(config: Arc<rustls::ClientConfig>) -> Connector {
        Connector {
            inner: tokio_rustls::TlsConnector::from(config),
        }
    }

    /// Runs the handshake for `name` over `stream`.
    pub(super) async fn handshake(
        &self,
        name: ServerName<'static>,
        stream: TcpStream,
    ) -> io::Result<(TcpStream, Tls)> {
        let (stream, session) = self.inner.connect(name, stream).await?.into_inner();
        Ok((stream, Tls::new(session)))
    }
}

/// One connection's TLS session and the buffer its requests are sealed in.
pub(super) struct Tls {
    session: ClientConnection,
    /// The records of the request being written.
    sealed: Vec<u8>,
    /// When the records of the latest read arrived.
    read_at: Instant,
}

impl Tls {
    fn new(session: ClientConnection) -> Tls {
        Tls {
            session,
            sealed: Vec::new(),
            read_at: Instant::now(),
        }
    }

    /// The session resumed an earlier one.
    pub(super) fn resumed(&self) -> bool {
        self.session.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Seals `plain` into TLS records, after any records the session still
    /// has to send, and returns them all.
    pub(super) fn seal(&mut self, plain: &[u8]) -> io::Result<&[u8]> {
        self.sealed.clear();
        let mut rest = plain;
        loop {
            // The session takes plaintext up to its buffer limit; drain it
            // into records and go on.
            let taken = match rest {
                [] => 0,
                rest => self.session.writer().write(rest)?,
            };
            rest = &rest[taken..];
            while self.session.wants_write() {
                self.session.write_tls(&mut self.sealed)?;
            }
            match (rest.is_empty(), taken) {
                (true, _) => return Ok(&self.sealed),
                (false, 0) => return Err(io::ErrorKind::WriteZero.into()),
                (false, _) => {}
            }
        }
    }

    /// Frees the buffer the last request was sealed in.
    pub(super) fn release_sealed(&mut self) {
        self.sealed = Vec::new();
    }

    /// Reads plaintext into `buf` (not empty): how many bytes, and when the
    /// records they came in arrived. `0` is the end of the connection: a
    /// `close_notify`, or the server closing TCP without one (which HTTP/1.1
    /// servers do, and which a plain connection reports the same way).
    pub(super) fn poll_read(
        &mut self,
        socket: &mut Socket,
        cx: &mut Context<'_>,
        wait: &TickWait<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, Instant)>> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok((n, self.read_at))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Ok((0, self.read_at)));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            let mut records = Records {
                socket,
                cx,
                wait,
                arrived: None,
                pending: false,
            };
            match self.session.read_tls(&mut records) {
                Ok(_) => {}
                Err(_) if records.pending => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Some(at) = records.arrived {
                self.read_at = at;
            }
            self.session
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }

    /// Reads the records that arrived while the connection was idle, without
    /// waiting (a TLS 1.3 server sends its session tickets after the
    /// handshake, so a connection opened ahead of its first request finds
    /// them there); `false` when the socket ended or failed instead.
    pub(super) fn read_idle(&mut self, socket: &mut Socket) -> bool {
        loop {
            match self.session.read_tls(&mut Idle(socket)) {
                Ok(0) => return false,
                Ok(_) => {
                    if self.session.process_new_packets().is_err() {
                        return false;
                    }
                }
                Err(e) => return e.kind() == io::ErrorKind::WouldBlock,
            }
        }
    }

    /// No plaintext is waiting and the server has not closed the session.
    pub(super) fn is_quiet(&mut self) -> bool {
        self.session
            .process_new_packets()
            .is_ok_and(|state| state.plaintext_bytes_to_read() == 0 && !state.peer_has_closed())
    }
}

/// The socket as the [`Read`] rustls reads records from while the
/// connection is idle: nothing is waited for.
struct Idle<'a>(&'a mut Socket);

impl Read for Idle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// The socket as the [`Read`] rustls reads records from: a read that
/// would wait leaves the exchange registered to be woken (or parked on the
/// ticks) and reports `WouldBlock`.
struct Records<'a, 'cx, 'w> {
    socket: &'a mut Socket,
    cx: &'a mut Context<'cx>,
    wait: &'a TickWait<'w>,
    /// When the bytes read arrived.
    arrived: Option<Instant>,
    /// The socket had nothing to read; the exchange waits for it.
    pending: bool,
}

impl Read for Records<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.socket.poll_read(self.cx, self.wait, buf) {
            Poll::Ready(Ok((n, at))) => {
                self.arrived = Some(at);
                Ok(n)
            }
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => {
                self.pending = true;
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
    }
}
