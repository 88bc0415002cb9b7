//! The query-adapter part of `bench-locomo` (`--adapter-train`, `--leave-one-out`): train an
//! adapter on some conversations' questions through the node's own API, then measure recall on
//! conversations it never saw, with and without the adapter, in the same run.
//!
//! One fold, in its own tenant: the training conversations are written (one scope each), each
//! of their questions is recorded as `Memory.Feedback` for each evidence turn's cube, and
//! `Memory.TrainAdapter` fits an adapter for the tenant and activates it. Only then are the
//! evaluation conversations written, and their questions searched in their own scopes with
//! `adapter = NONE` and `adapter = AUTO` (which finds the tenant's adapter above the scope).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use memmesh_client::Client;

use crate::bench::{ms, percentile};
use crate::locomo::{cube_of, sessions, Conversation};
use crate::proto::*;

pub const KS: [usize; 4] = [1, 5, 10, 20];
/// The rows of the table: name, mode, adapter.
pub const ROWS: [(&str, SearchMode, &str); 4] = [
    ("DENSE", SearchMode::Dense, "NONE"),
    ("HYBRID", SearchMode::Hybrid, "NONE"),
    ("DENSE+ADAPTER", SearchMode::Dense, "AUTO"),
    ("HYBRID+ADAPTER", SearchMode::Hybrid, "AUTO"),
];

/// What one fold measured.
pub struct Fold {
    /// Per row: recall sums at each k (divide by `questions`).
    pub sums: [[f64; 4]; 4],
    pub questions: usize,
    /// Per row: each query's latency.
    pub latency: [Vec<Duration>; 4],
    /// The training call's answer, or why the node refused to train.
    pub trained: Result<TrainAdapterResponse, String>,
    pub train_time: Duration,
}

/// The scope of a conversation in a fold: training and evaluation copies apart (the smoke run
/// uses one file for both).
fn scope_of(tenant: &str, conv: &Conversation, eval: bool) -> Scope {
    Scope { tenant: tenant.into(), user: format!("{}-{}", conv.name, if eval { "eval" } else { "train" }), ..Default::default() }
}

/// Writes `convs` into `tenant` (see [`scope_of`]); returns, per conversation, each turn's
/// cube id by dia id.
async fn ingest(c: &mut Client, tenant: &str, convs: &[&Conversation], eval: bool, context: bool) -> HashMap<String, HashMap<String, String>> {
    let mut out = HashMap::new();
    for conv in convs {
        let scope = scope_of(tenant, conv, eval);
        let ids: &mut HashMap<String, String> = out.entry(conv.name.clone()).or_default();
        for session in sessions(conv) {
            let cubes = session.iter().enumerate().map(|(i, t)| cube_of(&scope, t, (i > 0 && context).then(|| session[i - 1]))).collect();
            let r = c
                .memory
                .put_batch(PutBatchRequest { cubes, dedupe: DedupeMode::None as i32, ..Default::default() })
                .await
                .expect("put_batch")
                .into_inner();
            for (cube, t) in r.cubes.iter().zip(&session) {
                ids.insert(t.dia_id.clone(), cube.id.clone());
            }
        }
    }
    out
}

