//! AWS adapters: DynamoDB items, SQS queues, KMS key vault, S3 blobs, all through the AWS SDK.
//! Region and credentials come from the `AWS_*` variables a Lambda's role gives it
//! ([`config`]); tests point `AWS_ENDPOINT_URL*` at DynamoDB Local and moto.

mod config;
mod dynamodb;
mod kms;
mod requests;
mod s3;
mod sqs;
pub mod storage;
pub mod table_policy;

use std::sync::Arc;

pub use dynamodb::DynamoItemStore;
pub use kms::KmsKeyVault;
pub use requests::{ItemKey, KindUnits, OperationCount, RequestCounter, Transacted};
pub use s3::S3BlobStore;
pub use sqs::SqsQueue;
pub use table_policy::TablePolicy;

use aws_sdk_dynamodb::error::SdkError;

use crate::adapters::denied::Denied;
use crate::services::Ports;

/// An SDK error as (service error code, text for logs); the code is what adapters classify by.
fn describe<E, R>(err: &SdkError<E, R>) -> (String, String)
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default().to_owned();
            let text = format!("{code}: {}", se.err().message().unwrap_or_default());
            (code, text)
        }
        other => (
            String::new(),
            aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
        ),
    }
}

/// Where the stack's resources are, from the function's environment (set by template.yaml).
#[derive(Clone, Debug)]
pub struct AwsSettings {
    pub table: String,
    pub kms_key_id: String,
    pub bucket: String,
    pub send_queue_url: String,
    pub job_queue_url: String,
    /// Path-style S3 addressing, for emulators (moto); AWS itself uses virtual hosts.
    pub s3_path_style: bool,
    /// Meta's Graph API: `https://graph.facebook.com` and `v23.0` unless set.
    pub graph: crate::graph::GraphConfig,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingSetting(pub &'static str);

impl AwsSettings {
    pub fn from_env() -> Result<Self, MissingSetting> {
        let var = |name: &'static str| std::env::var(name).map_err(|_| MissingSetting(name));
        Ok(Self {
            table: var("WHATATALK_TABLE")?,
            kms_key_id: var("WHATATALK_KMS_KEY_ID")?,
            bucket: var("WHATATALK_BUCKET")?,
            send_queue_url: var("WHATATALK_SEND_QUEUE_URL")?,
            job_queue_url: var("WHATATALK_JOB_QUEUE_URL")?,
            s3_path_style: std::env::var("WHATATALK_S3_PATH_STYLE").is_ok_and(|v| v == "true"),
            graph: crate::graph::GraphConfig::from_env()
                .map_err(|_| MissingSetting("WHATATALK_GRAPH_URL"))?,
        })
    }
}

/// The SDK's configuration (region, credentials, one HTTPS client, the request counter), from
/// which each service's client is built. A function builds only the clients its role lets it
/// call ([`Role`]), so the other services' SDKs are not linked into its binary.
#[derive(Clone)]
pub struct Sdk {
    config: aws_types::SdkConfig,
    s3_path_style: bool,
    /// Every request the clients built here send.
    pub requests: RequestCounter,
}

impl Sdk {
    pub fn from_env(s3_path_style: bool) -> Self {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        Self {
            config: config::from_env(https),
            s3_path_style,
            requests: RequestCounter::default(),
        }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(self.dynamodb_builder().build())
    }

    /// A DynamoDB client that refuses, before sending, what `policy` does not grant.
    pub fn dynamodb_within(&self, policy: TablePolicy) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(self.dynamodb_builder().interceptor(policy).build())
    }

    fn dynamodb_builder(&self) -> aws_sdk_dynamodb::config::Builder {
        let mut b = aws_sdk_dynamodb::config::Builder::from(&self.config)
            .interceptor(self.requests.clone());
        b.set_endpoint_url(config::endpoint("DYNAMODB"));
        b
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        let mut b =
            aws_sdk_kms::config::Builder::from(&self.config).interceptor(self.requests.clone());
        b.set_endpoint_url(config::endpoint("KMS"));
        aws_sdk_kms::Client::from_conf(b.build())
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(self.s3_path_style)
            .interceptor(self.requests.clone());
        b.set_endpoint_url(config::endpoint("S3"));
        aws_sdk_s3::Client::from_conf(b.build())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let mut b =
            aws_sdk_sqs::config::Builder::from(&self.config).interceptor(self.requests.clone());
        b.set_endpoint_url(config::endpoint("SQS"));
        aws_sdk_sqs::Client::from_conf(b.build())
    }
}

/// All four clients, for tests and benchmarks that set up and inspect the resources; every
/// request they send is tallied in `requests`.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub requests: RequestCounter,
}

