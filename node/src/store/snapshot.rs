//! Snapshot files: the whole state machine at one applied log id.
//!
//! Format: `MMSNAP2\n`, then a length-prefixed postcard [`Header`], then records
//! `[cf index u8][key len u32 LE][key][value len u32 LE][value]` for every key of every data
//! column family, then the end marker `0xFF`, then the SHA-256 of everything before it. Built
//! from a RocksDB snapshot, so the records and the applied log id in the header are one
//! consistent point in time even while apply goes on.
//!
//! The digest is checked before anything is staged: without it, damage to a value (not to the
//! framing) installed as it was (found by the fuzz smoke run). `MMSNAP1` files — the same
//! without the digest, written by earlier versions — are still read.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use rocksdb::{WriteBatch, DB};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::meta::{KEY_APPLIED, KEY_APPLIED_SUB, KEY_DEDUPE_COUNT, KEY_MEMBERSHIP, KEY_RETIRED, KEY_SNAPSHOT};
use super::{cf, decode, StoreError, CF_SM_META, DATA_CFS};
use crate::raft::{LogId, StoredMembership};

const MAGIC: &[u8] = b"MMSNAP2\n";
/// The format before the digest.
const MAGIC_V1: &[u8] = b"MMSNAP1\n";
const DIGEST_LEN: usize = 32;
const END: u8 = 0xFF;

#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub dedupe_count: u64,
    /// Node ids removed from the cluster, never to be reused.
    pub retired: std::collections::BTreeSet<u64>,
    /// Progress inside a partly applied entry (a snapshot can be taken between two of its
    /// writes); the installing node skips those writes when it applies that entry.
    pub applied_sub: Option<(u64, u32)>,
}

fn corrupt(detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { cf: "snapshot", detail: detail.into() }
}

/// Writes the current state to `path` (fsynced) and returns its header.
pub fn write(db: &DB, path: &Path) -> Result<Header, StoreError> {
    write_from(db, &db.snapshot(), path)
}

/// Writes the state as `snap` sees it to `path` (fsynced) and returns its header.
pub fn write_from(db: &DB, snap: &rocksdb::Snapshot<'_>, path: &Path) -> Result<Header, StoreError> {
    let meta = |key: &[u8]| snap.get_cf(cf(db, CF_SM_META), key);
    let header = Header {
        last_applied: meta(KEY_APPLIED)?.map(|b| decode(CF_SM_META, &b)).transpose()?.flatten(),
        membership: meta(KEY_MEMBERSHIP)?.map(|b| decode(CF_SM_META, &b)).transpose()?.unwrap_or_default(),
        dedupe_count: meta(KEY_DEDUPE_COUNT)?.map(|b| decode(CF_SM_META, &b)).transpose()?.unwrap_or(0),
        retired: meta(KEY_RETIRED)?.map(|b| decode(CF_SM_META, &b)).transpose()?.unwrap_or_default(),
        applied_sub: meta(KEY_APPLIED_SUB)?.map(|b| decode(CF_SM_META, &b)).transpose()?,
    };
    let file = File::create(path)?;
    let mut w = Hashing { inner: BufWriter::new(file), digest: Sha256::new() };
    w.write_all(MAGIC)?;
    let h = super::encode(&header);
    w.write_all(&(h.len() as u32).to_le_bytes())?;
    w.write_all(&h)?;
    for (i, name) in DATA_CFS.iter().enumerate() {
        let mut it = snap.raw_iterator_cf(cf(db, name));
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            w.write_all(&[i as u8])?;
            w.write_all(&(k.len() as u32).to_le_bytes())?;
            w.write_all(k)?;
            w.write_all(&(v.len() as u32).to_le_bytes())?;
            w.write_all(v)?;
            it.next();
        }
        it.status()?;
    }
    w.write_all(&[END])?;
    let Hashing { mut inner, digest } = w;
    inner.write_all(&digest.finalize())?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(header)
}

/// A writer that also hashes what goes through it.
struct Hashing<W> {
    inner: W,
    digest: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], StoreError> {
    if buf.len() < n {
        return Err(corrupt("truncated"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn take_u32(buf: &mut &[u8]) -> Result<usize, StoreError> {
    Ok(u32::from_le_bytes(take(buf, 4)?.try_into().expect("4 bytes")) as usize)
}

/// Stages in `batch` the replacement of every data column family by the snapshot's content.
pub fn stage_install(db: &DB, mut data: &[u8], batch: &mut WriteBatch) -> Result<Header, StoreError> {
    match data.get(..MAGIC.len()) {
        Some(m) if m == MAGIC => {
            let Some(split) = data.len().checked_sub(DIGEST_LEN).filter(|&n| n >= MAGIC.len()) else {
                return Err(corrupt("truncated"));
            };
            let (body, digest) = data.split_at(split);
            if Sha256::digest(body).as_slice() != digest {
                return Err(corrupt("checksum mismatch: the file is damaged"));
            }
            data = &body[MAGIC.len()..];
        }
        Some(m) if m == MAGIC_V1 => data = &data[MAGIC.len()..],
        _ => return Err(corrupt("bad magic")),
    }
    let hlen = take_u32(&mut data)?;
    let header: Header = decode("snapshot", take(&mut data, hlen)?)?;
    // Drop everything currently there (the snapshot replaces, it does not merge).
    for name in DATA_CFS {
        let mut it = db.raw_iterator_cf(cf(db, name));
        it.seek_to_first();
        while let Some(k) = it.key() {
            batch.delete_cf(cf(db, name), k);
            it.next();
        }
        it.status()?;
    }
    loop {
        let tag = take(&mut data, 1)?[0];
        if tag == END {
            break;
        }
        let name = DATA_CFS.get(tag as usize).ok_or_else(|| corrupt(format!("unknown column family {tag}")))?;
        let klen = take_u32(&mut data)?;
        let k = take(&mut data, klen)?;
        let vlen = take_u32(&mut data)?;
        let v = take(&mut data, vlen)?;
        batch.put_cf(cf(db, name), k, v);
    }
    if !data.is_empty() {
        return Err(corrupt("trailing bytes after end marker"));
    }
    Ok(header)
}

/// Stages the state-machine metadata that makes `snapshot` the applied state: the applied log
/// id and membership it names, the idempotency table's size, the retired node ids, the progress
/// inside a partly applied entry, and `snapshot` itself as the current one. Used by snapshot
/// install and by restore, which differ only in the membership and retired ids they give.
pub(super) fn stage_meta(
    db: &DB,
    batch: &mut WriteBatch,
    snapshot: &crate::raft::SnapshotMeta,
    dedupe_count: u64,
    retired: &std::collections::BTreeSet<u64>,
    applied_sub: Option<(u64, u32)>,
) {
    let meta_cf = cf(db, CF_SM_META);
    batch.put_cf(meta_cf, KEY_APPLIED, super::encode(&snapshot.last_log_id));
    batch.put_cf(meta_cf, KEY_MEMBERSHIP, super::encode(&snapshot.last_membership));
    batch.put_cf(meta_cf, KEY_DEDUPE_COUNT, super::encode(&dedupe_count));
    batch.put_cf(meta_cf, KEY_RETIRED, super::encode(retired));
    match applied_sub {
        Some(m) => batch.put_cf(meta_cf, KEY_APPLIED_SUB, super::encode(&m)),
        None => batch.delete_cf(meta_cf, KEY_APPLIED_SUB),
    }
    batch.put_cf(meta_cf, KEY_SNAPSHOT, super::encode(snapshot));
}

/// Reads a whole snapshot file.
pub fn read_all(mut f: impl Read) -> Result<Vec<u8>, StoreError> {
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}
