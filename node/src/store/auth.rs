//! Tokens and grants in the replicated state (column family `auth`): what `apply` does with
//! them and how they are read back.
//!
//! | key | value |
//! |---|---|
//! | `t` ++ SHA-256(token) | postcard [`TokenRecord`] |
//! | `i` ++ token id | SHA-256(token) (to revoke by id) |
//! | `g` ++ tenant ++ `\0` ++ grant id | protobuf `Grant` |
//! | `h` ++ grant id | tenant (to revoke by id) |
//! | `p` ++ tenant ++ `\0` ++ name | protobuf `Policy` (see [`super::policies`]) |
//!
//! Tenant usage counters (for quotas) live in [`super::usage`].

use memmesh_proto::Grant;
use rocksdb::{WriteBatch, DB};

use super::{cf, decode, encode, StoreError, CF_AUTH};
use crate::model::{ApplyError, Pb, TokenRecord};
use crate::raft::Outcome;

type ApplyResult = Result<Outcome, ApplyError>;

pub fn put_token(db: &DB, batch: &mut WriteBatch, t: &TokenRecord) -> Result<ApplyResult, StoreError> {
    let c = cf(db, CF_AUTH);
    batch.put_cf(c, token_key(&t.hash), encode(t));
    batch.put_cf(c, token_id_key(&t.id), t.hash);
    Ok(Ok(Outcome::default()))
}

pub fn revoke_token(db: &DB, batch: &mut WriteBatch, id: &str) -> Result<ApplyResult, StoreError> {
    let c = cf(db, CF_AUTH);
    let Some(hash) = db.get_cf(c, token_id_key(id))? else {
        return Ok(Err(ApplyError::NotFound { id: format!("token {id}") }));
    };
    if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
        batch.delete_cf(c, token_key(&hash));
    }
    batch.delete_cf(c, token_id_key(id));
    Ok(Ok(Outcome::default()))
}

pub fn put_grant(db: &DB, batch: &mut WriteBatch, g: &Grant) -> Result<ApplyResult, StoreError> {
    let c = cf(db, CF_AUTH);
    let tenant = g.scope.as_ref().map(|s| s.tenant.as_str()).unwrap_or_default();
    batch.put_cf(c, grant_key(tenant, &g.id), encode(&Pb(g.clone())));
    batch.put_cf(c, grant_id_key(&g.id), tenant.as_bytes());
    Ok(Ok(Outcome::default()))
}

pub fn revoke_grant(db: &DB, batch: &mut WriteBatch, id: &str) -> Result<ApplyResult, StoreError> {
    let c = cf(db, CF_AUTH);
    let Some(tenant) = db.get_cf(c, grant_id_key(id))? else {
        return Ok(Err(ApplyError::NotFound { id: format!("grant {id}") }));
    };
    batch.delete_cf(c, grant_key(&String::from_utf8_lossy(&tenant), id));
    batch.delete_cf(c, grant_id_key(id));
    Ok(Ok(Outcome::default()))
}

pub fn token(db: &DB, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
    db.get_cf(cf(db, CF_AUTH), token_key(hash))?.map(|b| decode(CF_AUTH, &b)).transpose()
}

pub fn token_by_id(db: &DB, id: &str) -> Result<Option<TokenRecord>, StoreError> {
    let Some(h) = db.get_cf(cf(db, CF_AUTH), token_id_key(id))? else { return Ok(None) };
    let h: [u8; 32] = h.as_slice().try_into().map_err(|_| StoreError::Corrupt { cf: CF_AUTH, detail: format!("token hash of {} bytes", h.len()) })?;
    token(db, &h)
}

/// Every token record (optionally of one tenant).
pub fn tokens(db: &DB, tenant: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
    let mut out = Vec::new();
    for item in db.prefix_iterator_cf(cf(db, CF_AUTH), b"t") {
        let (k, v) = item?;
        if !k.starts_with(b"t") {
            break;
        }
        let t: TokenRecord = decode(CF_AUTH, &v)?;
        if tenant.is_none_or(|tn| t.principal.0.tenant == tn) {
            out.push(t);
        }
    }
    Ok(out)
}

/// The grants of a tenant (expired ones included; callers check expiry).
pub fn grants(db: &DB, tenant: &str) -> Result<Vec<Grant>, StoreError> {
    let prefix = grant_prefix(tenant);
    let mut out = Vec::new();
    for item in db.prefix_iterator_cf(cf(db, CF_AUTH), &prefix) {
        let (k, v) = item?;
        if !k.starts_with(&prefix) {
            break;
        }
        out.push(decode::<Pb<Grant>>(CF_AUTH, &v)?.0);
    }
    Ok(out)
}

pub fn grant_by_id(db: &DB, id: &str) -> Result<Option<Grant>, StoreError> {
    let c = cf(db, CF_AUTH);
    let Some(tenant) = db.get_cf(c, grant_id_key(id))? else { return Ok(None) };
    db.get_cf(c, grant_key(&String::from_utf8_lossy(&tenant), id))?.map(|b| decode::<Pb<Grant>>(CF_AUTH, &b).map(|p| p.0)).transpose()
}

fn token_key(hash: &[u8; 32]) -> Vec<u8> {
    [b"t".as_slice(), hash].concat()
}

fn token_id_key(id: &str) -> Vec<u8> {
    [b"i".as_slice(), id.as_bytes()].concat()
}

fn grant_prefix(tenant: &str) -> Vec<u8> {
    [b"g".as_slice(), tenant.as_bytes(), b"\0"].concat()
}

fn grant_key(tenant: &str, id: &str) -> Vec<u8> {
    [grant_prefix(tenant), id.as_bytes().to_vec()].concat()
}

fn grant_id_key(id: &str) -> Vec<u8> {
    [b"h".as_slice(), id.as_bytes()].concat()
}
