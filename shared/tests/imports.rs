//! Import jobs interrupted and resumed: counts stay exact, nothing is written twice.

use std::time::Instant;

use bytes::Bytes;
use shared::domain::{ApiKeyName, BusinessName, Email, ImportCounts, ImportStatus};
use shared::ports::{Update, Value};
use shared::services::imports::source_key;
use shared::services::{App, JobOutcome, NewAccount, ServiceError};

/// 3,500 rows across four batches: every 50th row a bad phone, every 70th a repeat of the
/// row 1,000 rows earlier (so duplicates straddle batches and the interruption).
fn file() -> (Vec<u8>, ImportCounts) {
    let mut csv = b"phone,name,tags\n".to_vec();
    let mut counts = ImportCounts::default();
    for i in 0..3500u64 {
        counts.rows += 1;
        let phone = if i % 50 == 49 {
            counts.rejected += 1;
            "12345".to_owned()
        } else if i % 70 == 69 && i >= 1000 && (i - 1000) % 50 != 49 {
            counts.rejected += 1;
            format!("+4479111{:05}", i - 1000)
        } else {
            counts.created += 1;
            format!("+4479111{i:05}")
        };
        csv.extend_from_slice(format!("{phone},Name {i},t{}\n", i % 3).as_bytes());
    }
    (csv, counts)
}

async fn tenant(app: &App, name: &str) -> shared::domain::AccountId {
    let new = NewAccount {
        business_name: BusinessName::parse(name).unwrap(),
        email: Email::parse("a@example.com").unwrap(),
        default_region: None,
    };
    app.signup(new, ApiKeyName::parse("k").unwrap())
        .await
        .unwrap()
        .0
        .id
}

async fn uploaded(
    app: &App,
    account: &shared::domain::AccountId,
    csv: &[u8],
) -> shared::domain::ImportId {
    let (import, _, _) = app.create_import(account).await.unwrap();
    app.blobs
        .put(
            &source_key(account, &import.id).unwrap(),
            Bytes::from(csv.to_vec()),
            "text/csv",
        )
        .await
        .unwrap();
    assert_eq!(
        app.start_import(account, &import.id).await.unwrap().status,
        ImportStatus::Queued
    );
    import.id
}

