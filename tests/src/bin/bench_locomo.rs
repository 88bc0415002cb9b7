//! LoCoMo retrieval benchmark: recall@k of `Memory.Search` on long conversations.
//!
//! ```text
//! bench-locomo [--smoke] [--no-context] [--addr HOST:PORT] DATA_DIR
//! bench-locomo [--smoke] --adapter-train TRAIN_DIR EVAL_DIR
//! bench-locomo [--smoke] --leave-one-out DATA_DIR
//! ```
//!
//! For every `*.json` conversation in DATA_DIR (LoCoMo layout, see ../shared/data/locomo/README.md):
//! every turn becomes a cube in the conversation's own scope (tenant `locomo`, user = file
//! name), written through the gRPC API — one `PutBatch` per session, so the node embeds each
//! session in one batched call. Then every question of categories 1–4 is asked through `Search`
//! in that scope with DENSE, LEXICAL and HYBRID, and recall@1/5/10/20 is printed: the fraction
//! of a question's evidence turns found among the top k, averaged over questions.
//!
//! Without `--addr` the bench starts its own node (embedding on) in a temporary directory.
//! `--smoke`: the first conversation and its first 20 questions only. `--no-context`: turns
//! without their search context (the previous turn), to measure what the context adds.
//!
//! Query adapters (see `memmesh_tests::locomo_adapter`): `--adapter-train TRAIN_DIR` trains an
//! adapter through the node's API on TRAIN_DIR's questions and evaluates on the conversations of
//! the data directory, printing DENSE, HYBRID, DENSE+ADAPTER and HYBRID+ADAPTER rows and the
//! search latency with and without the adapter. `--leave-one-out` does that once per
//! conversation of the data directory (trained on all the others) and pools the figures.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use memmesh_client::Client;
use memmesh_tests::locomo::{conversations, cube_of, sessions, Conversation};
use memmesh_tests::proto::*;
use memmesh_tests::{NodeProc, EMBEDDING_ON};
use serde_json::Value;

const KS: [usize; 4] = [1, 5, 10, 20];
/// Measured outside the project on the seven shared files (README of the data set).
const BASELINES: [(&str, f64); 3] = [("DENSE", 0.478), ("LEXICAL", 0.517), ("HYBRID", 0.555)];

/// LoCoMo retrieval benchmark: recall@k of `Memory.Search` on long conversations.
#[derive(Parser)]
struct Args {
    /// A short run for CI: the first conversation and its first 20 questions.
    #[arg(long)]
    smoke: bool,
    /// Write turns without their search context (the previous turn).
    #[arg(long)]
    no_context: bool,
    /// Use a running node instead of starting one.
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// Write each question's top 100 of both signals to this file (for tuning fusion offline).
    #[arg(long, value_name = "FILE")]
    dump: Option<PathBuf>,
    /// Train a query adapter on these conversations' questions and evaluate it on DATA_DIR's.
    #[arg(long, value_name = "TRAIN_DIR")]
    adapter_train: Option<PathBuf>,
    /// Adapter figures by leave-one-conversation-out over DATA_DIR.
    #[arg(long, conflicts_with = "adapter_train")]
    leave_one_out: bool,
    /// The adapter's ridge strength (0 = chosen by the node's held-out check).
    #[arg(long, default_value_t = 0.0)]
    adapter_lambda: f32,
    /// The adapter's rank (0 = the node's default).
    #[arg(long, default_value_t = 0)]
    adapter_rank: u32,
    /// A directory of LoCoMo-format `*.json` conversations.
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let smoke = args.smoke;
    let context = !args.no_context;
    let addr = args.addr.clone();
    let data_dir = args.data_dir.clone();
    let mut convs: Vec<Conversation> = conversations(&data_dir, smoke.then_some(1));
    if smoke {
        convs[0].questions.truncate(20);
    }

    let dir = tempfile::tempdir().unwrap();
    let _node;
    let addr = match addr {
        Some(a) => a,
        None => {
            _node = NodeProc::start_with_env(&dir.path().join("n1"), EMBEDDING_ON);
            _node.addr.clone()
        }
    };
    let mut c = Client::connect(&addr).await.expect("connect");
    if args.adapter_train.is_some() || args.leave_one_out {
        return adapters(&mut c, &args, convs, context).await;
    }

