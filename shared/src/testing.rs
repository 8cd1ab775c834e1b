//! Helpers for tests of this crate and the crates above it: an [`App`] on local adapters in
//! a temporary directory.

use std::path::Path;
use std::sync::Arc;

use crate::adapters::local::{Db, FileBlobStore, FileKeyVault, SqliteItemStore, SqliteQueue};
use crate::services::{App, Ports};

/// Local ports with everything under `dir`; blob links point at `link_base`.
pub fn local_ports(dir: &Path, link_base: url::Url) -> Ports {
    let db = Db::open(&dir.join("whatatalk.db")).expect("open sqlite");
    Ports {
        items: Arc::new(SqliteItemStore::new(db.clone())),
        vault: Arc::new(FileKeyVault::open_or_create(&dir.join("master.key")).expect("master key")),
        blobs: Arc::new(FileBlobStore::new(&dir.join("blobs"), link_base).expect("blob dir")),
        send_queue: Arc::new(SqliteQueue::new(db.clone(), "sends").with_redrive("sends-dlq", 5)),
        job_queue: Arc::new(SqliteQueue::new(db, "jobs").with_redrive("jobs-dlq", 5)),
    }
}

pub fn local_app(dir: &Path) -> App {
    App::new(local_ports(
        dir,
        url::Url::parse("http://127.0.0.1:9/").expect("static url"),
    ))
}
