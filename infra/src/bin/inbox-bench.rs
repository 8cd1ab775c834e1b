//! `inbox-bench`: the app's inbox page for an account of `--conversations` conversations (one
//! inbound message each), rendered by the API router on a loopback port, asked `--requests`
//! times in a row by a signed-in browser; reports the latency percentiles of the whole answer
//! (session check, the page of 50 conversations and their contacts, the HTML).
//!
//! ```sh
//! cargo build --release --bin inbox-bench
//! target/release/inbox-bench --conversations 10000 --requests 500
//! ```
//!
//! The store is the local runner's (SQLite). Seeding writes each message and conversation as
//! the webhook would and is not timed. Every request renders in full: no `If-None-Match`.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use shared::domain::{BusinessName, Email, Password, UserName};
use shared::services::NewAccount;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut conversations = 10_000usize;
    let mut requests = 500usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--conversations" => conversations = value()?.parse()?,
            "--requests" => requests = value()?.parse()?,
            other => bail!("unknown argument {other}; use --conversations N --requests N"),
        }
    }
    ensure!(conversations > 0 && requests > 0, "give positive numbers");
    let bench = infra::bench::LocalBench::start("inbox-bench").await?;
    let (app, dir) = (bench.app.clone(), bench.dir.clone());
    let (account, _, cookie) = app
        .signup_owner(
            NewAccount {
                business_name: BusinessName::parse("Inbox Bench")?,
                email: Email::parse("owner@inbox-bench.example")?,
                default_region: None,
            },
            UserName::parse("Owner")?,
            Password::parse("correct horse battery staple")?,
        )
        .await?;
    let number = bench.connect_demo_number(&account.id).await?;
    let seeding = Instant::now();
    let ids = bench.contacts(&account.id, conversations).await?;
    shared::testing::seed_conversations(&app, &account.id, &number, &ids).await?;
    eprintln!(
        "seeded {conversations} contacts and conversations in {:.1?}",
        seeding.elapsed()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = api::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = format!("wat_session={}", cookie.expose());
    let get = |path: String| {
        let (http, cookie, base) = (http.clone(), cookie.clone(), base.clone());
        async move {
            let started = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await?;
            let status = r.status();
            let body = r.text().await?;
            let took = started.elapsed();
            ensure!(status.is_success(), "{path}: {status}");
            anyhow::Ok((took, body))
        }
    };
    // Warm up (connections, caches of keys and routes), and check what a page holds.
    for _ in 0..20 {
        get("/app/inbox".into()).await?;
    }
    let (_, page) = get("/app/inbox".into()).await?;
    let rows = page.matches("<li class=\"conversation").count();
    ensure!(rows == 50, "the inbox shows {rows} conversations, not 50");
    // The newest conversation's thread; and "Mine" with nothing assigned, the filter's worst
    // case (it reads its whole scan budget and finds nothing).
    let newest = ids.last().context("no contact")?;
    let pages = [
        ("GET /app/inbox", "/app/inbox".to_owned()),
        (
            "GET /app/inbox?filter=mine (none assigned)",
            "/app/inbox?filter=mine".to_owned(),
        ),
        (
            "GET /app/inbox/{contact_id}",
            format!("/app/inbox/{newest}"),
        ),
    ];
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    println!(
        "inbox of {conversations} conversations, {requests} requests one at a time, {} cores ({cpu})",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (label, path) in pages {
        let mut took = Vec::with_capacity(requests);
        let mut bytes = 0;
        for _ in 0..requests {
            let (t, body) = get(path.clone()).await?;
            took.push(t);
            bytes = body.len();
        }
        took.sort();
        println!(
            "{label:<44} p50 {:>5.1} ms  p95 {:>5.1} ms  p99 {:>5.1} ms  max {:>5.1} ms  ({bytes} bytes)",
            ms(percentile(&took, 0.50)),
            ms(percentile(&took, 0.95)),
            ms(percentile(&took, 0.99)),
            ms(*took.last().unwrap_or(&Duration::ZERO)),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
