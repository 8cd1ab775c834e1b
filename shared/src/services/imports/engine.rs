//! The batch engine shared by job and inline imports: rows parsed and sealed on the blocking
//! pool, decided against what the store holds (a batch's lookups and contacts read at once),
//! and written in as few transactions as the store takes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::super::billing::ContactRoom;
use super::super::{App, ServiceError};
use super::csv::RawRow;
use super::rows::{parse_row, Header, RowError, RowUpdate};
use crate::domain::{
    check_tag_count, now, AccountId, Attributes, Consent, Contact, ContactId, ImportCounts,
    Recorded, Region, Timestamp,
};
use crate::ports::item_store::MAX_BATCH_GET;
use crate::ports::{Key, StoreError, Write};
use crate::records::contact::{self, ImportMark, BSUID, PHONE};
use crate::records::Sealer;

/// Rows a batch holds.
pub(super) const BATCH_ROWS: usize = 500;
/// Writes a new row makes at most: two lookup items and the contact.
pub(super) const WRITES_PER_ROW: usize = 3;

/// How a row changed its contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Created,
    Updated,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
        }
    }
}

fn count(counts: &mut ImportCounts, outcome: Outcome) {
    match outcome {
        Outcome::Created => counts.created += 1,
        Outcome::Updated => counts.updated += 1,
    }
}

/// A row number and what its parsing gave.
pub(super) type Parsed = (u64, Result<Ready, Vec<RowError>>);

/// A good row, ready for the store.
pub(super) struct Ready {
    update: RowUpdate,
    /// Its phone and BSUID: kind, lookup key, short form for `seen`.
    ids: Vec<(&'static str, Key, [u8; 12])>,
    /// The writes that create it, used if no contact has its phone or BSUID yet.
    create: Vec<Write>,
}

/// What the parsing threads need, all owned.
struct ReadyContext {
    sealer: Sealer,
    mark: String,
    header: Arc<Header>,
    region: Option<Region>,
    at: Timestamp,
}

impl ReadyContext {
    fn ready_all(&self, rows: &[(u64, RawRow)]) -> Result<Vec<Parsed>, ServiceError> {
        rows.iter()
            .map(|(n, raw)| {
                let ready = match parse_row(&self.header, *n, raw, self.region) {
                    Ok(update) => Ok(self.ready(update)?),
                    Err(errors) => Err(errors),
                };
                Ok((*n, ready))
            })
            .collect()
    }

    fn ready(&self, update: RowUpdate) -> Result<Ready, ServiceError> {
        let mut ids = Vec::with_capacity(2);
        if let Some(p) = &update.phone {
            let (key, index) = contact::lookup_key_and_index(&self.sealer, PHONE, p.e164());
            ids.push((PHONE, key, short(&index)));
        }
        if let Some(u) = &update.user_id {
            let (key, index) = contact::lookup_key_and_index(&self.sealer, BSUID, u.as_str());
            ids.push((BSUID, key, short(&index)));
        }
        let c = new_contact(&update, self.at);
        let mark = ImportMark {
            import_id: self.mark.clone(),
            row: update.row,
            outcome: Outcome::Created.as_str().into(),
        };
        let lookups = ids.iter().map(|(_, k, _)| k.clone()).collect();
        let create = contact::create_writes(&self.sealer, &c, lookups, Some(&mark))?;
        Ok(Ready {
            update,
            ids,
            create,
        })
    }
}

/// A row's writes, applied together or not at all.
struct Group {
    row: u64,
    outcome: Outcome,
    writes: Vec<Write>,
}

/// The batch processor shared by job and inline imports.
pub(super) struct Engine<'a> {
    pub(super) app: &'a App,
    account: AccountId,
    mark: String,
    header: Arc<Header>,
    region: Option<Region>,
    /// Identity (first 96 bits of its blind index) → first row that had it: 16 bytes an
    /// entry, ~35 MB for a million rows.
    seen: HashMap<[u8; 12], u32, BuildHasherDefault<IndexHasher>>,
    pub(super) counts: ImportCounts,
    /// Contacts the plan still lets the file create; read when the first batch is decided.
    room: Option<ContactRoom>,
}

impl<'a> Engine<'a> {
    pub(super) fn new(
        app: &'a App,
        account: AccountId,
        mark: String,
        header: Header,
        region: Option<Region>,
        counts: ImportCounts,
    ) -> Self {
        Self {
            app,
            account,
            mark,
            header: Arc::new(header),
            region,
            seen: HashMap::default(),
            counts,
            room: None,
        }
    }

