//! Memory policies in the replicated state (column family `auth`, beside grants):
//! `p` ++ tenant ++ `\0` ++ name → protobuf `Policy`. Few per tenant; read by prefix.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memmesh_proto::Policy;
use rocksdb::{WriteBatch, DB};

use super::{cf, StoreError, CF_AUTH};
use crate::model::ApplyError;
use crate::raft::Outcome;

type ApplyResult = Result<Outcome, ApplyError>;

/// Bumped after any replica of this process stores a policy change (or installs a snapshot).
/// One counter for the process, not one per database: a change anywhere invalidates every
/// cache — more reloads than needed, never a stale answer.
static GENERATION: AtomicU64 = AtomicU64::new(1);

pub(crate) fn changed() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// A replica's policies per tenant, as last read, with the generation they were read at: every
/// put that leaves its dedupe mode unset resolves its tenant's policies, and reading them from
/// RocksDB each time measurably slowed the write path.
#[derive(Clone, Default)]
pub struct PolicyCache(Arc<Mutex<HashMap<String, Cached>>>);

/// A tenant's policies and the generation they were read at.
type Cached = (u64, Arc<Vec<Policy>>);

impl PolicyCache {
    /// The policies of `tenant`: cached unless a change was stored since they were read.
    pub fn get(&self, db: &DB, tenant: &str) -> Result<Arc<Vec<Policy>>, StoreError> {
        // Read the generation before the data: a change stored in between bumps it again, so
        // what is cached under this generation is never older than the generation says.
        let gen = GENERATION.load(Ordering::SeqCst);
        if let Some((g, p)) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(tenant) {
            if *g == gen {
                return Ok(p.clone());
            }
        }
        let fresh = Arc::new(list(db, Some(tenant))?);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(tenant.to_string(), (gen, fresh.clone()));
        Ok(fresh)
    }
}

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
    list_in(db, tenant, None)
}

/// [`list`] as of `snapshot` (of `db`) when one is given.
pub fn list_in(db: &DB, tenant: Option<&str>, snapshot: Option<&rocksdb::Snapshot<'_>>) -> Result<Vec<Policy>, StoreError> {
    let prefix = tenant.map_or_else(|| vec![b'p'], tenant_prefix);
    let mut opts = rocksdb::ReadOptions::default();
    if let Some(snap) = snapshot {
        opts.set_snapshot(snap);
    }
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf_opt(cf(db, CF_AUTH), opts);
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

/// Records how far the leader has applied a policy's default TTL (nothing if the policy is gone
/// or was set again since the step was planned).
pub fn backfilled(db: &DB, batch: &mut WriteBatch, tenant: &str, name: &str, set_at_ms: i64, cursor: &str) -> Result<(), StoreError> {
    if let Some(mut p) = get(db, tenant, name)?.filter(|p| p.updated_at_ms == set_at_ms) {
        p.backfill_cursor = cursor.to_string();
        batch.put_cf(cf(db, CF_AUTH), key(tenant, name), prost::Message::encode_to_vec(&p));
    }
    Ok(())
}
