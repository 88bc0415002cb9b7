//! Lifecycle in the replicated state: the indexes the leader's sweeps read, and the steps they
//! propose.
//!
//! - `expiry` (every expirable cube by its expiry time, kept by `write_version`): the expiry
//!   sweep's `Expire` steps, and restoring an expired cube.
//! - `dormant` (every DELETED or EXPIRED cube by tenant and the time it became so): the
//!   reclamation sweep's `Reclaim` steps, which purge after the policies' grace periods.
//! - `DefaultTtl` steps: a policy's default TTL given to existing cubes, with the cursor kept in
//!   the policy itself.
//!
//! Each index is its sweep's cursor: a cube leaves it when its sweep is done with it (or it
//! changes so that the sweep no longer applies), so the leader — any leader, after any restart —
//! finds what is due with range scans and never walks the cubes. Apply re-judges every item
//! from the entry and the replicated state (versions, policies, holds — an expiry reads the
//! version from the search index, which every replica derives alike from its applied writes):
//! no clock, no local view.

use memmesh_proto::{CubeState, EventType};
use ulid::Ulid;

use memmesh_proto::{MemCube, Policy, Scope};

use super::apply::Applier;
use super::feed::EventRecord;
use super::history::StatePatch;
use super::keys::{cube_key, dormant_key, dormant_prefix, expiry_key, ID_LEN};
use super::{cf, StoreError, CF_CUBES, CF_DORMANT, CF_EXPIRY};
use crate::model::expires_at;
use crate::model::lifecycle::{dormant_since, expirable, expirable_as};
use crate::model::policy::{cap_for, give_default_ttl, hold, reactivates, reclaimed_by, tier_due};
use crate::model::ApplyError;
use crate::raft::Outcome;

type ApplyResult = Result<Outcome, ApplyError>;

/// A cube due for expiry, as the expiry index has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub id: Ulid,
    /// Its expiry time.
    pub at: i64,
    /// The version and tenant the entry was written with (0 and "" for entries written before
    /// the index carried them: the sweep reads the cube then).
    pub version: u64,
    pub tenant: String,
}

/// The first `limit` cubes of the index due at `now` (expiry ≤ now) from expiry time `from` on.
///
/// Why `from`: every expired cube leaves a deletion tombstone at the front of the index until
/// RocksDB compacts it away, and a scan from the very start steps over all of them — with
/// 100,000 expiries in ten seconds, each sweep slowed down the more it had swept. The leader
/// starts where its last sweep found work (see `engine::lifecycle`).
pub(crate) fn due(db: &rocksdb::DB, from: i64, now: i64, limit: usize) -> Result<Vec<Due>, StoreError> {
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf(db, CF_EXPIRY));
    it.seek(expiry_key(from, Ulid::nil()));
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
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
        let (version, tenant) = match v.split_first_chunk::<8>() {
            Some((ver, t)) => (u64::from_be_bytes(*ver), String::from_utf8_lossy(t).into_owned()),
            None => (0, String::new()),
        };
        out.push(Due { id: Ulid::from_bytes(id.try_into().unwrap_or_default()), at, version, tenant });
        it.next();
    }
    it.status()?;
    Ok(out)
}

/// The value of a cube's expiry index entry: its version and tenant.
fn expiry_value(c: &MemCube) -> Vec<u8> {
    let tenant = c.scope.as_ref().map_or("", |s| s.tenant.as_str());
    let mut v = Vec::with_capacity(8 + tenant.len());
    v.extend_from_slice(&c.version.to_be_bytes());
    v.extend_from_slice(tenant.as_bytes());
    v
}

/// Stages the expiry and dormant index entries `c` should have and lacks; returns how many.
///
/// Why: cubes written before either index existed (TTL cubes before `expiry`, deleted or
/// expired ones before `dormant`) would otherwise never be swept or reclaimed. Run over every
/// cube when a node starts or installs a snapshot (`StateMachine::rebuild_index`); each replica
/// derives the same entries from the same cubes, and apply never trusts the indexes anyway.
pub(super) fn repair_index_entries(db: &rocksdb::DB, batch: &mut rocksdb::WriteBatch, id: Ulid, c: &MemCube) -> Result<usize, StoreError> {
    let mut added = 0;
    if let Some(at) = expirable(c) {
        let k = expiry_key(at, id);
        if db.get_cf(cf(db, CF_EXPIRY), k)?.is_none() {
            batch.put_cf(cf(db, CF_EXPIRY), k, expiry_value(c));
            added += 1;
        }
    }
    if let Some(since) = dormant_since(c) {
        let k = dormant_key(c.scope.as_ref().map_or("", |s| s.tenant.as_str()), since, id);
        if db.get_cf(cf(db, CF_DORMANT), &k)?.is_none() {
            batch.put_cf(cf(db, CF_DORMANT), k, []);
            added += 1;
        }
    }
    Ok(added)
}

