use super::{ImportId, Timestamp};

/// Where a contact import is in its life.
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
    pub const ALL: [ImportStatus; 5] = [
        ImportStatus::AwaitingUpload,
        ImportStatus::Queued,
        ImportStatus::Running,
        ImportStatus::Completed,
        ImportStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::AwaitingUpload => "awaiting_upload",
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Completed => "completed",
            ImportStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, ImportStatus::Completed | ImportStatus::Failed)
    }
}

/// What an import did with the rows of its file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    /// Data rows read (the header excluded).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

impl Import {
    /// Per mille of the file applied: 1000 once finished, `None` before the file is known.
    pub fn progress_per_mille(&self) -> Option<u64> {
        if self.status.is_final() {
            return Some(1000);
        }
        let size = self.file_size.filter(|s| *s > 0)?;
        Some((self.bytes_read.min(size) * 1000) / size)
    }
}

impl ImportCounts {
    /// Adds another batch's counts.
    pub fn add(&mut self, other: &ImportCounts) {
        self.rows += other.rows;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.rejected += other.rejected;
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
    /// The uploaded file's size, known once the import is started.
    pub file_size: Option<u64>,
    /// How much of the file has been applied: the import's progress.
    pub bytes_read: u64,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}
