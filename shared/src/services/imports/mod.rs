//! Contact imports: a CSV file uploaded through a short-lived link and processed by a job, or a
//! small file sent inline and answered at once. Both run the same engine: rows are read as a
//! stream, checked one by one, and upserted in batches; every rejected row is reported with its
//! row number, column and reason.
//!
//! A job saves its progress (rows done, counts, error report parts) every second under a lease,
//! so an interrupted import resumes where it last saved. Each contact an import writes is marked with
//! the import and row, so a row applied just before an interruption is counted the same way when
//! it is met again; re-importing a file whose rows are already in place changes nothing.

pub mod csv;
pub mod rows;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::task::JoinHandle;
use url::Url;

use self::csv::{csv_cell, CsvStream, RawRow};
use self::rows::{header, parse_row, Header, RowError, RowUpdate};
use super::accounts::corrupt;
use super::billing::ContactRoom;
use super::contacts::{
    contact_item_with, lookup_item, tally, ImportMark, BSUID, CONTACT_FIELDS, PHONE,
};
use super::{from_millis, to_millis, App, ServiceError};
use crate::crypto::TenantKeys;
use crate::domain::{
    check_tag_count, now, AccountId, Attributes, Consent, Contact, ContactId, ImportId, Recorded,
    Region, Timestamp,
};
use crate::ports::item_store::MAX_BATCH_GET;
use crate::ports::{BlobKey, Condition, Item, Key, StoreError, Update, Value, Write};
use crate::table;

/// Largest file an import takes (a million contacts with a few attributes is ~100 MB).
pub const MAX_IMPORT_BYTES: u64 = 512 * 1024 * 1024;
/// Largest file the inline import takes.
pub const MAX_INLINE_BYTES: usize = 1024 * 1024;
/// Rows reported one by one; beyond this only the count goes on.
pub const MAX_REPORTED_ERRORS: u64 = 100_000;
/// How long an upload link stays valid.
pub const UPLOAD_LINK_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a report link stays valid.
pub const REPORT_LINK_TTL: Duration = Duration::from_secs(15 * 60);
const BATCH_ROWS: usize = 500;
/// Batches parsed ahead of the one being decided.
const PARSE_AHEAD: usize = 2;
/// Writes a new row makes at most: two lookup items and the contact.
const WRITES_PER_ROW: usize = 3;
const LEASE: Duration = Duration::from_secs(120);
/// A job stops this long before its deadline and continues in a new invocation.
const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    AwaitingUpload,
    Queued,
    Running,
    Completed,
    Failed,
}

