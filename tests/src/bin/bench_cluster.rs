//! Write benchmark of a 3-node MemMesh cluster against a 3-member etcd cluster, both on
//! loopback on this machine, in one run.
//!
//! ```text
//! bench-cluster [--smoke] [--clients 1,16,64,256] [--seconds 5] [--rounds 5] [--server-threads 0]
//! ```
//!
//! For each N, N concurrent clients write 1 KiB values for S seconds at the leader of each
//! system, in R slices of S/R seconds that alternate between the two (each system goes first
//! in every other round): on a shared machine the neighbours' load comes in bursts, and
//! slices spread it over both systems instead of landing it on whichever ran at the time. The
//! figures are pooled over the slices; the last column shows how far the throughput ratio of
//! single slices spread. Writes go to each system's leader (MemMesh: `Put` of a 1 KiB
//! plaintext cube, no embedding; etcd: `KV.Put` of a 1 KiB value), over min(N, 16)
//! connections. Both acknowledge a write only once a majority has it
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

use clap::Parser;
use memmesh_tests::bench::{cpu_time, ms, percentile};
use memmesh_tests::etcdpb::kv_client::KvClient;
use memmesh_tests::etcdpb::maintenance_client::MaintenanceClient;
use memmesh_tests::etcdpb::{PutRequest as EtcdPut, StatusRequest as EtcdStatus};
use memmesh_tests::proto::PutRequest;
use memmesh_tests::{free_addr, scope, text_cube, TestCluster};
use tonic::transport::{Channel, Endpoint};

/// How long a client waits before retrying a failed write.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

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

/// What one system did in one or more timed slices.
#[derive(Default)]
struct Sample {
    lat: Vec<Duration>,
    secs: f64,
    /// Server CPU time, in seconds.
    cpu: f64,
    /// Write attempts that failed and were retried, and the last such error.
    failed: u64,
    last_error: Option<String>,
}

impl Sample {
    fn per_sec(&self) -> f64 {
        self.lat.len() as f64 / self.secs.max(1e-9)
    }

    fn p(&mut self, q: f64) -> Duration {
        percentile(&mut self.lat, q)
    }

    /// Server CPU time per write, in microseconds.
    fn cpu_us(&self) -> f64 {
        self.cpu * 1e6 / self.lat.len().max(1) as f64
    }

    fn add(&mut self, other: Sample) {
        self.lat.extend(other.lat);
        self.secs += other.secs;
        self.cpu += other.cpu;
        self.failed += other.failed;
        self.last_error = other.last_error.or(self.last_error.take());
    }

    /// A line under the table row when writes had to be retried: that row includes the stall.
    fn retries(&self, system: &str) -> Option<String> {
        let e = self.last_error.as_deref()?;
        Some(format!("         {system}: {} write attempt(s) failed and were retried (last: {e}); this row includes the stall", self.failed))
    }
}

/// Runs `n` clients for `slice` against the servers `pids`; `op(client_index, seq)` performs
/// one write (`seq` counts from `first_seq`, so that every slice writes new values).
///
/// A failed write is retried after a short pause, as a real client would, and its latency
/// counts from the first attempt. On a loaded machine a starved leader can lose its lease and
/// a write then meets an election (`UNAVAILABLE`, retry shortly); the failed attempts are
/// counted and reported instead of ending the benchmark.
async fn drive<F, Fut>(n: usize, slice: Duration, first_seq: u64, pids: &[u32], op: Arc<F>) -> Sample
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), tonic::Status>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (op, stop) = (op.clone(), stop.clone());
            tokio::spawn(async move {
                let mut own = Sample::default();
                let mut seq = first_seq;
                'writes: while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    while let Err(s) = op(i, seq).await {
                        own.failed += 1;
                        own.last_error = Some(format!("{:?}: {}", s.code(), s.message()));
                        if stop.load(Ordering::Relaxed) {
                            break 'writes;
                        }
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                    own.lat.push(t.elapsed());
                    seq += 1;
                }
                own
            })
        })
        .collect();
    let (t, cpu) = (Instant::now(), cpu_time(pids));
    tokio::time::sleep(slice).await;
    stop.store(true, Ordering::Relaxed);
    let mut sample = Sample::default();
    for task in tasks {
        sample.add(task.await.unwrap());
    }
    sample.secs = t.elapsed().as_secs_f64();
    sample.cpu = (cpu_time(pids) - cpu).as_secs_f64();
    sample
}

/// Writes of a 3-node MemMesh cluster against a 3-member etcd cluster on loopback.
#[derive(Parser)]
struct Args {
    /// A short run for CI: N = 1,16, 1 s in 2 rounds (unless given).
    #[arg(long)]
    smoke: bool,
    /// Numbers of concurrent clients, one run each [default: 1,16,64,256].
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<usize>>,
    /// Seconds per system and N [default: 5].
    #[arg(long)]
    seconds: Option<u64>,
    /// Slices per system and N, alternating between the systems [default: 5].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: Option<u64>,
    /// Scheduler threads of every server process; 0 leaves both systems at their default.
    #[arg(long, default_value_t = 0)]
    server_threads: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let ns = args.clients.unwrap_or(if smoke { vec![1, 16] } else { vec![1, 16, 64, 256] });
    let secs = args.seconds.unwrap_or(if smoke { 1 } else { 5 });
    let rounds = args.rounds.unwrap_or(if smoke { 2 } else { 5 }) as usize;

