//! `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body with the Meta app secret.
//! Checked before anything reads the body, in constant time, against the current secret and,
//! while a rotation is under way, the previous one.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub const HEADER: &str = "x-hub-signature-256";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not `sha256=` and 64 hex digits")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// The app secrets a signature may be made with: the current one, and the previous one while
/// a rotation is under way.
#[derive(Clone)]
pub struct AppSecrets(Vec<Zeroizing<Vec<u8>>>);

impl std::fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppSecrets({} secrets)", self.0.len())
    }
}

impl AppSecrets {
    /// `current` must not be empty; an empty `previous` is no previous.
    pub fn new(current: &str, previous: Option<&str>) -> Option<Self> {
        if current.is_empty() {
            return None;
        }
        let mut secrets = vec![Zeroizing::new(current.as_bytes().to_vec())];
        if let Some(p) = previous.filter(|p| !p.is_empty()) {
            secrets.push(Zeroizing::new(p.as_bytes().to_vec()));
        }
        Some(Self(secrets))
    }

    /// Checks `header` (the header's value, if any) against `body`.
    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_part = header
            .strip_prefix(b"sha256=")
            .ok_or(SignatureError::Malformed)?;
        let mut expected = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut expected).map_err(|_| SignatureError::Malformed)?;
        if self.matches(&[body], &expected) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// Whether `expected` is the HMAC-SHA256 of the concatenated `parts` under any of the
    /// secrets, compared in constant time. Every secret is tried, so the time taken does not
    /// tell which one matched.
    pub fn matches(&self, parts: &[&[u8]], expected: &[u8]) -> bool {
        let mut ok = false;
        for secret in &self.0 {
            ok |= mac(secret, parts).verify_slice(expected).is_ok();
        }
        ok
    }

    /// The header value Meta would send for `body` with the current secret (tests, stand-in).
    pub fn sign(&self, body: &[u8]) -> String {
        sign(&self.0[0], body)
    }
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret, &[body]))
}

/// Hex HMAC-SHA256 of the concatenated `parts` under `secret`.
pub fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac(secret, parts).finalize().into_bytes())
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for p in parts {
        m.update(p);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_and_previous_secrets_verify() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let secrets = AppSecrets::new("new", Some("old")).unwrap();
        let by_new = sign(b"new", body);
        let by_old = sign(b"old", body);
        assert_eq!(secrets.verify(Some(by_new.as_bytes()), body), Ok(()));
        assert_eq!(secrets.verify(Some(by_old.as_bytes()), body), Ok(()));
        let other = sign(b"other", body);
        assert_eq!(
            secrets.verify(Some(other.as_bytes()), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secrets.verify(Some(by_new.as_bytes()), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_and_missing_headers_are_told_apart() {
        let s = AppSecrets::new("k", None).unwrap();
        assert_eq!(s.verify(None, b"x"), Err(SignatureError::Missing));
        for bad in [
            "",
            "sha256=",
            "sha1=00",
            "sha256=zz",
            &format!("sha256={}", "0".repeat(63)),
        ] {
            assert_eq!(
                s.verify(Some(bad.as_bytes()), b"x"),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert!(AppSecrets::new("", None).is_none());
    }

    #[test]
    fn matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
