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
//!
//! `--mode inbound` posts inbound text messages instead (one per webhook, signed, from the
//! account's 1,000 contacts in turn, as Meta sends them) and checks that every one was stored
//! once, with the conversations' unread counts adding up. `--mode ceiling` posts the same
//! inbound webhooks to a server that only does what no store can save: the same HTTP layers,
//! the signature check and the parse, and a 200 — the machine's ceiling for this load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use axum::Router;
use infra::bench::{post_all, Answer, EventReceiver, Post, NUMBER};
use infra::standin::{message_webhook, status_webhook, StandIn};
use shared::domain::{AccountId, EventTypes, MessageId, MessageStatus, MAX_MESSAGES_PER_SECOND};
use shared::events::guard::Reach;
use shared::services::events::NewEndpoint;
use shared::services::{App, MessageFilter, NewMessage, Principal, Recipient, SenderSettings};

const APP_SECRET: &str = "webhook-bench-app-secret";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Three status webhooks per message sent.
    Statuses,
    /// One inbound text message per webhook.
    Inbound,
    /// The inbound load against signature check + parse + 200, nothing stored.
    Ceiling,
}

struct Args {
    mode: Mode,
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
        mode: Mode::Statuses,
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
            "--mode" => {
                a.mode = match value()?.as_str() {
                    "statuses" => Mode::Statuses,
                    "inbound" => Mode::Inbound,
                    "ceiling" => Mode::Ceiling,
                    other => bail!("--mode is statuses, inbound or ceiling, not {other}"),
                }
            }
            "--messages" => a.messages = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--backend" => a.backend = value()?,
            "--endpoints" => a.endpoints = value()?.parse()?,
            "--hold-deliveries" => a.hold_deliveries = true,
            other => bail!(
                "unknown argument {other}; use --mode statuses|inbound|ceiling --messages N \
                 --concurrency N --backend local|aws --endpoints N [--hold-deliveries]"
            ),
        }
    }
    ensure!(a.messages > 0 && a.concurrency > 0, "give positive numbers");
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    if args.mode == Mode::Ceiling {
        return ceiling(&args).await;
    }
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

    let bench =
        infra::bench::bench_account(&app, 1000.min(args.messages), MAX_MESSAGES_PER_SECOND).await?;
    let account = bench.account.clone();
    let wanted = match args.mode {
        Mode::Inbound => "message.received",
        _ => "message.status",
    };
    let receiver = EventReceiver::start().await?;
    for e in 0..args.endpoints {
        let (_, secret) = app
            .create_endpoint(
                &Principal::system(account.clone()),
                NewEndpoint {
                    url: receiver.url(&format!("e{e}"))?,
                    description: String::new(),
                    events: EventTypes::parse([wanted])?,
                },
            )
            .await?;
        receiver.expect(&format!("e{e}"), secret);
    }
    let (posts, sent) = match args.mode {
        Mode::Statuses => {
            let sent = seed(&app, &standin, &bench, args.messages).await?;
            eprintln!(
                "{} messages sent through the sender; posting their statuses",
                sent.len()
            );
            (status_posts(&sent), sent)
        }
        _ => (inbound_posts(args.messages, bench.contacts.len()), vec![]),
    };
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
    let timing = Timing::of(&answers, elapsed);

    println!("backend         {}", args.backend);
    let lost = match args.mode {
        Mode::Statuses => {
            println!(
                "events          {} ({} messages × sent, delivered, read)",
                answers.len(),
                sent.len()
            );
            // Every message must have ended read: a fast wrong answer is no result.
            let mut not_read = 0;
            for (id, _, _) in &sent {
                if app.message(&account, id).await?.status != MessageStatus::Read {
                    not_read += 1;
                }
            }
            println!("not read        {not_read}");
            not_read
        }
        _ => {
            println!(
                "events          {} inbound text messages from {} contacts",
                answers.len(),
                bench.contacts.len()
            );
            let (stored, unread) = stored_inbound(&app, &account).await?;
            println!("stored          {stored} messages, {unread} unread in the inbox");
            // Each message stored once and counted once: anything else is lost or doubled.
            stored.abs_diff(answers.len()) + (unread as usize).abs_diff(answers.len())
        }
    };
    timing.print(args.concurrency);
    // Each event wanted by each endpoint, delivered by the job loops meanwhile and after.
    let expected = (answers.len() * args.endpoints) as u64;
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
        timing.failures == 0 && lost == 0,
        "the stack lost or refused webhooks"
    );
    ensure!(
        receiver.total() == expected && receiver.bad() == 0,
        "events were lost or badly signed"
    );
    Ok(())
}

/// Throughput and the latency percentiles of one load.
struct Timing {
    answers: usize,
    failures: usize,
    elapsed: Duration,
    sorted: Vec<Duration>,
}

impl Timing {
    fn of(answers: &[Answer], elapsed: Duration) -> Self {
        let mut sorted: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
        sorted.sort();
        Self {
            answers: answers.len(),
            failures: answers.iter().filter(|a| !a.ok()).count(),
            elapsed,
            sorted,
        }
    }

    fn pct(&self, p: f64) -> Duration {
        let i = (self.sorted.len() as f64 * p).ceil() as usize;
        self.sorted[i.saturating_sub(1).min(self.sorted.len() - 1)]
    }

