//! Session use cases over the [`SessionStore`] port. Tokens are generated here, returned once, and only their
//! SHA-256 is stored; a token is never logged.
use shop_kernel::{Actor, Error};
use shop_store::StoreError;

use crate::{
    domain::{RevokeReason, Session, SessionConfig, SessionKind, is_well_formed_token, token_hash},
    events,
    store::{Revocation, SessionStore},
};

/// Random bytes in a token (256 bits).
pub const TOKEN_BYTES: usize = 32;

/// A freshly issued session and its token (the only time the token is seen).
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub session: Session,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("token", &"<redacted>")
            .field("session", &self.session)
            .finish()
    }
}

fn invalid_token() -> Error {
    Error::unauthenticated("INVALID_TOKEN", "the session token is invalid or expired")
}

fn caller_not_allowed() -> Error {
    Error::permission_denied("CALLER_NOT_ALLOWED", "the caller may not do this")
}

fn check_id(id: &str, field: &'static str) -> Result<(), Error> {
    if shop_kernel::ids::is_valid_token(id) {
        Ok(())
    } else {
        Err(Error::invalid("INVALID_ID", "malformed id").with_field([field]))
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        // A duplicate session id or token hash cannot happen with 128/256-bit randomness; never show it as a conflict.
        StoreError::Conflict { .. } => Error::internal("duplicate session id or token hash"),
        other => other.into(),
    }
}

/// The session service's use cases.
pub struct SessionApp<S> {
    store: S,
    config: SessionConfig,
}

impl<S: SessionStore> SessionApp<S> {
    /// Use cases over `store` with `config`.
    pub fn new(store: S, config: SessionConfig) -> Self {
        Self { store, config }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    async fn issue(&self, kind: SessionKind, customer_id: Option<String>) -> Result<Issued, Error> {
        let now = shop_kernel::now_ms();
        let token = shop_kernel::ids::secret_token(TOKEN_BYTES);
        let (session, event) = Session::create(
            shop_kernel::ids::new_id(),
            token_hash(&token),
            kind,
            customer_id,
            &self.config,
            now,
        )?;
        self.store
            .insert(session.clone(), vec![events::to_new_event(&event, now)])
            .await
            .map_err(store_error)?;
        tracing::debug!(session_id = %session.session_id, kind = kind.as_str(), "session created");
        Ok(Issued { token, session })
    }

    /// Creates a customer session. Only trusted callers (the gateway, with the system flag) may mint one.
    pub async fn create_session(&self, actor: &Actor, customer_id: &str) -> Result<Issued, Error> {
        if !actor.system {
            return Err(caller_not_allowed());
        }
        check_id(customer_id, "customer_id")?;
        self.issue(SessionKind::Customer, Some(customer_id.to_string()))
            .await
    }

    /// Creates an anonymous guest session (any caller).
    pub async fn create_guest_session(&self) -> Result<Issued, Error> {
        self.issue(SessionKind::Guest, None).await
    }

    /// The stored session for a token, whatever its status; malformed and unknown tokens fail alike.
    async fn lookup(&self, token: &str) -> Result<Session, Error> {
        if !is_well_formed_token(token) {
            return Err(invalid_token());
        }
        self.store
            .find_by_token_hash(&token_hash(token))
            .await?
            .ok_or_else(invalid_token)
    }

    /// The session of a token that is known, not expired and not revoked. A guest session's expiry slides:
    /// using it pushes its expiry to `guest_ttl` from now (written at most once per slide interval; a failed
    /// extension is logged and does not fail the validation).
    pub async fn validate(&self, token: &str) -> Result<Session, Error> {
        let mut session = self.lookup(token).await?;
        let now = shop_kernel::now_ms();
        if !session.is_active(now) {
            return Err(invalid_token());
        }
        if let Some(expires_at_ms) = session.slide(&self.config, now) {
            match self.store.extend(&session, expires_at_ms).await {
                Ok(true) => session.expires_at_ms = expires_at_ms,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(session_id = %session.session_id, error = %e, "guest session extension failed")
                }
            }
        }
        Ok(session)
    }

    /// Revokes a known token's session (idempotent: an already revoked session is returned as is).
    pub async fn revoke(&self, token: &str) -> Result<Session, Error> {
        let session = self.lookup(token).await?;
        let now = shop_kernel::now_ms();
        let (revoked, event) = session.revoke(RevokeReason::SignedOut, now);
        let Some(event) = event else {
            return Ok(revoked);
        };
        let done = self
            .store
            .revoke(
                vec![Revocation {
                    session_id: session.session_id.clone(),
                    event: events::to_new_event(&event, now),
                }],
                now,
            )
            .await?;
        if done.is_empty() {
            // Revoked concurrently: report the stored state.
            return self.lookup(token).await;
        }
        Ok(revoked)
    }

    /// Revokes every active session of `customer_id` (the caller's own, or any for the system); returns how many.
    pub async fn revoke_all(&self, actor: &Actor, customer_id: &str) -> Result<i64, Error> {
        check_id(customer_id, "customer_id")?;
        if !actor.may_access(Some(customer_id)) {
            return Err(caller_not_allowed());
        }
        let now = shop_kernel::now_ms();
        let revocations: Vec<Revocation> = self
            .store
            .active_for_customer(customer_id, now)
            .await?
            .iter()
            .filter_map(|s| {
                let (_, event) = s.revoke(RevokeReason::RevokedAll, now);
                event.map(|e| Revocation {
                    session_id: s.session_id.clone(),
                    event: events::to_new_event(&e, now),
                })
            })
            .collect();
        if revocations.is_empty() {
            return Ok(0);
        }
        let revoked = self.store.revoke(revocations, now).await?;
        tracing::info!(customer_id, count = revoked.len(), "sessions revoked");
        Ok(i64::try_from(revoked.len()).unwrap_or(i64::MAX))
    }

    /// Replaces a valid token by a new one with a fresh expiry; the old one is revoked in the same transaction.
    pub async fn renew(&self, token: &str) -> Result<Issued, Error> {
        let old = self.validate(token).await?;
        let now = shop_kernel::now_ms();
        let new_token = shop_kernel::ids::secret_token(TOKEN_BYTES);
        let (session, created) = Session::create(
            shop_kernel::ids::new_id(),
            token_hash(&new_token),
            old.kind,
            old.customer_id.clone(),
            &self.config,
            now,
        )?;
        let (_, revoked) = old.revoke(RevokeReason::Renewed, now);
        let revoked = revoked.ok_or_else(invalid_token)?;
        let old_revocation = Revocation {
            session_id: old.session_id.clone(),
            event: events::to_new_event(&revoked, now),
        };
        let replaced = self
            .store
            .replace(
                old_revocation,
                now,
                session.clone(),
                vec![events::to_new_event(&created, now)],
            )
            .await
            .map_err(store_error)?;
        if !replaced {
            // Revoked (or renewed) concurrently.
            return Err(invalid_token());
        }
        Ok(Issued {
            token: new_token,
            session,
        })
    }
}
