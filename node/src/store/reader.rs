//! Queries served from this node's replica of the state machine.
//!
//! Reads go straight to RocksDB (they never pass through Raft). `list` reads from one RocksDB
//! snapshot, so a page and the revision reported with it are one consistent point in time.

use std::sync::Arc;

use memmesh_proto::{MemCube, Scope};
use rocksdb::DB;
use tokio::sync::watch;
use ulid::Ulid;

use super::dedupe::{self, DedupeRecord};
use super::history;
use super::keys::{cube_key, id_from_index_key, scope_prefix, version_key, SHARED_MARK};
use super::meta::{KEY_APPLIED, KEY_RETIRED};
use super::{cf, decode, decode_cube, StoreError, CF_CUBES, CF_SCOPE_IDX, CF_SM_META, CF_VERSIONS};
use crate::model::{scope_matches, Filter};
use crate::raft::{LogId, Outcome};

/// A `List` query: a scope, the cube filter, and where the page starts.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub scope: Scope,
    /// Applied to every cube the scan reaches; its created-at range also bounds the scan.
    pub filter: Filter,
    pub newest_first: bool,
    pub page_size: usize,
    /// Resume strictly after this id (in the query's order).
    pub after: Option<Ulid>,
    /// Scan only the cubes that carry an ACL (the caller may not read the scope as a whole,
    /// only what is shared with it).
    pub shared_only: bool,
}

impl ListQuery {
    fn matches(&self, c: &MemCube) -> bool {
        scope_matches(&self.scope, c.scope.as_ref().unwrap_or(&Scope::default())) && self.filter.accepts(c)
    }
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub cubes: Vec<MemCube>,
    /// Id of the last cube, when more may follow.
    pub next_after: Option<Ulid>,
    pub read_revision: u64,
}

/// Reads the current version of a cube.
pub(crate) fn load_cube(db: &DB, id: Ulid) -> Result<Option<MemCube>, StoreError> {
    match db.get_cf(cf(db, CF_CUBES), cube_key(id))? {
        Some(b) => Ok(Some(decode_cube(CF_CUBES, &b)?)),
        None => Ok(None),
    }
}

/// Reads one version of a cube: a past one from `versions`, the current one from `cubes`, or
/// one inside the version after it (see [`super::history`]).
pub(crate) fn load_version(db: &DB, id: Ulid, version: u64) -> Result<Option<MemCube>, StoreError> {
    if let Some(b) = db.get_cf(cf(db, CF_VERSIONS), version_key(id, version))? {
        return Ok(Some(decode_cube(CF_VERSIONS, &b)?));
    }
    match load_cube(db, id)? {
        Some(c) if c.version == version => Ok(Some(c)),
        // Inside a later version, or moved into `versions` by a write applied since the first
        // read: one snapshot sees both.
        Some(c) if c.version > version => history::version(db, &db.snapshot(), id, version),
        _ => Ok(None),
    }
}

/// The revision applied in `snap` (a snapshot of `db`): what a read from it is consistent at.
pub(crate) fn applied_in(db: &DB, snap: &rocksdb::Snapshot<'_>) -> Result<u64, StoreError> {
    Ok(match snap.get_cf(cf(db, CF_SM_META), KEY_APPLIED)? {
        Some(b) => decode::<Option<LogId>>(CF_SM_META, &b)?.map_or(0, |l| l.index),
        None => 0,
    })
}

/// Read access to the replica. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    db: Arc<DB>,
    applied: watch::Receiver<u64>,
    policies: super::policies::PolicyCache,
}

/// Smallest ULID with the given millisecond timestamp (clamped to ULID's 48-bit range).
fn ulid_floor(ms: i64) -> Ulid {
    Ulid::from_parts(ms.clamp(0, (1 << 48) - 1) as u64, 0)
}

impl Reader {
    pub fn new(db: Arc<DB>, applied: watch::Receiver<u64>) -> Self {
        Self { db, applied, policies: Default::default() }
    }

    /// Bytes of the state database: its SST files on disk plus its memtables, over every column
    /// family (for the metrics endpoint).
    pub fn state_bytes(&self) -> u64 {
        let prop = |cf, name| self.db.property_int_value_cf(cf, name).ok().flatten().unwrap_or(0);
        super::ALL_CFS
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .map(|cf| prop(cf, "rocksdb.total-sst-files-size") + prop(cf, "rocksdb.cur-size-all-mem-tables"))
            .sum()
    }

