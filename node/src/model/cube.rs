//! Building a new cube from validated input and applying changes to it.
//!
//! These functions take every time and id as arguments: they run inside `apply`, which must give
//! the same result on every replica.

use memmesh_proto::{CubeInput, CubeState, MemCube, MemoryType, UpdateRequest, Usage};

/// A new cube (version and revision are set when it is applied).
pub fn new_cube(input: CubeInput, id: ulid::Ulid, at_ms: i64, request_id: &str) -> MemCube {
    let mut provenance = input.provenance.unwrap_or_default();
    provenance.request_id = request_id.to_string();
    MemCube {
        id: id.to_string(),
        scope: input.scope,
        kind: input.kind,
        content: input.content,
        memory_type: input.memory_type,
        custom_type: input.custom_type,
        source: input.source,
        provenance: Some(provenance),
        tags: input.tags,
        attributes: input.attributes,
        importance: input.importance,
        ttl_seconds: input.ttl_seconds,
        expires_at_ms: expires_at(at_ms, input.ttl_seconds),
        created_at_ms: at_ms,
        updated_at_ms: at_ms,
        version: 0,
        revision: 0,
        state: CubeState::Active as i32,
        usage: Some(Usage::default()),
        embedding: input.embedding,
        context: input.context,
        acl: input.acl,
        slot: input.slot,
        links: input.links,
        pinned: input.pinned,
    }
}

/// The stored form of an access list: entries sorted and without duplicates; a list that says
/// nothing (no entries, not restricted) is no list at all.
pub fn normalize_acl(acl: Option<memmesh_proto::Acl>) -> Option<memmesh_proto::Acl> {
    let mut acl = acl?;
    for list in [&mut acl.readers, &mut acl.writers] {
        list.sort_by(|a, b| (&a.user, &a.agent).cmp(&(&b.user, &b.agent)));
        list.dedup();
    }
    (acl.restricted || !acl.readers.is_empty() || !acl.writers.is_empty()).then_some(acl)
}

/// When a cube written at `at_ms` with `ttl_seconds` expires; 0 = never.
pub fn expires_at(at_ms: i64, ttl_seconds: u64) -> i64 {
    if ttl_seconds == 0 {
        0
    } else {
        // Saturating, never wrapping: a TTL past i64 is "never", not "already expired".
        at_ms.saturating_add(i64::try_from(ttl_seconds).unwrap_or(i64::MAX).saturating_mul(1000))
    }
}

/// Merges a validated partial update into `cube`. Removals happen before additions, so
/// "remove x, add x" keeps x.
pub fn apply_patch(cube: &mut MemCube, patch: &UpdateRequest, at_ms: i64) {
    if let Some(c) = &patch.content {
        cube.content = Some(c.clone());
    }
    if let Some(mt) = patch.memory_type {
        cube.memory_type = mt;
        if mt != MemoryType::Other as i32 && patch.custom_type.is_none() {
            cube.custom_type.clear();
        }
    }
    if let Some(ct) = &patch.custom_type {
        cube.custom_type = ct.clone();
    }
    if let Some(c) = &patch.context {
        cube.context = c.clone();
    }
    if let Some(i) = patch.importance {
        cube.importance = i;
    }
    if let Some(ttl) = patch.ttl_seconds {
        cube.ttl_seconds = ttl;
        cube.expires_at_ms = expires_at(at_ms, ttl);
    }
    if let Some(s) = patch.state {
        cube.state = s;
    }
    cube.tags.retain(|t| !patch.remove_tags.contains(t));
    cube.tags.extend(patch.add_tags.iter().cloned());
    cube.tags.sort();
    cube.tags.dedup();
    for k in &patch.remove_attributes {
        cube.attributes.remove(k);
    }
    for (k, v) in &patch.set_attributes {
        cube.attributes.insert(k.clone(), v.clone());
    }
    if let Some(acl) = &patch.acl {
        cube.acl = normalize_acl(Some(acl.clone()));
    }
    if let Some(p) = patch.pinned {
        cube.pinned = p;
    }
}

/// The cube that a rollback to `target` makes current: the target's content and metadata under
/// the current identity, creation time, usage, access list, pin, slot and links (an ACL governs the
/// cube, it is not content: rolling back must not re-share what was unshared, and a writer the
/// ACL names may roll back but not change the ACL; links record what happened to the cube since,
/// which a rollback does not undo).
pub fn rolled_back(current: &MemCube, target: &MemCube) -> MemCube {
    MemCube {
        id: current.id.clone(),
        scope: current.scope.clone(),
        kind: current.kind,
        created_at_ms: current.created_at_ms,
        usage: current.usage,
        acl: current.acl.clone(),
        slot: current.slot.clone(),
        links: current.links.clone(),
        pinned: current.pinned,
        version: current.version,
        revision: current.revision,
        ..target.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmesh_proto::Content;

    fn cube() -> MemCube {
        let input = CubeInput {
            content: Some(Content { text: "a".into(), ..Default::default() }),
            tags: vec!["x".into(), "y".into()],
            attributes: [("k".into(), "v".into())].into(),
            memory_type: MemoryType::Fact as i32,
            ..Default::default()
        };
        new_cube(input, ulid::Ulid::from_parts(1, 1), 1_000, "r1")
    }

    #[test]
    fn patch_changes_only_what_is_set() {
        let mut c = cube();
        let before = c.clone();
        let patch = UpdateRequest {
            remove_tags: vec!["x".into()],
            add_tags: vec!["z".into(), "y".into()],
            set_attributes: [("n".into(), "1".into())].into(),
            remove_attributes: vec!["k".into()],
            ttl_seconds: Some(10),
            ..Default::default()
        };
        apply_patch(&mut c, &patch, 5_000);
        assert_eq!(c.tags, vec!["y", "z"]);
        assert_eq!(c.attributes.len(), 1);
        assert_eq!(c.attributes["n"], "1");
        assert_eq!(c.expires_at_ms, 15_000);
        assert_eq!(c.content, before.content, "content untouched when not in the patch");
        assert_eq!(c.memory_type, before.memory_type);
    }

    #[test]
    fn rollback_keeps_identity_and_takes_old_content() {
        let old = cube();
        let mut cur = old.clone();
        cur.version = 3;
        cur.content = Some(Content { text: "b".into(), ..Default::default() });
        cur.usage = Some(Usage { access_count: 9, last_accessed_at_ms: 7 });
        let r = rolled_back(&cur, &old);
        assert_eq!(r.content, old.content);
        assert_eq!(r.usage, cur.usage);
        assert_eq!(r.version, 3, "version is bumped by apply, not here");
    }
}
