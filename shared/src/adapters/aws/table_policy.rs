//! What each function's role in template.yaml lets it do on the table, enforced in the process
//! before a request leaves it. DynamoDB Local checks no IAM, so without this a call the role
//! does not grant passes every test and fails only once deployed (it happened twice: the
//! sender could not read and remove the statuses that overtook a message, the retention run
//! could not batch-read the accounts it lists). `shared/tests/table_policies.rs` holds these
//! lists equal to template.yaml.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The table actions (`dynamodb:` dropped) and indexes one role grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TablePolicy {
    /// The function's logical id in template.yaml.
    pub function: &'static str,
    pub actions: &'static [&'static str],
    /// Indexes the role may query (`{table}/index/{name}` resources).
    pub indexes: &'static [&'static str],
}

const ALL_ITEM_ACTIONS: &[&str] = &[
    "GetItem",
    "BatchGetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "ConditionCheckItem",
];

pub const API: TablePolicy = TablePolicy {
    function: "ApiFunction",
    actions: ALL_ITEM_ACTIONS,
    indexes: &["gsi1"],
};

pub const JOBS: TablePolicy = TablePolicy {
    function: "JobsFunction",
    actions: ALL_ITEM_ACTIONS,
    indexes: &["gsi1"],
};

pub const WEBHOOK: TablePolicy = TablePolicy {
    function: "WebhookFunction",
    actions: ALL_ITEM_ACTIONS,
    indexes: &["gsi1"],
};

pub const SENDER: TablePolicy = TablePolicy {
    function: "SenderFunction",
    actions: ALL_ITEM_ACTIONS,
    indexes: &[],
};

pub const BILLING: TablePolicy = TablePolicy {
    function: "BillingFunction",
    actions: &["GetItem", "PutItem", "ConditionCheckItem"],
    indexes: &[],
};

pub const RETENTION: TablePolicy = TablePolicy {
    function: "RetentionFunction",
    actions: &[
        "GetItem",
        "BatchGetItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
    ],
    indexes: &["gsi1"],
};

/// Every function's policy.
pub const ALL: [TablePolicy; 6] = [API, JOBS, WEBHOOK, SENDER, BILLING, RETENTION];

impl TablePolicy {
    /// Why the role would refuse this request, if it would: the actions it needs (a
    /// transaction needs each of its items' own action) and the index it reads.
    fn refusal(
        &self,
        operation: &str,
        input: &aws_smithy_runtime_api::client::interceptors::context::Input,
    ) -> Option<String> {
        let mut needed: Vec<&str> = Vec::new();
        let mut index = None;
        if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in t.transact_items() {
                needed.push(if item.put().is_some() {
                    "PutItem"
                } else if item.update().is_some() {
                    "UpdateItem"
                } else if item.delete().is_some() {
                    "DeleteItem"
                } else {
                    "ConditionCheckItem"
                });
            }
        } else {
            needed.push(operation);
            index = input
                .downcast_ref::<QueryInput>()
                .and_then(|q| q.index_name());
        }
        if let Some(missing) = needed.iter().find(|a| !self.actions.contains(a)) {
            return Some(format!(
                "AccessDenied: {}'s role in template.yaml does not grant dynamodb:{missing}",
                self.function
            ));
        }
        match index {
            Some(i) if !self.indexes.contains(&i) => Some(format!(
                "AccessDenied: {}'s role in template.yaml does not grant the index {i}",
                self.function
            )),
            _ => None,
        }
    }
}

impl Intercept for TablePolicy {
    fn name(&self) -> &'static str {
        "TablePolicy"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        match self.refusal(meta.name(), context.input()) {
            Some(why) => Err(why.into()),
            None => Ok(()),
        }
    }
}
