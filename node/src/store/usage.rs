//! Tenant usage counters — (cubes, content bytes) of current versions — kept by `apply` in the
//! `auth` column family under `u` ++ tenant, and the quota check against them.

use memmesh_proto::MemCube;
use rocksdb::{WriteBatch, DB};

use super::{cf, decode, encode, StoreError, CF_AUTH};
use crate::model::{ApplyError, Quota};

fn usage_key(tenant: &str) -> Vec<u8> {
    [b"u".as_slice(), tenant.as_bytes()].concat()
}

/// A tenant's (cubes, content bytes), kept by `apply` for quotas.
pub fn usage(db: &DB, tenant: &str) -> Result<(u64, u64), StoreError> {
    Ok(db.get_cf(cf(db, CF_AUTH), usage_key(tenant))?.map(|b| decode(CF_AUTH, &b)).transpose()?.unwrap_or((0, 0)))
}

fn stage_usage(db: &DB, batch: &mut WriteBatch, tenant: &str, used: (u64, u64)) {
    batch.put_cf(cf(db, CF_AUTH), usage_key(tenant), encode(&used));
}

/// A write's change to its tenant's usage, checked against the tenant's quota as the write goes
/// (the limits are carried in the log entry, so every replica decides alike).
pub(crate) struct Charge<'a> {
    tenant: &'a str,
    quota: Quota,
    /// The tenant's usage before this write; read on the first charge (most writes never
    /// change usage).
    before: Option<(u64, u64)>,
    delta: (i64, i64),
}

impl<'a> Charge<'a> {
    pub fn new(tenant: &'a str, quota: Quota) -> Self {
        Self { tenant, quota, before: None, delta: (0, 0) }
    }

    /// Adds `(cubes, bytes)` to the write's usage change, unless it takes the tenant past its
    /// quota (growth only: shrinking is always allowed).
    pub fn add(&mut self, db: &DB, cubes: i64, bytes: i64) -> Result<Result<(), ApplyError>, StoreError> {
        let before = match self.before {
            Some(u) => u,
            None => *self.before.insert(usage(db, self.tenant)?),
        };
        let after = |used: u64, d: i64| used as i64 + d;
        let (c, b) = (after(before.0, self.delta.0 + cubes), after(before.1, self.delta.1 + bytes));
        if cubes > 0 && self.quota.max_cubes > 0 && c > self.quota.max_cubes as i64 {
            return Ok(Err(ApplyError::QuotaExceeded(format!("the tenant may hold {} cubes; this write would make {c}", self.quota.max_cubes))));
        }
        if bytes > 0 && self.quota.max_bytes > 0 && b > self.quota.max_bytes as i64 {
            return Ok(Err(ApplyError::QuotaExceeded(format!(
                "the tenant may hold {} bytes of content; this write would make {b}",
                self.quota.max_bytes
            ))));
        }
        self.delta = (self.delta.0 + cubes, self.delta.1 + bytes);
        Ok(Ok(()))
    }

    /// Stages the tenant's new usage, if the write changed it.
    pub fn stage(&self, db: &DB, batch: &mut WriteBatch) {
        if let (Some(before), true) = (self.before, self.delta != (0, 0)) {
            let used = ((before.0 as i64 + self.delta.0).max(0) as u64, (before.1 as i64 + self.delta.1).max(0) as u64);
            stage_usage(db, batch, self.tenant, used);
        }
    }
}

/// What a cube costs against the tenant's byte quota: its payload and search context.
pub fn cube_bytes(c: &MemCube) -> i64 {
    let content = c.content.as_ref().map_or(0, |c| c.text.len() + c.data.len());
    (content + c.context.len()) as i64
}
