//! Per-projector counters and the projection lag histogram (event `occurred_at_ms` → rows written).
use hdrhistogram::Histogram;

use crate::{model::Projector, projector::Outcome};

/// What a projector did since it started (or since its last rebuild / [`crate::Projections::reset_stats`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LagReport {
    pub projector: Projector,
    /// The generation it runs (see [`crate::ProjectionStore::generation`]).
    pub generation: u64,
    /// Deliveries that changed the read model.
    pub applied: u64,
    /// Deliveries recognised as already applied (redeliveries, republished copies).
    pub duplicates: u64,
    /// Deliveries not for this projector, or undecodable.
    pub ignored: u64,
    /// Lag samples (= `applied`).
    pub samples: u64,
    /// Median lag, ms (0 without samples).
    pub p50_ms: u64,
    /// 99th percentile lag, ms.
    pub p99_ms: u64,
    /// Largest lag seen, ms.
    pub max_ms: u64,
    /// `occurred_at_ms` of the newest event applied (0: none yet).
    pub last_event_at_ms: i64,
}

pub(crate) struct Stats {
    generation: u64,
    hist: Histogram<u64>,
    applied: u64,
    duplicates: u64,
    ignored: u64,
    last_event_at_ms: i64,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            generation: 0,
            // 1 ms .. 1 h, 3 significant digits; values above are clamped.
            hist: Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid histogram bounds"),
            applied: 0,
            duplicates: 0,
            ignored: 0,
            last_event_at_ms: 0,
        }
    }

    pub(crate) fn set_generation(&mut self, generation: u64) {
        if generation != self.generation {
            *self = Self::new();
            self.generation = generation;
        }
    }

    pub(crate) fn reset(&mut self) {
        let generation = self.generation;
        *self = Self::new();
        self.generation = generation;
    }

    pub(crate) fn record(&mut self, outcome: Outcome, occurred_at_ms: i64, now_ms: i64) {
        match outcome {
            Outcome::Applied => {
                self.applied += 1;
                let lag = (now_ms - occurred_at_ms).clamp(1, 3_600_000) as u64;
                self.hist.saturating_record(lag);
                self.last_event_at_ms = self.last_event_at_ms.max(occurred_at_ms);
            }
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Ignored => self.ignored += 1,
        }
    }

    pub(crate) fn report(&self, projector: Projector) -> LagReport {
        let samples = self.hist.len();
        let q = |q: f64| {
            if samples == 0 {
                0
            } else {
                self.hist.value_at_quantile(q)
            }
        };
        LagReport {
            projector,
            generation: self.generation,
            applied: self.applied,
            duplicates: self.duplicates,
            ignored: self.ignored,
            samples,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            max_ms: if samples == 0 { 0 } else { self.hist.max() },
            last_event_at_ms: self.last_event_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_counts() {
        let mut s = Stats::new();
        for lag in 1..=100 {
            s.record(Outcome::Applied, 1_000, 1_000 + lag);
        }
        s.record(Outcome::Duplicate, 0, 0);
        s.record(Outcome::Ignored, 0, 0);
        let r = s.report(Projector::Stock);
        assert_eq!(
            (r.applied, r.duplicates, r.ignored, r.samples),
            (100, 1, 1, 100)
        );
        assert_eq!(r.p50_ms, 50);
        assert_eq!(r.p99_ms, 99);
        assert_eq!(r.max_ms, 100);
        // A clock running behind the producer's counts as 1 ms, not a negative lag.
        s.record(Outcome::Applied, 5_000, 1_000);
        s.set_generation(2);
        let r = s.report(Projector::Stock);
        assert_eq!((r.generation, r.applied, r.p99_ms), (2, 0, 0));
    }
}
