//! The sender on its own: driven with queue message bodies as the Lambda and the local runner
//! get them, against the Graph stand-in; on SQS (moto) with partial batch failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use infra::standin::{StandIn, StandInConfig};
use shared::domain::{AccountId, ApiKeyName, BusinessName, Email, PhoneNumber, PhoneNumberId};
use shared::graph::messages::{Content, Language, LanguagePolicy, Template};
use shared::graph::{GraphClient, GraphConfig};
use shared::ports::{Condition, Key, Query, Update, Value};
use shared::services::{
    App, ConsentInput, NewAccount, NewContact, NewMessage, NewNumber, Recipient, SenderSettings,
};
use shared::testing::{Hooked, StoreHook};

const NUMBER: &str = infra::standin::DEMO_PHONE_NUMBER_ID;

async fn standin() -> (StandIn, GraphClient, url::Url) {
    let (standin, url) = StandIn::start(StandInConfig {
        pair_interval_ms: 0,
        ..StandInConfig::default()
    })
    .await
    .unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let graph = GraphClient::new(GraphConfig::new(url.clone(), "v23.0"));
    (standin, graph, url)
}

/// An account with a number and `n` opted-in contacts; returns their ids.
async fn account(app: &App, n: usize) -> (AccountId, Vec<shared::domain::ContactId>) {
    let new = NewAccount {
        business_name: BusinessName::parse("S").unwrap(),
        email: Email::parse("s@example.com").unwrap(),
        default_region: None,
    };
    let account = app
        .signup(new, ApiKeyName::parse("k").unwrap())
        .await
        .unwrap()
        .0
        .id;
    let number = NewNumber {
        phone_number_id: PhoneNumberId::parse(NUMBER).unwrap(),
        waba_id: shared::domain::WabaId::parse(infra::standin::DEMO_WABA_ID).unwrap(),
        display_phone_number: None,
        access_token: shared::domain::AccessToken::parse(infra::standin::DEMO_TOKEN).unwrap(),
    };
    app.connect_number(&account, number).await.unwrap();
    let mut contacts = Vec::new();
    for i in 0..n {
        let c = NewContact {
            phone: Some(PhoneNumber::parse(&format!("+4479111250{i:02}"), None).unwrap()),
            consent: Some(ConsentInput {
                opted_in: true,
                source: None,
                text: None,
            }),
            ..Default::default()
        };
        contacts.push(app.create_contact(&account, c).await.unwrap().id);
    }
    (account, contacts)
}

/// What a test of the sender runs on: the stand-in, a local app talking to it (its files in
/// `_dir`, kept as long as the test holds it) and an account of opted-in contacts.
struct World {
    standin: StandIn,
    app: App,
    account: AccountId,
    contacts: Vec<shared::domain::ContactId>,
    _dir: tempfile::TempDir,
}

async fn world(contacts: usize) -> World {
    let (standin, graph, _) = standin().await;
    let dir = tempfile::tempdir().unwrap();
    let app = shared::testing::local_app_with_graph(dir.path(), graph);
    let (account, contacts) = account(&app, contacts).await;
    World {
        standin,
        app,
        account,
        contacts,
        _dir: dir,
    }
}

fn template() -> Content {
    Content::Template {
        template: Template {
            name: "hello".into(),
            language: Language {
                policy: Some(LanguagePolicy::Deterministic),
                code: "en".into(),
            },
            components: vec![],
        },
    }
}

async fn queue(
    app: &App,
    account: &AccountId,
    contact: &shared::domain::ContactId,
) -> shared::domain::MessageId {
    let new = NewMessage {
        from: PhoneNumberId::parse(NUMBER).unwrap(),
        to: Recipient::Contact(contact.clone()),
        content: template(),
        reply_to: None,
    };
    app.send_message(account, new).await.unwrap().id
}

/// The bodies of the send tasks waiting in the queue (up to 10).
async fn queued_tasks(app: &App) -> Vec<String> {
    let tasks = app
        .send_queue
        .receive(10, Duration::from_secs(30), Duration::from_secs(1))
        .await
        .unwrap();
    tasks.into_iter().map(|t| t.body).collect()
}

/// The sender on these task bodies, with Meta's published limits.
async fn handle(app: &App, bodies: &[String]) -> Vec<sender::Handled> {
    let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
    sender::handle(app, &bodies, &SenderSettings::default()).await
}

