//! Expiry, applied: the sweep's steps judged at the leader's time, against versions, the same on
//! every replica.

use memmesh_proto::{CubeState, EventType, UpdateRequest};

use super::lifecycle::due;
use super::put_tests::{cube, input, Replica};
use crate::model::Dedupe;
use crate::raft::{Op, Pb};

/// The index holds each cube as its stored record says: what kept in step as writes applied
/// (an expiry restated in place) is what a restart rebuilds.
pub(super) fn assert_index_matches_records(r: &Replica) {
    let all = r.all();
    let rebuilt = crate::index::SearchIndex::default();
    for c in &all {
        rebuilt.upsert(c);
    }
    for c in &all {
        let id = c.id.parse().unwrap();
        assert_eq!(r.index.indexed(id), rebuilt.indexed(id), "cube {} (version {}, state {})", c.id, c.version, c.state);
    }
}

pub(super) fn with_ttl(n: u64, text: &str, ttl: u64) -> Pb<memmesh_proto::MemCube> {
    let mut i = input("u", text);
    i.ttl_seconds = ttl;
    cube(n, i)
}

#[tokio::test]
async fn the_sweep_expires_what_is_due_once_and_skips_what_changed_since_it_was_judged() {
    let (mut a, mut b) = (Replica::new(), Replica::new());
    // Written at 1_001..1_004 ms: TTL 1 s expires at 2_001.., TTL 10 s at 11_00x.
    let cubes =
        vec![with_ttl(1, "soon", 1), with_ttl(2, "extended", 1), with_ttl(3, "later", 10), with_ttl(4, "pinned", 1), with_ttl(5, "forever", 0)];
    let mut ids = Vec::new();
    for r in [&mut a, &mut b] {
        ids = r.put(cubes.clone(), Dedupe::None).await.cubes.iter().map(|c| c.0.id.clone()).collect();
        let pin = UpdateRequest { id: ids[3].clone(), pinned: Some(true), ..Default::default() };
        r.apply(Op::Update { patch: Pb(pin), embedding: None }).await.unwrap();
    }
    let due_at = |r: &Replica, now| due(r.db(), 0, now, 100).unwrap().into_iter().map(|d| d.id.to_string()).collect::<Vec<_>>();
    // Each entry names the version and tenant the sweep judges, so it reads no cube.
    let first = due(a.db(), 0, 5_000, 1).unwrap().remove(0);
    assert_eq!((first.version, first.tenant.as_str()), (1, "t"));
    assert_eq!(due_at(&a, 5_000), vec![ids[0].clone(), ids[1].clone()], "soonest first; pinned and TTL-less cubes are not in the index");
    assert_eq!(due_at(&a, 20_000).len(), 3);

    // The sweep judges at 5_000 ms (versions 1); meanwhile a user extends one TTL.
    let judged = vec![(ids[0].clone(), 1), (ids[1].clone(), 1), (ids[2].clone(), 1)];
    for r in [&mut a, &mut b] {
        let extend = UpdateRequest { id: ids[1].clone(), ttl_seconds: Some(3600), ..Default::default() };
        r.apply(Op::Update { patch: Pb(extend), embedding: None }).await.unwrap();
        let step = r.apply(Op::Expire { at_ms: 5_000, items: judged.clone() }).await.unwrap();
        assert_eq!((step.merged, step.skipped), (1, 2), "the extended cube changed, the later one is not due at 5 s");
        let again = r.apply(Op::Expire { at_ms: 5_000, items: judged.clone() }).await.unwrap();
        assert_eq!((again.merged, again.skipped), (0, 3), "a repeated step expires nothing twice");
    }
    assert_eq!(a.all(), b.all(), "replicas identical");
    assert_index_matches_records(&a);
    let all = a.all();
    let state = |id: &str| all.iter().find(|c| c.id == id).unwrap().state;
    assert_eq!(state(&ids[0]), CubeState::Expired as i32);
    assert_eq!(state(&ids[1]), CubeState::Active as i32);
    assert_eq!(state(&ids[3]), CubeState::Active as i32, "pinned");
    assert!(!due_at(&a, 5_000).contains(&ids[0]), "an expired cube leaves the index");
    let events: Vec<i32> = a.feed.history(1, 100).unwrap().iter().flat_map(|r| r.events.iter().map(|e| e.kind)).collect();
    assert_eq!(events.iter().filter(|k| **k == EventType::Expired as i32).count(), 1);
}

