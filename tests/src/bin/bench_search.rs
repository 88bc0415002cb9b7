//! Search latency and dense recall at 10k and 100k cubes in one tenant with 1,000 users.
//!
//! ```text
//! bench-search [--smoke] [--users U] [--queries Q]
//! ```
//!
//! Cubes are written with client-supplied vectors of the node's own model id (clustered
//! synthetic vectors: 100 topics, each cube its topic's centroid plus noise) so that 100k cubes
//! load in seconds instead of the ~20 minutes the int8 model would need on two cores; their
//! texts are sentences over a fixed vocabulary. Then, at each size:
//! - end-to-end latency (query *text*, embedded by the node) of HYBRID and DENSE in one user's
//!   scope and HYBRID over the whole tenant: p50 / p99;
//! - dense recall@10: raw-vector DENSE queries against an exact top-10 computed here, in f64,
//!   over the same vectors (user scope and whole tenant).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use clap::Parser;
use memmesh_client::Client;
use memmesh_tests::bench::{ms, percentile, sentence, Rng};
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

/// Search latency and dense recall at 10k and 100k cubes in one tenant.
#[derive(Parser)]
struct Args {
    /// A short run for CI: 2,000 cubes, 20 users, 10 queries (unless given).
    #[arg(long)]
    smoke: bool,
    /// Users the tenant's cubes are spread over [default: 1000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    users: Option<u64>,
    /// Queries per measurement [default: 200].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    queries: Option<u64>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let users = args.users.unwrap_or(if smoke { 20 } else { 1000 }) as usize;
    let queries = args.queries.unwrap_or(if smoke { 10 } else { 200 }) as usize;
    let sizes: Vec<usize> = if smoke { vec![2_000] } else { vec![10_000, 100_000] };

    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), EMBEDDING_ON);
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
    println!("{:>7} {:<28} {:>9} {:>9} {:>11}", "cubes", "query", "p50 ms", "p99 ms", "recall@10");
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
                let mut cube = text_cube(scope(TENANT, &format!("user{:04}", i % users)), &sentence(&mut rng, 8, 30));
                cube.embedding = Some(Embedding { vector: v.clone(), model: model.clone() });
                cubes.push(cube);
                data.vectors.push(v);
                data.users.push(i % users);
            }
            // Every input is stored (NONE): the figures measure writing and finding all of them.
            let r = c
                .memory
                .put_batch(PutBatchRequest { cubes, request_id: String::new(), dedupe: DedupeMode::None as i32, ..Default::default() })
                .await
                .expect("put_batch")
                .into_inner();
            for (j, cube) in r.cubes.into_iter().enumerate() {
                data.index_of.insert(cube.id, base + j);
            }
        }
        let load = t0.elapsed();

        // End-to-end text queries.
        let rows: [(&str, SearchMode, bool); 3] = [
            ("user scope, HYBRID, text", SearchMode::Hybrid, true),
            ("user scope, DENSE, text", SearchMode::Dense, true),
            ("tenant, HYBRID, text", SearchMode::Hybrid, false),
        ];
        for (name, mode, user_scope) in rows {
            let mut lat = Vec::with_capacity(queries);
            for qi in 0..queries {
                let s = if user_scope { scope(TENANT, &format!("user{:04}", qi % users)) } else { scope(TENANT, "") };
                let req = SearchRequest { query: sentence(&mut rng, 4, 10), scope: Some(s), k: 10, mode: mode as i32, ..Default::default() };
                lat.push(timed(&mut c, req).await.0);
            }
            println!("{size:>7} {name:<28} {:>9.2} {:>9.2} {:>11}", ms(percentile(&mut lat, 0.5)), ms(percentile(&mut lat, 0.99)), "");
        }
        // Dense recall against exact search.
        for (name, user_scope) in [("user scope, DENSE, vector", true), ("tenant, DENSE, vector", false)] {
            let (mut lat, mut recall) = (Vec::new(), 0.0);
            let nq = if user_scope { queries } else { queries.min(50) };
            for qi in 0..nq {
                let topic = rng.below(TOPICS);
                let q = near(&mut rng, &centroids[topic]);
                let user = user_scope.then_some(qi % users);
                let s = match user {
                    Some(u) => scope(TENANT, &format!("user{u:04}")),
                    None => scope(TENANT, ""),
                };
                let req = SearchRequest { vector: q.clone(), scope: Some(s), k: 10, mode: SearchMode::Dense as i32, ..Default::default() };
                let (d, hits) = timed(&mut c, req).await;
                lat.push(d);
                let got: HashSet<usize> = hits.iter().map(|h| data.index_of[&h.cube.as_ref().unwrap().id]).collect();
                let exact = exact_top(&data, &q, user, 10);
                recall += exact.iter().filter(|i| got.contains(i)).count() as f64 / exact.len().max(1) as f64;
            }
            println!(
                "{size:>7} {name:<28} {:>9.2} {:>9.2} {:>11.4}",
                ms(percentile(&mut lat, 0.5)),
                ms(percentile(&mut lat, 0.99)),
                recall / nq as f64
            );
        }
        println!("        (loaded to {size} cubes in {:.1} s)", load.as_secs_f64());
    }
    println!("dense index: exact scan of the scope's contiguous vectors, so recall@10 is 1 by construction; the column checks it (target >= 0.98)");
}
