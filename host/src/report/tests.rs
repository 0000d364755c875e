//! Report tests: a realistic report built from real recorders validates
//! against `schemas/load-drill.schema.json`; broken ones do not; the summary
//! table is aligned.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::*;
use crate::http::ErrorClass;
use crate::metrics::{Sample, SseSample, StageMetrics};
use crate::policy::{Load, PolicyDocument, SloBaseline, Stage, builtin_profile};

const SCHEMA: &str = include_str!("../../../schemas/load-drill.schema.json");

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("schema is a valid 2020-12 schema")
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

/// Feeds `n` synthetic requests into a recorder, two workers merged.
fn recorded(n: u64, start_second: u32, sse: bool, fault_every: u64) -> StageMetrics {
    let mut workers = [StageMetrics::new(), StageMetrics::new()];
    for i in 0..n {
        let result = match fault_every - 1 - i % fault_every {
            0 => Err(ErrorClass::Reset),
            1 => Ok(503),
            2 => Ok(401),
            _ => Ok(200),
        };
        let latency_us = 2_000 + (i * 7_919) % 40_000;
        let sample = Sample {
            result,
            expected: matches!(result, Ok(200)),
            latency_us,
            service_us: latency_us - 500,
            send_lag_us: 500,
            plugin_us: 2,
            sse: sse.then_some(SseSample {
                ttfb_us: 1_000,
                first_event_us: Some(1_500),
                events: 12,
                duration_us: latency_us,
                cut: i % 50 == 0,
            }),
            second: start_second + (i / 40) as u32,
        };
        let w = &mut workers[(i % 2) as usize];
        w.record(&sample);
        if i % 97 == 0 {
            w.late_start();
        }
    }
    let [mut a, b] = workers;
    a.merge(&b);
    a
}

fn realistic_report() -> DrillReport {
    let profile = builtin_profile("quick").unwrap();
    let baseline = SloBaseline::builtin(&()).unwrap();
    let mut second = 0;
    let scenarios: Vec<ScenarioReport> = profile
        .scenarios
        .iter()
        .map(|plan| {
            let sse = plan.scenario == "chat_stream_http";
            let runs: Vec<StageRun> = plan
                .stages
                .iter()
                .map(|stage| {
                    let n = match stage.load {
                        Load::Rate(r) => (r * stage.duration.as_secs_f64()) as u64,
                        Load::Concurrency(c) => u64::from(c) * 10,
                    };
                    let metrics = recorded(n, second, sse, 100);
                    second += stage.duration.as_secs() as u32;
                    StageRun {
                        stage: stage.clone(),
                        metrics,
                        elapsed: stage.duration,
                        peak_concurrency: 4,
                    }
                })
                .collect();
            let mut report = ScenarioReport::from_stages(&plan.scenario, "/api/x", sse, &runs);
            report.slo_gate = gate(&report.totals, baseline.thresholds_for(&plan.scenario));
            report
        })
        .chain(std::iter::once(ScenarioReport::skipped(
            "extra_plugin",
            "/api/extra",
            false,
            "not in --scenarios",
        )))
        .collect();
    let started = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_739_412_345);
    DrillReport {
        header: ReportHeader {
            finished_at: rfc3339_millis(started + Duration::from_secs(12)),
            ..ReportHeader::new(
                ReportKind::LoadDrill,
                started,
                vec!["relhost".into(), "drill".into(), "--quick=true".into()],
            )
        },
        status: DrillReport::status_from_gates(&scenarios),
        config: json!({ "profile": "quick", "base_url": "http://127.0.0.1:40000", "auth_token": "<redacted>" }),
        target: TargetInfo {
            base_url: "http://127.0.0.1:40000".into(),
            in_process_sim: true,
        },
        profile: "quick".into(),
        plugins: vec![PluginInfo {
            name: "chat_stream_http".into(),
            version: "0.1.0".into(),
            kind: "scenario".into(),
            source: "builtin".into(),
            sha256: "ab".repeat(32),
            data: Vec::new(),
        }],
        scenarios,
        warnings: vec!["3 late starts".into()],
        error: None,
        segment: None,
        merged: None,
    }
}

