//! What each committed [`Request`] does to the data.
//!
//! `apply_request` stages every change of one log entry in a `WriteBatch`; the caller adds the
//! applied log id and writes the batch atomically, so a crash leaves either all of an entry's
//! effects or none. Decisions depend only on the entry and the prior state (no clocks, no
//! configuration), so every replica decides the same.
//!
//! Beside the ops here: a write with a request id is answered from the idempotency table when
//! it is a retry ([`super::dedupe`]), and growth is charged against the tenant's quota as it is
//! staged ([`super::usage::Charge`]).

use memmesh_proto::{CubeState, EventType, MemCube, Scope};
use rocksdb::{WriteBatch, DB};
use ulid::Ulid;

use super::dedupe::{self, DEDUPE_CAPACITY};
use super::feed::EventRecord;
use super::keys::{cube_key, id_from_index_key, scope_index_keys, scope_prefix, shared_index_keys, version_key};
use super::reader::{load_cube, load_version};
use super::usage::{cube_bytes, Charge};
use super::{cf, StoreError, CF_CUBES, CF_SCOPE_IDX, CF_VERSIONS};
use crate::index::SearchIndex;
use crate::model::lifecycle::{dormant_since, expirable, is_expired};
use crate::model::{apply_patch, rolled_back, scope_matches, ApplyError, Dedupe, Pb};
use crate::raft::{Op, Outcome, Request, Response};

type ApplyResult = Result<Outcome, ApplyError>;

/// A cube's id, its record as stored in `cubes`, and the version the record decodes to.
type Record = (Ulid, Vec<u8>, MemCube);

/// Stages the effects of `req`, committed at log index `revision`, into `batch`, and returns the
/// result with the change-feed events the change produced (none for a failed or deduplicated
/// write: nothing changed).
pub fn apply_request(
    db: &DB,
    index: &SearchIndex,
    batch: &mut WriteBatch,
    req: &Request,
    revision: u64,
) -> Result<(Response, Vec<EventRecord>), StoreError> {
    apply_with_capacity(db, index, batch, req, revision, DEDUPE_CAPACITY)
}

/// [`apply_request`] with an explicit idempotency-table capacity (tests use a small one).
pub(crate) fn apply_with_capacity(
    db: &DB,
    index: &SearchIndex,
    batch: &mut WriteBatch,
    req: &Request,
    revision: u64,
    capacity: u64,
) -> Result<(Response, Vec<EventRecord>), StoreError> {
    if !req.request_id.is_empty() {
        if let Some(rec) = dedupe::load(db, &req.tenant, &req.request_id)? {
            if rec.fingerprint != req.fingerprint {
                let err = ApplyError::RequestIdReused { request_id: req.request_id.clone() };
                return Ok((Response { revision, result: Err(err) }, Vec::new()));
            }
            return Ok((Response { revision: rec.revision, result: Ok(dedupe::replay(db, &rec)?) }, Vec::new()));
        }
    }
    let mut a = Applier {
        db,
        index,
        batch,
        revision,
        at_ms: req.at_ms,
        request_id: &req.request_id,
        events: Vec::new(),
        charge: Charge::new(&req.tenant, req.quota),
        policies: Default::default(),
        feedback_dropped: Default::default(),
    };
    let result = match &req.op {
        Op::Put { cubes } => a.put(cubes, &[Dedupe::None], None)?,
        Op::PutDedupe { cubes, dedupe } => a.put(cubes, &[*dedupe], None)?,
        Op::PutCubes { cubes, rules, related } => a.put(cubes, rules, *related)?,
        Op::PutPolicy { policy } => super::policies::put(db, a.batch, &policy.0)?,
        Op::DeletePolicy { tenant, name } => super::policies::delete(db, a.batch, tenant, name)?,
        Op::PolicyRan { tenant, name, at_ms } => super::policies::ran(db, a.batch, tenant, name, *at_ms)?,
        Op::Link { source, link_type, target, remove, expected_version } => a.link(source, *link_type, target, *remove, *expected_version)?,
        Op::Consolidate { clusters } => a.consolidate(clusters)?,
        Op::Update { patch, embedding } => a.update(patch, embedding.as_ref())?,
        Op::Delete { id, expected_version } => a.set_state(id, *expected_version, CubeState::Deleted)?,
        Op::Restore { id, expected_version } => a.set_state(id, *expected_version, CubeState::Active)?,
        Op::RestoreWithTtl { id, expected_version, ttl_seconds } => a.restore_with_ttl(id, *expected_version, *ttl_seconds)?,
        Op::Expire { at_ms, items } => a.expire(*at_ms, items)?,
        Op::Reclaim { at_ms, items } => a.reclaim(*at_ms, items)?,
        Op::Archive { at_ms, items } => a.archive(*at_ms, items)?,
        Op::Cap { at_ms, scope, memory_type, items } => a.cap(*at_ms, &scope.0, *memory_type, items)?,
        Op::DefaultTtl { tenant, name, set_at_ms, items, cursor } => a.default_ttl(tenant, name, *set_at_ms, items, cursor)?,
        Op::Rollback { id, to_version, expected_version } => a.rollback(id, *to_version, *expected_version)?,
        Op::Touch { id } => a.touch(id)?,
        Op::Import { cubes, policies } => a.import(cubes, policies)?,
        Op::Feedback { records } => a.feedback(&req.tenant, records)?,
        Op::PurgeCube { id } => a.purge_cube(id)?,
        Op::PurgeScope { scope } => a.purge_scope(&scope.0)?,
        Op::PutToken { token } => super::auth::put_token(db, a.batch, token)?,
        Op::RevokeToken { id } => super::auth::revoke_token(db, a.batch, id)?,
        Op::PutGrant { grant } => super::auth::put_grant(db, a.batch, &grant.0)?,
        Op::RevokeGrant { id } => super::auth::revoke_grant(db, a.batch, id)?,
        // The record itself is staged with every request's, in `state_machine`.
        Op::Audit { .. } => Ok(Outcome::default()),
    };
    if result.is_ok() {
        a.charge.stage(db, a.batch);
        super::feedback::release(db, a.batch, &a.feedback_dropped)?;
    }
    let events = if result.is_ok() { std::mem::take(&mut a.events) } else { Vec::new() };
    if let (Ok(outcome), false) = (&result, req.request_id.is_empty()) {
        dedupe::record(db, batch, req, revision, outcome, capacity)?;
    }
    Ok((Response { revision, result }, events))
}

