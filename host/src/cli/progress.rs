//! Live progress on stderr: a bar on a terminal, plain lines otherwise,
//! nothing when quiet. Figures come from the workers' live counters.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::oneshot;

use super::printer::Sink;
use crate::engine::{LiveStats, LiveTotals, Progress};
use crate::metrics::StageMetrics;
use crate::policy::{Load, Stage};

/// How often plain lines are written when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Bar,
    Lines,
}

/// Progress on the console.
pub(crate) struct ConsoleProgress {
    mode: Mode,
    /// Where lines go (stderr, above the bar when one is drawn).
    sink: Sink,
    /// The live display of the stage in force.
    ticker: Mutex<Option<Ticker>>,
}

/// A stage's live display: its bar (on a terminal) and the task updating it.
struct Ticker {
    /// `scenario/stage`.
    key: String,
    bar: Option<ProgressBar>,
    stop: oneshot::Sender<()>,
}

impl Ticker {
    fn stop(self) {
        let _ = self.stop.send(());
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

impl ConsoleProgress {
    /// A bar when stderr is a terminal, lines otherwise; nothing when `quiet`.
    pub(crate) fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        ConsoleProgress {
            mode,
            sink: Sink::new(std::io::stderr()),
            ticker: Mutex::new(None),
        }
    }

    /// Plain lines to `sink`.
    #[cfg(test)]
    pub(crate) fn lines_to(sink: Sink) -> Self {
        ConsoleProgress {
            mode: Mode::Lines,
            sink,
            ticker: Mutex::new(None),
        }
    }

    /// Stops the live display of `key`, or of any stage when `None`.
    fn stop_ticker(&self, key: Option<&str>) {
        let Ok(mut current) = self.ticker.lock() else {
            return;
        };
        if key.is_none_or(|key| current.as_ref().is_some_and(|t| t.key == key))
            && let Some(ticker) = current.take()
        {
            ticker.stop();
        }
    }
}

fn describe_load(stage: &Stage) -> String {
    match stage.load {
        Load::Rate(rate) => format!("{rate}/s"),
        Load::Concurrency(users) => format!("{users} users"),
    }
}

/// The live line: rate, p95 and errors over the last interval.
fn live_line(now: &LiveTotals, before: &LiveTotals, interval: Duration) -> String {
    let rate = (now.sent - before.sent) as f64 / interval.as_secs_f64().max(1e-3);
    let p95 = now
        .quantile_ms_since(before, 0.95)
        .map_or_else(|| "-".to_string(), |ms| format!("{ms:.1} ms"));
    format!(
        "{rate:.0} req/s  p95 {p95}  sent {}  errors {}",
        now.sent, now.errors
    )
}

impl Progress for ConsoleProgress {
    fn stage_started(&self, scenario: &str, stage: &Stage, live: &[Arc<LiveStats>]) {
        if self.mode == Mode::Quiet {
            return;
        }
        self.stop_ticker(None);
        let title = format!(
            "{scenario}/{} ({}, {:?})",
            stage.name,
            describe_load(stage),
            stage.duration
        );
        let (stop, mut stopped) = oneshot::channel();
        let live = live.to_vec();
        let bar = (self.mode == Mode::Bar).then(|| {
            let bar = ProgressBar::new(stage.duration.as_millis() as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:24}] {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(title.clone());
            bar
        });
        if bar.is_none() {
            self.sink.line(&format!("stage {title}"));
        }
        let shown = bar.clone();
        let sink = self.sink.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let every = if shown.is_some() {
                Duration::from_secs(1)
            } else {
                LINE_EVERY
            };
            let mut before = LiveTotals::read(&live);
            let mut at = Instant::now();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(every) => {}
                }
                let now = LiveTotals::read(&live);
                let line = live_line(&now, &before, at.elapsed());
                match &shown {
                    Some(bar) => {
                        bar.set_position(started.elapsed().as_millis() as u64);
                        bar.set_message(line);
                    }
                    None => sink.line(&format!("  {line}")),
                }
                before = now;
                at = Instant::now();
            }
        });
        if let Ok(mut ticker) = self.ticker.lock() {
            *ticker = Some(Ticker {
                key: format!("{scenario}/{}", stage.name),
                bar,
                stop,
            });
        }
    }

    fn stage_finished(
        &self,
        scenario: &str,
        stage: &Stage,
        metrics: &StageMetrics,
        elapsed: Duration,
    ) {
        // The scenario's last stage ends its display; an earlier stage
        // ends while the next one is shown.
        self.stop_ticker(Some(&format!("{scenario}/{}", stage.name)));
        let summary = metrics.summarize(elapsed);
        self.note(&format!(
            "done  {scenario}/{}: {} requests in {:.1} s, {:.0} req/s, p95 {:.1} ms, 5xx {:.2}%, network errors {:.2}%",
            stage.name,
            summary.requests,
            elapsed.as_secs_f64(),
            summary.throughput_rps,
            summary.latency_ms.p95,
            summary.rate_5xx * 100.0,
            summary.network_error_rate * 100.0,
        ));
    }

    /// Writes a line on stderr (above the bar, if one is drawn).
    fn note(&self, text: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        let bar = self
            .ticker
            .lock()
            .ok()
            .and_then(|t| t.as_ref().and_then(|t| t.bar.clone()));
        match bar {
            Some(bar) => bar.suspend(|| self.sink.line(text)),
            None => self.sink.line(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::printer::tests::buffer;

    #[tokio::test]
    async fn lines_name_the_stage_and_its_figures() {
        let (sink, bytes) = buffer();
        let progress = ConsoleProgress::lines_to(sink);
        let stage = Stage {
            name: "steady".into(),
            load: Load::Rate(50.0),
            duration: Duration::from_secs(2),
            ramp: Duration::ZERO,
            max_requests: None,
            think_time: Duration::ZERO,
        };
        progress.stage_started("chat", &stage, &[]);
        progress.note("warning: something to know");
        progress.stage_finished("chat", &stage, &StageMetrics::new(), Duration::from_secs(2));
        let text = String::from_utf8(bytes.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "stage chat/steady (50/s, 2s)");
        assert_eq!(lines[1], "warning: something to know");
        assert!(
            lines[2].starts_with("done  chat/steady: 0 requests in 2.0 s"),
            "{text}"
        );
    }
}
