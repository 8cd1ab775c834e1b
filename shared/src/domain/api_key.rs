use std::fmt;

use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::text::bounded_text;
use super::{ApiKeyId, Invalid, Timestamp};

/// An API key as the caller holds it: `wat_` and 43 base64url characters (256 random bits).
/// We keep only its SHA-256 (a slow hash buys nothing against 256 bits of entropy) and its
/// first 12 characters, so the owner can tell keys apart.
pub struct ApiKeySecret(Zeroizing<String>);

impl ApiKeySecret {
    const SCHEME: &'static str = "wat_";
    const RANDOM_CHARS: usize = 43;
    pub const PREFIX_CHARS: usize = 12;

    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        // The operating system's randomness: a credential.
        rand::TryRngCore::unwrap_err(rand::rngs::OsRng).fill_bytes(bytes.as_mut());
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref());
        Self(Zeroizing::new(format!("{}{encoded}", Self::SCHEME)))
    }

    /// Reads a key from a bearer token; anything not of the key's exact shape is refused
    /// before any lookup.
    pub fn parse(token: &str) -> Result<Self, Invalid> {
        let ok = token.strip_prefix(Self::SCHEME).is_some_and(|rest| {
            rest.len() == Self::RANDOM_CHARS
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if ok {
            Ok(Self(Zeroizing::new(token.to_owned())))
        } else {
            Err(Invalid::new("not an API key"))
        }
    }

    /// What is shown to the caller, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn prefix(&self) -> String {
        self.0.chars().take(Self::PREFIX_CHARS).collect()
    }

    pub fn hash_hex(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(…)")
    }
}

/// A label for a key, e.g. "CRM integration": 1 to 100 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        bounded_text(input, "name", 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyStatus {
    Active,
    Revoked,
}

/// What we keep of a key: never the secret.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: ApiKeyName,
    pub prefix: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    pub fn status(&self) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else {
            ApiKeyStatus::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_have_256_bits() {
        let k = ApiKeySecret::generate();
        assert_eq!(k.expose().len(), 4 + 43);
        let again = ApiKeySecret::parse(k.expose()).unwrap();
        assert_eq!(again.hash_hex(), k.hash_hex());
        assert_eq!(k.prefix().len(), 12);
        assert_ne!(ApiKeySecret::generate().hash_hex(), k.hash_hex());
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "wat_",
            "wat_short",
            "sk_live_abc",
            &format!("wat_{}", "!".repeat(43)),
        ] {
            assert!(ApiKeySecret::parse(bad).is_err(), "{bad}");
        }
    }
}
