//! `shop-loadtest`: an open-loop load generator for thriftshop's GraphQL API, its scenarios and reports.
//!
//! [`schedule::run_open_loop`] sends requests at a constant or Poisson rate and times each from its intended
//! start; [`world::World`] knows the shop (catalog, customers, carts) and makes the requests of each
//! [`scenario::Op`]; [`report`] and [`chart`] turn the [`stats`] into text, JSON and SVG. [`baseline`]s (an
//! HTTP echo, direct Thrift calls) run through the same runner at the same rate, so figures become ratios.
pub mod baseline;
pub mod chart;
pub mod child;
pub mod compare;
pub mod gql;
pub mod otlp_sink;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod spawn;
pub mod stats;
pub mod suite;
pub mod world;

use std::{future::Future, sync::Arc};

use baseline::Baselines;
use rand::rngs::StdRng;
use report::{BaselineReport, CpuSample, Machine, Report, RunInfo, SweepReport, Usage};
use schedule::{LoadSpec, Named, run_open_loop};
use serde_json::json;
use stats::{Measured, Sample};
use world::{SetupOptions, World};

/// Runs `spec` through [`run_open_loop`] and samples CPU and memory over its measured window. Scenarios and
/// baselines are both measured here.
pub async fn measure<J, P, E, F>(spec: &LoadSpec, pick: P, exec: E) -> (Measured, Option<Usage>)
where
    J: Named + Send + 'static,
    P: FnMut(&mut StdRng) -> J,
    E: Fn(J) -> F + Send + Sync + 'static,
    F: Future<Output = Sample> + Send + 'static,
{
    measure_watching(spec, None, pick, exec).await
}

/// [`measure`], also sampling the CPU of `child`, a shop process the generator started.
pub async fn measure_watching<J, P, E, F>(
    spec: &LoadSpec,
    child: Option<u32>,
    pick: P,
    exec: E,
) -> (Measured, Option<Usage>)
where
    J: Named + Send + 'static,
    P: FnMut(&mut StdRng) -> J,
    E: Fn(J) -> F + Send + Sync + 'static,
    F: Future<Output = Sample> + Send + 'static,
{
    // CPU is sampled over the measured window (the runner starts right after this).
    let (warmup, duration) = (spec.warmup, spec.duration);
    let usage = tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        let a = CpuSample::read_with(child)?;
        tokio::time::sleep(duration).await;
        Some(Usage::between(a, CpuSample::read_with(child)?))
    });
    let measured = run_open_loop(spec, pick, exec).await;
    (measured, usage.await.ok().flatten())
}

/// A target that is set up (catalog discovered, customers signed in) and ready for runs.
pub struct Session {
    pub world: Arc<World>,
    setup: SetupOptions,
    machine: Machine,
    args: Vec<String>,
    spawned: bool,
    child: Option<u32>,
    baselines: Option<Baselines>,
}

impl Session {
    /// Sets up against the GraphQL endpoint `url`, with an HTTP pool sized for `max_in_flight` connections.
    /// `args` are recorded in reports.
    pub async fn new(
        url: &str,
        setup: SetupOptions,
        max_in_flight: usize,
        args: Vec<String>,
    ) -> anyhow::Result<Self> {
        let gql = gql::Gql::new(url, max_in_flight)?;
        let world = World::setup(gql, setup.clone()).await?;
        Ok(Self {
            world,
            setup,
            machine: Machine::detect(),
            args,
            spawned: false,
            child: None,
            baselines: None,
        })
    }

    /// Marks the target as a shop spawned in this process (its CPU and memory count in the report's usage).
    pub fn spawned(mut self) -> Self {
        self.spawned = true;
        self
    }

    /// Marks the target as a shop in the child process `pid` (its CPU is reported in the usage).
    pub fn child_shop(mut self, pid: Option<u32>) -> Self {
        self.child = pid;
        self
    }

    /// Runs `baselines` before each run of the scenario, at the run's rate, warm-up and duration.
    pub fn with_baselines(mut self, baselines: Baselines) -> Self {
        self.baselines = Some(baselines);
        self
    }

    /// Runs each baseline at `spec` (one after another).
    pub async fn run_baselines(&self, spec: &LoadSpec) -> Vec<BaselineReport> {
        let mut reports = Vec::new();
        for target in self.baselines.iter().flat_map(|b| &b.targets) {
            let b = target.baseline();
            eprintln!(
                "baseline {} at {} req/s for {:?} after {:?} warm-up…",
                b.name(),
                spec.rate,
                spec.duration,
                spec.warmup
            );
            let target = target.clone();
            let (m, usage) = measure(
                spec,
                |_| b.name(),
                move |_| {
                    let target = target.clone();
                    async move { target.exec().await }
                },
            )
            .await;
            reports.push(BaselineReport::new(b.name(), b.what(), &m, usage));
        }
        reports
    }

    /// One run of the scenario at `spec`, after the baselines (if any) at the same load.
    pub async fn run(&self, spec: &LoadSpec) -> Report {
        let baselines = self.run_baselines(spec).await;
        self.world.reset_facts();
        let picker = self.world.clone();
        let exec = self.world.clone();
        let (measured, usage) = measure_watching(
            spec,
            self.child,
            move |rng| picker.pick(rng),
            move |job| exec.clone().exec(job),
        )
        .await;
        let s = &self.setup;
        Report::new(
            RunInfo {
                scenario: s.scenario.name(),
                target: self.world.gql.url(),
                load: spec,
                setup: json!({
                    "customers": self.world.customers.len(),
                    "login_share": s.login_share,
                    "lag_sample": s.lag_sample,
                    "zipf_s": s.zipf_s,
                    "products": self.world.products.len(),
                    "spawned_shop": self.spawned,
                    "child_shop": self.child.is_some(),
                }),
                machine: &self.machine,
                args: &self.args,
                facts: self.world.facts().await,
                usage,
            },
            &measured,
        )
        .with_baselines(baselines)
    }

    /// Runs each of `rates` (each with `base`'s warm-up and duration) and finds the highest meeting the SLO.
    pub async fn sweep(&self, base: &LoadSpec, rates: &[f64], slo_p99_ms: f64) -> SweepReport {
        let mut runs = Vec::new();
        for &rate in rates {
            let spec = LoadSpec {
                rate,
                ..base.clone()
            };
            let r = self.run(&spec).await;
            eprintln!(
                "sweep: {rate} req/s → achieved {:.1}, p99 {:.2} ms",
                r.overall.achieved_rps, r.overall.p99_ms
            );
            runs.push(r);
        }
        SweepReport::new(slo_p99_ms, runs)
    }
}
