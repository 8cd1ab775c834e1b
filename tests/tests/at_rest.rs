//! Personal data is never stored in clear: after a signup with email E, a number with token T
//! and an import of 300 contacts, none of those values appears as bytes in the SQLite files,
//! the blob files, a raw scan of the DynamoDB table or the objects left in the bucket.

mod support;

use std::path::{Path, PathBuf};

use support::{sign_up_and_connect, Client, Secrets};

fn find(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A contact file whose phones, names and notes are unique to this call; returns the file and
/// the values that must never be stored in clear.
fn contact_file(rows: usize) -> (Vec<u8>, Vec<String>) {
    let tag = &ulid::Ulid::new().to_string()[16..];
    let mut csv = b"phone,name,attr.note\n".to_vec();
    let mut values = Vec::new();
    for i in 0..rows {
        let phone = format!("+4479111{:05}", 20_000 + i);
        let name = format!("Person{tag}x{i}");
        let note = format!("note{tag}y{i}");
        csv.extend_from_slice(format!("{phone},{name},{note}\n").as_bytes());
        values.extend([phone[1..].to_owned(), name, note]);
    }
    (csv, values)
}

/// Uploads and imports `csv` through the API and waits for the job.
async fn import(client: &Client, key: &str, csv: Vec<u8>) -> serde_json::Value {
    let url = |p: &str| format!("{}{p}", client.base);
    let (_, created) = client
        .send(
            client
                .http
                .post(url("/v1/contacts/imports"))
                .bearer_auth(key),
        )
        .await;
    let put = client
        .http
        .put(created["upload_url"].as_str().unwrap())
        .header("content-type", "text/csv")
        .body(csv);
    assert!(put.send().await.unwrap().status().is_success());
    let id = created["id"].as_str().unwrap();
    let start = url(&format!("/v1/contacts/imports/{id}/start"));
    client.send(client.http.post(start).bearer_auth(key)).await;
    for _ in 0..400 {
        let (_, now) = client.get(&format!("/v1/contacts/imports/{id}"), key).await;
        if now["status"] == "completed" {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import did not finish");
}

/// Every file under `dir`, with its bytes.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out
}

#[tokio::test]
async fn sqlite_and_blob_files_hold_no_personal_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
    let running = infra::start(config).await.unwrap();
    if let Some(standin) = &running.standin {
        standin.seed_templates(infra::standin::templates::fixtures());
    }
    let client = Client::new(running.base_url());
    let secrets = Secrets::fresh();
    let key = sign_up_and_connect(&client, running.standin.as_ref().unwrap(), &secrets).await;
    let (csv, imported) = contact_file(300);
    assert_eq!(import(&client, &key, csv).await["created"], 300);
    // The values are really there, readable through the API...
    let (_, me) = client.get("/v1/account", &key).await;
    assert_eq!(me["email"], secrets.email.as_str());
    let (_, found) = client.get("/v1/contacts?phone=%2B447911120299", &key).await;
    assert_eq!(found["items"][0]["name"], imported[299 * 3 + 1].as_str());
    running.stop().await.unwrap();

    // ...and in no file of the data directory (database, WAL, blobs).
    let files = all_files(dir.path());
    assert!(files.len() >= 3, "database, key file, secrets at least");
    for (path, bytes) in &files {
        for value in secrets
            .all()
            .into_iter()
            .chain(imported.iter().map(String::as_str))
        {
            assert!(
                !find(bytes, value),
                "{value} in clear in {}",
                path.display()
            );
        }
        assert!(
            !find(bytes, &key),
            "the API key in clear in {}",
            path.display()
        );
    }
}

#[cfg(feature = "aws")]
#[tokio::test]
async fn dynamodb_and_s3_hold_no_personal_bytes() {
    let (standin, graph) = infra::standin::StandIn::start(Default::default())
        .await
        .unwrap();
    standin.seed_templates(infra::standin::templates::fixtures());
    let (app, clients, settings) = shared::testing::aws_app_with_graph(graph).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = infra::serve(
        std::sync::Arc::new(app),
        listener,
        axum::Router::new(),
        Default::default(),
        &infra::DevSecrets::fixed("e2e-app-secret", "e2e-verify-token", "e2e-billing-secret"),
    )
    .unwrap();
    let client = Client::new(running.base_url());
    let secrets = Secrets::fresh();
    let key = sign_up_and_connect(&client, &standin, &secrets).await;
    let (csv, imported) = contact_file(300);
    assert_eq!(import(&client, &key, csv).await["created"], 300);
    let (_, me) = client.get("/v1/account", &key).await;
    assert_eq!(me["email"], secrets.email.as_str());

    let scan = support::aws::scan(&clients, &settings.table).await;
    let items = scan.len();
    let mut raw: Vec<u8> = scan.iter().flat_map(support::aws::item_bytes).collect();
    assert!(
        items >= 6 + 600,
        "account, keys, number, route, 300 contacts and their lookups"
    );
    // What is left in the bucket (the upload itself is deleted once imported).
    for key in support::aws::object_keys(&clients, &settings.bucket).await {
        let body = clients
            .s3
            .get_object()
            .bucket(&settings.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        raw.extend_from_slice(&body.body.collect().await.unwrap().into_bytes());
    }
    for value in secrets
        .all()
        .into_iter()
        .chain(imported.iter().map(String::as_str))
    {
        assert!(!find(&raw, value), "{value} in clear in DynamoDB or S3");
    }
    assert!(!find(&raw, &key), "the API key in clear in DynamoDB");
    running.stop().await.unwrap();
}
