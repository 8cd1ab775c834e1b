//! Media files: inbound ones fetched from Meta (a job queued when the message arrives, or on
//! first read if that job has not run), outbound ones uploaded to Meta through the API. Either
//! way a sealed copy lives in the blob store under the tenant's key, and is handed out through
//! a download link that lives 15 minutes.

use bytes::Bytes;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{from_millis, to_millis, App, JobOutcome, ServiceError};
use crate::crypto::FieldRef;
use crate::domain::{
    now, AccountId, Invalid, MediaId, MediaKind, MediaType, PhoneNumberId, Timestamp,
};
use crate::graph::{Failure, GraphError};
use crate::ports::{BlobKey, Condition, Item, StoreError, Update, Value};
use crate::table;

const ENTITY: &str = "media";
/// How long a download link works.
pub const LINK_SECONDS: i64 = 15 * 60;

/// Where a media object stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Received in a message; the file is not fetched from Meta yet.
    Pending,
    /// The file is held (sealed) and can be downloaded.
    Stored,
    /// Meta would not give the file (expired, too large, refused); `failure` says why.
    Failed,
}

impl MediaState {
    fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Stored => "stored",
            MediaState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(MediaState::Pending),
            "stored" => Ok(MediaState::Stored),
            "failed" => Ok(MediaState::Failed),
            other => Err(StoreError::Corrupt(format!("media state {other}"))),
        }
    }
}

/// A media object of a tenant, keyed by Meta's media id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub id: MediaId,
    pub kind: MediaKind,
    pub inbound: bool,
    /// The number it was received on or uploaded for.
    pub number: PhoneNumberId,
    pub state: MediaState,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
    /// Hex SHA-256 of the file.
    pub sha256: Option<String>,
    pub failure: Option<String>,
    pub created_at: Timestamp,
}

/// A file to upload to Meta for `number`.
pub struct NewMedia {
    pub number: PhoneNumberId,
    pub media_type: MediaType,
    pub filename: Option<String>,
    pub file: Bytes,
}

/// A download of a media file through a link.
pub struct MediaFile {
    pub mime_type: String,
    pub bytes: Bytes,
}

impl App {
    /// Records a media id received in an inbound message and queues its fetch. Idempotent: a
    /// replay finds the record and queues nothing.
    pub(crate) async fn note_inbound_media(
        &self,
        account: &AccountId,
        number: &PhoneNumberId,
        kind: MediaKind,
        object: &serde_json::Value,
    ) -> Result<(), ServiceError> {
        let Some(id) = object
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|s| MediaId::parse(s).ok())
        else {
            return Ok(());
        };
        let mut item = Item::new(table::media(account, &id))
            .with("kind", Value::S(kind.as_str().into()))
            .with("inbound", Value::Bool(true))
            .with("number", Value::S(number.to_string()))
            .with("state", Value::S(MediaState::Pending.as_str().into()))
            .with("created_at", Value::N(to_millis(now())));
        if let Some(mime) = object.get("mime_type").and_then(|v| v.as_str()) {
            item = item.with("mime_type", Value::S(mime.chars().take(200).collect()));
        }
        if let Some(sha) = object.get("sha256").and_then(|v| v.as_str()) {
            item = item.with("sha256", Value::S(sha.chars().take(100).collect()));
        }
        match self.items.put(item, Some(Condition::NotExists)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        // If this fails the record stays pending and the first read fetches it instead.
        if let Err(e) = self
            .enqueue(&super::Job::FetchMedia {
                account_id: account.clone(),
                media_id: id,
            })
            .await
        {
            tracing::warn!(error = %e, "media fetch not queued; it will run on first read");
        }
        Ok(())
    }

    /// The job: fetches a pending inbound media file from Meta and keeps it sealed.
    pub(crate) async fn run_fetch_media(
        &self,
        account: &AccountId,
        id: &MediaId,
    ) -> Result<JobOutcome, ServiceError> {
        match self.fetch_media(account, id).await {
            Ok(_) | Err(ServiceError::NotFound) => Ok(JobOutcome::Done),
            Err(e) => Err(e),
        }
    }

