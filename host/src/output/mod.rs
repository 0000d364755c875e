//! Live metrics into the tools teams already watch: Prometheus remote
//! write and OTLP/HTTP.
//!
//! An [`Exporter`] runs beside a drill. Every interval it reads the
//! workers' live counters (the ones the progress line reads, off the hot
//! path) and pushes the figures of the stage in force, labelled by run,
//! command, profile, scenario and stage; a finished stage is sent with its
//! exact figures. When the drill ends, [`Exporter::finish`] sends the
//! report's own figures, so the last value of every series is the report's.
//! A slow or dead endpoint is retried with backoff, then the push is
//! dropped and counted: export never fails or stalls the drill.

mod histogram;
mod otlp;
mod points;
mod prometheus;
mod protobuf;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::engine::{LiveStats, LiveTotals, Progress, in_flight};
use crate::http::{Client, OutgoingRequest};
use crate::metrics::StageMetrics;
use crate::policy::Stage;
use crate::report::{DrillReport, Verdict};
use points::{Point, Points};

/// Attempts of one push, the first included.
const ATTEMPTS: u32 = 3;
/// Wait after the first failed attempt; doubles after each further one.
const BACKOFF: Duration = Duration::from_millis(250);
/// Longest the final push may take, over every output.
const FINAL_PUSH_LIMIT: Duration = Duration::from_secs(15);

/// Where live metrics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Prometheus remote write 1.0 at this URL (e.g. `/api/v1/write`).
    PrometheusRw(http::Uri),
    /// OTLP/HTTP protobuf metrics at this URL (`/v1/metrics` when only an
    /// origin is given).
    Otlp(http::Uri),
}

impl OutputTarget {
    /// `prometheus-rw` or `otlp`.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputTarget::PrometheusRw(_) => "prometheus-rw",
            OutputTarget::Otlp(_) => "otlp",
        }
    }

    /// The URL pushed to.
    pub fn url(&self) -> &http::Uri {
        match self {
            OutputTarget::PrometheusRw(url) | OutputTarget::Otlp(url) => url,
        }
    }
}

impl fmt::Display for OutputTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.kind(), self.url())
    }
}

impl FromStr for OutputTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = "expected prometheus-rw=URL or otlp=URL, like prometheus-rw=http://127.0.0.1:9090/api/v1/write";
        let (kind, url) = text.split_once('=').ok_or(expected)?;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL ({e}); {expected}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(format!("{url:?}: {expected}"));
        }
        match kind {
            "prometheus-rw" => Ok(OutputTarget::PrometheusRw(uri)),
            "otlp" if matches!(uri.path(), "" | "/") => {
                let full = format!("{}/v1/metrics", url.trim_end_matches('/'));
                full.parse()
                    .map(OutputTarget::Otlp)
                    .map_err(|e| format!("{full:?}: {e}"))
            }
            "otlp" => Ok(OutputTarget::Otlp(uri)),
            other => Err(format!("unknown output {other:?}; {expected}")),
        }
    }
}

/// An output and the headers its requests carry (authentication).
#[derive(Debug, Clone)]
pub struct Output {
    /// Where.
    pub target: OutputTarget,
    /// Extra headers, marked sensitive.
    pub headers: http::HeaderMap,
}

/// What an exporter sends and how often.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// The outputs.
    pub outputs: Vec<Output>,
    /// Time between pushes.
    pub interval: Duration,
    /// Labels of every series: run id, command, profile (and, for a
    /// canary, its side).
    pub labels: Vec<(&'static str, String)>,
}

/// Pushes a drill's live figures to its outputs.
pub struct Exporter {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    config: ExportConfig,
    client: Client,
    started: SystemTime,
    scenarios: Mutex<BTreeMap<String, ScenarioState>>,
    /// Latency histograms of the finished stages, by scenario and stage.
    histograms: Mutex<BTreeMap<(String, String), Vec<Point>>>,
    deliveries: Mutex<Vec<Delivery>>,
}

/// One scenario's figures as the drill goes.
#[derive(Default)]
struct ScenarioState {
    live: Vec<Arc<LiveStats>>,
    /// The stage in force and the live totals when it started.
    current: Option<(String, LiveTotals)>,
    /// Live totals at the last push (for the interval's quantiles).
    last: LiveTotals,
    /// Points of the stages that are over, by stage.
    done: BTreeMap<String, Vec<Point>>,
}

/// How an output's pushes went.
#[derive(Debug, Default, Clone)]
struct Delivery {
    pushed: u64,
    dropped: u64,
    last_error: Option<String>,
}

