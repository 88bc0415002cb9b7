//! Real network partitions: five nodes, each in its own network namespace on a bridge, while
//! clients read and write through every node and a subscriber follows the feed through each;
//! a nemesis cuts and heals links with iptables. The recorded histories are then checked:
//! registers linearizable, no acknowledged write lost (on every node), and every subscriber's
//! stream ordered, without duplicates, gap-free and equal to the committed history.
//!
//! Short mode (the test command): each fault once, ~4 s each. Long mode:
//! `MEMMESH_NEMESIS_ROUNDS=N` random faults from a seed printed at the start
//! (`MEMMESH_NEMESIS_SEED=S` replays a schedule), e.g.
//! `MEMMESH_NEMESIS_ROUNDS=60 cargo test -p memmesh-tests --test partitions -- --nocapture`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memmesh_client::subscribe::{subscribe, FeedItem};
use memmesh_client::Client;
use memmesh_tests::bench::Rng;
use memmesh_tests::linearizability::{check_register, register_op, Kind, Op};
use memmesh_tests::netns::Net;
use memmesh_tests::proto::*;
use memmesh_tests::*;
use tokio_stream::StreamExt;

const N: usize = 5;
const REGISTERS: usize = 4;

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The leader cut from every other node.
    IsolateLeader,
    /// Nodes {0, 1} cut from {2, 3, 4}.
    MajorityMinority,
    /// {0, 1} and {3, 4} cut from each other; node 2 sees both sides.
    Bridge,
    /// The leader hears nothing from the others; they still hear it.
    LeaderDeaf,
    /// The others hear nothing from the leader; it still hears them.
    LeaderMute,
    /// Every node drops 25 % of what the others send it.
    Lossy,
    /// Every node sends through a 512 kbit/s link that queues up to 300 ms (delay under load,
    /// drops past it), and drops 10 % of what it receives from the others.
    SlowLossy,
}

const FAULTS: [Fault; 7] =
    [Fault::IsolateLeader, Fault::MajorityMinority, Fault::Bridge, Fault::LeaderDeaf, Fault::LeaderMute, Fault::Lossy, Fault::SlowLossy];

async fn leader(addrs: &[String]) -> Option<usize> {
    for a in addrs {
        if let Ok(mut c) = Client::connect(a).await {
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(1), c.cluster.status(StatusRequest {})).await {
                let s = s.into_inner();
                if let Some(i) = addrs.iter().position(|x| *x == s.leader_addr) {
                    return Some(i);
                }
            }
        }
    }
    None
}

fn apply(net: &Net, fault: Fault, leader: usize) {
    let others: Vec<usize> = (0..N).filter(|i| *i != leader).collect();
    match fault {
        Fault::IsolateLeader => net.split(&[leader], &others),
        Fault::MajorityMinority => net.split(&[0, 1], &[2, 3, 4]),
        Fault::Bridge => net.split(&[0, 1], &[3, 4]),
        Fault::LeaderDeaf => others.iter().for_each(|o| net.drop_from(leader, *o)),
        Fault::LeaderMute => others.iter().for_each(|o| net.drop_from(*o, leader)),
        Fault::Lossy => (0..N).for_each(|i| net.lossy(i, 25)),
        Fault::SlowLossy => (0..N).for_each(|i| {
            net.slow(i, 512, 300);
            net.lossy(i, 10);
        }),
    }
}

