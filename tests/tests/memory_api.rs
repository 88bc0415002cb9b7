//! The Memory API against a real node: CRUD, history/rollback, pagination, idempotency and
//! optimistic concurrency.

use std::collections::HashSet;

use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

#[tokio::test]
async fn crud_round_trip_keeps_every_field() {
    let node = TestNode::start();
    let mut c = node.client().await;

    let mut input =
        text_cube(Scope { tenant: "acme".into(), user: "alice".into(), agent: "planner".into(), run: "r1".into() }, "prefers window seats");
    input.memory_type = MemoryType::Preference as i32;
    input.tags = vec!["travel".into(), "seating".into()];
    input.attributes = [("airline".to_string(), "any".to_string())].into();
    input.importance = 0.75;
    input.ttl_seconds = 3600;
    input.source = Source::Agent as i32;
    input.provenance = Some(Provenance { origin_agent: "planner".into(), parents: vec!["msg-1".into()], ..Default::default() });
    let w = c.memory.put(PutRequest { cube: Some(input), request_id: "put-1".into(), ..Default::default() }).await.unwrap().into_inner();
    let cube = w.cube.unwrap();
    assert_eq!(cube.version, 1);
    assert_eq!(cube.revision, w.revision);
    assert!(w.revision > 0);
    assert_eq!(cube.id.len(), 26, "ULID id");
    assert_eq!(cube.tags, vec!["seating", "travel"], "tags stored sorted");
    assert_eq!(cube.expires_at_ms, cube.created_at_ms + 3_600_000);
    assert_eq!(cube.provenance.as_ref().unwrap().request_id, "put-1");
    assert_eq!(cube.state, CubeState::Active as i32);

    let got = c.memory.get(GetRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(got.cube.as_ref(), Some(&cube), "get returns exactly what put stored");
    assert!(got.read_revision >= w.revision);

    let u = c
        .memory
        .update(UpdateRequest {
            id: cube.id.clone(),
            content: Some(Content { text: "prefers aisle seats".into(), ..Default::default() }),
            add_tags: vec!["changed".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let uc = u.cube.unwrap();
    assert_eq!((uc.version, text_of(&uc)), (2, "prefers aisle seats"));
    assert!(u.revision > w.revision);
    assert_eq!(uc.importance, 0.75, "fields not in the patch are kept");
    assert_eq!(uc.tags, vec!["changed", "seating", "travel"]);

    let d = c.memory.delete(DeleteRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(d.cube.as_ref().unwrap().state, CubeState::Deleted as i32);
    let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "alice")), ..Default::default() }).await;
    assert!(listed.is_empty(), "deleted cubes are not listed by default");
    let listed =
        list_all(&mut c, ListRequest { scope: Some(scope("acme", "alice")), states: vec![CubeState::Deleted as i32], ..Default::default() }).await;
    assert_eq!(listed.len(), 1);

    let r = c.memory.restore(RestoreRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(r.cube.as_ref().unwrap().state, CubeState::Active as i32);
    assert_eq!(r.cube.as_ref().unwrap().version, 4);

    let p = c
        .memory
        .purge(PurgeRequest { target: Some(purge_request::Target::Id(cube.id.clone())), request_id: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.purged, 1);
    let e = c.memory.get(GetRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c.memory.history(HistoryRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "purge removes history too");
}

#[tokio::test]
async fn history_lists_every_version_and_rollback_makes_a_new_one() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let v1 = put_text(&mut c, scope("acme", "bob"), "first").await;
    let mut revs = vec![v1.revision];
    for t in ["second", "third"] {
        let u = c
            .memory
            .update(UpdateRequest { id: v1.id.clone(), content: Some(Content { text: t.into(), ..Default::default() }), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        revs.push(u.revision);
    }
    let rb = c.memory.rollback(RollbackRequest { id: v1.id.clone(), to_version: 1, ..Default::default() }).await.unwrap().into_inner();
    let rbc = rb.cube.unwrap();
    assert_eq!((rbc.version, text_of(&rbc)), (4, "first"));
    assert_eq!(rbc.created_at_ms, v1.created_at_ms);

    let h = c.memory.history(HistoryRequest { id: v1.id.clone(), ..Default::default() }).await.unwrap().into_inner().versions;
    assert_eq!(h.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(h.iter().map(text_of).collect::<Vec<_>>(), vec!["first", "second", "third", "first"]);
    assert!(h.windows(2).all(|w| w[0].revision < w[1].revision), "revisions increase along the chain");
    assert_eq!(h[..3].iter().map(|v| v.revision).collect::<Vec<_>>(), revs);

    let v2 = c.memory.get(GetRequest { id: v1.id.clone(), version: 2, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(text_of(v2.cube.as_ref().unwrap()), "second");
    // As of the revision of version 2 (and up to, not including, version 3's) it is "second".
    for rev in [revs[1], revs[2] - 1] {
        let g = c.memory.get(GetRequest { id: v1.id.clone(), as_of_revision: rev, ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(text_of(g.cube.as_ref().unwrap()), "second", "as of revision {rev}");
    }
    let before = c.memory.get(GetRequest { id: v1.id.clone(), as_of_revision: revs[0] - 1, ..Default::default() }).await;
    assert_eq!(before.unwrap_err().code(), Code::NotFound, "did not exist before its first revision");
    let missing = c.memory.get(GetRequest { id: v1.id.clone(), version: 9, ..Default::default() }).await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    let bad = c.memory.rollback(RollbackRequest { id: v1.id.clone(), to_version: 9, ..Default::default() }).await;
    assert_eq!(bad.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn pagination_over_2600_cubes_loses_and_repeats_nothing() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let mut all_ids = Vec::new();
    let mut alice_ids = Vec::new();
    for b in 0..3 {
        let n = if b == 2 { 600 } else { 1000 };
        let cubes = (0..n).map(|i| text_cube(scope("acme", if i % 3 == 0 { "alice" } else { "bob" }), &format!("memory {b}-{i}"))).collect();
        let r = c.memory.put_batch(PutBatchRequest { cubes, request_id: String::new(), ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(r.cubes.len(), n);
        assert!(r.cubes.iter().all(|c| c.revision == r.revision), "one batch = one revision");
        for cube in r.cubes {
            if cube.scope.as_ref().unwrap().user == "alice" {
                alice_ids.push(cube.id.clone());
            }
            all_ids.push(cube.id);
        }
    }
    assert_eq!(all_ids.len(), 2600);

    for order in [ListOrder::NewestFirst, ListOrder::OldestFirst] {
        let mut req = ListRequest { scope: Some(scope("acme", "")), order: order as i32, page_size: 97, ..Default::default() };
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let r = c.memory.list(req.clone()).await.unwrap().into_inner();
            assert!(r.cubes.len() <= 97);
            seen.extend(r.cubes.into_iter().map(|c| c.id));
            pages += 1;
            // Writes between pages must not shift the pages (cursor = last id, not an offset).
            if pages == 3 {
                put_text(&mut c, scope("acme", "carol"), "written while paging").await;
            }
            if r.next_page_token.is_empty() {
                break;
            }
            req.page_token = r.next_page_token;
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no duplicates ({order:?})");
        for id in &all_ids {
            assert!(unique.contains(id), "{id} missing ({order:?})");
        }
        let mut sorted = seen.clone();
        sorted.sort();
        if order == ListOrder::NewestFirst {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "ids in {order:?} order");
    }

    let alice = list_all(&mut c, ListRequest { scope: Some(scope("acme", "alice")), page_size: 100, ..Default::default() }).await;
    let mut got: Vec<_> = alice.iter().map(|c| c.id.clone()).collect();
    got.sort();
    alice_ids.sort();
    assert_eq!(got, alice_ids, "a user's scope lists exactly that user's cubes");
}

#[tokio::test]
async fn retried_writes_with_the_same_request_id_write_once() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let req = PutRequest { cube: Some(text_cube(scope("acme", "dora"), "likes jazz")), request_id: "req-42".into(), ..Default::default() };
    let first = c.memory.put(req.clone()).await.unwrap().into_inner();
    let rev_after_first = applied(&mut c).await;
    let again = c.memory.put(req.clone()).await.unwrap().into_inner();
    assert!(!first.deduplicated);
    assert!(again.deduplicated);
    assert_eq!(again.cube, first.cube, "the retry returns the original result");
    assert_eq!(again.revision, first.revision);
    assert_eq!(applied(&mut c).await, rev_after_first, "a remembered retry proposes nothing");

    // Concurrent retries racing through Raft: still exactly one cube.
    let race_req = PutRequest { cube: Some(text_cube(scope("acme", "erin"), "likes tea")), request_id: "req-race".into(), ..Default::default() };
    let results = futures::future::join_all((0..16).map(|_| {
        let mut c = c.clone();
        let r = race_req.clone();
        async move { c.memory.put(r).await.unwrap().into_inner() }
    }))
    .await;
    let ids: HashSet<_> = results.iter().map(|r| r.cube.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids.len(), 1, "every retry got the same cube");
    assert_eq!(results.iter().filter(|r| !r.deduplicated).count(), 1, "exactly one original");
    let erin = list_all(&mut c, ListRequest { scope: Some(scope("acme", "erin")), ..Default::default() }).await;
    assert_eq!(erin.len(), 1);

    // Same id, different request: refused, nothing written.
    let mut other = req.clone();
    other.cube.as_mut().unwrap().content.as_mut().unwrap().text = "likes rock".into();
    let e = c.memory.put(other).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("req-42"), "{}", e.message());
    let dora = list_all(&mut c, ListRequest { scope: Some(scope("acme", "dora")), ..Default::default() }).await;
    assert_eq!(dora.len(), 1);

    // Request ids are per tenant: the same id in another tenant is a different write.
    let mut other_tenant = req.clone();
    other_tenant.cube.as_mut().unwrap().scope = Some(scope("globex", "dora"));
    let o = c.memory.put(other_tenant).await.unwrap().into_inner();
    assert!(!o.deduplicated);

    // An update retried applies once: version goes 1 → 2, not 3.
    let id = first.cube.unwrap().id;
    let up = UpdateRequest { id: id.clone(), importance: Some(0.9), request_id: "upd-1".into(), ..Default::default() };
    let u1 = c.memory.update(up.clone()).await.unwrap().into_inner();
    let u2 = c.memory.update(up).await.unwrap().into_inner();
    assert_eq!(u1.cube.as_ref().unwrap().version, 2);
    assert_eq!(u2.cube.as_ref().unwrap().version, 2);
    assert!(u2.deduplicated);
    let h = c.memory.history(HistoryRequest { id, ..Default::default() }).await.unwrap().into_inner().versions;
    assert_eq!(h.len(), 2);

    // A batch retried is one batch.
    let batch = PutBatchRequest {
        cubes: (0..5).map(|i| text_cube(scope("acme", "fred"), &format!("b{i}"))).collect(),
        request_id: "batch-1".into(),
        ..Default::default()
    };
    let b1 = c.memory.put_batch(batch.clone()).await.unwrap().into_inner();
    let b2 = c.memory.put_batch(batch).await.unwrap().into_inner();
    assert_eq!(b1.cubes, b2.cubes);
    assert!(b2.deduplicated);
    let fred = list_all(&mut c, ListRequest { scope: Some(scope("acme", "fred")), ..Default::default() }).await;
    assert_eq!(fred.len(), 5);
}

#[tokio::test]
async fn expected_version_mismatch_is_aborted_and_changes_nothing() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let v1 = put_text(&mut c, scope("acme", "gil"), "v1").await;
    let ok = c
        .memory
        .update(UpdateRequest { id: v1.id.clone(), expected_version: 1, importance: Some(0.1), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.cube.unwrap().version, 2);
    let stale = UpdateRequest { id: v1.id.clone(), expected_version: 1, importance: Some(0.2), ..Default::default() };
    let e = c.memory.update(stale).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert!(e.message().contains("expected version 1") && e.message().contains("current version is 2"), "{}", e.message());
    let e = c.memory.delete(DeleteRequest { id: v1.id.clone(), expected_version: 1, ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    let cur = c.memory.get(GetRequest { id: v1.id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap();
    assert_eq!((cur.version, cur.importance, cur.state), (2, 0.1, CubeState::Active as i32));
}

#[tokio::test]
async fn purge_scope_forgets_one_user_and_nobody_else() {
    let node = TestNode::start();
    let mut c = node.client().await;
    for i in 0..30 {
        put_text(&mut c, scope("acme", if i % 2 == 0 { "hana" } else { "ivan" }), &format!("m{i}")).await;
    }
    put_text(&mut c, scope("acme2", "hana"), "other tenant, same user id").await;
    let p = c
        .memory
        .purge(PurgeRequest { target: Some(purge_request::Target::Scope(scope("acme", "hana"))), request_id: "forget-hana".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.purged, 15);
    let all = |s| ListRequest { scope: Some(s), states: vec![1, 2, 3], ..Default::default() };
    assert!(list_all(&mut c, all(scope("acme", "hana"))).await.is_empty());
    assert_eq!(list_all(&mut c, all(scope("acme", "ivan"))).await.len(), 15);
    assert_eq!(list_all(&mut c, all(scope("acme2", "hana"))).await.len(), 1);
    assert_eq!(list_all(&mut c, all(scope("acme", ""))).await.len(), 15, "tenant index is purged too");
}

#[tokio::test]
async fn record_access_counts_reads_without_a_new_version() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let v1 = put_text(&mut c, scope("acme", "jo"), "x").await;
    for _ in 0..3 {
        c.memory.get(GetRequest { id: v1.id.clone(), record_access: true, ..Default::default() }).await.unwrap();
    }
    let cur = c.memory.get(GetRequest { id: v1.id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap();
    assert_eq!(cur.usage.unwrap().access_count, 3);
    assert!(cur.usage.unwrap().last_accessed_at_ms >= v1.created_at_ms);
    assert_eq!(cur.version, 1);
}
