//! Message templates end to end through the local runner and its Graph stand-in: synced from
//! Meta page by page, created and approved by Meta's webhook, checked before a send is queued,
//! looked up at Meta when made there, and pausing the broadcasts that use them.

mod support;

use std::time::Duration;

use infra::standin::{StandIn, TemplateChange, TemplateSeed};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{problem_type, Client};

const NUMBER: &str = "106540352242922";
const WABA: &str = infra::standin::DEMO_WABA_ID;

struct Stack {
    client: Client,
    key: String,
    running: infra::Running,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// The runner, with `extra` templates at Meta before the number is connected.
    async fn start(extra: Vec<TemplateSeed>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
        config.sender.pair_interval = Duration::ZERO;
        config.billing = shared::testing::unlimited_billing();
        let running = infra::start(config).await.unwrap();
        let standin = running.standin.as_ref().unwrap();
        standin.seed_templates(extra);
        let client = Client::new(running.base_url());
        let account = client.signup("Template Co", "t@example.com").await;
        let key = account["api_key"].as_str().unwrap().to_owned();
        client
            .connect_number(
                standin,
                &key,
                NUMBER,
                "+15550783881",
                "EAAGtemplatetoken123",
            )
            .await;
        let mut config = standin.config();
        config.pair_interval_ms = 0;
        standin.configure(config);
        Self {
            client,
            key,
            running,
            _dir: dir,
        }
    }

    fn standin(&self) -> &StandIn {
        self.running.standin.as_ref().unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.client.post(path, &self.key, body).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.client.get(path, &self.key).await
    }

    /// Changes a template at Meta and posts Meta's webhooks for it to the runner.
    async fn meta_changes(&self, id: &str, change: TemplateChange) {
        let payloads = self.standin().change_template(id, &change).unwrap();
        for p in payloads {
            self.meta_posts(&p).await;
        }
    }