async fn report(
    app: &App,
    account: &shared::domain::AccountId,
    id: &shared::domain::ImportId,
) -> String {
    let key = shared::ports::BlobKey::parse(&format!("imports/{account}/{id}/errors.csv")).unwrap();
    String::from_utf8(app.blobs.get(&key).await.unwrap().unwrap().bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn an_interrupted_import_resumes_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let app =
        shared::testing::local_app(dir.path()).with_billing(shared::testing::unlimited_billing());
    let (csv, expected) = file();

    // A clean run, for reference.
    let clean = tenant(&app, "Clean").await;
    let id = uploaded(&app, &clean, &csv).await;
    assert_eq!(
        app.run_import(&clean, &id, "w0", None).await.unwrap(),
        JobOutcome::Done
    );
    let done = app.import(&clean, &id).await.unwrap();
    assert_eq!(done.counts, expected);
    let clean_report = report(&app, &clean, &id).await;
    assert_eq!(clean_report.lines().count() as u64, 1 + expected.rejected);

    // A run cut off after its first batch, whose last checkpoint is then lost, as if the
    // process died between writing the contacts and recording the progress.
    let cut = tenant(&app, "Cut").await;
    let id = uploaded(&app, &cut, &csv).await;
    let outcome = app
        .run_import(&cut, &id, "w1", Some(Instant::now()))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Continued);
    let rows_done = app.import(&cut, &id).await.unwrap().counts.rows;
    assert!(rows_done > 0 && rows_done < expected.rows, "{rows_done}");
    let mut rollback = Update::new(shared::table::import(&cut, &id))
        .remove("next_row")
        .remove("error_parts")
        .remove("reported_errors");
    for n in ["rows", "created", "updated", "unchanged", "rejected"] {
        rollback = rollback.set(n, Value::N(0));
    }
    app.items.update(rollback).await.unwrap();

    // Two deliveries of the job at once: whichever takes the lease finishes the import, the
    // other waits its turn (Busy) or finds it done; which one wins depends on scheduling.
    let first = app.run_import(&cut, &id, "w2", None);
    let second = async {
        tokio::task::yield_now().await;
        app.run_import(&cut, &id, "w3", None).await
    };
    let (first, second) = tokio::join!(first, second);
    let done_or_busy = |r: &Result<JobOutcome, ServiceError>| {
        matches!(r, Ok(JobOutcome::Done) | Err(ServiceError::Busy))
    };
    assert!(
        done_or_busy(&first) && done_or_busy(&second),
        "{first:?} {second:?}"
    );
    assert!(
        matches!(first, Ok(JobOutcome::Done)) || matches!(second, Ok(JobOutcome::Done)),
        "one of them finished the import: {first:?} {second:?}"
    );

    let resumed = app.import(&cut, &id).await.unwrap();
    assert_eq!(resumed.status, ImportStatus::Completed);
    assert_eq!(
        resumed.counts, expected,
        "rows applied before the loss count as they did"
    );
    assert_eq!(report(&app, &cut, &id).await, clean_report);
    let filter = shared::services::ContactFilter::default();
    let mut total = 0;
    let mut cursor = None;
    loop {
        let (page, next) = app.contacts(&cut, &filter, 200, cursor).await.unwrap();
        total += page.len() as u64;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(total, expected.created, "no contact written twice");
    // A late redelivery of a finished import does nothing.
    assert_eq!(
        app.run_import(&cut, &id, "w4", None).await.unwrap(),
        JobOutcome::Done
    );
    assert_eq!(app.import(&cut, &id).await.unwrap().counts, expected);
}

/// One intervention in the real store: once armed, before the next transaction, it lets
/// another request land — here, a contact created through the API while an import decides.
struct Meddle {
    app: std::sync::OnceLock<std::sync::Weak<App>>,
    armed: std::sync::Mutex<Option<(shared::domain::AccountId, &'static str)>>,
}

#[async_trait::async_trait]
impl shared::testing::StoreHook for Meddle {
    async fn before_transact(&self, _writes: &[shared::ports::Write]) {
        let armed = self.armed.lock().unwrap().take();
        if let (Some((account, phone)), Some(app)) =
            (armed, self.app.get().and_then(|a| a.upgrade()))
        {
            let new = shared::services::NewContact {
                phone: Some(shared::domain::PhoneNumber::parse(phone, None).unwrap()),
                ..Default::default()
            };
            app.create_contact(&account, new).await.unwrap();
        }
    }
}

/// An account with no contacts skips the existence reads; a contact created through the API
/// between the import's decision and its write is then caught by the create's condition: that
/// row is reported, the others are imported, and the contact is not duplicated.
#[tokio::test]
async fn a_contact_created_during_an_import_is_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::parse("http://127.0.0.1:9/").unwrap();
    let mut ports = shared::adapters::local::LocalBackend::open(
        dir.path(),
        url,
        shared::testing::unreachable_graph(),
    )
    .unwrap()
    .ports;
    let meddled = std::sync::Arc::new(shared::testing::Hooked::new(
        ports.items.clone(),
        Meddle {
            app: std::sync::OnceLock::new(),
            armed: std::sync::Mutex::new(None),
        },
    ));
    ports.items = meddled.clone();
    let app = std::sync::Arc::new(App::new(ports));
    meddled
        .hook
        .app
        .set(std::sync::Arc::downgrade(&app))
        .unwrap();
    let account = tenant(&app, "Racing").await;

    *meddled.hook.armed.lock().unwrap() = Some((account.clone(), "+447911123402"));
    let csv = b"phone,name\n+447911123401,Ana\n+447911123402,Bo\n+447911123403,Cy\n";
    let report = app
        .import_inline(&account, Bytes::from_static(csv))
        .await
        .unwrap();
    assert_eq!(
        (report.counts.created, report.counts.rejected),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(report.errors[0].row, 3, "{report:?}");
    assert!(
        report.errors[0].reason.contains("changed while"),
        "{report:?}"
    );
    let (contacts, _) = app
        .contacts(&account, &Default::default(), 50, None)
        .await
        .unwrap();
    assert_eq!(contacts.len(), 3, "Ana, Cy and the one the API created");
    assert_eq!(app.contacts_held(&account).await.unwrap(), 3);
}
