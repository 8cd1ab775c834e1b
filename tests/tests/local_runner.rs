//! The local runner as the README uses it: start, sign up, connect a number, restart, and
//! find everything (keys, data, dev secrets) still there.

mod support;

use std::net::SocketAddr;

use infra::LocalConfig;
use reqwest::StatusCode;
use support::{sign_up_and_connect, Client, Secrets};

fn config(dir: &std::path::Path) -> LocalConfig {
    LocalConfig::in_dir(SocketAddr::from(([127, 0, 0, 1], 0)), dir.to_owned()).unwrap()
}

#[tokio::test]
async fn data_and_keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = infra::start(config(dir.path())).await.unwrap();
    let client = Client::new(first.base_url());
    let (s, health) = client
        .send(client.http.get(format!("{}/health", client.base)))
        .await;
    assert_eq!((s, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    let secrets = Secrets::fresh();
    let key = sign_up_and_connect(&client, first.standin.as_ref().unwrap(), &secrets).await;
    let dev_secrets = config(dir.path()).secrets;
    first.stop().await.unwrap();

    let second = infra::start(config(dir.path())).await.unwrap();
    let client = Client::new(second.base_url());
    let (s, me) = client.get("/v1/account", &key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["email"], secrets.email.as_str());
    let (_, numbers) = client.get("/v1/numbers", &key).await;
    assert_eq!(numbers["items"][0]["phone_number_id"], "106540352242922");
    let again = config(dir.path()).secrets;
    assert_eq!(again.app_secret, dev_secrets.app_secret);
    assert_eq!(again.verify_token, dev_secrets.verify_token);
    second.stop().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let running = infra::start(config(dir.path())).await.unwrap();
    for file in ["master.key", "dev-secrets.json"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    running.stop().await.unwrap();
}
