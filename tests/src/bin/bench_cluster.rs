//! Write benchmark of a 3-node MemMesh cluster against a 3-member etcd cluster, both on
//! loopback on this machine, in one run.
//!
//! ```text
//! bench-cluster [--smoke] [--clients 1,16,64,256] [--seconds 5] [--server-threads 0]
//! ```
//!
//! For each N, N concurrent clients write 1 KiB values for S seconds at the leader of each
//! system (MemMesh: `Put` of a 1 KiB plaintext cube, no embedding; etcd: `KV.Put` of a 1 KiB
//! value), over min(N, 16) connections. Both acknowledge a write only once a majority has it
//! fsynced. Prints writes/s, latency p50/p99 and the CPU time the three server processes
//! spent per write (`/proc`, all three nodes together) for each, and the ratios MemMesh / etcd.
//! CPU per write is the steadier figure on a shared machine: it does not move with the
//! neighbours' load the way throughput does.
//! etcd comes from Debian's `etcd-server` (installed by `scripts/setup.sh`).
//!
//! `--server-threads T` gives every server process T scheduler threads — MemMesh nodes
//! `node.worker_threads = T`, etcd members `GOMAXPROCS=T`. The default, 0, leaves both at their
//! own default (one per core). With six server processes and the client on two cores, T = 1
//! makes both systems spend less CPU per write at few clients and lose throughput at many.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memmesh_tests::bench::{cpu_time, ms, percentile};
use memmesh_tests::etcdpb::kv_client::KvClient;
use memmesh_tests::etcdpb::maintenance_client::MaintenanceClient;
use memmesh_tests::etcdpb::{PutRequest as EtcdPut, StatusRequest as EtcdStatus};
use memmesh_tests::proto::PutRequest;
use memmesh_tests::{free_addr, scope, text_cube, TestCluster};
use tonic::transport::{Channel, Endpoint};

