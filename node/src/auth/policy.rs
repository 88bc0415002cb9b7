//! The access rules.
//!
//! - A cluster admin (the bootstrap token, or everyone when authentication is off) may do
//!   everything.
//! - Every other principal belongs to one tenant and never reaches another.
//! - A tenant admin (role ADMIN, no user, no agent) may do everything in its tenant.
//! - A principal with neither user nor agent reads (READER) or writes (WRITER) its whole tenant.
//! - A user principal owns `tenant/user/*`: its own memory and its agents'.
//! - An agent principal owns the memory whose scope names its agent (and its user, if it has
//!   one) — and nothing else unless a grant shares it.
//! - A grant shares a scope with the principals its grantee selector matches, for reading or
//!   for reading and writing, until it expires or is revoked.
//!
//! - A cube's own access list (`Acl`) widens this (its readers/writers may too) or, when
//!   restricted, replaces it (only its readers/writers, and the tenant's admins, may) — see
//!   [`Caller::may_cube`].
//!
//! A *requested* scope (List, Subscribe, Purge of a scope) is allowed when every cube it can
//! contain is allowed: an empty field is a wildcard, so a user principal may not list the
//! whole tenant. `Search` instead narrows its scopes to the readable ones (see
//! [`Caller::narrow`]). Where the scope rule does not reach, List, Search and Subscribe still
//! find the cubes whose ACL names the caller (the index keeps a per-tenant set of cubes with an
//! ACL for that: the check happens inside the scan, see `index::Viewer`).

use memmesh_proto::{Access, Acl, AclEntry, Grant, Principal, Role, Scope};

/// What an operation needs on a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

/// The authenticated principal of a request (a request extension set by the interceptor).
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub principal: Principal,
    /// Id of the token used (empty for the bootstrap token or with authentication off).
    pub token_id: String,
}

/// Whether `inner` lies inside `outer`. Works for requested scopes too: an empty field in
/// `inner` is a wildcard, so it lies inside `outer` only where `outer` leaves that field open.
fn within(inner: &Scope, outer: &Scope) -> bool {
    crate::model::scope_matches(outer, inner)
}

fn role(p: &Principal) -> Role {
    match Role::try_from(p.role) {
        Ok(Role::Unspecified) | Err(_) => Role::Writer,
        Ok(r) => r,
    }
}

impl Caller {
    /// Everything allowed: the bootstrap token, or a node with authentication off.
    pub fn cluster_admin() -> Self {
        Caller { principal: Principal { cluster_admin: true, role: Role::Admin as i32, ..Default::default() }, token_id: String::new() }
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        let p = &self.principal;
        if p.cluster_admin {
            return "cluster-admin".into();
        }
        let mut s = format!("{}/{}/{}", p.tenant, p.user, p.agent);
        if !self.token_id.is_empty() {
            s.push_str(&format!(" token {}", self.token_id));
        }
        s
    }

    pub fn is_cluster_admin(&self) -> bool {
        self.principal.cluster_admin
    }

    /// Cluster admin, or admin of `tenant`.
    pub fn is_admin_of(&self, tenant: &str) -> bool {
        let p = &self.principal;
        p.cluster_admin || (p.tenant == tenant && role(p) == Role::Admin && p.user.is_empty() && p.agent.is_empty())
    }

    /// The scope this principal owns (`None` for a cluster admin: all of them).
    pub fn own_scope(&self) -> Option<Scope> {
        let p = &self.principal;
        (!p.cluster_admin).then(|| Scope { tenant: p.tenant.clone(), user: p.user.clone(), agent: p.agent.clone(), run: String::new() })
    }

    /// Whether a grant applies to this principal.
    fn granted(&self, g: &Grant) -> bool {
        let (p, Some(sel)) = (&self.principal, g.grantee.as_ref()) else { return false };
        let eq = |s: &str, v: &str| s.is_empty() || s == v;
        sel.tenant == p.tenant && eq(&sel.user, &p.user) && eq(&sel.agent, &p.agent)
    }

    /// Whether the caller may `need` everything in `scope`, given the tenant's live grants.
    pub fn may(&self, scope: &Scope, need: Need, grants: &[Grant]) -> bool {
        if self.is_admin_of(&scope.tenant) {
            return true;
        }
        let Some(own) = self.own_scope() else { return true };
        if within(scope, &own) && (need == Need::Read || role(&self.principal) != Role::Reader) {
            return true;
        }
        grants.iter().any(|g| {
            self.granted(g)
                && g.scope.as_ref().is_some_and(|gs| within(scope, gs))
                && (need == Need::Read || Access::try_from(g.access) == Ok(Access::ReadWrite))
        })
    }

    /// Whether an ACL entry names this principal (an empty entry field matches anything).
    pub fn named_by(&self, e: &AclEntry) -> bool {
        let p = &self.principal;
        (e.user.is_empty() || e.user == p.user) && (e.agent.is_empty() || e.agent == p.agent)
    }

