//! Contact imports end to end: upload link, job, report; inline; bad files. Every case runs on
//! the local runner and on the AWS adapters (DynamoDB Local, moto) with the same drainer.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Client;

struct Stack {
    client: Client,
    key: String,
    running: infra::Running,
    _dir: tempfile::TempDir,
}

async fn local() -> Stack {
    local_with(shared::domain::BillingConfig::default()).await
}

async fn local_with(billing: shared::domain::BillingConfig) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
    config.billing = billing;
    finish(infra::start(config).await.unwrap(), dir).await
}

#[cfg(feature = "aws")]
async fn aws() -> Stack {
    aws_with(shared::domain::BillingConfig::default()).await
}

#[cfg(feature = "aws")]
async fn aws_with(billing: shared::domain::BillingConfig) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, _) = shared::testing::aws_app().await;
    let app = app.with_billing(billing);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = infra::serve(
        std::sync::Arc::new(app),
        listener,
        axum::Router::new(),
        Default::default(),
        &infra::DevSecrets::fixed("e2e-app-secret", "e2e-verify-token", "e2e-billing-secret"),
    )
    .unwrap();
    finish(running, dir).await
}

async fn finish(running: infra::Running, dir: tempfile::TempDir) -> Stack {
    let client = Client::new(running.base_url());
    let account = client.signup("Importer", "imports@example.com").await;
    let key = account["api_key"].as_str().unwrap().to_owned();
    Stack {
        client,
        key,
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
    upload_start_and_report,
    the_same_file_twice_changes_nothing,
    bad_files_fail_whole,
    bad_rows_are_reported_one_by_one,
    starting_before_uploading_is_refused,
    inline_imports,
);

/// The default plan with room for four contacts.
fn four_contacts() -> shared::domain::BillingConfig {
    let mut config = shared::domain::BillingConfig::default();
    let default = config.default_plan.clone();
    for plan in config.plans.iter_mut().filter(|p| p.id == default) {
        plan.contacts = 4;
    }
    config
}

mod plan_limits {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_runner() {
        super::the_plan_limits_contacts(super::local_with(super::four_contacts()).await).await
    }

    #[cfg(feature = "aws")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_adapters() {
        super::the_plan_limits_contacts(super::aws_with(super::four_contacts()).await).await
    }
}

/// Contacts past the plan's limit are refused (402 through the API, a row error in imports);
/// erasing one makes room again; updates of contacts already held need no room.
async fn the_plan_limits_contacts(s: Stack) {
    let held = |b: &Value| {
        (
            b["contacts"]["held"].as_u64(),
            b["contacts"]["limit"].as_u64(),
        )
    };
    let first = s.import(GOOD.as_bytes()).await;
    assert_eq!(counts(&first), [3, 3, 0, 0, 0]);
    let create = |phone: &'static str| {
        s.client.send(
            s.client
                .http
                .post(format!("{}/v1/contacts", s.client.base))
                .bearer_auth(&s.key)
                .json(&json!({"phone": phone})),
        )
    };
    let (st, fourth) = create("+447911123404").await;
    assert_eq!(st, StatusCode::CREATED, "{fourth}");
    let (_, billing) = s.get("/v1/billing").await;
    assert_eq!(held(&billing), (Some(4), Some(4)));
    let (st, p) = create("+447911123405").await;
    assert_eq!(st, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert_eq!(p["type"], "https://whatatalk.dev/problems/payment-required");

    // One row updates a contact held already; two would be new.
    let file = "phone,name\n+447911123401,Ana Maria\n+447911123406,New\n+447911123407,Newer\n";
    let second = s.import(file.as_bytes()).await;
    assert_eq!(counts(&second), [3, 0, 1, 0, 2], "{second}");
    let report = s.report(&second).await;
    assert_eq!(
        report.matches("the plan allows 4 contacts").count(),
        2,
        "{report}"
    );

    let id = fourth["id"].as_str().unwrap();
    let (st, _) = s
        .client
        .send(
            s.client
                .http
                .delete(format!("{}/v1/contacts/{id}", s.client.base))
                .bearer_auth(&s.key),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, billing) = s.get("/v1/billing").await;
    assert_eq!(held(&billing), (Some(3), Some(4)));
    let (st, p) = create("+447911123405").await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    s.running.stop().await.unwrap();
}

