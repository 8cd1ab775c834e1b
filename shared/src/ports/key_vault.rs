//! The key vault: envelope encryption of data keys (KMS GenerateDataKey / Decrypt).
//!
//! A data key is generated under the vault's master key and an encryption context; the wrapped
//! form is stored beside the data, the plaintext only ever lives in memory. Unwrapping with any
//! other context fails, so a wrapped key copied to another tenant is useless.

use std::collections::BTreeMap;

use async_trait::async_trait;
use zeroize::Zeroizing;

pub const DATA_KEY_BYTES: usize = 32;

/// Names the data a key protects, e.g. `{"tenant": "acc_…"}`. Authenticated, not secret.
pub type EncryptionContext = BTreeMap<String, String>;

pub struct DataKey {
    pub plaintext: Zeroizing<[u8; DATA_KEY_BYTES]>,
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("wrapped_len", &self.wrapped.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Wrong context, tampered or foreign ciphertext, or a disabled key.
    #[error("the vault refused to unwrap the key")]
    Denied,
    #[error("key vault unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait KeyVault: Send + Sync {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, VaultError>;

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; DATA_KEY_BYTES]>, VaultError>;
}
