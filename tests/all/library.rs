//! The drill as a library: built, prepared and run in this process, with
//! no binary in between; counted at the target.

use std::path::Path;
use std::time::Duration;

use relhost::drill::{self, DrillOptions, ProfileChoice, TargetChoice};
use relhost::engine::NoProgress;
use relhost::plugin::artifacts::LOAD_SCENARIO;
use relhost::policy::{Load, Profile, ScenarioPlan, Stage};
use relhost::report::DrillStatus;

use crate::support::*;

/// One open-model stage of `scenario`: `rate` per second for `seconds`,
/// capped at `max_requests`.
fn one_stage(scenario: &str, rate: f64, seconds: u64, max_requests: u64) -> Profile {
    Profile {
        name: "inproc".into(),
        description: "an in-process drill".into(),
        scenarios: vec![ScenarioPlan {
            scenario: scenario.into(),
            stages: vec![Stage {
                name: "steady".into(),
                load: Load::Rate(rate),
                duration: Duration::from_secs(seconds),
                ramp: Duration::ZERO,
                max_requests: Some(max_requests),
                think_time: Duration::ZERO,
            }],
        }],
    }
}

/// Options writing under `dir`, with the plugin cache there too.
fn options(target: TargetChoice, dir: &Path) -> DrillOptions {
    let mut options = DrillOptions::new(target, dir.join("reports"));
    options.resolve.cache_dir = dir.join("cache");
    options.resolve.registry_dir = dir.join("registry");
    options
}

fn runtime() -> tokio::runtime::Runtime {
    // The drill runs in this process: the machine is shared with it.
    machine_shared();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_drill_runs_in_process_and_the_target_counts_every_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, received) = recorder();
    let url = format!("http://127.0.0.1:{port}").parse().expect("url");
    let mut options = options(TargetChoice::Url(url), dir.path());
    options.profile = ProfileChoice::Inline(one_stage(LOAD_SCENARIO, 400.0, 5, 301));
    options.workers = Some(3);
    options.params = vec![
        ("method".into(), "POST".into()),
        ("path".into(), "/count".into()),
        ("body".into(), r#"{"n":{{iteration}}}"#.into()),
    ];
    let (outcome, in_process) = runtime().block_on(async {
        let (_keep, stop) = tokio::sync::watch::channel(false);
        let prepared = drill::prepare(&options, &NoProgress, &stop)
            .await
            .expect("prepared");
        let outcome =
            tokio::time::timeout(Duration::from_secs(60), prepared.run(stop, &NoProgress))
                .await
                .expect("within a minute")
                .expect("ran");
        let in_process = prepared.target.sim.is_some();
        prepared.shutdown().await;
        (outcome, in_process)
    });
    assert!(!in_process);
    let report = &outcome.report;
    assert_eq!(report.status, DrillStatus::Pass, "{:?}", report.warnings);
    let totals = &report.scenarios[0].totals;
    assert_eq!(totals.requests, 301);
    let received = received.lock().expect("lock");
    assert_eq!(
        received.len(),
        301,
        "the target counts what the report counts"
    );
    // Three workers, one sequence: every iteration exactly once.
    let mut seen: Vec<u64> = received
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
            body["n"].as_u64().expect("n")
        })
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 301);
    // The report on disk is the one returned, and valid.
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&outcome.path).expect("report")).expect("json");
    assert_valid_drill_report(&written);
    assert_eq!(written["scenarios"][0]["totals"]["requests"], 301);
}

#[test]
fn an_in_process_drill_brings_up_the_built_in_sim_and_checks_its_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = options(TargetChoice::BuiltinSim(Box::default()), dir.path());
    options.profile = ProfileChoice::Inline(one_stage("whatsapp_webhook", 200.0, 5, 40));
    options.scenarios = Some(vec!["whatsapp_webhook".into()]);
    options.workers = Some(2);
    let rt = runtime();
    let (status, requests, sim_counted) = rt.block_on(async {
        let (_keep, stop) = tokio::sync::watch::channel(false);
        let prepared = drill::prepare(&options, &NoProgress, &stop)
            .await
            .expect("prepared");
        let outcome = prepared.run(stop, &NoProgress).await.expect("ran");
        let sim = prepared.target.sim.as_ref().expect("the built-in sim");
        let snapshot = sim.snapshot(60, 100);
        prepared.shutdown().await;
        (
            outcome.report.status,
            outcome.report.scenarios[0].totals.requests,
            snapshot["requests"]["total"].clone(),
        )
    });
    assert_eq!(status, DrillStatus::Pass);
    assert_eq!(requests, 40);
    assert_eq!(sim_counted, 40, "the sim counts what the report counts");

    // Bad input is a typed error with exit 2, found before any load.
    let mut bad = options.clone();
    bad.scenarios = Some(vec!["no_such_scenario".into()]);
    let error = rt.block_on(async {
        let (_keep, stop) = tokio::sync::watch::channel(false);
        drill::prepare(&bad, &NoProgress, &stop).await.err()
    });
    let error = error.expect("refused");
    assert_eq!(error.exit(), relhost::exit::Exit::BadInput);
    assert!(error.to_string().contains("no_such_scenario"), "{error}");
}
