//! The import job: works through an uploaded file under a lease, saving its progress (rows
//! done, counts, the error report's parts) every second, so an interrupted import resumes
//! where it last saved and a second worker never runs beside the first.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt};

use super::super::{App, Job, ServiceError};
use super::csv::{csv_cell, CsvStream};
use super::engine::{commit, Committed, Engine, Prepared, BATCH_ROWS, WRITES_PER_ROW};
use super::rows::RowError;
use super::{blob_err, part_key, read_batch, read_header, report_key, source_key, JobOutcome};
use super::{MAX_IMPORT_BYTES, MAX_REPORTED_ERRORS, PARSE_AHEAD};
use crate::domain::{now, AccountId, ImportCounts, ImportId};
use crate::ports::StoreError;
use crate::records::{import, to_millis};

const LEASE: Duration = Duration::from_secs(120);
/// A job stops this long before its deadline and continues in a new invocation.
const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

impl App {
    /// The job: processes an import under a lease from its last checkpoint on. `worker` names
    /// this delivery (the queue message id); `deadline` is when the invocation is cut off.
    pub async fn run_import(
        &self,
        account: &AccountId,
        id: &ImportId,
        worker: &str,
        deadline: Option<Instant>,
    ) -> Result<JobOutcome, ServiceError> {
        let Some(state) = self.acquire_lease(account, id, worker).await? else {
            let current = self.import(account, id).await?;
            return if current.status.is_final() {
                Ok(JobOutcome::Done)
            } else {
                Err(ServiceError::Busy)
            };
        };
        let next_row = state.next_row;
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
        if !state.started {
            self.items
                .update(import::started(account, id, now()))
                .await?;
        }
        let region = self.account(account).await?.default_region;
        let counts = state.counts;
        let size = self
            .blobs
            .size(&source)
            .await
            .map_err(blob_err)?
            .unwrap_or(0);
        // The upload link outlives the check at start: a file replaced since is refused.
        if state.file_size.is_some_and(|checked| checked != size) || size > MAX_IMPORT_BYTES {
            return self
                .fail_import(
                    account,
                    id,
                    worker,
                    "the file changed after the import was started; upload it to a new import",
                )
                .await;
        }
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
                progress.mark(row_no, stream.position());
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
                        progress.mark(row_no, stream.position());
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
                    self.items
                        .update(import::release_lease(account, id, worker))
                        .await
                        .map_err(lost_lease)?;
                    self.enqueue(&Job::ContactImport {
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
    async fn acquire_lease(
        &self,
        account: &AccountId,
        id: &ImportId,
        worker: &str,
    ) -> Result<Option<import::Resume>, ServiceError> {
        let now_ms = to_millis(now());
        let until = now_ms + LEASE.as_millis() as i64;
        match self
            .items
            .update(import::take_lease(account, id, worker, now_ms, until))
            .await
        {
            Ok(item) => Ok(Some(import::resume(&item))),
            Err(StoreError::ConditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
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
        let checkpoint = import::Checkpoint {
            next_row: progress.next_row,
            counts,
            reported_errors: progress.reported,
            error_parts: &progress.parts,
            bytes_read: progress.bytes_read,
        };
        let lease_until = to_millis(now()) + LEASE.as_millis() as i64;
        let update = import::progress(account, id, worker, &checkpoint, lease_until);
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
        let update = import::completed(account, id, worker, counts, has_report, truncated, now());
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
        self.raise_import_finished(account, id).await
    }

    async fn fail_import(
        &self,
        account: &AccountId,
        id: &ImportId,
        worker: &str,
        reason: &str,
    ) -> Result<JobOutcome, ServiceError> {
        let update = import::failed(account, id, worker, reason, now());
        self.items.update(update).await.map_err(lost_lease)?;
        self.blobs
            .delete(&source_key(account, id)?)
            .await
            .map_err(blob_err)?;
        tracing::info!(account_id = %account, import_id = %id, "import failed");
        self.raise_import_finished(account, id).await?;
        Ok(JobOutcome::Done)
    }
}

fn lost_lease(e: StoreError) -> ServiceError {
    match e {
        StoreError::ConditionFailed { .. } => ServiceError::Busy,
        e => e.into(),
    }
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
    /// Where each batch read ends: (its last row, the file's bytes up to it).
    marks: VecDeque<(u64, u64)>,
    /// The file's bytes up to the last row applied: the import's progress.
    bytes_read: u64,
}

/// How often a job saves its progress.
const SAVE_EVERY: Duration = Duration::from_secs(1);

impl Progress {
    fn resumed(state: &import::Resume) -> Self {
        Self {
            next_row: state.next_row,
            saved_row: state.next_row,
            parts: state.error_parts.clone(),
            reported: state.reported_errors,
            unsaved_errors: Vec::new(),
            unsaved_rows: 0,
            saved_at: Instant::now(),
            marks: VecDeque::new(),
            bytes_read: state.bytes_read,
        }
    }

    /// A batch was read up to `row`, which ends `position` bytes into the file.
    fn mark(&mut self, row: u64, position: u64) {
        self.marks.push_back((row, position));
    }

    fn add(&mut self, batch: &Committed) {
        self.next_row = batch.last + 1;
        while let Some(&(_, position)) = self.marks.front().filter(|m| m.0 <= batch.last) {
            self.bytes_read = self.bytes_read.max(position);
            self.marks.pop_front();
        }
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
