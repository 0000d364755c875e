//! Classification and scoring of the canary judge.

use super::judge::{
    CanaryVerdict, Classification, JudgeSettings, MetricSample, ScenarioSamples, classify, judge,
};
use crate::http::ErrorClass;
use crate::metrics::{Distribution, Sample, StageMetrics};
use crate::policy::{CanaryMetric, CanaryPolicy, Direction, PolicyDocument};

const SETTINGS: JudgeSettings = JudgeSettings { min_samples: 5 };

fn metric(direction: Direction, relative: f64, absolute: f64) -> CanaryMetric {
    CanaryMetric {
        name: "p95_latency_ms".into(),
        weight: 1.0,
        direction,
        allowed_relative_increase: relative,
        allowed_absolute_increase: absolute,
    }
}

/// A sample of single values whose metric is their mean.
fn values(v: &[f64]) -> MetricSample {
    let values = Distribution::of_values(v);
    MetricSample {
        value: values.mean(),
        values,
    }
}

#[test]
fn classification_needs_significance_and_size() {
    let up = metric(Direction::LowerIsBetter, 0.2, 0.0);
    let control = [10.0, 11.0, 9.0, 10.5, 9.5, 10.2];
    // Significantly higher and +100%: high.
    let slow: Vec<f64> = control.iter().map(|v| v * 2.0).collect();
    let c = classify(&up, &values(&control), &values(&slow), 0.95, SETTINGS);
    assert_eq!(c.class, Classification::High);
    assert_eq!(c.u, Some(36.0));
    assert!(c.p_value.is_some_and(|p| p < 0.05));
    assert!(c.effect.is_some_and(|e| (e - 1.0).abs() < 1e-9));
    // Significantly higher but only +5%: within the allowed 20%, so pass.
    let bit: Vec<f64> = control.iter().map(|v| v * 1.05 + 0.6).collect();
    let c = classify(&up, &values(&control), &values(&bit), 0.95, SETTINGS);
    assert!(c.p_value.is_some_and(|p| p < 0.05), "{c:?}");
    assert_eq!(c.class, Classification::Pass);
    // +100% but by less than the allowed absolute change: pass.
    let tolerant = metric(Direction::LowerIsBetter, 0.2, 15.0);
    let c = classify(&tolerant, &values(&control), &values(&slow), 0.95, SETTINGS);
    assert_eq!(c.class, Classification::Pass, "{c:?}");
    // Significantly lower: low (an improvement for latency).
    let fast: Vec<f64> = control.iter().map(|v| v / 2.0).collect();
    let c = classify(&up, &values(&control), &values(&fast), 0.95, SETTINGS);
    assert_eq!(c.class, Classification::Low);
    // Too few samples: nodata, never pass.
    let c = classify(
        &up,
        &values(&control[..4]),
        &values(&slow[..4]),
        0.95,
        SETTINGS,
    );
    assert_eq!((c.class, c.effect), (Classification::Nodata, None));
    // From a zero control: the relative change is unbounded.
    let c = classify(&up, &values(&[0.0; 8]), &values(&[0.05; 8]), 0.95, SETTINGS);
    assert_eq!((c.class, c.effect), (Classification::High, None));
    // Both zero: no change at all.
    let c = classify(&up, &values(&[0.0; 8]), &values(&[0.0; 8]), 0.95, SETTINGS);
    assert_eq!((c.class, c.effect), (Classification::Pass, Some(0.0)));
}

/// A side of `n` requests with latencies `ms(i)`; every `every_5xx`-th
/// one answered 503 and every `every_reset`-th one reset.
fn side(n: u32, ms: impl Fn(u32) -> f64, every_5xx: u32, every_reset: u32) -> StageMetrics {
    let mut m = StageMetrics::new();
    for i in 0..n {
        let result = if every_reset > 0 && i % every_reset == 0 {
            Err(ErrorClass::Reset)
        } else if every_5xx > 0 && i % every_5xx == 0 {
            Ok(503)
        } else {
            Ok(200)
        };
        let latency_us = (ms(i) * 1000.0) as u64;
        m.record(&Sample {
            result,
            expected: result == Ok(200),
            latency_us,
            service_us: latency_us,
            send_lag_us: 0,
            plugin_us: 0,
            sse: None,
            second: i / 30,
        });
    }
    m
}

fn run(control: &StageMetrics, candidate: &StageMetrics) -> super::Judgement {
    let policy = CanaryPolicy::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
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
    // 120 requests a side, as a 4-second quick stage at 30/s gives.
    let jitter = |i: u32| 1.0 + f64::from(i % 7) * 0.1;
    let control = side(120, jitter, 0, 0);
    // Same figures: every metric passes, score 100.
    let same = run(&control, &side(120, jitter, 0, 0));
    assert_eq!(same.verdict, CanaryVerdict::Pass, "{:?}", same.reasons);
    assert_eq!(same.score, 100.0);
    assert_eq!(
        same.metrics.len(),
        4,
        "first_event_p95_ms applies to event streams only"
    );
    assert!(same.metrics.iter().all(|m| m.control.n == 120));

    // 200 ms slower: p95 (0.3 of the 0.9 that applies) regresses,
    // score 66.7 < marginal 75: fail.
    let j = run(&control, &side(120, |i| jitter(i) + 200.0, 0, 0));
    assert!((j.score - 66.67).abs() < 0.01, "{}", j.score);
    assert_eq!(j.verdict, CanaryVerdict::Fail, "{:?}", j.reasons);

    // 5xx: critical, fails outright (2xx also regresses).
    let j = run(&control, &side(120, jitter, 8, 0));
    assert_eq!(j.verdict, CanaryVerdict::Fail);
    assert!(
        j.reasons[0].contains("critical metric regressed: whatsapp_webhook.rate_5xx"),
        "{:?}",
        j.reasons
    );

    // Too short: inconclusive, never pass, and the score is 0, not -0.
    let j = run(&side(3, jitter, 0, 0), &side(3, jitter, 0, 0));
    assert_eq!(j.verdict, CanaryVerdict::Inconclusive);
    assert!(
        j.metrics
            .iter()
            .all(|m| m.classification == Classification::Nodata)
    );
    assert_eq!(format!("{}", j.score), "0");

    // Nothing ran: inconclusive.
    let policy = CanaryPolicy::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        judge(&policy, &[], SETTINGS).verdict,
        CanaryVerdict::Inconclusive
    );
}

#[test]
fn marginal_between_the_thresholds() {
    let mut policy = CanaryPolicy::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
    // network_error_rate (0.2 of 0.9) regressing leaves 77.8: marginal (75 ≤ 77.8 < 90).
    policy.critical_metrics.clear();
    let flat = |_: u32| 2.0;
    // One request in 60 reset: the 2xx share falls by 1.7%, within its 2%.
    let control = side(600, flat, 0, 0);
    let candidate = side(600, flat, 0, 60);
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
    assert!(
        (j.score - 77.78).abs() < 0.01,
        "{} {:#?}",
        j.score,
        j.metrics
    );
    assert_eq!(j.verdict, CanaryVerdict::Marginal, "{:?}", j.reasons);
}
