//! Rate limits of one gateway (GCRA buckets keyed per client, [`governor`]):
//! - a request budget and a cost budget (the operation's complexity) per client — the access token when one is
//!   presented, else the client's IP address;
//! - failed sign-ins per account (normalised email) and per IP address, counted per `customerAccessTokenCreate`
//!   field executed, so aliases and batches cannot multiply guesses; once a budget is spent, further attempts
//!   are refused (before any password is checked) until the bucket refills. Successful sign-ins cost nothing.
//!   Wrong current passwords (`customerUpdate`) and unusable reset tokens (`customerReset*`) count here too;
//! - password-reset requests (`customerRecover`) per email and per IP address: every request counts, whether
//!   or not the email has an account (so the limit tells nothing about accounts either).
//!
//! Refusals carry how long to wait. Limits are per gateway process: with N gateways a client may get up to N
//! times the budget (documented in SECURITY.md).
use std::{
    hash::Hash,
    net::IpAddr,
    num::{NonZeroU32, NonZeroUsize},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use parking_lot::Mutex;

/// Budgets (0 disables that limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOptions {
    /// Sustained requests per second per client (a batch counts each operation).
    pub client_requests_per_second: u32,
    /// Requests a client may send at once above the sustained rate.
    pub client_request_burst: u32,
    /// Sustained complexity points per second per client (an operation costs its complexity, at least 1).
    pub client_cost_per_second: u32,
    /// Complexity points a client may spend at once.
    pub client_cost_burst: u32,
    /// Failed sign-ins per hour per IP address before its attempts are refused for a while.
    pub login_failures_per_ip_per_hour: u32,
    /// Failed sign-ins per hour per account before its attempts are refused for a while.
    pub login_failures_per_account_per_hour: u32,
    /// Password-reset requests per hour per email address.
    pub password_recover_per_account_per_hour: u32,
    /// Password-reset requests per hour per IP address.
    pub password_recover_per_ip_per_hour: u32,
}

impl LimitOptions {
    /// No limits at all (tests and benchmarks).
    pub const OFF: LimitOptions = LimitOptions {
        client_requests_per_second: 0,
        client_request_burst: 0,
        client_cost_per_second: 0,
        client_cost_burst: 0,
        login_failures_per_ip_per_hour: 0,
        login_failures_per_account_per_hour: 0,
        password_recover_per_account_per_hour: 0,
        password_recover_per_ip_per_hour: 0,
    };
}

impl Default for LimitOptions {
    /// Sign-in limits on, per-client budgets off (the development profile).
    fn default() -> Self {
        Self {
            login_failures_per_ip_per_hour: 100,
            login_failures_per_account_per_hour: 20,
            password_recover_per_account_per_hour: 5,
            password_recover_per_ip_per_hour: 30,
            ..Self::OFF
        }
    }
}

/// Why a client must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long until the next attempt can succeed.
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds to put in a `Retry-After` header (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

struct Bucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    /// `per` / `rate` replenishes one cell; `burst` cells at most. `None` when `rate` is 0.
    fn new(rate: u32, per: Duration, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(rate)?;
        let burst = NonZeroU32::new(burst.max(1))?;
        let quota = Quota::with_period(per / rate.get())?.allow_burst(burst);
        Some(Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        })
    }

    fn take(&self, key: &K, n: u32) -> Result<(), Throttled> {
        let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Throttled {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }),
            // More than the whole burst at once: it can never pass; wait a full period and send less.
            Err(_) => Err(Throttled {
                retry_after: Duration::from_secs(1),
            }),
        }
    }
}

/// A failure budget: spending past it refuses the key until the bucket has refilled.
struct FailureBudget<K: Hash + Eq + Clone> {
    bucket: Bucket<K>,
    lockouts: Mutex<lru::LruCache<K, Instant>>,
}

impl<K: Hash + Eq + Clone> FailureBudget<K> {
    fn new(per_hour: u32) -> Option<Self> {
        Some(Self {
            bucket: Bucket::new(per_hour, Duration::from_secs(3600), per_hour)?,
            lockouts: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN),
            )),
        })
    }

    fn check(&self, key: &K) -> Result<(), Throttled> {
        let until = self.lockouts.lock().get(key).copied();
        match until {
            Some(until) if until > Instant::now() => Err(Throttled {
                retry_after: until - Instant::now(),
            }),
            _ => Ok(()),
        }
    }

    fn failed(&self, key: &K) {
        if let Err(t) = self.bucket.take(key, 1) {
            self.lockouts
                .lock()
                .put(key.clone(), Instant::now() + t.retry_after);
        }
    }
}

