//! Search latency and dense recall at 10k, 100k and 1M cubes in one tenant with 1,000 users.
//!
//! ```text
//! bench-search [--smoke] [--users U] [--queries Q] [--sizes 10000,100000,1000000]
//! ```
//!
//! Cubes are written with client-supplied vectors of the node's own model id (clustered
//! synthetic vectors: 100 topics, each cube its topic's centroid plus noise) so that 100k cubes
//! load in seconds instead of the ~20 minutes the int8 model would need on two cores; their
//! texts are sentences over a fixed vocabulary. Then, at each size:
//! - end-to-end latency (query *text*, embedded by the node) of HYBRID and DENSE in one user's
//!   scope and HYBRID over the whole tenant: p50 / p99;
//! - the search's own cost, without the query embedding: tenant-wide LEXICAL, and HYBRID given
//!   the query's vector beside its text;
//! - dense recall@10: raw-vector DENSE queries against an exact top-10 computed here, in f64,
//!   over the same vectors (user scope and whole tenant);
//! - the baseline, the feature switched off: the node restarted with
//!   `search.quantized_min_vectors = 0` (every dense search scans the f32 vectors), the same
//!   tenant-wide queries again, and the ratio; the restart's time to serving (the index rebuilt
//!   from RocksDB) and the node's resident memory after it;
//! - the goal of the tenant-wide HYBRID p50 against the user scope's: at most 5 ms more.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use clap::Parser;
use memmesh_client::Client;
use memmesh_tests::bench::{ms, percentile, resident_bytes, sentence, Rng};
use memmesh_tests::proto::*;
use memmesh_tests::{scope, text_cube, NodeProc, EMBEDDING_ON};

const TOPICS: usize = 100;
const TENANT: &str = "bench";

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// A vector near `centroid` (cosine ~0.7).
fn near(rng: &mut Rng, centroid: &[f32]) -> Vec<f32> {
    let s = 1.0 / (centroid.len() as f32).sqrt();
    unit(centroid.iter().map(|c| c + s * rng.normal()).collect())
}

struct Data {
    vectors: Vec<Vec<f32>>,
    users: Vec<usize>,
    index_of: HashMap<String, usize>,
}

