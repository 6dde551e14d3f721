//! Reports: JSON for machines, a text table for people; machine facts recorded alongside.
use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use crate::{
    schedule::LoadSpec,
    stats::{LagStats, Measured, OpStats},
};

/// Figures of one operation, or of all together.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub name: String,
    /// Arrivals per second in the measured window.
    pub offered_rps: f64,
    /// Good answers (ok or business outcome) per second, over the window or until the last answer, if later.
    pub achieved_rps: f64,
    /// Arrivals in the measured window.
    pub count: u64,
    pub ok: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Business outcomes: mutation `userErrors[].code`.
    pub user_errors: BTreeMap<String, u64>,
    /// Top-level GraphQL errors by code, non-2xx HTTP statuses, unreadable bodies.
    pub errors: BTreeMap<String, u64>,
    /// Cart warnings by code (not failures).
    pub warnings: BTreeMap<String, u64>,
    pub timeouts: u64,
    pub transport_errors: u64,
    pub dropped: u64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        ms(h.value_at_quantile(q))
    }
}

impl OpReport {
    /// Figures of `s` over a measured window of `duration`.
    pub fn new(name: &str, s: &OpStats, duration: Duration) -> Self {
        let window = duration.as_secs_f64().max(1e-9);
        let h = &s.latency;
        Self {
            name: name.to_string(),
            offered_rps: s.scheduled as f64 / window,
            achieved_rps: s.good() as f64 / window.max(s.last_done.as_secs_f64()),
            count: s.scheduled,
            ok: s.ok,
            p50_ms: quantile_ms(h, 0.5),
            p90_ms: quantile_ms(h, 0.9),
            p99_ms: quantile_ms(h, 0.99),
            p999_ms: quantile_ms(h, 0.999),
            max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
            mean_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            user_errors: s.user_errors.clone(),
            errors: s.errors.clone(),
            warnings: s.warnings.clone(),
            timeouts: s.timeouts,
            transport_errors: s.transport,
            dropped: s.dropped,
        }
    }

    /// Requests that failed: errors, timeouts, transport errors and dropped arrivals (not business outcomes).
    pub fn failures(&self) -> u64 {
        self.errors.values().sum::<u64>() + self.timeouts + self.transport_errors + self.dropped
    }
}

/// Latency of one second of the measured window (requests by intended start).
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub second: usize,
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Projection lag: from a checkout's answer until the order shows in the customer's orders.
#[derive(Debug, Clone, Serialize)]
pub struct LagReport {
    pub what: &'static str,
    pub samples: u64,
    pub not_seen: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LagReport {
    fn new(l: &LagStats) -> Self {
        Self {
            what: "checkout answered -> order in customer.orders; sampled, polled every 2 ms, \
                   includes the round trip of the poll that saw it",
            samples: l.lag.len(),
            not_seen: l.not_seen,
            p50_ms: quantile_ms(&l.lag, 0.5),
            p99_ms: quantile_ms(&l.lag, 0.99),
            max_ms: if l.lag.is_empty() {
                0.0
            } else {
                ms(l.lag.max())
            },
        }
    }
}

/// Facts about the machine and build the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub os: String,
    pub arch: &'static str,
    pub kernel: Option<String>,
    pub cpu: Option<String>,
    pub memory_mib: Option<u64>,
    pub rustc: Option<String>,
    pub git_commit: Option<String>,
    pub loadtest_version: &'static str,
    /// `release` or `debug`: debug figures are not benchmarks.
    pub build: &'static str,
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Machine {
    /// Gathers what can be found cheaply (missing facts are `None`).
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string()),
            cpu: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string()),
            memory_mib: meminfo
                .lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb / 1024),
            rustc: command_output("rustc", &["--version"]),
            git_commit: command_output("git", &["rev-parse", "--short", "HEAD"]),
            loadtest_version: env!("CARGO_PKG_VERSION"),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }
}

/// CPU counters at one instant (Linux `/proc`; clock ticks).
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: std::time::Instant,
    process: u64,
    /// Threads not named `shop*` (the spawned shop's runtime names its threads `shop`).
    generator: u64,
    busy: u64,
}

/// utime + stime of a `/proc/.../stat` line.
fn stat_ticks(stat: &str) -> Option<u64> {
    // Fields after the command name (which may contain spaces): state is the 3rd field, utime the 14th.
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Linux's `USER_HZ`: the unit of `/proc` CPU times.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuSample {
    /// Reads this process's and the whole machine's CPU time, where `/proc` exists.
    pub fn read() -> Option<Self> {
        let process = stat_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let generator = std::fs::read_dir("/proc/self/task")
            .ok()?
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|name| !name.starts_with("shop"))
            })
            .filter_map(|t| stat_ticks(&std::fs::read_to_string(t.path().join("stat")).ok()?))
            .sum();
        let all = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = all
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let busy = cpu.iter().take(8).sum::<u64>() - cpu.get(3)? - cpu.get(4).unwrap_or(&0);
        Some(Self {
            at: std::time::Instant::now(),
            process,
            generator,
            busy,
        })
    }
}

