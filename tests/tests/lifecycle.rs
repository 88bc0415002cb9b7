//! Expiry against real node processes: an expired cube leaves every read at once, before the
//! sweep; the leader's sweep makes it EXPIRED with one event; a leader killed in the middle of
//! sweeping 10,000 cubes expires each exactly once; pinned cubes stay; an expired cube comes back
//! only with a new TTL.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use memmesh_client::Client;
use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

const NO_SWEEP: &[(&str, &str)] = &[("MEMMESH__LIFECYCLE__SWEEP_INTERVAL_MS", "3600000")];

fn ttl_cube(user: &str, text: &str, ttl: u64) -> CubeInput {
    CubeInput { ttl_seconds: ttl, ..text_cube(scope("acme", user), text) }
}

async fn put(c: &mut Client, cube: CubeInput) -> MemCube {
    c.memory.put(PutRequest { cube: Some(cube), ..Default::default() }).await.unwrap().into_inner().cube.unwrap()
}

async fn listed(c: &mut Client, user: &str, states: Vec<i32>) -> Vec<MemCube> {
    list_all(c, ListRequest { scope: Some(scope("acme", user)), states, ..Default::default() }).await
}

/// The EXPIRED events of tenant acme from revision 1 up to `until`, per cube id.
async fn expired_events(c: &mut Client, until: u64) -> HashMap<String, usize> {
    let req = SubscribeRequest {
        scope: Some(scope("acme", "")),
        event_types: vec![EventType::Expired as i32],
        start_revision: 1,
        progress_notify_ms: 100,
        ..Default::default()
    };
    let mut feed = c.memstore.subscribe(req).await.unwrap().into_inner();
    let mut seen = HashMap::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), feed.message()).await.expect("feed stalled").unwrap().expect("open");
        let at = match msg.kind {
            Some(subscribe_response::Kind::Events(b)) => {
                for e in &b.events {
                    *seen.entry(e.cube.as_ref().unwrap().id.clone()).or_insert(0) += 1;
                }
                b.revision
            }
            Some(subscribe_response::Kind::Progress(p)) => p.revision,
            None => 0,
        };
        if at >= until {
            return seen;
        }
    }
}

