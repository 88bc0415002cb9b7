//! Applying the access rules ([`crate::auth::policy`]) to requests: the checks every handler
//! makes before it reads or proposes anything.

use memmesh_proto::{Grant, MemCube, Scope};

use super::write::now_ms;
use super::ApiError;
use crate::auth::{Caller, Need};
use crate::node::Core;

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

    /// For an operation on an existing cube: a cube the caller may not read is `NOT_FOUND`,
    /// exactly like a cube that does not exist (its existence is not revealed); one it may read
    /// but not change is `PERMISSION_DENIED`.
    pub fn authorize_cube(&self, caller: &Caller, cube: &MemCube, need: Need) -> Result<(), ApiError> {
        let scope = cube.scope.clone().unwrap_or_default();
        let grants = self.grants_for(caller, &scope.tenant)?;
        let what = if need == Need::Read { "read" } else { "write" };
        if !caller.may(&scope, Need::Read, &grants) {
            // The caller is told NOT_FOUND; the audit log says what really happened.
            self.denials.record(&scope.tenant, &caller.actor(), format!("{what} cube {}", cube.id), "hidden (reported as NOT_FOUND)".into());
            return Err(ApiError::NotFound(cube.id.clone()));
        }
        if need == Need::Write && !caller.may(&scope, Need::Write, &grants) {
            self.denials.record(&scope.tenant, &caller.actor(), format!("write cube {}", cube.id), "PERMISSION_DENIED".into());
            return Err(ApiError::PermissionDenied(format!("may not change cube {}", cube.id)));
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
