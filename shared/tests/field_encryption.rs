//! Field encryption over the key vault: binding to tenant, item and field; blind indexes;
//! how often the vault is called.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use shared::adapters::local::{Db, FileKeyVault, SqliteItemStore};
use shared::crypto::{CachePolicy, CryptoError, FieldRef, Keyring};
use shared::domain::AccountId;
use shared::ports::{DataKey, EncryptionContext, ItemStore, Key, KeyVault, VaultError};
use zeroize::Zeroizing;

/// Counts calls to the real vault underneath.
struct CountingVault {
    inner: FileKeyVault,
    calls: AtomicUsize,
}

#[async_trait]
impl KeyVault for CountingVault {
    async fn generate_data_key(&self, c: &EncryptionContext) -> Result<DataKey, VaultError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.generate_data_key(c).await
    }

    async fn decrypt_data_key(
        &self,
        w: &[u8],
        c: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.decrypt_data_key(w, c).await
    }
}

struct Setup {
    keyring: Keyring,
    vault: Arc<CountingVault>,
    items: Arc<dyn ItemStore>,
}

fn setup(policy: CachePolicy) -> Setup {
    let vault = Arc::new(CountingVault {
        inner: FileKeyVault::ephemeral(),
        calls: AtomicUsize::new(0),
    });
    let items: Arc<dyn ItemStore> = Arc::new(SqliteItemStore::new(Db::in_memory().unwrap()));
    Setup {
        keyring: Keyring::new(vault.clone(), items.clone(), policy),
        vault,
        items,
    }
}

/// Provisions a tenant and stores its wrapped key, as signup does.
async fn tenant(s: &Setup) -> AccountId {
    let id = AccountId::generate();
    let item = s.keyring.provision(&id).await.unwrap();
    s.items.put(item, None).await.unwrap();
    id
}

fn row(sk: &str) -> Key {
    Key::new("ACCOUNT#x", sk)
}

#[tokio::test]
async fn fields_open_only_where_they_were_sealed() {
    let s = setup(CachePolicy::default());
    let a = tenant(&s).await;
    let b = tenant(&s).await;
    let (r1, r2) = (row("CONTACT#1"), row("CONTACT#2"));
    let sealed = s
        .keyring
        .encrypt(&a, FieldRef::new("contact", &r1, "phone"), b"+447700900123")
        .await
        .unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"7700"));
    let opened = s
        .keyring
        .decrypt(&a, FieldRef::new("contact", &r1, "phone"), &sealed)
        .await
        .unwrap();
    assert_eq!(&opened[..], b"+447700900123");

    let moved = [
        (a.clone(), FieldRef::new("contact", &r2, "phone")), // another row
        (a.clone(), FieldRef::new("contact", &r1, "name")),  // another field
        (a.clone(), FieldRef::new("account", &r1, "phone")), // another entity
        (b.clone(), FieldRef::new("contact", &r1, "phone")), // another tenant
    ];
    for (tenant, field) in moved {
        let r = s.keyring.decrypt(&tenant, field, &sealed).await;
        assert!(
            matches!(r, Err(CryptoError::Decrypt)),
            "{field:?} of {tenant}"
        );
    }
    let mut tampered = sealed.clone();
    tampered[20] ^= 0x40;
    assert!(s
        .keyring
        .decrypt(&a, FieldRef::new("contact", &r1, "phone"), &tampered)
        .await
        .is_err());
    let again = s
        .keyring
        .encrypt(&a, FieldRef::new("contact", &r1, "phone"), b"+447700900123")
        .await
        .unwrap();
    assert_ne!(
        again, sealed,
        "random nonces: equal values do not look equal"
    );
}

#[tokio::test]
async fn blind_indexes_match_within_a_tenant_only() {
    let s = setup(CachePolicy::default());
    let a = tenant(&s).await;
    let b = tenant(&s).await;
    let i1 = s
        .keyring
        .blind_index(&a, "phone", "+447700900123")
        .await
        .unwrap();
    let i2 = s
        .keyring
        .blind_index(&a, "phone", "+447700900123")
        .await
        .unwrap();
    assert_eq!(i1, i2);
    assert_eq!(i1.len(), 64);
    assert!(!i1.contains("7700900123"));
    assert_ne!(
        i1,
        s.keyring
            .blind_index(&b, "phone", "+447700900123")
            .await
            .unwrap()
    );
    assert_ne!(
        i1,
        s.keyring
            .blind_index(&a, "bsuid", "+447700900123")
            .await
            .unwrap()
    );
    assert_ne!(
        i1,
        s.keyring
            .blind_index(&a, "phone", "+447700900124")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn ten_thousand_fields_cost_one_vault_call() {
    let s = setup(CachePolicy::default());
    let a = tenant(&s).await;
    let r = row("CONTACT#1");
    for i in 0..10_000 {
        s.keyring
            .encrypt(
                &a,
                FieldRef::new("contact", &r, "name"),
                format!("name {i}").as_bytes(),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        s.vault.calls.load(Ordering::SeqCst),
        1,
        "the GenerateDataKey of signup, nothing more"
    );
}

#[tokio::test]
async fn the_cache_is_bounded_by_age_uses_and_tenants() {
    let r = row("X");
    let f = || FieldRef::new("contact", &r, "name");

    let s = setup(CachePolicy {
        max_age: Duration::from_secs(3600),
        max_uses: 3,
        max_tenants: 10,
    });
    let a = tenant(&s).await; // GenerateDataKey: serves uses 1 to 3
    for _ in 0..7 {
        s.keyring.encrypt(&a, f(), b"x").await.unwrap();
    }
    assert_eq!(
        s.vault.calls.load(Ordering::SeqCst),
        3,
        "unwraps for uses 4-6 and 7"
    );

    let s = setup(CachePolicy {
        max_age: Duration::from_millis(50),
        max_uses: 1_000,
        max_tenants: 10,
    });
    let a = tenant(&s).await;
    s.keyring.encrypt(&a, f(), b"x").await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    s.keyring.encrypt(&a, f(), b"x").await.unwrap();
    assert_eq!(
        s.vault.calls.load(Ordering::SeqCst),
        2,
        "an unwrap after max_age"
    );

    let s = setup(CachePolicy {
        max_age: Duration::from_secs(3600),
        max_uses: 1_000,
        max_tenants: 2,
    });
    let (a, b, c) = (tenant(&s).await, tenant(&s).await, tenant(&s).await);
    let before = s.vault.calls.load(Ordering::SeqCst);
    for t in [&b, &c] {
        s.keyring.encrypt(t, f(), b"x").await.unwrap();
    }
    assert_eq!(
        s.vault.calls.load(Ordering::SeqCst),
        before,
        "the two newest stay cached"
    );
    s.keyring.encrypt(&a, f(), b"x").await.unwrap();
    assert_eq!(
        s.vault.calls.load(Ordering::SeqCst),
        before + 1,
        "the oldest was evicted"
    );
}

#[tokio::test]
async fn a_destroyed_key_makes_data_unreadable() {
    let s = setup(CachePolicy::default());
    let a = tenant(&s).await;
    let r = row("X");
    let sealed = s
        .keyring
        .encrypt(&a, FieldRef::new("contact", &r, "name"), b"Ana")
        .await
        .unwrap();
    s.items
        .delete(&shared::table::data_key(&a), None)
        .await
        .unwrap();
    s.keyring.forget(&a);
    let r2 = s
        .keyring
        .decrypt(&a, FieldRef::new("contact", &r, "name"), &sealed)
        .await;
    assert!(matches!(r2, Err(CryptoError::NoKey)));
}
