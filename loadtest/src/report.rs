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
    /// A shop running as a child process (`--compare-tracing`), when one is watched.
    child: Option<u64>,
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
        Self::read_with(None)
    }

    /// [`CpuSample::read`], and the CPU time of the child process `child` (a shop started by the generator).
    pub fn read_with(child: Option<u32>) -> Option<Self> {
        let child = child.and_then(|pid| {
            stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
        });
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
            child,
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
    /// Other processes (the machine minus this one, and minus the child shop when there is one): noise from
    /// neighbours.
    pub other_cores: f64,
    /// The shop running as a child process of the generator (`--compare-tracing`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_shop_cores: Option<f64>,
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
        let child = match (a.child, b.child) {
            (Some(a), Some(b)) => Some(cores(b.saturating_sub(a))),
            _ => None,
        };
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
            other_cores: (machine - process - child.unwrap_or(0.0)).max(0.0),
            child_shop_cores: child,
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
    /// How late the dispatcher usually was (part of every latency, which is timed from the intended start).
    pub dispatch_lag: DispatchLagReport,
    /// Business facts (orders by status, units sold, the flash sale's stock).
    pub facts: Value,
    /// CPU and memory during the measured window (Linux only).
    pub usage: Option<Usage>,
    pub timeline: Vec<Window>,
    /// Baselines run at the same load just before the scenario, and the scenario's ratios to them.
    pub baselines: Vec<BaselineReport>,
}

/// How late the dispatcher started measured arrivals.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DispatchLagReport {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl DispatchLagReport {
    fn new(m: &Measured) -> Self {
        Self {
            p50_ms: quantile_ms(&m.dispatch_lag.0, 0.5),
            p99_ms: quantile_ms(&m.dispatch_lag.0, 0.99),
        }
    }
}

/// `scenario ÷ baseline`; `None` when the baseline's figure is zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Ratio {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub achieved_rps: Option<f64>,
}

fn ratio(scenario: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && scenario.is_finite()).then(|| scenario / baseline)
}

impl Ratio {
    /// The ratios of `scenario` to `baseline` (p50, p99, achieved rate).
    pub fn of(scenario: &OpReport, baseline: &OpReport) -> Self {
        Self {
            p50: ratio(scenario.p50_ms, baseline.p50_ms),
            p99: ratio(scenario.p99_ms, baseline.p99_ms),
            achieved_rps: ratio(scenario.achieved_rps, baseline.achieved_rps),
        }
    }
}

/// A baseline measured in the same run, at the same offered rate, warm-up and duration as the scenario.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineReport {
    pub name: String,
    pub what: String,
    pub overall: OpReport,
    pub max_dispatch_lag_ms: f64,
    pub dispatch_lag: DispatchLagReport,
    /// CPU and memory during the baseline's measured window.
    pub usage: Option<Usage>,
    /// The scenario's overall figures divided by the baseline's.
    pub ratio: Ratio,
}

impl BaselineReport {
    /// The figures of a baseline's run (the ratio is filled in by [`Report::with_baselines`]).
    pub fn new(name: &str, what: &str, m: &Measured, usage: Option<Usage>) -> Self {
        Self {
            name: name.to_string(),
            what: what.to_string(),
            overall: OpReport::new(name, &m.overall(), m.duration),
            max_dispatch_lag_ms: m.max_dispatch_lag.as_secs_f64() * 1000.0,
            dispatch_lag: DispatchLagReport::new(m),
            usage,
            ratio: Ratio::default(),
        }
    }
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
            dispatch_lag: DispatchLagReport::new(m),
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
            baselines: Vec::new(),
        }
    }

    /// Adds baselines and computes the scenario's ratios to each.
    pub fn with_baselines(mut self, mut baselines: Vec<BaselineReport>) -> Self {
        for b in &mut baselines {
            b.ratio = Ratio::of(&self.overall, &b.overall);
        }
        self.baselines = baselines;
        self
    }

    /// The baselines' table (empty without baselines).
    pub fn baselines_text(&self) -> String {
        let mut o = String::new();
        if self.baselines.is_empty() {
            return o;
        }
        let x = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
        let _ = writeln!(
            o,
            "\nbaselines (same rate, warm-up and duration, run just before; ratio = {} ÷ baseline):",
            self.scenario
        );
        let _ = writeln!(
            o,
            "{:<24} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
            "baseline",
            "offered/s",
            "achvd/s",
            "count",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "errors",
            "tmout",
            "drop",
            "p50 ×",
            "p99 ×",
            "rps ×",
        );
        for b in &self.baselines {
            let r = &b.overall;
            let _ = writeln!(
                o,
                "{:<24} {:>9.1} {:>9.1} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
                b.name,
                r.offered_rps,
                r.achieved_rps,
                r.count,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                r.errors.values().sum::<u64>() + r.transport_errors,
                r.timeouts,
                r.dropped,
                x(b.ratio.p50),
                x(b.ratio.p99),
                x(b.ratio.achieved_rps),
            );
        }
        for b in &self.baselines {
            let cpu = b.usage.as_ref().map_or(String::new(), |u| {
                format!(
                    "; cpu: this process {:.2}, generator {:.2}, other processes {:.2}",
                    u.process_cores, u.generator_cores, u.other_cores
                )
            });
            let _ = writeln!(
                o,
                "  {:<22} {}{cpu}; dispatch lag p50 {:.2} ms, max {:.2} ms",
                b.name, b.what, b.dispatch_lag.p50_ms, b.max_dispatch_lag_ms
            );
            if !r_errors(&b.overall).is_empty() {
                let _ = writeln!(o, "  {:<22} errors: {}", b.name, r_errors(&b.overall));
            }
        }
        o
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
            "generator: dispatch lag p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (part of every latency: timed from \
             the intended start)",
            self.dispatch_lag.p50_ms, self.dispatch_lag.p99_ms, self.max_dispatch_lag_ms
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
            if let Some(shop) = u.child_shop_cores {
                let _ = writeln!(
                    o,
                    "cpu of the shop (a child process, not in \"this process\" nor \"other processes\"): {shop:.2} cores"
                );
            }
        }
        let _ = writeln!(o, "facts: {}", self.facts);
        o.push_str(&self.baselines_text());
        o
    }
}

