//! `memmesh adapter …` and `memmesh feedback`: query adapters (see the README's Parametric
//! memory) — recording which memory answered a question, training an adapter on the node,
//! listing, showing, activating and deactivating adapters.

use clap::{Args, Subcommand};
use memmesh_client::proto::*;
use memmesh_client::{json, Client};
use serde_json::{json, Value};
use tonic::Status;

use crate::args::ScopeArgs;
use crate::render::{self, Rendered};

/// The attribute that marks an adapter active.
const ACTIVE: &str = "memmesh.adapter.active";
/// Feedback items per call (the server's limit).
const CHUNK: usize = 1000;

#[derive(Args)]
pub struct FeedbackArgs {
    /// The question that was asked.
    #[arg(long)]
    pub query: String,
    /// The cube that answered it (or, with --negative, did not).
    #[arg(long)]
    pub cube: String,
    #[arg(long)]
    pub negative: bool,
}

#[derive(Subcommand)]
pub enum AdapterCmd {
    /// Train an adapter for a scope on its feedback (first recording the pairs of --pairs, a
    /// JSON Lines file of {"query": …, "cube_id": …[, "negative": true]}); needs write access.
    Train {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long, value_name = "FILE.jsonl")]
        pairs: Option<std::path::PathBuf>,
        /// Make the new adapter the scope's active one.
        #[arg(long)]
        activate: bool,
        /// Ridge strength toward the identity (0 = chosen by held-out recall).
        #[arg(long, default_value_t = 0.0)]
        lambda: f32,
        /// Rank of the correction (0 = 64).
        #[arg(long, default_value_t = 0)]
        rank: u32,
    },
    /// The adapters stored in exactly this scope (every page).
    List {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// One adapter: its version, state and training figures.
    Show { id: String },
    /// Mark an adapter active: AUTO search in its scope (and below) uses it.
    Activate { id: String },
    /// Mark an adapter inactive.
    Deactivate { id: String },
}

fn is_adapter(c: &MemCube) -> bool {
    c.kind == CubeKind::Parametric as i32 && c.content.as_ref().is_some_and(|x| x.media_type == "application/onnx")
}

/// An adapter as JSON: the cube without its bytes, plus their size.
fn adapter_json(c: &MemCube) -> Value {
    let mut bare = c.clone();
    let size = bare.content.as_ref().map_or(0, |x| x.data.len());
    if let Some(x) = bare.content.as_mut() {
        x.data.clear();
    }
    let mut v = json::cube(&bare);
    v["model_bytes"] = size.into();
    v
}

fn adapter_line(c: &MemCube) -> String {
    let a = |k: &str| c.attributes.get(k).map_or("-", String::as_str);
    format!(
        "{} v{} {} active={} pairs={} held-out recall@10 {} -> {} ({} bytes)",
        c.id,
        c.version,
        json::state(c.state).as_str().unwrap_or("?"),
        a(ACTIVE),
        a("memmesh.adapter.pairs"),
        a("memmesh.adapter.recall_before"),
        a("memmesh.adapter.recall_after"),
        c.content.as_ref().map_or(0, |x| x.data.len())
    )
}

pub async fn feedback(c: &mut Client, a: FeedbackArgs) -> Result<Rendered, Status> {
    let item = FeedbackItem { query: a.query, cube_id: a.cube, negative: a.negative };
    let r = c.memory.feedback(FeedbackRequest { items: vec![item], request_id: String::new() }).await?.into_inner();
    Ok(Rendered::new(json!({"recorded": r.recorded, "revision": r.revision}), format!("recorded {} at revision {}", r.recorded, r.revision)))
}