#[tokio::test]
async fn an_expired_cube_comes_back_only_with_a_new_ttl() {
    let mut r = Replica::new();
    let id = r.put(vec![with_ttl(1, "short", 1)], Dedupe::None).await.cubes[0].0.id.clone();
    r.apply(Op::Expire { at_ms: 5_000, items: vec![(id.clone(), 1)] }).await.unwrap();
    let plain = r.apply(Op::Restore { id: id.clone(), expected_version: 0 }).await;
    assert!(matches!(plain, Err(crate::model::ApplyError::Precondition(_))), "{plain:?}");
    let touch = UpdateRequest { id: id.clone(), importance: Some(0.5), ..Default::default() };
    assert!(r.apply(Op::Update { patch: Pb(touch), embedding: None }).await.is_err(), "an expired cube is not edited in place");
    let back = r.apply(Op::RestoreWithTtl { id: id.clone(), expected_version: 0, ttl_seconds: 0 }).await.unwrap();
    let c = &back.cubes[0].0;
    assert_eq!((c.state, c.expires_at_ms, c.version), (CubeState::Active as i32, 0, 3));
    assert!(due(r.db(), 0, i64::MAX, 10).unwrap().is_empty());
}

fn policy(name: &str, user: &str) -> memmesh_proto::Policy {
    memmesh_proto::Policy {
        name: name.into(),
        scope: Some(memmesh_proto::Scope { tenant: "t".into(), user: user.into(), ..Default::default() }),
        ..Default::default()
    }
}

async fn set(r: &mut Replica, p: memmesh_proto::Policy) {
    r.apply(Op::PutPolicy { policy: Pb(p) }).await.unwrap();
}

fn dormant(r: &Replica) -> Vec<String> {
    super::lifecycle::dormant_until(r.db(), "t", None, i64::MAX, 100).unwrap().into_iter().map(|(id, _)| id.to_string()).collect()
}

#[tokio::test]
async fn reclamation_purges_after_the_grace_and_frees_quota_unless_held() {
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let mut ids = Vec::new();
    for r in [&mut a, &mut b] {
        set(r, memmesh_proto::Policy { purge_deleted_after_seconds: 10, purge_expired_after_seconds: 20, ..policy("retention", "") }).await;
        set(r, memmesh_proto::Policy { hold: true, ..policy("litigation", "held") }).await;
        let mut pinned = input("u", "pinned and deleted");
        pinned.pinned = true;
        let cubes = vec![
            with_ttl(1, "deleted", 0),
            with_ttl(2, "expired", 1),
            cube(3, input("held", "held and deleted")),
            with_ttl(4, "kept", 0),
            cube(5, pinned),
        ];
        ids = r.put(cubes, Dedupe::None).await.cubes.iter().map(|c| c.0.id.clone()).collect();
        for id in [&ids[0], &ids[2], &ids[4]] {
            r.apply(Op::Delete { id: id.clone(), expected_version: 0 }).await.unwrap();
        }
        r.apply(Op::Expire { at_ms: 5_000, items: vec![(ids[1].clone(), 1)] }).await.unwrap();
    }
    let before = super::usage::usage(a.db(), "t").unwrap();
    assert_eq!(dormant(&a).len(), 4, "three deleted, one expired");
    // Deleted at ~5_00x ms, expired by the step applied at ~5_00x ms too.
    let items: Vec<(String, u64)> = a.all().iter().filter(|c| c.state != CubeState::Active as i32).map(|c| (c.id.clone(), c.version)).collect();
    for r in [&mut a, &mut b] {
        let early = r.apply(Op::Reclaim { at_ms: 10_000, items: items.clone() }).await.unwrap();
        assert_eq!((early.purged, early.skipped), (0, 4), "within every grace");
        let mid = r.apply(Op::Reclaim { at_ms: 16_000, items: items.clone() }).await.unwrap();
        assert_eq!((mid.purged, mid.skipped), (1, 3), "the deleted cube's 10 s passed; the expired one has 20 s; held and pinned stay");
        let late = r.apply(Op::Reclaim { at_ms: 60_000, items: items.clone() }).await.unwrap();
        assert_eq!((late.purged, late.skipped), (1, 3), "the expired one goes; the purged one is gone; the hold still holds; pinned");
    }
    assert_eq!(a.all(), b.all(), "replicas identical");
    let left: Vec<String> = a.all().iter().map(|c| c.id.clone()).collect();
    assert_eq!(left, vec![ids[2].clone(), ids[3].clone(), ids[4].clone()]);
    assert!(a.reader.history(ids[0].parse().unwrap()).unwrap().is_empty(), "content and history gone");
    assert_eq!(dormant(&a), vec![ids[2].clone(), ids[4].clone()]);
    let after = super::usage::usage(a.db(), "t").unwrap();
    assert_eq!(after.0, before.0 - 2, "quota usage released: {before:?} -> {after:?}");
    assert!(after.1 < before.1);
    let purged =
        a.feed.history(1, 100).unwrap().iter().flat_map(|r| r.events.iter().map(|e| e.kind)).filter(|k| *k == EventType::Purged as i32).count();
    assert_eq!(purged, 2);

    // Lifting the hold lets reclamation take the held cube too.
    set(&mut a, memmesh_proto::Policy { hold: false, ..policy("litigation", "held") }).await;
    let last = a.apply(Op::Reclaim { at_ms: 60_000, items: items.clone() }).await.unwrap();
    assert_eq!(last.purged, 1);
    assert_eq!(dormant(&a), vec![ids[4].clone()], "the pinned one is never reclaimed by policy");
}

