//! Memory policies in the replicated state (column family `auth`, beside grants):
//! `p` ++ tenant ++ `\0` ++ name → protobuf `Policy`. Few per tenant; read by prefix.

use memmesh_proto::Policy;
use rocksdb::{WriteBatch, DB};

use super::{cf, StoreError, CF_AUTH};
use crate::model::ApplyError;
use crate::raft::Outcome;

type ApplyResult = Result<Outcome, ApplyError>;

fn tenant_prefix(tenant: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 2);
    k.push(b'p');
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k
}

fn key(tenant: &str, name: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(name.as_bytes());
    k
}

fn decode(b: &[u8]) -> Result<Policy, StoreError> {
    prost::Message::decode(b).map_err(|e: prost::DecodeError| StoreError::Corrupt { cf: CF_AUTH, detail: format!("policy: {e}") })
}

fn tenant_of(p: &Policy) -> &str {
    p.scope.as_ref().map_or("", |s| s.tenant.as_str())
}

pub fn get(db: &DB, tenant: &str, name: &str) -> Result<Option<Policy>, StoreError> {
    db.get_cf(cf(db, CF_AUTH), key(tenant, name))?.map(|b| decode(&b)).transpose()
}

/// The policies of `tenant` (by name), or of every tenant (`None`; by tenant, then name).
pub fn list(db: &DB, tenant: Option<&str>) -> Result<Vec<Policy>, StoreError> {
    let prefix = tenant.map_or_else(|| vec![b'p'], tenant_prefix);
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf(db, CF_AUTH));
    it.seek(&prefix);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(&prefix) {
            break;
        }
        out.push(decode(v)?);
        it.next();
    }
    it.status()?;
    Ok(out)
}

/// Creates or replaces a policy; a replaced one keeps when it last ran.
pub fn put(db: &DB, batch: &mut WriteBatch, p: &Policy) -> Result<ApplyResult, StoreError> {
    let mut p = p.clone();
    if let Some(old) = get(db, tenant_of(&p), &p.name)? {
        p.last_consolidated_at_ms = old.last_consolidated_at_ms;
    }
    batch.put_cf(cf(db, CF_AUTH), key(tenant_of(&p), &p.name), prost::Message::encode_to_vec(&p));
    Ok(Ok(Outcome::default()))
}

pub fn delete(db: &DB, batch: &mut WriteBatch, tenant: &str, name: &str) -> Result<ApplyResult, StoreError> {
    if get(db, tenant, name)?.is_none() {
        return Ok(Err(ApplyError::NotFound { id: format!("policy {name}") }));
    }
    batch.delete_cf(cf(db, CF_AUTH), key(tenant, name));
    Ok(Ok(Outcome::default()))
}

/// Records a finished scheduled consolidation (nothing if the policy is gone).
pub fn ran(db: &DB, batch: &mut WriteBatch, tenant: &str, name: &str, at_ms: i64) -> Result<ApplyResult, StoreError> {
    if let Some(mut p) = get(db, tenant, name)? {
        p.last_consolidated_at_ms = p.last_consolidated_at_ms.max(at_ms);
        batch.put_cf(cf(db, CF_AUTH), key(tenant, name), prost::Message::encode_to_vec(&p));
    }
    Ok(Ok(Outcome::default()))
}
