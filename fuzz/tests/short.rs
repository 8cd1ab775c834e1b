//! A short run of every target in the test command (the long one is `cargo run --release -p
//! fuzz -- --target all --inputs 1000000`, docs/security.md).

fn short(target: &str, inputs: u64) {
    let crashes = tempfile::tempdir().unwrap();
    let report = fuzz::run(target, inputs, 20261206, crashes.path()).unwrap();
    assert_eq!(report.inputs, inputs);
    assert!(
        report.accepted > 0,
        "{target}: no input was accepted: the seeds are wrong"
    );
    assert!(
        report.failures.is_empty(),
        "{target}: {} failures, e.g. {}",
        report.failures.len(),
        std::fs::read_to_string(report.failures[0].with_extension("why")).unwrap_or_default()
    );
}

#[test]
fn webhook_payloads() {
    short("webhook", 20_000);
}

#[test]
fn contact_files() {
    short("csv", 20_000);
}

#[test]
fn payment_events() {
    short("payments", 20_000);
}

#[test]
fn api_bodies() {
    short("api", 3_000);
}
