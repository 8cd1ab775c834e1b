//! AWS adapters: DynamoDB items, SQS queues, KMS key vault, S3 blobs, all through the AWS SDK.
//! Region and credentials come from the `AWS_*` variables a Lambda's role gives it
//! ([`config`]); tests point `AWS_ENDPOINT_URL*` at DynamoDB Local and moto.

mod config;
mod dynamodb;
mod kms;
mod requests;
mod s3;
mod sqs;

use std::sync::Arc;

pub use dynamodb::DynamoItemStore;
pub use kms::KmsKeyVault;
pub use requests::{OperationCount, RequestCounter};
pub use s3::S3BlobStore;
pub use sqs::SqsQueue;

use aws_sdk_dynamodb::error::SdkError;

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

/// SDK clients built once per process (a Lambda's cold start) and shared; every request they
/// send is tallied in `requests`.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub requests: RequestCounter,
}

impl AwsClients {
    pub async fn from_env(s3_path_style: bool) -> Self {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = config::from_env(https);
        let requests = RequestCounter::default();
        let mut dynamodb =
            aws_sdk_dynamodb::config::Builder::from(&config).interceptor(requests.clone());
        dynamodb.set_endpoint_url(config::endpoint("DYNAMODB"));
        let mut kms = aws_sdk_kms::config::Builder::from(&config).interceptor(requests.clone());
        kms.set_endpoint_url(config::endpoint("KMS"));
        let mut s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(s3_path_style)
            .interceptor(requests.clone());
        s3.set_endpoint_url(config::endpoint("S3"));
        let mut sqs = aws_sdk_sqs::config::Builder::from(&config).interceptor(requests.clone());
        sqs.set_endpoint_url(config::endpoint("SQS"));
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            requests,
        }
    }
}

pub fn ports(clients: &AwsClients, settings: &AwsSettings) -> Result<Ports, MissingSetting> {
    let graph = crate::graph::GraphClient::new(settings.graph.clone())
        .map_err(|_| MissingSetting("WHATATALK_GRAPH_URL"))?;
    Ok(Ports {
        items: Arc::new(DynamoItemStore::new(
            clients.dynamodb.clone(),
            &settings.table,
        )),
        vault: Arc::new(KmsKeyVault::new(clients.kms.clone(), &settings.kms_key_id)),
        blobs: Arc::new(S3BlobStore::new(clients.s3.clone(), &settings.bucket)),
        send_queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &settings.send_queue_url)),
        job_queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &settings.job_queue_url)),
        graph,
        location: crate::services::privacy::inventory::StorageLocation {
            kind: "aws".into(),
            table: settings.table.clone(),
            bucket: settings.bucket.clone(),
            region: std::env::var("AWS_REGION").ok(),
        },
    })
}

/// The ports of a Lambda function: settings from the environment, clients from the SDK chain.
pub async fn ports_from_env() -> Result<Ports, MissingSetting> {
    let settings = AwsSettings::from_env()?;
    let clients = AwsClients::from_env(settings.s3_path_style).await;
    ports(&clients, &settings)
}

#[derive(Debug, thiserror::Error)]
pub enum AppConfigError {
    #[error(transparent)]
    Missing(#[from] MissingSetting),
    #[error("WHATATALK_PLANS: {0}")]
    Plans(crate::domain::Invalid),
}

/// A Lambda function's [`App`](crate::services::App): its ports and the plans, both from the
/// environment.
pub async fn app_from_env() -> Result<crate::services::App, AppConfigError> {
    let billing = crate::domain::BillingConfig::from_env().map_err(AppConfigError::Plans)?;
    Ok(crate::services::App::new(ports_from_env().await?)
        .with_billing(billing)
        .with_policy(crate::services::privacy::policy::PolicyConfig::from_env()))
}
