//! Charts as inline SVG, drawn here in Rust: line charts (with points),
//! grouped bar charts and 100%-stacked bars. Each function returns the
//! `<svg>` element, or `None` when there is nothing to draw. The markup has
//! no external references (no `xmlns`, fonts or links): it is meant to be
//! inlined in HTML, where SVG needs no namespace declaration.
//!
//! Drawn marks carry classes the page and its test look for: `series`
//! (a line), `point` (a circle on it), `bar` (a rectangle).

use std::fmt::Write;

use crate::report::xml_escape;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 42.0;
const BOTTOM: f64 = 44.0;
/// Lines with more points than this get no circles.
const MAX_POINTS: usize = 240;

/// Colors of series, in order (colorblind-friendly, Okabe–Ito).
pub const PALETTE: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

/// The color of series number `i`.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A named line of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name, in the legend.
    pub name: String,
    /// Its points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct LineChart<'a> {
    /// Label of the x axis.
    pub x_label: &'a str,
    /// Label of the y axis.
    pub y_label: &'a str,
    /// The lines.
    pub series: &'a [Series],
    /// Labels of the x positions 0, 1, 2, ... (runs), instead of numbers.
    pub x_names: Option<&'a [String]>,
    /// A dashed horizontal line at this y, with its label.
    pub reference: Option<(f64, &'a str)>,
}

/// A group of bars sharing a label.
#[derive(Debug, Clone)]
pub struct BarGroup {
    /// The group's label on the x axis.
    pub label: String,
    /// `(series index, value)` per bar; the index picks the legend entry.
    pub bars: Vec<(usize, f64)>,
}

/// A grouped bar chart.
#[derive(Debug, Clone)]
pub struct BarChart<'a> {
    /// Label of the y axis.
    pub y_label: &'a str,
    /// Names of the bar series, in the legend.
    pub legend: &'a [String],
    /// The groups.
    pub groups: &'a [BarGroup],
    /// Scale each group to its own largest bar (figures of unlike units),
    /// writing each bar's value above it; the y axis is then relative.
    pub per_group_scale: bool,
}

/// A compact number: `1234` → `1234`, `0.0123` → `0.0123`, `12.345` → `12.3`.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_owned()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The smallest "nice" number (1, 2, 2.5, 5 × 10^k) at least `v`.
fn nice_ceil(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let exp = v.log10().floor();
    let base = 10f64.powf(exp);
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * base)
}

fn open_svg(out: &mut String, label: &str) {
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         role=\"img\" aria-label=\"{}\">",
        xml_escape(label)
    );
}

fn legend(out: &mut String, names: &[String]) {
    let (mut x, mut y) = (LEFT, 6.0);
    for (i, name) in names.iter().enumerate() {
        let width = 24.0 + 6.5 * name.chars().count() as f64;
        if x > LEFT && x + width > WIDTH - RIGHT {
            // Wrap to a second row (further rows overlap the plot's top).
            x = LEFT;
            y += 14.0;
        }
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"legend\">{}</text>",
            color(i),
            x + 14.0,
            y + 9.0,
            xml_escape(name)
        );
        x += width;
    }
}

/// The y axis from 0 to `max` (nice), with grid lines; returns the y scale.
fn y_axis(out: &mut String, max: f64, label: &str, relative: bool) -> impl Fn(f64) -> f64 + use<> {
    let top = nice_ceil(max);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let scale = move |v: f64| HEIGHT - BOTTOM - (v / top).clamp(0.0, 1.2) * plot_h;
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = scale(v);
        let text = if relative {
            format!("{}%", i * 25)
        } else {
            fmt_num(v)
        };
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{text}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis-label\" transform=\"translate(14 {:.1}) rotate(-90)\" \
         text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        xml_escape(label)
    );
    scale
}

fn x_label(out: &mut String, label: &str) {
    let _ = write!(
        out,
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 6.0,
        xml_escape(label)
    );
}

