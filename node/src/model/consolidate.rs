//! Consolidating stored cubes: which near-duplicates form a cluster, and which member keeps it.
//!
//! The plan is made by the node serving `Memory.Consolidate` from a linearizable read and
//! carried in the log entry ([`MergePlan`]); `apply` then only checks that every cube of a
//! cluster is still the version that was judged and merges. Pure and deterministic: the same
//! cubes give the same plan on any node.

use std::collections::BTreeMap;

use memmesh_proto::{CubeState, MemCube};
use serde::{Deserialize, Serialize};

use super::dedupe::{similarity, text_key, Dedupe};

/// One cluster as judged: its keeper and the members to merge into it, each with the version
/// that was judged (apply skips the cluster if any has changed since).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MergePlan {
    pub keeper: (String, u64),
    /// (id, version, similarity to the keeper).
    pub members: Vec<(String, u64, f32)>,
}

/// Whether a cube may take part in consolidation at all: ACTIVE PLAINTEXT with text, no access
/// list (merging would mix what different lists protect) and no slot (a slot's holder is
/// replaced by superseding, not merging).
pub fn eligible(c: &MemCube) -> bool {
    c.state == CubeState::Active as i32 && c.acl.is_none() && c.slot.is_empty() && text_key(c).is_some()
}

/// The order in which cubes become keepers: higher importance, then more accesses, then older,
/// then smaller id — the strongest member keeps the cluster.
fn keeper_order(a: &MemCube, b: &MemCube) -> std::cmp::Ordering {
    let uses = |c: &MemCube| c.usage.as_ref().map_or(0, |u| u.access_count);
    b.importance.total_cmp(&a.importance).then(uses(b).cmp(&uses(a))).then(a.created_at_ms.cmp(&b.created_at_ms)).then(a.id.cmp(&b.id))
}