    /// Sizes the duplicate map for a file of `bytes` at once: growing it by doubling would hold
    /// the old and the new table together at the largest size.
    pub(super) fn expecting(mut self, bytes: u64) -> Self {
        // Contact rows are rarely shorter than 40 bytes; a wrong guess only costs a resize.
        let rows = (bytes / 40).min(2_000_000) as usize;
        self.seen.reserve(rows);
        self
    }

    /// Parses a batch on the blocking pool, both halves at once, and makes each good row ready
    /// for the store: its lookup keys, and the sealed writes that would create it. `None` for
    /// an empty batch.
    pub(super) async fn spawn_parse(
        &self,
        batch: Vec<(u64, RawRow)>,
    ) -> Result<Option<JoinHandle<Result<Vec<Parsed>, ServiceError>>>, ServiceError> {
        if batch.is_empty() {
            return Ok(None);
        }
        // Per row: two blind indexes and the contact's sealed fields.
        let uses = batch.len() as u64 * (contact::SEALED + 2);
        let ctx = ReadyContext {
            sealer: self.app.sealer(&self.account, uses).await?,
            mark: self.mark.clone(),
            header: self.header.clone(),
            region: self.region,
            at: now(),
        };
        Ok(Some(tokio::task::spawn_blocking(move || {
            let (a, b) = batch.split_at(batch.len() / 2);
            std::thread::scope(|s| {
                let first = s.spawn(|| ctx.ready_all(a));
                let mut all = match first.join() {
                    Ok(rows) => rows?,
                    Err(_) => return Err(ServiceError::Blob("a parsing thread panicked".into())),
                };
                all.append(&mut ctx.ready_all(b)?);
                Ok(all)
            })
        })))
    }

    /// Rows processed before an interruption: remember their identities, write nothing.
    pub(super) async fn replay(&mut self, parsed: Vec<Parsed>) -> Result<(), ServiceError> {
        for (_, row) in parsed {
            let Ok(row) = row else { continue };
            if row.ids.iter().any(|(_, _, h)| self.seen.contains_key(h)) {
                continue;
            }
            for (_, _, h) in row.ids {
                self.seen.insert(h, row.update.row as u32);
            }
        }
        Ok(())
    }

