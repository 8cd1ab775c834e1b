//! The audit log: privacy-relevant actions of a tenant, append-only. Entries name who acted
//! (an API key id, or the system) and what was acted on by kind and id — never a personal
//! value — so the log itself holds nothing to protect. Each use case the log records writes
//! its entry itself ([`App::audit`]), so no caller can skip it.

use super::super::{App, ServiceError};
use crate::domain::{now, ordered_ulid, AccountId, Actor, AuditAction, AuditEntry, AuditTarget};
use crate::ports::{Condition, Cursor};
use crate::records::{self, audit};

impl App {
    /// Appends an entry: who acted, what they did, to what.
    pub(crate) async fn audit(
        &self,
        account: &AccountId,
        actor: &Actor,
        action: AuditAction,
        target: Option<AuditTarget>,
    ) -> Result<(), ServiceError> {
        let entry = AuditEntry {
            id: ordered_ulid().to_string(),
            action: action.as_str().to_owned(),
            actor: actor.to_string(),
            target,
            at: now(),
        };
        self.items
            .put(audit::to_item(account, &entry), Some(Condition::NotExists))
            .await?;
        Ok(())
    }

    /// The log, newest first.
    pub async fn audit_log(
        &self,
        account: &AccountId,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<AuditEntry>, Option<Cursor>), ServiceError> {
        let query = audit::all(account).backward().limit(limit).after(cursor);
        Ok(records::list(&*self.items, query, audit::from_item).await?)
    }
}
