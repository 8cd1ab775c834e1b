//! Contacts through HTTP: create, find, correct, tag, delete.

use crate::support::{problem_type, spawn, Tenant, TestApi};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn create(api: &TestApi, t: &Tenant, body: Value) -> Value {
    let (s, c) = api.post("/v1/contacts", &t.key, body).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c
}

#[tokio::test]
async fn a_contact_is_created_with_everything_and_read_back() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let c = create(
        &api,
        &t,
        json!({
            "phone": "+44 7911 123456", "name": "Ana Souza", "tags": ["VIP", "newsletter"],
            "attributes": {"city": "Lisbon"},
            "consent": {"opted_in": true, "source": "checkout form", "text": "Yes, send me offers"}
        }),
    )
    .await;
    assert!(c["id"].as_str().unwrap().starts_with("con_"));
    assert_eq!(c["phone"], "+447911123456");
    assert_eq!(c["tags"], json!(["newsletter", "vip"]));
    assert_eq!(c["consent"]["source"], "checkout form");
    assert!(c["consent"]["opted_in_at"].is_string());
    assert_eq!(c["opted_in"], true);
    let (s, got) = api
        .get(
            &format!("/v1/contacts/{}", c["id"].as_str().unwrap()),
            &t.key,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["name"], "Ana Souza");
    assert_eq!(got["attributes"]["city"], "Lisbon");
    assert_eq!(got["consent_history"].as_array().unwrap().len(), 1);
    assert_eq!(got["consent_history"][0]["via"], "api");

    let bsuid = create(&api, &t, json!({"user_id": "US.13491208655302741918"})).await;
    assert_eq!(bsuid["phone"], Value::Null);
    assert_eq!(bsuid["opted_in"], false);
}

#[tokio::test]
async fn one_contact_per_phone_or_user_id() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let first = create(
        &api,
        &t,
        json!({"phone": "+447911123456", "user_id": "GB.1234567"}),
    )
    .await;
    let (s, p) = api
        .post("/v1/contacts", &t.key, json!({"phone": "+44 7911 123 456"}))
        .await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::CONFLICT, "contact-exists")
    );
    assert_eq!(p["existing_id"], first["id"]);
    let (s, p) = api
        .post("/v1/contacts", &t.key, json!({"user_id": "GB.1234567"}))
        .await;
    assert_eq!(
        (s, p["existing_id"].clone()),
        (StatusCode::CONFLICT, first["id"].clone())
    );
    // Another tenant may hold the same person: lookups are per tenant.
    let other = api.signup("B", "b@example.com").await;
    create(&api, &other, json!({"phone": "+447911123456"})).await;
}

