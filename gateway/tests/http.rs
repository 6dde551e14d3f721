//! The gateway over real HTTP with every service absent: request errors, limits and error codes.
use std::net::SocketAddr;

use serde_json::{Value, json};
use shop_gateway::{GatewayOptions, serve};
use shop_rpc::{ClientSettings, ServiceAddrs};
use tokio_util::sync::CancellationToken;

/// An address nothing listens on.
fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

struct Gateway {
    url: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Gateway {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut GatewayOptions)) -> Gateway {
    let dead = dead_addr();
    let opts = GatewayOptions {
        peers: ServiceAddrs {
            catalog: dead,
            inventory: dead,
            cart: dead,
            order: dead,
            user: dead,
            session: dead,
            recommender: dead,
        },
        client: ClientSettings {
            connect_timeout: std::time::Duration::from_millis(200),
            rpc_timeout: std::time::Duration::from_secs(1),
            read_write_timeout: std::time::Duration::from_secs(1),
        },
        max_body_bytes: 4 * 1024,
        ..GatewayOptions::default()
    };
    let mut opts = opts;
    tweak(&mut opts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(opts, listener, shutdown.clone()));
    Gateway {
        url: format!("http://{addr}"),
        http: reqwest::Client::new(),
        shutdown,
    }
}

impl Gateway {
    async fn post(&self, body: Value) -> (u16, Value) {
        self.post_with(body, &[]).await
    }

    async fn post_with(&self, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self.http.post(format!("{}/graphql", self.url)).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json body"))
    }

    async fn query(&self, q: &str) -> (u16, Value) {
        self.post(json!({ "query": q })).await
    }
}

fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn malformed_query_is_a_parse_error() {
    let gw = start().await;
    let (status, body) = gw.query("{ products(first: 1) { edges { node { id }").await;
    assert_eq!(status, 200);
    assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED");

    let resp = gw
        .http
        .post(format!("{}/graphql", gw.url))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        resp.headers()["content-type"],
        "application/graphql-response+json"
    );
}

