//! The leader's lifecycle work: the expiry sweep, reclamation (purging DELETED and EXPIRED
//! cubes after their policies' grace periods), policies' default TTLs for existing cubes, and
//! tiering (archiving idle or weak cubes).
//!
//! Only the leader sweeps. It reads what is due from the replicated expiry index (see
//! `store::lifecycle`), judges at its own clock — the time travels in the entry, with the
//! version judged for each cube — and proposes bounded steps. `apply` expires a cube only if it
//! is still that version and still past its expiry at the judged time, so a TTL extended in the
//! meantime wins, and a step repeated after a leader change expires nothing twice.

use std::collections::{BTreeMap, HashMap};

use memmesh_proto::{MemoryType, Policy};
use ulid::Ulid;

use super::{ApiError, Core};
use crate::model::now_ms;
use crate::model::policy::{cap_for, missing_ttl, reclaimed_by, tier_due};
use crate::raft::Op;

/// Where the next sweep starts scanning the expiry index, and when it last scanned it whole.
/// Held by the leader's sweep task only; a new leader starts from the beginning.
#[derive(Default)]
pub struct SweepCursor {
    from: i64,
    full_scan_at: i64,
}

/// How often the sweep scans the expiry index from its start: a cube can re-enter it with an
/// expiry time before the cursor (restored from DELETED past its expiry), and reads hide it
/// meanwhile anyway.
const FULL_SCAN_EVERY_MS: i64 = 10_000;

impl Core {
    /// One sweep on the leader (others return 0 at once): proposes `Expire` steps of at most
    /// `batch` cubes until nothing due is left. Returns how many cubes were expired.
    pub async fn sweep_expired(&self, batch: usize, cursor: &mut SweepCursor) -> Result<u64, ApiError> {
        let mut expired = 0;
        loop {
            if self.leader() != Some(self.id) {
                *cursor = SweepCursor::default();
                return Ok(expired);
            }
            let now = now_ms();
            if now - cursor.full_scan_at >= FULL_SCAN_EVERY_MS {
                *cursor = SweepCursor { from: 0, full_scan_at: now };
            }
            let due = self.reader.due_expiries(cursor.from, now, batch.max(1))?;
            if due.is_empty() {
                return Ok(expired);
            }
            // Everything before the first due entry is gone or not yet due: start there next.
            cursor.from = due[0].at;
            // One step per tenant, so each tenant's audit log shows its own expiries. The index
            // entry names version and tenant (the cube is read only for older entries).
            let mut by_tenant: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
            for d in &due {
                if d.version > 0 {
                    by_tenant.entry(d.tenant.clone()).or_default().push((d.id.to_string(), d.version));
                } else if let Some(c) = self.reader.get(d.id)? {
                    let tenant = c.scope.as_ref().map(|s| s.tenant.clone()).unwrap_or_default();
                    by_tenant.entry(tenant).or_default().push((c.id, c.version));
                }
            }
            let full = due.len() >= batch.max(1);
            for (tenant, items) in by_tenant {
                let w = self.propose("lifecycle (expiry sweep)", &tenant, "", [0; 32], now, Op::Expire { at_ms: now, items }).await?;
                expired += w.outcome.merged;
            }
            if !full {
                return Ok(expired);
            }
        }
    }
}

/// Where the reclamation sweep resumes in each tenant's dormant index. Candidates not yet due
/// under a longer grace than the tenant's shortest stay in the index; the cursor moves past
/// them, so they never hide due cubes behind them, and a scan that reaches the end starts over.
#[derive(Default)]
pub struct ReclaimCursor(HashMap<String, (Ulid, i64)>);

/// The tenants' policies, by tenant.
fn by_tenant(all: Vec<Policy>) -> BTreeMap<String, Vec<Policy>> {
    let mut out: BTreeMap<String, Vec<Policy>> = BTreeMap::new();
    for p in all {
        out.entry(p.scope.as_ref().map(|s| s.tenant.clone()).unwrap_or_default()).or_default().push(p);
    }
    out
}

