//! Caller identity: customer access tokens from HTTP headers or the websocket `connection_init` payload.
use axum::http::HeaderMap;
use shop_idl::session;
use shop_kernel::{Actor, Error};

use crate::clients::Clients;

/// Header carrying a customer access token (besides `Authorization: Bearer`).
pub const TOKEN_HEADER: &str = "x-thriftshop-customer-access-token";

/// Longest token accepted.
const MAX_TOKEN_LEN: usize = 512;

/// The token presented in `headers`, if any (`Some("")` for a malformed `Authorization` header).
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION) {
        let v = v.to_str().unwrap_or_default().trim();
        let token = v
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string())
            .unwrap_or_default();
        return Some(token);
    }
    headers
        .get(TOKEN_HEADER)
        .map(|v| v.to_str().unwrap_or_default().trim().to_string())
}

/// The token in a `connection_init` payload: `{"Authorization": "Bearer …"}` or
/// `{"X-Thriftshop-Customer-Access-Token": "…"}` (keys are case-insensitive; a nested `headers` object works too).
pub fn token_from_payload(payload: &serde_json::Value) -> Option<String> {
    let obj = payload.as_object()?;
    let mut headers = HeaderMap::new();
    let nested = obj.get("headers").and_then(|h| h.as_object());
    for (k, v) in obj.iter().chain(nested.into_iter().flatten()) {
        if let (Ok(name), Some(Ok(value))) = (
            axum::http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
            v.as_str().map(axum::http::HeaderValue::from_str),
        ) {
            headers.insert(name, value);
        }
    }
    token_from_headers(&headers)
}

/// Validates a token with the session service (as the system). `Ok(Some(customer))` for a customer session,
/// `Ok(None)` for a guest session; `UNAUTHENTICATED` when it is unknown, expired or revoked.
pub async fn validate_token(clients: &Clients, token: &str) -> Result<Option<String>, Error> {
    if token.is_empty()
        || token.len() > MAX_TOKEN_LEN
        || token.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(Error::unauthenticated(
            "INVALID_TOKEN",
            "the access token is invalid",
        ));
    }
    let system = Actor {
        customer_id: None,
        system: true,
    };
    let req = session::ValidateRequest {
        token: token.to_string().into(),
    };
    let resp = shop_rpc::with_actor(&system, async {
        shop_rpc::call("session", clients.session.validate(req).await)
    })
    .await
    .map_err(|e| match e.kind {
        shop_kernel::ErrorKind::InvalidArgument | shop_kernel::ErrorKind::NotFound => {
            Error::unauthenticated("INVALID_TOKEN", "the access token is invalid")
        }
        _ => e,
    })?;
    Ok(resp
        .session
        .customer_id
        .map(|c| c.to_string())
        .filter(|c| !c.is_empty()))
}

/// The actor for a presented token (`None` = no token = guest).
pub async fn actor_for(clients: &Clients, token: Option<&str>) -> Result<Actor, Error> {
    match token {
        None => Ok(Actor::guest()),
        Some(t) => Ok(match validate_token(clients, t).await? {
            Some(customer) => Actor::customer(customer),
            None => Actor::guest(),
        }),
    }
}
