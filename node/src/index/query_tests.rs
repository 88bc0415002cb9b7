//! Tests of running a query (`query.rs`), each against scoring every document directly: the two
//! lexical strategies and ranking under admission, an index after churn, the dense scan's
//! coarse passes and its threads, and ACLs inside the scan.

use memmesh_proto::{Acl, AclEntry, Content, Embedding, MemCube, Principal, Role, Scope};

use super::*;
use crate::auth::Caller;
use crate::index::Viewer;
use crate::model::{scope_matches, Filter};

const WORDS: [&str; 12] = ["apple", "river", "stone", "music", "garden", "rocket", "violin", "harbor", "winter", "candle", "forest", "copper"];
const DIMS: usize = 8;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn cube(rng: &mut Lcg, id: u128) -> MemCube {
    let text: Vec<&str> = (0..1 + rng.next(6)).map(|_| WORDS[rng.next(WORDS.len())]).collect();
    let vector: Vec<f32> = (0..DIMS).map(|_| rng.next(100) as f32 / 50.0 - 1.0).collect();
    MemCube {
        id: Ulid(id).to_string(),
        scope: Some(Scope { tenant: "t".into(), user: format!("u{}", rng.next(5)), agent: format!("a{}", rng.next(2)), run: String::new() }),
        content: Some(Content { text: text.join(" "), ..Default::default() }),
        state: 1,
        embedding: Some(Embedding { vector, model: "m".into() }),
        ..Default::default()
    }
}

fn query(scopes: Vec<Scope>, text: &str, mode: Mode) -> Query {
    let filter = Filter::default().active_by_default();
    let vector = Some(vec![0.3, -0.2, 0.9, 0.1, 0.0, -0.5, 0.4, 0.2]);
    Query { scopes, viewer: None, filter, k: 10, mode, fusion: Fusion::Convex { dense_weight: 0.5 }, text: text.into(), vector }
}

/// An index of the cubes `cube` draws with `seed`, ids 1 to `n` - 1.
fn random_index(seed: u64, n: u128) -> SearchIndex {
    let mut rng = Lcg(seed);
    let index = SearchIndex::new(Some(("m".into(), DIMS)));
    for id in 1..n {
        index.upsert(&cube(&mut rng, id));
    }
    index
}

fn scope(user: &str, agent: &str) -> Scope {
    Scope { tenant: "t".into(), user: user.into(), agent: agent.into(), run: String::new() }
}

#[test]
fn both_lexical_strategies_score_identically() {
    let index = random_index(1, 300);
    let g = index.read();
    let tenant = &g.tenants["t"];
    for scopes in [vec![scope("u1", "")], vec![scope("u2", "a1"), scope("u3", "")], vec![scope("", "")]] {
        let q = query(scopes, "apple violin winter", Mode::Lexical);
        let terms = query_terms(&q.text);
        // Every document (depth 1,000 > 300), then the best few: the postings path tests
        // admission a slice at a time, best first, so a short ranking exercises that.
        for depth in [1_000, 70, 5] {
            let a = lexical_ranked(tenant, &g.docs, &q, &terms, &[], true, depth);
            let b = lexical_ranked(tenant, &g.docs, &q, &terms, &[], false, depth);
            assert!(!a.is_empty());
            assert_eq!(a, b, "{:?} depth {depth}: the same ranking and the same sums", q.scopes);
        }
    }
}

/// Over many documents BM25 ranks only those at or above the cut-off score of its best
/// few, and all of them when admission turns too many of those away: the same rankings as
/// scoring each admitted document directly, in a tenant-wide scope (the best are ranked)
/// and in narrow ones (the best hold too few admitted documents, so all are ranked).
#[test]
fn ranking_the_best_documents_first_changes_no_lexical_ranking() {
    let index = random_index(5, 3_000);
    let g = index.read();
    let tenant = &g.tenants["t"];
    let terms = query_terms("apple violin winter");
    let best = tenant.lexical.accumulate(&terms, g.docs.len()).best(BEST_MIN);
    assert!(best.is_some_and(|b| b.len() < 2_000), "the query reaches most documents, and the best are a few of them");
    for scopes in [vec![scope("", "")], vec![scope("u1", "")], vec![scope("u2", "a1")]] {
        let q = query(scopes, "apple violin winter", Mode::Lexical);
        for depth in [5, 70, 400] {
            let a = lexical_ranked(tenant, &g.docs, &q, &terms, &[], true, depth);
            let b = lexical_ranked(tenant, &g.docs, &q, &terms, &[], false, depth);
            assert_eq!(a.len(), depth.min(b.len()));
            assert_eq!(a, b, "{:?} depth {depth}", q.scopes);
        }
    }
}

