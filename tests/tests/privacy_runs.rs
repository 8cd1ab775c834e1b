//! Privacy use cases on the local adapters: retention runs with an injected clock, policy
//! versions and their notices, the inventory.

use infra::standin::{StandIn, StandInConfig};
use serde_json::json;
use shared::domain::{
    now, AccessToken, AccountId, ApiKeyName, BusinessName, Email, PhoneNumberId, RetentionChanges,
    WabaId,
};
use shared::graph::{GraphClient, GraphConfig};
use shared::services::privacy::policy::PolicyConfig;
use shared::services::{App, MessageFilter, NewAccount, NewNumber, Principal};

const NUMBER: &str = infra::standin::DEMO_PHONE_NUMBER_ID;

/// An app on the local adapters whose Graph API is a stand-in knowing the demo business.
async fn local_app(dir: &std::path::Path) -> (App, StandIn) {
    let (standin, url) = StandIn::start(StandInConfig::default()).await.unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let graph = GraphClient::new(GraphConfig::new(url, shared::graph::DEFAULT_VERSION));
    (shared::testing::local_app_with_graph(dir, graph), standin)
}

async fn tenant(app: &App) -> AccountId {
    let (account, _, _) = app
        .signup(
            NewAccount {
                business_name: BusinessName::parse("Keeper").unwrap(),
                email: Email::parse("keeper@example.com").unwrap(),
                default_region: None,
            },
            ApiKeyName::parse("default").unwrap(),
        )
        .await
        .unwrap();
    app.connect_number(
        &account.id,
        NewNumber {
            phone_number_id: PhoneNumberId::parse(NUMBER).unwrap(),
            waba_id: WabaId::parse(infra::standin::DEMO_WABA_ID).unwrap(),
            display_phone_number: None,
            access_token: AccessToken::parse(infra::standin::DEMO_TOKEN).unwrap(),
        },
    )
    .await
    .unwrap();
    account.id
}

async fn inbound(app: &App, wamid: &str, days_ago: i64) {
    let t = now().unix_timestamp() - days_ago * 86_400;
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "447911123456"}],
        "messages": [{"from": "447911123456", "id": wamid, "timestamp": t.to_string(),
            "type": "text", "text": {"body": "hello"}}]
    }}]}]});
    app.ingest_webhook(payload.to_string().as_bytes())
        .await
        .unwrap();
}

async fn wamids(app: &App, account: &AccountId) -> Vec<String> {
    let (messages, _) = app
        .messages(account, &MessageFilter::default(), 100, None)
        .await
        .unwrap();
    let mut w: Vec<String> = messages.into_iter().filter_map(|m| m.wamid).collect();
    w.sort();
    w
}

