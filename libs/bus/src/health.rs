//! Readiness of a process's consumer groups: each runner reports whether it is subscribed, whether its bus
//! answers, and its lag; [`ConsumerHealth::problems`] says which groups are not caught up within a bound.
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;

/// How long a group may go without a fresh lag reading before it counts as stalled (a handler retrying
/// forever, or a runner that stopped).
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// The consumer groups run on one bus handle (shared by its clones).
#[derive(Clone, Default)]
pub struct ConsumerHealth {
    groups: Arc<Mutex<BTreeMap<String, GroupState>>>,
}

#[derive(Debug, Clone)]
struct GroupState {
    subscribed: bool,
    /// Messages after the group's committed positions, last time it was measured.
    lag: Option<u64>,
    /// When the runner last measured its lag (or registered).
    checked_at: Instant,
    /// Why the last poll failed; cleared by a good poll.
    poll_error: Option<String>,
    /// Why the last lag reading failed (e.g. no broker reachable); cleared by a good reading.
    lag_error: Option<String>,
    /// Whether the runner still runs.
    running: bool,
}

impl ConsumerHealth {
    /// Registers `group` (not subscribed yet) and returns its reporting handle.
    pub fn register(&self, group: &str) -> GroupHealth {
        self.groups.lock().insert(
            group.to_string(),
            GroupState {
                subscribed: false,
                lag: None,
                checked_at: Instant::now(),
                poll_error: None,
                lag_error: None,
                running: true,
            },
        );
        GroupHealth {
            groups: self.groups.clone(),
            group: group.to_string(),
        }
    }

    /// What keeps the running groups from being ready: not subscribed, the bus failing, lag above `max_lag`
    /// messages, or no lag reading for [`STALE_AFTER`]. Empty when every group is caught up.
    pub fn problems(&self, max_lag: u64) -> Vec<String> {
        self.problems_at(max_lag, Instant::now())
    }

    fn problems_at(&self, max_lag: u64, now: Instant) -> Vec<String> {
        let groups = self.groups.lock();
        let mut out = Vec::new();
        for (group, s) in groups.iter().filter(|(_, s)| s.running) {
            if !s.subscribed {
                out.push(format!("consumer {group}: not subscribed"));
            } else if let Some(e) = s.poll_error.as_ref().or(s.lag_error.as_ref()) {
                out.push(format!("consumer {group}: bus unavailable ({e})"));
            } else if now.saturating_duration_since(s.checked_at) > STALE_AFTER {
                out.push(format!(
                    "consumer {group}: no progress for {} s",
                    now.saturating_duration_since(s.checked_at).as_secs()
                ));
            } else if let Some(lag) = s.lag.filter(|&l| l > max_lag) {
                out.push(format!(
                    "consumer {group}: lag {lag} messages (bound {max_lag})"
                ));
            }
        }
        out
    }
}

/// One group's reporting handle; dropping it (the runner stopped) removes the group from readiness.
pub struct GroupHealth {
    groups: Arc<Mutex<BTreeMap<String, GroupState>>>,
    group: String,
}

impl GroupHealth {
    fn update(&self, f: impl FnOnce(&mut GroupState)) {
        if let Some(s) = self.groups.lock().get_mut(&self.group) {
            f(s);
        }
    }

    /// The runner joined its group.
    pub fn subscribed(&self) {
        self.update(|s| {
            s.subscribed = true;
            s.checked_at = Instant::now();
        });
    }

    /// A poll failed.
    pub fn poll_failed(&self, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        self.update(|s| s.poll_error = Some(error));
    }

    /// A poll answered.
    pub fn polled(&self) {
        self.update(|s| s.poll_error = None);
    }

    /// The group's lag could not be measured (the bus is unreachable).
    pub fn lag_failed(&self, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        self.update(|s| {
            s.lag_error = Some(error);
            s.checked_at = Instant::now();
        });
    }

    /// The group's lag, just measured.
    pub fn lag(&self, messages: u64) {
        self.update(|s| {
            s.lag = Some(messages);
            s.lag_error = None;
            s.checked_at = Instant::now();
        });
    }
}

impl Drop for GroupHealth {
    fn drop(&mut self) {
        self.update(|s| s.running = false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_ready_only_when_subscribed_answering_fresh_and_within_the_bound() {
        let health = ConsumerHealth::default();
        let g = health.register("order.processor");
        assert_eq!(
            health.problems(100),
            ["consumer order.processor: not subscribed"]
        );
        g.subscribed();
        assert!(health.problems(100).is_empty(), "lag not known yet is fine");
        g.lag(101);
        assert_eq!(
            health.problems(100),
            ["consumer order.processor: lag 101 messages (bound 100)"]
        );
        g.lag(100);
        assert!(health.problems(100).is_empty());
        g.lag_failed(&"no broker reachable");
        g.polled();
        assert_eq!(
            health.problems(100),
            ["consumer order.processor: bus unavailable (no broker reachable)"],
            "a good poll does not hide an unreachable bus"
        );
        g.lag(0);
        g.poll_failed(&"log closed");
        assert_eq!(
            health.problems(100),
            ["consumer order.processor: bus unavailable (log closed)"]
        );
        g.polled();
        assert!(health.problems(100).is_empty());
        let later = Instant::now() + STALE_AFTER + Duration::from_secs(1);
        assert_eq!(health.problems_at(100, later).len(), 1, "stalled");
        drop(g);
        assert!(
            health.problems_at(100, later).is_empty(),
            "a stopped runner no longer counts"
        );
    }
}
