//! HTTP transport: `POST/GET /graphql`, `GET /graphql/ws` (graphql-transport-ws), `GET /healthz` (live),
//! `GET /readyz` (every service reachable), `GET /metrics` (Prometheus).
use std::sync::Arc;

use async_graphql::{
    BatchRequest, BatchResponse, Data, ServerError,
    http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource},
    parser::types::{DocumentOperations, OperationType},
};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    body::Body,
    extract::{Request, State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use shop_kernel::{Error, ErrorKind};

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use tracing::Instrument;

use crate::{
    GatewaySchema, auth,
    clients::Clients,
    extension::{self, ClientIp, ClientKey},
    limits::Throttled,
};

/// Headers whose presence proves a request was preflighted by a browser (or sent by a non-browser client),
/// so a request with a "simple" content type is still accepted (CSRF protection, as Apollo Router does).
pub const PREFLIGHT_HEADERS: [&str; 2] = ["x-thriftshop-preflight", "apollo-require-preflight"];

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub schema: GatewaySchema,
    pub clients: Arc<Clients>,
    pub auth: Arc<auth::Authenticator>,
    pub limits: Arc<crate::limits::Limits>,
    pub metrics: shop_telemetry::Metrics,
    pub peers: shop_rpc::ServiceAddrs,
    /// Checked by `/readyz` besides the services.
    pub dependencies: shop_rpc::Readiness,
    pub max_batch: usize,
    pub trust_forwarded_for: bool,
    pub graphiql: bool,
    pub max_body_bytes: usize,
}

const GQL_RESPONSE: &str = "application/graphql-response+json";

fn wants_gql_response(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(GQL_RESPONSE))
}

/// A response carrying only request-level errors: `{"errors":[{message, extensions:{code}}]}`.
fn error_response(status: StatusCode, code: &str, message: &str, gql_response: bool) -> Response {
    let body =
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let status = if gql_response {
        status
    } else if status == StatusCode::UNAUTHORIZED {
        StatusCode::OK
    } else {
        status
    };
    json_response(status, body.to_string(), gql_response)
}

fn json_response(status: StatusCode, body: String, gql_response: bool) -> Response {
    let ct = if gql_response {
        GQL_RESPONSE
    } else {
        "application/json"
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

/// Makes sure every error has `extensions.code`: errors still without one come from async-graphql itself
/// (input coercion at a field: INVALID_ARGUMENT; request-level such as an unknown operation name:
/// GRAPHQL_VALIDATION_FAILED).
fn tag_errors(errors: &mut [ServerError]) -> bool {
    let mut request_error = false;
    for e in errors.iter_mut() {
        let pathless = e.path.is_empty();
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set(
                "code",
                if pathless {
                    extension::VALIDATION_FAILED
                } else {
                    ErrorKind::InvalidArgument.as_str()
                },
            );
        }
        if let Some(async_graphql::Value::String(c)) = ext.get("code")
            && (c == extension::PARSE_FAILED || c == extension::VALIDATION_FAILED)
        {
            request_error = true;
        }
    }
    request_error
}

fn finish(resp: BatchResponse, gql_response: bool) -> Response {
    let (resp, request_error) = match resp {
        BatchResponse::Single(mut r) => {
            let bad = tag_errors(&mut r.errors) && r.data == async_graphql::Value::Null;
            (BatchResponse::Single(r), bad)
        }
        BatchResponse::Batch(mut rs) => {
            for r in rs.iter_mut() {
                tag_errors(&mut r.errors);
            }
            (BatchResponse::Batch(rs), false)
        }
    };
    let status = if gql_response && request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match serde_json::to_string(&resp) {
        Ok(body) => json_response(status, body, gql_response),
        Err(_) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
            gql_response,
        ),
    }
}

