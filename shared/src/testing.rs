//! Helpers for tests of this crate and the crates above it.

use std::path::Path;
use std::sync::Arc;

use crate::adapters::local::LocalBackend;
use crate::ports::{Condition, Item, ItemStore, Key, Page, Query, StoreError, Update, Write};
use crate::services::App;

/// Tests wait this long between an erasure's two passes (work in them takes milliseconds).
pub const TEST_CLOSURE_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// An [`App`] on the local adapters under `dir` (blob links are not served).
pub fn local_app(dir: &Path) -> App {
    local_app_with_graph(dir, unreachable_graph())
}

/// [`local_app`] sending through `graph`.
pub fn local_app_with_graph(dir: &Path, graph: crate::graph::GraphClient) -> App {
    let url = url::Url::parse("http://127.0.0.1:9/").expect("static url");
    App::new(
        LocalBackend::open(dir, url, graph)
            .expect("open local backend")
            .ports,
    )
    .with_closure_settle(TEST_CLOSURE_SETTLE)
}

/// An [`App`] on the AWS adapters against the emulators of `infra/test.sh`, with its own
/// table, key, bucket and queues. Returns the clients and settings too, for raw inspection.
#[cfg(feature = "aws")]
pub async fn aws_app() -> (
    App,
    crate::adapters::aws::AwsClients,
    crate::adapters::aws::AwsSettings,
) {
    aws_app_with_graph(url::Url::parse("http://127.0.0.1:9/").expect("static url")).await
}

/// [`aws_app`] sending to the Graph API at `graph`.
#[cfg(feature = "aws")]
pub async fn aws_app_with_graph(
    graph: url::Url,
) -> (
    App,
    crate::adapters::aws::AwsClients,
    crate::adapters::aws::AwsSettings,
) {
    use crate::adapters::aws::{self, AwsClients, AwsSettings, DynamoItemStore, SqsQueue};
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok_and(|v| v.starts_with("http://127.0.0.1")),
        "the AWS adapters are tested against local emulators: run infra/test.sh"
    );
    let clients = AwsClients::from_env(true);
    let name = |p: &str| format!("{p}-{}", ulid::Ulid::new().to_string().to_lowercase());
    let table = name("table");
    DynamoItemStore::create_table(&clients.dynamodb, &table)
        .await
        .expect("create table");
    let key = clients.kms.create_key().send().await.expect("create key");
    let bucket = name("bucket");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let (send_queue_url, _) =
        SqsQueue::create_with_dead_letter_queue(&clients.sqs, &name("sends"), 5)
            .await
            .expect("create queue");
    let (job_queue_url, _) =
        SqsQueue::create_with_dead_letter_queue(&clients.sqs, &name("jobs"), 5)
            .await
            .expect("create queue");
    let settings = AwsSettings {
        table,
        kms_key_id: key
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .expect("key id"),
        bucket,
        send_queue_url,
        job_queue_url,
        s3_path_style: true,
        graph: crate::graph::GraphConfig::new(graph, crate::graph::DEFAULT_VERSION),
    };
    let app = App::new(aws::ports(&clients, &settings)).with_closure_settle(TEST_CLOSURE_SETTLE);
    (app, clients, settings)
}

/// An [`App`] over the same resources as one of [`aws_app`], whose table client refuses what
/// `policy` (a function's role in template.yaml) does not grant: the function's code run
/// within its role.
#[cfg(feature = "aws")]
pub fn aws_app_within(
    clients: &crate::adapters::aws::AwsClients,
    settings: &crate::adapters::aws::AwsSettings,
    policy: crate::adapters::aws::TablePolicy,
) -> App {
    use crate::adapters::aws::{self, DynamoItemStore, Sdk};
    let mut ports = aws::ports(clients, settings);
    ports.items = std::sync::Arc::new(DynamoItemStore::new(
        Sdk::from_env(true).dynamodb_within(policy),
        &settings.table,
    ));
    App::new(ports).with_closure_settle(TEST_CLOSURE_SETTLE)
}

/// The backend the HTTP tests run on: local unless `WHATATALK_TEST_BACKEND=aws` (set by
/// `infra/test.sh` for a second run of the same tests).
pub async fn test_app(dir: &Path) -> App {
    #[cfg(feature = "aws")]
    if std::env::var("WHATATALK_TEST_BACKEND").is_ok_and(|b| b == "aws") {
        return aws_app().await.0;
    }
    local_app(dir)
}

/// [`test_app`] with the Graph API at `graph` (a stand-in).
pub async fn test_app_with_graph(dir: &Path, graph: url::Url) -> App {
    #[cfg(feature = "aws")]
    if std::env::var("WHATATALK_TEST_BACKEND").is_ok_and(|b| b == "aws") {
        return aws_app_with_graph(graph).await.0;
    }
    local_app_with_graph(
        dir,
        crate::graph::GraphClient::new(crate::graph::GraphConfig::new(
            graph,
            crate::graph::DEFAULT_VERSION,
        )),
    )
}

/// A Graph client that reaches nothing (port 9 is discard), for tests that send nowhere.
pub fn unreachable_graph() -> crate::graph::GraphClient {
    let url = url::Url::parse("http://127.0.0.1:9/").expect("static url");
    crate::graph::GraphClient::new(crate::graph::GraphConfig::new(
        url,
        crate::graph::DEFAULT_VERSION,
    ))
}

