//! Usage: per account and month, one item of our own counters (queued, template messages,
//! sent, broadcasts) and Meta's volume tiers, and one item per day of Meta's priced messages
//! by category and number, all atomic counters; and a marker per wamid so each priced message
//! counts once. Meta's counters are kept by day so that no item grows with the month: a write
//! is billed by the item's size, and a month's item of every day's counters passed 3 KB
//! (4 write units for each of the three writes a message makes to it).

use super::RecordError;
use crate::domain::{AccountId, MetaCount, Priced, Usage, UsageDelta, VolumeTier};
use crate::ports::{Item, Key, Query, Update, Value, Write};
use crate::table;

/// Adds to our own counters of `month`.
pub fn count(account: &AccountId, month: &str, d: UsageDelta) -> Update {
    let mut update = Update::new(table::usage(account, month));
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

pub fn key(account: &AccountId, month: &str) -> Key {
    table::usage(account, month)
}

/// The month's items: its own and its days'.
pub fn month(account: &AccountId, month: &str) -> Query {
    Query::partition(table::account_partition(account))
        .begins_with(format!("{}{month}", table::USAGE_PREFIX))
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

/// Template messages queued in the month (what the plan's allowance counts).
pub fn templates(item: Option<&Item>) -> u64 {
    item.map_or(0, |i| super::count(i, "templates"))
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
    let mut update = Update::new(table::usage_day(account, month, &p.day))
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

/// The month (`YYYY-MM`) of a month's usage item; `None` for a day's.
pub fn month_of_item(item: &Item) -> Option<&str> {
    let month = item.key.sk.strip_prefix(table::USAGE_PREFIX)?;
    (!month.contains('#')).then_some(month)
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

    /// Each day's pricing goes to that day's item, so the month's own item stays the size of
    /// our four counters however far the month has gone.
    #[test]
    fn metas_counters_go_to_the_days_item_and_add_up_with_the_months() {
        let account = AccountId::generate();
        let mut items = Vec::new();
        for day in ["01", "17", "30"] {
            let writes = meter_writes(&account, "2026-12", "wamid.x", &priced(day, "utility"), 0);
            // The marker first (a repeat fails there), then the day's counters.
            let Write::Update(update) = &writes[1] else {
                panic!("the counters are an update")
            };
            assert_eq!(update.key, table::usage_day(&account, "2026-12", day));
            assert_ne!(update.key, key(&account, "2026-12"));
            items.push(update.apply(None).unwrap());
        }
        let delta = UsageDelta {
            queued: 3,
            templates: 3,
            sent: 3,
            broadcasts: 0,
        };
        let month = count(&account, "2026-12", delta).apply(None).unwrap();
        assert_eq!(month_of_item(&month), Some("2026-12"));
        assert!(items.iter().all(|i| month_of_item(i).is_none()));
        assert!(month.attrs.len() <= 4, "{:?}", month.attrs.keys());
        // A month counted before the days had items of their own holds Meta's counters
        // itself: they add up too.
        let month = Update::new(key(&account, "2026-12"))
            .add("meta", 2)
            .add("cat#utility#billable", 2)
            .apply(Some(month))
            .unwrap();

        let mut usage = Usage {
            period: "2026-12".into(),
            ..Default::default()
        };
        read_into(&mut usage, &month).unwrap();
        for item in &items {
            read_into(&mut usage, item).unwrap();
        }
        assert_eq!(usage.ours.messages_queued, 3);
        assert_eq!(usage.meta_messages, 5);
        assert_eq!(usage.by_category["utility"].billable, 5);
        assert_eq!(usage.by_day["2026-12-17"]["utility"].billable, 1);
        assert_eq!(usage.estimated_meta_cost_micros, 75_000);
    }
}
