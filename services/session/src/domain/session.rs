//! A session: who it is for, when it ends, whether it was revoked. Tokens are never kept, only their hash.
use shop_kernel::Error;

/// Default session lifetime: 30 days.
pub const DEFAULT_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Longest token accepted from a client.
pub const MAX_TOKEN_LEN: usize = 128;

/// Default idle lifetime of a guest session: 14 days after its last use.
pub const DEFAULT_GUEST_TTL_MS: i64 = 14 * 24 * 60 * 60 * 1000;
/// Default least interval between two extensions of a guest session (one write per hour at most).
pub const DEFAULT_GUEST_SLIDE_INTERVAL_MS: i64 = 60 * 60 * 1000;

/// Session settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Lifetime of a new (or renewed) customer session, in milliseconds.
    pub ttl_ms: i64,
    /// Idle lifetime of a guest session: it expires this long after its last use (sliding expiry).
    pub guest_ttl_ms: i64,
    /// A guest session is extended when it was last extended at least this long ago, so a busy guest costs
    /// at most one write per interval.
    pub guest_slide_interval_ms: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ttl_ms: DEFAULT_TTL_MS,
            guest_ttl_ms: DEFAULT_GUEST_TTL_MS,
            guest_slide_interval_ms: DEFAULT_GUEST_SLIDE_INTERVAL_MS,
        }
    }
}

impl SessionConfig {
    /// Lifetime of a new session of `kind`.
    pub fn ttl_for(&self, kind: SessionKind) -> i64 {
        match kind {
            SessionKind::Customer => self.ttl_ms,
            SessionKind::Guest => self.guest_ttl_ms,
        }
    }
}

/// Whose session it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// A signed-in customer.
    Customer,
    /// An anonymous visitor.
    Guest,
}

impl SessionKind {
    /// Stable name (as stored and in events).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Customer => "CUSTOMER",
            SessionKind::Guest => "GUEST",
        }
    }

    /// The kind named by [`SessionKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CUSTOMER" => Some(SessionKind::Customer),
            "GUEST" => Some(SessionKind::Guest),
            _ => None,
        }
    }
}

/// Why a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The holder signed out.
    SignedOut,
    /// All sessions of the customer were revoked.
    RevokedAll,
    /// Replaced by a renewed session.
    Renewed,
}

impl RevokeReason {
    /// Stable name (in events).
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::SignedOut => "signed_out",
            RevokeReason::RevokedAll => "revoked_all",
            RevokeReason::Renewed => "renewed",
        }
    }
}

/// Where a session stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Expired,
    Revoked,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub session_id: String,
    /// SHA-256 (hex) of the token; the token itself is never stored.
    pub token_hash: String,
    pub kind: SessionKind,
    /// Set for [`SessionKind::Customer`], `None` for guests.
    pub customer_id: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// What happened to a session (published on `shop.session.v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// `session.created.v1`
    Created {
        session_id: String,
        customer_id: Option<String>,
        kind: SessionKind,
        expires_at_ms: i64,
    },
    /// `session.revoked.v1`
    Revoked { session_id: String, reason: String },
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    shop_kernel::ids::sha256_hex(token.as_bytes())
}

/// Could `token` be one of ours: `[A-Za-z0-9_-]`, 1..=[`MAX_TOKEN_LEN`] characters?
pub fn is_well_formed_token(token: &str) -> bool {
    token.len() <= MAX_TOKEN_LEN && shop_kernel::ids::is_valid_token(token)
}