/// At most `limit` cubes of `tenant` in the dormant index that became DELETED or EXPIRED at or
/// before `until`, oldest first, strictly after `after` (a previous answer's last entry):
/// (id, since).
pub(crate) fn dormant_until(
    db: &rocksdb::DB,
    tenant: &str,
    after: Option<(Ulid, i64)>,
    until: i64,
    limit: usize,
) -> Result<Vec<(Ulid, i64)>, StoreError> {
    let prefix = dormant_prefix(tenant);
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf(db, CF_DORMANT));
    match after {
        Some((id, at)) => {
            let mut k = dormant_key(tenant, at, id);
            k.push(0);
            it.seek(&k);
        }
        None => it.seek(&prefix),
    }
    while let Some(k) = it.key() {
        if !k.starts_with(&prefix) || out.len() >= limit {
            break;
        }
        let rest = &k[prefix.len()..];
        let (Some(at), Some(id)) = (rest.get(..8), rest.get(8..8 + ID_LEN)) else {
            return Err(StoreError::Corrupt { cf: CF_DORMANT, detail: format!("dormant key of {} bytes", k.len()) });
        };
        let at = u64::from_be_bytes(at.try_into().unwrap_or_default()) as i64;
        if at > until {
            break;
        }
        out.push((Ulid::from_bytes(id.try_into().unwrap_or_default()), at));
        it.next();
    }
    it.status()?;
    Ok(out)
}

/// At most `limit` cubes inside `scope`, in id order, strictly after `after`; and the last id
/// looked at if the scope may hold more (`None`: the scan reached its end).
pub(crate) fn scope_page(db: &rocksdb::DB, scope: &Scope, after: Option<Ulid>, limit: usize) -> Result<(Vec<MemCube>, Option<Ulid>), StoreError> {
    let (prefix, needs_filter) = super::keys::scope_prefix(scope);
    let mut it = db.raw_iterator_cf(cf(db, super::CF_SCOPE_IDX));
    match after {
        Some(id) => {
            let mut k = prefix.clone();
            k.extend_from_slice(&id.to_bytes());
            k.push(0);
            it.seek(&k);
        }
        None => it.seek(&prefix),
    }
    let (mut out, mut looked, mut last) = (Vec::new(), 0, None);
    while let Some(k) = it.key() {
        if !k.starts_with(&prefix) {
            return Ok((out, None));
        }
        if looked == limit {
            return Ok((out, last));
        }
        let id = super::keys::id_from_index_key(super::CF_SCOPE_IDX, k)?;
        looked += 1;
        last = Some(id);
        if let Some(c) = super::reader::load_cube(db, id)? {
            if !needs_filter || crate::model::scope_matches(scope, c.scope.as_ref().unwrap_or(&Scope::default())) {
                out.push(c);
            }
        }
        it.next();
    }
    it.status()?;
    Ok((out, None))
}

