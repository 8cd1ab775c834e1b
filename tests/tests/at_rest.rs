//! After signup with email E and a number with token T, neither E nor T (nor the business
//! name) appears as bytes in storage: not in the SQLite files, not in the DynamoDB table.

mod support;

use support::{sign_up_and_connect, Client, Secrets};

fn find(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn sqlite_files_hold_no_personal_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        infra::LocalConfig::in_dir(([127, 0, 0, 1], 0).into(), dir.path().to_owned()).unwrap();
    let running = infra::start(config).await.unwrap();
    let client = Client::new(running.base_url());
    let secrets = Secrets::fresh();
    let key = sign_up_and_connect(&client, &secrets).await;
    // The values are really there, readable through the API...
    let (_, me) = client.get("/v1/account", &key).await;
    assert_eq!(me["email"], secrets.email.as_str());
    running.stop().await.unwrap();

    // ...and in no file of the data directory (database, WAL, blobs).
    let mut files = 0;
    let mut stack = vec![dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            files += 1;
            for value in secrets.all() {
                assert!(
                    !find(&bytes, value),
                    "{value} in clear in {}",
                    path.display()
                );
            }
            assert!(
                !find(&bytes, &key),
                "the API key in clear in {}",
                path.display()
            );
        }
    }
    assert!(files >= 3, "database, key file, secrets at least");
}

#[cfg(feature = "aws")]
#[tokio::test]
async fn dynamodb_table_holds_no_personal_bytes() {
    use aws_sdk_dynamodb::types::AttributeValue;

    let (app, clients, settings) = shared::testing::aws_app().await;
    let client = Client::new(support::serve(std::sync::Arc::new(app)).await);
    let secrets = Secrets::fresh();
    let key = sign_up_and_connect(&client, &secrets).await;
    let (_, me) = client.get("/v1/account", &key).await;
    assert_eq!(me["email"], secrets.email.as_str());

    fn bytes_of(v: &AttributeValue, out: &mut Vec<u8>) {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
            AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
            AttributeValue::L(l) => l.iter().for_each(|v| bytes_of(v, out)),
            AttributeValue::M(m) => m.iter().for_each(|(k, v)| {
                out.extend_from_slice(k.as_bytes());
                bytes_of(v, out)
            }),
            other => out.extend_from_slice(format!("{other:?}").as_bytes()),
        }
    }
    let scan = clients
        .dynamodb
        .scan()
        .table_name(&settings.table)
        .send()
        .await
        .unwrap();
    let mut raw = Vec::new();
    for item in scan.items() {
        for (k, v) in item {
            raw.extend_from_slice(k.as_bytes());
            bytes_of(v, &mut raw);
        }
    }
    assert!(
        scan.items().len() >= 6,
        "account, data key, api key + lookup, number + route"
    );
    for value in secrets.all() {
        assert!(!find(&raw, value), "{value} in clear in DynamoDB");
    }
    assert!(!find(&raw, &key), "the API key in clear in DynamoDB");
}
