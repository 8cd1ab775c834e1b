//! The blob store: objects by key, and short-lived links to download or upload one directly.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use url::Url;

/// Longest validity of a link (S3 presigning allows 7 days; we never need more than this).
pub const MAX_LINK_TTL: Duration = Duration::from_secs(60 * 60);

/// An object key: `/`-separated segments of `[A-Za-z0-9._=-]`, no empty, `.` or `..` segment,
/// at most 512 bytes. Safe as a relative file path and as an S3 key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        let ok = !s.is_empty()
            && s.len() <= 512
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._=-".contains(&b))
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BlobError::InvalidKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object's bytes as a stream, for files too large to hold in memory.
pub type BlobReader = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Bytes,
    pub content_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid object key")]
    InvalidKey,
    #[error("invalid link request: {0}")]
    InvalidLink(String),
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// An object written piece by piece: nothing is visible at its key until [`BlobWriter::finish`];
/// memory stays bounded (a multipart upload's part on S3, nothing locally).
#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError>;
    /// Makes the object visible; returns its size.
    async fn finish(self: Box<Self>) -> Result<u64, BlobError>;
    /// Discards what was written: nothing of it stays anywhere (no S3 multipart parts).
    async fn abort(self: Box<Self>) -> Result<(), BlobError>;
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> Result<(), BlobError>;

    /// A writer for a large object (an export) that never holds it whole.
    async fn writer(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<Box<dyn BlobWriter>, BlobError>;

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobError>;

    /// The object's bytes from byte `from` on, streamed; `None` if there is no object.
    async fn read_from(&self, key: &BlobKey, from: u64) -> Result<Option<BlobReader>, BlobError>;

    /// The object's size in bytes; `None` if there is no object.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError>;

    /// Deleting a missing object is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Deletes every object whose key starts with `prefix` (which ends with `/`); returns how
    /// many there were.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError>;

    /// A URL that GETs the object until `ttl` (≤ [`MAX_LINK_TTL`]) has passed.
    async fn download_link(&self, key: &BlobKey, ttl: Duration) -> Result<Url, BlobError>;

    /// A URL that PUTs the object, with exactly this `Content-Type`, until `ttl` has passed.
    async fn upload_link(
        &self,
        key: &BlobKey,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Url, BlobError>;
}

pub fn check_link_ttl(ttl: Duration) -> Result<(), BlobError> {
    if ttl.is_zero() || ttl > MAX_LINK_TTL {
        return Err(BlobError::InvalidLink(format!(
            "ttl must be within 1s..={}s",
            MAX_LINK_TTL.as_secs()
        )));
    }
    Ok(())
}
