//! The item store contract: what SQLite and DynamoDB must both do.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use shared::ports::{
    Condition, Cursor, Item, ItemStore, Key, Query, SortCondition, StoreError, Update, Value, Write,
};

async fn sqlite() -> Arc<dyn ItemStore> {
    let db = shared::adapters::local::Db::in_memory().unwrap();
    Arc::new(shared::adapters::local::SqliteItemStore::new(db))
}

#[cfg(feature = "aws")]
async fn dynamodb() -> Arc<dyn ItemStore> {
    use shared::adapters::aws::DynamoItemStore;
    let clients = support::aws::clients().await;
    let table = support::aws::unique("items");
    DynamoItemStore::create_table(&clients.dynamodb, &table)
        .await
        .unwrap();
    Arc::new(DynamoItemStore::new(clients.dynamodb, table))
}

contract!(sqlite, dynamodb =>
    values_round_trip, missing_items_are_none, conditional_puts, updates_create_and_count,
    deletes_return_the_old_item, sort_key_conditions, pages_cover_everything_once,
    cursors_are_bound_to_their_partition, transactions_are_all_or_nothing,
    expired_items_are_gone, expired_items_are_found_for_erasure, secondary_index, keys_only_queries,
    invalid_requests_are_refused, batch_gets_answer_in_key_order, filters_drop_items_but_keep_paging,
    spread_lists_page_in_order,
);

fn now() -> i64 {
    shared::ports::item_store::now_epoch()
}

fn item(pk: &str, sk: &str) -> Item {
    Item::new(Key::new(pk, sk))
}

async fn collect(store: &dyn ItemStore, query: Query) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store.query(query.clone().after(cursor)).await.unwrap();
        assert!(page.items.len() <= query.limit as usize);
        keys.extend(page.items.into_iter().map(|i| i.key));
        match page.next {
            Some(c) => cursor = Some(c),
            None => return keys,
        }
    }
}

async fn values_round_trip(store: Arc<dyn ItemStore>) {
    let map = BTreeMap::from([
        ("a".to_owned(), Value::N(1)),
        (
            "b".to_owned(),
            Value::L(vec![Value::S("x".into()), Value::Null]),
        ),
    ]);
    let it = item("P", "S")
        .with("s", Value::S("héllo \"quoted\"".into()))
        .with("n", Value::N(-42))
        .with("big", Value::N(i64::MAX))
        .with("b", Value::B(vec![0, 1, 2, 255]))
        .with("t", Value::Bool(true))
        .with("l", Value::L(vec![Value::N(1), Value::S("two".into())]))
        .with("m", Value::M(map))
        .with("z", Value::Null)
        .with_gsi1(Key::new("G", "g1"))
        .expiring_at(now() + 3600);
    store.put(it.clone(), None).await.unwrap();
    assert_eq!(store.get(&it.key).await.unwrap(), Some(it));
}

async fn missing_items_are_none(store: Arc<dyn ItemStore>) {
    assert_eq!(store.get(&Key::new("nope", "nope")).await.unwrap(), None);
    let page = store.query(Query::partition("nope")).await.unwrap();
    assert!(page.items.is_empty() && page.next.is_none());
}