#[tokio::test]
async fn a_crash_after_the_claim_ends_unknown_and_is_not_resent() {
    let World {
        standin,
        app,
        account,
        contacts,
        _dir,
    } = world(1).await;
    let id = queue(&app, &account, &contacts[0]).await;
    // The sender that claimed it died: status sending, claimed long ago, nothing sent.
    let claimed =
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64 - 600_000;
    app.items
        .update(
            Update::new(shared::table::message(&account, &id))
                .set("status", Value::S("sending".into()))
                .set("claimed_at", Value::N(claimed))
                .when(Condition::Equals(
                    "status".into(),
                    Value::S("queued".into()),
                )),
        )
        .await
        .unwrap();
    let tasks = queued_tasks(&app).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(handle(&app, &tasks).await, [sender::Handled::Ack]);
    let message = app.message(&account, &id).await.unwrap();
    assert_eq!(message.status, shared::domain::MessageStatus::Unknown);
    assert!(standin.requests().is_empty(), "never sent after the crash");
    // Delivered again, it stays as it is.
    assert_eq!(handle(&app, &tasks).await, [sender::Handled::Ack]);
    assert!(standin.requests().is_empty());
}

/// The first time the sender writes a wamid's lookup, Meta's `delivered` status for it comes
/// in before anything else is written: the status overtakes the outcome, as it can when Meta
/// answers the send and posts the status at once.
struct StatusesOvertake {
    app: OnceLock<Arc<App>>,
    fired: AtomicBool,
}

#[async_trait::async_trait]
impl StoreHook for StatusesOvertake {
    async fn after_put(&self, key: &Key) {
        if key.sk != "WAMID" || self.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        let wamid = key.pk.trim_start_matches("WAMID#");
        let status = serde_json::json!({"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
                "statuses": [{"id": wamid, "status": "delivered",
                    "timestamp": time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
                    "recipient_id": "447911125000"}]}}]}]});
        let app = self.app.get().expect("app set");
        let report = app
            .ingest_webhook(status.to_string().as_bytes())
            .await
            .expect("status ingested");
        assert_eq!(
            report.pending, 0,
            "the lookup routes the status to its message"
        );
    }
}

#[tokio::test]
async fn a_status_that_overtakes_the_outcome_still_leaves_the_wamid_and_the_count() {
    let (_standin, graph, _) = standin().await;
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::parse("http://127.0.0.1:9/").unwrap();
    let mut ports = shared::adapters::local::LocalBackend::open(dir.path(), url, graph)
        .unwrap()
        .ports;
    let store = Arc::new(Hooked::new(
        ports.items.clone(),
        StatusesOvertake {
            app: OnceLock::new(),
            fired: AtomicBool::new(false),
        },
    ));
    ports.items = store.clone();
    let app = Arc::new(App::new(ports));
    assert!(store.hook.app.set(app.clone()).is_ok());
    let (account, contacts) = account(&app, 1).await;
    let id = queue(&app, &account, &contacts[0]).await;
    let tasks = queued_tasks(&app).await;
    assert_eq!(handle(&app, &tasks).await, [sender::Handled::Ack]);
    assert!(
        store.hook.fired.load(Ordering::SeqCst),
        "the status came in between"
    );
    let message = app.message(&account, &id).await.unwrap();
    assert_eq!(message.status, shared::domain::MessageStatus::Delivered);
    assert!(
        message.wamid.is_some(),
        "the wamid is recorded: {message:?}"
    );
    let month = shared::domain::month_of(shared::domain::now());
    let usage = app.usage(&account, &month).await.unwrap();
    assert_eq!(usage.ours.messages_sent, 1);
}

#[tokio::test]
async fn a_malformed_task_fails_alone() {
    let World {
        standin,
        app,
        account,
        contacts,
        _dir,
    } = world(2).await;
    queue(&app, &account, &contacts[0]).await;
    queue(&app, &account, &contacts[1]).await;
    let mut tasks = queued_tasks(&app).await;
    tasks.insert(1, "{\"not\": \"a task\"}".to_owned());
    let handled = handle(&app, &tasks).await;
    assert_eq!(handled[0], sender::Handled::Ack);
    assert!(matches!(handled[1], sender::Handled::Fail(_)));
    assert_eq!(handled[2], sender::Handled::Ack);
    assert_eq!(standin.accepted().len(), 2);
}

/// A batch's sends count in one write per account (the month's `sent` lands in one shard),
/// and every one of them counts.
#[tokio::test]
async fn a_batchs_sends_count_once_per_account() {
    let World {
        standin,
        app,
        account,
        contacts,
        _dir,
    } = world(5).await;
    for c in &contacts {
        queue(&app, &account, c).await;
    }
    let tasks = queued_tasks(&app).await;
    assert_eq!(tasks.len(), 5);
    let handled = handle(&app, &tasks).await;
    assert!(handled.iter().all(|h| *h == sender::Handled::Ack));
    assert_eq!(standin.accepted().len(), 5);
    let month = shared::domain::month_of(shared::domain::now());
    assert_eq!(
        app.usage(&account, &month)
            .await
            .unwrap()
            .ours
            .messages_sent,
        5
    );
    let page = app
        .items
        .query(
            Query::partition(shared::table::account_partition(&account))
                .begins_with(format!("USAGE#{month}")),
        )
        .await
        .unwrap();
    let counted: Vec<_> = page.items.iter().filter_map(|i| i.opt_n("sent")).collect();
    assert_eq!(counted, [5], "one write for the batch");
}

