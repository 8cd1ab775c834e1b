//! The local all-in-one runner: every HTTP function's router on one address, on the embedded
//! adapters (SQLite, master key file, blob files) under one data directory. Tests start it
//! in-process with [`start`]; the `whatatalk-local` binary wraps the same call.

pub mod bench;
mod config;
pub mod standin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use shared::adapters::local::LocalBackend;
use shared::graph::{GraphClient, GraphConfig};
use shared::services::{App, SenderSettings};
use standin::{StandIn, StandInConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{DevSecrets, LocalConfig};

/// A running local stack; dropping it does not stop it, [`Running::stop`] does.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    /// The in-process Graph API stand-in, when the runner started one.
    pub standin: Option<StandIn>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
    job_loops: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, and returns once the server is down.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        for w in self.workers.into_iter().chain(self.job_loops) {
            w.abort();
            let _ = w.await;
        }
        self.server.await.context("server task")??;
        Ok(())
    }

    /// Stops taking jobs, which wait in their queue meanwhile: a benchmark measures the
    /// requests that queue work without the work competing for the same cores.
    pub async fn hold_jobs(&mut self) {
        for l in self.job_loops.drain(..) {
            l.abort();
            let _ = l.await;
        }
    }

    /// Takes jobs again after [`Running::hold_jobs`].
    pub fn release_jobs(&mut self) {
        if self.job_loops.is_empty() {
            self.job_loops = job_loops(&self.app);
        }
    }
}

fn job_loops(app: &Arc<App>) -> Vec<JoinHandle<()>> {
    // Several, as the jobs function runs several at once: a webhook delivery waiting on a
    // slow endpoint holds up one of them, not every job.
    (0..JOB_WORKERS)
        .map(|_| tokio::spawn(drain_jobs(app.clone())))
        .collect()
}

/// Binds `config.addr` (port 0 picks a free one) and serves every function's router on the
/// local adapters.
pub async fn start(config: LocalConfig) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("bind {}", config.addr))?;
    let public_url = url::Url::parse(&format!("http://{}/", listener.local_addr()?))?;

    // Without a Graph URL, the stand-in answers in-process on its own loopback port, and
    // posts signed status webhooks back to this runner as Meta would.
    let (graph_url, standin) = match &config.graph_url {
        Some(url) => (url.clone(), None),
        None => {
            let standin = StandIn::new(StandInConfig {
                webhook_url: Some(public_url.join("webhook")?.to_string()),
                app_secret: Some(config.secrets.app_secret.clone()),
                ..StandInConfig::default()
            });
            standin.add_business(standin::demo_business());
            let url = standin.serve(TcpListener::bind("127.0.0.1:0").await?)?;
            (url, Some(standin))
        }
    };
    let mut graph_config = GraphConfig::new(graph_url, &config.graph_version);
    graph_config.request_timeout = config.graph_timeout;
    let graph = GraphClient::new(graph_config);
    let backend = LocalBackend::open(&config.data_dir, public_url, graph)?;
    let app = Arc::new(
        App::new(backend.ports)
            .with_billing(config.billing.clone())
            .with_policy(shared::services::privacy::policy::PolicyConfig::from_env())
            .with_event_reach(shared::services::events::reach_from_env())
            .with_closure_settle(config.closure_settle),
    );
    let mut running = serve(
        app,
        listener,
        backend.blobs.link_router(),
        config.sender,
        &config.secrets,
    )?;
    running.standin = standin;
    Ok(running)
}

/// Serves every function's router for `app` (on any backend), plus `extra` routes, and drains
/// its job queue; tests use it to run the same stack on the AWS adapters.
pub fn serve(
    app: Arc<App>,
    listener: TcpListener,
    extra: Router,
    sender: SenderSettings,
    secrets: &DevSecrets,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let webhook = webhook::WebhookConfig::new(&secrets.app_secret, &secrets.verify_token)
        .context("the app secret and the verify token must not be empty")?;
    let billing = billing::BillingWebhookConfig::new(&secrets.billing_secret)
        .context("the billing secret must not be empty")?;
    let functions = api::routes(app.clone())
        .merge(webhook::routes(app.clone(), webhook))
        .merge(billing::routes(app.clone(), billing));
    let router: Router = shared::http::standard_layers(functions, api::BODY_LIMIT).merge(extra);
    let mut workers = vec![tokio::spawn(clock(app.clone()))];
    let job_loops = job_loops(&app);
    for _ in 0..SEND_WORKERS {
        workers.push(tokio::spawn(drain_sends(app.clone(), sender)));
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running {
        addr,
        app,
        standin: None,
        stop,
        server,
        workers,
        job_loops,
    })
}

/// The local stand-in for the one-minute schedule: a tick every second.
/// Retention runs at start and then once a day, as the scheduled Lambda does on AWS.
async fn clock(app: Arc<App>) {
    let mut next_retention = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(e) = app
            .run_job(&shared::services::Job::Tick, "clock", None)
            .await
        {
            tracing::error!(error = %e, "clock tick failed");
        }
        if std::time::Instant::now() >= next_retention {
            next_retention += Duration::from_secs(86_400);
            if let Err(e) = retention::run(&app).await {
                tracing::error!(error = %e, "retention run failed");
            }
        }
    }
}

/// Concurrent job loops.
pub const JOB_WORKERS: usize = 4;

/// Concurrent sender loops; each takes up to 10 tasks at a time.
pub const SEND_WORKERS: usize = 4;

/// The local stand-in for the sender Lambda's SQS trigger, through the same `sender::handle`;
/// runs until the task is dropped.
pub async fn drain_sends(app: Arc<App>, settings: SenderSettings) {
    loop {
        let messages = match app
            .send_queue
            .receive(10, JOB_VISIBILITY, Duration::from_secs(1))
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "send queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
        let handled = sender::handle(&app, &bodies, &settings).await;
        // Like the Lambda trigger: the batch's successes are deleted together.
        let mut done = Vec::with_capacity(messages.len());
        for (m, h) in messages.iter().zip(handled) {
            match h {
                sender::Handled::Ack => done.push(m.receipt.clone()),
                sender::Handled::Fail(why) => {
                    tracing::warn!(message_id = %m.id, error = %why, "send task failed; it will be retried")
                }
            }
        }
        if let Err(e) = app.send_queue.ack_batch(&done).await {
            tracing::error!(error = %e, "send ack failed");
        }
    }
}

/// How long a job message stays hidden while the local drainer works on it: an import
/// checkpoints and renews its lease far more often than this.
const JOB_VISIBILITY: Duration = Duration::from_secs(60);
/// How long one job step may run before it continues from the back of the queue (as a jobs
/// Lambda's timeout makes it): a long import gives other tenants' jobs their turn, and never
/// outlives its delivery's visibility.
const JOB_STEP: Duration = Duration::from_secs(50);

/// The local stand-in for the jobs Lambda's SQS trigger: one job at a time, through the same
/// `jobs::run` the Lambda calls; a failed job comes back after its visibility timeout.
pub async fn drain_jobs(app: Arc<App>) {
    loop {
        let messages = match app
            .job_queue
            .receive(1, JOB_VISIBILITY, Duration::from_secs(1))
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "job queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for m in messages {
            match jobs::run(
                &app,
                &m.id,
                &m.body,
                Some(std::time::Instant::now() + JOB_STEP),
            )
            .await
            {
                Ok(_) => {
                    if let Err(e) = app.job_queue.ack(&m.receipt).await {
                        tracing::error!(error = %e, "job ack failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(message_id = %m.id, error = %e, "job failed; it will be retried")
                }
            }
        }
    }
}