async fn conditional_puts(store: Arc<dyn ItemStore>) {
    let it = item("P", "S")
        .with("v", Value::N(1))
        .with("state", Value::S("active".into()));
    store
        .put(it.clone(), Some(Condition::NotExists))
        .await
        .unwrap();
    let again = store.put(it.clone(), Some(Condition::NotExists)).await;
    assert!(
        matches!(again, Err(StoreError::ConditionFailed { .. })),
        "{again:?}"
    );

    let missing = store.put(item("P", "other"), Some(Condition::Exists)).await;
    assert!(matches!(missing, Err(StoreError::ConditionFailed { .. })));

    let eq = Condition::Equals("state".into(), Value::S("active".into()));
    store
        .put(it.clone().with("v", Value::N(2)), Some(eq.clone()))
        .await
        .unwrap();
    let wrong = Condition::Equals("state".into(), Value::S("closing".into()));
    assert!(store
        .put(it.clone(), Some(wrong))
        .await
        .unwrap_err()
        .is_condition_failed());

    // Monotonic versions: only a higher one may replace.
    let lt = |n| Condition::LessThan("v".into(), Value::N(n));
    assert!(store
        .put(it.clone().with("v", Value::N(2)), Some(lt(2)))
        .await
        .unwrap_err()
        .is_condition_failed());
    store
        .put(it.clone().with("v", Value::N(3)), Some(lt(3)))
        .await
        .unwrap();
    assert_eq!(
        store.get(&it.key).await.unwrap().unwrap().n("v").unwrap(),
        3
    );
    let it = it.with("v", Value::N(3));

    let absent_attr = Condition::AttributeNotExists("revoked_at".into());
    store
        .put(
            it.clone().with("revoked_at", Value::N(1)),
            Some(absent_attr.clone()),
        )
        .await
        .unwrap();
    assert!(store
        .put(it.clone(), Some(absent_attr))
        .await
        .unwrap_err()
        .is_condition_failed());

    let either = Condition::Or(vec![
        Condition::NotExists,
        Condition::Equals("v".into(), Value::N(3)),
    ]);
    store
        .put(item("P", "fresh"), Some(either.clone()))
        .await
        .unwrap();
    store.put(it.clone(), Some(either)).await.unwrap();
    // One-element groups stand for their element.
    let alone = Condition::Or(vec![Condition::Equals("v".into(), Value::N(3))]);
    store.put(it.clone(), Some(alone)).await.unwrap();
    let alone = Condition::And(vec![Condition::Or(vec![Condition::Exists])]);
    store.put(it.clone(), Some(alone)).await.unwrap();
    let both = Condition::And(vec![
        Condition::Exists,
        Condition::Equals("v".into(), Value::N(99)),
    ]);
    assert!(store
        .put(it, Some(both))
        .await
        .unwrap_err()
        .is_condition_failed());
}

async fn updates_create_and_count(store: Arc<dyn ItemStore>) {
    let key = Key::new("P", "counter");
    let first = store
        .update(
            Update::new(key.clone())
                .add("n", 2)
                .set("label", Value::S("x".into())),
        )
        .await
        .unwrap();
    assert_eq!(first.n("n").unwrap(), 2);
    let second = store
        .update(Update::new(key.clone()).add("n", 3).remove("label"))
        .await
        .unwrap();
    assert_eq!(second.n("n").unwrap(), 5);
    assert!(second.opt_s("label").is_none());

    let guarded = Update::new(key.clone())
        .add("n", 1)
        .when(Condition::LessThan("n".into(), Value::N(5)));
    assert!(store
        .update(guarded)
        .await
        .unwrap_err()
        .is_condition_failed());
    let must_exist = Update::new(Key::new("P", "absent"))
        .add("n", 1)
        .when(Condition::Exists);
    assert!(store
        .update(must_exist)
        .await
        .unwrap_err()
        .is_condition_failed());
    assert_eq!(store.get(&Key::new("P", "absent")).await.unwrap(), None);

    let expiring = store
        .update(Update::new(key.clone()).expire(Some(now() + 60)))
        .await
        .unwrap();
    assert!(
        expiring.expires_at.is_some_and(|t| t >= now() + 55),
        "{expiring:?}"
    );
    let listed = store
        .update(Update::new(key.clone()).append("log", Value::S("a".into())))
        .await
        .unwrap();
    assert_eq!(listed.attrs["log"], Value::L(vec![Value::S("a".into())]));
    let listed = store
        .update(Update::new(key.clone()).append("log", Value::N(2)))
        .await
        .unwrap();
    assert_eq!(
        listed.attrs["log"],
        Value::L(vec![Value::S("a".into()), Value::N(2)])
    );
    let kept = store
        .update(Update::new(key.clone()).expire(None))
        .await
        .unwrap();
    assert_eq!(kept.expires_at, None);
    assert_eq!(store.get(&key).await.unwrap().unwrap().n("n").unwrap(), 5);
}

async fn deletes_return_the_old_item(store: Arc<dyn ItemStore>) {
    let it = item("P", "S").with("v", Value::N(1));
    store.put(it.clone(), None).await.unwrap();
    let wrong = Condition::Equals("v".into(), Value::N(2));
    assert!(store
        .delete(&it.key, Some(wrong))
        .await
        .unwrap_err()
        .is_condition_failed());
    assert_eq!(
        store
            .delete(&it.key, Some(Condition::Exists))
            .await
            .unwrap(),
        Some(it.clone())
    );
    assert_eq!(store.get(&it.key).await.unwrap(), None);
    assert_eq!(store.delete(&it.key, None).await.unwrap(), None);
    assert!(store
        .delete(&it.key, Some(Condition::Exists))
        .await
        .unwrap_err()
        .is_condition_failed());
}