/// A baseline's errors by code, for the text report.
fn r_errors(r: &OpReport) -> String {
    let mut all: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    if r.transport_errors > 0 {
        all.push(format!("transport ×{}", r.transport_errors));
    }
    all.join(", ")
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
    /// The baselines at this step's rate.
    pub baselines: Vec<StepBaseline>,
}

/// A baseline at one step of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct StepBaseline {
    pub name: String,
    pub achieved_rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub ratio: Ratio,
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
                    baselines: r
                        .baselines
                        .iter()
                        .map(|b| StepBaseline {
                            name: b.name.clone(),
                            achieved_rps: b.overall.achieved_rps,
                            p50_ms: b.overall.p50_ms,
                            p99_ms: b.overall.p99_ms,
                            ratio: b.ratio,
                        })
                        .collect(),
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

    /// The text table of the steps (with each baseline's p99 and the scenario's p99 ratio to it).
    pub fn to_text(&self) -> String {
        let names: Vec<&str> = self
            .steps
            .first()
            .map(|s| s.baselines.iter().map(|b| b.name.as_str()).collect())
            .unwrap_or_default();
        let mut o = format!(
            "sweep (SLO p99 ≤ {} ms; {})\n{:>9} {:>10} {:>9} {:>9} {:>9} {:>9}  meets",
            self.slo_p99_ms,
            self.criteria,
            "rate/s",
            "achvd/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "failures"
        );
        for n in &names {
            let _ = write!(o, " {:>18} {:>7}", format!("{n} p99 ms"), "p99 ×");
        }
        o.push('\n');
        for s in &self.steps {
            let mut line = String::new();
            let _ = write!(
                line,
                "{:>9.0} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9}  {:<5}",
                s.rate,
                s.achieved_rps,
                s.p50_ms,
                s.p99_ms,
                s.max_ms,
                s.failures,
                if s.meets_slo { "yes" } else { "no" }
            );
            for b in &s.baselines {
                let _ = write!(
                    line,
                    " {:>18.2} {:>7}",
                    b.p99_ms,
                    b.ratio.p99.map_or("-".into(), |r| format!("{r:.2}"))
                );
            }
            o.push_str(line.trim_end());
            o.push('\n');
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

    /// A baseline whose requests all took `ms` milliseconds, `n` of them over one second.
    pub(crate) fn baseline(name: &str, n: u64, ms: u64) -> BaselineReport {
        let t0 = Instant::now();
        let r = Recorder::new(t0, Duration::from_secs(1));
        for i in 0..n {
            let at = t0 + Duration::from_micros(i * 1_000_000 / n.max(1));
            r.scheduled("b");
            r.finished(
                "b",
                at,
                at + Duration::from_millis(ms),
                Some(&Sample::new(Outcome::Ok)),
            );
        }
        BaselineReport::new(name, "what it is", &r.snapshot(), None)
    }

    #[test]
    fn baselines_give_ratios_in_text_and_json() {
        let rep = sample_report(50.0, 900).with_baselines(vec![
            baseline("echo", 50, 1),
            baseline("thrift-direct", 25, 2),
            baseline("idle", 0, 1),
        ]);
        let all = &rep.overall;
        let echo = &rep.baselines[0];
        assert_eq!(echo.overall.count, 50);
        assert!((echo.overall.p50_ms - 1.0).abs() < 0.01, "{echo:?}");
        let r = echo.ratio;
        assert!((r.p50.unwrap() - all.p50_ms / echo.overall.p50_ms).abs() < 1e-9);
        assert!((r.p99.unwrap() - all.p99_ms / echo.overall.p99_ms).abs() < 1e-9);
        assert!(
            r.p99.unwrap() >= 2.0,
            "the scenario is slower than a 1 ms echo"
        );
        assert!(
            (r.achieved_rps.unwrap() - all.achieved_rps / echo.overall.achieved_rps).abs() < 1e-9
        );
        let direct = &rep.baselines[1];
        assert!((direct.ratio.p50.unwrap() - all.p50_ms / 2.0).abs() < 0.05);
        assert_eq!(
            rep.baselines[2].ratio,
            Ratio::default(),
            "no ratio to a baseline that answered nothing"
        );

        let text = rep.to_text();
        for needle in [
            "baselines (",
            "echo",
            "thrift-direct",
            "p99 ×",
            "rps ×",
            "what it is",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        let json: Value = serde_json::to_value(&rep).unwrap();
        let b = &json["baselines"];
        assert_eq!(b.as_array().unwrap().len(), 3);
        assert_eq!(b[0]["name"], "echo");
        assert!(b[0]["overall"]["p99_ms"].is_number());
        assert!(b[0]["ratio"]["p99"].as_f64().unwrap() > 1.0);
        assert!(b[2]["ratio"]["p99"].is_null());

        let sweep = SweepReport::new(50.0, vec![rep]);
        assert_eq!(sweep.steps[0].baselines.len(), 3);
        let text = sweep.to_text();
        assert!(text.contains("echo p99 ms"), "{text}");
        assert!(
            sample_report(50.0, 900).baselines.is_empty()
                && !sample_report(50.0, 900).to_text().contains("baselines (")
        );
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
