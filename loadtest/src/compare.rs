//! `--compare-tracing`: the cost of tracing, measured in one invocation. The real `thriftshop` binary runs as a
//! child process twice — tracing off (no OTLP endpoint), then tracing on at 100 % sampling exporting to an
//! OTLP/HTTP sink in this process ([`OtlpSink`]) — each on fresh loopback ports and a fresh data directory, and
//! the same scenario runs against each at the same offered rate, warm-up and duration, through the same
//! [`Session::run`] (open loop, latency from the intended start). The report puts both side by side with the
//! ratios on ÷ off.
use std::{fmt::Write as _, path::PathBuf};

use serde::Serialize;

use crate::{
    Session,
    child::ChildShop,
    otlp_sink::{OtlpSink, SinkCounts},
    report::{OpReport, Ratio, Report},
    schedule::LoadSpec,
    world::SetupOptions,
};

/// What a comparison runs.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The `thriftshop` binary (the all-in-one shop when run without arguments).
    pub binary: PathBuf,
    pub setup: SetupOptions,
    pub spec: LoadSpec,
    /// Recorded in the reports.
    pub args: Vec<String>,
}

/// One of the two runs.
#[derive(Debug, Clone, Serialize)]
pub struct TracingPhase {
    /// `off` or `on`.
    pub tracing: &'static str,
    /// Where the shop exported spans (`None`: tracing off).
    pub otlp_endpoint: Option<String>,
    pub sampling_ratio: Option<f64>,
    /// Everything the sink received from this shop: setup, warm-up, measured window and the flush at exit.
    pub spans: SinkCounts,
    /// What the sink received while the run (warm-up and measured window) lasted; the batch exporter sends
    /// every second, so about a second's spans shift in from setup and out to the flush at exit.
    pub spans_during_run: SinkCounts,
    /// `spans_during_run.spans` ÷ requests sent during the run (warm-up included).
    pub spans_per_request: Option<f64>,
    /// Whether the shop exited on SIGTERM (else it was killed).
    pub exited_on_sigterm: bool,
    pub report: Report,
}

/// A comparison's per-operation figures.
#[derive(Debug, Clone, Serialize)]
pub struct OpComparison {
    pub name: String,
    pub off_p50_ms: f64,
    pub on_p50_ms: f64,
    pub off_p99_ms: f64,
    pub on_p99_ms: f64,
    /// on ÷ off.
    pub ratio: Ratio,
}

/// Tracing at 100 % sampling against tracing off, same scenario and load, one invocation.
#[derive(Debug, Clone, Serialize)]
pub struct TracingComparison {
    pub what: &'static str,
    pub binary: String,
    pub off: TracingPhase,
    pub on: TracingPhase,
    /// Overall figures, on ÷ off (p50, p99, achieved rate).
    pub ratio: Ratio,
    /// The shop's CPU over the measured window, on ÷ off (Linux only).
    pub shop_cpu_ratio: Option<f64>,
    pub operations: Vec<OpComparison>,
}

fn ratio(on: f64, off: f64) -> Option<f64> {
    (off > 0.0 && on.is_finite()).then(|| on / off)
}

fn shop_cores(r: &Report) -> Option<f64> {
    r.usage.as_ref().and_then(|u| u.child_shop_cores)
}

