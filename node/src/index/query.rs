//! Running a query: the dense scan, the lexical scoring, and fusing the two rankings.

use std::collections::{BTreeMap, HashMap};

use memmesh_proto::Scope;
use ulid::Ulid;

use super::dense::{coarse_picked, dot, Bucket, Codes};
use super::lexical::tokenize;
use super::{key_matches, scope_key, Doc, Fusion, Hit, Mode, Query, ScopeKey, SearchIndex, Tenant};

/// RRF's damping constant (Cormack et al. 2009): rank r contributes 1 / (RRF_K + r).
const RRF_K: f32 = 60.0;
/// How deep each ranking is read before fusing, at least.
const FUSION_DEPTH: usize = 100;
/// How many candidates per result the coarse ranking hands to the exact rescoring, at least
/// `RESCORE_MIN` in all (bench-search checks the recall against an exact top-10).
const RESCORE_FACTOR: usize = 4;
const RESCORE_MIN: usize = 200;
/// From how many vectors (or postings) a search is worth a second thread: starting one costs
/// tens of microseconds, a scan this big a millisecond or more.
const PARALLEL_MIN_WORK: usize = 16_384;
/// BM25 over many documents ranks those scoring at least the `BEST_FACTOR · depth`-th best
/// score (at least `BEST_MIN` of them) before the rest — which it ranks only when admission
/// turned away too many of those (see `lexical_ranked`).
const BEST_FACTOR: usize = 4;
const BEST_MIN: usize = 256;
/// The binary pass hands the closest `1 / BINARY_KEEP_DIVISOR` of the vectors to the int8 pass,
/// and at least `BINARY_KEEP_FACTOR` times as many as the int8 pass hands on (bench-search
/// checks the recall against an exact top-10; a test over clustered vectors too). Each kept
/// vector is an int8 read from a scattered place (~0.2 µs), so keeping fewer is what makes the
/// binary pass pay.
const BINARY_KEEP_DIVISOR: usize = 32;
const BINARY_KEEP_FACTOR: usize = 8;

/// The entries of `map` whose exact scope lies inside any of `scopes`, each once. Scopes that
/// name a user are looked up by range (a user's scopes are adjacent in the map), so searching
/// one user of a tenant with thousands does not walk the others.
fn matching<'a, V>(map: &'a BTreeMap<ScopeKey, V>, scopes: &[Scope]) -> Vec<(&'a ScopeKey, &'a V)> {
    if scopes.iter().any(|s| s.user.is_empty()) {
        return map.iter().filter(|(k, _)| scopes.iter().any(|s| key_matches(s, k))).collect();
    }
    let mut out: Vec<(&ScopeKey, &V)> = Vec::new();
    let mut users: Vec<&str> = scopes.iter().map(|s| s.user.as_str()).collect();
    users.sort();
    users.dedup();
    for user in users {
        let from = (user.to_string(), String::new(), String::new());
        for (k, v) in map.range(from..).take_while(|(k, _)| k.0 == user) {
            if scopes.iter().any(|s| key_matches(s, k)) {
                out.push((k, v));
            }
        }
    }
    out
}

/// The cube id of the document in `slot`.
fn doc_id(docs: &[Option<Doc>], slot: u32) -> Option<Ulid> {
    docs[slot as usize].as_ref().map(|d| d.id)
}

/// The order of every ranking: score descending, then cube id ascending, so ties break alike on
/// every replica.
fn by_rank(docs: &[Option<Doc>]) -> impl Fn(&(u32, f32), &(u32, f32)) -> std::cmp::Ordering + Copy + '_ {
    move |a, b| b.1.total_cmp(&a.1).then_with(|| doc_id(docs, a.0).cmp(&doc_id(docs, b.0)))
}

/// The `k` best (score desc, id asc) of `scored`.
fn top(mut scored: Vec<(u32, f32)>, k: usize, docs: &[Option<Doc>]) -> Vec<(u32, f32)> {
    let cmp = by_rank(docs);
    if scored.len() > k {
        scored.select_nth_unstable_by(k, cmp);
        scored.truncate(k);
    }
    scored.sort_by(cmp);
    scored
}

