use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::TryStreamExt;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;
use url::Url;
use zeroize::Zeroizing;

use crate::http::{Problem, ProblemType};
use crate::ports::blob_store::check_link_ttl;
use crate::ports::{Blob, BlobError, BlobKey, BlobReader, BlobStore};

/// Where the local runner serves blob links.
pub const LINK_PATH: &str = "/local-blobs";
/// Largest object an upload link accepts locally (the import limit is below it).
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// Blobs as files under `root/objects`, content types beside them under `root/meta`, and
/// signed, expiring links that the local runner serves like S3 presigned URLs.
#[derive(Clone)]
pub struct FileBlobStore {
    root: PathBuf,
    link_base: Url,
    link_secret: Zeroizing<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    content_type: String,
}

#[derive(Deserialize)]
struct LinkQuery {
    op: String,
    expires: i64,
    #[serde(default)]
    ct: Option<String>,
    sig: String,
}

fn io_err(e: std::io::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

impl FileBlobStore {
    /// `link_base` is the runner's own address; links point at `{link_base}/local-blobs/…`.
    pub fn new(root: &Path, link_base: Url) -> Result<Self, BlobError> {
        for dir in ["objects", "meta", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).map_err(io_err)?;
        }
        let mut link_secret = Zeroizing::new([0u8; 32]);
        crate::crypto::random::os_bytes(link_secret.as_mut());
        Ok(Self {
            root: root.to_owned(),
            link_base,
            link_secret,
        })
    }

    fn object_path(&self, key: &BlobKey) -> PathBuf {
        self.root.join("objects").join(key.as_str())
    }

    fn meta_path(&self, key: &BlobKey) -> PathBuf {
        self.root
            .join("meta")
            .join(format!("{}.json", key.as_str()))
    }

    fn sign(&self, op: &str, key: &BlobKey, expires: i64, ct: Option<&str>) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.link_secret.as_ref())
            .expect("HMAC takes any key length");
        mac.update(format!("{op}\n{key}\n{expires}\n{}", ct.unwrap_or("")).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(&self, op: &str, key: &BlobKey, q: &LinkQuery) -> bool {
        let expected = self.sign(op, key, q.expires, q.ct.as_deref());
        let fresh = q.expires > time::OffsetDateTime::now_utc().unix_timestamp();
        q.op == op
            && fresh
            && subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), q.sig.as_bytes()).into()
    }

    fn link(
        &self,
        op: &str,
        key: &BlobKey,
        ct: Option<&str>,
        ttl: Duration,
    ) -> Result<Url, BlobError> {
        check_link_ttl(ttl)?;
        let expires = time::OffsetDateTime::now_utc().unix_timestamp() + ttl.as_secs() as i64;
        let mut url = self
            .link_base
            .join(&format!("{LINK_PATH}/{key}"))
            .map_err(|e| BlobError::InvalidLink(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("op", op)
                .append_pair("expires", &expires.to_string());
            if let Some(ct) = ct {
                q.append_pair("ct", ct);
            }
            q.append_pair("sig", &self.sign(op, key, expires, ct));
        }
        Ok(url)
    }

    async fn write(&self, key: &BlobKey, tmp: &Path, content_type: &str) -> Result<(), BlobError> {
        let object = self.object_path(key);
        let meta = self.meta_path(key);
        for p in [&object, &meta] {
            if let Some(parent) = p.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(io_err)?;
            }
        }
        let meta_json = serde_json::to_vec(&Meta {
            content_type: content_type.to_owned(),
        })
        .map_err(|e| BlobError::Unavailable(e.to_string()))?;
        let meta_tmp = self.tmp_path();
        tokio::fs::write(&meta_tmp, meta_json)
            .await
            .map_err(io_err)?;
        tokio::fs::rename(&meta_tmp, &meta).await.map_err(io_err)?;
        tokio::fs::rename(tmp, &object).await.map_err(io_err)
    }

    fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(ulid::Ulid::new().to_string())
    }

    /// The routes that serve this store's links; the local runner mounts them.
    pub fn link_router(self: Arc<Self>) -> Router {
        Router::new()
            .route(&format!("{LINK_PATH}/{{*key}}"), get(download).put(upload))
            .with_state(self)
    }
}

/// A temporary file, renamed into place when finished.
struct FileWriter {
    store: FileBlobStore,
    key: BlobKey,
    content_type: String,
    tmp: PathBuf,
    file: tokio::io::BufWriter<tokio::fs::File>,
    size: u64,
}

#[async_trait]
impl crate::ports::BlobWriter for FileWriter {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        use tokio::io::AsyncWriteExt;
        self.file.write_all(bytes).await.map_err(io_err)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, BlobError> {
        use tokio::io::AsyncWriteExt;
        self.file.flush().await.map_err(io_err)?;
        self.file.get_ref().sync_all().await.map_err(io_err)?;
        self.store
            .write(&self.key, &self.tmp, &self.content_type)
            .await?;
        Ok(self.size)
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        drop(self.file);
        match tokio::fs::remove_file(&self.tmp).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }
}