/// A line chart, or `None` when no series has a finite point.
pub fn line_chart(chart: &LineChart<'_>) -> Option<String> {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let all: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter(finite).copied())
        .collect();
    if all.is_empty() {
        return None;
    }
    let (mut x_min, mut x_max) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
    if let Some(names) = chart.x_names {
        // Runs sit in the middle of equal slots, so end labels fit.
        x_min = -0.5;
        x_max = names.len().max(1) as f64 - 0.5;
    } else if (x_max - x_min).abs() < f64::EPSILON {
        x_min -= 1.0;
        x_max += 1.0;
    }
    let mut y_max = all.iter().map(|p| p.1).fold(0.0, f64::max);
    if let Some((r, _)) = chart.reference {
        y_max = y_max.max(r * 1.1);
    }
    let mut out = String::new();
    open_svg(&mut out, chart.y_label);
    let names: Vec<String> = chart.series.iter().map(|s| s.name.clone()).collect();
    legend(&mut out, &names);
    let y = y_axis(&mut out, y_max, chart.y_label, false);
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |v: f64| LEFT + (v - x_min) / (x_max - x_min) * plot_w;
    // x ticks: the names of runs, or five numbers.
    match chart.x_names {
        Some(names) => {
            let step = names.len().div_ceil(8).max(1);
            for (i, name) in names.iter().enumerate().step_by(step) {
                let _ = write!(
                    out,
                    "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    x(i as f64),
                    HEIGHT - BOTTOM + 16.0,
                    xml_escape(name)
                );
            }
        }
        None => {
            for i in 0..=4 {
                let v = x_min + (x_max - x_min) * f64::from(i) / 4.0;
                let _ = write!(
                    out,
                    "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    x(v),
                    HEIGHT - BOTTOM + 16.0,
                    fmt_num(v)
                );
            }
        }
    }
    x_label(&mut out, chart.x_label);
    if let Some((r, label)) = chart.reference {
        let ry = y(r);
        let _ = write!(
            out,
            "<line class=\"reference\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{ry:.1}\" y2=\"{ry:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            WIDTH - RIGHT,
            ry - 4.0,
            xml_escape(label)
        );
    }
    for (i, s) in chart.series.iter().enumerate() {
        let points: Vec<(f64, f64)> = s.points.iter().filter(finite).copied().collect();
        if points.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (j, (px, py)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if j == 0 { "M" } else { " L" },
                x(*px),
                y(*py)
            );
        }
        let _ = write!(
            out,
            "<path class=\"series\" d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"><title>{}</title></path>",
            color(i),
            xml_escape(&s.name)
        );
        if points.len() <= MAX_POINTS {
            for (px, py) in &points {
                let _ = write!(
                    out,
                    "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{}: {}</title></circle>",
                    x(*px),
                    y(*py),
                    color(i),
                    xml_escape(&s.name),
                    fmt_num(*py)
                );
            }
        }
    }
    out.push_str("</svg>");
    Some(out)
}

/// A grouped bar chart, or `None` when there are no bars.
pub fn bar_chart(chart: &BarChart<'_>) -> Option<String> {
    let bars = chart.groups.iter().map(|g| g.bars.len()).sum::<usize>();
    if bars == 0 {
        return None;
    }
    let finite_max = |bars: &[(usize, f64)]| {
        bars.iter()
            .map(|b| b.1)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    };
    let global_max = chart
        .groups
        .iter()
        .map(|g| finite_max(&g.bars))
        .fold(0.0, f64::max);
    let mut out = String::new();
    open_svg(&mut out, chart.y_label);
    legend(&mut out, chart.legend);
    let y = y_axis(
        &mut out,
        if chart.per_group_scale {
            1.0
        } else {
            global_max
        },
        chart.y_label,
        chart.per_group_scale,
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let group_w = plot_w / chart.groups.len() as f64;
    for (gi, group) in chart.groups.iter().enumerate() {
        let gx = LEFT + gi as f64 * group_w;
        let n = group.bars.len().max(1) as f64;
        let bar_w = (group_w * 0.8 / n).min(60.0);
        let start = gx + (group_w - bar_w * n) / 2.0;
        let group_max = finite_max(&group.bars);
        for (bi, (series, value)) in group.bars.iter().enumerate() {
            let value = if value.is_finite() { *value } else { 0.0 };
            let shown = if chart.per_group_scale {
                if group_max > 0.0 {
                    value / group_max
                } else {
                    0.0
                }
            } else {
                value
            };
            let top = y(shown);
            let bx = start + bi as f64 * bar_w;
            // A zero still shows as a hairline, so that every bar is drawn.
            let h = (HEIGHT - BOTTOM - top).max(1.0);
            let name = chart.legend.get(*series).map_or("", String::as_str);
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{} {}: {}</title></rect>",
                HEIGHT - BOTTOM - h,
                (bar_w - 2.0).max(1.0),
                color(*series),
                xml_escape(&group.label),
                xml_escape(name),
                fmt_num(value)
            );
            if chart.per_group_scale {
                let _ = write!(
                    out,
                    "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    bx + bar_w / 2.0,
                    HEIGHT - BOTTOM - h - 3.0,
                    fmt_num(value)
                );
            }
        }
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            gx + group_w / 2.0,
            HEIGHT - BOTTOM + 16.0,
            xml_escape(&group.label)
        );
    }
    out.push_str("</svg>");
    Some(out)
}

