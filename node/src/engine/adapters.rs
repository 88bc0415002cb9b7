//! Query adapters on the request path (see `embed::adapter` for what an adapter is and how one
//! is fitted): checking an adapter cube before it is proposed, choosing and running the adapter
//! of a search, recording feedback, and fitting an adapter from a scope's feedback.
//!
//! All inference here — loading a model, the probe, running it on a query, embedding the
//! training questions — happens on the embedding workers, before anything is proposed. The log
//! carries the model's bytes; no replica ever trains or checks anything in `apply`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use memmesh_proto::{CubeState, FeedbackItem, MemCube, Scope};
use sha2::{Digest, Sha256};
use ulid::Ulid;

use super::write::Written;
use super::{ApiError, Core};
use crate::auth::{Caller, Need};
use crate::embed::adapter::{AdapterError, Gram, LowRank};
use crate::embed::model::normalize;
use crate::index::{self, Fusion, Mode, Query};
use crate::model::adapter::{is_adapter, AUTO, NONE};
use crate::model::{self, now_ms, scope_matches, FeedbackRecord, Filter, Pb, ValidationError};
use crate::raft::Op;

/// Fewest positive pairs a fit accepts.
pub const MIN_PAIRS: usize = 20;
/// Most feedback items per call.
pub const MAX_FEEDBACK_ITEMS: usize = 1000;
/// Ridge strengths tried when the caller names none (the held-out recall picks).
pub const LAMBDAS: [f64; 5] = [1.0, 3.0, 10.0, 30.0, 100.0];
/// Weights of the hard negatives tried (the held-out recall picks; 0 = plain ridge).
pub const BETAS: [f64; 4] = [0.0, 0.25, 0.5, 1.0];
/// Hard negatives per question: the cubes it wrongly ranks highest without an adapter.
const NEGATIVES: usize = 5;
pub const DEFAULT_RANK: usize = 64;
/// The held-out check's depth: recall@10.
const CHECK_K: usize = 10;

/// What a search's query went through.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterUsed {
    pub id: String,
    pub version: u64,
}

/// A fitted adapter and how it was judged.
pub struct Trained {
    pub model: Vec<u8>,
    pub pairs: usize,
    pub held_out: usize,
    pub recall_before: f32,
    pub recall_after: f32,
    pub lambda: f64,
    /// Weight of the hard negatives (0 = none).
    pub beta: f64,
    pub rank: usize,
}

fn adapter_error(field: &str, e: AdapterError) -> ApiError {
    match e {
        e if e.is_invalid_model() => ValidationError::new(field, e.to_string()).into(),
        AdapterError::NoRuntime => ApiError::Precondition(e.to_string()),
        e => ApiError::Unavailable(e.to_string()),
    }
}