/// Admission tests the best first by score alone, then orders the cut-off score's ties by
/// id: the result must be the plain ranking's (score desc, id asc), ties and all.
#[test]
fn the_admitted_top_is_the_plain_ranking_even_when_scores_tie() {
    let mut rng = Lcg(3);
    let index = SearchIndex::new(Some(("m".into(), DIMS)));
    // Ids in a random order of slots, so slot order says nothing about id order.
    for _ in 0..1_000 {
        let id = 1 + rng.next(1 << 30) as u128;
        index.upsert(&cube(&mut rng, id));
    }
    let g = index.read();
    let slots: Vec<u32> = (0..g.docs.len() as u32).filter(|&s| g.docs[s as usize].is_some()).collect();
    for (round, k) in [1, 10, 100, 250].into_iter().enumerate() {
        // Three scores only: every cut-off falls inside a run of ties.
        let scored: Vec<(u32, f32)> = slots.iter().map(|&s| (s, [1.0, 2.0, 3.0][rng.next(3)])).collect();
        let admit = |s: u32| round.is_multiple_of(2) || !s.is_multiple_of(3);
        let want = top(scored.iter().copied().filter(|(s, _)| admit(*s)).collect(), k, &g.docs);
        assert_eq!(top_admitted(scored, k, &g.docs, admit), want, "k {k}");
    }
}

