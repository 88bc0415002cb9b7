//! Running a search for a caller: narrow its scopes to what it may read, embed the query (or
//! take the caller's vector), wait for the read's consistency, scan the index off the async
//! workers, and load the hits' current versions — each checked again against the stored cube.

use memmesh_proto::{MemCube, ReadOptions};

use super::{ApiError, Core};
use crate::auth::{Caller, Need};
use crate::index::{self, Hit, Mode, Query};

/// What a search found.
pub struct Found {
    /// Each hit's current version (without its vector) and its scores.
    pub hits: Vec<(MemCube, Hit)>,
    /// The revision the node had applied when the scan started.
    pub read_revision: u64,
    /// The embedding model of the dense part ("" for LEXICAL).
    pub model: String,
    /// The adapter the query vector went through, if any.
    pub adapter: Option<super::adapters::AdapterUsed>,
}

impl Core {
    /// Runs `q` (validated; `q.vector` unset) for `who`; `vector` is the caller's own query
    /// vector, if it gave one instead of text to embed; `adapter` the request's adapter choice
    /// (see `SearchRequest.adapter`).
    pub async fn search(&self, who: &Caller, mut q: Query, vector: Vec<f32>, adapter: &str, read: Option<&ReadOptions>) -> Result<Found, ApiError> {
        // Access control inside the query: the scopes shrink to what the caller's scope rule and
        // grants let it read before the index sees them, and the viewer makes the scan check
        // per-cube ACLs (restricted cubes that leave it out are skipped, cubes shared with it
        // outside those scopes are added) — so nothing else is ever scored, let alone returned.
        let tenant = q.scopes[0].tenant.clone();
        let grants = self.grants_for(who, &tenant)?;
        let searched = q.scopes.clone();
        if !who.is_admin_of(&tenant) {
            let requested = std::mem::take(&mut q.scopes);
            q.scopes = who.narrow(&requested, &grants);
            if q.scopes.is_empty() && !self.index.shares_with(who, &requested) {
                return Err(ApiError::PermissionDenied("may not read any part of the requested scopes".into()));
            }
            q.viewer = Some(index::Viewer { caller: who.clone(), requested });
        }
        let mut model = String::new();
        let mut used = None;
        if q.mode != Mode::Lexical {
            let Some((index_model, dims)) = self.index.model() else {
                return Err(ApiError::Precondition(
                    "DENSE and HYBRID search need the embedding model, which this node does not run (embedding.enabled = false); use LEXICAL".into(),
                ));
            };
            model = index_model.to_string();
            if !vector.is_empty() {
                crate::model::check_vector("vector", &vector, dims)?;
                let mut v = vector;
                crate::embed::model::normalize(&mut v);
                q.vector = Some(v);
            } else {
                q.vector = self.embed_text(&q.text).await?.map(|e| e.vector);
            }
        }
        self.read_barrier(read).await?;
        // After the barrier: a read that sees a write sees the adapter it wrote or changed.
        if q.mode != Mode::Lexical {
            if let Some(a) = self.choose_adapter(who, adapter, &searched, &grants)? {
                if let Some(v) = q.vector.take() {
                    let (v, u) = self.adapt_query(a, v).await?;
                    q.vector = Some(v);
                    used = Some(u);
                }
            }
        }
        let read_revision = self.reader.applied_revision();
        // The scan is CPU-bound (milliseconds for large scopes): keep it off the async workers.
        let index = self.index.clone();
        let found =
            tokio::task::spawn_blocking(move || index.search(&q)).await.map_err(|e| ApiError::Unavailable(format!("search task failed: {e}")))?;
        let mut hits = Vec::with_capacity(found.len());
        for h in found {
            // The index may be a write ahead of `read_revision`; a cube purged meanwhile is skipped.
            let Some(mut cube) = self.reader.get(h.id)? else {
                continue;
            };
            // Likewise its ACL may have changed in between: the stored cube has the last word.
            if !who.may_cube(cube.scope.as_ref().unwrap_or(&Default::default()), cube.acl.as_ref(), Need::Read, &grants) {
                continue;
            }
            cube.embedding = None;
            hits.push((cube, h));
        }
        Ok(Found { hits, read_revision, model, adapter: used })
    }
}
