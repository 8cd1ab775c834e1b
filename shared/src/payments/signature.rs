//! `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]`: HMAC-SHA256 of `"{t}.{raw body}"`
//! with the endpoint secret. Any `v1` may match (the provider signs with each of its active
//! secrets during a rotation), under our current or previous secret; `t` must be within the
//! tolerance of now, so a captured request cannot be replayed later.

use crate::webhook::signature::{hmac_hex, AppSecrets};

pub const HEADER: &str = "stripe-signature";
/// How far `t` may be from now.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("Stripe-Signature has no t= and v1= parts")]
    Malformed,
    #[error("Stripe-Signature is older or newer than the tolerance")]
    Stale,
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// Checks `header` against `body` at `now` (epoch seconds).
pub fn verify(
    secrets: &AppSecrets,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                let mut sig = [0u8; 32];
                if hex::decode_to_slice(v, &mut sig).is_ok() {
                    signatures.push(sig);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let prefix = format!("{t}.");
    let mut ok = false;
    // Every candidate is checked, so timing does not tell which matched.
    for sig in &signatures {
        ok |= secrets.matches(&[prefix.as_bytes(), body], sig);
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header the provider would send for `body` at `t` under `secret` (tests, fixtures).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let prefix = format!("{t}.");
    format!(
        "t={t},v1={}",
        hmac_hex(secret.as_bytes(), &[prefix.as_bytes(), body])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_within_the_tolerance_under_any_secret() {
        let secrets = AppSecrets::new("whsec_new", Some("whsec_old")).unwrap();
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        assert_eq!(
            verify(&secrets, Some(&sign("whsec_new", now, body)), body, now),
            Ok(())
        );
        assert_eq!(
            verify(
                &secrets,
                Some(&sign("whsec_old", now - 200, body)),
                body,
                now
            ),
            Ok(())
        );
        // Several v1 values: one of them is ours.
        let other = sign("whsec_unknown", now, body);
        let ours = sign("whsec_new", now, body);
        let both = format!("{other},v1={}", ours.split("v1=").nth(1).unwrap());
        assert_eq!(verify(&secrets, Some(&both), body, now), Ok(()));
        assert_eq!(
            verify(
                &secrets,
                Some(&sign("whsec_new", now - 301, body)),
                body,
                now
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&secrets, Some(&sign("whsec_unknown", now, body)), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secrets, Some(&sign("whsec_new", now, body)), b"{}", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secrets, None, body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&secrets, Some("v1=abc"), body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secrets, Some(&format!("t={now}")), body, now),
            Err(SignatureError::Malformed)
        );
    }
}
