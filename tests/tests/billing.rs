//! Billing end to end: signed payment events (the fixtures in events/billing/) drive an
//! account's subscription through trialing → active → past_due → active → canceled, with
//! sending allowed or refused at each step; replays and reorders settle the same; the plan's
//! allowance refuses sends with 402; status webhooks are metered once per wamid. Every case
//! runs on the local runner and on the AWS adapters (DynamoDB Local, moto).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Client;

const BILLING_SECRET: &str = "whsec_e2e_billing_secret";
const APP_SECRET: &str = "e2e-app-secret";

/// The built-in plans, with a free allowance small enough to use up in a test.
fn plans() -> shared::domain::BillingConfig {
    let mut config = shared::domain::BillingConfig::default();
    for p in &mut config.plans {
        if p.id == "free" {
            p.included_template_messages = 3;
        }
    }
    config
}

struct Stack {
    client: Client,
    running: infra::Running,
    _dir: tempfile::TempDir,
}

async fn local() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
    config.secrets = infra::DevSecrets::fixed(APP_SECRET, "e2e-verify-token", BILLING_SECRET);
    config.billing = plans();
    let running = infra::start(config).await.unwrap();
    if let Some(standin) = &running.standin {
        standin.seed_templates(infra::standin::templates::fixtures());
    }
    Stack {
        client: Client::new(running.base_url()),
        running,
        _dir: dir,
    }
}

#[cfg(feature = "aws")]
async fn aws() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let (standin, graph) = infra::standin::StandIn::start(Default::default())
        .await
        .unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let (app, _, _) = shared::testing::aws_app_with_graph(graph).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut running = infra::serve(
        std::sync::Arc::new(app.with_billing(plans())),
        listener,
        axum::Router::new(),
        Default::default(),
        &infra::DevSecrets::fixed(APP_SECRET, "e2e-verify-token", BILLING_SECRET),
    )
    .unwrap();
    running.standin = Some(standin);
    Stack {
        client: Client::new(running.base_url()),
        running,
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
    the_subscription_lifecycle_allows_and_refuses_sending,
    replayed_and_reordered_events_settle_the_same,
    the_free_allowance_ends_in_402,
    signatures_are_checked_before_anything_changes,
    statuses_are_metered_once_per_wamid,
    the_october_2026_categories_are_priced,
    a_checkout_from_a_plan_link_names_the_account,
);

/// The fixtures in the order the provider made them.
const LIFECYCLE: [&str; 10] = [
    "subscription-created-trialing",
    "payment-method-attached",
    "customer-updated",
    "subscription-updated-active",
    "invoice-paid",
    "invoice-payment-failed",
    "subscription-updated-past-due",
    "invoice-paid-retry",
    "subscription-updated-active-again",
    "subscription-deleted",
];

fn fixture_text(name: &str) -> &'static str {
    match name {
        "subscription-created-trialing" => {
            include_str!("../../events/billing/subscription-created-trialing.json")
        }
        "payment-method-attached" => {
            include_str!("../../events/billing/payment-method-attached.json")
        }
        "customer-updated" => include_str!("../../events/billing/customer-updated.json"),
        "subscription-updated-active" => {
            include_str!("../../events/billing/subscription-updated-active.json")
        }
        "invoice-paid" => include_str!("../../events/billing/invoice-paid.json"),
        "invoice-payment-failed" => {
            include_str!("../../events/billing/invoice-payment-failed.json")
        }
        "subscription-updated-past-due" => {
            include_str!("../../events/billing/subscription-updated-past-due.json")
        }
        "invoice-paid-retry" => include_str!("../../events/billing/invoice-paid-retry.json"),
        "subscription-updated-active-again" => {
            include_str!("../../events/billing/subscription-updated-active-again.json")
        }
        "subscription-deleted" => include_str!("../../events/billing/subscription-deleted.json"),
        "checkout-session-completed" => {
            include_str!("../../events/billing/checkout-session-completed.json")
        }
        other => panic!("no fixture {other}"),
    }
}