/// Clusters `cubes` (any order; ineligible ones are ignored) under `rule`: within each group
/// of one exact scope, memory type (and custom type) and kind, each cube in keeper order that
/// is not yet taken becomes a keeper and takes every later untaken cube whose text is equal
/// (EXACT) or whose vector's similarity to the keeper's is at least the threshold (SEMANTIC).
/// Returns the clusters with at least one member, by keeper id, at most `max`.
pub fn plan_clusters(cubes: &[MemCube], rule: Dedupe, max: usize) -> Vec<MergePlan> {
    let threshold = match rule {
        Dedupe::None => return Vec::new(),
        Dedupe::Exact => None,
        Dedupe::Semantic { threshold } => Some(threshold),
    };
    type GroupKey<'a> = (&'a str, &'a str, &'a str, i32, &'a str, i32);
    let mut groups: BTreeMap<GroupKey<'_>, Vec<(&MemCube, [u8; 16])>> = BTreeMap::new();
    for c in cubes.iter().filter(|c| eligible(c)) {
        let Some(key) = text_key(c) else { continue };
        let s = c.scope.as_ref();
        let field = |f: fn(&memmesh_proto::Scope) -> &str| s.map_or("", f);
        let g = (field(|s| &s.user), field(|s| &s.agent), field(|s| &s.run), c.memory_type, c.custom_type.as_str(), c.kind);
        groups.entry(g).or_default().push((c, key));
    }
    let mut plans = Vec::new();
    for (_, mut members) in groups {
        members.sort_by(|a, b| keeper_order(a.0, b.0));
        let mut taken = vec![false; members.len()];
        for i in 0..members.len() {
            if taken[i] {
                continue;
            }
            let (keeper, key) = members[i];
            let mut plan = MergePlan { keeper: (keeper.id.clone(), keeper.version), members: Vec::new() };
            for j in i + 1..members.len() {
                if taken[j] {
                    continue;
                }
                let (other, other_key) = members[j];
                let sim = if other_key == key {
                    Some(1.0)
                } else {
                    match (threshold, keeper.embedding.as_ref(), other.embedding.as_ref()) {
                        (Some(t), Some(a), Some(b)) if a.model == b.model && a.vector.len() == b.vector.len() => {
                            Some(similarity(&a.vector, &b.vector)).filter(|s| *s >= t)
                        }
                        _ => None,
                    }
                };
                if let Some(sim) = sim {
                    taken[j] = true;
                    plan.members.push((other.id.clone(), other.version, sim));
                }
            }
            if !plan.members.is_empty() {
                plans.push(plan);
            }
        }
    }
    plans.sort_by(|a, b| a.keeper.0.cmp(&b.keeper.0));
    plans.truncate(max);
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmesh_proto::{Acl, Content, CubeKind, Embedding, Scope, Usage};

    fn cube(id: u8, text: &str, user: &str, v: [f32; 2]) -> MemCube {
        let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
        MemCube {
            id: format!("01J000000000000000000000{id:02}"),
            scope: Some(Scope { tenant: "t".into(), user: user.into(), ..Default::default() }),
            kind: CubeKind::Plaintext as i32,
            content: Some(Content { text: text.into(), ..Default::default() }),
            memory_type: 1,
            state: CubeState::Active as i32,
            version: 1,
            created_at_ms: i64::from(id),
            embedding: Some(Embedding { vector: vec![v[0] / n, v[1] / n], model: "m".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn exact_clusters_by_normalised_text_within_one_scope() {
        let cubes = vec![cube(1, "Likes tea.", "a", [1.0, 0.0]), cube(2, "likes  TEA", "a", [0.0, 1.0]), cube(3, "likes tea", "b", [1.0, 0.0])];
        let plans = plan_clusters(&cubes, Dedupe::Exact, 100);
        assert_eq!(plans.len(), 1, "user b's copy is another scope: never merged across scopes");
        assert_eq!(plans[0].keeper.0, cubes[0].id, "the older of two equals keeps the cluster");
        assert_eq!(plans[0].members, vec![(cubes[1].id.clone(), 1, 1.0)]);
    }

    #[test]
    fn the_strongest_member_keeps_and_similarity_is_to_the_keeper() {
        let mut a = cube(1, "one", "u", [1.0, 0.0]);
        let mut b = cube(2, "two", "u", [1.0, 0.1]);
        let c = cube(3, "three", "u", [1.0, 0.3]);
        let far = cube(4, "four", "u", [0.0, 1.0]);
        b.importance = 0.9;
        a.usage = Some(Usage { access_count: 5, ..Default::default() });
        let plans = plan_clusters(&[a.clone(), b.clone(), c.clone(), far], Dedupe::Semantic { threshold: 0.99 }, 100);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].keeper.0, b.id, "highest importance first");
        let ids: Vec<&str> = plans[0].members.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(ids, vec![a.id.as_str()], "c is 0.98 from b: below the threshold");
        assert!(plans[0].members[0].2 >= 0.99);
    }

    #[test]
    fn restricted_slotted_and_inactive_cubes_take_no_part() {
        let mut acl = cube(2, "same", "u", [1.0, 0.0]);
        acl.acl = Some(Acl { restricted: true, ..Default::default() });
        let mut slot = cube(3, "same", "u", [1.0, 0.0]);
        slot.slot = "x".into();
        let mut archived = cube(4, "same", "u", [1.0, 0.0]);
        archived.state = CubeState::Archived as i32;
        let plans = plan_clusters(&[cube(1, "same", "u", [1.0, 0.0]), acl, slot, archived], Dedupe::Exact, 100);
        assert!(plans.is_empty());
    }

    #[test]
    fn the_plan_is_bounded_and_independent_of_input_order() {
        let cubes: Vec<MemCube> = (0..20).map(|i| cube(i, &format!("t{}", i / 2), "u", [1.0, f32::from(i)])).collect();
        let all = plan_clusters(&cubes, Dedupe::Exact, 100);
        assert_eq!(all.len(), 10);
        let mut rev = cubes.clone();
        rev.reverse();
        assert_eq!(plan_clusters(&rev, Dedupe::Exact, 100), all);
        assert_eq!(plan_clusters(&cubes, Dedupe::Exact, 3), all[..3].to_vec());
    }
}
