//! The SDK's configuration from the environment a Lambda gives its function, without
//! `aws-config`: its default chain (profiles, SSO, STS web identity, instance and container
//! metadata) is code no function of ours runs — a Lambda's credentials are its `AWS_*`
//! variables — and most of a megabyte in every binary. Retries, timeouts and the rest keep
//! the SDK's defaults for the behavior version.

use aws_credential_types::credential_fn::provide_credentials_fn;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::HttpClient;
use aws_types::region::Region;
use aws_types::SdkConfig;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Region from `AWS_REGION` (set by Lambda) or `AWS_DEFAULT_REGION`; credentials from
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, read when a request
/// needs them.
pub(super) fn from_env(http: impl HttpClient + 'static) -> SdkConfig {
    let credentials = provide_credentials_fn(|| async {
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Credentials::new(
                id,
                secret,
                var("AWS_SESSION_TOKEN"),
                None,
                "environment",
            )),
            _ => Err(CredentialsError::not_loaded(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
            )),
        }
    });
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .region(
            var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .build()
}

/// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`: tests point DynamoDB at DynamoDB
/// Local and the rest at moto; unset on AWS.
pub(super) fn endpoint(service: &str) -> Option<String> {
    var(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| var("AWS_ENDPOINT_URL"))
}
