//! Validation of client input against the documented rules and the configured [`Limits`].
//!
//! Scope ids, request ids and similar identifiers use one charset: 1–128 characters from
//! `[A-Za-z0-9._:@-]`. Why so strict: ids become RocksDB key components separated by `\0`, and a
//! charset without separators or control characters keeps every scope prefix unambiguous.

use memmesh_proto::{Acl, Content, CubeInput, CubeKind, CubeState, MemoryType, Scope, Source, UpdateRequest};

use super::Limits;
use super::ValidationError;

pub const MAX_ID_LEN: usize = 128;
pub const MAX_TAG_LEN: usize = 64;
pub const MAX_ATTR_KEY_LEN: usize = 128;
pub const MAX_ATTR_VALUE_LEN: usize = 4096;
pub const MAX_PARENTS: usize = 64;
pub const MAX_PARENT_LEN: usize = 256;
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600;
pub const MAX_ACL_ENTRIES: usize = 64;

type Result<T> = std::result::Result<T, ValidationError>;

fn err<T>(field: &str, reason: impl Into<String>) -> Result<T> {
    Err(ValidationError::new(field, reason))
}

/// Checks an identifier against the scope charset.
pub fn check_ident(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return err(field, "must not be empty");
    }
    if value.len() > MAX_ID_LEN {
        return err(field, format!("must be at most {MAX_ID_LEN} characters, got {}", value.len()));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || "._:@-".contains(*c))) {
        return err(field, format!("invalid character {c:?}: allowed are A-Z a-z 0-9 . _ : @ -"));
    }
    Ok(())
}

fn check_optional_ident(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        Ok(())
    } else {
        check_ident(field, value)
    }
}

/// A request id is optional; when present it follows the identifier charset.
pub fn check_request_id(value: &str) -> Result<()> {
    check_optional_ident("request_id", value)
}

/// A scope: tenant required, user/agent/run optional, all in the identifier charset.
pub fn check_scope(field: &str, scope: Option<&Scope>) -> Result<Scope> {
    let Some(scope) = scope else {
        return err(field, "is required");
    };
    check_ident(&format!("{field}.tenant"), &scope.tenant)?;
    check_optional_ident(&format!("{field}.user"), &scope.user)?;
    check_optional_ident(&format!("{field}.agent"), &scope.agent)?;
    check_optional_ident(&format!("{field}.run"), &scope.run)?;
    Ok(scope.clone())
}

/// A cube id must be a ULID as the server issues them.
pub fn check_cube_id(field: &str, id: &str) -> Result<ulid::Ulid> {
    if id.is_empty() {
        return err(field, "must not be empty");
    }
    ulid::Ulid::from_string(id).map_err(|e| ValidationError::new(field, format!("not a valid cube id ({e})")))
}

fn enum_value<E: TryFrom<i32>>(field: &str, v: i32) -> Result<E> {
    E::try_from(v).map_err(|_| ValidationError::new(field, format!("unknown enum value {v}")))
}

pub fn check_memory_type(field: &str, v: i32) -> Result<MemoryType> {
    enum_value(field, v)
}

pub fn check_state(field: &str, v: i32) -> Result<CubeState> {
    enum_value(field, v)
}

fn check_context(field: &str, c: &str, limits: &Limits) -> Result<()> {
    if c.len() > limits.max_content_bytes {
        return err(field, format!("must be at most {} bytes, got {}", limits.max_content_bytes, c.len()));
    }
    Ok(())
}

pub fn check_source(field: &str, v: i32) -> Result<Source> {
    enum_value(field, v)
}

fn check_text_field(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return err(field, "must not be empty");
    }
    if value.len() > max {
        return err(field, format!("must be at most {max} bytes, got {}", value.len()));
    }
    if value.chars().any(char::is_control) {
        return err(field, "must not contain control characters");
    }
    Ok(())
}

