//! `relhost sim`: the real binary serves relhost-sim.
//!
//! Spawns `relhost sim --listen=127.0.0.1:0`, reads the address from the
//! first stdout line, checks `/healthz` and a signed WhatsApp webhook over
//! plain HTTP/1.1, and stops the child with SIGTERM. A guard kills the child
//! if anything fails on the way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{hub_signature, machine_shared};

const SECRET: &str = "e2e-app-secret";
const STARTUP: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Kills and reaps the child on drop, whatever happened.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present until dropped")
    }

    /// Waits for the child to exit on its own, up to `limit`.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_sim(args: &[&str]) -> ChildGuard {
    machine_shared();
    let child = Command::new(env!("CARGO_BIN_EXE_relhost"))
        .arg("sim")
        .args(args)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .env_remove("RATE_LIMIT_WHATSAPP_MAX")
        .env_remove("SIM_FAULTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn relhost sim");
    ChildGuard(Some(child))
}

/// The address printed on the first stdout line.
fn read_address(guard: &mut ChildGuard) -> SocketAddr {
    let stdout = guard.child().stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(STARTUP)
        .expect("relhost sim printed its address in time");
    let url = line
        .trim()
        .strip_prefix("relhost-sim listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    url.parse()
        .unwrap_or_else(|e| panic!("bad address {url:?}: {e}"))
}

/// One HTTP/1.1 request (`connection: close`); returns status and body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT))
        .expect("write timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn relhost_sim_serves_health_and_webhooks_then_stops_on_sigterm() {
    let mut guard = spawn_sim(&["--listen=127.0.0.1:0", "--ops-token=e2e-ops"]);
    let addr = read_address(&mut guard);
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let (status, body) = http(addr, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ok"), "{body}");

    let delivery = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let sig = hub_signature(SECRET, delivery);
    let (status, body) = http(
        addr,
        "POST",
        "/api/whatsapp/webhook",
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", &sig),
        ],
        delivery,
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(
        addr,
        "POST",
        "/api/whatsapp/webhook",
        &[("x-hub-signature-256", "sha256=00")],
        delivery,
    );
    assert_eq!(status, 401, "a bad signature is refused");

    let (status, body) = http(
        addr,
        "GET",
        "/api/ops/reliability-snapshot?minutes=5",
        &[("authorization", "Bearer e2e-ops")],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"window_minutes\":5"), "{body}");

    // SIGTERM: a clean exit.
    let pid = guard.child().id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = guard
        .wait_for(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn relhost_sim_rejects_a_bad_knob_with_exit_code_2() {
    let mut guard = spawn_sim(&["--listen=127.0.0.1:0", "--rate-limit-chat-stream-max=lots"]);
    let status = guard.wait_for(STARTUP).expect("exits at once");
    let mut err = String::new();
    if let Some(mut e) = guard.child().stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("RATE_LIMIT_CHAT_STREAM_MAX"), "stderr: {err}");
}
