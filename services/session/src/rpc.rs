//! Thrift edge of the session service: wire ↔ domain conversions around [`SessionApp`].
use std::sync::Arc;

use shop_idl::session as wire;
use shop_rpc::{ServerResult, current_actor, reply};

use crate::{
    app::{Issued, SessionApp},
    domain::{Session, SessionKind},
    store::SessionStore,
};

/// The `SessionService` implementation.
pub struct SessionRpc<S> {
    app: Arc<SessionApp<S>>,
}

impl<S> SessionRpc<S> {
    /// Serves `app`.
    pub fn new(app: Arc<SessionApp<S>>) -> Self {
        Self { app }
    }
}

/// The wire form of a session (never includes the token hash).
pub fn session_to_wire(s: &Session) -> wire::Session {
    wire::Session {
        session_id: s.session_id.clone().into(),
        kind: match s.kind {
            SessionKind::Customer => wire::SessionKind::CUSTOMER,
            SessionKind::Guest => wire::SessionKind::GUEST,
        },
        customer_id: s.customer_id.clone().map(Into::into),
        created_at_ms: s.created_at_ms,
        expires_at_ms: s.expires_at_ms,
    }
}

fn issued(
    r: Result<Issued, shop_kernel::Error>,
) -> Result<wire::CreateSessionResponse, shop_kernel::Error> {
    r.map(|i| wire::CreateSessionResponse {
        token: i.token.into(),
        session: session_to_wire(&i.session),
    })
}

impl<S: SessionStore> wire::SessionService for SessionRpc<S> {
    async fn create_session(
        &self,
        req: wire::CreateSessionRequest,
    ) -> ServerResult<wire::CreateSessionResponse, wire::SessionServiceCreateSessionException> {
        reply(issued(
            self.app
                .create_session(&current_actor(), &req.customer_id)
                .await,
        ))
    }

    async fn create_guest_session(
        &self,
        _req: wire::CreateGuestSessionRequest,
    ) -> ServerResult<wire::CreateSessionResponse, wire::SessionServiceCreateGuestSessionException>
    {
        reply(issued(self.app.create_guest_session().await))
    }

    async fn validate(
        &self,
        req: wire::ValidateRequest,
    ) -> ServerResult<wire::ValidateResponse, wire::SessionServiceValidateException> {
        reply(
            self.app
                .validate(&req.token)
                .await
                .map(|s| wire::ValidateResponse {
                    session: session_to_wire(&s),
                }),
        )
    }

    async fn revoke(
        &self,
        req: wire::RevokeRequest,
    ) -> ServerResult<wire::RevokeResponse, wire::SessionServiceRevokeException> {
        reply(
            self.app
                .revoke(&req.token)
                .await
                .map(|s| wire::RevokeResponse {
                    session: session_to_wire(&s),
                }),
        )
    }

    async fn revoke_all(
        &self,
        req: wire::RevokeAllRequest,
    ) -> ServerResult<wire::RevokeAllResponse, wire::SessionServiceRevokeAllException> {
        let result = self
            .app
            .revoke_all(&current_actor(), &req.customer_id)
            .await;
        reply(result.map(|revoked| wire::RevokeAllResponse { revoked }))
    }

    async fn renew(
        &self,
        req: wire::RenewRequest,
    ) -> ServerResult<wire::CreateSessionResponse, wire::SessionServiceRenewException> {
        reply(issued(self.app.renew(&req.token).await))
    }
}
