//! End-to-end tests of [`Client::send`] against real local servers on
//! `127.0.0.1:0`: hyper servers, raw TCP servers that misbehave on purpose,
//! and a rustls server with a certificate from a generated CA.

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{
    Client, ClientConfig, ClientTls, ErrorClass, Exchange, Origin, OutgoingRequest, Receive,
};

/// A keep-alive answer with a two-byte body.
const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Every test body runs under this bound.
async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), test)
        .await
        .expect("test exceeded its 5 s bound")
}

fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        stream_idle_timeout: Duration::from_secs(2),
        http2: false,
        ca_cert: None,
        max_idle_per_host: 8,
        http2_connections: 0,
    }
}

fn get(uri: &str) -> OutgoingRequest {
    OutgoingRequest {
        method: http::Method::GET,
        uri: uri.parse().expect("test uri"),
        headers: http::HeaderMap::new(),
        body: Bytes::new(),
    }
}

async fn send(config: &ClientConfig, uri: &str, event_stream: bool) -> Exchange {
    let client = Client::new(config).expect("client");
    client.send(get(uri), event_stream).await
}

/// Accepts connections forever and runs `handler` on each.
async fn raw_server<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(handler(socket));
        }
    });
    addr
}

/// Reads until the end of a request head (requests in these tests have no body).
async fn read_head(socket: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// A hyper HTTP/1.1 server answering 200 with a body of `len` bytes.
async fn hyper_h1_server(len: usize) -> SocketAddr {
    raw_server(move |socket| async move {
        let service = service_fn(move |_req| async move {
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(vec![
                b'x';
                len
            ]))))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(socket), service)
            .await;
    })
    .await
}

#[tokio::test]
async fn ok_with_body_reads_to_the_end() {
    bounded(async {
        let addr = hyper_h1_server(1000).await;
        let client = Client::new(&config()).unwrap();
        for _ in 0..3 {
            let ex = client
                .send(get(&format!("http://{addr}/x?y=1")), false)
                .await;
            assert_eq!(ex.result, Ok(200), "{ex:?}");
            assert_eq!(ex.status, Some(200));
            assert_eq!(ex.body_bytes, 1000);
            assert_eq!(ex.events, 0);
            let ttfb = ex.ttfb.expect("ttfb");
            assert!(ttfb <= ex.total);
        }
    })
    .await;
}

#[tokio::test]
async fn empty_body_ttfb_is_the_head() {
    bounded(async {
        let addr = hyper_h1_server(0).await;
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Ok(200));
        assert_eq!(ex.body_bytes, 0);
        assert!(ex.ttfb.is_some());
    })
    .await;
}

#[tokio::test]
async fn connect_refused() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::ConnectRefused), "{ex:?}");
        assert_eq!(ex.status, None);
    })
    .await;
}

#[tokio::test]
async fn connect_timeout_when_the_accept_queue_is_full() {
    bounded(async {
        // A listener that never accepts, with its queue filled: the kernel
        // drops further SYNs, so a connect hangs until our timeout.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..16 {
            let attempt =
                tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await;
            match attempt {
                Ok(Ok(stream)) => held.push(stream),
                _ => break, // the queue is full
            }
        }
        let config = ClientConfig {
            connect_timeout: Duration::from_millis(200),
            ..config()
        };
        let ex = send(&config, &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::ConnectTimeout), "{ex:?}");
        drop(listener);
    })
    .await;
}

