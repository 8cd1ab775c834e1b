use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ReturnConsumedCapacity, ReturnValue, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update as DdbUpdate,
};
use aws_sdk_dynamodb::Client;

use crate::ports::item_store::{check_batch_get, check_transaction, now_epoch};
use crate::ports::{
    Change, Condition, Cursor, Index, Item, ItemStore, Key, Page, Query, SortCondition, StoreError,
    Update, Value, Write,
};

pub const GSI1: &str = "gsi1";

/// The item store on DynamoDB. Table layout (also in template.yaml): string keys `pk`/`sk`,
/// GSI `gsi1` on `gsi1pk`/`gsi1sk` projecting the keys and `ttl`, TTL attribute `ttl`.
#[derive(Clone)]
pub struct DynamoItemStore {
    client: Client,
    table: String,
}

impl DynamoItemStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table as template.yaml declares it; for tests and local AWS emulators.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(invalid)
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(invalid)
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GSI1)
                    .key_schema(key("gsi1pk", KeyType::Hash)?)
                    .key_schema(key("gsi1sk", KeyType::Range)?)
                    // Keys and `ttl` only: an update of any other attribute (every status
                    // of a message) then writes the table alone, not the index too.
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .non_key_attributes("ttl")
                            .build(),
                    )
                    .build()
                    .map_err(invalid)?,
            )
            .send()
            .await
            .map_err(classify)?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .map_err(invalid)?,
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

/// Maps an SDK error to the port's error by its code, so callers never see AWS types.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    let (code, text) = super::describe(&err);
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::ConditionFailed { index: None },
        "TransactionConflictException" => StoreError::Conflict,
        "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "ThrottlingException" => StoreError::Throttled,
        "ValidationException" => StoreError::Invalid(text),
        _ => StoreError::Unavailable(text),
    }
}

fn to_av(v: &Value) -> AttributeValue {
    match v {
        Value::S(s) => AttributeValue::S(s.clone()),
        Value::N(n) => AttributeValue::N(n.to_string()),
        Value::B(b) => AttributeValue::B(aws_smithy_types::Blob::new(b.clone())),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::L(l) => AttributeValue::L(l.iter().map(to_av).collect()),
        Value::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()),
        Value::Null => AttributeValue::Null(true),
    }
}

fn from_av(av: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match av {
        AttributeValue::S(s) => Value::S(s.clone()),
        AttributeValue::N(n) => Value::N(
            n.parse()
                .map_err(|_| StoreError::Corrupt(format!("number {n} is not an integer")))?,
        ),
        AttributeValue::B(b) => Value::B(b.as_ref().to_vec()),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(l) => Value::L(l.iter().map(from_av).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => Value::M(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), from_av(v)?)))
                .collect::<Result<_, StoreError>>()?,
        ),
        AttributeValue::Null(_) => Value::Null,
        other => {
            return Err(StoreError::Corrupt(format!(
                "unsupported attribute {other:?}"
            )))
        }
    })
}

type Av = HashMap<String, AttributeValue>;

fn key_av(key: &Key) -> Av {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_av(item: &Item) -> Av {
    let mut m = key_av(&item.key);
    if let Some(g) = &item.gsi1 {
        m.insert("gsi1pk".into(), AttributeValue::S(g.pk.clone()));
        m.insert("gsi1sk".into(), AttributeValue::S(g.sk.clone()));
    }
    if let Some(t) = item.expires_at {
        m.insert("ttl".into(), AttributeValue::N(t.to_string()));
    }
    for (k, v) in &item.attrs {
        m.insert(k.clone(), to_av(v));
    }
    m
}

fn string_attr(m: &Av, name: &str) -> Result<String, StoreError> {
    match m.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Corrupt(format!("item without string `{name}`"))),
    }
}

