//! Embedded adapters: one SQLite file holds the items and the queues, a master key file wraps
//! data keys, blobs are files. All live under one data directory.

mod blobs;
mod db;
mod items;
mod queue;
mod vault;

pub use blobs::FileBlobStore;
pub use db::Db;
pub use items::SqliteItemStore;
pub use queue::SqliteQueue;
pub use vault::FileKeyVault;
