//! Classification and scoring of the canary judge.

use super::judge::{
    CanaryVerdict, Classification, JudgeSettings, ScenarioSamples, classify, judge,
};
use crate::metrics::SecondStats;
use crate::policy::{CanaryMetric, Direction, builtin_canary_policy};

const SETTINGS: JudgeSettings = JudgeSettings { min_samples: 5 };

fn metric(direction: Direction, allowed: f64) -> CanaryMetric {
    CanaryMetric {
        name: "p95_latency_ms".into(),
        weight: 1.0,
        direction,
        allowed_relative_increase: allowed,
    }
}

fn second(i: u32, p95: f64, errors_5xx: u64) -> SecondStats {
    SecondStats {
        second: i,
        requests: 40,
        success_2xx: 40 - errors_5xx,
        status_5xx: errors_5xx,
        network_errors: 0,
        unknown_status: 0,
        p50_ms: p95 / 2.0,
        p95_ms: p95,
        p99_ms: p95 * 1.2,
        ttfb_p95_ms: None,
        first_event_p95_ms: None,
    }
}

#[test]
fn classification_needs_significance_and_size() {
    let up = metric(Direction::LowerIsBetter, 0.2);
    let control = [10.0, 11.0, 9.0, 10.5, 9.5, 10.2];
    // Significantly higher and +100%: high.
    let slow: Vec<f64> = control.iter().map(|v| v * 2.0).collect();
    let (class, u, p, effect) = classify(&up, &control, &slow, 0.95, SETTINGS);
    assert_eq!(class, Classification::High);
    assert_eq!(u, Some(36.0));
    assert!(p.is_some_and(|p| p < 0.05));
    assert!(effect.is_some_and(|e| (e - 1.0).abs() < 1e-9));
    // Significantly higher but only +5%: within the allowed 20%, so pass.
    let bit: Vec<f64> = control.iter().map(|v| v * 1.05 + 0.6).collect();
    let (class, _, p, _) = classify(&up, &control, &bit, 0.95, SETTINGS);
    assert!(p.is_some_and(|p| p < 0.05), "{p:?}");
    assert_eq!(class, Classification::Pass);
    // Significantly lower: low (an improvement for latency).
    let fast: Vec<f64> = control.iter().map(|v| v / 2.0).collect();
    assert_eq!(
        classify(&up, &control, &fast, 0.95, SETTINGS).0,
        Classification::Low
    );
    // Too few samples: nodata, never pass.
    assert_eq!(
        classify(&up, &control[..4], &slow[..4], 0.95, SETTINGS).0,
        Classification::Nodata
    );
    // From a zero control: the relative change is unbounded.
    let (class, _, _, effect) = classify(&up, &[0.0; 8], &[0.05; 8], 0.95, SETTINGS);
    assert_eq!((class, effect), (Classification::High, None));
}

fn run(control: &[SecondStats], candidate: &[SecondStats]) -> super::Judgement {
    let policy = builtin_canary_policy().unwrap_or_else(|e| panic!("{e}"));
    judge(
        &policy,
        &[ScenarioSamples {
            name: "whatsapp_webhook",
            event_stream: false,
            control,
            candidate,
        }],
        SETTINGS,
    )
}

#[test]
fn scoring_and_verdicts() {
    let control: Vec<SecondStats> = (0..8)
        .map(|i| second(i, 10.0 + f64::from(i % 3), 0))
        .collect();
    // Same figures: every metric passes, score 100.
    let same = run(&control, &control);
    assert_eq!(same.verdict, CanaryVerdict::Pass, "{:?}", same.reasons);
    assert_eq!(same.score, 100.0);
    assert_eq!(
        same.metrics.len(),
        4,
        "first_event_p95_ms applies to event streams only"
    );

    // Latency doubled: p95 (0.3 of the 0.9 that applies) regresses,
    // score 66.7 < marginal 75: fail.
    let slow: Vec<SecondStats> = control
        .iter()
        .map(|s| second(s.second, s.p95_ms * 2.0, 0))
        .collect();
    let j = run(&control, &slow);
    assert!((j.score - 66.67).abs() < 0.01, "{}", j.score);
    assert_eq!(j.verdict, CanaryVerdict::Fail, "{:?}", j.reasons);

    // 5xx: critical, fails outright (2xx also regresses).
    let errors: Vec<SecondStats> = control
        .iter()
        .map(|s| second(s.second, s.p95_ms, 2 + u64::from(s.second % 2)))
        .collect();
    let j = run(&control, &errors);
    assert_eq!(j.verdict, CanaryVerdict::Fail);
    assert!(
        j.reasons[0].contains("critical metric regressed: whatsapp_webhook.rate_5xx"),
        "{:?}",
        j.reasons
    );

    // Too short: inconclusive, never pass.
    let j = run(&control[..3], &control[..3]);
    assert_eq!(j.verdict, CanaryVerdict::Inconclusive);
    assert!(
        j.metrics
            .iter()
            .all(|m| m.classification == Classification::Nodata)
    );

    // Nothing ran: inconclusive.
    let policy = builtin_canary_policy().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        judge(&policy, &[], SETTINGS).verdict,
        CanaryVerdict::Inconclusive
    );
}

#[test]
fn marginal_between_the_thresholds() {
    let mut policy = builtin_canary_policy().unwrap_or_else(|e| panic!("{e}"));
    // network_error_rate (0.2 of 0.9) regressing leaves 77.8: marginal (75 ≤ 77.8 < 90).
    policy.critical_metrics.clear();
    let control: Vec<SecondStats> = (0..8).map(|i| second(i, 10.0, 0)).collect();
    let candidate: Vec<SecondStats> = control
        .iter()
        .map(|s| SecondStats {
            network_errors: 2 + u64::from(s.second % 2),
            ..*s
        })
        .collect();
    let j = judge(
        &policy,
        &[ScenarioSamples {
            name: "gmail_push_webhook",
            event_stream: false,
            control: &control,
            candidate: &candidate,
        }],
        SETTINGS,
    );
    assert!((j.score - 77.78).abs() < 0.01, "{}", j.score);
    assert_eq!(j.verdict, CanaryVerdict::Marginal, "{:?}", j.reasons);
}
