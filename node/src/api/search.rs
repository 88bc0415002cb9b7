//! `Memory.Search`: validate, wait for the read's consistency, embed the query, query the
//! index, load the hits' current versions.

use std::collections::BTreeMap;

use memmesh_proto::{SearchHit, SearchMode, SearchRequest, SearchResponse};

use super::{invalid, opt_ms, ApiError};
use crate::auth::Caller;
use crate::index::{self, Fusion, Mode, Query};
use crate::model;
use crate::node::Core;

const DEFAULT_K: u32 = 10;
/// Measured on LoCoMo: 0.5 is the best of 0.2–0.6 (see the README).
const DEFAULT_DENSE_WEIGHT: f32 = 0.5;
const MAX_K: u32 = 1000;
const MAX_QUERY_BYTES: usize = 16 * 1024;
const MAX_SCOPES: usize = 1000;

/// The validated query, minus its vector.
fn check(req: &SearchRequest) -> Result<Query, ApiError> {
    let scopes = match (&req.scope, req.scopes.is_empty()) {
        (Some(_), false) => return Err(invalid("scopes", "give either scope or scopes, not both")),
        (Some(s), true) => vec![model::check_scope("scope", Some(s))?],
        (None, false) => {
            if req.scopes.len() > MAX_SCOPES {
                return Err(invalid("scopes", format!("at most {MAX_SCOPES} scopes")));
            }
            let mut v = Vec::with_capacity(req.scopes.len());
            for (i, s) in req.scopes.iter().enumerate() {
                let s = model::check_scope(&format!("scopes[{i}]"), Some(s))?;
                if s.tenant != req.scopes[0].tenant {
                    return Err(invalid(&format!("scopes[{i}].tenant"), "all scopes of a search must be in one tenant"));
                }
                v.push(s);
            }
            v
        }
        (None, true) => return Err(invalid("scope", "is required (at least a tenant)")),
    };
    let mode = match SearchMode::try_from(req.mode).map_err(|_| invalid("mode", format!("unknown enum value {}", req.mode)))? {
        SearchMode::Dense => Mode::Dense,
        SearchMode::Lexical => Mode::Lexical,
        SearchMode::Hybrid | SearchMode::Unspecified => Mode::Hybrid,
    };
    if req.query.len() > MAX_QUERY_BYTES {
        return Err(invalid("query", format!("must be at most {MAX_QUERY_BYTES} bytes")));
    }
    let has_text = !req.query.trim().is_empty();
    match mode {
        Mode::Lexical | Mode::Hybrid if !has_text => return Err(invalid("query", "is required for LEXICAL and HYBRID search")),
        Mode::Dense if !has_text && req.vector.is_empty() => return Err(invalid("query", "give a query text or a vector")),
        Mode::Lexical if !req.vector.is_empty() => return Err(invalid("vector", "LEXICAL search takes no vector")),
        _ => {}
    }
    if req.vector.iter().any(|x| !x.is_finite()) {
        return Err(invalid("vector", "must be finite"));
    }
    let k = match req.k {
        0 => DEFAULT_K,
        k if k > MAX_K => return Err(invalid("k", format!("must be at most {MAX_K}"))),
        k => k,
    };
    let mut filter = index::Filter {
        created_after: opt_ms(req.created_after_ms),
        created_before: opt_ms(req.created_before_ms),
        updated_after: opt_ms(req.updated_after_ms),
        updated_before: opt_ms(req.updated_before_ms),
        attributes: req.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
        ..Default::default()
    };
    for (i, t) in req.memory_types.iter().enumerate() {
        model::check_memory_type(&format!("memory_types[{i}]"), *t)?;
        filter.memory_types.push(*t);
    }
    for (i, s) in req.states.iter().enumerate() {
        filter.states.push(model::check_state(&format!("states[{i}]"), *s)? as i32);
    }
    if filter.states.is_empty() {
        filter.states = index::default_states();
    }
    for (i, s) in req.sources.iter().enumerate() {
        model::check_source(&format!("sources[{i}]"), *s)?;
        filter.sources.push(*s);
    }
    for (i, t) in req.tags.iter().enumerate() {
        if t.is_empty() {
            return Err(invalid(&format!("tags[{i}]"), "must not be empty"));
        }
        filter.tags.push(t.clone());
    }
    let fusion = match memmesh_proto::Fusion::try_from(req.fusion).map_err(|_| invalid("fusion", format!("unknown enum value {}", req.fusion)))? {
        memmesh_proto::Fusion::Rrf => Fusion::Rrf,
        memmesh_proto::Fusion::Convex | memmesh_proto::Fusion::Unspecified => {
            let w = req.dense_weight;
            if !(0.0..=1.0).contains(&w) || w.is_nan() {
                return Err(invalid("dense_weight", "must be in (0, 1] (0 = default)"));
            }
            Fusion::Convex { dense_weight: if w == 0.0 { DEFAULT_DENSE_WEIGHT } else { w } }
        }
    };
    Ok(Query { scopes, viewer: None, filter, k: k as usize, mode, fusion, text: req.query.clone(), vector: None })
}

