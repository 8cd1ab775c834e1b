use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::Db;
use crate::ports::item_store::{check_batch_get, check_transaction, now_epoch};
use crate::ports::{
    Attrs, Condition, Cursor, Index, Item, ItemStore, Key, Page, Query, SortCondition, StoreError,
    Update, Write,
};

/// The item store on SQLite: one row per item, attributes as JSON, a partial index for GSI1.
#[derive(Clone)]
pub struct SqliteItemStore {
    db: Db,
}

impl SqliteItemStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Physically removes expired items (readers already ignore them); returns how many.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = now_epoch();
        self.db
            .call(move |c| {
                Ok(c.execute(
                    "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                    [now],
                )?)
            })
            .await
    }
}

/// Most writes one local transaction takes (an import batch fits in one).
pub const LOCAL_TRANSACTION_WRITES: usize = 10_000;

macro_rules! columns {
    () => {
        "pk, sk, gsi1pk, gsi1sk, expires_at, attrs"
    };
}
const COLUMNS: &str = columns!();

/// A row as read, before its attributes are decoded (which can fail).
struct RawRow {
    key: Key,
    gsi1: Option<Key>,
    expires_at: Option<i64>,
    attrs: Vec<u8>,
}

fn row_to_item(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    let gpk: Option<String> = row.get(2)?;
    let gsk: Option<String> = row.get(3)?;
    Ok(RawRow {
        key: Key::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?),
        gsi1: gpk.zip(gsk).map(|(p, s)| Key::new(p, s)),
        expires_at: row.get(4)?,
        attrs: row.get(5)?,
    })
}

fn decode(raw: RawRow) -> Result<Item, StoreError> {
    let attrs: Attrs = super::codec::decode(&raw.attrs)
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", raw.key.pk, raw.key.sk)))?;
    Ok(Item {
        key: raw.key,
        gsi1: raw.gsi1,
        expires_at: raw.expires_at,
        attrs,
    })
}

const SELECT_LIVE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
);

fn live_item(c: &Connection, key: &Key, now: i64) -> Result<Option<Item>, StoreError> {
    live_items(c, std::slice::from_ref(key), now).map(|mut v| v.pop().flatten())
}

/// Point reads with one prepared statement.
fn live_items(c: &Connection, keys: &[Key], now: i64) -> Result<Vec<Option<Item>>, StoreError> {
    let mut stmt = c.prepare_cached(SELECT_LIVE)?;
    keys.iter()
        .map(|key| {
            stmt.query_row(params![key.pk, key.sk, now], row_to_item)
                .optional()?
                .map(decode)
                .transpose()
        })
        .collect()
}

/// Inserts the item unless a live one holds its key (an expired one is replaced); false if
/// one does. One statement where a read and a write would otherwise be needed: imports
/// create items by the million.
fn insert_new(c: &Connection, item: &Item, attrs: &[u8], now: i64) -> Result<bool, StoreError> {
    let changed = c
        .prepare_cached(
            "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, expires_at, attrs) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = excluded.gsi1pk, \
             gsi1sk = excluded.gsi1sk, expires_at = excluded.expires_at, attrs = excluded.attrs \
             WHERE items.expires_at IS NOT NULL AND items.expires_at <= ?7",
        )?
        .execute(params![
            item.key.pk,
            item.key.sk,
            item.gsi1.as_ref().map(|g| &g.pk),
            item.gsi1.as_ref().map(|g| &g.sk),
            item.expires_at,
            attrs,
            now
        ])?;
    Ok(changed == 1)
}

fn write_item(c: &Connection, item: &Item, attrs: &[u8]) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, expires_at, attrs) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        item.key.pk,
        item.key.sk,
        item.gsi1.as_ref().map(|g| &g.pk),
        item.gsi1.as_ref().map(|g| &g.sk),
        item.expires_at,
        attrs
    ])?;
    Ok(())
}

fn remove_item(c: &Connection, key: &Key) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")?
        .execute(params![key.pk, key.sk])?;
    Ok(())
}

