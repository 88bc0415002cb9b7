//! Write-path benchmark of one node, against this machine's fsync floor measured in the same run.
//!
//! ```text
//! bench-write [--smoke] [--sequential N] [--clients C] [--seconds S]
//! ```
//!
//! 1. fsync floor: 1 KiB appends + fdatasync on the disk that holds the node's data.
//! 2. One client, sequential 1 KiB puts: latency p50/p99 (each is one Raft entry = one fsync).
//! 3. C concurrent clients (default 16) for S seconds: puts/s and latency.
//!
//! Ratios printed: put p50 / fsync p50 (overhead over the bare fsync), and C-client puts/s over
//! the fsync-per-write ceiling 1/fsync_p50 (>1 means group commit shares fsyncs).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use memmesh_tests::bench::{ms, percentile};
use memmesh_tests::proto::PutRequest;
use memmesh_tests::{scope, text_cube, NodeProc};

fn fsync_floor(dir: &std::path::Path, n: usize) -> Vec<Duration> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("fsync-probe")).unwrap();
    let buf = vec![b'x'; 1024];
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    lat
}

/// Write path of one node against this machine's fsync floor.
#[derive(Parser)]
struct Args {
    /// A short run for CI: 50 sequential puts, 1 s of concurrent ones (unless given).
    #[arg(long)]
    smoke: bool,
    /// Sequential puts timed one by one [default: 2000].
    #[arg(long)]
    sequential: Option<usize>,
    /// Concurrent clients of the throughput run.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    clients: u64,
    /// Seconds of the throughput run [default: 10].
    #[arg(long)]
    seconds: Option<u64>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let sequential = args.sequential.unwrap_or(if smoke { 50 } else { 2000 });
    let clients = args.clients as usize;
    let seconds = args.seconds.unwrap_or(if smoke { 1 } else { 10 });

    let dir = tempfile::tempdir().unwrap();
    let mut fs = fsync_floor(dir.path(), if smoke { 100 } else { 2000 });
    let (fs50, fs99) = (percentile(&mut fs, 0.5), percentile(&mut fs, 0.99));

    let node = NodeProc::start(&dir.path().join("node"));
    let mut c = node.client().await;
    let payload = "m".repeat(1024);

    let mut lat = Vec::with_capacity(sequential);
    for i in 0..sequential {
        let req =
            PutRequest { cube: Some(text_cube(scope("bench", "seq"), &format!("{i} {payload}"))), request_id: String::new(), ..Default::default() };
        let t = Instant::now();
        c.memory.put(req).await.expect("put");
        lat.push(t.elapsed());
    }
    let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..clients {
        let mut c = node.client().await;
        let (stop, payload) = (stop.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let req = PutRequest {
                    cube: Some(text_cube(scope("bench", &format!("c{w}")), &format!("{i} {payload}"))),
                    request_id: String::new(),
                    ..Default::default()
                };
                let t = Instant::now();
                c.memory.put(req).await.expect("put");
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let tput = all.len() as f64 / elapsed;
    let ceiling = 1.0 / fs50.as_secs_f64();

    println!("bench-write{} — one node, 1 KiB plaintext puts, fsync on every acknowledged write", if smoke { " (smoke run)" } else { "" });
    println!(
        "  fsync floor (1 KiB append + fdatasync, n={}): p50 {:.3} ms  p99 {:.3} ms  => {:.0} fsyncs/s sequential",
        fs.len(),
        ms(fs50),
        ms(fs99),
        ceiling
    );
    println!(
        "  1 client,  n={sequential}: put p50 {:.3} ms  p99 {:.3} ms   ratio p50/fsync_p50 = {:.2}",
        ms(p50),
        ms(p99),
        p50.as_secs_f64() / fs50.as_secs_f64()
    );
    println!(
        "  {clients} clients, {seconds} s: {tput:.0} puts/s  (p50 {:.3} ms  p99 {:.3} ms)   ratio to fsync-per-write ceiling = {:.2}",
        ms(percentile(&mut all, 0.5)),
        ms(percentile(&mut all, 0.99)),
        tput / ceiling
    );
}