/// The gateway's limiters.
pub struct Limits {
    requests: Option<Bucket<String>>,
    cost: Option<Bucket<String>>,
    login_ip: Option<FailureBudget<IpAddr>>,
    login_account: Option<FailureBudget<String>>,
    recover_ip: Option<Bucket<IpAddr>>,
    recover_account: Option<Bucket<String>>,
    checks: AtomicU64,
}

/// How often (in checks) idle keys are dropped from the buckets.
const SWEEP_EVERY: u64 = 4096;

impl Limits {
    /// Limiters with `opts`' budgets.
    pub fn new(opts: LimitOptions) -> Self {
        let second = Duration::from_secs(1);
        Self {
            requests: Bucket::new(
                opts.client_requests_per_second,
                second,
                opts.client_request_burst,
            ),
            cost: Bucket::new(opts.client_cost_per_second, second, opts.client_cost_burst),
            login_ip: FailureBudget::new(opts.login_failures_per_ip_per_hour),
            login_account: FailureBudget::new(opts.login_failures_per_account_per_hour),
            recover_ip: Bucket::new(
                opts.password_recover_per_ip_per_hour,
                Duration::from_secs(3600),
                opts.password_recover_per_ip_per_hour,
            ),
            recover_account: Bucket::new(
                opts.password_recover_per_account_per_hour,
                Duration::from_secs(3600),
                opts.password_recover_per_account_per_hour,
            ),
            checks: AtomicU64::new(0),
        }
    }

    fn sweep(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            if let Some(b) = &self.requests {
                b.limiter.retain_recent();
            }
            if let Some(b) = &self.cost {
                b.limiter.retain_recent();
            }
            if let Some(b) = &self.login_ip {
                b.bucket.limiter.retain_recent();
            }
            if let Some(b) = &self.login_account {
                b.bucket.limiter.retain_recent();
            }
            if let Some(b) = &self.recover_ip {
                b.limiter.retain_recent();
            }
            if let Some(b) = &self.recover_account {
                b.limiter.retain_recent();
            }
        }
    }

    /// Spends `operations` requests of `client`'s request budget.
    pub fn request(&self, client: &str, operations: u32) -> Result<(), Throttled> {
        self.sweep();
        match &self.requests {
            Some(b) => b.take(&client.to_string(), operations),
            None => Ok(()),
        }
    }

    /// Spends `cost` points of `client`'s cost budget.
    pub fn cost(&self, client: &str, cost: usize) -> Result<(), Throttled> {
        match &self.cost {
            Some(b) => b.take(
                &client.to_string(),
                u32::try_from(cost.max(1)).unwrap_or(u32::MAX),
            ),
            None => Ok(()),
        }
    }

    /// Admits a sign-in attempt from `ip` for `account` (a normalised email), or says how long to wait.
    pub fn login_attempt(&self, ip: Option<IpAddr>, account: &str) -> Result<(), Throttled> {
        self.sweep();
        if let (Some(b), Some(ip)) = (&self.login_ip, ip) {
            b.check(&ip)?;
        }
        match &self.login_account {
            Some(b) => b.check(&account.to_string()),
            None => Ok(()),
        }
    }

    /// Records a failed sign-in from `ip` for `account`.
    pub fn login_failed(&self, ip: Option<IpAddr>, account: &str) {
        if let (Some(b), Some(ip)) = (&self.login_ip, ip) {
            b.failed(&ip);
        }
        if let Some(b) = &self.login_account {
            b.failed(&account.to_string());
        }
    }
}

impl Limits {
    /// Spends one password-reset request from `ip` for `account` (a normalised email), or says how long to
    /// wait. The IP budget is checked first, so a refused IP spends nothing of the account's.
    pub fn recover_attempt(&self, ip: Option<IpAddr>, account: &str) -> Result<(), Throttled> {
        self.sweep();
        if let (Some(b), Some(ip)) = (&self.recover_ip, ip) {
            b.take(&ip, 1)?;
        }
        match &self.recover_account {
            Some(b) => b.take(&account.to_string(), 1),
            None => Ok(()),
        }
    }
}

