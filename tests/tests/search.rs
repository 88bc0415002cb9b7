//! `Memory.Search` against real nodes running the embedding model: semantic recall, exact scope
//! filtering, updates and deletes reflected at once, identical answers on every replica.

use memmesh_client::Client;
use memmesh_tests::proto::{self, CubeState, SearchMode};
use memmesh_tests::*;
use tonic::Code;

fn search(scope: proto::Scope, query: &str, mode: SearchMode, k: u32) -> proto::SearchRequest {
    proto::SearchRequest { query: query.into(), scope: Some(scope), mode: mode as i32, k, ..Default::default() }
}

async fn hits(c: &mut Client, req: proto::SearchRequest) -> Vec<proto::SearchHit> {
    c.memory.search(req).await.expect("search").into_inner().hits
}

fn texts(h: &[proto::SearchHit]) -> Vec<String> {
    h.iter().map(|h| text_of(h.cube.as_ref().unwrap()).to_string()).collect()
}

/// The node's model id, learned from a cube it embedded.
async fn e_model(c: &mut Client) -> String {
    put(c, scope("probe", "p"), "probe").await.embedding.unwrap().model
}

async fn put(c: &mut Client, scope: proto::Scope, text: &str) -> proto::MemCube {
    let r = c.memory.put(proto::PutRequest { cube: Some(text_cube(scope, text)), request_id: String::new(), ..Default::default() }).await.unwrap();
    r.into_inner().cube.unwrap()
}

const FACTS: [&str; 6] = [
    "Alice is allergic to peanuts and carries an epipen.",
    "The quarterly sales report is due on Friday.",
    "Bob adopted a golden retriever puppy named Max last spring.",
    "The production database runs on three machines in Frankfurt.",
    "Carol wants to learn to play the cello this year.",
    "The team offsite will be held at a lake cabin in August.",
];

#[tokio::test]
async fn semantic_search_finds_paraphrases_that_share_no_words() {
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    let s = scope("acme", "u1");
    for f in FACTS {
        let cube = put(&mut c, s.clone(), f).await;
        let e = cube.embedding.expect("the node embedded the text before proposing");
        assert_eq!(e.vector.len(), 384);
        assert!(e.model.starts_with("all-minilm-l6-v2@"), "{}", e.model);
    }
    // Paraphrases with no word in common with the stored text.
    let cases = [
        ("which food triggers an allergic reaction", 0),
        ("what kind of dog did someone get", 2),
        ("where are our servers located", 3),
        ("musical instrument hobby", 4),
    ];
    for (q, want) in cases {
        let h = hits(&mut c, search(s.clone(), q, SearchMode::Dense, 3)).await;
        assert_eq!(texts(&h)[0], FACTS[want], "dense top hit for {q:?}: {:?}", texts(&h));
        assert!(h[0].dense_score.unwrap() > h[1].dense_score.unwrap());
        let hy = hits(&mut c, search(s.clone(), q, SearchMode::Hybrid, 3)).await;
        assert_eq!(texts(&hy)[0], FACTS[want], "hybrid top hit for {q:?}");
    }
    // The lexical signal alone cannot find "dog" in a text about a "retriever puppy".
    let lex = hits(&mut c, search(s.clone(), "what kind of dog did someone get", SearchMode::Lexical, 3)).await;
    assert!(!texts(&lex).contains(&FACTS[2].to_string()), "{:?}", texts(&lex));
    // Lexical finds exact terms, and every hit shows both signals' scores.
    let lex = hits(&mut c, search(s.clone(), "golden retriever", SearchMode::Lexical, 3)).await;
    assert_eq!(texts(&lex), vec![FACTS[2]]);
    let hy = hits(&mut c, search(s.clone(), "golden retriever", SearchMode::Hybrid, 6)).await;
    assert_eq!(texts(&hy)[0], FACTS[2]);
    assert!(hy[0].dense_score.is_some() && hy[0].lexical_score.is_some() && hy[0].dense_rank == 1 && hy[0].lexical_rank == 1);
    assert!(hy.iter().skip(1).all(|h| h.lexical_score.is_none() && h.dense_score.is_some()));
}

