//! Embedded adapters: one SQLite file holds the items and the queues, a master key file wraps
//! data keys, blobs are files. All live under one data directory.

mod blobs;
mod codec;
mod db;
mod items;
mod queue;
mod vault;

pub use blobs::FileBlobStore;
pub use db::{Db, DbError};
pub use items::SqliteItemStore;
pub use queue::SqliteQueue;
pub use vault::{FileKeyVault, MasterKeyError};

use std::path::Path;
use std::sync::Arc;

use crate::graph::GraphClient;
use crate::services::Ports;

/// Receives after which a message moves to its queue's dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// Every local adapter over one data directory: `whatatalk.db` (items and queues),
/// `master.key`, and `blobs/`. The blob store is also kept by its concrete type, because the
/// runner serves its links.
pub struct LocalBackend {
    pub ports: Ports,
    pub blobs: Arc<FileBlobStore>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data dir {0}: {1}")]
    Dir(String, std::io::Error),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    MasterKey(#[from] vault::MasterKeyError),
    #[error(transparent)]
    Blobs(#[from] crate::ports::BlobError),
}

impl LocalBackend {
    /// Opens (creating on first use) the data directory; blob links point at `public_url`.
    pub fn open(dir: &Path, public_url: url::Url, graph: GraphClient) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|e| OpenError::Dir(dir.display().to_string(), e))?;
        let db = Db::open(&dir.join("whatatalk.db"))?;
        let blobs = Arc::new(FileBlobStore::new(&dir.join("blobs"), public_url)?);
        let queue = |name: &str| {
            Arc::new(
                SqliteQueue::new(db.clone(), name)
                    .with_redrive(format!("{name}-dlq"), MAX_RECEIVES),
            )
        };
        let ports = Ports {
            items: Arc::new(SqliteItemStore::new(db.clone())),
            vault: Arc::new(FileKeyVault::open_or_create(&dir.join("master.key"))?),
            blobs: blobs.clone(),
            send_queue: queue("sends"),
            job_queue: queue("jobs"),
            graph,
            location: crate::services::privacy::inventory::StorageLocation {
                kind: "local".into(),
                table: dir.join("whatatalk.db").display().to_string(),
                bucket: dir.join("blobs").display().to_string(),
                region: None,
            },
        };
        Ok(Self { ports, blobs })
    }
}