/// On SQS (moto): tasks received from the real queue, a malformed one among them, and the
/// Lambda handler's partial batch response naming only that one; the handler runs within the
/// sender's role (template.yaml).
#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqs_partial_batch_failures_name_only_the_bad_message() {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    use lambda_runtime::{Context, LambdaEvent};

    let (standin, _, url) = standin().await;
    let (app, clients, settings) = shared::testing::aws_app_with_graph(url).await;
    let (account, contacts) = account(&app, 3).await;
    for c in &contacts {
        queue(&app, &account, c).await;
    }
    clients
        .sqs
        .send_message()
        .queue_url(&settings.send_queue_url)
        .message_body("definitely not a task")
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for _ in 0..10 {
        let got = clients
            .sqs
            .receive_message()
            .queue_url(&settings.send_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id().map(str::to_owned);
            record.receipt_handle = m.receipt_handle().map(str::to_owned);
            record.body = m.body().map(str::to_owned);
            records.push(record);
        }
        if records.len() >= 4 {
            break;
        }
    }
    assert_eq!(records.len(), 4);
    let bad = records
        .iter()
        .find(|r| r.body.as_deref() == Some("definitely not a task"))
        .unwrap()
        .message_id
        .clone()
        .unwrap();
    let mut event = SqsEvent::default();
    event.records = records;
    // The sender's code within the sender's role.
    let within = shared::testing::aws_app_within(
        &clients,
        &settings,
        shared::adapters::aws::table_policy::SENDER,
    );
    let response = sender::lambda::handle(
        &within,
        &SenderSettings::default(),
        LambdaEvent::new(event, Context::default()),
    )
    .await
    .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [bad]);
    assert_eq!(standin.accepted().len(), 3);
}

/// The sample event, pointed at real messages: the tasks are sent, the malformed one fails.
#[cfg(feature = "aws")]
#[tokio::test]
async fn the_sample_sqs_event_is_handled() {
    use aws_lambda_events::event::sqs::SqsEvent;
    use lambda_runtime::{Context, LambdaEvent};

    let World {
        standin,
        app,
        account,
        contacts,
        _dir,
    } = world(2).await;
    let first = queue(&app, &account, &contacts[0]).await;
    let second = queue(&app, &account, &contacts[1]).await;
    let sample = include_str!("../../../events/sender/send-tasks.json")
        .replace("acc_01JD0000000000000000000000", &account.to_string())
        .replace("msg_01JD0000000000000000000001", &first.to_string())
        .replace("msg_01JD0000000000000000000002", &second.to_string());
    let event: SqsEvent = serde_json::from_str(&sample).unwrap();
    let response = sender::lambda::handle(
        &app,
        &SenderSettings::default(),
        LambdaEvent::new(event, Context::default()),
    )
    .await
    .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["8f2c1a4e-1d5b-4a61-9a38-2f0f5b0c7d13"]);
    assert_eq!(standin.accepted().len(), 2);
    for id in [first, second] {
        assert_eq!(
            app.message(&account, &id).await.unwrap().status,
            shared::domain::MessageStatus::Sent
        );
    }
}

/// Messages a batch cannot send within its short wait for tokens come back one token apart:
/// all at once, they would find the bucket's few tokens and go round again (at 1 msg/s a
/// broadcast sent one message every 5–7 s that way).
#[tokio::test]
async fn messages_beyond_the_bucket_come_back_one_token_apart() {
    let World {
        standin: _standin,
        app,
        account,
        contacts,
        _dir,
    } = world(6).await;
    let number = PhoneNumberId::parse(NUMBER).unwrap();
    app.items
        .update(
            Update::new(shared::table::number(&account, &number))
                .set("messages_per_second", Value::N(1))
                .when(Condition::Exists),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for c in &contacts {
        tasks.push(shared::services::SendTask {
            account_id: account.clone(),
            message_id: queue(&app, &account, c).await,
        });
    }
    let settings = SenderSettings {
        pair_interval: Duration::ZERO,
        ..SenderSettings::default()
    };
    let out = app.deliver(&tasks, &settings).await.unwrap();
    let delays: Vec<Duration> = out
        .iter()
        .filter_map(|d| match d {
            shared::services::Delivery::RetryAfter(d) => Some(*d),
            shared::services::Delivery::Done => None,
        })
        .collect();
    // The first goes at once and one or two more within the batch's two-second wait.
    assert!((3..=4).contains(&delays.len()), "{out:?}");
    assert!(delays[0] <= Duration::from_millis(1_000), "{delays:?}");
    for pair in delays.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_secs(1), "{delays:?}");
    }
}

