//! The accept loop: HTTP/1.1 and HTTP/2 on one port (hyper-util's auto
//! builder), over TLS when the sim has a certificate, TCP_NODELAY, real
//! connection resets for the reset fault, and graceful shutdown through a
//! watch channel.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::auth_store::Credentials;
use crate::config::SimConfig;
use crate::conn::{ConnCtl, Surface};
use crate::faults::Fault;
use crate::state::SimState;
use crate::tls::ServerTls;

/// How long open connections get to finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long a client gets to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP stream that is closed with a reset (SO_LINGER 0) when its
/// connection was asked to reset.
struct ResetOnDrop {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        if self.ctl.reset_requested() {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResetOnDrop {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResetOnDrop {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A running sim.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    /// `https` or `http`.
    scheme: &'static str,
    functions_addr: Option<SocketAddr>,
    state: Arc<SimState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Binds `addr`, spawns the accept loop on the current tokio runtime and
/// returns at once. The one address serves every route, the Convex
/// function API included.
pub async fn start(addr: SocketAddr, config: SimConfig) -> io::Result<SimHandle> {
    start_at(addr, None, config).await
}

/// Like [`start`]; with `functions`, the Convex function API has that
/// address of its own (as `NAME.convex.cloud`) and `addr` serves everything
/// else (as `NAME.convex.site`).
pub async fn start_at(
    addr: SocketAddr,
    functions: Option<SocketAddr>,
    config: SimConfig,
) -> io::Result<SimHandle> {
    start_tls(addr, functions, config, None).await
}

/// Like [`start_at`]; with `tls`, every address serves HTTPS.
pub async fn start_tls(
    addr: SocketAddr,
    functions: Option<SocketAddr>,
    config: SimConfig,
    tls: Option<ServerTls>,
) -> io::Result<SimHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let functions = match functions {
        Some(a) => {
            let l = TcpListener::bind(a).await?;
            let a = l.local_addr()?;
            Some((l, a))
        }
        None => None,
    };
    let state = Arc::new(SimState::new(config));
    let (shutdown, rx) = watch::channel(false);
    let site_surface = if functions.is_some() {
        Surface::Site
    } else {
        Surface::All
    };
    let mut tasks = vec![
        tokio::spawn(crate::tool_runner::run(Arc::clone(&state), rx.clone())),
        tokio::spawn(accept_loop(
            listener,
            (site_surface, tls.clone()),
            Arc::clone(&state),
            rx.clone(),
        )),
    ];
    let functions_addr = functions.map(|(l, a)| {
        tasks.push(tokio::spawn(accept_loop(
            l,
            (Surface::Functions, tls.clone()),
            Arc::clone(&state),
            rx,
        )));
        a
    });
    Ok(SimHandle {
        addr,
        scheme: if tls.is_some() { "https" } else { "http" },
        functions_addr,
        state,
        shutdown,
        tasks,
    })
}

impl SimHandle {
    /// The bound address (of HTTP actions, when the function API has its own).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://` with TLS): HTTP actions (`/api/chat`,
    /// webhooks, auth), as `NAME.convex.site`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The URL of the Convex function API, as `NAME.convex.cloud` (the
    /// base URL when the sim listens on one address).
    pub fn functions_url(&self) -> String {
        let addr = self.functions_addr.unwrap_or(self.addr);
        format!("{}://{addr}", self.scheme)
    }

    /// The bearer token of the ops endpoints.
    pub fn ops_token(&self) -> &str {
        &self.state.ops_token
    }

    /// The admin key of the function API (`Authorization: Convex <key>`).
    pub fn deploy_key(&self) -> &str {
        &self.state.deploy_key
    }

    /// Creates (or reuses) a user, opens a session and creates a thread.
    pub fn provision_user(&self, email: &str, password: &str) -> Credentials {
        self.state.auth.provision(email, password)
    }

    /// Replaces the faults in force (as `POST /api/ops/faults`).
    pub fn set_faults(&self, faults: Vec<Fault>) {
        self.state.faults.replace(faults);
    }

    /// The reliability snapshot (as `GET /api/ops/reliability-snapshot`).
    pub fn snapshot(&self, minutes: u32, limit: usize) -> serde_json::Value {
        crate::routes::ops::snapshot(&self.state, minutes, limit)
    }

    /// Stops accepting, lets open connections finish for a short grace
    /// period, then closes them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(4096);
    b
}

async fn accept_loop(
    listener: TcpListener,
    (surface, tls): (Surface, Option<ServerTls>),
    state: Arc<SimState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(builder());
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_conn(
                        Arc::clone(&builder),
                        (stream, peer, tls.clone()),
                        surface,
                        Arc::clone(&state),
                        shutdown.clone(),
                    ));
                }
                // Out of descriptors or a connection failed during accept:
                // back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_millis(500), drain)
        .await
        .is_err()
    {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn serve_conn(
    builder: Arc<auto::Builder<TokioExecutor>>,
    (stream, peer, tls): (TcpStream, SocketAddr, Option<ServerTls>),
    surface: Surface,
    state: Arc<SimState>,
    shutdown: watch::Receiver<bool>,
) {
    let ctl = Arc::new(ConnCtl::new(peer, surface));
    let io = ResetOnDrop {
        inner: stream,
        ctl: Arc::clone(&ctl),
    };
    let Some(tls) = tls else {
        return serve_io(&builder, io, ctl, state, shutdown).await;
    };
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(io));
    // A failed or stalled handshake only ends its connection.
    if let Ok(Ok(io)) = handshake.await {
        serve_io(&builder, io, ctl, state, shutdown).await;
    }
}

/// Serves HTTP on one connection (plain or TLS) until it ends, is reset,
/// or the sim shuts down.
async fn serve_io<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    ctl: Arc<ConnCtl>,
    state: Arc<SimState>,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let svc_ctl = Arc::clone(&ctl);
    let svc =
        service_fn(move |req| crate::routes::handle(Arc::clone(&state), Arc::clone(&svc_ctl), req));
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    if *shutdown.borrow() {
        return;
    }
    tokio::select! {
        _ = conn.as_mut() => return,
        // Dropping the connection drops the socket with SO_LINGER 0.
        _ = ctl.reset_asked() => return,
        _ = shutdown.changed() => conn.as_mut().graceful_shutdown(),
    }
    tokio::select! {
        _ = tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()) => {}
        _ = ctl.reset_asked() => {}
    }
}
