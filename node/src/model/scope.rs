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

/// The scope of the cubes that lie inside both `a` and `b` (an empty field is a wildcard), or
/// `None` when no cube can: `acme/*/coder` and `acme/alice/*` meet in `acme/alice/coder`.
pub fn scope_intersection(a: &Scope, b: &Scope) -> Option<Scope> {
    fn field(x: &str, y: &str) -> Option<String> {
        match (x, y) {
            ("", _) => Some(y.to_string()),
            (_, "") => Some(x.to_string()),
            _ => (x == y).then(|| x.to_string()),
        }
    }
    if a.tenant != b.tenant {
        return None;
    }
    Some(Scope { tenant: a.tenant.clone(), user: field(&a.user, &b.user)?, agent: field(&a.agent, &b.agent)?, run: field(&a.run, &b.run)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str, u: &str, a: &str, r: &str) -> Scope {
        Scope { tenant: t.into(), user: u.into(), agent: a.into(), run: r.into() }
    }

    #[test]
    fn an_intersection_holds_exactly_the_cubes_inside_both() {
        let inter = |a: &Scope, b: &Scope| scope_intersection(a, b);
        assert_eq!(inter(&scope("t", "", "coder", ""), &scope("t", "alice", "", "")), Some(scope("t", "alice", "coder", "")));
        assert_eq!(inter(&scope("t", "bob", "", ""), &scope("t", "alice", "", "")), None);
        assert_eq!(inter(&scope("t", "", "", ""), &scope("u", "", "", "")), None, "never across tenants");
        // Checked against the rule itself on every scope over a small alphabet.
        let vals = ["", "x", "y"];
        let mut all = Vec::new();
        for u in vals {
            for a in vals {
                for r in vals {
                    all.push(scope("t", u, a, r));
                }
            }
        }
        let cubes: Vec<&Scope> = all.iter().filter(|s| !s.user.is_empty() && !s.agent.is_empty() && !s.run.is_empty()).collect();
        for a in &all {
            for b in &all {
                for c in &cubes {
                    let in_both = scope_matches(a, c) && scope_matches(b, c);
                    assert_eq!(inter(a, b).is_some_and(|i| scope_matches(&i, c)), in_both, "{a:?} ∩ {b:?} at {c:?}");
                }
            }
        }
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
