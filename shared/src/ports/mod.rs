//! Ports: what the core needs from the outside world. Each has an AWS adapter and a local one,
//! and one contract suite (`shared/tests/contract_*.rs`) that both must pass.

pub mod blob_store;
pub mod item_store;
pub mod key_vault;
pub mod queue;

pub use blob_store::{Blob, BlobError, BlobKey, BlobReader, BlobStore, BlobWriter};
pub use item_store::{
    Attrs, Change, Condition, Cursor, Index, Item, ItemStore, Key, Page, Query, SortCondition,
    StoreError, Update, Value, Write,
};
pub use key_vault::{DataKey, EncryptionContext, KeyVault, VaultError};
pub use queue::{OutgoingMessage, Queue, QueueError, ReceivedMessage};
