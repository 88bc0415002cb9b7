//! The leader's lifecycle work: the expiry sweep.
//!
//! Only the leader sweeps. It reads what is due from the replicated expiry index (see
//! `store::lifecycle`), judges at its own clock — the time travels in the entry, with the
//! version judged for each cube — and proposes bounded steps. `apply` expires a cube only if it
//! is still that version and still past its expiry at the judged time, so a TTL extended in the
//! meantime wins, and a step repeated after a leader change expires nothing twice.

use super::{ApiError, Core};
use crate::model::now_ms;
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
            cursor.from = due[0].1;
            // One step per tenant, so each tenant's audit log shows its own expiries.
            let mut by_tenant: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
            for (id, _) in &due {
                if let Some(c) = self.reader.get(*id)? {
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
