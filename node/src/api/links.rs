//! `Memory.Link` and `Memory.Consolidate`: decode, call the engine (`engine::links`), encode.

use memmesh_proto::{ConsolidateRequest, ConsolidateResponse, DedupeMode, LinkRequest, MergeCluster, WriteResponse};

use super::{invalid, ApiError};
use crate::auth::Caller;
use crate::engine::links::LinkChange;
use crate::engine::write::fingerprint;
use crate::engine::Core;
use crate::model::links::check_client_link;
use crate::model::{self, check_cube_id, Dedupe};

const DEFAULT_MAX_CLUSTERS: u32 = 10_000;
const MAX_CLUSTERS: u32 = 100_000;

pub async fn link(core: &Core, who: &Caller, mut req: LinkRequest) -> Result<WriteResponse, ApiError> {
    model::check_request_id(&req.request_id)?;
    let source = check_cube_id("source_id", &req.source_id)?;
    let link = req.link.as_ref().ok_or_else(|| invalid("link", "is required"))?;
    let t = check_client_link("link", link)?;
    let target = link.target_id.clone();
    let cube = core.reader.get(source)?.ok_or_else(|| ApiError::cube_not_found(&req.source_id))?;
    let request_id = std::mem::take(&mut req.request_id);
    let fp = fingerprint("link", &req);
    let change = LinkChange { link_type: t, target, remove: req.remove, expected_version: req.expected_version };
    let w = core.link(who, &cube, change, &request_id, fp).await?;
    Ok(WriteResponse {
        cube: w.outcome.cubes.into_iter().next().map(|c| c.0),
        revision: w.revision,
        deduplicated: w.outcome.deduplicated,
        result: None,
    })
}

pub async fn consolidate(core: &Core, who: &Caller, req: ConsolidateRequest) -> Result<ConsolidateResponse, ApiError> {
    let scope = model::check_scope("scope", req.scope.as_ref())?;
    let mode = if req.mode == DedupeMode::Unspecified as i32 { DedupeMode::Semantic as i32 } else { req.mode };
    let rule = Dedupe::from_request(mode, req.threshold).map_err(|e| {
        if e.field == "dedupe_threshold" {
            invalid("threshold", e.reason)
        } else {
            invalid("mode", e.reason)
        }
    })?;
    match rule {
        Dedupe::None => return Err(invalid("mode", "NONE merges nothing; use EXACT or SEMANTIC")),
        Dedupe::Semantic { .. } if core.embedder.is_none() => {
            return Err(ApiError::Precondition(
                "SEMANTIC consolidation compares embeddings, and this node runs no embedding model; use EXACT".into(),
            ));
        }
        _ => {}
    }
    let max = match req.max_clusters {
        0 => DEFAULT_MAX_CLUSTERS,
        n if n > MAX_CLUSTERS => return Err(invalid("max_clusters", format!("must be at most {MAX_CLUSTERS}"))),
        n => n,
    };
    let done = core.consolidate(who, &scope, rule, req.dry_run, max as usize).await?;
    Ok(ConsolidateResponse {
        clusters: done
            .clusters
            .into_iter()
            .map(|c| MergeCluster {
                keeper_id: c.keeper.0,
                similarities: c.members.iter().map(|m| m.2).collect(),
                member_ids: c.members.into_iter().map(|m| m.0).collect(),
            })
            .collect(),
        merged: done.merged,
        skipped: done.skipped,
        revision: done.revision,
    })
}