pub(super) struct Applier<'a> {
    pub(super) db: &'a DB,
    /// Asked for duplicates by puts (see `index::SearchIndex::find_duplicate`).
    pub(super) index: &'a SearchIndex,
    pub(super) batch: &'a mut WriteBatch,
    pub(super) revision: u64,
    pub(super) at_ms: i64,
    pub(super) request_id: &'a str,
    pub(super) events: Vec<EventRecord>,
    /// This write's change to its tenant's usage, checked against the quota in the entry.
    charge: Charge<'a>,
    /// Tenants' policies as stored, read at most once per write (see `lifecycle`).
    pub(super) policies: std::collections::HashMap<String, Vec<memmesh_proto::Policy>>,
    /// Feedback records dropped with purged cubes, per tenant (see `feedback::release`).
    feedback_dropped: std::collections::BTreeMap<String, u64>,
}

/// What replacing a version needs of the one it replaces, besides its stored bytes (which move
/// to the history as they are) and its links: the index entries it was filed under.
#[derive(Default, Clone, Copy)]
pub(super) struct Prior {
    pub(super) expiry: Option<i64>,
    pub(super) dormant: Option<i64>,
}

impl Prior {
    pub(super) fn of(c: &MemCube) -> Self {
        Prior { expiry: expirable(c), dormant: dormant_since(c) }
    }
}

