//! Events to the business's own systems, end to end on both backends: a receiver on a
//! loopback port gets `contact.created`, `message.received`, `message.status` and
//! `endpoint.test`, each signed per Standard Webhooks and verified by the specification's own
//! Python library; a receiver answering 500 then 200 gets the event twice and the log shows
//! both; a receiver that hangs does not hold up another endpoint's delivery (told by order,
//! not by the clock); 410 disables an endpoint and tells the account; on the deployment's
//! reach, a URL naming a private address is refused and a name resolving to one is never
//! connected to.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::events::guard::Reach;
use support::Client;
use tokio::sync::Notify;

const APP_SECRET: &str = "e2e-app-secret";
const BILLING_SECRET: &str = "whsec_e2e_billing";

/// One request a receiver got: its headers and body.
type Request = (HeaderMap, String);

/// What a receiver got: per path, each request.
#[derive(Clone, Default)]
struct Received {
    requests: Arc<Mutex<HashMap<String, Vec<Request>>>>,
    /// Paths that answer 500 to their first request.
    flaky: Arc<Mutex<HashMap<String, u32>>>,
    /// Released when the test lets the slow path answer.
    release: Arc<Notify>,
}

impl Received {
    fn of(&self, path: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        self.of(path)
            .iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }

    async fn wait_for(&self, path: &str, what: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        for _ in 0..300 {
            let got = self.bodies(path);
            if what(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path} got {:?}", self.bodies(path));
    }
}

async fn receive(
    State(r): State<Received>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> AxumStatus {
    r.requests
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default()
        .push((headers, body));
    match path.as_str() {
        "gone" => AxumStatus::GONE,
        "slow" => {
            r.release.notified().await;
            AxumStatus::OK
        }
        _ => {
            let mut flaky = r.flaky.lock().unwrap();
            match flaky.get_mut(&path) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    AxumStatus::INTERNAL_SERVER_ERROR
                }
                _ => AxumStatus::NO_CONTENT,
            }
        }
    }
}

/// A receiver on a free loopback port; its base URL.
async fn receiver(r: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/{path}", post(receive)).with_state(r);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{}", addr.port())
}

struct Stack {
    client: Client,
    app: Arc<shared::services::App>,
    standin: infra::standin::StandIn,
    _running: infra::Running,
    _dir: tempfile::TempDir,
}

async fn serve(
    app: shared::services::App,
    standin: infra::standin::StandIn,
    dir: tempfile::TempDir,
) -> Stack {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Arc::new(app.with_event_first_retry(Duration::from_secs(1)));
    let running = infra::serve(
        app.clone(),
        listener,
        axum::Router::new(),
        Default::default(),
        &infra::DevSecrets::fixed(APP_SECRET, "e2e-verify-token", BILLING_SECRET),
    )
    .unwrap();
    Stack {
        client: Client::new(running.base_url()),
        app,
        standin,
        _running: running,
        _dir: dir,
    }
}

async fn local(reach: Reach) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let (standin, graph) = infra::standin::StandIn::start(Default::default())
        .await
        .unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let graph = shared::graph::GraphClient::new(shared::graph::GraphConfig::new(
        graph,
        shared::graph::DEFAULT_VERSION,
    ));
    let app = shared::testing::local_app_with_graph(dir.path(), graph).with_event_reach(reach);
    serve(app, standin, dir).await
}

#[cfg(feature = "aws")]
async fn aws(reach: Reach) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let (standin, graph) = infra::standin::StandIn::start(Default::default())
        .await
        .unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let (app, _, _) = shared::testing::aws_app_with_graph(graph).await;
    serve(app.with_event_reach(reach), standin, dir).await
}

macro_rules! on_both {
    ($($case:ident),+ $(,)?) => {
        mod local_runner {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { super::$case(super::local).await } )+
        }
        #[cfg(feature = "aws")]
        mod aws_adapters {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { super::$case(super::aws).await } )+
        }
    };
}

on_both!(
    every_event_arrives_signed_and_verifies_with_the_reference_library,
    what_people_and_jobs_do_raises_events,
    a_failed_attempt_is_retried_and_logged,
    a_hanging_endpoint_does_not_hold_up_another,
    a_failing_endpoint_rests_and_one_delivery_probes_it,
    gone_disables_and_private_addresses_are_refused,
);