#[tokio::test]
async fn a_retention_run_removes_what_the_policy_no_longer_covers() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let account = tenant(&app).await;
    inbound(&app, "wamid.old", 200).await;
    inbound(&app, "wamid.recent", 10).await;
    inbound(&app, "wamid.today", 0).await;
    // Events raised for a webhook endpoint, and their deliveries, one old and one new.
    let owner = shared::services::Principal::system(account.clone());
    let (endpoint, _) = app
        .create_endpoint(
            &owner,
            shared::services::events::NewEndpoint {
                url: shared::domain::EndpointUrl::parse("https://hooks.example.com/in").unwrap(),
                description: String::new(),
                events: shared::domain::EventTypes::parse(["message.received"]).unwrap(),
            },
        )
        .await
        .unwrap();
    let mut events = Vec::new();
    for days in [200, 0] {
        let at = now() - time::Duration::days(days);
        let event = shared::events::Event::new(
            shared::domain::EventId::random(at),
            shared::domain::EventType::MessageReceived,
            at,
            json!({}),
        );
        let far = now().unix_timestamp() + 86_400;
        let writes = [
            shared::records::endpoint::event_item(
                &account,
                &event.id,
                event.kind,
                at,
                vec![1],
                far,
            ),
            shared::records::endpoint::new_delivery(&account, &endpoint.id, &event, at, far),
        ];
        for item in writes {
            app.items.put(item, None).await.unwrap();
        }
        events.push(event.id);
    }
    app.set_retention(
        &account,
        RetentionChanges {
            message_days: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        wamids(&app, &account).await.len(),
        3,
        "TTL alone has not run"
    );

    let report = app.run_retention(now(), 10_000).await.unwrap();
    assert!(report.complete);
    assert_eq!(report.messages_deleted, 1);
    assert_eq!(report.events_deleted, 2, "the old event and its delivery");
    for (event, kept) in events.iter().zip([false, true]) {
        for key in [
            shared::table::event(&account, event),
            shared::table::delivery(&account, &endpoint.id, event),
        ] {
            assert_eq!(
                app.items.get(&key).await.unwrap().is_some(),
                kept,
                "{key:?}"
            );
        }
    }
    assert_eq!(
        wamids(&app, &account).await,
        ["wamid.recent", "wamid.today"]
    );
    assert!(app
        .items
        .get(&shared::table::wamid("wamid.old"))
        .await
        .unwrap()
        .is_none());
    // The same run again changes nothing.
    let again = app.run_retention(now(), 10_000).await.unwrap();
    assert_eq!(again.messages_deleted, 0);
    assert_eq!(
        again.expiries_updated, 0,
        "the policy change was applied once"
    );

    // A shorter policy is applied by the next run.
    app.set_retention(
        &account,
        RetentionChanges {
            message_days: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let report = app.run_retention(now(), 10_000).await.unwrap();
    assert_eq!(report.messages_deleted, 1);
    assert_eq!(wamids(&app, &account).await, ["wamid.today"]);
    // And the clock moving on takes the rest.
    let later = now() + time::Duration::days(6);
    let report = app.run_retention(later, 10_000).await.unwrap();
    assert_eq!(report.messages_deleted, 1);
    assert!(wamids(&app, &account).await.is_empty());
    // Bad policies are refused.
    let bad = app
        .set_retention(
            &account,
            RetentionChanges {
                export_days: Some(0),
                ..Default::default()
            },
        )
        .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn a_run_with_a_small_budget_stops_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let account = tenant(&app).await;
    for i in 0..5 {
        inbound(&app, &format!("wamid.b{i}"), 400).await;
    }
    let first = app.run_retention(now(), 2).await.unwrap();
    assert!(!first.complete);
    assert_eq!(first.messages_deleted, 2);
    let second = app.run_retention(now(), 10_000).await.unwrap();
    assert!(second.complete);
    assert_eq!(second.messages_deleted, 3);
    assert!(wamids(&app, &account).await.is_empty());
}

#[tokio::test]
async fn a_new_policy_version_asks_every_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let account = tenant(&app).await;
    let status = app.policy_status(&account).await.unwrap();
    assert_eq!(
        status.accepted_version.as_deref(),
        Some(status.current_version.as_str()),
        "signing up accepts the policy in force"
    );
    let (notices, _) = app.notices(&account, 50, None).await.unwrap();
    assert!(notices.is_empty());

    let app = app.with_policy(PolicyConfig {
        version: "2027-01-01".into(),
    });
    let (notices, _) = app.notices(&account, 50, None).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].field, "privacy_policy");
    assert_eq!(notices[0].payload["version"], "2027-01-01");
    assert!(notices[0].read_at.is_none());
    // Reading again does not make a second one.
    let (again, _) = app.notices(&account, 50, None).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(app
        .accept_policy(&Principal::system(account.clone()), "2026-11-01")
        .await
        .is_err());
    let status = app
        .accept_policy(&Principal::system(account.clone()), "2027-01-01")
        .await
        .unwrap();
    assert_eq!(status.accepted_version.as_deref(), Some("2027-01-01"));
    let (notices, _) = app.notices(&account, 50, None).await.unwrap();
    assert!(notices[0].read_at.is_some());
    assert!(app.read_notice(&account, "no-such").await.is_err());
}

#[tokio::test]
async fn the_inventory_counts_what_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let account = tenant(&app).await;
    inbound(&app, "wamid.i1", 0).await;
    inbound(&app, "wamid.i2", 0).await;
    let inv = app.inventory(&account).await.unwrap();
    assert!(!inv.counting && inv.counted_at.is_some());
    let held = inv.held.unwrap();
    assert_eq!(held.contacts, 1);
    assert_eq!(held.messages.inbound, 2);
    assert_eq!(held.messages.outbound, 0);
    assert_eq!(held.numbers, 1);
    assert_eq!(held.api_keys, 1);
    assert_eq!(held.conversations, 1);
    assert_eq!(inv.retention.message_days, 365);
    assert_eq!(inv.storage.kind, "local");
    assert_eq!(inv.policy.current_version, "2026-11-01");
    assert!(inv.open_requests.is_empty());
    let export = app
        .request_export(&Principal::system(account.clone()), None)
        .await
        .unwrap();
    let inv = app.inventory(&account).await.unwrap();
    assert_eq!(inv.held.unwrap().exports, 1);
    assert_eq!(inv.open_requests.len(), 1);
    assert_eq!(inv.open_requests[0].id, export.id.to_string());
    assert_eq!(inv.open_requests[0].status, "queued");
}