    // Ingest. A run id keeps repeated runs against one node apart.
    let run = format!("r{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis());
    let t0 = Instant::now();
    let mut dia_of: HashMap<String, String> = HashMap::new();
    let mut n_turns = 0;
    for conv in &convs {
        let scope = Scope { tenant: "locomo".into(), user: conv.name.clone(), run: run.clone(), ..Default::default() };
        for session in sessions(conv) {
            let cubes = session.iter().enumerate().map(|(i, t)| cube_of(&scope, t, (i > 0 && context).then(|| session[i - 1]))).collect();
            // Every input is stored (NONE): the figures measure writing and finding all of them.
            let r = c
                .memory
                .put_batch(PutBatchRequest { cubes, request_id: String::new(), dedupe: DedupeMode::None as i32, ..Default::default() })
                .await
                .expect("put_batch")
                .into_inner();
            for (cube, t) in r.cubes.iter().zip(&session) {
                dia_of.insert(cube.id.clone(), t.dia_id.clone());
            }
            n_turns += session.len();
        }
    }
    let ingest = t0.elapsed();
    let n_questions: usize = convs.iter().map(|c| c.questions.len()).sum();
    println!(
        "LoCoMo: {} conversations, {n_turns} turns ingested in {:.1} s ({:.0} turns/s, embedding included), {n_questions} questions (categories 1-4)",
        convs.len(),
        ingest.as_secs_f64(),
        n_turns as f64 / ingest.as_secs_f64()
    );

    if let Some(path) = &args.dump {
        // Development aid: each question's top 100 of both signals, for tuning fusion offline.
        let mut out = String::new();
        for conv in &convs {
            let scope = Scope { tenant: "locomo".into(), user: conv.name.clone(), run: run.clone(), ..Default::default() };
            for q in &conv.questions {
                let mut lists = serde_json::Map::new();
                for (mode, name) in [(SearchMode::Dense, "dense"), (SearchMode::Lexical, "lexical")] {
                    let req = SearchRequest { query: q.text.clone(), scope: Some(scope.clone()), k: 100, mode: mode as i32, ..Default::default() };
                    let hits = c.memory.search(req).await.expect("search").into_inner().hits;
                    let l: Vec<Value> = hits.iter().map(|h| serde_json::json!([dia_of[&h.cube.as_ref().unwrap().id], h.score])).collect();
                    lists.insert(name.into(), l.into());
                }
                lists.insert("evidence".into(), q.evidence.clone().into());
                lists.insert("conv".into(), conv.name.clone().into());
                lists.insert("question".into(), q.text.clone().into());
                out.push_str(&Value::Object(lists).to_string());
                out.push('\n');
            }
        }
        std::fs::write(path, out).expect("write dump");
    }
    println!("search context (previous turn): {}", if context { "on" } else { "off (--no-context)" });
    println!("{:<10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>14}", "mode", "recall@1", "recall@5", "recall@10", "recall@20", "ms/query", "@10 vs base");
    let runs = [
        (SearchMode::Dense, Fusion::Unspecified, "DENSE"),
        (SearchMode::Lexical, Fusion::Unspecified, "LEXICAL"),
        (SearchMode::Hybrid, Fusion::Convex, "HYBRID"),
        (SearchMode::Hybrid, Fusion::Rrf, "HYBRID-RRF"),
    ];
    for (mode, fusion, name) in runs {
        let mut sums = [0f64; KS.len()];
        let t0 = Instant::now();
        for conv in &convs {
            let scope = Scope { tenant: "locomo".into(), user: conv.name.clone(), run: run.clone(), ..Default::default() };
            for q in &conv.questions {
                let req = SearchRequest {
                    query: q.text.clone(),
                    scope: Some(scope.clone()),
                    k: 20,
                    mode: mode as i32,
                    fusion: fusion as i32,
                    ..Default::default()
                };
                let hits = c.memory.search(req).await.expect("search").into_inner().hits;
                let ranked: Vec<&str> = hits.iter().map(|h| dia_of.get(&h.cube.as_ref().unwrap().id).map_or("", String::as_str)).collect();
                for (i, k) in KS.iter().enumerate() {
                    sums[i] += q.recall_at(&ranked, *k);
                }
            }
        }
        let per_query = t0.elapsed().as_secs_f64() * 1e3 / n_questions as f64;
        let r: Vec<f64> = sums.iter().map(|s| s / n_questions as f64).collect();
        let base = BASELINES.iter().find(|(n, _)| name.starts_with(n)).unwrap().1;
        println!("{name:<10} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {per_query:>10.2} {:>8.3} ({:.2}x)", r[0], r[1], r[2], r[3], base, r[2] / base);
    }
    println!("baselines (recall@10, measured outside the project): BM25 0.517, all-MiniLM-L6-v2 dense 0.478, their RRF 0.555");
}

/// The adapter runs: one fold (`--adapter-train`) or one per conversation (`--leave-one-out`).
async fn adapters(c: &mut Client, args: &Args, eval: Vec<Conversation>, context: bool) {
    use memmesh_tests::locomo_adapter::{describe, fold, print};
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let mut folds = Vec::new();
    if let Some(train_dir) = &args.adapter_train {
        let mut train = conversations(train_dir, args.smoke.then_some(1));
        if args.smoke {
            train[0].questions.truncate(20);
        }
        let t: Vec<&Conversation> = train.iter().collect();
        let e: Vec<&Conversation> = eval.iter().collect();
        println!(
            "adapter: trained on {} conversations of {} ({} questions), evaluated on {} of {} ({} questions)",
            t.len(),
            train_dir.display(),
            t.iter().map(|c| c.questions.len()).sum::<usize>(),
            e.len(),
            args.data_dir.display(),
            e.iter().map(|c| c.questions.len()).sum::<usize>()
        );
        let f = fold(c, &format!("adapt{run}"), &t, &e, context, args.adapter_lambda, args.adapter_rank).await;
        println!("{}", describe("fold", &f));
        folds.push(f);
    } else {
        println!("adapter: leave-one-conversation-out over the {} conversations of {}", eval.len(), args.data_dir.display());
        for (i, held) in eval.iter().enumerate() {
            let train: Vec<&Conversation> = eval.iter().filter(|c| c.name != held.name).collect();
            let f = fold(c, &format!("adapt{run}f{i}"), &train, &[held], context, args.adapter_lambda, args.adapter_rank).await;
            println!("{}", describe(&format!("evaluated on {}", held.name), &f));
            folds.push(f);
        }
    }
    print(&mut folds);
}
