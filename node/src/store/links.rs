//! Links in the replicated state: the reverse index (`links` column family), slot claims
//! (superseding), the `Link` op and the steps of `Consolidate`.
//!
//! Every decision here reads the entry and the replicated state only — the slot holders come
//! from the search index, which `apply` itself keeps current (see `index::duplicates`) — so
//! every replica supersedes, links and merges the same cubes.

use std::collections::HashSet;

use memmesh_proto::{CubeState, EventType, Link, LinkType, MemCube};
use ulid::Ulid;

use super::apply::Applier;
use super::keys::{link_from_key, link_key};
use super::reader::load_cube;
use super::usage::cube_bytes;
use super::{cf, StoreError, CF_LINKS};
use crate::model::dedupe::merge_duplicate;
use crate::model::links::{add_link, link_changes, remove_link};
use crate::model::{ApplyError, MergePlan, Pb};
use crate::raft::Outcome;

type ApplyResult = Result<Outcome, ApplyError>;

fn tenant_of(c: &MemCube) -> &str {
    c.scope.as_ref().map_or("", |s| s.tenant.as_str())
}

/// The links into `target`: (source, link type), in source order.
pub(crate) fn incoming(db: &rocksdb::DB, target: Ulid) -> Result<Vec<(Ulid, i32)>, StoreError> {
    let prefix = target.to_bytes();
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf(db, CF_LINKS));
    it.seek(prefix);
    while let Some(k) = it.key() {
        if !k.starts_with(&prefix) {
            break;
        }
        out.push(link_from_key(k)?);
        it.next();
    }
    it.status()?;
    Ok(out)
}

