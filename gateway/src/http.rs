//! HTTP transport: `POST/GET /graphql`, `GET /graphql/ws` (graphql-transport-ws), `GET /healthz`.
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

use crate::{GatewaySchema, auth, clients::Clients, extension};

/// Largest number of operations in one batched request.
pub const MAX_BATCH: usize = 16;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub schema: GatewaySchema,
    pub clients: Arc<Clients>,
    pub auth: Arc<auth::Authenticator>,
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

/// Authenticates the caller and executes `batch` under its identity.
async fn execute(state: &AppState, headers: &HeaderMap, batch: BatchRequest) -> Response {
    let gql_response = wants_gql_response(headers);
    if let BatchRequest::Batch(v) = &batch
        && (v.is_empty() || v.len() > MAX_BATCH)
    {
        let msg = format!("a batch holds 1 to {MAX_BATCH} operations");
        return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &msg, gql_response);
    }
    let token = auth::token_from_headers(headers);
    let actor = match state.auth.actor_for(token.as_deref()).await {
        Ok(a) => a,
        Err(e) => return auth_error(&e, gql_response),
    };
    let batch = batch.data(actor.clone());
    let resp = shop_rpc::with_actor(&actor, state.schema.execute_batch(batch)).await;
    finish(resp, gql_response)
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
    execute(&state, &headers, batch).await
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
    execute(&state, &headers, BatchRequest::Single(gql_req)).await
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

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok"
}