/// The client's address: the peer, or (behind a trusted proxy) the last `X-Forwarded-For` entry.
fn client_ip(state: &AppState, req: &Request) -> Option<IpAddr> {
    if state.trust_forwarded_for
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    {
        return Some(ip);
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The rate-limit key: the token (hashed) when one is presented, else the IP address.
fn client_key(token: Option<&str>, ip: Option<IpAddr>) -> ClientKey {
    match (token, ip) {
        (Some(t), _) => ClientKey(format!("token:{}", &crate::hardening::sha256_hex(t)[..32])),
        (None, Some(ip)) => ClientKey(format!("ip:{ip}")),
        (None, None) => ClientKey("ip:unknown".into()),
    }
}

fn throttled_response(t: Throttled, gql_response: bool) -> Response {
    let secs = t.retry_after_secs();
    let body = serde_json::json!({ "errors": [{
        "message": format!("too many requests; retry after {secs} s"),
        "extensions": { "code": ErrorKind::ResourceExhausted.as_str(), "errorCode": "RATE_LIMITED", "retryAfterSeconds": secs }
    }] });
    let mut resp = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        body.to_string(),
        gql_response,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// Authenticates the caller, spends its request budget and executes `batch` under its identity.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
    batch: BatchRequest,
) -> Response {
    let gql_response = wants_gql_response(headers);
    let operations = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(v) => v.len(),
    };
    if operations == 0 || operations > state.max_batch {
        let msg = format!("a batch holds 1 to {} operations", state.max_batch);
        return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &msg, gql_response);
    }
    // The request's span is opened before authentication, so the session lookup (and its RPC) and every log
    // line of the request belong to the request's trace.
    let span = match &batch {
        BatchRequest::Single(r) => {
            let (name, ty) = extension::sniff_operation(&r.query, r.operation_name.as_deref());
            let name = state.metrics.normalize_operation(name.as_deref());
            tracing::info_span!(
                "graphql.request",
                otel.name = format!("graphql.{}", name.as_ref()),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                graphql.operation.name = name.as_ref(),
                graphql.operation.type = ty,
            )
        }
        BatchRequest::Batch(v) => tracing::info_span!(
            "graphql.batch",
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            graphql.batch.size = v.len(),
        ),
    };
    async move {
        let token = auth::token_from_headers(headers);
        let key = client_key(token.as_deref(), ip);
        if let Err(t) = state
            .limits
            .request(&key.0, u32::try_from(operations).unwrap_or(u32::MAX))
        {
            tracing::debug!(operations, "graphql request throttled");
            return throttled_response(t, gql_response);
        }
        let actor = match state.auth.actor_for(token.as_deref()).await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(code = %e.code, "graphql request refused: authentication");
                return auth_error(&e, gql_response);
            }
        };
        let mut batch = batch.data(actor.clone()).data(key).data(ClientIp(ip));
        if let Some(t) = token {
            batch = batch.data(auth::PresentedToken(t));
        }
        let resp = shop_rpc::with_actor(&actor, state.schema.execute_batch(batch)).await;
        let errors = match &resp {
            BatchResponse::Single(r) => r.errors.len(),
            BatchResponse::Batch(v) => v.iter().map(|r| r.errors.len()).sum(),
        };
        tracing::debug!(operations, errors, "graphql request served");
        finish(resp, gql_response)
    }
    .instrument(span)
    .await
}

fn auth_error(e: &Error, gql_response: bool) -> Response {
    match e.kind {
        ErrorKind::Unauthenticated | ErrorKind::InvalidArgument | ErrorKind::NotFound => {
            error_response(
                StatusCode::UNAUTHORIZED,
                ErrorKind::Unauthenticated.as_str(),
                "the customer access token is invalid or expired",
                gql_response,
            )
        }
        _ => error_response(
            StatusCode::OK,
            e.kind.as_str(),
            e.public_message(),
            gql_response,
        ),
    }
}

/// `POST /graphql`: a JSON request (or batch), or an `application/graphql` document.
pub async fn post_graphql(State(state): State<AppState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let gql_response = wants_gql_response(&headers);
    let ip = client_ip(&state, &req);
    if !csrf_safe(&headers) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "this request could be a cross-site request forgery: send Content-Type: application/json \
             (or the x-thriftshop-preflight header)",
            gql_response,
        );
    }
    let bytes = match axum::body::to_bytes(req.into_body(), state.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "request body too large",
                gql_response,
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let batch = if content_type.starts_with("application/graphql") && !content_type.contains("json")
    {
        match std::str::from_utf8(&bytes) {
            Ok(q) => BatchRequest::Single(async_graphql::Request::new(q)),
            Err(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "body is not UTF-8",
                    gql_response,
                );
            }
        }
    } else if content_type.starts_with("application/json") || content_type.contains("+json") {
        match serde_json::from_slice::<BatchRequest>(&bytes) {
            Ok(b) => b,
            Err(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "the body is not a GraphQL request in JSON",
                    gql_response,
                );
            }
        }
    } else {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "use Content-Type: application/json",
            gql_response,
        );
    };
    execute(&state, &headers, ip, batch).await
}

