//! Slots, links and consolidation, applied: decided in `apply` against the replicated state,
//! the same on every replica.

use memmesh_proto::{CubeState, EventType, LinkType, MemCube, Scope, UpdateRequest};

use super::put_tests::{cube, input, with_vector, Replica};
use crate::model::consolidate::plan_clusters;
use crate::model::{ApplyError, Dedupe, PutOutcome};
use crate::raft::{Op, Pb};

fn slotted(n: u64, text: &str, slot: &str) -> Pb<MemCube> {
    let mut i = input("u", text);
    i.slot = slot.into();
    cube(n, i)
}

fn links(c: &MemCube) -> Vec<(LinkType, String)> {
    c.links.iter().map(|l| (LinkType::try_from(l.r#type).unwrap(), l.target_id.clone())).collect()
}

fn find<'a>(all: &'a [MemCube], id: &str) -> &'a MemCube {
    all.iter().find(|c| c.id == id).expect("stored")
}

fn ulid(id: &str) -> ulid::Ulid {
    id.parse().unwrap()
}

#[tokio::test]
async fn a_new_slot_holder_supersedes_the_old_one_with_links_both_ways() {
    let mut r = Replica::new();
    let paris = r.put(vec![slotted(1, "Lives in Paris", "user.home_city")], Dedupe::None).await.cubes[0].0.id.clone();
    let out = r.put(vec![slotted(2, "Lives in Lisbon", "user.home_city")], Dedupe::None).await;
    let lisbon = out.cubes[0].0.id.clone();
    assert_eq!(out.results[0].outcome, PutOutcome::Created);
    assert_eq!(out.results[0].superseded, vec![paris.clone()]);
    assert_eq!(links(&out.cubes[0].0), vec![(LinkType::Supersedes, paris.clone())]);

    let all = r.all();
    let old = find(&all, &paris);
    assert_eq!((old.state, old.version), (CubeState::Archived as i32, 2));
    assert_eq!(links(old), vec![(LinkType::SupersededBy, lisbon.clone())]);
    assert_eq!(r.reader.incoming(ulid(&paris)).unwrap(), vec![(ulid(&lisbon), LinkType::Supersedes as i32)]);
    assert_eq!(r.reader.incoming(ulid(&lisbon)).unwrap(), vec![(ulid(&paris), LinkType::SupersededBy as i32)]);
    let kinds: Vec<i32> = r.feed.history(2, 2).unwrap().iter().flat_map(|rev| rev.events.iter().map(|e| e.kind)).collect();
    assert_eq!(kinds, vec![EventType::Superseded as i32, EventType::Created as i32]);

    // Another scope's slot of the same name is another slot.
    let mut elsewhere = input("v", "Lives in Rome");
    elsewhere.slot = "user.home_city".into();
    let other = r.put(vec![cube(3, elsewhere)], Dedupe::None).await;
    assert!(other.results[0].superseded.is_empty());
}

#[tokio::test]
async fn sixteen_writers_of_one_slot_leave_one_active_holder_and_a_complete_chain_on_every_replica() {
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let mut ids = Vec::new();
    for n in 0..16 {
        let p = vec![slotted(n, &format!("deadline is day {n}"), "project.deadline")];
        let (x, y) = (a.put(p.clone(), Dedupe::None).await, b.put(p, Dedupe::None).await);
        assert_eq!(x, y, "replicas decide alike");
        ids.push(x.cubes[0].0.id.clone());
    }
    assert_eq!(a.all(), b.all());
    let all = a.all();
    let active: Vec<&MemCube> = all.iter().filter(|c| c.state == CubeState::Active as i32).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, ids[15], "the last write in log order holds the slot");
    for w in ids.windows(2) {
        assert!(links(find(&all, &w[0])).contains(&(LinkType::SupersededBy, w[1].clone())));
        assert!(links(find(&all, &w[1])).contains(&(LinkType::Supersedes, w[0].clone())));
    }
}

