//! Identifier and secret generation.
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new time-ordered id (UUIDv7, 32 lowercase hex chars).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A random secret of `bytes` bytes, URL-safe base64 without padding (16 bytes = 128 bits).
pub fn secret_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of `input`, lowercase hex.
pub fn sha256_hex(input: &[u8]) -> String {
    hex::encode(Sha256::digest(input))
}

/// Is `s` a plausible id token: 1..=128 chars of `[A-Za-z0-9_-]`?
pub fn is_valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_valid() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(is_valid_token(&a));
        let t = secret_token(16);
        assert_eq!(t.len(), 22);
        assert!(is_valid_token(&t));
        assert!(!is_valid_token("a/b"));
        assert!(!is_valid_token(""));
    }
}
