//! Account closure end to end, on the local runner and on the AWS adapters (DynamoDB Local,
//! moto): an account with data of every kind is closed; its keys stop at once; the erasure job
//! leaves nothing of the tenant in a raw scan of the table nor in a listing of the bucket; the
//! data key is gone, so a sealed value saved beforehand no longer opens; the receipt's counts
//! equal a raw count of what the tenant held, and it is read once. Before that, the export is
//! compared record by record with what the API shows.

mod support;

use std::time::Duration;

use infra::standin::StandIn;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::crypto::FieldRef;
use shared::domain::{AccountId, ContactId};
use support::Client;

const NUMBER: &str = "106540352242922";
const APP_SECRET: &str = "e2e-app-secret";

struct Stack {
    client: Client,
    running: infra::Running,
    standin: StandIn,
    /// Raw access to the table and the bucket, on AWS.
    #[cfg(feature = "aws")]
    aws: Option<(
        shared::adapters::aws::AwsClients,
        shared::adapters::aws::AwsSettings,
    )>,
    _dir: tempfile::TempDir,
}

async fn local() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
    config.secrets = infra::DevSecrets::fixed(APP_SECRET, "e2e-verify-token", "whsec_e2e");
    config.closure_settle = shared::testing::TEST_CLOSURE_SETTLE;
    config.billing = shared::testing::unlimited_billing();
    let running = infra::start(config).await.unwrap();
    if let Some(standin) = &running.standin {
        standin.seed_templates(infra::standin::templates::fixtures());
    }
    let standin = running.standin.clone().unwrap();
    Stack {
        client: Client::new(running.base_url()),
        running,
        standin,
        #[cfg(feature = "aws")]
        aws: None,
        _dir: dir,
    }
}

#[cfg(feature = "aws")]
async fn aws() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let (standin, graph) = StandIn::start(infra::standin::StandInConfig {
        statuses: vec![],
        ..infra::standin::StandInConfig::default()
    })
    .await
    .unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let (app, clients, settings) = shared::testing::aws_app_with_graph(graph).await;
    let app = app.with_billing(shared::testing::unlimited_billing());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = infra::serve(
        std::sync::Arc::new(app),
        listener,
        axum::Router::new(),
        Default::default(),
        &infra::DevSecrets::fixed(APP_SECRET, "e2e-verify-token", "whsec_e2e"),
    )
    .unwrap();
    Stack {
        client: Client::new(running.base_url()),
        running,
        standin,
        aws: Some((clients, settings)),
        _dir: dir,
    }
}

macro_rules! on_both {
    ($($case:ident),+ $(,)?) => {
        mod local_runner {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { super::$case(super::local().await).await } )+
        }
        #[cfg(feature = "aws")]
        mod aws_adapters {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { super::$case(super::aws().await).await } )+
        }
    };
}

on_both!(
    closing_an_account_leaves_nothing_and_shreds_its_key,
    nothing_begun_before_a_closure_outlives_it,
    retention_leaves_nothing_of_what_it_removes,
    a_large_messages_content_kept_apart_is_read_expired_and_erased_with_it
);

