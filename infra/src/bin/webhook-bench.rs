//! `webhook-bench`: signed status webhooks posted to a running stack as fast as it takes them.
//!
//! ```sh
//! cargo build --release --bin webhook-bench
//! target/release/webhook-bench --messages 10000 --concurrency 32
//! # the same load on the AWS adapters, against DynamoDB Local and moto:
//! source infra/scripts/test-stack.sh && stack_install && stack_start
//! cargo run --release --features aws --bin webhook-bench -- --backend aws --messages 2000
//! stack_stop
//! ```
//!
//! It sends `--messages` templates through the real sender to the in-process Graph stand-in
//! (which posts nothing back), then posts, for every message, Meta's three statuses (sent,
//! delivered, read: one status per webhook, as Meta sends them, each signed) to `/webhook`
//! over HTTP from `--concurrency` keep-alive connections. It reports events per second and the
//! latency percentiles of the 200s, checks that every answer was 200 and that every message
//! ended `read`. Client and server share this process and machine.
//!
//! With `--endpoints N` the account has N endpoints wanting `message.status` on a loopback
//! receiver: each status webhook then also queues its events (one job per webhook), which the
//! runner's job loops deliver while the load runs (or, with `--hold-deliveries`, once it is
//! over: the requests are then measured without deliveries competing for the cores); it checks
//! every event arrived, signed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use axum::Router;
use infra::bench::{post_all, EventReceiver, Post, NUMBER};
use infra::standin::{status_webhook, StandIn};
use shared::domain::{AccountId, EventTypes, MessageId, MessageStatus, MAX_MESSAGES_PER_SECOND};
use shared::events::guard::Reach;
use shared::services::events::NewEndpoint;
use shared::services::{App, NewMessage, Principal, Recipient, SenderSettings};

const APP_SECRET: &str = "webhook-bench-app-secret";

