//! Usage: per account and month, our own counters (queued, template messages, sent,
//! broadcasts) and Meta's priced messages by day, category and number, all atomic counters
//! that add up across items; Meta's volume tiers in the month's item; and a marker per wamid
//! so each priced message counts once.
//!
//! Each counter is spread over [`table::USAGE_SHARDS`] items, picked from the id of what is
//! counted: one item per account would take every send's writes, and DynamoDB serves at most
//! 1,000 writes a second per item (a tenant near 80 messages a second at the three writes each
//! it once took). Meta's counters are kept by day so that no item grows with the month: a
//! write is billed by the item's size, and a month's item of every day's counters passed 3 KB.
//! Months counted before either change hold their counters in the month's item, under the
//! same names: they add up with the shards'.

use super::RecordError;
use crate::domain::{AccountId, MetaCount, Priced, Usage, UsageDelta, VolumeTier};
use crate::ports::{Item, Key, Query, SortCondition, Update, Value, Write};
use crate::table;

fn shard(counted: &str) -> u8 {
    super::shard_of(counted, table::USAGE_SHARDS)
}

/// Adds to our own counters of `month`, in the shard of `counted` (the id of the message or
/// broadcast it counts).
pub fn count(account: &AccountId, month: &str, counted: &str, d: UsageDelta) -> Update {
    let mut update = Update::new(table::usage_shard(account, month, shard(counted)));
    for (name, by) in [
        ("queued", d.queued),
        ("templates", d.templates),
        ("sent", d.sent),
        ("broadcasts", d.broadcasts),
    ] {
        if by != 0 {
            update = update.add(name, by);
        }
    }
    update
}

/// The month's items: its own, our counters' shards and its days'.
pub fn month(account: &AccountId, month: &str) -> Query {
    Query::partition(table::account_partition(account))
        .begins_with(format!("{}{month}", table::USAGE_PREFIX))
}

/// The month's own counters without its days' (the month's item and our counters' shards):
/// the small range the plan's allowance reads at every send.
pub fn own_counters(account: &AccountId, month: &str) -> Query {
    let (from, to) = table::usage_own_range(month);
    Query::partition(table::account_partition(account)).sort(SortCondition::Between(from, to))
}

const TIER_PREFIX: &str = "tier#";

/// Meta's volume pricing tier for a category and market from a month on. Category and region
/// are Meta's words (`UTILITY`, `INDIA`): anything else is not stored.
pub fn volume_tier(
    account: &AccountId,
    month: &str,
    category: &str,
    region: &str,
    tier: &str,
) -> Option<Update> {
    let word = |s: &str| {
        (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    };
    let range = (1..=40).contains(&tier.len())
        && tier
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'+');
    (word(category) && word(region) && range).then(|| {
        Update::new(table::usage(account, month)).set(
            &format!("{TIER_PREFIX}{category}#{region}"),
            Value::S(tier.to_owned()),
        )
    })
}

/// Template messages queued in the month (what the plan's allowance counts), from its
/// [`own_counters`].
pub fn templates(items: &[Item]) -> u64 {
    items.iter().map(|i| super::count(i, "templates")).sum()
}

fn billable_word(billable: bool) -> &'static str {
    if billable {
        "billable"
    } else {
        "free"
    }
}

/// The marker that a wamid's pricing is counted.
pub fn metered(wamid: &str) -> Key {
    table::metered(wamid)
}

/// Counts one priced message in its day of `month`, with its marker (which must be new: a
/// second delivery of the same pricing fails on it, at index 0).
pub fn meter_writes(
    account: &AccountId,
    month: &str,
    wamid: &str,
    p: &Priced,
    marker_expires_at: i64,
) -> Vec<Write> {
    // `#` separates parts: categories and numbers never hold one.
    let word = billable_word(p.billable);
    let category = &p.category;
    let mut update = Update::new(table::usage_day(account, month, &p.day, shard(wamid)))
        .add("meta", 1)
        .add(&format!("cat#{category}#{word}"), 1)
        .add(&format!("num#{}#{category}#{word}", p.number), 1)
        .add(&format!("day#{}#{category}#{word}", p.day), 1);
    if let Some(c) = p.cost_micros {
        update = update.add("cost_micros", c as i64);
    }
    let marker = Item::new(table::metered(wamid))
        .with("account_id", Value::S(account.to_string()))
        .expiring_at(marker_expires_at);
    vec![Write::put_new(marker), Write::Update(update)]
}