struct Etcd {
    children: Vec<Child>,
    pids: Vec<u32>,
    client_addrs: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_etcd(threads: usize) -> Etcd {
    let dir = tempfile::tempdir().unwrap();
    let peers: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let clients: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let initial: Vec<String> = (0..3).map(|i| format!("e{i}=http://{}", peers[i])).collect();
    let mut children = Vec::new();
    for i in 0..3 {
        let log = std::fs::File::create(dir.path().join(format!("e{i}.log"))).unwrap();
        let mut cmd = Command::new("etcd");
        if threads > 0 {
            cmd.env("GOMAXPROCS", threads.to_string());
        }
        let child = cmd
            .args(["--name", &format!("e{i}")])
            .arg("--data-dir")
            .arg(dir.path().join(format!("e{i}")))
            .args(["--listen-client-urls", &format!("http://{}", clients[i])])
            .args(["--advertise-client-urls", &format!("http://{}", clients[i])])
            .args(["--listen-peer-urls", &format!("http://{}", peers[i])])
            .args(["--initial-advertise-peer-urls", &format!("http://{}", peers[i])])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "memmesh-bench"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd (install it with scripts/setup.sh: Debian package etcd-server)");
        children.push(child);
    }
    let pids = children.iter().map(Child::id).collect();
    Etcd { children, pids, client_addrs: clients, _dir: dir }
}

async fn channel(addr: &str) -> Channel {
    Endpoint::from_shared(format!("http://{addr}")).unwrap().tcp_nodelay(true).connect().await.unwrap()
}

/// The etcd member that leads, once the cluster has one.
async fn etcd_leader(etcd: &Etcd) -> String {
    for _ in 0..200 {
        for addr in &etcd.client_addrs {
            let Ok(ch) = Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await else { continue };
            if let Ok(s) = MaintenanceClient::new(ch).status(EtcdStatus {}).await {
                let s = s.into_inner();
                if s.leader != 0 && s.header.map(|h| h.member_id) == Some(s.leader) {
                    return addr.clone();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("etcd elected no leader");
}

struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    /// Server CPU time per write, in microseconds.
    cpu_us: f64,
}

/// Runs `n` clients for `secs` seconds against the servers `pids`; `op(client_index, seq)`
/// performs one write.
async fn drive<F, Fut>(n: usize, secs: u64, pids: &[u32], op: F) -> Figures
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (op, stop) = (op.clone(), stop.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    op(i, seq).await;
                    lat.push(t.elapsed());
                    seq += 1;
                }
                lat
            })
        })
        .collect();
    let (t, cpu) = (Instant::now(), cpu_time(pids));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.unwrap());
    }
    let (secs, cpu) = (t.elapsed().as_secs_f64(), (cpu_time(pids) - cpu).as_secs_f64());
    let n = lat.len().max(1) as f64;
    Figures { per_sec: lat.len() as f64 / secs, p50: percentile(&mut lat, 0.5), p99: percentile(&mut lat, 0.99), cpu_us: cpu * 1e6 / n }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let ns: Vec<usize> = value("--clients")
        .map(|v| v.split(',').map(|x| x.parse().expect("--clients N,N,...")).collect())
        .unwrap_or(if smoke { vec![1, 16] } else { vec![1, 16, 64, 256] });
    let secs: u64 = value("--seconds").and_then(|v| v.parse().ok()).unwrap_or(if smoke { 1 } else { 5 });

    let threads: usize = value("--server-threads").map(|v| v.parse().expect("--server-threads T")).unwrap_or(0);
    let threads_env = threads.to_string();
    let node_env: &[(&str, &str)] = if threads > 0 { &[("MEMMESH__NODE__WORKER_THREADS", &threads_env)] } else { &[] };
    let cluster = TestCluster::start(3, node_env).await;
    let mm_leader = cluster.addrs[cluster.leader().await].clone();
    let mm_pids: Vec<u32> = (0..3).map(|i| cluster.node(i).pid()).collect();
    let etcd = start_etcd(threads);
    let etcd_leader = etcd_leader(&etcd).await;
    let payload = "x".repeat(1024);

    let per_server = if threads > 0 { format!("{threads} scheduler thread(s) per server process") } else { "default scheduler threads".into() };
    println!(
        "bench-cluster{} — 3 nodes each on loopback, 1 KiB writes at the leader, {secs} s per run, {per_server}",
        if smoke { " (smoke run)" } else { "" }
    );
    println!(
        "  {:>4} | {:>34} | {:>34} | {:>10} {:>10} {:>10}",
        "N", "MemMesh w/s  p50   p99 ms  cpu us", "etcd w/s  p50   p99 ms  cpu us", "tput ratio", "p50 ratio", "cpu ratio"
    );
    for &n in &ns {
        let conns = n.min(16);
        let mut mm = Vec::new();
        let mut et = Vec::new();
        for _ in 0..conns {
            mm.push(memmesh_client::Client::from_channel(channel(&mm_leader).await, Default::default()));
            et.push(KvClient::new(channel(&etcd_leader).await));
        }
        let (mm, et) = (Arc::new(mm), Arc::new(et));
        let p = payload.clone();
        let m = drive(n, secs, &mm_pids, move |i, seq| {
            let mut c = mm[i % mm.len()].clone();
            let req = PutRequest { cube: Some(text_cube(scope("bench", &format!("c{i}")), &format!("{seq} {p}"))), request_id: String::new() };
            async move {
                c.memory.put(req).await.expect("memmesh put");
            }
        })
        .await;
        let p = payload.clone();
        let e = drive(n, secs, &etcd.pids, move |i, seq| {
            let mut c = et[i % et.len()].clone();
            let req = EtcdPut { key: format!("bench/c{i}/{seq}").into_bytes(), value: p.clone().into_bytes() };
            async move {
                c.put(req).await.expect("etcd put");
            }
        })
        .await;
        println!(
            "  {:>4} | {:>8.0} {:>7.2} {:>7.2} {:>7.0}   | {:>8.0} {:>7.2} {:>7.2} {:>7.0}   | {:>10.2} {:>10.2} {:>10.2}",
            n,
            m.per_sec,
            ms(m.p50),
            ms(m.p99),
            m.cpu_us,
            e.per_sec,
            ms(e.p50),
            ms(e.p99),
            e.cpu_us,
            m.per_sec / e.per_sec,
            m.p50.as_secs_f64() / e.p50.as_secs_f64(),
            m.cpu_us / e.cpu_us
        );
    }
}
