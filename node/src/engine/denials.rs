//! Recording refused requests in the audit log.
//!
//! A refusal is proposed as an audit-only Raft entry, detached from the request (the caller
//! gets its error at once). Every refusal costing a replicated write would let anyone flood the
//! log, so at most [`PER_SECOND`] are recorded per node and second; the next record that gets
//! through says how many were left out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::write::Pending;
use crate::model::{now_ms, AuditRecord};
use crate::raft::{Op, Request};

const PER_SECOND: u64 = 100;

#[derive(Clone)]
pub struct DenialLog {
    proposals: mpsc::Sender<Pending>,
    /// (second, count in that second) packed as second << 20 | count.
    window: Arc<AtomicU64>,
    suppressed: Arc<AtomicU64>,
}

impl DenialLog {
    pub fn new(proposals: mpsc::Sender<Pending>) -> Self {
        Self { proposals, window: Arc::default(), suppressed: Arc::default() }
    }

    fn admit(&self) -> bool {
        let sec = (now_ms() / 1000) as u64;
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let (s, n) = (cur >> 20, cur & 0xF_FFFF);
            let next = if s == sec { (sec << 20) | (n + 1) } else { (sec << 20) | 1 };
            if s == sec && n >= PER_SECOND {
                return false;
            }
            match self.window.compare_exchange(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Records that `actor` was refused `target` in `tenant` ("" = none), for `reason`.
    pub fn record(&self, tenant: &str, actor: &str, target: String, reason: String) {
        // Counted whether or not the rate limit below lets the record into the log.
        metrics::counter!("memmesh_audit_denials_total").increment(1);
        if !self.admit() {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let skipped = self.suppressed.swap(0, Ordering::Relaxed);
        let outcome = if skipped > 0 { format!("{reason} (+{skipped} earlier refusals not recorded)") } else { reason };
        let at_ms = now_ms();
        let record = AuditRecord { tenant: tenant.into(), actor: actor.into(), operation: "denied".into(), target, outcome, at_ms };
        let req = Request {
            tenant: tenant.into(),
            request_id: String::new(),
            fingerprint: [0; 32],
            at_ms,
            actor: actor.into(),
            quota: Default::default(),
            op: Op::Audit { record },
        };
        // A full queue means the node is saturated with writes; the refusal is then only logged.
        if self.proposals.try_send(Pending::detached(req)).is_err() {
            tracing::warn!(actor, "audit record of a refused request dropped: proposal queue full");
        }
    }
}
