//! `Memory.Search`: validate the request into an index query, run it (`engine::search`), encode
//! the hits.

use memmesh_proto::{SearchHit, SearchMode, SearchRequest, SearchResponse};

use super::{invalid, ApiError};
use crate::auth::Caller;
use crate::engine::Core;
use crate::index::{Fusion, Mode, Query};
use crate::model::strength::{blend, strength};
use crate::model::{self, Filter, FilterSpec};

const DEFAULT_K: u32 = 10;
/// Measured on LoCoMo: 0.5 is the best of 0.2–0.6 (see the README).
const DEFAULT_DENSE_WEIGHT: f32 = 0.5;
const MAX_K: u32 = 1000;
const MAX_QUERY_BYTES: usize = 16 * 1024;
const MAX_SCOPES: usize = 1000;
/// With a strength weight, how many candidates per result are re-ranked.
const STRENGTH_DEPTH: usize = 4;

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
    let filter = Filter::build(&FilterSpec {
        memory_types: &req.memory_types,
        tags: &req.tags,
        states: &req.states,
        sources: &req.sources,
        created_after_ms: req.created_after_ms,
        created_before_ms: req.created_before_ms,
        updated_after_ms: req.updated_after_ms,
        updated_before_ms: req.updated_before_ms,
        attributes: Some(&req.attributes),
    })?
    .active_by_default()
    .judged_at(crate::model::now_ms());
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
    let w = req.strength_weight;
    if !(0.0..=1.0).contains(&w) || w.is_nan() {
        return Err(invalid("strength_weight", "must be in [0, 1] (0 = off)"));
    }
    let k = q.k;
    if w > 0.0 {
        // Strength re-ranks a deeper candidate list, so a strong cube just outside the top k
        // by relevance can still make it.
        q.k = (k * STRENGTH_DEPTH).min(MAX_K as usize);
    }
    let vector = std::mem::take(&mut req.vector);
    if req.adapter.len() > 64 {
        return Err(invalid("adapter", "must be AUTO, NONE or a cube id"));
    }
    if q.mode == crate::index::Mode::Lexical && !matches!(req.adapter.as_str(), "" | "AUTO" | "NONE") {
        return Err(invalid("adapter", "LEXICAL search runs no adapter (it has no query vector)"));
    }
    let mut found = core.search(who, q, vector, &req.adapter, req.read.as_ref()).await?;
    let mut strengths = Vec::new();
    if w > 0.0 {
        let now = crate::model::now_ms();
        let best = found.hits.iter().map(|(_, h)| h.score).fold(0.0f32, f32::max);
        for (cube, h) in &mut found.hits {
            let s = strength(cube, now);
            h.score = blend(h.score, best, s, w);
            strengths.push((cube.id.clone(), s as f32));
        }
        found.hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.1.id.cmp(&b.1.id)));
        found.hits.truncate(k);
    }
    let strength_of = |id: &str| strengths.iter().find(|(i, _)| i == id).map(|(_, s)| *s);
    let mut hits = Vec::with_capacity(found.hits.len());
    for (cube, h) in found.hits {
        let linked = if req.expand_links { core.linked_cubes(who, &cube)? } else { Vec::new() };
        hits.push(SearchHit {
            score: h.score,
            dense_score: h.dense,
            dense_rank: h.dense_rank,
            lexical_score: h.lexical,
            lexical_rank: h.lexical_rank,
            strength: strength_of(&cube.id),
            cube: Some(cube),
            linked,
        });
    }
    let adapter = found.adapter.map(|a| memmesh_proto::AdapterRef { id: a.id, version: a.version });
    Ok(SearchResponse { hits, read_revision: found.read_revision, model: found.model, adapter })
}
