//! Drilling over HTTPS: a TLS front (certificate from a generated private
//! CA) proxies to the real sim; relhost trusts the CA through `--ca-cert`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;

use crate::support::*;

/// A TLS-terminating proxy to `upstream` on 127.0.0.1:0, serving a
/// certificate for `localhost` signed by a fresh CA written to `ca_pem`.
fn tls_front(upstream: SocketAddr, ca_pem: &PathBuf) -> SocketAddr {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    std::fs::write(ca_pem, ca.pem()).expect("write CA");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
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
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
    });
    address
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
    let front = tls_front(upstream, &ca_pem);
    let profile = profile_file(
        out.path(),
        "tls",
        json!({ "gmail_push_webhook": { "stages": [{ "name": "steady", "rate": 40, "duration": "1s" }] } }),
    );
    let base_url = format!("https://localhost:{}", front.port());
    let run = |ca: Option<&PathBuf>, dir: &str| {
        let mut cmd = relhost();
        cmd.args(["drill", "--base-url", &base_url, "--profile"])
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
    assert_eq!(
        scenario(&report, "gmail_push_webhook")["totals"]["status_counts"],
        json!({ "200": 40 })
    );

    let (output, report) = run(None, "untrusted");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let totals = &scenario(&report, "gmail_push_webhook")["totals"];
    assert_eq!(totals["network_errors"], json!({ "tls": 40 }));
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
