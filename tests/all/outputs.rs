//! Live metrics outputs end to end: a real Prometheus (Debian's
//! `prometheus`, remote-write receiver on) fed by `--out=prometheus-rw=…`,
//! a local OTLP receiver decoded with the official protobuf definitions,
//! and an unreachable output that changes nothing but a warning.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// Where Debian's `prometheus` package installs the server.
const PROMETHEUS: &str = "/usr/bin/prometheus";
const LIMIT: Duration = Duration::from_secs(120);

/// A webhook drill of exactly 40 requests over two stages.
fn profile(dir: &Path) -> std::path::PathBuf {
    profile_file(
        dir,
        "outputs",
        json!({ "whatsapp_webhook": { "stages": [
            { "name": "first", "rate": 40, "duration": "1s", "requests": 20 },
            { "name": "second", "rate": 40, "duration": "1s", "requests": 20 },
        ] } }),
    )
}

/// Drills the built-in sim with `outs` and returns the report.
fn drill(outs: &[String], dir: &Path) -> (std::process::Output, Value) {
    let mut cmd = relhost();
    cmd.args(["drill", "--quiet", "--out-interval=500ms", "--profile"])
        .arg(profile(dir))
        .arg("--output-dir")
        .arg(dir);
    for out in outs {
        cmd.arg(format!("--out={out}"));
    }
    let output = run_bounded(cmd, LIMIT);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(dir, "load-drill-");
    (output, report)
}

fn requests(report: &Value) -> u64 {
    scenario(report, "whatsapp_webhook")["totals"]["requests"]
        .as_u64()
        .expect("requests")
}