struct Args {
    messages: usize,
    concurrency: usize,
    backend: String,
    /// Endpoints of the account that want `message.status` (on a loopback receiver).
    endpoints: usize,
    /// Holds the job loops while the load runs, so that deliveries do not compete with it.
    hold_deliveries: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        messages: 10_000,
        concurrency: 32,
        backend: "local".into(),
        endpoints: 0,
        hold_deliveries: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => a.messages = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--backend" => a.backend = value()?,
            "--endpoints" => a.endpoints = value()?.parse()?,
            "--hold-deliveries" => a.hold_deliveries = true,
            other => bail!(
                "unknown argument {other}; use --messages N --concurrency N --backend local|aws \
                 --endpoints N [--hold-deliveries]"
            ),
        }
    }
    ensure!(a.messages > 0 && a.concurrency > 0, "give positive numbers");
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let (standin, graph_url) = infra::bench::quiet_standin().await?;
    let dir = std::env::temp_dir().join(format!("webhook-bench-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir)?;
    let graph = shared::graph::GraphClient::new(shared::graph::GraphConfig::new(
        graph_url.clone(),
        shared::graph::DEFAULT_VERSION,
    ));
    let (app, extra) = match args.backend.as_str() {
        "local" => {
            let backend = shared::adapters::local::LocalBackend::open(
                &dir,
                url::Url::parse("http://127.0.0.1:9/")?,
                graph,
            )?;
            let links = backend.blobs.clone().link_router();
            (
                Arc::new(
                    App::new(backend.ports)
                        .with_billing(shared::testing::unlimited_billing())
                        .with_event_reach(Reach::LOOPBACK),
                ),
                links,
            )
        }
        "aws" => (
            Arc::new(
                aws_app(graph_url)
                    .await?
                    .with_billing(shared::testing::unlimited_billing())
                    .with_event_reach(Reach::LOOPBACK),
            ),
            Router::new(),
        ),
        other => bail!("--backend is local or aws, not {other}"),
    };
    let settings = SenderSettings {
        pair_interval: Duration::ZERO,
        ..SenderSettings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let secrets =
        infra::DevSecrets::fixed(APP_SECRET, "bench-verify-token", "bench-billing-secret");
    let mut running = infra::serve(app.clone(), listener, extra, settings, &secrets)?;
    let url = format!("{}/webhook", running.base_url());

    let (account, sent) = seed(&app, &standin, args.messages).await?;
    let receiver = EventReceiver::start().await?;
    for e in 0..args.endpoints {
        let (_, secret) = app
            .create_endpoint(
                &Principal::system(account.clone()),
                NewEndpoint {
                    url: receiver.url(&format!("e{e}"))?,
                    description: String::new(),
                    events: EventTypes::parse(["message.status"])?,
                },
            )
            .await?;
        receiver.expect(&format!("e{e}"), secret);
    }
    eprintln!(
        "{} messages sent through the sender; posting their statuses",
        sent.len()
    );

    // Meta's order per message; each round is one status of every message.
    let mut posts = Vec::with_capacity(sent.len() * 3);
    for status in ["sent", "delivered", "read"] {
        for (_, to, wamid) in &sent {
            let body = status_webhook(NUMBER, to, wamid, status, "template").to_string();
            posts.push(Post::signed(body, APP_SECRET));
        }
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    if args.hold_deliveries {
        running.hold_jobs().await;
    }
    let started = Instant::now();
    let answers = post_all(&http, &url, posts, args.concurrency).await?;
    let elapsed = started.elapsed();
    running.release_jobs();
    let released = Instant::now();
    let failures = answers.iter().filter(|a| !a.ok()).count();
    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];

    // Every message must have ended read: a fast wrong answer is no result.
    let mut not_read = 0;
    for (id, _, _) in &sent {
        if app.message(&account, id).await?.status != MessageStatus::Read {
            not_read += 1;
        }
    }
    println!("backend         {}", args.backend);
    println!(
        "events          {} ({} messages × sent, delivered, read)",
        latencies.len(),
        sent.len()
    );
    println!("concurrency     {}", args.concurrency);
    println!(
        "throughput      {:.0} events/s over {:.2?}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        elapsed
    );
    println!(
        "latency         p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    println!("non-200 answers {failures}");
    println!("not read        {not_read}");
    // Each status is one `message.status` event for each endpoint, delivered by the job
    // loops meanwhile and after.
    let expected = (latencies.len() * args.endpoints) as u64;
    let until = Instant::now() + Duration::from_secs(120 + expected / 100);
    while receiver.total() < expected && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = released.elapsed().as_secs_f64();
    println!(
        "events out      {} of {expected} delivered to {} endpoints, the last {out:.1} s after \
         the last answer ({:.0}/s)",
        receiver.total(),
        args.endpoints,
        receiver.total() as f64 / out
    );
    running.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(
        failures == 0 && not_read == 0,
        "the stack lost or refused statuses"
    );
    ensure!(
        receiver.total() == expected && receiver.bad() == 0,
        "events were lost or badly signed"
    );
    Ok(())
}

/// An account with one number and 1,000 opted-in contacts, and `n` templates sent through the
/// real sender to the stand-in: (message id, recipient, wamid) of each.
async fn seed(
    app: &Arc<App>,
    standin: &StandIn,
    n: usize,
) -> anyhow::Result<(AccountId, Vec<(MessageId, String, String)>)> {
    let bench = infra::bench::bench_account(app, 1000.min(n), MAX_MESSAGES_PER_SECOND).await?;
    let (account, number, contacts) = (bench.account, bench.number, bench.contacts);
    let template = infra::bench::bench_template();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let m = NewMessage {
            from: number.clone(),
            to: Recipient::Contact(contacts[i % contacts.len()].clone()),
            content: template.clone(),
            reply_to: None,
        };
        ids.push(app.send_message(&account, m).await?.id);
    }
    let deadline = Instant::now() + Duration::from_secs(60 + n as u64 / 100);
    let mut out = Vec::with_capacity(n);
    for id in ids {
        loop {
            let m = app.message(&account, &id).await?;
            if let Some(wamid) = m.wamid {
                out.push((id, m.address, wamid));
                break;
            }
            ensure!(Instant::now() < deadline, "the sender did not send in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ensure!(
        standin.accepted().len() == n,
        "the stand-in accepted {} of {n}",
        standin.accepted().len()
    );
    Ok((account, out))
}

#[cfg(feature = "aws")]
async fn aws_app(graph: url::Url) -> anyhow::Result<App> {
    Ok(shared::testing::aws_app_with_graph(graph).await.0)
}

#[cfg(not(feature = "aws"))]
async fn aws_app(_: url::Url) -> anyhow::Result<App> {
    bail!("build with --features aws (and start the emulators: see the top of this file)")
}