/// Runs the scenario against the binary with tracing off, then on; see the module's documentation.
pub async fn compare_tracing(opts: &CompareOptions) -> anyhow::Result<TracingComparison> {
    opts.spec.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let sink = OtlpSink::start()?;
    let endpoint = sink.endpoint();
    let mut phases = Vec::new();
    for on in [false, true] {
        let tracing = if on { "on" } else { "off" };
        let otlp = on.then(|| endpoint.clone());
        let before = sink.counts();
        let shop = ChildShop::start(&opts.binary, otlp.as_deref()).await?;
        eprintln!(
            "tracing {tracing}: {} (pid {}) ready at {}{}; setting up…",
            opts.binary.display(),
            shop.pid().unwrap_or(0),
            shop.url,
            otlp.as_deref()
                .map(|e| format!(", exporting every span to {e}"))
                .unwrap_or_default()
        );
        let session = Session::new(
            &shop.url,
            opts.setup.clone(),
            opts.spec.max_in_flight,
            opts.args.clone(),
        )
        .await?
        .child_shop(shop.pid());
        eprintln!(
            "tracing {tracing}: running {} at {} req/s for {:?} after {:?} warm-up…",
            opts.setup.scenario.name(),
            opts.spec.rate,
            opts.spec.duration,
            opts.spec.warmup
        );
        let run_start = sink.counts();
        let report = session.run(&opts.spec).await;
        let spans_during_run = sink.counts().since(run_start);
        drop(session);
        let exited_on_sigterm = shop.stop().await;
        let spans = sink.counts().since(before);
        let sent = opts.spec.rate * (opts.spec.warmup + opts.spec.duration).as_secs_f64();
        eprintln!(
            "tracing {tracing}: achieved {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms; {} spans received",
            report.overall.achieved_rps, report.overall.p50_ms, report.overall.p99_ms, spans.spans
        );
        phases.push(TracingPhase {
            tracing,
            otlp_endpoint: otlp,
            sampling_ratio: on.then_some(1.0),
            spans,
            spans_during_run,
            spans_per_request: (sent > 0.0).then(|| spans_during_run.spans as f64 / sent),
            exited_on_sigterm,
            report,
        });
    }
    let on = phases.pop().expect("two phases");
    let off = phases.pop().expect("two phases");
    Ok(TracingComparison::new(
        opts.binary.display().to_string(),
        off,
        on,
    ))
}

impl TracingComparison {
    /// The comparison of two phases' reports.
    pub fn new(binary: String, off: TracingPhase, on: TracingPhase) -> Self {
        let operations = off
            .report
            .operations
            .iter()
            .filter_map(|a| {
                let b = on.report.operations.iter().find(|b| b.name == a.name)?;
                Some(OpComparison {
                    name: a.name.clone(),
                    off_p50_ms: a.p50_ms,
                    on_p50_ms: b.p50_ms,
                    off_p99_ms: a.p99_ms,
                    on_p99_ms: b.p99_ms,
                    ratio: Ratio::of(b, a),
                })
            })
            .collect();
        Self {
            what: "the same scenario, offered rate, warm-up and duration against the thriftshop binary as a \
                   child process, first with tracing off (no OTLP endpoint), then with tracing on at 100 % \
                   sampling exporting over OTLP/HTTP to a counting sink in the generator; ratio = on ÷ off",
            binary,
            ratio: Ratio::of(&on.report.overall, &off.report.overall),
            shop_cpu_ratio: shop_cores(&on.report)
                .zip(shop_cores(&off.report))
                .and_then(|(on, off)| ratio(on, off)),
            operations,
            off,
            on,
        }
    }

