//! The longest single index update while the search index grows: what one `apply` can hold the
//! index's write lock for (every search and every later write waits that long).
//!
//! ```text
//! bench-index-growth [--smoke] [--docs N] [--users U]
//! ```
//!
//! Builds one in-process `SearchIndex` (no node, no RocksDB) to N documents (default
//! 2,000,000; one tenant, U users, default 100; sentences over the bench vocabulary with 16-d
//! vectors of the index's model), timing every `upsert`: the longest, where it happened, the
//! 99.99th percentile and the mean.
//!
//! Baseline, in the same run: the longest single insert into one `HashMap<Ulid, u32>` grown to
//! N entries — what `by_id` alone cost when it was one map: crossing its load factor rehashed
//! every entry inside one upsert (148 ms at 1.8M cubes on this machine). The index's maps now
//! grow in shards (`index::sharded`); the ratio says how much of that stall is gone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use memmesh_node::index::SearchIndex;
use memmesh_proto::{Content, Embedding, MemCube, Scope};
use memmesh_tests::bench::{ms, percentile, sentence, Rng};
use ulid::Ulid;

#[derive(Parser)]
struct Args {
    /// A short run for CI: 50,000 documents.
    #[arg(long)]
    smoke: bool,
    /// Documents to grow the index to [default: 2000000].
    #[arg(long)]
    docs: Option<usize>,
    /// Users (scopes) of the one tenant.
    #[arg(long, default_value_t = 100)]
    users: usize,
}

const DIMS: usize = 16;

/// The `i`-th id: server-made ids are time plus randomness; these are too.
fn id(rng: &mut Rng, i: usize) -> Ulid {
    Ulid::from_parts(1_700_000_000_000 + i as u64, rng.next_u64() as u128)
}

/// The longest of `times` and the 1-based position of its first occurrence.
fn longest(times: &[Duration]) -> (Duration, usize) {
    times.iter().enumerate().fold((Duration::ZERO, 0), |(w, at), (i, &d)| if d > w { (d, i + 1) } else { (w, at) })
}

fn cube(rng: &mut Rng, i: usize, users: usize) -> MemCube {
    let vector = (0..DIMS).map(|_| rng.normal()).collect();
    MemCube {
        id: id(rng, i).to_string(),
        scope: Some(Scope { tenant: "bench".into(), user: format!("u{}", rng.below(users.max(1))), ..Default::default() }),
        content: Some(Content { text: sentence(rng, 4, 12), ..Default::default() }),
        state: 1,
        embedding: Some(Embedding { vector, model: "m".into() }),
        ..Default::default()
    }
}

fn main() {
    let args = Args::parse();
    let n = args.docs.unwrap_or(if args.smoke { 50_000 } else { 2_000_000 });

    let index = SearchIndex::new(Some(("m".into(), DIMS)));
    let mut rng = Rng::new(7);
    let mut times = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let c = cube(&mut rng, i, args.users);
        let t = Instant::now();
        index.upsert(&c);
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    assert_eq!(index.len(), n, "every document indexed");
    let (worst, worst_at) = longest(&times);
    let mean = times.iter().sum::<Duration>() / n as u32;
    let p9999 = percentile(&mut times, 0.9999);

    let mut plain: HashMap<Ulid, u32> = HashMap::new();
    times.clear();
    for i in 0..n {
        let id = id(&mut rng, i);
        let t = Instant::now();
        plain.insert(id, i as u32);
        times.push(t.elapsed());
    }
    let (base, base_at) = longest(&times);

    println!(
        "bench-index-growth{} — one SearchIndex grown to {n} documents ({} users, {DIMS}-d vectors)",
        if args.smoke { " (smoke run)" } else { "" },
        args.users
    );
    println!(
        "  upsert: longest {:.2} ms (at document {worst_at}), p99.99 {:.3} ms, mean {:.1} us; {:.1} s in all",
        ms(worst),
        ms(p9999),
        mean.as_secs_f64() * 1e6,
        total.as_secs_f64()
    );
    println!(
        "  baseline, one HashMap<Ulid, u32> grown to {n} (by_id before it was sharded): longest insert {:.2} ms (at entry {base_at})   ratio longest upsert / baseline = {:.2}",
        ms(base),
        worst.as_secs_f64() / base.as_secs_f64().max(1e-9)
    );
}