impl SearchIndex {
    /// Runs a query; `scopes` must all be in one tenant (checked by the caller).
    pub fn search(&self, q: &Query) -> Vec<Hit> {
        let g = self.read();
        let Some(tenant_id) = q.tenant() else {
            return Vec::new();
        };
        let Some(tenant) = g.tenants.get(tenant_id) else {
            return Vec::new();
        };
        let dims = self.dims();
        let doc = |slot: u32| g.docs[slot as usize].as_ref();
        let depth = if q.mode == Mode::Hybrid { q.k.max(FUSION_DEPTH) } else { q.k };
        // Cubes shared with the viewer by their ACL that the scopes' scan does not reach.
        let extra: Vec<u32> = match &q.viewer {
            Some(_) => tenant.shared.iter().copied().filter(|&s| doc(s).is_some_and(|d| !q.in_scopes(d) && q.admits(d))).collect(),
            None => Vec::new(),
        };

        let terms = query_terms(&q.text);
        let dense_vector = match (&q.vector, q.mode) {
            (Some(v), Mode::Dense | Mode::Hybrid) if v.len() == dims => Some(v.as_slice()),
            _ => None,
        };
        let buckets = if dense_vector.is_some() { matching(&tenant.buckets, &q.scopes) } else { Vec::new() };
        let vectors: usize = buckets.iter().map(|(_, b)| b.len()).sum();
        // Walk the terms' postings across the tenant, or score each document of the requested
        // scopes directly — whichever visits less.
        let (by_postings, lexical_work) = if matches!(q.mode, Mode::Lexical | Mode::Hybrid) {
            let in_scopes: usize = matching(&tenant.members, &q.scopes).iter().map(|(_, m)| m.len()).sum::<usize>() + extra.len();
            let (direct, postings) = (in_scopes * terms.len().max(1), tenant.lexical.postings_len(&terms));
            (direct >= postings, direct.min(postings))
        } else {
            (false, 0)
        };
        let dense = |threads: usize| match dense_vector {
            Some(v) => {
                let threads = if vectors >= PARALLEL_MIN_WORK { threads } else { 1 };
                self.dense_ranked(tenant, &g.docs, q, &buckets, &extra, v, depth, threads)
            }
            None => (Vec::new(), f32::INFINITY, f32::NEG_INFINITY),
        };
        let lexical = || {
            if matches!(q.mode, Mode::Lexical | Mode::Hybrid) {
                lexical_ranked(tenant, &g.docs, q, &terms, &extra, by_postings, depth)
            } else {
                Vec::new()
            }
        };
        // A big hybrid query scores BM25 on a thread of its own beside the dense scan; a big
        // dense one splits its scan. Either way the rankings are those of one thread.
        let ((dense_ranked, dense_min, dense_max), lexical_ranked) =
            if self.query_threads > 1 && q.mode == Mode::Hybrid && vectors + lexical_work >= PARALLEL_MIN_WORK {
                std::thread::scope(|s| {
                    let lexical = s.spawn(lexical);
                    let dense = dense(self.query_threads - 1);
                    (dense, lexical.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                })
            } else {
                (dense(self.query_threads), lexical())
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
        // The best lexical score is rank 1's (the ranking is complete: every document with a
        // matching term was scored).
        let lex_max = lexical_ranked.first().map_or(0.0, |(_, s)| *s);
        let mut hits: Vec<Hit> = fused
            .into_iter()
            .map(|(slot, mut h)| {
                let d = g.docs[slot as usize].as_ref();
                if h.dense.is_none() && q.mode == Mode::Hybrid {
                    if let (Some(v), Some(d)) = (&q.vector, d) {
                        h.dense = dense_score(tenant, d, v, dims);
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

impl SearchIndex {
    /// The `depth` best vectors `q` admits by exact cosine with `v` — those of `buckets` plus
    /// the `extra` documents shared by ACL — and the lowest and highest exact score of what was
    /// scanned, for convex fusion's scaling. A scan of `quantized_min` vectors or more ranks by
    /// int8 first ([`coarse_then_exact`]). `threads` > 1 splits the scan into runs of buckets,
    /// one per thread, each keeping its own best; the merged ranking is that of one thread.
    #[allow(clippy::too_many_arguments)]
    fn dense_ranked(
        &self,
        tenant: &Tenant,
        docs: &[Option<Doc>],
        q: &Query,
        buckets: &[(&ScopeKey, &Bucket)],
        extra: &[u32],
        v: &[f32],
        depth: usize,
        threads: usize,
    ) -> (Vec<(u32, f32)>, f32, f32) {
        let dims = self.dims();
        let admit = |slot: u32| docs[slot as usize].as_ref().is_some_and(|d| q.admits_in_scopes(d));
        let vectors: usize = buckets.iter().map(|(_, b)| b.len()).sum();
        let (mut scored, mut min, mut max) = if self.quantized_min == 0 || vectors < self.quantized_min {
            let parts = in_parts(buckets, threads, |_, run| {
                let mut scored = Vec::new();
                for (_, bucket) in run {
                    for (i, &slot) in bucket.slots.iter().enumerate() {
                        if admit(slot) {
                            scored.push((slot, dot(v, bucket.vector(i as u32, dims))));
                        }
                    }
                }
                // The range covers every scanned vector, not only the run's best.
                let (min, max) = bounds(&scored);
                (top(scored, depth, docs), min, max)
            });
            let mut all = (Vec::new(), f32::INFINITY, f32::NEG_INFINITY);
            for (best, min, max) in parts {
                all.0.extend(best);
                all.1 = all.1.min(min);
                all.2 = all.2.max(max);
            }
            all
        } else {
            let binary = self.binary_min > 0 && vectors >= self.binary_min;
            let scored = coarse_then_exact(tenant, docs, buckets, v, dims, depth, admit, threads, binary);
            let (min, max) = bounds(&scored);
            (scored, min, max)
        };
        for &slot in extra {
            if let Some(s) = docs[slot as usize].as_ref().and_then(|d| dense_score(tenant, d, v, dims)) {
                scored.push((slot, s));
                min = min.min(s);
                max = max.max(s);
            }
        }
        (top(scored, depth, docs), min, max)
    }
}

/// The lowest and the highest score of `scored` (∞ and −∞ when it is empty).
fn bounds(scored: &[(u32, f32)]) -> (f32, f32) {
    scored.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(min, max), (_, s)| (min.min(*s), max.max(*s)))
}

/// Runs `f` on up to `parts` runs of consecutive buckets holding about as many vectors each —
/// the first run on the calling thread, each other on a thread of its own — and returns the
/// results in bucket order. `f` also gets the run's number: the same buckets and `parts` always
/// make the same runs, so a second pass can pick up what the first left for each run. A bucket
/// is never split, so one big scope is one run.
fn in_parts<'a, R: Send>(
    buckets: &'a [(&'a ScopeKey, &'a Bucket)],
    parts: usize,
    f: impl Fn(usize, &'a [(&'a ScopeKey, &'a Bucket)]) -> R + Sync,
) -> Vec<R> {
    let parts = parts.clamp(1, buckets.len().max(1));
    if parts == 1 {
        return vec![f(0, buckets)];
    }
    let total: usize = buckets.iter().map(|(_, b)| b.len()).sum();
    let mut runs = Vec::with_capacity(parts);
    let (mut start, mut seen) = (0, 0);
    for (i, (_, b)) in buckets.iter().enumerate() {
        seen += b.len();
        if runs.len() + 1 < parts && seen * parts >= total * (runs.len() + 1) {
            runs.push(&buckets[start..=i]);
            start = i + 1;
        }
    }
    runs.push(&buckets[start..]);
    let f = &f;
    std::thread::scope(|s| {
        let others: Vec<_> = runs.iter().enumerate().skip(1).map(|(i, &run)| s.spawn(move || f(i, run))).collect();
        let mut out = vec![f(0, runs[0])];
        out.extend(others.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
        out
    })
}

/// A scan of many vectors: rank every one by its int8 dot product with the query (a quarter
/// of the bytes of the f32 scan, which memory bandwidth bounds), then rescore exactly the best
/// `RESCORE_FACTOR · depth` admitted candidates. Returns those exact scores, plus the exact
/// score of the admitted vector the coarse pass ranks lowest: the caller takes the dense range
/// for convex fusion from what it returns, so the range's low end is that vector's score, which
/// is within the quantisation error (thousandths) of the true minimum. Admission is tested best
/// first (see [`top_admitted`]), so a tenant-wide query reads few documents. With `threads` >
/// 1 each run of buckets is ranked on its own thread, down to its own best candidates and its
/// own lowest: the best of those are the best of all.
#[allow(clippy::too_many_arguments)]
fn coarse_then_exact(
    tenant: &Tenant,
    docs: &[Option<Doc>],
    buckets: &[(&ScopeKey, &Bucket)],
    v: &[f32],
    dims: usize,
    depth: usize,
    admit: impl Fn(u32) -> bool + Sync,
    threads: usize,
    binary: bool,
) -> Vec<(u32, f32)> {
    let qc = Codes::query(v);
    let candidates = (depth * RESCORE_FACTOR).max(RESCORE_MIN);
    // The lower of two coarse scores, ties to the lower id (as everywhere).
    let lower = |a: (u32, f32), b: Option<(u32, f32)>| b.is_none_or(|(m, ms)| a.1 < ms || (a.1 == ms && doc_id(docs, a.0) < doc_id(docs, m)));
    // The farther of two Hamming distances, ties to the lower id: the binary pass's lowest.
    let farther = |a: (u32, u16), b: Option<(u32, u16)>| b.is_none_or(|(m, md)| a.1 > md || (a.1 == md && doc_id(docs, a.0) < doc_id(docs, m)));
    // The first pass, when `binary`: each run's Hamming distances and their histogram; then the
    // cut-off distance of the closest `keep` of all runs (every vector at the cut-off distance
    // is kept, so the cut does not depend on how the runs were split).
    let first = if binary {
        let vectors: usize = buckets.iter().map(|(_, b)| b.len()).sum();
        let keep = (vectors / BINARY_KEEP_DIVISOR).max(candidates * BINARY_KEEP_FACTOR);
        let runs = in_parts(buckets, threads, |_, run| {
            let mut distances = Vec::with_capacity(run.iter().map(|(_, b)| b.len()).sum());
            for (_, bucket) in run {
                bucket.hamming(&qc, dims, &mut distances);
            }
            let mut histogram = vec![0usize; dims + 1];
            for &d in &distances {
                histogram[d as usize] += 1;
            }
            (distances, histogram)
        });
        let mut histogram = vec![0usize; dims + 1];
        for (_, h) in &runs {
            histogram.iter_mut().zip(h).for_each(|(a, b)| *a += b);
        }
        let mut seen = 0;
        let cut = histogram.iter().position(|&n| {
            seen += n;
            seen >= keep
        });
        Some((runs, cut.unwrap_or(dims) as u16))
    } else {
        None
    };
    // Each run's int8 scores — of every vector, or of those the binary pass kept — and its
    // lowest admitted vector: by int8 score, or when the binary pass kept only the closest, the
    // farthest by Hamming distance (ties to the lower id, as everywhere), scored by int8.
    let parts = in_parts(buckets, threads, |i, run| {
        let (coarse, lowest) = match &first {
            None => {
                let mut coarse = Vec::with_capacity(run.iter().map(|(_, b)| b.len()).sum());
                for (_, bucket) in run {
                    bucket.coarse(&qc, dims, &mut coarse);
                }
                // One pass: each new low is tested for admission, which for a scan in no
                // particular order happens a few times.
                let mut lowest: Option<(u32, f32)> = None;
                for &c in &coarse {
                    if lower(c, lowest) && admit(c.0) {
                        lowest = Some(c);
                    }
                }
                (coarse, lowest.map(|(slot, s)| (slot, s, 0)))
            }
            Some((runs, cut)) => {
                let mut distances = runs[i].0.iter();
                let mut farthest: Option<(u32, u16, &Bucket, u32)> = None;
                let mut kept: Vec<(&Bucket, u32)> = Vec::new();
                for (_, bucket) in run {
                    for (pos, (&slot, &d)) in bucket.slots.iter().zip(distances.by_ref()).enumerate() {
                        if d <= *cut {
                            kept.push((bucket, pos as u32));
                        }
                        if farther((slot, d), farthest.map(|(m, md, _, _)| (m, md))) && admit(slot) {
                            farthest = Some((slot, d, bucket, pos as u32));
                        }
                    }
                }
                let mut coarse = Vec::with_capacity(kept.len());
                coarse_picked(&qc, dims, &kept, &mut coarse);
                let farthest = farthest.and_then(|(_, d, bucket, pos)| {
                    let mut scored = Vec::with_capacity(1);
                    coarse_picked(&qc, dims, &[(bucket, pos)], &mut scored);
                    scored.pop().map(|(slot, s)| (slot, s, d))
                });
                (coarse, farthest)
            }
        };
        (top_admitted(coarse, candidates, docs, &admit), lowest)
    });
    let mut lowest = None;
    let mut best = Vec::with_capacity(candidates * parts.len());
    for (run_best, run_lowest) in parts {
        best.extend(run_best);
        // Across runs by the rule each run chose by: its int8 score, or its Hamming distance.
        let below = |(slot, s, d): (u32, f32, u16), than: Option<(u32, f32, u16)>| match first {
            None => lower((slot, s), than.map(|(m, ms, _)| (m, ms))),
            Some(_) => farther((slot, d), than.map(|(m, _, md)| (m, md))),
        };
        if let Some(l) = run_lowest.filter(|&l| below(l, lowest)) {
            lowest = Some(l);
        }
    }
    let best = top(best, candidates, docs);
    let exact = |slot: u32| docs[slot as usize].as_ref().and_then(|d| dense_score(tenant, d, v, dims)).map(|s| (slot, s));
    let mut scored: Vec<(u32, f32)> = best.into_iter().filter_map(|(slot, _)| exact(slot)).collect();
    if let Some((slot, _, _)) = lowest.filter(|(slot, _, _)| !scored.iter().any(|(s, _)| s == slot)) {
        // Not a result candidate (it ranks below every rescored one unless quantisation erred
        // by more than the gap), but it sets the low end of the range.
        scored.extend(exact(slot));
    }
    scored
}

/// The cosine of `d`'s vector (if it has one) with the query vector `v`.
fn dense_score(tenant: &Tenant, d: &Doc, v: &[f32], dims: usize) -> Option<f32> {
    d.dense.and_then(|pos| tenant.buckets.get(&scope_key(&d.scope)).map(|b| dot(v, b.vector(pos, dims))))
}

/// A query's terms as BM25 takes them: tokenized, sorted, each once.
fn query_terms(text: &str) -> Vec<String> {
    let mut t = tokenize(text);
    t.sort();
    t.dedup();
    t
}

/// The `depth` best BM25 scores of the documents `q` admits that match a term — those in its
/// scopes plus the `extra` ones shared by ACL — found through the postings or by scoring the
/// documents one by one (same result).
fn lexical_ranked(
    tenant: &Tenant,
    docs: &[Option<Doc>],
    q: &Query,
    terms: &[String],
    extra: &[u32],
    by_postings: bool,
    depth: usize,
) -> Vec<(u32, f32)> {
    let doc = |slot: u32| docs[slot as usize].as_ref();
    if by_postings {
        let admit = |s: u32| doc(s).is_some_and(|d| q.admits(d));
        let scores = tenant.lexical.accumulate(terms, docs.len());
        // Admission is tested best first, so the best few times `depth` usually decide: every
        // document left out ranks below each of them. Should the filter admit fewer than
        // `depth` of those, all are ranked.
        if let Some(best) = scores.best((depth * BEST_FACTOR).max(BEST_MIN)) {
            let ranked = top_admitted(best, depth, docs, admit);
            if ranked.len() >= depth {
                return ranked;
            }
        }
        return top_admitted(scores.all(), depth, docs, admit);
    }
    let in_scopes =
        matching(&tenant.members, &q.scopes).into_iter().flat_map(|(_, m)| m.iter()).filter(|&&s| doc(s).is_some_and(|d| q.admits_in_scopes(d)));
    // `extra` holds admitted documents only.
    let scored = in_scopes
        .chain(extra)
        .filter_map(|&slot| {
            let d = doc(slot)?;
            let s = tenant.lexical.score_doc(terms, &d.terms, d.len);
            (s > 0.0).then_some((slot, s))
        })
        .collect();
    top(scored, depth, docs)
}

/// The `k` best (score desc, id asc) of `scored` that `admit` lets through, testing admission
/// best first, a slice at a time: a query over a whole tenant admits most documents, so it
/// tests about `k` of them instead of every one that matched a term (each test reads the
/// document: scattered memory). Each slice is better than all that remain, so the answer is
/// that of testing them all. Slices grow with what has been tested, so a filter that admits
/// few documents costs O(n log n), not a selection over the rest per 64 documents.
fn top_admitted(mut scored: Vec<(u32, f32)>, k: usize, docs: &[Option<Doc>], admit: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    let cmp = by_rank(docs);
    let mut admitted = Vec::with_capacity(k);
    // scored[..tested] has been tested; the rest is untested and ranks below all of it.
    let mut tested = 0;
    while admitted.len() < k && tested < scored.len() {
        let rest = &mut scored[tested..];
        let want = ((k - admitted.len()) * 2).max(64).max(tested);
        if rest.len() > want {
            // By score alone first — no document is read — then by rank among those at or
            // above the cut-off score: the rank's tie-break by cube id reads two documents per
            // comparison, and BM25 scores of a big tenant tie often.
            rest.select_nth_unstable_by(want - 1, |a, b| b.1.total_cmp(&a.1));
            let cut = rest[want - 1].1;
            let mut tied = want;
            for i in want..rest.len() {
                if rest[i].1.total_cmp(&cut).is_eq() {
                    rest.swap(i, tied);
                    tied += 1;
                }
            }
            if tied > want {
                rest[..tied].select_nth_unstable_by(want - 1, cmp);
            }
        }
        let slice = &rest[..want.min(rest.len())];
        admitted.extend(slice.iter().copied().filter(|(s, _)| admit(*s)));
        tested += slice.len();
    }
    top(admitted, k, docs)
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

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
