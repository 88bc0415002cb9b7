//! Multi-process clusters of real `memmesh-node` binaries on loopback: replication, forwarded
//! writes, linearizable reads on every node, leader failure under load, quorum loss, and
//! membership changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memmesh_client::Client;
use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

fn serializable_at(revision: u64) -> Option<ReadOptions> {
    Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, min_revision: revision })
}

/// Reads a cube. UNAVAILABLE is retried for a while, as a client would: right after a leader
/// change, a linearizable read may find the new leader unable to confirm its leadership for a
/// moment (a follower still catching up with the new term).
async fn get(c: &mut Client, id: &str, read: Option<ReadOptions>) -> Result<MemCube, tonic::Status> {
    let t = Instant::now();
    loop {
        match c.memory.get(GetRequest { id: id.into(), read, ..Default::default() }).await {
            Ok(r) => return Ok(r.into_inner().cube.unwrap()),
            Err(e) if e.code() == tonic::Code::Unavailable && t.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends `req` to node `first`, then to the others in turn, until one acknowledges it (the
/// request id makes the retries safe) or `deadline` passes.
async fn put_anywhere(cl_addrs: &[String], first: usize, req: PutRequest, deadline: Duration) -> Option<WriteResponse> {
    let t = Instant::now();
    let mut i = first;
    while t.elapsed() < deadline {
        if let Ok(mut c) = Client::connect(&cl_addrs[i % cl_addrs.len()]).await {
            if let Ok(r) = c.memory.put(req.clone()).await {
                return Some(r.into_inner());
            }
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn three_nodes_accept_writes_anywhere_and_every_node_reads_them_linearizably() {
    let cl = TestCluster::start(3, &[]).await;
    let leader = cl.leader().await;
    let mut written = Vec::new();
    for i in 0..3 {
        let mut c = cl.client(i).await;
        for k in 0..10 {
            let req = PutRequest {
                cube: Some(text_cube(scope("acme", &format!("via{i}")), &format!("n{i} k{k}"))),
                request_id: format!("n{i}-{k}"),
                ..Default::default()
            };
            let w = c.memory.put(req).await.unwrap_or_else(|e| panic!("write via node {i} (leader is {leader}): {e}")).into_inner();
            written.push(w.cube.unwrap());
        }
    }
    // Linearizable (the default) on every node: each sees every acknowledged write at once.
    for i in 0..3 {
        let mut c = cl.client(i).await;
        for cube in &written {
            assert_eq!(&get(&mut c, &cube.id, None).await.unwrap(), cube, "node {i}");
        }
        let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "")), ..Default::default() }).await;
        assert_eq!(listed.len(), 30, "node {i}");
    }
    // A retry through another node is still deduplicated.
    let mut c = cl.client((leader + 1) % 3).await;
    let again = PutRequest { cube: Some(text_cube(scope("acme", "via0"), "n0 k0")), request_id: "n0-0".into(), ..Default::default() };
    let r = c.memory.put(again).await.unwrap().into_inner();
    assert!(r.deduplicated);
    assert_eq!(r.cube.unwrap().id, written[0].id);
    // Followers know the leader and report the same membership.
    for i in 0..3 {
        let s = cl.status(i).await.unwrap();
        assert_eq!(s.leader_id, cl.id(leader));
        assert_eq!(s.members.iter().filter(|m| m.role == "voter").count(), 3);
    }
}

#[tokio::test]
async fn killing_the_leader_under_8_writers_loses_no_acknowledged_write() {
    let mut cl = TestCluster::start(3, &[("MEMMESH__RAFT__REQUEST_TIMEOUT_MS", "2000")]).await;
    let addrs = cl.addrs.clone();
    let acked: Arc<Mutex<Vec<(MemCube, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (acked, stop, addrs) = (acked.clone(), stop.clone(), addrs.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let req = PutRequest {
                    cube: Some(text_cube(scope("acme", &format!("w{w}")), &format!("w{w} item {i}"))),
                    request_id: format!("w{w}-{i}"),
                    ..Default::default()
                };
                if let Some(r) = put_anywhere(&addrs, w, req, Duration::from_secs(15)).await {
                    acked.lock().unwrap().push((r.cube.unwrap(), Instant::now()));
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let old = cl.leader().await;
    let killed_at = Instant::now();
    cl.kill9(old);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.iter().any(|(_, t)| *t < killed_at), "writes before the kill");
    assert!(acked.iter().any(|(_, t)| *t > killed_at + Duration::from_millis(200)), "writes acknowledged after the kill: a new leader took over");
    let new = cl.leader().await;
    assert_ne!(new, old);

    for i in cl.live() {
        let mut c = cl.client(i).await;
        for (cube, _) in &acked {
            assert_eq!(&get(&mut c, &cube.id, None).await.unwrap_or_else(|e| panic!("node {i} lost {}: {e}", cube.id)), cube);
        }
    }
    // Nothing is half-applied: whatever is there (acknowledged or not) is a whole cube, once.
    let mut c = cl.client(new).await;
    let all = list_all(&mut c, ListRequest { scope: Some(scope("acme", "")), ..Default::default() }).await;
    let mut per_request: HashMap<String, usize> = HashMap::new();
    for cube in &all {
        assert!(text_of(cube).contains(" item "));
        *per_request.entry(cube.provenance.as_ref().unwrap().request_id.clone()).or_default() += 1;
    }
    assert!(per_request.values().all(|n| *n == 1), "a retried request never produced two cubes");

    // The old leader comes back and catches up.
    cl.restart(old);
    let last = acked.iter().map(|(c, _)| c.revision).max().unwrap();
    let mut c = cl.client(old).await;
    for (cube, _) in &acked {
        assert_eq!(&get(&mut c, &cube.id, serializable_at(last)).await.unwrap(), cube);
    }
}

#[tokio::test]
async fn five_nodes_serve_writes_with_two_down_and_refuse_them_with_three_down() {
    let mut cl = TestCluster::start(5, &[("MEMMESH__RAFT__REQUEST_TIMEOUT_MS", "1500")]).await;
    let leader = cl.leader().await;
    // Take down the leader and one follower.
    cl.kill9(leader);
    cl.kill9((leader + 1) % 5);
    let live = cl.live();
    let req = PutRequest { cube: Some(text_cube(scope("acme", "five"), "still writable")), request_id: "five-1".into(), ..Default::default() };
    let w = put_anywhere(&cl.addrs, live[0], req, Duration::from_secs(20)).await.expect("3 of 5 is a majority");
    for i in cl.live() {
        let mut c = cl.client(i).await;
        assert_eq!(text_of(&get(&mut c, &w.cube.as_ref().unwrap().id, None).await.unwrap()), "still writable");
    }
    // A third failure leaves a minority: writes and linearizable reads are refused, not hung.
    let third = cl.live()[0];
    cl.kill9(third);
    for i in cl.live() {
        let mut c = cl.client(i).await;
        let req = PutRequest { cube: Some(text_cube(scope("acme", "five"), "minority")), request_id: format!("minority-{i}"), ..Default::default() };
        let t = Instant::now();
        let e = c.memory.put(req).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
        assert!(t.elapsed() < Duration::from_secs(10), "refused within the request timeout");
        let e = c.memory.get(GetRequest { id: w.cube.as_ref().unwrap().id.clone(), ..Default::default() }).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        // A serializable read of this replica still works.
        let got = get(&mut c, &w.cube.as_ref().unwrap().id, serializable_at(0)).await.unwrap();
        assert_eq!(text_of(&got), "still writable");
    }
}

#[tokio::test]
async fn membership_grows_1_3_5_shrinks_to_3_and_replaces_a_node_without_losing_data() {
    let mut cl = TestCluster::start(1, &[]).await;
    let mut c = cl.client(0).await;
    let mut cubes = Vec::new();
    let write = |c: &mut Client, n: usize, tag: &str| {
        let reqs: Vec<PutRequest> = (0..n)
            .map(|k| PutRequest { cube: Some(text_cube(scope("acme", "m"), &format!("{tag} {k}"))), request_id: String::new(), ..Default::default() })
            .collect();
        let mut c = c.clone();
        async move {
            let mut out = Vec::new();
            for r in reqs {
                out.push(c.memory.put(r).await.unwrap().into_inner().cube.unwrap());
            }
            out
        }
    };
    cubes.extend(write(&mut c, 30, "one").await);
    for _ in 0..2 {
        cl.add_node(false).await;
    }
    cl.wait_voters(3).await;
    cubes.extend(write(&mut c, 30, "three").await);
    for _ in 0..2 {
        cl.add_node(false).await;
    }
    cl.wait_voters(5).await;
    cubes.extend(write(&mut c, 30, "five").await);

    // Shrink to 3: remove nodes 3 and 4, through the leader, then stop them.
    let leader = cl.leader().await;
    let mut lc = cl.client(leader).await;
    for i in [3, 4] {
        lc.cluster.remove_member(MemberRequest { node_id: cl.id(i) }).await.unwrap();
        cl.kill9(i);
    }
    cl.wait_voters(3).await;
    // Replace a follower by a fresh machine: remove it, start a new node (new data dir = new id).
    let leader = cl.leader().await;
    let mut lc = cl.client(leader).await;
    let victim = cl.live().into_iter().find(|i| *i != leader).unwrap();
    let old_id = cl.id(victim);
    lc.cluster.remove_member(MemberRequest { node_id: old_id }).await.unwrap();
    cl.kill9(victim);
    let fresh = cl.add_node(false).await;
    assert_ne!(cl.id(fresh), old_id, "a wiped machine is a new node");
    cl.wait_voters(3).await;
    let mut c = cl.client(cl.leader().await).await;
    cubes.extend(write(&mut c, 30, "replaced").await);

    // The removed id is never accepted again.
    let e = lc.cluster.add_member(AddMemberRequest { node_id: old_id, addr: cl.addrs[victim].clone(), learner_only: false }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("never reused"), "{}", e.message());

    let last = cubes.iter().map(|c| c.revision).max().unwrap();
    for i in cl.live() {
        let mut c = cl.client(i).await;
        for cube in &cubes {
            assert_eq!(&get(&mut c, &cube.id, serializable_at(last)).await.unwrap(), cube, "node {i}");
        }
    }
    // Status shows every member with its matched index and no lag.
    let s = cl.status(cl.leader().await).await.unwrap();
    assert_eq!(s.members.len(), 3);
    assert!(s.members.iter().all(|m| m.matched_index >= last && m.lag == 0), "{:?}", s.members);
}

#[tokio::test]
async fn a_node_down_past_log_purging_catches_up_by_snapshot() {
    let env = [("MEMMESH__RAFT__SNAPSHOT_AFTER_ENTRIES", "40"), ("MEMMESH__RAFT__KEEP_LOG_AFTER_SNAPSHOT", "5")];
    let mut cl = TestCluster::start(3, &env).await;
    let leader = cl.leader().await;
    let down = (leader + 1) % 3;
    cl.kill9(down);
    let mut c = cl.client(leader).await;
    let mut cubes = Vec::new();
    for k in 0..300 {
        let req = PutRequest { cube: Some(text_cube(scope("acme", "snap"), &format!("s{k}"))), request_id: format!("s{k}"), ..Default::default() };
        cubes.push(c.memory.put(req).await.unwrap().into_inner().cube.unwrap());
    }
    cl.restart(down);
    let last = cubes.last().unwrap().revision;
    let mut f = cl.client(down).await;
    for cube in &cubes {
        assert_eq!(&get(&mut f, &cube.id, serializable_at(last)).await.unwrap(), cube);
    }
    // Installing a snapshot starts the node's change history at the snapshot: proof that it
    // caught up by snapshot, not by replaying a log the leader no longer has.
    let req = SubscribeRequest { scope: Some(scope("acme", "")), start_revision: 1, ..Default::default() };
    let e = f.memstore.subscribe(req).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    let compacted: u64 = e.metadata().get("x-memmesh-compact-revision").unwrap().to_str().unwrap().parse().unwrap();
    assert!(compacted > 40, "history starts at the installed snapshot ({compacted})");
    // And it keeps replicating normally afterwards.
    let w = c
        .memory
        .put(PutRequest { cube: Some(text_cube(scope("acme", "snap"), "after")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(text_of(&get(&mut f, &w.cube.unwrap().id, None).await.unwrap()), "after");
}

#[tokio::test]
async fn a_subscription_survives_a_leader_kill_by_resuming_on_another_node() {
    use memmesh_client::subscribe::{subscribe, FeedItem};
    use tokio_stream::StreamExt;
    let mut cl = TestCluster::start(3, &[("MEMMESH__RAFT__REQUEST_TIMEOUT_MS", "2000")]).await;
    let leader = cl.leader().await;
    // Subscribed through the leader first, the other nodes as fallbacks.
    let mut addrs = vec![cl.addrs[leader].clone()];
    addrs.extend(cl.live().into_iter().filter(|i| *i != leader).map(|i| cl.addrs[i].clone()));
    let mut stream = subscribe(addrs, SubscribeRequest { scope: Some(scope("acme", "")), ..Default::default() });
    assert!(matches!(stream.next().await.unwrap().unwrap(), FeedItem::Progress(_)));

    let all_addrs = cl.addrs.clone();
    let mut acked = Vec::new();
    for k in 0..120 {
        if k == 40 {
            cl.kill9(leader);
        }
        let req = PutRequest { cube: Some(text_cube(scope("acme", "feed"), &format!("f{k}"))), request_id: format!("f{k}"), ..Default::default() };
        let w = put_anywhere(&all_addrs, (leader + 1) % 3, req, Duration::from_secs(20)).await.expect("a majority remains");
        acked.push(w.revision);
    }
    let mut seen = Vec::new();
    while seen.last() < acked.iter().max() {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("stream resumed on another node").unwrap().unwrap() {
            FeedItem::Events(b) => seen.push(b.revision),
            FeedItem::Progress(_) => {}
        }
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered, no revision twice across the failover");
    for r in &acked {
        assert!(seen.contains(r), "acknowledged revision {r} delivered");
    }
}

#[tokio::test]
async fn an_isolated_leader_is_replaced_and_rejoins_without_split_brain_or_loss() {
    let cl = TestCluster::start(3, &[("MEMMESH__RAFT__REQUEST_TIMEOUT_MS", "1500")]).await;
    let old = cl.leader().await;
    let old_term = cl.status(old).await.unwrap().term;
    let mut acked = Vec::new();
    for k in 0..20 {
        let req =
            PutRequest { cube: Some(text_cube(scope("acme", "iso"), &format!("before {k}"))), request_id: format!("b{k}"), ..Default::default() };
        acked.push(put_anywhere(&cl.addrs, old, req, Duration::from_secs(10)).await.unwrap().cube.unwrap());
    }
    // Freeze the leader: to its peers this is indistinguishable from a network partition.
    let pid = cl.node(old).pid();
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    // Its client sees no acknowledgement while it is cut off.
    let frozen = {
        let addr = cl.addrs[old].clone();
        tokio::spawn(async move {
            let mut c = Client::connect(&addr).await.ok()?;
            let req = PutRequest {
                cube: Some(text_cube(scope("acme", "iso"), "to the frozen leader")),
                request_id: "frozen-1".into(),
                ..Default::default()
            };
            tokio::time::timeout(Duration::from_secs(3), c.memory.put(req)).await.ok()?.ok()
        })
    };
    // The majority elects a new leader in a higher term and keeps accepting writes.
    let others: Vec<usize> = cl.live().into_iter().filter(|i| *i != old).collect();
    let others_addrs: Vec<String> = others.iter().map(|i| cl.addrs[*i].clone()).collect();
    for k in 0..20 {
        let req =
            PutRequest { cube: Some(text_cube(scope("acme", "iso"), &format!("during {k}"))), request_id: format!("d{k}"), ..Default::default() };
        acked.push(put_anywhere(&others_addrs, 0, req, Duration::from_secs(10)).await.expect("the majority side accepts writes").cube.unwrap());
    }
    let mut new_leader = None;
    for i in &others {
        let s = cl.status(*i).await.unwrap();
        if s.role == "leader" {
            assert!(s.term > old_term, "a new term");
            new_leader = Some(*i);
        }
    }
    assert!(new_leader.is_some(), "one of the majority leads");
    assert!(frozen.await.unwrap().is_none(), "the isolated leader acknowledged nothing");

    // Thaw: the old leader must step down, not lead alongside the new one.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    for _ in 0..100 {
        let roles: Vec<String> =
            futures::future::join_all(cl.live().into_iter().map(|i| cl.status(i))).await.into_iter().flatten().map(|s| s.role).collect();
        if roles.iter().filter(|r| *r == "leader").count() == 1 && roles.len() == 3 && cl.status(old).await.unwrap().role != "leader" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let statuses: Vec<StatusResponse> = futures::future::join_all(cl.live().into_iter().map(|i| cl.status(i))).await.into_iter().flatten().collect();
    assert_eq!(statuses.iter().filter(|s| s.role == "leader").count(), 1, "exactly one leader: {statuses:?}");
    let leaders: std::collections::HashSet<u64> = statuses.iter().map(|s| s.leader_id).collect();
    assert_eq!(leaders.len(), 1, "every node names the same leader");
    let last = acked.iter().map(|c| c.revision).max().unwrap();
    for i in cl.live() {
        let mut c = cl.client(i).await;
        for cube in &acked {
            assert_eq!(&get(&mut c, &cube.id, serializable_at(last)).await.unwrap(), cube, "node {i}");
        }
    }
}

#[tokio::test]
async fn concurrent_reads_and_writes_stay_linearizable_while_the_leader_is_cut_off() {
    use memmesh_tests::linearizability::{check_register, register_op, Kind, Op};
    let cl = TestCluster::start(3, &[("MEMMESH__RAFT__REQUEST_TIMEOUT_MS", "1500")]).await;
    let leader = cl.leader().await;
    // Three registers: cubes whose content is "k{key}-v{value}", value 0 at creation.
    let mut c = cl.client(leader).await;
    let mut keys = Vec::new();
    for k in 0..3 {
        let w = c
            .memory
            .put(PutRequest { cube: Some(text_cube(scope("acme", "lin"), &format!("k{k}-v0"))), request_id: String::new(), ..Default::default() })
            .await
            .unwrap();
        keys.push(w.into_inner().cube.unwrap().id);
    }
    let start = Instant::now();
    let now = move || start.elapsed().as_nanos() as u64;
    let history: Arc<Mutex<Vec<(usize, Op)>>> = Arc::default();
    let mut clients = Vec::new();
    for w in 0..6u64 {
        let (addr, keys, history) = (cl.addrs[(w as usize) % 3].clone(), keys.clone(), history.clone());
        clients.push(tokio::spawn(async move {
            let mut c = Client::connect(&addr).await.unwrap();
            let mut rng = w.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
            let mut n = 0;
            while start.elapsed() < Duration::from_millis(3000) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let k = (rng % 3) as usize;
                let write = (rng % 2 == 0).then(|| {
                    let v = (w + 1) * 1_000_000 + n;
                    n += 1;
                    (v, format!("lin-{w}-{v}"))
                });
                if let Some(op) = register_op(&mut c, &keys[k], k, write, Duration::from_secs(3), now).await {
                    history.lock().unwrap().push((k, op));
                }
            }
        }));
    }
    // Cut the leader off for a second in the middle of it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let pid = cl.node(leader).pid();
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    for t in clients {
        t.await.unwrap();
    }
    let history = history.lock().unwrap().clone();
    let reads = history.iter().filter(|(_, o)| matches!(o.kind, Kind::Read(_))).count();
    let writes = history.iter().filter(|(_, o)| o.ret.is_some() && matches!(o.kind, Kind::Write(_))).count();
    assert!(reads > 50 && writes > 50, "a meaningful history: {reads} reads, {writes} acknowledged writes");
    for k in 0..3 {
        let ops: Vec<Op> = history.iter().filter(|(key, _)| *key == k).map(|(_, o)| o.clone()).collect();
        assert!(check_register(0, &ops), "register {k}: history of {} operations is not linearizable", ops.len());
    }
}

#[tokio::test]
async fn adding_an_unreachable_node_fails_within_the_catch_up_timeout_and_harms_nothing() {
    let cl = TestCluster::start(3, &[("MEMMESH__RAFT__CATCH_UP_TIMEOUT_MS", "1000")]).await;
    let leader = cl.leader().await;
    let mut c = cl.client(leader).await;
    let nobody = free_addr(); // nothing listens there
    let t = Instant::now();
    let e = c.cluster.add_member(AddMemberRequest { node_id: 4242, addr: nobody, learner_only: false }).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
    assert!(e.message().contains("has not caught up"), "{}", e.message());
    assert!(t.elapsed() < Duration::from_secs(10), "bounded, took {:?}", t.elapsed());
    // It is only a learner: the three voters still commit.
    let s = cl.status(leader).await.unwrap();
    assert_eq!(s.members.iter().find(|m| m.id == 4242).map(|m| m.role.as_str()), Some("learner"));
    let w = c
        .memory
        .put(PutRequest { cube: Some(text_cube(scope("acme", "x"), "still committing")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap();
    assert!(w.into_inner().revision > 0);
    // Promoting it is refused the same way: it has not caught up.
    let e = c.cluster.promote_member(MemberRequest { node_id: 4242 }).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
    assert_eq!(cl.status(leader).await.unwrap().members.iter().find(|m| m.id == 4242).map(|m| m.role.clone()), Some("learner".to_string()));
    let e = c.cluster.promote_member(MemberRequest { node_id: 777 }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // And it can be removed again.
    c.cluster.remove_member(MemberRequest { node_id: 4242 }).await.unwrap();
    assert!(cl.status(leader).await.unwrap().members.iter().all(|m| m.id != 4242));
}

#[tokio::test]
async fn a_membership_change_that_would_leave_no_voter_is_refused_as_a_precondition() {
    let cl = TestCluster::start(1, &[]).await;
    let mut c = cl.client(0).await;
    let e = c.cluster.remove_member(MemberRequest { node_id: cl.id(0) }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("membership change refused"), "{}", e.message());
    assert_eq!(cl.status(0).await.unwrap().role, "leader", "nothing changed");
}