    /// Posts a webhook to the runner as Meta would (signed).
    async fn meta_posts(&self, payload: &Value) {
        let config = self.standin().config();
        let status = self
            .standin()
            .post_webhook(
                config.webhook_url.as_deref().unwrap(),
                config.app_secret.as_deref(),
                payload,
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
    }

    /// Makes `n` opted-in contacts tagged `tag`, at once (an inline import).
    async fn contacts(&self, n: usize, tag: &str, first: usize) {
        let mut csv = String::from("phone,opted_in,tags\n");
        for i in first..first + n {
            csv.push_str(&format!("+4479112{i:05},yes,{tag}\n"));
        }
        self.import(csv, n).await;
    }

    /// Imports a CSV file inline; all `created` rows must be new contacts.
    async fn import(&self, csv: String, created: usize) {
        let resp = self
            .client
            .http
            .post(format!("{}/v1/contacts/import", self.client.base))
            .bearer_auth(&self.key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let report: Value = resp.json().await.unwrap();
        assert_eq!(report["created"], created, "{report}");
    }

    async fn contact(&self, phone: &str, attributes: Value) -> String {
        let (s, c) = self
            .post(
                "/v1/contacts",
                json!({"phone": phone, "consent": {"opted_in": true}, "attributes": attributes}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        c["id"].as_str().unwrap().to_owned()
    }

    async fn template_named(&self, name: &str, language: &str) -> Value {
        let (s, page) = self
            .get(&format!("/v1/templates?waba_id={WABA}&name={name}"))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["language"] == language)
            .cloned()
            .unwrap_or_else(|| panic!("no template {name} {language}: {page}"))
    }

    fn sent_to(&self, to: &str) -> Vec<Value> {
        self.standin()
            .accepted()
            .into_iter()
            .filter(|r| r.body["to"] == to.trim_start_matches('+'))
            .map(|r| r.body)
            .collect()
    }

    async fn queued_messages(&self) -> usize {
        let (_, page) = self.get("/v1/messages?limit=200").await;
        page["items"].as_array().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_reads_every_page_and_forgets_what_meta_deleted() {
    // 250 templates: three of the stand-in's pages of 100 (and hello_world).
    let many = (0..250)
        .map(|i| TemplateSeed::body(&format!("promo_{i:03}"), "en", "Sale {{1}}"))
        .collect();
    let s = Stack::start(many).await;
    // Connecting synced them already.
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/templates?limit=200&cursor={c}"),
            None => "/v1/templates?limit=200".into(),
        };
        let (status, page) = s.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 251);
    let promo = s.template_named("promo_007", "en").await;
    assert_eq!(promo["status"], "APPROVED");
    assert_eq!(promo["parameters"]["body"]["format"], "positional");
    assert_eq!(promo["parameters"]["body"]["count"], 1);
    let hello = s.template_named("hello_world", "en_US").await;
    assert_eq!(hello["parameters"]["body"]["format"], "none");

    // Deleted through the API: gone at Meta and here.
    let id = promo["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .client
        .delete(&format!("/v1/templates/{id}"), &s.key)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!s.standin().templates().iter().any(|t| t.id == id));
    let (status, _) = s.get(&format!("/v1/templates/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleted in Meta's own manager: the next sync forgets it.
    let gone = s.template_named("promo_008", "en").await;
    assert!(s.standin().remove_template(gone["id"].as_str().unwrap()));
    let (status, report) = s.post("/v1/templates/sync", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["wabas"], 1);
    assert_eq!(report["templates"], 249);
    assert_eq!(report["removed"], 1);
    let (status, _) = s
        .get(&format!("/v1/templates/{}", gone["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_pending_approved_by_webhook_then_sent() {
    let s = Stack::start(vec![]).await;
    let to = "+447911123451";
    s.contact(to, json!({})).await;
    let (status, created) = s
        .post(
            "/v1/templates",
            json!({"waba_id": WABA, "name": "order_ready", "language": "en_US",
                   "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Order {{1}} is ready",
                                   "example": {"body_text": [["A-1"]]}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "PENDING");
    let id = created["id"].as_str().unwrap().to_owned();
    let message = json!({"from": NUMBER, "to": to, "type": "template",
        "template": {"name": "order_ready", "language": {"code": "en_US"},
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-7"}]}]}});

    // Pending: refused before anything is queued.
    let (status, problem) = s.post("/v1/messages", message.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem_type(&problem), "template-not-approved");
    assert_eq!(problem["template_status"], "PENDING");

    // Meta approves; its webhook updates our copy.
    s.meta_changes(
        &id,
        TemplateChange {
            status: Some("APPROVED".into()),
            quality_score: Some("GREEN".into()),
            ..TemplateChange::default()
        },
    )
    .await;
    let (_, t) = s.get(&format!("/v1/templates/{id}")).await;
    assert_eq!(t["status"], "APPROVED", "{t}");
    assert_eq!(t["quality_score"], "GREEN");

    let (status, queued) = s.post("/v1/messages", message).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    for _ in 0..200 {
        if !s.sent_to(to).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let sent = s.sent_to(to);
    let (_, m) = s
        .get(&format!("/v1/messages/{}", queued["id"].as_str().unwrap()))
        .await;
    assert_eq!(sent.len(), 1, "{m} {:?}", s.standin().requests());
    assert_eq!(
        sent[0]["template"]["components"][0]["parameters"][0]["text"],
        "A-7"
    );

    // Recategorised by Meta.
    s.meta_changes(
        &id,
        TemplateChange {
            category: Some("MARKETING".into()),
            ..TemplateChange::default()
        },
    )
    .await;
    let (_, t) = s.get(&format!("/v1/templates/{id}")).await;
    assert_eq!(t["category"], "MARKETING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_does_not_fit_its_template_is_refused_and_nothing_is_queued() {
    let s = Stack::start(vec![TemplateSeed::body(
        "shipping",
        "en",
        "Hi {{1}}, parcel {{2}} left",
    )])
    .await;
    let to = "+447911123452";
    s.contact(to, json!({})).await;
    let before = s.queued_messages().await;
    let send = |components: Value| {
        json!({"from": NUMBER, "to": to, "type": "template",
               "template": {"name": "shipping", "language": {"code": "en"}, "components": components}})
    };
    let one = json!([{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]);
    let (status, problem) = s.post("/v1/messages", send(one)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem_type(&problem), "validation-failed");
    assert_eq!(problem["errors"][0]["field"], "template.components");
    assert!(problem["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("takes 2 parameters, not 1"));

    let (status, problem) = s
        .post(
            "/v1/messages",
            json!({"from": NUMBER, "to": to, "type": "template",
                   "template": {"name": "shipping", "language": {"code": "pt_BR"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem_type(&problem), "template-not-found");
    assert_eq!(problem["errors"][0]["field"], "template.name");

    let (status, problem) = s
        .post(
            "/v1/broadcasts",
            json!({"from": NUMBER, "recipients": {"tags": ["vip"]},
                   "template": {"name": "shipping", "language": {"code": "en"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "template.components");

    assert_eq!(s.queued_messages().await, before);
    assert!(s.sent_to(to).is_empty());
    let (_, broadcasts) = s.get("/v1/broadcasts").await;
    assert_eq!(broadcasts["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_made_in_metas_manager_is_looked_up_at_meta_and_sent() {
    let s = Stack::start(vec![]).await;
    let to = "+447911123453";
    s.contact(to, json!({})).await;
    // Made at Meta after our sync at connect.
    s.standin().add_template(
        WABA,
        TemplateSeed::body("welcome_back", "es", "¡Hola de nuevo!"),
        "APPROVED",
    );
    let (status, queued) = s
        .post(
            "/v1/messages",
            json!({"from": NUMBER, "to": to, "type": "template",
                   "template": {"name": "welcome_back", "language": {"code": "es"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let t = s.template_named("welcome_back", "es").await;
    assert_eq!(t["status"], "APPROVED");
    // The README's first send: hello_world, which every WABA has.
    let (status, queued) = s
        .post(
            "/v1/messages",
            json!({"from": NUMBER, "to": to, "type": "template",
                   "template": {"name": "hello_world", "language": {"code": "en_US"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_paused_mid_broadcast_pauses_the_broadcast_with_the_reason() {
    let s = Stack::start(vec![TemplateSeed::body("flash_sale", "en", "Flash sale!")]).await;
    // Two messages a second: the broadcast of 20 takes about ten seconds.
    let (status, _) = s
        .client
        .patch(
            &format!("/v1/numbers/{NUMBER}"),
            &s.key,
            json!({"messages_per_second": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..20 {
        let (st, c) = s
            .post(
                "/v1/contacts",
                json!({"phone": format!("+4479111235{i:02}"), "tags": ["fans"],
                       "consent": {"opted_in": true}}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{c}");
    }
    let (status, b) = s
        .post(
            "/v1/broadcasts",
            json!({"from": NUMBER, "recipients": {"tags": ["fans"]},
                   "template": {"name": "flash_sale", "language": {"code": "en"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    let sent = || {
        s.standin()
            .accepted()
            .iter()
            .filter(|r| r.body["template"]["name"] == "flash_sale")
            .count()
    };
    for _ in 0..400 {
        if sent() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(sent() >= 1, "the broadcast did not start");
    let template = s.template_named("flash_sale", "en").await;
    s.meta_changes(
        template["id"].as_str().unwrap(),
        TemplateChange {
            status: Some("PAUSED".into()),
            reason: Some("Low quality: too many blocks".into()),
            ..TemplateChange::default()
        },
    )
    .await;
    let (_, b) = s.get(&format!("/v1/broadcasts/{id}")).await;
    assert_eq!(b["status"], "paused", "{b}");
    let reason = b["pause_reason"].as_str().unwrap();
    assert!(reason.contains("PAUSED"), "{reason}");
    assert!(reason.contains("too many blocks"), "{reason}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = sent();
    assert!(after < 20, "the broadcast went on: {after} sent");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sent(), after, "sends went on after the pause");
    let t = s.template_named("flash_sale", "en").await;
    assert_eq!(t["status"], "PAUSED");
    assert_eq!(t["reason"], "Low quality: too many blocks");

    // Resuming waits for Meta to reinstate the template.
    let (status, problem) = s
        .post(&format!("/v1/broadcasts/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem_type(&problem), "template-not-approved");
    s.meta_changes(
        t["id"].as_str().unwrap(),
        TemplateChange {
            status: Some("REINSTATED".into()),
            ..TemplateChange::default()
        },
    )
    .await;
    let (status, b) = s
        .post(&format!("/v1/broadcasts/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_of_1000_reaches_each_contact_with_its_own_values_and_reports_each() {
    let s = Stack::start(vec![TemplateSeed::body(
        "your_code",
        "en",
        "Hi {{1}}, your code is {{2}}",
    )])
    .await;
    let standin = s.standin();
    let mut config = standin.config();
    config.rate_per_number = 100_000;
    config.statuses = vec![];
    standin.configure(config);
    let (status, _) = s
        .client
        .patch(
            &format!("/v1/numbers/{NUMBER}"),
            &s.key,
            json!({"messages_per_second": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Every other contact has a name; every third has no code (the fallbacks).
    let mut csv = String::from("phone,name,opted_in,tags,attr.code\n");
    for i in 0..1000usize {
        let name = if i.is_multiple_of(2) {
            format!("Name{i}")
        } else {
            String::new()
        };
        let code = if i.is_multiple_of(3) {
            String::new()
        } else {
            format!("C{i:04}")
        };
        csv.push_str(&format!("+4479112{i:05},{name},yes,wave,{code}\n"));
    }
    s.import(csv, 1000).await;

    let (status, b) = s
        .post(
            "/v1/broadcasts",
            json!({"from": NUMBER, "recipients": {"tags": ["wave"]},
                   "template": {"name": "your_code", "language": {"code": "en"},
                                "components": [{"type": "body", "parameters": [
                                    {"type": "text", "text": "x"}, {"type": "text", "text": "x"}]}]},
                   "personalization": [
                       {"component": "body", "position": 1, "field": "name", "fallback": "there"},
                       {"component": "body", "position": 2, "field": "attributes.code", "fallback": "NONE"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["personalization"][1]["field"], "attributes.code");
    let id = b["id"].as_str().unwrap().to_owned();
    for _ in 0..1200 {
        let (_, b) = s.get(&format!("/v1/broadcasts/{id}")).await;
        if b["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, b) = s.get(&format!("/v1/broadcasts/{id}")).await;
    assert_eq!(b["status"], "completed", "{b}");
    assert_eq!(b["counts"]["sent"], 1000);

    let sent = standin.accepted();
    assert_eq!(sent.len(), 1000);
    for r in &sent {
        let to = r.body["to"].as_str().unwrap();
        let i: usize = to["4479112".len()..].parse().unwrap();
        let params = &r.body["template"]["components"][0]["parameters"];
        let name = if i.is_multiple_of(2) {
            format!("Name{i}")
        } else {
            "there".into()
        };
        let code = if i.is_multiple_of(3) {
            "NONE".into()
        } else {
            format!("C{i:04}")
        };
        assert_eq!(params[0]["text"], name.as_str(), "{to}");
        assert_eq!(params[1]["text"], code.as_str(), "{to}");
    }

    // Each recipient's fate, as a page and as CSV.
    let (status, page) = s
        .get(&format!("/v1/broadcasts/{id}/recipients?limit=5"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first = &page["items"][0];
    assert_eq!(first["outcome"], "queued");
    assert_eq!(first["status"], "sent");
    assert!(first["sent_at"].is_string());
    let resp = s
        .client
        .http
        .get(format!(
            "{}/v1/broadcasts/{id}/recipients.csv",
            s.client.base
        ))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(resp.headers().get("link").is_none());
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1001);
    assert!(lines[0].starts_with("contact_id,outcome,message_id,to,status"));
    assert!(lines[1..]
        .iter()
        .all(|l| l.contains(",queued,") && l.contains(",sent,")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_with_only_a_user_id_is_sent_to_with_recipient_never_to() {
    let mut otp = TemplateSeed::body("login_code", "en_US", "{{1}} is your code.");
    otp.category = "AUTHENTICATION".into();
    otp.components.push(json!({"type": "BUTTONS", "buttons": [
        {"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}));
    let s = Stack::start(vec![otp]).await;
    let bsuid = "US.13491208655302741918";
    let (status, c) = s
        .post(
            "/v1/contacts",
            json!({"user_id": bsuid, "consent": {"opted_in": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let (status, queued) = s
        .post(
            "/v1/messages",
            json!({"from": NUMBER, "to": bsuid, "type": "template",
                   "template": {"name": "hello_world", "language": {"code": "en_US"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().unwrap();
    let mut m = Value::Null;
    for _ in 0..200 {
        m = s.get(&format!("/v1/messages/{id}")).await.1;
        if m["status"] != "queued" && m["status"] != "sending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        m["status"].as_str().map(|s| s != "failed"),
        Some(true),
        "{m}"
    );
    let sent: Vec<Value> = s
        .standin()
        .accepted()
        .into_iter()
        .map(|r| r.body)
        .filter(|b| b["recipient"] == bsuid)
        .collect();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].get("to").is_none(), "{}", sent[0]);

    // Meta's 131062: no copy-code authentication template to a user id; refused before queueing.
    let (status, problem) = s
        .post(
            "/v1/messages",
            json!({"from": NUMBER, "to": bsuid, "type": "template",
                   "template": {"name": "login_code", "language": {"code": "en_US"},
                                "components": [
                                    {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                                    {"type": "button", "sub_type": "url", "index": "0",
                                     "parameters": [{"type": "text", "text": "123456"}]}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "to");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_meta_holds_for_a_paced_template_are_reported_as_held() {
    let s = Stack::start(vec![TemplateSeed::body("new_offer", "en", "A new offer!")]).await;
    let template = s.template_named("new_offer", "en").await;
    // Meta paces the new marketing template.
    s.standin().change_template(
        template["id"].as_str().unwrap(),
        &TemplateChange {
            paced: Some(true),
            ..TemplateChange::default()
        },
    );
    for i in 0..3 {
        s.contact(&format!("+4479111236{i:02}"), json!({})).await;
    }
    let (_, tagged) = s.get("/v1/contacts").await;
    let ids: Vec<Value> = tagged["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    let (status, b) = s
        .post(
            "/v1/broadcasts",
            json!({"from": NUMBER, "recipients": {"contact_ids": ids},
                   "template": {"name": "new_offer", "language": {"code": "en"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap();
    let mut b = Value::Null;
    for _ in 0..400 {
        b = s.get(&format!("/v1/broadcasts/{id}")).await.1;
        if b["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(b["status"], "completed", "{b}");
    assert_eq!(b["counts"]["sent"], 3);
    assert_eq!(b["counts"]["held_for_quality_assessment"], 3);
    let (_, page) = s.get("/v1/messages").await;
    let held = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["held_for_quality_assessment"] == true)
        .count();
    assert_eq!(held, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_stays_under_the_businesss_messaging_limit() {
    let s = Stack::start(vec![TemplateSeed::body("big_sale", "en", "Big sale!")]).await;
    let mut config = s.standin().config();
    config.rate_per_number = 100_000;
    config.statuses = vec![];
    s.standin().configure(config);
    let (status, _) = s
        .client
        .patch(
            &format!("/v1/numbers/{NUMBER}"),
            &s.key,
            json!({"messages_per_second": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Meta: this business may reach 250 people a day with business-initiated messages.
    s.meta_posts(&infra::standin::waba_webhook(
        WABA,
        "business_capability_update",
        json!({"max_daily_conversations_per_business": "TIER_250", "max_phone_numbers_per_waba": 25}),
    ))
    .await;
    s.contacts(260, "all", 0).await;
    let (status, b) = s
        .post(
            "/v1/broadcasts",
            json!({"from": NUMBER, "recipients": {"tags": ["all"]},
                   "template": {"name": "big_sale", "language": {"code": "en"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap();
    let mut b = Value::Null;
    for _ in 0..600 {
        b = s.get(&format!("/v1/broadcasts/{id}")).await.1;
        if b["status"] == "paused" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(b["status"], "paused", "{b}");
    assert!(b["pause_reason"]
        .as_str()
        .unwrap()
        .contains("messaging limit"));
    assert_eq!(b["counts"]["queued"], 250, "{b}");
    // Resuming the same day meets the limit again: nothing more is queued.
    let (status, _) = s
        .post(&format!("/v1/broadcasts/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..400 {
        b = s.get(&format!("/v1/broadcasts/{id}")).await.1;
        if b["status"] == "paused" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(b["status"], "paused", "{b}");
    assert_eq!(b["counts"]["queued"], 250, "{b}");
    // Meta lifts the limit: the rest go.
    s.meta_posts(&infra::standin::waba_webhook(
        WABA,
        "business_capability_update",
        json!({"max_daily_conversations_per_business": "TIER_UNLIMITED"}),
    ))
    .await;
    let (status, _) = s
        .post(&format!("/v1/broadcasts/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..600 {
        b = s.get(&format!("/v1/broadcasts/{id}")).await.1;
        if b["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(b["status"], "completed", "{b}");
    assert_eq!(b["counts"]["queued"], 260, "{b}");
}
