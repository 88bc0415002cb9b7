//! Strength: how alive a memory is, from its importance, its use and its age — what tiering
//! archives by and what Search may rank by.
//!
//! ```text
//! strength(c, now) = weight(c) · 2^(−idle / half_life(type))        in (0, 1]
//! weight(c)        = (0.5 + 0.5 · importance) · (1 − 0.5 / (1 + access_count))   in [0.25, 1]
//! idle             = now − max(created_at_ms, usage.last_accessed_at_ms)   (≥ 0)
//! ```
//!
//! A cube read once with `record_access` weighs 0.75 of one read often; an important one twice an
//! unimportant one; each half-life of idleness halves it. Half-lives per memory type (below)
//! follow how long each kind of memory usually matters: an episode fades in a week, a persona in
//! a year. Only reads with `record_access` and creation count as use: versions written by the
//! lifecycle itself (expiry, archiving, a default TTL) must not make a cube look used.
//!
//! Pure and in f64: the leader judges with it before proposing, and apply judges again from the
//! entry's time and the stored cube — the same inputs give the same result on every replica.

use memmesh_proto::{MemCube, MemoryType};

const DAY_MS: f64 = 86_400_000.0;

/// The half-life of a memory type, in milliseconds.
pub fn half_life_ms(memory_type: i32) -> f64 {
    let days = match MemoryType::try_from(memory_type) {
        Ok(MemoryType::Episode) => 7.0,
        Ok(MemoryType::Summary) => 30.0,
        Ok(MemoryType::Fact) => 90.0,
        Ok(MemoryType::Preference | MemoryType::Procedure) => 180.0,
        Ok(MemoryType::Prompt | MemoryType::Persona) => 365.0,
        _ => 30.0,
    };
    days * DAY_MS
}

/// When the cube was last used: created, or read with `record_access`.
pub fn last_active_ms(c: &MemCube) -> i64 {
    c.created_at_ms.max(c.usage.as_ref().map_or(0, |u| u.last_accessed_at_ms))
}

/// The part of strength that does not decay, in [0.25, 1].
pub fn weight(c: &MemCube) -> f64 {
    let importance = f64::from(c.importance).clamp(0.0, 1.0);
    let accesses = c.usage.as_ref().map_or(0, |u| u.access_count) as f64;
    (0.5 + 0.5 * importance) * (1.0 - 0.5 / (1.0 + accesses))
}

/// The strength of `c` at `now`, in (0, 1].
pub fn strength(c: &MemCube, now: i64) -> f64 {
    let idle = (now - last_active_ms(c)).max(0) as f64;
    weight(c) * (-idle / half_life_ms(c.memory_type)).exp2()
}

/// A search score blended with strength: the score scaled by the best candidate's (`best`),
/// weighted `1 − w`, plus strength weighted `w`.
pub fn blend(score: f32, best: f32, strength: f64, w: f32) -> f32 {
    let scaled = if best > 0.0 { (score / best).clamp(0.0, 1.0) } else { 0.0 };
    (1.0 - w) * scaled + w * strength as f32
}

#[cfg(test)]
mod tests {
    use memmesh_proto::Usage;

    use super::*;

    fn cube(t: MemoryType, importance: f32, accesses: u64, last_access: i64) -> MemCube {
        MemCube {
            memory_type: t as i32,
            importance,
            created_at_ms: 0,
            usage: Some(Usage { access_count: accesses, last_accessed_at_ms: last_access }),
            ..Default::default()
        }
    }

    #[test]
    fn strength_halves_each_half_life_and_grows_with_importance_and_use() {
        let week = 7.0 * DAY_MS;
        let fresh = cube(MemoryType::Episode, 1.0, 1_000_000, 0);
        assert!((strength(&fresh, 0) - 1.0).abs() < 1e-5);
        assert!((strength(&fresh, week as i64) - 0.5).abs() < 1e-5, "an episode halves in a week");
        assert!((strength(&fresh, 2 * week as i64) - 0.25).abs() < 1e-5);
        let fact = cube(MemoryType::Fact, 1.0, 1_000_000, 0);
        assert!(strength(&fact, week as i64) > 0.9, "a fact fades slower");
        let plain = cube(MemoryType::Episode, 0.0, 0, 0);
        assert!((strength(&plain, 0) - 0.25).abs() < 1e-9, "unimportant, never read");
        let read_once = cube(MemoryType::Episode, 0.0, 1, 0);
        assert!((strength(&read_once, 0) - 0.375).abs() < 1e-9);
        // A read refreshes: idle counts from the last access, never from the future.
        let reread = cube(MemoryType::Episode, 1.0, 1_000_000, week as i64);
        assert!((strength(&reread, week as i64) - strength(&fresh, 0)).abs() < 1e-9);
        assert!(strength(&reread, 0) <= 1.0);
    }

    #[test]
    fn blending_scales_scores_by_the_best_and_weighs_strength() {
        assert_eq!(blend(2.0, 4.0, 1.0, 0.0), 0.5, "off: the scaled score alone");
        assert_eq!(blend(2.0, 4.0, 0.25, 1.0), 0.25, "all strength");
        assert!((blend(4.0, 4.0, 0.0, 0.5) - 0.5).abs() < 1e-6);
        assert_eq!(blend(-1.0, 4.0, 0.0, 0.5), 0.0, "negative cosine counts as 0");
        assert_eq!(blend(1.0, 0.0, 1.0, 0.5), 0.5, "no positive score: strength decides");
    }
}
