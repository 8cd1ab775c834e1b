//! Randomness: the operating system's for keys and tokens, a thread-local CSPRNG (ChaCha,
//! reseeded from the OS) for the many nonces field encryption needs.

use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};

/// Fills `buf` from the operating system's random source. A system that cannot give random
/// bytes cannot make keys at all: it stops here, as `getrandom` itself would.
pub fn os_bytes(buf: &mut [u8]) {
    OsRng.unwrap_err().fill_bytes(buf);
}

/// 256 random bits from the OS as 64 hex characters: a token handed out once (download
/// links, deletion receipts), of which only a hash is kept.
pub fn token_hex() -> String {
    let mut raw = [0u8; 32];
    os_bytes(&mut raw);
    hex::encode(raw)
}

/// A 96-bit AES-GCM nonce, random per field.
pub fn nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    rand::rng().fill_bytes(&mut n);
    n
}