impl Applier<'_> {
    /// Moves a cube's entry in the dormant index (`None` = live).
    pub(super) fn index_dormant(&mut self, id: Ulid, tenant: &str, old: Option<i64>, new: Option<i64>) {
        if old == new {
            return;
        }
        if let Some(at) = old {
            self.batch.delete_cf(cf(self.db, CF_DORMANT), dormant_key(tenant, at, id));
        }
        if let Some(at) = new {
            self.batch.put_cf(cf(self.db, CF_DORMANT), dormant_key(tenant, at, id), []);
        }
    }

    /// The policies of `tenant` as stored, read once per write.
    fn policies(&mut self, tenant: &str) -> Result<&[Policy], StoreError> {
        if !self.policies.contains_key(tenant) {
            let all = super::policies::list(self.db, Some(tenant))?;
            self.policies.insert(tenant.to_string(), all);
        }
        Ok(self.policies.get(tenant).map_or(&[], |v| v.as_slice()))
    }

    /// The name of the legal hold covering `cube`, if any.
    pub(super) fn hold_on(&mut self, cube: &MemCube) -> Result<Option<String>, StoreError> {
        let scope = cube.scope.clone().unwrap_or_default();
        Ok(hold(self.policies(&scope.tenant)?, &scope, cube.memory_type).map(|p| p.name.clone()))
    }

    fn scope_of(cube: &MemCube) -> Scope {
        cube.scope.clone().unwrap_or_default()
    }

    /// The cube an item of a leader's step names, if it is still the version the leader judged
    /// (`None`: changed since, gone, or not an id — the item is skipped).
    fn judged(&self, id: &str, version: u64) -> Result<Option<(Ulid, MemCube)>, StoreError> {
        let Ok(ulid) = Ulid::from_string(id) else { return Ok(None) };
        Ok(super::reader::load_cube(self.db, ulid)?.filter(|c| c.version == version).map(|c| (ulid, c)))
    }

    /// Moves a cube's entry in the expiry index from expiry time `old` (`None`: was not
    /// expirable) to what `cube` (the new version) says. The entry's value is the version and
    /// the tenant, so the sweep judges without reading each cube.
    pub(super) fn index_expiry(&mut self, id: Ulid, old: Option<i64>, cube: &MemCube) {
        let new = expirable(cube);
        if let Some(at) = old.filter(|at| Some(*at) != new) {
            self.batch.delete_cf(cf(self.db, CF_EXPIRY), expiry_key(at, id));
        }
        if let Some(at) = new {
            self.batch.put_cf(cf(self.db, CF_EXPIRY), expiry_key(at, id), expiry_value(cube));
        }
    }

    pub(super) fn unindex_expiry(&mut self, id: Ulid, old: Option<i64>) {
        if let Some(at) = old {
            self.batch.delete_cf(cf(self.db, CF_EXPIRY), expiry_key(at, id));
        }
    }

    /// An `Expire` step: each cube still at the version the leader judged, still expirable and
    /// past its expiry at the step's time, and under no hold, becomes EXPIRED.
    ///
    /// Judged from the search index and written as a merge operand, without reading the cube
    /// (see `history`): the index holds each cube's current version on every replica alike
    /// (apply brings it up to date after each write, and it is rebuilt from the records at
    /// start), and the operand appends to whatever the record is when RocksDB merges it — the
    /// same version the index judged, as nothing else writes the record in between but a later
    /// write, which reads the merged record first.
    pub(super) fn expire(&mut self, at_ms: i64, items: &[(String, u64)]) -> Result<ApplyResult, StoreError> {
        let mut out = Outcome::default();
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for (id, version) in items {
            let judged = Ulid::from_string(id).ok().and_then(|u| self.index.indexed(u).map(|c| (u, c)));
            let Some((ulid, cube)) = judged.filter(|(u, c)| {
                c.version == *version && expirable_as(c.state, c.expires_at_ms, c.pinned).is_some_and(|at| at <= at_ms) && seen.insert(*u)
            }) else {
                // Changed since it was judged (a new TTL, a pin, a delete), gone, or listed twice.
                out.skipped += 1;
                continue;
            };
            #[cfg(test)]
            self.check_indexed(ulid, &cube)?;
            if hold(self.policies(&cube.scope.tenant)?, &cube.scope, cube.memory_type).is_some() {
                out.skipped += 1;
                continue;
            }
            self.unindex_expiry(ulid, Some(cube.expires_at_ms));
            self.index_dormant(ulid, &cube.scope.tenant, None, Some(self.at_ms));
            let patch = StatePatch {
                updated_at_ms: self.at_ms,
                version: cube.version + 1,
                revision: self.revision,
                state: CubeState::Expired as i32,
                request_id: self.request_id.to_string(),
            };
            self.batch.merge_cf(cf(self.db, CF_CUBES), cube_key(ulid), prost::Message::encode_to_vec(&patch));
            self.events.push(EventRecord {
                kind: EventType::Expired as i32,
                id: ulid.to_string(),
                version: patch.version,
                prev_version: cube.version,
                scope: crate::model::Pb(cube.scope),
                memory_type: cube.memory_type,
                request_id: patch.request_id,
            });
            out.merged += 1;
        }
        Ok(Ok(out))
    }

    /// In tests: the index's view of a cube is its stored record's.
    #[cfg(test)]
    fn check_indexed(&self, id: Ulid, seen: &crate::index::Indexed) -> Result<(), StoreError> {
        let c = super::reader::load_cube(self.db, id)?.expect("an indexed cube is stored");
        let stored = (c.version, c.state, c.expires_at_ms, c.pinned, c.scope.unwrap_or_default(), c.memory_type);
        assert_eq!(stored, (seen.version, seen.state, seen.expires_at_ms, seen.pinned, seen.scope.clone(), seen.memory_type));
        Ok(())
    }

    /// Whether a read with `record_access` brings `cube` back to ACTIVE.
    pub(super) fn reactivates(&mut self, cube: &MemCube) -> Result<bool, StoreError> {
        if cube.state != CubeState::Archived as i32 {
            return Ok(false);
        }
        let tenant = Self::scope_of(cube).tenant;
        Ok(reactivates(self.policies(&tenant)?, cube))
    }

    pub(super) fn archive(&mut self, at_ms: i64, items: &[(String, u64)]) -> Result<ApplyResult, StoreError> {
        let mut out = Outcome::default();
        for (id, version) in items {
            let Some((ulid, mut cube)) = self.judged(id, *version)? else {
                out.skipped += 1;
                continue;
            };
            let tenant = Self::scope_of(&cube).tenant;
            if tier_due(self.policies(&tenant)?, &cube, at_ms).is_none() {
                out.skipped += 1;
                continue;
            }
            cube.state = CubeState::Archived as i32;
            let cube = self.write_version(ulid, cube, EventType::Archived)?;
            out.merged += 1;
            out.cubes.push(crate::model::Pb(cube));
        }
        Ok(Ok(out))
    }

    pub(super) fn cap(&mut self, at_ms: i64, scope: &Scope, memory_type: i32, items: &[(String, u64)]) -> Result<ApplyResult, StoreError> {
        let mut out = Outcome::default();
        let cap = cap_for(self.policies(&scope.tenant)?, scope, memory_type).and_then(|p| p.max_active_per_scope);
        let active = self.index.active_by_scope(scope, memory_type, at_ms).into_iter().find(|(s, _)| s == scope).map_or(0, |(_, ids)| ids.len());
        let mut over = cap.map_or(0, |c| active.saturating_sub(c as usize));
        for (id, version) in items {
            let found = self.judged(id, *version)?;
            let Some((ulid, mut cube)) =
                found.filter(|(_, c)| over > 0 && c.state == CubeState::Active as i32 && !c.pinned && c.scope.as_ref() == Some(scope))
            else {
                out.skipped += 1;
                continue;
            };
            over -= 1;
            cube.state = CubeState::Archived as i32;
            let cube = self.write_version(ulid, cube, EventType::Archived)?;
            out.merged += 1;
            out.cubes.push(crate::model::Pb(cube));
        }
        Ok(Ok(out))
    }

    pub(super) fn reclaim(&mut self, at_ms: i64, items: &[(String, u64)]) -> Result<ApplyResult, StoreError> {
        let mut out = Outcome::default();
        for (id, version) in items {
            let Some((ulid, cube)) = self.judged(id, *version)? else {
                out.skipped += 1;
                continue;
            };
            // Past its grace, unpinned (a user's Purge still removes a pinned cube), unheld.
            let tenant = Self::scope_of(&cube).tenant;
            if reclaimed_by(self.policies(&tenant)?, &cube, at_ms).is_none() {
                out.skipped += 1;
                continue;
            }
            self.purge_one(ulid, &cube)?;
            out.purged += 1;
        }
        Ok(Ok(out))
    }

    pub(super) fn default_ttl(
        &mut self,
        tenant: &str,
        name: &str,
        set_at_ms: i64,
        items: &[(String, u64)],
        cursor: &str,
    ) -> Result<ApplyResult, StoreError> {
        let mut out = Outcome::default();
        for (id, version) in items {
            let Some((ulid, mut cube)) = self.judged(id, *version)?.filter(|(_, c)| Self::scope_of(c).tenant == tenant) else {
                out.skipped += 1;
                continue;
            };
            if !give_default_ttl(self.policies(tenant)?, &mut cube) {
                out.skipped += 1;
                continue;
            }
            let cube = self.write_version(ulid, cube, EventType::Updated)?;
            out.merged += 1;
            out.cubes.push(crate::model::Pb(cube));
        }
        super::policies::backfilled(self.db, self.batch, tenant, name, set_at_ms, cursor)?;
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