pub async fn search(core: &Core, who: &Caller, mut req: SearchRequest) -> Result<SearchResponse, ApiError> {
    let mut q = check(&req)?;
    // Access control inside the query: the scopes shrink to what the caller's scope rule and
    // grants let it read before the index sees them, and the viewer makes the scan check
    // per-cube ACLs (restricted cubes that leave it out are skipped, cubes shared with it
    // outside those scopes are added) — so nothing else is ever scored, let alone returned.
    let tenant = q.scopes[0].tenant.clone();
    let grants = core.grants_for(who, &tenant)?;
    if !who.is_admin_of(&tenant) {
        let requested = std::mem::take(&mut q.scopes);
        q.scopes = who.narrow(&requested, &grants);
        if q.scopes.is_empty() && !core.index.shares_with(who, &requested) {
            return Err(ApiError::PermissionDenied("may not read any part of the requested scopes".into()));
        }
        q.viewer = Some(index::Viewer { caller: who.clone(), requested });
    }
    let mut model = String::new();
    if q.mode != Mode::Lexical {
        let Some((index_model, dims)) = core.index.model() else {
            return Err(ApiError::Precondition(
                "DENSE and HYBRID search need the embedding model, which this node does not run (embedding.enabled = false); use LEXICAL".into(),
            ));
        };
        model = index_model.to_string();
        if !req.vector.is_empty() {
            if req.vector.len() != dims {
                return Err(invalid("vector", format!("has {} dimensions, the model has {dims}", req.vector.len())));
            }
            let mut v = std::mem::take(&mut req.vector);
            crate::embed::model::normalize(&mut v);
            q.vector = Some(v);
        } else {
            q.vector = core.embed_text(&q.text).await?.map(|e| e.vector);
        }
    }
    core.read_barrier(req.read.as_ref()).await?;
    let read_revision = core.reader.applied_revision();
    // The scan is CPU-bound (milliseconds for large scopes): keep it off the async workers.
    let index = core.index.clone();
    let found = tokio::task::spawn_blocking(move || index.search(&q)).await.map_err(|e| ApiError::Unavailable(format!("search task failed: {e}")))?;
    let mut hits = Vec::with_capacity(found.len());
    for h in found {
        // The index may be a write ahead of `read_revision`; a cube purged meanwhile is skipped.
        let Some(mut cube) = core.reader.get(h.id)? else {
            continue;
        };
        // Likewise its ACL may have changed in between: the stored cube has the last word.
        if !who.may_cube(cube.scope.as_ref().unwrap_or(&Default::default()), cube.acl.as_ref(), crate::auth::Need::Read, &grants) {
            continue;
        }
        cube.embedding = None;
        hits.push(SearchHit {
            cube: Some(cube),
            score: h.score,
            dense_score: h.dense,
            dense_rank: h.dense_rank,
            lexical_score: h.lexical,
            lexical_rank: h.lexical_rank,
        });
    }
    Ok(SearchResponse { hits, read_revision, model })
}