impl Applier<'_> {
    pub(super) fn charge(&mut self, cubes: i64, bytes: i64) -> Result<Result<(), ApplyError>, StoreError> {
        self.charge.add(self.db, cubes, bytes)
    }

    /// The current version of `id`, or the error a write to a missing cube gets.
    pub(super) fn current(&self, id: &str) -> Result<Result<(Ulid, MemCube), ApplyError>, StoreError> {
        Ok(self.current_record(id)?.map(|(ulid, _, cube)| (ulid, cube)))
    }

    /// [`Self::current`] with the record as stored, which may hold the previous version inside
    /// it (see [`super::history`]).
    pub(super) fn current_record(&self, id: &str) -> Result<Result<Record, ApplyError>, StoreError> {
        let not_found = || Ok(Err(ApplyError::NotFound { id: id.to_string() }));
        let Ok(ulid) = Ulid::from_string(id) else { return not_found() };
        match self.db.get_cf(cf(self.db, CF_CUBES), cube_key(ulid))? {
            Some(bytes) => {
                let cube = super::decode_cube(CF_CUBES, &bytes)?;
                Ok(Ok((ulid, bytes, cube)))
            }
            None => not_found(),
        }
    }

    /// Stages `cube` as a new version — bumps version, stamps revision and time — and records
    /// the change as a `kind` event.
    ///
    /// The current version lives only in `cubes`; the one it replaces moves into `versions`
    /// now, as stored (a cube that is never changed is stored once, not twice). The reverse
    /// link index follows the links the version adds or drops. One version of a cube per
    /// write: the previous one is read from the database, not from this write's batch.
    pub(super) fn write_version(&mut self, ulid: Ulid, cube: MemCube, kind: EventType) -> Result<MemCube, StoreError> {
        let prev = match cube.version {
            0 => None,
            _ => self.db.get_cf(cf(self.db, CF_CUBES), cube_key(ulid))?,
        };
        let (prior, old_links) = match prev {
            Some(bytes) => {
                let old = super::decode_cube(CF_CUBES, &bytes)?;
                self.batch.put_cf(cf(self.db, CF_VERSIONS), version_key(ulid, cube.version), bytes);
                (Prior::of(&old), old.links)
            }
            None => (Prior::default(), Vec::new()),
        };
        self.index_links(ulid, &old_links, &cube.links);
        Ok(self.store_version(ulid, prior, cube, kind))
    }

    /// What every new version gets: the next version number, this write's revision, time and
    /// request id, its entries in the lifecycle indexes moved from where `prior` had them, its
    /// record, and a `kind` event. (An expiry writes its own, see `lifecycle`.)
    fn store_version(&mut self, ulid: Ulid, prior: Prior, mut cube: MemCube, kind: EventType) -> MemCube {
        let prev_version = cube.version;
        cube.version += 1;
        cube.revision = self.revision;
        cube.updated_at_ms = self.at_ms;
        self.index_expiry(ulid, prior.expiry, &cube);
        let tenant = cube.scope.as_ref().map_or("", |s| s.tenant.as_str());
        self.index_dormant(ulid, tenant, prior.dormant, dormant_since(&cube));
        if let Some(p) = cube.provenance.as_mut() {
            p.request_id = self.request_id.to_string();
        }
        self.batch.put_cf(cf(self.db, CF_CUBES), cube_key(ulid), prost::Message::encode_to_vec(&cube));
        self.events.push(EventRecord::new(kind, &cube, prev_version, self.request_id));
        cube
    }

    /// Keeps the shared part of the scope index in step with whether the cube carries an ACL.
    pub(super) fn index_shared(&mut self, ulid: Ulid, scope: Option<&Scope>, had: bool, has: bool) {
        if had == has {
            return;
        }
        for k in shared_index_keys(scope.unwrap_or(&Scope::default()), ulid) {
            if has {
                self.batch.put_cf(cf(self.db, CF_SCOPE_IDX), k, []);
            } else {
                self.batch.delete_cf(cf(self.db, CF_SCOPE_IDX), k);
            }
        }
    }

    pub(super) fn single(cube: MemCube) -> ApplyResult {
        Ok(Outcome { cubes: vec![Pb(cube)], ..Default::default() })
    }

    pub(super) fn check_version(id: &str, cube: &MemCube, expected: u64) -> Result<(), ApplyError> {
        if expected != 0 && expected != cube.version {
            return Err(ApplyError::VersionConflict { id: id.to_string(), expected, actual: cube.version });
        }
        Ok(())
    }

    fn update(
        &mut self,
        patch: &Pb<memmesh_proto::UpdateRequest>,
        embedding: Option<&Pb<memmesh_proto::Embedding>>,
    ) -> Result<ApplyResult, StoreError> {
        let patch = &patch.0;
        let (ulid, mut cube) = match self.current(&patch.id)? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = Self::check_version(&patch.id, &cube, patch.expected_version) {
            return Ok(Err(e));
        }
        if cube.state == CubeState::Deleted as i32 {
            return Ok(Err(ApplyError::Precondition(format!("cube {} is deleted; restore it before updating", patch.id))));
        }
        // Past its expiry at this write's time (the entry's, not this replica's clock): only a
        // new TTL (or pinning it) brings it back; anything else would change a cube no read shows.
        if is_expired(&cube, self.at_ms) && patch.ttl_seconds.is_none() && patch.pinned != Some(true) {
            return Ok(Err(ApplyError::Precondition(format!(
                "cube {} expired at {} ms; give ttl_seconds (0 = none) or restore it",
                patch.id, cube.expires_at_ms
            ))));
        }
        let before = cube_bytes(&cube);
        let had_acl = cube.acl.is_some();
        let was_active = cube.state == CubeState::Active as i32;
        apply_patch(&mut cube, patch, self.at_ms);
        if patch.content.is_some() {
            // New text, new vector (computed before proposing) — or none, never the old one.
            cube.embedding = embedding.map(|e| e.0.clone());
        }
        if let Err(e) = self.charge(0, cube_bytes(&cube) - before)? {
            return Ok(Err(e));
        }
        if !was_active && cube.state == CubeState::Active as i32 {
            if let Err(e) = self.claim_slot(ulid, &mut cube)? {
                return Ok(Err(e));
            }
        }
        self.index_shared(ulid, cube.scope.as_ref(), had_acl, cube.acl.is_some());
        Ok(Self::single(self.write_version(ulid, cube, EventType::Updated)?))
    }

    pub(super) fn set_state(&mut self, id: &str, expected: u64, to: CubeState) -> Result<ApplyResult, StoreError> {
        let (ulid, mut cube) = match self.current(id)? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = Self::check_version(id, &cube, expected) {
            return Ok(Err(e));
        }
        let deleted = cube.state == CubeState::Deleted as i32;
        match to {
            CubeState::Deleted if deleted => {
                return Ok(Err(ApplyError::Precondition(format!("cube {id} is already deleted"))));
            }
            CubeState::Active if cube.state == CubeState::Expired as i32 => {
                return Ok(Err(ApplyError::Precondition(format!("cube {id} expired: restore it with ttl_seconds (0 = none)"))));
            }
            CubeState::Active if !deleted => {
                return Ok(Err(ApplyError::Precondition(format!("cube {id} is not deleted; nothing to restore"))));
            }
            _ => {}
        }
        cube.state = to as i32;
        if to == CubeState::Active {
            if let Err(e) = self.claim_slot(ulid, &mut cube)? {
                return Ok(Err(e));
            }
        }
        let kind = if to == CubeState::Deleted { EventType::Deleted } else { EventType::Restored };
        Ok(Self::single(self.write_version(ulid, cube, kind)?))
    }

    fn rollback(&mut self, id: &str, to_version: u64, expected: u64) -> Result<ApplyResult, StoreError> {
        let (ulid, cube) = match self.current(id)? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = Self::check_version(id, &cube, expected) {
            return Ok(Err(e));
        }
        let Some(target) = load_version(self.db, ulid, to_version)? else {
            return Ok(Err(ApplyError::VersionNotFound { id: id.to_string(), version: to_version }));
        };
        let mut next = rolled_back(&cube, &target);
        if let Err(e) = self.charge(0, cube_bytes(&next) - cube_bytes(&cube))? {
            return Ok(Err(e));
        }
        if cube.state != CubeState::Active as i32 && next.state == CubeState::Active as i32 {
            if let Err(e) = self.claim_slot(ulid, &mut next)? {
                return Ok(Err(e));
            }
        }
        Ok(Self::single(self.write_version(ulid, next, EventType::RolledBack)?))
    }

    /// Usage is not versioned: only the current record changes — unless the read brings an
    /// archived cube back (its policies' `reactivate_on_access`), which is a new version.
    fn touch(&mut self, id: &str) -> Result<ApplyResult, StoreError> {
        // The stored record, not a fresh encoding: it may hold the previous version inside it.
        let (ulid, stored, mut cube) = match self.current_record(id)? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let usage = cube.usage.get_or_insert_with(Default::default);
        usage.access_count += 1;
        usage.last_accessed_at_ms = self.at_ms;
        if self.reactivates(&cube)? {
            cube.state = CubeState::Active as i32;
            return Ok(Self::single(self.write_version(ulid, cube, EventType::Reactivated)?));
        }
        if let Some(previous) = super::history::prior(CF_CUBES, &stored)? {
            // Encoding the record again drops the previous version inside it: store that in
            // `versions` first (it is version - 1, see `history`).
            self.batch.put_cf(cf(self.db, CF_VERSIONS), version_key(ulid, cube.version.saturating_sub(1)), previous);
        }
        self.batch.put_cf(cf(self.db, CF_CUBES), cube_key(ulid), prost::Message::encode_to_vec(&cube));
        Ok(Self::single(cube))
    }

    pub(super) fn purge_one(&mut self, ulid: Ulid, cube: &MemCube) -> Result<(), StoreError> {
        // Shrinking never fails.
        let _ = self.charge(-1, -cube_bytes(cube))?;
        self.batch.delete_cf(cf(self.db, CF_CUBES), cube_key(ulid));
        self.batch.delete_range_cf(cf(self.db, CF_VERSIONS), version_key(ulid, 0), version_key(ulid, u64::MAX));
        self.batch.delete_cf(cf(self.db, CF_VERSIONS), version_key(ulid, u64::MAX));
        for k in scope_index_keys(&cube.scope.clone().unwrap_or_default(), ulid) {
            self.batch.delete_cf(cf(self.db, CF_SCOPE_IDX), k);
        }
        self.index_shared(ulid, cube.scope.as_ref(), cube.acl.is_some(), false);
        self.unindex_links(ulid, cube)?;
        self.unindex_expiry(ulid, expirable(cube));
        self.index_dormant(ulid, cube.scope.as_ref().map_or("", |s| s.tenant.as_str()), dormant_since(cube), None);
        super::feedback::purge_cube(self.db, self.batch, ulid, &mut self.feedback_dropped)?;
        self.events.push(EventRecord::new(EventType::Purged, cube, 0, self.request_id));
        Ok(())
    }

    /// Stores feedback records, each about a cube of `tenant` that still exists (all or none).
    fn feedback(&mut self, tenant: &str, records: &[crate::model::FeedbackRecord]) -> Result<ApplyResult, StoreError> {
        let mut staged = Vec::with_capacity(records.len());
        for r in records {
            let (ulid, cube) = match self.current(&r.cube_id)? {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            if cube.scope.as_ref().map_or("", |s| s.tenant.as_str()) != tenant {
                return Ok(Err(ApplyError::NotFound { id: r.cube_id.clone() }));
            }
            let mut r = r.clone();
            r.scope = Pb(cube.scope.clone().unwrap_or_default());
            staged.push((ulid, r));
        }
        super::feedback::stage(self.db, self.batch, tenant, &staged)?;
        Ok(Ok(Outcome { merged: staged.len() as u64, ..Default::default() }))
    }

    fn purge_cube(&mut self, id: &str) -> Result<ApplyResult, StoreError> {
        let purged = match self.current(id)? {
            Ok((ulid, cube)) => {
                if let Some(hold) = self.hold_on(&cube)? {
                    return Ok(Err(ApplyError::Precondition(format!("cube {id} is under legal hold (policy {hold}); lift the hold to purge it"))));
                }
                self.purge_one(ulid, &cube)?;
                1
            }
            Err(_) => 0,
        };
        Ok(Ok(Outcome { purged, ..Default::default() }))
    }

    fn purge_scope(&mut self, scope: &Scope) -> Result<ApplyResult, StoreError> {
        let (prefix, needs_filter) = scope_prefix(scope);
        let mut victims = Vec::new();
        let mut it = self.db.raw_iterator_cf(cf(self.db, CF_SCOPE_IDX));
        it.seek(&prefix);
        while let Some(k) = it.key() {
            if !k.starts_with(&prefix) {
                break;
            }
            victims.push(id_from_index_key(CF_SCOPE_IDX, k)?);
            it.next();
        }
        it.status()?;
        let mut doomed = Vec::with_capacity(victims.len());
        for ulid in victims {
            let Some(cube) = load_cube(self.db, ulid)? else { continue };
            if needs_filter && !scope_matches(scope, cube.scope.as_ref().unwrap_or(&Scope::default())) {
                continue;
            }
            // All or nothing: a scope purge that left the held cubes behind would look done.
            if let Some(hold) = self.hold_on(&cube)? {
                return Ok(Err(ApplyError::Precondition(format!(
                    "cube {} in this scope is under legal hold (policy {hold}); nothing was purged",
                    cube.id
                ))));
            }
            doomed.push((ulid, cube));
        }
        let mut purged = 0;
        for (ulid, cube) in doomed {
            self.purge_one(ulid, &cube)?;
            purged += 1;
        }
        Ok(Ok(Outcome { purged, ..Default::default() }))
    }
}
