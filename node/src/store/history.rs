//! A cube's version history: the past versions stored in `versions`, and the ones a change of
//! state alone left inside the version that followed them.
//!
//! Why: an expiry changes a cube's state, version, revision and time, nothing else. Writing it
//! like any other change — the whole previous version (text, embedding and all) copied into
//! `versions`, the new one decoded and encoded again — made each expired cube a second
//! random-key insert into a large memtable and its bytes written twice more, most of what the
//! sweep cost the writers beside it (`bench-lifecycle`).
//!
//! How: protobuf lets a later occurrence of a scalar field override an earlier one and merges
//! a repeated message field into the first. So such a version is stored as the previous
//! version's bytes followed by the fields that changed ([`StatePatch`]), and last by the length of
//! the previous bytes, in a field `MemCube` does not declare ([`PRIOR_LEN_TAG`], reserved in
//! `cube.proto`). Decoding the bytes gives the new version — prost skips the unknown field —
//! and cutting them at that length gives the previous one ([`prior`]), so the previous version
//! is still in the history without being stored twice. Prost keeps no unknown fields, so a
//! version that is decoded and encoded again (every other change) carries no marker: the last
//! marker in a record always belongs to it.
//!
//! An expiry does not even read the record it changes: it writes the changed fields alone as a
//! RocksDB merge operand ([`StatePatch`]), and the `cubes` family's merge operator
//! ([`merge_state_patches`]) appends them to the record when it is next read, flushed or
//! compacted. Reading and decoding each expired cube was a fifth of what the sweep cost
//! (`bench-lifecycle`, `perf`); what an expiry judges (version, state, expiry, pin, scope) apply
//! takes from the search index, which holds every cube's current version.
//!
//! Every reader of past versions goes through [`walk_back`]: `versions` holds the rest.

use memmesh_proto::MemCube;
use prost::encoding::{encode_key, encode_varint, int32, int64, string, uint64, WireType};
use rocksdb::DB;
use ulid::Ulid;

use super::keys::{cube_key, version_key};
use super::{cf, decode_cube, StoreError, CF_CUBES, CF_VERSIONS};

/// The field of a stored cube record that holds the length of the previous version's bytes.
/// Not a field of `MemCube`: reserved there, so no field ever takes the number.
const PRIOR_LEN_TAG: u32 = 2047;

/// The tags of the `MemCube` fields a state change writes (see `cube.proto`).
const UPDATED_AT_MS: u32 = 15;
const VERSION: u32 = 16;
const REVISION: u32 = 17;
const STATE: u32 = 18;
const PROVENANCE: u32 = 8;
const PROVENANCE_REQUEST_ID: u32 = 2;

/// The fields of a stored record [`prior`] reads; prost skips the others without decoding them.
#[derive(Clone, PartialEq, prost::Message)]
struct Marker {
    #[prost(uint64, optional, tag = "2047")]
    prior_len: Option<u64>,
}

/// The fields a change of state alone writes: the merge operand of an expiry (see the module
/// docs).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct StatePatch {
    #[prost(int64, tag = "1")]
    pub updated_at_ms: i64,
    #[prost(uint64, tag = "2")]
    pub version: u64,
    #[prost(uint64, tag = "3")]
    pub revision: u64,
    #[prost(int32, tag = "4")]
    pub state: i32,
    /// Replaces the provenance's request id, if the record has a provenance.
    #[prost(string, tag = "5")]
    pub request_id: String,
}

/// Whether a stored record has a provenance; prost skips every other field undecoded.
#[derive(Clone, PartialEq, prost::Message)]
struct ProvenanceOnly {
    #[prost(message, optional, tag = "8")]
    provenance: Option<Skipped>,
}

/// A message whose fields are all skipped.
#[derive(Clone, PartialEq, prost::Message)]
struct Skipped {}

/// `old` followed by `patch`'s fields (the request id only if `old` has a provenance) and the
/// marker. Each field is written even when it is zero, as zero must override too.
fn append(old: &[u8], patch: &StatePatch, provenance: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(old.len() + 64);
    b.extend_from_slice(old);
    int64::encode(UPDATED_AT_MS, &patch.updated_at_ms, &mut b);
    uint64::encode(VERSION, &patch.version, &mut b);
    uint64::encode(REVISION, &patch.revision, &mut b);
    int32::encode(STATE, &patch.state, &mut b);
    if provenance {
        // Merged into the provenance already there: only its request id is replaced.
        let mut inner = Vec::with_capacity(patch.request_id.len() + 2);
        string::encode(PROVENANCE_REQUEST_ID, &patch.request_id, &mut inner);
        encode_key(PROVENANCE, WireType::LengthDelimited, &mut b);
        encode_varint(inner.len() as u64, &mut b);
        b.extend_from_slice(&inner);
    }
    uint64::encode(PRIOR_LEN_TAG, &(old.len() as u64), &mut b);
    b
}