    /// Whether `acl`, on a cube of `tenant`, itself lets the caller `need` the cube (writers may
    /// also read; a READER token never writes; no ACL reaches another tenant).
    pub fn listed(&self, tenant: &str, acl: &Acl, need: Need) -> bool {
        if self.principal.tenant != tenant {
            return false;
        }
        let writer = acl.writers.iter().any(|e| self.named_by(e));
        match need {
            Need::Read => writer || acl.readers.iter().any(|e| self.named_by(e)),
            Need::Write => writer && role(&self.principal) != Role::Reader,
        }
    }

    /// Whether the caller may `need` one cube of `scope` carrying `acl`: admins always; an
    /// unrestricted ACL adds its principals to those the scope rule and grants admit; a
    /// restricted one replaces them.
    pub fn may_cube(&self, scope: &Scope, acl: Option<&Acl>, need: Need, grants: &[Grant]) -> bool {
        self.may_cube_with(&scope.tenant, acl, need, || self.may(scope, need, grants))
    }

    /// [`Self::may_cube`] with the scope rule's answer supplied by the caller — asked only when
    /// the ACL leaves it a say — for callers that know it without the grants: a List or
    /// Subscribe of a scope checked once as a whole, a search scan that knows which scopes it
    /// walks.
    pub fn may_cube_with(&self, tenant: &str, acl: Option<&Acl>, need: Need, scope_rule: impl FnOnce() -> bool) -> bool {
        if self.is_admin_of(tenant) {
            return true;
        }
        match acl {
            None => scope_rule(),
            Some(a) if a.restricted => self.listed(tenant, a, need),
            Some(a) => self.listed(tenant, a, need) || scope_rule(),
        }
    }