impl ImportStatus {
    fn as_str(self) -> &'static str {
        match self {
            ImportStatus::AwaitingUpload => "awaiting_upload",
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Completed => "completed",
            ImportStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            ImportStatus::AwaitingUpload,
            ImportStatus::Queued,
            ImportStatus::Running,
            ImportStatus::Completed,
            ImportStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    fn is_final(self) -> bool {
        matches!(self, ImportStatus::Completed | ImportStatus::Failed)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    /// Data rows read (the header excluded).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

const COUNT_NAMES: [&str; 5] = ["rows", "created", "updated", "unchanged", "rejected"];

impl ImportCounts {
    fn values(&self) -> [u64; 5] {
        [
            self.rows,
            self.created,
            self.updated,
            self.unchanged,
            self.rejected,
        ]
    }

    fn from_item(item: &Item) -> Self {
        let n = |name| item.opt_n(name).unwrap_or(0) as u64;
        Self {
            rows: n("rows"),
            created: n("created"),
            updated: n("updated"),
            unchanged: n("unchanged"),
            rejected: n("rejected"),
        }
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Import {
    pub id: ImportId,
    pub status: ImportStatus,
    pub counts: ImportCounts,
    /// Why the whole file was refused (status `failed`).
    pub failure: Option<String>,
    /// A per-row error report exists.
    pub has_error_report: bool,
    /// More rows were rejected than the report lists.
    pub errors_truncated: bool,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// The answer of an inline import.
#[derive(Clone, Debug)]
pub struct InlineReport {
    pub counts: ImportCounts,
    pub errors: Vec<RowError>,
    pub errors_truncated: bool,
}

/// What a job invocation achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Stopped before the deadline; a continuation is queued.
    Continued,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
        }
    }
}

/// Where an import's uploaded file is kept until the import finishes.
pub fn source_key(account: &AccountId, id: &ImportId) -> Result<BlobKey, ServiceError> {
    blob_key(&format!("imports/{account}/{id}/source.csv"))
}

fn report_key(account: &AccountId, id: &ImportId) -> Result<BlobKey, ServiceError> {
    blob_key(&format!("imports/{account}/{id}/errors.csv"))
}

fn part_key(account: &AccountId, id: &ImportId, first_row: u64) -> Result<BlobKey, ServiceError> {
    blob_key(&format!(
        "imports/{account}/{id}/errors/{first_row:010}.csv"
    ))
}

fn blob_key(s: &str) -> Result<BlobKey, ServiceError> {
    BlobKey::parse(s).map_err(|e| ServiceError::Blob(e.to_string()))
}

fn blob_err(e: crate::ports::BlobError) -> ServiceError {
    ServiceError::Blob(e.to_string())
}

impl App {
    /// Creates an import waiting for its file; returns it with the upload link.
    pub async fn create_import(
        &self,
        account: &AccountId,
    ) -> Result<(Import, Url, Timestamp), ServiceError> {
        let id = ImportId::generate();
        let at = now();
        let item = Item::new(table::import(account, &id))
            .with(
                "status",
                Value::S(ImportStatus::AwaitingUpload.as_str().into()),
            )
            .with("created_at", Value::N(to_millis(at)));
        self.items
            .put(item.clone(), Some(Condition::NotExists))
            .await?;
        let url = self
            .blobs
            .upload_link(&source_key(account, &id)?, "text/csv", UPLOAD_LINK_TTL)
            .await
            .map_err(blob_err)?;
        let expires = at + UPLOAD_LINK_TTL;
        tracing::info!(account_id = %account, import_id = %id, "import created");
        Ok((import_from_item(&item)?, url, expires))
    }

    pub async fn import(&self, account: &AccountId, id: &ImportId) -> Result<Import, ServiceError> {
        let item = self
            .items
            .get(&table::import(account, id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        import_from_item(&item)
    }

    /// Imports, newest first.
    pub async fn imports(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<crate::ports::Cursor>,
    ) -> Result<(Vec<Import>, Option<crate::ports::Cursor>), ServiceError> {
        let page = self
            .items
            .query(
                crate::ports::Query::partition(table::account_partition(account))
                    .begins_with("IMPORT#")
                    .backward()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let imports = page
            .items
            .iter()
            .map(import_from_item)
            .collect::<Result<_, _>>()?;
        Ok((imports, page.next))
    }

    /// Queues the import once its file is uploaded. Starting a started import is a no-op.
    pub async fn start_import(
        &self,
        account: &AccountId,
        id: &ImportId,
    ) -> Result<Import, ServiceError> {
        let current = self.import(account, id).await?;
        if current.status != ImportStatus::AwaitingUpload {
            return Ok(current);
        }
        let size = self
            .blobs
            .size(&source_key(account, id)?)
            .await
            .map_err(blob_err)?;
        match size {
            None => return Err(ServiceError::ImportNotUploaded),
            Some(n) if n > MAX_IMPORT_BYTES => {
                return Err(ServiceError::invalid(
                    "file",
                    &format!("the file is larger than {MAX_IMPORT_BYTES} bytes"),
                ))
            }
            Some(_) => {}
        }
        let update = Update::new(table::import(account, id))
            .set("status", Value::S(ImportStatus::Queued.as_str().into()))
            .when(Condition::Equals(
                "status".into(),
                Value::S(ImportStatus::AwaitingUpload.as_str().into()),
            ));
        match self.items.update(update).await {
            Ok(item) => {
                self.enqueue(&super::Job::ContactImport {
                    account_id: account.clone(),
                    import_id: id.clone(),
                })
                .await?;
                tracing::info!(account_id = %account, import_id = %id, "import queued");
                import_from_item(&item)
            }
            // Started concurrently: report what is there now.
            Err(StoreError::ConditionFailed { .. }) => self.import(account, id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// A link to the per-row error report, once the import has finished with one.
    pub async fn import_report_link(
        &self,
        account: &AccountId,
        id: &ImportId,
    ) -> Result<Option<Url>, ServiceError> {
        let import = self.import(account, id).await?;
        if !import.has_error_report {
            return Ok(None);
        }
        let url = self
            .blobs
            .download_link(&report_key(account, id)?, REPORT_LINK_TTL)
            .await
            .map_err(blob_err)?;
        Ok(Some(url))
    }

    /// Imports a small file at once and reports on it (at most [`MAX_INLINE_BYTES`]).
    pub async fn import_inline(
        &self,
        account: &AccountId,
        body: Bytes,
    ) -> Result<InlineReport, ServiceError> {
        if body.len() > MAX_INLINE_BYTES {
            return Err(ServiceError::invalid(
                "file",
                &format!("inline imports take at most {MAX_INLINE_BYTES} bytes; use an upload"),
            ));
        }
        let mut stream = CsvStream::new(&body[..]);
        let head = read_header(&mut stream)
            .await?
            .map_err(|reason| ServiceError::invalid("file", &reason))?;
        let region = self.account(account).await?.default_region;
        let mark = format!("inline-{}", ulid::Ulid::new());
        let mut engine = Engine::new(
            self,
            account.clone(),
            mark,
            head,
            region,
            ImportCounts::default(),
        )
        .expecting(body.len() as u64);
        let mut errors = Vec::new();
        let mut row_no = 1;
        while let Some(parsing) = engine
            .spawn_parse(read_batch(&mut stream, &mut row_no).await?)
            .await?
        {
            let parsed = parsing
                .await
                .map_err(|e| ServiceError::Blob(format!("parsing task: {e}")))??;
            let batch = commit(self, account, engine.prepare(parsed).await?).await?;
            engine.absorb(&batch);
            errors.extend(batch.errors);
        }
        let truncated = errors.len() as u64 > MAX_REPORTED_ERRORS;
        errors.truncate(MAX_REPORTED_ERRORS as usize);
        tracing::info!(account_id = %account, rows = engine.counts.rows, rejected = engine.counts.rejected, "inline import done");
        Ok(InlineReport {
            counts: engine.counts,
            errors,
            errors_truncated: truncated,
        })
    }

    /// The job: processes an import under a lease from its last checkpoint on. `worker` names
    /// this delivery (the queue message id); `deadline` is when the invocation is cut off.
    pub async fn run_import(
        &self,
        account: &AccountId,
        id: &ImportId,
        worker: &str,
        deadline: Option<Instant>,
    ) -> Result<JobOutcome, ServiceError> {
        let key = table::import(account, id);
        let Some(state) = self.acquire_lease(&key, worker).await? else {
            let current = self.import(account, id).await?;
            return if current.status.is_final() {
                Ok(JobOutcome::Done)
            } else {
                Err(ServiceError::Busy)
            };
        };
        let started = state.opt_n("started_at").is_some();
        let next_row = state.opt_n("next_row").unwrap_or(2) as u64;
        let mut progress = Progress::resumed(&state);
        let source = source_key(account, id)?;
        let Some(reader) = self.blobs.read_from(&source, 0).await.map_err(blob_err)? else {
            return self
                .fail_import(account, id, worker, "the uploaded file is gone")
                .await;
        };
        let mut stream = CsvStream::new(reader);
        let head = match read_header(&mut stream).await? {
            Ok(h) => h,
            Err(reason) => return self.fail_import(account, id, worker, &reason).await,
        };
        if !started {
            self.items
                .update(Update::new(key.clone()).set("started_at", Value::N(to_millis(now()))))
                .await?;
        }
        let region = self.account(account).await?.default_region;
        let counts = ImportCounts::from_item(&state);
        let size = self
            .blobs
            .size(&source)
            .await
            .map_err(blob_err)?
            .unwrap_or(0);
        let mut engine = Engine::new(self, account.clone(), id.to_string(), head, region, counts)
            .expecting(size);
        let mut row_no = 1;
        // Batches in flight: two parsing (CPU, blocking pool) so the cores have work while
        // one is decided (store reads, encryption) and one written (the store's transaction).
        let mut parsing = VecDeque::with_capacity(PARSE_AHEAD);
        for _ in 0..PARSE_AHEAD {
            if let Some(p) = engine
                .spawn_parse(read_batch(&mut stream, &mut row_no).await?)
                .await?
            {
                parsing.push_back(p);
            }
        }
        let mut decided: Option<Prepared> = None;
        // Batches being written, oldest first; they complete in this order. Two at a time
        // where a batch is one transaction (SQLite): the second gets ready (sorted, encoded)
        // while the first holds the single writer. Where a batch takes many transactions
        // (DynamoDB, 100 writes each, every one with the contact tally), a second batch
        // would only conflict with the first on the tally.
        let write_ahead = match self.items.max_transaction_writes() {
            n if n > BATCH_ROWS * WRITES_PER_ROW => 2,
            _ => 1,
        };
        let mut writing = FuturesOrdered::new();
        loop {
            let parsed = match parsing.pop_front() {
                Some(p) => {
                    let parsed = p
                        .await
                        .map_err(|e| ServiceError::Blob(format!("parsing task: {e}")))??;
                    if let Some(next) = engine
                        .spawn_parse(read_batch(&mut stream, &mut row_no).await?)
                        .await?
                    {
                        parsing.push_back(next);
                    }
                    parsed
                }
                None => Vec::new(),
            };
            // Rows done before an interruption: only their identities are needed again.
            let (replayed, fresh): (Vec<_>, Vec<_>) =
                parsed.into_iter().partition(|(n, _)| *n < next_row);
            engine.replay(replayed).await?;
            let app = engine.app;
            if let Some(batch) = decided.take() {
                writing.push_back(commit(app, account, batch));
            }
            // Decide the next batch while the earlier ones are written, then make room.
            let mut written: Vec<Committed> = Vec::new();
            decided = {
                let mut decide = std::pin::pin!(async {
                    if fresh.is_empty() {
                        Ok(None)
                    } else {
                        engine.prepare(fresh).await.map(Some)
                    }
                });
                loop {
                    tokio::select! {
                        d = &mut decide => break d?,
                        Some(batch) = writing.next() => written.push(batch?),
                    }
                }
            };
            while writing.len() >= write_ahead || (decided.is_none() && parsing.is_empty()) {
                match writing.next().await {
                    Some(batch) => written.push(batch?),
                    None => break,
                }
            }
            for batch in &written {
                engine.absorb(batch);
                progress.add(batch);
            }
            if !written.is_empty() {
                let stopping = deadline.is_some_and(|d| Instant::now() + DEADLINE_MARGIN >= d);
                if stopping {
                    // Nothing may be left half-counted: finish what is being written first.
                    while let Some(batch) = writing.next().await {
                        let batch = batch?;
                        engine.absorb(&batch);
                        progress.add(&batch);
                    }
                }
                if stopping || progress.due() {
                    self.save_progress(account, id, worker, &engine.counts, &mut progress)
                        .await?;
                }
                if stopping {
                    self.release_lease(&key, worker).await?;
                    self.enqueue(&super::Job::ContactImport {
                        account_id: account.clone(),
                        import_id: id.clone(),
                    })
                    .await?;
                    tracing::info!(account_id = %account, import_id = %id, rows = engine.counts.rows, "import continues in a new invocation");
                    return Ok(JobOutcome::Continued);
                }
            }
            if decided.is_none() && parsing.is_empty() && writing.is_empty() {
                break;
            }
        }
        self.save_progress(account, id, worker, &engine.counts, &mut progress)
            .await?;
        self.finish_import(
            account,
            id,
            worker,
            &engine.counts,
            &progress.parts,
            engine.counts.rejected > progress.reported,
        )
        .await?;
        tracing::info!(
            account_id = %account, import_id = %id, rows = engine.counts.rows,
            created = engine.counts.created, updated = engine.counts.updated,
            unchanged = engine.counts.unchanged, rejected = engine.counts.rejected,
            "import completed"
        );
        Ok(JobOutcome::Done)
    }

    /// Takes the import's lease if nobody holds it; `None` if someone does or it is finished.
    async fn acquire_lease(&self, key: &Key, worker: &str) -> Result<Option<Item>, ServiceError> {
        let now_ms = to_millis(now());
        let status =
            |s: ImportStatus| Condition::Equals("status".into(), Value::S(s.as_str().into()));
        let update = Update::new(key.clone())
            .set("status", Value::S(ImportStatus::Running.as_str().into()))
            .set("lease_owner", Value::S(worker.into()))
            .set("lease_until", Value::N(now_ms + LEASE.as_millis() as i64))
            .when(Condition::And(vec![
                Condition::Or(vec![
                    status(ImportStatus::Queued),
                    status(ImportStatus::Running),
                ]),
                Condition::Or(vec![
                    Condition::AttributeNotExists("lease_until".into()),
                    Condition::LessThan("lease_until".into(), Value::N(now_ms)),
                    Condition::Equals("lease_owner".into(), Value::S(worker.into())),
                ]),
            ]));
        match self.items.update(update).await {
            Ok(item) => Ok(Some(item)),
            Err(StoreError::ConditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn release_lease(&self, key: &Key, worker: &str) -> Result<(), ServiceError> {
        let update = Update::new(key.clone())
            .remove("lease_until")
            .remove("lease_owner")
            .when(Condition::Equals(
                "lease_owner".into(),
                Value::S(worker.into()),
            ));
        self.items
            .update(update)
            .await
            .map(|_| ())
            .map_err(lost_lease)
    }

    /// Writes the rows rejected since the last save as one part of the error report, then
    /// records how far the import got (under the lease).
    async fn save_progress(
        &self,
        account: &AccountId,
        id: &ImportId,
        worker: &str,
        counts: &ImportCounts,
        progress: &mut Progress,
    ) -> Result<(), ServiceError> {
        if !progress.unsaved_errors.is_empty() {
            let first = progress.saved_row;
            self.blobs
                .put(
                    &part_key(account, id, first)?,
                    report_bytes(&progress.unsaved_errors),
                    "text/csv",
                )
                .await
                .map_err(blob_err)?;
            if !progress.parts.contains(&first) {
                progress.parts.push(first);
            }
        }
        let mut update = Update::new(table::import(account, id))
            .set("next_row", Value::N(progress.next_row as i64))
            .set("reported_errors", Value::N(progress.reported as i64))
            .set(
                "error_parts",
                Value::L(progress.parts.iter().map(|p| Value::N(*p as i64)).collect()),
            )
            .set(
                "lease_until",
                Value::N(to_millis(now()) + LEASE.as_millis() as i64),
            )
            .when(Condition::Equals(
                "lease_owner".into(),
                Value::S(worker.into()),
            ));
        for (name, value) in COUNT_NAMES.iter().zip(counts.values()) {
            update = update.set(name, Value::N(value as i64));
        }
        self.items.update(update).await.map_err(lost_lease)?;
        // Job progress for operators: rows applied, whatever their outcome.
        crate::metrics::count("import_rows", progress.unsaved_rows, &[]);
        progress.saved();
        Ok(())
    }

    async fn finish_import(
        &self,
        account: &AccountId,
        id: &ImportId,
        worker: &str,
        counts: &ImportCounts,
        parts: &[u64],
        truncated: bool,
    ) -> Result<(), ServiceError> {
        let mut report = b"row,column,reason\n".to_vec();
        let mut sorted = parts.to_vec();
        sorted.sort_unstable();
        for first in &sorted {
            if let Some(part) = self
                .blobs
                .get(&part_key(account, id, *first)?)
                .await
                .map_err(blob_err)?
            {
                report.extend_from_slice(&part.bytes);
            }
        }
        let has_report = !sorted.is_empty();
        if has_report {
            self.blobs
                .put(&report_key(account, id)?, Bytes::from(report), "text/csv")
                .await
                .map_err(blob_err)?;
        }
        let mut update = Update::new(table::import(account, id))
            .set("status", Value::S(ImportStatus::Completed.as_str().into()))
            .set("finished_at", Value::N(to_millis(now())))
            .set("has_error_report", Value::Bool(has_report))
            .set("errors_truncated", Value::Bool(truncated))
            .remove("lease_until")
            .remove("lease_owner")
            .when(Condition::Equals(
                "lease_owner".into(),
                Value::S(worker.into()),
            ));
        for (name, value) in COUNT_NAMES.iter().zip(counts.values()) {
            update = update.set(name, Value::N(value as i64));
        }
        self.items.update(update).await.map_err(lost_lease)?;
        // The uploaded file held personal data and has served its purpose.
        self.blobs
            .delete(&source_key(account, id)?)
            .await
            .map_err(blob_err)?;
        for first in &sorted {
            self.blobs
                .delete(&part_key(account, id, *first)?)
                .await
                .map_err(blob_err)?;
        }
        Ok(())
    }

    async fn fail_import(
        &self,
        account: &AccountId,
        id: &ImportId,
        worker: &str,
        reason: &str,
    ) -> Result<JobOutcome, ServiceError> {
        let update = Update::new(table::import(account, id))
            .set("status", Value::S(ImportStatus::Failed.as_str().into()))
            .set("failure", Value::S(reason.into()))
            .set("finished_at", Value::N(to_millis(now())))
            .remove("lease_until")
            .remove("lease_owner")
            .when(Condition::Equals(
                "lease_owner".into(),
                Value::S(worker.into()),
            ));
        self.items.update(update).await.map_err(lost_lease)?;
        self.blobs
            .delete(&source_key(account, id)?)
            .await
            .map_err(blob_err)?;
        tracing::info!(account_id = %account, import_id = %id, "import failed");
        Ok(JobOutcome::Done)
    }
}

fn lost_lease(e: StoreError) -> ServiceError {
    match e {
        StoreError::ConditionFailed { .. } => ServiceError::Busy,
        e => e.into(),
    }
}

fn import_from_item(item: &Item) -> Result<Import, ServiceError> {
    let id: ImportId = item
        .key
        .sk
        .strip_prefix("IMPORT#")
        .ok_or_else(|| StoreError::Corrupt("import sort key".into()))?
        .parse()
        .map_err(corrupt)?;
    let flag = |name| matches!(item.attrs.get(name), Some(Value::Bool(true)));
    Ok(Import {
        id,
        status: ImportStatus::parse(item.s("status")?)
            .ok_or_else(|| StoreError::Corrupt("import status".into()))?,
        counts: ImportCounts::from_item(item),
        failure: item.opt_s("failure").map(str::to_owned),
        has_error_report: flag("has_error_report"),
        errors_truncated: flag("errors_truncated"),
        created_at: from_millis(item.n("created_at")?)?,
        started_at: item.opt_n("started_at").map(from_millis).transpose()?,
        finished_at: item.opt_n("finished_at").map(from_millis).transpose()?,
    })
}

/// The header, or why the file cannot be imported.
async fn read_header<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut CsvStream<R>,
) -> Result<Result<Header, String>, ServiceError> {
    match stream.next().await.map_err(read_err)? {
        None => Ok(Err("the file is empty: it needs a header row".into())),
        Some(row) => Ok(header(&row)),
    }
}

fn read_err(e: std::io::Error) -> ServiceError {
    ServiceError::Blob(format!("reading the file: {e}"))
}

/// Up to a batch of rows with their numbers (the header is row 1).
async fn read_batch<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut CsvStream<R>,
    row_no: &mut u64,
) -> Result<Vec<(u64, RawRow)>, ServiceError> {
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    while batch.len() < BATCH_ROWS {
        match stream.next().await.map_err(read_err)? {
            Some(raw) => {
                *row_no += 1;
                batch.push((*row_no, raw));
            }
            None => break,
        }
    }
    Ok(batch)
}

/// Report lines (without the header, which the final report gets once).
fn report_bytes(errors: &[RowError]) -> Bytes {
    let mut out = String::new();
    for e in errors {
        out.push_str(&format!(
            "{},{},{}\n",
            e.row,
            csv_cell(&e.column),
            csv_cell(&e.reason)
        ));
    }
    Bytes::from(out)
}

/// How far a job has got since it last saved its progress. Saving once a second rather than
/// after every batch keeps the store's single writer (SQLite locally) on the rows; rows applied
/// after the last save are met again on resumption and counted as they were (their import mark).
struct Progress {
    /// The first row not yet applied.
    next_row: u64,
    /// Error report parts saved, by their first row; and the rejected rows they list.
    parts: Vec<u64>,
    reported: u64,
    /// The first row not yet applied at the last save: the key of the next report part, so a
    /// resumed job that meets the same rows again writes the same part.
    saved_row: u64,
    /// Rows rejected since the last save, listed while the report has room.
    unsaved_errors: Vec<RowError>,
    unsaved_rows: u64,
    saved_at: Instant,
}

/// How often a job saves its progress.
const SAVE_EVERY: Duration = Duration::from_secs(1);

impl Progress {
    fn resumed(state: &Item) -> Self {
        let parts = match state.attrs.get("error_parts") {
            Some(Value::L(l)) => l
                .iter()
                .filter_map(|v| match v {
                    Value::N(n) => Some(*n as u64),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let next_row = state.opt_n("next_row").unwrap_or(2) as u64;
        Self {
            next_row,
            saved_row: next_row,
            parts,
            reported: state.opt_n("reported_errors").unwrap_or(0) as u64,
            unsaved_errors: Vec::new(),
            unsaved_rows: 0,
            saved_at: Instant::now(),
        }
    }

    fn add(&mut self, batch: &Committed) {
        self.next_row = batch.last + 1;
        self.unsaved_rows += (batch.last + 1).saturating_sub(batch.first);
        let room = MAX_REPORTED_ERRORS.saturating_sub(self.reported) as usize;
        let listed = &batch.errors[..batch.errors.len().min(room)];
        self.unsaved_errors.extend_from_slice(listed);
        self.reported += listed.len() as u64;
    }

    /// A second has passed, or the unsaved errors make a report part of 10,000 rows.
    fn due(&self) -> bool {
        self.saved_at.elapsed() >= SAVE_EVERY || self.unsaved_errors.len() >= 10_000
    }

    fn saved(&mut self) {
        self.unsaved_errors.clear();
        self.unsaved_rows = 0;
        self.saved_row = self.next_row;
        self.saved_at = Instant::now();
    }
}

/// A row number and what its parsing gave.
type Parsed = (u64, Result<Ready, Vec<RowError>>);

/// A good row, ready for the store.
struct Ready {
    update: RowUpdate,
    /// Its phone and BSUID: kind, lookup key, short form for `seen`.
    ids: Vec<(&'static str, Key, [u8; 12])>,
    /// The writes that create it, used if no contact has its phone or BSUID yet.
    create: Vec<Write>,
}

/// What the parsing threads need, all owned.
struct ReadyContext {
    keys: Arc<TenantKeys>,
    account: AccountId,
    mark: String,
    header: Arc<Header>,
    region: Option<Region>,
    at: Timestamp,
}

impl ReadyContext {
    fn ready_all(&self, rows: &[(u64, RawRow)]) -> Result<Vec<Parsed>, ServiceError> {
        rows.iter()
            .map(|(n, raw)| {
                let ready = match parse_row(&self.header, *n, raw, self.region) {
                    Ok(update) => Ok(self.ready(update)?),
                    Err(errors) => Err(errors),
                };
                Ok((*n, ready))
            })
            .collect()
    }

    fn ready(&self, update: RowUpdate) -> Result<Ready, ServiceError> {
        let mut ids = Vec::with_capacity(2);
        if let Some(p) = &update.phone {
            let index = self.keys.blind_index(PHONE, p.e164());
            ids.push((
                PHONE,
                table::contact_lookup(&self.account, PHONE, &index),
                short(&index),
            ));
        }
        if let Some(u) = &update.user_id {
            let index = self.keys.blind_index(BSUID, u.as_str());
            ids.push((
                BSUID,
                table::contact_lookup(&self.account, BSUID, &index),
                short(&index),
            ));
        }
        let contact = new_contact(&update, self.at);
        let mark = ImportMark {
            import_id: self.mark.clone(),
            row: update.row,
            outcome: Outcome::Created.as_str().into(),
        };
        let mut create: Vec<Write> = ids
            .iter()
            .map(|(_, k, _)| Write::put_new(lookup_item(k.clone(), &contact.id)))
            .collect();
        create.push(Write::put_new(contact_item_with(
            &self.keys,
            &self.account,
            &contact,
            Some(&mark),
        )?));
        Ok(Ready {
            update,
            ids,
            create,
        })
    }
}

/// A row's writes, applied together or not at all.
struct Group {
    row: u64,
    outcome: Outcome,
    writes: Vec<Write>,
}

/// The batch processor shared by job and inline imports.
struct Engine<'a> {
    app: &'a App,
    account: AccountId,
    mark: String,
    header: Arc<Header>,
    region: Option<Region>,
    /// Identity (first 96 bits of its blind index) → first row that had it: 16 bytes an
    /// entry, ~35 MB for a million rows.
    seen: HashMap<[u8; 12], u32, BuildHasherDefault<IndexHasher>>,
    counts: ImportCounts,
    /// Contacts the plan still lets the file create; read when the first batch is decided.
    room: Option<ContactRoom>,
}

impl<'a> Engine<'a> {
    fn new(
        app: &'a App,
        account: AccountId,
        mark: String,
        header: Header,
        region: Option<Region>,
        counts: ImportCounts,
    ) -> Self {
        Self {
            app,
            account,
            mark,
            header: Arc::new(header),
            region,
            seen: HashMap::default(),
            counts,
            room: None,
        }
    }

    /// Sizes the duplicate map for a file of `bytes` at once: growing it by doubling would hold
    /// the old and the new table together at the largest size.
    fn expecting(mut self, bytes: u64) -> Self {
        // Contact rows are rarely shorter than 40 bytes; a wrong guess only costs a resize.
        let rows = (bytes / 40).min(2_000_000) as usize;
        self.seen.reserve(rows);
        self
    }

    /// Parses a batch on the blocking pool, both halves at once, and makes each good row ready
    /// for the store: its lookup keys, and the sealed writes that would create it. `None` for
    /// an empty batch.
    async fn spawn_parse(
        &self,
        batch: Vec<(u64, RawRow)>,
    ) -> Result<Option<JoinHandle<Result<Vec<Parsed>, ServiceError>>>, ServiceError> {
        if batch.is_empty() {
            return Ok(None);
        }
        // Per row: two blind indexes and the contact's sealed fields.
        let uses = batch.len() as u64 * (CONTACT_FIELDS + 2);
        let keys = self.app.keyring.checkout(&self.account, uses).await?;
        let ctx = ReadyContext {
            keys,
            account: self.account.clone(),
            mark: self.mark.clone(),
            header: self.header.clone(),
            region: self.region,
            at: now(),
        };
        Ok(Some(tokio::task::spawn_blocking(move || {
            let (a, b) = batch.split_at(batch.len() / 2);
            std::thread::scope(|s| {
                let first = s.spawn(|| ctx.ready_all(a));
                let mut all = match first.join() {
                    Ok(rows) => rows?,
                    Err(_) => return Err(ServiceError::Blob("a parsing thread panicked".into())),
                };
                all.append(&mut ctx.ready_all(b)?);
                Ok(all)
            })
        })))
    }

    /// Rows processed before an interruption: remember their identities, write nothing.
    async fn replay(&mut self, parsed: Vec<Parsed>) -> Result<(), ServiceError> {
        for (_, row) in parsed {
            let Ok(row) = row else { continue };
            if row.ids.iter().any(|(_, _, h)| self.seen.contains_key(h)) {
                continue;
            }
            for (_, _, h) in row.ids {
                self.seen.insert(h, row.update.row as u32);
            }
        }
        Ok(())
    }

    /// Decides every row of a batch and builds its writes; writes nothing. Rows rejected,
    /// unchanged, or applied before an interruption are counted here, the rest by [`commit`].
    async fn prepare(&mut self, batch: Vec<Parsed>) -> Result<Prepared, ServiceError> {
        let mut out = Prepared {
            first: batch.first().map_or(0, |(n, _)| *n),
            last: batch.last().map_or(0, |(n, _)| *n),
            ..Prepared::default()
        };
        out.counts.rows = batch.len() as u64;
        // Drop rows whose phone or BSUID an earlier row of the file had.
        let mut candidates: Vec<(RowUpdate, Vec<Key>, Vec<Write>)> = Vec::new();
        for (_, parsed) in batch {
            let Ready {
                update: row,
                ids,
                create,
            } = match parsed {
                Ok(r) => r,
                Err(errs) => {
                    out.reject(errs);
                    continue;
                }
            };
            if let Some((kind, first)) = ids
                .iter()
                .find_map(|(k, _, h)| self.seen.get(h).map(|f| (*k, *f)))
            {
                let column = if kind == PHONE { "phone" } else { "user_id" };
                out.reject(vec![RowError::new(
                    row.row,
                    column,
                    format!("same {column} as row {first}"),
                )]);
                continue;
            }
            for (_, _, h) in &ids {
                self.seen.insert(*h, row.row as u32);
            }
            candidates.push((row, ids.into_iter().map(|(_, k, _)| k).collect(), create));
        }

        let mut room = match self.room.take() {
            Some(room) => room,
            None => self.app.contact_room(&self.account).await?,
        };

        // Which contacts exist already. An account that held none when the import began has
        // nothing to look up: a row meeting a contact this file created is caught by `seen`,
        // and one meeting a contact created meanwhile through the API fails its create's
        // condition and is reported. (The first import of an account is the large one.)
        let lookup_keys: Vec<Key> = match room.held_at_start {
            0 => Vec::new(),
            _ => candidates
                .iter()
                .flat_map(|(_, ks, _)| ks.iter().cloned())
                .collect(),
        };
        let mut owner: HashMap<Key, ContactId> = HashMap::new();
        for chunk in lookup_keys.chunks(MAX_BATCH_GET) {
            for (k, item) in chunk.iter().zip(self.app.items.batch_get(chunk).await?) {
                if let Some(item) = item {
                    owner.insert(k.clone(), item.s("contact_id")?.parse().map_err(corrupt)?);
                }
            }
        }
        let contact_keys: Vec<Key> = candidates
            .iter()
            .flat_map(|(_, ks, _)| ks.iter().filter_map(|k| owner.get(k)))
            .collect::<HashSet<_>>()
            .into_iter()
            .map(|id| table::contact(&self.account, id))
            .collect();
        let mut existing: HashMap<ContactId, (Contact, Option<ImportMark>)> = HashMap::new();
        for chunk in contact_keys.chunks(MAX_BATCH_GET) {
            for item in self.app.items.batch_get(chunk).await?.into_iter().flatten() {
                let contact = self.app.contact_from_item(&self.account, &item).await?;
                existing.insert(contact.id.clone(), (contact, ImportMark::of(&item)));
            }
        }

        // Decide each row and build its writes.
        let at = now();
        let mut used: HashMap<ContactId, u64> = HashMap::new();
        for (row, keys, create) in candidates {
            let owners: HashSet<&ContactId> = keys.iter().filter_map(|k| owner.get(k)).collect();
            if owners.len() > 1 {
                out.reject(vec![RowError::new(
                    row.row,
                    "user_id",
                    "the phone and the user_id belong to two different contacts",
                )]);
                continue;
            }
            let current = owners.into_iter().next().and_then(|id| existing.get(id));
            let Some((current, mark)) = current else {
                if room.left == 0 {
                    out.reject(vec![RowError::new(row.row, "phone", room.reason())]);
                    continue;
                }
                room.left -= 1;
                out.groups.push(Group {
                    row: row.row,
                    outcome: Outcome::Created,
                    writes: create,
                });
                continue;
            };
            if let Some(first) = used.get(&current.id) {
                out.reject(vec![RowError::new(
                    row.row,
                    "phone",
                    format!("same contact as row {first}"),
                )]);
                continue;
            }
            used.insert(current.id.clone(), row.row);
            if let Some(mark) = mark {
                if mark.import_id == self.mark && mark.row == row.row {
                    // Applied before an interruption: count it as it was counted then.
                    match mark.outcome.as_str() {
                        "created" => out.counts.created += 1,
                        _ => out.counts.updated += 1,
                    }
                    continue;
                }
            }
            let next = match merge(current, &row, at) {
                Ok(n) => n,
                Err(e) => {
                    out.reject(vec![e]);
                    continue;
                }
            };
            if next.same_content(current) {
                out.counts.unchanged += 1;
                continue;
            }
            let mark = self.mark(row.row, Outcome::Updated);
            let writes = self
                .app
                .replace_writes(&self.account, current, &next, Some(&mark))
                .await?;
            out.groups.push(Group {
                row: row.row,
                outcome: Outcome::Updated,
                writes,
            });
        }
        self.room = Some(room);
        Ok(out)
    }

    fn mark(&self, row: u64, outcome: Outcome) -> ImportMark {
        ImportMark {
            import_id: self.mark.clone(),
            row,
            outcome: outcome.as_str().into(),
        }
    }

    /// Counts a committed batch in.
    fn absorb(&mut self, batch: &Committed) {
        let c = &batch.counts;
        self.counts.rows += c.rows;
        self.counts.created += c.created;
        self.counts.updated += c.updated;
        self.counts.unchanged += c.unchanged;
        self.counts.rejected += c.rejected;
    }
}

/// A batch decided, its writes not yet made.
#[derive(Default)]
struct Prepared {
    first: u64,
    last: u64,
    groups: Vec<Group>,
    errors: Vec<RowError>,
    counts: ImportCounts,
}

impl Prepared {
    fn reject(&mut self, errors: Vec<RowError>) {
        self.counts.rejected += 1;
        self.errors.extend(errors);
    }
}

/// A batch written: its rows (first to last), what they came to, and the rows rejected.
struct Committed {
    first: u64,
    last: u64,
    counts: ImportCounts,
    errors: Vec<RowError>,
}

/// Writes a prepared batch in as few transactions as the store takes. A group whose condition
/// fails (another request changed its contact meanwhile) is rejected and the rest retried.
async fn commit(
    app: &App,
    account: &AccountId,
    batch: Prepared,
) -> Result<Committed, ServiceError> {
    let Prepared {
        first,
        last,
        groups,
        mut errors,
        mut counts,
    } = batch;
    // One place in each transaction is the contact tally's.
    let max = app.items.max_transaction_writes() - 1;
    let mut pending: Vec<Group> = groups;
    while !pending.is_empty() {
        let mut size = 0;
        let take = pending
            .iter()
            .take_while(|g| {
                size += g.writes.len();
                size <= max
            })
            .count()
            .max(1);
        let mut chunk: Vec<Group> = pending.drain(..take).collect();
        let mut conflicts = 0;
        loop {
            let mut writes: Vec<Write> = chunk
                .iter()
                .flat_map(|g| g.writes.iter().cloned())
                .collect();
            let created = chunk
                .iter()
                .filter(|g| g.outcome == Outcome::Created)
                .count();
            if created > 0 {
                writes.push(Write::Update(tally(account, created as i64)));
            }
            match app.items.transact(writes).await {
                Ok(()) => {
                    for g in &chunk {
                        counts.count(g.outcome);
                    }
                    break;
                }
                Err(StoreError::ConditionFailed { index: Some(i) }) => {
                    let mut seen = 0;
                    let at = chunk.iter().position(|g| {
                        seen += g.writes.len();
                        i < seen
                    });
                    let Some(at) = at else {
                        return Err(StoreError::ConditionFailed { index: Some(i) }.into());
                    };
                    let g = chunk.remove(at);
                    counts.rejected += 1;
                    errors.push(RowError::new(
                        g.row,
                        "phone",
                        "the contact changed while the file was imported; import the file again to apply this row",
                    ));
                    if chunk.is_empty() {
                        break;
                    }
                }
                Err(StoreError::Conflict) if conflicts < 5 => {
                    conflicts += 1;
                    tokio::time::sleep(Duration::from_millis(20 << conflicts)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    errors.sort_by_key(|e| e.row);
    Ok(Committed {
        first,
        last,
        counts,
        errors,
    })
}

/// Hashes a blind index by its first eight bytes as they are: an HMAC's output is uniform
/// already, so SipHash's defence against chosen keys buys nothing for a million lookups.
#[derive(Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn short(index_hex: &str) -> [u8; 12] {
    let mut out = [0u8; 12];
    let _ = hex::decode_to_slice(index_hex.get(..24).unwrap_or_default(), &mut out);
    out
}

fn imported(at: Timestamp) -> Recorded {
    Recorded {
        at,
        via: "import".into(),
    }
}

fn new_contact(row: &RowUpdate, at: Timestamp) -> Contact {
    Contact {
        id: ContactId::generate(),
        phone: row.phone.clone(),
        user_id: row.user_id.clone(),
        name: row.name.clone(),
        tags: row.tags.clone(),
        attributes: Attributes::parse(row.attributes.clone()).unwrap_or_default(),
        consent: row.opted_in.map(|opted_in| Consent {
            opted_in,
            source: row.source.clone(),
            text: None,
            opted_in_at: opted_in.then_some(at),
            recorded: Some(imported(at)),
        }),
        opt_out: None,
        created_at: at,
        updated_at: at,
    }
}

/// The contact after a row: given fields replace, tags and attributes add up, consent changes
/// only if the row says something new about it.
fn merge(current: &Contact, row: &RowUpdate, at: Timestamp) -> Result<Contact, RowError> {
    let mut next = current.clone();
    if let Some(p) = &row.phone {
        next.phone = Some(p.clone());
    }
    if let Some(u) = &row.user_id {
        next.user_id = Some(u.clone());
    }
    if let Some(n) = &row.name {
        next.name = Some(n.clone());
    }
    next.tags.extend(row.tags.iter().cloned());
    check_tag_count(&next.tags).map_err(|e| RowError::new(row.row, "tags", e.0))?;
    if !row.attributes.is_empty() {
        let changes: BTreeMap<String, Option<String>> = row
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        next.attributes = current
            .attributes
            .merge(&changes)
            .map_err(|e| RowError::new(row.row, "attr", e.0))?;
    }
    if let Some(opted_in) = row.opted_in {
        let same = current.consent.as_ref().is_some_and(|c| {
            c.opted_in == opted_in && (row.source.is_none() || row.source == c.source)
        });
        if !same {
            next.consent = Some(Consent {
                opted_in,
                source: row.source.clone(),
                text: None,
                opted_in_at: opted_in.then_some(at),
                recorded: Some(imported(at)),
            });
        }
    }
    next.updated_at = at;
    Ok(next)
}
