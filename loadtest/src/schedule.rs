//! The open-loop runner: arrivals at a fixed (constant or Poisson) rate, each request spawned at its intended
//! start and timed from it, so a slow server cannot slow the generator down and hide its own latency
//! (no coordinated omission).
use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Exp};
use serde::Serialize;
use tokio::{sync::Semaphore, task::JoinSet};

use crate::stats::{Measured, Recorder, Sample};

/// Highest accepted rate (requests per second).
pub const MAX_RATE: f64 = 50_000.0;
/// Longest accepted measured duration, warm-up, or timeout.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    /// Evenly spaced: one every `1/rate` seconds.
    Constant,
    /// A Poisson process: exponentially distributed gaps with mean `1/rate`.
    Poisson,
}

/// Intended start offsets (from the run's start) of an endless arrival stream.
pub struct Arrivals {
    kind: ArrivalKind,
    rate: f64,
    n: u64,
    t: f64,
    exp: Exp<f64>,
    rng: StdRng,
}

impl Arrivals {
    /// Arrivals at `rate` per second (`rate` must be positive and finite).
    pub fn new(kind: ArrivalKind, rate: f64, seed: u64) -> Self {
        Self {
            kind,
            rate,
            n: 0,
            t: 0.0,
            exp: Exp::new(rate).expect("positive rate"),
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let t = match self.kind {
            // Computed from the index, so no rounding error accumulates.
            ArrivalKind::Constant => self.n as f64 / self.rate,
            ArrivalKind::Poisson => {
                self.t += self.exp.sample(&mut self.rng);
                self.t
            }
        };
        self.n += 1;
        Some(Duration::from_secs_f64(t))
    }
}

/// The load of one run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadSpec {
    /// Offered rate, requests per second.
    pub rate: f64,
    pub arrival: ArrivalKind,
    /// Run before measuring (requests are sent but not recorded).
    #[serde(serialize_with = "secs")]
    pub warmup: Duration,
    /// The measured window.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// At most this many requests at once; arrivals beyond it are dropped (and counted).
    pub max_in_flight: usize,
    /// Per-request timeout, from the request's actual start.
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    pub seed: u64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl LoadSpec {
    /// Checks the bounds: a load test must stay bounded in rate and time.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= MAX_RATE) {
            problems.push(format!("rate must be in (0, {MAX_RATE}] req/s"));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            problems.push(format!(
                "duration must be in (0, {}] s",
                MAX_DURATION.as_secs()
            ));
        }
        if self.warmup > MAX_DURATION {
            problems.push(format!(
                "warm-up must be at most {} s",
                MAX_DURATION.as_secs()
            ));
        }
        if self.timeout.is_zero() || self.timeout > MAX_DURATION {
            problems.push(format!(
                "timeout must be in (0, {}] s",
                MAX_DURATION.as_secs()
            ));
        }
        if self.max_in_flight == 0 || self.max_in_flight > 100_000 {
            problems.push("max-in-flight must be in 1..=100000".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Something with an operation name, as recorded in the report.
pub trait Named {
    fn name(&self) -> &'static str;
}

impl Named for &'static str {
    fn name(&self) -> &'static str {
        self
    }
}

/// Runs `spec`: for each arrival, `pick` chooses a job (on the dispatcher, in arrival order) and `exec` runs it
/// in its own task. Returns once the last arrival's request has finished (each is bounded by the timeout).
///
/// A request's latency is measured from its *intended* start, so dispatcher delays and a stalled server both
/// show up. Arrivals that find `max_in_flight` requests running are dropped and counted, never delayed.
pub async fn run_open_loop<J, P, E, F>(spec: &LoadSpec, mut pick: P, exec: E) -> Measured
where
    J: Named + Send + 'static,
    P: FnMut(&mut StdRng) -> J,
    E: Fn(J) -> F + Send + Sync + 'static,
    F: Future<Output = Sample> + Send + 'static,
{
    let start = Instant::now();
    let measure_start = start + spec.warmup;
    let end = measure_start + spec.duration;
    let recorder = Arc::new(Recorder::new(measure_start, spec.duration));
    let in_flight = Arc::new(Semaphore::new(spec.max_in_flight));
    let exec = Arc::new(exec);
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let arrivals = Arrivals::new(spec.arrival, spec.rate, rng.random());
    let mut tasks = JoinSet::new();

    for offset in arrivals {
        let intended = start + offset;
        if intended >= end {
            break;
        }
        if intended > Instant::now() {
            tokio::time::sleep_until(intended.into()).await;
        }
        let measured = recorder.is_measured(intended);
        let job = pick(&mut rng);
        let name = job.name();
        if measured {
            recorder.scheduled(name);
            recorder.dispatch_lag(Instant::now().saturating_duration_since(intended));
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            if measured {
                recorder.dropped(name);
            }
            continue;
        };
        let (exec, recorder, timeout) = (exec.clone(), recorder.clone(), spec.timeout);
        tasks.spawn(async move {
            let sample = tokio::time::timeout(timeout, exec(job)).await.ok();
            let done = Instant::now();
            drop(permit);
            if measured {
                recorder.finished(name, intended, done, sample.as_ref());
            }
            if let Some(probe) = sample.and_then(|s| s.probe) {
                let lag = probe.await;
                if measured {
                    recorder.lag(lag);
                }
            }
        });
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    recorder.snapshot()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Outcome;

    fn count_in(kind: ArrivalKind, rate: f64, secs: f64, seed: u64) -> usize {
        Arrivals::new(kind, rate, seed)
            .take_while(|t| t.as_secs_f64() < secs)
            .count()
    }

    #[test]
    fn constant_arrivals_are_exact_and_evenly_spaced() {
        assert_eq!(count_in(ArrivalKind::Constant, 500.0, 10.0, 1), 5000);
        assert_eq!(count_in(ArrivalKind::Constant, 3.0, 1.0, 1), 3);
        let a: Vec<Duration> = Arrivals::new(ArrivalKind::Constant, 4.0, 0)
            .take(3)
            .collect();
        assert_eq!(
            a,
            [0, 250, 500].map(Duration::from_millis),
            "first arrival at 0"
        );
    }

    #[test]
    fn poisson_arrivals_match_the_rate_within_tolerance() {
        // 10,000 expected; the standard deviation is 100, allow 5 sigma.
        for seed in 0..5 {
            let n = count_in(ArrivalKind::Poisson, 1000.0, 10.0, seed) as i64;
            assert!((n - 10_000).abs() < 500, "seed {seed}: {n}");
        }
        // Gaps are exponential: about 1 - 1/e of them are shorter than the mean.
        let ts: Vec<f64> = Arrivals::new(ArrivalKind::Poisson, 100.0, 7)
            .take(20_001)
            .map(|d| d.as_secs_f64())
            .collect();
        let short = ts.windows(2).filter(|w| w[1] - w[0] < 0.01).count() as f64 / 20_000.0;
        assert!((short - 0.632).abs() < 0.02, "{short}");
    }

    fn spec(rate: f64, secs: f64) -> LoadSpec {
        LoadSpec {
            rate,
            arrival: ArrivalKind::Constant,
            warmup: Duration::ZERO,
            duration: Duration::from_secs_f64(secs),
            max_in_flight: 10_000,
            timeout: Duration::from_secs(10),
            seed: 1,
        }
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(spec(50_000.0, 600.0).validate().is_ok());
        assert!(spec(50_001.0, 1.0).validate().is_err());
        assert!(spec(10.0, 601.0).validate().is_err());
        assert!(spec(0.0, 1.0).validate().is_err());
        assert!(spec(f64::NAN, 1.0).validate().is_err());
    }

    /// A server that stalls once for a second (every request waits behind the stall) must show the stall in
    /// p99 and max, even though most requests are fast: latency is counted from the intended start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_server_shows_up_in_the_tail() {
        let gate = Arc::new(tokio::sync::Mutex::new(false));
        let m = run_open_loop(
            &spec(200.0, 3.0),
            |_| "op",
            move |_| {
                let gate = gate.clone();
                async move {
                    let mut stalled = gate.lock().await;
                    if !*stalled {
                        *stalled = true;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Sample::new(Outcome::Ok)
                }
            },
        )
        .await;
        let op = &m.ops["op"];
        assert_eq!(op.scheduled, 600);
        assert_eq!(op.ok, 600);
        assert_eq!(op.dropped, 0);
        assert_eq!(
            m.dispatch_lag.0.len(),
            600,
            "every measured arrival's dispatch lag"
        );
        // ~200 requests arrive during the stall (a third of all), waiting from up to 1 s down to 0.
        assert!(op.latency.max() >= 990_000, "max {}", op.latency.max());
        assert!(
            op.latency.value_at_quantile(0.99) >= 900_000,
            "p99 {}",
            op.latency.value_at_quantile(0.99)
        );
        assert!(op.latency.value_at_quantile(0.9) >= 300_000);
        assert!(
            m.windows[0].max() >= 990_000,
            "the stall is in the first window"
        );
    }

    /// A closed-loop generator would wait for the slow request; here arrivals keep coming at the rate and
    /// those beyond the in-flight cap are dropped, not delayed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arrivals_over_the_cap_are_dropped() {
        let mut s = spec(100.0, 1.0);
        s.max_in_flight = 2;
        let m = run_open_loop(
            &s,
            |_| "slow",
            |_| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Sample::new(Outcome::Ok)
            },
        )
        .await;
        let op = &m.ops["slow"];
        assert_eq!(op.scheduled, 100);
        assert_eq!(op.ok + op.dropped, 100);
        assert!(op.dropped >= 80, "dropped {}", op.dropped);
        assert!(op.latency.min() >= 200_000);
    }

    #[tokio::test]
    async fn warmup_is_excluded_and_timeouts_are_counted() {
        let mut s = spec(100.0, 0.5);
        s.warmup = Duration::from_millis(300);
        s.timeout = Duration::from_millis(50);
        let m = run_open_loop(
            &s,
            |rng| if rng.random_bool(0.5) { "a" } else { "b" },
            |job| async move {
                if job == "b" {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Sample::new(Outcome::Ok)
            },
        )
        .await;
        let all = m.overall();
        assert_eq!(all.scheduled, 50, "only the measured half second");
        assert_eq!(m.ops["a"].ok, m.ops["a"].scheduled);
        assert_eq!(m.ops["b"].timeouts, m.ops["b"].scheduled);
        assert!(m.ops["b"].latency.min() >= 50_000);
    }
}