#[tokio::test]
async fn a_legal_hold_stops_expiry_and_every_purge_in_its_scope() {
    let mut r = Replica::new();
    set(&mut r, memmesh_proto::Policy { hold: true, ..policy("hold", "held") }).await;
    let mut held = input("held", "evidence");
    held.ttl_seconds = 1;
    let ids: Vec<String> = r.put(vec![cube(1, held), with_ttl(2, "free", 1)], Dedupe::None).await.cubes.iter().map(|c| c.0.id.clone()).collect();
    let step = r.apply(Op::Expire { at_ms: 9_000, items: vec![(ids[0].clone(), 1), (ids[1].clone(), 1)] }).await.unwrap();
    assert_eq!((step.merged, step.skipped), (1, 1), "the held cube is not expired");
    assert_index_matches_records(&r);
    let one = r.apply(Op::PurgeCube { id: ids[0].clone() }).await;
    assert!(matches!(&one, Err(crate::model::ApplyError::Precondition(m)) if m.contains("legal hold (policy hold)")), "{one:?}");
    let tenant = memmesh_proto::Scope { tenant: "t".into(), ..Default::default() };
    let all = r.apply(Op::PurgeScope { scope: Pb(tenant) }).await;
    assert!(matches!(all, Err(crate::model::ApplyError::Precondition(_))), "{all:?}");
    assert_eq!(r.all().len(), 2, "all or nothing: the free cube was not purged either");
    let mine = memmesh_proto::Scope { tenant: "t".into(), user: "u".into(), ..Default::default() };
    assert_eq!(r.apply(Op::PurgeScope { scope: Pb(mine) }).await.unwrap().purged, 1, "a scope without a hold purges");
}

