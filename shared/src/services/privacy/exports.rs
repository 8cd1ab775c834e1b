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

use serde::Serialize;
use serde_json::{json, Value as Json};

use super::super::{from_millis, to_millis, App, JobOutcome, ServiceError};
use crate::domain::{now, AccountId, ContactId, ExportId, MediaId, Timestamp};
use crate::ports::{
    BlobKey, BlobWriter, Condition, Cursor, Item, Query, StoreError, Update, Value,
};
use crate::table;
use crate::views::{
    ApiKeyView, BroadcastView, ConsentRecordView, ContactView, MessageView, NumberView,
};

/// How long a download link works.
pub const LINK_TTL: Duration = Duration::from_secs(15 * 60);
/// Items read per page while streaming.
const PAGE: u32 = 500;
const EXPORT_PREFIX: &str = "EXPORT#";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl ExportStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            other => return Err(StoreError::Corrupt(format!("export status {other}"))),
        })
    }
}

/// An export and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub id: ExportId,
    pub status: ExportStatus,
    /// `None`: the whole account.
    pub contact_id: Option<ContactId>,
    pub counts: BTreeMap<String, u64>,
    pub size: Option<u64>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// When the export and its file are gone.
    pub expires_at: Timestamp,
}

fn export_key(account: &AccountId, id: &ExportId) -> crate::ports::Key {
    crate::ports::Key::new(
        table::account_partition(account),
        format!("{EXPORT_PREFIX}{id}"),
    )
}

