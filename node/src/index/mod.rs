//! The search index: what `Memory.Search` queries. Derived state, kept in memory, rebuilt from
//! RocksDB when a node starts (or installs a snapshot) and updated by `apply` as each write
//! lands — before the write's revision is published as applied, so a read that waits for a
//! revision (linearizable or `min_revision`) also finds it in the index.
//!
//! - [`dense`]: exact vector scan over per-scope contiguous vectors.
//! - [`lexical`]: BM25 over cube text, per tenant.
//! - this module: documents, filters, and fusion of the two rankings (reciprocal rank fusion).
//!
//! Scope and filters are applied *inside* both scans — a document outside the caller's scopes
//! is never scored — so a small scope inside a big tenant still gets its full `k` results.
//! Ties break by cube id, so every replica with the same applied state answers identically.

pub mod dense;
pub mod lexical;

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use memmesh_proto::{CubeState, MemCube, Scope};
use ulid::Ulid;

use self::dense::{dot, Bucket};
use self::lexical::{term_counts, tokenize, Lexical};

/// RRF's damping constant (Cormack et al. 2009): rank r contributes 1 / (RRF_K + r).
const RRF_K: f32 = 60.0;
/// How deep each ranking is read before fusing, at least.
const FUSION_DEPTH: usize = 100;

/// How a hybrid search combines its two rankings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// `w · dense' + (1 − w) · lexical'`, each signal scaled to [0, 1] over the scanned scope.
    Convex { dense_weight: f32 },
    /// Reciprocal rank fusion.
    Rrf,
}

/// Which rankings a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dense,
    Lexical,
    Hybrid,
}

/// Conditions a document must meet (besides scope). Empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub memory_types: Vec<i32>,
    /// The document must carry all of these.
    pub tags: Vec<String>,
    /// Any of these; the caller fills the default (ACTIVE).
    pub states: Vec<i32>,
    pub sources: Vec<i32>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    pub updated_after: Option<i64>,
    pub updated_before: Option<i64>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Query {
    /// One tenant; a document matches if it lies inside any of these scopes.
    pub scopes: Vec<Scope>,
    pub filter: Filter,
    pub k: usize,
    pub mode: Mode,
    pub fusion: Fusion,
    /// Needed for lexical and hybrid.
    pub text: String,
    /// Needed for dense and hybrid (the embedded query, or a raw vector).
    pub vector: Option<Vec<f32>>,
}

/// One result, with each signal's score and 1-based rank (rank 0 = not in that ranking's
/// candidates; the score is still computed when the document has a vector / matching terms).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: Ulid,
    pub score: f32,
    pub dense: Option<f32>,
    pub dense_rank: u32,
    pub lexical: Option<f32>,
    pub lexical_rank: u32,
}

struct Doc {
    id: Ulid,
    scope: Scope,
    state: i32,
    memory_type: i32,
    source: i32,
    tags: Vec<String>,
    attributes: BTreeMap<String, String>,
    created: i64,
    updated: i64,
    terms: Vec<(String, u32)>,
    len: u32,
    /// Position in its scope's bucket, if it has a vector.
    dense: Option<u32>,
}

type ScopeKey = (String, String, String);

fn scope_key(s: &Scope) -> ScopeKey {
    (s.user.clone(), s.agent.clone(), s.run.clone())
}

fn key_matches(filter: &Scope, k: &ScopeKey) -> bool {
    let eq = |f: &str, v: &str| f.is_empty() || f == v;
    eq(&filter.user, &k.0) && eq(&filter.agent, &k.1) && eq(&filter.run, &k.2)
}

#[derive(Default)]
struct Tenant {
    buckets: BTreeMap<ScopeKey, Bucket>,
    lexical: Lexical,
}

#[derive(Default)]
struct Inner {
    docs: Vec<Option<Doc>>,
    free: Vec<u32>,
    by_id: HashMap<Ulid, u32>,
    tenants: HashMap<String, Tenant>,
}

/// The index of one replica. `model` is the embedding model whose vectors the dense index holds
/// (vectors of any other model are not comparable and are left out); `None` = no dense index.
pub struct SearchIndex {
    model: Option<(String, usize)>,
    inner: RwLock<Inner>,
}

impl Filter {
    fn accepts(&self, d: &Doc) -> bool {
        let within = |v: i64, after: Option<i64>, before: Option<i64>| after.is_none_or(|a| v >= a) && before.is_none_or(|b| v < b);
        (self.states.is_empty() || self.states.contains(&d.state))
            && (self.memory_types.is_empty() || self.memory_types.contains(&d.memory_type))
            && (self.sources.is_empty() || self.sources.contains(&d.source))
            && self.tags.iter().all(|t| d.tags.binary_search(t).is_ok())
            && within(d.created, self.created_after, self.created_before)
            && within(d.updated, self.updated_after, self.updated_before)
            && self.attributes.iter().all(|(k, v)| d.attributes.get(k) == Some(v))
    }
}