#[test]
fn realistic_report_matches_the_schema() {
    let report = realistic_report();
    assert_eq!(
        report.status,
        DrillStatus::Pass,
        "under 1% 5xx and network errors pass"
    );
    let chat = &report.scenarios[2];
    assert!(chat.totals.sse.is_some());
    assert!(chat.stages[0].summary.sse.is_some());
    assert!(!chat.timeseries.is_empty());
    assert!(
        chat.totals.timeseries.is_empty(),
        "series lives at the scenario level"
    );
    for s in &report.scenarios {
        assert_eq!(
            s.totals.requests,
            s.totals.status_total() + s.totals.network_error_total()
        );
        let stage_sum: u64 = s.stages.iter().map(|st| st.summary.requests).sum();
        assert_eq!(s.totals.requests, stage_sum);
        let series_sum: u64 = s.timeseries.iter().map(|p| p.requests).sum();
        assert_eq!(s.totals.requests, series_sum);
    }
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(value["kind"], "load_drill");
    assert_eq!(value["scenarios"][0]["stages"][0]["load"]["model"], "open");
    assert_eq!(
        value["scenarios"][2]["stages"][0]["load"]["model"],
        "closed"
    );
    assert!(
        value["scenarios"][0]["stages"][0]["latency_ms"]["p95"].is_number(),
        "flattened"
    );
    let v = validator();
    assert_eq!(errors(&v, &value), Vec::<String>::new());

    // Readers get the same report back.
    let back: DrillReport = serde_json::from_value(value).unwrap();
    assert_eq!(back, report);
}

#[test]
fn broken_reports_fail_validation() {
    let v = validator();
    let good = serde_json::to_value(realistic_report()).unwrap();
    type Breakage = (&'static str, Box<dyn Fn(&mut Value)>);
    let breakages: Vec<Breakage> = vec![
        (
            "missing status",
            Box::new(|r| {
                r.as_object_mut().unwrap().remove("status");
            }),
        ),
        ("unknown status", Box::new(|r| r["status"] = json!("ok"))),
        (
            "requests as string",
            Box::new(|r| r["scenarios"][0]["totals"]["requests"] = json!("10")),
        ),
        ("extra top-level field", Box::new(|r| r["extra"] = json!(1))),
        (
            "extra stage field",
            Box::new(|r| r["scenarios"][0]["stages"][0]["p95"] = json!(1)),
        ),
        (
            "missing latency",
            Box::new(|r| {
                r["scenarios"][1]["totals"]
                    .as_object_mut()
                    .unwrap()
                    .remove("latency_ms");
            }),
        ),
        (
            "bad timestamp",
            Box::new(|r| r["started_at"] = json!("yesterday")),
        ),
        (
            "rate above 1",
            Box::new(|r| r["scenarios"][0]["totals"]["rate_5xx"] = json!(5)),
        ),
        (
            "bad comparator",
            Box::new(|r| r["scenarios"][0]["slo_gate"]["checks"][0]["comparator"] = json!("<")),
        ),
        (
            "bad error class",
            Box::new(|r| r["scenarios"][0]["totals"]["network_errors"]["timeout"] = json!(1)),
        ),
        (
            "bad sha256",
            Box::new(|r| r["plugins"][0]["sha256"] = json!("xyz")),
        ),
        (
            "closed load without concurrency",
            Box::new(|r| {
                r["scenarios"][2]["stages"][0]["load"] =
                    json!({ "model": "closed", "think_time_s": 0 })
            }),
        ),
    ];
    for (what, breakage) in breakages {
        let mut broken = good.clone();
        breakage(&mut broken);
        assert!(!v.is_valid(&broken), "{what}: should not validate");
    }
}

#[test]
fn gate_failures_show_in_status_and_table() {
    let baseline = SloBaseline::builtin(&()).unwrap();
    let stage = Stage {
        name: "steady".into(),
        load: Load::Rate(20.0),
        duration: Duration::from_secs(5),
        ramp: Duration::ZERO,
        max_requests: None,
        think_time: Duration::ZERO,
    };
    // One request in four is a fault: 5xx and network errors well over the gate.
    let runs = [StageRun {
        stage,
        metrics: recorded(100, 0, false, 4),
        elapsed: Duration::from_secs(5),
        peak_concurrency: 3,
    }];
    let mut webhook =
        ScenarioReport::from_stages("gmail_push_webhook", "/api/gmail/push", false, &runs);
    webhook.slo_gate = gate(
        &webhook.totals,
        baseline.thresholds_for("gmail_push_webhook"),
    );
    assert_eq!(webhook.slo_gate.verdict, Verdict::Fail);
    let mut report = realistic_report();
    report.scenarios[0] = webhook;
    report.status = DrillReport::status_from_gates(&report.scenarios);
    assert_eq!(report.status, DrillStatus::Fail);
    assert!(v_is_valid(&report));

    let mut out = Vec::new();
    write_summary_table(&mut out, &report).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("scenario"), "{text}");
    assert!(text.is_ascii());
    // Columns align: every table row has the same width before trimming the gate.
    let gate_col = lines[0].find("gate").unwrap();
    for row in &lines[2..6] {
        assert!(
            row.len() > gate_col && !row[..gate_col].ends_with(|c: char| !c.is_whitespace()),
            "{text}"
        );
    }
    assert!(lines[2].starts_with("gmail_push_webhook"));
    assert!(lines[2].ends_with("FAIL"), "{text}");
    assert!(lines[5].ends_with("skipped"), "{text}");
    assert!(text.contains("Failed checks:"), "{text}");
    assert!(
        text.contains("  gmail_push_webhook: rate_5xx = 25.00%, must be <= 1.00%"),
        "{text}"
    );
    assert!(
        text.contains("  extra_plugin: not in --scenarios"),
        "{text}"
    );
    assert!(text.ends_with("Result: FAIL\n"), "{text}");
}