fn check(
    condition: Option<&Condition>,
    current: Option<&Item>,
    index: Option<usize>,
) -> Result<(), StoreError> {
    match condition {
        Some(cond) if !cond.holds(current) => Err(StoreError::ConditionFailed { index }),
        _ => Ok(()),
    }
}

/// A write with a put's attributes encoded ahead of the transaction, when it has any.
struct Staged {
    write: Write,
    attrs: Option<Vec<u8>>,
    /// Its place in the caller's list, which a condition failure reports.
    index: usize,
}

impl Staged {
    fn new(write: Write, index: usize) -> Self {
        let attrs = match &write {
            Write::Put { item, .. } => Some(super::codec::encode(&item.attrs)),
            _ => None,
        };
        Self {
            write,
            attrs,
            index,
        }
    }
}

/// One write inside an open SQLite transaction; `index` names it in a condition failure.
fn apply_staged(
    c: &Connection,
    staged: &Staged,
    index: Option<usize>,
    now: i64,
) -> Result<Option<Item>, StoreError> {
    let Staged { write, attrs, .. } = staged;
    // Puts that need no look at the current item skip reading it.
    match (write, attrs) {
        (
            Write::Put {
                item,
                condition: None,
            },
            Some(attrs),
        ) => return write_item(c, item, attrs).map(|()| None),
        (
            Write::Put {
                item,
                condition: Some(Condition::NotExists),
            },
            Some(attrs),
        ) => {
            return match insert_new(c, item, attrs, now)? {
                true => Ok(None),
                false => Err(StoreError::ConditionFailed { index }),
            }
        }
        _ => {}
    }
    let current = live_item(c, write.key(), now)?;
    match write {
        Write::Put { item, condition } => {
            check(condition.as_ref(), current.as_ref(), index)?;
            let attrs = match attrs {
                Some(a) => a,
                None => &super::codec::encode(&item.attrs),
            };
            write_item(c, item, attrs)?;
            Ok(None)
        }
        Write::Delete { key, condition } => {
            check(condition.as_ref(), current.as_ref(), index)?;
            remove_item(c, key)?;
            Ok(current)
        }
        Write::Update(update) => {
            check(update.condition.as_ref(), current.as_ref(), index)?;
            let next = update.apply(current)?;
            write_item(c, &next, &super::codec::encode(&next.attrs))?;
            Ok(Some(next))
        }
        Write::Check { condition, .. } => {
            check(Some(condition), current.as_ref(), index)?;
            Ok(current)
        }
    }
}