#[tokio::test]
async fn a_default_ttl_reaches_existing_cubes_once_and_records_its_cursor() {
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let mut ids = Vec::new();
    let p = memmesh_proto::Policy { default_ttl_seconds: 60, updated_at_ms: 777, ..policy("ttl", "") };
    for r in [&mut a, &mut b] {
        let mut pinned = input("u", "pinned");
        pinned.pinned = true;
        let cubes = vec![with_ttl(1, "no ttl", 0), with_ttl(2, "own ttl", 5), cube(3, pinned), with_ttl(4, "changed", 0)];
        ids = r.put(cubes, Dedupe::None).await.cubes.iter().map(|c| c.0.id.clone()).collect();
        set(r, p.clone()).await;
        // Judged at version 1; one of them changes before the step applies.
        let edit = UpdateRequest { id: ids[3].clone(), importance: Some(0.9), ..Default::default() };
        r.apply(Op::Update { patch: Pb(edit), embedding: None }).await.unwrap();
        let items = ids.iter().map(|id| (id.clone(), 1)).collect();
        let step = r.apply(Op::DefaultTtl { tenant: "t".into(), name: "ttl".into(), set_at_ms: 777, items, cursor: ids[3].clone() }).await.unwrap();
        assert_eq!((step.merged, step.skipped), (1, 3), "only the TTL-less, unpinned, unchanged cube");
    }
    assert_eq!(a.all(), b.all(), "replicas identical");
    let all = a.all();
    let first = all.iter().find(|c| c.id == ids[0]).unwrap();
    assert_eq!((first.ttl_seconds, first.expires_at_ms), (60, first.created_at_ms + 60_000), "counted from its creation");
    assert_eq!(all.iter().find(|c| c.id == ids[1]).unwrap().ttl_seconds, 5, "its own TTL wins");
    assert_eq!(due(a.db(), 0, i64::MAX, 10).unwrap().len(), 2, "both in the expiry index now");
    assert_eq!(super::policies::get(a.db(), "t", "ttl").unwrap().unwrap().backfill_cursor, ids[3]);
    // A step planned under an earlier setting of the policy does not move its cursor.
    let stale = a.apply(Op::DefaultTtl { tenant: "t".into(), name: "ttl".into(), set_at_ms: 1, items: vec![], cursor: "~".into() }).await;
    assert!(stale.is_ok());
    assert_eq!(super::policies::get(a.db(), "t", "ttl").unwrap().unwrap().backfill_cursor, ids[3]);
}

#[tokio::test]
async fn tiering_archives_idle_cubes_at_the_judged_time_and_a_read_brings_them_back() {
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let mut ids = Vec::new();
    for r in [&mut a, &mut b] {
        set(r, memmesh_proto::Policy { archive_after_idle_seconds: 10, reactivate_on_access: true, ..policy("tiers", "") }).await;
        let mut pinned = input("u", "pinned");
        pinned.pinned = true;
        // Created at 1_001..1_003 ms.
        ids = r
            .put(vec![with_ttl(1, "idle", 0), cube(2, pinned), with_ttl(3, "read", 0)], Dedupe::None)
            .await
            .cubes
            .iter()
            .map(|c| c.0.id.clone())
            .collect();
        let items: Vec<(String, u64)> = ids.iter().map(|id| (id.clone(), 1)).collect();
        let early = r.apply(Op::Archive { at_ms: 10_000, items: items.clone() }).await.unwrap();
        assert_eq!((early.merged, early.skipped), (0, 3), "idle for 9 s only");
        // A read (record_access) of the third before the step applies: apply judges again from
        // the stored cube (usage is not versioned), and it is no longer idle.
        r.apply(Op::Touch { id: ids[2].clone() }).await.unwrap();
        let step = r.apply(Op::Archive { at_ms: 12_000, items }).await.unwrap();
        assert_eq!((step.merged, step.skipped), (1, 2), "the pinned cube and the one just read stay");
    }
    assert_eq!(a.all(), b.all(), "replicas identical");
    let state = |r: &Replica, id: &str| r.all().into_iter().find(|c| c.id == id).unwrap().state;
    assert_eq!(state(&a, &ids[0]), CubeState::Archived as i32);
    assert_eq!(state(&a, &ids[1]), CubeState::Active as i32);
    // A read with record_access brings the archived cube back: a new version and an event.
    let back = a.apply(Op::Touch { id: ids[0].clone() }).await.unwrap();
    assert_eq!((back.cubes[0].0.state, back.cubes[0].0.version), (CubeState::Active as i32, 3));
    let kinds: Vec<i32> = a.feed.history(1, 100).unwrap().iter().flat_map(|r| r.events.iter().map(|e| e.kind)).collect();
    assert_eq!(kinds.iter().filter(|k| **k == EventType::Archived as i32).count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == EventType::Reactivated as i32).count(), 1);
    // Without the policy's say-so, a read only counts.
    set(&mut a, memmesh_proto::Policy { archive_after_idle_seconds: 10, ..policy("tiers", "") }).await;
    a.apply(Op::Archive { at_ms: 60_000, items: vec![(ids[0].clone(), 3)] }).await.unwrap();
    let read = a.apply(Op::Touch { id: ids[0].clone() }).await.unwrap();
    assert_eq!(read.cubes[0].0.state, CubeState::Archived as i32);
}