/// Requests an export, waits for it, downloads it through its link and reads its lines.
async fn exported(stack: &Stack, key: &str, body: Value) -> Vec<Value> {
    let (s, e) = stack
        .call(
            stack
                .client
                .http
                .post(format!("{}/v1/exports", stack.client.base))
                .bearer_auth(key)
                .json(&body),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{e}");
    let id = e["id"].as_str().unwrap().to_owned();
    let mut view = Value::Null;
    for _ in 0..400 {
        let (_, v) = stack.client.get(&format!("/v1/exports/{id}"), key).await;
        view = v;
        if view["status"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(view["status"], "done", "{view}");
    let url = view["download_url"].as_str().unwrap();
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

impl Stack {
    async fn call(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        self.client.send(req).await
    }

    async fn post_webhook(&self, payload: &Value) -> StatusCode {
        self.client.post_meta_webhook(payload, APP_SECRET).await
    }
}

/// One stored item as the backend holds it, read around the adapters (expired items too).
struct RawItem {
    pk: String,
    sk: String,
    /// Every attribute, as stored (SQLite's encoded bytes; DynamoDB's attribute values).
    attrs: Vec<u8>,
    /// Its expiry (epoch seconds), if it has one.
    expires_at: Option<i64>,
}

impl RawItem {
    fn names(&self, needle: &str) -> bool {
        self.pk.contains(needle)
            || self.sk.contains(needle)
            || self
                .attrs
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
    }
}

impl Stack {
    /// A raw scan of the whole table: the SQLite file's `items` rows read on a connection of
    /// our own, or a DynamoDB Scan.
    async fn raw_items(&self) -> Vec<RawItem> {
        #[cfg(feature = "aws")]
        if let Some((clients, settings)) = &self.aws {
            let s = |item: &std::collections::HashMap<_, _>, k: &str| {
                item.get(k)
                    .and_then(|v: &aws_sdk_dynamodb::types::AttributeValue| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            return support::aws::scan(clients, &settings.table)
                .await
                .iter()
                .map(|item| RawItem {
                    pk: s(item, "pk"),
                    sk: s(item, "sk"),
                    attrs: support::aws::item_bytes(item),
                    expires_at: item
                        .get("ttl")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse().ok()),
                })
                .collect();
        }
        let db = rusqlite::Connection::open_with_flags(
            self._dir.path().join("whatatalk.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut rows = db
            .prepare("SELECT pk, sk, attrs, expires_at FROM items")
            .unwrap();
        rows.query_map([], |r| {
            Ok(RawItem {
                pk: r.get(0)?,
                sk: r.get(1)?,
                attrs: r.get(2)?,
                expires_at: r.get(3)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// Every object's key in the bucket (or under the local blob directory).
    async fn blob_names(&self) -> Vec<String> {
        #[cfg(feature = "aws")]
        if let Some((clients, settings)) = &self.aws {
            return support::aws::object_keys(clients, &settings.bucket).await;
        }
        let root = self._dir.path().join("blobs");
        let mut out = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(&root).unwrap().display().to_string());
                if path.is_dir() {
                    dirs.push(path);
                }
            }
        }
        out
    }

    /// The tenant's items by kind as the erasure names them (`MESSAGE#…` → `message`), from
    /// a raw scan; the account record and its data key are not counted.
    async fn raw_counts(&self, account: &AccountId) -> std::collections::BTreeMap<String, u64> {
        let partitions = shared::table::partitions(account);
        let mut counts = std::collections::BTreeMap::new();
        for item in self.raw_items().await {
            if partitions.contains(&item.pk) && item.sk != "ACCOUNT" && item.sk != "DATAKEY" {
                let kind = item.sk.split('#').next().unwrap().to_lowercase();
                *counts.entry(kind).or_insert(0) += 1;
            }
        }
        counts
    }

    fn on_aws(&self) -> bool {
        #[cfg(feature = "aws")]
        return self.aws.is_some();
        #[cfg(not(feature = "aws"))]
        false
    }

    /// Polls `GET path` until `done` holds of the answer.
    async fn until(&self, path: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..400 {
            let (_, v) = self.client.get(path, key).await;
            if done(&v) {
                return v;
            }
            last = v;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{path} never settled: {last}");
    }
}

async fn closing_an_account_leaves_nothing_and_shreds_its_key(stack: Stack) {
    let base = stack.client.base.clone();
    let http = stack.client.http.clone();
    let (key, account_id) = open_account(
        &stack,
        "Closing Bakery",
        "closing@example.com",
        "EAAGclosingtoken123456",
    )
    .await;
    // Data of every kind: contacts with consent, a sent template, an inbound photo, billing
    // details, a keyword change, an extra API key.
    let mut contacts = Vec::new();
    for phone in ["+447911123456", "+447911123457", "+447911123458"] {
        let (s, c) = stack
            .call(
                http.post(format!("{base}/v1/contacts"))
                    .bearer_auth(&key)
                    .json(&json!({"phone": phone, "name": "Ana Closing", "consent": {"opted_in": true}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        contacts.push(c["id"].as_str().unwrap().to_owned());
    }
    let template = json!({"name": "hello", "language": {"policy": "deterministic", "code": "en"}});
    let (s, m) = stack
        .call(
            http.post(format!("{base}/v1/messages"))
                .bearer_auth(&key)
                .json(&json!({"from": NUMBER, "to": contacts[0], "type": "template", "template": template})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{m}");
    // Its status timeline, with Meta's pricing (so a month of usage too). The local stand-in
    // also posts sent/delivered/read itself; the one on AWS posts nothing.
    let sent = stack
        .until(
            &format!("/v1/messages/{}", m["id"].as_str().unwrap()),
            &key,
            |m| m["wamid"].is_string(),
        )
        .await;
    let delivered = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "statuses": [{"id": sent["wamid"], "status": "delivered",
            "timestamp": time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
            "recipient_id": "447911123456",
            "pricing": {"billable": true, "pricing_model": "PMP", "type": "regular",
                "category": "utility"}}]
    }}]}]});
    assert_eq!(stack.post_webhook(&delivered).await, StatusCode::OK);
    let last = if stack.on_aws() { "delivered" } else { "read" };
    stack
        .until(
            &format!("/v1/messages/{}", m["id"].as_str().unwrap()),
            &key,
            |m| m["status"] == last,
        )
        .await;
    // A broadcast to the two other contacts, settled.
    let (s, b) = stack
        .call(
            http.post(format!("{base}/v1/broadcasts"))
                .bearer_auth(&key)
                .json(&json!({"from": NUMBER, "template": template,
                    "recipients": {"contact_ids": contacts[1..]}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let broadcast = b["id"].as_str().unwrap().to_owned();
    stack
        .until(&format!("/v1/broadcasts/{broadcast}"), &key, |b| {
            b["status"] == "completed"
                && b["counts"]["sent"].as_u64() == b["counts"]["queued"].as_u64()
        })
        .await;
    // Every status the stand-in posts has landed (the export is compared with the API below).
    let settled = if stack.on_aws() { "sent" } else { "read" };
    for c in &contacts[1..] {
        stack
            .until(&format!("/v1/contacts/{c}/messages"), &key, |page| {
                let items = page["items"].as_array().unwrap();
                !items.is_empty() && items.iter().all(|m| m["status"] == settled)
            })
            .await;
    }
    stack
        .standin
        .seed_media("990001", "image/jpeg", b"closing photo bytes".to_vec());
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let inbound = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "447911123456"}],
        "messages": [{"from": "447911123456", "id": "wamid.closing1", "timestamp": t.to_string(),
            "type": "image", "image": {"id": "990001", "mime_type": "image/jpeg"}}]
    }}]}]});
    assert_eq!(stack.post_webhook(&inbound).await, StatusCode::OK);
    let mut media = Value::Null;
    for _ in 0..200 {
        let (_, m) = stack.client.get("/v1/media/990001", &key).await;
        media = m;
        if media["state"] == "stored" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(media["state"], "stored", "{media}");
    stack
        .call(
            http.patch(format!("{base}/v1/billing/details"))
                .bearer_auth(&key)
                .json(&json!({"name": "Closing Bakery Ltd", "tax_id": "GB123456789"})),
        )
        .await;
    stack
        .call(
            http.post(format!("{base}/v1/api-keys"))
                .bearer_auth(&key)
                .json(&json!({"name": "crm"})),
        )
        .await;
    // A user of the app, invited and joined, with a note on a conversation: personal data too.
    let app = &stack.running.app;
    let owner = shared::services::Principal::system(account_id.clone());
    let (_, invitation) = app
        .invite(
            &owner,
            shared::domain::Email::parse("agent.closing@example.com").unwrap(),
            shared::domain::Role::Agent,
        )
        .await
        .unwrap();
    let (agent, _) = app
        .accept_invitation(
            &invitation,
            shared::domain::UserName::parse("Closing Agent").unwrap(),
            shared::domain::Password::parse("correct horse battery staple").unwrap(),
        )
        .await
        .unwrap();
    let (conversations, _) = app.conversations(&account_id, 1, None).await.unwrap();
    app.add_note(
        &agent.principal,
        &conversations[0].contact_id,
        "Prefers calls after 5pm".into(),
    )
    .await
    .unwrap();
    let (_, inventory) = stack.client.get("/v1/privacy", &key).await;
    assert_eq!(inventory["held"]["users"], 1, "{inventory}");
    assert_eq!(inventory["held"]["notes"], 1, "{inventory}");
    assert_eq!(inventory["held"]["contacts"], 3, "{inventory}");
    assert_eq!(inventory["held"]["media"], 1);

    // Portability: the whole account, then one contact.
    let export = exported(&stack, &key, json!({})).await;
    let header = &export[0];
    assert_eq!(header["format"], "whatatalk.export");
    assert_eq!(header["version"], 1);
    assert_eq!(header["scope"], "account");
    let manifest = export.last().unwrap();
    assert_eq!(manifest["record"], "manifest");
    let records = |kind: &str| -> Vec<&Value> {
        export
            .iter()
            .filter(|l| l["record"] == kind)
            .map(|l| &l["data"])
            .collect()
    };
    assert_eq!(manifest["counts"]["contact"], 3);
    assert_eq!(records("contact").len(), 3);
    // Field by field what the API says.
    for c in records("contact") {
        let id = c["id"].as_str().unwrap();
        let (_, api) = stack.client.get(&format!("/v1/contacts/{id}"), &key).await;
        assert_eq!(c, &api, "contact {id}");
    }
    // Every message with its status timeline, the broadcast, the month of usage and the
    // audit log: each record whole as the API shows it.
    let messages = records("message");
    assert_eq!(messages.len(), 4, "{manifest}");
    for m in &messages {
        let id = m["id"].as_str().unwrap();
        let (_, api) = stack.client.get(&format!("/v1/messages/{id}"), &key).await;
        assert_eq!(*m, &api, "message {id}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m["pricing"].is_object() && m["history"].as_array().unwrap().len() >= 2),
        "a priced status timeline is exported"
    );
    let users = records("user");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "agent.closing@example.com");
    assert_eq!(users[0]["role"], "agent");
    assert!(
        !export.iter().any(|l| l.to_string().contains("$argon2")),
        "no password hash leaves"
    );
    let notes = records("note");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["text"], "Prefers calls after 5pm");
    assert_eq!(notes[0]["author"], agent.session.user_id.to_string());
    assert_eq!(records("broadcast").len(), 1);
    for b in records("broadcast") {
        let (_, api) = stack
            .client
            .get(&format!("/v1/broadcasts/{broadcast}"), &key)
            .await;
        assert_eq!(b, &api, "broadcast");
    }
    let usage = records("usage");
    assert_eq!(usage.len(), 1);
    let period = usage[0]["period"].as_str().unwrap();
    let (_, api) = stack
        .client
        .get(&format!("/v1/billing/usage?period={period}"), &key)
        .await;
    assert_eq!(usage[0], &api, "usage {period}");
    // The stand-in's statuses carry pricing too: the template and the broadcast's two.
    let priced = if stack.on_aws() { 1 } else { 3 };
    assert_eq!(usage[0]["meta_messages"], priced, "{api}");
    assert_eq!(usage[0]["ours"]["broadcasts"], 1, "{api}");
    let (_, log) = stack.client.get("/v1/audit?limit=100", &key).await;
    let audit = records("audit");
    assert!(!audit.is_empty());
    for entry in &audit {
        let api = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == entry["id"]);
        assert_eq!(Some(*entry), api, "audit entry");
    }
    // The media file itself, as bytes.
    let file = |m: &Value| -> Vec<u8> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(m["content_base64"].as_str().unwrap())
            .unwrap();
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
        assert_eq!(m["sha256"], hex::encode(digest), "{m}");
        bytes
    };
    assert_eq!(records("media")[0]["id"], "990001");
    assert_eq!(file(records("media")[0]), b"closing photo bytes");
    assert_eq!(records("number")[0]["phone_number_id"], NUMBER);
    assert_eq!(records("api_key").len(), 2);
    assert_eq!(records("account")[0]["business_name"], "Closing Bakery");
    assert_eq!(
        records("billing")[0]["billing_details"]["tax_id"],
        "GB123456789"
    );
    let text = serde_json::to_string(&export).unwrap();
    assert!(
        !text.contains("EAAGclosingtoken"),
        "no access token in an export"
    );
    let one = exported(&stack, &key, json!({"contact_id": contacts[0]})).await;
    assert_eq!(one[0]["scope"], "contact");
    let kinds: std::collections::BTreeSet<&str> = one[1..one.len() - 1]
        .iter()
        .map(|l| l["record"].as_str().unwrap())
        .collect();
    assert!(
        kinds
            .iter()
            .all(|k| ["contact", "message", "media"].contains(k)),
        "{kinds:?}"
    );
    assert_eq!(one.iter().filter(|l| l["record"] == "contact").count(), 1);
    let media = one.iter().find(|l| l["record"] == "media").unwrap();
    assert_eq!(file(&media["data"]), b"closing photo bytes");

    // A sealed value saved before the closure.
    let contact: ContactId = contacts[1].parse().unwrap();
    let contact_key = shared::table::contact(&account_id, &contact);
    let item = app.items.get(&contact_key).await.unwrap().unwrap();
    let sealed = item.b("name").unwrap().to_vec();
    let opened = app
        .keyring
        .decrypt(
            &account_id,
            FieldRef::new("contact", &contact_key, "name"),
            &sealed,
        )
        .await
        .unwrap();
    assert_eq!(&opened[..], b"Ana Closing");

    // A message past its retention that DynamoDB's TTL sweeper has not removed yet (it lags
    // by up to days), stored before the messages' shards: reads no longer see it, the
    // erasure must.
    app.items
        .put(
            shared::ports::Item::new(shared::ports::Key::new(
                shared::table::account_partition(&account_id),
                "MESSAGE#01EXPIREDBUTNOTSWEPT0000",
            ))
            .with("body", shared::ports::Value::B(sealed.clone()))
            .expiring_at(time::OffsetDateTime::now_utc().unix_timestamp() - 3600),
            None,
        )
        .await
        .unwrap();
    // What the tenant holds now, counted around the adapters; the closure adds its own audit
    // entry.
    // Usage: the month's item and the day's of Meta's priced messages.
    let mut held = stack.raw_counts(&account_id).await;
    assert!(
        held["message"] >= 4 && held["usage"] >= 2 && held["broadcast"] == 1,
        "{held:?}"
    );
    *held.get_mut("audit").unwrap() += 1;
    // Content for its number we could not read: a dead letter, kept for operators and named
    // for the tenant, so that it goes with it rather than 30 days later.
    let unreadable = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "messages": "not a list"
    }}]}]});
    assert_eq!(stack.post_webhook(&unreadable).await, StatusCode::OK);
    assert!(stack
        .raw_items()
        .await
        .iter()
        .any(|i| i.sk.starts_with("DEADLETTER") && i.names(&account_id.to_string())));
    held.insert("dead_letter".into(), 1);

    let (s, p) = stack
        .call(
            http.delete(format!("{base}/v1/account"))
                .bearer_auth(&key)
                .json(&json!({"confirm": "yes"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, closing) = stack
        .call(
            http.delete(format!("{base}/v1/account"))
                .bearer_auth(&key)
                .json(&json!({"confirm": "DELETE"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{closing}");
    // Keys stop at once.
    let (s, _) = stack.client.get("/v1/account", &key).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let receipt_url = closing["receipt_url"].as_str().unwrap();
    let mut receipt = Value::Null;
    for _ in 0..400 {
        let (s, r) = stack.call(http.get(format!("{base}{receipt_url}"))).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        receipt = r;
        if receipt["state"] == "closed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(receipt["state"], "closed", "{receipt}");
    assert_eq!(receipt["account_id"], account_id.to_string());
    assert_eq!(receipt["key_destroyed"], true);
    // Backups are not shredded: the receipt says until when they may hold the data.
    let at = |f: &str| {
        time::OffsetDateTime::parse(
            receipt[f].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        at("backups_hold_until") - at("finished_at"),
        time::Duration::days(35)
    );
    let mut deleted: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(receipt["deleted"].clone()).unwrap();
    // Media files went with their records; `objects` counts what was left under the
    // tenant's prefixes (the exports).
    assert_eq!(deleted.remove("objects"), Some(2), "{receipt}");
    assert_eq!(deleted, held, "the receipt counts what the tenant held");
    // Read once.
    let (s, _) = stack.call(http.get(format!("{base}{receipt_url}"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Nothing of the tenant anywhere in the table, nor in the bucket.
    let needle = account_id.to_string();
    let left: Vec<String> = stack
        .raw_items()
        .await
        .iter()
        .filter(|i| i.names(&needle) || i.names("wamid.closing1"))
        .map(|i| format!("{} / {}", i.pk, i.sk))
        .collect();
    assert!(left.is_empty(), "the table still holds {left:?}");
    let objects: Vec<String> = stack
        .blob_names()
        .await
        .into_iter()
        .filter(|o| o.contains(&needle))
        .collect();
    assert!(objects.is_empty(), "the bucket still holds {objects:?}");
    let (s, _) = stack.client.get("/v1/media/990001", &key).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The key is gone: the saved ciphertext no longer opens.
    assert!(app
        .keyring
        .decrypt(
            &account_id,
            FieldRef::new("contact", &contact_key, "name"),
            &sealed
        )
        .await
        .is_err());
    // Webhooks for its number are no longer anyone's.
    assert_eq!(stack.post_webhook(&inbound).await, StatusCode::OK);
    assert!(stack.raw_items().await.iter().all(|i| !i.names(&needle)));
    stack.running.stop().await.unwrap();
}

/// An import, an export and a paced broadcast are running when the account is closed: none of
/// them writes after the erasure (nothing of the tenant in a raw scan or the bucket once the
/// receipt says `closed`), and the stand-in receives no message after the close request.
async fn nothing_begun_before_a_closure_outlives_it(stack: Stack) {
    let base = stack.client.base.clone();
    let http = stack.client.http.clone();
    let (key, account_id) = open_account(
        &stack,
        "Busy Bakery",
        "busy@example.com",
        "EAAGbusytoken123456789",
    )
    .await;
    let account_id = account_id.to_string();
    // One message a second: the broadcast is still sending when the account closes.
    let (s, _) = stack
        .client
        .patch(
            &format!("/v1/numbers/{NUMBER}"),
            &key,
            json!({"messages_per_second": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for i in 0..20 {
        let (s, c) = stack
            .client
            .post(
                "/v1/contacts",
                &key,
                json!({"phone": format!("+4479111{:05}", 30_000 + i), "tags": ["all"], "consent": {"opted_in": true}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
    }
    let template = json!({"name": "hello", "language": {"policy": "deterministic", "code": "en"}});
    let (s, b) = stack
        .client
        .post(
            "/v1/broadcasts",
            &key,
            json!({"from": NUMBER, "template": template, "recipients": {"tags": ["all"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    stack
        .until(
            &format!("/v1/broadcasts/{}", b["id"].as_str().unwrap()),
            &key,
            |v| v["counts"]["sent"].as_u64().unwrap_or(0) >= 1,
        )
        .await;
    // A large import, started and running.
    let mut csv = b"phone,name\n".to_vec();
    for i in 0..60_000 {
        csv.extend_from_slice(format!("+4479222{:05},Person {i}\n", i % 100_000).as_bytes());
    }
    let (_, created) = stack
        .client
        .post("/v1/contacts/imports", &key, json!({}))
        .await;
    let put = http
        .put(created["upload_url"].as_str().unwrap())
        .header("content-type", "text/csv")
        .body(csv);
    assert!(put.send().await.unwrap().status().is_success());
    let import = created["id"].as_str().unwrap().to_owned();
    let (s, started) = stack
        .client
        .post(
            &format!("/v1/contacts/imports/{import}/start"),
            &key,
            json!({}),
        )
        .await;
    assert!(s.is_success(), "{started}");
    stack
        .until(&format!("/v1/contacts/imports/{import}"), &key, |v| {
            v["status"] == "running"
        })
        .await;
    // An export, requested.
    let (s, e) = stack.client.post("/v1/exports", &key, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{e}");

    let (s, closing) = stack
        .call(
            http.delete(format!("{base}/v1/account"))
                .bearer_auth(&key)
                .json(&json!({"confirm": "DELETE"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{closing}");
    // A send already on the wire when the number was stopped may still arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent_at_close = stack.standin.accepted().len();
    assert!(sent_at_close < 20, "the broadcast was still sending");
    let receipt_url = closing["receipt_url"].as_str().unwrap();
    let mut receipt = Value::Null;
    for _ in 0..600 {
        let (_, r) = stack.call(http.get(format!("{base}{receipt_url}"))).await;
        if r["state"] == "closed" {
            receipt = r;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(receipt["state"], "closed", "the erasure never finished");
    // Whatever was still running has had its chance to write.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left: Vec<String> = stack
        .raw_items()
        .await
        .iter()
        .filter(|i| i.names(&account_id))
        .map(|i| format!("{} / {}", i.pk, i.sk))
        .collect();
    assert!(
        left.is_empty(),
        "the table still holds {} items: {:?}",
        left.len(),
        &left[..left.len().min(5)]
    );
    let objects: Vec<String> = stack
        .blob_names()
        .await
        .into_iter()
        .filter(|o| o.contains(&account_id))
        .collect();
    assert!(objects.is_empty(), "the bucket still holds {objects:?}");
    assert_eq!(
        stack.standin.accepted().len(),
        sent_at_close,
        "messages were sent after the close request"
    );
    stack.running.stop().await.unwrap();
}

/// A message whose expiry passed before any retention run (the table's sweeper lags) goes
/// with its wamid lookup, and an export goes with its file at the account's `export_days`, not
/// the bucket's 7-day backstop: after a run past the policy, raw storage names neither.
async fn retention_leaves_nothing_of_what_it_removes(stack: Stack) {
    let (key, account_id) = open_account(
        &stack,
        "Keeping Bakery",
        "keep@example.com",
        "EAAGkeepingtoken12345678",
    )
    .await;
    let (s, a) = stack
        .client
        .patch(
            "/v1/account",
            &key,
            json!({"retention": {"message_days": 30, "export_days": 1}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    for wamid in ["wamid.keep.expired", "wamid.keep.live"] {
        let inbound = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "447911123456"}],
            "messages": [{"from": "447911123456", "id": wamid, "timestamp": t.to_string(),
                "type": "text", "text": {"body": "hello"}}]
        }}]}]});
        assert_eq!(stack.post_webhook(&inbound).await, StatusCode::OK);
    }
    let (_, page) = stack.client.get("/v1/messages", &key).await;
    let expired = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["wamid"] == "wamid.keep.expired")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Its expiry passed an hour ago (the message's and its lookup's: they carry the same);
    // the table's sweeper has not come by.
    let app = stack.running.app.clone();
    for key in [
        shared::table::message(&account_id, &expired),
        shared::table::wamid("wamid.keep.expired"),
    ] {
        let item = app.items.get(&key).await.unwrap().unwrap();
        assert!(item.expires_at.is_some(), "{key:?} expires");
        app.items
            .update(shared::ports::Update::new(key).expire(Some(t - 3600)))
            .await
            .unwrap();
    }
    let lines = exported(&stack, &key, json!({})).await;
    assert!(!lines.is_empty());
    assert!(
        stack
            .blob_names()
            .await
            .iter()
            .any(|o| o.contains("exports") && o.contains(&account_id.to_string())),
        "the export's file is there"
    );

    // Past both the message policy and export_days.
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(31);
    let report = app.run_retention(later, 100_000).await.unwrap();
    assert!(report.complete, "{report:?}");
    let left: Vec<String> = stack
        .raw_items()
        .await
        .iter()
        .filter(|i| {
            i.names("wamid.keep")
                || i.sk.starts_with(shared::table::EXPORT_PREFIX)
                || i.sk.starts_with(shared::table::CONVERSATION_PREFIX)
        })
        // DynamoDB Local's sweeper may take the expired message before the run does: what
        // it made carries the same past expiry and goes in the same sweep. Anything else left
        // would stay.
        .filter(|i| i.expires_at.is_none_or(|at| at > t))
        .map(|i| format!("{} / {} (expires {:?})", i.pk, i.sk, i.expires_at))
        .collect();
    assert!(left.is_empty(), "still held: {left:?}");
    let files: Vec<String> = stack
        .blob_names()
        .await
        .into_iter()
        .filter(|o| {
            o.contains("exports") && o.contains(&account_id.to_string()) && o.ends_with(".ndjson")
        })
        .collect();
    assert!(
        files.is_empty(),
        "the export's file outlived its export_days: {files:?}"
    );
    stack.running.stop().await.unwrap();
}

/// A long outbound message keeps its content in an item of its own (the message item is
/// rewritten at each status and billed by its size): the API, the thread and the export
/// show it whole; it is sealed; a new retention policy moves its expiry with the message's;
/// erasing the contact takes it.
async fn a_large_messages_content_kept_apart_is_read_expired_and_erased_with_it(stack: Stack) {
    let (key, account_id) = open_account(
        &stack,
        "Apart Bakery",
        "apart@example.com",
        "EAAGaparttoken123456789",
    )
    .await;
    // The customer writes first: the service window is open for a text reply.
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let inbound = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "447911123456"}],
        "messages": [{"from": "447911123456", "id": "wamid.apart.in", "timestamp": t.to_string(),
            "type": "text", "text": {"body": "Is my cake ready?"}}]
    }}]}]});
    assert_eq!(stack.post_webhook(&inbound).await, StatusCode::OK);
    let (_, page) = stack.client.get("/v1/messages", &key).await;
    let contact = page["items"][0]["contact_id"].as_str().unwrap().to_owned();
    let reply = format!(
        "Your cake is ready. {}Pick it up by Saturday.",
        "Marzipan roses, three layers, the lettering as you asked. ".repeat(10)
    );
    let (s, m) = stack
        .call(
            stack
                .client
                .http
                .post(format!("{}/v1/messages", stack.client.base))
                .bearer_auth(&key)
                .json(&json!({"from": NUMBER, "to": contact, "type": "text",
                    "text": {"body": reply}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let sent = stack
        .until(&format!("/v1/messages/{id}"), &key, |m| {
            m["wamid"].is_string()
        })
        .await;
    assert_eq!(sent["content"]["text"]["body"], reply.as_str(), "{sent}");
    let (_, thread) = stack
        .client
        .get(&format!("/v1/contacts/{contact}/messages"), &key)
        .await;
    assert!(
        thread["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == id.as_str() && m["content"]["text"]["body"] == reply.as_str()),
        "{thread}"
    );

    // Apart and sealed.
    let content_sk = format!("{}{id}", shared::table::MESSAGE_CONTENT_PREFIX);
    let message_sk = format!("{}{id}", shared::table::MESSAGE_PREFIX);
    let items = stack.raw_items().await;
    let content = items
        .iter()
        .find(|i| i.sk == content_sk)
        .expect("content apart");
    let message = items.iter().find(|i| i.sk == message_sk).unwrap();
    assert!(
        !message.names("content"),
        "the message item holds its content"
    );
    assert!(
        items.iter().all(|i| !i.names("Marzipan roses")),
        "the content is not sealed"
    );
    assert_eq!(content.expires_at, message.expires_at);

    let lines = exported(&stack, &key, json!({})).await;
    assert!(
        lines
            .iter()
            .any(|l| l["record"] == "message"
                && l["data"]["content"]["text"]["body"] == reply.as_str()),
        "the export lacks the content"
    );

    // A shorter policy: the content expires with its message.
    let (s, a) = stack
        .client
        .patch(
            "/v1/account",
            &key,
            json!({"retention": {"message_days": 7}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let report = stack
        .running
        .app
        .run_retention(time::OffsetDateTime::now_utc(), 100_000)
        .await
        .unwrap();
    assert!(report.complete, "{report:?}");
    let items = stack.raw_items().await;
    let content = items.iter().find(|i| i.sk == content_sk).unwrap();
    let message = items.iter().find(|i| i.sk == message_sk).unwrap();
    assert_eq!(content.expires_at, message.expires_at);
    assert!(
        message.expires_at.unwrap() < t + 8 * 86_400,
        "{:?}",
        message.expires_at
    );

    // Erasing the contact takes the content with the message.
    let (s, receipt) = stack
        .call(
            stack
                .client
                .http
                .delete(format!("{}/v1/contacts/{contact}", stack.client.base))
                .bearer_auth(&key),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{receipt}");
    let partitions = shared::table::partitions(&account_id);
    let left: Vec<String> = stack
        .raw_items()
        .await
        .into_iter()
        .filter(|i| {
            partitions.contains(&i.pk)
                && (i.sk.starts_with(shared::table::MESSAGE_PREFIX)
                    || i.sk.starts_with(shared::table::MESSAGE_CONTENT_PREFIX))
        })
        .map(|i| i.sk)
        .collect();
    assert!(left.is_empty(), "still held: {left:?}");
    stack.running.stop().await.unwrap();
}

/// A new account with the test number connected: its API key and id.
async fn open_account(stack: &Stack, name: &str, email: &str, token: &str) -> (String, AccountId) {
    let account = stack.client.signup(name, email).await;
    let key = account["api_key"].as_str().unwrap().to_owned();
    let account_id = account["account_id"].as_str().unwrap().parse().unwrap();
    stack
        .client
        .connect_number(&stack.standin, &key, NUMBER, "+15550783881", token)
        .await;
    (key, account_id)
}
