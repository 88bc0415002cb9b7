//! Expiry in the replicated state: the `expiry` index (every expirable cube by its expiry
//! time, kept by `write_version`), the sweep's `Expire` steps and restoring an expired cube.
//!
//! The index is the sweep's cursor: a cube leaves it when it expires, is deleted, pinned or
//! given a new TTL, so the leader — any leader, after any restart — finds what is due with one
//! range scan from the start and never walks the cubes.

use memmesh_proto::{CubeState, EventType};
use ulid::Ulid;

use super::apply::Applier;
use super::keys::{expiry_key, ID_LEN};
use super::{cf, StoreError, CF_EXPIRY};
use crate::model::expires_at;
use crate::model::lifecycle::{expirable, is_expired};
use crate::model::ApplyError;
use crate::raft::Outcome;

type ApplyResult = Result<Outcome, ApplyError>;

/// The first `limit` cubes of the index due at `now` (expiry ≤ now) from expiry time `from` on:
/// (id, expiry).
///
/// Why `from`: every expired cube leaves a deletion tombstone at the front of the index until
/// RocksDB compacts it away, and a scan from the very start steps over all of them — with
/// 100,000 expiries in ten seconds, each sweep slowed down the more it had swept. The leader
/// starts where its last sweep found work (see `engine::lifecycle`).
pub(crate) fn due(db: &rocksdb::DB, from: i64, now: i64, limit: usize) -> Result<Vec<(Ulid, i64)>, StoreError> {
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf(db, CF_EXPIRY));
    it.seek(expiry_key(from, Ulid::nil()));
    while let Some(k) = it.key() {
        if out.len() >= limit {
            break;
        }
        let (Some(at), Some(id)) = (k.get(..8), k.get(8..8 + ID_LEN)) else {
            return Err(StoreError::Corrupt { cf: CF_EXPIRY, detail: format!("expiry key of {} bytes", k.len()) });
        };
        let at = u64::from_be_bytes(at.try_into().unwrap_or_default()) as i64;
        if at > now {
            break;
        }
        out.push((Ulid::from_bytes(id.try_into().unwrap_or_default()), at));
        it.next();
    }
    it.status()?;
    Ok(out)
}

impl Applier<'_> {
    /// Moves a cube's entry in the expiry index from `old` to `new` (expiry times; `None` = not
    /// expirable).
    pub(super) fn index_expiry(&mut self, id: Ulid, old: Option<i64>, new: Option<i64>) {
        if old == new {
            return;
        }
        if let Some(at) = old {
            self.batch.delete_cf(cf(self.db, CF_EXPIRY), expiry_key(at, id));
        }
        if let Some(at) = new {
            self.batch.put_cf(cf(self.db, CF_EXPIRY), expiry_key(at, id), []);
        }
    }

    pub(super) fn expire(&mut self, at_ms: i64, items: &[(String, u64)]) -> Result<ApplyResult, StoreError> {
        let mut out = Outcome::default();
        let mut seen = std::collections::HashSet::new();
        for (id, version) in items {
            let Ok(ulid) = Ulid::from_string(id) else { continue };
            let cube = match super::reader::load_cube(self.db, ulid)? {
                Some(c) if c.version == *version && expirable(&c).is_some() && is_expired(&c, at_ms) && seen.insert(ulid) => c,
                _ => {
                    // Changed since it was judged (a new TTL, a pin, a delete), gone, or listed twice.
                    out.skipped += 1;
                    continue;
                }
            };
            let mut cube = cube;
            cube.state = CubeState::Expired as i32;
            let cube = self.write_version(ulid, cube, EventType::Expired)?;
            out.merged += 1;
            out.cubes.push(crate::model::Pb(cube));
        }
        Ok(Ok(out))
    }

    pub(super) fn restore_with_ttl(&mut self, id: &str, expected: u64, ttl_seconds: u64) -> Result<ApplyResult, StoreError> {
        let (ulid, mut cube) = match self.current(id)? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = Self::check_version(id, &cube, expected) {
            return Ok(Err(e));
        }
        if cube.state != CubeState::Deleted as i32 && cube.state != CubeState::Expired as i32 {
            return Ok(Err(ApplyError::Precondition(format!("cube {id} is neither deleted nor expired; nothing to restore"))));
        }
        cube.state = CubeState::Active as i32;
        cube.ttl_seconds = ttl_seconds;
        cube.expires_at_ms = expires_at(self.at_ms, ttl_seconds);
        if let Err(e) = self.claim_slot(ulid, &mut cube)? {
            return Ok(Err(e));
        }
        Ok(Self::single(self.write_version(ulid, cube, EventType::Restored)?))
    }
}