#[tokio::test]
async fn wrong_argument_type_is_a_validation_error() {
    let gw = start().await;
    let (status, body) = gw
        .query(r#"{ products(first: "ten") { nodes { id } } }"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");

    let (_, body) = gw
        .query("{ products(first: 1) { nodes { noSuchField } } }")
        .await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn page_sizes_are_capped() {
    let gw = start().await;
    let (status, body) = gw.query("{ products(first: 1000) { nodes { id } } }").await;
    assert_eq!(status, 200);
    assert_eq!(first_code(&body), "INVALID_ARGUMENT");
    assert_eq!(
        body["errors"][0]["extensions"]["errorCode"],
        "PAGE_SIZE_TOO_LARGE"
    );

    let (_, body) = gw.query("{ collections(last: -1) { nodes { id } } }").await;
    assert_eq!(first_code(&body), "INVALID_ARGUMENT");
    assert_eq!(
        body["errors"][0]["extensions"]["errorCode"],
        "INVALID_PAGE_SIZE"
    );
}

#[tokio::test]
async fn malformed_gid_is_invalid_argument() {
    let gw = start().await;
    for id in [
        "nope",
        "gid://thriftshop/Product/a b",
        "gid://thriftshop/Cart/123",
    ] {
        let (status, body) =
            gw.post(json!({ "query": "query($id: ID!) { product(id: $id) { id } }", "variables": { "id": id } })).await;
        assert_eq!(status, 200);
        assert_eq!(first_code(&body), "INVALID_ARGUMENT", "{id}: {body}");
        assert_eq!(body["data"]["product"], Value::Null);
    }
    let (_, body) = gw
        .query(r#"{ node(id: "gid://thriftshop/Nope/1") { id } }"#)
        .await;
    assert_eq!(first_code(&body), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn services_down_is_unavailable_not_a_crash() {
    let gw = start().await;
    let (status, body) = gw
        .query(
            "{ products(first: 2) { nodes { id title variants(first: 3) { nodes { price { amount } quantityAvailable } } } } }",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(first_code(&body), "UNAVAILABLE", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["errorCode"],
        "SERVICE_UNAVAILABLE"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.contains("127.0.0.1"),
        "transport details leaked: {message}"
    );

    let (_, body) = gw
        .query(r#"{ product(id: "gid://thriftshop/Product/p1") { title availableForSale } }"#)
        .await;
    assert_eq!(first_code(&body), "UNAVAILABLE");

    // A mutation whose service is down is a top-level error, not a userError.
    let (_, body) = gw
        .query(
            r#"mutation { cartCheckout(cartId: "gid://thriftshop/Cart/c1", payment: { token: "4242424242424242" },
                idempotencyKey: "k1") { order { id } userErrors { code } } }"#,
        )
        .await;
    assert_eq!(first_code(&body), "UNAVAILABLE", "{body}");

    // Still serving afterwards.
    let health = gw
        .http
        .get(format!("{}/healthz", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn malformed_gids_in_mutation_input_are_user_errors() {
    let gw = start().await;
    let (status, body) = gw
        .query(
            r#"mutation { cartCreate(input: { lines: [
                { merchandiseId: "gid://thriftshop/ProductVariant/v1", quantity: 1 },
                { merchandiseId: "bogus", quantity: 2 } ] }) {
                cart { id } userErrors { field message code } warnings { code } } }"#,
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    let errs = &body["data"]["cartCreate"]["userErrors"];
    assert_eq!(errs[0]["code"], "INVALID");
    assert_eq!(
        errs[0]["field"],
        json!(["input", "lines", "1", "merchandiseId"])
    );
    assert_eq!(body["data"]["cartCreate"]["cart"], Value::Null);

    let (_, body) = gw
        .query(r#"mutation { cartNoteUpdate(cartId: "gid://thriftshop/Order/1", note: "hi") { userErrors { field code } } }"#)
        .await;
    assert_eq!(
        body["data"]["cartNoteUpdate"]["userErrors"][0]["field"],
        json!(["cartId"])
    );

    let (_, body) = gw
        .query(
            r#"mutation { cartCheckout(cartId: "x", payment: { token: "4242424242424242" }, idempotencyKey: "k") {
                order { id } userErrors { field code } } }"#,
        )
        .await;
    assert_eq!(
        body["data"]["cartCheckout"]["userErrors"][0]["code"],
        "INVALID"
    );
    assert_eq!(
        body["data"]["cartCheckout"]["userErrors"][0]["field"],
        json!(["cartId"])
    );
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations() {
    let gw = start().await;
    let resp = gw
        .http
        .get(format!("{}/graphql", gw.url))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");

    let resp = gw
        .http
        .get(format!("{}/graphql", gw.url))
        .query(&[("query", r#"mutation { cartNoteUpdate(cartId: "gid://thriftshop/Cart/c1", note: "x") { cart { id } } }"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(first_code(&body), "METHOD_NOT_ALLOWED");

    let html = gw
        .http
        .get(format!("{}/graphql", gw.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status().as_u16(), 200);
    assert!(
        html.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let gw = start().await;
    let big = format!("{{ __typename }} # {}", "x".repeat(8 * 1024));
    let resp = gw
        .http
        .post(format!("{}/graphql", gw.url))
        .json(&json!({ "query": big }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
}

#[tokio::test]
async fn depth_and_complexity_are_limited() {
    let gw = start().await;
    let deep = format!(
        "{{ {}__typename{} }}",
        "products(first: 1) { nodes { collections(first: 1) { nodes { ".repeat(4),
        " } } } }".repeat(4)
    );
    let (_, body) = gw.query(&deep).await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");

    let wide = "{ products(first: 250) { nodes { variants(first: 250) { nodes { id } } } } }";
    let (_, body) = gw.query(wide).await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
}

#[tokio::test]
async fn bad_tokens_fail_the_request() {
    let gw = start().await;
    for headers in [
        vec![("authorization", "Bearer ")],
        vec![("authorization", "Basic dXNlcjpwYXNz")],
        vec![("x-thriftshop-customer-access-token", "has spaces in it")],
    ] {
        let (_, body) = gw
            .post_with(json!({ "query": "{ __typename }" }), &headers)
            .await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{headers:?}: {body}");
        assert_eq!(body["errors"].as_array().unwrap().len(), 1);
        assert!(body.get("data").is_none() || body["data"].is_null());
    }
    // A well-formed token cannot be checked while the session service is down.
    let (_, body) = gw
        .post_with(
            json!({ "query": "{ __typename }" }),
            &[("authorization", "Bearer abc123")],
        )
        .await;
    assert_eq!(first_code(&body), "UNAVAILABLE");
    // Guests need no token.
    let (_, body) = gw
        .query("{ __typename customer { id } carts(first: 5) { nodes { id } } }")
        .await;
    assert_eq!(body["data"]["customer"], Value::Null, "{body}");
    assert_eq!(body["data"]["carts"]["nodes"], json!([]));
}

#[tokio::test]
async fn bad_bodies_are_rejected_with_graphql_errors() {
    let gw = start().await;
    let resp = gw
        .http
        .post(format!("{}/graphql", gw.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(first_code(&body), "BAD_REQUEST");

    let resp = gw
        .http
        .post(format!("{}/graphql", gw.url))
        .header("content-type", "application/graphql")
        .body("{ __typename }")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["errorCode"]
        .as_str()
        .unwrap_or_default()
}

/// A POST a browser could send cross-site without a preflight is refused; JSON or a preflight header passes.
#[tokio::test]
async fn simple_request_content_types_are_refused_as_csrf() {
    let gw = start().await;
    let body = r#"{"query":"{ __typename }"}"#;
    for ct in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut req = gw.http.post(format!("{}/graphql", gw.url)).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{ct:?}");
        let v: Value = resp.json().await.unwrap();
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("forgery"),
            "{v}"
        );
    }
    // With a preflight header a non-JSON content type is judged on its own merits (here: unsupported).
    let resp = gw
        .http
        .post(format!("{}/graphql", gw.url))
        .header("content-type", "text/plain")
        .header("x-thriftshop-preflight", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let (status, v) = gw.query("{ __typename }").await;
    assert_eq!((status, &v["data"]["__typename"]), (200, &json!("Query")));
}

/// Aliases, root fields and tokens are capped (fragments expanded), so one request cannot fan out.
#[tokio::test]
async fn aliases_root_fields_and_tokens_are_capped() {
    let gw = start_with(|o| {
        o.document_limits.max_aliases = 5;
        o.document_limits.max_root_fields = 4;
        o.document_limits.max_tokens = 120;
    })
    .await;
    let aliased = (0..6)
        .map(|i| format!("a{i}: __typename"))
        .collect::<Vec<_>>()
        .join(" ");
    let (_, v) = gw.query(&format!("{{ {aliased} }}")).await;
    assert_eq!(error_code(&v), "TOO_MANY_ALIASES", "{v}");
    assert_eq!(first_code(&v), "GRAPHQL_VALIDATION_FAILED");
    // Three aliases in a fragment spread twice, in different places, count six.
    let spread = "{ products(first: 1) { nodes { ...F } } collections(first: 1) { nodes { products(first: 1) { nodes { ...F } } } } } fragment F on Product { x: id y: id z: id }";
    let (_, v) = gw.query(spread).await;
    assert_eq!(error_code(&v), "TOO_MANY_ALIASES", "{v}");
    let (_, v) = gw
        .query("{ ...R } fragment R on Query { a: __typename b: __typename __typename shop: __typename product(handle: \"x\") { id } }")
        .await;
    assert_eq!(error_code(&v), "TOO_MANY_ROOT_FIELDS", "{v}");
    let (_, v) = gw
        .query(&format!("{{ {} }}", "__typename ".repeat(150)))
        .await;
    assert_eq!(error_code(&v), "TOO_MANY_TOKENS", "{v}");
}

/// A fragment named `__schema` is no way around the depth limit (a known bypass of some depth limiters).
#[tokio::test]
async fn a_fragment_named_like_introspection_does_not_bypass_depth() {
    let gw = start().await;
    let deep = format!(
        "query {{ ...__schema }} fragment __schema on Query {{ {}__typename{} }}",
        "products(first: 1) { nodes { collections(first: 1) { nodes { ".repeat(4),
        " } } } }".repeat(4)
    );
    let (_, body) = gw.query(&deep).await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(body["data"].is_null(), "{body}");
}

/// The production profile's switches: no introspection, no field suggestions.
#[tokio::test]
async fn introspection_and_suggestions_can_be_switched_off() {
    let open = start().await;
    let (_, v) = open.query("{ __schema { queryType { name } } }").await;
    assert_eq!(v["data"]["__schema"]["queryType"]["name"], "Query", "{v}");
    let (_, v) = open.query("{ produkts(first: 1) { nodes { id } } }").await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{v}"
    );

    let closed = start_with(|o| {
        o.introspection = false;
        o.field_suggestions = false;
    })
    .await;
    // Introspection answers nothing (async-graphql resolves the fields to null).
    let (_, v) = closed.query("{ __schema { queryType { name } } }").await;
    assert!(v["data"]["__schema"].is_null(), "{v}");
    let (_, v) = closed
        .query("{ __type(name: \"Cart\") { fields { name } } }")
        .await;
    assert!(v["data"]["__type"].is_null(), "{v}");
    let (_, v) = closed
        .query("{ produkts(first: 1) { nodes { id } } }")
        .await;
    assert!(
        !v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{v}"
    );
}

/// Allowlist mode runs the trusted documents (by text or by hash) and refuses every other one.
#[tokio::test]
async fn allowlist_mode_refuses_unknown_operations() {
    let trusted = "query Typename { __typename }";
    let hash = shop_gateway::hardening::sha256_hex(trusted);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(
        &path,
        json!({ "format": "apollo-persisted-query-manifest", "version": 1,
                "operations": [{ "id": hash, "name": "Typename", "type": "query", "body": trusted }] })
        .to_string(),
    )
    .unwrap();
    let mode = shop_gateway::hardening::PersistedMode::allowlist_from_file(&path).unwrap();
    let gw = start_with(|o| o.persisted = mode).await;
    let (_, v) = gw.query(trusted).await;
    assert_eq!(v["data"]["__typename"], "Query", "{v}");
    let (_, v) = gw
        .post(json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }))
        .await;
    assert_eq!(v["data"]["__typename"], "Query", "{v}");
    let (_, v) = gw.query("{ __typename }").await;
    assert_eq!(first_code(&v), "PERSISTED_QUERY_NOT_ALLOWED", "{v}");
    let unknown = shop_gateway::hardening::sha256_hex("{ shop }");
    let (_, v) = gw
        .post(json!({ "query": "{ __typename }", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": unknown } } }))
        .await;
    assert_eq!(first_code(&v), "PERSISTED_QUERY_NOT_ALLOWED", "{v}");
}

/// Automatic persisted queries: unknown hash → PersistedQueryNotFound; register with the text; then by hash.
#[tokio::test]
async fn automatic_persisted_queries_round_trip() {
    let gw = start().await;
    let q = "{ __typename }";
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": shop_gateway::hardening::sha256_hex(q) } });
    let (_, v) = gw.post(json!({ "extensions": ext })).await;
    assert_eq!(v["errors"][0]["message"], "PersistedQueryNotFound", "{v}");
    assert_eq!(first_code(&v), "PERSISTED_QUERY_NOT_FOUND");
    let (_, v) = gw.post(json!({ "query": q, "extensions": ext })).await;
    assert_eq!(v["data"]["__typename"], "Query", "{v}");
    let (_, v) = gw.post(json!({ "extensions": ext })).await;
    assert_eq!(v["data"]["__typename"], "Query", "{v}");
}

/// Per-client request budget: past the burst, 429 with Retry-After and RESOURCE_EXHAUSTED; batches count each
/// operation.
#[tokio::test]
async fn request_budget_is_enforced_per_client() {
    let gw = start_with(|o| {
        o.limits.client_requests_per_second = 1;
        o.limits.client_request_burst = 3;
    })
    .await;
    let batch = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]);
    let (status, _) = gw.post(batch.clone()).await;
    assert_eq!(status, 200);
    let (status, _) = gw.query("{ __typename }").await;
    assert_eq!(status, 200);
    let resp = gw
        .http
        .post(format!("{}/graphql", gw.url))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(first_code(&v), "RESOURCE_EXHAUSTED", "{v}");
    assert!(v["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() >= Some(1));
}

/// `/metrics` parses as Prometheus text and shows RED series per operation (errors by code); `/healthz` is live.
#[tokio::test]
async fn metrics_show_red_series_per_operation() {
    let gw = start().await;
    gw.query("query Shop { __typename }").await;
    gw.query("query Shop { __typename }").await;
    gw.query("query Broken { products(first: \"x\") { nodes { id } } }")
        .await;
    let health = gw
        .http
        .get(format!("{}/healthz", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let text = gw
        .http
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exp = shop_telemetry::testing::parse_exposition(&text).expect("valid exposition");
    let requests = exp.series("thriftshop_gateway_requests_total");
    let count = |op: &str, outcome: &str| {
        requests
            .iter()
            .filter(|s| {
                s.labels.get("operation").map(String::as_str) == Some(op)
                    && s.labels.get("outcome").map(String::as_str) == Some(outcome)
            })
            .map(|s| s.value)
            .sum::<f64>()
    };
    assert_eq!(count("Shop", "ok"), 2.0, "{text}");
    assert_eq!(count("Broken", "error"), 1.0, "{text}");
    assert!(
        exp.series("thriftshop_gateway_errors_total")
            .iter()
            .any(|s| s.labels.get("code").map(String::as_str) == Some("GRAPHQL_VALIDATION_FAILED")),
        "{text}"
    );
    assert!(
        !exp.series("thriftshop_gateway_request_duration_seconds_bucket")
            .is_empty()
    );
}

/// `/readyz` is 503 (naming the services) while services are unreachable, 200 once they all accept connections,
/// and 503 again when one goes away.
#[tokio::test]
async fn readyz_follows_the_services() {
    let mut listeners = Vec::new();
    for _ in 0..7 {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let peers = ServiceAddrs {
        catalog: addrs[0],
        inventory: addrs[1],
        cart: addrs[2],
        order: addrs[3],
        user: addrs[4],
        session: addrs[5],
        recommender: addrs[6],
    };
    let down = start().await;
    let resp = down
        .http
        .get(format!("{}/readyz", down.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["unavailable"].as_array().unwrap().len(), 7, "{v}");

    let gw = start_with(|o| o.peers = peers).await;
    let ready = |gw: &Gateway| {
        let req = gw.http.get(format!("{}/readyz", gw.url)).send();
        async move {
            let resp = req.await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = ready(&gw).await;
    assert_eq!((status, &v["status"]), (200, &json!("ready")), "{v}");
    drop(listeners.remove(3)); // the order service goes away
    let (status, v) = ready(&gw).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["unavailable"], json!(["order"]));
}