async fn sort_key_conditions(store: Arc<dyn ItemStore>) {
    for sk in ["A#1", "A#2", "A#3", "A#4", "B#1", "A", "AB#1"] {
        store.put(item("P", sk), None).await.unwrap();
    }
    store.put(item("Q", "A#1"), None).await.unwrap();
    let sks = |keys: Vec<Key>| keys.into_iter().map(|k| k.sk).collect::<Vec<_>>();
    let q = || Query::partition("P");
    assert_eq!(
        sks(collect(&*store, q().begins_with("A#")).await),
        ["A#1", "A#2", "A#3", "A#4"]
    );
    assert_eq!(
        sks(collect(&*store, q().begins_with("A#").backward()).await),
        ["A#4", "A#3", "A#2", "A#1"]
    );
    assert_eq!(
        sks(collect(
            &*store,
            q().sort(SortCondition::Between("A#2".into(), "A#3".into()))
        )
        .await),
        ["A#2", "A#3"]
    );
    assert_eq!(
        sks(collect(&*store, q().sort(SortCondition::GreaterThan("A#4".into()))).await),
        ["AB#1", "B#1"]
    );
    assert_eq!(
        sks(collect(&*store, q().sort(SortCondition::LessThan("A#2".into()))).await),
        ["A", "A#1"]
    );
    assert_eq!(collect(&*store, q()).await.len(), 7);
}

async fn pages_cover_everything_once(store: Arc<dyn ItemStore>) {
    for i in 0..25 {
        store
            .put(item("P", &format!("M#{i:03}")), None)
            .await
            .unwrap();
    }
    for query in [
        Query::partition("P").limit(10),
        Query::partition("P").limit(10).backward(),
        Query::partition("P").limit(1),
    ] {
        let keys = collect(&*store, query.clone()).await;
        assert_eq!(keys.len(), 25);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 25);
        let mut sorted = keys.clone();
        sorted.sort();
        if !query.forward {
            sorted.reverse();
        }
        assert_eq!(keys, sorted);
    }
}

async fn cursors_are_bound_to_their_partition(store: Arc<dyn ItemStore>) {
    for i in 0..3 {
        store.put(item("P", &format!("{i}")), None).await.unwrap();
    }
    let page = store.query(Query::partition("P").limit(1)).await.unwrap();
    let cursor = page.next.expect("more items");
    let other = store
        .query(Query::partition("OTHER").after(Some(cursor.clone())))
        .await;
    assert!(matches!(other, Err(StoreError::InvalidCursor)), "{other:?}");
    let on_index = store.query(Query::gsi1("P").after(Some(cursor))).await;
    assert!(matches!(on_index, Err(StoreError::InvalidCursor)));
    assert!(Cursor::decode("garbage").is_err());
}

async fn transactions_are_all_or_nothing(store: Arc<dyn ItemStore>) {
    store.put(item("P", "taken"), None).await.unwrap();
    let result = store
        .transact(vec![
            Write::put_new(item("P", "one")),
            Write::Update(Update::new(Key::new("P", "two")).add("n", 1)),
            Write::put_new(item("P", "taken")),
        ])
        .await;
    assert!(
        matches!(result, Err(StoreError::ConditionFailed { index: Some(2) })),
        "{result:?}"
    );
    assert_eq!(store.get(&Key::new("P", "one")).await.unwrap(), None);
    assert_eq!(store.get(&Key::new("P", "two")).await.unwrap(), None);

    store
        .transact(vec![
            Write::put_new(item("P", "one")),
            Write::Delete {
                key: Key::new("P", "taken"),
                condition: Some(Condition::Exists),
            },
            Write::Check {
                key: Key::new("P", "absent"),
                condition: Condition::NotExists,
            },
        ])
        .await
        .unwrap();
    assert!(store.get(&Key::new("P", "one")).await.unwrap().is_some());
    assert_eq!(store.get(&Key::new("P", "taken")).await.unwrap(), None);

    let check_fails = store
        .transact(vec![
            Write::put(item("P", "three")),
            Write::Check {
                key: Key::new("P", "absent"),
                condition: Condition::Exists,
            },
        ])
        .await;
    assert!(matches!(
        check_fails,
        Err(StoreError::ConditionFailed { index: Some(1) })
    ));
    assert_eq!(store.get(&Key::new("P", "three")).await.unwrap(), None);

    let same_key = store
        .transact(vec![Write::put(item("P", "x")), Write::put(item("P", "x"))])
        .await;
    assert!(matches!(same_key, Err(StoreError::Invalid(_))));
}