/// An account too large to count within a request is counted by a job; requests meanwhile
/// say so, and answer the job's count once it is stored.
#[tokio::test]
async fn a_large_account_is_counted_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let account = tenant(&app).await;
    inbound(&app, "wamid.b1", 0).await;
    inbound(&app, "wamid.b2", 0).await;
    let small = app.inventory(&account).await.unwrap();

    // A budget of two items: too small to count here.
    let first = app.inventory_within(&account, 2).await.unwrap();
    assert!(first.counting);
    assert_eq!((first.held, first.counted_at), (None, None));
    let again = app.inventory_within(&account, 2).await.unwrap();
    assert!(again.counting);
    let jobs = app
        .job_queue
        .receive(
            10,
            std::time::Duration::from_secs(30),
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one count at a time");
    let job = shared::services::Job::parse(&jobs[0].body).unwrap();
    assert_eq!(
        job,
        shared::services::Job::CountInventory {
            account_id: account.clone()
        }
    );
    app.run_job(&job, &jobs[0].id, None).await.unwrap();

    let counted = app.inventory_within(&account, 2).await.unwrap();
    assert!(!counted.counting, "a fresh count is answered as it is");
    assert!(counted.counted_at.is_some());
    assert_eq!(
        counted.held, small.held,
        "the job counts what a request counts"
    );

    // While the stored count is fresh it is the answer: a message arriving now shows in the
    // next count (a request under the budget counts it at once).
    inbound(&app, "wamid.b3", 0).await;
    let again = app.inventory_within(&account, 2).await.unwrap();
    assert_eq!(again.held, small.held);
    let direct = app.inventory(&account).await.unwrap();
    assert_eq!(direct.held.unwrap().messages.inbound, 3);
}

/// The audit entry of a change is written by the use case itself: a caller that is not an HTTP
/// handler (a job, a tool, this test) leaves it too, naming who acted.
#[tokio::test]
async fn changes_are_audited_whoever_calls() {
    use shared::domain::{Actor, ApiKeyId};
    use shared::services::NumberChanges;
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let account = tenant(&app).await;
    let number = PhoneNumberId::parse(NUMBER).unwrap();
    let by_key = Principal::api_key(account.clone(), ApiKeyId::generate());
    let changes = NumberChanges {
        messages_per_second: Some(100),
        ..Default::default()
    };
    app.update_number(&by_key, &number, changes).await.unwrap();
    app.disconnect_number(&Principal::system(account.clone()), &number)
        .await
        .unwrap();
    let (log, _) = app.audit_log(&account, 10, None).await.unwrap();
    let seen: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|e| {
            let target = e.target.as_ref().map(|t| t.id.as_str());
            (e.action.as_str(), e.actor.as_str(), target)
        })
        .collect();
    let Actor::ApiKey(key) = &by_key.actor else {
        unreachable!()
    };
    let key = key.to_string();
    assert_eq!(
        seen,
        [
            ("number_disconnected", "system", Some(NUMBER)),
            ("number_corrected", key.as_str(), Some(NUMBER)),
        ]
    );
}

/// Closing revokes every key before it answers, not a first page of them.
#[tokio::test]
async fn closing_revokes_every_key_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let (account, _, first) = app
        .signup(
            NewAccount {
                business_name: BusinessName::parse("Many Keys").unwrap(),
                email: Email::parse("keys@example.com").unwrap(),
                default_region: None,
            },
            ApiKeyName::parse("default").unwrap(),
        )
        .await
        .unwrap();
    let owner = app.authenticate(first.expose()).await.unwrap();
    let mut secrets = vec![first];
    for i in 0..1_200 {
        let (_, secret) = app
            .create_api_key(&owner, ApiKeyName::parse(&format!("key {i}")).unwrap())
            .await
            .unwrap();
        secrets.push(secret);
    }
    app.close_account(&owner, "DELETE").await.unwrap();
    for s in &secrets {
        assert!(
            app.authenticate(s.expose()).await.is_err(),
            "a key still works after the close request ({} keys)",
            secrets.len()
        );
    }
    assert_eq!(secrets.len(), 1_201);
    let _ = account;
}

/// Two erasure jobs at once (retention queues one for any closure it finds, and a queue may
/// deliver a message twice) erase the tenant once: the receipt counts each item once.
#[tokio::test]
async fn two_erasure_jobs_at_once_count_each_item_once() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _standin) = local_app(dir.path()).await;
    let account = tenant(&app).await;
    for i in 0..30 {
        inbound(&app, &format!("wamid.twice{i}"), 0).await;
    }
    let token = app
        .close_account(&Principal::system(account.clone()), "DELETE")
        .await
        .unwrap();
    let job = shared::services::Job::EraseAccount {
        account_id: account.clone(),
    };
    let receipt = loop {
        let (a, b) = tokio::join!(
            app.run_job(&job, "first", None),
            app.run_job(&job, "second", None)
        );
        a.unwrap();
        b.unwrap();
        let receipt = app.closure_receipt(&token).await.unwrap();
        if receipt.state == "closed" {
            break receipt;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(receipt.deleted.get("message"), Some(&30), "{receipt:?}");
    assert_eq!(receipt.deleted.get("number"), Some(&1), "{receipt:?}");
    assert_eq!(receipt.deleted.get("apikey"), Some(&1), "{receipt:?}");
    assert_eq!(receipt.deleted.get("contact"), Some(&1), "{receipt:?}");
}
