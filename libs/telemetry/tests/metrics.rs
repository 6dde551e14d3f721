//! `/metrics` output parses strictly and shows every series after recording one of each.

use std::time::Duration;

use shop_telemetry::{
    Metrics,
    metrics::{operation_type, outcome},
    testing::parse_exposition,
};

#[test]
fn encoded_registry_parses_and_shows_every_series() {
    let m = Metrics::new();
    let op = m.normalize_operation(Some("Checkout"));
    m.gateway_request(
        op.clone(),
        operation_type("mutation"),
        outcome::OK,
        Duration::from_millis(12),
    );
    m.gateway_request(
        op.clone(),
        "mutation",
        outcome::ERROR,
        Duration::from_millis(70),
    );
    m.gateway_error(op, "OUT_OF_STOCK");
    m.gateway_request(
        m.normalize_operation(None),
        "query",
        outcome::OK,
        Duration::from_micros(800),
    );
    m.rpc_server("cart", "checkout", outcome::OK, Duration::from_millis(3));
    m.rpc_client(
        "inventory",
        "reserve",
        "INSUFFICIENT_STOCK",
        Duration::from_millis(2),
    );
    m.bus_published("shop.order.v1");
    m.bus_consumed("order-history", "shop.order.v1");
    m.bus_consumer_lag("order-history", "shop.order.v1", 42);
    m.projection_lag("order_history", Duration::from_millis(15));
    m.store_operation("sqlite", "append", Duration::from_micros(300));
    m.cart_cache_hit();
    m.cart_cache_hit();
    m.cart_cache_miss();
    m.cart_store_load();
    m.inventory_reservation(outcome::RESERVED);
    m.checkout_outcome(outcome::PLACED);
    m.order_placed("EUR", 12_345);
    m.order_placed("EUR", 655);
    m.cart_created();
    m.set_ready("gateway", true);
    // Label values are escaped, whatever a caller passes.
    m.gateway_error("weird", String::from("a\"b\\c\nd"));

    let text = m.encode();
    let exp = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(exp.openmetrics);

    let v = |name: &str, labels: &[(&str, &str)]| {
        exp.value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in\n{text}"))
    };
    let ok = [
        ("operation", "Checkout"),
        ("type", "mutation"),
        ("outcome", "ok"),
    ];
    assert_eq!(v("thriftshop_gateway_requests_total", &ok), 1.0);
    assert_eq!(
        v(
            "thriftshop_gateway_requests_total",
            &[("operation", "anonymous"), ("type", "query")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_gateway_request_duration_seconds_count",
            &[("operation", "Checkout")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "thriftshop_gateway_request_duration_seconds_bucket",
            &[("operation", "Checkout"), ("le", "0.05")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_gateway_errors_total",
            &[("code", "OUT_OF_STOCK")]
        ),
        1.0
    );
    assert_eq!(
        v("thriftshop_gateway_errors_total", &[("code", "a\"b\\c\nd")]),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_rpc_server_requests_total",
            &[("service", "cart"), ("method", "checkout"), ("code", "ok")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_rpc_server_duration_seconds_count",
            &[("service", "cart")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_rpc_client_requests_total",
            &[("service", "inventory"), ("code", "INSUFFICIENT_STOCK")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_rpc_client_duration_seconds_sum",
            &[("method", "reserve")]
        ),
        0.002
    );
    assert_eq!(
        v(
            "thriftshop_bus_consumer_lag_messages",
            &[("group", "order-history")]
        ),
        42.0
    );
    assert_eq!(
        v(
            "thriftshop_bus_published_total",
            &[("topic", "shop.order.v1")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_bus_consumed_total",
            &[("group", "order-history")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_projection_lag_seconds_bucket",
            &[("projection", "order_history"), ("le", "0.02")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_store_operation_duration_seconds_count",
            &[("store", "sqlite"), ("operation", "append")]
        ),
        1.0
    );
    assert_eq!(v("thriftshop_cart_cache_hits_total", &[]), 2.0);
    assert_eq!(v("thriftshop_cart_cache_misses_total", &[]), 1.0);
    assert_eq!(v("thriftshop_cart_store_loads_total", &[]), 1.0);
    assert_eq!(
        v(
            "thriftshop_inventory_reservations_total",
            &[("outcome", "reserved")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "thriftshop_checkout_outcomes_total",
            &[("outcome", "placed")]
        ),
        1.0
    );
    assert_eq!(v("thriftshop_orders_placed_total", &[]), 2.0);
    assert_eq!(
        v("thriftshop_revenue_minor_total", &[("currency", "EUR")]),
        13_000.0
    );
    assert_eq!(v("thriftshop_carts_created_total", &[]), 1.0);
    assert_eq!(
        v("thriftshop_component_ready", &[("component", "gateway")]),
        1.0
    );

    // The classic text format (for clients that do not negotiate OpenMetrics) carries the same series.
    let classic = m.encode_prometheus();
    let exp2 = parse_exposition(&classic).unwrap_or_else(|e| panic!("{e}\n{classic}"));
    assert!(!exp2.openmetrics);
    assert_eq!(exp2.samples, exp.samples);
    assert_eq!(
        exp2.families["thriftshop_gateway_requests_total"].kind,
        "counter"
    );
    assert_eq!(exp2.value("thriftshop_orders_placed_total", &[]), Some(2.0));

    for (family, kind) in [
        ("thriftshop_gateway_requests", "counter"),
        ("thriftshop_gateway_request_duration_seconds", "histogram"),
        ("thriftshop_bus_consumer_lag_messages", "gauge"),
        ("thriftshop_projection_lag_seconds", "histogram"),
    ] {
        assert_eq!(exp.families[family].kind, kind, "{family}");
        assert!(exp.families[family].help.is_some(), "{family} has HELP");
    }
}

/// When promtool is installed (deploy/observability/check installs it), its linter checks the classic text
/// format strictly (no warnings) and must at least parse the OpenMetrics text.
#[test]
fn promtool_accepts_the_exposition_when_available() {
    let m = Metrics::new();
    m.gateway_request("Landing", "query", outcome::OK, Duration::from_millis(3));
    m.rpc_server("cart", "get", outcome::OK, Duration::from_millis(1));
    m.bus_consumer_lag("g", "t", 3);
    m.cart_created();
    let Some((code, report)) = promtool_check_metrics(&m.encode_prometheus()) else {
        println!("skipped: promtool not installed (deploy/observability/check installs it)");
        return;
    };
    assert_eq!(code, Some(0), "promtool check metrics: {report}");
    // OpenMetrics through promtool's classic parser: lint warnings (exit 3) are fine, parse errors (1) not.
    let (code, report) = promtool_check_metrics(&m.encode()).unwrap();
    assert_ne!(code, Some(1), "{report}");
}

fn promtool_check_metrics(text: &str) -> Option<(Option<i32>, String)> {
    use std::{
        io::Write,
        process::{Command, Stdio},
    };
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code(), report))
}