fn blob_key(account: &AccountId, id: &ExportId) -> Result<BlobKey, ServiceError> {
    BlobKey::parse(&format!("exports/{account}/{id}.ndjson"))
        .map_err(|e| ServiceError::Blob(e.to_string()))
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
    /// Queues an export of the account, or of one of its contacts.
    pub async fn request_export(
        &self,
        account: &AccountId,
        contact: Option<ContactId>,
    ) -> Result<Export, ServiceError> {
        if let Some(c) = &contact {
            self.contact(account, c).await?;
        }
        let id = ExportId::generate();
        let at = now();
        let days = self.retention_policy(account).await?.export_days;
        let expires_at = at + time::Duration::days(i64::from(days));
        let mut item = Item::new(export_key(account, &id))
            .with("status", Value::S(ExportStatus::Queued.as_str().into()))
            .with("created_at", Value::N(to_millis(at)))
            .expiring_at(expires_at.unix_timestamp());
        if let Some(c) = &contact {
            item = item.with("contact_id", Value::S(c.to_string()));
        }
        self.items
            .put(item.clone(), Some(Condition::NotExists))
            .await?;
        self.enqueue(&super::super::Job::Export {
            account_id: account.clone(),
            export_id: id.clone(),
        })
        .await?;
        tracing::info!(account_id = %account, export_id = %id, "export requested");
        export_from_item(&id, &item)
    }

    pub async fn export(&self, account: &AccountId, id: &ExportId) -> Result<Export, ServiceError> {
        let item = self
            .items
            .get(&export_key(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        export_from_item(id, &item)
    }

    /// A download link for a finished export, valid [`LINK_TTL`].
    pub async fn export_link(
        &self,
        account: &AccountId,
        id: &ExportId,
    ) -> Result<url::Url, ServiceError> {
        self.blobs
            .download_link(&blob_key(account, id)?, LINK_TTL)
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))
    }

    /// The export job: streams every record into the bucket, then marks the export done.
    pub(crate) async fn run_export(
        &self,
        account: &AccountId,
        id: &ExportId,
    ) -> Result<JobOutcome, ServiceError> {
        let Some(item) = self.items.get(&export_key(account, id)).await? else {
            return Ok(JobOutcome::Done);
        };
        let export = export_from_item(id, &item)?;
        if export.status == ExportStatus::Done {
            return Ok(JobOutcome::Done);
        }
        self.items
            .update(
                Update::new(export_key(account, id))
                    .set("status", Value::S(ExportStatus::Running.as_str().into()))
                    .when(Condition::Exists),
            )
            .await?;
        // A retry starts over: the object appears only when finished.
        let writer = self
            .blobs
            .writer(&blob_key(account, id)?, "application/x-ndjson")
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))?;
        let mut out = Lines {
            writer,
            counts: BTreeMap::new(),
        };
        out.line(&json!({
            "format": "whatatalk.export",
            "version": 1,
            "account_id": account.to_string(),
            "scope": if export.contact_id.is_some() { "contact" } else { "account" },
            "contact_id": export.contact_id.as_ref().map(|c| c.to_string()),
            "created_at": export.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        }))
        .await?;
        match &export.contact_id {
            Some(c) => self.export_contact(account, c, &mut out).await?,
            None => self.export_account(account, &mut out).await?,
        }
        let counts = out.counts.clone();
        out.line(&json!({"record": "manifest", "counts": counts}))
            .await?;
        let size = out
            .writer
            .finish()
            .await
            .map_err(|e| ServiceError::Blob(e.to_string()))?;
        let mut update = Update::new(export_key(account, id))
            .set("status", Value::S(ExportStatus::Done.as_str().into()))
            .set("size", Value::N(size as i64))
            .set("finished_at", Value::N(to_millis(now())))
            .when(Condition::Exists);
        for (kind, n) in &counts {
            update = update.set(&format!("count_{kind}"), Value::N(*n as i64));
        }
        self.items.update(update).await?;
        tracing::info!(account_id = %account, export_id = %id, size, "export done");
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
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = self
                .items
                .query(
                    Query::partition(table::account_partition(account))
                        .limit(PAGE)
                        .after(cursor),
                )
                .await?;
            for item in &page.items {
                let kind = item.key.sk.split('#').next().unwrap_or_default();
                match kind {
                    "APIKEY" => {
                        let key = super::super::accounts::api_key_from_item(item)?;
                        out.record("api_key", &ApiKeyView::from(key)).await?;
                    }
                    "NUMBER" => {
                        let n = self.number_from_item(account, item).await?;
                        out.record("number", &NumberView::from(n)).await?;
                    }
                    "CONTACT" => {
                        let c = self.contact_from_item(account, item).await?;
                        let history = self.consent_history(account, &c).await?;
                        let mut view = ContactView::from(c);
                        view.consent_history =
                            Some(history.into_iter().map(ConsentRecordView::from).collect());
                        out.record("contact", &view).await?;
                    }
                    "MESSAGE" => {
                        let m = self.message_from_item(account, item).await?;
                        out.record("message", &MessageView::from(m)).await?;
                    }
                    "MEDIA" => self.export_media_item(account, item, out).await?,
                    "BROADCAST" => {
                        let b = super::super::broadcasts::broadcast_from_item(item)?;
                        out.record("broadcast", &BroadcastView::from(b)).await?;
                    }
                    "USAGE" => {
                        let month = item.key.sk.trim_start_matches("USAGE#").to_owned();
                        out.record("usage", &self.usage(account, &month).await?)
                            .await?;
                    }
                    "AUDIT" => {}
                    _ => {}
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
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
        let mut cursor: Option<Cursor> = None;
        loop {
            let (entries, next) = self.audit_log(account, PAGE, cursor).await?;
            for e in &entries {
                out.record("audit", e).await?;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
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
        let mut cursor: Option<Cursor> = None;
        loop {
            let (messages, next) = self.thread(account, contact, PAGE, cursor).await?;
            for m in messages {
                if let crate::domain::Body::Inbound { kind, raw } = &m.body {
                    let media = raw
                        .get(kind)
                        .and_then(|o| o.get("id"))
                        .and_then(|i| i.as_str())
                        .and_then(|i| MediaId::parse(i).ok());
                    if let Some(id) = media {
                        if let Some(item) = self.items.get(&table::media(account, &id)).await? {
                            self.export_media_item(account, &item, out).await?;
                        }
                    }
                }
                out.record("message", &MessageView::from(m)).await?;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(())
    }

    /// A media object's record, with its file (base64) when one is stored.
    async fn export_media_item(
        &self,
        account: &AccountId,
        item: &Item,
        out: &mut Lines,
    ) -> Result<(), ServiceError> {
        let Some(id) = item
            .key
            .sk
            .strip_prefix(table::MEDIA_PREFIX)
            .and_then(|i| MediaId::parse(i).ok())
        else {
            return Ok(());
        };
        let m = super::super::media::media_from_item(&id, item)?;
        let data = json!({
            "id": m.id.to_string(),
            "type": m.kind,
            "direction": if m.inbound { "inbound" } else { "outbound" },
            "phone_number_id": m.number.to_string(),
            "state": m.state,
            "mime_type": m.mime_type,
            "size": m.size,
            "sha256": m.sha256,
            "created_at": rfc3339(m.created_at),
        });
        let file = match m.state {
            super::super::media::MediaState::Stored => self.media_file(account, &id).await?,
            _ => None,
        };
        match file {
            Some(file) => out.record_with_file("media", &data, &file).await,
            None => out.record("media", &data).await,
        }
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn export_from_item(id: &ExportId, item: &Item) -> Result<Export, ServiceError> {
    let mut counts = BTreeMap::new();
    for (name, value) in &item.attrs {
        if let (Some(kind), Value::N(n)) = (name.strip_prefix("count_"), value) {
            counts.insert(kind.to_owned(), (*n).max(0) as u64);
        }
    }
    let created_at = from_millis(item.n("created_at")?)?;
    Ok(Export {
        id: id.clone(),
        status: ExportStatus::parse(item.s("status")?)?,
        contact_id: item
            .opt_s("contact_id")
            .map(|c| c.parse())
            .transpose()
            .map_err(|_| StoreError::Corrupt("export contact id".into()))?,
        counts,
        size: item.opt_n("size").map(|n| n.max(0) as u64),
        created_at,
        finished_at: item.opt_n("finished_at").map(from_millis).transpose()?,
        expires_at: item
            .expires_at
            .and_then(|t| Timestamp::from_unix_timestamp(t).ok())
            .unwrap_or(created_at),
    })
}
