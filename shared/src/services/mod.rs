//! The use cases, written once over the ports: the same code serves the Lambda functions on AWS
//! and the local runner. Each module adds methods to [`App`].

mod accounts;
pub mod billing;
pub mod broadcasts;
mod contacts;
pub mod conversations;
pub mod events;
pub mod imports;
pub mod ingest;
mod jobs;
mod limits;
pub mod media;
mod messages;
mod numbers;
pub mod privacy;
mod recent;
mod sender;
pub mod templates;
pub mod users;

use std::sync::Arc;

pub use accounts::{AccountChanges, NewAccount, Principal};
pub use broadcasts::{BroadcastEstimate, NewBroadcast};
pub use contacts::{ConsentInput, ContactChanges, ContactFilter, DeletionReceipt, NewContact};
pub use imports::{InlineReport, JobOutcome};
pub use jobs::Job;
pub use messages::{MessageFilter, NewMessage, Recipient, SendTask};
pub use numbers::{NewNumber, NumberChanges, NumberHealth};
pub use sender::{Delivery, SenderSettings};
pub use templates::{NewTemplate, SyncReport, TemplateFilter};
pub use users::{NewUser, SessionCookie, SignedIn};

use crate::crypto::{CachePolicy, CryptoError, Keyring};
use crate::domain::AccountId;
use crate::graph::GraphClient;
use crate::ports::{BlobStore, ItemStore, KeyVault, Queue, StoreError};
use crate::records::{RecordError, Sealer};

/// The adapters an [`App`] runs on: all local or all AWS.
#[derive(Clone)]
pub struct Ports {
    pub items: Arc<dyn ItemStore>,
    pub vault: Arc<dyn KeyVault>,
    pub blobs: Arc<dyn BlobStore>,
    /// Outbound WhatsApp messages, drained by the sender.
    pub send_queue: Arc<dyn Queue>,
    /// Background jobs: imports, broadcasts, exports, erasure.
    pub job_queue: Arc<dyn Queue>,
    /// Meta's Graph API, or the stand-in.
    pub graph: GraphClient,
    /// Where the data is kept, as the inventory reports it.
    pub location: privacy::inventory::StorageLocation,
}

/// Everything a handler needs; cheap to share behind an `Arc`.
pub struct App {
    pub items: Arc<dyn ItemStore>,
    pub keyring: Keyring,
    pub blobs: Arc<dyn BlobStore>,
    pub send_queue: Arc<dyn Queue>,
    pub job_queue: Arc<dyn Queue>,
    pub graph: GraphClient,
    /// Plans and billing rules (the built-in ones unless [`App::with_billing`] says otherwise).
    pub billing_config: crate::domain::BillingConfig,
    /// The privacy policy version in force.
    pub policy: privacy::policy::PolicyConfig,
    pub location: privacy::inventory::StorageLocation,
    /// What one tenant, key or client address may ask (see [`App::with_api_limits`]).
    pub api_limits: crate::domain::ApiLimits,
    /// How long the erasure waits between its two passes (see [`App::with_closure_settle`]).
    pub closure_settle: std::time::Duration,
    routes: ingest::RouteCache,
    /// Retention policies as message writes use them (see [`App::message_expiry`]).
    retention: recent::Recent<crate::domain::RetentionPolicy>,
    /// What each account's webhook endpoints want (see [`App::collecting_events`]).
    subscriptions: events::SubscriptionCache,
    /// How far webhook deliveries may reach (see [`App::with_event_reach`]).
    pub event_reach: crate::events::guard::Reach,
    /// The first retry's delay of a failed delivery (see [`App::with_event_first_retry`]).
    pub event_first_retry: std::time::Duration,
    /// Built at the first delivery: functions that never deliver never pay for it.
    event_client: std::sync::OnceLock<Option<reqwest::Client>>,
}

impl App {
    pub fn new(ports: Ports) -> Self {
        Self::with_key_cache(ports, CachePolicy::default())
    }

    pub fn with_key_cache(ports: Ports, policy: CachePolicy) -> Self {
        Self {
            keyring: Keyring::new(ports.vault, ports.items.clone(), policy),
            items: ports.items,
            blobs: ports.blobs,
            send_queue: ports.send_queue,
            job_queue: ports.job_queue,
            graph: ports.graph,
            billing_config: crate::domain::BillingConfig::default(),
            policy: privacy::policy::PolicyConfig::default(),
            location: ports.location,
            closure_settle: privacy::closure::SETTLE,
            api_limits: crate::domain::ApiLimits::default(),
            routes: ingest::RouteCache::default(),
            retention: recent::Recent::default(),
            subscriptions: events::SubscriptionCache::default(),
            event_reach: crate::events::guard::Reach::PUBLIC,
            event_first_retry: events::FIRST_RETRY,
            event_client: std::sync::OnceLock::new(),
        }
    }