/// A broadcast canceled while its messages wait: the sender ends each one `canceled` (a status
/// of its own in the store) and sends nothing; the API shows them as v1 always has, `failed`
/// with error 0, and lists them under `status=failed`; the broadcast counts no failure.
#[tokio::test]
async fn a_canceled_broadcasts_waiting_messages_end_canceled_unsent() {
    use shared::domain::{Audience, MessageStatus};
    use shared::services::{Job, MessageFilter, NewBroadcast};
    let World {
        standin,
        app,
        account,
        contacts,
        _dir,
    } = world(2).await;
    let Content::Template { template } = template() else {
        unreachable!("a template")
    };
    let b = app
        .create_broadcast(
            &account,
            NewBroadcast {
                from: PhoneNumberId::parse(NUMBER).unwrap(),
                template,
                personalization: vec![],
                audience: Audience::Contacts(contacts.clone()),
                send_at: None,
            },
        )
        .await
        .unwrap();
    let fanout = app
        .job_queue
        .receive(1, Duration::from_secs(30), Duration::from_secs(1))
        .await
        .unwrap();
    let job = Job::parse(&fanout[0].body).unwrap();
    app.run_job(&job, &fanout[0].receipt, None).await.unwrap();
    app.cancel_broadcast(&account, &b.id).await.unwrap();
    let tasks = queued_tasks(&app).await;
    assert_eq!(tasks.len(), 2);
    let handled = handle(&app, &tasks).await;
    assert_eq!(handled, [sender::Handled::Ack, sender::Handled::Ack]);
    assert!(standin.requests().is_empty(), "nothing sent");

    let filter = MessageFilter {
        status: Some(MessageStatus::Failed),
    };
    let (listed, _) = app.messages(&account, &filter, 50, None).await.unwrap();
    assert_eq!(listed.len(), 2, "status=failed lists them");
    for m in listed {
        assert_eq!(m.status, MessageStatus::Canceled, "stored as canceled");
        assert!(m.error.is_none(), "no error stands in for the state");
        let view = serde_json::to_value(shared::views::MessageView::from(m)).unwrap();
        assert_eq!(view["status"], "failed");
        assert_eq!(view["error"]["code"], 0);
        assert_eq!(view["error"]["title"], "The broadcast was canceled");
        let last = view["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["status"].as_str(), last["error_code"].as_i64()),
            (Some("failed"), Some(0))
        );
    }
    let b = app.broadcast(&account, &b.id).await.unwrap();
    assert_eq!((b.counts.queued, b.counts.sent, b.counts.failed), (2, 0, 0));
}

/// A message stored before the messages were spread over shards (in the tenant's own
/// partition, sealed for it) is sent, recorded, found, listed with newer ones and moved by its
/// statuses where it is.
#[tokio::test]
async fn a_message_stored_before_the_shards_is_sent_and_kept_where_it_is() {
    let World {
        standin,
        app,
        account,
        contacts,
        _dir,
    } = world(2).await;
    let old = queue(&app, &account, &contacts[0]).await;
    shared::testing::keep_before_shards(&app, &account, &old)
        .await
        .unwrap();
    let before = shared::table::message_before_shards(&account, &old);
    let handled = handle(&app, &queued_tasks(&app).await).await;
    assert_eq!(handled.len(), 1);
    assert_eq!(standin.accepted().len(), 1, "sent once");
    let sent = app.message(&account, &old).await.unwrap();
    assert_eq!(sent.status, shared::domain::MessageStatus::Sent);
    let wamid = sent.wamid.clone().expect("its wamid recorded");
    let now = shared::table::message(&account, &old);
    assert!(app.items.get(&now).await.unwrap().is_none(), "not moved");
    assert!(app.items.get(&before).await.unwrap().is_some());

    // Listed with a newer message of the shards, newest first.
    let new = queue(&app, &account, &contacts[1]).await;
    let filter = shared::services::MessageFilter::default();
    let (listed, _) = app.messages(&account, &filter, 10, None).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, [new.clone(), old.clone()]);
    let (first, next) = app.messages(&account, &filter, 1, None).await.unwrap();
    assert_eq!(first[0].id, new);
    let (second, _) = app.messages(&account, &filter, 1, next).await.unwrap();
    assert_eq!(second[0].id, old);

    // Meta's status reaches it through its wamid.
    let to = sent.address.trim_start_matches('+').to_owned();
    let webhook = infra::standin::status_webhook(NUMBER, &to, &wamid, "delivered", "template");
    app.ingest_webhook(webhook.to_string().as_bytes())
        .await
        .unwrap();
    let delivered = app.message(&account, &old).await.unwrap();
    assert_eq!(delivered.status, shared::domain::MessageStatus::Delivered);
    assert!(app.items.get(&now).await.unwrap().is_none());
}