/// The pairs of a JSON Lines file, checked line by line.
fn read_pairs(path: &std::path::Path) -> Result<Vec<FeedbackItem>, Status> {
    let text = std::fs::read_to_string(path).map_err(|e| Status::invalid_argument(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: &str| Status::invalid_argument(format!("{}:{}: {why}", path.display(), n + 1));
        let v: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let query = v["query"].as_str().ok_or_else(|| bad("needs a string \"query\""))?.to_string();
        let cube_id = v["cube_id"].as_str().ok_or_else(|| bad("needs a string \"cube_id\""))?.to_string();
        out.push(FeedbackItem { query, cube_id, negative: v["negative"].as_bool().unwrap_or(false) });
    }
    Ok(out)
}

async fn set_active(c: &mut Client, id: String, on: bool) -> Result<Rendered, Status> {
    let cube = c.memory.get(GetRequest { id: id.clone(), ..Default::default() }).await?.into_inner().cube.unwrap_or_default();
    if !is_adapter(&cube) {
        return Err(Status::invalid_argument(format!("cube {id} is not an adapter (PARAMETRIC, application/onnx)")));
    }
    let req = UpdateRequest { id, set_attributes: [(ACTIVE.to_string(), on.to_string())].into(), ..Default::default() };
    Ok(render::write(&c.memory.update(req).await?.into_inner()))
}

pub async fn adapter(c: &mut Client, cmd: AdapterCmd) -> Result<Rendered, Status> {
    match cmd {
        AdapterCmd::Train { scope, pairs, activate, lambda, rank } => {
            let mut recorded = 0;
            if let Some(path) = pairs {
                let items = read_pairs(&path)?;
                for chunk in items.chunks(CHUNK) {
                    recorded += c.memory.feedback(FeedbackRequest { items: chunk.to_vec(), request_id: String::new() }).await?.into_inner().recorded;
                }
            }
            let req = TrainAdapterRequest { scope: Some(scope.scope()), activate, lambda, rank, request_id: String::new() };
            let t = c.memory.train_adapter(req).await?.into_inner();
            let cube = t.adapter.clone().unwrap_or_default();
            let v = json!({
                "adapter": adapter_json(&cube), "revision": t.revision, "pairs_recorded": recorded, "pairs": t.pairs,
                "held_out": t.held_out, "recall_before": t.recall_before, "recall_after": t.recall_after, "lambda": t.lambda, "beta": t.beta, "rank": t.rank,
            });
            let text = format!(
                "adapter {} v{}: {} pairs ({} held out), held-out recall@10 {:.3} -> {:.3}, lambda {}, rank {}{}",
                cube.id,
                cube.version,
                t.pairs,
                t.held_out,
                t.recall_before,
                t.recall_after,
                t.lambda,
                t.rank,
                if activate { ", active" } else { " (not active: `memmesh adapter activate` it)" }
            );
            Ok(Rendered::new(v, text))
        }
        AdapterCmd::List { scope } => {
            let mut req = ListRequest { scope: Some(scope.scope()), page_size: 1000, ..Default::default() };
            let mut found = Vec::new();
            loop {
                let r = c.memory.list(req.clone()).await?.into_inner();
                let exact = scope.scope();
                found.extend(r.cubes.into_iter().filter(|c| is_adapter(c) && c.scope.as_ref() == Some(&exact)));
                if r.next_page_token.is_empty() {
                    break;
                }
                req.page_token = r.next_page_token;
            }
            Ok(Rendered::lines(&found, adapter_json, adapter_line))
        }
        AdapterCmd::Show { id } => {
            let cube = c.memory.get(GetRequest { id: id.clone(), ..Default::default() }).await?.into_inner().cube.unwrap_or_default();
            if !is_adapter(&cube) {
                return Err(Status::invalid_argument(format!("cube {id} is not an adapter (PARAMETRIC, application/onnx)")));
            }
            Ok(Rendered::new(adapter_json(&cube), adapter_line(&cube)))
        }
        AdapterCmd::Activate { id } => set_active(c, id, true).await,
        AdapterCmd::Deactivate { id } => set_active(c, id, false).await,
    }
}