#[test]
fn churn_leaves_the_same_index_as_building_from_the_survivors() {
    // Insert, re-index and remove at random; slot reuse and swap-removal must leave every
    // document at the right position, so the result equals a fresh build.
    let mut rng = Lcg(7);
    let churned = SearchIndex::new(Some(("m".into(), DIMS)));
    let mut live: BTreeMap<u128, MemCube> = BTreeMap::new();
    for step in 0..2000u128 {
        let id = 1 + rng.next(150) as u128;
        if rng.next(4) == 0 {
            churned.remove(Ulid(id));
            live.remove(&id);
        } else {
            let mut c = cube(&mut rng, id);
            c.slot = ["", "", "s0", "s1"][rng.next(4)].into();
            // A cube keeps its scope across versions; a third of new versions keep the
            // text and vector too (a state, tag, pin or ACL change) — most of them the slot
            // too, which the index then updates in place, the others it re-files while
            // re-using the terms rather than tokenizing again.
            if let Some(old) = live.get(&id) {
                c.scope = old.scope.clone();
                if rng.next(3) == 0 {
                    c.content = old.content.clone();
                    // Now and then the same text with a new vector (embedded again).
                    if rng.next(4) != 0 {
                        c.embedding = old.embedding.clone();
                    }
                    if rng.next(4) != 0 {
                        c.slot = old.slot.clone();
                    }
                }
            }
            c.state = if rng.next(2) == 0 { 1 } else { 2 + rng.next(3) as i32 };
            c.tags = if rng.next(2) == 0 { vec!["x".into()] } else { vec![] };
            c.pinned = rng.next(3) == 0;
            c.version = step as u64;
            c.acl = random_acl(&mut rng);
            churned.upsert(&c);
            live.insert(id, c);
        }
    }
    let fresh = SearchIndex::new(Some(("m".into(), DIMS)));
    for c in live.values() {
        fresh.upsert(c);
    }
    assert_eq!(churned.len(), live.len());
    // The text keys kept across versions find the same exact duplicates.
    for c in live.values().take(40) {
        let probe = MemCube { id: Ulid(999_999).to_string(), version: 0, ..c.clone() };
        let key = crate::model::dedupe::text_key(&probe);
        let found = |i: &SearchIndex| i.find_duplicate(&probe, key, crate::model::Dedupe::Exact, 0);
        assert_eq!(found(&churned), found(&fresh), "{c:?}");
    }
    // The documents that carry an ACL (a viewer's candidates outside its scopes).
    let shared = |i: &SearchIndex| {
        let g = i.read();
        g.tenants["t"].shared.iter().map(|&s| g.docs[s as usize].as_ref().unwrap().id).collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(shared(&churned), shared(&fresh));
    // The ACTIVE holders of each slot, in every exact scope.
    for (u, a, name) in (0..5).flat_map(|u| (0..2).flat_map(move |a| ["s0", "s1"].map(|n| (u, a, n)))) {
        let sc = scope(&format!("u{u}"), &format!("a{a}"));
        let holders = |i: &SearchIndex| {
            let mut h = i.slot_holders(&sc, name);
            h.sort();
            h
        };
        assert_eq!(holders(&churned), holders(&fresh), "{sc:?} {name}");
    }
    let tagged = Filter { tags: vec!["x".into()], ..Filter::default().active_by_default() };
    let every_state = Filter { states: vec![1, 2, 3, 4], ..Default::default() };
    for (mode, filter) in
        [Mode::Dense, Mode::Lexical, Mode::Hybrid].into_iter().flat_map(|m| [(m, None), (m, Some(&tagged)), (m, Some(&every_state))])
    {
        for scopes in [vec![scope("u0", "")], vec![scope("u4", "a0")], vec![scope("", "")]] {
            let mut q = query(scopes, "river stone candle", mode);
            if let Some(f) = filter {
                q.filter = f.clone();
            }
            let (a, b) = (churned.search(&q), fresh.search(&q));
            // Not vacuous: the tenant-wide search finds something under every filter.
            assert!(!a.is_empty() || !q.scopes[0].user.is_empty(), "{mode:?} {filter:?}");
            let ids = |h: &[Hit]| h.iter().map(|h| h.id).collect::<Vec<_>>();
            assert_eq!(ids(&a), ids(&b), "{mode:?} {:?}", q.scopes);
            // Same term statistics too: a posting left behind or lost shifts every score.
            for (x, y) in a.iter().zip(&b) {
                assert!((x.score - y.score).abs() < 1e-5, "{mode:?}: {x:?} vs {y:?}");
            }
            // Scopes are honoured: every hit lies inside the queried scope.
            for h in &a {
                let c = &live[&h.id.0];
                assert!(q.scopes.iter().any(|s| scope_matches(s, c.scope.as_ref().unwrap())));
            }
            // And with a viewer, the ACL bookkeeping (the tenant's shared set) survives
            // the churn too.
            q.viewer = Some(Viewer { caller: user("u1"), requested: vec![scope("", "")] });
            let (a, b) = (churned.search(&q), fresh.search(&q));
            assert_eq!(ids(&a), ids(&b), "{mode:?} viewer");
            assert!(a.iter().any(|h| live[&h.id.0].scope.as_ref().unwrap().user != "u1"), "{mode:?}: nothing shared found");
        }
    }
}

/// Past `QUANTIZED_MIN_VECTORS` vectors a dense search ranks by int8 first; the results must still be
/// the exact top-k, with exact scores, filters applied inside the scan.
#[test]
fn a_search_over_many_vectors_still_returns_the_exact_top_k() {
    let mut rng = Lcg(3);
    let index = SearchIndex::new(Some(("m".into(), DIMS)));
    let mut cubes = Vec::new();
    for id in 1..=(crate::index::QUANTIZED_MIN_VECTORS as u128 + 3_000) {
        let mut c = cube(&mut rng, id);
        // A continuous spread of components (cube() draws from 100 values: ties galore).
        c.embedding.as_mut().unwrap().vector = (0..DIMS).map(|_| rng.next(1 << 20) as f32 / (1 << 19) as f32 - 1.0).collect();
        // A common tag and a rare one (admission then runs through most of the ranking).
        if id % 3 == 0 {
            c.tags = vec!["x".into()];
        }
        if id % 1_000 == 0 {
            c.tags.push("rare".into());
        }
        index.upsert(&c);
        cubes.push(c);
    }
    // Each filter with the tags it requires (for the exact answer computed here).
    let tagged = |t: &str| Filter { tags: vec![t.into()], ..Filter::default().active_by_default() };
    let filters: [(Filter, &[&str]); 3] = [(Filter::default().active_by_default(), &[]), (tagged("x"), &["x"]), (tagged("rare"), &["rare"])];
    for n in 0..9 {
        let (filter, tags) = filters[n % 3].clone();
        let mut q = query(vec![scope("", "")], "", Mode::Dense);
        q.vector = Some((0..DIMS).map(|_| rng.next(1 << 20) as f32 / (1 << 19) as f32 - 1.0).collect());
        q.filter = filter;
        let v = q.vector.clone().unwrap();
        let mut exact: Vec<(f32, Ulid)> = cubes
            .iter()
            .filter(|c| tags.iter().all(|t| c.tags.contains(&t.to_string())))
            .map(|c| (dot(&v, &c.embedding.as_ref().unwrap().vector), Ulid::from_string(&c.id).unwrap()))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        exact.truncate(q.k);
        let got: Vec<(f32, Ulid)> = index.search(&q).iter().map(|h| (h.score, h.id)).collect();
        assert_eq!(got, exact, "query {n}: the same ids and the same exact scores");
        assert_eq!(got.len(), q.k);
    }
}

/// A big search splits its work across threads — BM25 beside the dense scan, a dense-only
/// scan into runs of scopes — and must answer exactly as one thread does (ids, scores and
/// ranks, bit for bit), on the int8 path and the f32 one, under filters and ACLs.
#[test]
fn a_search_split_across_threads_answers_as_one_thread_does() {
    let build = |threads: usize, (quantized_min, binary_min): (usize, usize)| {
        let mut rng = Lcg(5);
        let index =
            SearchIndex::new(Some(("m".into(), DIMS))).with_quantized_min(quantized_min).with_binary_min(binary_min).with_query_threads(threads);
        for id in 1..=(PARALLEL_MIN_WORK as u128 + 4_000) {
            let mut c = cube(&mut rng, id);
            c.embedding.as_mut().unwrap().vector = (0..DIMS).map(|_| rng.next(1 << 20) as f32 / (1 << 19) as f32 - 1.0).collect();
            if id % 1_000 == 0 {
                c.tags = vec!["rare".into()];
            }
            c.acl = random_acl(&mut rng);
            index.upsert(&c);
        }
        index
    };
    let rare = Filter { tags: vec!["rare".into()], ..Filter::default().active_by_default() };
    // f32, int8 first, sign bits then int8.
    for passes in [(0, 0), (crate::index::QUANTIZED_MIN_VECTORS, 0), (crate::index::QUANTIZED_MIN_VECTORS, 1)] {
        let one = build(1, passes);
        let many = [build(2, passes), build(3, passes)];
        let mut rng = Lcg(9);
        for n in 0..24 {
            let mode = [Mode::Dense, Mode::Hybrid][n % 2];
            let mut q = query(vec![scope("", "")], "apple river violin", mode);
            q.vector = Some((0..DIMS).map(|_| rng.next(1 << 20) as f32 / (1 << 19) as f32 - 1.0).collect());
            q.fusion = if n % 4 < 2 { Fusion::Convex { dense_weight: 0.5 } } else { Fusion::Rrf };
            if n % 6 >= 4 {
                q.filter = rare.clone();
            }
            if n % 12 >= 6 {
                q.scopes = vec![scope("u1", "")];
                q.viewer = Some(Viewer { caller: user("u1"), requested: vec![scope("", "")] });
            }
            let want = one.search(&q);
            assert!(!want.is_empty(), "query {n}");
            for index in &many {
                assert_eq!(index.search(&q), want, "query {n}, {} threads, passes {passes:?}", index.query_threads);
            }
        }
    }
}

/// The binary pass keeps only the vectors whose sign bits lie closest to the query's: on
/// clustered vectors (each near one of a few topics, queries too, as in bench-search) the
/// top-10 is still the exact one, with exact scores, filters applied.
#[test]
fn a_search_through_sign_bits_finds_the_exact_top_10_of_clustered_vectors() {
    const DIMS: usize = 64;
    let mut rng = Lcg(17);
    let mut normal = move || (0..4).map(|_| rng.next(1 << 20) as f32 / (1 << 20) as f32).sum::<f32>() - 2.0;
    let unit = |v: Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let topics: Vec<Vec<f32>> = (0..20).map(|_| unit((0..DIMS).map(|_| normal()).collect())).collect();
    let mut near = |t: usize| unit(topics[t].iter().map(|c| c + normal() * 0.6 / (DIMS as f32).sqrt()).collect());
    let index = SearchIndex::new(Some(("m".into(), DIMS))).with_binary_min(1);
    let mut cubes = Vec::new();
    for id in 1..=20_000u128 {
        let mut c = MemCube {
            id: Ulid(id).to_string(),
            scope: Some(scope(&format!("u{}", id % 50), "")),
            state: 1,
            embedding: Some(Embedding { vector: near(id as usize % 20), model: "m".into() }),
            ..Default::default()
        };
        if id % 3 == 0 {
            c.tags = vec!["x".into()];
        }
        index.upsert(&c);
        cubes.push(c);
    }
    let (mut found, mut wanted) = (0, 0);
    for n in 0..40 {
        let v = near(n % 20);
        let tagged = n % 2 == 1;
        let mut q = Query { vector: Some(v.clone()), ..query(vec![scope("", "")], "", Mode::Dense) };
        if tagged {
            q.filter = Filter { tags: vec!["x".into()], ..Filter::default().active_by_default() };
        }
        let mut exact: Vec<(f32, Ulid)> = cubes
            .iter()
            .filter(|c| !tagged || !c.tags.is_empty())
            .map(|c| (dot(&v, &c.embedding.as_ref().unwrap().vector), Ulid::from_string(&c.id).unwrap()))
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        exact.truncate(10);
        let got = index.search(&q);
        for h in &got {
            let c = &cubes[h.id.0 as usize - 1];
            assert_eq!(h.score, dot(&v, &c.embedding.as_ref().unwrap().vector), "exact scores");
            assert!(!tagged || !c.tags.is_empty(), "the filter holds");
        }
        wanted += exact.len();
        found += exact.iter().filter(|(_, id)| got.iter().any(|h| h.id == *id)).count();
    }
    assert!(found as f64 >= 0.98 * wanted as f64, "recall@10 {found}/{wanted}");
}

/// The runs cover every bucket once, in order, about evenly by vectors, each on a thread of
/// its own; one bucket is never split.
#[test]
fn buckets_split_into_even_runs_on_their_own_threads() {
    let sizes = [5usize, 1, 1, 1, 1, 1, 3, 7, 2, 2];
    let keys: Vec<ScopeKey> = (0..sizes.len()).map(|i| (format!("u{i}"), String::new(), String::new())).collect();
    let buckets: Vec<Bucket> = sizes
        .iter()
        .map(|&n| {
            let mut b = Bucket::default();
            for s in 0..n {
                b.push(s as u32, &[1.0]);
            }
            b
        })
        .collect();
    let pairs: Vec<(&ScopeKey, &Bucket)> = keys.iter().zip(&buckets).collect();
    let run = |i: usize, r: &[(&ScopeKey, &Bucket)]| {
        (r.iter().map(|(k, _)| k.0.clone()).collect::<Vec<_>>(), r.iter().map(|(_, b)| b.len()).sum::<usize>(), std::thread::current().id(), i)
    };
    for parts in [1, 2, 3, 4] {
        let runs = in_parts(&pairs, parts, run);
        assert_eq!(runs.len(), parts);
        let names: Vec<String> = runs.iter().flat_map(|r| r.0.clone()).collect();
        assert_eq!(names, keys.iter().map(|k| k.0.clone()).collect::<Vec<_>>(), "{parts} runs: every bucket once, in order");
        // 24 vectors: no run holds more than its share plus one bucket.
        assert!(runs.iter().all(|r| r.1 <= 24 / parts + 7), "{parts}: {:?}", runs.iter().map(|r| r.1).collect::<Vec<_>>());
        let threads: std::collections::HashSet<_> = runs.iter().map(|r| r.2).collect();
        assert_eq!(threads.len(), parts, "one thread per run");
        assert_eq!(runs[0].2, std::thread::current().id(), "the first run on the calling thread");
        assert!(runs.iter().enumerate().all(|(i, r)| r.3 == i), "each run gets its number");
    }
    assert_eq!(in_parts(&pairs[..1], 4, run).len(), 1, "one bucket, one run");
}

fn random_acl(rng: &mut Lcg) -> Option<Acl> {
    match rng.next(4) {
        0 => Some(Acl {
            readers: vec![AclEntry { user: format!("u{}", rng.next(5)), agent: String::new() }],
            writers: vec![],
            restricted: rng.next(2) == 0,
        }),
        _ => None,
    }
}

fn user(u: &str) -> Caller {
    Caller { principal: Principal { tenant: "t".into(), user: u.into(), role: Role::Writer as i32, ..Default::default() }, token_id: String::new() }
}

/// Tests every document of a small index against the rule itself, for every mode and both
/// lexical strategies: a search with a viewer returns exactly what the viewer may read.
#[test]
fn acls_widen_and_narrow_inside_the_scan() {
    let index = SearchIndex::new(Some(("m".into(), DIMS)));
    let mut cubes = Vec::new();
    let text = "river stone candle";
    let mut put = |id: u128, user: &str, acl: Option<Acl>| {
        let mut rng = Lcg(id as u64);
        let mut c = cube(&mut rng, id);
        c.scope = Some(scope(user, ""));
        c.content = Some(Content { text: text.into(), ..Default::default() });
        c.acl = acl;
        index.upsert(&c);
        cubes.push(c);
    };
    let entry = |u: &str| AclEntry { user: u.into(), agent: String::new() };
    put(1, "alice", None);
    put(2, "alice", Some(Acl { readers: vec![entry("bob")], writers: vec![], restricted: false }));
    put(3, "alice", Some(Acl { readers: vec![], writers: vec![entry("carol")], restricted: true }));
    put(4, "bob", None);
    put(5, "bob", Some(Acl { readers: vec![entry("carol")], writers: vec![], restricted: true }));
    put(6, "dave", Some(Acl { readers: vec![entry("bob")], writers: vec![], restricted: true }));
    let sees = |who: &str, requested: Vec<Scope>, scopes: Vec<Scope>, mode: Mode| {
        let mut q = query(scopes, text, mode);
        q.k = 100;
        q.viewer = Some(Viewer { caller: user(who), requested });
        let mut ids: Vec<u128> = index.search(&q).iter().map(|h| h.id.0).collect();
        ids.sort();
        ids
    };
    for mode in [Mode::Dense, Mode::Lexical, Mode::Hybrid] {
        // bob owns his scope: his own cubes except the restricted one that names only
        // carol, plus alice's cube 2 and dave's 6, shared with him — when he asks for the
        // tenant; asking for his own scope keeps the search there.
        assert_eq!(sees("bob", vec![scope("", "")], vec![scope("bob", "")], mode), vec![2, 4, 6], "{mode:?}");
        assert_eq!(sees("bob", vec![scope("bob", "")], vec![scope("bob", "")], mode), vec![4], "{mode:?}");
        // alice: her own, minus 3 (restricted to carol).
        assert_eq!(sees("alice", vec![scope("", "")], vec![scope("alice", "")], mode), vec![1, 2], "{mode:?}");
        // carol owns nothing here: exactly what names her.
        assert_eq!(sees("carol", vec![scope("", "")], vec![], mode), vec![3, 5], "{mode:?}");
        assert_eq!(sees("carol", vec![scope("alice", "")], vec![], mode), vec![3], "{mode:?}");
    }
    assert!(index.shares_with(&user("carol"), &[scope("bob", "")]));
    assert!(!index.shares_with(&user("carol"), &[scope("dave", "")]));
    assert!(!index.shares_with(&user("erin"), &[scope("", "")]));
    // A caller of another tenant named by an ACL entry gets nothing.
    let mut foreign = user("bob");
    foreign.principal.tenant = "other".into();
    assert!(!index.shares_with(&foreign, &[scope("", "")]));
    // Removing the ACL takes a cube out of the shared set.
    let mut c2 = cubes[1].clone();
    c2.acl = None;
    index.upsert(&c2);
    assert_eq!(sees("bob", vec![scope("", "")], vec![scope("bob", "")], Mode::Lexical), vec![4, 6]);
}
