//! The node's wall clock. Read only where a request enters the node (ids, timestamps, token and
//! grant expiry as seen by this node) — never inside `apply`, which takes every time from the
//! log entry so that all replicas decide alike.

/// Milliseconds since the Unix epoch at this node.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
