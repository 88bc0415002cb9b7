//! Query adapters (parametric memory) end to end: feedback, training on the node, the adapter
//! as a replicated, versioned cube that AUTO search runs on every node; who may train, upload
//! and use one; and what is refused.

use memmesh_client::Client;
use memmesh_node::embed::adapter::onnx;
use memmesh_tests::auth::*;
use memmesh_tests::proto::{self, Content, CubeKind, Role, SearchMode};
use memmesh_tests::*;
use tonic::Code;

const NAMES: [&str; 30] = [
    "Amelia", "Bruno", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kalani", "Luca", "Mirela", "Nikhil", "Olga", "Pedro",
    "Quinn", "Rosa", "Soren", "Tamsin", "Umar", "Vera", "Wendell", "Ximena", "Yusuf", "Zofia", "Anouk", "Bram", "Cosima", "Dario",
];
const CITIES: [&str; 6] = ["Lisbon", "Osaka", "Nairobi", "Oslo", "Quito", "Tbilisi"];
const JOBS: [&str; 5] = ["baker", "pilot", "nurse", "carpenter", "librarian"];

fn fact(i: usize) -> String {
    format!("{} lives in {} and works as a {}.", NAMES[i], CITIES[i % 6], JOBS[i % 5])
}

fn question(i: usize) -> String {
    format!("Where does {} live?", NAMES[i])
}

/// Writes the 30 facts into `scope`; returns their ids in order.
async fn facts(c: &mut Client, scope: &proto::Scope) -> Vec<String> {
    let cubes = (0..NAMES.len()).map(|i| text_cube(scope.clone(), &fact(i))).collect();
    let r = c.memory.put_batch(proto::PutBatchRequest { cubes, ..Default::default() }).await.expect("put_batch").into_inner();
    r.cubes.into_iter().map(|c| c.id).collect()
}

async fn feedback(c: &mut Client, ids: &[String]) -> Result<proto::FeedbackResponse, tonic::Status> {
    let items = ids.iter().enumerate().map(|(i, id)| proto::FeedbackItem { query: question(i), cube_id: id.clone(), negative: false }).collect();
    c.memory.feedback(proto::FeedbackRequest { items, request_id: String::new() }).await.map(|r| r.into_inner())
}

async fn train(c: &mut Client, scope: proto::Scope) -> Result<proto::TrainAdapterResponse, tonic::Status> {
    c.memory.train_adapter(proto::TrainAdapterRequest { scope: Some(scope), activate: true, ..Default::default() }).await.map(|r| r.into_inner())
}

fn dense(scope: proto::Scope, query: &str, adapter: &str) -> proto::SearchRequest {
    proto::SearchRequest {
        query: query.into(),
        scope: Some(scope),
        k: 5,
        mode: SearchMode::Dense as i32,
        adapter: adapter.into(),
        ..Default::default()
    }
}

/// (adapter used, hits as (id, dense score bits)).
async fn run(c: &mut Client, req: proto::SearchRequest) -> (Option<(String, u64)>, Vec<(String, u32)>) {
    let r = c.memory.search(req).await.expect("search").into_inner();
    let hits = r.hits.iter().map(|h| (h.cube.as_ref().unwrap().id.clone(), h.dense_score.unwrap().to_bits())).collect();
    (r.adapter.map(|a| (a.id, a.version)), hits)
}

