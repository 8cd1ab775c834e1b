//! `cost-bench`: what a message costs on AWS, from the requests the AWS adapters really send.
//!
//! ```sh
//! cargo build --release --features aws --bin cost-bench
//! source infra/scripts/test-stack.sh && stack_install && stack_start
//! target/release/cost-bench --messages 3000            # production defaults, a burst
//! target/release/cost-bench --messages 300 --inbound 0 --trickle   # sender batches of one
//! target/release/cost-bench --messages 1000 --inbound 0 --listed   # an audience of contact ids
//! stack_stop
//! ```
//!
//! On the AWS adapters against DynamoDB Local and moto, three scenarios:
//! - **API sends**: `--messages` templates, `POST /v1/messages` over HTTP with an API key → the
//!   sender (SQS) → the Graph stand-in → three signed status webhooks each (sent, delivered,
//!   read, with Meta's pricing) → `GET /v1/billing/usage`;
//! - **broadcast sends** (`--no-broadcast` to skip): one broadcast of the same template by tag
//!   (`--listed`: by contact id) to every contact, a body parameter from each contact's name
//!   → the fan-out job → the sender → the same three statuses;
//! - **inbound messages**: `--inbound` (as many by default) signed text-message webhooks.
//!
//! Production's defaults unless told otherwise: pair pacing at the sender's 6 s
//! (`--pair-interval`), a template with an image header, four body parameters and two buttons
//! (`--plain-template` for one without), and the month's usage item as on the 30th, holding
//! Meta's counters for four categories on 30 days (`--fresh-month` for the 1st). Messages go
//! in waves of `--wave` (500), each sent before the next; `--trickle` is waves of one.
//!
//! Every request the SDK clients send is counted by service and operation, with the capacity
//! units DynamoDB reports; what each scenario left in the table is sized as DynamoDB bills
//! storage (`adapters::aws::storage`). Priced at the list prices below, per 1M messages, with
//! the deployment choices (provisioned capacity, a Function URL, longer retention) beside.
//! Our own log lines (JSON logs at `info`, as deployed, and the EMF metric lines) are weighed
//! as they are written; Lambda's own lines per invocation (START, END, REPORT) and Lambda
//! duration are stated assumptions (`--platform-log-bytes`, `--ms-per-request`,
//! `--ms-per-send`): a laptop's milliseconds are not Lambda's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use infra::bench::{post_all, Post, NUMBER};
use infra::standin::{message_webhook, status_webhook};
use shared::adapters::aws::storage::{write_units, KindStorage};
use shared::adapters::aws::{ItemKey, KindUnits, Transacted};
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
    pub const DYNAMODB_STORAGE_GB_MONTH: f64 = 0.25;
    /// Continuous backups, billed on the table's size.
    pub const DYNAMODB_PITR_GB_MONTH: f64 = 0.20;
    pub const PROVISIONED_WCU_HOUR: f64 = 0.000_65;
    pub const PROVISIONED_RCU_HOUR: f64 = 0.000_13;
}

/// Memory of the functions in template.yaml (MB): the API, the webhook and the sender.
const FUNCTION_MEMORY_MB: f64 = 256.0;

/// What a month of the account looks like when the messages are sent.
#[derive(Clone, Copy, PartialEq)]
enum Month {
    /// The usage item as on the 1st: empty.
    Fresh,
    /// The usage item as on the 30th: Meta's counters for four categories on 30 days.
    End,
}

