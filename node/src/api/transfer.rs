//! `Admin.Export` and `Admin.Import`: a tenant's memory out of one cluster and into another
//! (MemDumper / MemLoader), for the tenant's admins.
//!
//! Export streams from one snapshot of the replica (see `store::export`) on a blocking thread,
//! in chunks bounded by count and bytes, and stops as soon as the client goes away. Import
//! validates every version and policy first, gives each current PLAINTEXT version a vector of
//! this node's model (kept when it already is one, computed otherwise), then proposes one entry.

use memmesh_proto::{ExportChunk, ExportRequest, ExportedCube, ImportRequest, ImportResponse, MemCube, Policy};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::{invalid, ApiError};
use crate::auth::Caller;
use crate::engine::Core;
use crate::model::{self, imported::check_exported, now_ms, policy::check_policy, Pb};
use crate::raft::Op;
use crate::store::export::{ExportItem, ExportQuery};

/// Cubes per chunk, and the encoded size after which a chunk is sent early.
const CHUNK_CUBES: usize = 256;
const CHUNK_BYTES: usize = 1 << 20;

pub type ExportStream = ReceiverStream<Result<ExportChunk, Status>>;

pub async fn export(core: &Core, who: &Caller, req: ExportRequest) -> Result<ExportStream, ApiError> {
    model::check_ident("tenant", &req.tenant)?;
    if !req.user.is_empty() {
        model::check_ident("user", &req.user)?;
    }
    core.authorize_tenant_admin(who, &req.tenant)?;
    core.read_barrier(None).await?;
    let applied = core.reader.applied_revision();
    if req.as_of_revision > applied {
        return Err(invalid("as_of_revision", format!("{} is ahead of this cluster's revision {applied}", req.as_of_revision)));
    }
    let q = ExportQuery {
        scope: memmesh_proto::Scope { tenant: req.tenant.clone(), user: req.user.clone(), ..Default::default() },
        as_of: (req.as_of_revision > 0).then_some(req.as_of_revision),
        history: req.history,
    };
    let reader = core.reader.clone();
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut chunk = ExportChunk::default();
        let mut bytes = 0;
        let result = reader.export(&q, |item| match item {
            ExportItem::Start { revision, policies } => {
                chunk.revision = revision;
                chunk.policies = policies;
                true
            }
            ExportItem::Cube(cube) => {
                bytes += prost::Message::encoded_len(&cube);
                chunk.cubes.push(cube);
                if chunk.cubes.len() < CHUNK_CUBES && bytes < CHUNK_BYTES {
                    return true;
                }
                bytes = 0;
                let next = ExportChunk { revision: chunk.revision, ..Default::default() };
                tx.blocking_send(Ok(std::mem::replace(&mut chunk, next))).is_ok()
            }
        });
        match result {
            // The last (or only) chunk; an empty export still tells its revision.
            Ok(_) => drop(tx.blocking_send(Ok(chunk))),
            Err(e) => drop(tx.blocking_send(Err(Status::from(ApiError::from(e))))),
        }
    });
    Ok(ReceiverStream::new(rx))
}

pub async fn import(core: &Core, who: &Caller, req: ImportRequest) -> Result<ImportResponse, ApiError> {
    model::check_ident("tenant", &req.tenant)?;
    core.authorize_tenant_admin(who, &req.tenant)?;
    let versions: usize = req.cubes.iter().map(|c| 1 + c.history.len()).sum();
    if versions > core.limits.max_batch {
        return Err(invalid("cubes", format!("{versions} versions in one request; at most {} (limits.max_batch)", core.limits.max_batch)));
    }
    for (i, e) in req.cubes.iter().enumerate() {
        check_exported(&format!("cubes[{i}]"), e, &req.tenant, &core.limits)?;
        for (j, past) in e.history.iter().enumerate() {
            if let Some(v) = &past.embedding {
                model::check_vector(&format!("cubes[{i}].history[{j}].embedding"), &v.vector, v.vector.len())?;
            }
        }
    }
    let mut policies = Vec::with_capacity(req.policies.len());
    for (i, p) in req.policies.iter().enumerate() {
        let mut p = match check_policy(Some(p)) {
            // What the source cluster recorded of the policy's runs stays as it was (a policy
            // written by hand without them is stamped now, as SetPolicy does).
            Ok(checked) => Policy {
                updated_at_ms: if p.updated_at_ms > 0 { p.updated_at_ms } else { now_ms() },
                last_consolidated_at_ms: p.last_consolidated_at_ms,
                backfill_cursor: p.backfill_cursor.clone(),
                ..checked
            },
            Err(e) => return Err(invalid(&format!("policies[{i}].{}", e.field), e.reason)),
        };
        if p.scope.as_ref().is_none_or(|s| s.tenant != req.tenant) {
            return Err(invalid(&format!("policies[{i}].scope.tenant"), format!("must be the request's tenant {:?}", req.tenant)));
        }
        p.backfill_cursor.truncate(256);
        policies.push(Pb(p));
    }
    // The current versions get vectors of this node's model: kept if they are (and valid),
    // computed if they come from another model or none; without a model, none.
    let mut current: Vec<Pb<MemCube>> = req.cubes.iter().map(|e| Pb(e.cube.clone().unwrap_or_default())).collect();
    let model_id = core.embedder.as_ref().map(|p| p.model_id().to_string());
    for c in &mut current {
        if c.0.embedding.as_ref().is_some_and(|e| Some(&e.model) != model_id.as_ref()) {
            c.0.embedding = None;
        }
    }
    core.embed_cubes("cubes", &mut current).await?;
    let cubes: Vec<Pb<ExportedCube>> =
        req.cubes.into_iter().zip(current).map(|(e, c)| Pb(ExportedCube { cube: Some(c.0), history: e.history })).collect();
    let w = core.propose(&who.actor(), &req.tenant, "", [0; 32], now_ms(), Op::Import { cubes, policies }).await?;
    Ok(ImportResponse {
        imported: w.outcome.merged,
        existing: w.outcome.skipped,
        policies_imported: w.outcome.imported_policies,
        revision: w.revision,
    })
}