#[tokio::test]
async fn a_cap_step_archives_only_as_many_as_the_scope_is_over_at_apply() {
    let (mut a, mut b) = (Replica::new(), Replica::new());
    let u = memmesh_proto::Scope { tenant: "t".into(), user: "u".into(), ..Default::default() };
    for r in [&mut a, &mut b] {
        set(r, memmesh_proto::Policy { max_active_per_scope: Some(2), ..policy("cap", "") }).await;
        let cubes = (1..=4).map(|n| with_ttl(n, &format!("memory {n}"), 0)).collect();
        let ids: Vec<String> = r.put(cubes, Dedupe::None).await.cubes.iter().map(|c| c.0.id.clone()).collect();
        // The leader judged three candidates, weakest first; one was deleted meanwhile.
        r.apply(Op::Delete { id: ids[0].clone(), expected_version: 0 }).await.unwrap();
        let items = vec![(ids[0].clone(), 1), (ids[1].clone(), 1), (ids[2].clone(), 1)];
        let step = r.apply(Op::Cap { at_ms: 9_000, scope: Pb(u.clone()), memory_type: 0, items: items.clone() }).await.unwrap();
        assert_eq!((step.merged, step.skipped), (1, 2), "3 ACTIVE, cap 2: one archived; the deleted one and the rest skipped");
        let again = r.apply(Op::Cap { at_ms: 9_000, scope: Pb(u.clone()), memory_type: 0, items }).await.unwrap();
        assert_eq!(again.merged, 0, "at the cap now");
    }
    assert_eq!(a.all(), b.all(), "replicas identical");
    let states: Vec<i32> = a.all().iter().map(|c| c.state).collect();
    assert_eq!(states, vec![CubeState::Deleted as i32, CubeState::Archived as i32, CubeState::Active as i32, CubeState::Active as i32]);
}

#[tokio::test]
async fn a_restart_adds_the_index_entries_of_cubes_written_before_the_indexes() {
    let mut r = Replica::new();
    let ids: Vec<String> =
        r.put(vec![with_ttl(1, "old ttl", 1), with_ttl(2, "old deleted", 0)], Dedupe::None).await.cubes.iter().map(|c| c.0.id.clone()).collect();
    r.apply(Op::Delete { id: ids[1].clone(), expected_version: 0 }).await.unwrap();
    // As a database written before the indexes existed: no entries at all.
    let db = r.db();
    for name in [super::CF_EXPIRY, super::CF_DORMANT] {
        let keys: Vec<Box<[u8]>> = db.iterator_cf(super::cf(db, name), rocksdb::IteratorMode::Start).map(|kv| kv.unwrap().0).collect();
        assert_eq!(keys.len(), 1, "{name}");
        for k in keys {
            db.delete_cf(super::cf(db, name), k).unwrap();
        }
    }
    assert!(due(r.db(), 0, i64::MAX, 10).unwrap().is_empty() && dormant(&r).is_empty());
    r.rebuild();
    let found = due(r.db(), 0, i64::MAX, 10).unwrap();
    assert_eq!((found.len(), found[0].id.to_string(), found[0].version), (1, ids[0].clone(), 1));
    assert_eq!(dormant(&r), vec![ids[1].clone()]);
    r.rebuild();
    assert_eq!((due(r.db(), 0, i64::MAX, 10).unwrap().len(), dormant(&r).len()), (1, 1), "nothing added twice");
}
