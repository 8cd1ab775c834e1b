//! What a table holds, sized as DynamoDB bills storage: each item's attribute names and values
//! by AWS's size rules plus 100 bytes of overhead, and the copy GSI1 keeps of each item that has
//! its keys (the table's keys, GSI1's keys and `ttl`, plus the same overhead). Grouped by item
//! kind (the sort key up to its first `#`), for benchmarks that price storage.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::ports::StoreError;

/// DynamoDB's per-item storage overhead, in the table and in each index.
const ITEM_OVERHEAD: u64 = 100;

/// The items of one kind and the bytes they are billed as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindStorage {
    pub items: u64,
    /// Attribute names and values plus the overhead, in the table.
    pub bytes: u64,
    /// The same for GSI1's copies.
    pub index_bytes: u64,
    /// The largest item, without the overhead (what a write of it is billed by).
    pub largest: u64,
}

/// Every item of `table`, by kind.
pub async fn measure(
    client: &Client,
    table: &str,
) -> Result<BTreeMap<String, KindStorage>, StoreError> {
    let mut out: BTreeMap<String, KindStorage> = BTreeMap::new();
    scan(client, table, |item| {
        let size = item_size(item.iter());
        let kind = match item.get("sk") {
            Some(AttributeValue::S(sk)) => sk.split('#').next().unwrap_or(sk).to_owned(),
            _ => "?".to_owned(),
        };
        let k = out.entry(kind).or_default();
        k.items += 1;
        k.bytes += size + ITEM_OVERHEAD;
        k.largest = k.largest.max(size);
        if item.contains_key("gsi1pk") {
            let projected = item.iter().filter(|(name, _)| {
                matches!(name.as_str(), "pk" | "sk" | "gsi1pk" | "gsi1sk" | "ttl")
            });
            k.index_bytes += item_size(projected) + ITEM_OVERHEAD;
        }
    })
    .await?;
    Ok(out)
}

/// The size of every item of `table` (what a write of it is billed by), by (pk, sk).
pub async fn item_sizes(
    client: &Client,
    table: &str,
) -> Result<BTreeMap<(String, String), u64>, StoreError> {
    let mut out = BTreeMap::new();
    scan(client, table, |item| {
        if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
            (item.get("pk"), item.get("sk"))
        {
            out.insert((pk.clone(), sk.clone()), item_size(item.iter()));
        }
    })
    .await?;
    Ok(out)
}

/// Write units of an item of `size` bytes: one per KB begun.
pub fn write_units(size: u64) -> u64 {
    size.div_ceil(1024).max(1)
}

async fn scan(
    client: &Client,
    table: &str,
    mut each: impl FnMut(&std::collections::HashMap<String, AttributeValue>),
) -> Result<(), StoreError> {
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(super::describe(&e).1))?;
        page.items().iter().for_each(&mut each);
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(()),
        }
    }
}

fn item_size<'a>(attrs: impl Iterator<Item = (&'a String, &'a AttributeValue)>) -> u64 {
    attrs
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

/// A value's size as DynamoDB counts it: strings and binaries by their bytes, numbers one
/// byte per two significant digits plus one, collections three bytes plus one per element.
fn value_size(v: &AttributeValue) -> u64 {
    match v {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(|s| s.len() as u64).sum::<u64>(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum::<u64>(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len() as u64).sum::<u64>(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<u64>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() as u64 + value_size(e))
                .sum::<u64>()
        }
        _ => 0,
    }
}

fn number_size(n: &str) -> u64 {
    // Significant digits: leading and trailing zeros do not count, wherever the point is.
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        assert_eq!(value_size(&AttributeValue::S("héllo".into())), 6);
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("-1765091234"), 6);
        assert_eq!(number_size("1000"), 2);
        assert_eq!(number_size("0.05"), 2);
        let attrs = [
            ("pk".to_owned(), AttributeValue::S("ACCOUNT#a".into())),
            ("n".to_owned(), AttributeValue::N("42".into())),
        ];
        assert_eq!(item_size(attrs.iter().map(|(k, v)| (k, v))), 2 + 9 + 1 + 2);
    }
}