/// CPU used during the measured window, in cores (1.0 = one core busy all the time), and memory.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// This process: the generator, and with `--spawn` the shop too.
    pub process_cores: f64,
    /// The generator's own threads (everything but the spawned shop's).
    pub generator_cores: f64,
    /// The whole machine.
    pub machine_busy_cores: f64,
    /// Other processes (the machine minus this one): noise from neighbours.
    pub other_cores: f64,
    /// Resident memory of this process at the end, and its peak (MiB).
    pub rss_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

impl Usage {
    /// Usage between two samples.
    pub fn between(a: CpuSample, b: CpuSample) -> Self {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let cores = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / secs;
        let process = cores(b.process.saturating_sub(a.process));
        let machine = cores(b.busy.saturating_sub(a.busy));
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let mib = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
        };
        Self {
            process_cores: process,
            generator_cores: cores(b.generator.saturating_sub(a.generator)).min(process),
            machine_busy_cores: machine,
            other_cores: (machine - process).max(0.0),
            rss_mib: mib("VmRSS:"),
            peak_rss_mib: mib("VmHWM:"),
        }
    }
}

/// The report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub load: LoadSpec,
    /// Setup parameters (customers, login share, Zipf exponent, …).
    pub setup: Value,
    pub machine: Machine,
    pub args: Vec<String>,
    pub overall: OpReport,
    pub operations: Vec<OpReport>,
    pub projection_lag: LagReport,
    /// The longest the dispatcher ran behind schedule; large values mean the generator itself saturated.
    pub max_dispatch_lag_ms: f64,
    /// Business facts (orders by status, units sold, the flash sale's stock).
    pub facts: Value,
    /// CPU and memory during the measured window (Linux only).
    pub usage: Option<Usage>,
    pub timeline: Vec<Window>,
}

/// Context of a run that is not measured.
pub struct RunInfo<'a> {
    pub scenario: &'a str,
    pub target: &'a str,
    pub load: &'a LoadSpec,
    pub setup: Value,
    pub machine: &'a Machine,
    pub args: &'a [String],
    pub facts: Value,
    pub usage: Option<Usage>,
}

impl Report {
    /// Builds the report of `m`.
    pub fn new(info: RunInfo<'_>, m: &Measured) -> Self {
        let d = m.duration;
        Self {
            scenario: info.scenario.to_string(),
            target: info.target.to_string(),
            load: info.load.clone(),
            setup: info.setup,
            machine: info.machine.clone(),
            args: info.args.to_vec(),
            overall: OpReport::new("overall", &m.overall(), d),
            operations: m.ops.iter().map(|(n, s)| OpReport::new(n, s, d)).collect(),
            projection_lag: LagReport::new(&m.lag),
            max_dispatch_lag_ms: m.max_dispatch_lag.as_secs_f64() * 1000.0,
            facts: info.facts,
            usage: info.usage,
            timeline: m
                .windows
                .iter()
                .enumerate()
                .map(|(i, h)| Window {
                    second: i,
                    count: h.len(),
                    p50_ms: quantile_ms(h, 0.5),
                    p90_ms: quantile_ms(h, 0.9),
                    p99_ms: quantile_ms(h, 0.99),
                    max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
                })
                .collect(),
        }
    }

