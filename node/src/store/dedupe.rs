//! The idempotency table: the remembered results of writes made with a request id.
//!
//! A successful write with a request id leaves a [`DedupeRecord`] keyed by (tenant, request id)
//! in `dedupe`. A later entry with the same key — a client retry, even one that raced the
//! original through Raft — is answered from the record and changes nothing (see
//! `apply::apply_request`); the receiving node answers a remembered id before proposing at all
//! ([`lookup`]). The table keeps the [`DEDUPE_CAPACITY`] most recent records, evicted in
//! revision order through `dedupe_order`; the capacity is a compiled-in constant, not
//! configuration, because replicas with different capacities would evict differently and
//! diverge.

use rocksdb::{WriteBatch, DB};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::keys::{dedupe_key, u64_key};
use super::meta::KEY_DEDUPE_COUNT;
use super::reader::load_version;
use super::{cf, decode, encode, StoreError, CF_DEDUPE, CF_DEDUPE_ORDER, CF_SM_META};
use crate::model::{Pb, PutOutcome, PutResult};
use crate::raft::{Outcome, Request};

/// How many request ids the idempotency table remembers (the most recent ones).
pub const DEDUPE_CAPACITY: u64 = 100_000;

/// The remembered result of a write with a request id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DedupeRecord {
    pub fingerprint: [u8; 32],
    pub revision: u64,
    /// (cube id, version) of every cube the write produced; replayed from the version history.
    pub cubes: Vec<(String, u64)>,
    pub purged: u64,
    /// A put's outcome per input.
    pub results: Vec<PutResult>,
}

/// The record as written before puts had outcomes (every input was created); still read.
#[derive(Deserialize)]
struct DedupeRecordV0 {
    fingerprint: [u8; 32],
    revision: u64,
    cubes: Vec<(String, u64)>,
    purged: u64,
}

fn decode_record(b: &[u8]) -> Result<DedupeRecord, StoreError> {
    decode(CF_DEDUPE, b).or_else(|e| match postcard::from_bytes::<DedupeRecordV0>(b) {
        Ok(v0) => {
            let results = v0.cubes.iter().map(|(id, _)| PutResult { outcome: PutOutcome::Created, target: id.clone(), similarity: 0.0 }).collect();
            Ok(DedupeRecord { fingerprint: v0.fingerprint, revision: v0.revision, cubes: v0.cubes, purged: v0.purged, results })
        }
        Err(_) => Err(e),
    })
}

pub(crate) fn load(db: &DB, tenant: &str, request_id: &str) -> Result<Option<DedupeRecord>, StoreError> {
    match db.get_cf(cf(db, CF_DEDUPE), dedupe_key(tenant, request_id))? {
        Some(b) => Ok(Some(decode_record(&b)?)),
        None => Ok(None),
    }
}

/// Looks up the remembered result of `request_id`, for the pre-proposal fast path.
pub fn lookup(db: &DB, tenant: &str, request_id: &str) -> Result<Option<(DedupeRecord, Outcome)>, StoreError> {
    match load(db, tenant, request_id)? {
        Some(rec) => {
            let out = replay(db, &rec)?;
            Ok(Some((rec, out)))
        }
        None => Ok(None),
    }
}

/// Rebuilds the original outcome from the version history. A cube purged since is left out.
pub(crate) fn replay(db: &DB, rec: &DedupeRecord) -> Result<Outcome, StoreError> {
    let mut cubes = Vec::with_capacity(rec.cubes.len());
    for (id, version) in &rec.cubes {
        let Ok(ulid) = Ulid::from_string(id) else { continue };
        if let Some(c) = load_version(db, ulid, *version)? {
            cubes.push(Pb(c));
        }
    }
    Ok(Outcome { cubes, purged: rec.purged, deduplicated: true, results: rec.results.clone() })
}

pub(crate) fn record(db: &DB, batch: &mut WriteBatch, req: &Request, revision: u64, out: &Outcome, capacity: u64) -> Result<(), StoreError> {
    let rec = DedupeRecord {
        fingerprint: req.fingerprint,
        revision,
        cubes: out.cubes.iter().map(|c| (c.0.id.clone(), c.0.version)).collect(),
        purged: out.purged,
        results: out.results.clone(),
    };
    let key = dedupe_key(&req.tenant, &req.request_id);
    batch.put_cf(cf(db, CF_DEDUPE), &key, encode(&rec));
    batch.put_cf(cf(db, CF_DEDUPE_ORDER), u64_key(revision), &key);

    let count: u64 = match db.get_cf(cf(db, CF_SM_META), KEY_DEDUPE_COUNT)? {
        Some(b) => decode(CF_SM_META, &b)?,
        None => 0,
    } + 1;
    let excess = count.saturating_sub(capacity);
    let mut it = db.raw_iterator_cf(cf(db, CF_DEDUPE_ORDER));
    it.seek_to_first();
    for _ in 0..excess {
        let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
        batch.delete_cf(cf(db, CF_DEDUPE_ORDER), k);
        batch.delete_cf(cf(db, CF_DEDUPE), v);
        it.next();
    }
    it.status()?;
    batch.put_cf(cf(db, CF_SM_META), KEY_DEDUPE_COUNT, encode(&(count - excess)));
    Ok(())
}
