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

impl Core {
    /// One sweep on the leader (others return 0 at once): proposes `Expire` steps of at most
    /// `batch` cubes until nothing due is left. Returns how many cubes were expired.
    pub async fn sweep_expired(&self, batch: usize) -> Result<u64, ApiError> {
        let mut expired = 0;
        loop {
            if self.leader() != Some(self.id) {
                return Ok(expired);
            }
            let now = now_ms();
            let due = self.reader.due_expiries(now, batch.max(1))?;
            if due.is_empty() {
                return Ok(expired);
            }
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