#[tokio::test]
async fn scope_filters_are_exact_with_many_users_in_one_tenant() {
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    // 40 users share tenant acme, each with 3 memories, 2 of which are word-for-word the same
    // as every other user's; plus a foreign tenant holding identical text.
    let users: Vec<String> = (0..40).map(|i| format!("user{i:02}")).collect();
    for u in &users {
        let cubes = vec![
            text_cube(scope("acme", u), &format!("The secret code of {u} is {u}-4711.")),
            text_cube(scope("acme", u), "I like green tea in the morning."),
            text_cube(scope("acme", u), "My favourite city is Lisbon."),
        ];
        c.memory.put_batch(proto::PutBatchRequest { cubes, request_id: String::new(), ..Default::default() }).await.unwrap();
    }
    put(&mut c, scope("other", "user07"), "The secret code of user07 is user07-4711.").await;

    for mode in [SearchMode::Dense, SearchMode::Lexical, SearchMode::Hybrid] {
        // Query crafted to match user07's secret exactly, asked in user03's scope.
        let h = hits(&mut c, search(scope("acme", "user03"), "The secret code of user07 is user07-4711.", mode, 10)).await;
        assert!(!h.is_empty(), "{mode:?}");
        for hit in &h {
            let s = hit.cube.as_ref().unwrap().scope.clone().unwrap();
            assert_eq!((s.tenant.as_str(), s.user.as_str()), ("acme", "user03"), "{mode:?} leaked {:?}", texts(&h));
        }
        // A small scope inside a big tenant still gets everything it has (k is not filled
        // from a global top-k): user03 has 3 cubes, all relevant to a broad query in dense.
        if mode != SearchMode::Lexical {
            assert_eq!(h.len(), 3, "{mode:?}: {:?}", texts(&h));
        }
    }
    // Tenant-wide search sees every user, never the other tenant.
    let h = hits(&mut c, search(scope("acme", ""), "secret code of user07", SearchMode::Hybrid, 50)).await;
    assert_eq!(h.len(), 50);
    assert!(h.iter().all(|h| h.cube.as_ref().unwrap().scope.as_ref().unwrap().tenant == "acme"));
    assert_eq!(texts(&h)[0], "The secret code of user07 is user07-4711.");
    // A list of scopes: exactly their union.
    let req = proto::SearchRequest {
        query: "secret code".into(),
        scopes: vec![scope("acme", "user01"), scope("acme", "user02")],
        k: 100,
        mode: SearchMode::Lexical as i32,
        ..Default::default()
    };
    let h = hits(&mut c, req).await;
    let mut owners: Vec<String> = h.iter().map(|h| h.cube.as_ref().unwrap().scope.as_ref().unwrap().user.clone()).collect();
    owners.sort();
    assert_eq!(owners, vec!["user01", "user02"]);
}

