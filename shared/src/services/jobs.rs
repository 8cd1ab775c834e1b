//! Background jobs: what goes on the job queue, and running one. The jobs Lambda and the local
//! runner's queue drainer both call [`App::run_job`].

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{App, JobOutcome, ServiceError};
use crate::domain::{AccountId, BroadcastId, EndpointId, EventId, ExportId, ImportId, MediaId};
use crate::ports::OutgoingMessage;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Job {
    ContactImport {
        account_id: AccountId,
        import_id: ImportId,
    },
    BroadcastFanout {
        account_id: AccountId,
        broadcast_id: BroadcastId,
    },
    /// Fetches an inbound media file from Meta into the blob store.
    FetchMedia {
        account_id: AccountId,
        media_id: MediaId,
    },
    /// Streams an export of an account or a contact into the bucket.
    Export {
        account_id: AccountId,
        export_id: ExportId,
    },
    /// Erases a closing account, in resumable steps.
    EraseAccount { account_id: AccountId },
    /// Counts what a large account holds, for the right of access.
    CountInventory { account_id: AccountId },
    /// Reads the account's templates from Meta (queued for every open account by the daily
    /// retention run).
    SyncTemplates { account_id: AccountId },
    /// Events raised together for one account: stored, and a delivery started for each
    /// endpoint that wants each.
    Events {
        account_id: AccountId,
        events: Vec<super::events::QueuedEvent>,
    },
    /// One event to one endpoint: an attempt when due, else another hop of waiting.
    Deliver {
        account_id: AccountId,
        endpoint_id: EndpointId,
        event_id: EventId,
        /// The attempts it had when this job was queued (a stale duplicate finds more).
        attempts: u32,
    },
    /// The clock: starts scheduled broadcasts that are due (every minute on AWS, every second
    /// in the local runner).
    Tick,
}

impl Job {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// The account the job works for, if one.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Job::ContactImport { account_id, .. }
            | Job::BroadcastFanout { account_id, .. }
            | Job::FetchMedia { account_id, .. }
            | Job::Export { account_id, .. }
            | Job::EraseAccount { account_id }
            | Job::CountInventory { account_id }
            | Job::SyncTemplates { account_id }
            | Job::Events { account_id, .. }
            | Job::Deliver { account_id, .. } => Some(account_id),
            Job::Tick => None,
        }
    }
}

impl App {
    pub async fn enqueue(&self, job: &Job) -> Result<(), ServiceError> {
        let body = serde_json::to_string(job).map_err(|e| ServiceError::Queue(e.to_string()))?;
        self.job_queue
            .send(OutgoingMessage::new(body))
            .await
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        Ok(())
    }

    /// Runs one job delivery. `worker` names the delivery (the queue message id); `deadline`
    /// is when the invocation is cut off, if it is.
    pub async fn run_job(
        &self,
        job: &Job,
        worker: &str,
        deadline: Option<Instant>,
    ) -> Result<JobOutcome, ServiceError> {
        let kind = serde_json::to_value(job)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let outcome = self.dispatch_job(job, worker, deadline).await;
        let result = match &outcome {
            Ok(JobOutcome::Done) => "done",
            Ok(JobOutcome::Continued) => "continued",
            Err(_) => "failed",
        };
        crate::metrics::count("jobs", 1, &[("kind", &kind), ("result", result)]);
        outcome
    }

    async fn dispatch_job(
        &self,
        job: &Job,
        worker: &str,
        deadline: Option<Instant>,
    ) -> Result<JobOutcome, ServiceError> {
        // A closing account takes no more work: its jobs are dropped, but its erasure.
        if let Some(account) = job.account() {
            if !matches!(job, Job::EraseAccount { .. }) && !self.account_open(account).await? {
                tracing::info!(account_id = %account, "job dropped: the account is closing");
                return Ok(JobOutcome::Done);
            }
        }
        let outcome = match job {
            Job::ContactImport {
                account_id,
                import_id,
            } => {
                self.run_import(account_id, import_id, worker, deadline)
                    .await
            }
            Job::BroadcastFanout {
                account_id,
                broadcast_id,
            } => self.run_fanout(account_id, broadcast_id).await,
            Job::FetchMedia {
                account_id,
                media_id,
            } => self.run_fetch_media(account_id, media_id).await,
            Job::Export {
                account_id,
                export_id,
            } => self.run_export(account_id, export_id).await,
            Job::EraseAccount { account_id } => {
                self.run_erasure(account_id, worker, deadline).await
            }
            Job::CountInventory { account_id } => self.run_inventory_count(account_id).await,
            Job::Events { account_id, events } => self.run_events(account_id, events).await,
            Job::Deliver {
                account_id,
                endpoint_id,
                event_id,
                attempts,
            } => {
                self.run_delivery(account_id, endpoint_id, event_id, *attempts as usize)
                    .await
            }
            Job::SyncTemplates { account_id } => match self.sync_templates(account_id).await {
                Ok(_) => Ok(JobOutcome::Done),
                // Meta refusing a token or a WABA is the number's business (sends report
                // it); tomorrow's run tries again. Meta unreachable is retried by the queue.
                Err(ServiceError::Graph {
                    code: Some(code), ..
                }) => {
                    tracing::warn!(account_id = %account_id, code, "template sync refused by Meta");
                    Ok(JobOutcome::Done)
                }
                Err(e) => Err(e),
            },
            Job::Tick => self.start_due_broadcasts().await.map(|_| JobOutcome::Done),
        };
        match outcome {
            // The account began closing while the job ran.
            Err(ServiceError::AccountClosing) => Ok(JobOutcome::Done),
            outcome => outcome,
        }
    }
}
