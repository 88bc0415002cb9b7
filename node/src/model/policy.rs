//! Memory policies: which policy applies to a cube, and which setting wins.
//!
//! A policy applies to the cubes inside its scope (each set field must match) and of its memory
//! type, if it names one. Each setting comes from the most specific applicable policy that sets
//! it — a deeper scope first, then a memory type over none, then the smaller name — so a
//! tenant-wide default can be narrowed per type and again per user without repeating itself.
//! Pure: the node that receives a write resolves its policy and carries the result in the log
//! entry, so replicas never resolve anything themselves.

use memmesh_proto::{CubeState, DedupeMode, MemCube, MemoryType, Policy, Scope};

use super::dedupe::Dedupe;
use super::{check_ident, check_memory_type, check_scope, scope_matches, ValidationError};

/// Longest consolidation period a policy may set: one year.
pub const MAX_CONSOLIDATE_EVERY_SECONDS: u64 = 365 * 24 * 3600;

type Result<T> = std::result::Result<T, ValidationError>;

/// Validates a policy as a client sets it and returns it with the server's fields cleared.
pub fn check_policy(p: Option<&Policy>) -> Result<Policy> {
    let p = p.ok_or_else(|| ValidationError::new("policy", "is required"))?;
    check_ident("policy.name", &p.name)?;
    check_scope("policy.scope", p.scope.as_ref())?;
    check_memory_type("policy.memory_type", p.memory_type)?;
    fn field(f: &'static str) -> impl Fn(ValidationError) -> ValidationError {
        move |e| ValidationError::new(format!("policy.{f}"), e.reason)
    }
    Dedupe::from_request(p.dedupe, p.dedupe_threshold).map_err(|e| {
        if e.field == "dedupe_threshold" {
            field("dedupe_threshold")(e)
        } else {
            field("dedupe")(e)
        }
    })?;
    if p.consolidate_every_seconds > MAX_CONSOLIDATE_EVERY_SECONDS {
        return Err(ValidationError::new("policy.consolidate_every_seconds", format!("must be at most {MAX_CONSOLIDATE_EVERY_SECONDS} (a year)")));
    }
    let mode = DedupeMode::try_from(p.consolidate_mode)
        .map_err(|_| ValidationError::new("policy.consolidate_mode", format!("unknown enum value {}", p.consolidate_mode)))?;
    if p.consolidate_every_seconds > 0 && !matches!(mode, DedupeMode::Exact | DedupeMode::Semantic) {
        return Err(ValidationError::new("policy.consolidate_mode", "EXACT or SEMANTIC is required with consolidate_every_seconds"));
    }
    if p.consolidate_every_seconds == 0 && (mode != DedupeMode::Unspecified || p.consolidate_threshold != 0.0) {
        return Err(ValidationError::new("policy.consolidate_mode", "applies only with consolidate_every_seconds"));
    }
    if p.consolidate_every_seconds > 0 {
        Dedupe::from_request(p.consolidate_mode, p.consolidate_threshold).map_err(field("consolidate_threshold"))?;
    }
    for (f, v) in [
        ("default_ttl_seconds", p.default_ttl_seconds),
        ("purge_deleted_after_seconds", p.purge_deleted_after_seconds),
        ("purge_expired_after_seconds", p.purge_expired_after_seconds),
    ] {
        if v < 0 {
            return Err(ValidationError::new(format!("policy.{f}"), "must not be negative (0 = not set)"));
        }
        if v > MAX_RETENTION_SECONDS {
            return Err(ValidationError::new(format!("policy.{f}"), format!("must be at most {MAX_RETENTION_SECONDS} (100 years)")));
        }
    }
    if p.archive_after_idle_seconds < 0 {
        return Err(ValidationError::new("policy.archive_after_idle_seconds", "must not be negative (0 = not set)"));
    }
    if p.archive_after_idle_seconds > MAX_RETENTION_SECONDS {
        return Err(ValidationError::new("policy.archive_after_idle_seconds", format!("must be at most {MAX_RETENTION_SECONDS} (100 years)")));
    }
    if !(0.0..1.0).contains(&p.archive_below_strength) || p.archive_below_strength.is_nan() {
        return Err(ValidationError::new("policy.archive_below_strength", "must be in (0, 1) (0 = not set)"));
    }
    if p.max_active_per_scope == Some(0) {
        return Err(ValidationError::new("policy.max_active_per_scope", "must be at least 1 (leave it unset for no cap)"));
    }
    Ok(Policy { updated_at_ms: 0, last_consolidated_at_ms: 0, backfill_cursor: String::new(), ..p.clone() })
}

