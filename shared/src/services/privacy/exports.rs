//! Portability: an export of the whole account, or of one contact, as one NDJSON object in the
//! bucket (`exports/{account}/{id}.ndjson`), behind a download link of at most 15 minutes, kept
//! for the account's `export_days`. The job streams it: one page of items at a time, each
//! record written as the API shows it (`crate::views`), so memory stays flat however large the
//! account.
//!
//! Format `whatatalk.export` version 1, one JSON object per line:
//! - first line: `{"format": "whatatalk.export", "version": 1, "account_id", "scope",
//!   "contact_id", "created_at"}`;
//! - then `{"record": <kind>, "data": {…}}` for each record, kinds `account`, `api_key`,
//!   `number`, `contact` (with its `consent_history`), `message` (with its status `history`),
//!   `media` (with the file as `content_base64` when one is stored), `broadcast`, `billing`,
//!   `usage`, `audit`;
//! - last line: `{"record": "manifest", "counts": {<kind>: n, …}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{json, Value as Json};

use super::super::accounts::Principal;
use super::super::{App, Job, JobOutcome, ServiceError};
use crate::domain::{
    now, AccountId, AuditAction, AuditTarget, ContactId, Export, ExportId, ExportStatus, Media,
    MediaState, Timestamp,
};
use crate::ports::{BlobWriter, Condition, Item, StoreError};
use crate::records::{
    self, api_key, audit, contact, export, media, message, note, number, usage, user, Kind,
};
use crate::views::{
    ApiKeyView, BroadcastView, ConsentRecordView, ContactView, MessageView, NoteView, NumberView,
    UserView,
};

/// How long a download link works.
pub const LINK_TTL: Duration = Duration::from_secs(15 * 60);
/// Items read per page while streaming.
const PAGE: u32 = 500;

fn blob_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Blob(e.to_string())
}

/// Counts records and writes them as lines.
struct Lines {
    writer: Box<dyn BlobWriter>,
    counts: BTreeMap<String, u64>,
}

impl Lines {
    async fn line(&mut self, value: &Json) -> Result<(), ServiceError> {
        let mut bytes =
            serde_json::to_vec(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        self.writer
            .write(&bytes)
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))
    }

    async fn record<T: Serialize>(&mut self, kind: &str, data: &T) -> Result<(), ServiceError> {
        let data = serde_json::to_value(data).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.line(&json!({"record": kind, "data": data})).await?;
        *self.counts.entry(kind.to_owned()).or_default() += 1;
        Ok(())
    }

    /// A record whose `data` also holds `file` as `content_base64`, written in pieces so the
    /// file's base64 text is never held whole (a document may be 100 MB).
    async fn record_with_file(
        &mut self,
        kind: &str,
        data: &Json,
        file: &[u8],
    ) -> Result<(), ServiceError> {
        use base64::Engine;
        let json = |v: &Json| serde_json::to_vec(v).map_err(|e| StoreError::Invalid(e.to_string()));
        let data = json(data)?;
        let Some((b'}', fields)) = data.split_last() else {
            return Err(StoreError::Invalid("a record's data is not an object".into()).into());
        };
        let blob = |e: crate::ports::BlobError| ServiceError::Blob(e.to_string());
        // {"record":kind,"data":{…fields,"content_base64":"…"}}
        self.writer.write(b"{\"record\":").await.map_err(blob)?;
        self.writer
            .write(&json(&Json::from(kind))?)
            .await
            .map_err(blob)?;
        self.writer.write(b",\"data\":").await.map_err(blob)?;
        self.writer.write(fields).await.map_err(blob)?;
        let separator: &[u8] = if fields.len() > 1 { b"," } else { b"" };
        self.writer.write(separator).await.map_err(blob)?;
        self.writer
            .write(b"\"content_base64\":\"")
            .await
            .map_err(blob)?;
        // Whole 3-byte groups per piece, so the pieces join into one base64 text.
        for piece in file.chunks(3 * 64 * 1024) {
            let text = base64::engine::general_purpose::STANDARD.encode(piece);
            self.writer.write(text.as_bytes()).await.map_err(blob)?;
        }
        self.writer.write(b"\"}}\n").await.map_err(blob)?;
        *self.counts.entry(kind.to_owned()).or_default() += 1;
        Ok(())
    }
}

