//! Slots, links and Consolidate against real node processes: concurrent writers of one slot end
//! with one holder and a complete chain; paraphrases merge into one cube; Consolidate's dry run
//! is what it then does, and a leader killed in the middle merges nothing twice; bad input is
//! refused by name with nothing written.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

/// Retries a write refused as UNAVAILABLE (no leader yet, or a leader change): the request id
/// makes the retry safe.
macro_rules! retry {
    ($e:expr) => {
        loop {
            match $e {
                Ok(r) => break r.into_inner(),
                Err(s) if s.code() == Code::Unavailable => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(s) => panic!("{s}"),
            }
        }
    };
}

fn all_states() -> Vec<i32> {
    vec![CubeState::Active as i32, CubeState::Archived as i32, CubeState::Deleted as i32]
}

fn link_ids(c: &MemCube, t: LinkType) -> Vec<String> {
    c.links.iter().filter(|l| l.r#type == t as i32).map(|l| l.target_id.clone()).collect()
}

#[tokio::test]
async fn sixteen_writers_of_one_slot_through_three_nodes_leave_one_holder_and_a_complete_chain() {
    let cl = TestCluster::start(3, &[]).await;
    let mut writers = Vec::new();
    for w in 0..16usize {
        let mut c = cl.client(w % 3).await;
        writers.push(tokio::spawn(async move {
            let mut cube = text_cube(scope("acme", "dana"), &format!("The project deadline is day {w}"));
            cube.slot = "project.deadline".into();
            let req = PutRequest { cube: Some(cube), request_id: format!("slot-{w}"), ..Default::default() };
            retry!(c.memory.put(req.clone()).await)
        }));
    }
    let mut answers = Vec::new();
    for w in writers {
        answers.push(w.await.unwrap());
    }
    let superseded: usize = answers.iter().map(|a| a.result.as_ref().unwrap().superseded_ids.len()).sum();
    assert_eq!(superseded, 15, "every write but the first in log order superseded exactly one holder");

    let mut c = cl.client(0).await;
    let active = list_all(&mut c, ListRequest { scope: Some(scope("acme", "dana")), ..Default::default() }).await;
    assert_eq!(active.len(), 1, "one ACTIVE holder");
    let every = list_all(&mut c, ListRequest { scope: Some(scope("acme", "dana")), states: all_states(), ..Default::default() }).await;
    assert_eq!(every.len(), 16);
    let by_id: BTreeMap<&str, &MemCube> = every.iter().map(|c| (c.id.as_str(), c)).collect();

    // Walk the chain back from the holder: each predecessor once, each linked both ways.
    let mut seen = BTreeSet::new();
    let mut at = active[0].id.clone();
    loop {
        assert!(seen.insert(at.clone()), "the chain has no cycle");
        let back = link_ids(by_id[at.as_str()], LinkType::Supersedes);
        match back.as_slice() {
            [] => break,
            [prev] => {
                assert_eq!(link_ids(by_id[prev.as_str()], LinkType::SupersededBy), vec![at.clone()]);
                assert_eq!(by_id[prev.as_str()].state, CubeState::Archived as i32);
                at = prev.clone();
            }
            more => panic!("{at} supersedes {more:?}"),
        }
    }
    assert_eq!(seen.len(), 16, "the chain covers every write");

    // History and as-of reads still show a predecessor as it was.
    let old = by_id[at.as_str()];
    let h = c.memory.history(HistoryRequest { id: old.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    let states: Vec<i32> = h.versions.iter().map(|v| v.state).collect();
    assert_eq!(states, vec![CubeState::Active as i32, CubeState::Archived as i32]);
    let then = GetRequest { id: old.id.clone(), as_of_revision: h.versions[0].revision, ..Default::default() };
    assert_eq!(c.memory.get(then).await.unwrap().into_inner().cube.unwrap().state, CubeState::Active as i32);

    // Search finds only the current holder unless asked for archived cubes.
    let q = SearchRequest {
        query: "project deadline".into(),
        scope: Some(scope("acme", "dana")),
        k: 50,
        mode: SearchMode::Lexical as i32,
        ..Default::default()
    };
    let hits = c.memory.search(q.clone()).await.unwrap().into_inner().hits;
    assert_eq!(hits.iter().map(|h| h.cube.as_ref().unwrap().id.clone()).collect::<Vec<_>>(), vec![active[0].id.clone()]);
    let archived_too = SearchRequest { states: all_states(), ..q };
    assert_eq!(c.memory.search(archived_too).await.unwrap().into_inner().hits.len(), 16);

    // Get shows the incoming link; every replica holds the same cubes.
    let g = c.memory.get(GetRequest { id: old.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(g.incoming.iter().map(|l| (l.r#type, l.source_id.clone())).collect::<Vec<_>>(), {
        let next = link_ids(old, LinkType::SupersededBy).remove(0);
        vec![(LinkType::Supersedes as i32, next)]
    });
    for i in 1..3 {
        let mut ci = cl.client(i).await;
        let theirs = list_all(&mut ci, ListRequest { scope: Some(scope("acme", "dana")), states: all_states(), ..Default::default() }).await;
        assert_eq!(theirs, every, "node {i}");
    }
}

/// 32 ways of saying one thing.
fn paraphrase(i: usize) -> String {
    let subject = ["The team meeting", "Our team meeting", "The weekly team meeting", "The team's meeting"][i % 4];
    let verb = ["moved to", "has been moved to", "was moved to", "is moved to"][(i / 4) % 4];
    let when = ["Thursday at 3pm", "Thursday at 3 pm"][(i / 16) % 2];
    format!("{subject} {verb} {when}")
}

#[tokio::test]
async fn thirty_two_concurrent_paraphrases_merge_into_one_cube_on_every_replica() {
    let cl = TestCluster::start(3, EMBEDDING_ON).await;
    let mut writers = Vec::new();
    for w in 0..32usize {
        let mut c = cl.client(w % 3).await;
        writers.push(tokio::spawn(async move {
            let mut cube = text_cube(scope("acme", "team"), &paraphrase(w));
            cube.tags = vec![format!("w{w:02}")];
            let req = PutRequest {
                cube: Some(cube),
                request_id: format!("p-{w}"),
                dedupe: DedupeMode::Semantic as i32,
                dedupe_threshold: 0.85,
                ..Default::default()
            };
            retry!(c.memory.put(req.clone()).await)
        }));
    }
    let mut answers = Vec::new();
    for w in writers {
        answers.push(w.await.unwrap());
    }
    let created: Vec<&WriteResponse> = answers.iter().filter(|a| a.result.as_ref().unwrap().outcome == PutOutcome::Created as i32).collect();
    let sims: Vec<f32> = answers.iter().map(|a| a.result.as_ref().unwrap().similarity).collect();
    assert_eq!(created.len(), 1, "one cube created, the rest merged into it (similarities {sims:?})");
    let id = created[0].cube.as_ref().unwrap().id.clone();
    assert!(answers.iter().all(|a| a.result.as_ref().unwrap().target_id == id));
    let merged = answers.iter().filter(|a| a.result.as_ref().unwrap().outcome == PutOutcome::Merged as i32).count();
    assert_eq!(merged, 31, "each paraphrase brought its own tag, so each merged");

    // A different fact in the same scope is not swallowed.
    let mut c = cl.client(0).await;
    let other = PutRequest {
        cube: Some(text_cube(scope("acme", "team"), "Dana's flight to Oslo leaves at 9")),
        dedupe: DedupeMode::Semantic as i32,
        dedupe_threshold: 0.85,
        ..Default::default()
    };
    assert_eq!(retry!(c.memory.put(other.clone()).await).result.unwrap().outcome, PutOutcome::Created as i32);

    let mut cubes = Vec::new();
    for i in 0..3 {
        let mut ci = cl.client(i).await;
        cubes.push(ci.memory.get(GetRequest { id: id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap());
    }
    assert!(cubes.windows(2).all(|w| w[0] == w[1]), "replicas identical");
    assert_eq!(cubes[0].tags.len(), 32, "every writer's tag is on the one cube");
    assert_eq!(cubes[0].version, 32, "one version per merge");
}

#[tokio::test]
async fn consolidate_does_what_its_dry_run_planned_and_a_leader_kill_merges_nothing_twice() {
    let mut cl = TestCluster::start(3, &[]).await;
    let mut c = cl.client(0).await;
    // 1,500 facts, each stored twice or three times (written without dedupe).
    const FACTS: usize = 1500;
    let mut inputs = Vec::new();
    for f in 0..FACTS {
        for copy in 0..(2 + f % 2) {
            let text = if copy == 1 { format!("FACT number {f}.") } else { format!("fact number {f}") };
            inputs.push(text_cube(scope("acme", "bulk"), &text));
        }
    }
    for (n, chunk) in inputs.chunks(500).enumerate() {
        retry!(c.memory.put_batch(PutBatchRequest { cubes: chunk.to_vec(), request_id: format!("load-{n}"), ..Default::default() }).await);
    }
    let req = ConsolidateRequest { scope: Some(scope("acme", "bulk")), mode: DedupeMode::Exact as i32, ..Default::default() };
    let plan = c.memory.consolidate(ConsolidateRequest { dry_run: true, ..req.clone() }).await.unwrap().into_inner();
    assert_eq!(plan.clusters.len(), FACTS);
    assert_eq!((plan.merged, plan.revision), (0, 0), "a dry run writes nothing");
    let members: usize = plan.clusters.iter().map(|k| k.member_ids.len()).sum();
    assert_eq!(members, inputs.len() - FACTS);

    // Run it through a follower and kill the leader while the steps are being applied.
    let leader = cl.leader().await;
    let via = (leader + 1) % 3;
    let mut runner = cl.client(via).await;
    let run = tokio::spawn({
        let req = req.clone();
        async move { runner.memory.consolidate(req).await }
    });
    let mut watcher = cl.client(via).await;
    let started = ListRequest {
        scope: Some(scope("acme", "bulk")),
        states: vec![CubeState::Archived as i32],
        page_size: 1,
        read: Some(ReadOptions { consistency: ReadConsistency::Serializable as i32, ..Default::default() }),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while watcher.memory.list(started.clone()).await.map(|r| r.into_inner().cubes.is_empty()).unwrap_or(true) {
        assert!(tokio::time::Instant::now() < deadline, "consolidation never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cl.kill9(leader);
    let first = run.await.unwrap();
    eprintln!("consolidate during the leader kill: {:?}", first.as_ref().map(|r| (r.get_ref().merged, r.get_ref().skipped)));

    // Finish the job on a survivor (retrying through the election); a second run finds nothing.
    let mut s = cl.client(via).await;
    let mut total_merged = first.map(|r| r.into_inner().merged).unwrap_or(0);
    loop {
        let r = retry!(s.memory.consolidate(req.clone()).await);
        total_merged += r.merged;
        if r.clusters.is_empty() {
            break;
        }
    }
    eprintln!("merged in total (as reported): {total_merged}");

    let every = list_all(&mut s, ListRequest { scope: Some(scope("acme", "bulk")), states: all_states(), ..Default::default() }).await;
    let by_id: BTreeMap<&str, &MemCube> = every.iter().map(|c| (c.id.as_str(), c)).collect();
    assert_eq!(every.len(), inputs.len(), "nothing lost");
    for k in &plan.clusters {
        let keeper = by_id[k.keeper_id.as_str()];
        assert_eq!(keeper.state, CubeState::Active as i32, "a keeper stays");
        for m in &k.member_ids {
            let member = by_id[m.as_str()];
            assert_eq!(member.state, CubeState::Archived as i32);
            assert_eq!(link_ids(member, LinkType::MergedInto), vec![k.keeper_id.clone()], "merged into its planned keeper");
            let h = s.memory.history(HistoryRequest { id: m.clone(), ..Default::default() }).await.unwrap().into_inner();
            assert_eq!(h.versions.len(), 2, "merged exactly once: {m}");
        }
    }
    assert_eq!(every.iter().filter(|c| c.state == CubeState::Active as i32).count(), FACTS);
    for i in cl.live() {
        let mut ci = cl.client(i).await;
        let q = ListRequest { scope: Some(scope("acme", "bulk")), states: all_states(), ..Default::default() };
        assert_eq!(list_all(&mut ci, q).await, every, "node {i} identical");
    }
}

#[tokio::test]
async fn bad_slot_link_and_consolidate_input_is_refused_by_field_and_writes_nothing() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let a = put_text(&mut c, scope("acme", "u"), "a fact").await.id;
    let foreign = put_text(&mut c, scope("globex", "u"), "elsewhere").await.id;
    let before = applied(&mut c).await;

    let invalid = |r: Result<tonic::Response<WriteResponse>, tonic::Status>, field: &str| {
        let s = r.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(s.message().contains(field), "{field}: {s:?}");
    };
    let mut bad_slot = text_cube(scope("acme", "u"), "x");
    bad_slot.slot = "Home City".into();
    invalid(c.memory.put(PutRequest { cube: Some(bad_slot), ..Default::default() }).await, "cube.slot");
    let mut server_link = text_cube(scope("acme", "u"), "x");
    server_link.links = vec![Link { r#type: LinkType::Supersedes as i32, target_id: a.clone() }];
    invalid(c.memory.put(PutRequest { cube: Some(server_link), ..Default::default() }).await, "cube.links[0].type");
    let related =
        PutRequest { cube: Some(text_cube(scope("acme", "u"), "x")), dedupe: DedupeMode::Exact as i32, related_threshold: 0.5, ..Default::default() };
    invalid(c.memory.put(related).await, "related_threshold");
    let slotted = |text: &str| {
        let mut i = text_cube(scope("acme", "u"), text);
        i.slot = "user.city".into();
        i
    };
    let twice = c.memory.put_batch(PutBatchRequest { cubes: vec![slotted("Paris"), slotted("Rome")], ..Default::default() }).await.unwrap_err();
    assert_eq!((twice.code(), twice.message().contains("cubes[1].slot")), (Code::InvalidArgument, true), "{twice:?}");

    let link = |target: &str, t: LinkType| LinkRequest {
        source_id: a.clone(),
        link: Some(Link { r#type: t as i32, target_id: target.to_string() }),
        ..Default::default()
    };
    for (target, why) in [(foreign.as_str(), "another tenant"), ("01J0000000000000000000000Z", "missing")] {
        let s = c.memory.link(link(target, LinkType::RelatesTo)).await.unwrap_err();
        assert_eq!(s.code(), Code::NotFound, "{why}: {s:?}");
    }
    invalid(c.memory.link(link(&foreign, LinkType::MergedInto)).await, "link.type");
    let s = c.memory.link(LinkRequest { remove: true, ..link(&foreign, LinkType::RelatesTo) }).await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "no such link to remove: {s:?}");
    let mut dangling = text_cube(scope("acme", "u"), "derived");
    dangling.links = vec![Link { r#type: LinkType::DerivedFrom as i32, target_id: foreign.clone() }];
    assert_eq!(c.memory.put(PutRequest { cube: Some(dangling), ..Default::default() }).await.unwrap_err().code(), Code::NotFound);

    let consolidate = |mode: i32, threshold: f32| ConsolidateRequest { scope: Some(scope("acme", "u")), mode, threshold, ..Default::default() };
    for (req, field) in [
        (consolidate(42, 0.0), "mode"),
        (consolidate(DedupeMode::None as i32, 0.0), "mode"),
        (consolidate(DedupeMode::Exact as i32, 0.5), "threshold"),
        (ConsolidateRequest { max_clusters: 1_000_000, ..consolidate(DedupeMode::Exact as i32, 0.0) }, "max_clusters"),
        (ConsolidateRequest { scope: None, ..consolidate(DedupeMode::Exact as i32, 0.0) }, "scope"),
    ] {
        let s = c.memory.consolidate(req).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{field}: {s:?}");
        assert!(s.message().contains(field), "{field}: {s:?}");
    }
    let s = c.memory.consolidate(consolidate(DedupeMode::Semantic as i32, 0.0)).await.unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition, "no embedding model on this node: {s:?}");
    assert_eq!(applied(&mut c).await, before, "nothing was written");
}

#[tokio::test]
async fn links_and_their_expansion_show_only_cubes_the_caller_may_read() {
    use memmesh_tests::auth::*;
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let mut admin = client_as(&mut boot, &node.addr, "acme", "", "", Role::Admin).await;
    let mut alice = client_as(&mut boot, &node.addr, "acme", "alice", "", Role::Writer).await;
    let mut bob = client_as(&mut boot, &node.addr, "acme", "bob", "", Role::Writer).await;
    let mut alice_ro = client_as(&mut boot, &node.addr, "acme", "alice", "", Role::Reader).await;

    let mine = put_text(&mut alice, scope("acme", "alice"), "alice's note about the launch").await.id;
    let also_mine = put_text(&mut alice, scope("acme", "alice"), "alice's launch checklist").await.id;
    let bobs = put_text(&mut bob, scope("acme", "bob"), "bob's launch budget").await.id;
    let link = |source: &str, target: &str| LinkRequest {
        source_id: source.to_string(),
        link: Some(Link { r#type: LinkType::RelatesTo as i32, target_id: target.to_string() }),
        ..Default::default()
    };
    // Bob cannot link to (or learn of) alice's cube.
    assert_eq!(code(bob.memory.link(link(&bobs, &mine)).await), Some(Code::NotFound));
    assert_eq!(code(alice_ro.memory.link(link(&mine, &also_mine)).await), Some(Code::PermissionDenied), "a reader token never links");
    alice.memory.link(link(&mine, &also_mine)).await.unwrap();
    admin.memory.link(link(&bobs, &mine)).await.unwrap();

    // Alice sees her own incoming link, not bob's.
    let g = alice.memory.get(GetRequest { id: also_mine.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(g.incoming.iter().map(|l| l.source_id.clone()).collect::<Vec<_>>(), vec![mine.clone()]);
    let g = alice.memory.get(GetRequest { id: mine.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert!(g.incoming.is_empty(), "bob's cube links here, and alice may not read it: {:?}", g.incoming);
    let g = admin.memory.get(GetRequest { id: mine.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(g.incoming.len(), 1, "the admin sees it");

    let q = SearchRequest {
        query: "alice's note about the launch".into(),
        scope: Some(scope("acme", "")),
        k: 1,
        mode: SearchMode::Lexical as i32,
        expand_links: true,
        ..Default::default()
    };
    let hits = alice.memory.search(q.clone()).await.unwrap().into_inner().hits;
    assert_eq!(hits[0].cube.as_ref().unwrap().id, mine);
    let linked: Vec<(String, bool)> = hits[0].linked.iter().map(|l| (l.cube.as_ref().unwrap().id.clone(), l.incoming)).collect();
    assert_eq!(linked, vec![(also_mine.clone(), false)], "bob's cube is not expanded for alice");
    let hits = admin.memory.search(q).await.unwrap().into_inner().hits;
    let mut linked: Vec<(String, bool)> = hits[0].linked.iter().map(|l| (l.cube.as_ref().unwrap().id.clone(), l.incoming)).collect();
    linked.sort();
    let mut want = vec![(also_mine, false), (bobs, true)];
    want.sort();
    assert_eq!(linked, want);

    // Consolidate is for the scope's owners and the tenant's admins.
    let c = ConsolidateRequest { scope: Some(scope("acme", "alice")), mode: DedupeMode::Exact as i32, dry_run: true, ..Default::default() };
    assert_eq!(code(bob.memory.consolidate(c.clone()).await), Some(Code::PermissionDenied));
    assert_eq!(code(alice_ro.memory.consolidate(c.clone()).await), Some(Code::PermissionDenied));
    alice.memory.consolidate(c.clone()).await.unwrap();
    admin.memory.consolidate(c).await.unwrap();
}
