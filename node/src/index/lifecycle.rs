//! What the expiry sweep's apply reads of a cube, and the change it makes, without the cube's
//! record (see `store::history`): the index holds every cube's current version, on every
//! replica the same, so `apply` judges an expiry from it as it would from the record.

use memmesh_proto::Scope;
use ulid::Ulid;

use super::SearchIndex;

/// A cube's current version as indexed: what an expiry is judged by and its event names.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    pub version: u64,
    pub state: i32,
    pub expires_at_ms: i64,
    pub pinned: bool,
    pub scope: Scope,
    pub memory_type: i32,
}

impl SearchIndex {
    /// The current version of `id` as indexed, if it is indexed.
    pub fn indexed(&self, id: Ulid) -> Option<Indexed> {
        let g = self.read();
        let d = g.by_id.get(&id).and_then(|&s| g.docs[s as usize].as_ref())?;
        Some(Indexed {
            version: d.version,
            state: d.state,
            expires_at_ms: d.expires,
            pinned: d.pinned,
            scope: d.scope.clone(),
            memory_type: d.memory_type,
        })
    }

    /// Takes a new version of `id` (written at `revision`) that changed its state and update
    /// time alone (an expiry), as [`SearchIndex::upsert`] of that version would.
    pub fn restate(&self, id: Ulid, version: u64, revision: u64, state: i32, updated_at_ms: i64) {
        self.adapters.restate(id, version, revision, state, updated_at_ms);
        let mut g = self.write();
        let inner = &mut *g;
        let Some(&slot) = inner.by_id.get(&id) else { return };
        let Some(doc) = inner.docs[slot as usize].as_mut() else { return };
        let held = doc.holds_slot();
        doc.version = version;
        doc.state = state;
        doc.updated = updated_at_ms;
        if let (Some(name), true) = (doc.slot.clone(), held != doc.holds_slot()) {
            let scope = doc.scope.clone();
            let tenant = inner.tenants.entry(scope.tenant.clone()).or_default();
            if held {
                tenant.release_slot(&scope, &name, slot);
            } else {
                tenant.hold_slot(&scope, &name, slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use memmesh_proto::{CubeState, MemCube};

    use super::*;

    fn cube(id: Ulid, slot: &str) -> MemCube {
        MemCube {
            id: id.to_string(),
            scope: Some(Scope { tenant: "t".into(), user: "u".into(), ..Default::default() }),
            state: CubeState::Active as i32,
            version: 3,
            expires_at_ms: 1_000,
            memory_type: 2,
            slot: slot.into(),
            content: Some(memmesh_proto::Content { text: "the sky is blue".into(), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn a_restated_cube_is_indexed_as_its_upserted_version_would_be() {
        let (a, b) = (SearchIndex::default(), SearchIndex::default());
        let (id, other) = (Ulid::from_parts(1, 1), Ulid::from_parts(2, 2));
        for ix in [&a, &b] {
            ix.upsert(&cube(id, "colour"));
            ix.upsert(&cube(other, ""));
        }
        let mut expired = cube(id, "colour");
        (expired.version, expired.revision, expired.state, expired.updated_at_ms) = (4, 9, CubeState::Expired as i32, 2_000);
        a.restate(id, 4, 9, CubeState::Expired as i32, 2_000);
        b.upsert(&expired);
        for ix in [&a, &b] {
            let seen = ix.indexed(id).unwrap();
            assert_eq!((seen.version, seen.state, seen.expires_at_ms, seen.memory_type), (4, CubeState::Expired as i32, 1_000, 2));
        }
        assert_eq!(a.indexed(id), b.indexed(id));
        let holders = |ix: &SearchIndex| ix.read().tenants.get("t").map_or(0, |t| t.slots.len());
        assert_eq!((holders(&a), holders(&b)), (0, 0), "the slot is released as an upsert releases it");
        let scope = Scope { tenant: "t".into(), ..Default::default() };
        assert_eq!(a.active_by_scope(&scope, 0, 500), b.active_by_scope(&scope, 0, 500));
        assert_eq!(a.active_by_scope(&scope, 0, 500).len(), 1, "the other cube is still active");
        assert_eq!(a.indexed(Ulid::from_parts(3, 3)), None, "not indexed");
    }
}
