//! `sender-bench`: the sender against a `graph-standin` process that enforces a number's tier.
//!
//! ```sh
//! cargo build --release --bin sender-bench --bin graph-standin
//! target/release/sender-bench --tier 1000 --seconds 60
//! target/release/sender-bench --tier 80 --seconds 20
//! ```
//!
//! It queues `tier × (seconds + 5)` template messages to 1,000 opted-in contacts on the local
//! adapters, starts the runner's sender workers, and over the measured window counts what the
//! stand-in accepted per second, how often it answered 130429 (throughput exceeded), and the
//! CPU the sending process used per message sent.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use infra::standin::{Recorded, StandInConfig};
use shared::graph::{GraphClient, GraphConfig};
use shared::services::{App, NewMessage, Recipient, SenderSettings};

struct StandInProcess(Child);

impl Drop for StandInProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut tier = 1000u32;
    let mut seconds = 60u64;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--tier" => tier = it.next().context("--tier N")?.parse()?,
            "--seconds" => seconds = it.next().context("--seconds N")?.parse()?,
            other => bail!("unknown argument {other}; use --tier N --seconds N"),
        }
    }
    // The stand-in in its own process, so this one's CPU is the sender's.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe()?.with_file_name("graph-standin");
    let _standin = StandInProcess(
        Command::new(&exe)
            .env("WHATATALK_STANDIN_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", exe.display()))?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{base}/_standin/requests"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = StandInConfig {
        rate_per_number: tier,
        pair_interval_ms: 0,
        ..StandInConfig::default()
    };
    http.put(format!("{base}/_standin/config"))
        .json(&config)
        .send()
        .await?
        .error_for_status()?;

    let dir = tempfile_dir()?;
    let graph = GraphClient::new(GraphConfig::new(
        url::Url::parse(&format!("{base}/"))?,
        "v23.0",
    ));
    let backend = shared::adapters::local::LocalBackend::open(
        &dir,
        url::Url::parse("http://127.0.0.1:9/")?,
        graph,
    )?;
    let app = Arc::new(App::new(backend.ports).with_billing(shared::testing::unlimited_billing()));
    let bench = infra::bench::bench_account(&app, 1000, tier).await?;
    let (account, number, contacts) = (bench.account, bench.number, bench.contacts);
    let total = u64::from(tier) * (seconds + 5);
    let template = infra::bench::bench_template();
    let t = Instant::now();
    for i in 0..total {
        let m = NewMessage {
            from: number.clone(),
            to: Recipient::Contact(contacts[(i % 1000) as usize].clone()),
            content: template.clone(),
            reply_to: None,
        };
        app.send_message(&account, m).await?;
    }
    eprintln!("queued {total} messages in {:.1?}", t.elapsed());

    let settings = SenderSettings {
        pair_interval: Duration::ZERO,
        ..SenderSettings::default()
    };
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let workers: Vec<_> = (0..infra::SEND_WORKERS)
        .map(|_| tokio::spawn(infra::drain_sends(app.clone(), settings)))
        .collect();
    // Warm-up of 2 s (the first quarter-second burst and the ramp), then the measured window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = fetch(&http, &base).await?;
    let cpu_before = cpu_seconds();
    let window_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = fetch(&http, &base).await?;
    let window = window_start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    for w in workers {
        w.abort();
    }
    let accepted = |r: &[Recorded]| r.iter().filter(|x| x.accepted()).count();
    let throttled = |r: &[Recorded]| r.iter().filter(|x| x.error_code == Some(130429)).count();
    let sent = accepted(&after) - accepted(&before);
    let errors = throttled(&after);
    let rate = sent as f64 / window;
    println!("tier            {tier} msg/s");
    println!("window          {window:.1} s (after a 2 s warm-up)");
    println!(
        "sent            {sent} ({rate:.0} msg/s, {:.1} % of the tier)",
        rate * 100.0 / f64::from(tier)
    );
    println!("130429 errors   {errors} (whole run)");
    println!(
        "sender CPU      {cpu:.2} s in the window ({:.0} µs per send, {:.2} cores)",
        cpu * 1e6 / sent.max(1) as f64,
        cpu / window
    );
    let _ = (cpu_start, started);
    let _ = std::fs::remove_dir_all(&dir);
    if errors > 0 {
        bail!("the sender exceeded the tier");
    }
    Ok(())
}

async fn fetch(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<Recorded>> {
    Ok(http
        .get(format!("{base}/_standin/requests"))
        .send()
        .await?
        .json()
        .await?)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("sender-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