    /// Both phases' reports, then the side-by-side table.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        for p in [&self.off, &self.on] {
            let _ = writeln!(o, "=== tracing {} ===", p.tracing);
            o.push_str(&p.report.to_text());
            o.push('\n');
        }
        o.push_str(&self.summary_text());
        o
    }

    /// The side-by-side table of the two phases and their ratios.
    pub fn summary_text(&self) -> String {
        let mut o = String::new();
        let x = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.3}"));
        let l = &self.off.report.load;
        let _ = writeln!(
            o,
            "tracing overhead: {} at {} req/s ({:?}) for {} s after {} s warm-up against {}, tracing off vs on \
             (100 % sampling, OTLP/HTTP to a counting sink in the generator); ratio = on ÷ off",
            self.off.report.scenario,
            l.rate,
            l.arrival,
            l.duration.as_secs_f64(),
            l.warmup.as_secs_f64(),
            self.binary,
        );
        let _ = writeln!(
            o,
            "{:<9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>10} {:>9} {:>9}",
            "tracing",
            "offered/s",
            "achvd/s",
            "count",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "failures",
            "shop cpu",
            "spans",
            "exports",
            "spans/req",
        );
        for p in [&self.off, &self.on] {
            let r: &OpReport = &p.report.overall;
            let _ = writeln!(
                o,
                "{:<9} {:>9.1} {:>9.1} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>9} {:>10} {:>9} {:>9}",
                p.tracing,
                r.offered_rps,
                r.achieved_rps,
                r.count,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                r.failures(),
                shop_cores(&p.report).map_or("-".into(), |c| format!("{c:.2}")),
                p.spans.spans,
                p.spans.requests,
                p.spans_per_request
                    .map_or("-".into(), |s| format!("{s:.1}")),
            );
        }
        let (a, b) = (&self.off.report.overall, &self.on.report.overall);
        let _ = writeln!(
            o,
            "{:<9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "on ÷ off",
            "",
            x(self.ratio.achieved_rps),
            "",
            x(self.ratio.p50),
            x(ratio(b.p90_ms, a.p90_ms)),
            x(self.ratio.p99),
            x(ratio(b.max_ms, a.max_ms)),
            "",
            x(self.shop_cpu_ratio),
        );
        let _ = writeln!(
            o,
            "\nper operation:\n{:<24} {:>11} {:>11} {:>7} {:>11} {:>11} {:>7}",
            "operation", "off p50 ms", "on p50 ms", "p50 ×", "off p99 ms", "on p99 ms", "p99 ×"
        );
        for c in &self.operations {
            let _ = writeln!(
                o,
                "{:<24} {:>11.2} {:>11.2} {:>7} {:>11.2} {:>11.2} {:>7}",
                c.name,
                c.off_p50_ms,
                c.on_p50_ms,
                x(c.ratio.p50),
                c.off_p99_ms,
                c.on_p99_ms,
                x(c.ratio.p99),
            );
        }
        for p in [&self.off, &self.on] {
            let other = p.report.usage.as_ref().map_or(String::new(), |u| {
                format!(", other processes {:.2} cores", u.other_cores)
            });
            let _ = writeln!(
                o,
                "tracing {}: {} spans in {} export requests ({} KiB, {} malformed; {} while the run lasted){other}; \
                 shop {}",
                p.tracing,
                p.spans.spans,
                p.spans.requests,
                p.spans.bytes / 1024,
                p.spans.malformed,
                p.spans_during_run.spans,
                if p.exited_on_sigterm {
                    "exited on SIGTERM"
                } else {
                    "killed after SIGTERM timed out"
                },
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    fn phase(tracing: &'static str, spans: u64, slow_ms: u64) -> TracingPhase {
        TracingPhase {
            tracing,
            otlp_endpoint: None,
            sampling_ratio: None,
            spans: SinkCounts {
                spans,
                requests: spans / 100,
                ..SinkCounts::default()
            },
            spans_during_run: SinkCounts::default(),
            spans_per_request: Some(spans as f64 / 1000.0),
            exited_on_sigterm: true,
            report: sample_report(100.0, slow_ms),
        }
    }

    #[test]
    fn the_comparison_gives_ratios_in_text_and_json() {
        let c = TracingComparison::new(
            "thriftshop".into(),
            phase("off", 0, 10),
            phase("on", 9000, 20),
        );
        let (on, off) = (&c.on.report.overall, &c.off.report.overall);
        assert_eq!(c.ratio, Ratio::of(on, off));
        assert!(
            c.ratio.p99.is_some() && c.ratio.achieved_rps.is_some(),
            "{:?}",
            c.ratio
        );
        assert!(!c.operations.is_empty());
        let text = c.to_text();
        for needle in [
            "=== tracing off ===",
            "=== tracing on ===",
            "on ÷ off",
            "9000",
            "per operation",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
        let json: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(json["on"]["spans"]["spans"], 9000);
        assert_eq!(json["off"]["tracing"], "off");
        assert!(json["ratio"]["p99"].as_f64().is_some());
        assert!(json["on"]["report"]["overall"]["p99_ms"].is_number());
    }
}
