//! `relhost load URL`: the ad-hoc mode, closed and open model, through the
//! built-in request-builder plugin.

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// Runs `relhost load ARGS --output-dir TMP`, expects exit 0 and returns
/// its report.
fn load_report(args: &[&str]) -> serde_json::Value {
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = relhost();
    cmd.arg("load")
        .args(args)
        .arg("--output-dir")
        .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    only_report(out.path(), "load-drill-load-")
}

#[test]
fn closed_model_holds_the_connections() {
    let sim = Sim::start(&[], &[]);
    let report = load_report(&[&format!("{}/healthz", sim.base_url), "-c", "4", "-z", "1s"]);
    assert_valid_drill_report(&report);
    let s = scenario(&report, "http_request");
    assert_eq!(s["endpoint"], "/healthz");
    let stage = &s["stages"][0];
    assert_eq!(
        stage["load"],
        json!({ "model": "closed", "concurrency": 4, "think_time_s": 0.0 })
    );
    assert!(stage["requests"].as_u64().unwrap_or(0) > 100, "{stage}");
    assert!(
        (1..=4).contains(&stage["peak_concurrency"].as_u64().unwrap_or(0)),
        "{stage}"
    );
    assert_eq!(
        sum_counts(&s["totals"]["status_counts"]),
        s["totals"]["requests"].as_u64().unwrap_or(0)
    );
}

#[test]
fn open_model_sends_the_rate_with_method_headers_and_body() {
    let sim = Sim::start(&[], &[("WHATSAPP_APP_SECRET", "")]);
    let report = load_report(&[
        &format!("{}/api/whatsapp/webhook", sim.base_url),
        "-q",
        "100",
        "-z",
        "1s",
        "-m",
        "post",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Authorization: Bearer sekrit-load-token",
        "-d",
        r#"{"object":"whatsapp_business_account","entry":[],"n":{{iteration}}}"#,
    ]);
    let s = scenario(&report, "http_request");
    assert_eq!(
        s["stages"][0]["load"],
        json!({ "model": "open", "rate": 100.0 })
    );
    assert_eq!(
        s["totals"]["status_counts"],
        json!({ "200": 100 }),
        "the POST with its JSON body was accepted"
    );
    let text = report.to_string();
    assert!(
        !text.contains("sekrit-load-token"),
        "a header credential leaked into the report"
    );
    assert!(
        text.contains("Authorization: ***"),
        "the redacted header is recorded"
    );
}

#[test]
fn a_dense_open_model_sends_every_request_of_its_schedule() {
    // 5,000/s over two workers: a send every 400 µs per worker, paced by
    // the workers' ticking timers rather than one wake-up per request.
    let sim = Sim::start(&[], &[]);
    let report = load_report(&[
        &format!("{}/healthz", sim.base_url),
        "-q",
        "5000",
        "-z",
        "1s",
        "--workers",
        "2",
    ]);
    let totals = &scenario(&report, "http_request")["totals"];
    assert_eq!(totals["status_counts"], json!({ "200": 5000 }), "{totals}");
    assert!(totals["send_lag_ms"]["p50"].is_number(), "{totals}");
}

#[test]
fn bad_load_flags_state_the_expected_form() {
    for (args, expected) in [
        (vec!["load", "ftp://x/"], "http://"),
        (
            vec!["load", "http://127.0.0.1:9/", "-m", "FETCH"],
            "expected one of GET",
        ),
        (
            vec!["load", "http://127.0.0.1:9/", "-H", "no colon"],
            "Name: value",
        ),
        (
            vec!["load", "http://127.0.0.1:9/", "-q", "0"],
            "greater than 0",
        ),
        (
            vec!["load", "http://127.0.0.1:9/", "-z", "0s"],
            "expected from 1ms to 30days",
        ),
        (
            vec!["load", "http://127.0.0.1:9/", "-z", "500000000000y"],
            "longer than 30days",
        ),
        (
            vec!["load", "http://127.0.0.1:9/", "--h2-connections", "4"],
            "--http2",
        ),
        (
            vec![
                "load",
                "http://127.0.0.1:9/",
                "--http2",
                "--h2-connections",
                "1",
                "--workers",
                "2",
            ],
            "--h2-connections=1 is fewer than the drill's 2 workers",
        ),
    ] {
        let mut cmd = relhost();
        cmd.args(&args);
        let output = run_bounded(cmd, Duration::from_secs(30));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(expected),
            "{args:?}: {}",
            describe(&output)
        );
    }
}

#[test]
fn dense_sends_read_slow_answers_to_the_last() {
    // Answers 1-9 ms late: read at the workers' ticks, or handed back to the
    // reactor when slower than the ticks they are read at. Every request of
    // the schedule is answered, the last ones after the last send too.
    let sim = Sim::start(
        &["--fault=whatsapp:latency=1ms,jitter=8ms"],
        &[("WHATSAPP_APP_SECRET", "")],
    );
    let report = load_report(&[
        &format!("{}/api/whatsapp/webhook", sim.base_url),
        "-q",
        "4000",
        "-z",
        "1s",
        "--workers",
        "2",
        "-m",
        "post",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"object":"whatsapp_business_account","entry":[]}"#,
    ]);
    let totals = &scenario(&report, "http_request")["totals"];
    assert_eq!(totals["status_counts"], json!({ "200": 4000 }), "{totals}");
    let service = &totals["service_latency_ms"];
    assert!(service["p50"].as_f64().unwrap_or(0.0) >= 1.0, "{service}");
}

