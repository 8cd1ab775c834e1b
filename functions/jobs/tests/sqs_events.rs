//! The jobs handler driven by an SQS event as Lambda delivers it (events/jobs/).
#![cfg(feature = "aws")]

use aws_lambda_events::event::sqs::SqsEvent;
use bytes::Bytes;
use lambda_runtime::{Context, LambdaEvent};
use shared::domain::{ApiKeyName, BusinessName, Email, ImportStatus};
use shared::services::imports::source_key;
use shared::services::NewAccount;

#[tokio::test]
async fn an_import_job_runs_and_a_malformed_message_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let app = shared::testing::local_app(dir.path());
    let new = NewAccount {
        business_name: BusinessName::parse("A").unwrap(),
        email: Email::parse("a@example.com").unwrap(),
        default_region: None,
    };
    let account = app
        .signup(new, ApiKeyName::parse("k").unwrap())
        .await
        .unwrap()
        .0
        .id;
    let (import, _, _) = app.create_import(&account).await.unwrap();
    let csv = Bytes::from_static(b"phone,name\n+447911123401,Ana\n+447911123402,Bo\n");
    app.blobs
        .put(&source_key(&account, &import.id).unwrap(), csv, "text/csv")
        .await
        .unwrap();
    app.start_import(&account, &import.id).await.unwrap();

    // The sample event, pointed at this account's import.
    let sample = include_str!("../../../events/jobs/contact-import.json")
        .replace("acc_01JD0000000000000000000000", &account.to_string())
        .replace("imp_01JD0000000000000000000000", &import.id.to_string());
    let payload: SqsEvent = serde_json::from_str(&sample).unwrap();
    let mut context = Context::default();
    context.deadline = (std::time::SystemTime::now() + std::time::Duration::from_secs(300))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let response = jobs::lambda::handle(&app, LambdaEvent::new(payload, context))
        .await
        .unwrap();

    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["2e1424d4-f796-459a-8184-9c92662be6da"],
        "only the malformed message"
    );
    let done = app.import(&account, &import.id).await.unwrap();
    assert_eq!(done.status, ImportStatus::Completed);
    assert_eq!((done.counts.rows, done.counts.created), (2, 2));
}