/// The policy that caps the ACTIVE cubes of `memory_type` (UNSPECIFIED: all types together)
/// in the exact scope `scope`: the most specific applicable one that sets a cap.
pub fn cap_for<'a>(all: &'a [Policy], scope: &Scope, memory_type: i32) -> Option<&'a Policy> {
    applicable(all, scope, memory_type).into_iter().find(|p| p.max_active_per_scope.is_some())
}

/// Whether tiering archives `c` (ACTIVE, unpinned) at `now` under `all`: idle for longer than
/// its `archive_after_idle_seconds`, or weaker than its `archive_below_strength`; returns the
/// policy that decided.
pub fn tier_due<'a>(all: &'a [Policy], c: &MemCube, now: i64) -> Option<&'a Policy> {
    if c.state != memmesh_proto::CubeState::Active as i32 || c.pinned {
        return None;
    }
    let scope = c.scope.clone().unwrap_or_default();
    let by_idle = applicable(all, &scope, c.memory_type).into_iter().find(|p| p.archive_after_idle_seconds > 0);
    if let Some(p) = by_idle.filter(|p| now - super::strength::last_active_ms(c) >= p.archive_after_idle_seconds * 1000) {
        return Some(p);
    }
    let by_strength = applicable(all, &scope, c.memory_type).into_iter().find(|p| p.archive_below_strength > 0.0);
    by_strength.filter(|p| super::strength::strength(c, now) < f64::from(p.archive_below_strength))
}

/// Whether a read with `record_access` brings `c` (ARCHIVED) back: its policies say so, and it
/// was archived by tiering — not superseded or merged (their successor holds the memory now),
/// and not a slot's holder (the slot has a newer one).
pub fn reactivates(all: &[Policy], c: &MemCube) -> bool {
    use memmesh_proto::LinkType;
    let archived = c.state == memmesh_proto::CubeState::Archived as i32;
    let replaced = c.links.iter().any(|l| l.r#type == LinkType::SupersededBy as i32 || l.r#type == LinkType::MergedInto as i32);
    let scope = c.scope.clone().unwrap_or_default();
    archived && !replaced && c.slot.is_empty() && setting(all, &scope, c.memory_type, |p| p.reactivate_on_access.then_some(())).is_some()
}

/// Longest retention duration a policy may set: 100 years (far below where milliseconds
/// overflow).
pub const MAX_RETENTION_SECONDS: i64 = 100 * 365 * 24 * 3600;

/// The first value `f` gives among the policies that apply, most specific first.
fn setting<T>(all: &[Policy], scope: &Scope, memory_type: i32, f: impl Fn(&Policy) -> Option<T>) -> Option<T> {
    applicable(all, scope, memory_type).into_iter().find_map(f)
}

/// The TTL policies give a cube in `scope` of `memory_type` that has none of its own.
pub fn default_ttl(all: &[Policy], scope: &Scope, memory_type: i32) -> Option<u64> {
    setting(all, scope, memory_type, |p| (p.default_ttl_seconds > 0).then_some(p.default_ttl_seconds as u64))
}

/// The default TTL `c` gets from its policies if it needs one: live (ACTIVE or ARCHIVED),
/// without a TTL of its own, not pinned. The one rule for new puts (the receiving node), the
/// leader's `DefaultTtl` steps and their apply.
pub fn missing_ttl(all: &[Policy], c: &MemCube) -> Option<u64> {
    let live = c.state == CubeState::Active as i32 || c.state == CubeState::Archived as i32;
    if !live || c.ttl_seconds != 0 || c.expires_at_ms != 0 || c.pinned {
        return None;
    }
    default_ttl(all, c.scope.as_ref().unwrap_or(&Scope::default()), c.memory_type)
}

/// Gives a cube that needs one ([`missing_ttl`]) its policies' default TTL, counted from its
/// creation; returns whether it did.
pub fn give_default_ttl(all: &[Policy], cube: &mut MemCube) -> bool {
    let Some(ttl) = missing_ttl(all, cube) else { return false };
    cube.ttl_seconds = ttl;
    cube.expires_at_ms = super::expires_at(cube.created_at_ms, ttl);
    true
}

/// A policy's grace before purging a deleted (`expired` = false) or expired cube, in seconds
/// (0 = not set).
fn purge_seconds(p: &Policy, expired: bool) -> i64 {
    if expired {
        p.purge_expired_after_seconds
    } else {
        p.purge_deleted_after_seconds
    }
}

/// The policy that sets how long after it was deleted (`expired` = false) or expired a cube in
/// `scope` of `memory_type` is purged: the most specific one that sets it.
pub fn purge_policy<'a>(all: &'a [Policy], scope: &Scope, memory_type: i32, expired: bool) -> Option<&'a Policy> {
    applicable(all, scope, memory_type).into_iter().find(|p| purge_seconds(p, expired) > 0)
}