impl AwsClients {
    pub fn from_env(s3_path_style: bool) -> Self {
        let sdk = Sdk::from_env(s3_path_style);
        Self {
            dynamodb: sdk.dynamodb(),
            kms: sdk.kms(),
            s3: sdk.s3(),
            sqs: sdk.sqs(),
            requests: sdk.requests,
        }
    }
}

fn location(settings: &AwsSettings) -> crate::services::privacy::inventory::StorageLocation {
    crate::services::privacy::inventory::StorageLocation {
        kind: "aws".into(),
        table: settings.table.clone(),
        bucket: settings.bucket.clone(),
        region: std::env::var("AWS_REGION").ok(),
    }
}

/// Every port on its AWS adapter (tests and benchmarks; a function uses [`Role`]).
pub fn ports(clients: &AwsClients, settings: &AwsSettings) -> Ports {
    Ports {
        items: Arc::new(DynamoItemStore::new(
            clients.dynamodb.clone(),
            &settings.table,
        )),
        vault: Arc::new(KmsKeyVault::new(clients.kms.clone(), &settings.kms_key_id)),
        blobs: Arc::new(S3BlobStore::new(clients.s3.clone(), &settings.bucket)),
        send_queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &settings.send_queue_url)),
        job_queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &settings.job_queue_url)),
        graph: crate::graph::GraphClient::new(settings.graph.clone()),
        location: location(settings),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppConfigError {
    #[error(transparent)]
    Missing(#[from] MissingSetting),
    #[error("WHATATALK_PLANS: {0}")]
    Plans(crate::domain::Invalid),
}

/// A Lambda function's [`App`](crate::services::App), given the AWS services its role in
/// template.yaml allows one at a time: the table always, KMS, S3 and SQS when asked for. The
/// ports of the others are [`Denied`]: no client is built and their SDKs are not linked in.
///
/// ```ignore
/// let app = Role::from_env(table_policy::SENDER)?.kms().sqs().app()?;
/// ```
///
/// The table client refuses, before sending, an action the role's [`TablePolicy`] does not
/// grant, as IAM would.
pub struct Role {
    sdk: Sdk,
    settings: AwsSettings,
    ports: Ports,
}

impl Role {
    /// Settings and SDK configuration from the environment; the table (within `table`) and
    /// the Graph API only.
    pub fn from_env(table: TablePolicy) -> Result<Self, MissingSetting> {
        let settings = AwsSettings::from_env()?;
        let sdk = Sdk::from_env(settings.s3_path_style);
        let ports = Ports {
            items: Arc::new(DynamoItemStore::new(
                sdk.dynamodb_within(table),
                &settings.table,
            )),
            vault: Arc::new(Denied("key vault (KMS)")),
            blobs: Arc::new(Denied("blob store (S3)")),
            send_queue: Arc::new(Denied("send queue (SQS)")),
            job_queue: Arc::new(Denied("job queue (SQS)")),
            graph: crate::graph::GraphClient::new(settings.graph.clone()),
            location: location(&settings),
        };
        Ok(Self {
            sdk,
            settings,
            ports,
        })
    }

    /// Tenant data keys through KMS.
    pub fn kms(mut self) -> Self {
        self.ports.vault = Arc::new(KmsKeyVault::new(self.sdk.kms(), &self.settings.kms_key_id));
        self
    }

    /// Blobs (media, imports, exports) in S3.
    pub fn s3(mut self) -> Self {
        self.ports.blobs = Arc::new(S3BlobStore::new(self.sdk.s3(), &self.settings.bucket));
        self
    }

    /// The send and job queues on SQS.
    pub fn sqs(mut self) -> Self {
        let sqs = self.sdk.sqs();
        self.ports.send_queue = Arc::new(SqsQueue::new(sqs.clone(), &self.settings.send_queue_url));
        self.ports.job_queue = Arc::new(SqsQueue::new(sqs, &self.settings.job_queue_url));
        self
    }

    /// The app on these ports, with the plans and the privacy policy from the environment.
    pub fn app(self) -> Result<crate::services::App, AppConfigError> {
        let billing = crate::domain::BillingConfig::from_env().map_err(AppConfigError::Plans)?;
        Ok(crate::services::App::new(self.ports)
            .with_billing(billing)
            .with_policy(crate::services::privacy::policy::PolicyConfig::from_env()))
    }
}
