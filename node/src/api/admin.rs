//! `memmesh.v1.Admin`: API tokens, sharing grants, the audit log, (in `policies`) memory
//! policies and (in `backup`) backups.

use std::sync::Arc;

use memmesh_proto::admin_server::Admin;
use memmesh_proto::*;
use tonic::{Request, Response, Status};
use ulid::Ulid;

use super::authn::caller;
use super::{invalid, ApiError};
use crate::auth::tokens::generate;
use crate::auth::Need;
use crate::engine::Core;
use crate::model::{self, expires_at, now_ms, Pb, TokenRecord};
use crate::raft::Op;

pub struct AdminService {
    core: Arc<Core>,
}

impl AdminService {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

type Res<T> = Result<Response<T>, Status>;

/// A principal as given by a client: tenant required, user/agent optional; ADMIN only for a
/// whole tenant; never a cluster admin (that is the bootstrap token alone).
fn check_principal(field: &str, p: Option<&Principal>) -> Result<Principal, ApiError> {
    let p = p.ok_or_else(|| invalid(field, "is required"))?;
    let scope =
        model::check_scope(field, Some(&Scope { tenant: p.tenant.clone(), user: p.user.clone(), agent: p.agent.clone(), run: String::new() }))?;
    let role = Role::try_from(p.role).map_err(|_| invalid(&format!("{field}.role"), format!("unknown enum value {}", p.role)))?;
    if role == Role::Admin && !(scope.user.is_empty() && scope.agent.is_empty()) {
        return Err(invalid(&format!("{field}.role"), "ADMIN is for a whole tenant (no user, no agent)"));
    }
    if p.cluster_admin {
        return Err(invalid(&format!("{field}.cluster_admin"), "cluster admin tokens cannot be created; use the bootstrap token"));
    }
    let role = if role == Role::Unspecified { Role::Writer } else { role };
    Ok(Principal { role: role as i32, ..p.clone() })
}

/// A token or grant id as this node makes them (a ULID): anything else is refused without
/// echoing it back (an unbounded id in a status message trips clients' metadata limits).
fn check_id(field: &str, what: &str, id: &str) -> Result<(), ApiError> {
    if Ulid::from_string(id).is_err() {
        return Err(invalid(field, format!("not a {what} id (a {what} id is a 26-character ULID)")));
    }
    Ok(())
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_token(&self, req: Request<CreateTokenRequest>) -> Res<CreateTokenResponse> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let principal = check_principal("principal", req.principal.as_ref())?;
        model::check_ttl("ttl_seconds", req.ttl_seconds)?;
        self.core.authorize_tenant_admin(&who, &principal.tenant)?;
        if req.description.len() > 1024 {
            return Err(invalid("description", "must be at most 1024 bytes").into());
        }
        let (token, hash) = generate();
        let now = now_ms();
        let record = TokenRecord {
            id: Ulid::new().to_string(),
            hash,
            principal: Pb(principal.clone()),
            created_at_ms: now,
            expires_at_ms: expires_at(now, req.ttl_seconds),
            description: req.description,
        };
        let info = record.info();
        // The secret never enters the log: only its hash is replicated.
        self.core.propose(&who.actor(), &principal.tenant, "", [0; 32], now, Op::PutToken { token: record }).await?;
        Ok(Response::new(CreateTokenResponse { token, info: Some(info) }))
    }

    async fn list_tokens(&self, req: Request<ListTokensRequest>) -> Res<ListTokensResponse> {
        let who = caller(&req)?;
        let tenant = req.into_inner().tenant;
        if tenant.is_empty() && !who.is_cluster_admin() {
            return Err(invalid("tenant", "is required").into());
        }
        if !tenant.is_empty() {
            model::check_ident("tenant", &tenant)?;
            self.core.authorize_tenant_admin(&who, &tenant)?;
        }
        let tokens = self.core.reader.tokens((!tenant.is_empty()).then_some(tenant.as_str())).map_err(ApiError::from)?;
        Ok(Response::new(ListTokensResponse { tokens: tokens.iter().map(TokenRecord::info).collect() }))
    }

    async fn revoke_token(&self, req: Request<RevokeTokenRequest>) -> Res<RevokeResponse> {
        let who = caller(&req)?;
        let id = req.into_inner().id;
        check_id("id", "token", &id)?;
        let not_found = || ApiError::NotFound(format!("token {id}"));
        let rec = self.core.reader.token_by_id(&id).map_err(ApiError::from)?.ok_or_else(not_found)?;
        let tenant = rec.principal.0.tenant.clone();
        // Tokens of tenants the caller does not administer do not exist for it.
        if !who.is_admin_of(&tenant) {
            return Err(not_found().into());
        }
        let w = self.core.propose(&who.actor(), &tenant, "", [0; 32], now_ms(), Op::RevokeToken { id: id.clone() }).await?;
        Ok(Response::new(RevokeResponse { revision: w.revision }))
    }