/// The name of the `cubes` family's merge operator, stored in the database's options.
pub(super) const MERGE_OPERATOR: &str = "memmesh.state_patch";

/// The `cubes` family's merge operator: the record with each [`StatePatch`] operand appended
/// in turn — a function of the bytes alone, so every replica, whenever RocksDB merges, holds the
/// same record.
///
/// `None` (RocksDB then reports corruption) for an operand without a record or one that does
/// not decode: apply writes an operand only onto a record it knows exists, and a purge's delete
/// drops the operands below it. Runs inside RocksDB's threads, so it must not panic.
pub(super) fn merge_state_patches(record: Option<&[u8]>, operands: impl Iterator<Item = impl AsRef<[u8]>>) -> Option<Vec<u8>> {
    let mut out = record?.to_vec();
    for op in operands {
        let patch: StatePatch = prost::Message::decode(op.as_ref()).ok()?;
        let provenance = <ProvenanceOnly as prost::Message>::decode(out.as_slice()).ok()?.provenance.is_some();
        out = append(&out, &patch, provenance);
    }
    Some(out)
}

/// The previous version's bytes inside `record`, if a [`StatePatch`] was appended to them.
pub(super) fn prior<'a>(cf_name: &'static str, record: &'a [u8]) -> Result<Option<&'a [u8]>, StoreError> {
    let marker: Marker = prost::Message::decode(record).map_err(|e| StoreError::Corrupt { cf: cf_name, detail: e.to_string() })?;
    let Some(len) = marker.prior_len else { return Ok(None) };
    match usize::try_from(len).ok().filter(|l| *l < record.len()) {
        Some(l) => Ok(record.get(..l)),
        None => Err(StoreError::Corrupt { cf: cf_name, detail: format!("previous version of {len} bytes in a record of {}", record.len()) }),
    }
}

/// Every version of `id` in `snap` (a snapshot of `db`), newest first — the current one, then
/// the past ones — until `visit` returns false.
///
/// Each record is followed by the versions inside it, then by the stored version below the
/// lowest seen (older data also holds the current version in `versions`: it is skipped).
pub(crate) fn walk_back(db: &DB, snap: &rocksdb::Snapshot<'_>, id: Ulid, visit: impl FnMut(MemCube) -> bool) -> Result<(), StoreError> {
    let current = snap.get_cf(cf(db, CF_CUBES), cube_key(id))?;
    walk_from(db, snap, id, current, visit)
}

/// [`walk_back`] from `current`, the record of `id` in `cubes` already read from `snap`.
pub(crate) fn walk_from(
    db: &DB,
    snap: &rocksdb::Snapshot<'_>,
    id: Ulid,
    current: Option<Vec<u8>>,
    mut visit: impl FnMut(MemCube) -> bool,
) -> Result<(), StoreError> {
    let mut record = current.map(|b| (CF_CUBES, b));
    // Made when a version below the current record's is wanted: most walks (an export without
    // history, a read as of a recent revision) stop at the current record.
    let mut versions = None;
    // Versions below this one are still to be visited.
    let mut below = u64::MAX;
    loop {
        if let Some((cf_name, bytes)) = record.take() {
            let mut at: &[u8] = &bytes;
            loop {
                let c = decode_cube(cf_name, at)?;
                if c.version >= below {
                    return Err(StoreError::Corrupt { cf: cf_name, detail: format!("version {} of {id} after version {below}", c.version) });
                }
                below = c.version;
                if !visit(c) {
                    return Ok(());
                }
                match prior(cf_name, at)? {
                    Some(p) => at = p,
                    None => break,
                }
            }
        }
        let Some(next) = below.checked_sub(1) else { break };
        let it = versions.get_or_insert_with(|| snap.raw_iterator_cf(cf(db, CF_VERSIONS)));
        it.seek_for_prev(version_key(id, next));
        match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.starts_with(&cube_key(id)) => record = Some((CF_VERSIONS, v.to_vec())),
            _ => break,
        }
    }
    if let Some(it) = versions {
        it.status()?;
    }
    Ok(())
}

/// Every version of `id` in `snap`, oldest first; empty if it never existed or was purged.
pub(crate) fn all(db: &DB, snap: &rocksdb::Snapshot<'_>, id: Ulid) -> Result<Vec<MemCube>, StoreError> {
    let mut out = Vec::new();
    walk_back(db, snap, id, |c| {
        out.push(c);
        true
    })?;
    out.reverse();
    Ok(out)
}

/// Version `version` of `id` in `snap`.
pub(crate) fn version(db: &DB, snap: &rocksdb::Snapshot<'_>, id: Ulid, version: u64) -> Result<Option<MemCube>, StoreError> {
    let mut found = None;
    walk_back(db, snap, id, |c| {
        let above = c.version > version;
        if c.version == version {
            found = Some(c);
        }
        above
    })?;
    Ok(found)
}