/// Content must match the cube's kind and fit the size limit.
pub fn check_content(field: &str, kind: CubeKind, content: Option<&Content>, limits: &Limits) -> Result<Content> {
    let Some(c) = content else {
        return err(field, "is required");
    };
    let max = limits.max_content_bytes;
    match kind {
        CubeKind::Plaintext | CubeKind::Unspecified => {
            if c.text.is_empty() {
                return err(&format!("{field}.text"), "must not be empty for a PLAINTEXT cube");
            }
            if c.text.len() > max {
                return err(&format!("{field}.text"), format!("is {} bytes, limit is {max}", c.text.len()));
            }
            if !c.data.is_empty() || !c.media_type.is_empty() {
                return err(field, "a PLAINTEXT cube takes only `text`, not `data`/`media_type`");
            }
        }
        CubeKind::Activation | CubeKind::Parametric => {
            if c.data.is_empty() {
                return err(&format!("{field}.data"), format!("must not be empty for a {} cube", kind.as_str_name()));
            }
            // A query adapter (see `model::adapter`) is a model, not a note: it has its own limit.
            let (max, key) = if super::adapter::is_adapter_kind(kind as i32, &c.media_type) {
                (limits.max_adapter_bytes, "limits.max_adapter_bytes")
            } else {
                (max, "limits.max_content_bytes")
            };
            if c.data.len() > max {
                return err(&format!("{field}.data"), format!("is {} bytes, limit is {max} ({key})", c.data.len()));
            }
            if c.media_type.is_empty() {
                return err(&format!("{field}.media_type"), "is required for non-text cubes");
            }
            check_text_field(&format!("{field}.media_type"), &c.media_type, 255)?;
            if !c.text.is_empty() {
                return err(field, "a non-text cube takes `data`, not `text`");
            }
        }
    }
    Ok(c.clone())
}

fn check_tags(field: &str, tags: &[String], limits: &Limits) -> Result<()> {
    if tags.len() > limits.max_tags {
        return err(field, format!("{} tags given, limit is {}", tags.len(), limits.max_tags));
    }
    for (i, t) in tags.iter().enumerate() {
        check_text_field(&format!("{field}[{i}]"), t, MAX_TAG_LEN)?;
    }
    Ok(())
}

fn check_attributes<'a>(field: &str, attrs: impl ExactSizeIterator<Item = (&'a String, &'a String)>, limits: &Limits) -> Result<()> {
    if attrs.len() > limits.max_attributes {
        return err(field, format!("{} attributes given, limit is {}", attrs.len(), limits.max_attributes));
    }
    for (k, v) in attrs {
        check_text_field(&format!("{field} key"), k, MAX_ATTR_KEY_LEN)?;
        if v.len() > MAX_ATTR_VALUE_LEN {
            return err(&format!("{field}[{k}]"), format!("value is {} bytes, limit is {MAX_ATTR_VALUE_LEN}", v.len()));
        }
    }
    Ok(())
}

fn check_importance(field: &str, v: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&v) {
        return err(field, format!("must be within [0, 1], got {v}"));
    }
    Ok(())
}

/// A client's vector for a model of `dims` dimensions: that many, finite, not all zero (it is
/// scaled to unit length afterwards).
pub fn check_vector(field: &str, v: &[f32], dims: usize) -> Result<()> {
    if v.len() != dims {
        return err(field, format!("has {} dimensions, the model has {dims}", v.len()));
    }
    if v.iter().any(|x| !x.is_finite()) || v.iter().all(|x| *x == 0.0) {
        return err(field, "must be finite and not all zero");
    }
    Ok(())
}

pub fn check_ttl(field: &str, v: u64) -> Result<()> {
    if v > MAX_TTL_SECONDS {
        return err(field, format!("must be at most {MAX_TTL_SECONDS} seconds"));
    }
    Ok(())
}

