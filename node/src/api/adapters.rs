//! `Memory.Feedback` and `Memory.TrainAdapter`: validate, call the engine
//! (`engine::adapters`), write the trained adapter as a cube through the ordinary put path.

use memmesh_proto::{
    Content, CubeInput, CubeKind, FeedbackRequest, FeedbackResponse, MemCube, MemoryType, Source, TrainAdapterRequest, TrainAdapterResponse,
};

use super::memory::MemoryService;
use super::{invalid, ApiError};
use crate::auth::Caller;
use crate::engine::write::fingerprint;
use crate::model::adapter::{ACTIVE_ATTR, MEDIA_TYPE};
use crate::model::{self, now_ms};
use crate::raft::Op;

pub async fn feedback(svc: &MemoryService, who: &Caller, mut req: FeedbackRequest) -> Result<FeedbackResponse, ApiError> {
    model::check_request_id(&req.request_id)?;
    let request_id = std::mem::take(&mut req.request_id);
    let fp = fingerprint("feedback", &req);
    let w = svc.core.record_feedback(who, &req.items, &request_id, fp).await?;
    Ok(FeedbackResponse { recorded: w.outcome.merged as u32, revision: w.revision })
}

pub async fn train(svc: &MemoryService, who: &Caller, mut req: TrainAdapterRequest) -> Result<TrainAdapterResponse, ApiError> {
    model::check_request_id(&req.request_id)?;
    let scope = model::check_scope("scope", req.scope.as_ref())?;
    let lambda = match req.lambda {
        0.0 => None,
        l if l.is_finite() && l > 0.0 => Some(l as f64),
        _ => return Err(invalid("lambda", "must be a positive number (0 = chosen by held-out recall)")),
    };
    let dims = svc.core.embedder.as_ref().map_or(0, |p| p.dims());
    if req.rank as usize > dims.max(1) {
        return Err(invalid("rank", format!("must be at most the model's dimensions ({dims}); 0 = 64")));
    }
    let request_id = std::mem::take(&mut req.request_id);
    let fp = fingerprint("train_adapter", &req);
    // A retry of a request id already written is answered from that write: nothing is fitted
    // again (a new fit could differ, if feedback came in meanwhile).
    if !request_id.is_empty() {
        if let Some((rec, outcome)) = svc.core.reader.dedupe(&scope.tenant, &request_id)? {
            if rec.fingerprint != fp {
                return Err(crate::model::ApplyError::RequestIdReused { request_id }.into());
            }
            return Ok(response(outcome.cubes.into_iter().next().map(|c| c.0), rec.revision));
        }
    }
    let t = svc.core.fit_adapter(who, &scope, lambda, req.rank as usize).await?;
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert(ACTIVE_ATTR.to_string(), req.activate.to_string());
    for (k, v) in [
        ("memmesh.adapter.pairs", t.pairs.to_string()),
        ("memmesh.adapter.held_out", t.held_out.to_string()),
        ("memmesh.adapter.recall_before", format!("{:.4}", t.recall_before)),
        ("memmesh.adapter.recall_after", format!("{:.4}", t.recall_after)),
        ("memmesh.adapter.lambda", t.lambda.to_string()),
        ("memmesh.adapter.beta", t.beta.to_string()),
        ("memmesh.adapter.rank", t.rank.to_string()),
        ("memmesh.adapter.model", svc.core.embedder.as_ref().map_or(String::new(), |p| p.model_id().to_string())),
    ] {
        attributes.insert(k.to_string(), v);
    }
    let input = CubeInput {
        scope: Some(scope),
        kind: CubeKind::Parametric as i32,
        content: Some(Content { data: t.model, media_type: MEDIA_TYPE.into(), ..Default::default() }),
        memory_type: MemoryType::Procedure as i32,
        source: Source::Tuning as i32,
        attributes,
        ..Default::default()
    };
    let at_ms = now_ms();
    let (tenant, mut cubes) = svc.new_cubes("adapter", &[&input], at_ms, &request_id)?;
    svc.authorize_new(who, "scope", &cubes)?;
    // Checked like an uploaded adapter (loaded, shapes, probe) before it is proposed.
    svc.core.embed_cubes("adapter", &mut cubes).await?;
    let w = svc.core.propose(&who.actor(), &tenant, &request_id, fp, at_ms, Op::Put { cubes }).await?;
    Ok(response(w.outcome.cubes.into_iter().next().map(|c| c.0), w.revision))
}

/// The answer to a training call, from the adapter cube as written: its figures are in its
/// attributes, so a retry answered from the idempotency table says the same as the first call.
fn response(mut adapter: Option<MemCube>, revision: u64) -> TrainAdapterResponse {
    let attr = |k: &str| adapter.as_ref().and_then(|a| a.attributes.get(&format!("memmesh.adapter.{k}")).cloned()).unwrap_or_default();
    let resp = TrainAdapterResponse {
        adapter: None,
        revision,
        pairs: attr("pairs").parse().unwrap_or(0),
        held_out: attr("held_out").parse().unwrap_or(0),
        recall_before: attr("recall_before").parse().unwrap_or(0.0),
        recall_after: attr("recall_after").parse().unwrap_or(0.0),
        lambda: attr("lambda").parse().unwrap_or(0.0),
        beta: attr("beta").parse().unwrap_or(0.0),
        rank: attr("rank").parse().unwrap_or(0),
    };
    if let Some(c) = adapter.as_mut().and_then(|a| a.content.as_mut()) {
        c.data.clear();
    }
    TrainAdapterResponse { adapter, ..resp }
}
