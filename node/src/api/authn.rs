//! Authentication: `authorization: Bearer <token>` → the request's [`Caller`].
//!
//! Runs before every Memory, MemStore, Cluster and Admin call. A missing, unknown, revoked or
//! expired token is `UNAUTHENTICATED` (with the same message for all of them, so the reply does
//! not tell a guesser which tokens exist). Tokens are looked up by hash in this node's replica,
//! so a revocation counts on a node from the moment it is applied there.

use tonic::{Request, Status};

use super::ApiError;
use crate::auth::tokens::{hash, TOKEN_PREFIX};
use crate::auth::Caller;
use crate::engine::denials::DenialLog;
use crate::model::{now_ms, ApplyError};
use crate::quota::{QuotaConfig, RateLimiter};
use crate::store::Reader;

#[derive(Clone)]
pub struct Authenticate {
    reader: Reader,
    required: bool,
    bootstrap: Option<[u8; 32]>,
    denials: DenialLog,
    quotas: std::sync::Arc<(QuotaConfig, RateLimiter)>,
}

impl Authenticate {
    pub fn new(reader: Reader, required: bool, bootstrap_token: Option<&str>, denials: DenialLog, quotas: QuotaConfig) -> Self {
        let quotas = std::sync::Arc::new((quotas, RateLimiter::default()));
        Self { reader, required, bootstrap: bootstrap_token.filter(|t| !t.is_empty()).map(hash), denials, quotas }
    }

    fn caller(&self, req: &Request<()>) -> Result<Caller, ApiError> {
        if !self.required {
            return Ok(Caller::cluster_admin());
        }
        let denied = || ApiError::Unauthenticated("a valid API token is required: send `authorization: Bearer <token>`".into());
        let header = req.metadata().get("authorization").ok_or_else(denied)?.to_str().map_err(|_| denied())?;
        let token = header.strip_prefix("Bearer ").map(str::trim).ok_or_else(denied)?;
        let h = hash(token);
        if self.bootstrap == Some(h) {
            return Ok(Caller::cluster_admin());
        }
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(denied());
        }
        let rec = self.reader.token(&h)?.ok_or_else(denied)?;
        if !rec.live_at(now_ms()) {
            return Err(denied());
        }
        Ok(Caller { principal: rec.principal.0, token_id: rec.id })
    }
}

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let caller = match self.caller(&req) {
            Ok(c) => c,
            Err(e) => {
                let s = Status::from(e);
                let from = req.remote_addr().map_or("unknown address".to_string(), |a| a.to_string());
                self.denials.record("", "unauthenticated", format!("request from {from}"), s.message().to_string());
                return Err(s);
            }
        };
        // Request-rate quota of the caller's tenant (the cluster admin is not limited).
        if !caller.is_cluster_admin() {
            let (cfg, limiter) = &*self.quotas;
            let rate = cfg.rate(&caller.principal.tenant);
            if !limiter.admit(&caller.principal.tenant, rate) {
                let tenant = &caller.principal.tenant;
                let e = ApplyError::QuotaExceeded(format!("tenant {tenant:?} may make {rate} requests per second on this node; retry later"));
                return Err(ApiError::from(e).into());
            }
        }
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// The caller of a request that went through [`Authenticate`].
pub fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions().get::<Caller>().cloned().ok_or_else(|| ApiError::Internal("request was not authenticated (no interceptor?)".into()).into())
}

/// Authentication of peer (Raft) calls: the cluster secret, when one is configured.
#[derive(Clone)]
pub struct PeerSecret(Option<[u8; 32]>);

impl PeerSecret {
    pub fn new(secret: Option<&str>) -> Self {
        PeerSecret(secret.filter(|s| !s.is_empty()).map(hash))
    }
}

impl tonic::service::Interceptor for PeerSecret {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(want) = self.0 else { return Ok(req) };
        let given = req.metadata().get(crate::raft::network::SECRET_METADATA).and_then(|v| v.to_str().ok()).map(hash);
        if given == Some(want) {
            Ok(req)
        } else {
            Err(ApiError::Unauthenticated("peer call without the cluster secret".into()).into())
        }
    }
}