    /// The text table.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let l = &self.load;
        let _ = writeln!(
            o,
            "scenario {} → {}\n{:?} arrivals at {} req/s for {} s after {} s warm-up; max in flight {}, timeout {} s, seed {}",
            self.scenario,
            self.target,
            l.arrival,
            l.rate,
            l.duration.as_secs_f64(),
            l.warmup.as_secs_f64(),
            l.max_in_flight,
            l.timeout.as_secs_f64(),
            l.seed,
        );
        let m = &self.machine;
        let _ = writeln!(
            o,
            "machine: {} cores{}, {} {}{}, {} build{}{}",
            m.cores,
            m.cpu
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            m.os,
            m.arch,
            m.kernel
                .as_deref()
                .map(|k| format!(" {k}"))
                .unwrap_or_default(),
            m.build,
            m.rustc
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default(),
            m.git_commit
                .as_deref()
                .map(|c| format!(", commit {c}"))
                .unwrap_or_default(),
        );
        let _ = writeln!(o, "setup: {}", self.setup);
        o.push('\n');
        let _ = writeln!(
            o,
            "{:<24} {:>9} {:>9} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6}",
            "operation",
            "offered/s",
            "achvd/s",
            "count",
            "ok",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "usrerr",
            "errors",
            "tmout",
            "drop",
        );
        for r in self.operations.iter().chain([&self.overall]) {
            if std::ptr::eq(r, &self.overall) {
                let _ = writeln!(o, "{}", "-".repeat(139));
            }
            let _ = writeln!(
                o,
                "{:<24} {:>9.1} {:>9.1} {:>7} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>6} {:>6} {:>6}",
                r.name,
                r.offered_rps,
                r.achieved_rps,
                r.count,
                r.ok,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.p999_ms,
                r.max_ms,
                r.user_errors.values().sum::<u64>(),
                r.errors.values().sum::<u64>() + r.transport_errors,
                r.timeouts,
                r.dropped,
            );
        }
        let codes = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut details = String::new();
        for r in &self.operations {
            for (what, m) in [
                ("errors", &r.errors),
                ("user errors", &r.user_errors),
                ("warnings", &r.warnings),
            ] {
                if !m.is_empty() {
                    let _ = writeln!(details, "  {:<24} {what}: {}", r.name, codes(m));
                }
            }
            if r.transport_errors > 0 {
                let _ = writeln!(
                    details,
                    "  {:<24} transport errors: {}",
                    r.name, r.transport_errors
                );
            }
        }
        if !details.is_empty() {
            let _ = write!(o, "\nby code:\n{details}");
        }
        let lag = &self.projection_lag;
        let _ = writeln!(
            o,
            "\nprojection lag ({}): {} samples, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, not seen within the bound: {}",
            lag.what, lag.samples, lag.p50_ms, lag.p99_ms, lag.max_ms, lag.not_seen
        );
        let _ = writeln!(
            o,
            "generator: max dispatch lag {:.2} ms",
            self.max_dispatch_lag_ms
        );
        if let Some(u) = &self.usage {
            let mem = |m: Option<f64>| m.map_or("?".into(), |m| format!("{m:.0} MiB"));
            let _ = writeln!(
                o,
                "cpu (cores, measured window): this process {:.2} ({}), other processes {:.2}, machine {:.2} of {}; rss {} (peak {})",
                u.process_cores,
                if self.setup["spawned_shop"] == true {
                    format!(
                        "generator {:.2} + spawned shop {:.2}",
                        u.generator_cores,
                        u.process_cores - u.generator_cores
                    )
                } else {
                    "generator".into()
                },
                u.other_cores,
                u.machine_busy_cores,
                self.machine.cores,
                mem(u.rss_mib),
                mem(u.peak_rss_mib),
            );
        }
        let _ = writeln!(o, "facts: {}", self.facts);
        o
    }
}

/// One step of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepStep {
    pub rate: f64,
    pub achieved_rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub failures: u64,
    pub meets_slo: bool,
}

/// A series of runs at rising rates.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub slo_p99_ms: f64,
    /// A step meets the SLO when p99 ≤ the SLO, the achieved rate is at least 95% of the offered one, and at
    /// most 1% of arrivals failed (errors, timeouts, transport errors, dropped).
    pub criteria: &'static str,
    pub max_rate_meeting_slo: Option<f64>,
    pub steps: Vec<SweepStep>,
    pub runs: Vec<Report>,
}

impl SweepReport {
    /// Summarises `runs` against the SLO.
    pub fn new(slo_p99_ms: f64, runs: Vec<Report>) -> Self {
        let steps: Vec<SweepStep> = runs
            .iter()
            .map(|r| {
                let o = &r.overall;
                let meets = o.count > 0
                    && o.p99_ms <= slo_p99_ms
                    && o.achieved_rps >= 0.95 * o.offered_rps
                    && o.failures() as f64 <= 0.01 * o.count as f64;
                SweepStep {
                    rate: r.load.rate,
                    achieved_rps: o.achieved_rps,
                    p50_ms: o.p50_ms,
                    p99_ms: o.p99_ms,
                    max_ms: o.max_ms,
                    failures: o.failures(),
                    meets_slo: meets,
                }
            })
            .collect();
        Self {
            slo_p99_ms,
            criteria: "p99 <= SLO, achieved >= 95% of offered, failures <= 1% of arrivals",
            max_rate_meeting_slo: steps
                .iter()
                .filter(|s| s.meets_slo)
                .map(|s| s.rate)
                .reduce(f64::max),
            steps,
            runs,
        }
    }