    /// The parts of `requested` (scopes of one tenant) the caller may read: each requested scope
    /// intersected with each readable one (its own scope, its grants' scopes) — so alice, who
    /// owns `acme/alice/*`, searching `acme/*/coder` searches `acme/alice/coder`. Without
    /// scopes that lie inside others of the list. Empty = nothing readable.
    pub fn narrow(&self, requested: &[Scope], grants: &[Grant]) -> Vec<Scope> {
        let Some(tenant) = requested.first().map(|s| s.tenant.clone()) else { return Vec::new() };
        if self.is_admin_of(&tenant) {
            return requested.to_vec();
        }
        let mut readable: Vec<Scope> = self.own_scope().into_iter().filter(|s| s.tenant == tenant).collect();
        readable.extend(grants.iter().filter(|g| self.granted(g)).filter_map(|g| g.scope.clone()));
        let mut out: Vec<Scope> = requested.iter().flat_map(|r| readable.iter().filter_map(|a| crate::model::scope_intersection(r, a))).collect();
        out.sort_by(|a, b| (&a.user, &a.agent, &a.run).cmp(&(&b.user, &b.agent, &b.run)));
        out.dedup();
        let wider = out.clone();
        out.retain(|s| !wider.iter().any(|w| w != s && within(s, w)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str, u: &str, a: &str) -> Scope {
        Scope { tenant: t.into(), user: u.into(), agent: a.into(), run: String::new() }
    }

    fn caller(t: &str, u: &str, a: &str, role: Role) -> Caller {
        Caller {
            principal: Principal { tenant: t.into(), user: u.into(), agent: a.into(), role: role as i32, cluster_admin: false },
            token_id: "x".into(),
        }
    }

    #[test]
    fn users_own_their_agents_agents_only_themselves() {
        let alice = caller("acme", "alice", "", Role::Writer);
        let planner = caller("acme", "alice", "planner", Role::Writer);
        assert!(alice.may(&scope("acme", "alice", "planner"), Need::Write, &[]));
        assert!(alice.may(&scope("acme", "alice", ""), Need::Read, &[]));
        assert!(!alice.may(&scope("acme", "", ""), Need::Read, &[]), "not the whole tenant");
        assert!(!alice.may(&scope("acme", "bob", ""), Need::Read, &[]));
        assert!(!alice.may(&scope("other", "alice", ""), Need::Read, &[]), "never another tenant");
        assert!(planner.may(&scope("acme", "alice", "planner"), Need::Write, &[]));
        assert!(!planner.may(&scope("acme", "alice", "coder"), Need::Read, &[]));
        assert!(!planner.may(&scope("acme", "alice", ""), Need::Read, &[]), "not its user's other memory");
    }

    #[test]
    fn readers_read_admins_do_everything_in_their_tenant_only() {
        let reader = caller("acme", "alice", "", Role::Reader);
        assert!(reader.may(&scope("acme", "alice", ""), Need::Read, &[]));
        assert!(!reader.may(&scope("acme", "alice", ""), Need::Write, &[]));
        let admin = caller("acme", "", "", Role::Admin);
        assert!(admin.may(&scope("acme", "", ""), Need::Write, &[]));
        assert!(!admin.may(&scope("globex", "", ""), Need::Read, &[]));
        assert!(Caller::cluster_admin().may(&scope("globex", "x", ""), Need::Write, &[]));
    }

    #[test]
    fn grants_share_a_scope_with_matching_principals_only() {
        let coder = caller("acme", "alice", "coder", Role::Writer);
        let g = Grant {
            scope: Some(scope("acme", "alice", "planner")),
            grantee: Some(Principal { tenant: "acme".into(), agent: "coder".into(), ..Default::default() }),
            access: Access::Read as i32,
            ..Default::default()
        };
        assert!(!coder.may(&scope("acme", "alice", "planner"), Need::Read, &[]));
        assert!(coder.may(&scope("acme", "alice", "planner"), Need::Read, std::slice::from_ref(&g)));
        assert!(!coder.may(&scope("acme", "alice", "planner"), Need::Write, std::slice::from_ref(&g)), "read-only grant");
        let other = caller("acme", "bob", "tester", Role::Writer);
        assert!(!other.may(&scope("acme", "alice", "planner"), Need::Read, std::slice::from_ref(&g)));
        // Search over alice's whole scope narrows to what the coder may read.
        let n = coder.narrow(&[scope("acme", "alice", "")], std::slice::from_ref(&g));
        assert_eq!(n, vec![scope("acme", "alice", "coder"), scope("acme", "alice", "planner")]);
        assert!(coder.narrow(&[scope("acme", "bob", "")], std::slice::from_ref(&g)).is_empty());
        // A wildcard scope read only in part is narrowed to that part (found by an outside
        // probe: it was refused as a whole, and bob saw only what ACLs shared with him there).
        let alice = caller("acme", "alice", "", Role::Writer);
        assert_eq!(alice.narrow(&[scope("acme", "", "coder")], &[]), vec![scope("acme", "alice", "coder")]);
        let bob = caller("acme", "bob", "", Role::Writer);
        assert_eq!(bob.narrow(&[scope("acme", "", "coder")], &[]), vec![scope("acme", "bob", "coder")]);
        assert_eq!(alice.narrow(&[scope("acme", "", "")], &[]), vec![scope("acme", "alice", "")], "the tenant, narrowed to her own");
        // A scope inside another of the list is not searched twice.
        assert_eq!(coder.narrow(&[scope("acme", "alice", ""), scope("acme", "alice", "coder")], &[g]).len(), 2);
    }

    fn entry(u: &str, a: &str) -> AclEntry {
        AclEntry { user: u.into(), agent: a.into() }
    }

    #[test]
    fn an_acl_widens_unless_restricted_then_it_replaces_the_scope_rule() {
        let alice = caller("acme", "alice", "", Role::Writer);
        let bob = caller("acme", "bob", "", Role::Writer);
        let bobs_agent = caller("acme", "bob", "coder", Role::Writer);
        let bob_reader = caller("acme", "bob", "", Role::Reader);
        let foreign_bob = caller("globex", "bob", "", Role::Writer);
        let admin = caller("acme", "", "", Role::Admin);
        let s = scope("acme", "alice", "");
        let widen = Acl { readers: vec![entry("bob", "")], writers: vec![], restricted: false };
        assert!(alice.may_cube(&s, Some(&widen), Need::Write, &[]), "the owner keeps access");
        assert!(bob.may_cube(&s, Some(&widen), Need::Read, &[]));
        assert!(bobs_agent.may_cube(&s, Some(&widen), Need::Read, &[]), "an entry for bob names bob's agents too");
        assert!(!bob.may_cube(&s, Some(&widen), Need::Write, &[]), "a reader entry gives no write");
        assert!(!bob.may_cube(&s, None, Need::Read, &[]));
        assert!(!foreign_bob.may_cube(&s, Some(&widen), Need::Read, &[]), "an ACL never crosses tenants");

        let writers = Acl { readers: vec![], writers: vec![entry("bob", "")], restricted: false };
        assert!(bob.may_cube(&s, Some(&writers), Need::Write, &[]));
        assert!(bob.may_cube(&s, Some(&writers), Need::Read, &[]), "writers read");
        assert!(!bob_reader.may_cube(&s, Some(&writers), Need::Write, &[]), "a READER token never writes");

        let only_agent = Acl { readers: vec![], writers: vec![entry("", "coder")], restricted: true };
        assert!(!alice.may_cube(&s, Some(&only_agent), Need::Read, &[]), "restricted: the scope rule no longer admits the owner");
        assert!(bobs_agent.may_cube(&s, Some(&only_agent), Need::Write, &[]));
        assert!(!bob.may_cube(&s, Some(&only_agent), Need::Read, &[]), "an entry for agent coder does not name bob himself");
        assert!(admin.may_cube(&s, Some(&only_agent), Need::Write, &[]), "tenant admins always");
        let grant = Grant {
            scope: Some(scope("acme", "alice", "")),
            grantee: Some(Principal { tenant: "acme".into(), user: "bob".into(), ..Default::default() }),
            access: Access::ReadWrite as i32,
            ..Default::default()
        };
        assert!(bob.may_cube(&s, None, Need::Write, std::slice::from_ref(&grant)));
        assert!(!bob.may_cube(&s, Some(&only_agent), Need::Read, &[grant]), "restricted: grants no longer admit");
    }
}
