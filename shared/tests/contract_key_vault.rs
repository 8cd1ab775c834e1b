//! The key vault contract: what the master key file and KMS must both do.

mod support;

use std::sync::Arc;

use shared::ports::{EncryptionContext, KeyVault, VaultError};

async fn file() -> Arc<dyn KeyVault> {
    let dir = tempfile::tempdir().unwrap();
    let vault =
        shared::adapters::local::FileKeyVault::open_or_create(&dir.path().join("master.key"))
            .unwrap();
    Arc::new(vault)
}

#[cfg(feature = "aws")]
async fn kms() -> Arc<dyn KeyVault> {
    let clients = support::aws::clients().await;
    let key = clients.kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_owned();
    Arc::new(shared::adapters::aws::KmsKeyVault::new(clients.kms, id))
}

contract!(file, kms => data_keys_unwrap_under_their_context, other_contexts_and_tampering_are_denied);

fn tenant(id: &str) -> EncryptionContext {
    EncryptionContext::from([("tenant".to_owned(), id.to_owned())])
}

async fn data_keys_unwrap_under_their_context(vault: Arc<dyn KeyVault>) {
    let a = vault.generate_data_key(&tenant("a")).await.unwrap();
    let b = vault.generate_data_key(&tenant("a")).await.unwrap();
    assert_ne!(*a.plaintext, *b.plaintext, "every data key is fresh");
    assert_ne!(
        a.wrapped,
        a.plaintext.to_vec(),
        "the wrapped form is not the key"
    );
    let unwrapped = vault
        .decrypt_data_key(&a.wrapped, &tenant("a"))
        .await
        .unwrap();
    assert_eq!(*unwrapped, *a.plaintext);
}

async fn other_contexts_and_tampering_are_denied(vault: Arc<dyn KeyVault>) {
    let a = vault.generate_data_key(&tenant("a")).await.unwrap();
    let other = vault.decrypt_data_key(&a.wrapped, &tenant("b")).await;
    assert!(matches!(other, Err(VaultError::Denied)), "{other:?}");
    let none = vault
        .decrypt_data_key(&a.wrapped, &EncryptionContext::new())
        .await;
    assert!(matches!(none, Err(VaultError::Denied)), "{none:?}");
    let mut tampered = a.wrapped.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let bad = vault.decrypt_data_key(&tampered, &tenant("a")).await;
    assert!(matches!(bad, Err(VaultError::Denied)), "{bad:?}");
    assert!(vault.decrypt_data_key(&[], &tenant("a")).await.is_err());
}