impl App {
    /// Queues an export of the account, or of one of its contacts (audited).
    pub async fn request_export(
        &self,
        by: &Principal,
        contact: Option<ContactId>,
    ) -> Result<Export, ServiceError> {
        by.require(crate::domain::Permission::ManageExports)?;
        let account = &by.account_id;
        if let Some(c) = &contact {
            self.contact(account, c).await?;
        }
        self.one_export_at_a_time(account).await?;
        let at = now();
        let days = self.retention_policy(account).await?.export_days;
        let e = Export {
            id: ExportId::generate(),
            status: ExportStatus::Queued,
            contact_id: contact,
            counts: BTreeMap::new(),
            size: None,
            created_at: at,
            finished_at: None,
            expires_at: at + time::Duration::days(i64::from(days)),
        };
        let item = export::to_item(account, &e);
        self.items.put(item, Some(Condition::NotExists)).await?;
        self.enqueue(&Job::Export {
            account_id: account.clone(),
            export_id: e.id.clone(),
        })
        .await?;
        tracing::info!(account_id = %account, export_id = %e.id, "export requested");
        self.audit(
            account,
            &by.actor,
            AuditAction::ExportRequested,
            Some(AuditTarget::new("export", &e.id)),
        )
        .await?;
        // As stored: the expiry in whole seconds.
        Ok(Export {
            expires_at: Timestamp::from_unix_timestamp(e.expires_at.unix_timestamp())
                .unwrap_or(e.expires_at),
            ..e
        })
    }

    pub async fn export(&self, account: &AccountId, id: &ExportId) -> Result<Export, ServiceError> {
        let item = self.found(&export::key(account, id)).await?;
        Ok(export::from_item(&item)?)
    }

    /// A download link for a finished export of the caller's account, valid [`LINK_TTL`]
    /// (audited: the download). Another account's export, or one not done, is not found.
    pub async fn export_link(
        &self,
        by: &Principal,
        id: &ExportId,
    ) -> Result<url::Url, ServiceError> {
        by.require(crate::domain::Permission::ManageExports)?;
        let account = &by.account_id;
        if self.export(account, id).await?.status != crate::domain::ExportStatus::Done {
            return Err(ServiceError::NotFound);
        }
        let url = self
            .blobs
            .download_link(&export::file_key(account, id).map_err(blob_err)?, LINK_TTL)
            .await
            .map_err(blob_err)?;
        self.audit(
            account,
            &by.actor,
            AuditAction::ExportDownloaded,
            Some(AuditTarget::new("export", id)),
        )
        .await?;
        Ok(url)
    }

    /// The export job: streams every record into the bucket, then marks the export done.
    pub(crate) async fn run_export(
        &self,
        account: &AccountId,
        id: &ExportId,
    ) -> Result<JobOutcome, ServiceError> {
        let Some(item) = self.items.get(&export::key(account, id)).await? else {
            return Ok(JobOutcome::Done);
        };
        let e = export::from_item(&item)?;
        if e.status == ExportStatus::Done {
            return Ok(JobOutcome::Done);
        }
        self.items.update(export::running(account, id)).await?;
        // A retry starts over: the object appears only when finished.
        let writer = self
            .blobs
            .writer(
                &export::file_key(account, id).map_err(blob_err)?,
                "application/x-ndjson",
            )
            .await
            .map_err(blob_err)?;
        let mut out = Lines {
            writer,
            counts: BTreeMap::new(),
        };
        out.line(&json!({
            "format": "whatatalk.export",
            "version": 1,
            "account_id": account.to_string(),
            "scope": if e.contact_id.is_some() { "contact" } else { "account" },
            "contact_id": e.contact_id.as_ref().map(|c| c.to_string()),
            "created_at": rfc3339(e.created_at),
        }))
        .await?;
        match &e.contact_id {
            Some(c) => self.export_contact(account, c, &mut out).await?,
            None => self.export_account(account, &mut out).await?,
        }
        let counts = out.counts.clone();
        out.line(&json!({"record": "manifest", "counts": counts}))
            .await?;
        // An account closed meanwhile gets no file: what was written is discarded.
        if !self.account_open(account).await? {
            out.writer.abort().await.map_err(blob_err)?;
            tracing::info!(account_id = %account, export_id = %id, "export dropped: the account is closing");
            return Ok(JobOutcome::Done);
        }
        let size = out.writer.finish().await.map_err(blob_err)?;
        self.items
            .update(export::done(account, id, size, &counts, now()))
            .await?;
        tracing::info!(account_id = %account, export_id = %id, size, "export done");
        self.raise_export_ready(account, id, size).await?;
        Ok(JobOutcome::Done)
    }