    /// Fetches the file if it is still pending. Meta's refusals mark the media failed; what
    /// may pass (timeouts, throttling) is an error, to be retried.
    async fn fetch_media(&self, account: &AccountId, id: &MediaId) -> Result<Media, ServiceError> {
        let key = table::media(account, id);
        let item = self.items.get(&key).await?.ok_or(ServiceError::NotFound)?;
        let media = media_from_item(id, &item)?;
        if media.state != MediaState::Pending {
            return Ok(media);
        }
        let token = match self.access_token(account, &media.number).await {
            Ok(t) => t,
            Err(ServiceError::NotFound) => {
                return self
                    .fail_media(account, id, "the number was disconnected")
                    .await
            }
            Err(e) => return Err(e),
        };
        let max = media.kind.max_bytes();
        let fetched = async {
            let info = self.graph.media_info(id, &media.number, &token).await?;
            if info.file_size.is_some_and(|n| n > max) {
                return Err(GraphError::TooLarge { max });
            }
            let bytes = self.graph.download_media(&info.url, &token, max).await?;
            Ok((info, bytes))
        }
        .await;
        let (info, bytes) = match fetched {
            Ok(x) => x,
            Err(e) => {
                return match e.failure() {
                    Failure::Retry(_) | Failure::Unknown => Err(e.into()),
                    _ => {
                        let reason = match &e {
                            GraphError::TooLarge { max } => {
                                format!("larger than {max} bytes, the limit for its kind")
                            }
                            GraphError::Api { error, .. } => {
                                format!("Meta error {}", error.code)
                            }
                            other => other.to_string(),
                        };
                        self.fail_media(account, id, &reason).await
                    }
                };
            }
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = info.sha256.as_deref().or(media.sha256.as_deref()) {
            if !expected.eq_ignore_ascii_case(&sha256) {
                return Err(ServiceError::Graph {
                    code: None,
                    message: "the downloaded file does not match its sha256".into(),
                });
            }
        }
        self.keep_file(account, id, &bytes).await?;
        let updated = self
            .items
            .update(
                Update::new(key)
                    .set("state", Value::S(MediaState::Stored.as_str().into()))
                    .set(
                        "mime_type",
                        Value::S(info.mime_type.chars().take(200).collect()),
                    )
                    .set("size", Value::N(bytes.len() as i64))
                    .set("sha256", Value::S(sha256))
                    .when(Condition::Exists),
            )
            .await?;
        tracing::info!(account_id = %account, media_id = %id, size = bytes.len(), "inbound media stored");
        media_from_item(id, &updated)
    }

    async fn fail_media(
        &self,
        account: &AccountId,
        id: &MediaId,
        reason: &str,
    ) -> Result<Media, ServiceError> {
        let updated = self
            .items
            .update(
                Update::new(table::media(account, id))
                    .set("state", Value::S(MediaState::Failed.as_str().into()))
                    .set("failure", Value::S(reason.to_owned()))
                    .when(Condition::Exists),
            )
            .await?;
        tracing::warn!(account_id = %account, media_id = %id, reason, "inbound media not fetched");
        media_from_item(id, &updated)
    }

    /// Uploads a file to Meta for one of the tenant's numbers, keeping a sealed copy.
    pub async fn upload_media(
        &self,
        account: &AccountId,
        new: NewMedia,
    ) -> Result<Media, ServiceError> {
        let size = new.file.len() as u64;
        new.media_type
            .check_size(size)
            .map_err(|e| ServiceError::invalid("file", &e.0))?;
        let token = match self.access_token(account, &new.number).await {
            Ok(t) => t,
            Err(ServiceError::NotFound) => return Err(ServiceError::NumberNotConnected),
            Err(e) => return Err(e),
        };
        let filename = new
            .filename
            .unwrap_or_else(|| new.media_type.kind().as_str().to_owned());
        let id = self
            .graph
            .upload_media(
                &new.number,
                &token,
                new.media_type.mime(),
                &filename,
                new.file.clone(),
            )
            .await?;
        self.keep_file(account, &id, &new.file).await?;
        let item = Item::new(table::media(account, &id))
            .with("kind", Value::S(new.media_type.kind().as_str().into()))
            .with("inbound", Value::Bool(false))
            .with("number", Value::S(new.number.to_string()))
            .with("state", Value::S(MediaState::Stored.as_str().into()))
            .with("mime_type", Value::S(new.media_type.mime().to_owned()))
            .with("size", Value::N(size as i64))
            .with("sha256", Value::S(hex::encode(Sha256::digest(&new.file))))
            .with("created_at", Value::N(to_millis(now())));
        self.items.put(item.clone(), None).await?;
        tracing::info!(account_id = %account, media_id = %id, size, "media uploaded");
        media_from_item(&id, &item)
    }

    /// A media object; a pending inbound one is fetched now if its job has not run yet.
    pub async fn media(&self, account: &AccountId, id: &MediaId) -> Result<Media, ServiceError> {
        let item = self
            .items
            .get(&table::media(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        let media = media_from_item(id, &item)?;
        if media.state == MediaState::Pending {
            return self.fetch_media(account, id).await;
        }
        Ok(media)
    }

    /// A token for downloading a stored media file within [`LINK_SECONDS`], and when it ends.
    pub async fn media_link(
        &self,
        account: &AccountId,
        id: &MediaId,
    ) -> Result<(String, Timestamp), ServiceError> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let expires_at = now() + time::Duration::seconds(LINK_SECONDS);
        let hash = token_hash(&token);
        let item = Item::new(table::media_link(&hash))
            .with("account_id", Value::S(account.to_string()))
            .with("media_id", Value::S(id.to_string()))
            .expiring_at(expires_at.unix_timestamp());
        // The media record names its links, so erasing it erases them.
        self.items
            .transact(vec![
                crate::ports::Write::Update(
                    Update::new(table::media(account, id))
                        .append("links", Value::S(hash))
                        .when(Condition::Exists),
                ),
                crate::ports::Write::put(item),
            ])
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => ServiceError::NotFound,
                e => e.into(),
            })?;
        Ok((token, expires_at))
    }