impl Core {
    fn pool(&self) -> Result<&crate::embed::EmbedPool, ApiError> {
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
    pub(super) async fn adapt_query(&self, adapter: &MemCube, vector: Vec<f32>) -> Result<(Vec<f32>, AdapterUsed), ApiError> {
        let bytes = Arc::new(adapter.content.as_ref().map(|c| c.data.clone()).unwrap_or_default());
        let key = (adapter.id.clone(), adapter.version);
        let mut out = self.pool()?.adapt(key, bytes, vec![vector]).await.map_err(|e| adapter_error("adapter", e))?;
        let mut v = out.pop().unwrap_or_default();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(ApiError::Precondition(format!("adapter {} gave a non-finite vector for this query", adapter.id)));
        }
        normalize(&mut v);
        Ok((v, AdapterUsed { id: adapter.id.clone(), version: adapter.version }))
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

    /// Fits an adapter for `scope` from the positive feedback about cubes in it (see the
    /// README's Parametric memory). Writes nothing.
    pub async fn fit_adapter(&self, who: &Caller, scope: &Scope, lambda: Option<f64>, rank: usize) -> Result<Trained, ApiError> {
        self.authorize_scope(who, scope, Need::Write)?;
        let pool = self.pool()?.clone();
        let dims = pool.dims();
        self.read_barrier(None).await?;
        let grants = self.grants_for(who, &scope.tenant)?;
        // Positive pairs about cubes in the scope that still exist, carry a vector of this
        // node's model and that the trainer may read; each (question, cube) once.
        let mut seen = BTreeSet::new();
        let mut pairs: Vec<Pair> = Vec::new();
        // Negative feedback: cubes a question was *not* answered by, used as its negatives.
        let mut told_negative: HashMap<String, Vec<Ulid>> = HashMap::new();
        for r in self.reader.feedback(&scope.tenant)? {
            if !scope_matches(scope, &r.scope.0) || !seen.insert((r.query.clone(), r.cube_id.clone(), r.negative)) {
                continue;
            }
            let Ok(ulid) = r.cube_id.parse::<Ulid>() else { continue };
            if r.negative {
                told_negative.entry(r.query).or_default().push(ulid);
                continue;
            }
            let Some(cube) = self.reader.get(ulid)? else { continue };
            let Some(e) = cube.embedding.as_ref().filter(|e| e.model == pool.model_id() && e.vector.len() == dims) else { continue };
            let cube_scope = cube.scope.clone().unwrap_or_default();
            if !who.may_cube(&cube_scope, cube.acl.as_ref(), Need::Read, &grants) {
                continue;
            }
            let hash: [u8; 32] = Sha256::digest(r.query.as_bytes()).into();
            pairs.push(Pair { hash, query: r.query, answer: e.vector.clone(), target: ulid, scope: cube_scope });
        }
        if pairs.len() < MIN_PAIRS {
            return Err(ApiError::Precondition(format!(
                "training needs at least {MIN_PAIRS} positive feedback pairs about cubes in this scope; it has {}",
                pairs.len()
            )));
        }
        let held = held_out_split(&mut pairs);
        let questions = pool.embed(pairs.iter().map(|p| p.query.clone()).collect()).await?;
        let answers: Vec<Vec<f32>> = pairs.iter().map(|p| p.answer.clone()).collect();
        let viewer = |s: &Scope| (!who.is_admin_of(&s.tenant)).then(|| index::Viewer { caller: who.clone(), requested: vec![s.clone()] });
        let check = Check {
            index: self.index.clone(),
            cases: pairs[..held].iter().zip(&questions).map(|(p, q)| (q.clone(), p.target, p.scope.clone(), viewer(&p.scope))).collect(),
        };
        let rank = if rank == 0 { DEFAULT_RANK.min(dims) } else { rank };
        let lambdas: Vec<f64> = lambda.map_or(LAMBDAS.to_vec(), |l| vec![l]);
        let negatives = self.hard_negatives(&pairs, &questions, &told_negative, dims, &viewer).await?;
        let (train_q, train_a, train_n) = (questions[held..].to_vec(), answers[held..].to_vec(), negatives[held..].to_vec());
        // Fitting and checking are CPU work of a few seconds: off the async workers.
        let (before, best) = tokio::task::spawn_blocking(move || {
            let before = check.recall(None);
            let gram = Gram::with_negatives(&train_q, &train_a, &train_n, dims);
            let mut best: Option<(f32, f64, f64)> = None;
            for &beta in &BETAS {
                for &l in &lambdas {
                    let r = check.recall(Some(&gram.fit_contrastive(l, beta, rank)));
                    // Ties go to the later candidate: the larger λ (closer to the identity),
                    // then the larger β.
                    if best.is_none_or(|(b, _, _)| r >= b) {
                        best = Some((r, l, beta));
                    }
                }
            }
            (before, best.unwrap_or((before, 10.0, 0.0)))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("adapter fit failed: {e}")))?;
        let (after, lambda, beta) = best;
        if after < before {
            return Err(ApiError::Precondition(format!(
                "the adapter would lower held-out recall@{CHECK_K} from {before:.3} to {after:.3} ({held} held-out pairs); nothing was written"
            )));
        }
        let n = pairs.len();
        let model_id = pool.model_id().to_string();
        let model = tokio::task::spawn_blocking(move || {
            let fitted = Gram::with_negatives(&questions, &answers, &negatives, dims).fit_contrastive(lambda, beta, rank);
            fitted.to_onnx(&[
                ("memmesh.embedding_model", model_id),
                ("memmesh.pairs", n.to_string()),
                ("memmesh.lambda", lambda.to_string()),
                ("memmesh.beta", beta.to_string()),
                ("memmesh.rank", fitted.rank.to_string()),
            ])
        })
        .await
        .map_err(|e| ApiError::Internal(format!("adapter fit failed: {e}")))?;
        Ok(Trained { model, pairs: n, held_out: held, recall_before: before, recall_after: after, lambda, beta, rank })
    }

    /// For each pair, the mean vector of its question's hard negatives: the cubes of its
    /// answer's scope that a plain dense search ranks highest although they do not answer it
    /// (up to [`NEGATIVES`]), and the cubes feedback said do not answer it. Zeros where none.
    /// The search runs as `viewer` gives it (cubes the trainer may not read are no negatives).
    async fn hard_negatives(
        &self,
        pairs: &[Pair],
        questions: &[Vec<f32>],
        told: &HashMap<String, Vec<Ulid>>,
        dims: usize,
        viewer: &(dyn Fn(&Scope) -> Option<index::Viewer> + Sync),
    ) -> Result<Vec<Vec<f32>>, ApiError> {
        let mut answers_of: HashMap<&str, Vec<Ulid>> = HashMap::new();
        for p in pairs {
            answers_of.entry(p.query.as_str()).or_default().push(p.target);
        }
        let filter = Filter::default().active_by_default().judged_at(now_ms());
        let jobs: Vec<_> =
            pairs.iter().zip(questions).map(|(p, q)| (q.clone(), p.scope.clone(), answers_of[p.query.as_str()].clone(), viewer(&p.scope))).collect();
        let index = self.index.clone();
        let ranked: Vec<Vec<Ulid>> = tokio::task::spawn_blocking(move || {
            jobs.into_iter()
                .map(|(q, scope, answers, viewer)| {
                    let query = Query {
                        scopes: vec![scope],
                        viewer,
                        filter: filter.clone(),
                        k: NEGATIVES + answers.len(),
                        mode: Mode::Dense,
                        fusion: Fusion::Rrf,
                        text: String::new(),
                        vector: Some(q),
                    };
                    index.search(&query).into_iter().map(|h| h.id).filter(|id| !answers.contains(id)).take(NEGATIVES).collect()
                })
                .collect()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("adapter fit failed: {e}")))?;
        let mut vectors: HashMap<Ulid, Option<Vec<f32>>> = HashMap::new();
        let mut out = Vec::with_capacity(pairs.len());
        for (p, mut ids) in pairs.iter().zip(ranked) {
            ids.extend(told.get(&p.query).into_iter().flatten().copied());
            let mut mean = vec![0.0f32; dims];
            let mut n = 0;
            for id in ids {
                let v = match vectors.entry(id) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(self.reader.get(id)?.and_then(|c| c.embedding).map(|e| e.vector).filter(|v| v.len() == dims))
                    }
                };
                if let Some(v) = v {
                    mean.iter_mut().zip(v.iter()).for_each(|(m, x)| *m += x);
                    n += 1;
                }
            }
            if n > 0 {
                mean.iter_mut().for_each(|m| *m /= n as f32);
            }
            out.push(mean);
        }
        Ok(out)
    }
}

