//! Retrieval feedback in the replicated state: the training data of query adapters.
//!
//! Keys of the `feedback` column family:
//!
//! | key | value |
//! |---|---|
//! | `r` tenant `\0` seq (u64 BE) | postcard [`FeedbackRecord`] |
//! | `c` cube id (16 bytes) seq (u64 BE) | tenant — which records name a cube, for its purge |
//! | `n` tenant | postcard `(next seq, records kept)` |
//!
//! Each tenant keeps its [`CAPACITY`] most recent records: a write past it drops the oldest in
//! the same batch (sequence numbers are assigned by apply, so every replica drops the same).
//! Purging a cube (alone, with its scope, or by reclamation) drops the feedback that names it.

use std::collections::BTreeMap;

use rocksdb::{WriteBatch, DB};
use ulid::Ulid;

use super::{cf, decode, encode, StoreError, CF_FEEDBACK};
use crate::model::FeedbackRecord;

/// Records kept per tenant.
pub const CAPACITY: u64 = 50_000;

fn record_prefix(tenant: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 2);
    k.push(b'r');
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k
}

fn record_key(tenant: &str, seq: u64) -> Vec<u8> {
    let mut k = record_prefix(tenant);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn cube_key(cube: Ulid, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.push(b'c');
    k.extend_from_slice(&cube.to_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn counter_key(tenant: &str) -> Vec<u8> {
    let mut k = vec![b'n'];
    k.extend_from_slice(tenant.as_bytes());
    k
}

fn seq_of(k: &[u8]) -> Result<u64, StoreError> {
    k.get(k.len().saturating_sub(8)..)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt { cf: CF_FEEDBACK, detail: format!("feedback key of {} bytes", k.len()) })
}

fn counter(db: &DB, tenant: &str) -> Result<(u64, u64), StoreError> {
    Ok(db.get_cf(cf(db, CF_FEEDBACK), counter_key(tenant))?.map(|b| decode(CF_FEEDBACK, &b)).transpose()?.unwrap_or((0, 0)))
}

/// Stages `records` (each with the id of the cube it is about, in `tenant`), dropping the
/// tenant's oldest records beyond [`CAPACITY`].
pub fn stage(db: &DB, batch: &mut WriteBatch, tenant: &str, records: &[(Ulid, FeedbackRecord)]) -> Result<(), StoreError> {
    stage_with_capacity(db, batch, tenant, records, CAPACITY)
}

/// [`stage`] with an explicit capacity (tests use a small one).
pub(super) fn stage_with_capacity(
    db: &DB,
    batch: &mut WriteBatch,
    tenant: &str,
    records: &[(Ulid, FeedbackRecord)],
    capacity: u64,
) -> Result<(), StoreError> {
    let (mut next, kept) = counter(db, tenant)?;
    for (cube, r) in records {
        batch.put_cf(cf(db, CF_FEEDBACK), record_key(tenant, next), encode(r));
        batch.put_cf(cf(db, CF_FEEDBACK), cube_key(*cube, next), tenant.as_bytes());
        next += 1;
    }
    let total = kept + records.len() as u64;
    let mut drop = total.saturating_sub(capacity);
    // The oldest are all stored already: one call adds fewer records than the capacity.
    let prefix = record_prefix(tenant);
    let mut it = db.raw_iterator_cf(cf(db, CF_FEEDBACK));
    it.seek(&prefix);
    while drop > 0 {
        let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
        if !k.starts_with(&prefix) {
            break;
        }
        let r: FeedbackRecord = decode(CF_FEEDBACK, v)?;
        let seq = seq_of(k)?;
        batch.delete_cf(cf(db, CF_FEEDBACK), k);
        if let Ok(id) = r.cube_id.parse::<Ulid>() {
            batch.delete_cf(cf(db, CF_FEEDBACK), cube_key(id, seq));
        }
        drop -= 1;
        it.next();
    }
    it.status()?;
    batch.put_cf(cf(db, CF_FEEDBACK), counter_key(tenant), encode(&(next, total.min(capacity))));
    Ok(())
}

/// Stages the removal of every record naming `cube` (purged), counting them per tenant in
/// `dropped` — several cubes may be purged in one write, so the counters are adjusted once, at
/// its end ([`release`]).
pub fn purge_cube(db: &DB, batch: &mut WriteBatch, cube: Ulid, dropped: &mut BTreeMap<String, u64>) -> Result<(), StoreError> {
    let mut prefix = vec![b'c'];
    prefix.extend_from_slice(&cube.to_bytes());
    let mut it = db.raw_iterator_cf(cf(db, CF_FEEDBACK));
    it.seek(&prefix);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(&prefix) {
            break;
        }
        let tenant = String::from_utf8_lossy(v).into_owned();
        batch.delete_cf(cf(db, CF_FEEDBACK), record_key(&tenant, seq_of(k)?));
        batch.delete_cf(cf(db, CF_FEEDBACK), k);
        *dropped.entry(tenant).or_default() += 1;
        it.next();
    }
    it.status()?;
    Ok(())
}

/// Stages the tenants' counters after `dropped` records were removed.
pub fn release(db: &DB, batch: &mut WriteBatch, dropped: &BTreeMap<String, u64>) -> Result<(), StoreError> {
    for (tenant, n) in dropped {
        let (next, kept) = counter(db, tenant)?;
        batch.put_cf(cf(db, CF_FEEDBACK), counter_key(tenant), encode(&(next, kept.saturating_sub(*n))));
    }
    Ok(())
}

/// The tenant's records with their sequence numbers, oldest first.
pub fn records(db: &DB, tenant: &str) -> Result<Vec<(u64, FeedbackRecord)>, StoreError> {
    let prefix = record_prefix(tenant);
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf(db, CF_FEEDBACK));
    it.seek(&prefix);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(&prefix) {
            break;
        }
        out.push((seq_of(k)?, decode(CF_FEEDBACK, v)?));
        it.next();
    }
    it.status()?;
    Ok(out)
}
