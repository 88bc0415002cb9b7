//! The scope rule: which cubes a scope covers. A scope names a tenant and, optionally, a user,
//! an agent and a run; an empty field is a wildcard. List, Search, Subscribe, PurgeScope and the
//! access rules all decide containment with [`scope_matches`].

use memmesh_proto::Scope;

/// Whether `cube_scope` lies inside the `filter` scope (every set filter field equal).
pub fn scope_matches(filter: &Scope, cube_scope: &Scope) -> bool {
    let eq = |f: &str, c: &str| f.is_empty() || f == c;
    filter.tenant == cube_scope.tenant
        && eq(&filter.user, &cube_scope.user)
        && eq(&filter.agent, &cube_scope.agent)
        && eq(&filter.run, &cube_scope.run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str, u: &str, a: &str, r: &str) -> Scope {
        Scope { tenant: t.into(), user: u.into(), agent: a.into(), run: r.into() }
    }

    #[test]
    fn empty_fields_are_wildcards_and_tenants_never_mix() {
        assert!(scope_matches(&scope("acme", "", "", ""), &scope("acme", "bob", "planner", "r")));
        assert!(scope_matches(&scope("acme", "", "planner", ""), &scope("acme", "bob", "planner", "")));
        assert!(!scope_matches(&scope("acme", "", "planner", ""), &scope("acme", "bob", "coder", "")));
        assert!(!scope_matches(&scope("acme", "bob", "", ""), &scope("acme", "", "", "")), "a set field never matches an empty one");
        assert!(!scope_matches(&scope("acme", "", "", ""), &scope("acme2", "", "", "")));
    }
}
