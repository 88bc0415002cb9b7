//! Write-time deduplication on LoCoMo with duplicates.
//!
//! ```text
//! bench-dedupe [--smoke] [--threshold T] DATA_DIR
//! ```
//!
//! Starts its own node (embedding on) and, for the conversations in DATA_DIR:
//!
//! 1. **Clean run**: every turn written once (NONE); HYBRID recall@10 of the questions.
//! 2. **Threshold measurement**: for every turn, the cosine similarity of a copy with a filler
//!    clause appended to the turn itself (what SEMANTIC should merge), and of the turn to its most
//!    similar *other* turn of the conversation (what it must not merge) — both read from DENSE
//!    search scores over the clean run. Printed per candidate threshold: the share of filler
//!    copies merged and of distinct turns that would be merged into a neighbour.
//! 3. **Duplicates**: three concurrent writers write every turn again into a fresh scope — an exact
//!    copy, a noisy copy (case, spacing, trailing punctuation) and a filler copy — once with NONE
//!    and once with SEMANTIC at the threshold. Printed: stored cubes ÷ unique turns, recall@10
//!    against the clean run, write throughput SEMANTIC ÷ NONE (same run), and false merges (an
//!    input merged into a cube of another turn).
//!
//! `--smoke`: the first conversation's first three sessions and ten questions.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use memmesh_client::Client;
use memmesh_tests::locomo::{conversations, cube_of, said, sessions, Conversation};
use memmesh_tests::proto::*;
use memmesh_tests::{list_all, NodeProc, EMBEDDING_ON};

const THRESHOLDS: [f32; 7] = [0.80, 0.85, 0.88, 0.90, 0.92, 0.95, 0.98];

#[derive(Parser)]
struct Args {
    /// A short run for CI: one conversation, three sessions, ten questions.
    #[arg(long)]
    smoke: bool,
    /// SEMANTIC threshold of the duplicate run [default: the node's default].
    #[arg(long)]
    threshold: Option<f32>,
    /// A directory of LoCoMo-format `*.json` conversations.
    data_dir: PathBuf,
}

/// The three copies of a turn: as is, noisy (same normalised text), with a filler clause.
fn variant(text: &str, v: usize) -> String {
    match v {
        0 => text.to_string(),
        1 => format!("  {}  !!", text.to_uppercase().split(' ').collect::<Vec<_>>().join("   ")),
        _ => format!("{}, as I said before", text.trim_end_matches(['.', '!', '?'])),
    }
}

fn scope_of(conv: &Conversation, run: &str) -> Scope {
    Scope { tenant: "dedupe".into(), user: conv.name.clone(), run: run.into(), ..Default::default() }
}

/// Writes every turn of `convs` into `run` with copy `v`, one PutBatch per session; returns the
/// (cube id → dia id) pairs of the answers, and how many inputs were merged into a cube of
/// another turn.
async fn write_all(
    c: &mut Client,
    convs: &[Conversation],
    run: &str,
    v: usize,
    dedupe: DedupeMode,
    threshold: f32,
) -> (Vec<(String, String)>, usize) {
    let mut ids = Vec::new();
    let mut false_merges = 0;
    for conv in convs {
        let scope = scope_of(conv, run);
        for session in sessions(conv) {
            let cubes: Vec<CubeInput> = session
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut cube = cube_of(&scope, t, (i > 0).then(|| session[i - 1]));
                    let text = cube.content.as_ref().map(|c| c.text.clone()).unwrap_or_default();
                    cube.content = Some(Content { text: variant(&text, v), ..Default::default() });
                    cube
                })
                .collect();
            let req = PutBatchRequest { cubes, dedupe: dedupe as i32, dedupe_threshold: threshold, ..Default::default() };
            let r = c.memory.put_batch(req).await.expect("put_batch").into_inner();
            for (cube, t) in r.cubes.iter().zip(&session) {
                if cube.attributes.get("dia_id") != Some(&t.dia_id) {
                    false_merges += 1;
                }
                ids.push((cube.id.clone(), t.dia_id.clone()));
            }
        }
    }
    (ids, false_merges)
}

