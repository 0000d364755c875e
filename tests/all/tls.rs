//! Drilling over HTTPS: a TLS front (certificate from a generated private
//! CA) proxies to the real sim; relhost trusts the CA through `--ca-cert`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;

use crate::support::*;

/// A fresh private CA written to `ca.pem` in `dir`, and a certificate it
/// signed for `localhost` and `127.0.0.1` (`cert.pem`, `key.pem`).
fn private_ca(dir: &Path) -> rustls::ServerConfig {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write CA");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    std::fs::write(dir.join("cert.pem"), leaf.pem()).expect("write certificate");
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).expect("write key");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .expect("server config")
}

/// A TLS-terminating proxy to `upstream` on 127.0.0.1:0, serving a
/// certificate of a fresh private CA (see [`private_ca`]) whose PEM is
/// `dir/ca.pem`; counts the handshakes that completed, and those that
/// resumed a session.
fn tls_front(upstream: SocketAddr, dir: &Path) -> (SocketAddr, Arc<Handshakes>) {
    let config = private_ca(dir);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let handshakes = Arc::new(Handshakes::default());
    let counts = Arc::clone(&handshakes);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let resumed =
                        tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                    counts.completed.fetch_add(1, Ordering::SeqCst);
                    counts
                        .resumed
                        .fetch_add(usize::from(resumed), Ordering::SeqCst);
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
    });
    (address, handshakes)
}

/// TLS handshakes a front completed.
#[derive(Default)]
struct Handshakes {
    completed: AtomicUsize,
    resumed: AtomicUsize,
}

#[test]
fn drills_over_https_with_a_private_ca() {
    let sim = Sim::start(&[], &[]);
    let upstream: SocketAddr = sim
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("sim address");
    let out = tempfile::tempdir().expect("tempdir");
    let ca_pem = out.path().join("ca.pem");
    let (front, handshakes) = tls_front(upstream, out.path());
    let profile = profile_file(
        out.path(),
        "tls",
        json!({ "gmail_push_webhook": { "stages": [{ "name": "steady", "rate": 40, "duration": "1s" }] } }),
    );
    let base_url = format!("https://localhost:{}", front.port());
    let run = |ca: Option<&PathBuf>, dir: &str| {
        let mut cmd = relhost();
        cmd.args([
            "drill",
            "--workers",
            "3",
            "--base-url",
            &base_url,
            "--profile",
        ])
        .arg(&profile)
        .arg("--output-dir")
        .arg(out.path().join(dir));
        if let Some(ca) = ca {
            cmd.arg("--ca-cert").arg(ca);
        }
        let output = run_bounded(cmd, Duration::from_secs(60));
        (
            output,
            only_report(&out.path().join(dir), "load-drill-tls-"),
        )
    };
    let (output, report) = run(Some(&ca_pem), "trusted");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let totals = &scenario(&report, "gmail_push_webhook")["totals"];
    assert_eq!(totals["status_counts"], json!({ "200": 40 }));
    // Every connection relhost reports, the front completed, and the
    // sessions it resumed are those relhost reports resumed.
    let completed = handshakes.completed.load(Ordering::SeqCst) as u64;
    let resumed = handshakes.resumed.load(Ordering::SeqCst) as u64;
    assert!(
        completed >= 3,
        "one connection per worker at least: {completed}"
    );
    assert_eq!(
        totals["connections"],
        json!({ "opened": completed, "tls_full": completed - resumed, "tls_resumed": resumed })
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "gmail_push_webhook: {completed} opened, {resumed} resumed"
        )),
        "{}",
        describe(&output)
    );

    let (output, report) = run(None, "untrusted");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let totals = &scenario(&report, "gmail_push_webhook")["totals"];
    assert_eq!(totals["network_errors"], json!({ "tls": 40 }));
    assert_eq!(totals.get("connections"), None, "none was opened");
    // Why, in words: the certificate's issuer is unknown.
    let reasons = &totals["network_error_reasons"]["tls"];
    assert_eq!(reasons[0]["count"], 40, "{reasons}");
    assert!(
        reasons[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid peer certificate: UnknownIssuer")),
        "{reasons}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("UnknownIssuer"),
        "{}",
        describe(&output)
    );
}

#[test]
fn the_sim_serves_https_over_http1_and_http2() {
    let dir = tempfile::tempdir().expect("tempdir");
    private_ca(dir.path());
    let pem = |name: &str| dir.path().join(name).display().to_string();
    let sim = Sim::start(
        &[
            &format!("--tls-cert={}", pem("cert.pem")),
            &format!("--tls-key={}", pem("key.pem")),
        ],
        &[],
    );
    assert!(
        sim.base_url.starts_with("https://127.0.0.1:"),
        "{}",
        sim.base_url
    );
    for http2 in [false, true] {
        let out = dir.path().join(format!("out-{http2}"));
        let mut cmd = relhost();
        cmd.args(["load", &format!("{}/healthz", sim.base_url)])
            .args(["-c", "4", "-n", "200", "-z", "10s", "--workers", "2"])
            .arg(format!("--ca-cert={}", pem("ca.pem")))
            .arg("--output-dir")
            .arg(&out);
        if http2 {
            cmd.arg("--http2");
        }
        let output = run_bounded(cmd, Duration::from_secs(60));
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let report = only_report(&out, "load-drill-load-");
        let totals = &scenario(&report, "http_request")["totals"];
        assert_eq!(totals["status_counts"], json!({ "200": 200 }), "{totals}");
        let connections = &totals["connections"];
        let opened = connections["opened"].as_u64().unwrap_or(0);
        // HTTP/1.1: a connection per request in flight; HTTP/2: one per worker.
        let expected = if http2 { 2..=2 } else { 2..=4 };
        assert!(expected.contains(&opened), "http2 {http2}: {connections}");
        assert_eq!(
            connections["tls_full"].as_u64().unwrap_or(0)
                + connections["tls_resumed"].as_u64().unwrap_or(0),
            opened,
            "{connections}"
        );
    }
}

#[test]
fn a_sim_certificate_that_cannot_be_read_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    let mut cmd = relhost();
    cmd.args(["sim", "--listen=127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing);
    let output = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("missing.pem"),
        "{}",
        describe(&output)
    );
}