struct Args {
    messages: usize,
    /// Inbound messages of the inbound scenario.
    inbound: usize,
    /// Messages queued at a time (see the send phase); 1 is a trickle: each message sent
    /// before the next is queued, so every sender batch holds one.
    wave: usize,
    concurrency: usize,
    ms_per_request: f64,
    ms_per_send: f64,
    /// The fan-out's time per contact (one transaction each).
    ms_per_fanout: f64,
    /// Whether the broadcast scenario runs.
    broadcast: bool,
    /// The broadcast's audience listed by contact id instead of a tag.
    listed: bool,
    /// Lambda's START, END and REPORT lines of one invocation, in bytes: none since
    /// template.yaml drops them (`SystemLogLevel: WARN`).
    platform_log_bytes: f64,
    /// The sender's pause between two messages to one contact (production: 6 s).
    pair_interval: Duration,
    /// The template parameters and buttons of real sends, or none.
    realistic: bool,
    month: Month,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        messages: 10_000,
        inbound: 0,
        wave: 500,
        concurrency: 16,
        ms_per_request: 30.0,
        ms_per_send: 150.0,
        ms_per_fanout: 10.0,
        broadcast: true,
        listed: false,
        platform_log_bytes: 0.0,
        pair_interval: SenderSettings::default().pair_interval,
        realistic: true,
        month: Month::End,
    };
    let mut inbound = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => a.messages = value()?.parse()?,
            "--inbound" => inbound = Some(value()?.parse()?),
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--wave" => a.wave = value()?.parse()?,
            "--trickle" => a.wave = 1,
            "--ms-per-request" => a.ms_per_request = value()?.parse()?,
            "--ms-per-send" => a.ms_per_send = value()?.parse()?,
            "--ms-per-fanout" => a.ms_per_fanout = value()?.parse()?,
            "--no-broadcast" => a.broadcast = false,
            "--listed" => a.listed = true,
            "--platform-log-bytes" => a.platform_log_bytes = value()?.parse()?,
            "--pair-interval" => a.pair_interval = Duration::from_secs_f64(value()?.parse()?),
            "--plain-template" => a.realistic = false,
            "--fresh-month" => a.month = Month::Fresh,
            other => bail!(
                "unknown argument {other}; use --messages N --inbound N --wave N | --trickle \
                 --no-broadcast --listed --concurrency N --ms-per-request MS --ms-per-send MS \
                 --ms-per-fanout MS --platform-log-bytes B --pair-interval S --plain-template \
                 --fresh-month"
            ),
        }
    }
    a.inbound = inbound.unwrap_or(a.messages);
    ensure!(
        a.messages > 0 && a.wave > 0 && a.concurrency > 0,
        "give positive numbers"
    );
    Ok(a)
}

type Counts = BTreeMap<(String, String), shared::adapters::aws::OperationCount>;
type Storage = BTreeMap<String, KindStorage>;

