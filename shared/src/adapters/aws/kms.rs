use async_trait::async_trait;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use zeroize::{Zeroize, Zeroizing};

use crate::ports::key_vault::DATA_KEY_BYTES;
use crate::ports::{DataKey, EncryptionContext, KeyVault, VaultError};

/// The key vault on KMS: GenerateDataKey and Decrypt under one symmetric key, always with the
/// encryption context (which CloudTrail records, so every unwrap names its tenant).
#[derive(Clone)]
pub struct KmsKeyVault {
    client: Client,
    key_id: String,
}

impl KmsKeyVault {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> VaultError {
    let (code, text) = super::describe(&err);
    match code.as_str() {
        "InvalidCiphertextException"
        | "IncorrectKeyException"
        | "AccessDeniedException"
        | "DisabledException"
        | "KMSInvalidStateException" => VaultError::Denied,
        _ => VaultError::Unavailable(text),
    }
}

/// Moves the SDK's plaintext into a zeroizing array and wipes the SDK's copy.
fn take_key(blob: Option<Blob>) -> Result<Zeroizing<[u8; DATA_KEY_BYTES]>, VaultError> {
    let mut bytes = blob.map(Blob::into_inner).unwrap_or_default();
    let mut key = Zeroizing::new([0u8; DATA_KEY_BYTES]);
    let ok = bytes.len() == DATA_KEY_BYTES;
    if ok {
        key.copy_from_slice(&bytes);
    }
    bytes.zeroize();
    if ok {
        Ok(key)
    } else {
        Err(VaultError::Unavailable(
            "data key of unexpected length".into(),
        ))
    }
}

#[async_trait]
impl KeyVault for KmsKeyVault {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, VaultError> {
        crate::metrics::count("kms_calls", 1, &[("operation", "GenerateDataKey")]);
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(classify)?;
        let wrapped = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| VaultError::Unavailable("no ciphertext blob".into()))?;
        let plaintext = take_key(out.plaintext)?;
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; DATA_KEY_BYTES]>, VaultError> {
        crate::metrics::count("kms_calls", 1, &[("operation", "Decrypt")]);
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(classify)?;
        take_key(out.plaintext)
    }
}