#[tokio::test]
async fn connect_timeout_bounds_a_stuck_tls_handshake() {
    bounded(async {
        // Accepts the TCP connection, then never answers the ClientHello.
        let addr = raw_server(|socket| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(socket);
        })
        .await;
        let ca = TestCa::new(); // a root, so the client builds without system roots
        let config = ClientConfig {
            connect_timeout: Duration::from_millis(200),
            ca_cert: Some(ca.pem_path().to_path_buf()),
            ..config()
        };
        let ex = send(
            &config,
            &format!("https://127.0.0.1:{}/", addr.port()),
            false,
        )
        .await;
        assert_eq!(ex.result, Err(ErrorClass::ConnectTimeout), "{ex:?}");
        assert_eq!(ex.status, None);
        // Ended by the connect bound, well before the 2 s request bound.
        let woken = Duration::from_millis(200)..Duration::from_secs(1);
        assert!(woken.contains(&ex.total), "{ex:?}");
        assert!(ex.total < Duration::from_millis(1500), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn dns_failure() {
    bounded(async {
        // `.invalid` never resolves (RFC 2606).
        let ex = send(&config(), "http://relhost-no-such-host.invalid/", false).await;
        assert_eq!(ex.result, Err(ErrorClass::Dns), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn close_before_head_is_reset() {
    bounded(async {
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            drop(socket);
        })
        .await;
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::Reset), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn tcp_reset_before_head_is_reset() {
    bounded(async {
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let _ = socket.set_zero_linger();
            drop(socket);
        })
        .await;
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::Reset), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn no_head_in_time_is_request_timeout() {
    bounded(async {
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(socket);
        })
        .await;
        let config = ClientConfig {
            request_timeout: Duration::from_millis(150),
            ..config()
        };
        let ex = send(&config, &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::RequestTimeout), "{ex:?}");
        assert_eq!(ex.status, None);
        assert!(ex.total >= Duration::from_millis(150));
    })
    .await;
}

#[tokio::test]
async fn stalled_body_is_stream_idle_timeout() {
    bounded(async {
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
        .await;
        let config = ClientConfig {
            stream_idle_timeout: Duration::from_millis(150),
            ..config()
        };
        let ex = send(&config, &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::StreamIdleTimeout), "{ex:?}");
        assert_eq!(ex.status, Some(200));
        assert_eq!(ex.body_bytes, 5);
        assert!(ex.ttfb.is_some());
    })
    .await;
}

#[tokio::test]
async fn body_cut_mid_way_is_body_aborted() {
    bounded(async {
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                .await;
            let _ = socket.shutdown().await;
        })
        .await;
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::BodyAborted), "{ex:?}");
        assert_eq!(ex.status, Some(200));
        assert_eq!(ex.body_bytes, 10);
    })
    .await;
}

/// An HTTP/2 server whose answers tell the connection they came on: the
/// body of the n-th connection accepted is n bytes long. `/slow` answers
/// after 400 ms. With `lifetime`, each connection is closed that long
/// after it was accepted.
async fn h2_numbering_server(lifetime: Option<Duration>) -> SocketAddr {
    let accepted = Arc::new(AtomicUsize::new(0));
    raw_server(move |socket| {
        let number = accepted.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let service = service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| async move {
                    if req.uri().path() == "/slow" {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                    }
                    let body = Bytes::from(vec![b'x'; number]);
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(body)))
                },
            );
            let serve = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(socket), service);
            match lifetime {
                Some(lifetime) => drop(tokio::time::timeout(lifetime, serve).await),
                None => drop(serve.await),
            }
        }
    })
    .await
}