/// Adds one of the month's items ([`month`]) to its usage (`usage` holds its period and
/// currency already). Months counted before Meta's counters moved to day items hold them in
/// the month's item, under the same names: either way they add up.
pub fn read_into(usage: &mut Usage, item: &Item) -> Result<(), RecordError> {
    let n = |name: &str| super::count(item, name);
    let ours = &mut usage.ours;
    ours.messages_queued += n("queued");
    ours.template_messages_queued += n("templates");
    ours.messages_sent += n("sent");
    ours.broadcasts += n("broadcasts");
    usage.meta_messages += n("meta");
    usage.estimated_meta_cost_micros += n("cost_micros");
    let bump = |c: &mut MetaCount, word: &str, by: u64| match word {
        "billable" => c.billable += by,
        _ => c.free += by,
    };
    let month = usage.period.clone();
    for (name, value) in &item.attrs {
        if let (Some(rest), Value::S(tier)) = (name.strip_prefix(TIER_PREFIX), value) {
            if let Some((category, region)) = rest.split_once('#') {
                usage.volume_tiers.push(VolumeTier {
                    category: category.to_owned(),
                    region: region.to_owned(),
                    tier: tier.clone(),
                });
            }
            continue;
        }
        let Value::N(by) = value else { continue };
        let by = (*by).max(0) as u64;
        let parts: Vec<&str> = name.split('#').collect();
        match parts.as_slice() {
            ["cat", category, word] => bump(
                usage.by_category.entry((*category).to_owned()).or_default(),
                word,
                by,
            ),
            ["num", number, category, word] => bump(
                usage
                    .by_number
                    .entry((*number).to_owned())
                    .or_default()
                    .entry((*category).to_owned())
                    .or_default(),
                word,
                by,
            ),
            ["day", day, category, word] => bump(
                usage
                    .by_day
                    .entry(format!("{month}-{day}"))
                    .or_default()
                    .entry((*category).to_owned())
                    .or_default(),
                word,
                by,
            ),
            _ => {}
        }
    }
    Ok(())
}

/// The month (`YYYY-MM`) a usage item counts in, whichever of the month's items it is.
pub fn month_of_item(item: &Item) -> Option<&str> {
    let rest = item.key.sk.strip_prefix(table::USAGE_PREFIX)?;
    Some(rest.split_once('#').map_or(rest, |(month, _)| month))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn priced(day: &str, category: &str) -> Priced {
        Priced {
            category: category.into(),
            billable: true,
            day: day.into(),
            number: "106540352242922".into(),
            cost_micros: Some(25_000),
        }
    }

    /// Counters spread over shards add up with each other and with a month counted in one
    /// item before; the plan's range reads the month's own counters and none of its days'.
    #[test]
    fn counters_spread_over_shards_add_up_and_the_plans_range_skips_the_days() {
        let account = AccountId::generate();
        let mut items = Vec::new();
        for (i, day) in ["01", "17", "30"].into_iter().enumerate() {
            let wamid = format!("wamid.{i}");
            let writes = meter_writes(&account, "2026-12", &wamid, &priced(day, "utility"), 0);
            // The marker first (a repeat fails there), then the day's counters.
            let Write::Update(update) = &writes[1] else {
                panic!("the counters are an update")
            };
            items.push(update.apply(None).unwrap());
        }
        let one = UsageDelta {
            queued: 1,
            templates: 1,
            sent: 1,
            broadcasts: 0,
        };
        let mut shards = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let id = crate::domain::MessageId::generate().to_string();
            let update = count(&account, "2026-12", &id, one);
            shards.insert(update.key.sk.clone());
            items.push(update.apply(None).unwrap());
        }
        assert!(
            shards.len() > 4,
            "one tenant's counting is spread: {shards:?}"
        );
        assert!(shards.len() <= usize::from(table::USAGE_SHARDS));
        // A month counted before the shards and the days had items of their own holds both
        // kinds of counters itself, and Meta's volume tiers.
        let legacy = Update::new(table::usage(&account, "2026-12"))
            .add("queued", 2)
            .add("templates", 2)
            .add("meta", 2)
            .add("cat#utility#billable", 2)
            .apply(None)
            .unwrap();
        items.push(legacy);
        assert!(items.iter().all(|i| month_of_item(i) == Some("2026-12")));

        let query = own_counters(&account, "2026-12");
        let own: Vec<Item> = items
            .iter()
            .filter(|i| query.sort.matches(&i.key.sk))
            .cloned()
            .collect();
        let own_keys: std::collections::BTreeSet<_> = own.iter().map(|i| &i.key.sk).collect();
        assert_eq!(
            own_keys.len(),
            shards.len() + 1,
            "the shards and the month's item"
        );
        assert_eq!(templates(&own), 42);
        let month = month(&account, "2026-12");
        assert!(items.iter().all(|i| month.sort.matches(&i.key.sk)));

        let mut usage = Usage {
            period: "2026-12".into(),
            ..Default::default()
        };
        for item in &items {
            read_into(&mut usage, item).unwrap();
        }
        assert_eq!(usage.ours.messages_queued, 42);
        assert_eq!(usage.ours.messages_sent, 40);
        assert_eq!(usage.meta_messages, 5);
        assert_eq!(usage.by_category["utility"].billable, 5);
        assert_eq!(usage.by_day["2026-12-17"]["utility"].billable, 1);
        assert_eq!(usage.estimated_meta_cost_micros, 75_000);
    }
}
