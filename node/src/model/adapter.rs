//! What makes a cube a query adapter (parametric memory that search runs), and how AUTO search
//! picks one.
//!
//! An adapter is a PARAMETRIC cube whose `media_type` is [`MEDIA_TYPE`]: an ONNX model from a
//! query vector to a query vector of the embedding model's dimensions. It is validated when it
//! is written (`engine::adapters`), so every stored one loads. It is *active* while its
//! attribute [`ACTIVE_ATTR`] is `"true"`; AUTO search uses, of the scopes searched, the most
//! specific one that holds an active, ACTIVE adapter — the most recently updated there.

use memmesh_proto::{CubeKind, CubeState, MemCube, Scope};

/// The media type of an adapter cube.
pub const MEDIA_TYPE: &str = "application/onnx";
/// The attribute that marks an adapter active (value `"true"`).
pub const ACTIVE_ATTR: &str = "memmesh.adapter.active";
/// What `SearchRequest.adapter` asks for.
pub const AUTO: &str = "AUTO";
pub const NONE: &str = "NONE";

/// Whether `kind` and `media_type` make a cube an adapter.
pub fn is_adapter_kind(kind: i32, media_type: &str) -> bool {
    kind == CubeKind::Parametric as i32 && media_type == MEDIA_TYPE
}

/// Whether the cube is an adapter.
pub fn is_adapter(c: &MemCube) -> bool {
    is_adapter_kind(c.kind, c.content.as_ref().map_or("", |x| x.media_type.as_str()))
}

/// Whether the cube is an adapter AUTO search may pick: ACTIVE (at `now`) and marked active.
pub fn is_active_adapter(c: &MemCube, now: i64) -> bool {
    is_adapter(c)
        && c.attributes.get(ACTIVE_ATTR).is_some_and(|v| v == "true")
        && crate::model::lifecycle::effective_state(c.state, c.expires_at_ms, c.pinned, now) == CubeState::Active as i32
}

/// The scope itself, then each ancestor up to the tenant: where AUTO looks, most specific first.
pub fn scope_chain(s: &Scope) -> Vec<Scope> {
    let mut out = vec![s.clone()];
    let mut cur = s.clone();
    loop {
        if !cur.run.is_empty() {
            cur.run.clear();
        } else if !cur.agent.is_empty() {
            cur.agent.clear();
        } else if !cur.user.is_empty() {
            cur.user.clear();
        } else {
            return out;
        }
        out.push(cur.clone());
    }
}

/// How specific a scope is: the number of its fields that are set besides the tenant.
pub fn depth(s: &Scope) -> usize {
    [&s.user, &s.agent, &s.run].iter().filter(|f| !f.is_empty()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str, u: &str, a: &str, r: &str) -> Scope {
        Scope { tenant: t.into(), user: u.into(), agent: a.into(), run: r.into() }
    }

    #[test]
    fn the_chain_runs_from_the_scope_up_to_its_tenant() {
        let chain = scope_chain(&scope("t", "u", "a", "r"));
        assert_eq!(chain, vec![scope("t", "u", "a", "r"), scope("t", "u", "a", ""), scope("t", "u", "", ""), scope("t", "", "", "")]);
        // A scope with a gap (agent without user) climbs through what is set.
        assert_eq!(scope_chain(&scope("t", "", "a", "")), vec![scope("t", "", "a", ""), scope("t", "", "", "")]);
        assert_eq!(depth(&scope("t", "", "a", "r")), 2);
    }

    #[test]
    fn only_parametric_onnx_cubes_marked_active_are_active_adapters() {
        let mut c = MemCube {
            kind: CubeKind::Parametric as i32,
            state: CubeState::Active as i32,
            content: Some(memmesh_proto::Content { media_type: MEDIA_TYPE.into(), data: vec![1], ..Default::default() }),
            ..Default::default()
        };
        assert!(is_adapter(&c));
        assert!(!is_active_adapter(&c, 0), "not marked active");
        c.attributes.insert(ACTIVE_ATTR.into(), "true".into());
        assert!(is_active_adapter(&c, 0));
        c.state = CubeState::Deleted as i32;
        assert!(!is_active_adapter(&c, 0), "deleted");
        c.state = CubeState::Active as i32;
        c.expires_at_ms = 10;
        assert!(!is_active_adapter(&c, 11), "expired at the time asked");
        c.content.as_mut().unwrap().media_type = "application/octet-stream".into();
        assert!(!is_adapter(&c));
    }
}