#[tokio::test]
async fn http2_requests_go_to_the_connection_with_the_fewest_in_flight() {
    bounded(async {
        let addr = h2_numbering_server(None).await;
        let client = Client::new(&ClientConfig {
            http2: true,
            http2_connections: 2,
            ..config()
        })
        .unwrap();
        let slow = client.send(get(&format!("http://{addr}/slow")), false);
        let quick = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut connections = Vec::new();
            for _ in 0..3 {
                let ex = client.send(get(&format!("http://{addr}/")), false).await;
                assert_eq!(ex.result, Ok(200), "{ex:?}");
                connections.push(ex.body_bytes);
            }
            connections
        };
        let (slow, quick) = tokio::join!(slow, quick);
        assert_eq!(slow.result, Ok(200), "{slow:?}");
        // While the slow one holds its connection, every quick one takes
        // the other, however the turn goes.
        assert_eq!(quick.len(), 3);
        assert!(
            quick.iter().all(|&c| c != slow.body_bytes),
            "{quick:?} beside {slow:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_http2_connection_that_closed_is_opened_again() {
    bounded(async {
        let addr = h2_numbering_server(Some(Duration::from_millis(150))).await;
        let client = Client::new(&ClientConfig {
            http2: true,
            ..config()
        })
        .unwrap();
        let mut seen = Vec::new();
        for _ in 0..2 {
            let ex = client.send(get(&format!("http://{addr}/")), false).await;
            assert_eq!(ex.result, Ok(200), "{ex:?}");
            seen.push((ex.body_bytes, ex.connections.opened));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The second request came on a second connection, counted once.
        assert_eq!(seen, [(1, 1), (2, 1)]);
    })
    .await;
}

#[tokio::test]
async fn a_tls_server_that_does_not_offer_http2_is_a_tls_failure() {
    bounded(async {
        let ca = TestCa::new();
        let (addr, _) = counting_server(OK, false).await;
        let front = tls_front(&ca, addr, true).await;
        let client = Client::new(&ClientConfig {
            http2: true,
            ca_cert: Some(ca.pem_path().to_path_buf()),
            ..config()
        })
        .unwrap();
        let ex = client.send(get(&https(front)), false).await;
        assert_eq!(ex.result, Err(ErrorClass::Tls), "{ex:?}");
        let reason = ex.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("did not agree to HTTP/2"), "{reason}");
    })
    .await;
}

/// An HTTP/2 server (the `h2` crate's) with small flow-control windows
/// (1,000 bytes per stream): `/refuse` is reset with `REFUSED_STREAM`,
/// `/cut` closes the connection once its head is read, `/big` answers
/// 6 MB (more than the client's windows), `/events` sends an event stream
/// in pieces that split its events (`/events-reset` resets it after the
/// second piece), and any other request is answered with its body's
/// length and its `content-length`, as `LENGTH/HEADER`.
async fn h2_crate_server() -> SocketAddr {
    raw_server(|socket| async move {
        let Ok(mut conn) = h2::server::Builder::new()
            .initial_window_size(1000)
            .handshake::<_, Bytes>(socket)
            .await
        else {
            return;
        };
        while let Some(Ok((request, mut respond))) = conn.accept().await {
            let path = request.uri().path().to_owned();
            match path.as_str() {
                "/refuse" => respond.send_reset(h2::Reason::REFUSED_STREAM),
                "/cut" => return,
                "/events" | "/events-reset" => {
                    tokio::spawn(async move {
                        let Ok(mut stream) = respond.send_response(http::Response::new(()), false)
                        else {
                            return;
                        };
                        let pieces: [&[u8]; 4] = [
                            b"data: a\n",
                            b"\ndata: b\n\n: ping\n\nda",
                            b"ta: c\n\n",
                            b"",
                        ];
                        for (i, piece) in pieces.into_iter().enumerate() {
                            if i == 2 && path == "/events-reset" {
                                stream.send_reset(h2::Reason::INTERNAL_ERROR);
                                return;
                            }
                            let _ = stream.send_data(Bytes::from_static(piece), i == 3);
                            tokio::time::sleep(Duration::from_millis(15)).await;
                        }
                    });
                }
                _ => {
                    tokio::spawn(async move {
                        let header = request
                            .headers()
                            .get("content-length")
                            .map(|v| v.to_str().unwrap_or("?").to_owned())
                            .unwrap_or_default();
                        let mut body = request.into_body();
                        let mut length = 0;
                        while let Some(Ok(data)) = body.data().await {
                            length += data.len();
                            let _ = body.flow_control().release_capacity(data.len());
                        }
                        let answer = match path.as_str() {
                            "/big" => Bytes::from(vec![b'x'; 6 << 20]),
                            _ => Bytes::from(format!("{length}/{header}")),
                        };
                        let Ok(mut stream) = respond.send_response(http::Response::new(()), false)
                        else {
                            return;
                        };
                        stream.reserve_capacity(answer.len());
                        let _ = stream.send_data(answer, true);
                        // Keep the stream until its data is gone.
                        let _ = std::future::poll_fn(|cx| stream.poll_reset(cx)).await;
                    });
                }
            }
        }
    })
    .await
}

/// [`h2_crate_server`], and an HTTP/2 client for it.
async fn h2_crate_target() -> (SocketAddr, Client) {
    let client = Client::new(&ClientConfig {
        http2: true,
        ..config()
    })
    .unwrap();
    (h2_crate_server().await, client)
}

#[tokio::test]
async fn http2_bodies_larger_than_the_windows_go_both_ways() {
    bounded(async {
        let (addr, client) = h2_crate_target().await;
        let mut post = get(&format!("http://{addr}/echo"));
        post.method = http::Method::POST;
        post.headers
            .insert("connection", "keep-alive".parse().unwrap());
        post.body = Bytes::from(vec![b'y'; 50_000]);
        let ex = client.send(post, false).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        // The whole body arrived with its length, and the HTTP/1.1-only
        // header was left out rather than failing the request.
        assert_eq!(ex.body_bytes, "50000/50000".len() as u64);
        // 6 MB flows only if the client opens its windows as it reads.
        let ex = client.send(get(&format!("http://{addr}/big")), false).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert_eq!(ex.body_bytes, 6 << 20);
        assert_eq!(ex.connections.opened, 0);
    })
    .await;
}

#[tokio::test]
async fn http2_event_streams_are_counted_as_they_arrive() {
    bounded(async {
        let (addr, client) = h2_crate_target().await;
        let ex = client
            .send(get(&format!("http://{addr}/events")), true)
            .await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert_eq!(ex.events, 3, "{ex:?}");
        let first_event = ex.first_event.expect("first event");
        assert!(ex.ttfb.expect("ttfb") < first_event, "{ex:?}");
        assert!(first_event < ex.total, "{ex:?}");
        // Reset after the second piece: the events that came are counted,
        // and the body was cut.
        let ex = client
            .send(get(&format!("http://{addr}/events-reset")), true)
            .await;
        assert_eq!(ex.result, Err(ErrorClass::BodyAborted), "{ex:?}");
        assert_eq!((ex.status, ex.events), (Some(200), 2), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn http2_streams_refused_or_cut_by_the_server_are_resets() {
    bounded(async {
        let (addr, client) = h2_crate_target().await;
        for path in ["/refuse", "/cut"] {
            let ex = client
                .send(get(&format!("http://{addr}{path}")), false)
                .await;
            assert_eq!(ex.result, Err(ErrorClass::Reset), "{path}: {ex:?}");
        }
        // The connection cut is opened again for the next request.
        let ex = client.send(get(&format!("http://{addr}/")), false).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert_eq!(ex.connections.opened, 1);
    })
    .await;
}

#[tokio::test]
async fn sse_events_across_awkward_frames() {
    bounded(async {
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            // Each piece is its own chunk, sent apart, so frames split
            // terminators: `\r` | `\n\r` | `\n`, and a comment-only block.
            let pieces: [&[u8]; 6] = [
                b"data: a\r",
                b"\n\r",
                b"\ndata: b\n",
                b"\n: keep-alive\n\n",
                b"event: x\r\ndata: c\r\n\r",
                b"\ndata: unterminated",
            ];
            for piece in pieces {
                let chunk = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
                let _ = socket.write_all(&chunk).await;
                let _ = socket.flush().await;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        })
        .await;
        let ex = send(&config(), &format!("http://{addr}/stream"), true).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert_eq!(ex.events, 3);
        let first_event = ex.first_event.expect("first event");
        assert!(ex.ttfb.expect("ttfb") < first_event);
        assert!(first_event <= ex.total);
        // Not an event stream: nothing counted.
        let ex = send(&config(), &format!("http://{addr}/stream"), false).await;
        assert_eq!((ex.result, ex.events, ex.first_event), (Ok(200), 0, None));
    })
    .await;
}

#[tokio::test]
async fn http2_prior_knowledge() {
    bounded(async {
        let addr = raw_server(|socket| async move {
            let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let body = format!("{:?}", req.version());
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
            });
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(socket), service)
                .await;
        })
        .await;
        let uri = format!("http://{addr}/");
        let h2 = ClientConfig {
            http2: true,
            ..config()
        };
        let client = Client::new(&h2).unwrap();
        let mut opened = Vec::new();
        for _ in 0..3 {
            let ex = client.send(get(&uri), false).await;
            assert_eq!(ex.result, Ok(200), "{ex:?}");
            assert_eq!(ex.body_bytes, "HTTP/2.0".len() as u64);
            opened.push(ex.connections.opened);
        }
        // One connection, reported once.
        assert_eq!(opened, [1, 0, 0]);
        // Three connections, each request on the next.
        let client = Client::new(&ClientConfig {
            http2_connections: 3,
            ..h2.clone()
        })
        .unwrap();
        let mut opened = 0;
        for _ in 0..6 {
            let ex = client.send(get(&uri), false).await;
            assert_eq!(ex.result, Ok(200), "{ex:?}");
            opened += ex.connections.opened;
        }
        assert_eq!(opened, 3);
        // An HTTP/1.1 client gets no response head from an h2-only server.
        let ex = send(&config(), &uri, false).await;
        assert!(ex.result.is_err(), "{ex:?}");
    })
    .await;
}

/// A generated CA and a server certificate it signed for `localhost` and
/// `127.0.0.1`; the CA's PEM lives in a temporary directory.
pub(super) struct TestCa {
    _dir: tempfile::TempDir,
    pem_path: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub(super) fn new() -> TestCa {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "relhost test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let pem_path = dir.path().join("ca.pem");
        std::fs::write(&pem_path, ca.pem()).unwrap();

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
        TestCa {
            _dir: dir,
            pem_path,
            server: Arc::new(server),
        }
    }

    pub(super) fn pem_path(&self) -> &Path {
        &self.pem_path
    }

    /// A blocking HTTPS/1.1 server on its own thread that serves one
    /// connection: `200` with body `ok`.
    fn serve_once(&self) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Arc::clone(&self.server);
        std::thread::spawn(move || {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => return, // e.g. the client rejected our certificate
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tls.write_all(OK);
            let _ = tls.flush();
        });
        addr
    }
}

#[tokio::test]
async fn https_with_private_ca() {
    bounded(async {
        let ca = TestCa::new();
        let with_ca = ClientConfig {
            ca_cert: Some(ca.pem_path().to_path_buf()),
            ..config()
        };
        // Build the TLS config once and share it, as workers do.
        let tls = ClientTls::new(&with_ca).unwrap();
        for host in ["127.0.0.1", "localhost"] {
            let addr = ca.serve_once();
            let client = Client::with_tls(&with_ca, &tls);
            let uri = format!("https://{host}:{}/secure", addr.port());
            let ex = client.send(get(&uri), false).await;
            assert_eq!(ex.result, Ok(200), "{host}: {ex:?}");
            assert_eq!(ex.body_bytes, 2);
        }
    })
    .await;
}

#[tokio::test]
async fn https_without_the_ca_is_tls() {
    bounded(async {
        let ca = TestCa::new();
        let addr = ca.serve_once();
        // System roots only (no --ca-cert). A machine without any system
        // roots cannot build this client; that case is covered elsewhere.
        let Ok(client) = Client::new(&config()) else {
            return;
        };
        let ex = client
            .send(get(&format!("https://127.0.0.1:{}/", addr.port())), false)
            .await;
        assert_eq!(ex.result, Err(ErrorClass::Tls), "{ex:?}");
        assert_eq!(ex.status, None);
    })
    .await;
}

#[tokio::test]
async fn send_collect_returns_status_headers_and_body() {
    bounded(async {
        let addr = hyper_h1_server(1000).await;
        let client = Client::new(&config()).unwrap();
        let (status, headers, body) = client
            .send_collect(get(&format!("http://{addr}/")))
            .await
            .expect("collected");
        assert_eq!(status, 200);
        assert_eq!(headers["content-length"], "1000");
        assert_eq!(body.len(), 1000);

        let big = hyper_h1_server(Client::COLLECT_LIMIT + 1).await;
        let over = client.send_collect(get(&format!("http://{big}/"))).await;
        assert_eq!(over, Err(ErrorClass::Other));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        let refused = client.send_collect(get(&format!("http://{closed}/"))).await;
        assert_eq!(refused, Err(ErrorClass::ConnectRefused));
    })
    .await;
}

// HTTP/1.1 connection handling of the own client.

/// Serves every request on a connection with `response` until the client
/// closes it (`close_after_one`: closes after the first response); counts
/// the connections accepted.
async fn counting_server(
    response: &'static [u8],
    close_after_one: bool,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let addr = raw_server(move |mut socket| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            while request_arrives(&mut socket).await {
                if socket.write_all(response).await.is_err() || close_after_one {
                    return;
                }
            }
        }
    })
    .await;
    (addr, accepted)
}

