use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;

/// One SQLite database shared by the item store and the queues. The connection lives on a
/// thread of its own that runs calls in turn, as they arrive on a channel: callers never
/// block the async runtime, and there is no lock for a crowd of blocking-pool threads to park
/// and wake on (behind a mutex, some builds fell into a lock convoy under concurrent webhooks:
/// 2.7× the futex calls, about 30 % less throughput; docs/benchmarks.md).
#[derive(Clone)]
pub struct Db {
    calls: mpsc::Sender<Call>,
}

type Call = Box<dyn FnOnce(&mut Connection) + Send>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    expires_at INTEGER,
    attrs BLOB NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS queue_messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, visible_at_ms);
CREATE INDEX IF NOT EXISTS queue_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL;
";

#[derive(Debug, thiserror::Error)]
#[error("sqlite: {0}")]
pub struct DbError(String);

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError(e.to_string())
    }
}

impl Db {
    /// Opens (creating if needed) the database file and its schema.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Self::init(Connection::open(path)?)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self, DbError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, DbError> {
        // WAL survives a crash of the process at any point. synchronous=OFF leaves flushing to
        // the operating system: a power loss may cost the last transactions, which a local
        // development store can afford, and bulk imports run several times faster for it.
        // Production data lives in DynamoDB.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        // Checkpoint every ~40 MB of WAL rather than every 4 MB: fewer copies of hot pages.
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // 16 MiB of page cache (the default is 2 MiB): an import touches index pages all over.
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let (calls, queue) = mpsc::channel::<Call>();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                // Ends when the last `Db` is dropped. A call that panics fails alone: its
                // answer channel is dropped, and an open transaction rolls back as it unwinds.
                for call in queue {
                    let _ = catch_unwind(AssertUnwindSafe(|| call(&mut conn)));
                }
            })
            .map_err(|e| DbError(format!("database thread: {e}")))?;
        Ok(Self { calls })
    }

    /// Runs `f` with the connection on the database thread.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.calls
            .send(Box::new(move |conn: &mut Connection| {
                let _ = answer.send(f(conn));
            }))
            .map_err(|_| E::from(DbError("the database thread has stopped".into())))?;
        answered
            .await
            .map_err(|_| E::from(DbError("the database call panicked".into())))?
    }

    /// Runs `stage` on the blocking pool without the connection, then `f` with the connection
    /// and what `stage` made, which is freed off the database thread afterwards: work that
    /// needs no connection (sorting, encoding, freeing) overlaps another call's writing
    /// instead of adding to the single writer's time.
    pub async fn call_staged<S, T, E, P, F>(&self, stage: P, f: F) -> Result<T, E>
    where
        S: Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        P: FnOnce() -> S + Send + 'static,
        F: FnOnce(&mut Connection, &S) -> Result<T, E> + Send + 'static,
    {
        let staged = tokio::task::spawn_blocking(stage)
            .await
            .map_err(|e| E::from(DbError(format!("blocking task failed: {e}"))))?;
        let (result, staged) = self
            .call(move |conn| Ok::<_, E>((f(conn, &staged), staged)))
            .await?;
        tokio::task::spawn_blocking(move || drop(staged));
        result
    }
}

impl From<DbError> for crate::ports::StoreError {
    fn from(e: DbError) -> Self {
        crate::ports::StoreError::Unavailable(e.0)
    }
}

impl From<rusqlite::Error> for crate::ports::StoreError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<DbError> for crate::ports::QueueError {
    fn from(e: DbError) -> Self {
        crate::ports::QueueError::Unavailable(e.0)
    }
}

impl From<rusqlite::Error> for crate::ports::QueueError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(c: &mut Connection) -> Result<i64, DbError> {
        Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)
    }

    #[tokio::test]
    async fn a_call_that_panics_fails_alone_and_rolls_back() {
        let db = Db::in_memory().unwrap();
        let failed: Result<(), DbError> = db
            .call(|c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO items (pk, sk, attrs) VALUES ('P', 'S', x'00')",
                    [],
                )?;
                panic!("a bug in a call");
            })
            .await;
        assert!(failed.is_err());
        // The thread goes on; the half-done transaction is gone and a new one can begin.
        assert_eq!(db.call(count).await.unwrap(), 0);
        db.call(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO items (pk, sk, attrs) VALUES ('P', 'S', x'00')",
                [],
            )?;
            Ok::<_, DbError>(tx.commit()?)
        })
        .await
        .unwrap();
        assert_eq!(db.call(count).await.unwrap(), 1);
    }
}
