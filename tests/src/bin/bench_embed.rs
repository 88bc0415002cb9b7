//! Embedding throughput through the whole write path, against raw ONNX Runtime.
//!
//! ```text
//! bench-embed [--smoke] [--cubes N] [--batch B]
//! ```
//!
//! 1. Raw: this process loads the same model with the same runtime (`memmesh_node::embed`:
//!    ort + tokenizers, tokenisation included) and embeds N texts in micro-batches of B.
//! 2. Full path: a node (embedding on, micro-batches of B) receives the same N texts as
//!    `PutBatch` requests of 8·B cubes, two requests in flight: gRPC → embed → Raft (fsync) →
//!    apply → index. Cubes/s of both and their ratio (target ≥ 0.9).
//!
//! The raw run happens before the node starts, so the two never compete for the two cores.

use std::time::Instant;

use clap::Parser;
use memmesh_node::embed::{Embedder, EmbeddingConfig};
use memmesh_tests::bench::{sentence, Rng};
use memmesh_tests::proto::*;
use memmesh_tests::{repo_root, scope, text_cube, NodeProc, EMBEDDING_ON};

/// Embedding throughput through the whole write path, against raw ONNX Runtime.
#[derive(Parser)]
struct Args {
    /// A short run for CI: 64 cubes (unless given).
    #[arg(long)]
    smoke: bool,
    /// Texts to embed [default: 2048].
    #[arg(long)]
    cubes: Option<usize>,
    /// Micro-batch size of both runs.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let n = args.cubes.unwrap_or(if smoke { 64 } else { 2048 });
    let batch = args.batch as usize;
    let mut rng = Rng::new(7);
    // Memory-sized texts: 8–40 words.
    let texts: Vec<String> = (0..n).map(|_| sentence(&mut rng, 8, 40)).collect();

    let root = repo_root();
    let d = EmbeddingConfig::default();
    let cfg = EmbeddingConfig { model_dir: root.join(&d.model_dir), ort_dylib: root.join(&d.ort_dylib), batch_size: batch, ..d };
    let mut e = Embedder::load(&cfg).expect("model installed by scripts/setup-models.sh");
    e.embed(&texts[..batch.min(n)]).unwrap(); // warm-up
    let t0 = Instant::now();
    e.embed(&texts).unwrap();
    let raw = n as f64 / t0.elapsed().as_secs_f64();
    drop(e);

    let dir = tempfile::tempdir().unwrap();
    let batch_env = batch.to_string();
    let mut env = EMBEDDING_ON.to_vec();
    env.push(("MEMMESH__EMBEDDING__BATCH_SIZE", batch_env.as_str()));
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &env);
    let c = node.client().await;
    let per_request = (8 * batch).min(n);
    // Warm-up request, then the timed run.
    let mut w = c.clone();
    w.memory
        .put_batch(PutBatchRequest { cubes: vec![text_cube(scope("bench", "warm"), "warm up")], request_id: String::new(), ..Default::default() })
        .await
        .unwrap();
    let chunks: Vec<Vec<String>> = texts.chunks(per_request).map(|c| c.to_vec()).collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(chunks.into_iter()));
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
    let full = n as f64 / t0.elapsed().as_secs_f64();
    println!("embedding throughput, {n} texts of 8-40 words, micro-batch {batch}, PutBatch of {per_request} cubes, 2 in flight:");
    println!("  raw ONNX Runtime (same model, same batch, tokenisation included): {raw:8.1} texts/s");
    println!("  full write path (gRPC -> embed -> Raft fsync -> apply -> index):   {full:8.1} cubes/s");
    println!("  ratio full/raw: {:.2} (target >= 0.9)", full / raw);
}
