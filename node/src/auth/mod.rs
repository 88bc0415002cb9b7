//! Who may do what.
//!
//! - [`policy`]: principals and the rules — a principal owns its scope and everything below it,
//!   grants share scopes with other principals, nobody crosses tenants.
//! - [`tokens`]: API token secrets: generated at random, known only as SHA-256 hashes.
//!
//! Authentication (the bearer token → [`Caller`]) is the gRPC layer's (`api::authn`);
//! authorization of requests, with refusals recorded in the audit log, is the engine's
//! (`engine::authz`). This module holds only the rules, so that the search index can apply them
//! inside its scans.
//!
//! Enforcement happens in the handlers, inside the query paths: a search's scopes are narrowed
//! to what the caller may read *before* the index is queried, and a cube the caller may not
//! read is reported exactly like a cube that does not exist.

pub mod policy;
pub mod tokens;

use serde::{Deserialize, Serialize};

pub use policy::{Caller, Need};

/// The `[auth]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require tokens. Unset: on, unless the node listens on a loopback address only (local
    /// single-user use). `false` switches authentication off explicitly.
    pub enabled: Option<bool>,
    /// A token that acts as cluster admin (to create the first tenant admin tokens). Give it by
    /// file or environment (`MEMMESH__AUTH__BOOTSTRAP_TOKEN`); it is never logged or stored.
    pub bootstrap_token: Option<String>,
    /// A secret every member of the cluster shares (`MEMMESH__AUTH__CLUSTER_SECRET`): peer
    /// (Raft) calls carry it, and a node refuses peer calls without it — so an outsider cannot
    /// inject votes or log entries. Unset: peer calls are not authenticated.
    pub cluster_secret: Option<String>,
    /// Audit records each node keeps (older ones are trimmed locally).
    pub audit_retention_records: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { enabled: None, bootstrap_token: None, cluster_secret: None, audit_retention_records: 1_000_000 }
    }
}

impl AuthConfig {
    /// Whether a node listening on `listen` requires tokens.
    pub fn required(&self, listen: &std::net::SocketAddr) -> bool {
        self.enabled.unwrap_or(!listen.ip().is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_required_off_loopback_unless_switched_off_explicitly() {
        let loopback = "127.0.0.1:7070".parse().unwrap();
        let public = "0.0.0.0:7070".parse().unwrap();
        assert!(!AuthConfig::default().required(&loopback), "local single-user default");
        assert!(AuthConfig::default().required(&public), "on by default when reachable from outside");
        assert!(!AuthConfig { enabled: Some(false), ..Default::default() }.required(&public));
        assert!(AuthConfig { enabled: Some(true), ..Default::default() }.required(&loopback));
    }
}