impl Exporter {
    /// Starts pushing every `config.interval` with `client`.
    pub fn start(config: ExportConfig, client: Client) -> Exporter {
        let deliveries = vec![Delivery::default(); config.outputs.len()];
        let shared = Arc::new(Shared {
            config,
            client,
            started: SystemTime::now(),
            scenarios: Mutex::new(BTreeMap::new()),
            histograms: Mutex::new(BTreeMap::new()),
            deliveries: Mutex::new(deliveries),
        });
        let task = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                let mut ticks = tokio::time::interval(shared.config.interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    let points = shared.live_points();
                    shared.push_all(&points).await;
                }
            }
        });
        Exporter { shared, task }
    }

    /// The drill's progress, told to `inner` and to this exporter.
    pub fn progress<'a>(&'a self, inner: &'a dyn Progress) -> impl Progress + 'a {
        Tee {
            inner,
            shared: &self.shared,
        }
    }

    /// Stops the periodic pushes, sends the report's figures (and its gate
    /// verdicts), and returns a warning per output that dropped pushes.
    pub async fn finish(self, report: &DrillReport) -> Vec<String> {
        // A periodic push still retrying a slow endpoint is abandoned: the
        // final one supersedes it.
        self.task.abort();
        let _ = self.task.await;
        let mut points = Vec::new();
        for scenario in report.scenarios.iter().filter(|s| s.skipped.is_none()) {
            for stage in &scenario.stages {
                points.extend(Points::new(&scenario.name, &stage.name).summary(&stage.summary));
            }
            points.push(points::gate(
                &scenario.name,
                scenario.slo_gate.verdict == Verdict::Pass,
            ));
        }
        points.extend(self.shared.histogram_points());
        let mut warnings = Vec::new();
        if tokio::time::timeout(FINAL_PUSH_LIMIT, self.shared.push_all(&points))
            .await
            .is_err()
        {
            warnings.push(format!(
                "live outputs: the final push did not finish within {} s; the series may lack the report's last figures",
                FINAL_PUSH_LIMIT.as_secs()
            ));
        }
        let deliveries = self
            .shared
            .deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        self.shared
            .config
            .outputs
            .iter()
            .zip(deliveries)
            .filter(|(_, d)| d.dropped > 0)
            .map(|(output, d)| {
                format!(
                    "live output {}: {} of {} pushes dropped after {ATTEMPTS} attempts each (last error: {})",
                    output.target,
                    d.dropped,
                    d.dropped + d.pushed,
                    d.last_error.as_deref().unwrap_or("unknown")
                )
            })
            .chain(warnings)
            .collect()
    }
}

impl Shared {
    /// The points of every scenario now: the stages that are over, and the
    /// live figures of the stage in force.
    fn live_points(&self) -> Vec<Point> {
        let Ok(mut scenarios) = self.scenarios.lock() else {
            return Vec::new();
        };
        let mut points = Vec::new();
        for (name, state) in scenarios.iter_mut() {
            points.extend(state.done.values().flatten().cloned());
            if let Some((stage, baseline)) = &state.current {
                let now = LiveTotals::read(&state.live);
                let interval = now.since(&state.last);
                points.extend(Points::new(name, stage).live(
                    &now.since(baseline),
                    &interval,
                    in_flight(&state.live),
                ));
                state.last = now;
            }
        }
        drop(scenarios);
        points.extend(self.histogram_points());
        points
    }

