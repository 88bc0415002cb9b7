//! Slow disks (`Durable::slow_fsyncs`: every fsync of a node's log takes longer, as on a failing
//! or throttled disk). Checked: a slow follower holds no write back and starts no election; a
//! slow leader slows writes but loses none and is not replaced; every replica ends identical.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use memmesh_proto::*;

/// Every node's view of the cluster's cubes: id → (version, text), read from its own replica.
async fn replica(c: &InProc, i: usize, min_revision: u64) -> BTreeMap<String, (u64, String)> {
    let read = Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, min_revision });
    let req = ListRequest { scope: Some(Scope { tenant: "acme".into(), ..Default::default() }), page_size: 1000, read, ..Default::default() };
    let cubes = c.client(i).await.list(req).await.unwrap().into_inner().cubes;
    cubes.into_iter().map(|c| (c.id, (c.version, c.content.unwrap_or_default().text))).collect()
}

/// A follower whose fsyncs take a second each (longer than the election timeout of 300–600 ms):
/// the leader commits with the other follower, so every write is acknowledged while the slow
/// one is still behind; the slow one starts no election (the heartbeats that queued up while
/// its disk was busy count when it gets to them); once the disk recovers it catches up exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_follower_disk_holds_no_write_back_and_starts_no_election() {
    let c = InProc::start(3).await;
    let l = c.leader().unwrap();
    let slow = (l + 1) % 3;
    let terms: Vec<u64> = (0..3).map(|i| c.term(i)).collect();
    c.nodes[slow].core.durable.slow_fsyncs(Duration::from_millis(1000));
    let mut m = c.client(l).await;
    let mut acked = Vec::new();
    for i in 0..40 {
        acked.push(m.put(put_req(&format!("slow follower {i}"), &format!("sf-{i}"))).await.expect("acknowledged").into_inner());
    }
    let last = acked.last().unwrap().revision;
    assert!(c.applied(slow) < last, "the slow follower kept up (applied {}, last {last}): its disk did not slow it", c.applied(slow));
    assert_eq!(c.leader(), Some(l), "the leader changed");
    c.nodes[slow].core.durable.slow_fsyncs(Duration::ZERO);
    c.wait(|c| c.applied_everywhere() && c.applied(slow) >= last, "the slow follower catches up").await;
    assert_eq!((0..3).map(|i| c.term(i)).collect::<Vec<_>>(), terms, "an election happened");
    let reference = replica(&c, l, last).await;
    assert_eq!(reference.len(), 40);
    for w in &acked {
        assert!(reference.contains_key(&w.cube.as_ref().unwrap().id), "an acknowledged write is missing");
    }
    for i in 0..3 {
        assert_eq!(replica(&c, i, last).await, reference, "node {i} differs");
    }
}

/// A leader whose fsyncs take a second each: writes wait for its disk (a write is acknowledged
/// only once the leader's own log holds it), concurrent ones share fsyncs, none is lost or
/// written twice (retries carry their request id), and the leader keeps its place — its
/// heartbeats do not wait for its disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_leader_disk_slows_writes_but_loses_none_and_keeps_its_leader() {
    let c = InProc::start(3).await;
    let l = c.leader().unwrap();
    let terms: Vec<u64> = (0..3).map(|i| c.term(i)).collect();
    c.nodes[l].core.durable.slow_fsyncs(Duration::from_millis(1000));
    let before = c.applied(l);
    let mut writers = Vec::new();
    for i in 0..20 {
        let mut m = c.client(l).await;
        // As a client should: a write not committed within the request timeout (1.5 s here,
        // shorter than two slow fsyncs) is retried with the same request id.
        writers.push(tokio::spawn(async move {
            let req = put_req(&format!("slow leader {i}"), &format!("sl-{i}"));
            loop {
                match m.put(req.clone()).await {
                    Err(s) if s.code() == tonic::Code::Unavailable => continue,
                    other => return other,
                }
            }
        }));
    }
    // While the first fsync runs, nothing is applied anywhere: nothing is acknowledged early.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!((0..3).all(|i| c.applied(i) == before), "applied before the leader's slow fsync finished");
    let mut acked = Vec::new();
    for w in writers {
        acked.push(w.await.unwrap().expect("acknowledged").into_inner());
    }
    let fsyncs: std::collections::BTreeSet<u64> = acked.iter().map(|w| w.revision).collect();
    assert!(fsyncs.len() < 20, "20 concurrent writes took 20 entries: they did not share fsyncs");
    c.nodes[l].core.durable.slow_fsyncs(Duration::ZERO);
    let last = *fsyncs.iter().max().unwrap();
    c.wait(|c| c.applied_everywhere() && c.applied(l) >= last, "every replica applied").await;
    assert_eq!(c.leader(), Some(l), "the leader changed");
    assert_eq!((0..3).map(|i| c.term(i)).collect::<Vec<_>>(), terms, "an election happened");
    let reference = replica(&c, l, last).await;
    assert_eq!(reference.len(), 20, "an acknowledged write is missing");
    for i in 0..3 {
        assert_eq!(replica(&c, i, last).await, reference, "node {i} differs");
    }
}
