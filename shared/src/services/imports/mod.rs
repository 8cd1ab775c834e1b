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
mod engine;
mod job;
pub mod rows;

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use self::csv::{CsvStream, RawRow};
use self::engine::{commit, Engine, BATCH_ROWS};
use self::rows::{header, Header, RowError};
use super::{App, ServiceError};
use crate::domain::{now, AccountId, Import, ImportCounts, ImportId, ImportStatus, Timestamp};
use crate::ports::{BlobKey, Condition, StoreError};
use crate::records::{self, import};

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
/// Batches parsed ahead of the one being decided.
const PARSE_AHEAD: usize = 2;

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

/// Where an import's uploaded file is kept until the import finishes.
pub fn source_key(account: &AccountId, id: &ImportId) -> Result<BlobKey, ServiceError> {
    import::source_key(account, id).map_err(blob_err)
}

fn report_key(account: &AccountId, id: &ImportId) -> Result<BlobKey, ServiceError> {
    import::report_key(account, id).map_err(blob_err)
}

fn part_key(account: &AccountId, id: &ImportId, first_row: u64) -> Result<BlobKey, ServiceError> {
    import::part_key(account, id, first_row).map_err(blob_err)
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
        let item = import::new_item(account, &id, at);
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
        Ok((import::from_item(&item)?, url, expires))
    }

    /// Where upload links point (scheme, host and port), so a page that uploads from the
    /// browser can allow exactly that in its CSP. Presigning is local: no request is made.
    pub async fn upload_origin(&self, account: &AccountId) -> Result<String, ServiceError> {
        let probe = source_key(account, &ImportId::generate())?;
        let url = self
            .blobs
            .upload_link(&probe, "text/csv", Duration::from_secs(60))
            .await
            .map_err(blob_err)?;
        Ok(url.origin().ascii_serialization())
    }

    pub async fn import(&self, account: &AccountId, id: &ImportId) -> Result<Import, ServiceError> {
        let item = self.found(&crate::table::import(account, id)).await?;
        Ok(import::from_item(&item)?)
    }

    /// Imports, newest first.
    pub async fn imports(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<crate::ports::Cursor>,
    ) -> Result<(Vec<Import>, Option<crate::ports::Cursor>), ServiceError> {
        let query = import::all(account).backward().limit(limit).after(cursor);
        Ok(records::list(&*self.items, query, import::from_item).await?)
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
        self.one_import_at_a_time(account, id).await?;
        let size = self
            .blobs
            .size(&source_key(account, id)?)
            .await
            .map_err(blob_err)?;
        let size = match size {
            None => return Err(ServiceError::ImportNotUploaded),
            Some(n) if n > MAX_IMPORT_BYTES => {
                return Err(ServiceError::invalid(
                    "file",
                    &format!("the file is larger than {MAX_IMPORT_BYTES} bytes"),
                ))
            }
            Some(n) => n,
        };
        match self.items.update(import::queue(account, id, size)).await {
            Ok(item) => {
                self.enqueue(&super::Job::ContactImport {
                    account_id: account.clone(),
                    import_id: id.clone(),
                })
                .await?;
                tracing::info!(account_id = %account, import_id = %id, "import queued");
                Ok(import::from_item(&item)?)
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