#[tokio::test]
async fn restating_a_slot_is_a_duplicate_of_its_holder_only() {
    let mut r = Replica::new();
    let unslotted = r.put(vec![cube(1, input("u", "Lives in Paris"))], Dedupe::None).await.cubes[0].0.id.clone();
    let holder = r.put(vec![slotted(2, "Lives in Paris", "user.home_city")], Dedupe::Exact).await;
    assert_eq!(holder.results[0].outcome, PutOutcome::Created, "an unslotted cube does not hold the slot");
    let holder = holder.cubes[0].0.id.clone();
    assert_ne!(holder, unslotted);
    let again = r.put(vec![slotted(3, "lives in paris!", "user.home_city")], Dedupe::Exact).await;
    assert_eq!((again.results[0].outcome, again.results[0].target.clone()), (PutOutcome::Unchanged, holder.clone()));
    assert!(again.results[0].superseded.is_empty());
    // Under NONE the same value is a new holder.
    let none = r.put(vec![slotted(4, "Lives in Paris", "user.home_city")], Dedupe::None).await;
    assert_eq!(none.results[0].superseded, vec![holder]);
}

#[tokio::test]
async fn reactivating_a_superseded_cube_takes_the_slot_back() {
    let mut r = Replica::new();
    let first = r.put(vec![slotted(1, "v1", "s")], Dedupe::None).await.cubes[0].0.id.clone();
    let second = r.put(vec![slotted(2, "v2", "s")], Dedupe::None).await.cubes[0].0.id.clone();
    let patch = UpdateRequest { id: first.clone(), state: Some(CubeState::Active as i32), ..Default::default() };
    let back = r.apply(Op::Update { patch: Pb(patch), embedding: None }).await.unwrap();
    assert_eq!(back.cubes[0].0.state, CubeState::Active as i32);
    let all = r.all();
    assert_eq!(find(&all, &second).state, CubeState::Archived as i32, "two ACTIVE holders never coexist");
    assert!(links(find(&all, &second)).contains(&(LinkType::SupersededBy, first.clone())));
}

