//! Logs of a signup, a number connect and a few failures, captured at TRACE level, carry none
//! of the personal values sent.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::{sign_up_and_connect, Client, Secrets};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

// One thread: every task of the server and the client logs into this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn logs_carry_no_personal_data() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(shared::telemetry::subscriber(capture.clone(), "trace"));

    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(shared::testing::local_app(dir.path()));
    let client = Client::new(support::serve(app).await);
    let secrets = Secrets::fresh();
    let key = sign_up_and_connect(&client, &secrets).await;
    // Failures log too: a bad patch, a wrong key, a duplicate number.
    let url = format!("{}/v1/account", client.base);
    client
        .send(
            client
                .http
                .patch(&url)
                .bearer_auth(&key)
                .json(&json!({"email": format!("{} broken", secrets.email)})),
        )
        .await;
    client
        .send(client.http.get(&url).bearer_auth(format!("{key}x")))
        .await;
    client
        .send(
            client
                .http
                .post(format!("{}/v1/numbers", client.base))
                .bearer_auth(&key)
                .json(&json!({
                    "phone_number_id": "106540352242922", "waba_id": "1",
                    "display_phone_number": secrets.display, "access_token": secrets.token,
                })),
        )
        .await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request done"), "the capture works: {logs}");
    assert!(logs.contains("account created"));
    for value in secrets
        .all()
        .into_iter()
        .chain([key.as_str(), "5550783881"])
    {
        assert!(
            !logs.contains(value),
            "{value} leaked into the logs:\n{logs}"
        );
    }
}
