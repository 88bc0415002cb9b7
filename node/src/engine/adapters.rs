//! Query adapters on the request path (see `embed::adapter` for what an adapter is and how one
//! is fitted): checking an adapter cube before it is proposed, choosing and running the adapter
//! of a search, recording feedback. Fitting one from feedback is [`super::training`].
//!
//! All inference here — loading a model, the probe, running it on a query — happens on the
//! embedding workers, before anything is proposed. The log carries the model's bytes; no replica
//! ever trains or checks anything in `apply`.

use std::sync::Arc;

use memmesh_proto::{CubeState, FeedbackItem, MemCube, Scope};

use super::write::Written;
use super::{ApiError, Core};
use crate::auth::{Caller, Need};
use crate::embed::adapter::AdapterError;
use crate::embed::model::normalize;
use crate::model::adapter::{is_adapter, AUTO, NONE};
use crate::model::{self, now_ms, FeedbackRecord, Pb, ValidationError};
use crate::raft::Op;

/// Most feedback items per call.
pub const MAX_FEEDBACK_ITEMS: usize = 1000;

/// What a search's query went through.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterUsed {
    pub id: String,
    pub version: u64,
}

pub(super) fn adapter_error(field: &str, e: AdapterError) -> ApiError {
    match e {
        e if e.is_invalid_model() => ValidationError::new(field, e.to_string()).into(),
        AdapterError::NoRuntime => ApiError::Precondition(e.to_string()),
        e => ApiError::Unavailable(e.to_string()),
    }
}

impl Core {
    pub(super) fn pool(&self) -> Result<&crate::embed::EmbedPool, ApiError> {
        self.embedder.as_ref().ok_or_else(|| adapter_error("", AdapterError::NoRuntime))
    }

    /// Checks the adapter model `bytes` (written at `field`): it loads, maps `[n, d]` to
    /// `[n, d]` for this node's model and gives finite values for a probe.
    pub async fn check_adapter(&self, field: &str, bytes: &[u8]) -> Result<(), ApiError> {
        self.pool()?.check_adapter(Arc::new(bytes.to_vec())).await.map_err(|e| adapter_error(field, e))
    }

    /// Checks every adapter among new cubes (see [`Self::check_adapter`]).
    pub async fn check_adapter_cubes(&self, field: &str, cubes: &[Pb<MemCube>]) -> Result<(), ApiError> {
        for (i, c) in cubes.iter().enumerate() {
            if is_adapter(&c.0) {
                let f = if field == "cube" { "cube.content.data".to_string() } else { format!("{field}[{i}].content.data") };
                self.check_adapter(&f, c.0.content.as_ref().map_or(&[][..], |x| &x.data)).await?;
            }
        }
        Ok(())
    }

    /// The adapter a search of `requested` (scopes of one tenant) uses under `choice`, for
    /// `who` — `None` for NONE, or for AUTO when no active adapter the caller may read lies in
    /// the scopes or their ancestors. A named adapter must be one the caller may read (else
    /// NOT_FOUND) and ACTIVE.
    pub(super) fn choose_adapter(
        &self,
        who: &Caller,
        choice: &str,
        requested: &[Scope],
        grants: &[memmesh_proto::Grant],
    ) -> Result<Option<MemCube>, ApiError> {
        let readable = |c: &MemCube| who.may_cube(c.scope.as_ref().unwrap_or(&Default::default()), c.acl.as_ref(), Need::Read, grants);
        match choice {
            NONE => Ok(None),
            "" | AUTO => {
                for (id, _) in self.index.adapter_candidates(requested, now_ms()) {
                    // The index may be a write ahead or behind the store: the stored cube decides.
                    if let Some(c) = self.reader.get(id)? {
                        if crate::model::adapter::is_active_adapter(&c, now_ms()) && readable(&c) {
                            return Ok(Some(c));
                        }
                    }
                }
                Ok(None)
            }
            id => {
                let ulid = model::check_cube_id("adapter", id)?;
                let tenant = requested.first().map_or("", |s| s.tenant.as_str());
                let c = self.reader.get(ulid)?.filter(|c| readable(c) && c.scope.as_ref().is_some_and(|s| s.tenant == tenant));
                let Some(c) = c else { return Err(ApiError::cube_not_found(id)) };
                if !is_adapter(&c) {
                    return Err(ValidationError::new(
                        "adapter",
                        format!("cube {id} is not an adapter (a PARAMETRIC cube of media type application/onnx)"),
                    )
                    .into());
                }
                let state = crate::model::lifecycle::effective_state(c.state, c.expires_at_ms, c.pinned, now_ms());
                if state != CubeState::Active as i32 {
                    let name = CubeState::try_from(state).map_or("?", |s| s.as_str_name());
                    return Err(ApiError::Precondition(format!("adapter {id} is {name}; only an ACTIVE adapter is used")));
                }
                Ok(Some(c))
            }
        }
    }

