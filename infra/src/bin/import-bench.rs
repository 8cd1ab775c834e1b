//! `import-bench`: imports a generated contact file through a real `whatatalk-local` process,
//! over HTTP exactly as a customer would (upload link, start, poll), and reports rows per
//! second and the runner's peak resident memory. It checks the report is exact.
//!
//! ```sh
//! cargo build --release --bin whatatalk-local --bin import-bench
//! target/release/import-bench --rows 1000000
//! ```
//!
//! The file: phone, name, tags, opted_in and one attribute per row; numbers of four countries
//! (BR, DE, UK, US) in turn; every 100th row bad in one of four ways (invalid phone, a phone
//! repeated from 50 rows earlier, a missing field, an unreadable opted_in), so 1 % is rejected.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

struct Args {
    rows: u64,
    runner: PathBuf,
}

fn args() -> anyhow::Result<Args> {
    let mut rows = 1_000_000;
    let mut runner = std::env::current_exe()?.with_file_name("whatatalk-local");
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rows" => rows = it.next().context("--rows N")?.parse()?,
            "--runner" => runner = it.next().context("--runner PATH")?.into(),
            other => bail!("unknown argument {other}; use --rows N [--runner PATH]"),
        }
    }
    Ok(Args { rows, runner })
}

/// The generated file and the report it must produce.
struct File {
    csv: Vec<u8>,
    rejected: u64,
}

fn phone(i: u64) -> String {
    match i % 4 {
        0 => format!("+55119{:08}", 60_000_000 + i),
        1 => format!("+49151{:08}", i),
        2 => format!("+447400{:06}", i % 1_000_000),
        _ => format!("+1212{:07}", 2_000_000 + i),
    }
}

fn generate(rows: u64) -> File {
    let mut csv = Vec::with_capacity(rows as usize * 64);
    csv.extend_from_slice(b"phone,name,tags,opted_in,attr.city\n");
    let mut rejected = 0;
    for i in 0..rows {
        let opted = if i % 2 == 0 { "yes" } else { "no" };
        let line = if i % 100 == 99 {
            rejected += 1;
            match (i / 100) % 4 {
                0 => format!("12345,Name {i},t{},{opted},City {}\n", i % 10, i % 100),
                1 => format!(
                    "{},Name {i},t{},{opted},City {}\n",
                    phone(i - 50),
                    i % 10,
                    i % 100
                ),
                2 => format!("{},Name {i},t{},{opted}\n", phone(i), i % 10),
                _ => format!("{},Name {i},t{},maybe,City {}\n", phone(i), i % 10, i % 100),
            }
        } else {
            format!(
                "{},Name {i},t{}|all,{opted},City {}\n",
                phone(i),
                i % 10,
                i % 100
            )
        };
        csv.extend_from_slice(line.as_bytes());
    }
    File { csv, rejected }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Peak resident set size of a process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) a process has used, from /proc (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

struct Runner(Child);

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let t = Instant::now();
    let file = generate(args.rows);
    eprintln!(
        "generated {} rows ({} MB) in {:.1?}",
        args.rows,
        file.csv.len() / 1_000_000,
        t.elapsed()
    );

    let data = std::env::temp_dir().join(format!("import-bench-{}", std::process::id()));
    let addr = format!("127.0.0.1:{}", free_port()?);
    let runner = Runner(
        Command::new(&args.runner)
            .env("WHATATALK_ADDR", &addr)
            .env("WHATATALK_DATA_DIR", &data)
            .env("RUST_LOG", "warn")
            // A plan with room for a million contacts (the default plan holds a thousand).
            .env(
                "WHATATALK_PLANS",
                serde_json::to_string(&shared::testing::unlimited_billing())?,
            )
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", args.runner.display()))?,
    );
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        bail!("whatatalk-local did not start on {addr}");
    }
    let account: Value = http
        .post(format!("{base}/v1/signup"))
        .json(&json!({"business_name": "Bench", "email": "bench@example.com"}))
        .send()
        .await?
        .json()
        .await?;
    let key = account["api_key"].as_str().context("signup")?.to_owned();
    let created: Value = http
        .post(format!("{base}/v1/contacts/imports"))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"].as_str().context("import")?.to_owned();
    let upload = http
        .put(created["upload_url"].as_str().context("upload url")?)
        .header("content-type", "text/csv")
        .body(file.csv)
        .send()
        .await?;
    if !upload.status().is_success() {
        bail!("upload failed: {}", upload.status());
    }

    let cpu_before = cpu_seconds(runner.0.id());
    let rss_before = peak_rss_kib(runner.0.id());
    let started = Instant::now();
    http.post(format!("{base}/v1/contacts/imports/{id}/start"))
        .bearer_auth(&key)
        .send()
        .await?;
    let done = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now: Value = http
            .get(format!("{base}/v1/contacts/imports/{id}"))
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        if now["status"] == "completed" || now["status"] == "failed" {
            break now;
        }
    };
    let elapsed = started.elapsed();
    let peak = peak_rss_kib(runner.0.id());
    let cpu = cpu_seconds(runner.0.id())
        .zip(cpu_before)
        .map(|(a, b)| a - b);

    let expect = |name: &str, want: u64| -> anyhow::Result<()> {
        let got = done[name].as_u64().unwrap_or(u64::MAX);
        if got != want {
            bail!("{name}: expected {want}, got {got}: {done}");
        }
        Ok(())
    };
    expect("rows", args.rows)?;
    expect("created", args.rows - file.rejected)?;
    expect("updated", 0)?;
    expect("unchanged", 0)?;
    expect("rejected", file.rejected)?;
    if file.rejected > 0 {
        let report = http
            .get(done["error_report_url"].as_str().context("report url")?)
            .send()
            .await?
            .text()
            .await?;
        let lines = report.lines().count() as u64;
        if lines != file.rejected + 1 {
            bail!("report has {lines} lines, expected {}", file.rejected + 1);
        }
    }
    drop(runner);
    let _ = std::fs::remove_dir_all(&data);

    let rate = args.rows as f64 / elapsed.as_secs_f64();
    println!("rows            {}", args.rows);
    println!("rejected        {} (report exact)", file.rejected);
    println!(
        "import time     {:.2} s (start to completed)",
        elapsed.as_secs_f64()
    );
    println!("rows per second {rate:.0}");
    if let Some(cpu) = cpu {
        println!(
            "runner CPU      {cpu:.2} s ({:.1} µs per row, {:.2} cores busy)",
            cpu * 1e6 / args.rows as f64,
            cpu / elapsed.as_secs_f64()
        );
    }
    match peak {
        Some(kib) => println!(
            "runner peak RSS {:.1} MB ({:.1} MB before the import, upload included)",
            kib as f64 / 1024.0,
            rss_before.unwrap_or(0) as f64 / 1024.0
        ),
        None => println!("runner peak RSS unknown (no /proc)"),
    }
    Ok(())
}
