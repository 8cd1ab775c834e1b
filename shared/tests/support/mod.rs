//! Backends for the contract suites: each constructor gives a fresh, isolated instance.
//! The AWS ones need `infra/test.sh` (or the same `AWS_ENDPOINT_URL*` variables) to point the
//! SDK at DynamoDB Local and moto on 127.0.0.1.
#![allow(dead_code)]

/// template.yaml, parsed (CloudFormation's tags kept as YAML tags).
pub fn template() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A YAML value without its CloudFormation tag (`!GetAtt`, `!Sub`).
pub fn untagged(v: &serde_yaml::Value) -> &serde_yaml::Value {
    match v {
        serde_yaml::Value::Tagged(t) => &t.value,
        v => v,
    }
}

#[cfg(feature = "aws")]
pub mod aws {
    use shared::adapters::aws::AwsClients;

    /// Clients for the emulators; fails loudly when the test stack is not running.
    pub async fn clients() -> AwsClients {
        for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"] {
            assert!(
                std::env::var(var).is_ok_and(|v| v.starts_with("http://127.0.0.1")),
                "{var} must point at a local emulator: run the tests through infra/test.sh"
            );
        }
        AwsClients::from_env(true)
    }

    /// A name no other test uses (tests run in parallel against one emulator).
    pub fn unique(prefix: &str) -> String {
        format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
    }
}

/// Every case of a contract suite, listed once and run on both backends:
/// `contract!(local_backend, aws_backend => case, …)` makes a test module per backend, the AWS
/// one under the `aws` feature. A case that a backend cannot show says so inside the case.
#[macro_export]
macro_rules! contract {
    ($local:ident, $aws:ident => $($case:ident),+ $(,)?) => {
        $crate::contract!(@backend $local => $($case),+);
        #[cfg(feature = "aws")]
        $crate::contract!(@backend $aws => $($case),+);
    };
    (@backend $backend:ident => $($case:ident),+) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::$backend().await).await
                }
            )+
        }
    };
}