    /// The latency histograms of every finished stage.
    fn histogram_points(&self) -> Vec<Point> {
        self.histograms
            .lock()
            .map(|h| h.values().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends `points` to every output.
    async fn push_all(&self, points: &[Point]) {
        if points.is_empty() {
            return;
        }
        for (i, output) in self.config.outputs.iter().enumerate() {
            let result = self.push(output, points).await;
            if let Ok(mut deliveries) = self.deliveries.lock() {
                let d = &mut deliveries[i];
                match result {
                    Ok(()) => d.pushed += 1,
                    Err(e) => {
                        d.dropped += 1;
                        d.last_error = Some(crate::redact::text(&e));
                    }
                }
            }
        }
    }

    /// One push, retried with backoff.
    async fn push(&self, output: &Output, points: &[Point]) -> Result<(), String> {
        let now = SystemTime::now();
        let since_epoch = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let (body, content_type, extra): (Vec<u8>, &str, &[(&str, &str)]) = match &output.target {
            OutputTarget::PrometheusRw(_) => (
                prometheus::write_request(
                    points,
                    &self.config.labels,
                    since_epoch(now).as_millis() as i64,
                )
                .map_err(|e| format!("cannot compress: {e}"))?,
                prometheus::CONTENT_TYPE,
                &[
                    ("content-encoding", "snappy"),
                    ("x-prometheus-remote-write-version", prometheus::VERSION),
                ],
            ),
            OutputTarget::Otlp(_) => (
                otlp::export_request(
                    points,
                    &self.config.labels,
                    since_epoch(self.started).as_nanos() as u64,
                    since_epoch(now).as_nanos() as u64,
                ),
                otlp::CONTENT_TYPE,
                &[],
            ),
        };
        let mut headers = output.headers.clone();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        headers.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("relhost/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, value) in extra {
            headers.insert(*name, http::HeaderValue::from_static(value));
        }
        let body = Bytes::from(body);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(BACKOFF * (1 << (attempt - 1))).await;
            }
            let request = OutgoingRequest {
                method: http::Method::POST,
                uri: output.target.url().clone(),
                headers: headers.clone(),
                body: body.clone(),
            };
            match self.client.send_collect(request).await {
                Ok((status, _, _)) if (200..300).contains(&status) => return Ok(()),
                // A 4xx other than 429 will not get better with retries.
                Ok((status, _, answer)) if (400..500).contains(&status) && status != 429 => {
                    return Err(format!("{status} {}", crate::http::body_excerpt(&answer)));
                }
                Ok((status, _, answer)) => {
                    last = format!("{status} {}", crate::http::body_excerpt(&answer));
                }
                Err(class) => last = class.as_str().to_owned(),
            }
        }
        Err(last)
    }

    fn stage_started(&self, scenario: &str, stage: &Stage, live: &[Arc<LiveStats>]) {
        let Ok(mut scenarios) = self.scenarios.lock() else {
            return;
        };
        let state = scenarios.entry(scenario.to_owned()).or_default();
        let now = LiveTotals::read(live);
        // The stage in force hands over: its live figures so far stand
        // until its exact ones arrive.
        if let Some((previous, baseline)) = state.current.take() {
            let frozen = Points::new(scenario, &previous).live(
                &now.since(&baseline),
                &LiveTotals::default(),
                0,
            );
            state.done.entry(previous).or_insert(frozen);
        }
        state.live = live.to_vec();
        state.last = now.clone();
        state.current = Some((stage.name.clone(), now));
    }

    fn stage_finished(
        &self,
        scenario: &str,
        stage: &Stage,
        metrics: &StageMetrics,
        elapsed: Duration,
    ) {
        let summary = metrics.summarize(elapsed);
        if let Ok(mut histograms) = self.histograms.lock() {
            histograms.insert(
                (scenario.to_owned(), stage.name.clone()),
                Points::new(scenario, &stage.name).histograms(metrics),
            );
        }
        let Ok(mut scenarios) = self.scenarios.lock() else {
            return;
        };
        let state = scenarios.entry(scenario.to_owned()).or_default();
        if state
            .current
            .as_ref()
            .is_some_and(|(name, _)| *name == stage.name)
        {
            state.current = None;
        }
        state.done.insert(
            stage.name.clone(),
            Points::new(scenario, &stage.name).summary(&summary),
        );
    }
}

/// Progress told to the console and to the exporter.
struct Tee<'a> {
    inner: &'a dyn Progress,
    shared: &'a Shared,
}

impl Progress for Tee<'_> {
    fn stage_started(&self, scenario: &str, stage: &Stage, live: &[Arc<LiveStats>]) {
        self.inner.stage_started(scenario, stage, live);
        self.shared.stage_started(scenario, stage, live);
    }

    fn stage_finished(
        &self,
        scenario: &str,
        stage: &Stage,
        metrics: &StageMetrics,
        elapsed: Duration,
    ) {
        self.inner.stage_finished(scenario, stage, metrics, elapsed);
        self.shared
            .stage_finished(scenario, stage, metrics, elapsed);
    }

    fn note(&self, text: &str) {
        self.inner.note(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_otlp_origins_get_the_metrics_path() {
        assert_eq!(
            "prometheus-rw=http://127.0.0.1:9090/api/v1/write"
                .parse::<OutputTarget>()
                .map(|t| t.to_string()),
            Ok("prometheus-rw=http://127.0.0.1:9090/api/v1/write".into())
        );
        assert_eq!(
            "otlp=http://127.0.0.1:4318"
                .parse::<OutputTarget>()
                .map(|t| t.url().to_string()),
            Ok("http://127.0.0.1:4318/v1/metrics".into())
        );
        for bad in [
            "prometheus-rw",
            "statsd=http://x",
            "otlp=ftp://x",
            "otlp=not a url",
        ] {
            let e = bad.parse::<OutputTarget>().unwrap_err();
            assert!(e.contains("prometheus-rw=URL"), "{bad}: {e}");
        }
    }
}
