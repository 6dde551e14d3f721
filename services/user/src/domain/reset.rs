//! Password-reset tokens: what is stored (only a SHA-256 of the token, its expiry and whether it was used) and
//! the pure checks on a presented token. The token itself is random (256 bits) and leaves the service only in
//! the reset mail.
use shop_kernel::Error;

/// Random bytes in a reset token (256 bits; URL-safe base64, 43 characters).
pub const RESET_TOKEN_BYTES: usize = 32;
/// Longest presented token looked at; longer ones are invalid without further work.
pub const MAX_RESET_TOKEN_CHARS: usize = 128;
/// Mail template of the reset message.
pub const RESET_TEMPLATE: &str = "customer_password_reset";

/// A customer's current reset token as stored. Issuing a new one replaces it (older links stop working).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetToken {
    /// SHA-256 of the token, lowercase hex.
    pub token_hash: String,
    pub issued_at_ms: i64,
    /// The token is refused from this instant on.
    pub expires_at_ms: i64,
    /// Set once a password was reset with it (single use).
    pub used: bool,
}

/// SHA-256 of a presented or issued token, lowercase hex (what stores keep; a high-entropy token needs no
/// slow hash).
pub fn hash_token(token: &str) -> String {
    shop_kernel::ids::sha256_hex(token.as_bytes())
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The one answer for every unusable token: unknown, expired, used, mismatched, or for an unknown customer.
pub fn token_invalid() -> Error {
    Error::unauthenticated(
        "TOKEN_INVALID",
        "the password reset link is invalid or has expired",
    )
    .with_field(["reset_token"])
}

/// The link of a reset mail: `<base>/<customer id>/<token>` (`base` without a trailing slash).
pub fn reset_url(base: &str, customer_id: &str, token: &str) -> String {
    format!("{}/{customer_id}/{token}", base.trim_end_matches('/'))
}

impl ResetToken {
    /// The stored form of `token`, issued at `now_ms`, valid for `ttl_ms`.
    pub fn issue(token: &str, now_ms: i64, ttl_ms: i64) -> Self {
        Self {
            token_hash: hash_token(token),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            used: false,
        }
    }

    /// Does this stored token accept a presented token whose hash is `presented_hash`, at `now_ms`? The
    /// hashes are compared in constant time, and every check runs whatever the outcome of the others.
    pub fn accepts(&self, presented_hash: &str, now_ms: i64) -> bool {
        let same = constant_time_eq(self.token_hash.as_bytes(), presented_hash.as_bytes());
        let fresh = now_ms < self.expires_at_ms;
        same & fresh & !self.used
    }
}

/// Is `token` worth looking up: 1..=[`MAX_RESET_TOKEN_CHARS`] URL-safe characters?
pub fn plausible_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_RESET_TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_same_fresh_unused_token() {
        let t = ResetToken::issue("tok", 1_000, 3_600_000);
        assert_eq!(t.expires_at_ms, 3_601_000);
        assert_ne!(t.token_hash, "tok", "only the hash is kept");
        assert_eq!(t.token_hash.len(), 64);
        let h = hash_token("tok");
        assert!(t.accepts(&h, 1_000));
        assert!(t.accepts(&h, 3_600_999));
        assert!(!t.accepts(&h, 3_601_000), "expired");
        assert!(!t.accepts(&hash_token("tok2"), 2_000), "another token");
        assert!(!t.accepts("", 2_000));
        let used = ResetToken { used: true, ..t };
        assert!(!used.accepts(&h, 2_000), "single use");
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn urls_and_plausibility() {
        assert_eq!(
            reset_url("https://shop.example/account/reset/", "c1", "t_-9"),
            "https://shop.example/account/reset/c1/t_-9"
        );
        assert!(plausible_token("aZ09-_"));
        assert!(!plausible_token(""));
        assert!(!plausible_token("a b"));
        assert!(!plausible_token(&"a".repeat(129)));
        let e = token_invalid();
        assert_eq!(e.code, "TOKEN_INVALID");
        assert_eq!(e.kind, shop_kernel::ErrorKind::Unauthenticated);
    }
}
