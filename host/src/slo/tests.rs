//! The built-in evaluators, through the sandbox: the seed's gates at and
//! over their thresholds, and burn rates checked against hand-computed values.

use std::time::Duration;

use super::*;
use crate::plugin::{Limits, Params, test_runtime};
use crate::policy::{PolicyDocument, SloBaseline};

async fn evaluators() -> Evaluators {
    let runtime = test_runtime(Limits::default(), None, Params::new());
    Evaluators::load(&runtime, &[])
        .await
        .expect("built-in evaluators")
}

fn totals(requests: u64, p95: f64, r5xx: f64, net: f64, unknown: f64, ok: f64) -> StageSummary {
    let mut s = StageSummary {
        requests,
        rate_5xx: r5xx,
        network_error_rate: net,
        unknown_status_rate: unknown,
        success_2xx_rate: ok,
        ..StageSummary::default()
    };
    s.latency_ms.p95 = p95;
    s
}

fn failed(gate: &GateResult) -> Vec<&str> {
    gate.failed_checks().map(|c| c.name.as_str()).collect()
}

#[tokio::test]
async fn the_webhook_gate_passes_at_its_thresholds_and_fails_over_them() {
    let e = evaluators().await;
    let b = SloBaseline::builtin(&()).expect("baseline");
    let t = b.thresholds_for("gmail_push_webhook");
    let at = e
        .gate(
            "gmail_push_webhook",
            &totals(100, 1500.0, 0.01, 0.02, 0.05, 0.9),
            &[],
            t,
        )
        .await;
    assert_eq!(at.verdict, Verdict::Pass, "{at:?}");
    let names: Vec<&str> = at.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "p95_latency_ms",
            "rate_5xx",
            "network_error_rate",
            "unknown_status_rate",
            "plugin_error_rate"
        ],
        "no 2xx check for webhooks"
    );
    let over = e
        .gate(
            "whatsapp_webhook",
            &totals(100, 20.0, 0.05, 0.0, 0.05, 0.95),
            &[],
            t,
        )
        .await;
    assert_eq!(failed(&over), ["rate_5xx"]);
    let c = over.failed_checks().next().expect("failed check");
    assert_eq!(
        (c.observed, c.threshold, c.comparator),
        (0.05, 0.01, Comparator::AtMost)
    );
}

#[tokio::test]
async fn the_chat_gate_has_a_2xx_floor() {
    let e = evaluators().await;
    let b = SloBaseline::builtin(&()).expect("baseline");
    let t = b.thresholds_for("chat_stream_http");
    let gate = e
        .gate(
            "chat_stream_http",
            &totals(100, 11_000.0, 0.0, 0.0, 0.0, 0.89),
            &[],
            t,
        )
        .await;
    assert_eq!(failed(&gate), ["success_2xx_rate"]);
    assert_eq!(
        gate.failed_checks().next().map(|c| c.comparator),
        Some(Comparator::AtLeast)
    );
}

#[tokio::test]
async fn nothing_sent_fails_every_check() {
    let e = evaluators().await;
    let b = SloBaseline::builtin(&()).expect("baseline");
    let gate = e
        .gate(
            "chat_stream_http",
            &StageSummary::default(),
            &[],
            b.thresholds_for("chat_stream_http"),
        )
        .await;
    assert_eq!(gate.verdict, Verdict::Fail);
    assert_eq!(gate.checks.len(), 6);
    // Nothing was attempted, so no plugin failed; every other check fails.
    let (plugin, others): (Vec<_>, Vec<_>) = gate
        .checks
        .iter()
        .partition(|c| c.name == "plugin_error_rate");
    assert_eq!(plugin[0].verdict, Verdict::Pass);
    assert!(
        others
            .iter()
            .all(|c| c.verdict == Verdict::Fail && c.message.is_some())
    );
}

