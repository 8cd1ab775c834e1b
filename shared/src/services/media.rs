//! Media files: inbound ones fetched from Meta (a job queued when the message arrives, or on
//! first read if that job has not run), outbound ones uploaded to Meta through the API. Either
//! way a sealed copy lives in the blob store under the tenant's key, and is handed out through
//! a download link that lives 15 minutes.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{App, JobOutcome, ServiceError};
use crate::domain::{
    now, AccountId, Media, MediaId, MediaKind, MediaState, MediaType, PhoneNumberId, Timestamp,
};
use crate::graph::{Failure, GraphError};
use crate::ports::{Condition, StoreError};
use crate::records::{self, media};
use futures::TryStreamExt;

/// How long a download link works.
pub const LINK_SECONDS: i64 = 15 * 60;

fn blob_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Blob(e.to_string())
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
        let text = |name: &str, max: usize| {
            object
                .get(name)
                .and_then(|v| v.as_str())
                .map(|v| v.chars().take(max).collect::<String>())
        };
        let pending = Media {
            id: id.clone(),
            kind,
            inbound: true,
            number: number.clone(),
            state: MediaState::Pending,
            mime_type: text("mime_type", 200),
            size: None,
            sha256: text("sha256", 100),
            failure: None,
            created_at: now(),
        };
        match self
            .items
            .put(
                media::to_item(account, &pending),
                Some(Condition::NotExists),
            )
            .await
        {
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
        match self.media(account, id).await {
            Ok(_) | Err(ServiceError::NotFound) => Ok(JobOutcome::Done),
            Err(e) => Err(e),
        }
    }

    /// Fetches a pending file from Meta. Meta's refusals mark the media failed; what may pass
    /// (timeouts, throttling) is an error, to be retried.
    async fn fetch_media(&self, account: &AccountId, m: Media) -> Result<Media, ServiceError> {
        let id = &m.id;
        let token = match self.access_token(account, &m.number).await {
            Ok(t) => t,
            Err(ServiceError::NotFound) => {
                return self
                    .fail_media(account, id, "the number was disconnected")
                    .await
            }
            Err(e) => return Err(e),
        };
        let max = m.kind.max_bytes();
        let fetched = async {
            let info = self.graph.media_info(id, &m.number, &token).await?;
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
        if let Some(expected) = info.sha256.as_deref().or(m.sha256.as_deref()) {
            if !expected.eq_ignore_ascii_case(&sha256) {
                return Err(ServiceError::Graph {
                    code: None,
                    message: "the downloaded file does not match its sha256".into(),
                });
            }
        }
        self.keep_file(account, id, &bytes).await?;
        let stored = media::stored(account, id, &info.mime_type, bytes.len() as u64, &sha256);
        let updated = self.items.update(stored).await?;
        tracing::info!(account_id = %account, media_id = %id, size = bytes.len(), "inbound media stored");
        Ok(media::from_item(&updated)?)
    }

    async fn fail_media(
        &self,
        account: &AccountId,
        id: &MediaId,
        reason: &str,
    ) -> Result<Media, ServiceError> {
        let updated = self
            .items
            .update(media::failed(account, id, reason))
            .await?;
        tracing::warn!(account_id = %account, media_id = %id, reason, "inbound media not fetched");
        Ok(media::from_item(&updated)?)
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
        let uploaded = Media {
            id: id.clone(),
            kind: new.media_type.kind(),
            inbound: false,
            number: new.number,
            state: MediaState::Stored,
            mime_type: Some(new.media_type.mime().to_owned()),
            size: Some(size),
            sha256: Some(hex::encode(Sha256::digest(&new.file))),
            failure: None,
            created_at: now(),
        };
        self.items
            .put(media::to_item(account, &uploaded), None)
            .await?;
        tracing::info!(account_id = %account, media_id = %id, size, "media uploaded");
        Ok(uploaded)
    }

    /// A media object; a pending inbound one is fetched now if its job has not run yet.
    pub async fn media(&self, account: &AccountId, id: &MediaId) -> Result<Media, ServiceError> {
        let item = self.found(&media::key(account, id)).await?;
        let m = media::from_item(&item)?;
        match m.state {
            MediaState::Pending => self.fetch_media(account, m).await,
            _ => Ok(m),
        }
    }

    /// A token for downloading a stored media file within [`LINK_SECONDS`], and when it ends.
    pub async fn media_link(
        &self,
        account: &AccountId,
        id: &MediaId,
    ) -> Result<(String, Timestamp), ServiceError> {
        let token = crate::crypto::random::token_hex();
        let expires_at = now() + time::Duration::seconds(LINK_SECONDS);
        let hash = token_hash(&token);
        self.items
            .transact(media::link_writes(account, id, &hash, expires_at))
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
        let link = self.found(&media::link(&token_hash(token))).await?;
        let (account, id) = media::linked(&link)?;
        self.media_content(&account, &id).await
    }

    /// A stored media object's file and type, for the account's own pages.
    pub async fn media_content(
        &self,
        account: &AccountId,
        id: &MediaId,
    ) -> Result<MediaFile, ServiceError> {
        let (account, id) = (account.clone(), id.clone());
        let m = self.media(&account, &id).await?;
        if m.state != MediaState::Stored {
            return Err(ServiceError::NotFound);
        }
        let bytes = self
            .media_file(&account, &id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(MediaFile {
            mime_type: m
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
        let key = media::file_key(account, id).map_err(blob_err)?;
        let Some(blob) = self.blobs.get(&key).await.map_err(blob_err)? else {
            return Ok(None);
        };
        let sealer = self.sealer(account, media::SEALED_FILE).await?;
        Ok(Some(Bytes::from(media::open_file(
            &sealer,
            id,
            &blob.bytes,
        )?)))
    }

    async fn keep_file(
        &self,
        account: &AccountId,
        id: &MediaId,
        file: &[u8],
    ) -> Result<(), ServiceError> {
        let sealer = self.sealer(account, media::SEALED_FILE).await?;
        let sealed = media::seal_file(&sealer, id, file)?;
        self.blobs
            .put(
                &media::file_key(account, id).map_err(blob_err)?,
                Bytes::from(sealed),
                "application/octet-stream",
            )
            .await
            .map_err(blob_err)
    }

    /// Erases a media object: its record, its links and its sealed file. `false` if there
    /// was none.
    pub(crate) async fn erase_media(
        &self,
        account: &AccountId,
        id: &MediaId,
    ) -> Result<bool, ServiceError> {
        let key = media::key(account, id);
        let Some(item) = self.items.get(&key).await? else {
            return Ok(false);
        };
        for link in media::links_of(&item) {
            self.items.delete(&link, None).await?;
        }
        let mut notes = records::items(&*self.items, media::link_notes(account, id).limit(100));
        while let Some(note) = notes.try_next().await? {
            if let Some(link) = media::noted_link(&note) {
                self.items.delete(&link, None).await?;
            }
            self.items.delete(&note.key, None).await?;
        }
        self.blobs
            .delete(&media::file_key(account, id).map_err(blob_err)?)
            .await
            .map_err(blob_err)?;
        self.items.delete(&key, None).await?;
        Ok(true)
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