#[test]
fn a_dense_schedule_on_two_connections_keeps_its_times() {
    // Read at ticks, each answer would hold its connection until a tick:
    // two connections would carry under 3,000 requests/s and the sends
    // would fall ever further behind. With no connection to spare the
    // answers are read as they arrive.
    let _machine = machine_to_myself();
    let sim = Sim::start(&[], &[]);
    let report = load_report(&[
        &format!("{}/healthz", sim.base_url),
        "-q",
        "4000",
        "-z",
        "1s",
        "-c",
        "2",
    ]);
    let totals = &scenario(&report, "http_request")["totals"];
    assert_eq!(totals["status_counts"], json!({ "200": 4000 }), "{totals}");
    // Under 3,000 requests/s the last sends of the second would lag by
    // about 285 ms. The debug build, alone on a slow two-core machine,
    // carries about 3,300/s here: its last sends lag by up to 170 ms.
    let lag = &totals["send_lag_ms"];
    assert!(lag["p99"].as_f64().unwrap_or(f64::MAX) < 230.0, "{lag}");
}

#[test]
fn compiled_plugins_are_kept_in_a_private_cache_between_runs() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Sim::start(&[], &[]);
    let cache = tempfile::tempdir().expect("tempdir");
    let compiled = cache.path().join("compiled");
    let entries = || {
        walk_files(&compiled.join("modules"))
            .into_iter()
            .filter(|p| !p.to_string_lossy().ends_with(".stats"))
            .count()
    };
    for run in 0..2 {
        let out = tempfile::tempdir().expect("tempdir");
        let mut cmd = relhost();
        cmd.env("RELHOST_CACHE_DIR", cache.path())
            .args(["load", &format!("{}/healthz", sim.base_url)])
            .args(["-n", "1", "-c", "1", "--quiet", "--output-dir"])
            .arg(out.path());
        let output = run_bounded(cmd, Duration::from_secs(60));
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(entries() > 0, "run {run}: nothing cached in {compiled:?}");
    }
    let mode = std::fs::metadata(&compiled)
        .expect("cache dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// Every file under `dir`, recursively (none when it does not exist).
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk_files(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// Relays every connection on a port of its own to `upstream`, counting them.
fn counting_relay(upstream: &str) -> (u16, Arc<AtomicUsize>) {
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut client_in, mut server_out) = (client, server);
            let (Ok(mut client_out), Ok(mut server_in)) =
                (client_in.try_clone(), server_out.try_clone())
            else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = copy(&mut server_in, &mut client_out);
                let _ = client_out.shutdown(Shutdown::Write);
            });
        }
    });
    (port, accepted)
}

/// `relhost load` of `requests` requests to the sim's `/healthz` through a
/// counting relay, with `args`; every one must be answered 200. Returns
/// the report (checked against its schema), its totals, and the
/// connections the target saw beyond the drill's check that it is reachable.
fn relayed_load(args: &[&str], requests: u64) -> (serde_json::Value, serde_json::Value, usize) {
    let sim = Sim::start(&[], &[]);
    let (port, accepted) = counting_relay(&sim.base_url);
    let url = format!("http://127.0.0.1:{port}/healthz");
    let n = requests.to_string();
    let mut all = vec![url.as_str(), "-n", &n, "-z", "10s"];
    all.extend(args);
    let report = load_report(&all);
    assert_valid_drill_report(&report);
    let totals = scenario(&report, "http_request")["totals"].clone();
    assert_eq!(
        totals["status_counts"],
        json!({ "200": requests }),
        "{totals}"
    );
    (report, totals, accepted.load(Ordering::SeqCst) - 1)
}

#[test]
fn http2_streams_are_spread_over_the_connections_asked_for() {
    // Five connections over three workers (2 + 2 + 1), 20 streams in flight.
    let args = [
        "--http2",
        "--h2-connections",
        "5",
        "--workers",
        "3",
        "-c",
        "20",
    ];
    let (report, totals, accepted) = relayed_load(&args, 300);
    assert_eq!(report["config"]["http2_connections"], 5);
    assert_eq!(report["config"]["max_in_flight"], 20);
    // Counted at the target too.
    assert_eq!(accepted, 5);
    assert_eq!(
        totals["connections"],
        json!({ "opened": 5, "tls_full": 0, "tls_resumed": 0 })
    );
}

#[test]
fn preconnect_opens_the_connections_before_the_load() {
    // Four requests 250 ms apart over two workers: each would reuse one
    // connection, two in all; opened beforehand, they are four (two per
    // worker, the share of -c 4).
    for (extra, opened) in [(&[][..], 2), (&["--preconnect"][..], 4)] {
        let mut args = vec!["-q", "4", "-c", "4", "--workers", "2"];
        args.extend(extra);
        let (report, totals, accepted) = relayed_load(&args, 4);
        assert_eq!(report["config"]["preconnect"], !extra.is_empty());
        assert_eq!(
            totals["connections"]["opened"], opened,
            "{extra:?}: {totals}"
        );
        assert_eq!(accepted, opened, "{extra:?}");
    }
}

#[test]
fn preconnect_opens_every_http2_connection() {
    // Two requests, one per worker, would open one connection each; all
    // four are opened beforehand.
    let args = ["--http2", "--h2-connections", "4", "--workers", "2"];
    let (_, totals, accepted) =
        relayed_load(&[&args[..], &["--preconnect", "-q", "4"]].concat(), 2);
    assert_eq!(totals["connections"]["opened"], 4, "{totals}");
    assert_eq!(accepted, 4);
}