#[tokio::test]
async fn updated_text_is_found_by_its_new_words_deleted_cubes_disappear() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start_with_env(&dir.path().join("n1"), EMBEDDING_ON);
    let mut c = node.client().await;
    let s = scope("acme", "u1");
    let hiking = put(&mut c, s.clone(), "I love hiking in the mountains every weekend.").await;
    let other = put(&mut c, s.clone(), "Dinner reservations are at seven.").await;

    let upd = proto::UpdateRequest {
        id: hiking.id.clone(),
        content: Some(proto::Content { text: "I enjoy painting watercolour landscapes.".into(), ..Default::default() }),
        ..Default::default()
    };
    let v2 = c.memory.update(upd).await.unwrap().into_inner().cube.unwrap();
    assert_ne!(v2.embedding.as_ref().unwrap().vector, hiking.embedding.as_ref().unwrap().vector, "new text, new vector");

    let lex = hits(&mut c, search(s.clone(), "hiking mountains", SearchMode::Lexical, 5)).await;
    assert!(lex.is_empty(), "old words no longer match: {:?}", texts(&lex));
    let dense = hits(&mut c, search(s.clone(), "outdoor trekking trips", SearchMode::Dense, 5)).await;
    assert!(dense.iter().all(|h| h.dense_score.unwrap() < 0.3), "old meaning no longer matches: {:?}", dense);
    let h = hits(&mut c, search(s.clone(), "art hobby with paint", SearchMode::Hybrid, 1)).await;
    assert_eq!(h[0].cube.as_ref().unwrap().id, hiking.id);
    assert_eq!(h[0].cube.as_ref().unwrap().version, 2);
    assert!(h[0].cube.as_ref().unwrap().embedding.is_none(), "search results leave the vector out");

    // Soft delete: gone from results unless asked for; restore brings it back; purge forgets it.
    c.memory.delete(proto::DeleteRequest { id: hiking.id.clone(), ..Default::default() }).await.unwrap();
    let q = || search(s.clone(), "painting watercolour", SearchMode::Hybrid, 5);
    assert!(!hits(&mut c, q()).await.iter().any(|h| h.cube.as_ref().unwrap().id == hiking.id));
    let mut with_deleted = q();
    with_deleted.states = vec![CubeState::Deleted as i32];
    assert_eq!(hits(&mut c, with_deleted.clone()).await[0].cube.as_ref().unwrap().id, hiking.id);
    c.memory.restore(proto::RestoreRequest { id: hiking.id.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(hits(&mut c, q()).await[0].cube.as_ref().unwrap().id, hiking.id);

    // The index is derived state: after a restart it is rebuilt from RocksDB, same answers.
    let before = hits(&mut c, q()).await;
    node.terminate();
    node = NodeProc::start_on(&dir.path().join("n1"), &node.addr.clone(), EMBEDDING_ON);
    let mut c = node.client().await;
    assert_eq!(hits(&mut c, q()).await, before);

    let purge = proto::PurgeRequest { target: Some(proto::purge_request::Target::Id(hiking.id.clone())), request_id: String::new() };
    c.memory.purge(purge).await.unwrap();
    with_deleted.states = vec![CubeState::Active as i32, CubeState::Deleted as i32, CubeState::Archived as i32];
    let after = hits(&mut c, with_deleted).await;
    assert!(after.iter().all(|h| h.cube.as_ref().unwrap().id != hiking.id));
    assert!(after.iter().any(|h| h.cube.as_ref().unwrap().id == other.id) || after.is_empty());
}

#[tokio::test]
async fn search_rejects_bad_requests_with_clear_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), EMBEDDING_ON);
    let mut c = node.client().await;
    let s = scope("acme", "u1");
    let code = |r: Result<tonic::Response<proto::SearchResponse>, tonic::Status>| r.err().map(|e| e.code());
    assert_eq!(code(c.memory.search(search(scope("", ""), "x", SearchMode::Hybrid, 5)).await), Some(Code::InvalidArgument));
    assert_eq!(code(c.memory.search(search(s.clone(), "", SearchMode::Lexical, 5)).await), Some(Code::InvalidArgument));
    assert_eq!(code(c.memory.search(search(s.clone(), "x", SearchMode::Hybrid, 5000)).await), Some(Code::InvalidArgument));
    let mut wrong_dims = search(s.clone(), "", SearchMode::Dense, 5);
    wrong_dims.vector = vec![0.5; 10];
    assert_eq!(code(c.memory.search(wrong_dims).await), Some(Code::InvalidArgument));
    let mut two_tenants = search(s.clone(), "x", SearchMode::Lexical, 5);
    two_tenants.scope = None;
    two_tenants.scopes = vec![scope("a", ""), scope("b", "")];
    assert_eq!(code(c.memory.search(two_tenants).await), Some(Code::InvalidArgument));
    // A client-supplied vector must come from the node's model.
    let mut cube = text_cube(s.clone(), "hello");
    cube.embedding = Some(proto::Embedding { vector: vec![1.0; 384], model: "some-other-model".into() });
    let e = c.memory.put(proto::PutRequest { cube: Some(cube), request_id: String::new(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("cube.embedding"), "{}", e.message());

    // Wrong dimensions, and a search context over the content limit.
    let mut cube = text_cube(s.clone(), "hello");
    cube.embedding = Some(proto::Embedding { vector: vec![1.0; 10], model: e_model(&mut c).await });
    let e = c.memory.put(proto::PutRequest { cube: Some(cube), request_id: String::new(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("dimensions"), "{}", e.message());
    let mut cube = text_cube(s.clone(), "hello");
    cube.context = "x".repeat(256 * 1024 + 1);
    let e = c.memory.put(proto::PutRequest { cube: Some(cube), request_id: String::new(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("cube.context"), "{}", e.message());

    // Without the model, lexical search works and dense says why it cannot.
    let plain = NodeProc::start(&dir.path().join("n2"));
    let mut p = plain.client().await;
    put(&mut p, s.clone(), "lexical only node").await;
    assert_eq!(texts(&hits(&mut p, search(s.clone(), "lexical", SearchMode::Lexical, 5)).await), vec!["lexical only node"]);
    let e = p.memory.search(search(s.clone(), "lexical", SearchMode::Hybrid, 5)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("LEXICAL"), "{}", e.message());
}

#[tokio::test]
async fn every_replica_stores_the_leaders_vector_and_answers_identically() {
    let cluster = TestCluster::start(3, EMBEDDING_ON).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    // Writes enter through a follower: it embeds, then forwards the entry with the vector.
    let mut c = cluster.client(follower).await;
    let s = scope("acme", "team");
    let mut revision = 0;
    let mut ids = Vec::new();
    for f in FACTS {
        let r = c
            .memory
            .put(proto::PutRequest { cube: Some(text_cube(s.clone(), f)), request_id: String::new(), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        revision = r.revision;
        ids.push(r.cube.unwrap().id);
    }
    let read = Some(proto::ReadOptions { consistency: proto::ReadConsistency::Serializable as i32, min_revision: revision });
    let mut answers = Vec::new();
    let mut vectors = Vec::new();
    for i in 0..3 {
        let mut c = cluster.client(i).await;
        let mut req = search(s.clone(), "who has a pet", SearchMode::Hybrid, 6);
        req.read = read;
        answers.push(hits(&mut c, req).await);
        let g = c.memory.get(proto::GetRequest { id: ids[2].clone(), read, ..Default::default() }).await.unwrap().into_inner();
        vectors.push(g.cube.unwrap().embedding.unwrap().vector.iter().map(|f| f.to_bits()).collect::<Vec<u32>>());
    }
    assert_eq!(answers[0].len(), 6);
    assert_eq!(texts(&answers[0])[0], FACTS[2]);
    assert_eq!(answers[0], answers[1], "node 0 vs node 1");
    assert_eq!(answers[0], answers[2], "node 0 vs node 2");
    assert_eq!(vectors[0], vectors[1], "bit-identical vectors on every replica");
    assert_eq!(vectors[0], vectors[2]);
}

#[tokio::test]
async fn search_context_finds_a_reply_by_the_words_it_answers() {
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    let s = scope("acme", "u1");
    let mut reply = text_cube(s.clone(), "Yes, twice a week at the club.");
    reply.context = "Do you still go swimming?".into();
    let id = c
        .memory
        .put(proto::PutRequest { cube: Some(reply), request_id: String::new(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .cube
        .unwrap()
        .id;
    put(&mut c, s.clone(), "The club meets on Tuesdays.").await;

    let h = hits(&mut c, search(s.clone(), "swimming", SearchMode::Lexical, 5)).await;
    assert_eq!(h.len(), 1, "found by its context only");
    let cube = h[0].cube.as_ref().unwrap();
    assert_eq!(
        (cube.id.as_str(), text_of(cube), cube.context.as_str()),
        (id.as_str(), "Yes, twice a week at the club.", "Do you still go swimming?")
    );

    // Clearing the context: no longer found by it; the text still is.
    let upd = proto::UpdateRequest { id: id.clone(), context: Some(String::new()), ..Default::default() };
    c.memory.update(upd).await.unwrap();
    assert!(hits(&mut c, search(s.clone(), "swimming", SearchMode::Lexical, 5)).await.is_empty());
    assert_eq!(hits(&mut c, search(s.clone(), "twice week", SearchMode::Lexical, 5)).await.len(), 1);
}

#[tokio::test]
async fn hybrid_fusion_is_convex_by_default_and_rrf_on_request() {
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    let s = scope("acme", "u1");
    for f in FACTS {
        put(&mut c, s.clone(), f).await;
    }
    let convex = hits(&mut c, search(s.clone(), "golden retriever puppy", SearchMode::Hybrid, 6)).await;
    // The top hit is best in both signals: scaled to 1 in each, so its convex score is exactly 1.
    assert!((convex[0].score - 1.0).abs() < 1e-6, "{}", convex[0].score);
    let mut req = search(s.clone(), "golden retriever puppy", SearchMode::Hybrid, 6);
    req.fusion = proto::Fusion::Rrf as i32;
    let rrf = hits(&mut c, req).await;
    assert!((rrf[0].score - 2.0 / 61.0).abs() < 1e-6, "rank 1 in both rankings: {}", rrf[0].score);
    assert_eq!(rrf[0].cube.as_ref().unwrap().id, convex[0].cube.as_ref().unwrap().id);
    // Dense-only weight reproduces the dense order.
    let mut req = search(s.clone(), "golden retriever puppy", SearchMode::Hybrid, 6);
    req.dense_weight = 1.0;
    let dense_weighted: Vec<String> = hits(&mut c, req).await.iter().map(|h| h.cube.as_ref().unwrap().id.clone()).collect();
    let dense: Vec<String> = hits(&mut c, search(s.clone(), "golden retriever puppy", SearchMode::Dense, 6))
        .await
        .iter()
        .map(|h| h.cube.as_ref().unwrap().id.clone())
        .collect();
    assert_eq!(dense_weighted, dense);
    let mut bad = search(s.clone(), "x", SearchMode::Hybrid, 6);
    bad.dense_weight = 1.5;
    assert_eq!(c.memory.search(bad).await.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn client_vectors_with_extreme_components_are_stored_as_unit_vectors_and_bad_query_vectors_refused() {
    // Found by an outside probe: the norm was summed in f32, so 1e20 overflowed it (the vector
    // was stored as all zeros) and 1e-30 underflowed it (stored as given, not unit).
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    let model = e_model(&mut c).await;
    let s = scope("acme", "vectors");
    for (big, second) in [(1e20f32, 0.0f32), (3e38, 3e38), (1e-30, 2e-30)] {
        let mut vector = vec![0.0f32; 384];
        (vector[0], vector[1]) = (big, second);
        let mut cube = text_cube(s.clone(), &format!("vector {big:e}"));
        cube.embedding = Some(proto::Embedding { vector, model: model.clone() });
        let stored = c.memory.put(proto::PutRequest { cube: Some(cube), ..Default::default() }).await.unwrap().into_inner().cube.unwrap();
        let v = stored.embedding.unwrap().vector;
        let norm: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{big:e}: stored with norm {norm}");
        assert!(v[0] > 0.0 && v[2..].iter().all(|x| *x == 0.0), "{big:e}: direction kept");
    }
    for (what, bad) in [("NaN", f32::NAN), ("infinity", f32::INFINITY), ("all zero", 0.0)] {
        let mut req = search(s.clone(), "", SearchMode::Dense, 5);
        req.vector = vec![0.0; 384];
        req.vector[0] = bad;
        let e = c.memory.search(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {}", e.message());
        assert!(e.message().contains("vector"), "{what}: {}", e.message());
    }
}