    /// Takes requests at these rates.
    pub fn with_api_limits(mut self, limits: crate::domain::ApiLimits) -> Self {
        self.api_limits = limits;
        self
    }

    /// Waits `settle` between the erasure's two passes: at least as long as any work begun
    /// before the closure may still write (the longest function timeout, the route cache).
    pub fn with_closure_settle(mut self, settle: std::time::Duration) -> Self {
        self.closure_settle = settle;
        self
    }

    /// Runs under this privacy policy version.
    pub fn with_policy(mut self, policy: privacy::policy::PolicyConfig) -> Self {
        self.policy = policy;
        self
    }

    /// Runs with these plans and billing rules.
    /// Lets webhook deliveries reach what `reach` allows (the local runner's loopback
    /// receivers); deployments keep the default, public `https` only.
    pub fn with_event_reach(mut self, reach: crate::events::guard::Reach) -> Self {
        self.event_reach = reach;
        self
    }

    /// Retries failed deliveries first after `first` (tests: a second, not 30).
    pub fn with_event_first_retry(mut self, first: std::time::Duration) -> Self {
        self.event_first_retry = first;
        self
    }

    pub fn with_billing(mut self, config: crate::domain::BillingConfig) -> Self {
        self.billing_config = config;
        self
    }
}

impl App {
    /// The tenant's keys for `uses` field operations (seals, opens, blind indexes), for the
    /// codecs of [`crate::records`].
    pub(crate) async fn sealer(
        &self,
        tenant: &AccountId,
        uses: u64,
    ) -> Result<Sealer, ServiceError> {
        let keys = self.keyring.checkout(tenant, uses).await?;
        Ok(Sealer::new(tenant.clone(), keys))
    }

    /// The live item at `key`, or [`ServiceError::NotFound`].
    pub(crate) async fn found(
        &self,
        key: &crate::ports::Key,
    ) -> Result<crate::ports::Item, ServiceError> {
        self.items.get(key).await?.ok_or(ServiceError::NotFound)
    }

    /// One page of a query over the tenant's items, each decoded with its keys
    /// (`sealed_per_item`: the sealed fields an item holds at most).
    pub(crate) async fn list_sealed<T>(
        &self,
        tenant: &AccountId,
        query: crate::ports::Query,
        sealed_per_item: u64,
        decode: impl Fn(&Sealer, &crate::ports::Item) -> Result<T, RecordError>,
    ) -> Result<(Vec<T>, Option<crate::ports::Cursor>), ServiceError> {
        let sealer = self
            .sealer(tenant, u64::from(query.limit) * sealed_per_item)
            .await?;
        Ok(crate::records::list(&*self.items, query, |i| decode(&sealer, i)).await?)
    }

    /// The item at `key` decoded with the tenant's keys (`uses`: its sealed fields), or
    /// [`ServiceError::NotFound`].
    pub(crate) async fn found_sealed<T>(
        &self,
        tenant: &AccountId,
        key: &crate::ports::Key,
        uses: u64,
        decode: impl FnOnce(&Sealer, &crate::ports::Item) -> Result<T, RecordError>,
    ) -> Result<T, ServiceError> {
        let item = self.found(key).await?;
        let sealer = self.sealer(tenant, uses).await?;
        Ok(decode(&sealer, &item)?)
    }
}

