//! Validation of exported cubes arriving through `Admin.Import`: each version must be a cube a
//! put could have created (the same content, scope, tag, attribute, ACL and link rules, see
//! [`check_cube_input`]) plus what only a stored cube has — a ULID id, a version, a state and
//! timestamps — and its past versions must be earlier versions of the same cube in the same
//! scope.

use memmesh_proto::{CubeInput, ExportedCube, MemCube};

use super::validate::{check_cube_id, check_cube_input, check_ident, check_state};
use super::{Limits, ValidationError};

type Result<T> = std::result::Result<T, ValidationError>;

fn err<T>(field: &str, reason: impl Into<String>) -> Result<T> {
    Err(ValidationError::new(field, reason))
}

/// One stored version: the put rules, then the fields only a stored cube has.
fn check_version(field: &str, c: &MemCube, limits: &Limits) -> Result<()> {
    check_cube_id(&format!("{field}.id"), &c.id)?;
    let input = CubeInput {
        scope: c.scope.clone(),
        kind: c.kind,
        content: c.content.clone(),
        memory_type: c.memory_type,
        custom_type: c.custom_type.clone(),
        source: c.source,
        provenance: c.provenance.clone(),
        tags: c.tags.clone(),
        attributes: c.attributes.clone(),
        importance: c.importance,
        ttl_seconds: c.ttl_seconds,
        embedding: None,
        context: c.context.clone(),
        acl: c.acl.clone(),
        slot: c.slot.clone(),
        links: c.links.clone(),
        pinned: c.pinned,
    };
    check_cube_input(field, Some(&input), limits)?;
    if c.version == 0 {
        return err(&format!("{field}.version"), "must be at least 1 (a stored cube's version)");
    }
    if check_state(&format!("{field}.state"), c.state)? == memmesh_proto::CubeState::Unspecified {
        return err(&format!("{field}.state"), "is required");
    }
    if c.created_at_ms <= 0 || c.updated_at_ms < c.created_at_ms {
        return err(&format!("{field}.updated_at_ms"), "timestamps must be positive with created_at_ms <= updated_at_ms");
    }
    if let Some(p) = &c.provenance {
        if !p.request_id.is_empty() {
            check_ident(&format!("{field}.provenance.request_id"), &p.request_id)?;
        }
    }
    Ok(())
}

/// An exported cube of `tenant` with its past versions (oldest first, each older than the
/// next, same id and scope).
pub fn check_exported(field: &str, e: &ExportedCube, tenant: &str, limits: &Limits) -> Result<()> {
    let Some(cube) = e.cube.as_ref() else {
        return err(&format!("{field}.cube"), "is required");
    };
    check_version(&format!("{field}.cube"), cube, limits)?;
    let scope = cube.scope.as_ref().expect("checked by check_cube_input");
    if scope.tenant != tenant {
        return err(&format!("{field}.cube.scope.tenant"), format!("is {:?}, not the request's tenant {tenant:?}", scope.tenant));
    }
    let mut next = cube.version;
    for (i, past) in e.history.iter().enumerate().rev() {
        let f = format!("{field}.history[{i}]");
        check_version(&f, past, limits)?;
        if past.id != cube.id {
            return err(&format!("{f}.id"), format!("is {:?}, not the cube's id {:?}", past.id, cube.id));
        }
        if past.scope != cube.scope {
            return err(&format!("{f}.scope"), "differs from the cube's scope (a cube never changes scope)");
        }
        if past.version >= next {
            return err(&format!("{f}.version"), "past versions must be oldest first, each older than the next and than the cube");
        }
        next = past.version;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use memmesh_proto::{Content, CubeState, Scope};

    use super::*;

    fn cube(version: u64) -> MemCube {
        MemCube {
            id: "01J0000000000000000000000A".into(),
            scope: Some(Scope { tenant: "acme".into(), user: "alice".into(), ..Default::default() }),
            content: Some(Content { text: "likes tea".into(), ..Default::default() }),
            version,
            state: CubeState::Active as i32,
            created_at_ms: 1_700_000_000_000,
            updated_at_ms: 1_700_000_000_000,
            ..Default::default()
        }
    }

    fn field_of(e: &ExportedCube, tenant: &str) -> String {
        check_exported("cubes[0]", e, tenant, &Limits::default()).expect_err("must be refused").field
    }

    #[test]
    fn a_cube_with_its_history_is_accepted() {
        let e = ExportedCube { cube: Some(cube(3)), history: vec![cube(1), cube(2)] };
        check_exported("cubes[0]", &e, "acme", &Limits::default()).unwrap();
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        assert_eq!(field_of(&ExportedCube::default(), "acme"), "cubes[0].cube");
        assert_eq!(field_of(&ExportedCube { cube: Some(cube(1)), history: vec![] }, "other"), "cubes[0].cube.scope.tenant");
        assert_eq!(field_of(&ExportedCube { cube: Some(cube(0)), history: vec![] }, "acme"), "cubes[0].cube.version");
        assert_eq!(field_of(&ExportedCube { cube: Some(MemCube { id: "x".into(), ..cube(1) }), history: vec![] }, "acme"), "cubes[0].cube.id");
        assert_eq!(field_of(&ExportedCube { cube: Some(MemCube { state: 0, ..cube(1) }), history: vec![] }, "acme"), "cubes[0].cube.state");
        assert_eq!(
            field_of(&ExportedCube { cube: Some(MemCube { updated_at_ms: 1, ..cube(1) }), history: vec![] }, "acme"),
            "cubes[0].cube.updated_at_ms"
        );
        // Out of order, a future version, another cube's version, another scope.
        assert_eq!(field_of(&ExportedCube { cube: Some(cube(3)), history: vec![cube(2), cube(1)] }, "acme"), "cubes[0].history[0].version");
        assert_eq!(field_of(&ExportedCube { cube: Some(cube(3)), history: vec![cube(3)] }, "acme"), "cubes[0].history[0].version");
        let other = MemCube { id: "01J0000000000000000000000B".into(), ..cube(1) };
        assert_eq!(field_of(&ExportedCube { cube: Some(cube(3)), history: vec![other] }, "acme"), "cubes[0].history[0].id");
        let moved = MemCube { scope: Some(Scope { tenant: "acme".into(), user: "bob".into(), ..Default::default() }), ..cube(1) };
        assert_eq!(field_of(&ExportedCube { cube: Some(cube(3)), history: vec![moved] }, "acme"), "cubes[0].history[0].scope");
        // The put rules hold for every version.
        let empty = MemCube { content: Some(Content::default()), ..cube(1) };
        assert!(field_of(&ExportedCube { cube: Some(cube(3)), history: vec![empty] }, "acme").starts_with("cubes[0].history[0].content"));
    }
}