/// HYBRID recall@10 over every question, ranking by dia id.
async fn recall10(c: &mut Client, convs: &[Conversation], run: &str, dia_of: &HashMap<String, String>) -> f64 {
    let (mut sum, mut n) = (0.0, 0);
    for conv in convs {
        for q in &conv.questions {
            let req = SearchRequest { query: q.text.clone(), scope: Some(scope_of(conv, run)), k: 10, ..Default::default() };
            let hits = c.memory.search(req).await.expect("search").into_inner().hits;
            let ranked: Vec<&str> = hits.iter().filter_map(|h| dia_of.get(&h.cube.as_ref().unwrap().id).map(String::as_str)).collect();
            sum += q.recall_at(&ranked, 10);
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// DENSE scores of `query` in `run`'s scope of `conv`, by dia id, best first.
async fn dense(c: &mut Client, conv: &Conversation, run: &str, query: &str, k: u32, dia_of: &HashMap<String, String>) -> Vec<(String, f32)> {
    let req = SearchRequest { query: query.into(), scope: Some(scope_of(conv, run)), k, mode: SearchMode::Dense as i32, ..Default::default() };
    let hits = c.memory.search(req).await.expect("search").into_inner().hits;
    hits.iter().filter_map(|h| Some((dia_of.get(&h.cube.as_ref()?.id)?.clone(), h.dense_score.unwrap_or(0.0)))).collect()
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f32::NAN)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut convs = conversations(&args.data_dir, args.smoke.then_some(1));
    if args.smoke {
        let keep: HashSet<usize> = sessions(&convs[0]).iter().take(3).map(|s| s[0].session).collect();
        convs[0].turns.retain(|t| keep.contains(&t.session));
        convs[0].questions.truncate(10);
    }
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), EMBEDDING_ON);
    let mut c = Client::connect(&node.addr).await.expect("connect");
    let n_turns: usize = convs.iter().map(|cv| cv.turns.len()).sum();
    println!("bench-dedupe{}: {} conversations, {n_turns} turns", if args.smoke { " (smoke run)" } else { "" }, convs.len());

    // 1. Clean run.
    let (clean_ids, _) = write_all(&mut c, &convs, "clean", 0, DedupeMode::None, 0.0).await;
    let clean_dia: HashMap<String, String> = clean_ids.into_iter().collect();
    let clean_recall = recall10(&mut c, &convs, "clean", &clean_dia).await;
    println!("clean run: {} cubes, HYBRID recall@10 {clean_recall:.3}", clean_dia.len());

    // 2. What a threshold merges.
    let (mut filler, mut nearest) = (Vec::new(), Vec::new());
    for (conv, t) in convs.iter().flat_map(|cv| cv.turns.iter().map(move |t| (cv, t))) {
        let text = said(t);
        let own = dense(&mut c, conv, "clean", &variant(&text, 2), 5, &clean_dia).await;
        filler.push(own.iter().find(|(d, _)| *d == t.dia_id).map_or(0.0, |(_, s)| *s));
        let near = dense(&mut c, conv, "clean", &text, 2, &clean_dia).await;
        nearest.push(near.iter().find(|(d, _)| *d != t.dia_id).map_or(0.0, |(_, s)| *s));
    }
    filler.sort_by(f32::total_cmp);
    nearest.sort_by(f32::total_cmp);
    println!(
        "cosine of a turn to its filler copy: p5 {:.3} p50 {:.3}; to its most similar other turn: p50 {:.3} p99 {:.3} max {:.3}",
        quantile(&filler, 0.05),
        quantile(&filler, 0.5),
        quantile(&nearest, 0.5),
        quantile(&nearest, 0.99),
        quantile(&nearest, 1.0)
    );
    println!("{:>9} {:>22} {:>32}", "threshold", "filler copies merged", "distinct turns merged (false)");
    let share = |v: &[f32], t: f32| v.iter().filter(|s| **s >= t).count() as f64 / v.len().max(1) as f64;
    for t in THRESHOLDS {
        println!("{t:>9.2} {:>21.1}% {:>31.2}%", share(&filler, t) * 100.0, share(&nearest, t) * 100.0);
    }

    // 3. Three concurrent writers of every turn, NONE then SEMANTIC.
    let threshold = args.threshold.unwrap_or(0.0);
    let convs = Arc::new(convs);
    let mut rows = Vec::new();
    for (mode, name) in [(DedupeMode::None, "NONE"), (DedupeMode::Semantic, "SEMANTIC")] {
        let run = name.to_lowercase();
        let t0 = Instant::now();
        let mut writers = Vec::new();
        for v in 0..3 {
            let (addr, convs, run) = (node.addr.clone(), convs.clone(), run.clone());
            let th = if mode == DedupeMode::Semantic { threshold } else { 0.0 };
            writers.push(tokio::spawn(async move {
                let mut c = Client::connect(&addr).await.expect("connect");
                write_all(&mut c, &convs, &run, v, mode, th).await
            }));
        }
        let (mut dia_of, mut false_merges) = (HashMap::new(), 0);
        for w in writers {
            let (ids, f) = w.await.unwrap();
            dia_of.extend(ids);
            false_merges += f;
        }
        let secs = t0.elapsed().as_secs_f64();
        let mut stored = 0;
        for conv in convs.iter() {
            stored += list_all(&mut c, ListRequest { scope: Some(scope_of(conv, &run)), ..Default::default() }).await.len();
        }
        let recall = recall10(&mut c, &convs, &run, &dia_of).await;
        let per_s = 3.0 * n_turns as f64 / secs;
        println!(
            "{name:<9} stored/unique {:.3} ({stored} cubes for {} turns), recall@10 {recall:.3} ({:+.3} vs clean), {per_s:.0} writes/s, false merges {false_merges}",
            stored as f64 / n_turns as f64,
            n_turns,
            recall - clean_recall
        );
        rows.push(per_s);
    }
    println!("write throughput SEMANTIC / NONE (same run): {:.2}", rows[1] / rows[0]);
}
