//! Reading a tenant (or one user's memory) out for `Admin.Export`.
//!
//! Everything is read through one RocksDB snapshot — the scope index, the cubes, their past
//! versions and the applied revision — so an export is one point in time however long it
//! streams, and writes applied meanwhile are simply not in it. Cubes are handed to the caller
//! one at a time in id order (never the tenant at once), and the caller may stop the scan.

use memmesh_proto::{ExportedCube, MemCube, Policy, Scope};
use rocksdb::DB;

use super::keys::{cube_key, id_from_index_key, scope_prefix};
use super::{cf, StoreError, CF_CUBES, CF_SCOPE_IDX};
use crate::model::scope_matches;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportQuery {
    /// Tenant, and optionally user (the other fields are ignored).
    pub scope: Scope,
    /// The state at this revision; `None` = the snapshot's own.
    pub as_of: Option<u64>,
    pub history: bool,
}

/// What an export scan hands out, in order: one `Start`, then the cubes (nearly all items,
/// so they are not boxed).
#[allow(clippy::large_enum_variant)]
pub enum ExportItem {
    /// The revision the export is consistent at, and the policies that go with it.
    Start {
        revision: u64,
        policies: Vec<Policy>,
    },
    Cube(ExportedCube),
}

/// Scans the export, handing each item to `emit`, which returns whether to go on. Returns the
/// number of cubes emitted.
pub fn export(db: &DB, q: &ExportQuery, mut emit: impl FnMut(ExportItem) -> bool) -> Result<u64, StoreError> {
    let snap = db.snapshot();
    let applied = super::reader::applied_in(db, &snap)?;
    let revision = q.as_of.map_or(applied, |r| r.min(applied));
    let scope = Scope { tenant: q.scope.tenant.clone(), user: q.scope.user.clone(), ..Default::default() };
    // Policies keep no history: only an export of the current state carries them.
    let policies = if q.as_of.is_none() {
        let all = super::policies::list_in(db, Some(&scope.tenant), Some(&snap))?;
        all.into_iter().filter(|p| p.scope.as_ref().is_some_and(|s| scope_matches(&scope, s))).collect()
    } else {
        Vec::new()
    };
    if !emit(ExportItem::Start { revision, policies }) {
        return Ok(0);
    }

    let (prefix, _) = scope_prefix(&scope);
    let mut it = snap.raw_iterator_cf(cf(db, CF_SCOPE_IDX));
    it.seek(&prefix);
    let mut sent = 0;
    while let Some(k) = it.key() {
        if !k.starts_with(&prefix) {
            break;
        }
        let id = id_from_index_key(CF_SCOPE_IDX, k)?;
        it.next();
        let Some(b) = snap.get_cf(cf(db, CF_CUBES), cube_key(id))? else { continue };
        // Newest first: the current version, then — while they are newer than `revision`, or
        // for the history — the past ones, read from the record already in hand.
        let mut versions: Vec<MemCube> = Vec::new();
        super::history::walk_from(db, &snap, id, Some(b), |c| {
            let more = q.history || c.revision > revision;
            versions.push(c);
            more
        })?;
        // The version current at `revision` (none: created after it), and the older ones.
        let Some(at) = versions.iter().position(|c| c.revision <= revision) else { continue };
        let mut past = versions.split_off(at + 1);
        let Some(cube) = versions.pop() else { continue };
        past.reverse();
        let history = if q.history { past } else { Vec::new() };
        sent += 1;
        if !emit(ExportItem::Cube(ExportedCube { cube: Some(cube), history })) {
            break;
        }
    }
    it.status()?;
    Ok(sent)
}
