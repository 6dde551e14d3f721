//! `--compare-tracing` end to end, briefly: the real `thriftshop` binary as a child process, tracing off then on
//! (100 % sampling, exported to the generator's OTLP sink), a few seconds each at a low rate. Asserts both phases
//! produced results and that spans arrived with tracing on and none with it off; no timing assertions.
//!
//! The binary is another package's, so `CARGO_BIN_EXE_thriftshop` does not exist here: it is taken from
//! `THRIFTSHOP_BIN`, else from next to this test's executable (`target/<profile>/thriftshop`, built by
//! `cargo build -p thriftshop`). Without it the test is skipped with a message.
use std::{path::PathBuf, time::Duration};

use shop_loadtest::{
    compare::{CompareOptions, compare_tracing},
    scenario::Scenario,
    schedule::{ArrivalKind, LoadSpec},
    world::SetupOptions,
};

fn thriftshop_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("THRIFTSHOP_BIN") {
        return Some(PathBuf::from(p));
    }
    // target/<profile>/deps/compare_tracing-<hash> → target/<profile>/thriftshop
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join(format!("thriftshop{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_on_and_off_are_compared_in_one_run() {
    let Some(binary) = thriftshop_binary() else {
        eprintln!(
            "SKIPPED: no thriftshop binary next to this test (build it with `cargo build -p thriftshop`, \
             or set THRIFTSHOP_BIN)"
        );
        return;
    };
    let opts = CompareOptions {
        binary,
        setup: SetupOptions {
            scenario: Scenario::CatalogRead,
            customers: 0,
            ..SetupOptions::default()
        },
        spec: LoadSpec {
            rate: 10.0,
            arrival: ArrivalKind::Constant,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            max_in_flight: 50,
            timeout: Duration::from_secs(20),
            seed: 3,
        },
        args: vec!["test".into()],
    };
    let c = compare_tracing(&opts).await.expect("both phases run");
    println!("{}", c.to_text());
    for p in [&c.off, &c.on] {
        let all = &p.report.overall;
        assert!(
            all.count >= 15,
            "tracing {}: {} arrivals",
            p.tracing,
            all.count
        );
        assert!(
            all.ok * 10 >= all.count * 9,
            "tracing {}: at least 90% ok: {all:?}",
            p.tracing
        );
        assert_eq!(p.spans.malformed, 0, "tracing {}", p.tracing);
    }
    assert_eq!(c.off.spans.spans, 0, "no spans with tracing off");
    assert_eq!(c.off.spans.requests, 0, "no exports with tracing off");
    assert!(c.off.otlp_endpoint.is_none());
    assert!(
        c.on.spans.spans >= c.on.report.overall.count,
        "at least a span per request with tracing on: {:?} for {} requests",
        c.on.spans,
        c.on.report.overall.count
    );
    assert!(c.ratio.p99.is_some() && c.ratio.achieved_rps.is_some());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["off"]["tracing"], "off");
    assert!(json["on"]["spans"]["spans"].as_u64().unwrap() > 0);
    assert!(json["ratio"]["p99"].is_number());
}
