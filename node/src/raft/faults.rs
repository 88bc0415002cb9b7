//! Fault injection for node-to-node traffic, in the spirit of openraft's test router and TiKV's
//! transport filters: block links (partitions, an isolated leader), drop a share of messages,
//! delay them. Every outgoing peer message — Raft RPCs, forwarded writes, read-index requests —
//! passes [`Faults::check`] first. Production nodes never set a rule; the in-process cluster
//! tests (`node/tests/`) do.

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use super::NodeId;

#[derive(Debug, Default, Clone)]
struct Rules {
    /// Peers this node cannot reach.
    blocked: HashSet<NodeId>,
    /// Share of messages dropped, in per mille.
    drop_permille: u32,
    delay: Duration,
}

/// The fault rules of one node's outgoing peer traffic.
#[derive(Debug, Default)]
pub struct Faults {
    rules: RwLock<Rules>,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[error("fault injection: message to node {0} dropped")]
pub struct Dropped(pub NodeId);

impl Faults {
    /// Cuts (or restores) this node's link to `peer`, in this direction.
    pub fn block(&self, peer: NodeId, blocked: bool) {
        let mut r = self.rules.write().unwrap_or_else(|p| p.into_inner());
        if blocked {
            r.blocked.insert(peer);
        } else {
            r.blocked.remove(&peer);
        }
    }

    /// Drops `permille`/1000 of messages and delays every message by `delay`.
    pub fn set_lossy(&self, permille: u32, delay: Duration) {
        let mut r = self.rules.write().unwrap_or_else(|p| p.into_inner());
        r.drop_permille = permille.min(1000);
        r.delay = delay;
    }

    /// Removes every rule.
    pub fn heal(&self) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Rules::default();
    }

    /// Applies the rules to one message to `peer`: waits out the delay, or drops it.
    pub async fn check(&self, peer: NodeId) -> Result<(), Dropped> {
        let (blocked, drop, delay) = {
            let r = self.rules.read().unwrap_or_else(|p| p.into_inner());
            (r.blocked.contains(&peer), r.drop_permille > 0 && rand::random::<u32>() % 1000 < r.drop_permille, r.delay)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if blocked || drop {
            return Err(Dropped(peer));
        }
        Ok(())
    }
}