impl Core {
    /// One reclamation round on the leader: per tenant whose policies purge, looks at up to
    /// `batch` cubes of its dormant index and proposes a `Reclaim` step (one per deciding
    /// policy, which the audit log names) for those past their grace and under no hold.
    /// Returns how many cubes were purged.
    pub async fn reclaim_due(&self, batch: usize, cursor: &mut ReclaimCursor) -> Result<u64, ApiError> {
        if self.leader() != Some(self.id) {
            *cursor = ReclaimCursor::default();
            return Ok(0);
        }
        let now = now_ms();
        let mut purged = 0;
        for (tenant, policies) in by_tenant(self.reader.policies(None)?) {
            let shortest = policies.iter().flat_map(|p| [p.purge_deleted_after_seconds, p.purge_expired_after_seconds]).filter(|s| *s > 0).min();
            let Some(shortest) = shortest else { continue };
            let after = cursor.0.get(&tenant).copied();
            let seen = self.reader.dormant_until(&tenant, after, now - shortest * 1000, batch.max(1))?;
            match seen.last() {
                Some(last) if seen.len() >= batch.max(1) => cursor.0.insert(tenant.clone(), *last),
                _ => cursor.0.remove(&tenant),
            };
            let mut steps: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
            for (id, _) in seen {
                let Some(c) = self.reader.get(id)? else { continue };
                if let Some(by) = reclaimed_by(&policies, &c, now) {
                    steps.entry(by.name.clone()).or_default().push((c.id, c.version));
                }
            }
            for (policy, items) in steps {
                let actor = format!("lifecycle (reclamation, policy {policy}, leader {})", self.id);
                let w = self.propose(&actor, &tenant, "", [0; 32], now, Op::Reclaim { at_ms: now, items }).await?;
                purged += w.outcome.purged;
            }
        }
        Ok(purged)
    }

    /// One step of each policy's default TTL for existing cubes (on the leader): the next
    /// `batch` cubes of the policy's scope after its stored cursor; those without a TTL that
    /// the policies give one get it. The cursor lives in the policy, so a new leader goes on
    /// where the old one stopped. Returns how many cubes got a TTL.
    pub async fn backfill_default_ttls(&self, batch: usize) -> Result<u64, ApiError> {
        if self.leader() != Some(self.id) {
            return Ok(0);
        }
        let mut changed = 0;
        for (tenant, policies) in by_tenant(self.reader.policies(None)?) {
            for p in policies.iter().filter(|p| p.default_ttl_seconds > 0 && p.backfill_cursor != "~") {
                let after = if p.backfill_cursor.is_empty() { None } else { Ulid::from_string(&p.backfill_cursor).ok() };
                let scope = p.scope.clone().unwrap_or_default();
                let (cubes, last) = self.reader.scope_page(&scope, after, batch.max(1))?;
                let items: Vec<(String, u64)> = cubes
                    .into_iter()
                    .filter(|c| {
                        let typed = p.memory_type == MemoryType::Unspecified as i32 || p.memory_type == c.memory_type;
                        typed && missing_ttl(&policies, c).is_some()
                    })
                    .map(|c| (c.id, c.version))
                    .collect();
                let cursor = last.map_or_else(|| "~".to_string(), |id| id.to_string());
                let actor = format!("lifecycle (default TTL, policy {}, leader {})", p.name, self.id);
                let op = Op::DefaultTtl { tenant: tenant.clone(), name: p.name.clone(), set_at_ms: p.updated_at_ms, items, cursor };
                let w = self.propose(&actor, &tenant, "", [0; 32], now_ms(), op).await?;
                changed += w.outcome.merged;
            }
        }
        Ok(changed)
    }
}