    async fn create_grant(&self, req: Request<CreateGrantRequest>) -> Res<Grant> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let scope = model::check_scope("scope", req.scope.as_ref())?;
        let mut grantee = req.grantee.clone().ok_or_else(|| invalid("grantee", "is required"))?;
        if grantee.tenant.is_empty() {
            grantee.tenant = scope.tenant.clone();
        }
        if grantee.tenant != scope.tenant {
            return Err(invalid("grantee.tenant", "grants never cross tenants").into());
        }
        let grantee = Principal { role: 0, cluster_admin: false, ..check_principal("grantee", Some(&grantee))? };
        let access = Access::try_from(req.access).map_err(|_| invalid("access", format!("unknown enum value {}", req.access)))?;
        let access = if access == Access::Unspecified { Access::Read } else { access };
        model::check_ttl("ttl_seconds", req.ttl_seconds)?;
        // Whoever may write a scope may share it (admins, its owner, a read-write grantee).
        self.core.authorize_scope(&who, &scope, Need::Write)?;
        let now = now_ms();
        let grant = Grant {
            id: Ulid::new().to_string(),
            scope: Some(scope.clone()),
            grantee: Some(grantee),
            access: access as i32,
            expires_at_ms: expires_at(now, req.ttl_seconds),
            created_at_ms: now,
        };
        self.core.propose(&who.actor(), &scope.tenant, "", [0; 32], now, Op::PutGrant { grant: Pb(grant.clone()) }).await?;
        Ok(Response::new(grant))
    }

    async fn list_grants(&self, req: Request<ListGrantsRequest>) -> Res<ListGrantsResponse> {
        let who = caller(&req)?;
        let tenant = req.into_inner().tenant;
        model::check_ident("tenant", &tenant)?;
        let grants = self.core.reader.live_grants(&tenant, now_ms()).map_err(ApiError::from)?;
        // Admins see all of the tenant's grants; others the ones on scopes they may write.
        let all = who.is_admin_of(&tenant);
        let own = self.core.grants_for(&who, &tenant)?;
        let grants = grants.into_iter().filter(|g| all || g.scope.as_ref().is_some_and(|s| who.may(s, Need::Write, &own))).collect();
        Ok(Response::new(ListGrantsResponse { grants }))
    }

    async fn revoke_grant(&self, req: Request<RevokeGrantRequest>) -> Res<RevokeResponse> {
        let who = caller(&req)?;
        let id = req.into_inner().id;
        check_id("id", "grant", &id)?;
        let not_found = || ApiError::NotFound(format!("grant {id}"));
        let g = self.core.reader.grant_by_id(&id).map_err(ApiError::from)?.ok_or_else(not_found)?;
        let scope = g.scope.clone().unwrap_or_default();
        if self.core.authorize_scope(&who, &scope, Need::Write).is_err() {
            return Err(not_found().into());
        }
        let w = self.core.propose(&who.actor(), &scope.tenant, "", [0; 32], now_ms(), Op::RevokeGrant { id: id.clone() }).await?;
        Ok(Response::new(RevokeResponse { revision: w.revision }))
    }

    async fn list_audit(&self, req: Request<ListAuditRequest>) -> Res<ListAuditResponse> {
        let who = caller(&req)?;
        let req = req.into_inner();
        if req.tenant.is_empty() && !who.is_cluster_admin() {
            return Err(invalid("tenant", "is required").into());
        }
        if !req.tenant.is_empty() {
            model::check_ident("tenant", &req.tenant)?;
            self.core.authorize_tenant_admin(&who, &req.tenant)?;
        }
        let limit = match req.limit {
            0 => 100,
            n if n > 1000 => return Err(invalid("limit", "must be at most 1000").into()),
            n => n as usize,
        };
        let after = if req.page_token.is_empty() {
            (0, 0)
        } else {
            let (r, p) = req.page_token.split_once('.').ok_or_else(|| invalid("page_token", "malformed page token"))?;
            (
                r.parse().map_err(|_| invalid("page_token", "malformed page token"))?,
                p.parse().map_err(|_| invalid("page_token", "malformed page token"))?,
            )
        };
        let tenant = (!req.tenant.is_empty()).then_some(req.tenant.as_str());
        let records = self.core.reader.audit(tenant, after, limit).map_err(ApiError::from)?;
        let next_page_token =
            if records.len() == limit { records.last().map(|(at, _)| format!("{}.{}", at.0, at.1)).unwrap_or_default() } else { String::new() };
        Ok(Response::new(ListAuditResponse { entries: records.iter().map(|(at, r)| r.to_proto(*at)).collect(), next_page_token }))
    }

    async fn who_am_i(&self, req: Request<WhoAmIRequest>) -> Res<Principal> {
        Ok(Response::new(caller(&req)?.principal))
    }

    async fn set_policy(&self, req: Request<SetPolicyRequest>) -> Res<Policy> {
        let who = caller(&req)?;
        Ok(Response::new(super::policies::set(&self.core, &who, req.into_inner()).await?))
    }

    async fn get_policy(&self, req: Request<PolicyRef>) -> Res<Policy> {
        let who = caller(&req)?;
        Ok(Response::new(super::policies::get(&self.core, &who, req.into_inner()).await?))
    }

    async fn list_policies(&self, req: Request<ListPoliciesRequest>) -> Res<ListPoliciesResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::policies::list(&self.core, &who, req.into_inner()).await?))
    }

    async fn delete_policy(&self, req: Request<PolicyRef>) -> Res<RevokeResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::policies::delete(&self.core, &who, req.into_inner()).await?))
    }

    type BackupStream = super::backup::BackupStream;

    async fn backup(&self, req: Request<BackupRequest>) -> Res<Self::BackupStream> {
        let who = caller(&req)?;
        Ok(Response::new(super::backup::stream(&self.core, &who).await?))
    }

    type ExportStream = super::transfer::ExportStream;

    async fn export(&self, req: Request<ExportRequest>) -> Res<Self::ExportStream> {
        let who = caller(&req)?;
        Ok(Response::new(super::transfer::export(&self.core, &who, req.into_inner()).await?))
    }

    async fn import(&self, req: Request<ImportRequest>) -> Res<ImportResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::transfer::import(&self.core, &who, req.into_inner()).await?))
    }
}