fn v_is_valid(report: &DrillReport) -> bool {
    validator().is_valid(&serde_json::to_value(report).unwrap())
}

#[test]
fn nothing_ran_is_not_a_pass() {
    let only_skipped = [ScenarioReport::skipped("a", "/a", false, "unreachable")];
    assert_eq!(
        DrillReport::status_from_gates(&only_skipped),
        DrillStatus::Fail
    );
    assert_eq!(DrillReport::status_from_gates(&[]), DrillStatus::Fail);
}

#[test]
fn written_report_reads_back() {
    let report = realistic_report();
    let dir = tempfile::tempdir().unwrap();
    let name = report_file_name("load-drill", &report.profile, SystemTime::UNIX_EPOCH);
    assert_eq!(name, "load-drill-quick-19700101T000000Z.json");
    let path = write_json_atomic(dir.path(), &name, &report).unwrap();
    let back: DrillReport = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(back, report);
}

#[test]
fn the_header_is_flat_in_the_json_and_read_strictly() {
    let report = realistic_report();
    let mut json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["schema_version"], SCHEMA_VERSION);
    assert_eq!(json["kind"], "load_drill");
    assert!(json.get("header").is_none(), "{json}");
    json["surprise"] = Value::from(1);
    let unknown = serde_json::from_value::<DrillReport>(json.clone()).unwrap_err();
    assert!(unknown.to_string().contains("surprise"), "{unknown}");
    json.as_object_mut().unwrap().remove("surprise");
    json.as_object_mut().unwrap().remove("started_at");
    let missing = serde_json::from_value::<DrillReport>(json).unwrap_err();
    assert!(missing.to_string().contains("started_at"), "{missing}");
}

/// A gate like the threshold evaluator's, for report tests (the evaluator
/// itself is tested in `crate::slo`).
fn gate(totals: &crate::metrics::StageSummary, t: &crate::policy::SloThresholds) -> GateResult {
    let at_most = |name: &str, observed: f64, threshold: f64, unit| Check {
        name: name.to_owned(),
        observed,
        threshold,
        comparator: Comparator::AtMost,
        verdict: if observed <= threshold {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        unit,
        message: None,
    };
    GateResult::from_checks(vec![
        at_most("p95_latency_ms", totals.latency_ms.p95, t.p95_ms, Unit::Ms),
        at_most("rate_5xx", totals.rate_5xx, t.max_5xx_rate, Unit::Ratio),
        at_most(
            "network_error_rate",
            totals.network_error_rate,
            t.max_network_error_rate,
            Unit::Ratio,
        ),
    ])
}
