use std::collections::BTreeMap;

use serde::Serialize;

use super::{ContactId, ExportId, Timestamp};

/// Where an export is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl ExportStatus {
    pub const ALL: [ExportStatus; 4] = [
        ExportStatus::Queued,
        ExportStatus::Running,
        ExportStatus::Done,
        ExportStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// An export (the right to portability) and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub id: ExportId,
    pub status: ExportStatus,
    /// `None`: the whole account.
    pub contact_id: Option<ContactId>,
    /// Records written, by kind.
    pub counts: BTreeMap<String, u64>,
    pub size: Option<u64>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// When the export and its file are gone.
    pub expires_at: Timestamp,
}
