//! `init-bench`: what a cold Lambda does before its first event — read its configuration, build
//! the AWS SDK clients and the `App`, build its router — timed in this process, with dummy
//! credentials and no network; and the size of each function's release binary, where built.
//!
//! ```sh
//! cargo build --release --features aws --bin init-bench
//! cargo build --release -p api -p webhook -p billing -p jobs -p sender -p retention
//! target/release/init-bench
//! ```

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await
}

#[cfg(not(feature = "aws"))]
async fn run() -> anyhow::Result<()> {
    anyhow::bail!("build with --features aws: the functions' start-up is on the AWS adapters")
}

#[cfg(feature = "aws")]
async fn run() -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    // What the stack sets; dummy values, and no instance metadata look-ups.
    for (k, v) in [
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
    ] {
        // Single-threaded here: nothing else reads the environment yet.
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
    println!("init, first in process   {first:.2?}");
    println!(
        "init, again (49)         median {:.2?}, max {:.2?}",
        warm[warm.len() / 2],
        warm[warm.len() - 1]
    );
    let dir = std::env::current_exe()?
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    for f in ["api", "webhook", "billing", "jobs", "sender", "retention"] {
        match std::fs::metadata(dir.join(f)) {
            Ok(m) => println!("binary {f:<10} {:.1} MB", m.len() as f64 / 1e6),
            Err(_) => println!("binary {f:<10} not built (see the commands above)"),
        }
    }
    Ok(())
}
