//! `whatatalk-local`: the whole service on one machine, no cloud. See README.md.

use infra::LocalConfig;

// Imports allocate and free millions of small strings and maps across threads; jemalloc does
// that with less CPU and less fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Return freed memory to the system within a second, from a background thread, and keep two
/// arenas (the machine has two cores): the runner's memory stays near what it really uses.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2\0";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    let config = LocalConfig::from_env()?;
    // `whatatalk-local retention`: one retention run over the data directory, now.
    if std::env::args().nth(1).as_deref() == Some("retention") {
        let backend = shared::adapters::local::LocalBackend::open(
            &config.data_dir,
            url::Url::parse(&format!("http://{}/", config.addr))?,
            shared::testing::unreachable_graph(),
        )?;
        let app = shared::services::App::new(backend.ports).with_billing(config.billing);
        let report = retention::run(&app).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let running = infra::start(config.clone()).await?;
    // Printed, not logged: the redactor would (rightly) remove the secrets from a log line.
    println!("whatatalk-local listening on {}", running.base_url());
    println!(
        "  the app         {}/app (sign up there)",
        running.base_url()
    );
    println!("  data dir        {}", config.data_dir.display());
    println!(
        "  webhook secret  WHATATALK_APP_SECRET={}",
        config.secrets.app_secret
    );
    println!(
        "  verify token    WHATATALK_VERIFY_TOKEN={}",
        config.secrets.verify_token
    );
    println!(
        "  billing secret  WHATATALK_BILLING_SECRET={}",
        config.secrets.billing_secret
    );
    match (
        &config.graph_url,
        running.standin.as_ref().and_then(|s| s.base_url()),
    ) {
        (Some(url), _) => println!("  graph api       {url} ({})", config.graph_version),
        (None, Some(url)) => {
            println!(
                "  graph api       the stand-in at {url} (what it received: {url}_standin/requests)"
            );
            println!(
                "  a business      waba_id={} phone_number_id={} access_token={} (the stand-in's)",
                infra::standin::DEMO_WABA_ID,
                infra::standin::DEMO_PHONE_NUMBER_ID,
                infra::standin::DEMO_TOKEN
            );
        }
        (None, None) => {}
    }
    println!("try: curl {}/health", running.base_url());
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    running.stop().await
}
