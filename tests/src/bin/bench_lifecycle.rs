//! Expiry at scale: the sweep's lag, and what it costs concurrent writers.
//!
//! ```text
//! bench-lifecycle [--smoke] [--cubes N] [--spread S] [--clients C]
//! ```
//!
//! Two single nodes, one after the other in the same run, get the same load: N cubes (default
//! 100,000) with TTLs of 1..=S seconds (default 10) written in batches of 1,000, then C clients
//! (default 16) writing 1 KiB cubes without a TTL for the S seconds in which the N expire.
//!
//! - **sweeper off** (`lifecycle.sweep_interval_ms` = one hour): the baseline throughput.
//! - **sweeper on** (the default 250 ms): the same throughput measured while the leader expires
//!   the N cubes, and the lag from each cube's `expires_at_ms` to the arrival of its EXPIRED
//!   event at a subscriber (p50/p99/max).
//!
//! Printed: lag percentiles, both throughputs and their ratio (target ≥ 0.9), and how many
//! cubes were expired before the end (all N expected).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use memmesh_tests::bench::{ms, percentile};
use memmesh_tests::proto::*;
use memmesh_tests::{scope, text_cube, NodeProc};

#[derive(Parser)]
struct Args {
    /// A short run for CI: 2,000 cubes over 2 s, 4 clients.
    #[arg(long)]
    smoke: bool,
    /// Cubes with a TTL [default: 100000].
    #[arg(long)]
    cubes: Option<usize>,
    /// TTLs are 1..=S seconds [default: 10].
    #[arg(long)]
    spread: Option<u64>,
    /// Concurrent writers during the expiry window [default: 16].
    #[arg(long)]
    clients: Option<usize>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

struct Phase {
    writes_per_s: f64,
    lags: Vec<Duration>,
    expired: usize,
}

async fn phase(sweep: bool, cubes: usize, spread: u64, clients: usize) -> Phase {
    let dir = tempfile::tempdir().unwrap();
    let env: &[(&str, &str)] = if sweep { &[] } else { &[("MEMMESH__LIFECYCLE__SWEEP_INTERVAL_MS", "3600000")] };
    let node = NodeProc::start_with_env(&dir.path().join("n"), env);
    let mut c = node.client().await;

    // Subscribe first: every EXPIRED event from now on, with its arrival time.
    let req = SubscribeRequest { scope: Some(scope("life", "")), event_types: vec![EventType::Expired as i32], ..Default::default() };
    let mut feed = c.memstore.subscribe(req).await.unwrap().into_inner();
    let collector = tokio::spawn(async move {
        let mut lags = Vec::new();
        while let Ok(Some(msg)) = feed.message().await {
            if let Some(subscribe_response::Kind::Events(b)) = msg.kind {
                let at = now_ms();
                for e in b.events {
                    let exp = e.cube.map_or(at, |c| c.expires_at_ms);
                    lags.push(Duration::from_millis((at - exp).max(0) as u64));
                }
            }
        }
        lags
    });

    let mut last_expiry = 0;
    for (b, chunk) in (0..cubes).collect::<Vec<_>>().chunks(1000).enumerate() {
        let batch: Vec<CubeInput> = chunk
            .iter()
            .map(|i| CubeInput { ttl_seconds: 1 + (*i as u64 % spread), ..text_cube(scope("life", &format!("u{}", i % 100)), &format!("fact {i}")) })
            .collect();
        let r = c.memory.put_batch(PutBatchRequest { cubes: batch, request_id: format!("load-{b}"), ..Default::default() }).await.unwrap();
        last_expiry = last_expiry.max(r.into_inner().cubes.iter().map(|c| c.expires_at_ms).max().unwrap_or(0));
    }

    // Writers for as long as the expiries keep coming.
    let stop = Arc::new(AtomicBool::new(false));
    let payload = "w".repeat(1024);
    let mut tasks = Vec::new();
    for w in 0..clients {
        let mut c = node.client().await;
        let (stop, payload) = (stop.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let cube = text_cube(scope("writers", &format!("w{w}")), &format!("{n} {payload}"));
                c.memory.put(PutRequest { cube: Some(cube), ..Default::default() }).await.expect("put");
                n += 1;
            }
            n
        }));
    }
    let start = Instant::now();
    let window = Duration::from_millis((last_expiry - now_ms()).max(500) as u64);
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for t in tasks {
        writes += t.await.unwrap();
    }
    let writes_per_s = writes as f64 / start.elapsed().as_secs_f64();
    // Let the last sweep land, then stop the node (ending the subscription).
    if sweep {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    drop(c);
    drop(node);
    let lags = collector.await.unwrap();
    Phase { writes_per_s, expired: lags.len(), lags }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let cubes = args.cubes.unwrap_or(if smoke { 2000 } else { 100_000 });
    let spread = args.spread.unwrap_or(if smoke { 2 } else { 10 }).max(1);
    let clients = args.clients.unwrap_or(if smoke { 4 } else { 16 }).max(1);

    let off = phase(false, cubes, spread, clients).await;
    let mut on = phase(true, cubes, spread, clients).await;
    println!(
        "bench-lifecycle{} — one node, {cubes} cubes with TTLs of 1..={spread} s, {clients} writers meanwhile",
        if smoke { " (smoke run)" } else { "" }
    );
    let (p50, p99, max) = (percentile(&mut on.lags, 0.5), percentile(&mut on.lags, 0.99), percentile(&mut on.lags, 1.0));
    println!(
        "  expiry lag (expires_at -> EXPIRED event at a subscriber), n={}: p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        on.expired,
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!(
        "  writes/s while expiring: sweeper on {:.0}, sweeper off {:.0}   ratio on/off = {:.2}",
        on.writes_per_s,
        off.writes_per_s,
        on.writes_per_s / off.writes_per_s
    );
    assert_eq!(off.expired, 0, "with the sweeper off nothing is swept");
    assert_eq!(on.expired, cubes, "every cube expired, once");
}
