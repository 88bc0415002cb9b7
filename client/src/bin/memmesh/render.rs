//! What a command prints: one JSON value (`--json`) or lines of text, from the same answer.

use memmesh_client::json;
use memmesh_client::proto::*;
use serde_json::{json, Value};

/// A command's answer, in both forms; `main` prints the one asked for.
pub struct Rendered {
    pub json: Value,
    pub text: String,
}

impl Rendered {
    pub fn new(json: Value, text: String) -> Self {
        Self { json, text }
    }

    /// A value whose text form is the value itself, pretty-printed.
    pub fn pretty(json: Value) -> Self {
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        Self { json, text }
    }

    /// A value whose text form is its compact JSON.
    pub fn compact(json: Value) -> Self {
        let text = json.to_string();
        Self { json, text }
    }

    /// A list: a JSON array, one text line per item.
    pub fn lines<T>(items: &[T], to_json: impl Fn(&T) -> Value, to_line: impl Fn(&T) -> String) -> Self {
        Self { json: Value::Array(items.iter().map(to_json).collect()), text: items.iter().map(to_line).collect::<Vec<_>>().join("\n") }
    }
}

/// One line describing a cube: id, version, revision, scope, type, state and its text (or the
/// size and media type of its data).
pub fn cube_line(c: &MemCube) -> String {
    let s = c.scope.clone().unwrap_or_default();
    let body = c.content.as_ref().map(|ct| if ct.text.is_empty() { format!("<{} bytes {}>", ct.data.len(), ct.media_type) } else { ct.text.clone() });
    format!(
        "{} v{} rev{} {}/{}/{}/{} {} {} {}",
        c.id,
        c.version,
        c.revision,
        s.tenant,
        s.user,
        s.agent,
        s.run,
        json::memory_type(c.memory_type).as_str().unwrap_or("?"),
        json::state(c.state).as_str().unwrap_or("?"),
        body.unwrap_or_default()
    )
}

pub fn write(w: &WriteResponse) -> Rendered {
    let line = w.cube.as_ref().map(cube_line).unwrap_or_default();
    let retry = if w.deduplicated { " (deduplicated)" } else { "" };
    let dup = match w.result.as_ref().and_then(|r| PutOutcome::try_from(r.outcome).ok()) {
        Some(PutOutcome::Unchanged) => " (a duplicate: unchanged)",
        Some(PutOutcome::Merged) => " (a duplicate: merged into it)",
        _ => "",
    };
    Rendered::new(json::write(w), format!("{line}{retry}{dup}"))
}

pub fn membership(r: &MembershipResponse) -> Rendered {
    Rendered::pretty(
        json!({"revision": r.revision, "members": r.members.iter().map(|m| json!({"id": m.id, "addr": m.addr, "role": m.role})).collect::<Vec<_>>()}),
    )
}

pub fn status(s: &StatusResponse) -> Rendered {
    Rendered::pretty(json::status(s))
}

pub fn revoked(revision: u64) -> Rendered {
    Rendered::new(json!({"revision": revision}), format!("revoked at revision {revision}"))
}

pub fn event_line(revision: u64, e: &Event) -> String {
    let kind = json::event_type(e.r#type);
    format!("rev{revision} {} {}", kind.as_str().unwrap_or("?"), e.cube.as_ref().map(cube_line).unwrap_or_default())
}

pub fn audit_line(e: &AuditEntry) -> String {
    format!("{}.{} {} {} {} {} -> {}", e.revision, e.position, e.at_ms, e.actor, e.operation, e.target, e.outcome)
}

pub fn hit_line(h: &SearchHit) -> String {
    format!("{:.4} {}", h.score, h.cube.as_ref().map(cube_line).unwrap_or_default())
}