/// The policy whose grace period purges `c` at `at_ms`: DELETED or EXPIRED for at least that
/// long, not pinned, under no legal hold. The leader judges with it before proposing a
/// `Reclaim` step (and names the policy in the audit log); apply judges again with it.
pub fn reclaimed_by<'a>(all: &'a [Policy], c: &MemCube, at_ms: i64) -> Option<&'a Policy> {
    let since = super::lifecycle::dormant_since(c)?;
    let scope = c.scope.clone().unwrap_or_default();
    let expired = c.state == CubeState::Expired as i32;
    let p = purge_policy(all, &scope, c.memory_type, expired)?;
    let due = since.saturating_add(purge_seconds(p, expired) * 1000) <= at_ms;
    (due && !c.pinned && hold(all, &scope, c.memory_type).is_none()).then_some(p)
}

/// The legal hold covering a cube in `scope` of `memory_type`, if any. Any applicable hold
/// counts: a narrower policy cannot lift a wider one's hold.
pub fn hold<'a>(all: &'a [Policy], scope: &Scope, memory_type: i32) -> Option<&'a Policy> {
    all.iter().find(|p| p.hold && applies(p, scope, memory_type))
}

/// The rule a policy's scheduled consolidation runs with (`None`: it schedules none).
pub fn consolidate_rule(p: &Policy) -> Option<Dedupe> {
    if p.consolidate_every_seconds == 0 {
        return None;
    }
    Dedupe::from_request(p.consolidate_mode, p.consolidate_threshold).ok().filter(|r| *r != Dedupe::None)
}

/// Whether `p` applies to a cube in `scope` of `memory_type`.
pub fn applies(p: &Policy, scope: &Scope, memory_type: i32) -> bool {
    p.scope.as_ref().is_some_and(|s| scope_matches(s, scope)) && (p.memory_type == MemoryType::Unspecified as i32 || p.memory_type == memory_type)
}

/// How specific a policy is: scope depth, then whether it names a memory type.
fn specificity(p: &Policy) -> (usize, bool) {
    let s = p.scope.clone().unwrap_or_default();
    let depth = [&s.user, &s.agent, &s.run].iter().filter(|f| !f.is_empty()).count();
    (depth, p.memory_type != MemoryType::Unspecified as i32)
}

/// The policies of `all` that apply to a cube in `scope` of `memory_type`, most specific first.
pub fn applicable<'a>(all: &'a [Policy], scope: &Scope, memory_type: i32) -> Vec<&'a Policy> {
    let mut v: Vec<&Policy> = all.iter().filter(|p| applies(p, scope, memory_type)).collect();
    v.sort_by(|a, b| specificity(b).cmp(&specificity(a)).then(a.name.cmp(&b.name)));
    v
}