/// Where tiering resumes in each tiering policy's scope (tenant, policy name → last id looked
/// at). Held by the leader only: a new leader starts each scope from its beginning, which only
/// repeats looking — whether a cube is idle or weak does not depend on who looks.
#[derive(Default)]
pub struct TierCursor(HashMap<(String, String), Ulid>, i64);

/// How often tiering runs: its thresholds are hours and days, not the expiry sweep's 250 ms.
const TIER_EVERY_MS: i64 = 1_000;

impl Core {
    /// One tiering round on the leader: for each policy that archives by idleness or strength,
    /// the next `batch` cubes of its scope (cycling through it); those its policies find due
    /// are proposed in one `Archive` step per deciding policy. Bounded work per round; a scope
    /// of N cubes is gone through every N / batch rounds. Returns how many were archived.
    pub async fn tier(&self, batch: usize, cursor: &mut TierCursor) -> Result<u64, ApiError> {
        if self.leader() != Some(self.id) {
            *cursor = TierCursor::default();
            return Ok(0);
        }
        let now = now_ms();
        if now - cursor.1 < TIER_EVERY_MS {
            return Ok(0);
        }
        cursor.1 = now;
        let mut archived = 0;
        for (tenant, policies) in by_tenant(self.reader.policies(None)?) {
            for p in policies.iter().filter(|p| p.archive_after_idle_seconds > 0 || p.archive_below_strength > 0.0) {
                let key = (tenant.clone(), p.name.clone());
                let scope = p.scope.clone().unwrap_or_default();
                let (cubes, last) = self.reader.scope_page(&scope, cursor.0.get(&key).copied(), batch.max(1))?;
                match last {
                    Some(id) => cursor.0.insert(key, id),
                    None => cursor.0.remove(&key),
                };
                let mut steps: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
                for c in cubes {
                    if let Some(by) = tier_due(&policies, &c, now) {
                        steps.entry(by.name.clone()).or_default().push((c.id, c.version));
                    }
                }
                for (policy, items) in steps {
                    let actor = format!("lifecycle (tiering, policy {policy}, leader {})", self.id);
                    let w = self.propose(&actor, &tenant, "", [0; 32], now, Op::Archive { at_ms: now, items }).await?;
                    archived += w.outcome.merged;
                }
            }
            for p in policies.iter().filter(|p| p.max_active_per_scope.is_some()) {
                archived += self.cap_scopes(&tenant, &policies, p, now).await?;
            }
        }
        Ok(archived)
    }

    /// Archives the weakest ACTIVE cubes of each exact scope under `p` beyond its cap — where
    /// `p` is the policy that decides the cap there (a narrower one may set another).
    async fn cap_scopes(&self, tenant: &str, policies: &[Policy], p: &Policy, now: i64) -> Result<u64, ApiError> {
        let (Some(cap), Some(within)) = (p.max_active_per_scope, p.scope.as_ref()) else { return Ok(0) };
        let mut archived = 0;
        for (scope, ids) in self.index.active_by_scope(within, p.memory_type, now) {
            if ids.len() <= cap as usize || cap_for(policies, &scope, p.memory_type).map(|q| &q.name) != Some(&p.name) {
                continue;
            }
            let mut judged = Vec::with_capacity(ids.len());
            for id in ids.iter() {
                if let Some(c) = self.reader.get(*id)?.filter(|c| !c.pinned) {
                    judged.push((crate::model::strength::strength(&c, now), *id, c.version));
                }
            }
            judged.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let items: Vec<(String, u64)> = judged.into_iter().take(ids.len() - cap as usize).map(|(_, id, v)| (id.to_string(), v)).collect();
            let actor = format!("lifecycle (working-set cap, policy {}, leader {})", p.name, self.id);
            let op = Op::Cap { at_ms: now, scope: crate::model::Pb(scope), memory_type: p.memory_type, items };
            archived += self.propose(&actor, tenant, "", [0; 32], now, op).await?.outcome.merged;
        }
        Ok(archived)
    }
}
