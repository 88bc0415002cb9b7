//! Fitting a query adapter from a scope's feedback, on the node that receives
//! `Memory.TrainAdapter`, before anything is proposed (see the README's Parametric memory): the
//! pairs, the held-out split, the hard negatives, the choice of λ and β by held-out recall, and
//! the final fit written as ONNX. The arithmetic is `embed::adapter::fit`; embedding the
//! questions runs on the embedding workers, fitting and checking off the async workers.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use memmesh_proto::Scope;
use sha2::{Digest, Sha256};
use ulid::Ulid;

use super::{ApiError, Core};
use crate::auth::{Caller, Need};
use crate::embed::adapter::{Gram, LowRank};
use crate::embed::model::normalize;
use crate::index::{self, Fusion, Mode, Query};
use crate::model::{now_ms, scope_matches, Filter};

/// Fewest positive pairs a fit accepts.
pub const MIN_PAIRS: usize = 20;
/// Ridge strengths tried when the caller names none (the held-out recall picks).
pub const LAMBDAS: [f64; 5] = [1.0, 3.0, 10.0, 30.0, 100.0];
/// Weights of the hard negatives tried (the held-out recall picks; 0 = plain ridge).
pub const BETAS: [f64; 4] = [0.0, 0.25, 0.5, 1.0];
/// Hard negatives per question: the cubes it wrongly ranks highest without an adapter.
const NEGATIVES: usize = 5;
pub const DEFAULT_RANK: usize = 64;
/// The held-out check's depth: recall@10.
const CHECK_K: usize = 10;

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

impl Core {
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
        // Held-out first, then by hash: the scope's hash is taken once per pair, not twice per
        // comparison.
        pairs.sort_by_cached_key(|p| (!held_scopes.contains(&key(&p.scope)), p.hash, p.target));
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
