//! Embedding throughput through the whole write path, against raw ONNX Runtime.
//!
//! ```text
//! bench-embed [--smoke] [--cubes N] [--batch B] [--rounds R]
//! ```
//!
//! - Raw: this process loads the same model with the same runtime (`memmesh_node::embed`: ort +
//!   tokenizers, tokenisation included) and embeds texts in micro-batches of B.
//! - Full path: a node (embedding on, micro-batches of B) receives texts as `PutBatch` requests
//!   of 8·B cubes, two requests in flight: gRPC → embed → Raft (fsync) → apply → index.
//!
//! The N texts are split into R rounds; each round runs a raw slice and a full-path slice of
//! its texts back to back, raw first in even rounds and full first in odd ones, so a neighbour's
//! burst or a warming cache lands on both sides alike instead of deciding one whole phase (one
//! phase each once printed 2.22, another run 0.87). The two sides never run at the same time
//! (the node is idle during a raw slice). Prints the pooled rates and ratio, and the median and
//! spread of the per-round ratios (target ≥ 0.9).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use memmesh_node::embed::{Embedder, EmbeddingConfig};
use memmesh_tests::bench::{sentence, Rng};
use memmesh_tests::proto::*;
use memmesh_tests::{repo_root, scope, text_cube, NodeProc, EMBEDDING_ON};

/// Embedding throughput through the whole write path, against raw ONNX Runtime.
#[derive(Parser)]
struct Args {
    /// A short run for CI: 64 cubes in 2 rounds (unless given).
    #[arg(long)]
    smoke: bool,
    /// Texts to embed [default: 2048].
    #[arg(long)]
    cubes: Option<usize>,
    /// Micro-batch size of both sides.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Rounds of alternating slices [default: 8].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: Option<u64>,
}

/// Writes `texts` through the node: PutBatch of `per_request` cubes, two in flight.
async fn full_path(c: &memmesh_client::Client, texts: &[String], per_request: usize) -> Duration {
    let chunks: Vec<Vec<String>> = texts.chunks(per_request.max(1)).map(|c| c.to_vec()).collect();
    let queue = Arc::new(Mutex::new(chunks.into_iter()));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (mut c, queue) = (c.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(chunk) = queue.lock().unwrap().next() else { break };
                let cubes = chunk.iter().map(|t| text_cube(scope("bench", "u"), t)).collect();
                // Every input is stored (NONE): the figures measure writing and finding all of them.
                let r = c
                    .memory
                    .put_batch(PutBatchRequest { cubes, request_id: String::new(), dedupe: DedupeMode::None as i32, ..Default::default() })
                    .await
                    .unwrap()
                    .into_inner();
                assert!(r.cubes.iter().all(|c| c.embedding.is_some()), "every cube embedded");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    t0.elapsed()
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let n = args.cubes.unwrap_or(if smoke { 64 } else { 2048 });
    let rounds = args.rounds.unwrap_or(if smoke { 2 } else { 8 }) as usize;
    let batch = args.batch as usize;
    let mut rng = Rng::new(7);
    // Memory-sized texts: 8–40 words.
    let texts: Vec<String> = (0..n).map(|_| sentence(&mut rng, 8, 40)).collect();

    let root = repo_root();
    let d = EmbeddingConfig::default();
    let cfg = EmbeddingConfig { model_dir: root.join(&d.model_dir), ort_dylib: root.join(&d.ort_dylib), batch_size: batch, ..d };
    let mut e = Embedder::load(&cfg).expect("model installed by scripts/setup-models.sh");
    e.embed(&texts[..batch.min(n)]).unwrap(); // warm-up

    let dir = tempfile::tempdir().unwrap();
    let batch_env = batch.to_string();
    let mut env = EMBEDDING_ON.to_vec();
    env.push(("MEMMESH__EMBEDDING__BATCH_SIZE", batch_env.as_str()));
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &env);
    let c = node.client().await;
    let per_request = (8 * batch).min(n);
    full_path(&c, &texts[..1], 1).await; // warm-up

    let slice = n.div_ceil(rounds);
    let (mut raw_time, mut full_time, mut done) = (Duration::ZERO, Duration::ZERO, 0usize);
    let mut ratios = Vec::new();
    for (r, part) in texts.chunks(slice).enumerate() {
        let raw_slice = |e: &mut Embedder| {
            let t0 = Instant::now();
            e.embed(part).unwrap();
            t0.elapsed()
        };
        let (raw, full) = if r % 2 == 0 {
            let raw = raw_slice(&mut e);
            (raw, full_path(&c, part, per_request).await)
        } else {
            let full = full_path(&c, part, per_request).await;
            (raw_slice(&mut e), full)
        };
        raw_time += raw;
        full_time += full;
        done += part.len();
        ratios.push(raw.as_secs_f64() / full.as_secs_f64());
    }
    let raw = done as f64 / raw_time.as_secs_f64();
    let full = done as f64 / full_time.as_secs_f64();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "embedding throughput, {n} texts of 8-40 words, micro-batch {batch}, PutBatch of {per_request} cubes, 2 in flight, {} alternating rounds:",
        ratios.len()
    );
    println!("  raw ONNX Runtime (same model, same batch, tokenisation included): {raw:8.1} texts/s");
    println!("  full write path (gRPC -> embed -> Raft fsync -> apply -> index):   {full:8.1} cubes/s");
    println!(
        "  ratio full/raw: pooled {:.2}, median of rounds {median:.2}, rounds {:.2}-{:.2} (target >= 0.9)",
        full / raw,
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
