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
///
/// Layouts only ever grow at the end: the bytes of an older record run out before a newer
/// decoder is done (postcard then fails), and the next older layout is tried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DedupeRecord {
    pub fingerprint: [u8; 32],
    pub revision: u64,
    /// (cube id, version) of every cube the write produced; replayed from the version history.
    pub cubes: Vec<(String, u64)>,
    pub purged: u64,
    /// A put's outcome per input: outcome, target id, similarity.
    pub results: Vec<(PutOutcome, String, f32)>,
    /// Per input (when any input has some): the cubes it superseded and its related cubes.
    pub notes: Vec<PutNote>,
}

/// What a put result says beyond its outcome: superseded cubes, related cubes.
pub type PutNote = (Vec<String>, Vec<(String, f32)>);

impl DedupeRecord {
    fn put_results(&self) -> Vec<PutResult> {
        let mut notes = self.notes.iter();
        self.results
            .iter()
            .map(|(o, id, s)| {
                let mut r = PutResult::new(*o, id, *s);
                if let Some((superseded, related)) = notes.next() {
                    r.superseded = superseded.clone();
                    r.related = related.clone();
                }
                r
            })
            .collect()
    }
}

/// The record as written before puts had outcomes (every input was created); still read.
#[derive(Deserialize)]
struct DedupeRecordV0 {
    fingerprint: [u8; 32],
    revision: u64,
    cubes: Vec<(String, u64)>,
    purged: u64,
}

/// The record as written before put results named superseded and related cubes; still read.
#[derive(Deserialize)]
struct DedupeRecordV1 {
    fingerprint: [u8; 32],
    revision: u64,
    cubes: Vec<(String, u64)>,
    purged: u64,
    results: Vec<(PutOutcome, String, f32)>,
}

fn decode_record(b: &[u8]) -> Result<DedupeRecord, StoreError> {
    if let Ok(r) = decode::<DedupeRecord>(CF_DEDUPE, b) {
        return Ok(r);
    }
    if let Ok(v1) = postcard::from_bytes::<DedupeRecordV1>(b) {
        return Ok(DedupeRecord {
            fingerprint: v1.fingerprint,
            revision: v1.revision,
            cubes: v1.cubes,
            purged: v1.purged,
            results: v1.results,
            notes: Vec::new(),
        });
    }
    match postcard::from_bytes::<DedupeRecordV0>(b) {
        Ok(v0) => {
            let results = v0.cubes.iter().map(|(id, _)| (PutOutcome::Created, id.clone(), 0.0)).collect();
            Ok(DedupeRecord { fingerprint: v0.fingerprint, revision: v0.revision, cubes: v0.cubes, purged: v0.purged, results, notes: Vec::new() })
        }
        Err(_) => decode(CF_DEDUPE, b),
    }
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
    Ok(Outcome { cubes, purged: rec.purged, deduplicated: true, results: rec.put_results(), ..Default::default() })
}

pub(crate) fn record(db: &DB, batch: &mut WriteBatch, req: &Request, revision: u64, out: &Outcome, capacity: u64) -> Result<(), StoreError> {
    let rec = DedupeRecord {
        fingerprint: req.fingerprint,
        revision,
        cubes: out.cubes.iter().map(|c| (c.0.id.clone(), c.0.version)).collect(),
        purged: out.purged,
        results: out.results.iter().map(|r| (r.outcome, r.target.clone(), r.similarity)).collect(),
        notes: if out.results.iter().any(|r| !r.superseded.is_empty() || !r.related.is_empty()) {
            out.results.iter().map(|r| (r.superseded.clone(), r.related.clone())).collect()
        } else {
            Vec::new()
        },
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

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct V0 {
        fingerprint: [u8; 32],
        revision: u64,
        cubes: Vec<(String, u64)>,
        purged: u64,
    }

    #[derive(Serialize)]
    struct V1 {
        fingerprint: [u8; 32],
        revision: u64,
        cubes: Vec<(String, u64)>,
        purged: u64,
        results: Vec<(PutOutcome, String, f32)>,
    }

    fn cubes() -> Vec<(String, u64)> {
        vec![("A".into(), 1), ("B".into(), 2), ("C".into(), 1)]
    }

    #[test]
    fn records_of_every_earlier_layout_still_decode() {
        let v0 = postcard::to_stdvec(&V0 { fingerprint: [7; 32], revision: 9, cubes: cubes(), purged: 0 }).unwrap();
        let r = decode_record(&v0).unwrap();
        assert_eq!((r.revision, r.cubes.len(), r.results.len()), (9, 3, 3));
        assert!(r.results.iter().all(|x| x.0 == PutOutcome::Created), "before outcomes every input was created");

        // A batch of several results: the newest decoder must not misread the older bytes.
        let results = vec![(PutOutcome::Created, "A".into(), 0.0), (PutOutcome::Merged, "B".into(), 0.97), (PutOutcome::Unchanged, "A".into(), 1.0)];
        let v1 = postcard::to_stdvec(&V1 { fingerprint: [7; 32], revision: 9, cubes: cubes(), purged: 0, results: results.clone() }).unwrap();
        let r = decode_record(&v1).unwrap();
        assert_eq!(r.results, results);
        assert!(r.notes.is_empty());

        let now = DedupeRecord {
            fingerprint: [7; 32],
            revision: 9,
            cubes: cubes(),
            purged: 0,
            results,
            notes: vec![(vec!["Z".into()], vec![]), (vec![], vec![("Y".into(), 0.8)]), (vec![], vec![])],
        };
        let back = decode_record(&encode(&now)).unwrap();
        assert_eq!(back, now);
        let put = back.put_results();
        assert_eq!((put[0].superseded.clone(), put[1].related.clone()), (vec!["Z".to_string()], vec![("Y".to_string(), 0.8)]));
    }
}
