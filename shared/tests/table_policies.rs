//! Each function's table client refuses what its role in template.yaml does not grant: the
//! lists in `adapters::aws::table_policy` equal the template's, and a refused request never
//! leaves the process (DynamoDB Local checks no IAM, so this is where a missing grant shows).
#![cfg(feature = "aws")]

mod support;

use std::collections::BTreeSet;

use serde_yaml::Value as Yaml;
use shared::adapters::aws::{table_policy, DynamoItemStore, Sdk};
use shared::ports::{Item, ItemStore, Key, Query, StoreError, Value, Write};
use support::{template, untagged};

/// The `TableItems` statement of a function's policies: its actions and its resources.
fn table_statement(template: &Yaml, function: &str) -> (BTreeSet<String>, Vec<String>) {
    let policies = template["Resources"][function]["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{function} has no policies"));
    let statement = policies
        .iter()
        .filter_map(|p| p["Statement"].as_sequence())
        .flatten()
        .find(|s| s["Sid"].as_str() == Some("TableItems"))
        .unwrap_or_else(|| panic!("{function} has no TableItems statement"));
    let actions = statement["Action"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .trim_start_matches("dynamodb:")
                .to_owned()
        })
        .collect();
    let resources = match untagged(&statement["Resource"]) {
        Yaml::Sequence(r) => r.iter().map(untagged).collect::<Vec<_>>(),
        one => vec![one],
    };
    let resources = resources
        .into_iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    (actions, resources)
}

#[test]
fn every_policy_equals_the_templates() {
    let template = template();
    let functions: BTreeSet<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, _)| name.as_str().unwrap())
        .collect();
    let ours: BTreeSet<&str> = table_policy::ALL.iter().map(|p| p.function).collect();
    assert_eq!(ours, functions, "one policy per function of the template");
    for policy in table_policy::ALL {
        let (actions, resources) = table_statement(&template, policy.function);
        let granted: BTreeSet<String> = policy.actions.iter().map(|a| a.to_string()).collect();
        assert_eq!(granted, actions, "{}'s table actions", policy.function);
        let indexes: BTreeSet<String> = resources
            .iter()
            .filter_map(|r| r.split("/index/").nth(1))
            .map(str::to_owned)
            .collect();
        let granted: BTreeSet<String> = policy.indexes.iter().map(|i| i.to_string()).collect();
        assert_eq!(granted, indexes, "{}'s indexes", policy.function);
    }
}

fn item(pk: &str) -> Item {
    Item::new(Key::new(pk, "A")).with("v", Value::S("x".into()))
}

fn requests(sdk: &Sdk) -> u64 {
    sdk.requests.snapshot().values().map(|c| c.requests).sum()
}

fn refused(result: Result<impl std::fmt::Debug, StoreError>, function: &str, what: &str) {
    match result {
        Err(StoreError::Unavailable(text)) => assert!(
            text.contains("AccessDenied") && text.contains(function) && text.contains(what),
            "{text}"
        ),
        other => panic!("{function} should be refused {what}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_role_does_not_grant_is_never_sent() {
    let clients = support::aws::clients().await;
    let table = support::aws::unique("policy");
    DynamoItemStore::create_table(&clients.dynamodb, &table)
        .await
        .unwrap();
    let sdk = Sdk::from_env(true);
    let billing = DynamoItemStore::new(sdk.dynamodb_within(table_policy::BILLING), &table);
    let sender = DynamoItemStore::new(sdk.dynamodb_within(table_policy::SENDER), &table);

    // What the role grants goes through.
    billing.put(item("P#1"), None).await.unwrap();
    assert!(billing.get(&Key::new("P#1", "A")).await.unwrap().is_some());
    billing
        .transact(vec![Write::put(item("P#2")), Write::put(item("P#3"))])
        .await
        .unwrap();
    sender.query(Query::partition("P#1")).await.unwrap();
    let sent = requests(&sdk);

    refused(
        billing.query(Query::partition("P#1")).await,
        "BillingFunction",
        "dynamodb:Query",
    );
    refused(
        billing.delete(&Key::new("P#1", "A"), None).await,
        "BillingFunction",
        "dynamodb:DeleteItem",
    );
    // A transaction needs each of its items' actions.
    refused(
        billing
            .transact(vec![
                Write::put(item("P#4")),
                Write::Delete {
                    key: Key::new("P#1", "A"),
                    condition: None,
                },
            ])
            .await,
        "BillingFunction",
        "dynamodb:DeleteItem",
    );
    refused(
        sender.query(Query::gsi1("THREAD#x")).await,
        "SenderFunction",
        "index gsi1",
    );
    assert_eq!(requests(&sdk), sent, "a refused request is not sent");
    assert!(
        clients
            .dynamodb
            .get_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("P#4".into())
            )
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("A".into()))
            .send()
            .await
            .unwrap()
            .item()
            .is_none(),
        "nothing of a refused transaction was written"
    );
}
