use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The local runner's settings: the `WHATATALK_*` variables of docs/architecture.md.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Meta's Graph API base URL; `None` means the in-process stand-in (messaging issue).
    pub graph_url: Option<url::Url>,
    pub graph_version: String,
    pub secrets: DevSecrets,
    /// How long a Graph API call may take before its outcome counts as unknown.
    pub graph_timeout: std::time::Duration,
    /// Pacing and retries of the in-process sender.
    pub sender: shared::services::SenderSettings,
    /// Plans and billing rules (`WHATATALK_PLANS`, `WHATATALK_PLANS_FILE`).
    pub billing: shared::domain::BillingConfig,
    /// The wait between a closing account's two erasure passes: the route cache's 30 s and a
    /// margin (work here is fenced by the account's state, and no step outlives it).
    pub closure_settle: std::time::Duration,
}

/// Secrets a developer needs to sign test webhooks. Generated once per data directory and
/// kept there (mode 0600), so they survive restarts; variables override them.
#[derive(Clone, Serialize, Deserialize)]
pub struct DevSecrets {
    pub app_secret: String,
    pub verify_token: String,
    pub billing_secret: String,
}

impl std::fmt::Debug for DevSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevSecrets(…)")
    }
}

fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    shared::crypto::random::os_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

impl DevSecrets {
    /// Fixed secrets (tests and benchmarks that serve an app of their own).
    pub fn fixed(app_secret: &str, verify_token: &str, billing_secret: &str) -> Self {
        Self {
            app_secret: app_secret.into(),
            verify_token: verify_token.into(),
            billing_secret: billing_secret.into(),
        }
    }

    fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("dev-secrets.json");
        if let Ok(bytes) = std::fs::read(&path) {
            return serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not valid; delete it to regenerate", path.display())
            });
        }
        let secrets = Self {
            app_secret: random_secret("dev_app_"),
            verify_token: random_secret("dev_verify_"),
            billing_secret: random_secret("whsec_dev_"),
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(&path)
            .with_context(|| format!("create {}", path.display()))?;
        serde_json::to_writer_pretty(file, &secrets)?;
        Ok(secrets)
    }
}

impl LocalConfig {
    /// Reads the environment, creating the data directory and the dev secrets if needed.
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let addr = var("WHATATALK_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .context("WHATATALK_ADDR must be host:port")?;
        let data_dir =
            PathBuf::from(var("WHATATALK_DATA_DIR").unwrap_or_else(|| "./.whatatalk".into()));
        let graph_url = var("WHATATALK_GRAPH_URL")
            .map(|u| url::Url::parse(&u).context("WHATATALK_GRAPH_URL must be a URL"))
            .transpose()?;
        let graph_version =
            var("WHATATALK_GRAPH_VERSION").unwrap_or_else(|| shared::graph::DEFAULT_VERSION.into());
        let mut config = Self::in_dir(addr, data_dir)?;
        config.graph_url = graph_url;
        config.graph_version = graph_version;
        if let Some(s) = var("WHATATALK_APP_SECRET") {
            config.secrets.app_secret = s;
        }
        if let Some(s) = var("WHATATALK_VERIFY_TOKEN") {
            config.secrets.verify_token = s;
        }
        if let Some(s) = var("WHATATALK_BILLING_SECRET") {
            config.secrets.billing_secret = s;
        }
        config.billing =
            shared::domain::BillingConfig::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(config)
    }

    /// Defaults for everything but the address and the data directory; what tests use.
    pub fn in_dir(addr: SocketAddr, data_dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("create data dir {}", data_dir.display()))?;
        Ok(Self {
            secrets: DevSecrets::load_or_create(&data_dir)?,
            addr,
            data_dir,
            graph_url: None,
            graph_version: shared::graph::DEFAULT_VERSION.into(),
            graph_timeout: std::time::Duration::from_secs(20),
            closure_settle: std::time::Duration::from_secs(60),
            sender: shared::services::SenderSettings::default(),
            billing: shared::domain::BillingConfig::default(),
        })
    }
}
