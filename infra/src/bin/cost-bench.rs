//! `cost-bench`: what one message costs on AWS, from the requests the AWS adapters really send.
//!
//! ```sh
//! cargo build --release --features aws --bin cost-bench
//! source infra/scripts/test-stack.sh && stack_install && stack_start
//! target/release/cost-bench --messages 10000
//! stack_stop
//! ```
//!
//! On the AWS adapters against DynamoDB Local and moto, it runs the whole life of `--messages`
//! templates: `POST /v1/messages` over HTTP with an API key → the sender (SQS) → the Graph
//! stand-in → three signed status webhooks each (sent, delivered, read, with Meta's pricing) →
//! `GET /v1/billing/usage`. Every request the SDK clients send is counted by service and
//! operation, with the capacity units DynamoDB reports; the totals per message, priced at the
//! list prices below, give the AWS cost per 1M messages. Our own log lines (JSON logs at `info`,
//! as deployed, and the EMF metric lines) are weighed as they are written; Lambda's own lines
//! per invocation (START, END, REPORT) and Lambda duration are stated assumptions
//! (`--platform-log-bytes`, `--ms-per-request`, `--ms-per-send`): a laptop's milliseconds are
//! not Lambda's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use infra::bench::{post_all, Post, NUMBER};
use infra::standin::status_webhook;
use shared::domain::{MessageId, MessageStatus, MAX_MESSAGES_PER_SECOND};
use shared::services::{App, SenderSettings};

const APP_SECRET: &str = "cost-bench-app-secret";

/// List prices, us-east-1, arm64, on demand, as published by AWS in November 2026 (the pricing
/// pages of Lambda, API Gateway, DynamoDB, SQS, KMS, S3 and CloudWatch); docs/costs.md has the
/// same table.
mod price {
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const LAMBDA_GB_SECOND_ARM64: f64 = 0.000_013_333_4;
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
    pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    pub const KMS_REQUEST: f64 = 0.03 / 1e4;
    pub const S3_PUT: f64 = 0.005 / 1e3;
    pub const S3_GET: f64 = 0.0004 / 1e3;
    pub const LOGS_INGESTED_GB: f64 = 0.50;
}

/// Memory of the functions in template.yaml (MB): the API, the webhook and the sender.
const FUNCTION_MEMORY_MB: f64 = 256.0;
/// The sender's SQS batch size in template.yaml.
const SENDER_BATCH: f64 = 10.0;

struct Args {
    messages: usize,
    /// Messages queued at a time (see the send phase).
    wave: usize,
    concurrency: usize,
    ms_per_request: f64,
    ms_per_send: f64,
    /// Lambda's START, END and REPORT lines of one invocation, in bytes: none since
    /// template.yaml drops them (`SystemLogLevel: WARN`).
    platform_log_bytes: f64,
    /// Our log bytes per message, measured (set after the run).
    log_bytes_per_message: f64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        messages: 10_000,
        wave: 500,
        concurrency: 16,
        ms_per_request: 30.0,
        ms_per_send: 150.0,
        platform_log_bytes: 0.0,
        log_bytes_per_message: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => a.messages = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--wave" => a.wave = value()?.parse()?,
            "--ms-per-request" => a.ms_per_request = value()?.parse()?,
            "--ms-per-send" => a.ms_per_send = value()?.parse()?,
            "--platform-log-bytes" => a.platform_log_bytes = value()?.parse()?,
            other => bail!(
                "unknown argument {other}; use --messages N --wave N --concurrency N --ms-per-request MS \
                 --ms-per-send MS --platform-log-bytes B"
            ),
        }
    }
    ensure!(
        a.messages > 0 && a.wave > 0 && a.concurrency > 0,
        "give positive numbers"
    );
    Ok(a)
}