/// Reads one request head; `false` when the client closed the connection.
async fn request_arrives(socket: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

#[tokio::test]
async fn keep_alive_reuses_a_connection_and_close_does_not() {
    bounded(async {
        let (kept, kept_count) = counting_server(OK, false).await;
        let (closed, closed_count) = counting_server(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            false,
        )
        .await;
        let client = Client::new(&config()).unwrap();
        for addr in [kept, closed] {
            for _ in 0..3 {
                let ex = client.send(get(&format!("http://{addr}/")), false).await;
                assert_eq!((ex.result, ex.body_bytes), (Ok(200), 2), "{ex:?}");
            }
        }
        assert_eq!(kept_count.load(Ordering::SeqCst), 1);
        assert_eq!(closed_count.load(Ordering::SeqCst), 3);
    })
    .await;
}

/// Per connection: answers `answered` requests with keep-alive, then
/// closes on the next one without an answer (a server that closed the
/// connection as the request arrived). Counts the connections accepted.
async fn closing_server(answered: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let addr = raw_server(move |mut socket| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            let mut served = 0;
            while request_arrives(&mut socket).await {
                if first && served == answered {
                    return;
                }
                if socket.write_all(OK).await.is_err() {
                    return;
                }
                served += 1;
            }
        }
    })
    .await;
    (addr, accepted)
}

