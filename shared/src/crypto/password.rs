//! Password hashing: argon2id at OWASP's first recommended setting (19 MiB, 2 passes, one
//! lane), in the PHC string format, so the parameters travel with each hash and can be raised
//! later without breaking older ones.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

fn hasher() -> Argon2<'static> {
    // Params::DEFAULT_* are OWASP's m=19456 KiB, t=2, p=1.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The PHC string of `password` under a fresh 128-bit salt.
pub fn hash(password: &Password) -> String {
    let mut salt = [0u8; 16];
    super::random::os_bytes(&mut salt);
    match hasher().hash_password_with_salt(password.expose().as_bytes(), &salt) {
        Ok(h) => h.to_string(),
        // Only parameter or length errors, which fixed parameters and a 128-char cap rule out.
        Err(e) => unreachable!("argon2 with fixed parameters: {e}"),
    }
}

/// Whether `password` is the one `phc` was made from (in constant time, by argon2 itself).
pub fn verify(password: &str, phc: &str) -> bool {
    hasher().verify_password(password.as_bytes(), phc).is_ok()
}

/// A hash to verify against when there is no user, so that an unknown email takes as long to
/// refuse as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        // A fixed, unguessable-enough value: nobody's password, made once per process.
        let p = Password::parse(&super::random::token_hex()).unwrap_or_else(|_| unreachable!());
        hash(&p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_at_owasp_parameters_and_verifies() {
        let p = Password::parse("correct horse battery staple").unwrap();
        let h = hash(&p);
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert_ne!(h, hash(&p), "salted");
        assert!(!verify("x", "not a hash"));
    }
}
