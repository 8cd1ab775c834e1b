//! What this process asks of AWS, counted where the SDK sends it: requests by service and
//! operation (retries included, as AWS bills them) and, for DynamoDB, the capacity units
//! billed. One interceptor serves all four clients; the cost benchmark reads it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// One operation's tally.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OperationCount {
    pub requests: u64,
    /// DynamoDB only: capacity units as AWS bills them — what the table reported (the adapter
    /// asks for `ReturnConsumedCapacity::Total`), but never less than the request's minimum:
    /// 2 per item of a transaction, 1 per item written, ½ per read. DynamoDB Local reports a
    /// transaction by its total size, and a failed condition (billed too) reports nothing.
    pub capacity_units: f64,
}

/// Counts by (service, operation), e.g. ("DynamoDB", "PutItem"), and, once asked
/// ([`RequestCounter::name_items`]), DynamoDB's units by item kind and the items written in
/// transactions.
/// Clones share the tally.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<(String, String), OperationCount>>>,
    /// Off unless a benchmark asks: `transacted` grows with every item a transaction writes,
    /// which a long-lived function must not pay for.
    naming: Arc<AtomicBool>,
    transacted: Arc<Mutex<BTreeMap<ItemKey, Transacted>>>,
    by_kind: Arc<Mutex<BTreeMap<String, KindUnits>>>,
}

/// Capacity units spent on one kind of item (its sort key up to the first `#`, as
/// `storage` groups them), outside transactions: a batch's units are shared evenly by its
/// items, and a query's go to `(query)`, since its request names no item.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KindUnits {
    pub read: f64,
    pub write: f64,
}

/// An item's table keys: (pk, sk).
pub type ItemKey = (String, String);

/// What transactions did to one item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transacted {
    /// Times it was written (put, updated, deleted or checked).
    pub writes: u64,
    /// Writes of its copy in GSI1: one for a put that carries GSI1's keys, two for an update
    /// that sets them (the old entry's delete and the new one's put). An upper bound: an
    /// update that indexes an item for the first time writes one.
    pub index_writes: u64,
}