fn item_from_av(m: &Av) -> Result<Item, StoreError> {
    let key = Key::new(string_attr(m, "pk")?, string_attr(m, "sk")?);
    let gsi1 = match (m.get("gsi1pk"), m.get("gsi1sk")) {
        (Some(AttributeValue::S(p)), Some(AttributeValue::S(s))) => Some(Key::new(p, s)),
        _ => None,
    };
    let expires_at = match m.get("ttl") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    };
    let mut attrs = crate::ports::Attrs::new();
    for (k, v) in m {
        if !crate::ports::item_store::is_reserved(k) {
            attrs.insert(k.clone(), from_av(v)?);
        }
    }
    Ok(Item {
        key,
        gsi1,
        expires_at,
        attrs,
    })
}

fn cursor_from_av(m: &Av, index: Index) -> Result<Cursor, StoreError> {
    let last = Key::new(string_attr(m, "pk")?, string_attr(m, "sk")?);
    let last_gsi1 = match index {
        Index::Table => None,
        Index::Gsi1 => Some(Key::new(
            string_attr(m, "gsi1pk")?,
            string_attr(m, "gsi1sk")?,
        )),
    };
    Ok(Cursor { last, last_gsi1 })
}

fn cursor_av(c: &Cursor) -> Av {
    let mut m = key_av(&c.last);
    if let Some(g) = &c.last_gsi1 {
        m.insert("gsi1pk".into(), AttributeValue::S(g.pk.clone()));
        m.insert("gsi1sk".into(), AttributeValue::S(g.sk.clone()));
    }
    m
}