    /// Passes a query vector through `adapter` (loaded once per version on this node) and
    /// normalises the result.
    ///
    /// Takes the cube by value: its model bytes (up to megabytes) move to the worker instead of
    /// being copied for every search.
    pub(super) async fn adapt_query(&self, adapter: MemCube, vector: Vec<f32>) -> Result<(Vec<f32>, AdapterUsed), ApiError> {
        let MemCube { id, version, content, .. } = adapter;
        let bytes = Arc::new(content.map(|c| c.data).unwrap_or_default());
        let mut out = self.pool()?.adapt((id.clone(), version), bytes, vec![vector]).await.map_err(|e| adapter_error("adapter", e))?;
        let mut v = out.pop().unwrap_or_default();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(ApiError::Precondition(format!("adapter {id} gave a non-finite vector for this query")));
        }
        normalize(&mut v);
        Ok((v, AdapterUsed { id, version }))
    }

    /// Records feedback items (validated here; each cube must be one `who` may read).
    pub async fn record_feedback(&self, who: &Caller, items: &[FeedbackItem], request_id: &str, fingerprint: [u8; 32]) -> Result<Written, ApiError> {
        if items.is_empty() {
            return Err(ValidationError::new("items", "must not be empty").into());
        }
        if items.len() > MAX_FEEDBACK_ITEMS {
            return Err(ValidationError::new("items", format!("{} items given, at most {MAX_FEEDBACK_ITEMS}", items.len())).into());
        }
        // Linearizable: a cube just written through another node is found.
        self.read_barrier(None).await?;
        let at_ms = now_ms();
        let mut tenant: Option<String> = None;
        let mut records = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            if it.query.trim().is_empty() {
                return Err(ValidationError::new(format!("items[{i}].query"), "must not be empty").into());
            }
            if it.query.len() > 16 * 1024 {
                return Err(ValidationError::new(format!("items[{i}].query"), "must be at most 16384 bytes").into());
            }
            let ulid = model::check_cube_id(&format!("items[{i}].cube_id"), &it.cube_id)?;
            let cube = self.reader.get(ulid)?.ok_or_else(|| ApiError::cube_not_found(&it.cube_id))?;
            self.authorize_cube(who, &cube, Need::Read)?;
            let scope = cube.scope.clone().unwrap_or_default();
            match &tenant {
                Some(t) if *t != scope.tenant => {
                    return Err(
                        ValidationError::new(format!("items[{i}].cube_id"), format!("all cubes of one call must be in one tenant ({t:?})")).into()
                    );
                }
                _ => tenant = Some(scope.tenant.clone()),
            }
            records.push(FeedbackRecord {
                scope: Pb(scope),
                cube_id: cube.id,
                query: it.query.clone(),
                negative: it.negative,
                actor: who.actor(),
                at_ms,
            });
        }
        let tenant = tenant.unwrap_or_default();
        self.propose(&who.actor(), &tenant, request_id, fingerprint, at_ms, Op::Feedback { records }).await
    }
}
