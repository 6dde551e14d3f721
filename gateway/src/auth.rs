//! Caller identity: customer access tokens from HTTP headers or the websocket `connection_init` payload,
//! resolved to an [`Actor`] (customer id and staff permissions) by the session and user services, with a short
//! per-gateway cache ([`Authenticator`]): a revoked token stops working within [`AuthOptions::cache_ttl`] on
//! every gateway, and at once on the gateway that revoked it.
use std::{
    num::NonZeroUsize,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::HeaderMap;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use shop_idl::{session, user};
use shop_kernel::{Actor, Error, Permission};

use crate::clients::Clients;

/// The access token the request presented (request data, so sign-out mutations can drop it from the cache).
#[derive(Debug, Clone)]
pub struct PresentedToken(pub String);

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

/// Whose session a valid token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// A signed-in customer (their id).
    Customer(String),
    /// An anonymous shopper's guest session (its id).
    Guest(String),
}

/// Validates a token with the session service (as the system). `Ok(Some(customer))` for a customer session,
/// `Ok(None)` for a guest session; `UNAUTHENTICATED` when it is unknown, expired or revoked.
pub async fn validate_token(clients: &Clients, token: &str) -> Result<Option<String>, Error> {
    Ok(match validate_session(clients, token).await? {
        TokenOwner::Customer(c) => Some(c),
        TokenOwner::Guest(_) => None,
    })
}

/// Validates a token with the session service (as the system): whose session it opens. `UNAUTHENTICATED`
/// when it is malformed, unknown, expired or revoked. Validating a guest token slides its expiry.
pub async fn validate_session(clients: &Clients, token: &str) -> Result<TokenOwner, Error> {
    if token.is_empty()
        || token.len() > MAX_TOKEN_LEN
        || token.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(Error::unauthenticated(
            "INVALID_TOKEN",
            "the access token is invalid",
        ));
    }
    let system = Actor::internal();
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
    let customer = resp
        .session
        .customer_id
        .map(|c| c.to_string())
        .filter(|c| !c.is_empty());
    Ok(match (resp.session.kind, customer) {
        (session::SessionKind::CUSTOMER, Some(c)) => TokenOwner::Customer(c),
        (session::SessionKind::GUEST, None) => {
            TokenOwner::Guest(resp.session.session_id.to_string())
        }
        _ => {
            return Err(Error::unauthenticated(
                "INVALID_TOKEN",
                "the access token is invalid",
            ));
        }
    })
}

/// The actor of a valid token: a guest session, or a customer with their staff permissions (looked up now).
async fn resolve(clients: &Clients, token: &str) -> Result<Actor, Error> {
    let customer_id = match validate_session(clients, token).await? {
        TokenOwner::Customer(c) => c,
        TokenOwner::Guest(g) => return Ok(Actor::guest_session(g)),
    };
    let actor = Actor::customer(customer_id.clone());
    let req = user::GetCustomersRequest {
        ids: vec![customer_id.into()],
    };
    let resp = shop_rpc::with_actor(&actor, async {
        shop_rpc::call("user", clients.user.get_customers(req).await)
    })
    .await?;
    let permissions = resp
        .customers
        .first()
        .and_then(|c| c.permissions.as_ref())
        .map(|names| names.iter().filter_map(|n| Permission::parse(n)).collect())
        .unwrap_or_default();
    Ok(actor.with_permissions(permissions))
}

/// Token-resolution settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthOptions {
    /// How long a resolved token is reused without asking the session service (zero: never cached).
    pub cache_ttl: Duration,
    /// Most tokens cached.
    pub cache_capacity: usize,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(2),
            cache_capacity: 10_000,
        }
    }
}

type TokenKey = [u8; 32];

/// Resolves tokens to actors, remembering each answer for at most [`AuthOptions::cache_ttl`]. Only successful
/// resolutions are cached (an unknown token is asked about every time); keys are SHA-256 digests, never tokens.
pub struct Authenticator {
    clients: Arc<Clients>,
    ttl: Duration,
    cache: Option<Mutex<lru::LruCache<TokenKey, (Actor, Instant)>>>,
}

impl Authenticator {
    /// An authenticator asking `clients`' session and user services.
    pub fn new(clients: Arc<Clients>, opts: AuthOptions) -> Self {
        let cache = NonZeroUsize::new(opts.cache_capacity)
            .filter(|_| !opts.cache_ttl.is_zero())
            .map(|cap| Mutex::new(lru::LruCache::new(cap)));
        Self {
            clients,
            ttl: opts.cache_ttl,
            cache,
        }
    }

    fn key(token: &str) -> TokenKey {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The actor for a presented token (`None` = no token = guest).
    pub async fn actor_for(&self, token: Option<&str>) -> Result<Actor, Error> {
        let Some(token) = token else {
            return Ok(Actor::guest());
        };
        let key = Self::key(token);
        if let Some(cache) = &self.cache
            && let Some((actor, at)) = cache.lock().get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(actor.clone());
        }
        let actor = resolve(&self.clients, token).await?;
        if let Some(cache) = &self.cache {
            cache.lock().put(key, (actor.clone(), Instant::now()));
        }
        Ok(actor)
    }

    /// Forgets `token` (after this gateway revoked it).
    pub fn forget(&self, token: &str) {
        if let Some(cache) = &self.cache {
            cache.lock().pop(&Self::key(token));
        }
    }

    /// Forgets every cached token of `customer_id` (after this gateway revoked all their sessions).
    pub fn forget_customer(&self, customer_id: &str) {
        if let Some(cache) = &self.cache {
            let mut cache = cache.lock();
            let theirs: Vec<TokenKey> = cache
                .iter()
                .filter(|(_, (actor, _))| actor.customer_id.as_deref() == Some(customer_id))
                .map(|(k, _)| *k)
                .collect();
            for k in theirs {
                cache.pop(&k);
            }
        }
    }
}