/// One training pair: a question, the vector of the cube that answered it, that cube and its
/// scope.
struct Pair {
    hash: [u8; 32],
    query: String,
    answer: Vec<f32>,
    target: Ulid,
    scope: Scope,
}

/// Orders `pairs` so that the held-out ones come first and returns how many they are: about a
/// fifth. The point of an adapter is questions about memories it was not trained on, so when
/// the pairs span several exact scopes (conversations, users) whole scopes are held out — the
/// ones with the smallest hashes, until a fifth of the pairs is reached, never all of them.
/// Within one scope, the questions with the smallest hashes are. Deterministic: the same
/// feedback gives the same split.
fn held_out_split(pairs: &mut [Pair]) -> usize {
    let key = |s: &Scope| -> [u8; 32] { Sha256::digest(format!("{}\0{}\0{}", s.user, s.agent, s.run).as_bytes()).into() };
    let want = pairs.len().div_ceil(5);
    let mut scopes: Vec<([u8; 32], Scope)> = pairs.iter().map(|p| (key(&p.scope), p.scope.clone())).collect();
    scopes.sort_by_key(|s| s.0);
    scopes.dedup_by(|a, b| a.0 == b.0);
    if scopes.len() >= 2 {
        let mut held_scopes = Vec::new();
        let mut n = 0;
        for (k, s) in &scopes[..scopes.len() - 1] {
            if n >= want {
                break;
            }
            n += pairs.iter().filter(|p| p.scope == *s).count();
            held_scopes.push(*k);
        }
        pairs.sort_by(|a, b| {
            let (ha, hb) = (held_scopes.contains(&key(&a.scope)), held_scopes.contains(&key(&b.scope)));
            hb.cmp(&ha).then(a.hash.cmp(&b.hash)).then(a.target.cmp(&b.target))
        });
        return n;
    }
    pairs.sort_by(|a, b| a.hash.cmp(&b.hash).then(a.target.cmp(&b.target)));
    want
}

/// The held-out check: dense recall@10 of the held-out questions, each searched in the exact
/// scope of the cube that answers it, through an adapter or none — the same index scan a search
/// runs.
struct Check {
    index: Arc<index::SearchIndex>,
    /// Question vector, the cube that answers it, its scope, the viewer searching.
    cases: Vec<(Vec<f32>, Ulid, Scope, Option<index::Viewer>)>,
}

impl Check {
    fn recall(&self, adapter: Option<&LowRank>) -> f32 {
        let filter = Filter::default().active_by_default().judged_at(now_ms());
        let mut found = 0;
        for (q, target, scope, viewer) in &self.cases {
            let mut v = adapter.map_or_else(|| q.clone(), |a| a.apply(q));
            normalize(&mut v);
            let query = Query {
                scopes: vec![scope.clone()],
                viewer: viewer.clone(),
                filter: filter.clone(),
                k: CHECK_K,
                mode: Mode::Dense,
                fusion: Fusion::Rrf,
                text: String::new(),
                vector: Some(v),
            };
            if self.index.search(&query).iter().any(|h| h.id == *target) {
                found += 1;
            }
        }
        found as f32 / self.cases.len().max(1) as f32
    }
}