    let threads = args.server_threads;
    let threads_env = threads.to_string();
    let node_env: &[(&str, &str)] = if threads > 0 { &[("MEMMESH__NODE__WORKER_THREADS", &threads_env)] } else { &[] };
    let cluster = TestCluster::start(3, node_env).await;
    let mm_pids: Vec<u32> = (0..3).map(|i| cluster.node(i).pid()).collect();
    let etcd = start_etcd(threads);
    let payload = "x".repeat(1024);

    let per_server = if threads > 0 { format!("{threads} scheduler thread(s) per server process") } else { "default scheduler threads".into() };
    println!(
        "bench-cluster{} — 3 nodes each on loopback, 1 KiB writes at the leader, {secs} s per system and N in {rounds} alternating slices, {per_server}",
        if smoke { " (smoke run)" } else { "" }
    );
    println!(
        "  {:>4} | {:>34} | {:>34} | {:>10} {:>10} {:>10}   tput ratio by slice (min–max)",
        "N", "MemMesh w/s  p50   p99 ms  cpu us", "etcd w/s  p50   p99 ms  cpu us", "tput ratio", "p50 ratio", "cpu ratio"
    );
    for &n in &ns {
        // Looked up for every N: on a loaded machine leadership can move during a run.
        let mm_leader = cluster.addrs[cluster.leader().await].clone();
        let etcd_leader = etcd_leader(&etcd).await;
        let conns = n.min(16);
        let mut mm = Vec::new();
        let mut et = Vec::new();
        for _ in 0..conns {
            mm.push(memmesh_client::Client::from_channel(channel(&mm_leader).await, Default::default()));
            et.push(KvClient::new(channel(&etcd_leader).await));
        }
        let (mm, et) = (Arc::new(mm), Arc::new(et));
        let p = payload.clone();
        let mm_op = Arc::new(move |i: usize, seq: u64| {
            let mut c = mm[i % mm.len()].clone();
            let req = PutRequest {
                cube: Some(text_cube(scope("bench", &format!("c{i}")), &format!("{seq} {p}"))),
                request_id: String::new(),
                ..Default::default()
            };
            async move { c.memory.put(req).await.map(drop) }
        });
        let p = payload.clone();
        let et_op = Arc::new(move |i: usize, seq: u64| {
            let mut c = et[i % et.len()].clone();
            let req = EtcdPut { key: format!("bench/c{i}/{seq}").into_bytes(), value: p.clone().into_bytes() };
            async move { c.put(req).await.map(drop) }
        });
        // The two systems take turns in short slices, each going first in every other round,
        // so that a neighbour's burst on this shared machine lands on both rather than on one.
        let slice = Duration::from_secs_f64(secs as f64 / rounds as f64);
        let (mut m, mut e) = (Sample::default(), Sample::default());
        let mut round_ratios = Vec::new();
        for r in 0..rounds {
            let first_seq = r as u64 * 1_000_000_000;
            let (rm, re) = if r % 2 == 0 {
                let rm = drive(n, slice, first_seq, &mm_pids, mm_op.clone()).await;
                (rm, drive(n, slice, first_seq, &etcd.pids, et_op.clone()).await)
            } else {
                let re = drive(n, slice, first_seq, &etcd.pids, et_op.clone()).await;
                (drive(n, slice, first_seq, &mm_pids, mm_op.clone()).await, re)
            };
            round_ratios.push(rm.per_sec() / re.per_sec());
            m.add(rm);
            e.add(re);
        }
        round_ratios.sort_by(f64::total_cmp);
        let (m50, m99, e50, e99) = (m.p(0.5), m.p(0.99), e.p(0.5), e.p(0.99));
        println!(
            "  {:>4} | {:>8.0} {:>7.2} {:>7.2} {:>7.0}   | {:>8.0} {:>7.2} {:>7.2} {:>7.0}   | {:>10.2} {:>10.2} {:>10.2}   {:.2}–{:.2}",
            n,
            m.per_sec(),
            ms(m50),
            ms(m99),
            m.cpu_us(),
            e.per_sec(),
            ms(e50),
            ms(e99),
            e.cpu_us(),
            m.per_sec() / e.per_sec(),
            m50.as_secs_f64() / e50.as_secs_f64(),
            m.cpu_us() / e.cpu_us(),
            round_ratios[0],
            round_ratios[round_ratios.len() - 1],
        );
        for line in [m.retries("MemMesh"), e.retries("etcd")].into_iter().flatten() {
            println!("{line}");
        }
    }
}
