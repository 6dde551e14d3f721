//! Pure session domain: sessions, their lifetime rules (expiry, revocation) and the events they emit.
//! No async, no I/O, no wire types; time is always a `now_ms` parameter.

pub mod session;

pub use session::{
    DEFAULT_GUEST_SLIDE_INTERVAL_MS, DEFAULT_GUEST_TTL_MS, DEFAULT_TTL_MS, MAX_TOKEN_LEN,
    RevokeReason, Session, SessionConfig, SessionEvent, SessionKind, Status, is_well_formed_token,
    token_hash,
};
