//! SVG charts, drawn by hand (no plotting dependency): latency percentiles over time, and latency against
//! throughput for a sweep. The latency axis is logarithmic.
use std::fmt::Write as _;

use crate::report::{Report, SweepReport, Window};

const W: f64 = 900.0;
const H: f64 = 460.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One line of a chart.
struct Series<'a> {
    label: &'a str,
    color: &'a str,
    points: Vec<(f64, f64)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A line chart with a linear x axis and a log10 y axis (values ≤ 0 are left out).
fn chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    hline: Option<(f64, &str)>,
) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(hline.map(|h| h.0))
        .filter(|y| *y > 0.0);
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = if x0 > x1 {
        (0.0, 1.0)
    } else if x0 == x1 {
        (x0 - 1.0, x1 + 1.0)
    } else {
        (x0, x1)
    };
    let (ylo, yhi) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let (d0, d1) = if ylo > yhi {
        (-1, 3)
    } else {
        (
            ylo.log10().floor() as i32,
            (yhi.log10().ceil() as i32).max(ylo.log10().floor() as i32 + 1),
        )
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| TOP + ph - (y.log10() - f64::from(d0)) / f64::from(d1 - d0) * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    // Grid: decades on y, five ticks on x.
    for d in d0..=d1 {
        let v = 10f64.powi(d);
        let y = py(v);
        let label = if v >= 1.0 {
            format!("{v}")
        } else {
            format!("{v:.3}").trim_end_matches('0').to_string()
        };
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let step = nice_step(x1 - x0);
    let mut x = (x0 / step).ceil() * step;
    while x <= x1 + step * 1e-9 {
        let _ = writeln!(
            o,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{TOP}" y2="{1}" stroke="#eee"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3}</text>"##,
            px(x),
            H - BOTTOM,
            H - BOTTOM + 16.0,
            if step >= 1.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        );
        x += step;
    }
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 12.0,
        esc(x_label)
    );
    let _ = writeln!(
        o,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>"#,
        TOP + ph / 2.0,
        esc(y_label)
    );
    if let Some((v, label)) = hline.filter(|h| h.0 > 0.0) {
        let y = py(v);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#c00" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" fill="#c00">{}</text>"##,
            W - RIGHT,
            W - RIGHT + 6.0,
            y + 4.0,
            esc(label)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1 > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        if !pts.is_empty() {
            let _ = writeln!(
                o,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                s.color,
                pts.join(" ")
            );
            for p in &pts {
                let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = writeln!(
                    o,
                    r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{}"/>"#,
                    s.color
                );
            }
        }
        let ly = TOP + 10.0 + 20.0 * i as f64;
        let _ = writeln!(
            o,
            r#"<line x1="{0}" x2="{1}" y1="{ly}" y2="{ly}" stroke="{2}" stroke-width="3"/><text x="{3}" y="{4}">{5}</text>"#,
            W - RIGHT + 14.0,
            W - RIGHT + 38.0,
            s.color,
            W - RIGHT + 44.0,
            ly + 4.0,
            esc(s.label)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// A tick spacing of 1, 2 or 5 × 10^k giving at most about eight ticks over `span`.
fn nice_step(span: f64) -> f64 {
    let raw = (span / 8.0).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

const COLORS: [&str; 4] = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"];
const BASELINE_COLORS: [&str; 2] = ["#7f7f7f", "#9467bd"];

/// Latency percentiles per second of the measured window.
pub fn timeline_svg(r: &Report) -> String {
    type Percentile = fn(&Window) -> f64;
    let pick: [(&str, Percentile); 4] = [
        ("p50", |w| w.p50_ms),
        ("p90", |w| w.p90_ms),
        ("p99", |w| w.p99_ms),
        ("max", |w| w.max_ms),
    ];
    let series: Vec<Series<'_>> = pick
        .iter()
        .zip(COLORS)
        .map(|((label, f), color)| Series {
            label,
            color,
            points: r
                .timeline
                .iter()
                .filter(|w| w.count > 0)
                .map(|w| (w.second as f64, f(w)))
                .collect(),
        })
        .collect();
    chart(
        &format!(
            "{} at {} req/s: latency per second (achieved {:.0} req/s, p99 {:.1} ms)",
            r.scenario, r.load.rate, r.overall.achieved_rps, r.overall.p99_ms
        ),
        "second of the measured window (by intended start)",
        "latency, ms (log)",
        &series,
        None,
    )
}

/// Latency against achieved throughput over a sweep's steps.
pub fn sweep_svg(s: &SweepReport) -> String {
    let point = |f: fn(&crate::report::SweepStep) -> f64| {
        s.steps.iter().map(|st| (st.achieved_rps, f(st))).collect()
    };
    let mut series = vec![
        Series {
            label: "p50",
            color: COLORS[0],
            points: point(|st| st.p50_ms),
        },
        Series {
            label: "p99",
            color: COLORS[2],
            points: point(|st| st.p99_ms),
        },
        Series {
            label: "max",
            color: COLORS[3],
            points: point(|st| st.max_ms),
        },
    ];
    // Each baseline's p99 at the same offered rates, against its own achieved rate.
    let labels: Vec<String> = s
        .steps
        .first()
        .map(|st| {
            st.baselines
                .iter()
                .map(|b| format!("{} p99", b.name))
                .collect()
        })
        .unwrap_or_default();
    for (i, (label, color)) in labels.iter().zip(BASELINE_COLORS).enumerate() {
        series.push(Series {
            label,
            color,
            points: s
                .steps
                .iter()
                .filter_map(|st| st.baselines.get(i))
                .map(|b| (b.achieved_rps, b.p99_ms))
                .collect(),
        });
    }
    let scenario = s.runs.first().map_or("", |r| r.scenario.as_str());
    chart(
        &format!(
            "{scenario}: latency vs throughput (max rate at p99 ≤ {} ms: {})",
            s.slo_p99_ms,
            s.max_rate_meeting_slo
                .map_or("none".into(), |r| format!("{r} req/s"))
        ),
        "achieved req/s",
        "latency, ms (log)",
        &series,
        Some((s.slo_p99_ms, "SLO")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{baseline, sample_report};

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(19.0), 5.0);
        assert_eq!(nice_step(8.0), 1.0);
        assert_eq!(nice_step(1500.0), 200.0);
        assert_eq!(nice_step(2.0), 0.5);
    }

    #[test]
    fn charts_are_well_formed_svg() {
        let r = sample_report(50.0, 900);
        let svg = timeline_svg(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let sweep = SweepReport::new(
            50.0,
            vec![sample_report(50.0, 10), sample_report(100.0, 900)],
        );
        let svg = sweep_svg(&sweep);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("SLO") && !svg.contains("NaN"));
        let with_baselines = |rate, slow| {
            sample_report(rate, slow).with_baselines(vec![
                baseline("echo", 50, 1),
                baseline("thrift-direct", 50, 2),
            ])
        };
        let sweep = SweepReport::new(
            50.0,
            vec![with_baselines(50.0, 10), with_baselines(100.0, 900)],
        );
        let svg = sweep_svg(&sweep);
        assert_eq!(svg.matches("<polyline").count(), 5);
        assert!(svg.contains("echo p99") && svg.contains("thrift-direct p99"));
        // An empty run still draws axes.
        let mut empty = r.clone();
        empty.timeline.clear();
        assert!(timeline_svg(&empty).contains("</svg>"));
    }
}
