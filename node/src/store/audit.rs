//! The audit log: who did what, to what, when, with what outcome.
//!
//! `apply` writes one record for every write it applies (succeeded or refused by a
//! precondition), in the same atomic batch as the write, so the log can neither miss a change
//! nor show one that did not happen. Requests refused before proposing (authentication or
//! authorization) are proposed as audit-only entries. Records are replicated through the log
//! and carried in snapshots; each node trims its copy to `audit.retention_records`.
//!
//! Key: revision (u64 BE) ++ position in the entry (u32 BE) → postcard [`AuditRecord`] (defined in `model`: it also travels in log entries).

use rocksdb::{IteratorMode, WriteBatch, DB};

use super::{cf, decode, encode, StoreError, CF_AUDIT};
use crate::model::AuditRecord;
use crate::raft::{Op, Request, Response};

fn key(revision: u64, sub: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&revision.to_be_bytes());
    k[8..].copy_from_slice(&sub.to_be_bytes());
    k
}

/// (revision, position) of a key; a key of another length is a corruption error.
fn parse_key(k: &[u8]) -> Result<(u64, u32), StoreError> {
    let k: &[u8; 12] = k.try_into().map_err(|_| StoreError::Corrupt { cf: CF_AUDIT, detail: format!("audit key of {} bytes, want 12", k.len()) })?;
    let (rev, pos) = k.split_at(8);
    Ok((u64::from_be_bytes(rev.try_into().unwrap_or_default()), u32::from_be_bytes(pos.try_into().unwrap_or_default())))
}

/// What an operation is called in the log, and what it acted on.
fn describe(op: &Op) -> (&'static str, String) {
    match op {
        Op::Put { cubes } | Op::PutDedupe { cubes, .. } | Op::PutCubes { cubes, .. } => {
            let ids: Vec<&str> = cubes.iter().take(3).map(|c| c.0.id.as_str()).collect();
            let more = if cubes.len() > 3 { format!(" (+{} more)", cubes.len() - 3) } else { String::new() };
            ("put", format!("{}{more}", ids.join(",")))
        }
        Op::Update { patch, .. } => ("update", patch.0.id.clone()),
        Op::Delete { id, .. } => ("delete", id.clone()),
        Op::Restore { id, .. } => ("restore", id.clone()),
        Op::Rollback { id, to_version, .. } => ("rollback", format!("{id} to v{to_version}")),
        Op::Touch { id } => ("record-access", id.clone()),
        Op::PurgeCube { id } => ("purge", id.clone()),
        Op::PurgeScope { scope } => ("purge-scope", format!("{}/{}/{}/{}", scope.0.tenant, scope.0.user, scope.0.agent, scope.0.run)),
        Op::PutToken { token } => {
            let p = &token.principal.0;
            ("create-token", format!("{} for {}/{}/{}", token.id, p.tenant, p.user, p.agent))
        }
        Op::RevokeToken { id } => ("revoke-token", id.clone()),
        Op::PutGrant { grant } => {
            let g = &grant.0;
            let s = g.scope.clone().unwrap_or_default();
            let to = g.grantee.clone().unwrap_or_default();
            ("create-grant", format!("{}: {}/{}/{} to {}/{}/{}", g.id, s.tenant, s.user, s.agent, to.tenant, to.user, to.agent))
        }
        Op::RevokeGrant { id } => ("revoke-grant", id.clone()),
        Op::Feedback { records } => {
            let ids: Vec<&str> = records.iter().take(3).map(|r| r.cube_id.as_str()).collect();
            let more = if records.len() > 3 { format!(" (+{} more)", records.len() - 3) } else { String::new() };
            ("feedback", format!("{}{more}", ids.join(",")))
        }
        Op::Import { cubes, policies } => ("import", format!("{} cubes, {} policies", cubes.len(), policies.len())),
        Op::Audit { .. } => ("audit", String::new()),
        Op::Link { source, link_type, target, remove, .. } => {
            let t = memmesh_proto::LinkType::try_from(*link_type).map_or("?", |t| t.as_str_name());
            (if *remove { "unlink" } else { "link" }, format!("{source} {t} {target}"))
        }
        Op::PutPolicy { policy } => ("set-policy", policy.0.name.clone()),
        Op::RestoreWithTtl { id, ttl_seconds, .. } => ("restore", format!("{id} with ttl {ttl_seconds}s")),
        Op::Expire { items, .. } => ("expire", format!("{} cubes", items.len())),
        Op::Reclaim { items, .. } => ("reclaim", format!("{} cubes", items.len())),
        Op::Archive { items, .. } => ("archive", format!("{} cubes", items.len())),
        Op::Cap { items, scope, .. } => {
            let s = &scope.0;
            ("cap", format!("{} cubes of {}/{}/{}/{}", items.len(), s.tenant, s.user, s.agent, s.run))
        }
        Op::DefaultTtl { name, items, .. } => ("default-ttl", format!("{} cubes under policy {name}", items.len())),
        Op::DeletePolicy { name, .. } => ("delete-policy", name.clone()),
        Op::PolicyRan { name, .. } => ("policy-consolidated", name.clone()),
        Op::Consolidate { clusters } => {
            let members: usize = clusters.iter().map(|c| c.members.len()).sum();
            let keepers: Vec<&str> = clusters.iter().take(3).map(|c| c.keeper.0.as_str()).collect();
            let more = if clusters.len() > 3 { format!(" (+{} more)", clusters.len() - 3) } else { String::new() };
            ("consolidate", format!("{members} cubes into {}{more}", keepers.join(",")))
        }
    }
}