fn exact_top(data: &Data, q: &[f32], user: Option<usize>, k: usize) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = (0..data.vectors.len())
        .filter(|i| user.is_none_or(|u| data.users[*i] == u))
        .map(|i| (data.vectors[i].iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}

async fn timed(c: &mut Client, req: SearchRequest) -> (Duration, Vec<SearchHit>) {
    let t0 = Instant::now();
    let hits = c.memory.search(req).await.expect("search").into_inner().hits;
    (t0.elapsed(), hits)
}

/// Search latency and dense recall at 10k, 100k and 1M cubes in one tenant.
#[derive(Parser)]
struct Args {
    /// A short run for CI: 10,000 cubes (enough for the int8 pass), 20 users, 10 queries
    /// (unless given).
    #[arg(long)]
    smoke: bool,
    /// Users the tenant's cubes are spread over [default: 1000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    users: Option<u64>,
    /// Queries per measurement [default: 200].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    queries: Option<u64>,
    /// Tenant sizes to load and measure, ascending [default: 10000,100000,1000000].
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
}

/// One node's process on the bench's data directory.
fn start(dir: &std::path::Path, exact: bool) -> NodeProc {
    let mut env = EMBEDDING_ON.to_vec();
    if exact {
        env.push(("MEMMESH__SEARCH__QUANTIZED_MIN_VECTORS", "0"));
    }
    NodeProc::start_within(Duration::from_secs(600), &[], dir, "127.0.0.1:0", &[], &env)
}

/// The same queries for both configurations of a size.
struct Queries {
    /// (text, user) for the text rows.
    texts: Vec<(String, usize)>,
    /// (vector, user) for the recall rows.
    vectors: Vec<(Vec<f32>, usize)>,
}

/// One user's scope, or the whole tenant.
fn searched(user: Option<usize>) -> Scope {
    match user {
        Some(u) => scope(TENANT, &format!("user{u:04}")),
        None => scope(TENANT, ""),
    }
}

/// p50 and p99 of `requests`, each timed end to end, one after the other.
async fn latencies(c: &mut Client, requests: impl IntoIterator<Item = SearchRequest>) -> (f64, f64) {
    let mut lat = Vec::new();
    for req in requests {
        lat.push(timed(c, req).await.0);
    }
    (ms(percentile(&mut lat, 0.5)), ms(percentile(&mut lat, 0.99)))
}

/// p50 and p99 of the end-to-end text queries of `mode`, in one user's scope or the tenant.
async fn text_row(c: &mut Client, q: &Queries, mode: SearchMode, user_scope: bool) -> (f64, f64) {
    let requests = q.texts.iter().map(|(text, user)| {
        let s = searched(user_scope.then_some(*user));
        SearchRequest { query: text.clone(), scope: Some(s), k: 10, mode: mode as i32, ..Default::default() }
    });
    latencies(c, requests).await
}

/// p50 and p99 of tenant-wide queries that need no embedding — LEXICAL on the text, or HYBRID
/// on the text with the query's raw vector — so the search's own cost shows without the
/// model's.
async fn unembedded_row(c: &mut Client, q: &Queries, mode: SearchMode) -> (f64, f64) {
    let requests = q.texts.iter().zip(&q.vectors).map(|((text, _), (v, _))| {
        let vector = if mode == SearchMode::Lexical { Vec::new() } else { v.clone() };
        SearchRequest { query: text.clone(), vector, scope: Some(searched(None)), k: 10, mode: mode as i32, ..Default::default() }
    });
    latencies(c, requests).await
}

/// p50, p99 and recall@10 of raw-vector DENSE queries against the exact top-10.
async fn recall_row(c: &mut Client, data: &Data, q: &Queries, user_scope: bool) -> (f64, f64, f64) {
    let (mut lat, mut recall) = (Vec::new(), 0.0);
    let nq = if user_scope { q.vectors.len() } else { q.vectors.len().min(50) };
    for (v, u) in q.vectors.iter().take(nq) {
        let user = user_scope.then_some(*u);
        let req = SearchRequest { vector: v.clone(), scope: Some(searched(user)), k: 10, mode: SearchMode::Dense as i32, ..Default::default() };
        let (d, hits) = timed(c, req).await;
        lat.push(d);
        let got: HashSet<usize> = hits.iter().map(|h| data.index_of[&h.cube.as_ref().unwrap().id]).collect();
        let exact = exact_top(data, v, user, 10);
        recall += exact.iter().filter(|i| got.contains(i)).count() as f64 / exact.len().max(1) as f64;
    }
    (ms(percentile(&mut lat, 0.5)), ms(percentile(&mut lat, 0.99)), recall / nq as f64)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let users = args.users.unwrap_or(if smoke { 20 } else { 1000 }) as usize;
    let queries = args.queries.unwrap_or(if smoke { 10 } else { 200 }) as usize;
    let sizes: Vec<usize> = args.sizes.clone().unwrap_or(if smoke { vec![10_000] } else { vec![10_000, 100_000, 1_000_000] });
    assert!(sizes.windows(2).all(|w| w[0] < w[1]) && !sizes.is_empty(), "--sizes: ascending, at least one");

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("n1");
    let mut node = start(&data_dir, false);
    let mut c = node.client().await;
    let probe = c
        .memory
        .put(PutRequest { cube: Some(text_cube(scope("probe", "p"), "probe")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap();
    let e = probe.into_inner().cube.unwrap().embedding.expect("the node embeds");
    let (model, dims) = (e.model, e.vector.len());

    let mut rng = Rng::new(42);
    let centroids: Vec<Vec<f32>> = (0..TOPICS).map(|_| unit((0..dims).map(|_| rng.normal()).collect())).collect();
    let mut data = Data { vectors: Vec::new(), users: Vec::new(), index_of: HashMap::new() };
    println!("search latency, one tenant, {users} users, {dims}-d vectors of model {model}, {queries} queries per row");
    println!("{:>7} {:<34} {:>9} {:>9} {:>11}", "cubes", "query", "p50 ms", "p99 ms", "recall@10");
    let row = |size: usize, name: &str, (p50, p99): (f64, f64), recall: Option<f64>| {
        let r = recall.map_or(String::new(), |r| format!("{r:.4}"));
        println!("{size:>7} {name:<34} {p50:>9.2} {p99:>9.2} {r:>11}");
    };
    let mut summary = Vec::new();
    let mut resident: Vec<(usize, u64)> = Vec::new();
    let last = sizes.last().copied();
    for size in sizes {
        // Load up to `size`, 1,000 cubes per PutBatch.
        let t0 = Instant::now();
        while data.vectors.len() < size {
            let n = (size - data.vectors.len()).min(1000);
            let mut cubes = Vec::with_capacity(n);
            let base = data.vectors.len();
            for i in base..base + n {
                let topic = rng.below(TOPICS);
                let v = near(&mut rng, &centroids[topic]);
                let mut cube = text_cube(searched(Some(i % users)), &sentence(&mut rng, 8, 30));
                cube.embedding = Some(Embedding { vector: v.clone(), model: model.clone() });
                cubes.push(cube);
                data.vectors.push(v);
                data.users.push(i % users);
            }
            // Every input is stored (NONE): the figures measure writing and finding all of them.
            // Under a long load RocksDB may stall a commit past the node's 5 s; the answer then
            // says to retry under the same request id, which writes the batch once.
            let req = PutBatchRequest { cubes, request_id: format!("load-{base}"), dedupe: DedupeMode::None as i32, ..Default::default() };
            let mut attempt = 0;
            let r = loop {
                match c.memory.put_batch(req.clone()).await {
                    Ok(r) => break r.into_inner(),
                    Err(e) if e.code() == tonic::Code::Unavailable && attempt < 5 => attempt += 1,
                    Err(e) => panic!("put_batch: {e}"),
                }
            };
            for (j, cube) in r.cubes.into_iter().enumerate() {
                data.index_of.insert(cube.id, base + j);
            }
        }
        let load = t0.elapsed();
        let q = Queries {
            texts: (0..queries).map(|qi| (sentence(&mut rng, 4, 10), qi % users)).collect(),
            vectors: (0..queries)
                .map(|qi| {
                    let topic = rng.below(TOPICS);
                    (near(&mut rng, &centroids[topic]), qi % users)
                })
                .collect(),
        };

        // The default configuration: int8 first for big scans.
        let user_hybrid = text_row(&mut c, &q, SearchMode::Hybrid, true).await;
        row(size, "user scope, HYBRID, text", user_hybrid, None);
        row(size, "user scope, DENSE, text", text_row(&mut c, &q, SearchMode::Dense, true).await, None);
        let tenant_hybrid = text_row(&mut c, &q, SearchMode::Hybrid, false).await;
        row(size, "tenant, HYBRID, text", tenant_hybrid, None);
        let (p50, p99, recall) = recall_row(&mut c, &data, &q, true).await;
        row(size, "user scope, DENSE, vector", (p50, p99), Some(recall));
        let (p50, p99, tenant_recall) = recall_row(&mut c, &data, &q, false).await;
        row(size, "tenant, DENSE, vector", (p50, p99), Some(tenant_recall));
        let tenant_dense = p50;
        row(size, "tenant, LEXICAL, text", unembedded_row(&mut c, &q, SearchMode::Lexical).await, None);
        row(size, "tenant, HYBRID, text + vector", unembedded_row(&mut c, &q, SearchMode::Hybrid).await, None);

        // The baseline: the same node restarted with the int8 pass off.
        node.terminate();
        let t1 = Instant::now();
        node = start(&data_dir, true);
        let rebuild = t1.elapsed();
        let rss = resident_bytes(node.pid()).unwrap_or(0);
        c = node.client().await;
        let exact_hybrid = text_row(&mut c, &q, SearchMode::Hybrid, false).await;
        row(size, "tenant, HYBRID, text (f32 scan)", exact_hybrid, None);
        let (p50, p99, exact_recall) = recall_row(&mut c, &data, &q, false).await;
        row(size, "tenant, DENSE, vector (f32 scan)", (p50, p99), Some(exact_recall));
        let exact_dense = p50;
        if Some(size) != last {
            // Back to the default configuration for the next size's load and rows.
            node.terminate();
            node = start(&data_dir, false);
            c = node.client().await;
        }
        println!(
            "        loaded to {size} cubes in {:.1} s; restart to serving (index rebuilt) {:.1} s; node resident {:.0} MB",
            load.as_secs_f64(),
            rebuild.as_secs_f64(),
            rss as f64 / 1e6,
        );
        resident.push((size, rss));
        summary.push((size, user_hybrid.0, tenant_hybrid.0, exact_hybrid.0, tenant_dense, exact_dense, tenant_recall));
    }
    println!("summary (p50 ms; the f32 scan is the baseline, the same node and queries with search.quantized_min_vectors = 0):");
    for (size, user, tenant, exact, dense, exact_dense, recall) in summary {
        println!(
            "{size:>7} tenant HYBRID {tenant:.2} vs user scope {user:.2}: +{:.2} ms (goal <= +5); f32 scan {exact:.2}, ratio {:.2}; tenant DENSE vector {dense:.2} vs f32 {exact_dense:.2}, ratio {:.2}; recall@10 {recall:.4} (goal >= 0.98)",
            tenant - user,
            tenant / exact,
            dense / exact_dense
        );
    }
    // Per cube, from the growth between the smallest and largest size: the fixed part (the
    // model, RocksDB's caches) cancels out.
    if let (Some(&(n0, r0)), Some(&(n1, r1))) = (resident.first(), resident.last()) {
        if n1 > n0 {
            println!(
                "resident memory: {:.0} MB per 1M cubes (growth from {n0} to {n1} cubes, after a restart)",
                (r1 as f64 - r0 as f64) / (n1 - n0) as f64
            );
        }
    }
}
