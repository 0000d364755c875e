//! A human summary of a [`DrillReport`]: one aligned ASCII row per scenario,
//! then the failed checks, the TLS connections and how many resumed a
//! session, the network errors with their most frequent reasons, and
//! skipped scenarios.

use std::io::{self, Write};

use super::slo_gate::{Check, Unit, Verdict};
use super::types::{DrillReport, DrillStatus};

const HEADERS: [&str; 10] = [
    "scenario",
    "requests",
    "rps",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "2xx %",
    "5xx %",
    "net err %",
    "gate",
];

/// Writes the summary table of `report` to `out`.
pub fn write_summary_table(out: &mut impl Write, report: &DrillReport) -> io::Result<()> {
    let rows: Vec<[String; 10]> = report
        .scenarios
        .iter()
        .map(|s| {
            let t = &s.totals;
            let gate = match s.slo_gate.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
                Verdict::Skipped => "skipped",
            };
            if s.skipped.is_some() {
                let mut cells: [String; 10] = std::array::from_fn(|_| "-".to_owned());
                cells[0] = s.name.clone();
                cells[9] = gate.to_owned();
                return cells;
            }
            [
                s.name.clone(),
                t.requests.to_string(),
                format!("{:.1}", t.throughput_rps),
                format!("{:.1}", t.latency_ms.p50),
                format!("{:.1}", t.latency_ms.p95),
                format!("{:.1}", t.latency_ms.p99),
                percent(t.success_2xx_rate),
                percent(t.rate_5xx),
                percent(t.network_error_rate),
                gate.to_owned(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            // Names and verdicts left-aligned, numbers right-aligned.
            if i == 0 || i == cells.len() - 1 {
                text.push_str(&format!("{cell:<w$}"));
            } else {
                text.push_str(&format!("{cell:>w$}"));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &HEADERS)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(out, &rule.iter().map(String::as_str).collect::<Vec<_>>())?;
    for row in &rows {
        line(out, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
    }

    let failed: Vec<(&str, &Check)> = report
        .scenarios
        .iter()
        .flat_map(|s| {
            s.slo_gate
                .failed_checks()
                .map(move |c| (s.name.as_str(), c))
        })
        .collect();
    if !failed.is_empty() {
        writeln!(out)?;
        writeln!(out, "Failed checks:")?;
        for (scenario, c) in failed {
            let (observed, threshold) = match c.unit {
                Unit::Ms => (
                    format!("{:.1} ms", c.observed),
                    format!("{} ms", c.threshold),
                ),
                Unit::Ratio => (percent(c.observed) + "%", percent(c.threshold) + "%"),
                Unit::Count | Unit::Burn => (c.observed.to_string(), c.threshold.to_string()),
            };
            write!(
                out,
                "  {scenario}: {} = {observed}, must be {} {threshold}",
                c.name,
                c.comparator.as_str()
            )?;
            match &c.message {
                Some(m) => writeln!(out, " ({m})")?,
                None => writeln!(out)?,
            }
        }
    }
    let tls: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| s.totals.connections.tls_full + s.totals.connections.tls_resumed > 0)
        .collect();
    if !tls.is_empty() {
        writeln!(out)?;
        writeln!(out, "TLS connections:")?;
        for s in tls {
            let c = &s.totals.connections;
            let resumed = c.tls_resumed as f64 / (c.tls_full + c.tls_resumed) as f64;
            writeln!(
                out,
                "  {}: {} opened, {} resumed a session ({}%)",
                s.name,
                c.opened,
                c.tls_resumed,
                percent(resumed)
            )?;
        }
    }
    let errors: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| !s.totals.network_errors.is_empty())
        .collect();
    if !errors.is_empty() {
        writeln!(out)?;
        writeln!(out, "Network errors:")?;
        for s in errors {
            for (class, count) in &s.totals.network_errors {
                writeln!(out, "  {}: {class}: {count}", s.name)?;
                for reason in s
                    .totals
                    .network_error_reasons
                    .get(class)
                    .into_iter()
                    .flatten()
                    .take(3)
                {
                    writeln!(out, "    {} × {}", reason.count, reason.reason)?;
                }
            }
        }
    }
    let skipped: Vec<_> = report
        .scenarios
        .iter()
        .filter_map(|s| s.skipped.as_deref().map(|r| (s.name.as_str(), r)))
        .collect();
    if !skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "Skipped:")?;
        for (name, reason) in skipped {
            writeln!(out, "  {name}: {reason}")?;
        }
    }
    let status = match report.status {
        DrillStatus::Pass => "PASS",
        DrillStatus::Fail => "FAIL",
        DrillStatus::Error => "ERROR",
        DrillStatus::Interrupted => "INTERRUPTED (partial results)",
    };
    writeln!(out)?;
    writeln!(out, "Result: {status}")
}

/// A fraction as a percentage with two decimals (`0.0123` → `1.23`).
fn percent(fraction: f64) -> String {
    format!("{:.2}", fraction * 100.0)
}
