//! `loadtest`: drives thriftshop's GraphQL API with an open-loop scenario and reports latency and throughput.
use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use clap::Parser;
use shop_loadtest::{
    Session,
    baseline::{Baseline, Baselines, ThriftAddrs},
    chart,
    compare::{CompareOptions, compare_tracing},
    scenario::Scenario,
    schedule::{ArrivalKind, LoadSpec},
    spawn::SpawnedShop,
    suite::{SuiteSpec, run_suite},
    world::SetupOptions,
};
use shop_rpc::auth::Identity;

/// The same allocator as the `thriftshop` binary, so a `--spawn`ed shop runs as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "loadtest",
    version,
    about = "Open-loop load generator for thriftshop's GraphQL API"
)]
struct Cli {
    /// GraphQL endpoint to load.
    #[arg(long, default_value = "http://127.0.0.1:8080/graphql")]
    target: String,
    /// Start the all-in-one shop in this process (port 0, data in a temporary directory) and load it.
    #[arg(long, conflicts_with = "target")]
    spawn: bool,
    /// Measure the cost of tracing: start `--binary` twice as a child process (fresh loopback ports and data),
    /// tracing off and then on at 100 % sampling exporting to an OTLP/HTTP sink in this process, run the same
    /// scenario at the same rate, warm-up and duration against each, and report both with ratios on ÷ off.
    #[arg(
        long,
        requires = "binary",
        conflicts_with_all = ["target", "spawn", "sweep", "baselines", "thrift_catalog"]
    )]
    compare_tracing: bool,
    /// Every figure of the benchmark report in one invocation: catalog-read at `--rate` with every available
    /// baseline, the Thrift calls per catalog-read query (from the shop's /metrics), then a thrift-shop-mix
    /// sweep over `--sweep` (default 300,600,900,1200; 1,667 is always added), checked against DESIGN §9.
    #[arg(long, conflicts_with_all = ["compare_tracing", "scenario", "flash_stock"])]
    suite: bool,
    /// The `thriftshop` binary for --compare-tracing (e.g. target/release/thriftshop).
    #[arg(long, requires = "compare_tracing")]
    binary: Option<PathBuf>,
    /// Worker threads of the spawned shop's runtime (default: the number of cores).
    #[arg(long, requires = "spawn")]
    spawn_threads: Option<usize>,
    /// flash-sale with --spawn: give one variant this much stock first (measures checkouts on one hot variant).
    #[arg(long, requires = "spawn")]
    flash_stock: Option<u32>,
    #[arg(long, value_enum, default_value_t = Scenario::ThriftShopMix)]
    scenario: Scenario,
    /// Offered rate, requests per second (at most 50000).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Measured duration, e.g. `30s`, `2m`, `500ms` (a bare number is seconds; at most 600 s).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    duration: Duration,
    /// Warm-up before measuring (sent, not recorded).
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    warmup: Duration,
    #[arg(long, value_enum, default_value_t = ArrivalKind::Constant)]
    arrival: ArrivalKind,
    /// Most requests in flight; arrivals beyond it are dropped and counted.
    #[arg(long, default_value_t = 1000)]
    max_in_flight: usize,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
    /// Customers to sign up and log in during setup (password hashing is slow: keep it small).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(0..=1000))]
    customers: u16,
    /// Share of shopper requests made signed in.
    #[arg(long, default_value_t = 0.5)]
    login_share: f64,
    /// Share of signed-in checkouts followed by a projection-lag probe.
    #[arg(long, default_value_t = 0.1)]
    lag_sample: f64,
    /// Zipf exponent of product popularity.
    #[arg(long, default_value_t = 1.0)]
    zipf_s: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also run baselines at the same rate, warm-up and duration, just before the scenario (each sweep step
    /// too), and report the scenario's ratios to them: `--baselines` runs every available one (echo, and
    /// thrift-direct when the Thrift addresses are known), `--baselines echo,thrift-direct` the ones listed.
    #[arg(long, value_enum, value_delimiter = ',', num_args = 0..)]
    baselines: Option<Vec<Baseline>>,
    /// The catalog service's Thrift address, for the thrift-direct baseline against a shop not spawned here.
    #[arg(long, requires = "thrift_inventory", conflicts_with = "spawn")]
    thrift_catalog: Option<std::net::SocketAddr>,
    /// The inventory service's Thrift address (with --thrift-catalog).
    #[arg(long, requires = "thrift_catalog", conflicts_with = "spawn")]
    thrift_inventory: Option<std::net::SocketAddr>,
    /// The target shop's service keys file (its `<data_dir>/service-keys.toml`): thrift-direct calls the
    /// services with the gateway's key, as the gateway does.
    #[arg(long, requires = "thrift_catalog", conflicts_with = "spawn")]
    service_keys: Option<PathBuf>,
    /// Run these rates one after another (e.g. `500,1000,2000`) and report the highest meeting the SLO.
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<f64>,
    /// The p99 SLO of a sweep, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    slo_p99_ms: f64,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the SVG chart here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write `report.json`, `report.txt` and the chart (`latency.svg`, or `sweep.svg`) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `30s`, `1.5s`, `500ms`, `2m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, ""), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        other => return Err(format!("unknown unit `{other}` (ms, s, m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

fn write(path: &PathBuf, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Gives the first product's first variant `stock` units; returns its global id.
async fn prepare_flash_sale(shop: &SpawnedShop, stock: i64) -> anyhow::Result<String> {
    let body: serde_json::Value = reqwest::Client::new()
        .post(&shop.url)
        .json(&serde_json::json!({
            "query": "{ products(first: 1) { edges { node { variants(first: 1) { edges { node { id } } } } } } }"
        }))
        .send()
        .await?
        .json()
        .await?;
    let id = body["data"]["products"]["edges"][0]["node"]["variants"]["edges"][0]["node"]["id"]
        .as_str()
        .context("the catalog has no variant")?
        .to_string();
    shop.set_stock(&id, stock).await?;
    eprintln!("flash sale: {id} now has {stock} units");
    Ok(id)
}

async fn run(cli: Cli, shop: Option<&SpawnedShop>) -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let target = shop.map_or(cli.target.clone(), |s| s.url.clone());
    let base = LoadSpec {
        rate: cli.rate,
        arrival: cli.arrival,
        warmup: cli.warmup,
        duration: cli.duration,
        max_in_flight: cli.max_in_flight,
        timeout: cli.timeout,
        seed: cli.seed,
    };
    for rate in cli.sweep.iter().copied().chain([cli.rate]) {
        LoadSpec {
            rate,
            ..base.clone()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !(0.0..=1.0).contains(&cli.login_share) || !(0.0..=1.0).contains(&cli.lag_sample) {
        bail!("--login-share and --lag-sample are shares in [0, 1]");
    }
    if cli.compare_tracing {
        return run_compare(&cli, base, args).await;
    }
    if cli.suite {
        return run_suite_cli(&cli, shop, base, args, &target).await;
    }
    let flash_variant = match (cli.flash_stock, shop) {
        (Some(stock), Some(shop)) => {
            if cli.scenario != Scenario::FlashSale {
                bail!("--flash-stock only applies to the flash-sale scenario");
            }
            Some(prepare_flash_sale(shop, i64::from(stock)).await?)
        }
        _ => None,
    };
    let setup = setup_options(&cli, cli.scenario, flash_variant);
    eprintln!(
        "setting up against {target}: discovering the catalog{}…",
        if cli.scenario.needs_customers() {
            format!(", signing in {} customers", cli.customers)
        } else {
            String::new()
        }
    );
    let mut session = Session::new(&target, setup, cli.max_in_flight, args).await?;
    if shop.is_some() {
        session = session.spawned();
    }
    if let Some(listed) = &cli.baselines {
        let baselines = start_baselines(&cli, shop, &session, listed).await?;
        session = session.with_baselines(baselines);
    }
    if let Some(out) = &cli.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let (text, json, svg, chart_name) = if cli.sweep.is_empty() {
        eprintln!(
            "running {} at {} req/s for {:?} after {:?} warm-up…",
            cli.scenario.name(),
            cli.rate,
            cli.duration,
            cli.warmup
        );
        let r = session.run(&base).await;
        (
            r.to_text(),
            serde_json::to_string_pretty(&r)?,
            chart::timeline_svg(&r),
            "latency.svg",
        )
    } else {
        let s = session.sweep(&base, &cli.sweep, cli.slo_p99_ms).await;
        let mut text = String::new();
        for r in &s.runs {
            text.push_str(&r.to_text());
            text.push('\n');
        }
        text.push_str(&s.to_text());
        (
            text,
            serde_json::to_string_pretty(&s)?,
            chart::sweep_svg(&s),
            "sweep.svg",
        )
    };
    println!("{text}");
    if let Some(p) = &cli.json {
        write(p, &json)?;
    }
    if let Some(p) = &cli.svg {
        write(p, &svg)?;
    }
    if let Some(out) = &cli.out {
        write(&out.join("report.json"), &json)?;
        write(&out.join("report.txt"), &text)?;
        write(&out.join(chart_name), &svg)?;
    }
    Ok(())
}

/// The setup of a session running `scenario`.
fn setup_options(cli: &Cli, scenario: Scenario, flash_variant: Option<String>) -> SetupOptions {
    SetupOptions {
        scenario,
        customers: usize::from(cli.customers),
        login_share: cli.login_share,
        lag_sample: cli.lag_sample,
        zipf_s: cli.zipf_s,
        seed: cli.seed,
        flash_variant,
    }
}

/// Starts the baselines `listed` (every available one when empty) next to `session`.
async fn start_baselines(
    cli: &Cli,
    shop: Option<&SpawnedShop>,
    session: &Session,
    listed: &[Baseline],
) -> anyhow::Result<Baselines> {
    let thrift = match (shop, cli.thrift_catalog, cli.thrift_inventory) {
        (Some(shop), _, _) => Some(ThriftAddrs {
            catalog: shop.services.catalog,
            inventory: shop.services.inventory,
            credentials: shop.auth.credentials(Identity::Gateway)?,
        }),
        (None, Some(catalog), Some(inventory)) => {
            let path = cli.service_keys.as_deref().context(
                "the thrift-direct baseline against a running shop needs --service-keys \
                 (the shop's <data_dir>/service-keys.toml)",
            )?;
            let mut ring = shop_rpc::auth::KeyRing::default();
            ring.merge_file(path)?;
            let auth = shop_rpc::auth::ServiceAuth::new(ring, Default::default());
            Some(ThriftAddrs {
                catalog,
                inventory,
                credentials: auth.credentials(Identity::Gateway)?,
            })
        }
        _ => None,
    };
    let which: Vec<Baseline> = if listed.is_empty() {
        Baseline::ALL
            .into_iter()
            .filter(|b| *b != Baseline::ThriftDirect || thrift.is_some())
            .collect()
    } else {
        listed.to_vec()
    };
    let threads = cli.spawn_threads.unwrap_or_else(cores);
    eprintln!(
        "preparing baselines: {}…",
        which
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Baselines::start(&which, &session.world.gql, threads, thrift).await
}

/// The mix rates of `--suite` when `--sweep` is not given.
const SUITE_RATES: [f64; 4] = [300.0, 600.0, 900.0, 1200.0];

/// Catalog-read queries `--suite` sends one at a time to count Thrift calls.
const SUITE_PROBE_QUERIES: usize = 50;

/// `--suite`: a catalog-read session with every available baseline, a mix session, the suite, its reports.
async fn run_suite_cli(
    cli: &Cli,
    shop: Option<&SpawnedShop>,
    base: LoadSpec,
    args: Vec<String>,
    target: &str,
) -> anyhow::Result<()> {
    eprintln!(
        "setting up against {target}: catalog-read, then thrift-shop-mix with {} customers…",
        cli.customers
    );
    let mut catalog = Session::new(
        target,
        setup_options(cli, Scenario::CatalogRead, None),
        cli.max_in_flight,
        args.clone(),
    )
    .await?;
    let mut mix = Session::new(
        target,
        setup_options(cli, Scenario::ThriftShopMix, None),
        cli.max_in_flight,
        args,
    )
    .await?;
    if shop.is_some() {
        catalog = catalog.spawned();
        mix = mix.spawned();
    }
    let listed = cli.baselines.clone().unwrap_or_default();
    let baselines = start_baselines(cli, shop, &catalog, &listed).await?;
    catalog = catalog.with_baselines(baselines);
    let metrics_url = reqwest::Url::parse(target)?.join("/metrics")?.to_string();
    let spec = SuiteSpec {
        base,
        catalog_rate: cli.rate,
        mix_rates: if cli.sweep.is_empty() {
            SUITE_RATES.to_vec()
        } else {
            cli.sweep.clone()
        },
        slo_p99_ms: cli.slo_p99_ms,
        probe_queries: SUITE_PROBE_QUERIES,
    };
    for rate in spec.rates() {
        LoadSpec {
            rate,
            ..spec.base.clone()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if let Some(out) = &cli.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let report = run_suite(&catalog, &mix, &spec, &metrics_url).await?;
    let text = report.to_text();
    let json = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(p) = &cli.json {
        write(p, &json)?;
    }
    if let Some(p) = &cli.svg {
        write(p, &chart::sweep_svg(&report.mix))?;
    }
    if let Some(out) = &cli.out {
        write(&out.join("report.json"), &json)?;
        write(&out.join("report.txt"), &text)?;
        write(&out.join("sweep.svg"), &chart::sweep_svg(&report.mix))?;
        write(
            &out.join("latency-catalog-read.svg"),
            &chart::timeline_svg(&report.catalog),
        )?;
        for r in &report.mix.runs {
            let name = format!("latency-thrift-shop-mix-{}.svg", r.load.rate);
            write(&out.join(name), &chart::timeline_svg(r))?;
        }
    }
    Ok(())
}

/// `--compare-tracing`: both phases, then the reports (`report.txt`, `report.json`, a chart per phase).
async fn run_compare(cli: &Cli, spec: LoadSpec, args: Vec<String>) -> anyhow::Result<()> {
    let binary = cli
        .binary
        .clone()
        .context("--compare-tracing needs --binary")?;
    if !binary.is_file() {
        bail!(
            "{}: no such binary (cargo build --release -p thriftshop)",
            binary.display()
        );
    }
    if let Some(out) = &cli.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let opts = CompareOptions {
        binary,
        setup: setup_options(cli, cli.scenario, None),
        spec,
        args,
    };
    let c = compare_tracing(&opts).await?;
    let text = c.to_text();
    let json = serde_json::to_string_pretty(&c)?;
    println!("{text}");
    if let Some(p) = &cli.json {
        write(p, &json)?;
    }
    if let Some(out) = &cli.out {
        write(&out.join("report.json"), &json)?;
        write(&out.join("report.txt"), &text)?;
        for p in [&c.off, &c.on] {
            let name = format!("latency-tracing-{}.svg", p.tracing);
            write(&out.join(name), &chart::timeline_svg(&p.report))?;
        }
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; use `cargo run --release -p shop-loadtest` for figures that mean anything"
        );
    }
    if !cli.spawn {
        return run(cli, None).await;
    }
    let threads = cli.spawn_threads.unwrap_or_else(cores);
    let shop = SpawnedShop::start(threads).await?;
    eprintln!("spawned the all-in-one shop at {}", shop.url);
    let result = run(cli, Some(&shop)).await;
    shop.stop().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "loadtest",
            "--spawn",
            "--scenario",
            "flash-sale",
            "--sweep",
            "100,200",
            "--duration",
            "10s",
        ])
        .unwrap();
        assert_eq!(cli.sweep, [100.0, 200.0]);
        assert_eq!(cli.scenario, Scenario::FlashSale);
        assert!(
            Cli::try_parse_from(["loadtest", "--spawn", "--target", "http://x/graphql"]).is_err()
        );
        assert_eq!(cli.baselines, None);
        let all = Cli::try_parse_from(["loadtest", "--spawn", "--baselines"]).unwrap();
        assert_eq!(all.baselines, Some(vec![]));
        let some = Cli::try_parse_from(["loadtest", "--baselines", "echo,thrift-direct"]).unwrap();
        assert_eq!(
            some.baselines,
            Some(vec![Baseline::Echo, Baseline::ThriftDirect])
        );
        let one = Cli::try_parse_from(["loadtest", "--baselines", "echo", "--rate", "5"]).unwrap();
        assert_eq!(one.baselines, Some(vec![Baseline::Echo]));
        assert!(Cli::try_parse_from(["loadtest", "--baselines", "nope"]).is_err());
        let cmp = Cli::try_parse_from([
            "loadtest",
            "--compare-tracing",
            "--binary",
            "target/release/thriftshop",
            "--scenario",
            "catalog-read",
        ])
        .unwrap();
        assert!(cmp.compare_tracing);
        assert!(
            Cli::try_parse_from(["loadtest", "--compare-tracing"]).is_err(),
            "needs --binary"
        );
        assert!(
            Cli::try_parse_from(["loadtest", "--compare-tracing", "--binary", "x", "--spawn"])
                .is_err()
        );
        let suite =
            Cli::try_parse_from(["loadtest", "--spawn", "--suite", "--sweep", "500"]).unwrap();
        assert!(suite.suite);
        assert!(
            Cli::try_parse_from(["loadtest", "--suite", "--scenario", "journey"]).is_err(),
            "the suite picks its scenarios"
        );
        assert!(
            Cli::try_parse_from(["loadtest", "--thrift-catalog", "127.0.0.1:1"]).is_err(),
            "needs --thrift-inventory too"
        );
    }
}
