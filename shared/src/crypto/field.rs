use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::CryptoError;
use crate::domain::AccountId;
use crate::ports::Key;

const FORMAT_V1: u8 = 1;
const NONCE_BYTES: usize = 12;

/// Names one field of one item: what the ciphertext is bound to.
#[derive(Clone, Copy, Debug)]
pub struct FieldRef<'a> {
    pub entity: &'static str,
    pub key: &'a Key,
    pub field: &'static str,
}

impl<'a> FieldRef<'a> {
    pub fn new(entity: &'static str, key: &'a Key, field: &'static str) -> Self {
        Self { entity, key, field }
    }

    /// Length-prefixed parts, so no two different refs give the same bytes.
    fn associated_data(&self, tenant: &AccountId) -> Vec<u8> {
        let mut out = b"whatatalk-field-v1".to_vec();
        let tenant = tenant.to_string();
        for part in [
            tenant.as_str(),
            self.entity,
            &self.key.pk,
            &self.key.sk,
            self.field,
        ] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// Seals a field as `[version][nonce][ciphertext + tag]`.
pub(super) fn seal(
    cipher: &Aes256Gcm,
    tenant: &AccountId,
    field: &FieldRef<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    // A userspace CSPRNG (ChaCha, reseeded from the OS): a 96-bit random nonce per field
    // without a system call each time.
    let nonce = super::random::nonce();
    let aad = field.associated_data(tenant);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a sealed field; fails unless tenant, item and field are the ones it was sealed for.
pub(super) fn open(
    cipher: &Aes256Gcm,
    tenant: &AccountId,
    field: &FieldRef<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Decrypt)?;
    if version != FORMAT_V1 || rest.len() < NONCE_BYTES {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, body) = rest.split_at(NONCE_BYTES);
    let aad = field.associated_data(tenant);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}