/// Builds DynamoDB expressions with placeholders for every name and value.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, n: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        // Reuse the placeholder of a name seen before.
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == n) {
            return k.clone();
        }
        self.names.insert(placeholder.clone(), n.to_owned());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn now(&mut self, now: i64) -> String {
        self.value(AttributeValue::N(now.to_string()))
    }

    /// True when the stored item exists and has not expired.
    fn live(&mut self, now: i64) -> String {
        let pk = self.name("pk");
        let ttl = self.name("ttl");
        let now = self.now(now);
        format!("(attribute_exists({pk}) AND (attribute_not_exists({ttl}) OR {ttl} > {now}))")
    }

    fn condition(&mut self, c: &Condition, now: i64) -> String {
        match c {
            Condition::NotExists => {
                let pk = self.name("pk");
                let ttl = self.name("ttl");
                let now = self.now(now);
                format!("(attribute_not_exists({pk}) OR {ttl} <= {now})")
            }
            Condition::Exists => self.live(now),
            Condition::Equals(n, v) => {
                let live = self.live(now);
                let (n, v) = (self.name(n), self.value(to_av(v)));
                format!("({live} AND {n} = {v})")
            }
            Condition::LessThan(n, v) => {
                let live = self.live(now);
                let (n, v) = (self.name(n), self.value(to_av(v)));
                format!("({live} AND {n} < {v})")
            }
            Condition::AttributeNotExists(n) => {
                let live = self.live(now);
                let n = self.name(n);
                format!("({live} AND attribute_not_exists({n}))")
            }
            Condition::Contains(n, v) => {
                let live = self.live(now);
                let (n, v) = (self.name(n), self.value(to_av(v)));
                format!("({live} AND contains({n}, {v}))")
            }
            Condition::And(cs) | Condition::Or(cs) if cs.is_empty() => {
                // An empty AND holds, an empty OR does not; DynamoDB has no literal for either.
                let pk = self.name("pk");
                if matches!(c, Condition::And(_)) {
                    format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
                } else {
                    format!("(attribute_exists({pk}) AND attribute_not_exists({pk}))")
                }
            }
            Condition::And(cs) => self.join(cs, " AND ", now),
            Condition::Or(cs) => self.join(cs, " OR ", now),
        }
    }

    /// The same condition as a FilterExpression, which may not name key attributes: the item
    /// exists (it was read) and is live (the query's own filter says so).
    fn filter(&mut self, c: &Condition) -> String {
        let ttl = self.name("ttl");
        let always = format!("(attribute_exists({ttl}) OR attribute_not_exists({ttl}))");
        let never = format!("(attribute_exists({ttl}) AND attribute_not_exists({ttl}))");
        match c {
            Condition::Exists => always,
            Condition::NotExists => never,
            Condition::Equals(n, v) => {
                let (n, v) = (self.name(n), self.value(to_av(v)));
                format!("{n} = {v}")
            }
            Condition::LessThan(n, v) => {
                let (n, v) = (self.name(n), self.value(to_av(v)));
                format!("{n} < {v}")
            }
            Condition::AttributeNotExists(n) => format!("attribute_not_exists({})", self.name(n)),
            Condition::Contains(n, v) => {
                let (n, v) = (self.name(n), self.value(to_av(v)));
                format!("contains({n}, {v})")
            }
            Condition::And(cs) if cs.is_empty() => always,
            Condition::Or(cs) if cs.is_empty() => never,
            Condition::And(cs) | Condition::Or(cs) if cs.len() == 1 => self.filter(&cs[0]),
            Condition::And(cs) | Condition::Or(cs) => {
                let op = if matches!(c, Condition::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = cs.iter().map(|c| self.filter(c)).collect();
                format!("({})", parts.join(op))
            }
        }
    }

    fn join(&mut self, cs: &[Condition], op: &str, now: i64) -> String {
        // DynamoDB refuses redundant parentheses: one condition stands as it is.
        if let [only] = cs {
            return self.condition(only, now);
        }
        let parts: Vec<String> = cs.iter().map(|c| self.condition(c, now)).collect();
        format!("({})", parts.join(op))
    }

    fn update(&mut self, u: &Update) -> String {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        for change in &u.changes {
            match change {
                Change::Set(n, v) => {
                    let (n, v) = (self.name(n), self.value(to_av(v)));
                    set.push(format!("{n} = {v}"));
                }
                Change::Add(n, by) => {
                    let n = self.name(n);
                    let zero = self.value(AttributeValue::N("0".into()));
                    let by = self.value(AttributeValue::N(by.to_string()));
                    set.push(format!("{n} = if_not_exists({n}, {zero}) + {by}"));
                }
                Change::Append(n, v) => {
                    let n = self.name(n);
                    let empty = self.value(AttributeValue::L(Vec::new()));
                    let v = self.value(AttributeValue::L(vec![to_av(v)]));
                    set.push(format!(
                        "{n} = list_append(if_not_exists({n}, {empty}), {v})"
                    ));
                }
                Change::Remove(n) => remove.push(self.name(n)),
                Change::Expire(Some(t)) => {
                    let (n, v) = (
                        self.name("ttl"),
                        self.value(AttributeValue::N(t.to_string())),
                    );
                    set.push(format!("{n} = {v}"));
                }
                Change::Expire(None) => remove.push(self.name("ttl")),
                Change::Index(Some(k)) => {
                    for (n, v) in [("gsi1pk", &k.pk), ("gsi1sk", &k.sk)] {
                        let (n, v) = (self.name(n), self.value(AttributeValue::S(v.clone())));
                        set.push(format!("{n} = {v}"));
                    }
                }
                Change::Index(None) => {
                    remove.push(self.name("gsi1pk"));
                    remove.push(self.name("gsi1sk"));
                }
            }
        }
        let mut out = String::new();
        if !set.is_empty() {
            out += &format!("SET {}", set.join(", "));
        }
        if !remove.is_empty() {
            out += &format!(" REMOVE {}", remove.join(", "));
        }
        out
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn live_or_none(item: Option<Item>, now: i64) -> Option<Item> {
    item.filter(|i| i.is_live(now))
}

#[async_trait]
impl ItemStore for DynamoItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_av(key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        let item = out.item().map(item_from_av).transpose()?;
        Ok(live_or_none(item, now_epoch()))
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        item.check()?;
        let mut expr = Expr::default();
        let cond = condition.map(|c| expr.condition(&c, now_epoch()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_av(&item)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        update.check()?;
        let mut expr = Expr::default();
        let set = expr.update(&update);
        let cond = update
            .condition
            .as_ref()
            .map(|c| expr.condition(c, now_epoch()));
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_av(&update.key)))
            .update_expression(set)
            .set_condition_expression(cond)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        out.attributes()
            .map(item_from_av)
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt("update returned nothing".into()))
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let now = now_epoch();
        let mut expr = Expr::default();
        let cond = condition.map(|c| expr.condition(&c, now));
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_av(key)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        let old = out.attributes().map(item_from_av).transpose()?;
        Ok(live_or_none(old, now))
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        query.check()?;
        if let Some(c) = &query.cursor {
            c.check_for(&query)?;
        }
        let now = query.live_after(now_epoch());
        let mut expr = Expr::default();
        let (pname, sname) = match query.index {
            Index::Table => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        };
        let p = expr.name(pname);
        let pv = expr.value(AttributeValue::S(query.partition.clone()));
        let mut key_cond = format!("{p} = {pv}");
        if query.sort != SortCondition::Any {
            let s = expr.name(sname);
            let mut sv = |v: &str| expr.value(AttributeValue::S(v.to_owned()));
            key_cond += &match &query.sort {
                SortCondition::Any => String::new(),
                SortCondition::BeginsWith(x) => format!(" AND begins_with({s}, {})", sv(x)),
                SortCondition::Between(a, b) => {
                    let (a, b) = (sv(a), sv(b));
                    format!(" AND {s} BETWEEN {a} AND {b}")
                }
                SortCondition::GreaterThan(a) => format!(" AND {s} > {}", sv(a)),
                SortCondition::LessThan(b) => format!(" AND {s} < {}", sv(b)),
            };
        }
        let ttl = expr.name("ttl");
        let nowv = expr.now(now);
        let mut filter = format!("(attribute_not_exists({ttl}) OR {ttl} > {nowv})");
        // GSI1 holds the keys and `ttl` only (see `create_table`): a filter on other
        // attributes is applied once the items are fetched.
        if let (Some(f), Index::Table) = (&query.filter, query.index) {
            filter = format!("{filter} AND {}", expr.filter(f));
        }
        let projection = query.keys_only.then(|| {
            ["pk", "sk", "gsi1pk", "gsi1sk", "ttl"]
                .map(|n| expr.name(n))
                .join(", ")
        });
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .set_projection_expression(projection)
            .key_condition_expression(key_cond)
            .filter_expression(filter)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .scan_index_forward(query.forward)
            .limit(query.limit as i32)
            .set_exclusive_start_key(query.cursor.as_ref().map(cursor_av));
        req = match query.index {
            Index::Table => req.consistent_read(true),
            Index::Gsi1 => req.index_name(GSI1),
        };

        let out = req
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        let mut items = out
            .items()
            .iter()
            .map(item_from_av)
            .collect::<Result<Vec<_>, _>>()?;
        if let (Index::Gsi1, false) = (query.index, query.keys_only) {
            let keys: Vec<Key> = items.iter().map(|i| i.key.clone()).collect();
            items = self
                .batch_get(&keys)
                .await?
                .into_iter()
                .flatten()
                .filter(|i| query.filter.as_ref().is_none_or(|f| f.holds(Some(i))))
                .collect();
        }
        let next = out
            .last_evaluated_key()
            .map(|k| cursor_from_av(k, query.index))
            .transpose()?;
        Ok(Page { items, next })
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        check_batch_get(keys)?;
        let now = now_epoch();
        let mut found: HashMap<Key, Item> = HashMap::new();
        // BatchGetItem takes 100 distinct keys per call.
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let mut pending: Vec<Av> = chunk.iter().map(|k| key_av(k)).collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(invalid)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(classify)?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let item = item_from_av(item)?;
                    if item.is_live(now) {
                        found.insert(item.key.clone(), item);
                    }
                }
                if let Some(rest) = out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    pending = rest.keys().to_vec();
                }
                if !pending.is_empty() {
                    // Throttled keys come back unprocessed: back off before asking again.
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Throttled);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6)))
                        .await;
                }
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_transaction(&writes, self.max_transaction_writes())?;
        // A transaction costs twice the write units of the same plain write: one write needs
        // none of its atomicity (most status updates and counters are single writes).
        let mut writes = writes;
        if writes.len() == 1 {
            if let Some(write) = writes.pop() {
                let result = match write {
                    Write::Put { item, condition } => self.put(item, condition).await,
                    Write::Update(u) => self.update(u).await.map(|_| ()),
                    Write::Delete { key, condition } => {
                        self.delete(&key, condition).await.map(|_| ())
                    }
                    check @ Write::Check { .. } => {
                        return self.transact_many(std::slice::from_ref(&check)).await
                    }
                };
                return result.map_err(|e| match e {
                    StoreError::ConditionFailed { .. } => {
                        StoreError::ConditionFailed { index: Some(0) }
                    }
                    other => other,
                });
            }
        }
        self.transact_many(&writes).await
    }
}