#[tokio::test]
async fn requests_a_plugin_could_not_build_fail_the_gate() {
    let e = evaluators().await;
    let b = SloBaseline::builtin(&()).expect("baseline");
    let t = b.thresholds_for("whatsapp_webhook");
    // Five requests went out and passed; fifteen were never built.
    let mut t15 = totals(5, 20.0, 0.0, 0.0, 0.0, 1.0);
    t15.plugin_errors = 15;
    let gate = e.gate("whatsapp_webhook", &t15, &[], t).await;
    assert_eq!(failed(&gate), ["plugin_error_rate"]);
    let check = gate.failed_checks().next().expect("failed");
    assert_eq!((check.observed, check.threshold), (0.75, 0.0));
    let tolerant = SloThresholds {
        max_plugin_error_rate: 0.8,
        ..t.clone()
    };
    let gate = e.gate("whatsapp_webhook", &t15, &[], &tolerant).await;
    assert_eq!(gate.verdict, Verdict::Pass, "{gate:?}");
}

/// `n` seconds of 100 requests each, with `errors(second)` errors.
fn series(n: u32, errors: impl Fn(u32) -> u64) -> Vec<TimePoint> {
    (0..n)
        .map(|second| TimePoint {
            second,
            requests: 100,
            errors: errors(second),
            p95_ms: 10.0,
        })
        .collect()
}

fn with_objective(objective: f64) -> SloThresholds {
    let b = SloBaseline::builtin(&()).expect("baseline");
    SloThresholds {
        objective: Some(objective),
        ..b.thresholds_for("whatsapp_webhook").clone()
    }
}

#[tokio::test]
async fn burn_rate_matches_hand_computed_values() {
    let e = evaluators().await;
    let settings = BurnSettings {
        long_window_s: 60.0,
        short_window_divisor: 12,
        max_burn: 10.0,
    };
    // 60 s at 2% errors with a 99% objective: burn 0.02 / 0.01 = 2 in both windows.
    let steady = series(60, |_| 2);
    let gate = e
        .burn_rate_gate(
            "w",
            &totals(6000, 1.0, 0.02, 0.0, 0.0, 1.0),
            &steady,
            &with_objective(0.99),
            settings,
        )
        .await
        .expect("an objective is set");
    let c = &gate.checks[0];
    assert_eq!(
        (c.name.as_str(), c.observed, c.verdict),
        ("burn_rate", 2.0, Verdict::Pass),
        "{c:?}"
    );

    // The last 5 s (60/12) at 50% errors, the rest clean: long burn
    // (5 × 50) / 6000 / 0.01 = 4.1667, short burn 0.5 / 0.01 = 50.
    // Both must exceed the threshold: min(4.1667, 50) = 4.1667 <= 10 passes.
    let spike = series(60, |s| if s >= 55 { 50 } else { 0 });
    let gate = e
        .burn_rate_gate(
            "w",
            &totals(6000, 1.0, 0.0, 0.0, 0.0, 1.0),
            &spike,
            &with_objective(0.99),
            settings,
        )
        .await
        .expect("an objective is set");
    let c = &gate.checks[0];
    assert_eq!(c.observed, 4.166667, "{c:?}");
    assert_eq!(c.verdict, Verdict::Pass);
    assert!(
        c.message
            .as_deref()
            .is_some_and(|m| m.contains("50 over the last 5 s")),
        "{c:?}"
    );

    // 30% errors throughout: burn 30 in both windows, over 10: fail.
    let burning = series(60, |_| 30);
    let gate = e
        .burn_rate_gate(
            "w",
            &totals(6000, 1.0, 0.3, 0.0, 0.0, 0.7),
            &burning,
            &with_objective(0.99),
            settings,
        )
        .await
        .expect("an objective is set");
    assert_eq!(
        (gate.checks[0].observed, gate.verdict),
        (30.0, Verdict::Fail)
    );

    // No objective, no burn-rate gate.
    let b = SloBaseline::builtin(&()).expect("baseline");
    let mut none = b.thresholds_for("whatsapp_webhook").clone();
    none.objective = None;
    assert!(
        e.burn_rate_gate(
            "w",
            &totals(1, 1.0, 0.0, 0.0, 0.0, 1.0),
            &burning,
            &none,
            settings
        )
        .await
        .is_none()
    );
}

#[tokio::test]
async fn evaluators_run_under_fuel() {
    let runtime = test_runtime(
        Limits {
            fuel: 1_000,
            deadline: Duration::from_secs(5),
            ..Limits::default()
        },
        None,
        Params::new(),
    );
    let err = Evaluators::load(&runtime, &[])
        .await
        .err()
        .expect("1,000 units of fuel are not enough");
    assert!(
        err.to_string()
            .contains("ran out of its 1000 units of fuel"),
        "{err}"
    );
}