impl Stack {
    async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.client
            .send(
                self.client
                    .http
                    .post(format!("{}{path}", self.client.base))
                    .bearer_auth(&self.key),
            )
            .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.client.get(path, &self.key).await
    }

    /// Creates an import, uploads `csv`, starts it and waits for the job to finish.
    async fn import(&self, csv: &[u8]) -> Value {
        let (s, created) = self.post("/v1/contacts/imports").await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        assert_eq!(created["status"], "awaiting_upload");
        let put = self
            .client
            .http
            .put(created["upload_url"].as_str().unwrap())
            .header("content-type", "text/csv")
            .body(csv.to_vec())
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "upload: {}", put.status());
        let id = created["id"].as_str().unwrap();
        let (s, started) = self.post(&format!("/v1/contacts/imports/{id}/start")).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{started}");
        for _ in 0..600 {
            let (_, now) = self.get(&format!("/v1/contacts/imports/{id}")).await;
            if now["status"] == "completed" || now["status"] == "failed" {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("import {id} did not finish");
    }

    async fn report(&self, import: &Value) -> String {
        let url = import["error_report_url"]
            .as_str()
            .expect("an error report");
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    async fn contacts(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = "/v1/contacts?limit=200".to_owned();
        loop {
            let (_, page) = self.get(&path).await;
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/v1/contacts?limit=200&cursor={c}"),
                None => return out,
            }
        }
    }
}

fn counts(v: &Value) -> [u64; 5] {
    ["rows", "created", "updated", "unchanged", "rejected"]
        .map(|k| v[k].as_u64().unwrap_or(u64::MAX))
}

const GOOD: &str = "\u{feff}phone,name,tags,opted_in,opt_in_source,attr.city\r\n\
+447911123401,Ana,vip|news,yes,web form,Lisbon\r\n\
+447911123402,\"Bo, Jr.\",news,no,,\r\n\
+447911123403,=cmd|' /C calc'!A0,,,,\r\n";

async fn upload_start_and_report(s: Stack) {
    let done = s.import(GOOD.as_bytes()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(counts(&done), [3, 3, 0, 0, 0]);
    // The progress: the whole file applied.
    assert_eq!(done["file_size"], GOOD.len() as u64, "{done}");
    assert_eq!(done["bytes_read"], GOOD.len() as u64, "{done}");
    assert!(done["error_report_url"].is_null());
    assert!(done["finished_at"].is_string());
    let contacts = s.contacts().await;
    assert_eq!(contacts.len(), 3);
    let ana = contacts
        .iter()
        .find(|c| c["phone"] == "+447911123401")
        .unwrap();
    assert_eq!(
        (ana["name"].as_str(), ana["opted_in"].as_bool()),
        (Some("Ana"), Some(true))
    );
    assert_eq!(ana["tags"], json!(["news", "vip"]));
    assert_eq!(ana["attributes"]["city"], "Lisbon");
    assert_eq!(ana["consent"]["source"], "web form");
    let formula = contacts
        .iter()
        .find(|c| c["phone"] == "+447911123403")
        .unwrap();
    assert_eq!(
        formula["name"], "=cmd|' /C calc'!A0",
        "stored as the text it is"
    );
    let (_, list) = s.get("/v1/contacts/imports").await;
    assert_eq!(list["items"][0]["id"], done["id"]);
    s.running.stop().await.unwrap();
}

async fn the_same_file_twice_changes_nothing(s: Stack) {
    let first = s.import(GOOD.as_bytes()).await;
    assert_eq!(counts(&first), [3, 3, 0, 0, 0]);
    let before = s.contacts().await;
    let second = s.import(GOOD.as_bytes()).await;
    assert_eq!(counts(&second), [3, 0, 0, 3, 0]);
    assert_eq!(s.contacts().await, before, "not even updated_at moved");
    let changed = GOOD.replace("Bo, Jr.", "Bo Junior");
    let third = s.import(changed.as_bytes()).await;
    assert_eq!(counts(&third), [3, 0, 1, 2, 0]);
    // A withdrawn consent is a new entry of the history; the one it replaces is kept.
    let withdrawn = changed.replace("vip|news,yes,web form", "vip|news,no,web form");
    let fourth = s.import(withdrawn.as_bytes()).await;
    assert_eq!(counts(&fourth), [3, 0, 1, 2, 0]);
    let ana = s
        .contacts()
        .await
        .into_iter()
        .find(|c| c["phone"] == "+447911123401")
        .unwrap();
    let (_, ana) = s
        .get(&format!("/v1/contacts/{}", ana["id"].as_str().unwrap()))
        .await;
    let history: Vec<_> = ana["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["opted_in"].clone(), r["source"].clone(), r["via"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            (json!(true), json!("web form"), json!("import")),
            (json!(false), json!("web form"), json!("import")),
        ]
    );
    s.running.stop().await.unwrap();
}