impl DynamoItemStore {
    async fn transact_many(&self, writes: &[Write]) -> Result<(), StoreError> {
        let now = now_epoch();
        let mut items = Vec::with_capacity(writes.len());
        for w in writes {
            let mut expr = Expr::default();
            let item = match w {
                Write::Put { item, condition } => {
                    let cond = condition.as_ref().map(|c| expr.condition(c, now));
                    TransactWriteItem::builder().put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item_av(item)))
                            .set_condition_expression(cond)
                            .set_expression_attribute_names(expr.names())
                            .set_expression_attribute_values(expr.values())
                            .build()
                            .map_err(invalid)?,
                    )
                }
                Write::Delete { key, condition } => {
                    let cond = condition.as_ref().map(|c| expr.condition(c, now));
                    TransactWriteItem::builder().delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(key_av(key)))
                            .set_condition_expression(cond)
                            .set_expression_attribute_names(expr.names())
                            .set_expression_attribute_values(expr.values())
                            .build()
                            .map_err(invalid)?,
                    )
                }
                Write::Update(u) => {
                    let set = expr.update(u);
                    let cond = u.condition.as_ref().map(|c| expr.condition(c, now));
                    TransactWriteItem::builder().update(
                        DdbUpdate::builder()
                            .table_name(&self.table)
                            .set_key(Some(key_av(&u.key)))
                            .update_expression(set)
                            .set_condition_expression(cond)
                            .set_expression_attribute_names(expr.names())
                            .set_expression_attribute_values(expr.values())
                            .build()
                            .map_err(invalid)?,
                    )
                }
                Write::Check { key, condition } => {
                    let cond = expr.condition(condition, now);
                    TransactWriteItem::builder().condition_check(
                        ConditionCheck::builder()
                            .table_name(&self.table)
                            .set_key(Some(key_av(key)))
                            .condition_expression(cond)
                            .set_expression_attribute_names(expr.names())
                            .set_expression_attribute_values(expr.values())
                            .build()
                            .map_err(invalid)?,
                    )
                }
            };
            items.push(item.build());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_transaction_canceled_exception() => {
                let reasons = match se.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => e.cancellation_reasons().to_vec(),
                    _ => Vec::new(),
                };
                let code = |c: &str| reasons.iter().position(|r| r.code() == Some(c));
                if let Some(index) = code("ConditionalCheckFailed") {
                    Err(StoreError::ConditionFailed { index: Some(index) })
                } else if code("TransactionConflict").is_some() {
                    Err(StoreError::Conflict)
                } else if code("ThrottlingError").is_some()
                    || code("ProvisionedThroughputExceeded").is_some()
                {
                    Err(StoreError::Throttled)
                } else {
                    Err(StoreError::Unavailable("transaction cancelled".into()))
                }
            }
            Err(e) => Err(classify(e)),
        }
    }
}
