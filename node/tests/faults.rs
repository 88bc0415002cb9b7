//! In-process clusters with a fault-injecting transport: three `Node`s in one test process,
//! whose node-to-node traffic is blocked, dropped or delayed through each node's `Faults` rules.
//! Checked: elections, no split brain, no acknowledged write lost, the minority side refuses
//! writes, and a healed node catches up.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use memmesh_proto::*;
use openraft::ServerState;

async fn read_at(c: &InProc, i: usize, id: &str, min_revision: u64) -> MemCube {
    let read = Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, min_revision });
    c.client(i).await.get(GetRequest { id: id.into(), read, ..Default::default() }).await.unwrap().into_inner().cube.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_follower_misses_nothing_once_healed() {
    let c = InProc::start(3).await;
    let l = c.leader().unwrap();
    let f = (l + 1) % 3;
    c.isolate(f, true);
    let before = c.applied(f);
    let mut acked = Vec::new();
    for k in 0..30 {
        acked.push(
            put_any(&c, &[l], put_req(&format!("p{k}"), &format!("p{k}")), Duration::from_secs(5)).await.expect("the majority commits").cube.unwrap(),
        );
    }
    assert_eq!(c.applied(f), before, "the partitioned follower received nothing");
    c.heal();
    let last = acked.last().unwrap().revision;
    for cube in &acked {
        assert_eq!(&read_at(&c, f, &cube.id, last).await, cube);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_cannot_commit_and_the_majority_elects_a_new_one() {
    let c = InProc::start(3).await;
    let old = c.leader().unwrap();
    let old_term = c.term(old);
    c.isolate(old, true);
    // The minority side refuses: the old leader cannot reach a quorum.
    let t = Instant::now();
    let e = c.client(old).await.put(put_req("on the minority side", "minority-1")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{}", e.message());
    assert!(t.elapsed() < Duration::from_secs(5));
    // The majority elects a new leader in a higher term and commits.
    let majority: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    c.wait(|c| majority.iter().any(|i| c.nodes[*i].core.raft.metrics().borrow().state == ServerState::Leader), "a new leader").await;
    let new = *majority.iter().find(|i| c.nodes[**i].core.raft.metrics().borrow().state == ServerState::Leader).unwrap();
    assert!(c.term(new) > old_term);
    let w = put_any(&c, &majority, put_req("on the majority side", "majority-1"), Duration::from_secs(5)).await.expect("majority commits");
    // Heal: one leader remains, and the old leader's unreplicated entry is discarded.
    c.heal();
    c.wait(
        |c| c.leader().is_some() && c.applied_everywhere() && c.nodes[old].core.raft.metrics().borrow().state != ServerState::Leader,
        "one leader after healing",
    )
    .await;
    let rev = w.revision;
    for i in 0..3 {
        assert_eq!(read_at(&c, i, &w.cube.as_ref().unwrap().id, rev).await.content.unwrap().text, "on the majority side");
        let list = c
            .client(i)
            .await
            .list(ListRequest {
                scope: Some(Scope { tenant: "acme".into(), ..Default::default() }),
                read: Some(ReadOptions { consistency: 2, min_revision: rev }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let texts: Vec<String> = list.cubes.iter().map(|c| c.content.as_ref().unwrap().text.clone()).collect();
        assert_eq!(texts, vec!["on the majority side"], "node {i}: the minority write never committed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_slow_links_lose_no_acknowledged_write_and_duplicate_none() {
    let c = Arc::new(InProc::start(3).await);
    for n in &c.nodes {
        n.core.faults.set_lossy(200, Duration::from_millis(2));
    }
    // Write until 40 acknowledgements (or a deadline): lost heartbeats cause elections, so the
    // pace varies; what must hold is that no acknowledged write is lost or duplicated.
    let total = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..4usize {
        let (c, total) = (c.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let t = Instant::now();
            let mut k = 0;
            while t.elapsed() < Duration::from_secs(15) && total.load(std::sync::atomic::Ordering::Relaxed) < 40 {
                let order = [w % 3, (w + 1) % 3, (w + 2) % 3];
                if let Some(r) = put_any(&c, &order, put_req(&format!("w{w} k{k}"), &format!("l{w}-{k}")), Duration::from_secs(10)).await {
                    acked.push(r.cube.unwrap());
                    total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                k += 1;
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(acked.len() >= 10, "progress despite 20% loss ({} acks)", acked.len());
    c.heal();
    let last = acked.iter().map(|c| c.revision).max().unwrap();
    for i in 0..3 {
        for cube in &acked {
            assert_eq!(&read_at(&c, i, &cube.id, last).await, cube, "node {i}");
        }
        let list = c
            .client(i)
            .await
            .list(ListRequest {
                scope: Some(Scope { tenant: "acme".into(), ..Default::default() }),
                page_size: 1000,
                read: Some(ReadOptions { consistency: 2, min_revision: last }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut per_request: HashMap<String, usize> = HashMap::new();
        for cube in &list.cubes {
            *per_request.entry(cube.provenance.as_ref().unwrap().request_id.clone()).or_default() += 1;
        }
        assert!(per_request.values().all(|n| *n == 1), "node {i}: a retried request produced two cubes");
    }
}

/// The leader's own log is fsynced in parallel with replication (see `raft::durable`); this
/// checks the rule that makes that safe: with the leader's fsync held back, followers hold the
/// new entry on disk, yet the leader counts neither follower's acknowledgement of it, commits
/// nothing and answers no client — until its own disk has the entry.
#[tokio::test]
async fn a_leader_counts_no_acknowledgement_before_its_own_fsync() {
    let c = InProc::start(3).await;
    let l = c.leader().unwrap();
    let leader = c.nodes[l].core.clone();
    let last = || leader.raft.metrics().borrow().last_log_index.unwrap_or(0);
    // Quiet first (the last membership change applied everywhere), so the next entry is ours.
    c.wait(|c| (0..3).all(|i| c.applied(i) == last()), "everything applied").await;
    let before = last();
    leader.durable.hold_flushes(true);
    let mut m = c.client(l).await;
    let write = tokio::spawn(async move { m.put(put_req("held back", "held-1")).await });
    c.wait(
        |c| last() > before && (0..3).all(|i| c.nodes[i].core.raft.metrics().borrow().last_log_index.unwrap_or(0) >= last()),
        "every follower holds the new entry",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The leader's own entry is in the map at once: its append was reported before the fsync.
    let progress = leader.raft.metrics().borrow().replication.clone().unwrap();
    assert_eq!(progress[&leader.id].map(|m| m.index), Some(last()));
    let matched: Vec<u64> = progress.iter().filter(|(id, _)| **id != leader.id).map(|(_, m)| m.map_or(0, |m| m.index)).collect();
    assert!(
        matched.len() == 2 && matched.iter().all(|m| *m < last()),
        "a follower's acknowledgement was counted before the leader's fsync: {matched:?} vs {}",
        last()
    );
    assert!(!write.is_finished(), "the write was answered before the leader's fsync");
    assert!((0..3).all(|i| c.applied(i) == before), "something was applied before the leader's fsync");
    leader.durable.hold_flushes(false);
    let ack = tokio::time::timeout(Duration::from_secs(5), write).await.expect("answered once released").unwrap().expect("acknowledged");
    assert_eq!(ack.into_inner().revision, before + 1);
}

/// A single voter commits on its own report alone, so there the state machine is what waits:
/// nothing is applied, and no client answered, before the entry is on disk.
#[tokio::test]
async fn a_single_voter_answers_no_write_before_its_fsync() {
    let c = InProc::start(1).await;
    let node = c.nodes[0].core.clone();
    let applied = c.applied(0);
    node.durable.hold_flushes(true);
    let mut m = c.client(0).await;
    let write = tokio::spawn(async move { m.put(put_req("held back", "held-solo")).await });
    c.wait(|_| node.raft.metrics().borrow().last_log_index.unwrap_or(0) > applied, "the entry is appended").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!write.is_finished(), "the write was answered before its fsync");
    assert_eq!(c.applied(0), applied, "applied before its fsync");
    node.durable.hold_flushes(false);
    let ack = tokio::time::timeout(Duration::from_secs(5), write).await.expect("answered once released").unwrap().expect("acknowledged");
    assert!(ack.into_inner().revision > applied);
}
