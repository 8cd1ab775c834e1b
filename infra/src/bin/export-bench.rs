//! `export-bench`: an account of `--contacts` contacts and `--messages` messages on the local
//! adapters, exported through the export job; reports the time and the process's memory
//! before and during the export.
//!
//! ```sh
//! cargo build --release --bin export-bench
//! target/release/export-bench --messages 1000000 --contacts 100000
//! ```
//!
//! Seeding writes the messages straight into the store (sealed as the service seals them) and
//! takes longer than the export; only the export is timed. The resident set is sampled every
//! 50 ms while the export runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use shared::domain::{ApiKeyName, BusinessName, Email, ExportStatus};
use shared::services::{NewAccount, Principal};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut messages = 1_000_000usize;
    let mut contacts = 100_000usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => messages = value()?.parse()?,
            "--contacts" => contacts = value()?.parse()?,
            other => bail!("unknown argument {other}; use --messages N --contacts N"),
        }
    }
    ensure!(contacts > 0 && messages > 0, "give positive numbers");
    let bench = infra::bench::LocalBench::start("export-bench").await?;
    let (app, dir) = (bench.app.clone(), bench.dir.clone());
    let account = app
        .signup(
            NewAccount {
                business_name: BusinessName::parse("Exporter")?,
                email: Email::parse("exporter@example.com")?,
                default_region: None,
            },
            ApiKeyName::parse("bench")?,
        )
        .await?
        .0
        .id;
    let number = bench.connect_demo_number(&account).await?;
    let seeding = Instant::now();
    let ids = bench.contacts(&account, contacts).await?;
    shared::testing::seed_messages(&app, &account, &number, &ids, messages).await?;
    eprintln!(
        "seeded {contacts} contacts and {messages} messages in {:.1?}",
        seeding.elapsed()
    );

    let before = rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    let export = app
        .request_export(&Principal::system(account.clone()), None)
        .await?;
    // The job, as the jobs function or the runner's drainer runs it.
    let job = app
        .job_queue
        .receive(1, Duration::from_secs(900), Duration::from_secs(1))
        .await?
        .pop()
        .context("the export job was not queued")?;
    jobs::run(&app, &job.id, &job.body, None).await?;
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let export = app.export(&account, &export.id).await?;
    ensure!(
        export.status == ExportStatus::Done,
        "the export did not finish"
    );
    ensure!(
        export.counts.get("message") == Some(&(messages as u64))
            && export.counts.get("contact") == Some(&(contacts as u64)),
        "counts {:?}",
        export.counts
    );
    println!("contacts        {contacts}");
    println!("messages        {messages}");
    println!(
        "export          {:.1?}, {:.1} MB written",
        elapsed,
        export.size.unwrap_or(0) as f64 / 1e6
    );
    println!(
        "rate            {:.0} records/s",
        (contacts + messages) as f64 / elapsed.as_secs_f64()
    );
    println!(
        "resident        {:.1} MB before, {:.1} MB peak during the export",
        before as f64 / 1024.0,
        peak.load(Ordering::Relaxed) as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