/// One scenario's measure: every request, our log bytes, the Lambda invocations, and what it
/// left stored, for `messages` messages.
struct Scenario {
    name: &'static str,
    messages: f64,
    phases: Vec<(&'static str, Priced)>,
    log_bytes: f64,
    /// Lambda invocations per message, by function, and their assumed milliseconds each.
    invocations: Vec<(&'static str, f64, f64)>,
    /// HTTP API requests per message (the REST API's).
    http_api: f64,
    storage: Storage,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
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
    let aws = aws_apps(graph_url).await?;
    let app = Arc::new(aws.app.with_billing(shared::testing::unlimited_billing()));
    let checker = aws.checker;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let secrets = infra::DevSecrets::fixed(APP_SECRET, "cost-verify-token", "cost-billing-secret");
    let settings = SenderSettings {
        pair_interval: args.pair_interval,
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
    let n = args.messages;
    // One contact per message (up to 10,000), as a campaign or a day of notifications reaches
    // them: the pair pacing is then paid, and never waited for.
    let bench = infra::bench::bench_account(&app, n.min(10_000), MAX_MESSAGES_PER_SECOND).await?;
    let key = bench.api_key.expose().to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    if args.month == Month::End {
        fill_month(&http, &base).await?;
    }
    let storage = || shared::adapters::aws::storage::measure(&aws.own.dynamodb, &aws.table);
    let item_sizes = || shared::adapters::aws::storage::item_sizes(&aws.own.dynamodb, &aws.table);
    let mut scenarios = Vec::new();
    eprintln!("account ready; sending {n} messages through the API");

    // 1. API sends: the API queues, the sender sends, Meta's three statuses come back.
    let stored_before = storage().await?;
    aws.counter.name_items();
    aws.counter.reset();
    let logs_before = log_bytes.load(Ordering::Relaxed);
    let started = Instant::now();
    let bodies = (0..n)
        .map(|i| {
            let content = if args.realistic {
                infra::bench::realistic_template(i)?
            } else {
                infra::bench::bench_template()
            };
            let mut body = serde_json::to_value(content)?;
            body["from"] = NUMBER.into();
            body["to"] = bench.contacts[i % bench.contacts.len()].to_string().into();
            Ok(body.to_string())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
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
    let send = phase(&aws.counter);
    eprintln!(
        "sent {} in {:.1?}; posting 3 statuses each",
        sent.len(),
        started.elapsed()
    );

    // Meta's three statuses per message, one per webhook as Meta sends them.
    aws.counter.reset();
    post_statuses(&http, &base, &sent, args.concurrency).await?;
    let statuses = phase(&aws.counter);
    let logged = log_bytes.load(Ordering::Relaxed) - logs_before;
    ensure_read(&checker, &bench.account, &sent).await?;

    // The business reads its usage once.
    aws.counter.reset();
    let usage: serde_json::Value = http
        .get(format!("{base}/v1/billing/usage"))
        .bearer_auth(&key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let usage_reads = phase(&aws.counter);
    ensure!(
        usage["ours"]["messages_queued"] == n,
        "usage does not count the {n} messages: {usage}"
    );
    let stored_after = storage().await?;
    let sizes = item_sizes().await?;
    // The sender's invocations: one per batch, and each batch deletes its successes at once.
    let batches = op(&send.counts, "SQS", "DeleteMessageBatch").requests as f64;
    let per = n as f64;
    scenarios.push(Scenario {
        name: "API sends",
        messages: per,
        phases: vec![
            ("send (API + sender)", send.priced(&sizes)),
            ("statuses (3 webhooks)", statuses.priced(&sizes)),
            ("usage (1 read)", usage_reads.priced(&sizes)),
        ],
        log_bytes: logged as f64,
        invocations: vec![
            ("api", 1.0, args.ms_per_request),
            ("webhook", 3.0, args.ms_per_request),
            (
                "sender",
                batches / per,
                args.ms_per_send * per / batches.max(1.0),
            ),
        ],
        http_api: 1.0,
        storage: growth(&stored_before, &stored_after),
    });

    // 2. Broadcast sends: one broadcast of the same template to every contact by tag, one
    // body parameter filled from each contact's name; the jobs function fans it out.
    if args.broadcast {
        // The pair slots of the API sends lapse first: a broadcast a day later finds none.
        tokio::time::sleep(args.pair_interval).await;
        let m = bench.contacts.len();
        eprintln!("broadcasting to {m} contacts");
        let before = storage().await?;
        aws.counter.reset();
        let logs_before = log_bytes.load(Ordering::Relaxed);
        let content = if args.realistic {
            infra::bench::realistic_template(0)?
        } else {
            infra::bench::bench_template()
        };
        let serde_json::Value::Object(mut content) = serde_json::to_value(content)? else {
            bail!("a template message is an object");
        };
        let body = serde_json::json!({
            "from": NUMBER,
            "template": content.remove("template").context("a template message")?,
            "recipients": if args.listed {
                serde_json::json!({"contact_ids": bench.contacts.iter().map(ToString::to_string).collect::<Vec<_>>()})
            } else {
                serde_json::json!({"tags": [infra::bench::TAG]})
            },
            "personalization": if args.realistic {
                serde_json::json!([{"component": "body", "position": 1, "field": "name", "fallback": "there"}])
            } else {
                serde_json::json!([])
            },
        });
        let created = http
            .post(format!("{base}/v1/broadcasts"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?;
        ensure!(
            created.status() == 201,
            "POST /v1/broadcasts: {} {}",
            created.status(),
            created.text().await?
        );
        let id: shared::domain::BroadcastId = created.json::<serde_json::Value>().await?["id"]
            .as_str()
            .context("a broadcast without an id")?
            .parse()
            .map_err(|e| anyhow::anyhow!("broadcast id: {e}"))?;
        let ids = broadcast_messages(&checker, &bench.account, &id, m).await?;
        let sent = wait_sent(&checker, &bench.account, &ids).await?;
        let fanout = phase(&aws.counter);
        aws.counter.reset();
        post_statuses(&http, &base, &sent, args.concurrency).await?;
        ensure_read(&checker, &bench.account, &sent).await?;
        let statuses = phase(&aws.counter);
        let logged = log_bytes.load(Ordering::Relaxed) - logs_before;
        let after = storage().await?;
        let sizes = item_sizes().await?;
        let batches = op(&fanout.counts, "SQS", "DeleteMessageBatch").requests as f64;
        let per = m as f64;
        scenarios.push(Scenario {
            name: "broadcast sends",
            messages: per,
            phases: vec![
                ("fan-out and send", fanout.priced(&sizes)),
                ("statuses (3 webhooks)", statuses.priced(&sizes)),
            ],
            log_bytes: logged as f64,
            invocations: vec![
                // The fan-out is one job (a step per Lambda timeout), assumed 10 ms a contact.
                ("jobs", 1.0 / per, args.ms_per_fanout * per),
                ("webhook", 3.0, args.ms_per_request),
                (
                    "sender",
                    batches / per,
                    args.ms_per_send * per / batches.max(1.0),
                ),
            ],
            http_api: 1.0 / per,
            storage: growth(&before, &after),
        });
    }

    // 3. Inbound messages: one per webhook, from the same contacts.
    if args.inbound > 0 {
        let m = args.inbound;
        eprintln!("posting {m} inbound messages");
        let before = storage().await?;
        aws.counter.reset();
        let logs_before = log_bytes.load(Ordering::Relaxed);
        let posts = (0..m)
            .map(|i| {
                let from = format!("55119{}", 60_000_000 + i % bench.contacts.len());
                let body = message_webhook(
                    NUMBER,
                    &from,
                    &format!("wamid.costin{i:012}"),
                    "Maria Fernanda",
                    &format!("Hello, could the order {i} come on Friday morning instead?"),
                );
                Post::signed(body.to_string(), APP_SECRET)
            })
            .collect();
        let answers = post_all(&http, &format!("{base}/webhook"), posts, args.concurrency).await?;
        if let Some(refused) = answers.iter().find(|a| !a.ok()) {
            bail!("/webhook answered {} {}", refused.status, refused.body);
        }
        let inbound = phase(&aws.counter);
        let logged = log_bytes.load(Ordering::Relaxed) - logs_before;
        let after = storage().await?;
        let sizes = item_sizes().await?;
        scenarios.push(Scenario {
            name: "inbound messages",
            messages: m as f64,
            phases: vec![("inbound (1 webhook)", inbound.priced(&sizes))],
            log_bytes: logged as f64,
            invocations: vec![("webhook", 1.0, args.ms_per_request)],
            http_api: 0.0,
            storage: growth(&before, &after),
        });
    }
    running.stop().await?;

    println!(
        "AWS adapters on DynamoDB Local and moto; pair pacing {:?}, {} template, {} month, \
         waves of {}\n",
        args.pair_interval,
        if args.realistic { "realistic" } else { "plain" },
        match args.month {
            Month::Fresh => "fresh",
            Month::End => "month-end",
        },
        args.wave
    );
    for s in &scenarios {
        s.print(&args);
    }
    Ok(())
}

/// One phase's requests, the units of the others by item kind, and the items its
/// transactions wrote.
struct Phase {
    counts: Counts,
    by_kind: ByKind,
    transacted: BTreeMap<ItemKey, Transacted>,
}

/// DynamoDB's units by item kind (the sort key up to its first `#`).
type ByKind = BTreeMap<String, KindUnits>;

/// A phase as AWS bills it.
struct Priced {
    counts: Counts,
    /// Transactions included.
    by_kind: ByKind,
}

fn phase(counter: &shared::adapters::aws::RequestCounter) -> Phase {
    Phase {
        counts: counter.snapshot(),
        by_kind: counter.by_kind(),
        transacted: counter.transacted(),
    }
}

impl Phase {
    /// The counts with transactions priced as AWS bills them: two units per KB of each item
    /// written, by its size in the table after the phase (`sizes`; one unit if it is gone).
    /// DynamoDB Local's own figure counts items of the same size in a transaction once, and
    /// leaves out the index writes; these are added (see `Transacted::index_writes`).
    fn priced(self, sizes: &BTreeMap<ItemKey, u64>) -> Priced {
        let (mut counts, mut by_kind) = (self.counts, self.by_kind);
        let mut by_size = 0;
        for (key, t) in &self.transacted {
            // GSI1's copies hold keys and `ttl` only: one unit each. Counted once: AWS's
            // pages do not say that a transaction doubles its index writes too.
            let units =
                t.writes * 2 * write_units(sizes.get(key).copied().unwrap_or(0)) + t.index_writes;
            by_size += units;
            let kind = key.1.split('#').next().unwrap_or(&key.1).to_owned();
            by_kind.entry(kind).or_default().write += units as f64;
        }
        if let Some(t) = counts.get_mut(&("DynamoDB".to_owned(), "TransactWriteItems".to_owned())) {
            t.capacity_units = t.capacity_units.max(by_size as f64);
        }
        Priced { counts, by_kind }
    }
}

/// The one operation's counts, or none.
fn op(counts: &Counts, service: &str, operation: &str) -> shared::adapters::aws::OperationCount {
    counts
        .get(&(service.to_owned(), operation.to_owned()))
        .cloned()
        .unwrap_or_default()
}

/// What a scenario added to the table, by kind.
fn growth(before: &Storage, after: &Storage) -> Storage {
    after
        .iter()
        .filter_map(|(kind, a)| {
            let b = before.get(kind).copied().unwrap_or_default();
            let grown = KindStorage {
                items: a.items.saturating_sub(b.items),
                bytes: a.bytes.saturating_sub(b.bytes),
                index_bytes: a.index_bytes.saturating_sub(b.index_bytes),
                largest: a.largest,
            };
            (grown.items > 0 || grown.bytes > 0).then(|| (kind.clone(), grown))
        })
        .collect()
}

/// Meta's pricing of four categories on each of 30 days of this month, as priced statuses of
/// earlier messages would have left it: the usage item as it is at the end of a month.
async fn fill_month(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let mut posts = Vec::new();
    for day in 1..=30u8 {
        let Ok(at) = now.replace_day(day) else {
            continue;
        };
        for (category, billable) in [
            ("marketing", true),
            ("utility", true),
            ("authentication", true),
            ("service", false),
        ] {
            let mut body = status_webhook(
                NUMBER,
                "5511960000000",
                &format!("wamid.month{day:02}{category}"),
                "sent",
                "template",
            );
            let status = &mut body["entry"][0]["changes"][0]["value"]["statuses"][0];
            status["timestamp"] = at.unix_timestamp().to_string().into();
            status["pricing"]["category"] = category.into();
            status["pricing"]["billable"] = billable.into();
            posts.push(Post::signed(body.to_string(), APP_SECRET));
        }
    }
    let answers = post_all(http, &format!("{base}/webhook"), posts, 4).await?;
    ensure!(
        answers.iter().all(|a| a.ok()),
        "the month's pricing was refused"
    );
    Ok(())
}

impl Scenario {
    fn print(&self, args: &Args) {
        let per = self.messages;
        println!("== {} ({} messages)\n", self.name, per);
        println!(
            "{:<22} {:<9} {:<20} {:>14} {:>14}",
            "phase", "service", "operation", "requests/msg", "units/msg"
        );
        let mut all = Counts::new();
        let mut by_kind = ByKind::new();
        for (phase, priced) in &self.phases {
            for (kind, k) in &priced.by_kind {
                let e = by_kind.entry(kind.clone()).or_default();
                e.read += k.read;
                e.write += k.write;
            }
            for ((service, op), c) in priced.counts.iter() {
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
        println!(
            "\nDynamoDB units per message, by item kind (a transaction's from its items' \
             sizes, a batch's shared by its items):"
        );
        println!("  {:<20} {:>8} {:>8}", "kind", "read", "write");
        for (kind, k) in &by_kind {
            println!("  {kind:<20} {:>8.3} {:>8.3}", k.read / per, k.write / per);
        }
        println!("\nstored per message, by item kind (table + GSI1, DynamoDB's sizes, 100 B overhead each):");
        let mut stored = 0.0;
        for (kind, k) in &self.storage {
            let bytes = (k.bytes + k.index_bytes) as f64 / per;
            stored += bytes;
            println!(
                "  {kind:<16} {:>7.3} items {:>8.0} B  (largest item {} B)",
                k.items as f64 / per,
                bytes,
                k.largest
            );
        }
        println!("  {:<16} {:>22.0} B", "total", stored);
        let log = self.log_bytes / per;
        println!("\nour log lines: {log:.0} bytes per message (JSON logs and EMF metrics)");
        let cost = Cost::of(&all, self, stored, log, args);
        println!("\nper 1M messages, us-east-1 list prices, on-demand, 30 days kept:");
        for (item, dollars) in &cost.lines {
            println!("  {item:<58} ${dollars:>7.3}");
        }
        println!("  {:<58} ${:>7.3}", "total", cost.total());
        println!("\ndeployment choices (per 1M messages, total):");
        for (choice, dollars) in cost.choices() {
            println!("  {choice:<58} ${dollars:>7.3}");
        }
        println!();
    }
}

/// Dollars per 1M messages, line by line, and the figures the deployment choices change.
struct Cost {
    lines: Vec<(String, f64)>,
    write_units: f64,
    read_units: f64,
    stored_bytes: f64,
    http_api: f64,
}

impl Cost {
    fn of(all: &Counts, s: &Scenario, stored_bytes: f64, log_bytes: f64, args: &Args) -> Self {
        let messages = s.messages;
        let sum = |service: &str, pick: &dyn Fn(&str) -> bool| -> (f64, f64) {
            all.iter()
                .filter(|((sv, op), _)| sv == service && pick(op))
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

        let invocations: f64 = s.invocations.iter().map(|(_, n, _)| n).sum();
        let gb = FUNCTION_MEMORY_MB / 1024.0;
        let seconds: f64 = s.invocations.iter().map(|(_, n, ms)| n * ms / 1e3).sum();
        let log_gb = (log_bytes + invocations * args.platform_log_bytes) / 1e9;
        let (write_units, read_units) = (write_units / messages, read_units / messages);
        let per_message = [
            (
                format!("DynamoDB writes ({write_units:.2} units, measured)"),
                write_units * price::DYNAMODB_WRITE_UNIT,
            ),
            (
                format!("DynamoDB reads ({read_units:.2} units, measured)"),
                read_units * price::DYNAMODB_READ_UNIT,
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
                format!("API Gateway HTTP API ({} request)", s.http_api),
                s.http_api * price::HTTP_API_REQUEST,
            ),
            (
                format!(
                    "Lambda requests ({})",
                    s.invocations
                        .iter()
                        .map(|(f, n, _)| format!("{n:.2} {f}"))
                        .collect::<Vec<_>>()
                        .join(" + ")
                ),
                invocations * price::LAMBDA_REQUEST,
            ),
            (
                format!("Lambda duration (assumed, {FUNCTION_MEMORY_MB} MB)"),
                seconds * gb * price::LAMBDA_GB_SECOND_ARM64,
            ),
            (
                format!(
                    "CloudWatch Logs ({log_bytes:.0} B ours + {:.0} B Lambda's)",
                    invocations * args.platform_log_bytes
                ),
                log_gb * price::LOGS_INGESTED_GB,
            ),
            (
                format!("DynamoDB storage + PITR, 30 days ({stored_bytes:.0} B measured)"),
                storage_cost(stored_bytes, 30.0),
            ),
        ];
        Self {
            lines: per_message
                .into_iter()
                .map(|(item, dollars)| (item, dollars * 1e6))
                .collect(),
            write_units,
            read_units,
            stored_bytes,
            http_api: s.http_api,
        }
    }

    fn total(&self) -> f64 {
        self.lines.iter().map(|(_, d)| d).sum()
    }

    /// The total under each deployment choice, everything else as measured.
    fn choices(&self) -> Vec<(String, f64)> {
        let total = self.total();
        let on_demand = (self.write_units * price::DYNAMODB_WRITE_UNIT
            + self.read_units * price::DYNAMODB_READ_UNIT)
            * 1e6;
        let provisioned = |utilisation: f64| {
            (self.write_units * price::PROVISIONED_WCU_HOUR
                + self.read_units * price::PROVISIONED_RCU_HOUR)
                / 3600.0
                / utilisation
                * 1e6
        };
        let thirty = storage_cost(self.stored_bytes, 30.0) * 1e6;
        vec![
            ("as above: on-demand, HTTP API, 30 days".to_owned(), total),
            (
                "provisioned, autoscaled, 70 % used (steady traffic)".to_owned(),
                total - on_demand + provisioned(0.7),
            ),
            (
                "provisioned, autoscaled, 35 % used (a daily peak 2× the mean)".to_owned(),
                total - on_demand + provisioned(0.35),
            ),
            (
                "REST API on a Lambda Function URL instead of the HTTP API".to_owned(),
                total - self.http_api * price::HTTP_API_REQUEST * 1e6,
            ),
            (
                "messages kept 90 days".to_owned(),
                total - thirty + storage_cost(self.stored_bytes, 90.0) * 1e6,
            ),
            (
                "messages kept 365 days".to_owned(),
                total - thirty + storage_cost(self.stored_bytes, 365.0) * 1e6,
            ),
        ]
    }
}

/// Storage and point-in-time recovery of `bytes` kept for `days`, in dollars.
fn storage_cost(bytes: f64, days: f64) -> f64 {
    bytes / 1e9 * (price::DYNAMODB_STORAGE_GB_MONTH + price::DYNAMODB_PITR_GB_MONTH) * days / 30.0
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

/// Meta's three statuses (sent, delivered, read) of each sent message, one per webhook as
/// Meta sends them.
async fn post_statuses(
    http: &reqwest::Client,
    base: &str,
    sent: &[(MessageId, String, String)],
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut posts = Vec::with_capacity(sent.len() * 3);
    for status in ["sent", "delivered", "read"] {
        for (_, to, wamid) in sent {
            let body = status_webhook(NUMBER, to, wamid, status, "template").to_string();
            posts.push(Post::signed(body, APP_SECRET));
        }
    }
    let answers = post_all(http, &format!("{base}/webhook"), posts, concurrency).await?;
    if let Some(refused) = answers.iter().find(|a| !a.ok()) {
        bail!("/webhook answered {} {}", refused.status, refused.body);
    }
    Ok(())
}

/// Fails unless every message ended `read`.
async fn ensure_read(
    checker: &App,
    account: &shared::domain::AccountId,
    sent: &[(MessageId, String, String)],
) -> anyhow::Result<()> {
    let mut not_read = 0;
    for (id, _, _) in sent {
        if checker.message(account, id).await?.status != MessageStatus::Read {
            not_read += 1;
        }
    }
    ensure!(not_read == 0, "{not_read} messages did not end read");
    Ok(())
}

/// Waits until the broadcast has queued a message for each of its `contacts`, and names them.
async fn broadcast_messages(
    checker: &App,
    account: &shared::domain::AccountId,
    id: &shared::domain::BroadcastId,
    contacts: usize,
) -> anyhow::Result<Vec<MessageId>> {
    let deadline = Instant::now() + Duration::from_secs(120 + contacts as u64 / 20);
    loop {
        let b = checker.broadcast(account, id).await?;
        if b.counts.queued as usize >= contacts {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the broadcast queued {} of {contacts} in time ({:?})",
            b.counts.queued,
            b.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ids = Vec::with_capacity(contacts);
    let mut cursor = None;
    loop {
        let (page, next) = checker
            .broadcast_recipients(account, id, 100, cursor)
            .await?;
        ids.extend(page.into_iter().filter_map(|r| r.message.map(|m| m.id)));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ensure!(
        ids.len() == contacts,
        "{} messages for {contacts} contacts",
        ids.len()
    );
    Ok(ids)
}

/// The measured app and its request counter; a second app on the same table and queues with
/// clients of its own, so the benchmark's own checks are not counted; and a client of its own
/// to size the table.
struct AwsApps {
    app: App,
    counter: shared::adapters::aws::RequestCounter,
    checker: App,
    own: shared::adapters::aws::AwsClients,
    table: String,
}

async fn aws_apps(graph: url::Url) -> anyhow::Result<AwsApps> {
    let (app, clients, settings) = shared::testing::aws_app_with_graph(graph).await;
    let own = shared::adapters::aws::AwsClients::from_env(settings.s3_path_style);
    let checker = App::new(shared::adapters::aws::ports(&own, &settings));
    Ok(AwsApps {
        app,
        counter: clients.requests,
        checker,
        own,
        table: settings.table,
    })
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