fn check_custom_type(field: &str, memory_type: MemoryType, custom: &str) -> Result<()> {
    match (memory_type, custom.is_empty()) {
        (MemoryType::Other, true) => err(field, "is required when memory_type is MEMORY_TYPE_OTHER"),
        (MemoryType::Other, false) => check_text_field(field, custom, 64),
        (_, false) => err(field, "is only allowed with memory_type MEMORY_TYPE_OTHER"),
        (_, true) => Ok(()),
    }
}

/// Validates a cube to be created and returns it normalised: defaults filled in (PLAINTEXT,
/// FACT, USER), tags sorted and de-duplicated, the provenance request id cleared.
pub fn check_cube_input(field: &str, input: Option<&CubeInput>, limits: &Limits) -> Result<CubeInput> {
    let Some(input) = input else {
        return err(field, "is required");
    };
    let mut out = input.clone();
    check_scope(&format!("{field}.scope"), input.scope.as_ref())?;

    let kind: CubeKind = enum_value(&format!("{field}.kind"), input.kind)?;
    let kind = if kind == CubeKind::Unspecified { CubeKind::Plaintext } else { kind };
    out.kind = kind as i32;
    check_content(&format!("{field}.content"), kind, input.content.as_ref(), limits)?;

    let mt = check_memory_type(&format!("{field}.memory_type"), input.memory_type)?;
    let mt = if mt == MemoryType::Unspecified { MemoryType::Fact } else { mt };
    out.memory_type = mt as i32;
    check_custom_type(&format!("{field}.custom_type"), mt, &input.custom_type)?;

    let source: Source = enum_value(&format!("{field}.source"), input.source)?;
    out.source = if source == Source::Unspecified { Source::User } else { source } as i32;

    if let Some(p) = &input.provenance {
        check_optional_ident(&format!("{field}.provenance.origin_agent"), &p.origin_agent)?;
        if p.parents.len() > MAX_PARENTS {
            return err(&format!("{field}.provenance.parents"), format!("at most {MAX_PARENTS} parents"));
        }
        for (i, parent) in p.parents.iter().enumerate() {
            check_text_field(&format!("{field}.provenance.parents[{i}]"), parent, MAX_PARENT_LEN)?;
        }
    }
    let mut prov = input.provenance.clone().unwrap_or_default();
    prov.request_id.clear();
    out.provenance = Some(prov);

    check_tags(&format!("{field}.tags"), &input.tags, limits)?;
    out.tags.sort();
    out.tags.dedup();
    check_attributes(&format!("{field}.attributes"), input.attributes.iter(), limits)?;
    check_importance(&format!("{field}.importance"), input.importance)?;
    check_context(&format!("{field}.context"), &input.context, limits)?;
    check_ttl(&format!("{field}.ttl_seconds"), input.ttl_seconds)?;
    if let Some(acl) = &input.acl {
        check_acl(&format!("{field}.acl"), acl)?;
    }
    out.acl = super::normalize_acl(out.acl);
    super::links::check_slot(&format!("{field}.slot"), &input.slot)?;
    if !input.slot.is_empty() && kind != CubeKind::Plaintext {
        return err(&format!("{field}.slot"), "only PLAINTEXT cubes hold slots");
    }
    out.links = super::links::check_input_links(&format!("{field}.links"), &input.links)?;
    Ok(out)
}

/// An access list: bounded lists of entries whose fields are empty or identifiers.
pub fn check_acl(field: &str, acl: &Acl) -> Result<()> {
    for (name, list) in [("readers", &acl.readers), ("writers", &acl.writers)] {
        if list.len() > MAX_ACL_ENTRIES {
            return err(&format!("{field}.{name}"), format!("at most {MAX_ACL_ENTRIES} entries, got {}", list.len()));
        }
        for (i, e) in list.iter().enumerate() {
            check_optional_ident(&format!("{field}.{name}[{i}].user"), &e.user)?;
            check_optional_ident(&format!("{field}.{name}[{i}].agent"), &e.agent)?;
        }
    }
    Ok(())
}