    /// The file behind a download link's token, opened; `NotFound` for a bad or expired one.
    pub async fn media_download(&self, token: &str) -> Result<MediaFile, ServiceError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::NotFound);
        }
        let link = self
            .items
            .get(&table::media_link(&token_hash(token)))
            .await?
            .ok_or(ServiceError::NotFound)?;
        let account = link
            .s("account_id")?
            .parse::<AccountId>()
            .map_err(corrupt)?;
        let id = MediaId::parse(link.s("media_id")?).map_err(corrupt)?;
        let media = self.media(&account, &id).await?;
        if media.state != MediaState::Stored {
            return Err(ServiceError::NotFound);
        }
        let bytes = self
            .media_file(&account, &id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(MediaFile {
            mime_type: media
                .mime_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
        })
    }

    /// A stored media file, opened; `None` if there is no file.
    pub(crate) async fn media_file(
        &self,
        account: &AccountId,
        id: &MediaId,
    ) -> Result<Option<Bytes>, ServiceError> {
        let Some(blob) = self
            .blobs
            .get(&blob_key(account, id)?)
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))?
        else {
            return Ok(None);
        };
        let plain = self
            .keyring
            .decrypt(
                account,
                FieldRef::new(ENTITY, &table::media(account, id), "file"),
                &blob.bytes,
            )
            .await?;
        Ok(Some(Bytes::from(plain.to_vec())))
    }

    async fn keep_file(
        &self,
        account: &AccountId,
        id: &MediaId,
        file: &[u8],
    ) -> Result<(), ServiceError> {
        let sealed = self
            .keyring
            .encrypt(
                account,
                FieldRef::new(ENTITY, &table::media(account, id), "file"),
                file,
            )
            .await?;
        self.blobs
            .put(
                &blob_key(account, id)?,
                Bytes::from(sealed),
                "application/octet-stream",
            )
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))
    }
}

impl App {
    /// Erases a media object: its record and its sealed file. `false` if there was none.
    pub(crate) async fn erase_media(
        &self,
        account: &AccountId,
        id: &MediaId,
    ) -> Result<bool, ServiceError> {
        let key = table::media(account, id);
        let Some(item) = self.items.get(&key).await? else {
            return Ok(false);
        };
        if let Some(Value::L(links)) = item.attrs.get("links") {
            for link in links {
                if let Value::S(hash) = link {
                    self.items.delete(&table::media_link(hash), None).await?;
                }
            }
        }
        self.blobs
            .delete(&blob_key(account, id)?)
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))?;
        self.items.delete(&key, None).await?;
        Ok(true)
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn blob_key(account: &AccountId, id: &MediaId) -> Result<BlobKey, ServiceError> {
    BlobKey::parse(&format!("media/{account}/{id}")).map_err(|e| ServiceError::Blob(e.to_string()))
}

fn corrupt(e: Invalid) -> StoreError {
    StoreError::Corrupt(e.0)
}

pub(crate) fn media_from_item(id: &MediaId, item: &Item) -> Result<Media, ServiceError> {
    Ok(Media {
        id: id.clone(),
        kind: MediaKind::parse(item.s("kind")?).map_err(corrupt)?,
        inbound: item.opt_bool("inbound").unwrap_or(false),
        number: PhoneNumberId::parse(item.s("number")?).map_err(corrupt)?,
        state: MediaState::parse(item.s("state")?)?,
        mime_type: item.opt_s("mime_type").map(str::to_owned),
        size: item.opt_n("size").map(|n| n.max(0) as u64),
        sha256: item.opt_s("sha256").map(str::to_owned),
        failure: item.opt_s("failure").map(str::to_owned),
        created_at: from_millis(item.n("created_at")?)?,
    })
}