    async fn export_account(
        &self,
        account: &AccountId,
        out: &mut Lines,
    ) -> Result<(), ServiceError> {
        let a = self.account(account).await?;
        out.record(
            "account",
            &json!({
                "id": a.id.to_string(),
                "business_name": a.business_name.as_str(),
                "email": a.email.as_str(),
                "default_region": a.default_region.map(|r| r.as_str().to_owned()),
                "state": a.state,
                "stop_keywords": a.stop_keywords.iter().collect::<Vec<_>>(),
                "resume_keywords": a.resume_keywords.iter().collect::<Vec<_>>(),
                "retention": self.retention_policy(account).await?,
                "policy": self.policy_status(account).await?,
                "created_at": rfc3339(a.created_at),
            }),
        )
        .await?;
        let per_page = u64::from(PAGE) * contact::SEALED.max(message::SEALED);
        let mut usage_months = std::collections::BTreeSet::new();
        let mut pages = records::pages_across(
            &*self.items,
            records::partitions(account, |q| q.limit(PAGE)),
        );
        while let Some(page) = pages.try_next().await? {
            let sealer = self.sealer(account, per_page).await?;
            // Messages' contents kept apart, read for the page at once.
            let apart = records::companions(
                &*self.items,
                page.items
                    .iter()
                    .filter(|i| Kind::of(i) == Kind::Message)
                    .filter_map(message::content_key),
            )
            .await?;
            for item in &page.items {
                match Kind::of(item) {
                    Kind::ApiKey => {
                        let key = api_key::from_item(item)?;
                        out.record("api_key", &ApiKeyView::from(key)).await?;
                    }
                    Kind::Number => {
                        let n = number::from_item(&sealer, item)?;
                        out.record("number", &NumberView::from(n)).await?;
                    }
                    Kind::Contact => {
                        let c = contact::from_item(&sealer, item)?;
                        let history = self.consent_history(account, &c).await?;
                        let mut view = ContactView::from(c);
                        view.consent_history =
                            Some(history.into_iter().map(ConsentRecordView::from).collect());
                        out.record("contact", &view).await?;
                    }
                    Kind::Message => {
                        let content = message::content_key(item).and_then(|k| apart.get(&k));
                        let m = message::from_items(&sealer, item, content)?;
                        out.record("message", &MessageView::from(m)).await?;
                    }
                    Kind::Media => self.export_media(account, item, out).await?,
                    Kind::Broadcast => {
                        let b = self.broadcast_of(item).await?;
                        out.record("broadcast", &BroadcastView::from(b)).await?;
                    }
                    Kind::User => {
                        let u = user::from_item(&sealer, item)?;
                        out.record("user", &UserView::from(u)).await?;
                    }
                    Kind::Note => {
                        let n = note::from_item(&sealer, item)?;
                        let view = NoteView::of(&note::contact_of(item)?, n);
                        out.record("note", &view).await?;
                    }
                    // Once per month: the month's other items are read with the first.
                    Kind::Usage => {
                        if let Some(month) = usage::month_of_item(item) {
                            if usage_months.insert(month.to_owned()) {
                                out.record("usage", &self.usage(account, month).await?)
                                    .await?;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let b = self.billing(account).await?;
        out.record(
            "billing",
            &json!({
                "plan": b.plan.id,
                "subscription_state": b.state,
                "payment_method": b.card,
                "billing_details": b.details,
            }),
        )
        .await?;
        let mut log = records::items(&*self.items, audit::all(account).backward().limit(PAGE));
        while let Some(item) = log.try_next().await? {
            out.record("audit", &audit::from_item(&item)?).await?;
        }
        Ok(())
    }

    async fn export_contact(
        &self,
        account: &AccountId,
        contact: &ContactId,
        out: &mut Lines,
    ) -> Result<(), ServiceError> {
        let c = self.contact(account, contact).await?;
        let history = self.consent_history(account, &c).await?;
        let mut view = ContactView::from(c);
        view.consent_history = Some(history.into_iter().map(ConsentRecordView::from).collect());
        out.record("contact", &view).await?;
        let mut pages = records::pages(&*self.items, message::thread(account, contact).limit(PAGE));
        while let Some(page) = pages.try_next().await? {
            for m in self.messages_of(account, &page.items).await? {
                if let Some(id) = super::inbound_media(&m.body) {
                    if let Some(item) = self.items.get(&media::key(account, &id)).await? {
                        self.export_media(account, &item, out).await?;
                    }
                }
                out.record("message", &MessageView::from(m)).await?;
            }
        }
        Ok(())
    }

    /// A media object's record, with its file (base64) when one is stored.
    async fn export_media(
        &self,
        account: &AccountId,
        item: &Item,
        out: &mut Lines,
    ) -> Result<(), ServiceError> {
        let Ok(m) = media::from_item(item) else {
            return Ok(());
        };
        let data = media_json(&m);
        let file = match m.state {
            MediaState::Stored => self.media_file(account, &m.id).await?,
            _ => None,
        };
        match file {
            Some(file) => out.record_with_file("media", &data, &file).await,
            None => out.record("media", &data).await,
        }
    }
}

fn media_json(m: &Media) -> Json {
    json!({
        "id": m.id.to_string(),
        "type": m.kind,
        "direction": if m.inbound { "inbound" } else { "outbound" },
        "phone_number_id": m.number.to_string(),
        "state": m.state,
        "mime_type": m.mime_type,
        "size": m.size,
        "sha256": m.sha256,
        "created_at": rfc3339(m.created_at),
    })
}

fn rfc3339(t: Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