/// Does this POST prove it is not a cross-site "simple" request? True when its content type is not one a browser
/// form or a no-CORS `fetch` can send (`text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`,
/// or none), or when it carries a preflight header (which a browser only sends cross-site after a CORS preflight).
fn csrf_safe(headers: &HeaderMap) -> bool {
    if PREFLIGHT_HEADERS.iter().any(|h| headers.contains_key(*h)) {
        return true;
    }
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let essence = ct
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    !matches!(
        essence.as_str(),
        "" | "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
    )
}

/// Is the operation `req` selects a mutation? (`None` when the document does not parse.)
fn is_mutation(req: &mut async_graphql::Request) -> Option<bool> {
    let name = req.operation_name.clone();
    let doc = req.parsed_query().ok()?;
    Some(match &doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match name {
            Some(n) => ops
                .get(n.as_str())
                .is_some_and(|op| op.node.ty == OperationType::Mutation),
            None => ops.len() == 1 && ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    })
}

/// `GET /graphql`: GraphiQL for browsers; queries (never mutations) for other clients.
pub async fn get_graphql(State(state): State<AppState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let ip = client_ip(&state, &req);
    let gql_response = wants_gql_response(&headers);
    let query_string = req.uri().query().unwrap_or_default().to_string();
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if state.graphiql && html && query_string.is_empty() {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .finish(),
        )
        .into_response();
    }
    let mut gql_req = match async_graphql::http::parse_query_string(&query_string) {
        Ok(r) => r,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "invalid GraphQL query string",
                gql_response,
            );
        }
    };
    if is_mutation(&mut gql_req) == Some(true) {
        let mut resp = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations are not allowed over GET; use POST",
            true,
        );
        if !gql_response {
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    execute(&state, &headers, ip, BatchRequest::Single(gql_req)).await
}

/// `GET /graphql/ws`: graphql-transport-ws (and legacy graphql-ws). The identity comes from the
/// `connection_init` payload (`{"Authorization": "Bearer …"}`) or else the upgrade request's headers.
pub async fn ws_graphql(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header_token = auth::token_from_headers(&headers);
    let authenticator = state.auth.clone();
    let schema = state.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = auth::token_from_payload(&payload).or(header_token);
                    let actor = authenticator
                        .actor_for(token.as_deref())
                        .await
                        .map_err(|e| {
                            let code = if e.kind == ErrorKind::Unavailable {
                                "UNAVAILABLE"
                            } else {
                                "UNAUTHENTICATED"
                            };
                            crate::error::gql(Error::new(
                                e.kind,
                                code,
                                e.public_message().to_string(),
                            ))
                        })?;
                    let mut data = Data::default();
                    data.insert(actor);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

/// `GET /healthz`: the gateway process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for each service to accept a connection.
const READY_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// `GET /readyz`: 200 when every service accepts connections and every further dependency check passes, else
/// 503 listing the services that do not and the problems (`{"status":"ready"|"not_ready","unavailable":[…],
/// "problems":[…]}`); mirrored in `thriftshop_component_ready`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let p = state.peers;
    let peers = [
        ("catalog", p.catalog),
        ("inventory", p.inventory),
        ("cart", p.cart),
        ("order", p.order),
        ("user", p.user),
        ("session", p.session),
        ("recommender", p.recommender),
    ];
    let probes = peers.map(|(name, addr)| async move {
        let up = matches!(
            tokio::time::timeout(READY_PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
            Ok(Ok(_))
        );
        (name, up)
    });
    let (results, dependencies) = futures::future::join(
        futures::future::join_all(probes),
        state.dependencies.check(),
    )
    .await;
    let problems = dependencies.err().unwrap_or_default();
    let down: Vec<&str> = results
        .iter()
        .filter(|(_, up)| !up)
        .map(|(n, _)| *n)
        .collect();
    for (name, up) in &results {
        state.metrics.set_ready(*name, *up);
    }
    let ready = down.is_empty() && problems.is_empty();
    state.metrics.set_ready("gateway", ready);
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let body = serde_json::json!({ "status": word, "unavailable": down, "problems": problems });
    json_response(status, body.to_string(), false)
}

/// `GET /metrics`: Prometheus text (OpenMetrics when the scraper asks for it).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = state.metrics.encode_for(accept);
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
