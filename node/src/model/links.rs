//! Slots and links: the consolidation metadata a cube carries, and its rules.
//!
//! A **slot** names the one thing a memory states (`user.home_city`); at most one ACTIVE cube
//! of an exact scope holds a slot, and a new holder supersedes the old one (decided by
//! `store::apply`). A **link** is a typed edge from the cube that holds it to another cube of
//! the same tenant. Clients set `DERIVED_FROM` and `RELATES_TO`; the server sets the others
//! when it supersedes or merges, so a client can neither forge nor erase that record.
//!
//! Links are kept sorted by (type, target) without duplicates, so two replicas — and two
//! versions that say the same — encode identically.

use memmesh_proto::{Link, LinkType, MemCube};

use super::{check_cube_id, ValidationError};

pub const MAX_SLOT_LEN: usize = 128;
/// Most links one cube holds (server links included).
pub const MAX_LINKS: usize = 256;
/// Most links a client sets on one new cube.
pub const MAX_INPUT_LINKS: usize = 64;

type Result<T> = std::result::Result<T, ValidationError>;

/// A slot name: empty (none), or 1–128 characters of `[a-z0-9._:-]` starting with a letter or
/// digit. Lower case only, so `User.City` and `user.city` cannot become two slots.
pub fn check_slot(field: &str, slot: &str) -> Result<()> {
    if slot.is_empty() {
        return Ok(());
    }
    if slot.len() > MAX_SLOT_LEN {
        return Err(ValidationError::new(field, format!("must be at most {MAX_SLOT_LEN} characters, got {}", slot.len())));
    }
    if !slot.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(ValidationError::new(field, "must start with a lower-case letter or a digit"));
    }
    if let Some(c) = slot.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._:-".contains(*c))) {
        return Err(ValidationError::new(field, format!("invalid character {c:?}: allowed are a-z 0-9 . _ : -")));
    }
    Ok(())
}

/// The first cube of `cubes` that names a slot an earlier one names in the same scope, as
/// (earlier position, position): one write may not create two holders of a slot.
pub fn repeated_slot<'a>(cubes: impl IntoIterator<Item = &'a MemCube>) -> Option<(usize, usize)> {
    let mut seen = std::collections::HashMap::new();
    for (i, c) in cubes.into_iter().enumerate() {
        if !c.slot.is_empty() {
            if let Some(j) = seen.insert((&c.scope, c.slot.as_str()), i) {
                return Some((j, i));
            }
        }
    }
    None
}

/// Whether clients may set (and remove) links of this type.
pub fn client_settable(t: LinkType) -> bool {
    matches!(t, LinkType::DerivedFrom | LinkType::RelatesTo)
}

/// A link a client asks for: a client-settable type and a well-formed target id.
pub fn check_client_link(field: &str, link: &Link) -> Result<LinkType> {
    let t =
        LinkType::try_from(link.r#type).map_err(|_| ValidationError::new(format!("{field}.type"), format!("unknown enum value {}", link.r#type)))?;
    if !client_settable(t) {
        return Err(ValidationError::new(
            format!("{field}.type"),
            format!("{} cannot be set by a client (the server sets it); use LINK_TYPE_DERIVED_FROM or LINK_TYPE_RELATES_TO", t.as_str_name()),
        ));
    }
    check_cube_id(&format!("{field}.target_id"), &link.target_id)?;
    Ok(t)
}

/// The links of a new cube: bounded, each valid; returned sorted and without duplicates.
pub fn check_input_links(field: &str, links: &[Link]) -> Result<Vec<Link>> {
    if links.len() > MAX_INPUT_LINKS {
        return Err(ValidationError::new(field, format!("at most {MAX_INPUT_LINKS} links, got {}", links.len())));
    }
    for (i, l) in links.iter().enumerate() {
        check_client_link(&format!("{field}[{i}]"), l)?;
    }
    let mut out = links.to_vec();
    normalize_links(&mut out);
    Ok(out)
}

fn normalize_links(links: &mut Vec<Link>) {
    links.sort_by(|a, b| (a.r#type, &a.target_id).cmp(&(b.r#type, &b.target_id)));
    links.dedup();
}

/// Adds a link to `cube` (kept sorted); false if it was already there or the cube is full.
pub fn add_link(cube: &mut MemCube, t: LinkType, target: &str) -> bool {
    let link = Link { r#type: t as i32, target_id: target.to_string() };
    if cube.links.contains(&link) || cube.links.len() >= MAX_LINKS {
        return false;
    }
    cube.links.push(link);
    normalize_links(&mut cube.links);
    true
}

/// Removes a link from `cube`; false if it had no such link.
pub fn remove_link(cube: &mut MemCube, t: LinkType, target: &str) -> bool {
    let before = cube.links.len();
    cube.links.retain(|l| !(l.r#type == t as i32 && l.target_id == target));
    cube.links.len() != before
}

/// The links `new` has that `old` has not, and the other way round (for the reverse index).
pub fn link_changes<'a>(old: &'a [Link], new: &'a [Link]) -> (Vec<&'a Link>, Vec<&'a Link>) {
    let added = new.iter().filter(|l| !old.contains(l)).collect();
    let removed = old.iter().filter(|l| !new.contains(l)).collect();
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01J0000000000000000000000A";

    #[test]
    fn slot_syntax_is_lower_case_dotted_names() {
        for ok in ["", "user.home_city", "project:deadline", "a", "9-lives"] {
            assert!(check_slot("slot", ok).is_ok(), "{ok}");
        }
        for bad in ["User.city", ".x", "a b", "a/b", "é", &"x".repeat(129)] {
            let e = check_slot("cube.slot", bad).unwrap_err();
            assert_eq!(e.field, "cube.slot", "{bad}");
        }
    }

    #[test]
    fn clients_set_only_their_own_link_types() {
        let link = |t: LinkType| Link { r#type: t as i32, target_id: ID.into() };
        assert!(check_client_link("l", &link(LinkType::RelatesTo)).is_ok());
        assert!(check_client_link("l", &link(LinkType::DerivedFrom)).is_ok());
        for t in [LinkType::Supersedes, LinkType::SupersededBy, LinkType::MergedInto, LinkType::Unspecified] {
            assert_eq!(check_client_link("l", &link(t)).unwrap_err().field, "l.type");
        }
        let bad = Link { r#type: LinkType::RelatesTo as i32, target_id: "nope".into() };
        assert_eq!(check_client_link("links[0]", &bad).unwrap_err().field, "links[0].target_id");
        let unknown = Link { r#type: 99, target_id: ID.into() };
        assert_eq!(check_client_link("l", &unknown).unwrap_err().field, "l.type");
    }

    #[test]
    fn links_stay_sorted_and_unique() {
        let mut c = MemCube::default();
        assert!(add_link(&mut c, LinkType::RelatesTo, "B"));
        assert!(add_link(&mut c, LinkType::Supersedes, "C"));
        assert!(add_link(&mut c, LinkType::RelatesTo, "A"));
        assert!(!add_link(&mut c, LinkType::RelatesTo, "A"), "already there");
        let got: Vec<(i32, &str)> = c.links.iter().map(|l| (l.r#type, l.target_id.as_str())).collect();
        assert_eq!(got, vec![(1, "C"), (5, "A"), (5, "B")]);
        assert!(remove_link(&mut c, LinkType::RelatesTo, "A"));
        assert!(!remove_link(&mut c, LinkType::RelatesTo, "A"));
        let (added, removed) = link_changes(&[], &c.links);
        assert_eq!((added.len(), removed.len()), (2, 0));
    }
}
