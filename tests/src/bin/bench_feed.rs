//! Change-feed benchmark of one node.
//!
//! ```text
//! bench-feed [--smoke] [--writes N] [--backlog M]
//! ```
//!
//! 1. Live delivery with 1 and with 100 subscribers (same scope): N sequential 1 KiB puts; for
//!    every (subscriber, revision) the time from sending the put to receiving its event. Printed
//!    beside the put's own acknowledgement latency in the same run (events are produced on apply,
//!    which precedes the ack, so delivery ≈ ack is the ideal) as a ratio.
//! 2. Catch-up: M events written as batches, then one subscriber from revision 1; events/s,
//!    against `List` reading the same M cubes through the API (cubes/s) in the same run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use memmesh_tests::bench::{ms, percentile as pct};
use memmesh_tests::proto::*;
use memmesh_tests::{scope, text_cube, NodeProc};

async fn live(node: &NodeProc, subscribers: usize, writes: usize, tenant: &str) -> (Vec<Duration>, Vec<Duration>) {
    let mut c = node.client().await;
    let arrivals: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..subscribers {
        let req = SubscribeRequest { scope: Some(scope(tenant, "")), ..Default::default() };
        let mut feed = c.memstore.subscribe(req).await.unwrap().into_inner();
        // Wait for the bookmark: the subscription is live before any write.
        feed.message().await.unwrap().unwrap();
        let arrivals = arrivals.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = 0;
            while got < writes {
                let Some(msg) = feed.message().await.unwrap() else { break };
                if let Some(subscribe_response::Kind::Events(b)) = msg.kind {
                    arrivals.lock().unwrap().push((b.revision, Instant::now()));
                    got += 1;
                }
            }
        }));
    }
    let payload = "e".repeat(1024);
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut acks = Vec::with_capacity(writes);
    for i in 0..writes {
        let t0 = Instant::now();
        let r = c
            .memory
            .put(PutRequest { cube: Some(text_cube(scope(tenant, "u"), &format!("{i} {payload}"))), request_id: String::new(), ..Default::default() })
            .await
            .unwrap();
        acks.push(t0.elapsed());
        sent.insert(r.into_inner().revision, t0);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let delivery = arrivals.lock().unwrap().iter().map(|(rev, at)| at.duration_since(sent[rev])).collect();
    (delivery, acks)
}

/// Change-feed benchmark of one node: live delivery and catch-up.
#[derive(Parser)]
struct Args {
    /// A short run for CI: 50 writes, a backlog of 2000 (unless given).
    #[arg(long)]
    smoke: bool,
    /// Sequential puts whose events are timed [default: 1000].
    #[arg(long)]
    writes: Option<usize>,
    /// Events a subscriber from revision 1 catches up on [default: 50000].
    #[arg(long)]
    backlog: Option<usize>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let writes = args.writes.unwrap_or(if smoke { 50 } else { 1000 });
    let backlog = args.backlog.unwrap_or(if smoke { 2000 } else { 50_000 });

    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("node"));
    println!("bench-feed{} — one node, 1 KiB plaintext cubes", if smoke { " (smoke run)" } else { "" });
    for (subs, tenant) in [(1, "one"), (100, "hundred")] {
        let (mut d, mut a) = live(&node, subs, writes, tenant).await;
        let (d50, d99, a50, a99) = (pct(&mut d, 0.5), pct(&mut d, 0.99), pct(&mut a, 0.5), pct(&mut a, 0.99));
        println!(
            "  live, {subs:>3} subscriber(s), {writes} puts: put→event p50 {:.3} ms  p99 {:.3} ms   (put→ack p50 {:.3} ms  p99 {:.3} ms; ratio p99 {:.2})",
            ms(d50),
            ms(d99),
            ms(a50),
            ms(a99),
            d99.as_secs_f64() / a99.as_secs_f64()
        );
    }

    let mut c = node.client().await;
    let start = c.cluster.status(StatusRequest {}).await.unwrap().into_inner().applied_index + 1;
    let payload = "b".repeat(1024);
    for b in 0..backlog.div_ceil(1000) {
        let n = 1000.min(backlog - b * 1000);
        let cubes = (0..n).map(|i| text_cube(scope("backlog", "u"), &format!("{b}-{i} {payload}"))).collect();
        c.memory.put_batch(PutBatchRequest { cubes, request_id: String::new(), ..Default::default() }).await.unwrap();
    }
    let t = Instant::now();
    let req = SubscribeRequest { scope: Some(scope("backlog", "")), start_revision: start, ..Default::default() };
    let mut feed = c.memstore.subscribe(req).await.unwrap().into_inner();
    let mut got = 0;
    while got < backlog {
        if let Some(subscribe_response::Kind::Events(b)) = feed.message().await.unwrap().unwrap().kind {
            got += b.events.len();
        }
    }
    let catch_up = got as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut req = ListRequest { scope: Some(scope("backlog", "")), page_size: 1000, ..Default::default() };
    let mut listed = 0;
    loop {
        let page = c.memory.list(req.clone()).await.unwrap().into_inner();
        listed += page.cubes.len();
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    assert_eq!(listed, backlog);
    let list_rate = listed as f64 / t.elapsed().as_secs_f64();
    println!(
        "  catch-up from history, {backlog} events: {catch_up:.0} events/s   (List of the same cubes: {list_rate:.0} cubes/s; ratio {:.2})",
        catch_up / list_rate
    );
}
