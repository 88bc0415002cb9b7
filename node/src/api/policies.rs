//! `Admin.SetPolicy` / `GetPolicy` / `ListPolicies` / `DeletePolicy`: memory policies, for
//! the tenant's admins. A policy of a tenant the caller does not administer is refused as
//! PERMISSION_DENIED (and audited), like the tenant's tokens.

use memmesh_proto::{ListPoliciesRequest, ListPoliciesResponse, Policy, PolicyRef, RevokeResponse, SetPolicyRequest};

use super::ApiError;
use crate::auth::Caller;
use crate::engine::Core;
use crate::model::{self, now_ms, policy::check_policy, Pb};
use crate::raft::Op;

pub async fn set(core: &Core, who: &Caller, req: SetPolicyRequest) -> Result<Policy, ApiError> {
    let mut p = check_policy(req.policy.as_ref())?;
    let tenant = p.scope.as_ref().map(|s| s.tenant.clone()).unwrap_or_default();
    core.authorize_tenant_admin(who, &tenant)?;
    let now = now_ms();
    p.updated_at_ms = now;
    core.propose(&who.actor(), &tenant, "", [0; 32], now, Op::PutPolicy { policy: Pb(p.clone()) }).await?;
    Ok(core.reader.policy(&tenant, &p.name)?.unwrap_or(p))
}

fn check_ref(r: &PolicyRef) -> Result<(), ApiError> {
    model::check_ident("tenant", &r.tenant)?;
    model::check_ident("name", &r.name)?;
    Ok(())
}

pub async fn get(core: &Core, who: &Caller, r: PolicyRef) -> Result<Policy, ApiError> {
    check_ref(&r)?;
    core.authorize_tenant_admin(who, &r.tenant)?;
    core.read_barrier(None).await?;
    core.reader.policy(&r.tenant, &r.name)?.ok_or_else(|| ApiError::NotFound(format!("policy {}", r.name)))
}

pub async fn list(core: &Core, who: &Caller, r: ListPoliciesRequest) -> Result<ListPoliciesResponse, ApiError> {
    model::check_ident("tenant", &r.tenant)?;
    core.authorize_tenant_admin(who, &r.tenant)?;
    core.read_barrier(None).await?;
    Ok(ListPoliciesResponse { policies: core.reader.policies(Some(&r.tenant))? })
}

pub async fn delete(core: &Core, who: &Caller, r: PolicyRef) -> Result<RevokeResponse, ApiError> {
    check_ref(&r)?;
    core.authorize_tenant_admin(who, &r.tenant)?;
    let w = core.propose(&who.actor(), &r.tenant, "", [0; 32], now_ms(), Op::DeletePolicy { tenant: r.tenant.clone(), name: r.name.clone() }).await?;
    Ok(RevokeResponse { revision: w.revision })
}
