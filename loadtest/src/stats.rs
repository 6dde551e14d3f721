//! What the generator records: per-operation HDR histograms (microseconds, 3 significant digits), outcome
//! counts, per-second latency windows and projection-lag samples.
use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

/// Highest latency the histograms hold (one hour, in microseconds); larger values saturate.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A fresh latency histogram: 1 µs .. 1 h, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Records `d` in microseconds (at least 1, saturating at the top).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered without errors.
    Ok,
    /// Answered with a mutation `userErrors[].code`: a business outcome (e.g. out of stock, card declined).
    UserError(String),
    /// A top-level GraphQL error (`extensions.code`), a non-2xx HTTP status (`HTTP_503`) or an unreadable body.
    Error(String),
    /// The connection failed before an answer came.
    Transport(String),
}

/// What an executed request reports back to the runner.
pub struct Sample {
    pub outcome: Outcome,
    /// Cart warning codes (e.g. `MERCHANDISE_NOT_ENOUGH_STOCK`); not failures.
    pub warnings: Vec<String>,
    /// A follow-up that measures projection lag (run after the request's latency is recorded, outside the
    /// in-flight cap). Resolves to `Some(lag)` when the write became visible, `None` when it never did.
    pub probe: Option<Probe>,
}

/// A projection-lag probe.
pub type Probe = std::pin::Pin<Box<dyn Future<Output = Option<Duration>> + Send>>;

impl Sample {
    /// A sample with just an outcome.
    pub fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            warnings: Vec::new(),
            probe: None,
        }
    }
}

impl From<Outcome> for Sample {
    fn from(o: Outcome) -> Self {
        Sample::new(o)
    }
}

/// Counters and latencies of one operation (or of all together).
#[derive(Clone)]
pub struct OpStats {
    /// Latency from intended start to answer, of every answered or timed-out request.
    pub latency: Histogram<u64>,
    /// Arrivals whose intended start fell in the measured window.
    pub scheduled: u64,
    pub ok: u64,
    pub user_errors: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub warnings: BTreeMap<String, u64>,
    pub timeouts: u64,
    pub transport: u64,
    /// Arrivals not started because `max_in_flight` requests were already running.
    pub dropped: u64,
    /// When the last measured request of this operation finished, relative to the measured window's start.
    pub last_done: Duration,
}

impl Default for OpStats {
    fn default() -> Self {
        Self {
            latency: histogram(),
            scheduled: 0,
            ok: 0,
            user_errors: BTreeMap::new(),
            errors: BTreeMap::new(),
            warnings: BTreeMap::new(),
            timeouts: 0,
            transport: 0,
            dropped: 0,
            last_done: Duration::ZERO,
        }
    }
}

impl OpStats {
    /// Requests that got an answer (including error answers).
    pub fn answered(&self) -> u64 {
        self.ok + self.user_errors.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }

    /// Answers that were not errors: ok plus business outcomes (user errors).
    pub fn good(&self) -> u64 {
        self.ok + self.user_errors.values().sum::<u64>()
    }

    /// Adds another operation's figures into this one.
    pub fn merge(&mut self, o: &OpStats) {
        self.latency.add(&o.latency).expect("same histogram bounds");
        self.scheduled += o.scheduled;
        self.ok += o.ok;
        for (dst, src) in [
            (&mut self.user_errors, &o.user_errors),
            (&mut self.errors, &o.errors),
            (&mut self.warnings, &o.warnings),
        ] {
            for (k, v) in src {
                *dst.entry(k.clone()).or_default() += v;
            }
        }
        self.timeouts += o.timeouts;
        self.transport += o.transport;
        self.dropped += o.dropped;
        self.last_done = self.last_done.max(o.last_done);
    }
}

/// Projection-lag samples.
#[derive(Clone)]
pub struct LagStats {
    pub lag: Histogram<u64>,
    /// Probes whose write never became visible within the probe's bound.
    pub not_seen: u64,
}

impl Default for LagStats {
    fn default() -> Self {
        Self {
            lag: histogram(),
            not_seen: 0,
        }
    }
}

/// Everything measured in one run.
#[derive(Clone, Default)]
pub struct Measured {
    pub ops: BTreeMap<&'static str, OpStats>,
    /// Overall latency per second of the measured window (by intended start).
    pub windows: Vec<Histogram<u64>>,
    pub lag: LagStats,
    /// The measured window's length.
    pub duration: Duration,
    /// The longest the dispatcher ran behind an intended start (a sign the generator itself saturated).
    pub max_dispatch_lag: Duration,
    /// How late the dispatcher started each measured arrival (Tokio's timer has millisecond ticks, so about
    /// half a millisecond or more is usual; it is part of every latency, timed from the intended start).
    pub dispatch_lag: DispatchLag,
}

/// Dispatch lags of a run.
#[derive(Clone)]
pub struct DispatchLag(pub Histogram<u64>);

impl Default for DispatchLag {
    fn default() -> Self {
        Self(histogram())
    }
}

