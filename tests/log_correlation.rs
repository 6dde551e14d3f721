//! Log correlation end to end: with production's JSON logs, every log line the all-in-one shop writes while it
//! handles a GraphQL request — in the gateway and in the services behind the Thrift hop — carries the
//! `trace_id` of that request's trace (read from the spans exported to an in-process OTLP receiver) and a
//! `span_id`, and no line holds the request's secrets (passwords, access tokens).
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use shop_telemetry::{
    LogFormat, TelemetrySettings,
    testing::{LogCapture, OtlpReceiver, ReceivedSpan, init_capturing_logs},
};

const SIGN_UP: &str = "mutation SignUp($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } userErrors { code } } }";
const SIGN_IN: &str = "mutation SignIn($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } customerUserErrors { code } } }";
const CHANGE_PASSWORD: &str = "mutation ChangePassword($c: CustomerUpdateInput!) { customerUpdate(customer: $c) { customer { firstName } customerAccessToken { accessToken } userErrors { field code } } }";

fn now_nanos() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// The log lines of one request, parsed, with the trace id of the request's root span.
struct RequestLogs {
    trace_id: String,
    lines: Vec<(String, Value)>,
}

impl RequestLogs {
    /// Lines of the request's trace whose target starts with `target` and whose message is `message`.
    fn has(&self, target: &str, message: &str) -> bool {
        self.lines.iter().any(|(_, l)| {
            l["trace_id"] == self.trace_id.as_str()
                && l["target"].as_str().is_some_and(|t| t.starts_with(target))
                && l["message"] == message
        })
    }

