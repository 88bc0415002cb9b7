//! Helpers for tests that run nodes with authentication on.

use memmesh_client::Client;

use crate::proto::{self, Role};
use crate::EMBEDDING_ON;

/// The bootstrap (cluster admin) token the nodes of [`auth_env`] accept.
pub const BOOT: &str = "bootstrap-secret-for-tests";

/// Node environment: embedding on, authentication on, known bootstrap token and peer secret.
pub fn auth_env() -> Vec<(&'static str, &'static str)> {
    let mut env = EMBEDDING_ON.to_vec();
    env.push(("MEMMESH__AUTH__ENABLED", "true"));
    env.push(("MEMMESH__AUTH__BOOTSTRAP_TOKEN", BOOT));
    env.push(("MEMMESH__AUTH__CLUSTER_SECRET", "peer-secret-for-tests"));
    env
}

/// A client that sends `token`.
pub async fn as_token(addr: &str, token: &str) -> Client {
    Client::connect_with_token(addr, Some(token)).await.unwrap()
}

/// A scope with tenant, user and agent.
pub fn scope3(t: &str, u: &str, a: &str) -> proto::Scope {
    proto::Scope { tenant: t.into(), user: u.into(), agent: a.into(), run: String::new() }
}

/// Creates a token for the principal; returns (secret, token id).
pub async fn token(admin: &mut Client, t: &str, u: &str, a: &str, role: Role, ttl: u64) -> (String, String) {
    let principal = proto::Principal { tenant: t.into(), user: u.into(), agent: a.into(), role: role as i32, cluster_admin: false };
    let r = admin
        .admin
        .create_token(proto::CreateTokenRequest { principal: Some(principal), ttl_seconds: ttl, description: String::new() })
        .await
        .unwrap()
        .into_inner();
    (r.token, r.info.unwrap().id)
}

/// `None` = the call succeeded, `Some(code)` = it failed with that code.
pub fn code<T>(r: Result<T, tonic::Status>) -> Option<tonic::Code> {
    r.err().map(|s| s.code())
}

/// A client of the node at `addr` authenticated as a new token (no expiry) of the principal,
/// for tests that need neither the token's secret nor its id.
pub async fn client_as(admin: &mut Client, addr: &str, t: &str, u: &str, a: &str, role: Role) -> Client {
    let (secret, _) = token(admin, t, u, a, role, 0).await;
    as_token(addr, &secret).await
}