    /// Highest revision applied on this replica.
    pub fn applied_revision(&self) -> u64 {
        *self.applied.borrow()
    }

    /// A receiver that changes whenever the applied revision advances.
    pub fn applied_watch(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// A tenant's retrieval feedback, oldest first (see [`super::feedback`]).
    pub fn feedback(&self, tenant: &str) -> Result<Vec<crate::model::FeedbackRecord>, StoreError> {
        Ok(super::feedback::records(&self.db, tenant)?.into_iter().map(|(_, r)| r).collect())
    }

    pub fn get(&self, id: Ulid) -> Result<Option<MemCube>, StoreError> {
        load_cube(&self.db, id)
    }

    pub fn get_version(&self, id: Ulid, version: u64) -> Result<Option<MemCube>, StoreError> {
        load_version(&self.db, id, version)
    }

    /// The version that was current at `revision`: the newest whose revision is ≤ it.
    pub fn get_as_of(&self, id: Ulid, revision: u64) -> Result<Option<MemCube>, StoreError> {
        let mut found = None;
        history::walk_back(&self.db, &self.db.snapshot(), id, |c| {
            if c.revision <= revision {
                found = Some(c);
            }
            found.is_none()
        })?;
        Ok(found)
    }

    /// Every version of a cube, oldest first. Empty if the cube never existed or was purged.
    pub fn history(&self, id: Ulid) -> Result<Vec<MemCube>, StoreError> {
        // One snapshot for every read: a write applied in between moves the current version
        // into `versions`, and would otherwise be missed.
        history::all(&self.db, &self.db.snapshot(), id)
    }

    /// Whether `node_id` was ever removed from the cluster (and so must never be reused).
    pub fn is_retired(&self, node_id: u64) -> Result<bool, StoreError> {
        Ok(match self.db.get_cf(cf(&self.db, CF_SM_META), KEY_RETIRED)? {
            Some(b) => decode::<std::collections::BTreeSet<u64>>(CF_SM_META, &b)?.contains(&node_id),
            None => false,
        })
    }

    /// The token with this hash, if it exists (expiry is the caller's to check).
    pub fn token(&self, hash: &[u8; 32]) -> Result<Option<crate::model::TokenRecord>, StoreError> {
        super::auth::token(&self.db, hash)
    }

    pub fn token_by_id(&self, id: &str) -> Result<Option<crate::model::TokenRecord>, StoreError> {
        super::auth::token_by_id(&self.db, id)
    }

    pub fn tokens(&self, tenant: Option<&str>) -> Result<Vec<crate::model::TokenRecord>, StoreError> {
        super::auth::tokens(&self.db, tenant)
    }

    /// The tenant's grants that have not expired at `now_ms`.
    pub fn live_grants(&self, tenant: &str, now_ms: i64) -> Result<Vec<memmesh_proto::Grant>, StoreError> {
        Ok(super::auth::grants(&self.db, tenant)?.into_iter().filter(|g| crate::model::grant_live_at(g, now_ms)).collect())
    }

    /// The policies of `tenant`, or of every tenant.
    pub fn policies(&self, tenant: Option<&str>) -> Result<Vec<memmesh_proto::Policy>, StoreError> {
        super::policies::list(&self.db, tenant)
    }

    /// The policies of `tenant`, from a cache kept current with every stored change (the write
    /// path resolves them for every put).
    pub fn tenant_policies(&self, tenant: &str) -> Result<Arc<Vec<memmesh_proto::Policy>>, StoreError> {
        self.policies.get(&self.db, tenant)
    }

    pub fn policy(&self, tenant: &str, name: &str) -> Result<Option<memmesh_proto::Policy>, StoreError> {
        super::policies::get(&self.db, tenant, name)
    }

    pub fn grant_by_id(&self, id: &str) -> Result<Option<memmesh_proto::Grant>, StoreError> {
        super::auth::grant_by_id(&self.db, id)
    }

    /// Audit records after `after`, of one tenant or all; see [`super::audit::list`].
    pub fn audit(&self, tenant: Option<&str>, after: (u64, u32), limit: usize) -> Result<super::audit::AuditPage, StoreError> {
        super::audit::list(&self.db, tenant, after, limit)
    }

    pub fn trim_audit(&self, keep: u64) -> Result<u64, StoreError> {
        super::audit::trim(&self.db, keep)
    }

    /// The remembered result of an earlier write with this request id, if any.
    pub fn dedupe(&self, tenant: &str, request_id: &str) -> Result<Option<(DedupeRecord, Outcome)>, StoreError> {
        dedupe::lookup(&self.db, tenant, request_id)
    }

    /// The first `limit` expirable cubes due at `now` with an expiry from `from` on: (id,
    /// expiry), soonest first.
    pub fn due_expiries(&self, from: i64, now: i64, limit: usize) -> Result<Vec<super::lifecycle::Due>, StoreError> {
        super::lifecycle::due(&self.db, from, now, limit)
    }

    /// See `lifecycle::dormant_until`.
    pub fn dormant_until(&self, tenant: &str, after: Option<(Ulid, i64)>, until: i64, limit: usize) -> Result<Vec<(Ulid, i64)>, StoreError> {
        super::lifecycle::dormant_until(&self.db, tenant, after, until, limit)
    }

    /// See `lifecycle::scope_page`.
    pub fn scope_page(&self, scope: &Scope, after: Option<Ulid>, limit: usize) -> Result<(Vec<MemCube>, Option<Ulid>), StoreError> {
        super::lifecycle::scope_page(&self.db, scope, after, limit)
    }

    /// See `export::export`.
    pub fn export(&self, q: &super::export::ExportQuery, emit: impl FnMut(super::export::ExportItem) -> bool) -> Result<u64, StoreError> {
        super::export::export(&self.db, q, emit)
    }

    /// The links into `id`: (source, link type), in source order.
    pub fn incoming(&self, id: Ulid) -> Result<Vec<(Ulid, i32)>, StoreError> {
        super::links::incoming(&self.db, id)
    }

    /// One page of the cubes matching `q` that `sees` lets the caller see (tested inside the
    /// scan, so a page is full whenever enough visible cubes exist).
    pub fn list(&self, q: &ListQuery, sees: impl Fn(&MemCube) -> bool) -> Result<ListPage, StoreError> {
        let snap = self.db.snapshot();
        let read_revision = applied_in(&self.db, &snap)?;
        let (mut prefix, _) = scope_prefix(&q.scope);
        if q.shared_only {
            prefix.insert(0, SHARED_MARK);
        }
        let key_at = |id: Ulid| {
            let mut k = prefix.clone();
            k.extend_from_slice(&id.to_bytes());
            k
        };
        // [lower, upper) bounds of the scan, from the created-at range and the page cursor.
        let mut lower = q.filter.created.after.map_or_else(|| prefix.clone(), |ms| key_at(ulid_floor(ms)));
        let mut upper = q.filter.created.before.map_or_else(
            || {
                let mut p = prefix.clone();
                *p.last_mut().expect("prefix ends with a separator") += 1;
                p
            },
            |ms| key_at(ulid_floor(ms)),
        );
        if let Some(after) = q.after {
            if q.newest_first {
                upper = upper.min(key_at(after));
            } else {
                let mut k = key_at(after);
                k.push(0); // the smallest key strictly after `after`
                lower = lower.max(k);
            }
        }

        let mut it = snap.raw_iterator_cf(cf(&self.db, CF_SCOPE_IDX));
        if q.newest_first {
            it.seek_for_prev(&upper);
            if it.key() == Some(upper.as_slice()) {
                it.prev();
            }
        } else {
            it.seek(&lower);
        }
        let mut cubes = Vec::new();
        let mut more = false;
        while let Some(k) = it.key() {
            if k < lower.as_slice() || k >= upper.as_slice() {
                break;
            }
            let id = id_from_index_key(CF_SCOPE_IDX, k)?;
            if let Some(b) = snap.get_cf(cf(&self.db, CF_CUBES), cube_key(id))? {
                let c = decode_cube(CF_CUBES, &b)?;
                if q.matches(&c) && sees(&c) {
                    if cubes.len() == q.page_size {
                        more = true;
                        break;
                    }
                    cubes.push(c);
                }
            }
            if q.newest_first {
                it.prev()
            } else {
                it.next()
            }
        }
        it.status()?;
        let next_after = if more { cubes.last().and_then(|c| Ulid::from_string(&c.id).ok()) } else { None };
        Ok(ListPage { cubes, next_after, read_revision })
    }
}