/// Stages the audit record of write `sub` of the entry at `revision`.
pub fn stage(db: &DB, batch: &mut WriteBatch, revision: u64, sub: u32, req: &Request, resp: &Response) {
    let record = match &req.op {
        Op::Audit { record } => record.clone(),
        op => {
            let (operation, target) = describe(op);
            let outcome = match &resp.result {
                Ok(o) if o.deduplicated => "ok (retry of an earlier write)".to_string(),
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            };
            AuditRecord { tenant: req.tenant.clone(), actor: req.actor.clone(), operation: operation.into(), target, outcome, at_ms: req.at_ms }
        }
    };
    batch.put_cf(cf(db, CF_AUDIT), key(revision, sub), encode(&record));
}

/// Records after `after` (exclusive; (0, 0) = from the start), of one tenant or (None) all,
/// at most `limit`. Returns the records with their keys.
/// Audit records with their (revision, position), in log order.
pub type AuditPage = Vec<((u64, u32), AuditRecord)>;

pub fn list(db: &DB, tenant: Option<&str>, after: (u64, u32), limit: usize) -> Result<AuditPage, StoreError> {
    let start = key(after.0, after.1);
    let mut out = Vec::new();
    for item in db.iterator_cf(cf(db, CF_AUDIT), IteratorMode::From(&start, rocksdb::Direction::Forward)) {
        let (k, v) = item?;
        let at = parse_key(&k)?;
        if at <= after {
            continue;
        }
        let r: AuditRecord = decode(CF_AUDIT, &v)?;
        if tenant.is_none_or(|t| r.tenant == t) {
            out.push((at, r));
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Deletes the oldest records beyond `keep` (node-local trimming). Returns how many went.
pub fn trim(db: &DB, keep: u64) -> Result<u64, StoreError> {
    let c = cf(db, CF_AUDIT);
    let total = db.property_int_value_cf(c, "rocksdb.estimate-num-keys")?.unwrap_or(0);
    if total <= keep {
        return Ok(0);
    }
    let mut batch = WriteBatch::default();
    let mut n = 0;
    for item in db.iterator_cf(c, IteratorMode::Start).take((total - keep) as usize) {
        let (k, _) = item?;
        batch.delete_cf(c, k);
        n += 1;
    }
    // Unlogged like the records themselves (see `store`).
    db.write_opt(batch, &super::unlogged())?;
    Ok(n)
}