impl Measured {
    /// All operations together.
    pub fn overall(&self) -> OpStats {
        let mut all = OpStats::default();
        for s in self.ops.values() {
            all.merge(s);
        }
        all
    }
}

/// Thread-safe recording of one run's measured window `[start, start + duration)`.
pub struct Recorder {
    start: Instant,
    duration: Duration,
    inner: Mutex<Measured>,
}

impl Recorder {
    /// A recorder for the window starting at `start`.
    pub fn new(start: Instant, duration: Duration) -> Self {
        let windows = (0..duration.as_secs_f64().ceil() as usize)
            .map(|_| histogram())
            .collect();
        Self {
            start,
            duration,
            inner: Mutex::new(Measured {
                windows,
                duration,
                ..Measured::default()
            }),
        }
    }

    /// Is a request intended to start at `intended` part of the measurement?
    pub fn is_measured(&self, intended: Instant) -> bool {
        intended >= self.start && intended < self.start + self.duration
    }

    fn with<R>(&self, f: impl FnOnce(&mut Measured) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts an arrival of `op`.
    pub fn scheduled(&self, op: &'static str) {
        self.with(|m| m.ops.entry(op).or_default().scheduled += 1);
    }

    /// Counts an arrival of `op` that could not start because of the in-flight cap.
    pub fn dropped(&self, op: &'static str) {
        self.with(|m| m.ops.entry(op).or_default().dropped += 1);
    }

    /// Notes how late the dispatcher was for one arrival.
    pub fn dispatch_lag(&self, lag: Duration) {
        self.with(|m| {
            m.max_dispatch_lag = m.max_dispatch_lag.max(lag);
            record(&mut m.dispatch_lag.0, lag);
        });
    }

    /// Records a finished request: `sample` is `None` when it timed out. Latency is `done - intended`.
    pub fn finished(
        &self,
        op: &'static str,
        intended: Instant,
        done: Instant,
        sample: Option<&Sample>,
    ) {
        let latency = done.saturating_duration_since(intended);
        let since_start = done.saturating_duration_since(self.start);
        let window = intended.saturating_duration_since(self.start).as_secs() as usize;
        self.with(|m| {
            let s = m.ops.entry(op).or_default();
            s.last_done = s.last_done.max(since_start);
            let timed = match sample.map(|s| &s.outcome) {
                None => {
                    s.timeouts += 1;
                    true
                }
                Some(Outcome::Ok) => {
                    s.ok += 1;
                    true
                }
                Some(Outcome::UserError(c)) => {
                    *s.user_errors.entry(c.clone()).or_default() += 1;
                    true
                }
                Some(Outcome::Error(c)) => {
                    *s.errors.entry(c.clone()).or_default() += 1;
                    true
                }
                Some(Outcome::Transport(_)) => {
                    s.transport += 1;
                    false
                }
            };
            for w in sample.iter().flat_map(|s| &s.warnings) {
                *s.warnings.entry(w.clone()).or_default() += 1;
            }
            if timed {
                record(&mut s.latency, latency);
                if let Some(h) = m.windows.get_mut(window) {
                    record(h, latency);
                }
            }
        });
    }

    /// Records a projection-lag probe's result.
    pub fn lag(&self, lag: Option<Duration>) {
        self.with(|m| match lag {
            Some(l) => record(&mut m.lag.lag, l),
            None => m.lag.not_seen += 1,
        });
    }

    /// A copy of what was recorded so far.
    pub fn snapshot(&self) -> Measured {
        self.with(|m| m.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_and_latency_is_from_intended_start() {
        let t0 = Instant::now();
        let r = Recorder::new(t0, Duration::from_secs(2));
        r.scheduled("a");
        r.finished(
            "a",
            t0,
            t0 + Duration::from_millis(250),
            Some(&Outcome::Ok.into()),
        );
        r.finished(
            "a",
            t0 + Duration::from_millis(1500),
            t0 + Duration::from_millis(1510),
            Some(&Outcome::UserError("OUT".into()).into()),
        );
        r.finished("a", t0, t0 + Duration::from_secs(1), None);
        r.finished(
            "b",
            t0,
            t0 + Duration::from_millis(1),
            Some(&Outcome::Transport("connect".into()).into()),
        );
        r.dropped("b");
        let m = r.snapshot();
        let a = &m.ops["a"];
        assert_eq!((a.ok, a.timeouts, a.user_errors["OUT"]), (1, 1, 1));
        assert_eq!(a.latency.len(), 3, "timeouts count in the latency");
        assert_eq!(a.latency.max() / 1000, 1000);
        let b = &m.ops["b"];
        assert_eq!((b.transport, b.dropped, b.latency.len()), (1, 1, 0));
        assert_eq!(m.windows.len(), 2);
        assert_eq!(m.windows[0].len(), 2);
        assert_eq!(m.windows[1].len(), 1);
        let all = m.overall();
        assert_eq!((all.answered(), all.good(), all.dropped), (2, 2, 1));
        assert!(r.is_measured(t0) && !r.is_measured(t0 + Duration::from_secs(2)));
    }
}