/// The key of a sign-in account: the email, trimmed and lower-cased (the user service normalises the same way).
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_budget_refuses_then_reports_wait() {
        let limits = Limits::new(LimitOptions {
            client_requests_per_second: 10,
            client_request_burst: 5,
            ..LimitOptions::OFF
        });
        for _ in 0..5 {
            assert!(limits.request("a", 1).is_ok());
        }
        let t = limits.request("a", 1).unwrap_err();
        assert!(t.retry_after <= Duration::from_millis(100), "{t:?}");
        assert_eq!(t.retry_after_secs(), 1);
        assert!(limits.request("b", 5).is_ok(), "clients are independent");
        assert!(
            limits.request("c", 6).is_err(),
            "more than the burst at once"
        );
    }

    #[test]
    fn failed_logins_lock_the_account_not_others() {
        let limits = Limits::new(LimitOptions {
            login_failures_per_account_per_hour: 3,
            login_failures_per_ip_per_hour: 1000,
            ..LimitOptions::OFF
        });
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..3 {
            assert!(limits.login_attempt(ip, "ann@x.io").is_ok());
            limits.login_failed(ip, "ann@x.io");
        }
        assert!(limits.login_attempt(ip, "ann@x.io").is_ok());
        limits.login_failed(ip, "ann@x.io"); // the 4th failure spends past the budget
        let t = limits.login_attempt(ip, "ann@x.io").unwrap_err();
        assert!(t.retry_after > Duration::from_secs(60), "{t:?}");
        assert!(limits.login_attempt(ip, "bob@x.io").is_ok());
        assert_eq!(account_key("  Ann@X.io "), "ann@x.io");
    }

    #[test]
    fn failed_logins_from_one_ip_across_accounts_lock_the_ip() {
        let limits = Limits::new(LimitOptions {
            login_failures_per_ip_per_hour: 5,
            login_failures_per_account_per_hour: 100,
            ..LimitOptions::OFF
        });
        let stuffing = Some(IpAddr::from([10, 0, 0, 2]));
        for i in 0..6 {
            let account = format!("user{i}@x.io");
            assert!(limits.login_attempt(stuffing, &account).is_ok());
            limits.login_failed(stuffing, &account);
        }
        assert!(limits.login_attempt(stuffing, "new@x.io").is_err());
        assert!(
            limits
                .login_attempt(Some(IpAddr::from([10, 0, 0, 3])), "new@x.io")
                .is_ok()
        );
    }

    #[test]
    fn recover_requests_are_budgeted_per_email_and_per_ip() {
        let limits = Limits::new(LimitOptions {
            password_recover_per_account_per_hour: 2,
            password_recover_per_ip_per_hour: 3,
            ..LimitOptions::OFF
        });
        let ip = Some(IpAddr::from([10, 0, 0, 4]));
        let other = Some(IpAddr::from([10, 0, 0, 5]));
        assert!(limits.recover_attempt(ip, "ann@x.io").is_ok());
        assert!(limits.recover_attempt(other, "ann@x.io").is_ok());
        let t = limits.recover_attempt(other, "ann@x.io").unwrap_err();
        assert!(t.retry_after > Duration::from_secs(60), "{t:?}");
        assert!(limits.recover_attempt(ip, "bob@x.io").is_ok());
        assert!(limits.recover_attempt(ip, "cy@x.io").is_ok());
        assert!(
            limits.recover_attempt(ip, "dee@x.io").is_err(),
            "the IP's budget is spent"
        );
    }

    #[test]
    fn zero_disables() {
        let limits = Limits::new(LimitOptions::OFF);
        for _ in 0..10_000 {
            assert!(limits.request("a", 1).is_ok());
            assert!(limits.cost("a", 1_000_000).is_ok());
            assert!(limits.login_attempt(None, "a").is_ok());
            limits.login_failed(None, "a");
            assert!(
                limits
                    .recover_attempt(Some(IpAddr::from([10, 0, 0, 9])), "a")
                    .is_ok()
            );
        }
    }
}
