//! The adapter registry: which adapter cubes (see `model::adapter`) each scope holds, so an
//! AUTO search finds its adapter without walking the scope. Derived state like the rest of the
//! index: kept current by `apply`, rebuilt at start.

use std::collections::HashMap;
use std::sync::RwLock;

use memmesh_proto::{MemCube, Scope};
use ulid::Ulid;

use crate::model::adapter::{depth, is_active_adapter, is_adapter, scope_chain};

/// What AUTO needs of an adapter cube's current version.
#[derive(Clone)]
struct Entry {
    scope: Scope,
    version: u64,
    updated: i64,
    /// The version without its model bytes: enough to judge whether it is an active adapter.
    meta: MemCube,
}

#[derive(Default)]
pub struct Adapters {
    by_id: RwLock<HashMap<Ulid, Entry>>,
}

impl Adapters {
    /// Files (or forgets, if it is not an adapter) the current version of a cube.
    pub fn upsert(&self, id: Ulid, cube: &MemCube) {
        let mut g = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        if !is_adapter(cube) {
            g.remove(&id);
            return;
        }
        let mut meta = cube.clone();
        if let Some(c) = meta.content.as_mut() {
            c.data = Vec::new();
        }
        meta.embedding = None;
        g.insert(id, Entry { scope: cube.scope.clone().unwrap_or_default(), version: cube.version, updated: cube.updated_at_ms, meta });
    }

    /// Takes a new version of `id` that changed its state and update time alone (an expiry).
    pub fn restate(&self, id: Ulid, version: u64, revision: u64, state: i32, updated_at_ms: i64) {
        let mut g = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = g.get_mut(&id) {
            (e.version, e.updated) = (version, updated_at_ms);
            (e.meta.version, e.meta.revision, e.meta.state, e.meta.updated_at_ms) = (version, revision, state, updated_at_ms);
        }
    }

    pub fn remove(&self, id: Ulid) {
        self.by_id.write().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    pub fn clear(&self) {
        self.by_id.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The adapters AUTO may use for a search of `scopes` at `now`, best first: active adapters
    /// lying in one of the scopes or an ancestor of one, the most specific scope first, then
    /// the most recently updated, then the highest id. (The caller takes the first one the
    /// searcher may read.)
    pub fn candidates(&self, scopes: &[Scope], now: i64) -> Vec<(Ulid, u64)> {
        let chains: Vec<Scope> = scopes.iter().flat_map(scope_chain).collect();
        let g = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<(usize, i64, Ulid, u64)> = g
            .iter()
            .filter(|(_, e)| chains.contains(&e.scope) && is_active_adapter(&e.meta, now))
            .map(|(id, e)| (depth(&e.scope), e.updated, *id, e.version))
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
        found.into_iter().map(|(_, _, id, v)| (id, v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use memmesh_proto::{Content, CubeKind, CubeState};

    use super::*;
    use crate::model::adapter::{ACTIVE_ATTR, MEDIA_TYPE};

    fn adapter(scope: Scope, updated: i64, active: bool) -> MemCube {
        let mut c = MemCube {
            id: Ulid::new().to_string(),
            kind: CubeKind::Parametric as i32,
            state: CubeState::Active as i32,
            version: 1,
            updated_at_ms: updated,
            scope: Some(scope),
            content: Some(Content { media_type: MEDIA_TYPE.into(), data: vec![0; 8], ..Default::default() }),
            ..Default::default()
        };
        if active {
            c.attributes.insert(ACTIVE_ATTR.into(), "true".into());
        }
        c
    }

    fn scope(t: &str, u: &str) -> Scope {
        Scope { tenant: t.into(), user: u.into(), ..Default::default() }
    }

    #[test]
    fn auto_prefers_the_most_specific_scope_then_the_newest_and_skips_inactive_ones() {
        let reg = Adapters::default();
        let tenant_old = adapter(scope("t", ""), 1, true);
        let tenant_new = adapter(scope("t", ""), 2, true);
        let user = adapter(scope("t", "u"), 0, true);
        let off = adapter(scope("t", "u"), 9, false);
        let other = adapter(scope("t", "v"), 9, true);
        let foreign = adapter(scope("x", ""), 9, true);
        for c in [&tenant_old, &tenant_new, &user, &off, &other, &foreign] {
            reg.upsert(c.id.parse().unwrap(), c);
        }
        let ids = |v: Vec<(Ulid, u64)>| v.into_iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(reg.candidates(&[scope("t", "u")], 5)), vec![user.id.clone(), tenant_new.id.clone(), tenant_old.id.clone()]);
        // A tenant-wide search does not reach down into users' adapters.
        assert_eq!(ids(reg.candidates(&[scope("t", "")], 5)), vec![tenant_new.id.clone(), tenant_old.id.clone()]);
        // A deleted adapter is no candidate; a purged one is forgotten.
        let mut deleted = user.clone();
        deleted.state = CubeState::Deleted as i32;
        deleted.version = 2;
        reg.upsert(user.id.parse().unwrap(), &deleted);
        reg.remove(tenant_new.id.parse().unwrap());
        assert_eq!(ids(reg.candidates(&[scope("t", "u")], 5)), vec![tenant_old.id.clone()]);
    }
}
