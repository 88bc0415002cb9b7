//! Tokens and grants in the replicated state: what `apply` does with them and how they are
//! read back (key layout in [`crate::auth::tokens`]).

use memmesh_proto::Grant;
use rocksdb::{WriteBatch, DB};

use super::{cf, decode, encode, StoreError, CF_AUTH};
use crate::auth::tokens::{grant_id_key, grant_key, grant_prefix, token_id_key, token_key, TokenRecord};
use crate::model::ApplyError;
use crate::raft::{Outcome, Pb};

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

fn usage_key(tenant: &str) -> Vec<u8> {
    [b"u".as_slice(), tenant.as_bytes()].concat()
}

/// A tenant's (cubes, content bytes), kept by `apply` for quotas.
pub fn usage(db: &DB, tenant: &str) -> Result<(u64, u64), StoreError> {
    Ok(db.get_cf(cf(db, CF_AUTH), usage_key(tenant))?.map(|b| decode(CF_AUTH, &b)).transpose()?.unwrap_or((0, 0)))
}

pub fn stage_usage(db: &DB, batch: &mut WriteBatch, tenant: &str, used: (u64, u64)) {
    batch.put_cf(cf(db, CF_AUTH), usage_key(tenant), encode(&used));
}

pub fn token(db: &DB, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
    db.get_cf(cf(db, CF_AUTH), token_key(hash))?.map(|b| decode(CF_AUTH, &b)).transpose()
}

pub fn token_by_id(db: &DB, id: &str) -> Result<Option<TokenRecord>, StoreError> {
    match db.get_cf(cf(db, CF_AUTH), token_id_key(id))? {
        Some(h) if h.len() == 32 => token(db, h.as_slice().try_into().expect("32 bytes")),
        _ => Ok(None),
    }
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