/// The `i`th seeded inbound text message at `at`, from one of `n_contacts` contacts.
fn seeded_message(
    i: usize,
    at: crate::domain::Timestamp,
    number: &crate::domain::PhoneNumberId,
    contact: &crate::domain::ContactId,
    n_contacts: usize,
) -> crate::domain::Message {
    use crate::domain::{Body, Message, MessageId, MessageStatus};
    let from = format!("4479{:08}", i % n_contacts);
    let raw = serde_json::json!({
        "from": from,
        "id": format!("wamid.seed{i:08}"),
        "timestamp": at.unix_timestamp().to_string(),
        "type": "text",
        "text": {"body": format!("seeded message {i} with a body of a typical length")}
    });
    Message {
        wamid: Some(format!("wamid.seed{i:08}")),
        ..Message::new(
            MessageId::generate_at(at),
            number.clone(),
            contact.clone(),
            from,
            Body::Inbound {
                kind: "text".into(),
                raw,
            },
            MessageStatus::Received,
            at,
        )
    }
}

/// Stores `count` inbound text messages spread over `contacts`, written straight to the store in
/// large transactions (benchmarks of what reads them: exports). Each message is sealed as the
/// service seals it; their times are spread over the last `count` seconds.
pub async fn seed_messages(
    app: &App,
    account: &crate::domain::AccountId,
    number: &crate::domain::PhoneNumberId,
    contacts: &[crate::domain::ContactId],
    count: usize,
) -> Result<(), crate::services::ServiceError> {
    let start = crate::domain::now() - time::Duration::seconds(count as i64);
    let mut writes = Vec::with_capacity(1000);
    for i in 0..count {
        let at = start + time::Duration::seconds(i as i64);
        let message = seeded_message(i, at, number, &contacts[i % contacts.len()], contacts.len());
        writes.extend(app.message_items(account, &message).await?.puts());
        if writes.len() >= 999 {
            app.items.transact(std::mem::take(&mut writes)).await?;
        }
    }
    if !writes.is_empty() {
        app.items.transact(writes).await?;
    }
    Ok(())
}

/// One inbound message from each contact, and each contact's conversation as the webhook
/// would leave it (last message, unread, window): an inbox of `contacts.len()` conversations
/// (the inbox benchmark). Messages are a minute apart, the last one now.
pub async fn seed_conversations(
    app: &App,
    account: &crate::domain::AccountId,
    number: &crate::domain::PhoneNumberId,
    contacts: &[crate::domain::ContactId],
) -> Result<(), crate::services::ServiceError> {
    use crate::ports::Write;
    let n = contacts.len();
    let start = crate::domain::now() - time::Duration::minutes(n as i64);
    for (i, contact) in contacts.iter().enumerate() {
        let at = start + time::Duration::minutes(i as i64);
        let message = seeded_message(i, at, number, contact, n);
        app.items
            .transact(
                app.message_items(account, &message)
                    .await?
                    .puts()
                    .into_iter()
                    .chain([Write::Update(
                        crate::records::conversation::unread_increment(account, contact),
                    )])
                    .collect(),
            )
            .await?;
        let preview = format!("seeded message {i} with a body of a typical length");
        app.note_in_conversation(account, &message, Some(&preview))
            .await?;
    }
    Ok(())
}

/// Keeps `account`'s message `id` where messages were stored before they were spread over
/// shards (the tenant's own partition), sealed for that place, and takes it out of its shard:
/// a message stored before the shards, for tests of what reads and writes such messages.
pub async fn keep_before_shards(
    app: &App,
    account: &crate::domain::AccountId,
    id: &crate::domain::MessageId,
) -> Result<(), crate::services::ServiceError> {
    use crate::ports::Write;
    use crate::records::message;
    let m = app.message(account, id).await?;
    let sealer = app.sealer(account, message::SEALED).await?;
    let expires_at = app.message_expiry(account, m.created_at).await?;
    let before = crate::table::message_before_shards(account, id);
    let items = message::to_items_at(&sealer, &m, expires_at, before)?;
    let now = [
        crate::table::message(account, id),
        crate::table::message_content(account, id),
    ];
    let writes = now
        .into_iter()
        .map(|key| Write::Delete {
            key,
            condition: None,
        })
        .chain(items.puts())
        .collect();
    app.items.transact(writes).await?;
    Ok(())
}

/// The built-in plans with the largest one as the default: benchmarks and load tests send
/// and hold past any free plan's limits.
pub fn unlimited_billing() -> crate::domain::BillingConfig {
    let mut config = crate::domain::BillingConfig::default();
    if let Some(p) = config
        .plans
        .iter()
        .filter(|p| p.overage.is_some())
        .max_by_key(|p| p.included_template_messages)
    {
        config.default_plan = p.id.clone();
    }
    config
}

/// What a test does at one point of an item store's traffic (see [`Hooked`]).
#[async_trait::async_trait]
pub trait StoreHook: Send + Sync {
    /// After a put of the item at `key` succeeded.
    async fn after_put(&self, _key: &Key) {}
    /// Before a transaction of `writes` goes to the store.
    async fn before_transact(&self, _writes: &[Write]) {}
}

/// An item store that passes every call to the real one and lets a test act in between: a
/// race made to happen at one exact point instead of by chance.
pub struct Hooked<H> {
    inner: Arc<dyn ItemStore>,
    pub hook: H,
}

impl<H: StoreHook> Hooked<H> {
    pub fn new(inner: Arc<dyn ItemStore>, hook: H) -> Self {
        Self { inner, hook }
    }
}

#[async_trait::async_trait]
impl<H: StoreHook> ItemStore for Hooked<H> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = item.key.clone();
        self.inner.put(item, condition).await?;
        self.hook.after_put(&key).await;
        Ok(())
    }
    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        self.inner.update(update).await
    }
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.batch_get(keys).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.hook.before_transact(&writes).await;
        self.inner.transact(writes).await
    }
    fn max_transaction_writes(&self) -> usize {
        self.inner.max_transaction_writes()
    }
}
