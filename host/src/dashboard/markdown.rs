//! `slo-dashboard.md`: the dashboard as Markdown tables (for a CI summary
//! or a pull request), without the charts.

use std::fmt::Write;

use super::model::Dashboard;
use super::svg::fmt_num;
use crate::report::md_cell;

fn pct(v: f64) -> String {
    format!("{}%", fmt_num(v * 100.0))
}

/// Renders the Markdown dashboard.
pub fn render(d: &Dashboard) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# relhost SLO dashboard\n");
    let _ = writeln!(
        out,
        "Generated {} from `{}`; objectives from {}.\n\n{}\n",
        d.generated_at, d.output_dir, d.slo_baseline, d.summary
    );

    out.push_str("## Gates: latest verdict\n\n");
    if d.gates.is_empty() {
        out.push_str("No gate reports.\n\n");
    } else {
        out.push_str("| gate | verdict | runs | started | report | failed checks |\n");
        out.push_str("|---|---|---:|---|---|---|\n");
        for g in &d.gates {
            let _ = writeln!(
                out,
                "| {} | **{}** | {} | {} | {} | {} |",
                md_cell(&g.gate),
                md_cell(&g.verdict),
                g.runs,
                md_cell(&g.started_at),
                md_cell(&g.report),
                md_cell(&g.failed_checks.join(", "))
            );
        }
        out.push('\n');
    }

    out.push_str("## Scenarios: latest verdict and error budget\n\n");
    if d.scenarios.is_empty() {
        out.push_str("No drill reports.\n\n");
    } else {
        out.push_str(
            "Burn rate = error ratio / (1 − objective), errors = 5xx + network errors, \
             over every drill's totals; budget remaining = 1 − burn rate.\n\n",
        );
        out.push_str(
            "| scenario | latest verdict | runs | objective | requests | errors | error ratio | burn rate | budget remaining |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for s in &d.scenarios {
            let _ = writeln!(
                out,
                "| {} | **{}** | {} | {} | {} | {} | {} | {} | {} |",
                md_cell(&s.name),
                md_cell(&s.latest_verdict),
                s.trend.len(),
                pct(s.objective),
                s.budget.requests,
                s.budget.errors,
                pct(s.budget.error_ratio),
                fmt_num(s.budget.burn_rate),
                pct(s.budget.remaining)
            );
        }
        out.push_str("\n## Trends across runs\n\n");
        for s in &d.scenarios {
            let _ = writeln!(out, "### {}\n", md_cell(&s.name));
            out.push_str(
                "| started | profile | verdict | requests | p95 ms | 5xx | network errors | throughput rps | burn rate |\n",
            );
            out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
            for p in &s.trend {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    md_cell(&p.started_at),
                    md_cell(&p.profile),
                    md_cell(&p.verdict),
                    p.requests,
                    fmt_num(p.p95_ms),
                    pct(p.rate_5xx),
                    pct(p.network_error_rate),
                    fmt_num(p.throughput_rps),
                    fmt_num(p.burn_rate)
                );
            }
            out.push('\n');
        }
    }

    out.push_str("## Canary\n\n");
    match &d.canary {
        None => out.push_str("No canary runs.\n\n"),
        Some(c) => {
            let _ = writeln!(
                out,
                "Latest: `{}` ({}), verdict **{}**.\n",
                c.report,
                c.started_at,
                md_cell(&c.verdict)
            );
            if !c.metrics.is_empty() {
                out.push_str("| metric | control | candidate | classification |\n");
                out.push_str("|---|---:|---:|---|\n");
                for m in &c.metrics {
                    let n = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), fmt_num);
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} |",
                        md_cell(&m.name),
                        n(m.control),
                        n(m.candidate),
                        md_cell(m.classification.as_deref().unwrap_or("-"))
                    );
                }
                out.push('\n');
            }
        }
    }

    if !d.game_days.is_empty() {
        out.push_str("## Game days\n\n| started | verdict | report |\n|---|---|---|\n");
        for g in &d.game_days {
            let _ = writeln!(
                out,
                "| {} | **{}** | {} |",
                md_cell(&g.started_at),
                md_cell(&g.verdict),
                md_cell(&g.report)
            );
        }
        out.push('\n');
    }

    if !d.skipped.is_empty() {
        out.push_str("## Skipped files\n\n");
        for s in &d.skipped {
            let _ = writeln!(out, "- `{}`: {}", s.file, md_cell(&s.reason));
        }
        out.push('\n');
    }
    out
}