#[tokio::test]
async fn an_expired_cube_leaves_every_read_at_once_even_before_the_sweep() {
    let node = TestNode::start_with_env(NO_SWEEP);
    let mut c = node.client().await;
    let short = put(&mut c, ttl_cube("u", "the door code is 4711", 1)).await;
    let pinned = put(&mut c, CubeInput { pinned: true, ..ttl_cube("u", "the wifi code is 1234", 1) }).await;
    let forever = put(&mut c, ttl_cube("u", "the bike code is 9999", 0)).await;
    assert_eq!(c.memory.get(GetRequest { id: short.id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap().id, short.id);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let gone = c.memory.get(GetRequest { id: short.id.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "Get hides it from its expiry on");
    let ids: Vec<String> = listed(&mut c, "u", vec![]).await.into_iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&pinned.id) && ids.contains(&forever.id), "pinned and TTL-less cubes stay");
    let q = SearchRequest { query: "code".into(), scope: Some(scope("acme", "u")), mode: SearchMode::Lexical as i32, ..Default::default() };
    let hits: Vec<String> = c.memory.search(q).await.unwrap().into_inner().hits.into_iter().map(|h| h.cube.unwrap().id).collect();
    assert!(!hits.contains(&short.id) && hits.len() == 2, "{hits:?}");
    // Asked for, it shows as EXPIRED — though the sweep (off here) has not stored it so yet.
    let expired = listed(&mut c, "u", vec![CubeState::Expired as i32]).await;
    assert_eq!(expired.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![short.id.clone()]);
    assert_eq!(expired[0].state, CubeState::Active as i32, "not swept yet");
    // A new subscription's catch-up does not replay how it was written.
    let until = applied(&mut c).await;
    let req = SubscribeRequest { scope: Some(scope("acme", "u")), start_revision: 1, progress_notify_ms: 50, ..Default::default() };
    let mut feed = c.memstore.subscribe(req).await.unwrap().into_inner();
    let mut replayed = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), feed.message()).await.unwrap().unwrap().unwrap();
        let at = match msg.kind {
            Some(subscribe_response::Kind::Events(b)) => {
                replayed.extend(b.events.into_iter().map(|e| e.cube.unwrap().id));
                b.revision
            }
            Some(subscribe_response::Kind::Progress(p)) => p.revision,
            None => 0,
        };
        if at >= until {
            break;
        }
    }
    assert!(!replayed.contains(&short.id) && replayed.contains(&forever.id), "{replayed:?}");
    // Its history is still there.
    let h = c.memory.history(HistoryRequest { id: short.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(h.versions.len(), 1);
    // Extending the TTL brings it back; an edit without one is refused.
    let edit = UpdateRequest { id: short.id.clone(), importance: Some(0.5), ..Default::default() };
    assert_eq!(c.memory.update(edit).await.unwrap_err().code(), Code::FailedPrecondition);
    let extend = UpdateRequest { id: short.id.clone(), ttl_seconds: Some(3600), ..Default::default() };
    c.memory.update(extend).await.unwrap();
    assert!(c.memory.get(GetRequest { id: short.id.clone(), ..Default::default() }).await.is_ok());
}

#[tokio::test]
async fn the_sweep_makes_each_expired_cube_expired_once_within_its_lag() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let batch: Vec<CubeInput> = (0..200).map(|i| ttl_cube("s", &format!("fact {i}"), 1)).collect();
    let w = c.memory.put_batch(PutBatchRequest { cubes: batch, ..Default::default() }).await.unwrap().into_inner();
    let expires_at = w.cubes[0].expires_at_ms;
    let start = Instant::now();
    loop {
        let swept = listed(&mut c, "s", vec![CubeState::Expired as i32]).await;
        if swept.iter().filter(|c| c.state == CubeState::Expired as i32).count() == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "not swept within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lag = model_now() - expires_at;
    eprintln!("200 cubes swept {lag} ms after their expiry");
    let until = applied(&mut c).await;
    let events = expired_events(&mut c, until).await;
    assert_eq!(events.len(), 200);
    assert!(events.values().all(|n| *n == 1), "one EXPIRED event per cube");
    // Restoring needs a new TTL.
    let id = w.cubes[0].id.clone();
    let s = c.memory.restore(RestoreRequest { id: id.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(s.message().contains("ttl_seconds"), "{s:?}");
    let back = c.memory.restore(RestoreRequest { id: id.clone(), ttl_seconds: Some(0), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!((back.cube.as_ref().unwrap().state, back.cube.unwrap().expires_at_ms), (CubeState::Active as i32, 0));
}

/// `list_all`, retried while the cluster has no leader yet (UNAVAILABLE).
async fn list_settled(c: &mut Client, q: ListRequest) -> Vec<MemCube> {
    let start = Instant::now();
    while let Err(s) = c.memory.list(ListRequest { page_size: 1, ..q.clone() }).await {
        assert!(s.code() == Code::Unavailable && start.elapsed() < Duration::from_secs(20), "{s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    list_all(c, q).await
}

fn model_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn a_leader_killed_mid_sweep_of_10000_cubes_leaves_each_expired_exactly_once() {
    let mut cl = TestCluster::start(3, &[("MEMMESH__LIFECYCLE__SWEEP_BATCH", "200")]).await;
    let leader = cl.leader().await;
    let mut c = cl.client(leader).await;
    // TTLs of 2 to 5 s by batch: the expiries come in waves over three seconds, so a kill at the
    // first wave lands in the middle of the sweep however fast the writes were.
    for b in 0..10u64 {
        let cubes: Vec<CubeInput> = (0..1000).map(|i| ttl_cube(&format!("u{b}"), &format!("fact {b}-{i}"), 2 + b / 3)).collect();
        c.memory.put_batch(PutBatchRequest { cubes, request_id: format!("load-{b}"), ..Default::default() }).await.unwrap();
    }
    // Kill the leader as soon as the sweep has begun.
    let watch = (leader + 1) % 3;
    let mut w = cl.client(watch).await;
    let q = ListRequest {
        scope: Some(scope("acme", "")),
        states: vec![CubeState::Expired as i32],
        page_size: 1000,
        // The first page holds the first wave.
        order: ListOrder::OldestFirst as i32,
        read: Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, ..Default::default() }),
        ..Default::default()
    };
    let start = Instant::now();
    loop {
        let page = w.memory.list(q.clone()).await.unwrap().into_inner().cubes;
        if page.iter().any(|c| c.state == CubeState::Expired as i32) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the sweep never began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cl.kill9(leader);
    let at_kill = list_all(&mut w, q.clone()).await.iter().filter(|c| c.state == CubeState::Expired as i32).count();
    eprintln!("{at_kill} of 10,000 cubes expired when the leader was killed");
    assert!(at_kill < 10_000, "the kill must land in the middle of the sweep");

    // The next leader finishes the sweep.
    let start = Instant::now();
    let serializable = Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, ..Default::default() });
    let all = loop {
        let q = ListRequest { scope: Some(scope("acme", "")), states: vec![CubeState::Expired as i32], read: serializable, ..Default::default() };
        let all = list_all(&mut w, q).await;
        let swept = all.iter().filter(|c| c.state == CubeState::Expired as i32).count();
        if swept == 10_000 {
            break all;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{swept} of 10,000 swept after 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(all.iter().all(|c| c.version == 2), "each cube changed exactly once (written, then expired)");
    let until = applied(&mut w).await;
    let events = expired_events(&mut w, until).await;
    assert_eq!(events.len(), 10_000);
    assert!(events.values().all(|n| *n == 1), "exactly one EXPIRED event per cube");
    let other = cl.live().into_iter().find(|i| *i != watch).unwrap();
    let mut o = cl.client(other).await;
    let q = ListRequest { scope: Some(scope("acme", "")), states: vec![CubeState::Expired as i32], ..Default::default() };
    let theirs = list_settled(&mut o, q.clone()).await;
    assert_eq!(theirs, all, "survivors identical");
    assert_eq!(list_settled(&mut w, q).await, all);
}