impl Applier<'_> {
    /// Keeps the reverse index in step with a version of `source` whose links go from `old` to
    /// `new`.
    pub(super) fn index_links(&mut self, source: Ulid, old: &[Link], new: &[Link]) {
        let (added, removed) = link_changes(old, new);
        for (links, add) in [(added, true), (removed, false)] {
            for l in links {
                let Ok(target) = Ulid::from_string(&l.target_id) else { continue };
                let k = link_key(target, source, l.r#type);
                if add {
                    self.batch.put_cf(cf(self.db, CF_LINKS), k, []);
                } else {
                    self.batch.delete_cf(cf(self.db, CF_LINKS), k);
                }
            }
        }
    }

    /// A purged cube takes its outgoing links and the index of its incoming ones with it (the
    /// sources keep their links, which now name a cube that is gone).
    pub(super) fn unindex_links(&mut self, id: Ulid, cube: &MemCube) -> Result<(), StoreError> {
        self.index_links(id, &cube.links, &[]);
        for (source, t) in incoming(self.db, id)? {
            self.batch.delete_cf(cf(self.db, CF_LINKS), link_key(id, source, t));
        }
        Ok(())
    }

    /// `cube` (`id`, about to be written ACTIVE) takes its slot: every other ACTIVE holder of the
    /// slot in its exact scope becomes ARCHIVED with a SUPERSEDED_BY link to it (a SUPERSEDED
    /// event), and `cube` gets a SUPERSEDES link to each. Returns the superseded ids. Links do
    /// not count towards quota (see `usage::cube_bytes`), so this cannot exceed one.
    pub(super) fn claim_slot(&mut self, id: Ulid, cube: &mut MemCube) -> Result<Result<Vec<String>, ApplyError>, StoreError> {
        if cube.slot.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let scope = cube.scope.clone().unwrap_or_default();
        let mut superseded = Vec::new();
        for holder in self.index.slot_holders(&scope, &cube.slot) {
            if holder == id {
                continue;
            }
            let Some(old) = load_cube(self.db, holder)? else { continue };
            self.supersede(holder, old, cube)?;
            superseded.push(holder.to_string());
        }
        Ok(Ok(superseded))
    }

    /// Archives `old` (`holder`) as superseded by `by`, linking both ways.
    /// Returns the holder as written.
    pub(super) fn supersede(&mut self, holder: Ulid, mut old: MemCube, by: &mut MemCube) -> Result<MemCube, StoreError> {
        old.state = CubeState::Archived as i32;
        add_link(&mut old, LinkType::SupersededBy, &by.id);
        add_link(by, LinkType::Supersedes, &holder.to_string());
        self.write_version(holder, old, EventType::Superseded)
    }

    pub(super) fn link(&mut self, source: &str, link_type: i32, target: &str, remove: bool, expected: u64) -> Result<ApplyResult, StoreError> {
        let (src, mut cube) = match self.current(source)? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = Self::check_version(source, &cube, expected) {
            return Ok(Err(e));
        }
        let Ok(t) = LinkType::try_from(link_type) else {
            return Ok(Err(ApplyError::Precondition(format!("unknown link type {link_type}"))));
        };
        if remove {
            if !remove_link(&mut cube, t, target) {
                return Ok(Err(ApplyError::NotFound { id: format!("{source} has no {} link to {target}", t.as_str_name()) }));
            }
        } else {
            // The target must exist in the source's tenant; one in another tenant is reported
            // exactly like one that does not exist.
            if !self.in_tenant(target, tenant_of(&cube))? {
                return Ok(Err(ApplyError::NotFound { id: target.to_string() }));
            }
            if Ulid::from_string(target).ok() == Some(src) {
                return Ok(Err(ApplyError::Precondition("a cube cannot link to itself".into())));
            }
            if cube.state == CubeState::Deleted as i32 {
                return Ok(Err(ApplyError::Precondition(format!("cube {source} is deleted; restore it before linking"))));
            }
            if !add_link(&mut cube, t, target) {
                // Already linked: nothing changes, as for an UNCHANGED put.
                return Ok(Self::single(cube));
            }
        }
        Ok(Self::single(self.write_version(src, cube, EventType::Updated)?))
    }

    /// Whether `id` is a stored cube of `tenant` (a link may point only there).
    fn in_tenant(&self, id: &str, tenant: &str) -> Result<bool, StoreError> {
        let Ok(u) = Ulid::from_string(id) else { return Ok(false) };
        Ok(load_cube(self.db, u)?.is_some_and(|c| tenant_of(&c) == tenant))
    }

    /// Checks that the links a new cube carries point at cubes of its tenant.
    pub(super) fn check_link_targets(&self, cube: &MemCube) -> Result<Result<(), ApplyError>, StoreError> {
        for l in &cube.links {
            if !self.in_tenant(&l.target_id, tenant_of(cube))? {
                return Ok(Err(ApplyError::NotFound { id: l.target_id.clone() }));
            }
        }
        Ok(Ok(()))
    }

    /// One step of Consolidate. A cluster is merged only if its keeper and every member are
    /// still ACTIVE at the judged version — so a step applied twice (a retry after a leader
    /// change), or one racing a user's write, never merges a cube twice or over a change.
    pub(super) fn consolidate(&mut self, clusters: &[MergePlan]) -> Result<ApplyResult, StoreError> {
        // The cube as judged: still there, at that version, ACTIVE.
        let judged = |a: &Self, id: &str, version: u64| -> Result<Option<(Ulid, MemCube)>, StoreError> {
            Ok(a.current(id)?.ok().filter(|(_, c)| c.version == version && c.state == CubeState::Active as i32))
        };
        let mut seen: HashSet<Ulid> = HashSet::new();
        // (keeper id, keeper as merged, whether merging changed it), members.
        type Staged = ((Ulid, MemCube, bool), Vec<(Ulid, MemCube)>);
        let mut staged: Vec<Staged> = Vec::new();
        let (mut skipped, mut grow) = (0u64, 0i64);
        'clusters: for plan in clusters {
            let Some((kid, mut keeper)) = judged(self, &plan.keeper.0, plan.keeper.1)? else {
                skipped += 1;
                continue;
            };
            let mut members = Vec::with_capacity(plan.members.len());
            for (id, version, _) in &plan.members {
                match judged(self, id, *version)? {
                    Some((u, c)) if c.scope == keeper.scope && u != kid => members.push((u, c)),
                    _ => {
                        skipped += 1;
                        continue 'clusters;
                    }
                }
            }
            if members.is_empty() || std::iter::once(kid).chain(members.iter().map(|m| m.0)).any(|u| seen.contains(&u)) {
                skipped += 1;
                continue;
            }
            seen.insert(kid);
            seen.extend(members.iter().map(|m| m.0));
            let before = cube_bytes(&keeper);
            let mut changed = false;
            for (_, m) in &members {
                changed |= merge_duplicate(&mut keeper, m);
                let (uses, last) = m.usage.as_ref().map_or((0, 0), |u| (u.access_count, u.last_accessed_at_ms));
                if uses > 0 {
                    let u = keeper.usage.get_or_insert_with(Default::default);
                    u.access_count += uses;
                    u.last_accessed_at_ms = u.last_accessed_at_ms.max(last);
                    changed = true;
                }
            }
            grow += cube_bytes(&keeper) - before;
            staged.push(((kid, keeper, changed), members));
        }
        if let Err(e) = self.charge(0, grow)? {
            return Ok(Err(e));
        }
        let mut out = Outcome { skipped, ..Default::default() };
        for ((kid, keeper, changed), members) in staged {
            let keeper = if changed { self.write_version(kid, keeper, EventType::Merged)? } else { keeper };
            for (mid, mut m) in members {
                m.state = CubeState::Archived as i32;
                add_link(&mut m, LinkType::MergedInto, &keeper.id);
                self.write_version(mid, m, EventType::Archived)?;
                out.merged += 1;
            }
            out.cubes.push(Pb(keeper));
        }
        Ok(Ok(out))
    }
}