/// A Prometheus server with the remote-write receiver, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// `None` (skipped) when the binary is missing outside CI.
    fn start() -> Option<Prometheus> {
        let bin = test_program("RELHOST_TEST_PROMETHEUS", PROMETHEUS, "prometheus")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").expect("config");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a port")
                .port();
            let mut child = Command::new(&bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                let ready = TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && call(
                        http::Method::GET,
                        &format!("http://127.0.0.1:{port}/-/ready"),
                        None,
                        None,
                    )
                    .0 == 200;
                if ready {
                    return Some(Prometheus {
                        child,
                        port,
                        _dir: dir,
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("prometheus did not become ready");
    }

    /// The answer of an instant query (status 200 asserted).
    fn results(&self, promql: &str) -> Value {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = call(
            http::Method::GET,
            &format!(
                "http://127.0.0.1:{}/api/v1/query?query={encoded}",
                self.port
            ),
            None,
            None,
        );
        assert_eq!(status, 200, "{promql}: {body}");
        body
    }

    /// The value of an instant query with one result.
    fn query(&self, promql: &str) -> f64 {
        let body = self.results(promql);
        let result = &body["data"]["result"];
        assert_eq!(result.as_array().map(Vec::len), Some(1), "{promql}: {body}");
        result[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{promql}: {body}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_holds_the_reports_totals_and_percentiles() {
    let Some(prometheus) = Prometheus::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "prometheus-rw=http://127.0.0.1:{}/api/v1/write",
        prometheus.port
    );
    let (_, report) = drill(&[url], dir.path());
    // No push was dropped (a busy machine may add a late-start warning).
    assert!(
        report["warnings"].as_array().is_some_and(|w| !w
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("live output")))),
        "{}",
        report["warnings"]
    );
    let run = report["config"]["run_id"].as_str().expect("run id");
    let selector = format!("run_id=\"{run}\",scenario=\"whatsapp_webhook\"");

    let total = prometheus.query(&format!("sum(relhost_requests_total{{{selector}}})"));
    assert_eq!(total, requests(&report) as f64);
    assert_eq!(total, 40.0);
    let ok = prometheus.query(&format!(
        "sum(relhost_requests_total{{{selector},status_class=\"2xx\",command=\"drill\",profile=\"outputs\"}})"
    ));
    assert_eq!(ok, 40.0);
    for stage in scenario(&report, "whatsapp_webhook")["stages"]
        .as_array()
        .expect("stages")
    {
        let name = stage["name"].as_str().expect("name");
        let p95 = prometheus.query(&format!(
            "relhost_request_latency_seconds{{{selector},stage=\"{name}\",latency=\"corrected\",quantile=\"0.95\"}}"
        ));
        let expected = stage["latency_ms"]["p95"].as_f64().expect("p95") / 1000.0;
        assert!(
            (p95 - expected).abs() <= expected * 1e-9 + 1e-12,
            "{name}: {p95} vs {expected}"
        );
        let stage_total = prometheus.query(&format!(
            "sum(relhost_requests_total{{{selector},stage=\"{name}\"}})"
        ));
        assert_eq!(stage_total, stage["requests"].as_f64().expect("requests"));
    }
    let passed = prometheus.query(&format!("relhost_slo_gate_passed{{{selector}}}"));
    assert_eq!(passed, 1.0);
    let pushes = prometheus.query(&format!(
        "count_over_time(relhost_in_flight_requests{{{selector},stage=\"first\"}}[10m])"
    ));
    assert!(pushes >= 2.0, "live pushes before the final one: {pushes}");

    // Every query of the Grafana dashboard runs on the exported series;
    // those without rate() find some.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/relhost-prometheus.json"),
        )
        .expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    for expr in exprs {
        let promql = expr
            .replace("$run_id", run)
            .replace("$scenario", ".*")
            .replace("$__rate_interval", "5m");
        let body = prometheus.results(&promql);
        let found = body["data"]["result"].as_array().map_or(0, Vec::len);
        let sse = promql.contains("relhost_sse_");
        assert!(
            found > 0 || sse || promql.contains("rate("),
            "{promql}: {body}"
        );
    }
}

#[test]
fn an_otlp_receiver_decodes_the_reports_totals() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
    use prost::Message;

    let (port, received) = recorder();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, report) = drill(&[format!("otlp=http://127.0.0.1:{port}")], dir.path());
    let bodies: Vec<Vec<u8>> = received
        .lock()
        .expect("lock")
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert!(
        bodies.len() >= 2,
        "live pushes and the final one: {}",
        bodies.len()
    );
    let last = ExportMetricsServiceRequest::decode(bodies.last().expect("a body").as_slice())
        .expect("an OTLP metrics request");
    let resource = &last.resource_metrics[0];
    let attribute = |key: &str| {
        resource.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|a| a.key == key)
                .and_then(|a| a.value.as_ref()?.value.clone())
        })
    };
    assert_eq!(
        attribute("service.name"),
        Some(Any::StringValue("relhost".into()))
    );
    assert_eq!(
        attribute("relhost.run_id"),
        Some(Any::StringValue(
            report["config"]["run_id"].as_str().expect("run id").into()
        ))
    );
    let metrics = &resource.scope_metrics[0].metrics;
    let metric = metrics
        .iter()
        .find(|m| m.name == "relhost.requests")
        .expect("relhost.requests");
    let Some(Data::Sum(sum)) = &metric.data else {
        panic!("relhost.requests is a sum: {metric:?}");
    };
    assert!(sum.is_monotonic);
    let total: f64 = sum
        .data_points
        .iter()
        .map(|p| match p.value {
            Some(Number::AsDouble(v)) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(total, requests(&report) as f64);
    assert!(sum.data_points.iter().all(|p| {
        p.attributes
            .iter()
            .any(|a| a.key == "http.response.status_code")
    }));
}

#[test]
fn an_unreachable_output_changes_nothing_but_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, report) = drill(
        &["prometheus-rw=http://127.0.0.1:1/api/v1/write".into()],
        dir.path(),
    );
    assert_eq!(requests(&report), 40);
    assert_eq!(
        scenario(&report, "whatsapp_webhook")["slo_gate"]["verdict"],
        "pass"
    );
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("live output prometheus-rw=http://127.0.0.1:1/api/v1/write")
            && warnings.contains("dropped"),
        "{warnings}"
    );
    assert!(!describe(&output).contains("panicked"));
}

#[test]
fn a_silent_output_does_not_hold_the_drill() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (_, report) = drill(&[format!("otlp=http://127.0.0.1:{port}")], dir.path());
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(requests(&report), 40);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("dropped") && warnings.contains("request_timeout"),
        "{warnings}"
    );
}
