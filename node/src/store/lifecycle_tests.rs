//! Expiry, applied: the sweep's steps judged at the leader's time, against versions, the same on
//! every replica.

use memmesh_proto::{CubeState, EventType, UpdateRequest};

use super::lifecycle::due;
use super::put_tests::{cube, input, Replica};
use crate::model::Dedupe;
use crate::raft::{Op, Pb};

fn with_ttl(n: u64, text: &str, ttl: u64) -> Pb<memmesh_proto::MemCube> {
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
    let due_at = |r: &Replica, now| due(r.db(), 0, now, 100).unwrap().into_iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>();
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