/// Horizontal bars each split into shares of 100% (e.g. responses by
/// status per scenario). Rows are `(label, [(part name, count)])`; the
/// legend lists every part name in first-seen order. `None` when every
/// row is empty.
pub fn stacked_bars(rows: &[(String, Vec<(String, u64)>)]) -> Option<String> {
    if rows.iter().all(|(_, parts)| parts.iter().all(|p| p.1 == 0)) {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for (_, parts) in rows {
        for (name, _) in parts {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    let mut out = String::new();
    open_svg(&mut out, "share of requests");
    legend(&mut out, &names);
    let left = 150.0;
    let plot_w = WIDTH - left - RIGHT;
    let row_h = ((HEIGHT - TOP - BOTTOM) / rows.len() as f64).min(48.0);
    for (ri, (label, parts)) in rows.iter().enumerate() {
        let total: u64 = parts.iter().map(|p| p.1).sum();
        let ry = TOP + 8.0 + ri as f64 * row_h;
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            ry + row_h * 0.45,
            xml_escape(label)
        );
        if total == 0 {
            continue;
        }
        let mut x = left;
        for (name, count) in parts {
            if *count == 0 {
                continue;
            }
            let share = *count as f64 / total as f64;
            let w = (share * plot_w).max(1.0);
            let ci = names.iter().position(|n| n == name).unwrap_or(0);
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{ry:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{} {}: {count} ({:.2}%)</title></rect>",
                row_h * 0.7,
                color(ci),
                xml_escape(label),
                xml_escape(name),
                share * 100.0
            );
            x += w;
        }
    }
    for i in 0..=4 {
        let x = left + plot_w * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}%</text>",
            HEIGHT - BOTTOM + 16.0,
            i * 25
        );
    }
    out.push_str("</svg>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(7.0), 10.0);
        assert_eq!(nice_ceil(180.0), 200.0);
        assert_eq!(nice_ceil(0.021), 0.025);
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(0.05), "0.05");
        assert_eq!(fmt_num(1500.0), "1500");
    }

    #[test]
    fn a_line_chart_draws_every_series_and_point() {
        let series = [
            Series {
                name: "a<b".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN)],
            },
            Series {
                name: "c".into(),
                points: vec![(0.0, 3.0)],
            },
        ];
        let svg = line_chart(&LineChart {
            x_label: "second",
            y_label: "ms",
            series: &series,
            x_names: None,
            reference: Some((1.0, "budget")),
        })
        .unwrap();
        assert_eq!(svg.matches("class=\"series\"").count(), 2);
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        assert!(!svg.contains("NaN"));
        assert!(
            line_chart(&LineChart {
                series: &[],
                ..LineChart {
                    x_label: "",
                    y_label: "",
                    series: &[],
                    x_names: None,
                    reference: None
                }
            })
            .is_none()
        );
    }

    #[test]
    fn bars_and_stacks() {
        let legend = ["control".to_owned(), "candidate".to_owned()];
        let groups = [BarGroup {
            label: "p95".into(),
            bars: vec![(0, 10.0), (1, 0.0)],
        }];
        let svg = bar_chart(&BarChart {
            y_label: "relative",
            legend: &legend,
            groups: &groups,
            per_group_scale: true,
        })
        .unwrap();
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        let rows = [(
            "s".to_owned(),
            vec![("200".to_owned(), 95), ("503".to_owned(), 5)],
        )];
        let svg = stacked_bars(&rows).unwrap();
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert!(stacked_bars(&[("s".to_owned(), vec![])]).is_none());
    }
}
