//! Broadcasts end to end through the local runner and its Graph stand-in.

mod support;

use std::time::Duration;

use infra::standin::{Fault, StandInConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Client;

const NUMBER: &str = "106540352242922";

struct Stack {
    client: Client,
    key: String,
    account: String,
    running: infra::Running,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start(tier: u32) -> Self {
        // More templates than the free plan includes.
        Self::start_with(tier, shared::testing::unlimited_billing()).await
    }

    async fn start_with(tier: u32, billing: shared::domain::BillingConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
        config.sender.pair_interval = Duration::ZERO;
        config.billing = billing;
        let running = infra::start(config).await.unwrap();
        if let Some(standin) = &running.standin {
            standin.seed_templates(infra::standin::templates::fixtures());
        }
        let client = Client::new(running.base_url());
        let account = client.signup("Broadcaster", "b@example.com").await;
        let key = account["api_key"].as_str().unwrap().to_owned();
        client
            .connect_number(
                running.standin.as_ref().unwrap(),
                &key,
                NUMBER,
                "+15550783881",
                "EAAGbroadcasttoken1234",
            )
            .await;
        let account = account["account_id"].as_str().unwrap().to_owned();
        let s = Self {
            client,
            key,
            account,
            running,
            _dir: dir,
        };
        s.patch(
            &format!("/v1/numbers/{NUMBER}"),
            json!({"messages_per_second": tier}),
        )
        .await;
        s.running
            .standin
            .as_ref()
            .unwrap()
            // A quarter more than the tier: the suite shares two cores, and latency jitter
            // beyond what the pacing absorbs is then possible (sender-bench measures the tier
            // exactly).
            .configure(StandInConfig {
                rate_per_number: tier + tier / 4,
                pair_interval_ms: 0,
                ..StandInConfig::default()
            });
        s
    }

    fn standin(&self) -> &infra::standin::StandIn {
        self.running.standin.as_ref().unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = self
            .client
            .http
            .post(format!("{}{path}", self.client.base))
            .bearer_auth(&self.key)
            .json(&body);
        self.client.send(req).await
    }

    async fn patch(&self, path: &str, body: Value) -> Value {
        let req = self
            .client
            .http
            .patch(format!("{}{path}", self.client.base))
            .bearer_auth(&self.key)
            .json(&body);
        let (s, v) = self.client.send(req).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn get(&self, path: &str) -> Value {
        self.client.get(path, &self.key).await.1
    }

    /// `n` contacts tagged `customers`, all opted in; returns the ids of every such contact.
    async fn contacts(&self, n: usize, first: usize) -> Vec<String> {
        let mut csv = "phone,opted_in,tags\n".to_owned();
        for i in first..first + n {
            csv.push_str(&format!("+4474000{i:05},yes,customers\n"));
        }
        let req = self
            .client
            .http
            .post(format!("{}/v1/contacts/import", self.client.base))
            .bearer_auth(&self.key)
            .header("content-type", "text/csv")
            .body(csv);
        let (s, report) = self.client.send(req).await;
        assert_eq!(
            (s, report["created"].as_u64()),
            (StatusCode::OK, Some(n as u64)),
            "{report}"
        );
        let mut ids = Vec::new();
        let mut path = "/v1/contacts?limit=200&tag=customers".to_owned();
        loop {
            let page = self.get(&path).await;
            ids.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/v1/contacts?limit=200&tag=customers&cursor={c}"),
                None => return ids,
            }
        }
    }

    async fn broadcast(&self, recipients: Value, send_at: Option<String>) -> String {
        let mut body = json!({"from": NUMBER, "template": template(), "recipients": recipients});
        if let Some(t) = send_at {
            body["send_at"] = json!(t);
        }
        let (s, b) = self.post("/v1/broadcasts", body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the fan-out is done and every queued message has an outcome.
    async fn settled(&self, id: &str, seconds: u64) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let b = self.get(&format!("/v1/broadcasts/{id}")).await;
            let c = &b["counts"];
            let done = c["sent"].as_u64().unwrap() + c["failed"].as_u64().unwrap();
            let finished = ["completed", "canceled"].contains(&b["status"].as_str().unwrap())
                && done >= c["queued"].as_u64().unwrap();
            if finished || b["status"] == "paused" {
                return b;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "broadcast {id} did not settle: {b}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn template() -> Value {
    json!({"name": "spring_sale", "language": {"policy": "deterministic", "code": "en_GB"},
           "components": [{"type": "body", "parameters": [{"type": "text", "text": "20%"}]}]})
}

fn unique_recipients(s: &Stack) -> (usize, usize) {
    let accepted = s.standin().accepted();
    let unique: std::collections::HashSet<String> = accepted
        .iter()
        .map(|r| r.body["to"].as_str().unwrap().to_owned())
        .collect();
    (accepted.len(), unique.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_contacts_one_percent_opted_out_exact_counts_and_no_double_send() {
    let s = Stack::start(1000).await;
    let mut ids = Vec::new();
    for chunk in 0..4 {
        ids = s.contacts(2500, chunk * 2500).await;
    }
    assert_eq!(ids.len(), 10_000);
    for id in ids.iter().step_by(100) {
        s.patch(
            &format!("/v1/contacts/{id}"),
            json!({"opt_out": {"reason": "asked in store"}}),
        )
        .await;
    }
    let b = s.broadcast(json!({"tags": ["customers"]}), None).await;
    let done = s.settled(&b, 120).await;
    let c = &done["counts"];
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        [
            c["targeted"].as_u64(),
            c["skipped_opted_out"].as_u64(),
            c["skipped_no_consent"].as_u64(),
            c["queued"].as_u64(),
            c["sent"].as_u64(),
            c["failed"].as_u64()
        ],
        [
            Some(10_000),
            Some(100),
            Some(0),
            Some(9_900),
            Some(9_900),
            Some(0)
        ],
        "{done}"
    );
    assert_eq!(unique_recipients(&s), (9_900, 9_900));
    assert_eq!(
        s.standin()
            .requests()
            .iter()
            .filter(|r| r.error_code == Some(130429))
            .count(),
        0
    );

    // The fan-out job delivered again, as SQS may: nothing is counted or sent twice.
    let job = shared::services::Job::BroadcastFanout {
        account_id: s.account.parse().unwrap(),
        broadcast_id: b.parse().unwrap(),
    };
    s.running.app.enqueue(&job).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = s.get(&format!("/v1/broadcasts/{b}")).await;
    assert_eq!(again["counts"], done["counts"]);
    assert_eq!(unique_recipients(&s), (9_900, 9_900));
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_no_more_contacts_than_the_plan_allows() {
    let mut billing = shared::testing::unlimited_billing();
    let default = billing.default_plan.clone();
    for plan in billing.plans.iter_mut().filter(|p| p.id == default) {
        plan.broadcast_size = 5;
    }
    let s = Stack::start_with(50, billing).await;
    let ids = s.contacts(8, 0).await;
    s.patch(
        &format!("/v1/contacts/{}", ids[0]),
        json!({"opt_out": {"reason": "asked in store"}}),
    )
    .await;
    let b = s.broadcast(json!({"tags": ["customers"]}), None).await;
    let done = s.settled(&b, 60).await;
    let c = &done["counts"];
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        [
            c["targeted"].as_u64(),
            c["skipped_opted_out"].as_u64(),
            c["skipped_plan_limit"].as_u64(),
            c["queued"].as_u64(),
            c["sent"].as_u64()
        ],
        [Some(8), Some(1), Some(2), Some(5), Some(5)],
        "opted-out contacts take no place: {done}"
    );
    assert_eq!(unique_recipients(&s), (5, 5));
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_cancel_and_schedule() {
    let s = Stack::start(5).await;
    let ids = s.contacts(40, 0).await;

    // Paused straight away, a slow broadcast holds; resumed, it finishes with every contact once.
    let b = s.broadcast(json!({"contact_ids": ids[..30]}), None).await;
    let (st, paused) = s
        .post(&format!("/v1/broadcasts/{b}/pause"), json!({}))
        .await;
    assert_eq!(
        (st, paused["status"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = s.standin().accepted().len();
    assert!(held < 30, "pausing held the rest: {held} sent");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        s.standin().accepted().len(),
        held,
        "nothing goes out while paused"
    );
    let (st, _) = s
        .post(&format!("/v1/broadcasts/{b}/resume"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let done = s.settled(&b, 30).await;
    assert_eq!(done["counts"]["sent"], 30, "{done}");
    assert_eq!(unique_recipients(&s), (30, 30));
    let (st, p) = s
        .post(&format!("/v1/broadcasts/{b}/resume"), json!({}))
        .await;
    assert_eq!(
        (st, p["type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("https://whatatalk.dev/problems/broadcast-state")
        )
    );

    // Scheduled in the future, then canceled: nothing is sent.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let sched = s
        .broadcast(json!({"contact_ids": ids[30..]}), Some(later))
        .await;
    assert_eq!(
        s.get(&format!("/v1/broadcasts/{sched}")).await["status"],
        "scheduled"
    );
    // Paused and resumed before its time, it keeps its time: scheduled again, nothing sent.
    let (_, paused) = s
        .post(&format!("/v1/broadcasts/{sched}/pause"), json!({}))
        .await;
    assert_eq!(paused["status"], "paused", "{paused}");
    let (_, resumed) = s
        .post(&format!("/v1/broadcasts/{sched}/resume"), json!({}))
        .await;
    assert_eq!(resumed["status"], "scheduled", "{resumed}");
    assert_eq!(resumed["counts"]["queued"], 0, "{resumed}");
    let (st, canceled) = s
        .post(&format!("/v1/broadcasts/{sched}/cancel"), json!({}))
        .await;
    assert_eq!(
        (st, canceled["status"].as_str()),
        (StatusCode::OK, Some("canceled"))
    );

    // Scheduled a second ahead: the clock starts it.
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let timed = s
        .broadcast(json!({"contact_ids": ids[30..]}), Some(soon))
        .await;
    let done = s.settled(&timed, 30).await;
    assert_eq!(done["counts"]["sent"], 10, "{done}");
    assert_eq!(unique_recipients(&s), (40, 40));
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spam_rate_error_pauses_the_broadcast_and_says_why() {
    let s = Stack::start(2).await;
    let ids = s.contacts(10, 0).await;
    let first_phone = "4474000000".to_owned() + "00";
    s.standin().inject(Fault::Error {
        to: first_phone,
        code: 131048,
        subcode: None,
        times: 0,
    });
    let b = s.broadcast(json!({"contact_ids": ids}), None).await;
    let done = s.settled(&b, 30).await;
    assert_eq!(done["status"], "paused", "{done}");
    assert!(
        done["pause_reason"].as_str().unwrap().contains("131048"),
        "{done}"
    );
    // The sender pauses first and counts the failure next (so that the last message cannot
    // complete the broadcast): the count may land just after the pause is seen.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let b = s.get(&format!("/v1/broadcasts/{b}")).await;
        if b["counts"]["failed_by_code"]["131048"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not counted: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.running.stop().await.unwrap();
}

/// Where the fan-out was when a pause landed, as it saved it: `None` for "nothing saved".
async fn paused_and_resumed(saved_place: Option<usize>) {
    // One message a second: the fan-out queues all eight long before they are sent.
    let s = Stack::start(1).await;
    let ids = s.contacts(8, 0).await;
    let b = s.broadcast(json!({"contact_ids": ids}), None).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.get(&format!("/v1/broadcasts/{b}")).await["counts"]["queued"] != 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fan-out did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (st, _) = s
        .post(&format!("/v1/broadcasts/{b}/pause"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    // The sender lets go of the tasks it holds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = s.standin().accepted().len();
    // The place the fan-out saved, as if the pause had come earlier than it did.
    let account: shared::domain::AccountId = s.account.parse().unwrap();
    let key = shared::ports::Key::new(
        shared::table::account_partition(&account),
        format!("BROADCAST#{b}"),
    );
    let update = shared::ports::Update::new(key).remove("fanout_done");
    let update = match saved_place {
        None => update.remove("fanout_cursor"),
        Some(at) => {
            let place = shared::ports::Cursor {
                last: shared::ports::Key::new("list", at.to_string()),
                last_gsi1: None,
            };
            update.set("fanout_cursor", shared::ports::Value::S(place.encode()))
        }
    };
    s.running.app.items.update(update).await.unwrap();
    let (st, _) = s
        .post(&format!("/v1/broadcasts/{b}/resume"), json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let done = s.settled(&b, 30).await;
    assert_eq!(
        (done["status"].as_str(), done["counts"]["sent"].as_u64()),
        (Some("completed"), Some(8)),
        "{done} ({held} sent before the pause)"
    );
    assert_eq!(unique_recipients(&s), (8, 8));
    s.running.stop().await.unwrap();
}

/// A pause after the fan-out queued a page but before it saved its place: resumed, it walks
/// the page again and finds the messages made already; they must still go out (they once
/// waited forever, the sender having let go of their tasks while paused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_between_queuing_and_saving_the_place_loses_nothing() {
    paused_and_resumed(None).await;
}

/// A pause after the fan-out saved its place past a page: resumed, it goes on from there,
/// and the page before goes out too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_after_a_saved_page_loses_nothing() {
    paused_and_resumed(Some(8)).await;
}

/// One tenant asking for fifty exports holds at most one place in the job queue at a time, not
/// fifty: another tenant's broadcast fans out within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_exports_do_not_hold_up_a_fan_out() {
    let s = Stack::start(50).await;
    s.contacts(20, 0).await;
    let hog = s.client.signup("Hog", "hog@example.com").await;
    let hog_key = hog["api_key"].as_str().unwrap().to_owned();
    // Enough of its own that each export takes a while.
    let mut csv = "phone,name,attr.note\n".to_owned();
    for i in 0..5_000 {
        csv.push_str(&format!("+4475000{i:05},Person {i},note {i}\n"));
    }
    let (st, report) = s
        .client
        .send(
            s.client
                .http
                .post(format!("{}/v1/contacts/import", s.client.base))
                .bearer_auth(&hog_key)
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{report}");
    let mut answers = std::collections::BTreeMap::new();
    for _ in 0..50 {
        let (status, _) = s.client.post("/v1/exports", &hog_key, json!({})).await;
        *answers.entry(status.as_u16()).or_insert(0) += 1;
    }
    // Each one finished lets the next in; never two at once.
    assert!(answers.get(&409).is_some_and(|n| *n >= 25), "{answers:?}");
    assert_eq!(answers.keys().copied().collect::<Vec<_>>(), [202, 409]);
    let started = std::time::Instant::now();
    let b = s.broadcast(json!({"tags": ["customers"]}), None).await;
    loop {
        let now = s.get(&format!("/v1/broadcasts/{b}")).await;
        if now["counts"]["queued"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the fan-out had not started after 5 s: {now}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
