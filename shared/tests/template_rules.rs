//! Rules template.yaml holds that its linters do not know: what each role may reach of the
//! bucket and the keys, and that alarms can be delivered.

mod support;

use serde_yaml::Value as Yaml;
use support::{template, untagged};

/// Every policy statement of every function, with the function's name.
fn statements(t: &Yaml) -> Vec<(String, Yaml)> {
    let mut out = Vec::new();
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        let Some(policies) = resource["Properties"]["Policies"].as_sequence() else {
            continue;
        };
        for p in policies {
            for s in p["Statement"].as_sequence().into_iter().flatten() {
                out.push((name.as_str().unwrap().to_owned(), s.clone()));
            }
        }
    }
    out
}

fn resources(statement: &Yaml) -> Vec<String> {
    match untagged(&statement["Resource"]) {
        Yaml::Sequence(r) => r
            .iter()
            .filter_map(|r| untagged(r).as_str().map(str::to_owned))
            .collect(),
        one => one.as_str().map(str::to_owned).into_iter().collect(),
    }
}

#[test]
fn a_tenant_key_condition_is_never_met_by_a_call_without_context() {
    let t = template();
    let mut seen = 0;
    for (function, s) in statements(&t) {
        let condition = &s["Condition"];
        if condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"].is_null() {
            continue;
        }
        seen += 1;
        assert_eq!(
            condition["Null"]["kms:EncryptionContextKeys"].as_str(),
            Some("false"),
            "{function}: ForAllValues holds of an empty context; add the Null condition"
        );
    }
    assert!(seen >= 4, "the tenant key statements were not found");
}

#[test]
fn no_function_writes_the_whole_bucket() {
    let t = template();
    for (function, s) in statements(&t) {
        for r in resources(&s) {
            assert!(
                !r.ends_with("${Bucket.Arn}/*"),
                "{function} ({:?}) reaches every prefix of the bucket",
                s["Sid"]
            );
        }
    }
}

#[test]
fn alarms_go_to_a_topic_cloudwatch_can_publish_to() {
    let t = template();
    let topic = &t["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"];
    assert_ne!(
        untagged(topic).as_str(),
        Some("alias/aws/sns"),
        "CloudWatch cannot use the AWS-managed SNS key"
    );
    let key = untagged(topic).as_str().unwrap();
    let policy = &t["Resources"][key]["Properties"]["KeyPolicy"]["Statement"];
    assert!(
        policy.as_sequence().unwrap().iter().any(|s| {
            s["Principal"]["Service"].as_str() == Some("cloudwatch.amazonaws.com")
                && s["Action"]
                    .as_sequence()
                    .is_some_and(|a| a.iter().any(|a| a.as_str() == Some("kms:Decrypt")))
        }),
        "the topic's key lets CloudWatch use it"
    );
}

#[test]
fn the_receipt_names_the_backup_window_the_table_has() {
    let t = template();
    let pitr = &t["Resources"]["Table"]["Properties"]["PointInTimeRecoverySpecification"];
    assert_eq!(
        pitr["RecoveryPeriodInDays"].as_i64(),
        Some(shared::domain::closure::BACKUP_DAYS)
    );
}

#[test]
fn every_function_has_its_own_reserved_concurrency() {
    let t = template();
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &resource["Properties"];
        let reserved = props["ReservedConcurrentExecutions"]
            .as_i64()
            .unwrap_or_else(|| panic!("{name:?} has no reserved concurrency"));
        // An SQS source may not run more pollers than the function may have.
        for event in props["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.values())
        {
            if let Some(max) = event["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_i64() {
                assert!(
                    reserved >= max,
                    "{name:?}: {reserved} reserved < {max} pollers"
                );
            }
        }
    }
}
