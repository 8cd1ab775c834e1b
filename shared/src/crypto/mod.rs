//! Field encryption: every personal field is sealed with AES-256-GCM under its tenant's data
//! key before it reaches the item store or the blob store.
//!
//! - One data key per tenant, generated and wrapped by the [`KeyVault`](crate::ports::KeyVault)
//!   with the context `{"tenant": id}`; only the wrapped form is stored (`table::data_key`).
//! - Two keys are derived from it with HKDF: one seals fields, one computes blind indexes.
//! - Unwrapped keys are cached with a bounded age and use count ([`CachePolicy`]), so the vault
//!   is called once per tenant per period, not once per field.
//! - The associated data of each field names tenant, entity, item key and field, so a
//!   ciphertext copied to another row, field or tenant fails to open.
//! - Destroying the wrapped key (account closure) makes every copy of the data unreadable.

mod field;
mod keyring;
pub mod password;
pub mod random;

pub use field::FieldRef;
pub use keyring::{CachePolicy, Keyring, TenantKeys};

use crate::ports::{StoreError, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The tenant has no data key: never provisioned, or destroyed at closure.
    #[error("no data key for this tenant")]
    NoKey,
    /// The ciphertext is not ours, was tampered with, or belongs to another field or tenant.
    #[error("field failed to decrypt")]
    Decrypt,
    #[error("field failed to encrypt")]
    Encrypt,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
