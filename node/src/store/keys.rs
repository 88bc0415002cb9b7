//! Key encodings. Every integer is big-endian so RocksDB's byte order is numeric order.
//!
//! The scope index holds one key per scope level a cube belongs to:
//!
//! ```text
//! 1 tenant \0                               ++ id     (every cube)
//! 2 tenant \0 user \0                       ++ id     (user set)
//! 3 tenant \0 user \0 agent \0              ++ id     (user and agent set)
//! 4 tenant \0 user \0 agent \0 run \0       ++ id     (all set)
//! ```
//!
//! Why one key per level: a `List` of "all of alice's memory" or "everything in the tenant"
//! becomes one contiguous range ordered by id — and ids are ULIDs, so by creation time — which
//! gives newest-first/oldest-first pagination and created-at ranges as plain seeks. Scope ids
//! cannot contain `\0` (see `model::check_ident`), so no prefix can run into a longer id.

use memmesh_proto::Scope;
use ulid::Ulid;

use super::StoreError;

pub const ID_LEN: usize = 16;

pub fn u64_key(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

pub fn u64_from_key(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(..8)?.try_into().ok()?))
}

/// The cube id at the end of a scope-index key (see the module docs). A key too short to hold
/// one is a corruption error, never a panic.
pub fn id_from_index_key(cf: &'static str, k: &[u8]) -> Result<Ulid, StoreError> {
    let tail = k.len().checked_sub(ID_LEN).and_then(|at| k.get(at..)).and_then(|t| <[u8; ID_LEN]>::try_from(t).ok());
    tail.map(Ulid::from_bytes).ok_or_else(|| StoreError::Corrupt { cf, detail: format!("index key of {} bytes holds no cube id", k.len()) })
}

pub fn cube_key(id: Ulid) -> [u8; ID_LEN] {
    id.to_bytes()
}

pub fn version_key(id: Ulid, version: u64) -> [u8; ID_LEN + 8] {
    let mut k = [0u8; ID_LEN + 8];
    k[..ID_LEN].copy_from_slice(&id.to_bytes());
    k[ID_LEN..].copy_from_slice(&version.to_be_bytes());
    k
}

/// A key of the expiry index: expiry time (negative times sort first, as 0) ++ id.
pub fn expiry_key(at_ms: i64, id: Ulid) -> [u8; 8 + ID_LEN] {
    let mut k = [0u8; 8 + ID_LEN];
    k[..8].copy_from_slice(&(at_ms.max(0) as u64).to_be_bytes());
    k[8..].copy_from_slice(&id.to_bytes());
    k
}

/// A key of the dormant index: tenant ++ `\0` ++ time the cube became DELETED or EXPIRED ++ id.
/// Per tenant, so the leader reads only the tenants whose policies purge.
pub fn dormant_key(tenant: &str, since_ms: i64, id: Ulid) -> Vec<u8> {
    let mut k = dormant_prefix(tenant);
    k.extend_from_slice(&(since_ms.max(0) as u64).to_be_bytes());
    k.extend_from_slice(&id.to_bytes());
    k
}

pub fn dormant_prefix(tenant: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 1 + 8 + ID_LEN);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k
}

/// A key of the reverse link index: `source` links to `target` with link type `t`. Keyed by
/// target first, so the links into one cube are one contiguous range.
pub fn link_key(target: Ulid, source: Ulid, t: i32) -> [u8; 2 * ID_LEN + 1] {
    let mut k = [0u8; 2 * ID_LEN + 1];
    k[..ID_LEN].copy_from_slice(&target.to_bytes());
    k[ID_LEN..2 * ID_LEN].copy_from_slice(&source.to_bytes());
    k[2 * ID_LEN] = u8::try_from(t).unwrap_or(0);
    k
}

/// The source and link type of a reverse-link key (see [`link_key`]).
pub fn link_from_key(k: &[u8]) -> Result<(Ulid, i32), StoreError> {
    match (k.get(ID_LEN..2 * ID_LEN).and_then(|s| <[u8; ID_LEN]>::try_from(s).ok()), k.get(2 * ID_LEN)) {
        (Some(src), Some(&t)) if k.len() == 2 * ID_LEN + 1 => Ok((Ulid::from_bytes(src), i32::from(t))),
        _ => Err(StoreError::Corrupt { cf: super::CF_LINKS, detail: format!("link key of {} bytes", k.len()) }),
    }
}

/// The scope fields that form a contiguous prefix (tenant, then user, agent, run while set).
fn levels(scope: &Scope) -> Vec<&str> {
    let mut out = vec![scope.tenant.as_str()];
    for f in [&scope.user, &scope.agent, &scope.run] {
        if f.is_empty() {
            break;
        }
        out.push(f);
    }
    out
}