fn parametric(scope: proto::Scope, data: Vec<u8>) -> proto::CubeInput {
    proto::CubeInput {
        scope: Some(scope),
        kind: CubeKind::Parametric as i32,
        content: Some(Content { data, media_type: "application/onnx".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn identity(d: usize) -> Vec<f32> {
    (0..d * d).map(|ij| (ij / d == ij % d) as u8 as f32).collect()
}

#[tokio::test]
async fn an_adapter_trained_through_one_node_is_used_identically_by_all_three_and_rollback_and_delete_apply_everywhere() {
    let cluster = TestCluster::start(3, EMBEDDING_ON).await;
    let mut c: Vec<Client> = Vec::new();
    for i in 0..3 {
        c.push(cluster.client(i).await);
    }
    let user = scope("acme", "ana");
    let tenant = proto::Scope { tenant: "acme".into(), ..Default::default() };
    let ids = facts(&mut c[0], &user).await;
    // Feedback and training through another node than the writes went through.
    assert_eq!(feedback(&mut c[1], &ids).await.unwrap().recorded, 30);
    let t = train(&mut c[2], tenant.clone()).await.expect("train");
    let adapter = t.adapter.clone().unwrap();
    assert_eq!(adapter.kind, CubeKind::Parametric as i32);
    assert_eq!(adapter.content.as_ref().unwrap().media_type, "application/onnx");
    assert_eq!(adapter.scope.as_ref().unwrap(), &tenant);
    assert_eq!((t.pairs, t.held_out), (30, 6));
    assert!(t.recall_after >= t.recall_before, "{t:?}");
    assert_eq!(adapter.attributes["memmesh.adapter.active"], "true");
    assert_eq!(adapter.attributes["memmesh.adapter.pairs"], "30");

    // AUTO finds the tenant's adapter above the user's scope, on every node, with the same hits
    // and scores to the bit; NONE searches without it and scores differently.
    let q = question(3);
    let mut answers = Vec::new();
    for node in c.iter_mut() {
        answers.push(run(node, dense(user.clone(), &q, "")).await);
    }
    assert_eq!(answers[0].0, Some((adapter.id.clone(), 1)));
    assert!(answers.iter().all(|a| *a == answers[0]), "replicas disagree: {answers:?}");
    assert_eq!(answers[0].1[0].0, ids[3]);
    let plain = run(&mut c[0], dense(user.clone(), &q, "NONE")).await;
    assert_eq!(plain.0, None);
    assert_ne!(plain.1, answers[0].1, "the adapter must change the query vector");
    // Naming the adapter is the same as AUTO finding it.
    assert_eq!(run(&mut c[1], dense(user.clone(), &q, &adapter.id)).await, answers[0]);

    // Deactivated (version 2): no node uses it any more.
    let upd = proto::UpdateRequest {
        id: adapter.id.clone(),
        set_attributes: [("memmesh.adapter.active".to_string(), "false".to_string())].into(),
        ..Default::default()
    };
    c[0].memory.update(upd).await.unwrap();
    for node in c.iter_mut() {
        let (used, hits) = run(node, dense(user.clone(), &q, "")).await;
        assert_eq!(used, None);
        assert_eq!(hits, plain.1);
    }
    // Rolled back to version 1 (as version 3): active again, everywhere, same results as before.
    let rb = proto::RollbackRequest { id: adapter.id.clone(), to_version: 1, ..Default::default() };
    assert_eq!(c[1].memory.rollback(rb).await.unwrap().into_inner().cube.unwrap().version, 3);
    for node in c.iter_mut() {
        let (used, hits) = run(node, dense(user.clone(), &q, "")).await;
        assert_eq!(used, Some((adapter.id.clone(), 3)));
        assert_eq!(hits, answers[0].1);
    }
    // Deleted: AUTO stops using it on every node, and naming it is refused.
    c[2].memory.delete(proto::DeleteRequest { id: adapter.id.clone(), ..Default::default() }).await.unwrap();
    for node in c.iter_mut() {
        assert_eq!(run(node, dense(user.clone(), &q, "")).await.0, None);
        let e = node.memory.search(dense(user.clone(), &q, &adapter.id)).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    }
}

#[tokio::test]
async fn only_writers_of_a_scope_train_or_upload_adapters_readers_use_them_and_hidden_cubes_take_no_feedback() {
    let node = TestNode::start_with_env(&auth_env());
    let mut admin = as_token(&node.addr, BOOT).await;
    let addr = node.addr.clone();
    let mut owner = client_as(&mut admin, &addr, "acme", "ana", "", Role::Writer).await;
    let mut reader = client_as(&mut admin, &addr, "acme", "ana", "", Role::Reader).await;
    let mut stranger = client_as(&mut admin, &addr, "acme", "bob", "", Role::Writer).await;
    let ana = scope("acme", "ana");
    let ids = facts(&mut owner, &ana).await;

    // Feedback on a cube the caller may not read is NOT_FOUND, like a missing one.
    assert_eq!(code(feedback(&mut stranger, &ids[..1]).await), Some(Code::NotFound));
    assert_eq!(feedback(&mut reader, &ids).await.unwrap().recorded, 30, "readers may say what answered them");
    // Training and uploading need write access to the scope.
    assert_eq!(code(train(&mut reader, ana.clone()).await), Some(Code::PermissionDenied));
    assert_eq!(code(train(&mut stranger, ana.clone()).await), Some(Code::PermissionDenied));
    let upload = parametric(ana.clone(), onnx::linear(384, 384, &identity(384)));
    assert_eq!(code(try_put(&mut reader, upload.clone(), "").await), Some(Code::PermissionDenied));
    let req = proto::TrainAdapterRequest { scope: Some(ana.clone()), activate: true, request_id: "train-1".into(), ..Default::default() };
    let t = owner.memory.train_adapter(req.clone()).await.expect("the scope's writer trains").into_inner();
    // A retry under the same request id is answered from the first write, figures included,
    // even though more feedback came in meanwhile; nothing is written twice.
    feedback(&mut owner, &ids[..3]).await.unwrap();
    assert_eq!(owner.memory.train_adapter(req).await.unwrap().into_inner(), t);
    let id = t.adapter.unwrap().id;
    // A reader of the scope uses it; a stranger's search of its own scope does not reach it, and
    // naming it is NOT_FOUND.
    let q = question(5);
    assert_eq!(run(&mut reader, dense(ana.clone(), &q, "")).await.0, Some((id.clone(), 1)));
    let bob = scope("acme", "bob");
    put_text(&mut stranger, bob.clone(), "Bob keeps bees.").await;
    assert_eq!(run(&mut stranger, dense(bob.clone(), &q, "")).await.0, None);
    assert_eq!(code(stranger.memory.search(dense(bob, &q, &id)).await), Some(Code::NotFound));
    // An uploaded adapter (here: the identity) is a cube of the scope like a trained one.
    let up = try_put(&mut owner, upload, "").await.expect("the owner uploads").cube.unwrap();
    let (used, _) = run(&mut reader, dense(ana.clone(), &q, &up.id)).await;
    assert_eq!(used, Some((up.id, 1)));
}

#[tokio::test]
async fn bad_adapters_feedback_and_training_requests_are_refused_by_name_and_write_nothing() {
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    let s = scope("acme", "ana");
    let refused = |r: Result<proto::WriteResponse, tonic::Status>, code: Code, words: &[&str]| {
        let e = r.expect_err("refused");
        assert_eq!(e.code(), code, "{e:?}");
        for w in words {
            assert!(e.message().contains(w), "{w:?} not in {:?}", e.message());
        }
    };
    let d = 384;
    refused(try_put(&mut c, parametric(s.clone(), b"definitely not onnx".to_vec()), "").await, Code::InvalidArgument, &["cube.content.data", "ONNX"]);
    let small: Vec<f32> = identity(8);
    refused(
        try_put(&mut c, parametric(s.clone(), onnx::linear(8, 8, &small)), "").await,
        Code::InvalidArgument,
        &["cube.content.data", "input", "[n, 384]"],
    );
    let narrow: Vec<f32> = (0..d * 16).map(|ij| (ij % 17 == 0) as u8 as f32).collect();
    refused(try_put(&mut c, parametric(s.clone(), onnx::linear(d, 16, &narrow)), "").await, Code::InvalidArgument, &["output"]);
    refused(try_put(&mut c, parametric(s.clone(), onnx::linear(d, d, &vec![f32::NAN; d * d])), "").await, Code::InvalidArgument, &["NaN"]);
    // Over the adapter size limit (4 MiB by default): a full 1100 × 1100 map.
    let big = onnx::linear(1100, 1100, &identity(1100));
    refused(try_put(&mut c, parametric(s.clone(), big), "").await, Code::InvalidArgument, &["cube.content.data", "limits.max_adapter_bytes"]);
    // An update that swaps in bad bytes is refused the same way.
    let ok = try_put(&mut c, parametric(s.clone(), onnx::linear(d, d, &identity(d))), "").await.unwrap().cube.unwrap();
    let upd = proto::UpdateRequest {
        id: ok.id.clone(),
        content: Some(Content { data: b"garbage".to_vec(), media_type: "application/onnx".into(), ..Default::default() }),
        ..Default::default()
    };
    refused(c.memory.update(upd).await.map(|r| r.into_inner()), Code::InvalidArgument, &["content.data"]);
    // Nothing but the good adapter was written.
    let all = list_all(&mut c, proto::ListRequest { scope: Some(s.clone()), ..Default::default() }).await;
    assert_eq!(all.iter().map(|c| (c.id.clone(), c.version)).collect::<Vec<_>>(), vec![(ok.id.clone(), 1)]);

    // Feedback: a missing cube, an empty query.
    let missing = proto::FeedbackItem { query: "q".into(), cube_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), negative: false };
    let e = c.memory.feedback(proto::FeedbackRequest { items: vec![missing], request_id: String::new() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let empty = proto::FeedbackItem { query: " ".into(), cube_id: ok.id.clone(), negative: false };
    let e = c.memory.feedback(proto::FeedbackRequest { items: vec![empty], request_id: String::new() }).await.unwrap_err();
    assert_eq!((e.code(), e.message().contains("items[0].query")), (Code::InvalidArgument, true), "{e:?}");
    // Training: too few pairs (the minimum named), a bad λ or rank.
    let ids = facts(&mut c, &s).await;
    feedback(&mut c, &ids[..10]).await.unwrap();
    let e = train(&mut c, s.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("at least 20") && e.message().contains("it has 10"), "{}", e.message());
    let bad = proto::TrainAdapterRequest { scope: Some(s.clone()), lambda: -1.0, ..Default::default() };
    let e = c.memory.train_adapter(bad).await.unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("lambda"), "{e:?}");
    let bad = proto::TrainAdapterRequest { scope: Some(s.clone()), rank: 10_000, ..Default::default() };
    let e = c.memory.train_adapter(bad).await.unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("rank"), "{e:?}");
    // Search: a cube that is no adapter, one that does not exist, an adapter for LEXICAL.
    let e = c.memory.search(dense(s.clone(), "x", &ids[0])).await.unwrap_err();
    assert_eq!((e.code(), e.message().contains("not an adapter")), (Code::InvalidArgument, true), "{e:?}");
    let e = c.memory.search(dense(s.clone(), "x", "01ARZ3NDEKTSV4RRFFQ69G5FAV")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let lex = proto::SearchRequest { mode: SearchMode::Lexical as i32, ..dense(s.clone(), "x", &ok.id) };
    assert_eq!(c.memory.search(lex).await.unwrap_err().code(), Code::InvalidArgument);
}

fn memmesh(addr: &str, args: &[&str]) -> (bool, serde_json::Value) {
    memmesh_json(addr, None, args)
}

#[tokio::test]
async fn the_cli_trains_from_a_pairs_file_lists_toggles_and_searches_with_or_without_the_adapter() {
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    let s = scope("acme", "ana");
    let ids = facts(&mut c, &s).await;
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    let lines: Vec<String> = ids.iter().enumerate().map(|(i, id)| serde_json::json!({"query": question(i), "cube_id": id}).to_string()).collect();
    std::fs::write(&pairs, lines.join("\n")).unwrap();
    let a = node.addr.as_str();
    let (ok, t) = memmesh(a, &["adapter", "train", "--tenant", "acme", "--user", "ana", "--pairs", pairs.to_str().unwrap(), "--activate"]);
    assert!(ok, "{t}");
    assert_eq!((t["pairs_recorded"].as_u64(), t["pairs"].as_u64()), (Some(30), Some(30)));
    let id = t["adapter"]["id"].as_str().unwrap().to_string();
    let (ok, list) = memmesh(a, &["adapter", "list", "--tenant", "acme", "--user", "ana"]);
    assert!(ok);
    assert_eq!(list.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect::<Vec<_>>(), vec![id.as_str()]);
    let search = |adapter: &str| {
        memmesh(a, &["search", "--tenant", "acme", "--user", "ana", "--mode", "dense", "--query", "Where does Hiro live?", "--adapter", adapter])
    };
    assert_eq!(search("AUTO").1["adapter"]["id"], id.as_str());
    assert!(search("NONE").1["adapter"].is_null());
    assert!(memmesh(a, &["adapter", "deactivate", &id]).0);
    assert!(search("AUTO").1["adapter"].is_null(), "a deactivated adapter is not used");
    let (ok, shown) = memmesh(a, &["adapter", "show", &id]);
    assert!(ok && shown["attributes"]["memmesh.adapter.active"] == "false", "{shown}");
    // A line that is not a pair is refused with its line number, before anything is sent.
    std::fs::write(&pairs, "{\"query\": \"q\"}\n").unwrap();
    let (ok, e) = memmesh(a, &["adapter", "train", "--tenant", "acme", "--pairs", pairs.to_str().unwrap()]);
    assert!(!ok && e["error"]["message"].as_str().unwrap().contains("pairs.jsonl:1"), "{e}");
}
