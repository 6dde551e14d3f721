//! `--suite`: every figure of the benchmark report from one invocation against one shop, checked against the
//! targets of DESIGN §9.
//!
//! In order: `catalog-read` at one rate with its baselines (the gateway-overhead ratio to direct Thrift calls of
//! the same data, and the echo ceiling); a count of the Thrift calls the services receive per catalog-read query
//! (read from the shop's `/metrics` while it is otherwise idle); then a sweep of `thrift-shop-mix` over rates
//! that include the thrift-shop floor (1,667 req/s), which gives the highest rate meeting the p99 SLO, the
//! figures at the floor, the shop's memory and the projection lag at each step.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use serde::Serialize;
use serde_json::json;

use crate::{
    Session,
    gql::Gql,
    report::{Report, SweepReport},
    schedule::LoadSpec,
    stats::Outcome,
    world::CATALOG_HEAVY,
};

/// The thrift-shop floor: 100k requests a minute.
pub const FLOOR_RPS: f64 = 1667.0;

/// The DESIGN §9 throughput target of the mix at p99 ≤ 50 ms on 2 cores.
pub const TARGET_MIX_RPS: f64 = 5000.0;

/// The thrift-shop floor's latency bound: p99 under 500 ms.
pub const FLOOR_P99_MS: f64 = 500.0;

/// Gateway overhead target: GraphQL ÷ direct Thrift.
pub const TARGET_OVERHEAD: f64 = 2.0;

/// All-in-one memory target under load.
pub const TARGET_RSS_MIB: f64 = 300.0;

/// Projection lag target of the embedded (all-in-one) shop, p99.
pub const TARGET_LAG_P99_MS: f64 = 20.0;

/// Thrift calls one catalog-read query ([`CATALOG_HEAVY`]) may cost: one batched call per service and field
/// kind per level — `search_products`; `get_variants` and `get_collections`; `get_stock` for the products'
/// `availableForSale`/`totalInventory` and `get_stock` for the variants' `quantityAvailable`.
pub const CATALOG_READ_CALL_BUDGET: f64 = 5.0;

/// The services' counter of Thrift calls received (one registry serves the whole all-in-one shop).
const RPC_SERVER_COUNTER: &str = "thriftshop_rpc_server_requests_total";

/// The value of label `name` in a Prometheus label set (`a="x",b="y"`).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let len = labels[start..].find('"')?;
    Some(&labels[start..start + len])
}

/// Thrift calls received by the services, summed by `service.method`, from a Prometheus text exposition.
pub fn rpc_calls(exposition: &str) -> BTreeMap<String, f64> {
    let mut calls = BTreeMap::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(RPC_SERVER_COUNTER) else {
            continue;
        };
        let Some(labels) = rest.strip_prefix('{').and_then(|r| r.split('}').next()) else {
            continue;
        };
        let Some(value) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let key = format!(
            "{}.{}",
            label(labels, "service").unwrap_or("?"),
            label(labels, "method").unwrap_or("?")
        );
        *calls.entry(key).or_insert(0.0) += value;
    }
    calls
}

fn difference(
    after: &BTreeMap<String, f64>,
    before: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .collect()
}

/// Thrift calls the services received per catalog-read query.
#[derive(Debug, Clone, Serialize)]
pub struct BackendCalls {
    /// Queries sent, one at a time, while nothing else loaded the shop.
    pub queries: usize,
    /// Calls received per query, all services.
    pub per_query: f64,
    /// Calls per query by `service.method`.
    pub by_method: BTreeMap<String, f64>,
    /// Calls received during an idle interval as long as the probe (background work; should be 0).
    pub idle_calls: f64,
    /// [`CATALOG_READ_CALL_BUDGET`].
    pub budget: f64,
}

async fn scrape(http: &reqwest::Client, url: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("reading {url}"))?
        .text()
        .await?;
    Ok(rpc_calls(&text))
}

