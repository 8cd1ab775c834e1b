//! Contact imports: status, counts, and the job's progress under its lease (the next row, the
//! error report's parts, who holds the lease until when).

use super::{from_millis, id_after, lease, opt_millis, to_millis, RecordError};
use crate::domain::{AccountId, Import, ImportCounts, ImportId, ImportStatus, Timestamp};
use crate::ports::{BlobError, BlobKey, Condition, Item, Query, Update, Value};
use crate::table;

const COUNT_NAMES: [&str; 5] = ["rows", "created", "updated", "unchanged", "rejected"];

fn count_values(c: &ImportCounts) -> [u64; 5] {
    [c.rows, c.created, c.updated, c.unchanged, c.rejected]
}

pub fn counts(item: &Item) -> ImportCounts {
    let n = |name| super::count(item, name);
    ImportCounts {
        rows: n("rows"),
        created: n("created"),
        updated: n("updated"),
        unchanged: n("unchanged"),
        rejected: n("rejected"),
    }
}

/// A new import, waiting for its file.
pub fn new_item(account: &AccountId, id: &ImportId, at: Timestamp) -> Item {
    Item::new(table::import(account, id))
        .with("status", status_value(ImportStatus::AwaitingUpload))
        .with("created_at", Value::N(to_millis(at)))
}

pub fn from_item(item: &Item) -> Result<Import, RecordError> {
    let flag = |name| matches!(item.attrs.get(name), Some(Value::Bool(true)));
    Ok(Import {
        id: id_after(item, table::IMPORT_PREFIX)?,
        status: ImportStatus::parse(item.s("status")?)
            .ok_or_else(|| super::corrupt("import status"))?,
        counts: counts(item),
        failure: item.opt_s("failure").map(str::to_owned),
        has_error_report: flag("has_error_report"),
        errors_truncated: flag("errors_truncated"),
        file_size: item.opt_n(FILE_SIZE).map(|n| n.max(0) as u64),
        bytes_read: item.opt_n(BYTES_READ).unwrap_or(0).max(0) as u64,
        created_at: from_millis(item.n("created_at")?)?,
        started_at: opt_millis(item, "started_at")?,
        finished_at: opt_millis(item, "finished_at")?,
    })
}

/// Whether an import is queued or running, and when it was made (epoch ms).
pub fn pending_since(item: &Item) -> (bool, i64) {
    let pending = matches!(
        item.opt_s("status").and_then(ImportStatus::parse),
        Some(ImportStatus::Queued | ImportStatus::Running)
    );
    (pending, item.opt_n("created_at").unwrap_or(0))
}

/// The account's imports, oldest first.
pub fn all(account: &AccountId) -> Query {
    Query::partition(table::account_partition(account)).begins_with(table::IMPORT_PREFIX)
}

fn status_value(s: ImportStatus) -> Value {
    Value::S(s.as_str().into())
}

fn status_is(s: ImportStatus) -> Condition {
    Condition::Equals("status".into(), status_value(s))
}

/// Queues an import whose file is uploaded, if it was waiting for it.
/// Queued, with the size its file had when checked: the job reads only that file (the upload
/// link lives on, and a file swapped after the check is refused).
pub fn queue(account: &AccountId, id: &ImportId, file_size: u64) -> Update {
    Update::new(table::import(account, id))
        .set("status", status_value(ImportStatus::Queued))
        .set(FILE_SIZE, Value::N(file_size as i64))
        .when(status_is(ImportStatus::AwaitingUpload))
}

const FILE_SIZE: &str = "file_size";
const BYTES_READ: &str = "bytes_read";

/// Takes the import's lease for `worker` until `until_ms`, if it is queued or running and
/// nobody else holds a live lease.
pub fn take_lease(
    account: &AccountId,
    id: &ImportId,
    worker: &str,
    now_ms: i64,
    until_ms: i64,
) -> Update {
    lease::take(
        Update::new(table::import(account, id)).set("status", status_value(ImportStatus::Running)),
        worker,
        until_ms,
    )
    .when(Condition::And(vec![
        Condition::Or(vec![
            status_is(ImportStatus::Queued),
            status_is(ImportStatus::Running),
        ]),
        lease::free_for(worker, now_ms),
    ]))
}

pub fn release_lease(account: &AccountId, id: &ImportId, worker: &str) -> Update {
    lease::give_up(Update::new(table::import(account, id))).when(lease::held_by(worker))
}