    fn print(&self, concurrency: usize) {
        println!("concurrency     {concurrency}");
        println!(
            "throughput      {:.0} events/s over {:.2?}",
            self.answers as f64 / self.elapsed.as_secs_f64(),
            self.elapsed
        );
        println!(
            "latency         p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
            self.pct(0.50),
            self.pct(0.90),
            self.pct(0.99),
            self.pct(1.0)
        );
        println!("non-200 answers {}", self.failures);
    }
}

/// Meta's order per message; each round is one status of every message.
fn status_posts(sent: &[(MessageId, String, String)]) -> Vec<Post> {
    let mut posts = Vec::with_capacity(sent.len() * 3);
    for status in ["sent", "delivered", "read"] {
        for (_, to, wamid) in sent {
            let body = status_webhook(NUMBER, to, wamid, status, "template").to_string();
            posts.push(Post::signed(body, APP_SECRET));
        }
    }
    posts
}

/// `n` inbound text messages, one per webhook, from the bench account's `contacts` contacts in
/// turn (their phones, as Meta writes a `wa_id`).
fn inbound_posts(n: usize, contacts: usize) -> Vec<Post> {
    (0..n)
        .map(|i| {
            let from = format!("55119{}", 60_000_000 + i % contacts.max(1));
            let body = message_webhook(
                NUMBER,
                &from,
                &format!("wamid.bench{i:012}"),
                "Bench Contact",
                &format!("Hello, is the order {i} ready to collect this afternoon?"),
            );
            Post::signed(body.to_string(), APP_SECRET)
        })
        .collect()
}

/// The inbound messages stored, and the unread count of every conversation added up.
async fn stored_inbound(app: &App, account: &AccountId) -> anyhow::Result<(usize, u64)> {
    let filter = MessageFilter {
        status: Some(MessageStatus::Received),
    };
    let (mut stored, mut cursor) = (0, None);
    loop {
        let (page, next) = app.messages(account, &filter, 100, cursor).await?;
        stored += page.len();
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let (mut unread, mut cursor) = (0, None);
    loop {
        let (page, next) = app.conversations(account, 100, cursor).await?;
        unread += page.iter().map(|c| c.unread).sum::<u64>();
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok((stored, unread))
}

/// The inbound load against what every receiver must do and no store can save: the webhook's
/// HTTP layers (request ids, access logs, panics as problems, the body limit), the signature
/// check and the parse, then 200. Nothing is stored.
async fn ceiling(args: &Args) -> anyhow::Result<()> {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use shared::webhook::signature::{AppSecrets, HEADER};
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Ceiling {
        secrets: AppSecrets,
        parsed: AtomicU64,
    }
    async fn receive(
        State(c): State<Arc<Ceiling>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let signature = headers.get(HEADER).map(|v| v.as_bytes());
        if c.secrets.verify(signature, &body).is_err() {
            return StatusCode::UNAUTHORIZED;
        }
        match shared::webhook::parse(&body) {
            Ok(events) => {
                c.parsed.fetch_add(events.len() as u64, Ordering::Relaxed);
                StatusCode::OK
            }
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }
    let state = Arc::new(Ceiling {
        secrets: AppSecrets::new(APP_SECRET, None).context("an app secret")?,
        parsed: AtomicU64::new(0),
    });
    let routes = Router::new()
        .route("/webhook", axum::routing::post(receive))
        .with_state(state.clone());
    let router = shared::http::standard_layers(
        shared::http::quiet_when_ok(routes),
        shared::webhook::MAX_PAYLOAD_BYTES,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhook", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let posts = inbound_posts(args.messages, 1000);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let started = Instant::now();
    let answers = post_all(&http, &url, posts, args.concurrency).await?;
    let timing = Timing::of(&answers, started.elapsed());
    server.abort();
    println!("backend         none (signature check + parse + 200)");
    println!(
        "events          {} inbound text messages, {} parsed",
        answers.len(),
        state.parsed.load(Ordering::Relaxed)
    );
    timing.print(args.concurrency);
    ensure!(
        timing.failures == 0 && state.parsed.load(Ordering::Relaxed) == answers.len() as u64,
        "the ceiling server refused or did not parse webhooks"
    );
    Ok(())
}

/// `n` templates sent through the real sender to the stand-in from the bench account: (message
/// id, recipient, wamid) of each.
async fn seed(
    app: &Arc<App>,
    standin: &StandIn,
    bench: &infra::bench::BenchAccount,
    n: usize,
) -> anyhow::Result<Vec<(MessageId, String, String)>> {
    let (account, number, contacts) = (&bench.account, &bench.number, &bench.contacts);
    let template = infra::bench::bench_template();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let m = NewMessage {
            from: number.clone(),
            to: Recipient::Contact(contacts[i % contacts.len()].clone()),
            content: template.clone(),
            reply_to: None,
        };
        ids.push(app.send_message(account, m).await?.id);
    }
    let deadline = Instant::now() + Duration::from_secs(60 + n as u64 / 100);
    let mut out = Vec::with_capacity(n);
    for id in ids {
        loop {
            let m = app.message(account, &id).await?;
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
    Ok(out)
}

#[cfg(feature = "aws")]
async fn aws_app(graph: url::Url) -> anyhow::Result<App> {
    Ok(shared::testing::aws_app_with_graph(graph).await.0)
}

#[cfg(not(feature = "aws"))]
async fn aws_app(_: url::Url) -> anyhow::Result<App> {
    bail!("build with --features aws (and start the emulators: see the top of this file)")
}
