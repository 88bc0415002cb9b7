//! Expiry: when a cube counts as EXPIRED, and which cubes the expiry sweep must look at.
//!
//! A cube is *expirable* while it is ACTIVE or ARCHIVED, has an expiry time and is not pinned.
//! From its expiry time on it counts as EXPIRED on every read path — judged by the serving
//! node's clock, before the leader's sweep has made it so in the replicated state — and the
//! sweep turns it EXPIRED within its lag. The sweep's decision time travels in its log entry,
//! so `apply` judges with the leader's clock, never its own.

use memmesh_proto::{CubeState, MemCube};

/// The expiry time of a cube the sweep must expire one day, or `None`.
pub fn expirable(c: &MemCube) -> Option<i64> {
    expirable_as(c.state, c.expires_at_ms, c.pinned)
}

/// [`expirable`] of a cube with this state, expiry time and pin.
pub fn expirable_as(state: i32, expires_at_ms: i64, pinned: bool) -> Option<i64> {
    let live = state == CubeState::Active as i32 || state == CubeState::Archived as i32;
    (live && expires_at_ms != 0 && !pinned).then_some(expires_at_ms)
}

/// Since when a cube has been DELETED or EXPIRED (the time of the version that made it so),
/// or `None` while it is live: what reclamation's grace periods count from.
pub fn dormant_since(c: &MemCube) -> Option<i64> {
    (c.state == CubeState::Deleted as i32 || c.state == CubeState::Expired as i32).then_some(c.updated_at_ms)
}

/// The state a record counts as at `now`: EXPIRED once an expirable record's time has come.
pub fn effective_state(state: i32, expires_at_ms: i64, pinned: bool, now: i64) -> i32 {
    let live = state == CubeState::Active as i32 || state == CubeState::Archived as i32;
    if live && expires_at_ms != 0 && !pinned && expires_at_ms <= now {
        CubeState::Expired as i32
    } else {
        state
    }
}

/// Whether `c` counts as EXPIRED at `now` (swept or not).
pub fn is_expired(c: &MemCube, now: i64) -> bool {
    effective_state(c.state, c.expires_at_ms, c.pinned, now) == CubeState::Expired as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_counts_from_its_time_unless_pinned_deleted_or_without_ttl() {
        let c = MemCube { state: CubeState::Active as i32, expires_at_ms: 1_000, ..Default::default() };
        assert!(!is_expired(&c, 999));
        assert!(is_expired(&c, 1_000));
        assert_eq!(expirable(&c), Some(1_000));
        let pinned = MemCube { pinned: true, ..c.clone() };
        assert!(!is_expired(&pinned, 5_000));
        assert_eq!(expirable(&pinned), None);
        let deleted = MemCube { state: CubeState::Deleted as i32, ..c.clone() };
        assert!(!is_expired(&deleted, 5_000), "a deleted cube stays DELETED");
        assert_eq!(expirable(&deleted), None);
        let forever = MemCube { expires_at_ms: 0, ..c.clone() };
        assert!(!is_expired(&forever, i64::MAX));
        let archived = MemCube { state: CubeState::Archived as i32, ..c.clone() };
        assert!(is_expired(&archived, 1_000));
        let swept = MemCube { state: CubeState::Expired as i32, ..c };
        assert!(is_expired(&swept, 0), "a swept cube is expired whatever the clock says");
        assert_eq!(expirable(&swept), None);
    }
}