/// Where a job that took the lease goes on from.
pub struct Resume {
    pub started: bool,
    /// The first row not yet applied (the header is row 1).
    pub next_row: u64,
    pub counts: ImportCounts,
    pub reported_errors: u64,
    /// First rows of the error report's parts saved so far.
    pub error_parts: Vec<u64>,
    /// The file's size when the import was started (absent on imports queued before it was kept).
    pub file_size: Option<u64>,
    /// The file's bytes up to the first row not yet applied.
    pub bytes_read: u64,
}

pub fn resume(item: &Item) -> Resume {
    Resume {
        started: item.opt_n("started_at").is_some(),
        next_row: item.opt_n("next_row").unwrap_or(2) as u64,
        counts: counts(item),
        reported_errors: item.opt_n("reported_errors").unwrap_or(0) as u64,
        file_size: item.opt_n(FILE_SIZE).map(|n| n.max(0) as u64),
        bytes_read: item.opt_n(BYTES_READ).unwrap_or(0).max(0) as u64,
        error_parts: match item.attrs.get("error_parts") {
            Some(Value::L(l)) => l
                .iter()
                .filter_map(|v| match v {
                    Value::N(n) => Some(*n as u64),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
    }
}

pub fn started(account: &AccountId, id: &ImportId, at: Timestamp) -> Update {
    Update::new(table::import(account, id)).set("started_at", Value::N(to_millis(at)))
}

fn with_counts(mut update: Update, counts: &ImportCounts) -> Update {
    for (name, value) in COUNT_NAMES.iter().zip(count_values(counts)) {
        update = update.set(name, Value::N(value as i64));
    }
    update
}

/// How far an import got.
pub struct Checkpoint<'a> {
    /// The first row not yet applied.
    pub next_row: u64,
    pub counts: &'a ImportCounts,
    /// Rejected rows the error report lists so far.
    pub reported_errors: u64,
    /// First rows of the error report's parts saved so far.
    pub error_parts: &'a [u64],
    /// The file's bytes up to `next_row`.
    pub bytes_read: u64,
}

/// Saves a checkpoint under the lease, which it extends to `lease_until_ms`.
pub fn progress(
    account: &AccountId,
    id: &ImportId,
    worker: &str,
    at: &Checkpoint<'_>,
    lease_until_ms: i64,
) -> Update {
    let update = Update::new(table::import(account, id))
        .set("next_row", Value::N(at.next_row as i64))
        .set(BYTES_READ, Value::N(at.bytes_read as i64))
        .set("reported_errors", Value::N(at.reported_errors as i64))
        .set(
            "error_parts",
            Value::L(at.error_parts.iter().map(|p| Value::N(*p as i64)).collect()),
        );
    let update = lease::extend(update, lease_until_ms).when(lease::held_by(worker));
    with_counts(update, at.counts)
}

/// Completes the import, giving up the lease.
pub fn completed(
    account: &AccountId,
    id: &ImportId,
    worker: &str,
    counts: &ImportCounts,
    has_error_report: bool,
    errors_truncated: bool,
    at: Timestamp,
) -> Update {
    let update = Update::new(table::import(account, id))
        .set("status", status_value(ImportStatus::Completed))
        .set("finished_at", Value::N(to_millis(at)))
        .set("has_error_report", Value::Bool(has_error_report))
        .set("errors_truncated", Value::Bool(errors_truncated));
    let update = lease::give_up(update).when(lease::held_by(worker));
    with_counts(update, counts)
}

/// Fails the whole import (its file cannot be read), giving up the lease.
pub fn failed(
    account: &AccountId,
    id: &ImportId,
    worker: &str,
    reason: &str,
    at: Timestamp,
) -> Update {
    let update = Update::new(table::import(account, id))
        .set("status", status_value(ImportStatus::Failed))
        .set("failure", Value::S(reason.into()))
        .set("finished_at", Value::N(to_millis(at)));
    lease::give_up(update).when(lease::held_by(worker))
}

// ---- the import's files ----

/// Where an import's uploaded file is kept until the import finishes.
pub fn source_key(account: &AccountId, id: &ImportId) -> Result<BlobKey, BlobError> {
    BlobKey::parse(&format!("imports/{account}/{id}/source.csv"))
}

/// The per-row error report of a finished import.
pub fn report_key(account: &AccountId, id: &ImportId) -> Result<BlobKey, BlobError> {
    BlobKey::parse(&format!("imports/{account}/{id}/errors.csv"))
}

/// One part of the error report, saved with the job's progress, by its first row.
pub fn part_key(account: &AccountId, id: &ImportId, first_row: u64) -> Result<BlobKey, BlobError> {
    BlobKey::parse(&format!(
        "imports/{account}/{id}/errors/{first_row:010}.csv"
    ))
}
