//! End to end: telemetry exporting to the in-process OTLP receiver; nested spans, a span whose parent travels
//! in Kafka-style headers, and one whose parent is a stored `traceparent` string land in one trace.

use std::time::Duration;

use shop_telemetry::{
    OpenTelemetrySpanExt, TelemetrySettings, context_from_traceparent, init,
    propagation::{self, TRACEPARENT},
    testing::{OtlpReceiver, SpanKind, SpanStatus},
    traceparent,
};
use tracing::info_span;

#[test]
fn spans_arrive_correctly_parented_in_one_trace() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let settings = TelemetrySettings {
        service_name: "telemetry-test".into(),
        otlp_endpoint: Some(receiver.endpoint()),
        log_filter: "warn".into(),
        export_interval_ms: 50,
        ..Default::default()
    };
    let guard = init(&settings).expect("init");
    assert!(guard.is_active() && guard.is_exporting());
    // A second init (another test, a restarted component) does not panic and changes nothing.
    let again = init(&settings).expect("second init");
    assert!(!again.is_active());
    drop(again);

    // Gateway request → Thrift client call; the call's context goes into Kafka-style headers.
    let (headers, client_tp) = {
        let root = info_span!(
            "query Checkout",
            otel.kind = "server",
            "graphql.operation.name" = "Checkout",
            "graphql.operation.type" = "query"
        );
        let _root = root.enter();
        let call = info_span!(
            "cart/checkout",
            otel.kind = "client",
            "rpc.system" = "thrift",
            "rpc.service" = "cart",
            "rpc.method" = "checkout"
        );
        let _call = call.enter();
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        propagation::inject_current(&mut headers);
        (headers, traceparent().expect("traceparent inside a span"))
    };
    assert_eq!(
        headers
            .iter()
            .find(|(k, _)| k == TRACEPARENT)
            .map(|(_, v)| v.as_slice()),
        Some(client_tp.as_bytes())
    );

    // A consumer on "another process": no current span; its parent comes from the headers.
    let consumer_tp = {
        let consume = info_span!(
            "shop.order.v1 process",
            otel.kind = "consumer",
            "messaging.system" = "kafka",
            "messaging.destination.name" = "shop.order.v1"
        );
        assert!(propagation::set_remote_parent(&consume, &headers));
        let _c = consume.enter();
        let failing = info_span!("order.reserve", otel.status_code = "error");
        failing.in_scope(|| {});
        traceparent().expect("consumer traceparent")
    };

    // A projector reading the embedded log's stored `traceparent` string.
    {
        let project = info_span!("project order_history", otel.kind = "consumer");
        let parent = context_from_traceparent(&consumer_tp).expect("valid traceparent");
        project.set_parent(parent).expect("parent before entering");
        project.in_scope(|| {});
    }

    guard.force_flush().expect("flush");
    let spans = receiver
        .wait_until(Duration::from_secs(10), |s| s.len() >= 5)
        .unwrap_or_else(|s| panic!("only {} spans arrived: {s:#?}", s.len()));
    assert!(receiver.errors().is_empty(), "{:?}", receiver.errors());
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
    };
    let root = by_name("query Checkout");
    let call = by_name("cart/checkout");
    let consume = by_name("shop.order.v1 process");
    let failing = by_name("order.reserve");
    let project = by_name("project order_history");

    assert_eq!(spans.len(), 5, "{spans:#?}");
    assert!(
        spans.iter().all(|s| s.trace_id == root.trace_id),
        "one trace"
    );
    assert_eq!(root.parent_span_id, None);
    assert!(call.is_child_of(root));
    assert!(consume.is_child_of(call), "parent from headers");
    assert!(failing.is_child_of(consume));
    assert!(
        project.is_child_of(consume),
        "parent from a traceparent string"
    );
    assert_eq!(
        client_tp,
        format!("00-{}-{}-01", call.trace_id, call.span_id)
    );

    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(call.kind, SpanKind::Client);
    assert_eq!(consume.kind, SpanKind::Consumer);
    assert_eq!(failing.kind, SpanKind::Internal);
    assert_eq!(failing.status, SpanStatus::Error);
    assert_eq!(call.attr("rpc.system"), Some("thrift"));
    assert_eq!(call.attr("rpc.method"), Some("checkout"));
    assert_eq!(root.attr("graphql.operation.name"), Some("Checkout"));
    assert_eq!(consume.attr("messaging.system"), Some("kafka"));
    assert!(
        spans
            .iter()
            .all(|s| s.service_name.as_deref() == Some("telemetry-test") && s.scope == "thriftshop")
    );
    assert!(root.end_unix_nanos >= root.start_unix_nanos);

    guard.shutdown().expect("shutdown");
}
