//! The local all-in-one runner: every HTTP function's router on one address, on the embedded
//! adapters (SQLite, master key file, blob files) under one data directory. Tests start it
//! in-process with [`start`]; the `whatatalk-local` binary wraps the same call.

mod config;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use shared::adapters::local::LocalBackend;
use shared::services::App;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{DevSecrets, LocalConfig};

/// A running local stack; dropping it does not stop it, [`Running::stop`] does.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, and returns once the server is down.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await.context("server task")??;
        Ok(())
    }
}

/// Binds `config.addr` (port 0 picks a free one) and serves every function's router.
pub async fn start(config: LocalConfig) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("bind {}", config.addr))?;
    let addr = listener.local_addr()?;
    let public_url = url::Url::parse(&format!("http://{addr}/"))?;
    let backend = LocalBackend::open(&config.data_dir, public_url)?;
    let app = Arc::new(App::new(backend.ports));
    let router: Router = api::router(app.clone()).merge(backend.blobs.link_router());
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
        stop,
        server,
    })
}