async fn bad_files_fail_whole(s: Stack) {
    let cases: [(&[u8], &str); 5] = [
        (b"", "empty"),
        (b"name,tags\nAna,vip\n", "`phone` or a `user_id`"),
        (
            b"phone,colour\n+447911123401,red\n",
            "unknown column `colour`",
        ),
        (
            b"phone,phone\n+447911123401,+447911123402\n",
            "appears twice",
        ),
        (b"ph\xffone\n+447911123401\n", "UTF-8"),
    ];
    for (csv, why) in cases {
        let done = s.import(csv).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert!(
            done["failure"].as_str().unwrap().contains(why),
            "{why}: {done}"
        );
    }
    assert!(s.contacts().await.is_empty());
    s.running.stop().await.unwrap();
}

async fn bad_rows_are_reported_one_by_one(s: Stack) {
    let mut csv = b"phone,user_id,name,opted_in\n".to_vec();
    csv.extend_from_slice(b"+447911123401,,Good,yes\n"); // 2
    csv.extend_from_slice(b"12,,Short,\n"); // 3: invalid phone
    csv.extend_from_slice(b"07911123402,,No region,\n"); // 4: no + and no default region
    csv.extend_from_slice(b"+447911123401,,Again,\n"); // 5: duplicate of row 2
    csv.extend_from_slice(b"+447911123403,,Too,many,fields\n"); // 6: wrong width
    csv.extend_from_slice(b"+447911123404,,Bad \xff UTF-8,\n"); // 7
    csv.extend_from_slice(b"+447911123405,,Maybe,perhaps\n"); // 8: opted_in
    csv.extend_from_slice(b",,Nobody,\n"); // 9: no identity
    csv.extend_from_slice(b"+447911123406,,");
    csv.extend(std::iter::repeat_n(b'x', 200 * 1024));
    csv.extend_from_slice(b",\n"); // 10: row too long
    csv.extend_from_slice(b",US.13491208655302741918,By id,no\n"); // 11
    csv.extend_from_slice(b"+447911123407,,\"Unclosed,yes\n+447911123408,,Lost,no\n"); // 12: quote runs to the end
    let done = s.import(&csv).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(counts(&done), [11, 2, 0, 0, 9]);
    let report = s.report(&done).await;
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "row,column,reason");
    let rows: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let mut p = l.splitn(3, ',');
            (p.next().unwrap(), p.next().unwrap())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("3", "phone"),
            ("4", "phone"),
            ("5", "phone"),
            ("6", ""),
            ("7", "name"),
            ("8", "opted_in"),
            ("9", "phone"),
            ("10", ""),
            ("12", "")
        ],
        "{report}"
    );
    assert!(report.contains("default_region"));
    assert!(report.contains("same phone as row 2"));
    assert!(
        !report.contains("7911123"),
        "the report names rows and columns, never values: {report}"
    );
    s.running.stop().await.unwrap();
}

async fn starting_before_uploading_is_refused(s: Stack) {
    let (_, created) = s.post("/v1/contacts/imports").await;
    let id = created["id"].as_str().unwrap();
    let (st, p) = s.post(&format!("/v1/contacts/imports/{id}/start")).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert_eq!(
        p["type"],
        "https://whatatalk.dev/problems/import-not-uploaded"
    );
    let (st, _) = s
        .get("/v1/contacts/imports/imp_01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    s.running.stop().await.unwrap();
}

async fn inline_imports(s: Stack) {
    let url = format!("{}/v1/contacts/import", s.client.base);
    let send = |body: Vec<u8>, ct: &'static str| {
        let req = s
            .client
            .http
            .post(&url)
            .bearer_auth(&s.key)
            .header("content-type", ct)
            .body(body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let (st, report) = send(
        b"phone,name\n+447911123401,Ana\nnope,Bad\n".to_vec(),
        "text/csv",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{report}");
    assert_eq!(counts(&report), [2, 1, 0, 0, 1]);
    assert_eq!(
        report["errors"],
        json!([{"row": 3, "column": "phone", "reason": report["errors"][0]["reason"]}])
    );
    let (st, _) = send(b"phone\n+447911123401\n".to_vec(), "application/json").await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut big = b"phone\n".to_vec();
    big.extend(std::iter::repeat_n(b"+447911123401\n", 80_000).flatten());
    let (st, p) = send(big, "text/csv").await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
    let (st, p) = send(b"name\nAna\n".to_vec(), "text/csv").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    s.running.stop().await.unwrap();
}
