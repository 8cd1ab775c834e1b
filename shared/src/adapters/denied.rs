//! The port of a service a function may not call: every call answers `Unavailable`, as the
//! cloud would answer an IAM denial, but without a client. A Lambda function is given real
//! adapters only for what its role in template.yaml allows, so the SDKs of the other services
//! are not linked into its binary, and a call its policy would refuse fails in every test run
//! instead of only once deployed.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use url::Url;
use zeroize::Zeroizing;

use crate::ports::key_vault::DATA_KEY_BYTES;
use crate::ports::{
    Blob, BlobError, BlobKey, BlobReader, BlobStore, BlobWriter, DataKey, EncryptionContext,
    KeyVault, OutgoingMessage, Queue, QueueError, ReceivedMessage, VaultError,
};

/// Names the port in the error, e.g. `Denied("blob store")`.
#[derive(Clone, Copy, Debug)]
pub struct Denied(pub &'static str);

impl Denied {
    fn reason(&self) -> String {
        format!("this function's role does not allow the {}", self.0)
    }
}

#[async_trait]
impl KeyVault for Denied {
    async fn generate_data_key(&self, _: &EncryptionContext) -> Result<DataKey, VaultError> {
        Err(VaultError::Unavailable(self.reason()))
    }

    async fn decrypt_data_key(
        &self,
        _: &[u8],
        _: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; DATA_KEY_BYTES]>, VaultError> {
        Err(VaultError::Unavailable(self.reason()))
    }
}

#[async_trait]
impl BlobStore for Denied {
    async fn put(&self, _: &BlobKey, _: Bytes, _: &str) -> Result<(), BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn writer(&self, _: &BlobKey, _: &str) -> Result<Box<dyn BlobWriter>, BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn get(&self, _: &BlobKey) -> Result<Option<Blob>, BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn read_from(&self, _: &BlobKey, _: u64) -> Result<Option<BlobReader>, BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn size(&self, _: &BlobKey) -> Result<Option<u64>, BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn delete(&self, _: &BlobKey) -> Result<(), BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn delete_prefix(&self, _: &str) -> Result<u64, BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn download_link(&self, _: &BlobKey, _: Duration) -> Result<Url, BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }

    async fn upload_link(&self, _: &BlobKey, _: &str, _: Duration) -> Result<Url, BlobError> {
        Err(BlobError::Unavailable(self.reason()))
    }
}

#[async_trait]
impl Queue for Denied {
    async fn send(&self, _: OutgoingMessage) -> Result<String, QueueError> {
        Err(QueueError::Unavailable(self.reason()))
    }

    async fn send_batch(&self, _: Vec<OutgoingMessage>) -> Result<Vec<String>, QueueError> {
        Err(QueueError::Unavailable(self.reason()))
    }

    async fn receive(
        &self,
        _: usize,
        _: Duration,
        _: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        Err(QueueError::Unavailable(self.reason()))
    }

    async fn ack(&self, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(self.reason()))
    }

    async fn ack_batch(&self, _: &[String]) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(self.reason()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_is_refused_with_the_port_named() {
        let vault = Denied("key vault");
        let e = vault
            .generate_data_key(&EncryptionContext::new())
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("does not allow the key vault"),
            "{e}"
        );
        let blobs = Denied("blob store");
        let key = BlobKey::parse("media/x").unwrap();
        assert!(matches!(
            blobs.get(&key).await,
            Err(BlobError::Unavailable(_))
        ));
        let queue = Denied("job queue");
        assert!(matches!(
            queue.send(OutgoingMessage::new("{}")).await,
            Err(QueueError::Unavailable(_))
        ));
    }
}
