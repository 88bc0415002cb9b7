//! Records that travel in log entries and live in the replicated state besides cubes: API
//! tokens (hashed), sharing grants, audit records, a tenant's storage quota.

use memmesh_proto::{AuditEntry, Grant, Principal};
use serde::{Deserialize, Serialize};

use super::Pb;

/// An API token as stored: its SHA-256 hash, never the secret.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    pub id: String,
    pub hash: [u8; 32],
    pub principal: Pb<Principal>,
    pub created_at_ms: i64,
    /// 0 = never.
    pub expires_at_ms: i64,
    pub description: String,
}

impl TokenRecord {
    pub fn live_at(&self, now_ms: i64) -> bool {
        self.expires_at_ms == 0 || now_ms < self.expires_at_ms
    }

    pub fn info(&self) -> memmesh_proto::TokenInfo {
        memmesh_proto::TokenInfo {
            id: self.id.clone(),
            principal: Some(self.principal.0.clone()),
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            description: self.description.clone(),
        }
    }
}

/// A grant as carried in the log.
pub type GrantRecord = Pb<Grant>;

/// Whether a grant is still in force at `now_ms`.
pub fn grant_live_at(g: &Grant, now_ms: i64) -> bool {
    g.expires_at_ms == 0 || now_ms < g.expires_at_ms
}

/// One audit log entry: who did what, to what, when, with what outcome.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    /// Empty for requests that named no tenant (e.g. an unauthenticated call).
    pub tenant: String,
    pub actor: String,
    pub operation: String,
    pub target: String,
    /// "ok", or why it failed / was refused.
    pub outcome: String,
    pub at_ms: i64,
}

impl AuditRecord {
    pub fn to_proto(&self, at: (u64, u32)) -> AuditEntry {
        AuditEntry {
            revision: at.0,
            position: at.1,
            tenant: self.tenant.clone(),
            actor: self.actor.clone(),
            operation: self.operation.clone(),
            target: self.target.clone(),
            outcome: self.outcome.clone(),
            at_ms: self.at_ms,
        }
    }
}

/// Storage limits of a tenant; 0 = unlimited.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Quota {
    pub max_cubes: u64,
    pub max_bytes: u64,
}

/// One piece of retrieval feedback: `query` was (or, `negative`, was not) answered by cube
/// `cube_id`, which lies in `scope`. Training data for the scope's query adapter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FeedbackRecord {
    pub scope: Pb<memmesh_proto::Scope>,
    pub cube_id: String,
    pub query: String,
    pub negative: bool,
    pub actor: String,
    pub at_ms: i64,
}