    /// The text table of the steps.
    pub fn to_text(&self) -> String {
        let mut o = format!(
            "sweep (SLO p99 ≤ {} ms; {})\n{:>9} {:>10} {:>9} {:>9} {:>9} {:>9}  meets\n",
            self.slo_p99_ms,
            self.criteria,
            "rate/s",
            "achvd/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "failures"
        );
        for s in &self.steps {
            let _ = writeln!(
                o,
                "{:>9.0} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9}  {}",
                s.rate,
                s.achieved_rps,
                s.p50_ms,
                s.p99_ms,
                s.max_ms,
                s.failures,
                if s.meets_slo { "yes" } else { "no" }
            );
        }
        let _ = writeln!(
            o,
            "highest rate meeting the SLO: {}",
            self.max_rate_meeting_slo
                .map_or("none".to_string(), |r| format!("{r} req/s"))
        );
        o
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        schedule::ArrivalKind,
        stats::{Outcome, Recorder, Sample},
    };
    use std::time::Instant;

    pub(crate) fn sample_report(rate: f64, slow_ms: u64) -> Report {
        let t0 = Instant::now();
        let r = Recorder::new(t0, Duration::from_secs(2));
        for i in 0..100u64 {
            let op = if i % 4 == 0 {
                "cartCheckout"
            } else {
                "products"
            };
            let at = t0 + Duration::from_millis(i * 20);
            r.scheduled(op);
            let outcome = match i {
                4 => Outcome::UserError("INSUFFICIENT_STOCK".into()),
                8 => Outcome::Error("INTERNAL".into()),
                _ => Outcome::Ok,
            };
            let lat = if i == 1 { slow_ms } else { 2 + i % 5 };
            r.finished(
                op,
                at,
                at + Duration::from_millis(lat),
                Some(&Sample::new(outcome)),
            );
        }
        r.scheduled("products");
        r.dropped("products");
        r.lag(Some(Duration::from_millis(3)));
        let load = LoadSpec {
            rate,
            arrival: ArrivalKind::Constant,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            max_in_flight: 10,
            timeout: Duration::from_secs(1),
            seed: 1,
        };
        Report::new(
            RunInfo {
                scenario: "thrift-shop-mix",
                target: "http://127.0.0.1:1/graphql",
                load: &load,
                setup: serde_json::json!({ "customers": 2 }),
                machine: &Machine::detect(),
                args: &["loadtest".to_string()],
                facts: serde_json::json!({ "units_paid": 3 }),
                usage: CpuSample::read().map(|a| Usage::between(a, CpuSample::read().unwrap_or(a))),
            },
            &r.snapshot(),
        )
    }

    #[test]
    fn report_has_every_operation_and_renders() {
        let rep = sample_report(50.0, 900);
        assert_eq!(
            rep.operations
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>(),
            ["cartCheckout", "products"]
        );
        let all = &rep.overall;
        assert_eq!((all.count, all.ok, all.dropped), (101, 98, 1));
        assert!((all.offered_rps - 50.5).abs() < 1e-9, "{}", all.offered_rps);
        assert!((899.0..=901.0).contains(&all.max_ms), "{}", all.max_ms);
        assert_eq!(rep.timeline.len(), 2);
        assert_eq!(rep.projection_lag.samples, 1);
        let text = rep.to_text();
        for needle in [
            "cartCheckout",
            "products",
            "overall",
            "p99 ms",
            "INSUFFICIENT_STOCK ×1",
            "INTERNAL ×1",
            "projection lag",
            "machine:",
            "cpu (cores",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        let json: Value = serde_json::to_value(&rep).unwrap();
        for key in ["p50_ms", "p99_ms", "achieved_rps", "offered_rps", "dropped"] {
            assert!(json["overall"][key].is_number(), "overall.{key}");
            assert!(json["operations"][0][key].is_number(), "op.{key}");
        }
        assert_eq!(json["load"]["duration"], 2.0);
        assert_eq!(
            json["operations"][0]["user_errors"]["INSUFFICIENT_STOCK"],
            1
        );
        assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn sweep_finds_the_highest_rate_meeting_the_slo() {
        let step = |rate: f64, p99: f64, achieved: f64, failures: u64| {
            let mut r = sample_report(rate, 10);
            r.load.rate = rate;
            let o = &mut r.overall;
            (o.offered_rps, o.achieved_rps, o.p99_ms, o.count) = (rate, achieved, p99, 1000);
            o.errors.clear();
            o.dropped = failures;
            r
        };
        let sweep = SweepReport::new(
            50.0,
            vec![
                step(100.0, 5.0, 100.0, 0),
                step(200.0, 20.0, 199.0, 10),
                step(400.0, 80.0, 390.0, 0),
                step(800.0, 30.0, 500.0, 0),
                step(1600.0, 30.0, 1600.0, 11),
            ],
        );
        let meets: Vec<bool> = sweep.steps.iter().map(|s| s.meets_slo).collect();
        assert_eq!(meets, [true, true, false, false, false]);
        assert_eq!(sweep.max_rate_meeting_slo, Some(200.0));
        assert!(
            sweep
                .to_text()
                .contains("highest rate meeting the SLO: 200 req/s")
        );
    }
}