#[tokio::test]
async fn bad_contacts_are_refused_field_by_field() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let (s, p) = api
        .post("/v1/contacts", &t.key, json!({"name": "No Number"}))
        .await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
    );
    let (s, p) = api
        .post(
            "/v1/contacts",
            &t.key,
            json!({
                "phone": "12", "user_id": "nope", "tags": ["a|b"], "attributes": {"Bad Name": "x"},
                "consent": {"opted_in": true, "source": ""}
            }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["phone", "user_id", "tags", "attributes", "consent.source"]
    );
    let (s, p) = api
        .post("/v1/contacts", &t.key, json!({"phone": "07911 123456"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("default_region"),
        "{p}"
    );
    let (s, _) = api
        .patch("/v1/account", &t.key, json!({"default_region": "GB"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let c = create(&api, &t, json!({"phone": "07911 123456"})).await;
    assert_eq!(c["phone"], "+447911123456");
    let (s, p) = api
        .post(
            "/v1/contacts",
            &t.key,
            json!({"phone": "+447911123456", "extra": 1}),
        )
        .await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::BAD_REQUEST, "malformed-request")
    );
}

#[tokio::test]
async fn lists_filter_page_and_look_up() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!(["odd"])
        };
        let consent = json!({"opted_in": i < 3});
        let c = create(
            &api,
            &t,
            json!({"phone": format!("+4479111234{i:02}"), "tags": tags, "consent": consent}),
        )
        .await;
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/contacts?limit=3".to_owned();
    loop {
        let (s, page) = api.get(&path, &t.key).await;
        assert_eq!(s, StatusCode::OK);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/contacts?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every contact once, in creation order");
    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let (s, even) = api.get("/v1/contacts?tag=even&limit=200", &t.key).await;
    assert_eq!(s, StatusCode::OK, "{even}");
    assert_eq!(count(&even), 4);
    let (_, opted) = api.get("/v1/contacts?opted_in=true&tag=even", &t.key).await;
    assert_eq!(count(&opted), 2);
    let (_, found) = api.get("/v1/contacts?phone=%2B447911123403", &t.key).await;
    assert_eq!(found["items"][0]["id"], ids[3].as_str());
    let (_, none) = api.get("/v1/contacts?phone=%2B447911123499", &t.key).await;
    assert_eq!(count(&none), 0);
    let (s, p) = api.get("/v1/contacts?phone=nonsense", &t.key).await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
    );
    let (s, _) = api.get("/v1/contacts?colour=red", &t.key).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_field_can_be_corrected() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let c = create(&api, &t, json!({"phone": "+447911123456", "name": "Ana", "attributes": {"city": "Lisbon", "tier": "gold"}})).await;
    let other = create(&api, &t, json!({"phone": "+447911123499"})).await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());

    let (s, u) = api
        .patch(
            &path,
            &t.key,
            json!({
                "phone": "+447911000111", "user_id": "GB.99887766", "name": null,
                "attributes": {"city": null, "lang": "pt"}, "tags": ["x"],
                "consent": {"opted_in": true, "source": "call centre"}
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        (
            u["phone"].as_str(),
            u["user_id"].as_str(),
            u["name"].as_str()
        ),
        (Some("+447911000111"), Some("GB.99887766"), None)
    );
    assert_eq!(u["attributes"], json!({"lang": "pt", "tier": "gold"}));
    assert_eq!(u["opted_in"], true);
    // The old phone is free, the new one is found.
    let (_, old) = api.get("/v1/contacts?phone=%2B447911123456", &t.key).await;
    assert!(old["items"].as_array().unwrap().is_empty());
    let (_, new) = api.get("/v1/contacts?phone=%2B447911000111", &t.key).await;
    assert_eq!(new["items"][0]["id"], c["id"]);

    let (s, p) = api
        .patch(&path, &t.key, json!({"phone": other["phone"]}))
        .await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::CONFLICT, "contact-exists")
    );
    assert_eq!(p["existing_id"], other["id"]);

    let (_, out) = api
        .patch(
            &path,
            &t.key,
            json!({"opt_out": {"reason": "asked on the phone"}}),
        )
        .await;
    assert_eq!(
        (out["opted_in"].as_bool(), out["opt_out"]["reason"].as_str()),
        (Some(false), Some("asked on the phone"))
    );
    let (_, back) = api
        .patch(
            &path,
            &t.key,
            json!({"opt_out": null, "consent": {"opted_in": false}}),
        )
        .await;
    assert_eq!(
        (back["opted_in"].as_bool(), back["opt_out"].is_null()),
        (Some(false), true)
    );
    let (_, full) = api.get(&path, &t.key).await;
    let history: Vec<_> = full["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["opted_in"].as_bool().unwrap())
        .collect();
    assert_eq!(history, [true, false], "each consent change is recorded");

    let (s, p) = api
        .patch(&path, &t.key, json!({"phone": null, "user_id": null}))
        .await;
    assert_eq!(
        (s, problem_type(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed")
    );
}

/// The latest consent record lives in the contact's own item (creating a contact writes no
/// record item); each change moves the one it replaces into a record of its own.
#[tokio::test]
async fn the_consent_history_keeps_its_latest_record_in_the_contact() {
    use shared::ports::Query;
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let c = create(
        &api,
        &t,
        json!({"phone": "+447911123456", "consent": {"opted_in": true, "source": "web form"}}),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    let path = format!("/v1/contacts/{id}");
    let account: shared::domain::AccountId = t.account_id.parse().unwrap();
    let record_items = || async {
        api.app
            .items
            .query(
                Query::partition(shared::table::account_partition(&account))
                    .begins_with(format!("CONSENT#{id}#")),
            )
            .await
            .unwrap()
            .items
            .len()
    };
    let history = |full: &Value| -> Vec<(bool, Option<String>, String)> {
        full["consent_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["opted_in"].as_bool().unwrap(),
                    r["source"].as_str().map(str::to_owned),
                    r["via"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (_, full) = api.get(&path, &t.key).await;
    assert_eq!(
        history(&full),
        [(true, Some("web form".into()), "api".into())]
    );
    assert_eq!(record_items().await, 0);

    // A correction that leaves the consent alone records nothing.
    api.patch(&path, &t.key, json!({"name": "Ana"})).await;
    let (_, full) = api.get(&path, &t.key).await;
    assert_eq!(history(&full).len(), 1);
    assert_eq!(record_items().await, 0);

    for (opted_in, source) in [(false, "phone call"), (true, "shop")] {
        let (s, _) = api
            .patch(
                &path,
                &t.key,
                json!({"consent": {"opted_in": opted_in, "source": source}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (_, full) = api.get(&path, &t.key).await;
    assert_eq!(
        history(&full),
        [
            (true, Some("web form".into()), "api".into()),
            (false, Some("phone call".into()), "api".into()),
            (true, Some("shop".into()), "api".into()),
        ]
    );
    assert_eq!(record_items().await, 2, "the two replaced records");
    let (_, inventory) = api.get("/v1/privacy", &t.key).await;
    assert_eq!(inventory["held"]["consent_records"], 3, "{inventory}");

    let (_, receipt) = api.delete(&path, &t.key).await;
    assert_eq!(receipt["consent_records"], 3);
    assert_eq!(record_items().await, 0);
}

#[tokio::test]
async fn tags_are_added_and_removed() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let c = create(&api, &t, json!({"phone": "+447911123456", "tags": ["a"]})).await;
    let path = format!("/v1/contacts/{}/tags", c["id"].as_str().unwrap());
    let (s, u) = api.post(&path, &t.key, json!({"tags": ["B", "c"]})).await;
    assert_eq!(
        (s, u["tags"].clone()),
        (StatusCode::OK, json!(["a", "b", "c"]))
    );
    let (s, u) = api
        .call(
            reqwest::Method::DELETE,
            &path,
            Some(&t.key),
            Some(json!({"tags": ["a", "zzz"]})),
        )
        .await;
    assert_eq!((s, u["tags"].clone()), (StatusCode::OK, json!(["b", "c"])));
    let many: Vec<String> = (0..60).map(|i| format!("t{i}")).collect();
    let (s, _) = api.post(&path, &t.key, json!({"tags": many})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn deletion_erases_the_contact_and_frees_its_phone() {
    let api = spawn().await;
    let t = api.signup("A", "a@example.com").await;
    let c = create(
        &api,
        &t,
        json!({"phone": "+447911123456", "user_id": "GB.1", "consent": {"opted_in": true}}),
    )
    .await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());
    let (s, receipt) = api.delete(&path, &t.key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        receipt,
        json!({"contacts": 1, "lookup_entries": 2, "consent_records": 1, "messages": 0, "media": 0,
               "conversations": 0, "windows": 0, "broadcast_targets": 0})
    );
    let (s, _) = api.get(&path, &t.key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.delete(&path, &t.key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, found) = api.get("/v1/contacts?user_id=GB.1", &t.key).await;
    assert!(found["items"].as_array().unwrap().is_empty());
    create(&api, &t, json!({"phone": "+447911123456"})).await;
}

/// The upload link outlives the size check at start: a file swapped in afterwards (larger, or
/// just different) is refused by the job, which reads only the file that was checked.
#[tokio::test]
async fn an_import_reads_only_the_file_checked_at_start() {
    use shared::services::Job;
    let api = spawn().await;
    let t = api.signup("Importer", "imports@example.com").await;
    let account: shared::domain::AccountId = t.account_id.parse().unwrap();
    let app = &api.app;
    let (import, _, _) = app.create_import(&account).await.unwrap();
    let source = shared::services::imports::source_key(&account, &import.id).unwrap();
    let checked = bytes::Bytes::from_static(b"phone\n+447911123456\n");
    app.blobs.put(&source, checked, "text/csv").await.unwrap();
    app.start_import(&account, &import.id).await.unwrap();
    // Swapped through the still-valid link before the job runs.
    let swapped =
        bytes::Bytes::from_static(b"phone\n+447911123456\n+447911123457\n+447911123458\n");
    app.blobs.put(&source, swapped, "text/csv").await.unwrap();
    let job = Job::ContactImport {
        account_id: account.clone(),
        import_id: import.id.clone(),
    };
    app.run_job(&job, "worker-1", None).await.unwrap();
    let (s, body) = api
        .get(&format!("/v1/contacts/imports/{}", import.id), &t.key)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "failed", "{body}");
    assert!(
        body["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("changed"),
        "{body}"
    );
    let (_, contacts) = api.get("/v1/contacts", &t.key).await;
    assert_eq!(
        contacts["items"],
        json!([]),
        "nothing of either file applied"
    );
}
