//! `events-bench`: events delivered to the businesses' endpoints, as fast as the job loops
//! deliver them.
//!
//! ```sh
//! cargo build --release --bin events-bench
//! target/release/events-bench --accounts 100 --endpoints 10 --events 20 --workers 4
//! ```
//!
//! It signs up `--accounts` accounts on the local adapters, gives each `--endpoints` endpoints
//! on one loopback receiver (each wanting `contact.created`), and creates `--events` contacts
//! in each through the service, which raises one event per contact: `accounts × events` events
//! and `× endpoints` deliveries, queued before any clock starts. Then `--workers` job loops
//! (the local runner runs 4) store the events, fan them out and deliver them over HTTP. The
//! receiver checks every delivery's Standard Webhooks signature with its endpoint's secret and
//! answers 204. It reports deliveries and events per second until the last delivery was
//! recorded, and the attempts' latency as the log records it; it fails unless every delivery
//! arrived once, correctly signed, and is logged `succeeded`. Receiver, job loops and store
//! share this process and the machine.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use infra::bench::{EventReceiver, LocalBench};
use shared::domain::{ApiKeyName, BusinessName, Email, EventTypes};
use shared::events::guard::Reach;
use shared::records::endpoint::DeliveryState;
use shared::services::events::NewEndpoint;
use shared::services::{NewAccount, NewContact, Principal};

struct Args {
    accounts: usize,
    endpoints: usize,
    events: usize,
    workers: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        accounts: 100,
        endpoints: 10,
        events: 20,
        workers: infra::JOB_WORKERS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> anyhow::Result<usize> {
            Ok(it
                .next()
                .with_context(|| format!("{flag} needs a value"))?
                .parse()?)
        };
        match flag.as_str() {
            "--accounts" => a.accounts = value()?,
            "--endpoints" => a.endpoints = value()?,
            "--events" => a.events = value()?,
            "--workers" => a.workers = value()?,
            other => bail!(
                "unknown argument {other}; use --accounts N --endpoints N --events N --workers N"
            ),
        }
    }
    ensure!(
        a.accounts > 0 && a.endpoints > 0 && a.events > 0 && a.workers > 0,
        "give positive numbers"
    );
    ensure!(
        a.endpoints <= 20,
        "an account has at most 20 endpoints (the service's limit)"
    );
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let bench =
        LocalBench::start_with("events-bench", |app| app.with_event_reach(Reach::LOOPBACK)).await?;
    let app = bench.app.clone();

    let receiver = EventReceiver::start().await?;
    let wanted = EventTypes::parse(["contact.created"])?;
    let mut endpoints = Vec::with_capacity(args.accounts * args.endpoints);
    for a in 0..args.accounts {
        let (account, _, _) = app
            .signup(
                NewAccount {
                    business_name: BusinessName::parse(&format!("Events {a}"))?,
                    email: Email::parse(&format!("events{a}@example.com"))?,
                    default_region: None,
                },
                ApiKeyName::parse("bench")?,
            )
            .await?;
        let owner = Principal::system(account.id.clone());
        for e in 0..args.endpoints {
            let path = format!("a{a}/e{e}");
            let (endpoint, secret) = app
                .create_endpoint(
                    &owner,
                    NewEndpoint {
                        url: receiver.url(&path)?,
                        description: String::new(),
                        events: wanted.clone(),
                    },
                )
                .await?;
            receiver.expect(&path, secret);
            endpoints.push((owner.clone(), endpoint.id));
        }
        for i in 0..args.events {
            let c = NewContact {
                phone: Some(shared::domain::PhoneNumber::from_meta(&format!(
                    "4479{a:04}{i:04}"
                ))?),
                ..Default::default()
            };
            app.create_contact(&account.id, c).await?;
        }
    }
    let events = args.accounts * args.events;
    let deliveries = events * args.endpoints;
    eprintln!(
        "{} accounts × {} endpoints; {events} events queued, {deliveries} deliveries to make",
        args.accounts, args.endpoints
    );

    let started = Instant::now();
    let loops: Vec<_> = (0..args.workers)
        .map(|_| tokio::spawn(infra::drain_jobs(app.clone())))
        .collect();
    let deadline = started + Duration::from_secs(120 + deliveries as u64 / 50);
    while receiver.total() < deliveries as u64 {
        ensure!(
            Instant::now() < deadline,
            "{} of {deliveries} deliveries arrived in time",
            receiver.total()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived = started.elapsed();
    // Every delivery logged as succeeded: the attempt is recorded after the answer, so the
    // clock stops at the last record, not at the last arrival.
    let mut latencies = Vec::with_capacity(deliveries);
    let mut recorded;
    loop {
        latencies.clear();
        recorded = 0;
        for (owner, id) in &endpoints {
            let mut cursor = None;
            loop {
                let (log, next) = app.deliveries(owner, id, 100, cursor).await?;
                for d in log.iter().filter(|d| d.state == DeliveryState::Succeeded) {
                    recorded += 1;
                    latencies.extend(d.attempts.iter().map(|a| a.latency_ms));
                }
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        if recorded == deliveries || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    for l in loops {
        l.abort();
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    let duplicates = receiver.paths_not_receiving(args.events as u64);
    let bad = receiver.bad();
    println!(
        "accounts        {} × {} endpoints (1 receiver on loopback)",
        args.accounts, args.endpoints
    );
    println!("job loops       {}", args.workers);
    println!("events          {events}");
    println!("deliveries      {deliveries}, arrived in {arrived:.2?}, all logged in {elapsed:.2?}");
    println!(
        "throughput      {:.0} deliveries/s, {:.0} events/s (to the last log record)",
        deliveries as f64 / elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    println!(
        "attempt latency p50 {} ms  p99 {} ms  max {} ms (as logged)",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!("bad signatures  {bad}");
    println!(
        "endpoints off   {duplicates} (received other than {} each)",
        args.events
    );
    println!("not logged      {}", deliveries - recorded);
    let _ = std::fs::remove_dir_all(&bench.dir);
    ensure!(
        bad == 0 && duplicates == 0 && recorded == deliveries,
        "deliveries were lost, doubled, unsigned or unlogged"
    );
    Ok(())
}