async fn expired_items_are_gone(store: Arc<dyn ItemStore>) {
    let old = item("P", "old")
        .expiring_at(now() - 10)
        .with_gsi1(Key::new("G", "old"));
    let fresh = item("P", "fresh")
        .expiring_at(now() + 3600)
        .with_gsi1(Key::new("G", "fresh"));
    store.put(old.clone(), None).await.unwrap();
    store.put(fresh.clone(), None).await.unwrap();
    assert_eq!(store.get(&old.key).await.unwrap(), None);
    assert_eq!(
        collect(&*store, Query::partition("P")).await,
        vec![fresh.key.clone()]
    );
    assert_eq!(
        collect(&*store, Query::gsi1("G")).await,
        vec![fresh.key.clone()]
    );
    // An expired item does not block a write that needs the key to be free...
    store
        .put(item("P", "old"), Some(Condition::NotExists))
        .await
        .unwrap();
    // ...and does not satisfy one that needs it to exist.
    store
        .put(item("P", "gone").expiring_at(now() - 1), None)
        .await
        .unwrap();
    assert!(store
        .delete(&Key::new("P", "gone"), Some(Condition::Exists))
        .await
        .unwrap_err()
        .is_condition_failed());
}

/// What the TTL sweeper has not removed yet is still there to erase: a query that asks finds
/// it, and a delete removes it.
async fn expired_items_are_found_for_erasure(store: Arc<dyn ItemStore>) {
    let old = item("E", "old").expiring_at(now() - 10);
    let fresh = item("E", "fresh");
    store.put(old.clone(), None).await.unwrap();
    store.put(fresh.clone(), None).await.unwrap();
    assert_eq!(
        collect(&*store, Query::partition("E").including_expired()).await,
        vec![fresh.key.clone(), old.key.clone()]
    );
    store.delete(&old.key, None).await.unwrap();
    assert_eq!(
        collect(&*store, Query::partition("E").including_expired()).await,
        vec![fresh.key.clone()]
    );
    // Not through an index: DynamoDB's index holds no expired item's attributes to return.
    assert!(store
        .query(Query::gsi1("G").including_expired())
        .await
        .is_err());
}

async fn secondary_index(store: Arc<dyn ItemStore>) {
    for i in 0..12 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        // Several items share an index sort key: the table key orders them.
        let it = item(&format!("C#{i:02}"), "CONTACT")
            .with_gsi1(Key::new(format!("TAG#{tag}"), format!("{}", i / 4)));
        store.put(it, None).await.unwrap();
    }
    store.put(item("C#99", "CONTACT"), None).await.unwrap();
    let even = collect(&*store, Query::gsi1("TAG#even").limit(2)).await;
    assert_eq!(even.len(), 6);
    assert_eq!(even.iter().collect::<HashSet<_>>().len(), 6);
    let back = collect(&*store, Query::gsi1("TAG#odd").limit(4).backward()).await;
    assert_eq!(back.len(), 6);
    let ranged = collect(
        &*store,
        Query::gsi1("TAG#even").sort(SortCondition::Between("1".into(), "2".into())),
    )
    .await;
    assert_eq!(ranged.len(), 4);
    let page = store.query(Query::gsi1("TAG#even").limit(1)).await.unwrap();
    let got = store.get(&page.items[0].key).await.unwrap().unwrap();
    assert_eq!(got.gsi1.unwrap().pk, "TAG#even");
    // An update moves an item within the index and out of it.
    let moved = Update::new(Key::new("C#00", "CONTACT")).index(Some(Key::new("TAG#odd", "9")));
    store.update(moved).await.unwrap();
    let back = collect(&*store, Query::gsi1("TAG#odd").backward()).await;
    assert_eq!(back[0], Key::new("C#00", "CONTACT"));
    assert_eq!(back.len(), 7);
    let out = Update::new(Key::new("C#00", "CONTACT")).index(None);
    let got = store.update(out).await.unwrap();
    assert_eq!(got.gsi1, None);
    assert_eq!(collect(&*store, Query::gsi1("TAG#odd")).await.len(), 6);
}

