//! Write-time deduplication against real node processes: concurrent writers of one fact through
//! every node of a cluster end with one cube; bad dedupe arguments are refused by name.

use std::collections::BTreeSet;

use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

/// One fact, as 32 writers might phrase it: case, spacing and trailing punctuation differ.
fn variant(i: usize) -> String {
    let base = ["Dana's flight to Oslo leaves at 9", "dana's flight to oslo leaves at 9", "DANA'S  FLIGHT TO OSLO LEAVES AT 9"][i % 3];
    format!("{base}{}", ["", ".", "!", " ...", "  "][i % 5])
}

#[tokio::test]
async fn thirty_two_writers_of_one_fact_through_three_nodes_leave_exactly_one_cube() {
    let cl = TestCluster::start(3, &[]).await;
    let mut writers = Vec::new();
    for w in 0..32usize {
        let mut c = cl.client(w % 3).await;
        writers.push(tokio::spawn(async move {
            let mut cube = text_cube(scope("acme", "dana"), &variant(w));
            // Every fourth writer adds a tag, so some duplicates merge rather than add nothing.
            if w % 4 == 0 {
                cube.tags = vec![format!("w{w}")];
            }
            loop {
                let req =
                    PutRequest { cube: Some(cube.clone()), request_id: format!("w{w}"), dedupe: DedupeMode::Exact as i32, ..Default::default() };
                match c.memory.put(req).await {
                    Ok(r) => return r.into_inner(),
                    Err(s) if s.code() == Code::Unavailable => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                    Err(s) => panic!("writer {w}: {s}"),
                }
            }
        }));
    }
    let mut answers = Vec::new();
    for w in writers {
        answers.push(w.await.unwrap());
    }
    let targets: BTreeSet<String> = answers.iter().map(|a| a.result.clone().unwrap().target_id).collect();
    assert_eq!(targets.len(), 1, "every writer was answered with the same cube: {targets:?}");
    let outcomes: Vec<i32> = answers.iter().map(|a| a.result.clone().unwrap().outcome).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == PutOutcome::Created as i32).count(), 1, "exactly one writer created it: {outcomes:?}");
    let id = targets.into_iter().next().unwrap();
    for i in 0..3 {
        let mut c = cl.client(i).await;
        let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "dana")), ..Default::default() }).await;
        assert_eq!(listed.len(), 1, "node {i}");
        assert_eq!(listed[0].id, id, "node {i}");
        let tags: BTreeSet<&str> = listed[0].tags.iter().map(String::as_str).collect();
        assert_eq!(tags, (0..32).step_by(4).map(|w| format!("w{w}")).collect::<BTreeSet<_>>().iter().map(String::as_str).collect(), "node {i}");
    }
    // Every node holds the very same cube.
    let mut seen = Vec::new();
    for i in 0..3 {
        let mut c = cl.client(i).await;
        seen.push(c.memory.get(GetRequest { id: id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "replicas identical");
}

#[tokio::test]
async fn dedupe_modes_and_bad_dedupe_arguments() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let put = |text: &str, dedupe: DedupeMode, threshold: f32| PutRequest {
        cube: Some(text_cube(scope("acme", "u"), text)),
        dedupe: dedupe as i32,
        dedupe_threshold: threshold,
        ..Default::default()
    };
    let first = c.memory.put(put("Remember the milk.", DedupeMode::Exact, 0.0)).await.unwrap().into_inner();
    let again = c.memory.put(put("remember the milk", DedupeMode::Exact, 0.0)).await.unwrap().into_inner();
    assert_eq!(again.result.unwrap().outcome, PutOutcome::Unchanged as i32);
    assert_eq!(again.cube.unwrap().id, first.cube.unwrap().id);
    let default = c.memory.put(put("remember the milk", DedupeMode::Unspecified, 0.0)).await.unwrap().into_inner();
    assert_eq!(default.result.unwrap().outcome, PutOutcome::Created as i32, "NONE is the default: every put creates");

    let refused = |r: Result<tonic::Response<WriteResponse>, tonic::Status>| r.unwrap_err();
    let s = refused(c.memory.put(PutRequest { dedupe: 42, ..put("x", DedupeMode::Exact, 0.0) }).await);
    assert_eq!((s.code(), s.message().contains("dedupe")), (Code::InvalidArgument, true), "{s:?}");
    let s = refused(c.memory.put(put("x", DedupeMode::Semantic, 1.5)).await);
    assert_eq!((s.code(), s.message().contains("dedupe_threshold")), (Code::InvalidArgument, true), "{s:?}");
    let s = refused(c.memory.put(put("x", DedupeMode::Exact, 0.5)).await);
    assert_eq!((s.code(), s.message().contains("dedupe_threshold")), (Code::InvalidArgument, true), "{s:?}");
    let s = refused(c.memory.put(put("x", DedupeMode::Semantic, 0.0)).await);
    assert_eq!(s.code(), Code::FailedPrecondition, "this node runs no embedding model: {s:?}");
    let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "u")), ..Default::default() }).await;
    assert_eq!(listed.len(), 2, "the refused puts wrote nothing");

    let batch = PutBatchRequest {
        cubes: vec![text_cube(scope("acme", "b"), "one"), text_cube(scope("acme", "b"), "ONE!"), text_cube(scope("acme", "b"), "two")],
        dedupe: DedupeMode::Exact as i32,
        ..Default::default()
    };
    let r = c.memory.put_batch(batch).await.unwrap().into_inner();
    let outcomes: Vec<i32> = r.results.iter().map(|x| x.outcome).collect();
    assert_eq!(outcomes, vec![PutOutcome::Created as i32, PutOutcome::Unchanged as i32, PutOutcome::Created as i32]);
    assert_eq!(r.cubes[0].id, r.cubes[1].id, "the duplicate input answers with the cube it collapsed into");
}

#[tokio::test]
async fn semantic_dedupe_merges_a_paraphrase_with_the_real_model() {
    let node = TestNode::start_with_env(EMBEDDING_ON);
    let mut c = node.client().await;
    let put = |text: &str| PutRequest {
        cube: Some(text_cube(scope("acme", "s"), text)),
        dedupe: DedupeMode::Semantic as i32,
        dedupe_threshold: 0.9,
        ..Default::default()
    };
    let first = c.memory.put(put("The quarterly report is due on Friday")).await.unwrap().into_inner();
    let close = c.memory.put(put("The quarterly report is due on Friday afternoon")).await.unwrap().into_inner();
    let far = c.memory.put(put("Alice adopted a grey cat")).await.unwrap().into_inner();
    let r = close.result.unwrap();
    assert_eq!(r.outcome, PutOutcome::Unchanged as i32, "similarity {}", r.similarity);
    assert_eq!(r.target_id, first.cube.unwrap().id);
    assert!(r.similarity >= 0.9 && r.similarity < 1.0, "{}", r.similarity);
    assert_eq!(far.result.unwrap().outcome, PutOutcome::Created as i32);
}
