//! `init-bench`: how fast each function starts, and how big it is.
//!
//! ```sh
//! cargo build --release --features aws --bin init-bench
//! cargo build --release -p api -p webhook -p billing -p jobs -p sender -p retention
//! cargo lambda build --release --arm64 --output-format zip   # what is deployed (docs/deploy.md)
//! target/release/init-bench --starts 20
//! ```
//!
//! 1. **Start-up of each function binary**, as Lambda starts it: the release binary beside this
//!    one is spawned `--starts` times with the environment the stack gives it (dummy
//!    credentials, no network) and `AWS_LAMBDA_RUNTIME_API` pointing at a loopback stand-in of
//!    Lambda's Runtime API; the clock runs from the spawn to the function's first
//!    `GET /2018-06-01/runtime/invocation/next`, which it sends once its `main` has read its
//!    settings and built its clients, `App` and router. That is Lambda's "Init Duration" less
//!    the sandbox's own work (fetching and unpacking the package), which no laptop can measure.
//! 2. **In-process set-up**, 50 times in this process (with `--features aws`): the widest role's
//!    clients and `App` and the API, webhook and billing routers, for the part that is ours.
//! 3. **Sizes**: each release binary beside this one, and the deployed package (arm64, zipped)
//!    where `cargo lambda build --output-format zip` has made `target/lambda/<f>/bootstrap.zip`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const FUNCTIONS: [&str; 6] = ["api", "webhook", "jobs", "sender", "billing", "retention"];

/// What the stack sets (template.yaml), with dummy values: no instance metadata look-ups.
const ENV: [(&str, &str); 14] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ("WHATATALK_TABLE", "bench"),
    ("WHATATALK_KMS_KEY_ID", "alias/bench"),
    ("WHATATALK_BUCKET", "bench"),
    ("WHATATALK_SEND_QUEUE_URL", "http://127.0.0.1:9/sends"),
    ("WHATATALK_JOB_QUEUE_URL", "http://127.0.0.1:9/jobs"),
    ("WHATATALK_APP_SECRET", "bench-app-secret"),
    ("WHATATALK_VERIFY_TOKEN", "bench-verify-token"),
    ("WHATATALK_BILLING_SECRET", "bench-billing-secret"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut starts = 20usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--starts" => starts = it.next().context("--starts needs a value")?.parse()?,
            other => bail!("unknown argument {other}; use --starts N"),
        }
    }
    let dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    start_ups(&dir, starts.max(1)).await?;
    in_process().await
}

/// Spawns each function binary `starts` times and times it to its first poll for an event.
async fn start_ups(dir: &Path, starts: usize) -> anyhow::Result<()> {
    use axum::routing::get;
    let (polled, mut polls) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    // The Runtime API's long poll: noted, and never answered (the function is killed).
    let runtime = axum::Router::new().route(
        "/2018-06-01/runtime/invocation/next",
        get(move || {
            let polled = polled.clone();
            async move {
                let _ = polled.send(Instant::now());
                std::future::pending::<()>().await;
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, runtime).await });
    let lambda = lambda_dir(dir);
    println!(
        "{:<10} {:>10} {:>12} {:>16} {:>14} {:>12}",
        "function", "binary MB", "zipped MB", "start-up median", "p90", "max"
    );
    for f in FUNCTIONS {
        let binary = dir.join(f);
        let zipped = lambda
            .as_ref()
            .and_then(|l| std::fs::metadata(l.join(f).join("bootstrap.zip")).ok())
            .map_or("not built".to_owned(), |m| {
                format!("{:.2}", m.len() as f64 / 1e6)
            });
        let Ok(meta) = std::fs::metadata(&binary) else {
            println!("{f:<10} {:>10} {zipped:>12}", "not built");
            continue;
        };
        let mut times = Vec::with_capacity(starts);
        for _ in 0..starts {
            let spawned = Instant::now();
            let mut child = std::process::Command::new(&binary)
                .envs(ENV)
                .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", f)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .with_context(|| format!("spawning {}", binary.display()))?;
            let at = tokio::time::timeout(Duration::from_secs(10), polls.recv()).await;
            let _ = child.kill();
            let _ = child.wait();
            match at {
                Ok(Some(at)) => times.push(at.saturating_duration_since(spawned)),
                _ => bail!("{f} did not poll for an event within 10 s (it exits on bad settings: run it by hand to see why)"),
            }
        }
        times.sort();
        let pick = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
        println!(
            "{f:<10} {:>10.2} {zipped:>12} {:>16.2?} {:>14.2?} {:>12.2?}",
            meta.len() as f64 / 1e6,
            pick(0.5),
            pick(0.9),
            pick(1.0)
        );
    }
    server.abort();
    Ok(())
}

/// `target/lambda`, where cargo lambda puts its packages, from `target/release`.
fn lambda_dir(release: &Path) -> Option<PathBuf> {
    let dir = release.parent()?.join("lambda");
    dir.is_dir().then_some(dir)
}

#[cfg(not(feature = "aws"))]
async fn in_process() -> anyhow::Result<()> {
    println!("(in-process set-up: build with --features aws)");
    Ok(())
}

#[cfg(feature = "aws")]
async fn in_process() -> anyhow::Result<()> {
    use std::sync::Arc;

    for (k, v) in ENV {
        // Nothing else reads the environment while this runs: the spawned functions above are
        // given theirs explicitly and are gone.
        unsafe { std::env::set_var(k, v) };
    }
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        // The widest role (the api's and the jobs function's): every client is built.
        let app = Arc::new(
            shared::adapters::aws::Role::from_env(shared::adapters::aws::table_policy::API)?
                .kms()
                .s3()
                .sqs()
                .app()?,
        );
        let _api = api::router(app.clone());
        let _webhook = webhook::router(app.clone(), webhook::WebhookConfig::from_env()?);
        let _billing = billing::router(app, billing::BillingWebhookConfig::from_env()?);
        times.push(t.elapsed());
    }
    let first = times[0];
    let mut warm = times[1..].to_vec();
    warm.sort();
    println!("\nin-process set-up, first   {first:.2?}");
    println!(
        "in-process set-up, again   median {:.2?}, max {:.2?} (49)",
        warm[warm.len() / 2],
        warm[warm.len() - 1]
    );
    Ok(())
}