/// One client's operations on the registers through node `node`, until `stop`.
async fn register_client(addr: String, w: u64, keys: Vec<String>, start: Instant, stop: Arc<AtomicBool>, history: Arc<Mutex<Vec<(usize, Op)>>>) {
    let mut c = Client::connect(&addr).await.unwrap();
    let now = move || start.elapsed().as_nanos() as u64;
    let mut rng = Rng::new(w + 1);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let k = rng.below(keys.len());
        let write = (rng.below(2) == 0).then(|| {
            n += 1;
            let v = (w + 1) * 1_000_000 + n;
            (v, format!("reg-{w}-{v}"))
        });
        let op = register_op(&mut c, &keys[k], k, write, Duration::from_secs(2), now).await;
        match op {
            Some(op) if op.ret.is_some() => history.lock().unwrap().push((k, op)),
            Some(op) => {
                history.lock().unwrap().push((k, op));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// New cubes through node `first` (then the others), each retried under its request id until
/// acknowledged or `stop`; the acknowledged (id, revision) pairs.
async fn writer(addrs: Vec<String>, w: usize, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<(String, u64)>>>) {
    let mut clients = Vec::new();
    for a in &addrs {
        clients.push(Client::connect(a).await.unwrap());
    }
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let req = PutRequest {
            cube: Some(text_cube(scope("acme", "feed"), &format!("w{w} n{n}"))),
            request_id: format!("put-{w}-{n}"),
            ..Default::default()
        };
        let mut target = (w + n) % addrs.len();
        loop {
            match tokio::time::timeout(Duration::from_secs(2), clients[target].memory.put(req.clone())).await {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    acked.lock().unwrap().push((r.cube.unwrap().id, r.revision));
                    break;
                }
                _ if stop.load(Ordering::Relaxed) => return,
                _ => {
                    target = (target + 1) % addrs.len();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        n += 1;
    }
}

/// Follows the feed of scope acme/feed through `addrs` (the first one first) from
/// `start_revision` (0 = from now) until `until`: (revision, cube ids) of every batch, and the
/// first revision the stream covers.
async fn follower(addrs: Vec<String>, start_revision: u64, until: Arc<Mutex<Option<u64>>>) -> (u64, Vec<(u64, Vec<String>)>) {
    let req = SubscribeRequest { scope: Some(scope("acme", "feed")), progress_notify_ms: 200, start_revision, ..Default::default() };
    let mut stream = subscribe(addrs, req);
    let mut from = None;
    let mut seen = Vec::new();
    while let Some(item) = stream.next().await {
        let last = match item.expect("the feed ended with an error") {
            FeedItem::Progress(r) => r,
            FeedItem::Events(b) => {
                let last = b.revision;
                seen.push((b.revision, b.events.into_iter().map(|e| e.cube.unwrap().id).collect()));
                last
            }
        };
        from.get_or_insert(last + 1);
        if until.lock().unwrap().is_some_and(|u| last >= u) {
            break;
        }
    }
    (from.unwrap_or(0), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitions_keep_registers_linearizable_acknowledged_writes_and_feeds_whole() {
    let net = match Net::create(N) {
        Ok(n) => n,
        Err(why) => {
            println!("SKIPPED: real partitions need network namespaces: {why}");
            return;
        }
    };
    let rounds: usize = std::env::var("MEMMESH_NEMESIS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let seed: u64 = std::env::var("MEMMESH_NEMESIS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| std::process::id() as u64);
    let schedule: Vec<Fault> = if rounds == 0 {
        FAULTS.to_vec()
    } else {
        println!("nemesis: {rounds} random faults, MEMMESH_NEMESIS_SEED={seed}");
        let mut rng = Rng::new(seed);
        (0..rounds).map(|_| FAULTS[rng.below(FAULTS.len())]).collect()
    };

    // Five nodes, one per namespace; node 0 starts the cluster, the others join it.
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MEMMESH__AUTH__ENABLED", "false"),
        ("MEMMESH__RAFT__REQUEST_TIMEOUT_MS", "1500"),
        ("MEMMESH__NODE__WORKER_THREADS", "1"),
        ("MEMMESH__NODE__SHUTDOWN_GRACE_MS", "100"),
    ];
    let mut nodes = Vec::new();
    for i in 0..N {
        let wrapper = net.wrapper(i);
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        let listen = format!("{}:7070", net.hosts[i].ip);
        let seed = format!("{}:7070", net.hosts[0].ip);
        let args: Vec<&str> = if i == 0 { vec![] } else { vec!["--join", &seed] };
        nodes.push(NodeProc::start_wrapped(&wrapper, &dir.path().join(format!("n{i}")), &listen, &args, &env));
    }
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let mut c0 = Client::connect(&addrs[0]).await.unwrap();
    let formed = Instant::now();
    loop {
        let s = c0.cluster.status(StatusRequest {}).await.unwrap().into_inner();
        if s.members.iter().filter(|m| m.role == "voter").count() == N {
            break;
        }
        assert!(formed.elapsed() < Duration::from_secs(60), "no {N}-voter cluster: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut keys = Vec::new();
    for k in 0..REGISTERS {
        let w = c0.memory.put(PutRequest { cube: Some(text_cube(scope("acme", "reg"), &format!("k{k}-v0"))), ..Default::default() }).await.unwrap();
        keys.push(w.into_inner().cube.unwrap().id);
    }

    // The workload: register clients and writers through every node, a follower through each.
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let history: Arc<Mutex<Vec<(usize, Op)>>> = Arc::default();
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let until: Arc<Mutex<Option<u64>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..N as u64 {
        let addr = addrs[w as usize].clone();
        tasks.push(tokio::spawn(register_client(addr, w, keys.clone(), start, stop.clone(), history.clone())));
    }
    for w in 0..2 {
        tasks.push(tokio::spawn(writer(addrs.clone(), w, stop.clone(), acked.clone())));
    }
    let mut followers = Vec::new();
    for i in 0..N {
        let mut order = addrs.clone();
        order.rotate_left(i);
        followers.push(tokio::spawn(follower(order, 0, until.clone())));
    }

    for (r, fault) in schedule.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let leader = leader(&addrs).await.unwrap_or(0);
        let before = history.lock().unwrap().len();
        apply(&net, *fault, leader);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        net.heal();
        // What the fault let through (a fault that changes nothing shows as the healthy rate).
        let during = history.lock().unwrap().len() - before;
        println!("nemesis {r}: {fault:?} (leader n{leader}) at {:.1} s: {during} register operations during it", start.elapsed().as_secs_f64());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    // Every node catches up to the last acknowledged write; the followers stop there.
    let acked = acked.lock().unwrap().clone();
    let top = acked.iter().map(|(_, r)| *r).max().expect("writes were acknowledged");
    *until.lock().unwrap() = Some(top);
    for (i, a) in addrs.iter().enumerate() {
        let mut c = Client::connect(a).await.unwrap();
        let read = Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, min_revision: top });
        for (id, rev) in &acked {
            let r = c.memory.get(GetRequest { id: id.clone(), read, ..Default::default() }).await;
            let cube = r.unwrap_or_else(|s| panic!("acknowledged {id} (revision {rev}) not on n{i}: {s}")).into_inner().cube.unwrap();
            assert_eq!(cube.revision, *rev, "{id} on n{i}");
        }
    }

    // Registers: linearizable.
    let history = history.lock().unwrap().clone();
    let reads = history.iter().filter(|(_, o)| matches!(o.kind, Kind::Read(_))).count();
    let writes = history.iter().filter(|(_, o)| o.ret.is_some() && matches!(o.kind, Kind::Write(_))).count();
    println!("history: {reads} reads, {writes} acknowledged register writes, {} acknowledged puts up to revision {top}", acked.len());
    assert!(reads > 100 && writes > 50, "a meaningful history: {reads} reads, {writes} writes");
    for k in 0..REGISTERS {
        let ops: Vec<Op> = history.iter().filter(|(key, _)| *key == k).map(|(_, o)| o.clone()).collect();
        assert!(check_register(0, &ops), "register {k}: history of {} operations is not linearizable", ops.len());
    }

    // Feeds: the committed history of the scope, read once from the start after healing, is the
    // reference; every follower saw exactly its part of it, in order, each revision once.
    let reference = tokio::time::timeout(Duration::from_secs(30), follower(vec![addrs[0].clone()], 1, until.clone())).await.expect("reference feed");
    let reference: BTreeMap<u64, Vec<String>> = reference.1.into_iter().collect();
    for (id, rev) in &acked {
        assert!(reference.get(rev).is_some_and(|ids| ids.contains(id)), "acknowledged {id} missing from the feed at revision {rev}");
    }
    for (i, f) in followers.into_iter().enumerate() {
        let (from, seen) = tokio::time::timeout(Duration::from_secs(30), f).await.expect("a follower never caught up").unwrap();
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "follower {i}: revisions out of order or repeated");
        let expected: Vec<(u64, Vec<String>)> = reference.range(from..=top).map(|(r, ids)| (*r, ids.clone())).collect();
        let got: Vec<(u64, Vec<String>)> = seen.into_iter().filter(|(r, _)| *r <= top).collect();
        assert_eq!(got, expected, "follower {i} (from revision {from}): its stream differs from the committed history");
    }
}
