use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// One SQLite database shared by the item store and the queues. Calls run on the blocking
/// pool so the async runtime never waits on disk.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

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
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        Self::run(self.conn.clone(), f).await
    }

    /// Runs `stage` on the blocking pool without the connection, then `f` with the connection
    /// and what `stage` made, which is dropped after the connection is released: work that
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
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let staged = stage();
            let result = f(&mut Self::lock(&conn), &staged);
            drop(staged);
            result
        })
        .await
        .map_err(|e| E::from(DbError(format!("blocking task failed: {e}"))))?
    }

    async fn run<T, E, F>(conn: Arc<Mutex<Connection>>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        tokio::task::spawn_blocking(move || f(&mut Self::lock(&conn)))
            .await
            .map_err(|e| E::from(DbError(format!("blocking task failed: {e}"))))?
    }

    fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock poisons it; the connection itself is still sound.
        conn.lock().unwrap_or_else(|p| p.into_inner())
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