fn level_prefix(fields: &[&str]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + fields.iter().map(|f| f.len() + 1).sum::<usize>());
    k.push(b'0' + fields.len() as u8);
    for f in fields {
        k.extend_from_slice(f.as_bytes());
        k.push(0);
    }
    k
}

/// Every index key of a cube in `scope`.
pub fn scope_index_keys(scope: &Scope, id: Ulid) -> Vec<Vec<u8>> {
    let fields = levels(scope);
    (1..=fields.len())
        .map(|n| {
            let mut k = level_prefix(&fields[..n]);
            k.extend_from_slice(&id.to_bytes());
            k
        })
        .collect()
}

/// Marks the keys of the second part of the scope index: the same keys again, for the cubes
/// that carry an ACL only — so listing "what is shared with me in this scope" scans those few
/// cubes instead of the whole scope. (Level prefixes start with a digit, so no clash.)
pub const SHARED_MARK: u8 = b's';

/// Every shared-index key of a cube in `scope` that carries an ACL.
pub fn shared_index_keys(scope: &Scope, id: Ulid) -> Vec<Vec<u8>> {
    scope_index_keys(scope, id)
        .into_iter()
        .map(|k| {
            let mut s = Vec::with_capacity(k.len() + 1);
            s.push(SHARED_MARK);
            s.extend_from_slice(&k);
            s
        })
        .collect()
}

/// The index range that holds every cube matching `scope`: the deepest contiguous level.
/// Returns the prefix and whether the scope has further fields that the prefix does not cover
/// (e.g. tenant + agent without user), which the caller must then filter on.
pub fn scope_prefix(scope: &Scope) -> (Vec<u8>, bool) {
    let fields = levels(scope);
    let set = [&scope.user, &scope.agent, &scope.run].iter().filter(|f| !f.is_empty()).count() + 1;
    (level_prefix(&fields), set > fields.len())
}

pub fn dedupe_key(tenant: &str, request_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 1 + request_id.len());
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(request_id.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str, u: &str, a: &str, r: &str) -> Scope {
        Scope { tenant: t.into(), user: u.into(), agent: a.into(), run: r.into() }
    }

    #[test]
    fn index_keys_one_per_contiguous_level() {
        let id = Ulid::from_parts(5, 7);
        assert_eq!(scope_index_keys(&scope("t", "u", "a", "r"), id).len(), 4);
        assert_eq!(scope_index_keys(&scope("t", "u", "", "r"), id).len(), 2);
        assert_eq!(scope_index_keys(&scope("t", "", "a", ""), id).len(), 1);
    }

    #[test]
    fn every_index_key_starts_with_the_prefix_of_its_level() {
        let id = Ulid::from_parts(5, 7);
        let s = scope("acme", "alice", "planner", "r1");
        let keys = scope_index_keys(&s, id);
        for (depth, f) in [scope("acme", "", "", ""), scope("acme", "alice", "", ""), scope("acme", "alice", "planner", "")].iter().enumerate() {
            let (p, needs_filter) = scope_prefix(f);
            assert!(!needs_filter);
            assert!(keys[depth].starts_with(&p));
            assert_eq!(keys[depth].len(), p.len() + ID_LEN);
        }
    }

    #[test]
    fn tenant_prefix_does_not_match_longer_tenant() {
        let id = Ulid::from_parts(5, 7);
        let (p, _) = scope_prefix(&scope("acme", "", "", ""));
        let other = scope_index_keys(&scope("acme2", "", "", ""), id);
        assert!(!other[0].starts_with(&p));
    }

    #[test]
    fn gaps_in_scope_need_filtering() {
        let (p, needs_filter) = scope_prefix(&scope("acme", "", "planner", ""));
        assert!(needs_filter);
        assert_eq!(p, level_prefix(&["acme"]));
        assert!(crate::model::scope_matches(&scope("acme", "", "planner", ""), &scope("acme", "bob", "planner", "x")));
        assert!(!crate::model::scope_matches(&scope("acme", "", "planner", ""), &scope("acme", "bob", "other", "x")));
    }

    #[test]
    fn a_short_index_key_is_a_corruption_error_not_a_panic() {
        let id = Ulid::from_parts(5, 7);
        let key = &scope_index_keys(&scope("t", "u", "", ""), id)[1];
        assert_eq!(id_from_index_key("scope_idx", key).unwrap(), id);
        for short in [&key[..3], &[][..]] {
            assert!(matches!(id_from_index_key("scope_idx", short), Err(StoreError::Corrupt { cf: "scope_idx", .. })));
        }
    }

    #[test]
    fn version_keys_sort_numerically() {
        let id = Ulid::from_parts(5, 7);
        assert!(version_key(id, 2) < version_key(id, 10));
        assert!(version_key(id, 255) < version_key(id, 256));
    }
}