    /// Decides every row of a batch and builds its writes; writes nothing. Rows rejected,
    /// unchanged, or applied before an interruption are counted here, the rest by [`commit`].
    pub(super) async fn prepare(&mut self, batch: Vec<Parsed>) -> Result<Prepared, ServiceError> {
        let mut out = Prepared {
            first: batch.first().map_or(0, |(n, _)| *n),
            last: batch.last().map_or(0, |(n, _)| *n),
            ..Prepared::default()
        };
        out.counts.rows = batch.len() as u64;
        // Drop rows whose phone or BSUID an earlier row of the file had.
        let mut candidates: Vec<(RowUpdate, Vec<Key>, Vec<Write>)> = Vec::new();
        for (_, parsed) in batch {
            let Ready {
                update: row,
                ids,
                create,
            } = match parsed {
                Ok(r) => r,
                Err(errs) => {
                    out.reject(errs);
                    continue;
                }
            };
            if let Some((kind, first)) = ids
                .iter()
                .find_map(|(k, _, h)| self.seen.get(h).map(|f| (*k, *f)))
            {
                let column = if kind == PHONE { "phone" } else { "user_id" };
                out.reject(vec![RowError::new(
                    row.row,
                    column,
                    format!("same {column} as row {first}"),
                )]);
                continue;
            }
            for (_, _, h) in &ids {
                self.seen.insert(*h, row.row as u32);
            }
            candidates.push((row, ids.into_iter().map(|(_, k, _)| k).collect(), create));
        }

        let mut room = match self.room.take() {
            Some(room) => room,
            None => self.app.contact_room(&self.account).await?,
        };

        // Which contacts exist already. An account that held none when the import began has
        // nothing to look up: a row meeting a contact this file created is caught by `seen`,
        // and one meeting a contact created meanwhile through the API fails its create's
        // condition and is reported. (The first import of an account is the large one.)
        let lookup_keys: Vec<Key> = match room.held_at_start {
            0 => Vec::new(),
            _ => candidates
                .iter()
                .flat_map(|(_, ks, _)| ks.iter().cloned())
                .collect(),
        };
        let mut owner: HashMap<Key, ContactId> = HashMap::new();
        for chunk in lookup_keys.chunks(MAX_BATCH_GET) {
            for (k, item) in chunk.iter().zip(self.app.items.batch_get(chunk).await?) {
                if let Some(item) = item {
                    owner.insert(k.clone(), contact::looked_up(&item)?);
                }
            }
        }
        let contact_keys: Vec<Key> = candidates
            .iter()
            .flat_map(|(_, ks, _)| ks.iter().filter_map(|k| owner.get(k)))
            .collect::<HashSet<_>>()
            .into_iter()
            .map(|id| crate::table::contact(&self.account, id))
            .collect();
        let sealer = self
            .app
            .sealer(
                &self.account,
                contact_keys.len() as u64 * (contact::SEALED + 4),
            )
            .await?;
        let mut existing: HashMap<ContactId, (Contact, Option<ImportMark>)> = HashMap::new();
        for chunk in contact_keys.chunks(MAX_BATCH_GET) {
            for item in self.app.items.batch_get(chunk).await?.into_iter().flatten() {
                let c = contact::from_item(&sealer, &item)?;
                existing.insert(c.id.clone(), (c, ImportMark::of(&item)));
            }
        }

        // Decide each row and build its writes.
        let at = now();
        let mut used: HashMap<ContactId, u64> = HashMap::new();
        for (row, keys, create) in candidates {
            let owners: HashSet<&ContactId> = keys.iter().filter_map(|k| owner.get(k)).collect();
            if owners.len() > 1 {
                out.reject(vec![RowError::new(
                    row.row,
                    "user_id",
                    "the phone and the user_id belong to two different contacts",
                )]);
                continue;
            }
            let current = owners.into_iter().next().and_then(|id| existing.get(id));
            let Some((current, mark)) = current else {
                if room.left == 0 {
                    out.reject(vec![RowError::new(row.row, "phone", room.reason())]);
                    continue;
                }
                room.left -= 1;
                out.groups.push(Group {
                    row: row.row,
                    outcome: Outcome::Created,
                    writes: create,
                });
                continue;
            };
            if let Some(first) = used.get(&current.id) {
                out.reject(vec![RowError::new(
                    row.row,
                    "phone",
                    format!("same contact as row {first}"),
                )]);
                continue;
            }
            used.insert(current.id.clone(), row.row);
            if let Some(mark) = mark {
                if mark.import_id == self.mark && mark.row == row.row {
                    // Applied before an interruption: count it as it was counted then.
                    match mark.outcome.as_str() {
                        "created" => out.counts.created += 1,
                        _ => out.counts.updated += 1,
                    }
                    continue;
                }
            }
            let next = match merge(current, &row, at) {
                Ok(n) => n,
                Err(e) => {
                    out.reject(vec![e]);
                    continue;
                }
            };
            if next.same_content(current) {
                out.counts.unchanged += 1;
                continue;
            }
            let mark = self.mark(row.row, Outcome::Updated);
            let writes = contact::replace_writes(&sealer, current, &next, Some(&mark))?;
            out.groups.push(Group {
                row: row.row,
                outcome: Outcome::Updated,
                writes,
            });
        }
        self.room = Some(room);
        Ok(out)
    }

    fn mark(&self, row: u64, outcome: Outcome) -> ImportMark {
        ImportMark {
            import_id: self.mark.clone(),
            row,
            outcome: outcome.as_str().into(),
        }
    }

    /// Counts a committed batch in.
    pub(super) fn absorb(&mut self, batch: &Committed) {
        self.counts.add(&batch.counts);
    }
}

/// A batch decided, its writes not yet made.
#[derive(Default)]
pub(super) struct Prepared {
    first: u64,
    last: u64,
    groups: Vec<Group>,
    errors: Vec<RowError>,
    counts: ImportCounts,
}

impl Prepared {
    fn reject(&mut self, errors: Vec<RowError>) {
        self.counts.rejected += 1;
        self.errors.extend(errors);
    }
}

/// A batch written: its rows (first to last), what they came to, and the rows rejected.
pub(super) struct Committed {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) counts: ImportCounts,
    pub(super) errors: Vec<RowError>,
}