/// Sends `queries` catalog-read queries one at a time and counts the Thrift calls the services received for
/// them, from the shop's metrics at `metrics_url`; then counts the calls of an idle interval as long.
pub async fn count_backend_calls(
    gql: &Gql,
    metrics_url: &str,
    queries: usize,
) -> anyhow::Result<BackendCalls> {
    let http = reqwest::Client::new();
    let before = scrape(&http, metrics_url).await?;
    let started = Instant::now();
    for _ in 0..queries {
        let s = gql.read(CATALOG_HEAVY, &json!({}), None).await;
        ensure!(
            s.outcome == Outcome::Ok,
            "a catalog-read query failed while counting backend calls: {:?}",
            s.outcome
        );
    }
    let after = scrape(&http, metrics_url).await?;
    tokio::time::sleep(started.elapsed()).await;
    let idle = scrape(&http, metrics_url).await?;
    let n = queries.max(1) as f64;
    let by_method: BTreeMap<String, f64> = difference(&after, &before)
        .into_iter()
        .map(|(k, v)| (k, v / n))
        .collect();
    Ok(BackendCalls {
        queries,
        per_query: by_method.values().fold(0.0, |a, b| a + b),
        by_method,
        idle_calls: difference(&idle, &after).values().fold(0.0, |a, b| a + b),
        budget: CATALOG_READ_CALL_BUDGET,
    })
}

/// What the suite runs.
#[derive(Debug, Clone)]
pub struct SuiteSpec {
    /// Warm-up, duration, arrivals, limits of every run (its rate is replaced).
    pub base: LoadSpec,
    /// Offered rate of the catalog-read run.
    pub catalog_rate: f64,
    /// Offered rates of the mix sweep (the floor is added when missing).
    pub mix_rates: Vec<f64>,
    pub slo_p99_ms: f64,
    /// Catalog-read queries sent one at a time to count backend calls.
    pub probe_queries: usize,
}

impl SuiteSpec {
    /// The sweep's rates: ascending, without duplicates, the floor included.
    pub fn rates(&self) -> Vec<f64> {
        let mut rates = self.mix_rates.clone();
        rates.push(FLOOR_RPS);
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        rates
    }
}

/// One figure against its target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub figure: String,
    pub measured: String,
    pub target: String,
    /// `None` when the run cannot tell (e.g. no sample).
    pub met: Option<bool>,
}

/// The suite's results.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// `catalog-read` with its baselines.
    pub catalog: Report,
    pub backend_calls: BackendCalls,
    /// `thrift-shop-mix` at each rate.
    pub mix: SweepReport,
    pub targets: Vec<TargetCheck>,
}

fn check(figure: &str, measured: String, target: &str, met: Option<bool>) -> TargetCheck {
    TargetCheck {
        figure: figure.to_string(),
        measured,
        target: target.to_string(),
        met,
    }
}

