//! The JSON form of MemMesh messages, as printed by `memmesh --json`. Enum values are their
//! proto names without the type prefix (`"PREFERENCE"`, `"ACTIVE"`); binary payloads are
//! base64 (`content.data_base64`).

use base64::Engine;
use memmesh_proto::*;
use serde_json::{json, Map, Value};

fn enum_name(name: Option<&'static str>, prefix: &str, raw: i32) -> Value {
    match name {
        Some(n) => Value::from(n.strip_prefix(prefix).unwrap_or(n)),
        None => Value::from(raw),
    }
}

pub fn kind(v: i32) -> Value {
    enum_name(CubeKind::try_from(v).ok().map(|e| e.as_str_name()), "CUBE_KIND_", v)
}
pub fn memory_type(v: i32) -> Value {
    enum_name(MemoryType::try_from(v).ok().map(|e| e.as_str_name()), "MEMORY_TYPE_", v)
}
pub fn source(v: i32) -> Value {
    enum_name(Source::try_from(v).ok().map(|e| e.as_str_name()), "SOURCE_", v)
}
pub fn state(v: i32) -> Value {
    enum_name(CubeState::try_from(v).ok().map(|e| e.as_str_name()), "CUBE_STATE_", v)
}

pub fn link_type(v: i32) -> Value {
    enum_name(LinkType::try_from(v).ok().map(|e| e.as_str_name()), "LINK_TYPE_", v)
}

pub fn put_outcome(v: i32) -> Value {
    enum_name(PutOutcome::try_from(v).ok().map(|e| e.as_str_name()), "PUT_OUTCOME_", v)
}

pub fn event_type(v: i32) -> Value {
    enum_name(EventType::try_from(v).ok().map(|e| e.as_str_name()), "EVENT_TYPE_", v)
}