/// One fold: train on `train`, evaluate on `eval`, in a tenant of its own.
/// `lambda` and `rank` go to `TrainAdapter` as they are (0 = the node's choice).
pub async fn fold(c: &mut Client, tenant: &str, train: &[&Conversation], eval: &[&Conversation], context: bool, lambda: f32, rank: u32) -> Fold {
    let ids = ingest(c, tenant, train, false, context).await;
    let mut items = Vec::new();
    for conv in train {
        for q in &conv.questions {
            for e in &q.evidence {
                if let Some(id) = ids[&conv.name].get(e) {
                    items.push(FeedbackItem { query: q.text.clone(), cube_id: id.clone(), negative: false });
                }
            }
        }
    }
    for chunk in items.chunks(1000) {
        c.memory.feedback(FeedbackRequest { items: chunk.to_vec(), request_id: String::new() }).await.expect("feedback");
    }
    let t0 = Instant::now();
    let trained = c
        .memory
        .train_adapter(TrainAdapterRequest {
            scope: Some(Scope { tenant: tenant.into(), ..Default::default() }),
            activate: true,
            lambda,
            rank,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()));
    let train_time = t0.elapsed();
    let eval_ids = ingest(c, tenant, eval, true, context).await;
    let mut f = Fold { sums: [[0.0; 4]; 4], questions: 0, latency: Default::default(), trained, train_time };
    for conv in eval {
        let dia_of: HashMap<&str, &str> = eval_ids[&conv.name].iter().map(|(d, id)| (id.as_str(), d.as_str())).collect();
        let scope = scope_of(tenant, conv, true);
        for q in &conv.questions {
            f.questions += 1;
            for (row, (_, mode, adapter)) in ROWS.iter().enumerate() {
                let req = SearchRequest {
                    query: q.text.clone(),
                    scope: Some(scope.clone()),
                    k: 20,
                    mode: *mode as i32,
                    adapter: adapter.to_string(),
                    ..Default::default()
                };
                let t = Instant::now();
                let resp = c.memory.search(req).await.expect("search").into_inner();
                f.latency[row].push(t.elapsed());
                if *adapter == "AUTO" && f.trained.is_ok() {
                    assert!(resp.adapter.is_some(), "AUTO search of an evaluation scope must find the tenant's adapter");
                }
                let ranked: Vec<&str> = resp.hits.iter().map(|h| dia_of.get(h.cube.as_ref().unwrap().id.as_str()).copied().unwrap_or("")).collect();
                for (i, k) in KS.iter().enumerate() {
                    f.sums[row][i] += q.recall_at(&ranked, *k);
                }
            }
        }
    }
    f
}

/// Prints the recall table of one or more folds (pooled over their questions) and the search
/// latency with and without the adapter.
pub fn print(folds: &mut [Fold]) {
    let n: usize = folds.iter().map(|f| f.questions).sum();
    println!("{:<15} {:>9} {:>9} {:>9} {:>9} {:>9}", "mode", "recall@1", "recall@5", "recall@10", "recall@20", "p50 ms");
    let mut recall10 = [0.0; 4];
    for (row, (name, _, _)) in ROWS.iter().enumerate() {
        let mut r = [0.0; 4];
        for f in folds.iter() {
            for (i, x) in r.iter_mut().enumerate() {
                *x += f.sums[row][i];
            }
        }
        let r: Vec<f64> = r.iter().map(|s| s / n.max(1) as f64).collect();
        recall10[row] = r[2];
        let mut lat: Vec<Duration> = folds.iter_mut().flat_map(|f| f.latency[row].drain(..)).collect();
        let p50 = if lat.is_empty() { 0.0 } else { ms(percentile(&mut lat, 0.5)) };
        println!("{name:<15} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {p50:>9.2}", r[0], r[1], r[2], r[3]);
    }
    println!(
        "adapter effect on recall@10 (unseen conversations): DENSE {:+.3} ({:.3}x), HYBRID {:+.3} ({:.3}x)",
        recall10[2] - recall10[0],
        recall10[2] / recall10[0].max(1e-9),
        recall10[3] - recall10[1],
        recall10[3] / recall10[1].max(1e-9)
    );
}

/// One line about a fold's training.
pub fn describe(name: &str, f: &Fold) -> String {
    match &f.trained {
        Ok(t) => format!(
            "{name}: adapter {} trained on {} pairs in {:.1} s (λ {}, β {}, rank {}); held-out recall@10 in the training tenant {:.3} -> {:.3}",
            t.adapter.as_ref().map_or("?", |a| a.id.as_str()),
            t.pairs,
            f.train_time.as_secs_f64(),
            t.lambda,
            t.beta,
            t.rank,
            t.recall_before,
            t.recall_after
        ),
        Err(e) => format!("{name}: no adapter: the node refused to train ({e}); the +ADAPTER rows ran without one"),
    }
}
