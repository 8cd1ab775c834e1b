//! Usage: one item per account and month holding every counter — ours (queued, template
//! messages, sent, broadcasts) and Meta's priced messages by category, number and day — as
//! atomic counters; and a marker per wamid so each priced message counts once.

use super::RecordError;
use crate::domain::{AccountId, MetaCount, OwnUsage, Priced, Usage, UsageDelta, VolumeTier};
use crate::ports::{Item, Key, Update, Value, Write};
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

/// Counts one priced message in `month`, with its marker (which must be new: a second
/// delivery of the same pricing fails on it, at index 0).
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
    let mut update = Update::new(table::usage(account, month))
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

/// The month's usage as stored (`usage` holds its period and currency already).
pub fn read_into(usage: &mut Usage, item: &Item) -> Result<(), RecordError> {
    let n = |name: &str| super::count(item, name);
    usage.ours = OwnUsage {
        messages_queued: n("queued"),
        template_messages_queued: n("templates"),
        messages_sent: n("sent"),
        broadcasts: n("broadcasts"),
    };
    usage.meta_messages = n("meta");
    usage.estimated_meta_cost_micros = n("cost_micros");
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

/// The month (`YYYY-MM`) of a usage item.
pub fn month_of_item(item: &Item) -> &str {
    item.key.sk.trim_start_matches(table::USAGE_PREFIX)
}