/// One event as printed by `memmesh watch --json`: its revision, type, request id, the cube
/// after the change and (if asked for) the one before.
pub fn event(revision: u64, e: &Event) -> Value {
    let mut v = json!({
        "revision": revision,
        "type": event_type(e.r#type),
        "request_id": e.request_id,
        "cube": e.cube.as_ref().map(cube),
    });
    if let Some(p) = &e.prev_cube {
        v["prev_cube"] = cube(p);
    }
    v
}

pub fn scope(s: &Scope) -> Value {
    json!({ "tenant": s.tenant, "user": s.user, "agent": s.agent, "run": s.run })
}

pub fn cube(c: &MemCube) -> Value {
    let mut content = Map::new();
    if let Some(ct) = &c.content {
        if !ct.text.is_empty() {
            content.insert("text".into(), ct.text.clone().into());
        }
        if !ct.data.is_empty() {
            content.insert("data_base64".into(), base64::engine::general_purpose::STANDARD.encode(&ct.data).into());
            content.insert("media_type".into(), ct.media_type.clone().into());
        }
    }
    let prov = c.provenance.clone().unwrap_or_default();
    let usage = c.usage.unwrap_or_default();
    json!({
        "id": c.id,
        "scope": scope(&c.scope.clone().unwrap_or_default()),
        "kind": kind(c.kind),
        "content": content,
        "memory_type": memory_type(c.memory_type),
        "custom_type": c.custom_type,
        "source": source(c.source),
        "provenance": { "origin_agent": prov.origin_agent, "request_id": prov.request_id, "parents": prov.parents },
        "tags": c.tags,
        "context": c.context,
        "attributes": c.attributes,
        "importance": c.importance,
        "ttl_seconds": c.ttl_seconds,
        "expires_at_ms": c.expires_at_ms,
        "created_at_ms": c.created_at_ms,
        "updated_at_ms": c.updated_at_ms,
        "version": c.version,
        "revision": c.revision,
        "state": state(c.state),
        "usage": { "access_count": usage.access_count, "last_accessed_at_ms": usage.last_accessed_at_ms },
        // The vector itself is left out (hundreds of floats); its model and size say what it is.
        "embedding": c.embedding.as_ref().map(|e| json!({"model": e.model, "dims": e.vector.len()})),
        "slot": c.slot,
        "pinned": c.pinned,
        "links": c.links.iter().map(|l| json!({"type": link_type(l.r#type), "target_id": l.target_id})).collect::<Vec<_>>(),
        "acl": c.acl.as_ref().map(|a| {
            let entries = |l: &[AclEntry]| l.iter().map(|e| json!({"user": e.user, "agent": e.agent})).collect::<Vec<_>>();
            json!({"readers": entries(&a.readers), "writers": entries(&a.writers), "restricted": a.restricted})
        }),
    })
}

pub fn principal(p: &Principal) -> Value {
    let role = Role::try_from(p.role).map_or("UNKNOWN".to_string(), |r| r.as_str_name().trim_start_matches("ROLE_").to_string());
    json!({"tenant": p.tenant, "user": p.user, "agent": p.agent, "role": role, "cluster_admin": p.cluster_admin})
}

pub fn token(t: &TokenInfo) -> Value {
    json!({
        "id": t.id,
        "principal": t.principal.as_ref().map(principal),
        "created_at_ms": t.created_at_ms,
        "expires_at_ms": t.expires_at_ms,
        "description": t.description,
    })
}

pub fn grant(g: &Grant) -> Value {
    let access = Access::try_from(g.access).map_or("UNKNOWN".to_string(), |a| a.as_str_name().trim_start_matches("ACCESS_").to_string());
    json!({
        "id": g.id,
        "scope": scope(&g.scope.clone().unwrap_or_default()),
        "grantee": g.grantee.as_ref().map(principal),
        "access": access,
        "expires_at_ms": g.expires_at_ms,
        "created_at_ms": g.created_at_ms,
    })
}

pub fn policy(p: &Policy) -> Value {
    let mode = |v: i32| enum_name(DedupeMode::try_from(v).ok().map(|e| e.as_str_name()), "DEDUPE_MODE_", v);
    json!({
        "name": p.name,
        "scope": scope(&p.scope.clone().unwrap_or_default()),
        "memory_type": memory_type(p.memory_type),
        "dedupe": mode(p.dedupe),
        "dedupe_threshold": p.dedupe_threshold,
        "consolidate_every_seconds": p.consolidate_every_seconds,
        "consolidate_mode": mode(p.consolidate_mode),
        "consolidate_threshold": p.consolidate_threshold,
        "default_ttl_seconds": p.default_ttl_seconds,
        "purge_deleted_after_seconds": p.purge_deleted_after_seconds,
        "purge_expired_after_seconds": p.purge_expired_after_seconds,
        "hold": p.hold,
        "archive_after_idle_seconds": p.archive_after_idle_seconds,
        "archive_below_strength": p.archive_below_strength,
        "reactivate_on_access": p.reactivate_on_access,
        "max_active_per_scope": p.max_active_per_scope,
        "updated_at_ms": p.updated_at_ms,
        "last_consolidated_at_ms": p.last_consolidated_at_ms,
        "backfill_cursor": p.backfill_cursor,
    })
}

pub fn audit(e: &AuditEntry) -> Value {
    json!({
        "revision": e.revision,
        "position": e.position,
        "tenant": e.tenant,
        "actor": e.actor,
        "operation": e.operation,
        "target": e.target,
        "outcome": e.outcome,
        "at_ms": e.at_ms,
    })
}

/// One search result: the cube plus its scores and ranks.
pub fn hit(h: &SearchHit) -> Value {
    let mut v = h.cube.as_ref().map(cube).unwrap_or_else(|| json!({}));
    v["score"] = h.score.into();
    v["dense_score"] = h.dense_score.map_or(Value::Null, Into::into);
    v["dense_rank"] = h.dense_rank.into();
    v["lexical_score"] = h.lexical_score.map_or(Value::Null, Into::into);
    v["lexical_rank"] = h.lexical_rank.into();
    if let Some(s) = h.strength {
        v["strength"] = s.into();
    }
    if !h.linked.is_empty() {
        v["linked"] =
            h.linked.iter().map(|l| json!({"type": link_type(l.r#type), "incoming": l.incoming, "cube": l.cube.as_ref().map(cube)})).collect();
    }
    v
}

/// A single-cube write result: the cube's fields plus `revision` and `deduplicated`.
pub fn write(w: &WriteResponse) -> Value {
    let mut v = w.cube.as_ref().map(cube).unwrap_or_else(|| json!({}));
    v["revision"] = w.revision.into();
    v["deduplicated"] = w.deduplicated.into();
    if let Some(r) = &w.result {
        v["outcome"] = put_outcome(r.outcome);
        v["target_id"] = r.target_id.clone().into();
        v["similarity"] = r.similarity.into();
        v["superseded_ids"] = r.superseded_ids.clone().into();
        v["related"] = r.related.iter().map(|x| json!({"id": x.id, "similarity": x.similarity})).collect();
    }
    v
}

pub fn status(s: &StatusResponse) -> Value {
    json!({
        "node_id": s.node_id,
        "addr": s.addr,
        "role": s.role,
        "term": s.term,
        "leader_id": s.leader_id,
        "leader_addr": s.leader_addr,
        "committed_index": s.committed_index,
        "applied_index": s.applied_index,
        "last_log_index": s.last_log_index,
        "members": s.members.iter().map(|m| json!({"id": m.id, "addr": m.addr, "role": m.role, "matched_index": m.matched_index, "lag": m.lag})).collect::<Vec<_>>(),
    })
}

/// A failed call: `{"error": {"code": "NOT_FOUND", "message": "..."}}`.
pub fn error(s: &tonic::Status) -> Value {
    json!({ "error": { "code": code_name(s.code()), "message": s.message() } })
}

pub fn code_name(c: tonic::Code) -> String {
    // tonic's Debug names are CamelCase (NotFound); print the canonical gRPC names.
    let camel = format!("{c:?}");
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_canonical() {
        assert_eq!(code_name(tonic::Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(tonic::Code::Ok), "OK");
    }

    #[test]
    fn enums_print_without_prefix() {
        assert_eq!(memory_type(MemoryType::Preference as i32), "PREFERENCE");
        assert_eq!(state(CubeState::Deleted as i32), "DELETED");
        assert_eq!(memory_type(99), 99, "unknown values stay numeric");
    }
}