impl RequestCounter {
    pub fn snapshot(&self) -> BTreeMap<(String, String), OperationCount> {
        self.counts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// From now on, name the items of each request: see [`RequestCounter::transacted`] and
    /// [`RequestCounter::by_kind`].
    pub fn name_items(&self) {
        self.naming.store(true, Ordering::Relaxed);
    }

    /// DynamoDB's units outside transactions, by item kind, since [`RequestCounter::name_items`].
    pub fn by_kind(&self) -> BTreeMap<String, KindUnits> {
        self.by_kind.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// What transactions wrote, by item, since [`RequestCounter::name_items`]. DynamoDB Local's units for a transaction are not
    /// AWS's (it counts items of the same size once, and not their index writes), so a
    /// benchmark prices transactions from these and the items' sizes.
    pub fn transacted(&self) -> BTreeMap<ItemKey, Transacted> {
        self.transacted
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut m) = self.counts.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.transacted.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.by_kind.lock() {
            m.clear();
        }
    }

    fn add(&self, cfg: &ConfigBag, requests: u64, capacity_units: f64) {
        let Some(meta) = cfg.load::<Metadata>() else {
            return;
        };
        if let Ok(mut m) = self.counts.lock() {
            let e = m
                .entry((meta.service().to_owned(), meta.name().to_owned()))
                .or_default();
            e.requests += requests;
            e.capacity_units += capacity_units;
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or(&[]);
        let naming = self.naming.load(Ordering::Relaxed);
        let dynamodb = cfg
            .load::<Metadata>()
            .filter(|meta| meta.service() == "DynamoDB")
            .map(|meta| meta.name().to_owned());
        let floor = match dynamodb.as_deref() {
            Some(operation) => {
                if naming && operation == "TransactWriteItems" {
                    cfg.interceptor_state()
                        .store_put(TransactedKeys(transacted_keys(body)));
                } else if naming {
                    cfg.interceptor_state()
                        .store_put(RequestKinds(request_kinds(operation, body)));
                }
                minimum_units(operation, body)
            }
            None => 0.0,
        };
        cfg.interceptor_state().store_put(MinimumUnits(floor));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let body = response.and_then(|r| r.body().bytes()).unwrap_or(&[]);
        let reported = consumed_capacity(body);
        if response.is_some_and(|r| throttled(r.status().as_u16(), body)) {
            if let Some(meta) = cfg.load::<Metadata>() {
                crate::metrics::count(
                    "aws_throttles",
                    1,
                    &[("service", meta.service()), ("operation", meta.name())],
                );
            }
        }
        // Only attempts that reached the wire are requests.
        let Some(MinimumUnits(floor)) = cfg.load::<MinimumUnits>().copied() else {
            return Ok(());
        };
        let units = reported.max(floor);
        self.add(cfg, 1, units);
        cfg.interceptor_state().unset::<MinimumUnits>();
        if let Some(RequestKinds(kinds)) = cfg.load::<RequestKinds>().cloned() {
            if let Ok(mut m) = self.by_kind.lock() {
                let share = units / kinds.len().max(1) as f64;
                for (kind, write) in kinds {
                    let k = m.entry(kind).or_default();
                    *if write { &mut k.write } else { &mut k.read } += share;
                }
            }
            cfg.interceptor_state().unset::<RequestKinds>();
        }
        if let Some(TransactedKeys(keys)) = cfg.load::<TransactedKeys>().cloned() {
            if let Ok(mut m) = self.transacted.lock() {
                for (key, index_writes) in keys {
                    let t = m.entry(key).or_default();
                    t.writes += 1;
                    t.index_writes += index_writes;
                }
            }
            cfg.interceptor_state().unset::<TransactedKeys>();
        }
        Ok(())
    }
}

/// The least AWS bills for one DynamoDB request, kept between the hooks of one attempt.
#[derive(Clone, Copy, Debug)]
struct MinimumUnits(f64);

impl Storable for MinimumUnits {
    type Storer = StoreReplace<Self>;
}

/// The items of one transaction attempt, kept between its hooks.
#[derive(Clone, Debug)]
struct TransactedKeys(Vec<(ItemKey, u64)>);

impl Storable for TransactedKeys {
    type Storer = StoreReplace<Self>;
}

/// The kinds of the items one request (not a transaction) names, each with whether it is
/// written.
#[derive(Clone, Debug)]
struct RequestKinds(Vec<(String, bool)>);

impl Storable for RequestKinds {
    type Storer = StoreReplace<Self>;
}

/// An item's kind: its sort key up to the first `#` (`MESSAGE#…` is `MESSAGE`, `WAMID` is
/// itself).
fn kind_of(keys: &serde_json::Value) -> Option<String> {
    let sk = keys["sk"]["S"].as_str()?;
    Some(sk.split('#').next().unwrap_or(sk).to_owned())
}

/// The item kinds a single-item or batch request names, and whether it writes them.
fn request_kinds(operation: &str, body: &[u8]) -> Vec<(String, bool)> {
    let Ok(r) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let one = |field: &str, write: bool| kind_of(&r[field]).map(|k| vec![(k, write)]);
    let batches = || {
        r["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|t| t.values())
    };
    match operation {
        "GetItem" => one("Key", false),
        "PutItem" => one("Item", true),
        "UpdateItem" | "DeleteItem" => one("Key", true),
        "Query" | "Scan" => Some(vec![("(query)".to_owned(), false)]),
        "BatchGetItem" => Some(
            batches()
                .flat_map(|t| t["Keys"].as_array().into_iter().flatten())
                .filter_map(kind_of)
                .map(|k| (k, false))
                .collect(),
        ),
        "BatchWriteItem" => Some(
            batches()
                .flat_map(|t| t.as_array().into_iter().flatten())
                .filter_map(|w| {
                    kind_of(&w["PutRequest"]["Item"])
                        .or_else(|| kind_of(&w["DeleteRequest"]["Key"]))
                })
                .map(|k| (k, true))
                .collect(),
        ),
        _ => None,
    }
    .unwrap_or_default()
}

/// The (pk, sk) of each item a TransactWriteItems request names, with the GSI1 writes its
/// action makes (see [`Transacted::index_writes`]).
fn transacted_keys(body: &[u8]) -> Vec<(ItemKey, u64)> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Request {
        #[serde(rename = "TransactItems")]
        transact_items: Vec<BTreeMap<String, serde_json::Value>>,
    }
    let r: Request = serde_json::from_slice(body).unwrap_or_default();
    r.transact_items
        .iter()
        .flat_map(|action| action.iter())
        .filter_map(|(verb, a)| {
            let keys = a.get("Key").or_else(|| a.get("Item"))?;
            let s = |name: &str| keys[name]["S"].as_str().map(str::to_owned);
            let sets_index = || {
                a["ExpressionAttributeNames"]
                    .as_object()
                    .is_some_and(|names| names.values().any(|n| n == "gsi1sk"))
            };
            let index_writes = match verb.as_str() {
                "Put" if keys.get("gsi1pk").is_some() => 1,
                "Update" if sets_index() => 2,
                _ => 0,
            };
            Some(((s("pk")?, s("sk")?), index_writes))
        })
        .collect()
}

/// The least a DynamoDB request is billed, from its operation and its items (each item of
/// ours is under 1 KB, so a written item is one unit and a read one half).
fn minimum_units(operation: &str, body: &[u8]) -> f64 {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Request {
        #[serde(rename = "TransactItems")]
        transact_items: Vec<serde::de::IgnoredAny>,
        #[serde(rename = "RequestItems")]
        request_items: std::collections::HashMap<String, serde_json::Value>,
    }
    let items = || {
        let r: Request = serde_json::from_slice(body).unwrap_or_default();
        let batched: usize = r
            .request_items
            .values()
            .map(|v| match v {
                serde_json::Value::Array(writes) => writes.len(),
                other => other["Keys"].as_array().map_or(0, Vec::len),
            })
            .sum();
        (r.transact_items.len() + batched) as f64
    };
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => 1.0,
        "GetItem" | "Query" | "Scan" => 0.5,
        "TransactWriteItems" | "TransactGetItems" => 2.0 * items(),
        "BatchWriteItem" => items(),
        "BatchGetItem" => 0.5 * items(),
        _ => 0.0,
    }
}

/// Whether an answer says AWS throttled the request (the SDK retries it; operators want to know).
fn throttled(status: u16, body: &[u8]) -> bool {
    const SIGNS: [&[u8]; 5] = [
        b"Throttl",
        b"ProvisionedThroughputExceeded",
        b"RequestLimitExceeded",
        b"SlowDown",
        b"RequestThrottled",
    ];
    status == 503
        || (status >= 400
            && SIGNS
                .iter()
                .any(|sign| body.windows(sign.len()).any(|w| w == *sign)))
}

/// The `ConsumedCapacity` of a DynamoDB answer: one object, or a list for batches and
/// transactions. Other services' bodies have none and give 0.
fn consumed_capacity(body: &[u8]) -> f64 {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Consumed {
        One(Units),
        Many(Vec<Units>),
    }
    #[derive(serde::Deserialize)]
    struct Units {
        #[serde(rename = "CapacityUnits", default)]
        capacity_units: f64,
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "ConsumedCapacity")]
        consumed: Option<Consumed>,
    }
    // Only JSON answers can carry it; S3's XML and empty bodies are skipped cheaply.
    if body.first() != Some(&b'{') || !body.windows(16).any(|w| w == b"ConsumedCapacity") {
        return 0.0;
    }
    match serde_json::from_slice::<Answer>(body)
        .ok()
        .and_then(|a| a.consumed)
    {
        Some(Consumed::One(u)) => u.capacity_units,
        Some(Consumed::Many(us)) => us.iter().map(|u| u.capacity_units).sum(),
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::{consumed_capacity, minimum_units, request_kinds, throttled, transacted_keys};

    #[test]
    fn a_transactions_items_are_named_by_their_keys_with_their_index_writes() {
        let body = br##"{"TransactItems":[
            {"Put":{"TableName":"t","Item":{"pk":{"S":"A#1"},"sk":{"S":"MESSAGE#2"},"gsi1pk":{"S":"T#1"},"gsi1sk":{"S":"2"}}}},
            {"Update":{"TableName":"t","Key":{"pk":{"S":"A#1"},"sk":{"S":"BROADCAST#3"}}}},
            {"Update":{"TableName":"t","Key":{"pk":{"S":"A#1"},"sk":{"S":"CONVERSATION#5"}},
              "ExpressionAttributeNames":{"#n0":"gsi1pk","#n1":"gsi1sk"}}},
            {"ConditionCheck":{"TableName":"t","Key":{"pk":{"S":"A#1"},"sk":{"S":"X"}}}},
            {"Delete":{"TableName":"t","Key":{"pk":{"S":"W#4"},"sk":{"S":"W"}}}}]}"##;
        let named = [
            ("A#1", "MESSAGE#2", 1),
            ("A#1", "BROADCAST#3", 0),
            ("A#1", "CONVERSATION#5", 2),
            ("A#1", "X", 0),
            ("W#4", "W", 0),
        ]
        .map(|(p, s, index)| ((p.to_owned(), s.to_owned()), index));
        assert_eq!(transacted_keys(body), named);
        assert!(transacted_keys(b"not json").is_empty());
    }

    #[test]
    fn a_requests_items_are_named_by_their_kind() {
        let kinds = |op: &str, body: &[u8]| request_kinds(op, body);
        let key = br#"{"Key":{"pk":{"S":"A#1"},"sk":{"S":"MESSAGE#2"}}}"#;
        assert_eq!(kinds("UpdateItem", key), [("MESSAGE".to_owned(), true)]);
        assert_eq!(kinds("GetItem", key), [("MESSAGE".to_owned(), false)]);
        let put = br#"{"Item":{"pk":{"S":"WAMID#w"},"sk":{"S":"WAMID"}}}"#;
        assert_eq!(kinds("PutItem", put), [("WAMID".to_owned(), true)]);
        let get = br#"{"RequestItems":{"t":{"Keys":[
            {"pk":{"S":"A#1"},"sk":{"S":"MESSAGE#2"}},{"pk":{"S":"A#1"},"sk":{"S":"MESSAGECONTENT#2"}}]}}}"#;
        assert_eq!(
            kinds("BatchGetItem", get),
            [
                ("MESSAGE".to_owned(), false),
                ("MESSAGECONTENT".to_owned(), false)
            ]
        );
        let write =
            br#"{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"A"},"sk":{"S":"PAIR"}}}},
            {"DeleteRequest":{"Key":{"pk":{"S":"A"},"sk":{"S":"RATE"}}}}]}}"#;
        assert_eq!(
            kinds("BatchWriteItem", write),
            [("PAIR".to_owned(), true), ("RATE".to_owned(), true)]
        );
        assert_eq!(kinds("Query", b"{}"), [("(query)".to_owned(), false)]);
        assert!(kinds("GetItem", b"not json").is_empty());
    }

    #[test]
    fn throttling_answers_are_told_apart() {
        let ddb = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}"#;
        assert!(throttled(400, ddb));
        let cancelled = br#"{"__type":"TransactionCanceledException","CancellationReasons":[{"Code":"ThrottlingError"}]}"#;
        assert!(throttled(400, cancelled));
        assert!(throttled(503, b"<Error><Code>SlowDown</Code></Error>"));
        assert!(!throttled(
            400,
            br#"{"__type":"ConditionalCheckFailedException"}"#
        ));
        assert!(!throttled(200, br#"{"Item":{"v":{"S":"Throttled"}}}"#));
    }

    #[test]
    fn a_transaction_costs_two_units_per_item_and_a_batch_one() {
        let transact = br#"{"TransactItems":[{"Put":{}},{"Update":{}},{"ConditionCheck":{}}]}"#;
        assert_eq!(minimum_units("TransactWriteItems", transact), 6.0);
        let batch = br#"{"RequestItems":{"t":[{"PutRequest":{}},{"DeleteRequest":{}}]}}"#;
        assert_eq!(minimum_units("BatchWriteItem", batch), 2.0);
        let get = br#"{"RequestItems":{"t":{"Keys":[{},{},{},{}]}}}"#;
        assert_eq!(minimum_units("BatchGetItem", get), 2.0);
        assert_eq!(minimum_units("UpdateItem", b"{}"), 1.0);
        assert_eq!(minimum_units("Query", b"{}"), 0.5);
        assert_eq!(minimum_units("DescribeTable", b"{}"), 0.0);
    }

    #[test]
    fn reads_one_or_many_consumed_capacities() {
        assert_eq!(
            consumed_capacity(br#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":3.0}}"#),
            3.0
        );
        assert_eq!(
            consumed_capacity(
                br#"{"ConsumedCapacity":[{"TableName":"t","CapacityUnits":2.0},{"TableName":"u","CapacityUnits":0.5}]}"#
            ),
            2.5
        );
        assert_eq!(consumed_capacity(br#"{"Item":{}}"#), 0.0);
        assert_eq!(consumed_capacity(b"<xml/>"), 0.0);
        assert_eq!(consumed_capacity(b""), 0.0);
    }
}
