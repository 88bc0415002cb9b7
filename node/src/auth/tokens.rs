//! API tokens and grants as stored in the replicated state (column family `auth`).
//!
//! | key | value |
//! |---|---|
//! | `t` ++ SHA-256(token) | [`TokenRecord`] |
//! | `i` ++ token id | SHA-256(token) (to revoke by id) |
//! | `g` ++ tenant ++ `\0` ++ grant id | protobuf `Grant` |
//! | `h` ++ grant id | tenant (to revoke by id) |

use base64::Engine;
use memmesh_proto::{Grant, Principal};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::raft::Pb;

/// Prefix of every token, so leaked tokens are recognisable (e.g. by secret scanners).
pub const TOKEN_PREFIX: &str = "mmt_";

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

/// A new random token (256 bits) and its hash.
pub fn generate() -> (String, [u8; 32]) {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b));
    let h = hash(&token);
    (token, h)
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn token_key(hash: &[u8; 32]) -> Vec<u8> {
    [b"t".as_slice(), hash].concat()
}

pub fn token_id_key(id: &str) -> Vec<u8> {
    [b"i".as_slice(), id.as_bytes()].concat()
}

pub fn grant_prefix(tenant: &str) -> Vec<u8> {
    [b"g".as_slice(), tenant.as_bytes(), b"\0"].concat()
}

pub fn grant_key(tenant: &str, id: &str) -> Vec<u8> {
    [grant_prefix(tenant), id.as_bytes().to_vec()].concat()
}

pub fn grant_id_key(id: &str) -> Vec<u8> {
    [b"h".as_slice(), id.as_bytes()].concat()
}

pub fn grant_live_at(g: &Grant, now_ms: i64) -> bool {
    g.expires_at_ms == 0 || now_ms < g.expires_at_ms
}

/// A grant as carried in the log.
pub type GrantRecord = Pb<Grant>;