/// The dedupe rule policies give a put into `scope` of `memory_type` that set none itself.
pub fn dedupe_default(all: &[Policy], scope: &Scope, memory_type: i32) -> Dedupe {
    applicable(all, scope, memory_type)
        .into_iter()
        .find(|p| p.dedupe != DedupeMode::Unspecified as i32)
        .and_then(|p| Dedupe::from_request(p.dedupe, p.dedupe_threshold).ok())
        .unwrap_or(Dedupe::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, user: &str, memory_type: MemoryType, dedupe: DedupeMode) -> Policy {
        Policy {
            name: name.into(),
            scope: Some(Scope { tenant: "t".into(), user: user.into(), ..Default::default() }),
            memory_type: memory_type as i32,
            dedupe: dedupe as i32,
            ..Default::default()
        }
    }

    fn at(user: &str) -> Scope {
        Scope { tenant: "t".into(), user: user.into(), agent: "a".into(), ..Default::default() }
    }

    #[test]
    fn the_most_specific_policy_that_sets_a_field_wins() {
        let all = vec![
            policy("tenant", "", MemoryType::Unspecified, DedupeMode::Exact),
            policy("facts", "", MemoryType::Fact, DedupeMode::Semantic),
            policy("alice", "alice", MemoryType::Unspecified, DedupeMode::None),
            policy("silent", "alice", MemoryType::Fact, DedupeMode::Unspecified),
        ];
        let fact = MemoryType::Fact as i32;
        let episode = MemoryType::Episode as i32;
        assert_eq!(dedupe_default(&all, &at("bob"), episode), Dedupe::Exact, "tenant default");
        assert!(matches!(dedupe_default(&all, &at("bob"), fact), Dedupe::Semantic { .. }), "type beats tenant");
        assert_eq!(dedupe_default(&all, &at("alice"), fact), Dedupe::None, "scope prefix beats type; a policy that sets nothing is skipped");
        assert_eq!(applicable(&all, &at("alice"), fact).first().unwrap().name, "silent");
        let other = Scope { tenant: "u".into(), ..Default::default() };
        assert_eq!(dedupe_default(&all, &other, fact), Dedupe::None, "another tenant's policies never apply");
    }

    #[test]
    fn retention_settings_follow_the_same_precedence_and_any_hold_counts() {
        let base = |name: &str, user: &str, t: MemoryType| Policy { dedupe: 0, ..policy(name, user, t, DedupeMode::Unspecified) };
        let all = vec![
            Policy { default_ttl_seconds: 100, purge_deleted_after_seconds: 10, ..base("tenant", "", MemoryType::Unspecified) },
            Policy { default_ttl_seconds: 200, ..base("facts", "", MemoryType::Fact) },
            Policy { default_ttl_seconds: 300, purge_expired_after_seconds: 7, hold: false, ..base("alice", "alice", MemoryType::Unspecified) },
            Policy { hold: true, ..base("bob-hold", "bob", MemoryType::Episode) },
        ];
        let (fact, episode) = (MemoryType::Fact as i32, MemoryType::Episode as i32);
        let purge_after_ms =
            |all: &[Policy], s: &Scope, t: i32, expired: bool| purge_policy(all, s, t, expired).map(|p| purge_seconds(p, expired) * 1000);
        assert_eq!(default_ttl(&all, &at("bob"), episode), Some(100), "tenant");
        assert_eq!(default_ttl(&all, &at("bob"), fact), Some(200), "type beats tenant");
        assert_eq!(default_ttl(&all, &at("alice"), fact), Some(300), "scope prefix beats type");
        assert_eq!(purge_after_ms(&all, &at("alice"), fact, false), Some(10_000), "not set by alice's policy: the tenant's");
        assert_eq!(purge_after_ms(&all, &at("alice"), fact, true), Some(7_000));
        assert_eq!(purge_after_ms(&all, &at("bob"), fact, true), None);
        assert_eq!(hold(&all, &at("bob"), episode).map(|p| p.name.as_str()), Some("bob-hold"));
        assert!(hold(&all, &at("bob"), fact).is_none(), "the hold names a type");
        assert!(hold(&all, &at("alice"), episode).is_none());
        let other = Scope { tenant: "u".into(), user: "bob".into(), ..Default::default() };
        assert!(hold(&all, &other, episode).is_none() && default_ttl(&all, &other, episode).is_none(), "another tenant");
    }

    #[test]
    fn tiering_archives_the_idle_and_the_weak_and_reactivation_spares_the_replaced() {
        use memmesh_proto::{CubeState, Link, LinkType, Usage};
        let day = 86_400_000i64;
        let base = |name: &str, user: &str| Policy { dedupe: 0, ..policy(name, user, MemoryType::Unspecified, DedupeMode::Unspecified) };
        let all = vec![
            Policy { archive_after_idle_seconds: 30 * 86_400, reactivate_on_access: true, ..base("tenant", "") },
            Policy { archive_below_strength: 0.2, ..base("weak", "bob") },
        ];
        let c = |user: &str, t: MemoryType, last: i64| MemCube {
            state: CubeState::Active as i32,
            memory_type: t as i32,
            scope: Some(at(user)),
            importance: 1.0,
            usage: Some(Usage { access_count: 100, last_accessed_at_ms: last }),
            ..Default::default()
        };
        let now = 100 * day;
        assert!(tier_due(&all, &c("alice", MemoryType::Fact, now - 29 * day), now).is_none());
        assert_eq!(tier_due(&all, &c("alice", MemoryType::Fact, now - 31 * day), now).unwrap().name, "tenant", "idle");
        // bob: an episode read 20 days ago (strength ~0.99·2^(−20/7) ≈ 0.14 < 0.2), not yet idle 30 days.
        assert_eq!(tier_due(&all, &c("bob", MemoryType::Episode, now - 20 * day), now).unwrap().name, "weak");
        assert!(tier_due(&all, &c("bob", MemoryType::Fact, now - 20 * day), now).is_none(), "a fact decays slower");
        let pinned = MemCube { pinned: true, ..c("alice", MemoryType::Fact, 0) };
        assert!(tier_due(&all, &pinned, now).is_none(), "pinned cubes are never archived");

        let archived = MemCube { state: CubeState::Archived as i32, ..c("alice", MemoryType::Fact, 0) };
        assert!(reactivates(&all, &archived));
        let merged = MemCube { links: vec![Link { r#type: LinkType::MergedInto as i32, target_id: "x".into() }], ..archived.clone() };
        assert!(!reactivates(&all, &merged));
        assert!(!reactivates(&all, &MemCube { slot: "city".into(), ..archived.clone() }));
        let other = MemCube { scope: Some(Scope { tenant: "u".into(), ..Default::default() }), ..archived };
        assert!(!reactivates(&all, &other), "no policy, no reactivation");
    }

    #[test]
    fn bad_policies_name_their_field() {
        let ok = policy("p", "", MemoryType::Unspecified, DedupeMode::Exact);
        assert!(check_policy(Some(&ok)).is_ok());
        let cases: Vec<(Policy, &str)> = vec![
            (Policy { name: "bad name".into(), ..ok.clone() }, "policy.name"),
            (Policy { scope: None, ..ok.clone() }, "policy.scope"),
            (Policy { memory_type: 99, ..ok.clone() }, "policy.memory_type"),
            (Policy { dedupe: 9, ..ok.clone() }, "policy.dedupe"),
            (Policy { dedupe_threshold: 0.5, ..ok.clone() }, "policy.dedupe_threshold"),
            (Policy { consolidate_every_seconds: 60, ..ok.clone() }, "policy.consolidate_mode"),
            (Policy { consolidate_every_seconds: 60, consolidate_mode: DedupeMode::None as i32, ..ok.clone() }, "policy.consolidate_mode"),
            (Policy { consolidate_mode: DedupeMode::Exact as i32, ..ok.clone() }, "policy.consolidate_mode"),
            (
                Policy { consolidate_every_seconds: 60, consolidate_mode: DedupeMode::Semantic as i32, consolidate_threshold: 2.0, ..ok.clone() },
                "policy.consolidate_threshold",
            ),
            (Policy { consolidate_every_seconds: u64::MAX, consolidate_mode: 2, ..ok.clone() }, "policy.consolidate_every_seconds"),
            (Policy { default_ttl_seconds: -1, ..ok.clone() }, "policy.default_ttl_seconds"),
            (Policy { purge_deleted_after_seconds: -5, ..ok.clone() }, "policy.purge_deleted_after_seconds"),
            (Policy { purge_expired_after_seconds: i64::MAX, ..ok.clone() }, "policy.purge_expired_after_seconds"),
            (Policy { archive_after_idle_seconds: -1, ..ok.clone() }, "policy.archive_after_idle_seconds"),
            (Policy { archive_below_strength: 1.0, ..ok.clone() }, "policy.archive_below_strength"),
            (Policy { archive_below_strength: -0.1, ..ok.clone() }, "policy.archive_below_strength"),
            (Policy { max_active_per_scope: Some(0), ..ok.clone() }, "policy.max_active_per_scope"),
        ];
        for (p, field) in cases {
            assert_eq!(check_policy(Some(&p)).unwrap_err().field, field);
        }
        let scheduled = Policy { consolidate_every_seconds: 60, consolidate_mode: DedupeMode::Exact as i32, ..ok };
        assert_eq!(consolidate_rule(&check_policy(Some(&scheduled)).unwrap()), Some(Dedupe::Exact));
    }
}