    fn dump(&self) -> String {
        self.lines
            .iter()
            .map(|(raw, _)| raw.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs one GraphQL request and returns its body and the log lines written while it ran (until `expected`
/// lines of its trace are there, or a few seconds passed), with its trace id.
async fn traced_request(
    c: &mut Client,
    telemetry: &shop_telemetry::TelemetryGuard,
    receiver: &OtlpReceiver,
    logs: &LogCapture,
    query: &str,
    variables: Value,
    expected: &[(&str, &str)],
) -> (Value, RequestLogs) {
    let cursor = logs.len();
    let started = now_nanos();
    let body = c.gql(query, variables).await;
    let ended = now_nanos();
    let in_window = |s: &ReceivedSpan| s.start_unix_nanos >= started && s.start_unix_nanos <= ended;
    let mut root = None;
    for _ in 0..50 {
        telemetry.force_flush().expect("flush");
        let spans = receiver.spans();
        let roots: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|s| {
                s.parent_span_id.is_none() && s.name.starts_with("graphql.") && in_window(s)
            })
            .collect();
        assert!(roots.len() <= 1, "one request, one root: {roots:?}");
        root = roots.first().map(|s| s.trace_id.clone());
        if root.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trace_id = root.expect("the request's graphql root span was exported");
    let mut out = RequestLogs {
        trace_id,
        lines: Vec::new(),
    };
    for _ in 0..50 {
        out.lines = logs
            .lines_since(cursor)
            .into_iter()
            .map(|raw| {
                let v: Value = serde_json::from_str(&raw)
                    .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {raw}"));
                (raw, v)
            })
            .collect();
        if expected.iter().all(|(t, m)| out.has(t, m)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (body, out)
}

/// Every line written while the request ran is inside some trace; the request's own lines carry its trace id
/// and a span id; the expected lines (target prefix, message) are among them; no secret appears anywhere.
fn check(logs: &RequestLogs, expected: &[(&str, &str)], secrets: &[&str]) {
    let dump = logs.dump();
    println!("trace {}:\n{dump}\n", logs.trace_id);
    for (t, m) in expected {
        assert!(
            logs.has(t, m),
            "no `{m}` line of {t} in trace {}:\n{dump}",
            logs.trace_id
        );
    }
    for (raw, line) in &logs.lines {
        let trace = line["trace_id"].as_str();
        assert!(
            trace.is_some_and(|t| t.len() == 32),
            "a line written during the request carries no trace id: {raw}\nall lines:\n{dump}"
        );
        assert!(
            line["span_id"].as_str().is_some_and(|s| s.len() == 16),
            "a line carries no span id: {raw}"
        );
        for secret in secrets {
            assert!(!raw.contains(secret), "a log line holds a secret: {raw}");
        }
    }
    // Lines of the request's trace come from the gateway and from services (other lines in the window belong
    // to background work with traces of their own, e.g. an outbox relay).
    let ours: Vec<&str> = logs
        .lines
        .iter()
        .filter(|(_, l)| l["trace_id"] == logs.trace_id.as_str())
        .filter_map(|(_, l)| l["target"].as_str())
        .collect();
    assert!(ours.iter().any(|t| t.starts_with("shop_gateway")), "{dump}");
    assert!(
        ours.iter().any(|t| !t.starts_with("shop_gateway")),
        "{dump}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_of_a_request_carry_its_trace_id_across_the_thrift_hop() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let (telemetry, logs) = init_capturing_logs(&TelemetrySettings {
        service_name: "thriftshop".into(),
        log_format: LogFormat::Json,
        // Production's filter plus the gateway's per-request debug lines.
        log_filter: "info,volo=warn,volo_thrift=warn,shop_gateway=debug".into(),
        otlp_endpoint: Some(receiver.endpoint()),
        sampling_ratio: 1.0,
        export_interval_ms: 100,
        ..Default::default()
    })
    .expect("telemetry");
    assert!(
        telemetry.is_active(),
        "this test binary installs telemetry first"
    );

    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut c = Client::new(&shop);
    let email = "loglines@example.com";
    let old_password = "correct horse battery";
    let new_password = "staple tulip quartz";

    // Sign-up: the gateway and the user service (over Thrift) log inside the request's trace.
    let (body, sign_up) = traced_request(
        &mut c,
        &telemetry,
        &receiver,
        &logs,
        SIGN_UP,
        json!({ "i": { "email": email, "password": old_password } }),
        &[
            ("shop_gateway", "graphql request served"),
            ("shop_user", "customer registered"),
        ],
    )
    .await;
    assert_eq!(
        body["data"]["customerCreate"]["userErrors"],
        json!([]),
        "{body}"
    );
    check(
        &sign_up,
        &[
            ("shop_gateway", "graphql request served"),
            ("shop_user", "customer registered"),
        ],
        &[old_password],
    );

    let signed_in = c
        .data(
            SIGN_IN,
            json!({ "i": { "email": email, "password": old_password } }),
        )
        .await;
    let token = signed_in["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
        .as_str()
        .expect("signed in")
        .to_string();
    c.token = Some(token.clone());

    // A password change: authenticated by the token (a session RPC), the user service changes the password
    // and the session service revokes every session — all logging inside the request's trace.
    let expected = [
        ("shop_gateway", "graphql request served"),
        ("shop_user", "password changed"),
        ("shop_session", "sessions revoked"),
    ];
    let (body, change) = traced_request(
        &mut c,
        &telemetry,
        &receiver,
        &logs,
        CHANGE_PASSWORD,
        json!({ "c": { "password": new_password, "currentPassword": old_password } }),
        &expected,
    )
    .await;
    assert_eq!(
        body["data"]["customerUpdate"]["userErrors"],
        json!([]),
        "{body}"
    );
    let new_token = body["data"]["customerUpdate"]["customerAccessToken"]["accessToken"]
        .as_str()
        .expect("a fresh token")
        .to_string();
    check(
        &change,
        &expected,
        &[old_password, new_password, &token, &new_token],
    );
    // The lines of the services are children of the gateway's request, not roots of traces of their own.
    assert_ne!(sign_up.trace_id, change.trace_id);

    shop.stop().await;
}