#[tokio::test]
async fn a_request_lost_on_a_reused_connection_is_retried_only_when_idempotent() {
    bounded(async {
        // GET: sent again on a new connection.
        let (addr, accepted) = closing_server(1).await;
        let client = Client::new(&config()).unwrap();
        for _ in 0..2 {
            let ex = client.send(get(&format!("http://{addr}/")), false).await;
            assert_eq!(ex.result, Ok(200), "{ex:?}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);

        // POST: the server may have acted on it, so it is not sent twice.
        let (addr, accepted) = closing_server(1).await;
        let client = Client::new(&config()).unwrap();
        let ex = client.send(get(&format!("http://{addr}/")), false).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        let mut post = get(&format!("http://{addr}/"));
        post.method = http::Method::POST;
        let ex = client.send(post, false).await;
        assert_eq!(ex.result, Err(ErrorClass::Reset), "{ex:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_replaced() {
    bounded(async {
        let ca = TestCa::new();
        for tls in [false, true] {
            let (addr, accepted) = counting_server(OK, true).await;
            let (client, uri) = match tls {
                false => (Client::new(&config()).unwrap(), format!("http://{addr}/")),
                true => (tls_client(&ca), https(tls_front(&ca, addr, true).await)),
            };
            for method in [http::Method::GET, http::Method::POST, http::Method::GET] {
                let mut request = get(&uri);
                request.method = method;
                let ex = client.send(request, false).await;
                assert_eq!(ex.result, Ok(200), "tls {tls}: {ex:?}");
                // Let the server's close arrive before the next request.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 3, "tls {tls}");
        }
    })
    .await;
}

#[tokio::test]
async fn interim_heads_and_a_body_delimited_by_close() {
    bounded(async {
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let _ = socket
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nhello")
                .await;
            let _ = socket.shutdown().await;
        })
        .await;
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!((ex.result, ex.body_bytes), (Ok(200), 5), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn a_head_request_reads_no_body() {
    bounded(async {
        let (addr, _) =
            counting_server(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", false).await;
        let mut request = get(&format!("http://{addr}/"));
        request.method = http::Method::HEAD;
        let client = Client::new(&config()).unwrap();
        let ex = client.send(request, false).await;
        assert_eq!((ex.result, ex.body_bytes), (Ok(200), 0), "{ex:?}");
        assert!(ex.total < Duration::from_secs(1), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn a_large_body_and_a_malformed_head() {
    bounded(async {
        let addr = hyper_h1_server(300_000).await;
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!((ex.result, ex.body_bytes), (Ok(200), 300_000), "{ex:?}");
        let addr = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        })
        .await;
        let ex = send(&config(), &format!("http://{addr}/"), false).await;
        assert_eq!(ex.result, Err(ErrorClass::Other), "{ex:?}");
    })
    .await;
}

/// Answers each request on a connection with a keep-alive `200 ok`, the
/// `nth` one only after `slow`.
async fn one_slow_answer_server(nth: usize, slow: Duration) -> SocketAddr {
    raw_server(move |mut socket| async move {
        let mut served = 0;
        while request_arrives(&mut socket).await {
            served += 1;
            if served == nth {
                tokio::time::sleep(slow).await;
            }
            if socket.write_all(OK).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// The origin of `addr`, and a GET of `/` written for it.
fn get_wire(client: &Client, addr: SocketAddr) -> (Origin, Vec<u8>) {
    let origin = client
        .http1_origin(&format!("http://{addr}/").parse().unwrap())
        .expect("plain HTTP/1.1");
    let wire = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    (origin, wire)
}

/// Sends `wire` with its answer read at ticks; nobody ticks for `after`,
/// then a tick comes every millisecond, 50 times.
async fn ticked(client: &Client, origin: &Origin, wire: &[u8], after: Duration) -> Exchange {
    let ticker = async {
        tokio::time::sleep(after).await;
        for _ in 0..50 {
            client.tick();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        std::future::pending().await
    };
    tokio::select! {
        ex = client.send_wire(origin, wire, false, Receive::AtTicks) => ex,
        () = ticker => unreachable!(),
    }
}

#[tokio::test]
async fn responses_read_at_ticks_are_timed_by_their_arrival() {
    bounded(async {
        let addr = one_slow_answer_server(3, Duration::from_millis(200)).await;
        let client = Client::new(&config()).unwrap();
        let (origin, wire) = get_wire(&client, addr);
        // The first socket read at ticks asks the kernel for receive
        // times; it starts stamping a moment later.
        let ex = ticked(&client, &origin, &wire, Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;

        // The answer is read 100 ms late, and timed by when it arrived
        // (under 90 ms leaves a loaded machine room and still catches a
        // time taken at the read, 100 ms or more).
        let ex = ticked(&client, &origin, &wire, Duration::from_millis(100)).await;
        assert_eq!((ex.result, ex.body_bytes), (Ok(200), 2), "{ex:?}");
        assert!(ex.total < Duration::from_millis(90), "{ex:?}");

        // An answer slower than the ticks (the last tick comes at about
        // 50 ms): the reactor wakes the exchange instead. Then the
        // connection is read at ticks again.
        let sent = std::time::Instant::now();
        let ex = ticked(&client, &origin, &wire, Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert!(ex.total >= Duration::from_millis(200), "{ex:?}");
        // Read when it arrived, not at the request timeout (2 s).
        assert!(sent.elapsed() < Duration::from_secs(1), "{ex:?}");
        let ex = ticked(&client, &origin, &wire, Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert!(ex.total < Duration::from_millis(90), "{ex:?}");
    })
    .await;
}

#[tokio::test]
async fn an_answer_awaited_at_ticks_times_out_at_the_first_tick_past_the_deadline() {
    bounded(async {
        let addr = one_slow_answer_server(2, Duration::from_secs(10)).await;
        let config = ClientConfig {
            request_timeout: Duration::from_millis(100),
            ..config()
        };
        let client = Client::new(&config).unwrap();
        let (origin, wire) = get_wire(&client, addr);
        // A connection read at ticks, back in the pool.
        let ex = ticked(&client, &origin, &wire, Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");

        // The second request is never answered. Parked on the ticks, it
        // arms no timer: nothing wakes it past its deadline but a tick.
        let wakes = Arc::new(AtomicUsize::new(0));
        struct Count(Arc<AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let waker = std::task::Waker::from(Arc::new(Count(Arc::clone(&wakes))));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut ex = std::pin::pin!(client.send_wire(&origin, &wire, false, Receive::AtTicks));
        assert!(ex.as_mut().poll(&mut cx).is_pending());
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(wakes.load(Ordering::SeqCst), 0, "woken without a tick");

        // The first tick past the deadline ends it.
        client.tick();
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        match ex.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(ex) => {
                assert_eq!(ex.result, Err(ErrorClass::RequestTimeout), "{ex:?}");
            }
            std::task::Poll::Pending => panic!("still waiting after a tick past its deadline"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_ticked_connection_idle_long_is_checked_for_a_close_before_reuse() {
    bounded(async {
        let (addr, accepted) = counting_server(OK, true).await;
        let client = Client::new(&config()).unwrap();
        let (origin, get) = get_wire(&client, addr);
        let ex = ticked(&client, &origin, &get, Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        // The server closed it; idle this long, the connection is peeked
        // and replaced, so a POST (never sent twice) does not fail.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let post = format!("POST / HTTP/1.1\r\nHost: {addr}\r\ncontent-length: 0\r\n\r\n");
        let ex = ticked(&client, &origin, post.as_bytes(), Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    })
    .await;
}

// HTTP/1.1 over TLS: the same servers behind a TLS front.

/// Terminates TLS with `ca`'s certificate and relays each connection to
/// `backend` over TCP. When the backend closes, the front ends the session
/// with a `close_notify` (`clean`) or drops TCP without one, as many
/// HTTP/1.1 servers do.
async fn tls_front(ca: &TestCa, backend: SocketAddr, clean: bool) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&ca.server));
    raw_server(move |socket| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(socket).await else {
                return;
            };
            let Ok(back) = TcpStream::connect(backend).await else {
                return;
            };
            let (mut from_client, mut to_client) = tokio::io::split(tls);
            let (mut from_back, mut to_back) = back.into_split();
            let up = async {
                let _ = tokio::io::copy(&mut from_client, &mut to_back).await;
                let _ = to_back.shutdown().await;
                std::future::pending::<()>().await;
            };
            let down = async {
                let _ = tokio::io::copy(&mut from_back, &mut to_client).await;
                if clean {
                    let _ = to_client.shutdown().await;
                }
            };
            // Everything is dropped once the backend is done.
            tokio::select! {
                () = up => {}
                () = down => {}
            }
        }
    })
    .await
}

/// A client that trusts `ca`.
fn tls_client(ca: &TestCa) -> Client {
    Client::new(&ClientConfig {
        ca_cert: Some(ca.pem_path().to_path_buf()),
        ..config()
    })
    .unwrap()
}

fn https(addr: SocketAddr) -> String {
    format!("https://localhost:{}/", addr.port())
}

#[tokio::test]
async fn over_tls_connections_are_kept_alive_and_new_ones_resume_the_session() {
    bounded(async {
        let ca = TestCa::new();
        let (kept, kept_count) = counting_server(OK, false).await;
        let (closed, closed_count) = counting_server(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            false,
        )
        .await;
        let client = tls_client(&ca);
        let mut opened = Vec::new();
        for addr in [kept, closed] {
            let front = tls_front(&ca, addr, true).await;
            for _ in 0..3 {
                let ex = client.send(get(&https(front)), false).await;
                assert_eq!((ex.result, ex.body_bytes), (Ok(200), 2), "{ex:?}");
                opened.push((ex.connections.opened, ex.connections.tls_resumed));
            }
        }
        assert_eq!(kept_count.load(Ordering::SeqCst), 1);
        assert_eq!(closed_count.load(Ordering::SeqCst), 3);
        // One full handshake; every later connection resumed the session.
        assert_eq!(opened, [(1, 0), (0, 0), (0, 0), (1, 1), (1, 1), (1, 1)]);
    })
    .await;
}

#[tokio::test]
async fn connections_opened_ahead_are_used_over_tls_and_plain() {
    bounded(async {
        let ca = TestCa::new();
        let (backend, accepted) = counting_server(OK, false).await;
        let front = tls_front(&ca, backend, true).await;
        let plain = format!("http://{backend}/");
        let client = tls_client(&ca);
        for uri in [https(front), plain] {
            let before = accepted.load(Ordering::SeqCst);
            let opened = client.preconnect(&uri.parse().unwrap(), 3).await;
            assert_eq!(opened.opened, 3, "{uri}: {opened:?}");
            // The TLS server's session tickets arrive meanwhile: they do
            // not make the connections look used.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let sends = (0..3).map(|_| client.send(get(&uri), false));
            for ex in futures_util::future::join_all(sends).await {
                assert_eq!(ex.result, Ok(200), "{ex:?}");
                assert_eq!(ex.connections.opened, 0, "{uri}: {ex:?}");
            }
            assert_eq!(accepted.load(Ordering::SeqCst) - before, 3, "{uri}");
        }
    })
    .await;
}

#[tokio::test]
async fn over_tls_a_close_ends_a_body_with_or_without_close_notify() {
    bounded(async {
        let ca = TestCa::new();
        let until_close = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let _ = socket
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nhello")
                .await;
        })
        .await;
        let cut = raw_server(|mut socket| async move {
            read_head(&mut socket).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                .await;
        })
        .await;
        let client = tls_client(&ca);
        for clean in [true, false] {
            let front = tls_front(&ca, until_close, clean).await;
            let ex = client.send(get(&https(front)), false).await;
            assert_eq!((ex.result, ex.body_bytes), (Ok(200), 5), "{clean}: {ex:?}");
            let front = tls_front(&ca, cut, clean).await;
            let ex = client.send(get(&https(front)), false).await;
            assert_eq!(ex.result, Err(ErrorClass::BodyAborted), "{clean}: {ex:?}");
            assert_eq!(ex.body_bytes, 10);
        }
    })
    .await;
}

#[tokio::test]
async fn over_tls_answers_read_at_ticks_are_timed_by_their_arrival() {
    bounded(async {
        let ca = TestCa::new();
        let addr = one_slow_answer_server(3, Duration::from_millis(200)).await;
        let front = tls_front(&ca, addr, true).await;
        let client = tls_client(&ca);
        let origin = client
            .http1_origin(&https(front).parse().unwrap())
            .expect("HTTP/1.1 over TLS");
        let wire = format!("GET / HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", front.port());
        let wire = wire.as_bytes();
        let ex = ticked(&client, &origin, wire, Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert_eq!(ex.connections.opened, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Read 100 ms late, timed by when its records arrived.
        let ex = ticked(&client, &origin, wire, Duration::from_millis(100)).await;
        assert_eq!((ex.result, ex.body_bytes), (Ok(200), 2), "{ex:?}");
        assert!(ex.total < Duration::from_millis(90), "{ex:?}");
        // Slower than the ticks: the reactor wakes it.
        let ex = ticked(&client, &origin, wire, Duration::ZERO).await;
        assert_eq!(ex.result, Ok(200), "{ex:?}");
        assert!(ex.total >= Duration::from_millis(200), "{ex:?}");
        assert_eq!(ex.connections.opened, 0, "the connection was kept");
    })
    .await;
}

#[tokio::test]
async fn over_tls_event_streams_and_large_bodies_are_read_whole() {
    bounded(async {
        let ca = TestCa::new();
        let stream = raw_server(|mut socket| async move {
            while request_arrives(&mut socket).await {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                for piece in ["data: a\n", "\ndata: b\n\n", "data: c\n\n"] {
                    let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
                    let _ = socket.write_all(chunk.as_bytes()).await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            }
        })
        .await;
        let client = tls_client(&ca);
        let front = tls_front(&ca, stream, true).await;
        // The second stream on the connection the first one held.
        for opened in [1, 0] {
            let ex = client.send(get(&https(front)), true).await;
            assert_eq!((ex.result, ex.events), (Ok(200), 3), "{ex:?}");
            assert_eq!(ex.connections.opened, opened, "{ex:?}");
        }
        let large = hyper_h1_server(300_000).await;
        let front = tls_front(&ca, large, true).await;
        let ex = client.send(get(&https(front)), false).await;
        assert_eq!((ex.result, ex.body_bytes), (Ok(200), 300_000), "{ex:?}");
    })
    .await;
}