impl SuiteReport {
    /// Gathers the runs and checks them against the targets.
    pub fn new(catalog: Report, backend_calls: BackendCalls, mix: SweepReport) -> Self {
        let mut targets = Vec::new();
        let slo = mix.slo_p99_ms;
        let best = mix.max_rate_meeting_slo;
        let best_run = best.and_then(|r| mix.runs.iter().find(|run| run.load.rate == r));
        targets.push(check(
            &format!("max thrift-shop-mix rate at p99 ≤ {slo} ms"),
            match best_run {
                Some(r) => format!(
                    "{} req/s (achieved {:.0}, p50 {:.2} ms, p99 {:.2} ms)",
                    r.load.rate, r.overall.achieved_rps, r.overall.p50_ms, r.overall.p99_ms
                ),
                None => "no rate tried met it".to_string(),
            },
            "≥ 5,000 req/s at p99 ≤ 50 ms, 2 cores (DESIGN §9)",
            Some(slo <= 50.0 && best.is_some_and(|b| b >= TARGET_MIX_RPS)),
        ));
        let floor = mix.runs.iter().find(|r| r.load.rate == FLOOR_RPS);
        targets.push(check(
            "thrift-shop-mix at 1,667 req/s offered",
            floor.map_or("not run".into(), |r| {
                let o = &r.overall;
                format!(
                    "achieved {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, failures {} of {}",
                    o.achieved_rps,
                    o.p50_ms,
                    o.p99_ms,
                    o.failures(),
                    o.count
                )
            }),
            "p99 < 500 ms at ≥ 95 % of the offered rate (thrift-shop floor)",
            floor.map(|r| {
                let o = &r.overall;
                o.p99_ms < FLOOR_P99_MS
                    && o.achieved_rps >= 0.95 * o.offered_rps
                    && o.failures() as f64 <= 0.01 * o.count as f64
            }),
        ));
        let direct = catalog.baselines.iter().find(|b| b.name == "thrift-direct");
        targets.push(check(
            "gateway overhead: catalog-read ÷ thrift-direct",
            direct.map_or("no thrift-direct baseline".into(), |b| {
                format!(
                    "p50 {} ({:.2} / {:.2} ms), p99 {} ({:.2} / {:.2} ms) at {} req/s",
                    times(b.ratio.p50),
                    catalog.overall.p50_ms,
                    b.overall.p50_ms,
                    times(b.ratio.p99),
                    catalog.overall.p99_ms,
                    b.overall.p99_ms,
                    catalog.load.rate
                )
            }),
            "≤ 2× (DESIGN §9 states it for a one-field query; this one resolves ~3,000 fields)",
            direct.and_then(|b| {
                Some(b.ratio.p50? <= TARGET_OVERHEAD && b.ratio.p99? <= TARGET_OVERHEAD)
            }),
        ));
        let calls = &backend_calls;
        targets.push(check(
            "Thrift calls per catalog-read query",
            format!(
                "{:.2} ({}){}",
                calls.per_query,
                calls
                    .by_method
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if calls.idle_calls > 0.0 {
                    format!("; {} calls while idle", calls.idle_calls)
                } else {
                    String::new()
                }
            ),
            "≤ 5: one batched call per service and field kind per query level",
            Some(calls.per_query <= calls.budget),
        ));
        // Memory is judged where the shop keeps up (steps meeting the SLO); beyond, queues grow with the overload.
        let peak_of = |sustained: bool| {
            mix.runs
                .iter()
                .zip(&mix.steps)
                .filter(|(_, step)| !sustained || step.meets_slo)
                .filter_map(|(r, _)| r.usage.as_ref()?.peak_rss_mib)
                .reduce(f64::max)
        };
        let (sustained, overall) = (peak_of(true), peak_of(false));
        let spawned = mix
            .runs
            .first()
            .is_some_and(|r| r.setup["spawned_shop"] == true);
        let mib = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.0} MiB"));
        targets.push(check(
            "RSS under load",
            format!(
                "peak {} over the rates meeting the SLO, {} over the whole sweep (overload included){}; {}",
                mib(sustained),
                mib(overall),
                if spawned {
                    "; shop and generator in one process"
                } else {
                    "; this process is the generator only"
                },
                mix.runs
                    .iter()
                    .filter_map(|r| Some(format!(
                        "{:.0} MiB at {}",
                        r.usage.as_ref()?.rss_mib?,
                        r.load.rate
                    )))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "≤ 300 MiB, all-in-one (DESIGN §9), at the rates it sustains",
            sustained.filter(|_| spawned).map(|p| p <= TARGET_RSS_MIB),
        ));
        let lag_run = best_run.or(mix.runs.first());
        targets.push(check(
            "projection lag (checkout answered → order in customer.orders)",
            lag_run.map_or("not run".into(), |r| {
                let l = &r.projection_lag;
                format!(
                    "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms at {} req/s ({} samples, {} not seen); p99 by rate: {}",
                    l.p50_ms,
                    l.p99_ms,
                    l.max_ms,
                    r.load.rate,
                    l.samples,
                    l.not_seen,
                    mix.runs
                        .iter()
                        .map(|r| format!("{} ms at {}", fmt2(r.projection_lag.p99_ms), r.load.rate))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
            "p99 ≤ 20 ms, embedded (DESIGN §9)",
            lag_run
                .map(|r| &r.projection_lag)
                .filter(|l| l.samples > 0)
                .map(|l| l.p99_ms <= TARGET_LAG_P99_MS && l.not_seen == 0),
        ));
        Self {
            catalog,
            backend_calls,
            mix,
            targets,
        }
    }

    /// The figures against their targets.
    pub fn targets_text(&self) -> String {
        let mut o = String::from("\nsuite: the figures against their targets\n");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "unknown",
            };
            let _ = writeln!(
                o,
                "- {} — {}\n    target {}: {met}",
                t.figure, t.measured, t.target
            );
        }
        o
    }

    /// Every run's table, then the sweep and the targets.
    pub fn to_text(&self) -> String {
        let mut o = self.catalog.to_text();
        o.push('\n');
        for r in &self.mix.runs {
            o.push_str(&r.to_text());
            o.push('\n');
        }
        o.push_str(&self.mix.to_text());
        o.push_str(&self.targets_text());
        o
    }
}

fn fmt2(x: f64) -> String {
    format!("{x:.2}")
}

fn times(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}×"))
}