/// Writes a prepared batch in as few transactions as the store takes. A group whose condition
/// fails (another request changed its contact meanwhile) is rejected and the rest retried.
pub(super) async fn commit(
    app: &App,
    account: &AccountId,
    batch: Prepared,
) -> Result<Committed, ServiceError> {
    let Prepared {
        first,
        last,
        groups,
        mut errors,
        mut counts,
    } = batch;
    // One place in each transaction is the contact tally's, one the account's check: nothing
    // is written for an account once it is closing.
    let max = app.items.max_transaction_writes() - 2;
    let mut pending: Vec<Group> = groups;
    while !pending.is_empty() {
        let mut size = 0;
        let take = pending
            .iter()
            .take_while(|g| {
                size += g.writes.len();
                size <= max
            })
            .count()
            .max(1);
        let mut chunk: Vec<Group> = pending.drain(..take).collect();
        let mut conflicts = 0;
        loop {
            let mut writes: Vec<Write> = chunk
                .iter()
                .flat_map(|g| g.writes.iter().cloned())
                .collect();
            let created = chunk
                .iter()
                .filter(|g| g.outcome == Outcome::Created)
                .count();
            if created > 0 {
                writes.push(Write::Update(contact::tally(account, created as i64)));
            }
            let open_check = writes.len();
            writes.push(crate::records::account::check_active(account));
            match app.items.transact(writes).await {
                Ok(()) => {
                    for g in &chunk {
                        count(&mut counts, g.outcome);
                    }
                    break;
                }
                Err(StoreError::ConditionFailed { index: Some(i) }) if i == open_check => {
                    return Err(ServiceError::AccountClosing);
                }
                Err(StoreError::ConditionFailed { index: Some(i) }) => {
                    let mut seen = 0;
                    let at = chunk.iter().position(|g| {
                        seen += g.writes.len();
                        i < seen
                    });
                    let Some(at) = at else {
                        return Err(StoreError::ConditionFailed { index: Some(i) }.into());
                    };
                    let g = chunk.remove(at);
                    counts.rejected += 1;
                    errors.push(RowError::new(
                        g.row,
                        "phone",
                        "the contact changed while the file was imported; import the file again to apply this row",
                    ));
                    if chunk.is_empty() {
                        break;
                    }
                }
                Err(StoreError::Conflict) if conflicts < 5 => {
                    conflicts += 1;
                    tokio::time::sleep(Duration::from_millis(20 << conflicts)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    errors.sort_by_key(|e| e.row);
    Ok(Committed {
        first,
        last,
        counts,
        errors,
    })
}

/// Hashes a blind index by its first eight bytes as they are: an HMAC's output is uniform
/// already, so SipHash's defence against chosen keys buys nothing for a million lookups.
#[derive(Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn short(index_hex: &str) -> [u8; 12] {
    let mut out = [0u8; 12];
    let _ = hex::decode_to_slice(index_hex.get(..24).unwrap_or_default(), &mut out);
    out
}

fn imported(at: Timestamp) -> Recorded {
    Recorded {
        at,
        via: "import".into(),
    }
}

fn new_contact(row: &RowUpdate, at: Timestamp) -> Contact {
    Contact {
        id: ContactId::generate(),
        phone: row.phone.clone(),
        user_id: row.user_id.clone(),
        name: row.name.clone(),
        username: None,
        tags: row.tags.clone(),
        attributes: Attributes::parse(row.attributes.clone()).unwrap_or_default(),
        consent: row.opted_in.map(|opted_in| Consent {
            opted_in,
            source: row.source.clone(),
            text: None,
            opted_in_at: opted_in.then_some(at),
            recorded: Some(imported(at)),
        }),
        opt_out: None,
        created_at: at,
        updated_at: at,
    }
}

/// The contact after a row: given fields replace, tags and attributes add up, consent changes
/// only if the row says something new about it.
fn merge(current: &Contact, row: &RowUpdate, at: Timestamp) -> Result<Contact, RowError> {
    let mut next = current.clone();
    if let Some(p) = &row.phone {
        next.phone = Some(p.clone());
    }
    if let Some(u) = &row.user_id {
        next.user_id = Some(u.clone());
    }
    if let Some(n) = &row.name {
        next.name = Some(n.clone());
    }
    next.tags.extend(row.tags.iter().cloned());
    check_tag_count(&next.tags).map_err(|e| RowError::new(row.row, "tags", e.0))?;
    if !row.attributes.is_empty() {
        let changes: BTreeMap<String, Option<String>> = row
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        next.attributes = current
            .attributes
            .merge(&changes)
            .map_err(|e| RowError::new(row.row, "attr", e.0))?;
    }
    if let Some(opted_in) = row.opted_in {
        let same = current.consent.as_ref().is_some_and(|c| {
            c.opted_in == opted_in && (row.source.is_none() || row.source == c.source)
        });
        if !same {
            next.consent = Some(Consent {
                opted_in,
                source: row.source.clone(),
                text: None,
                opted_in_at: opted_in.then_some(at),
                recorded: Some(imported(at)),
            });
        }
    }
    next.updated_at = at;
    Ok(next)
}
