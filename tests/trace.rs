//! Distributed tracing end to end: a guest checkout on the all-in-one shop, exported over OTLP to an in-process
//! receiver, forms one trace — gateway → Thrift client/server spans of order, cart and inventory → the bus →
//! the order processor's consumer span (and the calls it makes) — with every span's parent in the same trace.
mod common;

use std::{collections::HashSet, time::Duration};

use common::*;
use shop_telemetry::{
    TelemetrySettings,
    testing::{OtlpReceiver, ReceivedSpan, SpanKind},
};

const ORDER_TOPIC: &str = "shop.order.v1";

fn server_span_of<'a>(spans: &'a [ReceivedSpan], service: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.name.starts_with(&format!("rpc.{service}/")))
}

fn consumer_span(spans: &[ReceivedSpan]) -> Option<&ReceivedSpan> {
    spans.iter().find(|s| {
        s.kind == SpanKind::Consumer
            && s.name == format!("{ORDER_TOPIC} process")
            && s.attr("messaging.consumer.group.name") == Some(shop_order::PROCESSOR_GROUP)
    })
}

/// The spans of the trace the order processor's consumer span belongs to, once that trace holds the server
/// spans of every service and no span's parent is missing.
fn complete_trace(spans: &[ReceivedSpan]) -> Option<Vec<ReceivedSpan>> {
    let consumer = consumer_span(spans)?;
    let trace: Vec<ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == consumer.trace_id)
        .cloned()
        .collect();
    let ids: HashSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    let parents_present = trace
        .iter()
        .filter_map(|s| s.parent_span_id.as_deref())
        .all(|p| ids.contains(p));
    let services = ["OrderService", "CartService", "InventoryService"]
        .iter()
        .all(|svc| server_span_of(&trace, svc).is_some());
    (parents_present && services).then_some(trace)
}

fn render(trace: &[ReceivedSpan]) -> String {
    // Depth-first from the roots, indented by depth.
    fn walk(trace: &[ReceivedSpan], parent: Option<&str>, depth: usize, out: &mut String) {
        let mut children: Vec<&ReceivedSpan> = trace
            .iter()
            .filter(|s| s.parent_span_id.as_deref() == parent)
            .collect();
        children.sort_by_key(|s| s.start_unix_nanos);
        for s in children {
            out.push_str(&format!(
                "{}{} [{:?}] ({})\n",
                "  ".repeat(depth),
                s.name,
                s.kind,
                s.service_name.as_deref().unwrap_or("?")
            ));
            walk(trace, Some(&s.span_id), depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(trace, None, 0, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_is_one_trace_across_thrift_and_the_bus() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = shop_telemetry::init(&TelemetrySettings {
        service_name: "thriftshop".into(),
        otlp_endpoint: Some(receiver.endpoint()),
        sampling_ratio: 1.0,
        export_interval_ms: 100,
        log_filter: "warn".into(),
        ..Default::default()
    })
    .expect("telemetry");
    assert!(telemetry.is_active() && telemetry.is_exporting());

    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut c = Client::new(&shop);

    // A guest picks a variant in stock, makes a cart and checks out.
    let landing = c.data(LANDING, json!({})).await;
    let variant = landing["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["node"]["variants"]["edges"].as_array().unwrap().clone())
        .find(|v| v["node"]["quantityAvailable"].as_i64().unwrap_or(0) > 0)
        .expect("a variant in stock")["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cart = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": variant, "quantity": 1 } ] } }),
        )
        .await;
    assert_eq!(cart["cartCreate"]["userErrors"], json!([]), "{cart}");
    let cart_id = cart["cartCreate"]["cart"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "trace-1" }),
        )
        .await;
    assert_eq!(paid["cartCheckout"]["userErrors"], json!([]), "{paid}");

    // Flush until the checkout's trace is complete (spans of the saga may end after the response).
    let mut trace = None;
    for _ in 0..50 {
        telemetry.force_flush().expect("flush");
        if let Ok(spans) =
            receiver.wait_until(Duration::from_millis(200), |s| complete_trace(s).is_some())
        {
            trace = complete_trace(&spans);
            break;
        }
    }
    let spans = receiver.spans();
    let Some(trace) = trace else {
        let names: Vec<String> = spans.iter().map(ToString::to_string).collect();
        panic!(
            "no complete checkout trace among {} spans:\n{}",
            spans.len(),
            names.join("\n")
        );
    };
    println!("checkout trace {}:\n{}", trace[0].trace_id, render(&trace));
    assert!(receiver.errors().is_empty(), "{:?}", receiver.errors());

    // One root; every other span's parent is in the trace.
    let roots: Vec<&ReceivedSpan> = trace
        .iter()
        .filter(|s| s.parent_span_id.is_none())
        .collect();
    assert_eq!(roots.len(), 1, "{}", render(&trace));
    if spans.iter().any(|s| s.name.starts_with("graphql.")) {
        assert!(
            roots[0].name.starts_with("graphql."),
            "the gateway's operation span is the root:\n{}",
            render(&trace)
        );
    }

    // Thrift server spans carry the RPC conventions and hang under a client span of the caller.
    for svc in ["OrderService", "CartService", "InventoryService"] {
        let server = server_span_of(&trace, svc).unwrap();
        assert_eq!(server.attr("rpc.system"), Some("thrift"), "{server}");
        assert_eq!(server.attr("rpc.service"), Some(svc), "{server}");
        assert!(server.attr("rpc.method").is_some(), "{server}");
        let parent = trace
            .iter()
            .find(|p| Some(p.span_id.as_str()) == server.parent_span_id.as_deref())
            .unwrap();
        assert_eq!(parent.kind, SpanKind::Client, "{server} under {parent}");
        assert_eq!(parent.name, server.name, "{server} under {parent}");
    }
    assert!(
        trace.iter().any(|s| s.name == "rpc.OrderService/checkout"),
        "{}",
        render(&trace)
    );

    // The order processor handled the checkout's event inside the trace, and its saga's calls are its children.
    let consumer = consumer_span(&trace).unwrap();
    assert_eq!(
        consumer.attr("messaging.destination.name"),
        Some(ORDER_TOPIC)
    );
    assert_eq!(
        consumer.attr("messaging.consumer.group.name"),
        Some(shop_order::PROCESSOR_GROUP)
    );
    assert!(consumer.attr("messaging.system").is_some());
    let saga_calls = trace
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .filter(|s| {
            trace.iter().any(|p| {
                s.is_child_of(p)
                    && p.name == consumer.name
                    && p.attr("messaging.consumer.group.name") == Some(shop_order::PROCESSOR_GROUP)
            })
        })
        .count();
    assert!(saga_calls > 0, "{}", render(&trace));

    shop.stop().await;
}