/// Runs the suite: `catalog` is a catalog-read session (with its baselines), `mix` a thrift-shop-mix session,
/// both against the shop whose metrics are at `metrics_url`.
pub async fn run_suite(
    catalog: &Session,
    mix: &Session,
    spec: &SuiteSpec,
    metrics_url: &str,
) -> anyhow::Result<SuiteReport> {
    let catalog_spec = LoadSpec {
        rate: spec.catalog_rate,
        ..spec.base.clone()
    };
    eprintln!(
        "suite: catalog-read at {} req/s for {:?} after {:?} warm-up…",
        spec.catalog_rate, spec.base.duration, spec.base.warmup
    );
    let catalog_report = catalog.run(&catalog_spec).await;
    // Let the last answers of the run drain before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!(
        "suite: counting Thrift calls of {} catalog-read queries…",
        spec.probe_queries
    );
    let calls = count_backend_calls(&catalog.world.gql, metrics_url, spec.probe_queries).await?;
    let rates = spec.rates();
    eprintln!("suite: thrift-shop-mix sweep over {rates:?} req/s…");
    let sweep = mix.sweep(&spec.base, &rates, spec.slo_p99_ms).await;
    Ok(SuiteReport::new(catalog_report, calls, sweep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_calls_are_read_from_the_exposition() {
        let text = "# HELP thriftshop_rpc_server_requests Thrift calls.\n\
            # TYPE thriftshop_rpc_server_requests counter\n\
            thriftshop_rpc_server_requests_total{service=\"catalog\",method=\"search_products\",code=\"OK\"} 40\n\
            thriftshop_rpc_server_requests_total{service=\"catalog\",method=\"search_products\",code=\"NOT_FOUND\"} 2\n\
            thriftshop_rpc_server_requests_total{service=\"inventory\",method=\"get_stock\",code=\"OK\"} 80\n\
            thriftshop_rpc_server_duration_seconds_bucket{service=\"catalog\",le=\"0.1\"} 9\n\
            thriftshop_rpc_client_requests_total{service=\"catalog\",method=\"x\",code=\"OK\"} 5\n";
        let calls = rpc_calls(text);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls["catalog.search_products"], 42.0);
        assert_eq!(calls["inventory.get_stock"], 80.0);
        let mut before = calls.clone();
        before.insert("catalog.search_products".into(), 40.0);
        let d = difference(&calls, &before);
        assert_eq!(d.len(), 1);
        assert_eq!(d["catalog.search_products"], 2.0);
    }

    #[test]
    fn the_floor_is_always_swept() {
        let spec = SuiteSpec {
            base: LoadSpec {
                rate: 1.0,
                arrival: crate::schedule::ArrivalKind::Constant,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(1),
                max_in_flight: 10,
                timeout: Duration::from_secs(1),
                seed: 1,
            },
            catalog_rate: 100.0,
            mix_rates: vec![900.0, 300.0, 900.0],
            slo_p99_ms: 50.0,
            probe_queries: 10,
        };
        assert_eq!(spec.rates(), [300.0, 900.0, FLOOR_RPS]);
    }

    #[test]
    fn figures_are_checked_against_the_targets() {
        use crate::report::tests::{baseline, sample_report};
        let catalog =
            sample_report(100.0, 5).with_baselines(vec![baseline("thrift-direct", 100, 1)]);
        let mix = SweepReport::new(
            50.0,
            vec![sample_report(300.0, 5), sample_report(FLOOR_RPS, 900)],
        );
        let calls = BackendCalls {
            queries: 10,
            per_query: 4.0,
            by_method: BTreeMap::from([("catalog.search_products".to_string(), 1.0)]),
            idle_calls: 0.0,
            budget: CATALOG_READ_CALL_BUDGET,
        };
        let s = SuiteReport::new(catalog, calls, mix);
        let met: Vec<Option<bool>> = s.targets.iter().map(|t| t.met).collect();
        // No rate meets the SLO; the floor run failed 2 of 101 arrivals; the gateway is ~4× the direct call;
        // 4 calls per query; RSS is not the shop's (not spawned); lag 3 ms at the first rate.
        assert_eq!(
            met,
            [
                Some(false),
                Some(false),
                Some(false),
                Some(true),
                None,
                Some(true)
            ]
        );
        // Each sample run fails 2 of 101 arrivals (> 1 %): no step meets the SLO.
        assert_eq!(s.targets[0].measured, "no rate tried met it");
        let text = s.to_text();
        for needle in [
            "NOT MET",
            "catalog.search_products 1.00",
            "highest rate meeting the SLO: none",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["mix"]["max_rate_meeting_slo"].is_null());
        assert_eq!(json["targets"].as_array().map(Vec::len), Some(6));
        assert!(json["catalog"]["baselines"][0]["ratio"]["p50"].is_number());
    }
}