/// A fixture for `account`, its customer and ids made unique per account, and its times
/// moved so the whole story happened in the last few hours (`days_ago` moves it further).
fn fixture(name: &str, account: &str, days_ago: i64) -> Value {
    let text = fixture_text(name)
        .replace("acc_REPLACED_BY_TESTS", account)
        .replace("cus_QwErTy123456", &format!("cus_{account}"))
        .replace("\"evt_", &format!("\"evt_{account}_"));
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let shift = |t: i64| now - days_ago * 86_400 - 10_000 + (t - 1_795_600_000) / 100;
    let created = event["created"].as_i64().unwrap();
    event["created"] = json!(shift(created));
    if let Some(t) = event["data"]["object"]["created"].as_i64() {
        event["data"]["object"]["created"] = json!(shift(t));
    }
    event
}

impl Stack {
    fn standin(&self) -> &infra::standin::StandIn {
        self.running.standin.as_ref().unwrap()
    }

    async fn tenant(&self, name: &str) -> Tenant {
        let account = self
            .client
            .signup(name, &format!("{}@example.com", name.to_lowercase()))
            .await;
        let key = account["api_key"].as_str().unwrap().to_owned();
        // A number is one tenant's: each gets its own.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Clear of the stand-in's demo number (…242922), which another WABA lists.
        let number = (106_540_352_250_000 + n).to_string();
        self.client
            .connect_number_in(
                self.standin(),
                &key,
                &format!("2{number}"),
                &number,
                "+15550783881",
                "EAAGbillingtoken123456",
            )
            .await;
        let (s, c) = self
            .client
            .send(
                self.client
                    .http
                    .post(format!("{}/v1/contacts", self.client.base))
                    .bearer_auth(&key)
                    .json(&json!({"phone": "+447911123456", "consent": {"opted_in": true}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        Tenant {
            account: account["account_id"].as_str().unwrap().to_owned(),
            number,
            key,
            contact: c["id"].as_str().unwrap().to_owned(),
        }
    }

    async fn post_event(&self, event: &Value) -> StatusCode {
        let body = event.to_string();
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        self.post_signed(
            &body,
            Some(shared::payments::signature::sign(
                BILLING_SECRET,
                t,
                body.as_bytes(),
            )),
        )
        .await
        .0
    }

    async fn post_signed(&self, body: &str, signature: Option<String>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .http
            .post(format!("{}/billing/webhook", self.client.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        self.client.send(req).await
    }

    /// Posts until every event is taken, as the provider retries the ones answered 404 (their
    /// customer not linked yet).
    async fn deliver(&self, events: &[Value]) {
        let mut left: Vec<&Value> = events.iter().collect();
        for _ in 0..events.len() + 1 {
            let mut retry = Vec::new();
            for e in left {
                match self.post_event(e).await {
                    StatusCode::OK => {}
                    StatusCode::NOT_FOUND => retry.push(e),
                    other => panic!("{other} for {e}"),
                }
            }
            if retry.is_empty() {
                return;
            }
            left = retry;
        }
        panic!("events never taken: {left:?}");
    }

    async fn billing(&self, t: &Tenant) -> Value {
        let (s, b) = self.client.get("/v1/billing", &t.key).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    async fn send_template(&self, t: &Tenant) -> (StatusCode, Value) {
        let template =
            json!({"name": "hello", "language": {"policy": "deterministic", "code": "en"}});
        self.client
            .send(
                self.client
                    .http
                    .post(format!("{}/v1/messages", self.client.base))
                    .bearer_auth(&t.key)
                    .json(&json!({"from": t.number, "to": t.contact, "type": "template", "template": template})),
            )
            .await
    }

    async fn post_webhook(&self, payload: &Value) -> StatusCode {
        self.client.post_meta_webhook(payload, APP_SECRET).await
    }
}

struct Tenant {
    account: String,
    number: String,
    key: String,
    contact: String,
}

async fn the_subscription_lifecycle_allows_and_refuses_sending(stack: Stack) {
    let t = stack.tenant("Lifecycle").await;
    let b = stack.billing(&t).await;
    assert_eq!(b["subscription_state"], Value::Null);
    assert_eq!(b["plan"]["id"], "free");
    assert_eq!(stack.send_template(&t).await.0, StatusCode::ACCEPTED);

    // (events delivered up to this step, state, sending allowed)
    let steps: [(usize, &str, bool); 5] = [
        (3, "trialing", true),
        (5, "active", true),
        (7, "past_due", true),
        (9, "active", true),
        (10, "canceled", false),
    ];
    let mut delivered = 0;
    for (upto, state, allowed) in steps {
        let events: Vec<Value> = LIFECYCLE[delivered..upto]
            .iter()
            .map(|n| fixture(n, &t.account, 0))
            .collect();
        stack.deliver(&events).await;
        delivered = upto;
        let b = stack.billing(&t).await;
        assert_eq!(b["subscription_state"], state, "{b}");
        assert_eq!(b["sending_allowed"], allowed, "{state}: {b}");
        assert_eq!(b["plan"]["id"], "starter", "{b}");
        if state == "past_due" {
            assert!(b["grace_until"].is_string(), "{b}");
        }
        let (s, p) = stack.send_template(&t).await;
        if allowed {
            assert_eq!(s, StatusCode::ACCEPTED, "{state}: {p}");
        } else {
            assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{state}: {p}");
            assert_eq!(p["type"], "https://whatatalk.dev/problems/payment-required");
            assert_eq!(p["subscription_state"], "canceled");
            assert_eq!(p["plan"], "starter");
        }
    }
    let b = stack.billing(&t).await;
    assert_eq!(
        b["payment_method"],
        json!({"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030})
    );
    assert_eq!(b["billing_details"]["name"], "Example Bakery Ltd");
    assert_eq!(b["billing_details"]["address"]["city"], "London");
    // Reads and privacy rights still work when sending does not.
    let (s, _) = stack.client.get("/v1/contacts", &t.key).await;
    assert_eq!(s, StatusCode::OK);
    // A broadcast is refused too.
    let template = json!({"name": "hello", "language": {"policy": "deterministic", "code": "en"}});
    let (s, p) = stack
        .client
        .send(
            stack
                .client
                .http
                .post(format!("{}/v1/broadcasts", stack.client.base))
                .bearer_auth(&t.key)
                .json(
                    &json!({"from": t.number, "template": template, "recipients": {"tags": ["vip"]}}),
                ),
        )
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{p}");

    // A past-due subscription beyond its grace period may not send.
    let late = stack.tenant("Late").await;
    let events: Vec<Value> = LIFECYCLE[..7]
        .iter()
        .map(|n| fixture(n, &late.account, 9))
        .collect();
    stack.deliver(&events).await;
    let b = stack.billing(&late).await;
    assert_eq!(b["subscription_state"], "past_due");
    assert_eq!(b["sending_allowed"], false, "{b}");
    let (s, p) = stack.send_template(&late).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{p}");
    // One tenant's billing shows nothing of another's.
    let other = stack.tenant("Other").await;
    let b = stack.billing(&other).await;
    assert_eq!(
        b["billing_details"],
        json!({"name": null, "address": null, "tax_id": null})
    );
    assert_eq!(b["payment_method"], Value::Null);
    stack.running.stop().await.unwrap();
}

async fn replayed_and_reordered_events_settle_the_same(stack: Stack) {
    let settle = |b: &Value| {
        json!([
            b["subscription_state"],
            b["plan"]["id"],
            b["sending_allowed"],
            b["payment_method"],
            b["billing_details"],
            b["current_period"]
        ])
    };
    let in_order = stack.tenant("InOrder").await;
    let events: Vec<Value> = LIFECYCLE
        .iter()
        .map(|n| fixture(n, &in_order.account, 0))
        .collect();
    stack.deliver(&events).await;
    // Every event again: nothing changes.
    stack.deliver(&events).await;
    let expected = settle(&stack.billing(&in_order).await);
    assert_eq!(expected[0], "canceled");

    // Reversed, and a fixed shuffle, each delivered twice.
    let orders: [Vec<usize>; 2] = [(0..10).rev().collect(), vec![6, 2, 9, 0, 4, 7, 1, 8, 3, 5]];
    for (i, order) in orders.iter().enumerate() {
        let t = stack.tenant(&format!("Shuffled{i}")).await;
        let events: Vec<Value> = order
            .iter()
            .chain(order.iter())
            .map(|k| fixture(LIFECYCLE[*k], &t.account, 0))
            .collect();
        stack.deliver(&events).await;
        let mut got = settle(&stack.billing(&t).await);
        // The details name the same company for every tenant; the state must match.
        got[4] = expected[4].clone();
        assert_eq!(got, expected, "order {order:?}");
    }
    // Up to the retry, in reverse: active again, whatever the order.
    let t = stack.tenant("Partial").await;
    let events: Vec<Value> = LIFECYCLE[..9]
        .iter()
        .rev()
        .map(|n| fixture(n, &t.account, 0))
        .collect();
    stack.deliver(&events).await;
    assert_eq!(stack.billing(&t).await["subscription_state"], "active");
    stack.running.stop().await.unwrap();
}

async fn the_free_allowance_ends_in_402(stack: Stack) {
    let t = stack.tenant("Thrifty").await;
    for _ in 0..3 {
        assert_eq!(stack.send_template(&t).await.0, StatusCode::ACCEPTED);
    }
    let (s, p) = stack.send_template(&t).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert_eq!(p["plan"], "free");
    assert_eq!(
        p["usage"],
        json!({"included_template_messages": 3, "template_messages_used": 3})
    );
    let b = stack.billing(&t).await;
    assert_eq!(b["allowance"]["used"], 3);
    assert_eq!(b["allowance"]["left"], 0);
    let (_, usage) = stack.client.get("/v1/billing/usage", &t.key).await;
    assert_eq!(usage["ours"]["template_messages_queued"], 3, "{usage}");
    assert_eq!(usage["ours"]["messages_queued"], 3);
    stack.running.stop().await.unwrap();
}

async fn signatures_are_checked_before_anything_changes(stack: Stack) {
    let t = stack.tenant("Signed").await;
    let body = fixture("subscription-deleted", &t.account, 0).to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign =
        |secret: &str, at: i64| shared::payments::signature::sign(secret, at, body.as_bytes());
    for (what, header) in [
        ("missing", None),
        ("malformed", Some("v1=nothex,t=soon".to_owned())),
        ("stale", Some(sign(BILLING_SECRET, now - 301))),
        ("from the future", Some(sign(BILLING_SECRET, now + 400))),
        ("wrong secret", Some(sign("whsec_someone_else", now))),
    ] {
        let (s, p) = stack.post_signed(&body, header).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {p}");
        assert_eq!(
            p["type"], "https://whatatalk.dev/problems/billing-signature-invalid",
            "{what}"
        );
    }
    // A signature over another body.
    let (s, _) = stack
        .post_signed(
            &body.replace("canceled", "active"),
            Some(sign(BILLING_SECRET, now)),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let b = stack.billing(&t).await;
    assert_eq!(b["subscription_state"], Value::Null, "nothing changed: {b}");
    assert_eq!(stack.send_template(&t).await.0, StatusCode::ACCEPTED);
    // The same event signed right is taken.
    let (s, _) = stack
        .post_signed(&body, Some(sign(BILLING_SECRET, now)))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stack.billing(&t).await["subscription_state"], "canceled");
    stack.running.stop().await.unwrap();
}

/// Meta's per-message pricing from October 2026: `marketing_lite` and
/// `authentication_international` are categories of their own, and a service reply inside the
/// customer-service window is billable; each is priced from the built-in table as Meta's
/// status says it (`pricing.billable`, `category`).
async fn the_october_2026_categories_are_priced(stack: Stack) {
    let t = stack.tenant("October").await;
    let at = time::macros::datetime!(2026-10-15 12:00 UTC).unix_timestamp();
    for (i, category) in ["marketing_lite", "authentication_international", "service"]
        .iter()
        .enumerate()
    {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": t.number},
            "statuses": [{"id": format!("wamid.oct{i}"), "status": "delivered",
                "timestamp": at.to_string(), "recipient_id": "5511960000000",
                "pricing": {"billable": true, "pricing_model": "PMP", "type": "regular",
                    "category": category}}]
        }}]}]});
        assert_eq!(stack.post_webhook(&payload).await, StatusCode::OK);
    }
    let (s, usage) = stack
        .client
        .get("/v1/billing/usage?period=2026-10", &t.key)
        .await;
    assert_eq!(s, StatusCode::OK, "{usage}");
    for c in ["marketing_lite", "authentication_international", "service"] {
        assert_eq!(
            usage["by_category"][c],
            json!({"billable": 1, "free": 0}),
            "{c}"
        );
    }
    // Brazil's rates from the built-in table.
    assert_eq!(
        usage["estimated_meta_cost_micros"],
        50_000 + 15_000 + 1_500,
        "{usage}"
    );
    // Meta moves the WABA to a volume tier from November: the month's usage says so.
    let tier = json!({"object": "whatsapp_business_account", "entry": [{"id": format!("2{}", t.number),
        "time": at, "changes": [{"field": "account_update", "value": {
            "event": "VOLUME_BASED_PRICING_TIER_UPDATE",
            "volume_tier_info": {"effective_month": "2026-11", "pricing_category": "UTILITY",
                "region": "INDIA", "tier": "25000001:50000000", "tier_update_time": at}}}]}]});
    assert_eq!(stack.post_webhook(&tier).await, StatusCode::OK);
    let (_, november) = stack
        .client
        .get("/v1/billing/usage?period=2026-11", &t.key)
        .await;
    assert_eq!(
        november["volume_tiers"],
        json!([{"category": "UTILITY", "region": "INDIA", "tier": "25000001:50000000"}]),
        "{november}"
    );
    assert_eq!(usage["volume_tiers"], json!([]));
    stack.running.stop().await.unwrap();
}

async fn statuses_are_metered_once_per_wamid(stack: Stack) {
    let t = stack.tenant("Metered").await;
    let categories = ["marketing", "utility", "authentication", "service"];
    // 300 wamids; 1,000 status webhooks: each wamid's sent and delivered (both priced),
    // then 400 repeats.
    let mut posts = Vec::new();
    for i in 0..300usize {
        let category = categories[i % 4];
        for status in ["sent", "delivered"] {
            posts.push((i, status, category));
        }
    }
    for k in 0..400usize {
        let i = (k * 7) % 300;
        posts.push((i, "delivered", categories[i % 4]));
    }
    assert_eq!(posts.len(), 1000);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (i, status, category) in posts {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": t.number},
            "statuses": [{"id": format!("wamid.meter{i:04}"), "status": status,
                "timestamp": now.to_string(), "recipient_id": "5511960000000",
                "pricing": {"billable": category != "service", "pricing_model": "PMP",
                    "type": if category == "service" { "free_customer_service" } else { "regular" },
                    "category": category}}]
        }}]}]});
        assert_eq!(stack.post_webhook(&payload).await, StatusCode::OK);
    }
    let (s, usage) = stack.client.get("/v1/billing/usage", &t.key).await;
    assert_eq!(s, StatusCode::OK, "{usage}");
    assert_eq!(usage["meta_messages"], 300, "{usage}");
    for c in ["marketing", "utility", "authentication"] {
        assert_eq!(
            usage["by_category"][c],
            json!({"billable": 75, "free": 0}),
            "{c}"
        );
    }
    assert_eq!(
        usage["by_category"]["service"],
        json!({"billable": 0, "free": 75})
    );
    assert_eq!(
        usage["by_number"][&t.number]["marketing"],
        json!({"billable": 75, "free": 0})
    );
    let day = time::OffsetDateTime::from_unix_timestamp(now).unwrap();
    let day = format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    assert_eq!(usage["by_day"][&day]["utility"]["billable"], 75);
    // Brazil's rates from the built-in table: 75 × (62,500 + 8,000 + 3,150) micros.
    assert_eq!(
        usage["estimated_meta_cost_micros"],
        75 * (62_500 + 8_000 + 3_150)
    );
    // Another month is empty; a bad period is refused.
    let (_, old) = stack
        .client
        .get("/v1/billing/usage?period=2020-01", &t.key)
        .await;
    assert_eq!(old["meta_messages"], 0);
    let (s, _) = stack
        .client
        .get("/v1/billing/usage?period=2020-13", &t.key)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    stack.running.stop().await.unwrap();
}

/// A Payment Link checkout knows the account only by `client_reference_id`, and the
/// subscription's events carry no account at all: they wait (404, retried by the provider)
/// until the checkout links the customer, then apply.
async fn a_checkout_from_a_plan_link_names_the_account(stack: Stack) {
    let t = stack.tenant("Checkout").await;
    let mut created = fixture("subscription-created-trialing", &t.account, 0);
    created["data"]["object"]["metadata"] = json!({});
    assert_eq!(stack.post_event(&created).await, StatusCode::NOT_FOUND);
    let checkout = fixture("checkout-session-completed", &t.account, 0);
    assert_eq!(stack.post_event(&checkout).await, StatusCode::OK);
    assert_eq!(stack.post_event(&created).await, StatusCode::OK);
    let b = stack.billing(&t).await;
    assert_eq!(b["subscription_state"], "trialing", "{b}");
    assert_eq!(b["plan"]["id"], "starter", "{b}");
}