impl Session {
    /// A new session of `kind` (with `customer_id` for customers), valid for `config.ttl_ms` from `now_ms`.
    pub fn create(
        session_id: String,
        token_hash: String,
        kind: SessionKind,
        customer_id: Option<String>,
        config: &SessionConfig,
        now_ms: i64,
    ) -> Result<(Session, SessionEvent), Error> {
        match (kind, &customer_id) {
            (SessionKind::Customer, None) => {
                return Err(Error::invalid(
                    "CUSTOMER_REQUIRED",
                    "a customer session needs a customer",
                )
                .with_field(["customer_id"]));
            }
            (SessionKind::Guest, Some(_)) => {
                return Err(Error::invalid(
                    "UNEXPECTED_CUSTOMER",
                    "a guest session has no customer",
                )
                .with_field(["customer_id"]));
            }
            _ => {}
        }
        let ttl_ms = config.ttl_for(kind);
        if ttl_ms <= 0 {
            return Err(Error::internal("session ttl must be positive"));
        }
        let session = Session {
            session_id,
            token_hash,
            kind,
            customer_id,
            created_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            revoked_at_ms: None,
        };
        let event = SessionEvent::Created {
            session_id: session.session_id.clone(),
            customer_id: session.customer_id.clone(),
            kind,
            expires_at_ms: session.expires_at_ms,
        };
        Ok((session, event))
    }

    /// The session's status at `now_ms`: revoked wins over expired; it expires at `expires_at_ms` exactly.
    pub fn status(&self, now_ms: i64) -> Status {
        if self.revoked_at_ms.is_some() {
            Status::Revoked
        } else if now_ms >= self.expires_at_ms {
            Status::Expired
        } else {
            Status::Active
        }
    }