async fn keys_only_queries(store: Arc<dyn ItemStore>) {
    for i in 0..4 {
        let it = item("K", &format!("S#{i}"))
            .with("name", Value::S(format!("n{i}")))
            .with_gsi1(Key::new("BYNAME", format!("n{i}")));
        store.put(it, None).await.unwrap();
    }
    // Through the index: its keys and the table's, nothing else.
    let page = store
        .query(Query::gsi1("BYNAME").backward().limit(3).keys_only())
        .await
        .unwrap();
    let keys: Vec<_> = page.items.iter().map(|i| i.key.sk.as_str()).collect();
    assert_eq!(keys, ["S#3", "S#2", "S#1"]);
    assert!(
        page.items.iter().all(|i| i.attrs.is_empty()),
        "{:?}",
        page.items
    );
    assert_eq!(page.items[0].gsi1, Some(Key::new("BYNAME", "n3")));
    assert!(page.next.is_some());
    // On the table, and below a sort key.
    let page = store
        .query(
            Query::partition("K")
                .sort(SortCondition::LessThan("S#2".into()))
                .keys_only(),
        )
        .await
        .unwrap();
    let keys: Vec<_> = page.items.iter().map(|i| i.key.sk.as_str()).collect();
    assert_eq!(keys, ["S#0", "S#1"]);
    assert!(page.items.iter().all(|i| i.attrs.is_empty()));
    // A filter needs the attributes a keys-only query does not read.
    let filtered = Query::gsi1("BYNAME")
        .keys_only()
        .filter(Some(Condition::Exists));
    assert!(matches!(
        store.query(filtered).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn invalid_requests_are_refused(store: Arc<dyn ItemStore>) {
    let reserved = store
        .put(item("P", "S").with("ttl", Value::N(1)), None)
        .await;
    assert!(matches!(reserved, Err(StoreError::Invalid(_))));
    assert!(matches!(
        store.put(item("", "S"), None).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.query(Query::partition("P").limit(0)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.transact(vec![]).await,
        Err(StoreError::Invalid(_))
    ));
    let max = store.max_transaction_writes();
    assert!(max >= 100, "every backend takes DynamoDB's 100");
    let too_many = (0..=max)
        .map(|i| Write::put(item("P", &i.to_string())))
        .collect();
    assert!(matches!(
        store.transact(too_many).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn batch_gets_answer_in_key_order(store: Arc<dyn ItemStore>) {
    for i in 0..150 {
        store
            .put(item("P", &format!("{i:03}")).with("i", Value::N(i)), None)
            .await
            .unwrap();
    }
    store
        .put(item("P", "expired").expiring_at(now() - 5), None)
        .await
        .unwrap();
    let mut keys: Vec<Key> = (0..150)
        .rev()
        .map(|i| Key::new("P", format!("{i:03}")))
        .collect();
    keys.insert(3, Key::new("P", "missing"));
    keys.insert(7, Key::new("P", "expired"));
    keys.push(Key::new("P", "010"));
    let got = store.batch_get(&keys).await.unwrap();
    assert_eq!(got.len(), keys.len());
    for (k, g) in keys.iter().zip(&got) {
        match k.sk.as_str() {
            "missing" | "expired" => assert!(g.is_none(), "{k:?}"),
            sk => assert_eq!(
                g.as_ref().unwrap().n("i").unwrap(),
                sk.parse::<i64>().unwrap()
            ),
        }
    }
    assert!(store.batch_get(&[]).await.unwrap().is_empty());
    let too_many: Vec<Key> = (0..1001).map(|i| Key::new("P", i.to_string())).collect();
    assert!(matches!(
        store.batch_get(&too_many).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn filters_drop_items_but_keep_paging(store: Arc<dyn ItemStore>) {
    for i in 0..30 {
        let mut tags = vec![Value::S("all".into())];
        if i % 3 == 0 {
            tags.push(Value::S("vip".into()));
        }
        let it = item("P", &format!("C#{i:02}"))
            .with("tags", Value::L(tags))
            .with("opted_in", Value::Bool(i % 2 == 0));
        store.put(it, None).await.unwrap();
    }
    let vip = Condition::Contains("tags".into(), Value::S("vip".into()));
    let keys = collect(
        &*store,
        Query::partition("P").limit(4).filter(Some(vip.clone())),
    )
    .await;
    assert_eq!(keys.len(), 10);
    let both = Some(Condition::And(vec![
        vip,
        Condition::Equals("opted_in".into(), Value::Bool(true)),
    ]));
    let keys = collect(&*store, Query::partition("P").limit(7).filter(both)).await;
    let sks: Vec<_> = keys.iter().map(|k| k.sk.as_str()).collect();
    assert_eq!(sks, ["C#00", "C#06", "C#12", "C#18", "C#24"]);
    let none = Some(Condition::Contains(
        "tags".into(),
        Value::S("nobody".into()),
    ));
    assert!(collect(&*store, Query::partition("P").filter(none))
        .await
        .is_empty());
}

/// Pages of a list spread over partitions (as messages and the inbox are), merged newest
/// first: every item once and in order, on the table and through the index, with a filter,
/// whatever the page size, with partitions as uneven as a hash makes them, one of them holding
/// most (the partition of what was stored before the shards), expired items left out.
async fn spread_lists_page_in_order(store: Arc<dyn ItemStore>) {
    use shared::records::{fill_across, shard_share, Places};
    let partitions = ["SPREAD#0", "SPREAD#1", "SPREAD#2", "BEFORE"];
    let mut all = Vec::new();
    for n in 0..60u32 {
        // Uneven: a third before the shards, the rest by a hash of the place.
        let place = format!("E#{n:03}");
        let p = match n % 3 {
            0 => "BEFORE",
            _ => partitions[(n as usize * 7 + n as usize / 5) % 3],
        };
        let mut it = item(p, &place)
            .with("n", Value::N(i64::from(n)))
            .with_gsi1(Key::new(format!("BY{p}"), format!("{n:03}")));
        if n == 17 {
            it = it.expiring_at(now() - 10);
        }
        store.put(it, None).await.unwrap();
        if n != 17 {
            all.push(n);
        }
    }
    let newest_first: Vec<u32> = all.iter().rev().copied().collect();
    let even: Vec<u32> = newest_first
        .iter()
        .copied()
        .filter(|n| n % 2 == 0)
        .collect();
    let on_table = |want: u32| {
        partitions
            .iter()
            .map(|p| {
                let share = match *p {
                    "BEFORE" => want,
                    _ => shard_share(want, 3),
                };
                Query::partition(*p).begins_with("E#").limit(share)
            })
            .collect::<Vec<_>>()
    };
    let on_index = |want: u32| {
        partitions
            .iter()
            .map(|p| Query::gsi1(format!("BY{p}")).limit(shard_share(want, 3)))
            .collect::<Vec<_>>()
    };
    let is_even = Condition::Or(
        (0..60)
            .step_by(2)
            .map(|n| Condition::Equals("n".into(), Value::N(n)))
            .collect(),
    );
    for limit in [1, 4, 7, 50] {
        for (filter, want) in [(None, &newest_first), (Some(&is_even), &even)] {
            for index in [false, true] {
                let places = Places {
                    partition: "LIST".into(),
                    prefix: if index { "" } else { "E#" },
                };
                let mut seen = Vec::new();
                let mut cursor = None;
                for pages in 0.. {
                    assert!(pages < 200, "no progress below {cursor:?}");
                    let (page, next) = match index {
                        false => {
                            let read = fill_across(
                                &*store, on_table, &places, limit, cursor, filter, 1000,
                            );
                            read.await
                        }
                        true => {
                            let read = fill_across(
                                &*store, on_index, &places, limit, cursor, filter, 1000,
                            );
                            read.await
                        }
                    }
                    .unwrap();
                    assert!(page.len() <= limit as usize);
                    assert!(page.iter().all(|i| !i.attrs.is_empty()), "read whole");
                    seen.extend(page.iter().map(|i| i.n("n").unwrap() as u32));
                    match next {
                        Some(n) => cursor = Some(n),
                        None => break,
                    }
                }
                assert_eq!(
                    &seen,
                    want,
                    "limit {limit}, filtered {}, index {index}",
                    filter.is_some()
                );
            }
        }
    }
}
