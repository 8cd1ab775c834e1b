use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;
use url::Url;

use crate::ports::blob_store::check_link_ttl;
use crate::ports::{Blob, BlobError, BlobKey, BlobReader, BlobStore};

/// The blob store on S3; links are SigV4 presigned URLs. Encryption at rest is the bucket's
/// default (SSE-KMS, template.yaml); objects hold field-encrypted data where it is personal.
#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> BlobError {
    BlobError::Unavailable(super::describe(&err).1)
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, BlobError> {
    check_link_ttl(ttl)?;
    PresigningConfig::expires_in(ttl).map_err(|e| BlobError::InvalidLink(e.to_string()))
}

/// Parts of a multipart upload (S3 takes 5 MiB at least, but the last).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// A multipart upload, begun when the first part is full; a small object is one PUT.
struct S3Writer {
    store: S3BlobStore,
    key: String,
    content_type: String,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<aws_sdk_s3::types::CompletedPart>,
    size: u64,
}

impl S3Writer {
    async fn send_part(&mut self) -> Result<(), BlobError> {
        let s = &self.store;
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = s
                    .client
                    .create_multipart_upload()
                    .bucket(&s.bucket)
                    .key(&self.key)
                    .content_type(&self.content_type)
                    .send()
                    .await
                    .map_err(classify)?;
                let id = out
                    .upload_id()
                    .ok_or_else(|| BlobError::Unavailable("no upload id".into()))?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_BYTES));
        let out = s
            .client
            .upload_part()
            .bucket(&s.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(classify)?;
        self.parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }
}

#[async_trait]
impl crate::ports::BlobWriter for S3Writer {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        self.buffer.extend_from_slice(bytes);
        self.size += bytes.len() as u64;
        if self.buffer.len() >= PART_BYTES {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, BlobError> {
        if self.upload_id.is_none() {
            let body = std::mem::take(&mut self.buffer);
            let key = BlobKey::parse(&self.key)?;
            self.store
                .put(&key, Bytes::from(body), &self.content_type)
                .await?;
            return Ok(self.size);
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        let s = &self.store;
        s.client
            .complete_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(self.size)
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        let Some(upload_id) = &self.upload_id else {
            return Ok(());
        };
        let s = &self.store;
        s.client
            .abort_multipart_upload()
            .bucket(&s.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn url(presigned: &aws_sdk_s3::presigning::PresignedRequest) -> Result<Url, BlobError> {
    Url::parse(presigned.uri()).map_err(|e| BlobError::InvalidLink(e.to_string()))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn writer(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<Box<dyn crate::ports::BlobWriter>, BlobError> {
        Ok(Box::new(S3Writer {
            store: self.clone(),
            key: key.as_str().to_owned(),
            content_type: content_type.to_owned(),
            buffer: Vec::with_capacity(PART_BYTES),
            upload_id: None,
            parts: Vec::new(),
            size: 0,
        }))
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => out,
            Err(SdkError::ServiceError(se)) if se.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let content_type = out
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(e.to_string()))?
            .into_bytes();
        Ok(Some(Blob {
            bytes,
            content_type,
        }))
    }

    async fn read_from(&self, key: &BlobKey, from: u64) -> Result<Option<BlobReader>, BlobError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str());
        let request = if from > 0 {
            request.range(format!("bytes={from}-"))
        } else {
            request
        };
        match request.send().await {
            Ok(out) => Ok(Some(Box::pin(out.body.into_async_read()))),
            Err(SdkError::ServiceError(se)) if se.err().is_no_such_key() => Ok(None),
            // Reading from the end of an object: S3 answers 416, we answer an empty stream.
            Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 416 => {
                Ok(Some(Box::pin(tokio::io::empty())))
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(SdkError::ServiceError(se)) if se.err().is_not_found() => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        BlobKey::parse(prefix.trim_end_matches('/'))?;
        let mut count = 0;
        loop {
            // Listed again from the start each time: what was deleted is gone from the list.
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(1000)
                .send()
                .await
                .map_err(classify)?;
            let keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect();
            if keys.is_empty() {
                return Ok(count);
            }
            let objects = keys
                .iter()
                .map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(k)
                        .build()
                        .map_err(|e| BlobError::Unavailable(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let delete = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BlobError::Unavailable(e.to_string()))?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(classify)?;
            count += keys.len() as u64;
        }
    }

    async fn download_link(&self, key: &BlobKey, ttl: Duration) -> Result<Url, BlobError> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning(ttl)?)
            .await
            .map_err(classify)?;
        url(&presigned)
    }

    async fn upload_link(
        &self,
        key: &BlobKey,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Url, BlobError> {
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .presigned(presigning(ttl)?)
            .await
            .map_err(classify)?;
        url(&presigned)
    }
}