struct Tenant {
    account: String,
    key: String,
    number: String,
}

/// A stack at `reach`, a receiver on loopback (its base URL) and a tenant with a number.
async fn setup<F, Fut>(stack: &F, reach: Reach, name: &str) -> (Stack, Received, String, Tenant)
where
    F: Fn(Reach) -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    let s = stack(reach).await;
    let r = Received::default();
    let base = receiver(r.clone()).await;
    let t = s.tenant(name).await;
    (s, r, base, t)
}

impl Stack {
    async fn tenant(&self, name: &str) -> Tenant {
        let account = self
            .client
            .signup(name, &format!("{}@events.example", name.to_lowercase()))
            .await;
        let key = account["api_key"].as_str().unwrap().to_owned();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let number = (106_540_352_243_000 + n).to_string();
        self.client
            .connect_number_in(
                &self.standin,
                &key,
                &format!("3{number}"),
                &number,
                "+15550783881",
                "EAAGeventstoken123456",
            )
            .await;
        Tenant {
            account: account["account_id"].as_str().unwrap().to_owned(),
            key,
            number,
        }
    }

    async fn endpoint(&self, t: &Tenant, url: &str, events: &[&str]) -> (String, String) {
        let (s, e) = self
            .client
            .post(
                "/v1/webhook-endpoints",
                &t.key,
                json!({"url": url, "description": "the CRM", "events": events}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        (
            e["id"].as_str().unwrap().to_owned(),
            e["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn contact(&self, t: &Tenant, phone: &str) -> String {
        let (s, c) = self
            .client
            .post(
                "/v1/contacts",
                &t.key,
                json!({"phone": phone, "name": "Ada", "consent": {"opted_in": true}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        c["id"].as_str().unwrap().to_owned()
    }

    async fn post_webhook(&self, payload: &Value) {
        let s = self.client.post_meta_webhook(payload, APP_SECRET).await;
        assert_eq!(s, StatusCode::OK);
    }
}

fn messages_change(number: &str, value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": number});
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]})
}

/// Each request `path` got, checked by the Standard Webhooks reference library (PyPI's
/// `standardwebhooks`, installed by infra/test.sh) with `secret`; returns how many passed.
fn verified_by_the_reference_library(requests: &[Request], secret: &str) -> usize {
    let python = std::env::var("WHATATALK_TEST_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/venv/bin/python").to_owned()
    });
    let cases: Vec<Value> = requests
        .iter()
        .map(|(h, body)| {
            let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
            json!({
                "headers": {
                    "webhook-id": header("webhook-id"),
                    "webhook-timestamp": header("webhook-timestamp"),
                    "webhook-signature": header("webhook-signature"),
                },
                "body": body,
            })
        })
        .collect();
    let script = r#"
import json, sys
from standardwebhooks import Webhook
data = json.load(sys.stdin)
wh = Webhook(data["secret"])
ok = 0
for c in data["cases"]:
    wh.verify(c["body"], c["headers"])
    ok += 1
print(ok)
"#;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python}: {e}; infra/test.sh installs the standardwebhooks library")
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            json!({"secret": secret, "cases": cases})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

async fn every_event_arrives_signed_and_verifies_with_the_reference_library<F, Fut>(stack: F)
where
    F: Fn(Reach) -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    let (s, r, base, t) = setup(&stack, Reach::LOOPBACK, "Signed").await;
    let (endpoint, secret) = s
        .endpoint(
            &t,
            &format!("{base}/crm"),
            &["contact.created", "message.received", "message.status"],
        )
        .await;
    assert!(secret.starts_with("whsec_"));
    // contact.created, from the API.
    let contact = s.contact(&t, "+447911123456").await;
    let got = r
        .wait_for("crm", |b| b.iter().any(|e| e["type"] == "contact.created"))
        .await;
    let created = got.iter().find(|e| e["type"] == "contact.created").unwrap();
    assert_eq!(created["data"]["id"], contact);
    assert_eq!(created["data"]["phone"], "+447911123456");
    // message.received, from Meta's webhook; delivered twice by Meta, one event.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let inbound = messages_change(
        &t.number,
        json!({
            "contacts": [{"profile": {"name": "Ada"}, "wa_id": "447911123456"}],
            "messages": [{"from": "447911123456", "id": format!("wamid.events{}", t.number), "timestamp": now.to_string(),
                          "type": "text", "text": {"body": "Hello there"}}],
        }),
    );
    s.post_webhook(&inbound).await;
    s.post_webhook(&inbound).await;
    r.wait_for("crm", |b| b.iter().any(|e| e["type"] == "message.received"))
        .await;
    // message.status, for a message we sent: delivered, then read.
    let (st, sent) = s
        .client
        .post(
            "/v1/messages",
            &t.key,
            json!({"from": t.number, "to": contact, "type": "text", "text": {"body": "Hi Ada"}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{sent}");
    let id = sent["id"].as_str().unwrap();
    let mut wamid = String::new();
    for _ in 0..200 {
        let (_, m) = s.client.get(&format!("/v1/messages/{id}"), &t.key).await;
        if let Some(w) = m["wamid"].as_str() {
            wamid = w.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!wamid.is_empty(), "the message was sent");
    for (status, ts) in [("delivered", now + 1), ("read", now + 2)] {
        s.post_webhook(&messages_change(
            &t.number,
            json!({"statuses": [{"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": "447911123456"}]}),
        ))
        .await;
    }
    let got = r
        .wait_for("crm", |b| {
            b.iter()
                .filter(|e| e["type"] == "message.status" && e["data"]["message_id"] == id)
                .count()
                >= 2
        })
        .await;
    let statuses: Vec<(&str, i64)> = got
        .iter()
        .filter(|e| e["type"] == "message.status" && e["data"]["message_id"] == id)
        .filter(|e| e["data"]["status"] != "sent")
        .map(|e| {
            (
                e["data"]["status"].as_str().unwrap(),
                e["data"]["rank"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("delivered", 4)) && statuses.contains(&("read", 5)),
        "{statuses:?}"
    );
    // endpoint.test, on demand.
    let (st, q) = s
        .client
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/test"),
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
    r.wait_for("crm", |b| b.iter().any(|e| e["type"] == "endpoint.test"))
        .await;
    // Meta's second delivery of the inbound message raised no second event.
    let received = r
        .bodies("crm")
        .iter()
        .filter(|e| e["type"] == "message.received")
        .count();
    assert_eq!(received, 1);
    // Every request verifies with the reference library, and ids are unique.
    let requests = r.of("crm");
    assert_eq!(
        verified_by_the_reference_library(&requests, &secret),
        requests.len()
    );
    let ids: std::collections::BTreeSet<String> = requests
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), requests.len());
    // A rotated secret: both sign during the overlap, so either verifies.
    let (st, rotated) = s
        .client
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            &t.key,
            json!({"overlap_seconds": 3600}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    s.client
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/test"),
            &t.key,
            json!({}),
        )
        .await;
    r.wait_for("crm", |b| {
        b.iter().filter(|e| e["type"] == "endpoint.test").count() == 2
    })
    .await;
    let last = r.of("crm").last().cloned().unwrap();
    assert_eq!(
        last.0["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    for secret in [&secret, &new_secret] {
        assert_eq!(
            verified_by_the_reference_library(std::slice::from_ref(&last), secret),
            1
        );
    }
}

async fn a_failed_attempt_is_retried_and_logged<F, Fut>(stack: F)
where
    F: Fn(Reach) -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    let (s, r, base, t) = setup(&stack, Reach::LOOPBACK, "Retried").await;
    r.flaky.lock().unwrap().insert("flaky".into(), 1);
    let (endpoint, _) = s
        .endpoint(&t, &format!("{base}/flaky"), &["contact.created"])
        .await;
    s.contact(&t, "+447911123457").await;
    r.wait_for("flaky", |b| b.len() == 2).await;
    let requests = r.of("flaky");
    assert_eq!(
        requests[0].0["webhook-id"], requests[1].0["webhook-id"],
        "the same event"
    );
    let log = loop {
        let (_, page) = s
            .client
            .get(
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
                &t.key,
            )
            .await;
        if page["items"][0]["state"] == "succeeded" {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let attempts = log["items"][0]["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 204], "{log}");
    assert_eq!(log["items"][0]["event_type"], "contact.created");
    // Replayed on demand: delivered a third time.
    let event = log["items"][0]["event_id"].as_str().unwrap();
    let (st, _) = s
        .client
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries/{event}/replay"),
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    r.wait_for("flaky", |b| b.len() == 3).await;
}

async fn a_hanging_endpoint_does_not_hold_up_another<F, Fut>(stack: F)
where
    F: Fn(Reach) -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    let (s, r, base, t) = setup(&stack, Reach::LOOPBACK, "Isolated").await;
    s.endpoint(&t, &format!("{base}/slow"), &["contact.created"])
        .await;
    s.endpoint(&t, &format!("{base}/fast"), &["contact.created"])
        .await;
    s.contact(&t, "+447911123458").await;
    // The slow endpoint has its request and holds it; the fast one is served meanwhile.
    r.wait_for("slow", |b| b.len() == 1).await;
    r.wait_for("fast", |b| b.len() == 1).await;
    assert_eq!(r.of("slow").len(), 1, "still the one request, unanswered");
    r.release.notify_waiters();
}

/// Once an endpoint fails, its other deliveries wait without an attempt while it rests; one
/// probes it when the rest is over (the stack's first retry is 1 s, then 2 s, …); when it
/// answers again, every waiting delivery goes.
async fn a_failing_endpoint_rests_and_one_delivery_probes_it<F, Fut>(stack: F)
where
    F: Fn(Reach) -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    let (s, r, base, t) = setup(&stack, Reach::LOOPBACK, "Resting").await;
    r.flaky.lock().unwrap().insert("down".into(), 1_000);
    let (endpoint, _) = s
        .endpoint(&t, &format!("{base}/down"), &["contact.created"])
        .await;
    s.contact(&t, "+447911123470").await;
    r.wait_for("down", |b| b.len() == 1).await;
    let log = || async {
        let (st, page) = s
            .client
            .get(
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
                &t.key,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    };
    // The first failure recorded, and the endpoint resting with it.
    while log()
        .await
        .first()
        .map(|d| d["attempts"].as_array().unwrap().len())
        != Some(1)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..6 {
        s.contact(&t, &format!("+44791112348{i}")).await;
    }
    while log().await.len() < 7 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Unrested, each of the six would have had its attempt at once.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let waiting = log()
        .await
        .iter()
        .filter(|d| d["attempts"].as_array().unwrap().is_empty())
        .count();
    assert!(
        waiting >= 3,
        "{waiting} of 6 deliveries waited: {:?}",
        log().await
    );
    // Answering again: the next probe goes through, and so does every waiting delivery.
    r.flaky.lock().unwrap().insert("down".into(), 0);
    for _ in 0..400 {
        let items = log().await;
        if items.iter().all(|d| d["state"] == "succeeded") {
            let failed = r.of("down").len() - 7;
            // One probe per rest: far fewer failures than seven deliveries retrying each.
            assert!(failed <= 4, "{failed} failed attempts");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not every delivery went: {:?}", log().await);
}

async fn gone_disables_and_private_addresses_are_refused<F, Fut>(stack: F)
where
    F: Fn(Reach) -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    // The local runner's reach: 410 disables the endpoint and leaves a notice.
    let (s, r, base, t) = setup(&stack, Reach::LOOPBACK, "Gone").await;
    let (endpoint, _) = s
        .endpoint(&t, &format!("{base}/gone"), &["contact.created"])
        .await;
    s.contact(&t, "+447911123459").await;
    r.wait_for("gone", |b| b.len() == 1).await;
    let shown = loop {
        let (_, e) = s
            .client
            .get(&format!("/v1/webhook-endpoints/{endpoint}"), &t.key)
            .await;
        if e["enabled"] == false {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(shown["disabled_reason"], "gone");
    let (_, notices) = s.client.get("/v1/notices", &t.key).await;
    assert!(
        notices["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "webhook_endpoint" && n["payload"]["reason"] == "gone"),
        "{notices}"
    );

    // A deployment's reach: https only, public addresses only.
    let (s, r, base, t) = setup(&stack, Reach::PUBLIC, "Guarded").await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("{base}/x"),
        format!("https://127.0.0.1:{port}/x"),
        "https://[::ffff:169.254.169.254]/latest".to_owned(),
        "https://10.0.0.8/hook".to_owned(),
    ] {
        let (st, p) = s
            .client
            .post(
                "/v1/webhook-endpoints",
                &t.key,
                json!({"url": url, "events": ["contact.created"]}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {p}");
    }
    // A name resolving to loopback is taken, but never connected to.
    let (endpoint, _) = s
        .endpoint(
            &t,
            &format!("https://localhost:{port}/x"),
            &["contact.created"],
        )
        .await;
    s.contact(&t, "+447911123460").await;
    let log = loop {
        let (_, page) = s
            .client
            .get(
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
                &t.key,
            )
            .await;
        if page["items"][0]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let attempt = &log["items"][0]["attempts"][0];
    assert!(attempt["status_code"].is_null(), "{log}");
    assert_eq!(attempt["answer"], "could not connect");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        r.of("x").is_empty(),
        "nothing reached the loopback receiver"
    );
}

/// The events of what people do (consent, assignment) and of jobs that finish (an import, an
/// export), each with its documented body.
async fn what_people_and_jobs_do_raises_events<F, Fut>(stack: F)
where
    F: Fn(Reach) -> Fut,
    Fut: std::future::Future<Output = Stack>,
{
    let (s, r, base, t) = setup(&stack, Reach::LOOPBACK, "Lifecycle").await;
    let (_, secret) = s
        .endpoint(
            &t,
            &format!("{base}/all"),
            &[
                "contact.opted_out",
                "contact.opted_in",
                "conversation.assigned",
                "import.completed",
                "export.ready",
                "broadcast.completed",
                "broadcast.paused",
                "template.status",
                "number.sending_stopped",
                "subscription.changed",
            ],
        )
        .await;
    let contact = s.contact(&t, "+447911123461").await;
    let of = |b: &[Value], kind: &str| {
        b.iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    // Opted out, then in again (the opt-out lifted).
    let path = format!("/v1/contacts/{contact}");
    let (st, c) = s
        .client
        .patch(
            &path,
            &t.key,
            json!({"opt_out": {"reason": "asked by phone"}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let got = r
        .wait_for("all", |b| !of(b, "contact.opted_out").is_empty())
        .await;
    assert_eq!(
        of(&got, "contact.opted_out")[0]["data"]["opt_out"]["reason"],
        "asked by phone"
    );
    s.client
        .patch(&path, &t.key, json!({"opt_out": null}))
        .await;
    r.wait_for("all", |b| !of(b, "contact.opted_in").is_empty())
        .await;
    // Assigned to nobody, then to a user (the conversation exists once a message does).
    s.post_webhook(&messages_change(
        &t.number,
        json!({
            "contacts": [{"profile": {"name": "Ada"}, "wa_id": "447911123461"}],
            "messages": [{"from": "447911123461", "id": format!("wamid.assign{}", t.number),
                          "timestamp": time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
                          "type": "text", "text": {"body": "Hi"}}],
        }),
    ))
    .await;
    let account: shared::domain::AccountId = t.account.parse().unwrap();
    let by = shared::services::Principal::system(account);
    let contact_id: shared::domain::ContactId = contact.parse().unwrap();
    s.app
        .assign_conversation(&by, &contact_id, None)
        .await
        .unwrap();
    let got = r
        .wait_for("all", |b| !of(b, "conversation.assigned").is_empty())
        .await;
    let assigned = &of(&got, "conversation.assigned")[0]["data"];
    assert_eq!(assigned["contact_id"], contact);
    assert!(assigned["assignee"].is_null());
    // An import (its file put where the upload link would have put it), and an export.
    let (st, created) = s
        .client
        .post("/v1/contacts/imports", &t.key, json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let import_id: shared::domain::ImportId = created["id"].as_str().unwrap().parse().unwrap();
    let account: shared::domain::AccountId = t.account.parse().unwrap();
    s.app
        .blobs
        .put(
            &shared::services::imports::source_key(&account, &import_id).unwrap(),
            bytes::Bytes::from_static(b"phone,name\n+447911123462,Bo\nnot-a-phone,Cy\n"),
            "text/csv",
        )
        .await
        .unwrap();
    let import = created["id"].as_str().unwrap();
    s.client
        .post(
            &format!("/v1/contacts/imports/{import}/start"),
            &t.key,
            json!({}),
        )
        .await;
    let got = r
        .wait_for("all", |b| !of(b, "import.completed").is_empty())
        .await;
    let done = &of(&got, "import.completed")[0]["data"];
    assert_eq!(
        (done["import_id"].as_str(), done["status"].as_str()),
        (Some(import), Some("completed"))
    );
    assert_eq!(
        (
            done["counts"]["created"].as_u64(),
            done["counts"]["rejected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let (st, export) = s.client.post("/v1/exports", &t.key, json!({})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{export}");
    let got = r
        .wait_for("all", |b| !of(b, "export.ready").is_empty())
        .await;
    assert_eq!(
        of(&got, "export.ready")[0]["data"]["export_id"],
        export["id"]
    );
    // A broadcast that runs to its end, and one for tomorrow, paused.
    let (st, c) = s
        .client
        .post(
            "/v1/contacts",
            &t.key,
            json!({"phone": "+447911123463", "tags": ["vip"], "consent": {"opted_in": true}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let template = json!({"name": "hello", "language": {"policy": "deterministic", "code": "en"}});
    let (st, now_b) = s
        .client
        .post(
            "/v1/broadcasts",
            &t.key,
            json!({"from": t.number, "template": template, "recipients": {"tags": ["vip"]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{now_b}");
    let got = r
        .wait_for("all", |b| !of(b, "broadcast.completed").is_empty())
        .await;
    let completed = &of(&got, "broadcast.completed")[0]["data"];
    assert_eq!(completed["id"], now_b["id"]);
    assert_eq!(completed["status"], "completed");
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (st, later) = s
        .client
        .post(
            "/v1/broadcasts",
            &t.key,
            json!({"from": t.number, "template": template, "recipients": {"tags": ["vip"]}, "send_at": tomorrow}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{later}");
    let later_id = later["id"].as_str().unwrap();
    let (st, p) = s
        .client
        .post(
            &format!("/v1/broadcasts/{later_id}/pause"),
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let got = r
        .wait_for("all", |b| !of(b, "broadcast.paused").is_empty())
        .await;
    assert_eq!(of(&got, "broadcast.paused")[0]["data"]["id"], later_id);
    // Meta pauses one of the account's templates.
    let (_, templates) = s.client.get("/v1/templates", &t.key).await;
    let hello = templates["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "hello")
        .unwrap()
        .clone();
    s.post_webhook(&json!({"object": "whatsapp_business_account", "entry": [{
        "id": format!("3{}", t.number), "time": time::OffsetDateTime::now_utc().unix_timestamp(),
        "changes": [{"field": "message_template_status_update", "value": {
            "event": "PAUSED", "message_template_id": hello["id"].as_str().unwrap().parse::<u64>().unwrap(),
            "message_template_name": "hello", "message_template_language": hello["language"], "reason": "LOW_QUALITY"}}]}]}))
    .await;
    let got = r
        .wait_for("all", |b| !of(b, "template.status").is_empty())
        .await;
    let paused = &of(&got, "template.status")[0]["data"];
    assert_eq!(
        (paused["name"].as_str(), paused["status"].as_str()),
        (Some("hello"), Some("PAUSED"))
    );
    // The number stops sending (Meta refused its token).
    let number = shared::domain::PhoneNumberId::parse(&t.number).unwrap();
    s.app
        .stop_sending(&account, &number, 190, "the access token expired")
        .await
        .unwrap();
    let got = r
        .wait_for("all", |b| !of(b, "number.sending_stopped").is_empty())
        .await;
    assert_eq!(of(&got, "number.sending_stopped")[0]["data"]["code"], 190);
    // A payment event starts a subscription.
    let body = include_str!("../../events/billing/subscription-created-trialing.json")
        .replace("acc_REPLACED_BY_TESTS", &t.account)
        .replace("cus_QwErTy123456", &format!("cus_{}", t.number));
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let st = s
        .client
        .http
        .post(format!("{}/billing/webhook", s.client.base))
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            shared::payments::signature::sign(BILLING_SECRET, ts, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, StatusCode::OK);
    let got = r
        .wait_for("all", |b| !of(b, "subscription.changed").is_empty())
        .await;
    let changed = &of(&got, "subscription.changed")[0];
    // The provider's event's time: the same event however often it is applied.
    let created = time::OffsetDateTime::from_unix_timestamp(1_795_600_000).unwrap();
    let shown = time::OffsetDateTime::parse(
        changed["timestamp"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(shown, created);
    let sub = &changed["data"];
    assert_eq!(
        (sub["plan_id"].as_str(), sub["subscription_state"].as_str()),
        (Some("starter"), Some("trialing"))
    );
    // Each of them signed and verified by the reference library.
    let requests = r.of("all");
    assert_eq!(
        verified_by_the_reference_library(&requests, &secret),
        requests.len()
    );
}

/// What a webhook raises leaves its request as one queue message (the added cost on Meta's
/// ingest path): one `events` job carrying every event of the account, stored and fanned out
/// to the endpoints by the job, never in the request.
#[tokio::test]
async fn a_webhooks_events_leave_it_as_one_queue_message() {
    use shared::services::{Job, Principal};
    let dir = tempfile::tempdir().unwrap();
    let (_standin, graph) = infra::standin::StandIn::start(Default::default())
        .await
        .unwrap();
    let graph = shared::graph::GraphClient::new(shared::graph::GraphConfig::new(
        graph,
        shared::graph::DEFAULT_VERSION,
    ));
    let app =
        shared::testing::local_app_with_graph(dir.path(), graph).with_event_reach(Reach::LOOPBACK);
    // Signed up, with the stand-in's demo number.
    let account = infra::bench::bench_account(&app, 0, 80)
        .await
        .unwrap()
        .account;
    let number = infra::bench::NUMBER;
    for path in ["a", "b"] {
        app.create_endpoint(
            &Principal::system(account.clone()),
            shared::services::events::NewEndpoint {
                url: shared::domain::EndpointUrl::parse(&format!("http://127.0.0.1:9/{path}"))
                    .unwrap(),
                description: String::new(),
                events: shared::domain::EventTypes::parse(["message.received"]).unwrap(),
            },
        )
        .await
        .unwrap();
    }
    let queued = |app: &shared::services::App| {
        let queue = app.job_queue.clone();
        async move {
            let mut jobs = Vec::new();
            loop {
                let got = queue
                    .receive(10, Duration::from_secs(60), Duration::ZERO)
                    .await
                    .unwrap();
                if got.is_empty() {
                    return jobs;
                }
                for m in got {
                    queue.ack(&m.receipt).await.unwrap();
                    jobs.push(Job::parse(&m.body).unwrap());
                }
            }
        }
    };
    // What signing up and connecting queued.
    queued(&app).await;
    let t = shared::domain::now().unix_timestamp();
    let messages: Vec<Value> = (0..3)
        .map(|i| {
            json!({"from": format!("44791112345{i}"), "id": format!("wamid.one{i}"),
                "timestamp": t.to_string(), "type": "text", "text": {"body": "hi"}})
        })
        .collect();
    let contacts: Vec<Value> = (0..3)
        .map(|i| json!({"profile": {"name": "Ana"}, "wa_id": format!("44791112345{i}")}))
        .collect();
    let webhook = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
        "contacts": contacts, "messages": messages
    }}]}]});
    app.ingest_webhook(webhook.to_string().as_bytes())
        .await
        .unwrap();
    let jobs = queued(&app).await;
    let events: Vec<&Job> = jobs
        .iter()
        .filter(|j| matches!(j, Job::Events { .. }))
        .collect();
    assert_eq!(events.len(), 1, "{jobs:?}");
    let Job::Events { account_id, events } = events[0] else {
        unreachable!()
    };
    assert_eq!(account_id, &account);
    assert_eq!(events.len(), 3, "one event per message, for both endpoints");
    // Nothing about the endpoints was done in the request: no delivery yet.
    let (log, _) = app
        .deliveries(
            &Principal::system(account.clone()),
            &app.endpoints(&Principal::system(account.clone()))
                .await
                .unwrap()[0]
                .id,
            10,
            None,
        )
        .await
        .unwrap();
    assert!(log.is_empty());
}