type Counts = BTreeMap<(String, String), shared::adapters::aws::OperationCount>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = args()?;
    // Every log and metric line the functions write, weighed instead of printed.
    let log_bytes = Arc::new(AtomicU64::new(0));
    let weigh = log_bytes.clone();
    shared::metrics::emit_to(move |line| {
        weigh.fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
    });
    let weigh = log_bytes.clone();
    tracing::subscriber::set_global_default(shared::telemetry::subscriber(
        move || Weighed(weigh.clone()),
        "info",
    ))?;
    let (_standin, graph_url) = infra::bench::quiet_standin().await?;
    let (app, counter, checker) = aws_apps(graph_url).await?;
    let app = Arc::new(app.with_billing(shared::testing::unlimited_billing()));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let secrets = infra::DevSecrets::fixed(APP_SECRET, "cost-verify-token", "cost-billing-secret");
    let settings = SenderSettings {
        pair_interval: Duration::ZERO,
        ..SenderSettings::default()
    };
    let running = infra::serve(
        app.clone(),
        listener,
        axum::Router::new(),
        settings,
        &secrets,
    )?;
    let base = running.base_url();
    let bench =
        infra::bench::bench_account(&app, 1000.min(args.messages), MAX_MESSAGES_PER_SECOND).await?;
    let key = bench.api_key.expose().to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let n = args.messages;
    eprintln!("account ready; sending {n} messages through the API");

    // 1. The API queues, the sender sends.
    counter.reset();
    let logs_before = log_bytes.load(Ordering::Relaxed);
    let started = Instant::now();
    let template = serde_json::to_value(infra::bench::bench_template())?;
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            let mut body = template.clone();
            body["from"] = NUMBER.into();
            body["to"] = bench.contacts[i % bench.contacts.len()].to_string().into();
            body.to_string()
        })
        .collect::<Vec<_>>();
    // In waves, each sent before the next is queued: moto's SQS slows down as a queue grows,
    // and a queue thousands deep would measure moto, not us. The counts are the same.
    let mut sent = Vec::with_capacity(n);
    for wave in bodies.chunks(args.wave) {
        let posts = wave
            .iter()
            .map(|b| Post::with_api_key(b.clone(), &key))
            .collect();
        let answers = post_all(
            &http,
            &format!("{base}/v1/messages"),
            posts,
            args.concurrency,
        )
        .await?;
        let ids = answers
            .into_iter()
            .map(|answer| {
                ensure!(
                    answer.ok(),
                    "POST /v1/messages: {} {}",
                    answer.status,
                    answer.body
                );
                serde_json::from_str::<serde_json::Value>(&answer.body)?["id"]
                    .as_str()
                    .context("a 202 without an id")?
                    .parse::<MessageId>()
                    .map_err(|e| anyhow::anyhow!("message id: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        sent.extend(wait_sent(&checker, &bench.account, &ids).await?);
    }
    let send = counter.snapshot();
    eprintln!(
        "sent {} in {:.1?}; posting 3 statuses each",
        sent.len(),
        started.elapsed()
    );

    // 2. Meta's three statuses per message, one per webhook as Meta sends them.
    counter.reset();
    let mut bodies = Vec::with_capacity(sent.len() * 3);
    for status in ["sent", "delivered", "read"] {
        for (_, to, wamid) in &sent {
            let body = status_webhook(NUMBER, to, wamid, status, "template").to_string();
            bodies.push(Post::signed(body, APP_SECRET));
        }
    }
    let answers = post_all(&http, &format!("{base}/webhook"), bodies, args.concurrency).await?;
    if let Some(refused) = answers.iter().find(|a| !a.ok()) {
        bail!("/webhook answered {} {}", refused.status, refused.body);
    }
    let statuses = counter.snapshot();
    let logged = log_bytes.load(Ordering::Relaxed) - logs_before;
    let mut not_read = 0;
    for (id, _, _) in &sent {
        if checker.message(&bench.account, id).await?.status != MessageStatus::Read {
            not_read += 1;
        }
    }
    ensure!(not_read == 0, "{not_read} messages did not end read");

    // 3. The business reads its usage once.
    counter.reset();
    let usage: serde_json::Value = http
        .get(format!("{base}/v1/billing/usage"))
        .bearer_auth(&key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let usage_reads = counter.snapshot();
    running.stop().await?;

    ensure!(
        usage["meta_messages"] == n && usage["ours"]["messages_queued"] == n,
        "usage does not count the {n} messages: {usage}"
    );

    let per = n as f64;
    let phases = [
        ("send (API + sender)", &send),
        ("statuses (3 webhooks)", &statuses),
        ("usage (1 read)", &usage_reads),
    ];
    println!("messages {n}, AWS adapters on DynamoDB Local and moto\n");
    println!(
        "{:<22} {:<9} {:<20} {:>14} {:>14}",
        "phase", "service", "operation", "requests/msg", "units/msg"
    );
    let mut all = Counts::new();
    for (phase, counts) in phases {
        for ((service, op), c) in counts.iter() {
            println!(
                "{phase:<22} {service:<9} {op:<20} {:>14.3} {:>14.3}",
                c.requests as f64 / per,
                c.capacity_units / per
            );
            let e = all.entry((service.clone(), op.clone())).or_default();
            e.requests += c.requests;
            e.capacity_units += c.capacity_units;
        }
    }
    args.log_bytes_per_message = logged as f64 / per;
    println!(
        "\nour log lines: {:.0} bytes per message (JSON logs and EMF metrics)",
        args.log_bytes_per_message
    );
    let cost = Cost::of(&all, per, &args);
    println!("\nper 1M messages, us-east-1 list prices:");
    for (item, dollars) in &cost.lines {
        println!("  {item:<48} ${dollars:>7.3}");
    }
    println!("  {:<48} ${:>7.3}", "total", cost.total());
    Ok(())
}

/// Dollars per 1M messages, line by line.
struct Cost {
    lines: Vec<(String, f64)>,
}

impl Cost {
    fn of(all: &Counts, messages: f64, args: &Args) -> Self {
        let sum = |service: &str, pick: &dyn Fn(&str) -> bool| -> (f64, f64) {
            all.iter()
                .filter(|((s, op), _)| s == service && pick(op))
                .fold((0.0, 0.0), |(r, u), (_, c)| {
                    (r + c.requests as f64, u + c.capacity_units)
                })
        };
        let is_read = |op: &str| {
            matches!(
                op,
                "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems"
            )
        };
        let (_, read_units) = sum("DynamoDB", &is_read);
        let (_, write_units) = sum("DynamoDB", &|op| !is_read(op));
        let (sqs, _) = sum("SQS", &|_| true);
        let (kms, _) = sum("KMS", &|_| true);
        let (s3_put, _) = sum("S3", &|op| op != "GetObject" && op != "HeadObject");
        let (s3_get, _) = sum("S3", &|op| op == "GetObject" || op == "HeadObject");

        // Per message: one API request, three webhooks, a tenth of a sender batch.
        let api_invocations = 1.0;
        let webhook_invocations = 3.0;
        let sender_invocations = 1.0 / SENDER_BATCH;
        let invocations = api_invocations + webhook_invocations + sender_invocations;
        let gb = FUNCTION_MEMORY_MB / 1024.0;
        let seconds = (api_invocations + webhook_invocations) * args.ms_per_request / 1e3
            + args.ms_per_send / 1e3;
        let log_gb = (args.log_bytes_per_message + invocations * args.platform_log_bytes) / 1e9;

        let per_message = [
            (
                "DynamoDB write units (measured)".to_owned(),
                write_units / messages * price::DYNAMODB_WRITE_UNIT,
            ),
            (
                "DynamoDB read units (measured)".to_owned(),
                read_units / messages * price::DYNAMODB_READ_UNIT,
            ),
            (
                "SQS requests (measured)".to_owned(),
                sqs / messages * price::SQS_REQUEST,
            ),
            (
                "KMS requests (measured)".to_owned(),
                kms / messages * price::KMS_REQUEST,
            ),
            (
                "S3 requests (measured)".to_owned(),
                (s3_put * price::S3_PUT + s3_get * price::S3_GET) / messages,
            ),
            (
                "API Gateway HTTP API (1 request)".to_owned(),
                price::HTTP_API_REQUEST,
            ),
            (
                format!("Lambda requests ({invocations:.1} invocations)"),
                invocations * price::LAMBDA_REQUEST,
            ),
            (
                format!(
                    "Lambda duration (assumed {:.0}+{:.0} ms)",
                    args.ms_per_request, args.ms_per_send
                ),
                seconds * gb * price::LAMBDA_GB_SECOND_ARM64,
            ),
            (
                format!(
                    "CloudWatch Logs ({:.0} B ours + {:.0} B Lambda's)",
                    args.log_bytes_per_message,
                    invocations * args.platform_log_bytes
                ),
                log_gb * price::LOGS_INGESTED_GB,
            ),
        ];
        Self {
            lines: per_message
                .into_iter()
                .map(|(item, dollars)| (item, dollars * 1e6))
                .collect(),
        }
    }

    fn total(&self) -> f64 {
        self.lines.iter().map(|(_, d)| d).sum()
    }
}

/// Waits until the sender has recorded a wamid for every message: (id, recipient, wamid).
async fn wait_sent(
    checker: &App,
    account: &shared::domain::AccountId,
    ids: &[MessageId],
) -> anyhow::Result<Vec<(MessageId, String, String)>> {
    let deadline = Instant::now() + Duration::from_secs(120 + ids.len() as u64 / 20);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        loop {
            let m = checker.message(account, id).await?;
            if let Some(wamid) = m.wamid {
                out.push((id.clone(), m.address, wamid));
                break;
            }
            ensure!(Instant::now() < deadline, "the sender did not send in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(out)
}

/// The measured app, its request counter, and a second app on the same table and queues with
/// clients of its own, so the benchmark's own checks are not counted.
async fn aws_apps(
    graph: url::Url,
) -> anyhow::Result<(App, shared::adapters::aws::RequestCounter, App)> {
    let (app, clients, settings) = shared::testing::aws_app_with_graph(graph).await;
    let own = shared::adapters::aws::AwsClients::from_env(settings.s3_path_style);
    let checker = App::new(shared::adapters::aws::ports(&own, &settings));
    Ok((app, clients.requests, checker))
}

/// A log writer that only counts what it is given.
struct Weighed(Arc<AtomicU64>);

impl std::io::Write for Weighed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