/// Validates a partial update against the cube it applies to (whose kind fixes what content
/// may look like, and whose tags and attributes count towards the limits).
pub fn check_update(req: &UpdateRequest, current_kind: CubeKind, limits: &Limits) -> Result<()> {
    let has_change = req.content.is_some()
        || req.memory_type.is_some()
        || req.custom_type.is_some()
        || req.importance.is_some()
        || req.ttl_seconds.is_some()
        || req.state.is_some()
        || !req.add_tags.is_empty()
        || !req.remove_tags.is_empty()
        || !req.set_attributes.is_empty()
        || !req.remove_attributes.is_empty()
        || req.context.is_some()
        || req.acl.is_some()
        || req.pinned.is_some();
    if !has_change {
        return err("update", "sets no field: nothing to update");
    }
    if let Some(c) = &req.content {
        check_content("content", current_kind, Some(c), limits)?;
    }
    if let Some(mt) = req.memory_type {
        let mt = check_memory_type("memory_type", mt)?;
        if mt == MemoryType::Unspecified {
            return err("memory_type", "must not be MEMORY_TYPE_UNSPECIFIED");
        }
    }
    if let Some(ct) = &req.custom_type {
        if !ct.is_empty() {
            check_text_field("custom_type", ct, 64)?;
        }
    }
    if let Some(i) = req.importance {
        check_importance("importance", i)?;
    }
    if let Some(c) = &req.context {
        check_context("context", c, limits)?;
    }
    if let Some(t) = req.ttl_seconds {
        check_ttl("ttl_seconds", t)?;
    }
    if let Some(s) = req.state {
        match check_state("state", s)? {
            CubeState::Active | CubeState::Archived => {}
            other => return err("state", format!("{} cannot be set by Update (use Delete/Restore)", other.as_str_name())),
        }
    }
    if let Some(acl) = &req.acl {
        check_acl("acl", acl)?;
    }
    check_tags("add_tags", &req.add_tags, limits)?;
    check_attributes("set_attributes", req.set_attributes.iter(), limits)?;
    for (i, k) in req.remove_attributes.iter().enumerate() {
        check_text_field(&format!("remove_attributes[{i}]"), k, MAX_ATTR_KEY_LEN)?;
    }
    Ok(())
}

