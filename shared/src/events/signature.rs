//! Standard Webhooks signatures (standardwebhooks.com): `webhook-signature: v1,<base64>` where
//! the base64 is HMAC-SHA256 of `"{webhook-id}.{webhook-timestamp}.{body}"` under the secret's
//! bytes. Secrets are `whsec_` and the base64 of 24 random bytes, so receivers can use the
//! specification's published libraries as they are. During a rotation both secrets sign: the
//! header then carries two space-separated signatures, and a receiver holding either verifies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::domain::Invalid;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
const PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;

/// An endpoint's signing secret. Shown once when made; stored sealed; never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Zeroizing<String>);

impl SigningSecret {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        crate::crypto::random::os_bytes(bytes.as_mut());
        Self(Zeroizing::new(format!(
            "{PREFIX}{}",
            STANDARD.encode(bytes.as_ref())
        )))
    }

    /// A secret as stored or as the specification writes one (`whsec_` + base64 of 24 to 64
    /// bytes).
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let valid = s
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .map(Zeroizing::new)
            .is_some_and(|k| (SECRET_BYTES..=64).contains(&k.len()));
        if !valid {
            return Err(Invalid::new("not a signing secret (whsec_…)"));
        }
        Ok(Self(Zeroizing::new(s.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Zeroizing<Vec<u8>> {
        // Checked when made or parsed.
        Zeroizing::new(STANDARD.decode(&self.0[PREFIX.len()..]).unwrap_or_default())
    }

    /// `v1,<base64>` for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

/// The `webhook-signature` value: one signature per secret that signs now.
pub fn header(secrets: &[&SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification and its reference libraries.
    #[test]
    fn signs_the_specifications_example() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_fresh_and_refuse_other_shapes() {
        let a = SigningSecret::generate();
        let b = SigningSecret::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(a.expose()), Ok(a.clone()));
        assert!(SigningSecret::parse("whsec_short").is_err());
        assert!(SigningSecret::parse("sk_live_abc").is_err());
        assert_eq!(format!("{a:?}"), "SigningSecret(…)");
        let both = header(&[&a, &b], "evt_1", 1, b"{}");
        assert_eq!(both.split(' ').count(), 2);
    }
}
