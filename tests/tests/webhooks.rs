//! Meta's webhooks end to end through the local runner: every example of Meta's own OpenAPI
//! description ingested and visible in the history API, and statuses of sent messages — from
//! the Graph stand-in as Meta would post them, or posted by the test in every order, replayed
//! and ahead of the sender — ending in the right state.

mod support;

use std::time::Duration;

use infra::standin::{status_webhook, StandInConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Client;

const NUMBER: &str = "106540352242922";
const SPEC: &str = include_str!("../../shared/tests/data/meta/business-messaging-api_v23.0.yaml");

struct Stack {
    client: Client,
    key: String,
    app_secret: String,
    running: infra::Running,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// A runner whose stand-in posts `statuses` back after each send (none: the test posts).
    async fn start(statuses: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
        config.sender.pair_interval = Duration::ZERO;
        // More templates than the free plan includes.
        config.billing = shared::testing::unlimited_billing();
        let app_secret = config.secrets.app_secret.clone();
        let running = infra::start(config).await.unwrap();
        if let Some(standin) = &running.standin {
            standin.seed_templates(infra::standin::templates::fixtures());
        }
        let standin = running.standin.as_ref().unwrap();
        standin.configure(StandInConfig {
            statuses: statuses.iter().map(|s| s.to_string()).collect(),
            ..standin.config()
        });
        let client = Client::new(running.base_url());
        let account = client.signup("Succulents", "hooks@example.com").await;
        let key = account["api_key"].as_str().unwrap().to_owned();
        client
            .connect_number(standin, &key, NUMBER, "+15550783881", "EAAGhooktoken123456")
            .await;
        Self {
            client,
            key,
            app_secret,
            running,
            _dir: dir,
        }
    }

    async fn post_webhook(&self, payload: &Value) -> StatusCode {
        self.client
            .post_meta_webhook(payload, &self.app_secret)
            .await
    }

    async fn get(&self, path: &str) -> Value {
        let (s, body) = self.client.get(path, &self.key).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.client
            .send(
                self.client
                    .http
                    .post(format!("{}{path}", self.client.base))
                    .bearer_auth(&self.key)
                    .json(&body),
            )
            .await
    }

    /// Sends a template to an opted-in contact and waits for the sender to record it sent.
    async fn sent_template(&self, phone: &str) -> (String, String) {
        let (s, c) = self
            .post(
                "/v1/contacts",
                json!({"phone": phone, "consent": {"opted_in": true}}),
            )
            .await;
        let contact = if s == StatusCode::CREATED {
            c["id"].as_str().unwrap().to_owned()
        } else {
            c["existing_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{s} {c}"))
                .to_owned()
        };
        let template =
            json!({"name": "order_update", "language": {"policy": "deterministic", "code": "en"}});
        let (s, q) = self
            .post(
                "/v1/messages",
                json!({"from": NUMBER, "to": contact, "type": "template", "template": template}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{q}");
        let id = q["id"].as_str().unwrap().to_owned();
        let m = self.until(&id, |m| m["wamid"].is_string()).await;
        (id, m["wamid"].as_str().unwrap().to_owned())
    }

    /// The read receipts Meta was sent, in order.
    fn read_receipts(&self) -> Vec<Value> {
        let standin = self.running.standin.as_ref().expect("the stand-in runs");
        standin
            .requests()
            .into_iter()
            .map(|r| r.body)
            .filter(|b| b["status"] == "read")
            .collect()
    }

    /// Polls the message until `done` holds.
    async fn until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut m = Value::Null;
        for _ in 0..200 {
            m = self.get(&format!("/v1/messages/{id}")).await;
            if done(&m) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("message {id} never got there: {m}");
    }

    async fn stop(self) {
        self.running.stop().await.unwrap();
    }
}

fn examples() -> Vec<(String, Value)> {
    let spec: Value = serde_yaml::from_str(SPEC).unwrap();
    spec["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]["application/json"]
        ["examples"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, e)| (name.clone(), e["value"].clone()))
        .collect()
}

/// Each example on a fresh runner: several of Meta's examples share one wamid, and a wamid
/// is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_of_metas_spec_is_ingested_and_visible_in_history() {
    let examples = examples();
    assert_eq!(examples.len(), 16);
    for (name, payload) in examples {
        let stack = Stack::start(&[]).await;
        assert_eq!(stack.post_webhook(&payload).await, StatusCode::OK, "{name}");
        let value = &payload["entry"][0]["changes"][0]["value"];
        let conversations = stack.get("/v1/conversations").await;
        let Some(sent) = value["messages"].as_array() else {
            // Groups: acknowledged, not a conversation.
            assert_eq!(conversations["items"], json!([]), "{name}");
            stack.stop().await;
            continue;
        };
        let sent = &sent[0];
        let rows = conversations["items"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{name}: {conversations}");
        let contact_id = rows[0]["contact_id"].as_str().unwrap();
        let thread = stack
            .get(&format!("/v1/contacts/{contact_id}/messages"))
            .await;
        let messages = thread["items"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "{name}: {thread}");
        let m = &messages[0];
        assert_eq!(m["direction"], "inbound", "{name}");
        assert_eq!(m["type"], sent["type"], "{name}");
        assert_eq!(m["wamid"], sent["id"], "{name}");
        assert_eq!(m["from"], sent["from"], "{name}");
        assert_eq!(m["to"], NUMBER, "{name}");
        assert_eq!(m["status"], "received", "{name}");
        // Every field Meta sent is kept, as sent.
        assert_eq!(&m["content"], sent, "{name}");
        assert_eq!(
            m["reply_to"],
            sent["context"]["id"]
                .as_str()
                .map_or(Value::Null, Value::from)
        );
        let at = time::OffsetDateTime::parse(
            m["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(
            at.unix_timestamp().to_string(),
            sent["timestamp"].as_str().unwrap(),
            "{name}"
        );
        let contact = stack.get(&format!("/v1/contacts/{contact_id}")).await;
        match sent["type"].as_str().unwrap() {
            "system" => assert_eq!(contact["phone"], "+12195555358", "{name}: the new number"),
            "unsupported" => assert_eq!(m["error"]["code"], 131051, "{name}"),
            _ => {
                assert_eq!(contact["phone"], "+16505551234", "{name}");
                assert_eq!(contact["name"], "Sheena Nelson", "{name}");
                assert_eq!(rows[0]["unread"], 1, "{name}");
            }
        }
        stack.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_reads_sent_delivered_read_from_the_stand_ins_webhooks() {
    let stack = Stack::start(&["sent", "delivered", "read"]).await;
    let (id, _) = stack.sent_template("+447911123456").await;
    let m = stack.until(&id, |m| m["status"] == "read").await;
    let timeline: Vec<&str> = m["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, ["queued", "sending", "sent", "delivered", "read"]);
    assert_eq!(m["pricing"]["category"], "marketing");
    assert_eq!(m["pricing"]["billable"], true);
    let conversations = stack.get("/v1/conversations").await;
    assert_eq!(conversations["items"][0]["last_message"]["id"], id.as_str());
    assert_eq!(
        conversations["items"][0]["last_message"]["direction"],
        "outbound"
    );
    stack.stop().await;
}

/// Every order of sent, delivered, read and failed, each posted twice: the message ends read,
/// with each status once in its history and the failure's error kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_in_every_order_and_replayed_end_in_the_right_state() {
    let stack = Stack::start(&[]).await;
    let statuses = ["sent", "delivered", "read", "failed"];
    let mut orders = Vec::new();
    permutations(&mut statuses.to_vec(), 0, &mut orders);
    assert_eq!(orders.len(), 24);
    for (i, order) in orders.iter().enumerate() {
        let (id, wamid) = stack.sent_template(&format!("+4479111{i:05}")).await;
        for round in 0..2 {
            for status in order {
                let mut payload =
                    status_webhook(NUMBER, "447911100000", &wamid, status, "template");
                if *status == "failed" {
                    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] =
                        json!([{"code": 131026, "title": "Message undeliverable"}]);
                }
                assert_eq!(
                    stack.post_webhook(&payload).await,
                    StatusCode::OK,
                    "{order:?} {round}"
                );
            }
        }
        let m = stack.get(&format!("/v1/messages/{id}")).await;
        assert_eq!(m["status"], "read", "{order:?}: {m}");
        assert_eq!(m["error"]["code"], 131026, "{order:?}");
        let mut seen: Vec<&str> = m["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            ["delivered", "failed", "queued", "read", "sending", "sent"],
            "{order:?}"
        );
    }
    stack.stop().await;
}

/// Property: any mix of sent, delivered, read and failed, each delivered 1 to 10 times, in any
/// interleaving, leaves one message whose status is the highest-ranked one received, with
/// each status once in its history and the failure's error iff one failed.
#[test]
fn statuses_repeated_up_to_ten_times_in_any_interleaving_settle_the_same() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stack = rt.block_on(Stack::start(&[]));
    let deliveries = proptest::collection::vec(0usize..=10, 4).prop_flat_map(|counts| {
        let all: Vec<&'static str> = ["sent", "delivered", "read", "failed"]
            .iter()
            .zip(&counts)
            .flat_map(|(s, n)| std::iter::repeat_n(*s, *n))
            .collect();
        Just(all).prop_shuffle()
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&deliveries, |order| {
            let i = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(async {
                let (id, wamid) = stack.sent_template(&format!("+4479112{i:05}")).await;
                for status in &order {
                    let mut payload =
                        status_webhook(NUMBER, "447911200000", &wamid, status, "template");
                    if *status == "failed" {
                        payload["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] =
                            json!([{"code": 131026, "title": "Message undeliverable"}]);
                    }
                    assert_eq!(stack.post_webhook(&payload).await, StatusCode::OK);
                }
                let m = stack.get(&format!("/v1/messages/{id}")).await;
                // The sender itself records `sent`.
                let rank = |s: &str| {
                    ["sent", "failed", "delivered", "read"]
                        .iter()
                        .position(|x| *x == s)
                };
                let expected = order
                    .iter()
                    .copied()
                    .chain(["sent"])
                    .max_by_key(|s| rank(s))
                    .unwrap();
                assert_eq!(m["status"], expected, "{order:?}: {m}");
                let history: Vec<&str> = m["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["status"].as_str().unwrap())
                    .collect();
                for s in ["sent", "delivered", "read", "failed"] {
                    let want = usize::from(s == "sent" || order.contains(&s));
                    let got = history.iter().filter(|h| **h == s).count();
                    assert_eq!(got, want, "{s} in {order:?}: {m}");
                }
                assert_eq!(
                    m["error"]["code"].as_i64(),
                    order.contains(&"failed").then_some(131026),
                    "{order:?}"
                );
            });
            Ok(())
        })
        .unwrap();
    rt.block_on(stack.stop());
}

/// Statuses that reach us before the sender has recorded the message's wamid are kept and
/// applied when it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_ahead_of_the_sender_are_applied_when_it_records_the_wamid() {
    let stack = Stack::start(&[]).await;
    let wamid = stack.running.standin.as_ref().unwrap().upcoming_wamid();
    for status in ["read", "delivered"] {
        let payload = status_webhook(NUMBER, "447911123456", &wamid, status, "template");
        assert_eq!(stack.post_webhook(&payload).await, StatusCode::OK);
    }
    let (id, got) = stack.sent_template("+447911123456").await;
    assert_eq!(got, wamid);
    let m = stack.until(&id, |m| m["status"] == "read").await;
    assert_eq!(m["history"].as_array().unwrap().len(), 5, "{m}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_conversation_clears_it_and_tells_meta() {
    let stack = Stack::start(&[]).await;
    let t = time::OffsetDateTime::now_utc().unix_timestamp() - 10;
    let inbound = |id: &str, at: i64, text: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "447911123456"}],
            "messages": [{"from": "447911123456", "id": id,
                "timestamp": at.to_string(), "type": "text", "text": {"body": text}}]
        }}]}]})
    };
    for (i, text) in ["Hi!", "Is the shop open?"].iter().enumerate() {
        let payload = inbound(&format!("wamid.read{i}"), t + i as i64, text);
        assert_eq!(stack.post_webhook(&payload).await, StatusCode::OK);
    }
    let rows = stack.get("/v1/conversations").await;
    let row = &rows["items"][0];
    assert_eq!(row["unread"], 2);
    assert_eq!(row["window_open"], true);
    assert_eq!(row["window_number"], NUMBER);
    assert_eq!(row["last_message"]["preview"], "Is the shop open?");
    let contact = row["contact_id"].as_str().unwrap();
    let (s, read) = stack
        .post(&format!("/v1/conversations/{contact}/read"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["unread"], 0);
    let receipts = stack.read_receipts();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["message_id"], "wamid.read1");
    // The window lets a free-form reply through.
    let (s, q) = stack
        .post(
            "/v1/messages",
            json!({"from": NUMBER, "to": contact, "type": "text", "text": {"body": "Yes, until 6"}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{q}");
    // The sender makes the reply the conversation's last message once it has sent it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows = stack.get("/v1/conversations").await;
        if rows["items"][0]["last_message"]["id"] == q["id"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reply was not sent: {rows}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A message Meta delivers late, older than the reply but newer than the last one read: the
    // reply stays the conversation's last message, and the late one is what the next read
    // receipt names.
    let late = inbound("wamid.late", t + 5, "And on Sunday?");
    assert_eq!(stack.post_webhook(&late).await, StatusCode::OK);
    let rows = stack.get("/v1/conversations").await;
    assert_eq!(rows["items"][0]["last_message"]["id"], q["id"], "{rows}");
    assert_eq!(rows["items"][0]["unread"], 1, "{rows}");
    let (s, _) = stack
        .post(&format!("/v1/conversations/{contact}/read"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let receipts = stack.read_receipts();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[1]["message_id"], "wamid.late");
    stack.stop().await;
}

/// A user's photo: the webhook names it, a job fetches it from Meta, and the API hands out a
/// short-lived link to it; the file is held sealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_media_is_fetched_kept_sealed_and_served_through_a_short_link() {
    let stack = Stack::start(&[]).await;
    let photo: Vec<u8> = b"\xFF\xD8\xFFJFIF holiday-photo-bytes "
        .iter()
        .copied()
        .chain((0..50_000u32).map(|i| (i % 251) as u8))
        .collect();
    let standin = stack.running.standin.as_ref().unwrap();
    standin.seed_media("880001", "image/jpeg", photo.clone());
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let payload = |wamid: &str, media: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "447911123456"}],
            "messages": [{"from": "447911123456", "id": wamid, "timestamp": t.to_string(),
                "type": "image", "image": {"id": media, "mime_type": "image/jpeg", "caption": "Look"}}]
        }}]}]})
    };
    for _ in 0..3 {
        assert_eq!(
            stack.post_webhook(&payload("wamid.photo", "880001")).await,
            StatusCode::OK
        );
    }
    let mut media = Value::Null;
    for _ in 0..200 {
        media = stack.get("/v1/media/880001").await;
        if media["state"] == "stored" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(media["state"], "stored", "{media}");
    assert_eq!(media["type"], "image");
    assert_eq!(media["direction"], "inbound");
    assert_eq!(media["size"], photo.len());
    assert_eq!(media["mime_type"], "image/jpeg");
    let url = media["download_url"].as_str().unwrap();
    assert!(url.starts_with(&stack.client.base), "{url}");
    // The link needs no key and gives the file back as sent.
    let got = reqwest::get(url).await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    // A stranger's file on our origin: downloaded, never rendered or sniffed here.
    assert_eq!(got.headers()["content-disposition"], "attachment");
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        got.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), &photo[..]);
    // Every read mints a link; the media record does not grow with them (a list of links on
    // it would reach DynamoDB's 400 KB item limit after some thousands of reads).
    let (_, me) = stack.client.get("/v1/account", &stack.key).await;
    let account: shared::domain::AccountId = me["id"].as_str().unwrap().parse().unwrap();
    let record = shared::table::media(&account, &shared::domain::MediaId::parse("880001").unwrap());
    let size = |item: shared::ports::Item| format!("{:?}", item.attrs).len();
    let before = size(stack.running.app.items.get(&record).await.unwrap().unwrap());
    for _ in 0..30 {
        stack.get("/v1/media/880001").await;
    }
    let after = size(stack.running.app.items.get(&record).await.unwrap().unwrap());
    assert_eq!(before, after, "the media record grew with its links");
    // A guessed or altered token is refused.
    // (Its last character changed: to "1" when it already was "0".)
    let other = if url.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{other}", &url[..url.len() - 1]);
    let refused = reqwest::get(&forged).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // At rest, nothing of the file is readable.
    let marker = b"holiday-photo-bytes";
    for entry in walk(stack._dir.path()) {
        // Temporary files may go between the listing and the read.
        let Ok(bytes) = std::fs::read(&entry) else {
            continue;
        };
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} holds the photo in clear",
            entry.display()
        );
    }
    // A media id Meta does not know ends failed, with a reason, never a 500.
    assert_eq!(
        stack.post_webhook(&payload("wamid.gone", "880404")).await,
        StatusCode::OK
    );
    let mut gone = Value::Null;
    for _ in 0..200 {
        gone = stack.get("/v1/media/880404").await;
        if gone["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(gone["state"], "failed", "{gone}");
    assert!(gone["failure"].as_str().unwrap().contains("100"), "{gone}");
    assert_eq!(gone["download_url"], Value::Null);
    // Another tenant cannot see it.
    let other = stack.client.signup("Other", "other@example.com").await;
    let (s, _) = stack
        .client
        .get("/v1/media/880001", other["api_key"].as_str().unwrap())
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_to_meta_within_its_limits_and_keep_a_copy() {
    let stack = Stack::start(&[]).await;
    let upload = |query: &str, content_type: &str, body: Vec<u8>| {
        stack.client.send(
            stack
                .client
                .http
                .post(format!("{}/v1/media?{query}", stack.client.base))
                .bearer_auth(&stack.key)
                .header("content-type", content_type)
                .body(body),
        )
    };
    let png = b"\x89PNG\r\n\x1a\n a small picture".to_vec();
    let (s, media) = upload(
        &format!("from={NUMBER}&filename=pic.png"),
        "image/png",
        png.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{media}");
    assert_eq!(media["type"], "image");
    assert_eq!(media["direction"], "outbound");
    assert_eq!(media["state"], "stored");
    let id = media["id"].as_str().unwrap();
    let at_meta = stack.running.standin.as_ref().unwrap().media(id).unwrap();
    assert_eq!(at_meta.bytes.as_ref(), &png[..]);
    assert_eq!(at_meta.mime_type, "image/png");
    assert_eq!(at_meta.number.as_deref(), Some(NUMBER));
    // Our copy downloads the same.
    let shown = stack.get(&format!("/v1/media/{id}")).await;
    let got = reqwest::get(shown["download_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), &png[..]);

    // Over Meta's 5 MB for images; a type WhatsApp does not take; webp only as a sticker; a
    // number of someone else's.
    // Refused on the declared length, before the body is read; and, sent in chunks without a
    // length, once the limit is passed. (Raw HTTP: the server answers while the client still
    // writes, which an ordinary client reports as a broken pipe.)
    let declared = format!("content-length: {}\r\n", 5 * 1024 * 1024 + 1);
    let status = raw_upload(
        &stack,
        "image/jpeg",
        &declared,
        vec![1; 5 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(status, "413");
    let mut chunked = Vec::new();
    for _ in 0..6 {
        chunked.extend_from_slice(format!("{:x}\r\n", 100_000).as_bytes());
        chunked.extend(std::iter::repeat_n(1u8, 100_000));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let status = raw_upload(
        &stack,
        "image/webp",
        "transfer-encoding: chunked\r\n",
        chunked,
    )
    .await;
    assert_eq!(status, "413", "a 600 KB sticker");
    let (s, p) = upload(
        &format!("from={NUMBER}"),
        "application/x-msdownload",
        vec![1; 10],
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{p}");
    let (s, p) = upload(
        &format!("from={NUMBER}&type=image"),
        "image/webp",
        vec![1; 10],
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{p}");
    let (s, p) = upload(
        &format!("from={NUMBER}&type=sticker"),
        "image/webp",
        vec![1; 10],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, p) = upload("from=999999", "image/png", png.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        p["type"],
        "https://whatatalk.dev/problems/number-not-connected"
    );
    let (s, p) = upload(&format!("from={NUMBER}"), "image/png", vec![]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    stack.stop().await;
}

/// Deleting a contact erases its messages (both ways), the files it sent, its conversation,
/// windows and lookups — and nothing of another contact's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_contact_erases_exactly_its_data() {
    let stack = Stack::start(&[]).await;
    let standin = stack.running.standin.as_ref().unwrap();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut contacts = Vec::new();
    for (i, phone) in ["447911123456", "447911123457"].iter().enumerate() {
        let (id, _) = stack.sent_template(&format!("+{phone}")).await;
        let m = stack.get(&format!("/v1/messages/{id}")).await;
        let contact = m["contact_id"].as_str().unwrap().to_owned();
        let media = format!("77{i}001");
        standin.seed_media(
            &media,
            "image/jpeg",
            format!("photo of {phone}").into_bytes(),
        );
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": phone}],
            "messages": [
                {"from": phone, "id": format!("wamid.del{i}a"), "timestamp": t.to_string(), "type": "text", "text": {"body": "hi"}},
                {"from": phone, "id": format!("wamid.del{i}b"), "timestamp": (t + 1).to_string(), "type": "image",
                 "image": {"id": media, "mime_type": "image/jpeg"}}
            ]
        }}]}]});
        assert_eq!(stack.post_webhook(&payload).await, StatusCode::OK);
        let stored = stack.get(&format!("/v1/media/{media}")).await;
        assert_eq!(stored["state"], "stored", "{stored}");
        contacts.push((contact, media));
    }
    let (gone, gone_media) = &contacts[0];
    let (kept, kept_media) = &contacts[1];
    let kept_before = stack.get(&format!("/v1/contacts/{kept}/messages")).await;
    assert_eq!(kept_before["items"].as_array().unwrap().len(), 3);

    let (s, receipt) = stack
        .client
        .send(
            stack
                .client
                .http
                .delete(format!("{}/v1/contacts/{gone}", stack.client.base))
                .bearer_auth(&stack.key),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["contacts"], 1);
    assert_eq!(receipt["messages"], 3, "{receipt}");
    assert_eq!(receipt["media"], 1);
    assert_eq!(receipt["conversations"], 1);
    assert!(receipt["windows"].as_u64().unwrap() >= 1, "{receipt}");

    // Gone: the contact, its thread, its file, its conversation row.
    let (s, _) = stack
        .client
        .get(&format!("/v1/contacts/{gone}"), &stack.key)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = stack
        .client
        .get(&format!("/v1/contacts/{gone}/messages"), &stack.key)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = stack
        .client
        .get(&format!("/v1/media/{gone_media}"), &stack.key)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let rows = stack.get("/v1/conversations").await;
    let ids: Vec<&str> = rows["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["contact_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept.as_str()]);
    // Kept: everything of the other contact.
    assert_eq!(
        stack.get(&format!("/v1/contacts/{kept}/messages")).await,
        kept_before
    );
    assert_eq!(
        stack.get(&format!("/v1/media/{kept_media}")).await["state"],
        "stored"
    );
    // Raw: no item of the tenant names the deleted contact, in its key or any attribute.
    let app = &stack.running.app;
    let account: shared::domain::AccountId = stack.get("/v1/account").await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Every partition of the tenant's: its own and its messages' shards.
    let queries = shared::records::partitions(&account, |q| q.limit(500));
    let mut pages = shared::records::pages_across(&*app.items, queries);
    let mut seen = 0;
    while let Some(page) = futures::TryStreamExt::try_next(&mut pages).await.unwrap() {
        for item in &page.items {
            seen += 1;
            // The audit log records the deletion itself, by id (no personal value).
            if item.key.sk.starts_with("AUDIT#") {
                continue;
            }
            assert!(!item.key.sk.contains(gone.as_str()), "{:?}", item.key);
            assert!(
                !item
                    .attrs
                    .values()
                    .any(|v| v == &shared::ports::Value::S(gone.clone())),
                "{:?} still names the contact",
                item.key
            );
        }
    }
    drop(pages);
    assert!(seen > 5);
    for w in ["wamid.del0a", "wamid.del0b"] {
        assert!(
            app.items
                .get(&shared::table::wamid(w))
                .await
                .unwrap()
                .is_none(),
            "{w}"
        );
    }
    assert!(app
        .items
        .get(&shared::table::wamid("wamid.del1a"))
        .await
        .unwrap()
        .is_some());
    stack.stop().await;
}

/// Posts a sticker or image upload over a raw connection, writing the body in the background,
/// and returns the answer's status code.
async fn raw_upload(stack: &Stack, content_type: &str, framing: &str, body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let kind = if content_type == "image/webp" {
        "&type=sticker"
    } else {
        ""
    };
    let head = format!(
        "POST /v1/media?from={NUMBER}{kind} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: {content_type}\r\n{framing}\r\n",
        stack.running.addr, stack.key
    );
    let conn = tokio::net::TcpStream::connect(stack.running.addr)
        .await
        .unwrap();
    let (mut read, mut write) = conn.into_split();
    let writer = tokio::spawn(async move {
        // The server may close before the body is through: that is the point.
        let _ = write.write_all(head.as_bytes()).await;
        let _ = write.write_all(&body).await;
        write
    });
    let mut answer = vec![0u8; 64];
    let n = read.read(&mut answer).await.unwrap();
    let _ = writer.await;
    let line = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(line.starts_with("HTTP/1.1 "), "{line}");
    line[9..12].to_owned()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn permutations<T: Clone>(items: &mut Vec<T>, k: usize, out: &mut Vec<Vec<T>>) {
    if k == items.len() {
        out.push(items.clone());
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permutations(items, k + 1, out);
        items.swap(k, i);
    }
}
