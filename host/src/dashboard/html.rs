//! `slo-dashboard.html`: one self-contained page. Styles are inline, the
//! charts are inline SVG (see [`super::svg`]) and a Content-Security-Policy
//! forbids every fetch, so it opens offline and never reaches the network.
//!
//! A small inline script checks, once laid out, that each chart drew
//! something (marks with a non-empty box) and marks its figure
//! `data-drawn="true"` (or `"empty"` when there was no data); script errors
//! are written into `#page-errors`. Nothing else depends on the script.

use std::fmt::Write;

use super::model::{Dashboard, ScenarioView};
use super::svg::{self, BarChart, BarGroup, LineChart, Series, fmt_num};
use crate::report::xml_escape;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1b1b;background:#fafafa}
h1{margin:0 0 4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:2px 0}.notice{background:#fff3cd;border:1px solid #e0c36b;padding:12px;border-radius:6px}
table{border-collapse:collapse;margin:8px 0;background:#fff}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:14px}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600}.fail,.error{color:#cf222e;font-weight:600}.other{color:#9a6700;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure.chart{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}p.empty{color:#777;width:640px}
svg text{font-size:11px;fill:#333}svg .grid{stroke:#e5e5e5}svg .reference{stroke:#cf222e;stroke-dasharray:6 4}
svg .axis-label{font-size:12px;fill:#555}
#page-errors:empty{display:none}#page-errors{color:#cf222e}
";

const CHECK_SCRIPT: &str = "
(function(){
  var figures = document.querySelectorAll('figure.chart');
  for (var i = 0; i < figures.length; i++) {
    var f = figures[i];
    var svgEl = f.querySelector('svg');
    if (!svgEl) { f.setAttribute('data-drawn', 'empty'); continue; }
    var marks = svgEl.querySelectorAll('path.series, circle.point, rect.bar');
    var drawn = 0;
    for (var j = 0; j < marks.length; j++) {
      var b = marks[j].getBBox();
      if (isFinite(b.width) && isFinite(b.height) && (b.width > 0 || b.height > 0)) { drawn++; }
    }
    f.setAttribute('data-marks', String(drawn));
    f.setAttribute('data-drawn', drawn > 0 ? 'true' : 'false');
  }
  document.body.setAttribute('data-checked', 'true');
})();
";

const ERROR_SCRIPT: &str = "
window.addEventListener('error', function (e) {
  var box = document.getElementById('page-errors');
  var line = document.createElement('li');
  line.textContent = String(e.message || e.type);
  if (box) { box.appendChild(line); }
});
";

fn verdict_class(verdict: &str) -> &'static str {
    match verdict {
        "pass" => "pass",
        "fail" => "fail",
        "error" => "error",
        _ => "other",
    }
}

fn verdict_cell(verdict: &str) -> String {
    format!(
        "<td class=\"{}\">{}</td>",
        verdict_class(verdict),
        xml_escape(verdict)
    )
}

fn num_cell(v: f64) -> String {
    format!("<td class=\"num\">{}</td>", fmt_num(v))
}

fn pct_cell(v: f64) -> String {
    format!("<td class=\"num\">{}%</td>", fmt_num(v * 100.0))
}

/// `HH:MM:SS` of an RFC 3339 time, or the text itself.
fn short_time(t: &str) -> String {
    t.get(11..19).unwrap_or(t).to_owned()
}

fn figure(out: &mut String, id: &str, title: &str, svg: Option<String>, empty: &str) {
    let _ = write!(
        out,
        "<figure class=\"chart\" id=\"chart-{id}\" data-chart=\"{id}\"><figcaption>{}</figcaption>",
        xml_escape(title)
    );
    match svg {
        Some(svg) => out.push_str(&svg),
        None => {
            let _ = write!(out, "<p class=\"empty\">{}</p>", xml_escape(empty));
        }
    }
    out.push_str("</figure>\n");
}

/// Every drill run, in time order, as `(started_at, report)`.
fn runs(scenarios: &[ScenarioView]) -> Vec<(String, String)> {
    let mut runs: Vec<(String, String)> = scenarios
        .iter()
        .flat_map(|s| {
            s.trend
                .iter()
                .map(|p| (p.started_at.clone(), p.report.clone()))
        })
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

/// One line per scenario of `figure(point)` across runs.
fn across_runs(
    scenarios: &[ScenarioView],
    runs: &[(String, String)],
    figure: impl Fn(&super::model::TrendPoint) -> f64,
) -> Vec<Series> {
    scenarios
        .iter()
        .map(|s| Series {
            name: s.name.clone(),
            points: s
                .trend
                .iter()
                .filter_map(|p| {
                    runs.iter()
                        .position(|r| r.1 == p.report)
                        .map(|i| (i as f64, figure(p)))
                })
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

fn charts(out: &mut String, d: &Dashboard) {
    out.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
    let no_drill = "no drill reports";
    let latest = d.latest_drill.as_ref();
    // Latency: the newest drill's per-second p95, and p95 across runs.
    let series: Vec<Series> = latest
        .map(|l| {
            l.scenarios
                .iter()
                .map(|s| Series {
                    name: format!("{} p95", s.name),
                    points: s
                        .series
                        .iter()
                        .map(|p| (f64::from(p.second), p.p95_ms))
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    let title = match latest {
        Some(l) => format!("Latency p95 per second — latest drill ({})", l.report),
        None => "Latency p95 per second — latest drill".to_owned(),
    };
    let svg = svg::line_chart(&LineChart {
        x_label: "seconds since the drill start",
        y_label: "p95 latency (ms)",
        series: &series,
        x_names: None,
        reference: None,
    });
    figure(out, "latency-series", &title, svg, no_drill);

    let runs = runs(&d.scenarios);
    let names: Vec<String> = runs.iter().map(|r| short_time(&r.0)).collect();
    let mut runs_chart = |id: &str, title: &str, y_label: &str, series: Vec<Series>, reference| {
        let svg = svg::line_chart(&LineChart {
            x_label: "drill runs, in time order (start, UTC)",
            y_label,
            series: &series,
            x_names: Some(&names),
            reference,
        });
        figure(out, id, title, svg, no_drill);
    };
    runs_chart(
        "latency-runs",
        "Latency p95 across runs",
        "p95 latency (ms)",
        across_runs(&d.scenarios, &runs, |p| p.p95_ms),
        None,
    );
    let mut error_series = across_runs(&d.scenarios, &runs, |p| p.rate_5xx * 100.0);
    for s in &mut error_series {
        s.name.push_str(" 5xx");
    }
    let mut network = across_runs(&d.scenarios, &runs, |p| p.network_error_rate * 100.0);
    for s in &mut network {
        s.name.push_str(" network");
    }
    error_series.extend(network);
    runs_chart(
        "error-rates",
        "5xx and network error rates across runs",
        "% of requests",
        error_series,
        None,
    );
    runs_chart(
        "throughput-runs",
        "Throughput across runs",
        "requests per second",
        across_runs(&d.scenarios, &runs, |p| p.throughput_rps),
        None,
    );
    runs_chart(
        "burn-rate",
        "Error-budget burn rate across runs (1 = budget spent exactly)",
        "burn rate",
        across_runs(&d.scenarios, &runs, |p| p.burn_rate),
        Some((1.0, "budget")),
    );

    // Throughput per stage of the newest drill.
    let legend: Vec<String> = latest
        .map(|l| l.scenarios.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    let groups: Vec<BarGroup> = latest
        .map(|l| {
            l.scenarios
                .iter()
                .enumerate()
                .flat_map(|(i, s)| {
                    s.stages.iter().map(move |st| BarGroup {
                        label: st.name.clone(),
                        bars: vec![(i, st.throughput_rps)],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let svg = svg::bar_chart(&BarChart {
        y_label: "requests per second",
        legend: &legend,
        groups: &groups,
        per_group_scale: false,
    });
    figure(
        out,
        "throughput-stages",
        "Throughput per stage — latest drill",
        svg,
        no_drill,
    );

    // Status mix of the newest drill.
    let rows: Vec<(String, Vec<(String, u64)>)> = latest
        .map(|l| {
            l.scenarios
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.status_mix.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    figure(
        out,
        "status-mix",
        "Status mix — latest drill (statuses and network error classes)",
        svg::stacked_bars(&rows),
        no_drill,
    );

    // Canary: control versus candidate per metric.
    let legend = ["control".to_owned(), "candidate".to_owned()];
    let (svg, empty) = match &d.canary {
        None => (None, "no canary runs"),
        Some(c) => {
            let groups: Vec<BarGroup> = c
                .metrics
                .iter()
                .map(|m| BarGroup {
                    label: m.name.clone(),
                    bars: [m.control.map(|v| (0, v)), m.candidate.map(|v| (1, v))]
                        .into_iter()
                        .flatten()
                        .collect(),
                })
                .collect();
            (
                svg::bar_chart(&BarChart {
                    y_label: "relative to the larger of the two",
                    legend: &legend,
                    groups: &groups,
                    per_group_scale: true,
                }),
                "the latest canary report has no control/candidate figures",
            )
        }
    };
    let title = match &d.canary {
        Some(c) => format!(
            "Canary: control vs candidate — {} ({})",
            c.report, c.verdict
        ),
        None => "Canary: control vs candidate".to_owned(),
    };
    figure(out, "canary", &title, svg, empty);
    out.push_str("</div>\n");
}

fn tables(out: &mut String, d: &Dashboard) {
    out.push_str("<h2>Gates — latest verdict</h2>\n");
    if d.gates.is_empty() {
        out.push_str("<p class=\"empty\">no gate reports</p>\n");
    } else {
        out.push_str(
            "<table id=\"gates\"><tr><th>gate</th><th>verdict</th><th>runs</th><th>started</th>\
             <th>report</th><th>failed checks</th></tr>\n",
        );
        for g in &d.gates {
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{}<td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                xml_escape(&g.gate),
                verdict_cell(&g.verdict),
                g.runs,
                xml_escape(&g.started_at),
                xml_escape(&g.report),
                xml_escape(&g.failed_checks.join(", "))
            );
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h2>Scenarios — latest verdict and error budget</h2>\n");
    if d.scenarios.is_empty() {
        out.push_str("<p class=\"empty\">no drill reports</p>\n");
    } else {
        out.push_str(
            "<table id=\"scenarios\"><tr><th>scenario</th><th>latest verdict</th><th>runs</th>\
             <th>objective</th><th>requests</th><th>errors (5xx + network)</th><th>error ratio</th>\
             <th>burn rate</th><th>budget remaining</th></tr>\n",
        );
        for s in &d.scenarios {
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{}<td class=\"num\">{}</td>{}<td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td>{}{}{}</tr>",
                xml_escape(&s.name),
                verdict_cell(&s.latest_verdict),
                s.trend.len(),
                pct_cell(s.objective),
                s.budget.requests,
                s.budget.errors,
                pct_cell(s.budget.error_ratio),
                num_cell(s.budget.burn_rate),
                pct_cell(s.budget.remaining)
            );
        }
        out.push_str("</table>\n<h2>Trends across runs</h2>\n");
        out.push_str(
            "<table id=\"trends\"><tr><th>scenario</th><th>started</th><th>profile</th>\
             <th>verdict</th><th>requests</th><th>p95 ms</th><th>5xx</th><th>network errors</th>\
             <th>throughput rps</th><th>burn rate</th></tr>\n",
        );
        for s in &d.scenarios {
            for p in &s.trend {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td class=\"num\">{}</td>{}{}{}{}{}</tr>",
                    xml_escape(&s.name),
                    xml_escape(&p.started_at),
                    xml_escape(&p.profile),
                    verdict_cell(&p.verdict),
                    p.requests,
                    num_cell(p.p95_ms),
                    pct_cell(p.rate_5xx),
                    pct_cell(p.network_error_rate),
                    num_cell(p.throughput_rps),
                    num_cell(p.burn_rate)
                );
            }
        }
        out.push_str("</table>\n");
    }

    if let Some(c) = &d.canary
        && !c.metrics.is_empty()
    {
        out.push_str(
            "<h2>Canary — latest</h2>\n<table id=\"canary\"><tr><th>metric</th>\
             <th>control</th><th>candidate</th><th>classification</th></tr>\n",
        );
        for m in &c.metrics {
            let cell = |v: Option<f64>| v.map_or_else(|| "<td>-</td>".to_owned(), num_cell);
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{}{}<td>{}</td></tr>",
                xml_escape(&m.name),
                cell(m.control),
                cell(m.candidate),
                xml_escape(m.classification.as_deref().unwrap_or("-"))
            );
        }
        out.push_str("</table>\n");
    }

    if !d.game_days.is_empty() {
        out.push_str(
            "<h2>Game days</h2>\n<table id=\"game-days\"><tr><th>started</th><th>verdict</th>\
             <th>report</th></tr>\n",
        );
        for g in &d.game_days {
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{}<td>{}</td></tr>",
                xml_escape(&g.started_at),
                verdict_cell(&g.verdict),
                xml_escape(&g.report)
            );
        }
        out.push_str("</table>\n");
    }

    if !d.skipped.is_empty() {
        out.push_str("<h2>Skipped files</h2>\n<ul id=\"skipped\">\n");
        for s in &d.skipped {
            let _ = writeln!(
                out,
                "<li><code>{}</code>: {}</li>",
                xml_escape(&s.file),
                xml_escape(&s.reason)
            );
        }
        out.push_str("</ul>\n");
    }
}

/// Renders the page.
pub fn render(d: &Dashboard) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>relhost SLO dashboard</title><style>{STYLE}</style><script>{ERROR_SCRIPT}</script>\
         </head>\n<body>\n<h1>relhost SLO dashboard</h1>\n"
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\">generated {} from <code>{}</code>; objectives from {}</p>\n\
         <p class=\"meta\" id=\"summary\">{}</p>",
        xml_escape(&d.generated_at),
        xml_escape(&d.output_dir),
        xml_escape(&d.slo_baseline),
        xml_escape(&d.summary)
    );
    if d.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"notice\" id=\"no-reports\">{}</p>",
            xml_escape(&d.summary)
        );
    }
    out.push_str("<ul id=\"page-errors\"></ul>\n");
    tables(&mut out, d);
    charts(&mut out, d);
    let _ = write!(out, "<script>{CHECK_SCRIPT}</script>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::collect::Collected;
    use crate::dashboard::model::Dashboard;
    use crate::policy::{PolicyDocument, SloBaseline};

    fn empty_dashboard() -> Dashboard {
        let baseline = SloBaseline::builtin(&()).unwrap();
        Dashboard::build(
            &Collected::default(),
            &baseline,
            "builtin",
            std::path::Path::new("out"),
        )
    }

    #[test]
    fn the_page_references_nothing_online() {
        let html = render(&empty_dashboard()).to_ascii_lowercase();
        for needle in ["http://", "https://", "src=", "url(", "@import", "//cdn"] {
            assert!(!html.contains(needle), "{needle} in the page");
        }
        assert!(html.contains("default-src 'none'"), "CSP missing");
    }

    #[test]
    fn no_reports_is_said_and_every_chart_has_a_figure() {
        let html = render(&empty_dashboard());
        assert!(html.contains("id=\"no-reports\""));
        assert!(html.contains("no canary runs"));
        for id in [
            "latency-series",
            "latency-runs",
            "error-rates",
            "throughput-runs",
            "burn-rate",
            "throughput-stages",
            "status-mix",
            "canary",
        ] {
            assert!(html.contains(&format!("id=\"chart-{id}\"")), "{id}");
        }
    }
}