fn forbidden() -> Response {
    Problem::new(ProblemType::LinkInvalid).into_response()
}

async fn download(
    State(store): State<Arc<FileBlobStore>>,
    UrlPath(key): UrlPath<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let Ok(key) = BlobKey::parse(&key) else {
        return forbidden();
    };
    if !store.verify("get", &key, &q) {
        return forbidden();
    }
    match store.get(&key).await {
        Ok(Some(blob)) => ([(header::CONTENT_TYPE, blob.content_type)], blob.bytes).into_response(),
        Ok(None) => Problem::not_found().into_response(),
        Err(e) => Problem::internal(&e).into_response(),
    }
}

async fn upload(
    State(store): State<Arc<FileBlobStore>>,
    UrlPath(key): UrlPath<String>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(key) = BlobKey::parse(&key) else {
        return forbidden();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !store.verify("put", &key, &q) || content_type != q.ct.as_deref() {
        return forbidden();
    }
    let tmp = store.tmp_path();
    match stream_to_file(body, &tmp).await {
        Ok(()) => {}
        Err(StreamError::TooLarge) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Problem::new(ProblemType::PayloadTooLarge)
                .with_detail(format!("At most {MAX_UPLOAD_BYTES} bytes."))
                .into_response();
        }
        Err(StreamError::Io(e)) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Problem::internal(&e).into_response();
        }
    }
    match store
        .write(&key, &tmp, content_type.unwrap_or_default())
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => Problem::internal(&e).into_response(),
    }
}

enum StreamError {
    TooLarge,
    Io(std::io::Error),
}

async fn stream_to_file(body: Body, path: &Path) -> Result<(), StreamError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(StreamError::Io)?;
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| StreamError::Io(std::io::Error::other(e)))?
    {
        written += chunk.len() as u64;
        if written > MAX_UPLOAD_BYTES {
            return Err(StreamError::TooLarge);
        }
        file.write_all(&chunk).await.map_err(StreamError::Io)?;
    }
    file.sync_all().await.map_err(StreamError::Io)
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        let tmp = self.tmp_path();
        tokio::fs::write(&tmp, &bytes).await.map_err(io_err)?;
        self.write(key, &tmp, content_type).await
    }

    async fn writer(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<Box<dyn crate::ports::BlobWriter>, BlobError> {
        let tmp = self.tmp_path();
        if let Some(parent) = tmp.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io_err)?;
        }
        let file = tokio::fs::File::create(&tmp).await.map_err(io_err)?;
        Ok(Box::new(FileWriter {
            store: self.clone(),
            key: key.clone(),
            content_type: content_type.to_owned(),
            tmp,
            file: tokio::io::BufWriter::new(file),
            size: 0,
        }))
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobError> {
        let bytes = match tokio::fs::read(self.object_path(key)).await {
            Ok(b) => Bytes::from(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let content_type = match tokio::fs::read(self.meta_path(key)).await {
            Ok(m) => serde_json::from_slice::<Meta>(&m)
                .map(|m| m.content_type)
                .unwrap_or_else(|_| "application/octet-stream".into()),
            Err(_) => "application/octet-stream".into(),
        };
        Ok(Some(Blob {
            bytes,
            content_type,
        }))
    }

    async fn read_from(&self, key: &BlobKey, from: u64) -> Result<Option<BlobReader>, BlobError> {
        use tokio::io::AsyncSeekExt;
        let mut file = match tokio::fs::File::open(self.object_path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        file.seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(io_err)?;
        Ok(Some(Box::pin(file)))
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.object_path(key)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        for p in [self.object_path(key), self.meta_path(key)] {
            match tokio::fs::remove_file(p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        let dir = BlobKey::parse(prefix.trim_end_matches('/'))?;
        let objects = self.root.join("objects").join(dir.as_str());
        let mut count = 0;
        let mut stack = vec![objects.clone()];
        while let Some(d) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&d).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
                if entry.file_type().await.map_err(io_err)?.is_dir() {
                    stack.push(entry.path());
                } else {
                    count += 1;
                }
            }
        }
        for root in [objects, self.root.join("meta").join(dir.as_str())] {
            match tokio::fs::remove_dir_all(root).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(count)
    }

    async fn download_link(&self, key: &BlobKey, ttl: Duration) -> Result<Url, BlobError> {
        self.link("get", key, None, ttl)
    }

    async fn upload_link(
        &self,
        key: &BlobKey,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Url, BlobError> {
        self.link("put", key, Some(content_type), ttl)
    }
}