/// A field the caller got wrong, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found")]
    NotFound,
    #[error("invalid fields: {}", .0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldError>),
    #[error("missing, malformed or revoked API key")]
    Unauthorized,
    #[error("the number is already connected")]
    NumberAlreadyConnected,
    /// Over a rate limit: come back after the window.
    #[error("rate limited ({})", .0.policy)]
    RateLimited(crate::domain::RateLimited),
    /// One of these runs per account at a time.
    #[error("a {0} is already running for this account")]
    AlreadyRunning(&'static str),
    /// The account is closing (or gone): it takes no more work.
    #[error("the account is closing")]
    AccountClosing,
    /// Meta did not confirm, for this token, that the WABA lists the number.
    #[error("the number's ownership was not proven with Meta")]
    NumberNotProven { graph_code: Option<i64> },
    /// Another account holds a number of this WABA.
    #[error("the WABA is connected to another account")]
    WabaConnectedElsewhere,
    /// The caller's role does not allow this.
    #[error("the role does not allow {}", .0.as_str())]
    Forbidden(crate::domain::Permission),
    /// A user with this email exists (in this or another account).
    #[error("a user with this email exists")]
    EmailTaken,
    #[error("the last active API key cannot be revoked")]
    LastApiKey,
    #[error("another contact has this phone or user id")]
    ContactExists {
        existing_id: crate::domain::ContactId,
    },
    #[error("the contact was changed by another request")]
    ContactChanged,
    #[error("the import's file has not been uploaded")]
    ImportNotUploaded,
    #[error("the number is not connected to this account")]
    NumberNotConnected,
    #[error("the number cannot send ({code}): {reason}")]
    NumberStopped { code: i64, reason: String },
    #[error("no contact is this recipient")]
    RecipientNotFound,
    #[error("the recipient has not opted in")]
    RecipientNotOptedIn,
    #[error("the recipient opted out")]
    RecipientOptedOut,
    #[error("outside the 24-hour customer service window")]
    OutsideServiceWindow,
    /// No template of this name in this language under the sending number's WABA, here or
    /// at Meta.
    #[error("no template {name} in {language}")]
    TemplateNotFound { name: String, language: String },
    /// The template exists but Meta does not deliver it in its status.
    #[error("the template {name} is {status}")]
    TemplateNotApproved { name: String, status: String },
    #[error("the broadcast is {0}")]
    BroadcastState(String),
    /// Someone else holds the work (an import's lease); retry later.
    #[error("busy elsewhere")]
    Busy,
    /// Meta answered with an error (`code`), or could not be reached (`None`).
    #[error("graph api: {message}")]
    Graph { code: Option<i64>, message: String },
    /// The subscription or the plan's allowance does not cover the send.
    #[error("payment required: {reason}")]
    PaymentRequired {
        reason: String,
        plan: String,
        state: Option<String>,
        included: u64,
        used: u64,
    },
    /// A billing field held what looks like a card number.
    #[error("card data refused in {field}")]
    CardDataRefused { field: String },
    #[error("blob store: {0}")]
    Blob(String),
    #[error("queue: {0}")]
    Queue(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<RecordError> for ServiceError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Store(e) => ServiceError::Store(e),
            RecordError::Crypto(e) => ServiceError::Crypto(e),
        }
    }
}

impl From<crate::graph::GraphError> for ServiceError {
    fn from(e: crate::graph::GraphError) -> Self {
        match &e {
            crate::graph::GraphError::Api { error, .. } => ServiceError::Graph {
                code: Some(error.code),
                message: error.message.chars().take(300).collect(),
            },
            _ => ServiceError::Graph {
                code: None,
                message: e.to_string(),
            },
        }
    }
}

impl ServiceError {
    pub fn invalid(field: &str, message: &str) -> Self {
        ServiceError::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        }])
    }
}

/// Collects parse results field by field, so a caller hears about every bad field at once.
#[derive(Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn check<T>(&mut self, field: &str, r: Result<T, crate::domain::Invalid>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError {
                    field: field.to_owned(),
                    message: e.0,
                });
                None
            }
        }
    }

    pub fn fail(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    }

    /// An optional field inside [`Fields::finish`]: not given (`None`) stays `None`, given and
    /// parsed (`Some(Some(v))`) is `Some(v)`; given and failed (`Some(None)`) cannot reach
    /// `finish`'s builder, and gives `None` to its `?`.
    pub fn given<T>(field: Option<Option<T>>) -> Option<Option<T>> {
        match field {
            None => Some(None),
            Some(Some(v)) => Some(Some(v)),
            Some(None) => None,
        }
    }

    /// A clearable field inside [`Fields::finish`]: not given stays `None`, `null` is
    /// `Some(None)`, given and parsed is `Some(Some(v))`; given and failed gives `None` to `?`.
    pub fn clearable<T>(field: Option<Option<Option<T>>>) -> Option<Option<Option<T>>> {
        match field {
            None => Some(None),
            Some(None) => Some(Some(None)),
            Some(Some(Some(v))) => Some(Some(Some(v))),
            Some(Some(None)) => None,
        }
    }

    /// `Ok(value)` when every field parsed; the value is built only then.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ServiceError> {
        if self.errors.is_empty() {
            if let Some(v) = build() {
                return Ok(v);
            }
        }
        Err(ServiceError::Invalid(self.errors))
    }
}