#[tokio::test]
async fn a_put_naming_one_slot_twice_or_linking_to_nothing_writes_nothing() {
    let mut r = Replica::new();
    let twice = r.apply(Op::Put { cubes: vec![slotted(1, "a", "s"), slotted(2, "b", "s")] }).await;
    assert!(matches!(twice, Err(ApplyError::Precondition(_))), "{twice:?}");
    let mut dangling = input("u", "derived");
    dangling.links = vec![memmesh_proto::Link { r#type: LinkType::DerivedFrom as i32, target_id: ulid::Ulid::from_parts(9, 9).to_string() }];
    let e = r.apply(Op::Put { cubes: vec![cube(3, input("u", "fine")), cube(4, dangling)] }).await;
    assert!(matches!(e, Err(ApplyError::NotFound { .. })), "{e:?}");
    assert!(r.all().is_empty(), "nothing partial");
}

#[tokio::test]
async fn links_never_reach_another_tenant_and_purge_takes_the_reverse_index_along() {
    let mut r = Replica::new();
    let a = r.put(vec![cube(1, input("u", "a"))], Dedupe::None).await.cubes[0].0.id.clone();
    let b = r.put(vec![cube(2, input("u", "b"))], Dedupe::None).await.cubes[0].0.id.clone();
    let mut foreign = input("u", "other tenant");
    foreign.scope = Some(Scope { tenant: "other".into(), ..Default::default() });
    let f = r.apply(Op::Put { cubes: vec![cube(3, foreign)] }).await.unwrap().cubes[0].0.id.clone();
    let link = |target: &str, remove| Op::Link {
        source: a.clone(),
        link_type: LinkType::RelatesTo as i32,
        target: target.to_string(),
        remove,
        expected_version: 0,
    };
    assert!(matches!(r.apply(link(&f, false)).await, Err(ApplyError::NotFound { .. })));
    let linked = r.apply(link(&b, false)).await.unwrap();
    assert_eq!(linked.cubes[0].0.version, 2);
    let again = r.apply(link(&b, false)).await.unwrap();
    assert_eq!(again.cubes[0].0.version, 2, "linking twice changes nothing");
    assert_eq!(r.reader.incoming(ulid(&b)).unwrap(), vec![(ulid(&a), LinkType::RelatesTo as i32)]);
    r.apply(link(&b, true)).await.unwrap();
    assert!(r.reader.incoming(ulid(&b)).unwrap().is_empty());
    assert!(matches!(r.apply(link(&b, true)).await, Err(ApplyError::NotFound { .. })), "no such link");

    r.apply(link(&b, false)).await.unwrap();
    r.apply(Op::PurgeCube { id: b.clone() }).await.unwrap();
    assert!(r.reader.incoming(ulid(&b)).unwrap().is_empty());
    r.apply(Op::PurgeCube { id: a.clone() }).await.unwrap();
    let all_links = r.sm_links();
    assert!(all_links.is_empty(), "{all_links:?}");
}

#[tokio::test]
async fn consolidate_merges_each_cluster_once_even_when_its_step_is_applied_twice() {
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let mut tagged = input("u", "Alice likes tea");
    tagged.tags = vec!["drinks".into()];
    let cubes = vec![cube(1, input("u", "Alice likes tea.")), cube(2, tagged), cube(3, input("u", "alice likes TEA")), cube(4, input("u", "Bob"))];
    for r in [&mut a, &mut b] {
        r.put(cubes.clone(), Dedupe::None).await;
    }
    let plan = plan_clusters(&a.all(), Dedupe::Exact, 100);
    assert_eq!(plan.len(), 1);
    let keeper = plan[0].keeper.0.clone();
    assert_eq!(keeper, cubes[0].0.id, "the oldest of equals keeps");
    let step = Op::Consolidate { clusters: plan.clone() };
    for r in [&mut a, &mut b] {
        let done = r.apply(step.clone()).await.unwrap();
        assert_eq!((done.merged, done.skipped), (2, 0));
        let retry = r.apply(step.clone()).await.unwrap();
        assert_eq!((retry.merged, retry.skipped), (0, 1), "a step applied again merges nothing");
    }
    assert_eq!(a.all(), b.all());
    let all = a.all();
    let k = find(&all, &keeper);
    assert_eq!((k.state, k.version, k.tags.clone()), (CubeState::Active as i32, 2, vec!["drinks".to_string()]));
    for m in &plan[0].members {
        let c = find(&all, &m.0);
        assert_eq!(c.state, CubeState::Archived as i32);
        assert_eq!(links(c), vec![(LinkType::MergedInto, keeper.clone())]);
    }
    assert_eq!(a.reader.incoming(ulid(&keeper)).unwrap().len(), 2);
    assert!(plan_clusters(&a.all(), Dedupe::Exact, 100).is_empty(), "nothing left to merge");
}

#[tokio::test]
async fn consolidate_skips_a_cluster_changed_after_it_was_judged() {
    let mut r = Replica::new();
    r.put(vec![cube(1, input("u", "same")), cube(2, input("u", "same"))], Dedupe::None).await;
    let plan = plan_clusters(&r.all(), Dedupe::Exact, 100);
    let member = plan[0].members[0].0.clone();
    let patch = UpdateRequest { id: member.clone(), importance: Some(0.5), ..Default::default() };
    r.apply(Op::Update { patch: Pb(patch), embedding: None }).await.unwrap();
    let done = r.apply(Op::Consolidate { clusters: plan }).await.unwrap();
    assert_eq!((done.merged, done.skipped), (0, 1), "the user's change wins over the stale plan");
    assert!(r.all().iter().all(|c| c.state == CubeState::Active as i32));
}

#[tokio::test]
async fn semantic_puts_report_related_cubes_between_the_two_thresholds() {
    let mut r = Replica::new();
    let near = with_vector(cube(1, input("u", "the meeting is on monday")), [1.0, 0.0, 0.0]);
    let far = with_vector(cube(2, input("u", "lunch with dana")), [0.0, 1.0, 0.0]);
    let ids = r.put(vec![near, far], Dedupe::None).await.cubes.iter().map(|c| c.0.id.clone()).collect::<Vec<_>>();
    // cosine to `near` ≈ 0.89: related (≥ 0.8), not a duplicate (< 0.95).
    let new = with_vector(cube(3, input("u", "monday: team meeting moved")), [1.0, 0.5, 0.0]);
    let rule = Dedupe::Semantic { threshold: 0.95 };
    let out = r.apply(Op::PutCubes { cubes: vec![new], rules: vec![rule], related: Some(0.8) }).await.unwrap();
    assert_eq!(out.results[0].outcome, PutOutcome::Created);
    let related: Vec<&str> = out.results[0].related.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(related, vec![ids[0].as_str()]);
    let s = out.results[0].related[0].1;
    assert!((0.8..0.95).contains(&s), "{s}");
    // The older put variants report none (a replay of an old entry must decide the same).
    let old = with_vector(cube(4, input("u", "monday: the meeting moved")), [1.0, 0.5, 0.0]);
    let out = r.apply(Op::PutDedupe { cubes: vec![old], dedupe: Dedupe::Semantic { threshold: 0.999 } }).await.unwrap();
    assert!(out.results[0].related.is_empty());
}