fn run_query(c: &Connection, q: &Query, now: i64) -> Result<Page, StoreError> {
    let (pcol, scol) = match q.index {
        Index::Table => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
    };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM items WHERE {pcol} = ? AND (expires_at IS NULL OR expires_at > ?)"
    );
    let mut args: Vec<rusqlite::types::Value> = vec![q.partition.clone().into(), now.into()];
    match &q.sort {
        SortCondition::Any => {}
        SortCondition::BeginsWith(p) => {
            // Both bounds, so the index stops at the end of the prefix instead of scanning the
            // rest of the partition; no key has a character above U+10FFFF.
            sql += &format!(" AND {scol} >= ? AND {scol} < ? AND substr({scol}, 1, length(?)) = ?");
            let upper = format!("{p}{}", char::MAX);
            args.extend([
                p.clone().into(),
                upper.into(),
                p.clone().into(),
                p.clone().into(),
            ]);
        }
        SortCondition::Between(a, b) => {
            sql += &format!(" AND {scol} BETWEEN ? AND ?");
            args.extend([a.clone().into(), b.clone().into()]);
        }
        SortCondition::GreaterThan(a) => {
            sql += &format!(" AND {scol} > ?");
            args.push(a.clone().into());
        }
        SortCondition::LessThan(b) => {
            sql += &format!(" AND {scol} < ?");
            args.push(b.clone().into());
        }
    }
    let (cmp, order) = if q.forward {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    if let Some(cursor) = &q.cursor {
        cursor.check_for(q)?;
        match (q.index, &cursor.last_gsi1) {
            (Index::Table, _) => {
                sql += &format!(" AND sk {cmp} ?");
                args.push(cursor.last.sk.clone().into());
            }
            (Index::Gsi1, Some(g)) => {
                // Index entries may share a sort key; the table key breaks the tie.
                sql += &format!(" AND (gsi1sk, pk, sk) {cmp} (?, ?, ?)");
                args.extend([
                    g.sk.clone().into(),
                    cursor.last.pk.clone().into(),
                    cursor.last.sk.clone().into(),
                ]);
            }
            (Index::Gsi1, None) => return Err(StoreError::InvalidCursor),
        }
    }
    sql += &match q.index {
        Index::Table => format!(" ORDER BY sk {order}"),
        Index::Gsi1 => format!(" ORDER BY gsi1sk {order}, pk {order}, sk {order}"),
    };
    sql += " LIMIT ?";
    args.push((i64::from(q.limit) + 1).into());

    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), row_to_item)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(decode(row?)?);
    }
    let more = items.len() > q.limit as usize;
    items.truncate(q.limit as usize);
    let next = match (more, items.last()) {
        (true, Some(last)) => Some(Cursor {
            last: last.key.clone(),
            last_gsi1: match q.index {
                Index::Table => None,
                Index::Gsi1 => last.gsi1.clone(),
            },
        }),
        _ => None,
    };
    if let Some(filter) = &q.filter {
        items.retain(|i| filter.holds(Some(i)));
    }
    if q.keys_only {
        for i in &mut items {
            i.attrs.clear();
        }
    }
    Ok(Page { items, next })
}

#[async_trait]
impl ItemStore for SqliteItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.db.call(move |c| live_item(c, &key, now_epoch())).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        item.check()?;
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                apply_staged(
                    &tx,
                    &Staged::new(Write::Put { item, condition }, 0),
                    None,
                    now_epoch(),
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        update.check()?;
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let item = apply_staged(
                    &tx,
                    &Staged::new(Write::Update(update), 0),
                    None,
                    now_epoch(),
                )?;
                tx.commit()?;
                item.ok_or_else(|| StoreError::Corrupt("update wrote nothing".into()))
            })
            .await
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let old = apply_staged(
                    &tx,
                    &Staged::new(Write::Delete { key, condition }, 0),
                    None,
                    now_epoch(),
                )?;
                tx.commit()?;
                Ok(old)
            })
            .await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        query.check()?;
        self.db
            .call(move |c| run_query(c, &query, query.live_after(now_epoch())))
            .await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        check_batch_get(keys)?;
        let keys = keys.to_vec();
        self.db
            .call(move |c| live_items(c, &keys, now_epoch()))
            .await
    }

    /// SQLite commits a large transaction faster than many small ones: a B-tree page touched
    /// by several writes reaches the WAL once.
    fn max_transaction_writes(&self) -> usize {
        LOCAL_TRANSACTION_WRITES
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_transaction(&writes, self.max_transaction_writes())?;
        self.db
            .call_staged(
                move || {
                    // Keys are distinct, so the order of writes does not change the outcome; in
                    // key order, a large transaction walks the B-tree once instead of jumping
                    // about. Sorting and encoding need no connection (`Db::call_staged`).
                    let mut staged: Vec<Staged> = writes
                        .into_iter()
                        .enumerate()
                        .map(|(i, w)| Staged::new(w, i))
                        .collect();
                    staged.sort_unstable_by(|a, b| a.write.key().cmp(b.write.key()));
                    staged
                },
                move |c, staged: &Vec<Staged>| {
                    let tx = c.transaction()?;
                    let now = now_epoch();
                    for s in staged {
                        // Dropping `tx` on error rolls every earlier write back.
                        apply_staged(&tx, s, Some(s.index), now)?;
                    }
                    tx.commit()?;
                    Ok(())
                },
            )
            .await
    }
}
