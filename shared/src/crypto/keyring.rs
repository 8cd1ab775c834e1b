use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::field::{open, seal};
use super::{CryptoError, FieldRef};
use crate::domain::AccountId;
use crate::ports::{EncryptionContext, Item, ItemStore, KeyVault, Value};
use crate::table;

/// How long and how much an unwrapped tenant key may be used before the vault is asked again.
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
    pub max_age: Duration,
    /// Field operations (seal, open, index) per unwrap.
    pub max_uses: u64,
    /// Tenants held at once; the oldest entry goes first.
    pub max_tenants: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        // Five minutes bounds how long a destroyed key stays usable in a warm Lambda;
        // a million uses bounds how much one unwrap protects.
        Self {
            max_age: Duration::from_secs(300),
            max_uses: 1_000_000,
            max_tenants: 1024,
        }
    }
}

/// A tenant's working keys, derived from its data key; zeroized when dropped.
pub struct TenantKeys {
    cipher: Aes256Gcm,
    index_key: Zeroizing<[u8; 32]>,
}

impl TenantKeys {
    fn derive(data_key: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"whatatalk"), data_key);
        let mut field_key = Zeroizing::new([0u8; 32]);
        let mut index_key = Zeroizing::new([0u8; 32]);
        // Both lengths are 32 bytes, far below HKDF-SHA256's limit of 8160.
        hk.expand(b"field-encryption-v1", field_key.as_mut())
            .expect("32 bytes is a valid HKDF length");
        hk.expand(b"blind-index-v1", index_key.as_mut())
            .expect("32 bytes is a valid HKDF length");
        Self {
            cipher: Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(field_key.as_ref())),
            index_key,
        }
    }

    /// Seals a field; see [`Keyring::encrypt`].
    pub fn seal(
        &self,
        tenant: &AccountId,
        field: FieldRef<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        seal(&self.cipher, tenant, &field, plaintext)
    }

    /// Opens a field; see [`Keyring::decrypt`].
    pub fn open(
        &self,
        tenant: &AccountId,
        field: FieldRef<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.cipher, tenant, &field, sealed)
    }

    /// See [`Keyring::blind_index`].
    pub fn blind_index(&self, kind: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.index_key.as_ref())
            .expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

struct Cached {
    keys: Arc<TenantKeys>,
    loaded_at: Instant,
    uses: u64,
}

/// Seals and opens fields and computes blind indexes with each tenant's keys.
pub struct Keyring {
    vault: Arc<dyn KeyVault>,
    items: Arc<dyn ItemStore>,
    policy: CachePolicy,
    cache: Mutex<HashMap<AccountId, Cached>>,
}

fn context(tenant: &AccountId) -> EncryptionContext {
    EncryptionContext::from([("tenant".to_owned(), tenant.to_string())])
}

impl Keyring {
    pub fn new(vault: Arc<dyn KeyVault>, items: Arc<dyn ItemStore>, policy: CachePolicy) -> Self {
        Self {
            vault,
            items,
            policy,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Generates a tenant's data key. The returned item holds only the wrapped key; the caller
    /// writes it in the same transaction as the account itself.
    pub async fn provision(&self, tenant: &AccountId) -> Result<Item, CryptoError> {
        let data_key = self.vault.generate_data_key(&context(tenant)).await?;
        let keys = Arc::new(TenantKeys::derive(&data_key.plaintext));
        self.remember(tenant, keys, 0);
        Ok(Item::new(table::data_key(tenant))
            .with("wrapped", Value::B(data_key.wrapped))
            .with(
                "created_at",
                Value::N(crate::ports::item_store::now_epoch()),
            ))
    }

    /// Drops the tenant's keys from memory (after its wrapped key is destroyed).
    pub fn forget(&self, tenant: &AccountId) {
        self.lock().remove(tenant);
    }

    pub async fn encrypt(
        &self,
        tenant: &AccountId,
        field: FieldRef<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.keys(tenant, 1).await?.seal(tenant, field, plaintext)
    }

    pub async fn decrypt(
        &self,
        tenant: &AccountId,
        field: FieldRef<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.keys(tenant, 1).await?.open(tenant, field, sealed)
    }

    /// Decrypts a field that was sealed from a `&str`.
    pub async fn decrypt_string(
        &self,
        tenant: &AccountId,
        field: FieldRef<'_>,
        sealed: &[u8],
    ) -> Result<String, CryptoError> {
        let bytes = self.decrypt(tenant, field, sealed).await?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CryptoError::Decrypt)
    }

    /// HMAC-SHA256 of a normalised value under the tenant's index key: equal values give equal
    /// indexes within a tenant and unrelated ones across tenants. `kind` separates value
    /// spaces (a phone and a user id that happen to be equal index differently).
    pub async fn blind_index(
        &self,
        tenant: &AccountId,
        kind: &str,
        value: &str,
    ) -> Result<String, CryptoError> {
        Ok(self.keys(tenant, 1).await?.blind_index(kind, value))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A tenant's keys for `uses` field operations done at once, e.g. a batch sealed on a
    /// blocking thread. The uses count against the cache policy like single operations.
    pub async fn checkout(
        &self,
        tenant: &AccountId,
        uses: u64,
    ) -> Result<Arc<TenantKeys>, CryptoError> {
        self.keys(tenant, uses).await
    }

    async fn keys(&self, tenant: &AccountId, uses: u64) -> Result<Arc<TenantKeys>, CryptoError> {
        {
            let mut cache = self.lock();
            if let Some(entry) = cache.get_mut(tenant) {
                if entry.loaded_at.elapsed() < self.policy.max_age
                    && entry.uses + uses <= self.policy.max_uses
                {
                    entry.uses += uses;
                    return Ok(entry.keys.clone());
                }
                cache.remove(tenant);
            }
        }
        let record = self
            .items
            .get(&table::data_key(tenant))
            .await?
            .ok_or(CryptoError::NoKey)?;
        let wrapped = record.b("wrapped")?;
        let data_key = self
            .vault
            .decrypt_data_key(wrapped, &context(tenant))
            .await?;
        let keys = Arc::new(TenantKeys::derive(&data_key));
        self.remember(tenant, keys.clone(), uses);
        Ok(keys)
    }

    /// Caches `keys`, already used `uses` times.
    fn remember(&self, tenant: &AccountId, keys: Arc<TenantKeys>, uses: u64) {
        let mut cache = self.lock();
        if cache.len() >= self.policy.max_tenants && !cache.contains_key(tenant) {
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, c)| c.loaded_at)
                .map(|(t, _)| t.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(
            tenant.clone(),
            Cached {
                keys,
                loaded_at: Instant::now(),
                uses,
            },
        );
    }
}
