//! Applying the access rules ([`crate::auth::policy`]) to requests: the checks every handler
//! makes before it reads or proposes anything.

use memmesh_proto::{Acl, Grant, MemCube, Scope};

use super::{ApiError, Core};
use crate::auth::{Caller, Need};
use crate::model::now_ms;

impl Core {
    /// The tenant's live grants that may matter for `caller` (none are needed for admins).
    pub fn grants_for(&self, caller: &Caller, tenant: &str) -> Result<Vec<Grant>, ApiError> {
        if caller.is_admin_of(tenant) {
            return Ok(Vec::new());
        }
        Ok(self.reader.live_grants(tenant, now_ms())?)
    }

    /// `PERMISSION_DENIED` unless the caller may `need` all of `scope`.
    pub fn authorize_scope(&self, caller: &Caller, scope: &Scope, need: Need) -> Result<(), ApiError> {
        let grants = self.grants_for(caller, &scope.tenant)?;
        if caller.may(scope, need, &grants) {
            return Ok(());
        }
        let what = if need == Need::Read { "read" } else { "write" };
        let target = format!("{what} scope {}/{}/{}/{}", scope.tenant, scope.user, scope.agent, scope.run);
        self.denials.record(&scope.tenant, &caller.actor(), target.clone(), "PERMISSION_DENIED".into());
        Err(ApiError::PermissionDenied(format!("may not {target}")))
    }

    /// How the caller may read a requested scope (List, Subscribe): all of it, by the scope
    /// rule and grants — or, where those refuse, just the cubes whose ACL names the caller, if
    /// it has any there. `PERMISSION_DENIED` when neither.
    pub fn authorize_read(&self, caller: &Caller, scope: &Scope) -> Result<ReadAccess, ApiError> {
        match self.read_access(caller, scope)? {
            Some(a) => Ok(a),
            None => {
                let target = format!("read scope {}/{}/{}/{}", scope.tenant, scope.user, scope.agent, scope.run);
                self.denials.record(&scope.tenant, &caller.actor(), target.clone(), "PERMISSION_DENIED".into());
                Err(ApiError::PermissionDenied(format!("may not {target}")))
            }
        }
    }

    /// [`Self::authorize_read`] without the refusal: `None` = nothing readable. Re-evaluated
    /// by a subscription as it delivers, so a revoked grant or token takes effect mid-stream.
    pub fn read_access(&self, caller: &Caller, scope: &Scope) -> Result<Option<ReadAccess>, ApiError> {
        let grants = self.grants_for(caller, &scope.tenant)?;
        let whole = caller.may(scope, Need::Read, &grants);
        if whole || self.index.shares_with(caller, std::slice::from_ref(scope)) {
            return Ok(Some(ReadAccess { caller: caller.clone(), whole }));
        }
        Ok(None)
    }

    /// For an operation on an existing cube: a cube the caller may not read is `NOT_FOUND`,
    /// exactly like a cube that does not exist (its existence is not revealed); one it may read
    /// but not change is `PERMISSION_DENIED`. The cube's ACL counts (see [`Caller::may_cube`]).
    pub fn authorize_cube(&self, caller: &Caller, cube: &MemCube, need: Need) -> Result<(), ApiError> {
        let scope = cube.scope.clone().unwrap_or_default();
        let grants = self.grants_for(caller, &scope.tenant)?;
        let what = if need == Need::Read { "read" } else { "write" };
        let acl = cube.acl.as_ref();
        if !caller.may_cube(&scope, acl, Need::Read, &grants) {
            // The caller is told NOT_FOUND; the audit log says what really happened.
            self.denials.record(&scope.tenant, &caller.actor(), format!("{what} cube {}", cube.id), "hidden (reported as NOT_FOUND)".into());
            return Err(ApiError::cube_not_found(&cube.id));
        }
        if need == Need::Write && !caller.may_cube(&scope, acl, Need::Write, &grants) {
            self.denials.record(&scope.tenant, &caller.actor(), format!("write cube {}", cube.id), "PERMISSION_DENIED".into());
            return Err(ApiError::PermissionDenied(format!("may not change cube {}", cube.id)));
        }
        Ok(())
    }

    /// Setting or changing the ACL of a cube in `scope` to `acl`: only the scope's owners —
    /// whom the scope rule or a read-write grant (among `grants`, see [`Self::grants_for`]) lets
    /// write the scope — and admins may; and a non-admin may not set an ACL that would leave
    /// itself unable to change the cube (there would be no way back but an admin).
    pub fn authorize_acl(&self, caller: &Caller, scope: &Scope, acl: Option<&Acl>, field: &str, grants: &[Grant]) -> Result<(), ApiError> {
        if caller.is_admin_of(&scope.tenant) {
            return Ok(());
        }
        if !caller.may(scope, Need::Write, grants) {
            let target = format!("change the access list of a cube in {}/{}/{}/{}", scope.tenant, scope.user, scope.agent, scope.run);
            self.denials.record(&scope.tenant, &caller.actor(), target.clone(), "PERMISSION_DENIED".into());
            return Err(ApiError::PermissionDenied(format!(
                "may not {target}: only the scope's owners and admins may (writers named by an ACL may change content, not the ACL)"
            )));
        }
        if !caller.may_cube(scope, acl, Need::Write, grants) {
            return Err(super::invalid(field, "this access list would leave you unable to change the cube; add yourself to its writers"));
        }
        Ok(())
    }

    /// Token management and the audit log are for the tenant's admins.
    pub fn authorize_tenant_admin(&self, caller: &Caller, tenant: &str) -> Result<(), ApiError> {
        if caller.is_admin_of(tenant) {
            return Ok(());
        }
        self.denials.record(tenant, &caller.actor(), "tenant administration".into(), "PERMISSION_DENIED".into());
        Err(ApiError::PermissionDenied(format!("only an admin of tenant {tenant:?} may do this")))
    }

    /// Cluster membership changes are for the cluster admin.
    pub fn authorize_cluster_admin(&self, caller: &Caller) -> Result<(), ApiError> {
        if caller.is_cluster_admin() {
            return Ok(());
        }
        self.denials.record("", &caller.actor(), "cluster membership change".into(), "PERMISSION_DENIED".into());
        Err(ApiError::PermissionDenied("cluster membership changes need the cluster admin token".into()))
    }
}

/// What a caller may read of a requested scope; see [`Core::authorize_read`].
#[derive(Debug, Clone)]
pub struct ReadAccess {
    caller: Caller,
    /// The scope rule and grants admit the whole scope (else only ACL-shared cubes are seen).
    pub whole: bool,
}

impl ReadAccess {
    /// Whether the caller sees this cube of the scope: with the whole scope readable, all but
    /// restricted cubes whose ACL leaves it out; otherwise only cubes whose ACL names it.
    pub fn sees(&self, cube: &MemCube) -> bool {
        let tenant = cube.scope.as_ref().map_or("", |s| s.tenant.as_str());
        self.caller.may_cube_with(tenant, cube.acl.as_ref(), Need::Read, || self.whole)
    }
}