/// The `k` best (score desc, id asc) of `scored`.
fn top(mut scored: Vec<(u32, f32)>, k: usize, docs: &[Option<Doc>]) -> Vec<(u32, f32)> {
    let id = |s: u32| docs[s as usize].as_ref().map(|d| d.id);
    let cmp = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then_with(|| id(a.0).cmp(&id(b.0)));
    if scored.len() > k {
        scored.select_nth_unstable_by(k, cmp);
        scored.truncate(k);
    }
    scored.sort_by(cmp);
    scored
}

impl Default for SearchIndex {
    /// An index without a dense part.
    fn default() -> Self {
        Self::new(None)
    }
}

impl SearchIndex {
    pub fn new(model: Option<(String, usize)>) -> Self {
        Self { model, inner: RwLock::new(Inner::default()) }
    }

    /// The model id and dimensions of the dense index, if there is one.
    pub fn model(&self) -> Option<(&str, usize)> {
        self.model.as_ref().map(|(m, d)| (m.as_str(), *d))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (before a rebuild).
    pub fn clear(&self) {
        *self.write() = Inner::default();
    }

    /// Indexes the current version of a cube (replacing what was indexed for it).
    pub fn upsert(&self, cube: &MemCube) {
        let Ok(id) = cube.id.parse::<Ulid>() else {
            return;
        };
        let scope = cube.scope.clone().unwrap_or_default();
        // The search context is found lexically together with the text.
        let text = cube.content.as_ref().map_or("", |c| c.text.as_str());
        let (terms, len) = if cube.context.is_empty() { term_counts(text) } else { term_counts(&format!("{text}\n{}", cube.context)) };
        let vector = cube.embedding.as_ref().filter(|e| self.model.as_ref().is_some_and(|(m, d)| e.model == *m && e.vector.len() == *d));
        let mut tags = cube.tags.clone();
        tags.sort();
        let mut g = self.write();
        g.remove(id, self.dims());
        let inner = &mut *g;
        let slot = inner.free.pop().unwrap_or(inner.docs.len() as u32);
        let tenant = inner.tenants.entry(scope.tenant.clone()).or_default();
        tenant.lexical.add(slot, &terms, len);
        let dense = vector.map(|e| tenant.buckets.entry(scope_key(&scope)).or_default().push(slot, &e.vector));
        let doc = Doc {
            id,
            scope,
            state: cube.state,
            memory_type: cube.memory_type,
            source: cube.source,
            tags,
            attributes: cube.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            created: cube.created_at_ms,
            updated: cube.updated_at_ms,
            terms,
            len,
            dense,
        };
        if slot as usize == inner.docs.len() {
            inner.docs.push(Some(doc));
        } else {
            inner.docs[slot as usize] = Some(doc);
        }
        inner.by_id.insert(id, slot);
    }

    /// Forgets a cube (purged).
    pub fn remove(&self, id: Ulid) {
        let dims = self.dims();
        self.write().remove(id, dims);
    }

    fn dims(&self) -> usize {
        self.model.as_ref().map_or(0, |(_, d)| *d)
    }

    /// Runs a query; `scopes` must all be in one tenant (checked by the caller).
    pub fn search(&self, q: &Query) -> Vec<Hit> {
        let g = self.read();
        let Some(tenant_id) = q.scopes.first().map(|s| s.tenant.as_str()) else {
            return Vec::new();
        };
        let Some(tenant) = g.tenants.get(tenant_id) else {
            return Vec::new();
        };
        let dims = self.dims();
        let in_scope = |d: &Doc| q.scopes.iter().any(|s| key_matches(s, &scope_key(&d.scope)));
        let doc = |slot: u32| g.docs[slot as usize].as_ref();
        let depth = if q.mode == Mode::Hybrid { q.k.max(FUSION_DEPTH) } else { q.k };

        // Range of each signal over everything scanned, for convex fusion's scaling.
        let (mut dense_min, mut dense_max) = (f32::INFINITY, f32::NEG_INFINITY);
        let dense_ranked = match (&q.vector, q.mode) {
            (Some(v), Mode::Dense | Mode::Hybrid) if v.len() == dims => {
                let mut scored: Vec<(u32, f32)> = Vec::new();
                for (key, bucket) in &tenant.buckets {
                    if !q.scopes.iter().any(|s| key_matches(s, key)) {
                        continue;
                    }
                    for (i, &slot) in bucket.slots.iter().enumerate() {
                        if doc(slot).is_some_and(|d| q.filter.accepts(d)) {
                            scored.push((slot, dot(v, bucket.vector(i as u32, dims))));
                        }
                    }
                }
                for (_, s) in &scored {
                    dense_min = dense_min.min(*s);
                    dense_max = dense_max.max(*s);
                }
                top(scored, depth, &g.docs)
            }
            _ => Vec::new(),
        };
        let terms: Vec<String> = {
            let mut t = tokenize(&q.text);
            t.sort();
            t.dedup();
            t
        };
        let lexical_ranked = if matches!(q.mode, Mode::Lexical | Mode::Hybrid) {
            let scores =
                tenant.lexical.score(&terms, |s| doc(s).map_or(0, |d| d.len), |s| doc(s).is_some_and(|d| in_scope(d) && q.filter.accepts(d)));
            top(scores.into_iter().collect(), depth, &g.docs)
        } else {
            Vec::new()
        };

        // Fuse by rank, then fill in each signal's score for documents only one ranking found.
        let mut fused: HashMap<u32, Hit> = HashMap::new();
        for (r, (slot, s)) in dense_ranked.iter().enumerate() {
            let h = fused.entry(*slot).or_insert_with(|| blank_hit(&g.docs, *slot));
            h.dense = Some(*s);
            h.dense_rank = r as u32 + 1;
        }
        for (r, (slot, s)) in lexical_ranked.iter().enumerate() {
            let h = fused.entry(*slot).or_insert_with(|| blank_hit(&g.docs, *slot));
            h.lexical = Some(*s);
            h.lexical_rank = r as u32 + 1;
        }
        let mut hits: Vec<Hit> = fused
            .into_iter()
            .map(|(slot, mut h)| {
                let d = g.docs[slot as usize].as_ref();
                if h.dense.is_none() && q.mode == Mode::Hybrid {
                    if let (Some(v), Some(d)) = (&q.vector, d) {
                        h.dense = d.dense.and_then(|pos| tenant.buckets.get(&scope_key(&d.scope)).map(|b| dot(v, b.vector(pos, dims))));
                    }
                }
                if h.lexical.is_none() && q.mode == Mode::Hybrid {
                    h.lexical = d.map(|d| tenant.lexical.score_doc(&terms, &d.terms, d.len)).filter(|s| *s > 0.0);
                }
                h.score = match (q.mode, q.fusion) {
                    (Mode::Dense, _) => h.dense.unwrap_or(0.0),
                    (Mode::Lexical, _) => h.lexical.unwrap_or(0.0),
                    (Mode::Hybrid, Fusion::Rrf) => rrf(h.dense_rank) + rrf(h.lexical_rank),
                    (Mode::Hybrid, Fusion::Convex { dense_weight: w }) => {
                        // The best lexical score is rank 1's (the ranking is complete: every
                        // document with a matching term was scored).
                        let lex_max = lexical_ranked.first().map_or(0.0, |(_, s)| *s);
                        let d = match h.dense {
                            Some(s) if dense_max > dense_min => (s - dense_min) / (dense_max - dense_min),
                            Some(_) => 1.0,
                            None => 0.0,
                        };
                        let l = if lex_max > 0.0 { h.lexical.unwrap_or(0.0) / lex_max } else { 0.0 };
                        w * d + (1.0 - w) * l
                    }
                };
                h
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        hits.truncate(q.k);
        hits
    }
}

fn rrf(rank: u32) -> f32 {
    if rank == 0 {
        0.0
    } else {
        1.0 / (RRF_K + rank as f32)
    }
}

fn blank_hit(docs: &[Option<Doc>], slot: u32) -> Hit {
    Hit { id: docs[slot as usize].as_ref().map_or(Ulid::nil(), |d| d.id), score: 0.0, dense: None, dense_rank: 0, lexical: None, lexical_rank: 0 }
}

impl Inner {
    fn remove(&mut self, id: Ulid, dims: usize) {
        let Some(slot) = self.by_id.remove(&id) else {
            return;
        };
        let Some(doc) = self.docs[slot as usize].take() else {
            return;
        };
        self.free.push(slot);
        let Some(tenant) = self.tenants.get_mut(&doc.scope.tenant) else {
            return;
        };
        tenant.lexical.remove(slot, &doc.terms, doc.len);
        if let Some(pos) = doc.dense {
            let key = scope_key(&doc.scope);
            if let Some(bucket) = tenant.buckets.get_mut(&key) {
                if let Some(moved) = bucket.swap_remove(pos, dims) {
                    if let Some(Some(m)) = self.docs.get_mut(moved as usize) {
                        m.dense = Some(pos);
                    }
                }
                if bucket.is_empty() {
                    tenant.buckets.remove(&key);
                }
            }
        }
        if tenant.lexical.is_empty() && tenant.buckets.is_empty() {
            self.tenants.remove(&doc.scope.tenant);
        }
    }
}

/// The default state filter: only ACTIVE cubes.
pub fn default_states() -> Vec<i32> {
    vec![CubeState::Active as i32]
}