/// After an update is merged, the cube must still be within the limits and consistent.
pub fn check_merged(cube: &memmesh_proto::MemCube, limits: &Limits) -> Result<()> {
    check_tags("tags", &cube.tags, limits)?;
    check_attributes("attributes", cube.attributes.iter(), limits)?;
    let mt = check_memory_type("memory_type", cube.memory_type)?;
    check_custom_type("custom_type", mt, &cube.custom_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> CubeInput {
        CubeInput {
            scope: Some(Scope { tenant: "acme".into(), user: "alice".into(), ..Default::default() }),
            content: Some(Content { text: text.into(), ..Default::default() }),
            ..Default::default()
        }
    }

    fn field_of(r: Result<CubeInput>) -> String {
        r.expect_err("must be rejected").field
    }

    #[test]
    fn scope_charset_rejects_separators_and_unicode() {
        assert!(check_ident("t", "acme-corp_1.eu:x@y").is_ok());
        for bad in ["", "a b", "a/b", "a\0b", "é", &"x".repeat(129)] {
            assert!(check_ident("t", bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn cube_input_defaults_are_filled_and_tags_normalised() {
        let mut i = input("likes tea");
        i.tags = vec!["b".into(), "a".into(), "b".into()];
        let out = check_cube_input("cube", Some(&i), &Limits::default()).unwrap();
        assert_eq!(out.kind, CubeKind::Plaintext as i32);
        assert_eq!(out.memory_type, MemoryType::Fact as i32);
        assert_eq!(out.source, Source::User as i32);
        assert_eq!(out.tags, vec!["a", "b"]);
    }

    #[test]
    fn each_rule_names_its_field() {
        let l = Limits { max_content_bytes: 10, max_tags: 2, max_attributes: 1, ..Limits::default() };
        let c = |f: &dyn Fn(&mut CubeInput)| {
            let mut i = input("ok");
            f(&mut i);
            field_of(check_cube_input("cube", Some(&i), &l))
        };
        assert_eq!(c(&|i| i.content = Some(Content::default())), "cube.content.text");
        assert_eq!(c(&|i| i.content.as_mut().unwrap().text = "x".repeat(11)), "cube.content.text");
        assert_eq!(c(&|i| i.scope.as_mut().unwrap().tenant.clear()), "cube.scope.tenant");
        assert_eq!(c(&|i| i.scope.as_mut().unwrap().agent = "bad agent".into()), "cube.scope.agent");
        assert_eq!(c(&|i| i.scope = None), "cube.scope");
        assert_eq!(c(&|i| i.tags = vec!["a".into(), "b".into(), "c".into()]), "cube.tags");
        assert_eq!(c(&|i| i.tags = vec!["".into()]), "cube.tags[0]");
        assert_eq!(c(&|i| i.attributes = [("a".into(), "1".into()), ("b".into(), "2".into())].into()), "cube.attributes");
        assert_eq!(c(&|i| i.memory_type = 99), "cube.memory_type");
        assert_eq!(c(&|i| i.kind = 42), "cube.kind");
        assert_eq!(c(&|i| i.source = -1), "cube.source");
        assert_eq!(c(&|i| i.importance = 1.5), "cube.importance");
        assert_eq!(c(&|i| i.importance = f32::NAN), "cube.importance");
        assert_eq!(c(&|i| i.memory_type = MemoryType::Other as i32), "cube.custom_type");
        assert_eq!(c(&|i| i.kind = CubeKind::Activation as i32), "cube.content.data");
        let e = |u: &str, a: &str| memmesh_proto::AclEntry { user: u.into(), agent: a.into() };
        assert_eq!(c(&|i| i.acl = Some(Acl { readers: vec![e("ok", ""), e("bad user", "")], ..Default::default() })), "cube.acl.readers[1].user");
        assert_eq!(c(&|i| i.acl = Some(Acl { writers: vec![e("", "a/b")], ..Default::default() })), "cube.acl.writers[0].agent");
        assert_eq!(c(&|i| i.acl = Some(Acl { readers: vec![e("u", ""); MAX_ACL_ENTRIES + 1], ..Default::default() })), "cube.acl.readers");
    }

    #[test]
    fn an_acl_is_stored_sorted_deduplicated_and_dropped_when_it_says_nothing() {
        let e = |u: &str| memmesh_proto::AclEntry { user: u.into(), agent: String::new() };
        let mut i = input("ok");
        i.acl = Some(Acl { readers: vec![e("b"), e("a"), e("b")], ..Default::default() });
        let out = check_cube_input("cube", Some(&i), &Limits::default()).unwrap();
        assert_eq!(out.acl.unwrap().readers, vec![e("a"), e("b")]);
        i.acl = Some(Acl::default());
        assert!(check_cube_input("cube", Some(&i), &Limits::default()).unwrap().acl.is_none());
        i.acl = Some(Acl { restricted: true, ..Default::default() });
        assert!(check_cube_input("cube", Some(&i), &Limits::default()).unwrap().acl.is_some(), "restricted to admins only is a real ACL");
    }

    #[test]
    fn update_must_change_something_and_keep_state_rules() {
        let l = Limits::default();
        let none = UpdateRequest { id: "x".into(), ..Default::default() };
        assert_eq!(check_update(&none, CubeKind::Plaintext, &l).unwrap_err().field, "update");
        let del = UpdateRequest { state: Some(CubeState::Deleted as i32), ..Default::default() };
        assert_eq!(check_update(&del, CubeKind::Plaintext, &l).unwrap_err().field, "state");
        let ok = UpdateRequest { importance: Some(0.5), ..Default::default() };
        assert!(check_update(&ok, CubeKind::Plaintext, &l).is_ok());
    }
}