    /// Is the session usable at `now_ms`?
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.status(now_ms) == Status::Active
    }

    /// The new expiry of a guest session used at `now_ms` (sliding expiry): `now + guest_ttl` when the session
    /// is active and was last extended at least `guest_slide_interval_ms` ago; `None` otherwise (customer
    /// sessions keep their fixed expiry and are renewed explicitly).
    pub fn slide(&self, config: &SessionConfig, now_ms: i64) -> Option<i64> {
        if self.kind != SessionKind::Guest || !self.is_active(now_ms) {
            return None;
        }
        let next = now_ms.saturating_add(config.guest_ttl_ms);
        (next.saturating_sub(self.expires_at_ms) >= config.guest_slide_interval_ms.max(1))
            .then_some(next)
    }

    /// Revokes the session. Idempotent: an already revoked session is returned unchanged, with no event.
    pub fn revoke(&self, reason: RevokeReason, now_ms: i64) -> (Session, Option<SessionEvent>) {
        if self.revoked_at_ms.is_some() {
            return (self.clone(), None);
        }
        let mut next = self.clone();
        next.revoked_at_ms = Some(now_ms);
        let event = SessionEvent::Revoked {
            session_id: self.session_id.clone(),
            reason: reason.as_str().to_string(),
        };
        (next, Some(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn customer_session(now: i64, ttl_ms: i64) -> Session {
        Session::create(
            "s1".into(),
            token_hash("tok"),
            SessionKind::Customer,
            Some("c1".into()),
            &SessionConfig {
                ttl_ms,
                ..SessionConfig::default()
            },
            now,
        )
        .unwrap()
        .0
    }

    #[test]
    fn default_ttl_is_thirty_days() {
        assert_eq!(SessionConfig::default().ttl_ms, 2_592_000_000);
    }

    #[test]
    fn create_emits_created() {
        let (s, e) = Session::create(
            "s1".into(),
            token_hash("t"),
            SessionKind::Guest,
            None,
            &SessionConfig::default(),
            1_000,
        )
        .unwrap();
        assert_eq!(s.expires_at_ms, 1_000 + DEFAULT_GUEST_TTL_MS);
        assert_eq!(s.token_hash.len(), 64);
        assert_ne!(s.token_hash, "t");
        assert_eq!(
            e,
            SessionEvent::Created {
                session_id: "s1".into(),
                customer_id: None,
                kind: SessionKind::Guest,
                expires_at_ms: 1_000 + DEFAULT_GUEST_TTL_MS
            }
        );
    }

    #[test]
    fn kind_and_customer_must_agree() {
        let cfg = SessionConfig::default();
        let e = Session::create("s".into(), "h".into(), SessionKind::Customer, None, &cfg, 0)
            .unwrap_err();
        assert_eq!(e.code, "CUSTOMER_REQUIRED");
        let e = Session::create(
            "s".into(),
            "h".into(),
            SessionKind::Guest,
            Some("c".into()),
            &cfg,
            0,
        )
        .unwrap_err();
        assert_eq!(e.code, "UNEXPECTED_CUSTOMER");
    }

    #[test]
    fn guest_sessions_slide_at_most_once_per_interval() {
        let cfg = SessionConfig {
            ttl_ms: 1_000_000,
            guest_ttl_ms: 1_000,
            guest_slide_interval_ms: 100,
        };
        let (g, _) =
            Session::create("g".into(), "h".into(), SessionKind::Guest, None, &cfg, 0).unwrap();
        assert_eq!(g.expires_at_ms, 1_000);
        // Used soon after the last extension: no write.
        assert_eq!(g.slide(&cfg, 99), None);
        // Used an interval later: extended to now + guest ttl.
        assert_eq!(g.slide(&cfg, 100), Some(1_100));
        assert_eq!(g.slide(&cfg, 999), Some(1_999));
        // Expired or revoked sessions never come back.
        assert_eq!(g.slide(&cfg, 1_000), None);
        let (r, _) = g.revoke(RevokeReason::SignedOut, 10);
        assert_eq!(r.slide(&cfg, 500), None);
        // Customer sessions keep their fixed expiry.
        let c = customer_session(0, 1_000);
        assert_eq!(c.slide(&cfg, 900), None);
    }

    #[test]
    fn expiry_boundary() {
        let s = customer_session(1_000, 500);
        assert_eq!(s.status(1_000), Status::Active);
        assert_eq!(s.status(1_499), Status::Active);
        assert_eq!(s.status(1_500), Status::Expired);
        assert!(!s.is_active(2_000));
    }

    #[test]
    fn revoke_is_idempotent() {
        let s = customer_session(0, 1_000);
        let (r, e) = s.revoke(RevokeReason::SignedOut, 10);
        assert_eq!(r.revoked_at_ms, Some(10));
        assert_eq!(r.status(20), Status::Revoked);
        assert_eq!(
            e,
            Some(SessionEvent::Revoked {
                session_id: "s1".into(),
                reason: "signed_out".into()
            })
        );
        let (again, e2) = r.revoke(RevokeReason::RevokedAll, 30);
        assert_eq!(again, r);
        assert_eq!(e2, None);
        // Revoked wins over expired.
        assert_eq!(r.status(5_000), Status::Revoked);
    }

    #[test]
    fn token_shapes() {
        let t = shop_kernel::ids::secret_token(32);
        assert_eq!(t.len(), 43);
        assert!(is_well_formed_token(&t));
        assert!(!is_well_formed_token(""));
        assert!(!is_well_formed_token("has space"));
        assert!(!is_well_formed_token(&"a".repeat(129)));
        assert!(is_well_formed_token(&"a".repeat(128)));
        assert_eq!(
            SessionKind::parse(SessionKind::Guest.as_str()),
            Some(SessionKind::Guest)
        );
        assert_eq!(
            SessionKind::parse(SessionKind::Customer.as_str()),
            Some(SessionKind::Customer)
        );
        assert_eq!(SessionKind::parse("x"), None);
    }

    proptest! {
        #[test]
        fn active_exactly_before_expiry(now in -1_000_000i64..1_000_000, ttl in 1i64..10_000_000, at in -2_000_000i64..20_000_000) {
            let s = customer_session(now, ttl);
            prop_assert_eq!(s.is_active(at), at < now + ttl);
            let (r, _) = s.revoke(RevokeReason::SignedOut, now);
            prop_assert!(!r.is_active(at));
        }

        #[test]
        fn token_check_never_panics(t in "\\PC{0,200}") {
            let ok = is_well_formed_token(&t);
            prop_assert!(!ok || (t.len() <= MAX_TOKEN_LEN && !t.is_empty()));
        }
    }
}
