//! The retention handler driven by the scheduled event as EventBridge delivers it.

#[cfg(feature = "aws")]
#[tokio::test]
async fn the_scheduled_event_runs_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let app = shared::testing::local_app(dir.path());
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../../../events/retention/scheduled.json")).unwrap();
    let report = retention::lambda::handle(
        &app,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(report["complete"], true);
    assert_eq!(report["accounts"], 0);
}
