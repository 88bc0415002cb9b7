//! MemStore, the change feed: one test per guarantee of the contract in `memstore.proto`
//! (ordered, unique, atomic, gap-free, resumable, progress, compaction, filters, slow
//! subscribers), plus the resuming client stream and `memmesh watch`.

use std::collections::HashSet;
use std::time::Duration;

use memmesh_client::subscribe::{subscribe, FeedItem};
use memmesh_client::Client;
use memmesh_tests::proto::*;
use memmesh_tests::*;
use tokio_stream::StreamExt;
use tonic::Code;

type Feed = tonic::Streaming<SubscribeResponse>;

async fn sub(c: &mut Client, scope: Scope, start: u64) -> Feed {
    let req = SubscribeRequest { scope: Some(scope), start_revision: start, ..Default::default() };
    c.memstore.subscribe(req).await.unwrap().into_inner()
}

/// Reads event batches until one at or past `until` arrives (or times out).
async fn batches_until(feed: &mut Feed, until: u64) -> Vec<EventBatch> {
    let mut out = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), feed.message()).await.expect("feed stalled").unwrap().expect("stream open");
        if let Some(subscribe_response::Kind::Events(b)) = msg.kind {
            let rev = b.revision;
            out.push(b);
            if rev >= until {
                return out;
            }
        }
    }
}

fn assert_strictly_increasing(batches: &[EventBatch]) {
    assert!(batches.windows(2).all(|w| w[0].revision < w[1].revision), "revisions strictly increase, none repeated");
}

#[tokio::test]
async fn every_change_arrives_once_in_revision_order_and_a_batch_is_one_message() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let mut feed = sub(&mut c, scope("acme", ""), 0).await;
    // The first message is a bookmark: where the stream starts.
    let first = feed.message().await.unwrap().unwrap();
    assert!(matches!(first.kind, Some(subscribe_response::Kind::Progress(_))));

    let a = try_put(&mut c, text_cube(scope("acme", "u1"), "a"), "rq-a").await.unwrap();
    let id = a.cube.unwrap().id;
    let batch = PutBatchRequest {
        cubes: (0..50).map(|i| text_cube(scope("acme", "u2"), &format!("b{i}"))).collect(),
        request_id: "rq-b".into(),
        ..Default::default()
    };
    let b = c.memory.put_batch(batch).await.unwrap().into_inner();
    let upd = UpdateRequest { id: id.clone(), content: Some(Content { text: "a2".into(), ..Default::default() }), ..Default::default() };
    let u = c.memory.update(upd).await.unwrap().into_inner();
    // An event's cube is read when the event is delivered, and the purge below leaves only the
    // cube's identity: take the events up to the update before the rest can overtake them.
    let mut got = batches_until(&mut feed, u.revision).await;
    c.memory.delete(DeleteRequest { id: id.clone(), ..Default::default() }).await.unwrap();
    c.memory.restore(RestoreRequest { id: id.clone(), ..Default::default() }).await.unwrap();
    c.memory.rollback(RollbackRequest { id: id.clone(), to_version: 1, ..Default::default() }).await.unwrap();
    // A failed write and a deduplicated retry change nothing, so they produce no event.
    let _ = c.memory.restore(RestoreRequest { id: id.clone(), ..Default::default() }).await.unwrap_err();
    try_put(&mut c, text_cube(scope("acme", "u1"), "a"), "rq-a").await.unwrap();
    let p =
        c.memory.purge(PurgeRequest { target: Some(purge_request::Target::Id(id.clone())), request_id: String::new() }).await.unwrap().into_inner();

    got.extend(batches_until(&mut feed, p.revision).await);
    assert_strictly_increasing(&got);
    let kinds: Vec<(usize, i32)> = got.iter().map(|b| (b.events.len(), b.events[0].r#type)).collect();
    use EventType::*;
    assert_eq!(
        kinds,
        vec![
            (1, Created as i32),
            (50, Created as i32),
            (1, Updated as i32),
            (1, Deleted as i32),
            (1, Restored as i32),
            (1, RolledBack as i32),
            (1, Purged as i32)
        ]
    );
    assert_eq!(got[0].revision, a.revision);
    assert_eq!(got[0].events[0].request_id, "rq-a");
    assert_eq!(got[1].revision, b.revision, "the whole batch at its one revision");
    assert_eq!(
        got[1].events.iter().map(|e| e.cube.as_ref().unwrap().id.clone()).collect::<Vec<_>>(),
        b.cubes.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(got[2].events[0].cube.as_ref().unwrap(), u.cube.as_ref().unwrap(), "the cube after the change");
    let purged = got[6].events[0].cube.as_ref().unwrap();
    assert_eq!((purged.id.as_str(), purged.content.is_none()), (id.as_str(), true), "a purged cube keeps only its identity");
}

#[tokio::test]
async fn resuming_from_last_plus_one_delivers_exactly_what_was_missed() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let mut revs = Vec::new();
    for i in 0..100 {
        revs.push(try_put(&mut c, text_cube(scope("acme", "r"), &format!("m{i}")), "").await.unwrap().revision);
    }
    let mut feed = sub(&mut c, scope("acme", "r"), 1).await;
    let first = batches_until(&mut feed, revs[39]).await;
    drop(feed);
    for i in 100..160 {
        revs.push(try_put(&mut c, text_cube(scope("acme", "r"), &format!("m{i}")), "").await.unwrap().revision);
    }
    let last = first.last().unwrap().revision;
    let mut feed = sub(&mut c, scope("acme", "r"), last + 1).await;
    let rest = batches_until(&mut feed, *revs.last().unwrap()).await;
    let all: Vec<u64> = first.iter().chain(&rest).map(|b| b.revision).collect();
    assert_eq!(all, revs, "every revision once, in order, across the reconnect");
}

#[tokio::test]
async fn a_10000_event_backlog_is_delivered_gap_free() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let mut ids = Vec::new();
    let mut last = 0;
    for b in 0..10 {
        let cubes = (0..1000).map(|i| text_cube(scope("acme", "bulk"), &format!("{b}-{i}"))).collect();
        let r = c.memory.put_batch(PutBatchRequest { cubes, request_id: String::new(), ..Default::default() }).await.unwrap().into_inner();
        ids.extend(r.cubes.into_iter().map(|c| c.id));
        last = r.revision;
    }
    let mut feed = sub(&mut c, scope("acme", "bulk"), 1).await;
    let got = batches_until(&mut feed, last).await;
    assert_strictly_increasing(&got);
    let seen: Vec<String> = got.iter().flat_map(|b| b.events.iter().map(|e| e.cube.as_ref().unwrap().id.clone())).collect();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn a_hundred_subscribers_each_see_exactly_their_filter() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let start = applied(&mut c).await + 1;
    let mut feeds = Vec::new();
    for i in 0..100 {
        let mut req = SubscribeRequest { scope: Some(scope("acme", &format!("u{i}"))), start_revision: start, ..Default::default() };
        if i % 10 == 0 {
            req.memory_types = vec![MemoryType::Preference as i32];
        }
        feeds.push(c.memstore.subscribe(req).await.unwrap().into_inner());
    }
    // Per user: two facts and one preference, spread over batches that mix users.
    let mut last = 0;
    for round in 0..3 {
        let cubes = (0..100)
            .map(|i| {
                let mut cube = text_cube(scope("acme", &format!("u{i}")), &format!("u{i} r{round}"));
                cube.memory_type = if round == 2 { MemoryType::Preference } else { MemoryType::Fact } as i32;
                cube
            })
            .collect();
        last = c.memory.put_batch(PutBatchRequest { cubes, request_id: String::new(), ..Default::default() }).await.unwrap().into_inner().revision;
    }
    try_put(&mut c, text_cube(scope("other", "u1"), "another tenant"), "").await.unwrap();
    let final_rev = try_put(&mut c, text_cube(scope("acme", "nobody"), "marker"), "").await.unwrap().revision;
    assert!(final_rev > last);
    for (i, feed) in feeds.iter_mut().enumerate() {
        // Subscribers get a bookmark per request only at start; read until the last of their
        // rounds arrives.
        let expect_rounds: Vec<u64> = if i % 10 == 0 { vec![2] } else { vec![0, 1, 2] };
        let got = batches_until(feed, last).await;
        let texts: Vec<String> = got.iter().flat_map(|b| b.events.iter().map(|e| text_of(e.cube.as_ref().unwrap()).to_string())).collect();
        let want: Vec<String> = expect_rounds.iter().map(|r| format!("u{i} r{r}")).collect();
        assert_eq!(texts, want, "subscriber {i}");
    }
}

#[tokio::test]
async fn progress_reports_the_revision_even_when_nothing_matches() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let req = SubscribeRequest { scope: Some(scope("quiet", "")), progress_notify_ms: 20, ..Default::default() };
    let mut feed = c.memstore.subscribe(req).await.unwrap().into_inner();
    let mut last = 0;
    for i in 0..5 {
        last = try_put(&mut c, text_cube(scope("busy", ""), &format!("{i}")), "").await.unwrap().revision;
    }
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), feed.message()).await.unwrap().unwrap().unwrap();
        match msg.kind {
            Some(subscribe_response::Kind::Progress(p)) if p.revision >= last => break,
            Some(subscribe_response::Kind::Progress(_)) => {}
            other => panic!("no event may match this filter: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_start_below_the_compacted_revision_is_out_of_range_and_list_then_watch_recovers() {
    let node = TestNode::start_with_env(&[("MEMMESH__FEED__RETENTION_REVISIONS", "10")]);
    let mut c = node.client().await;
    for i in 0..40 {
        try_put(&mut c, text_cube(scope("acme", "cmp"), &format!("{i}")), "").await.unwrap();
    }
    // Compaction runs once a second.
    let mut err = None;
    for _ in 0..50 {
        let req = SubscribeRequest { scope: Some(scope("acme", "cmp")), start_revision: 1, ..Default::default() };
        match c.memstore.subscribe(req).await {
            Err(e) => {
                err = Some(e);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let e = err.expect("history was compacted");
    assert_eq!(e.code(), Code::OutOfRange);
    let compacted: u64 = e.metadata().get("x-memmesh-compact-revision").unwrap().to_str().unwrap().parse().unwrap();
    assert!(compacted >= 30, "compacted up to {compacted}");
    assert!(e.message().contains("List the scope"), "{}", e.message());

    // The documented recovery: list, then subscribe from read_revision + 1.
    let page = c.memory.list(ListRequest { scope: Some(scope("acme", "cmp")), page_size: 1000, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(page.cubes.len(), 40);
    let mut feed = sub(&mut c, scope("acme", "cmp"), page.read_revision + 1).await;
    let w = try_put(&mut c, text_cube(scope("acme", "cmp"), "after"), "").await.unwrap();
    let got = batches_until(&mut feed, w.revision).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].revision, w.revision);
}

#[tokio::test]
async fn a_slow_subscriber_blocks_no_writer_and_catches_up_gap_free() {
    let dir = tempfile::tempdir().unwrap();
    // A live buffer of 8 apply calls: the sleeping subscriber certainly overflows it and must be
    // caught up from the stored history.
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &[("MEMMESH__FEED__LIVE_BUFFER", "8")]);
    let mut c = node.client().await;
    let start = applied(&mut c).await + 1;
    // Subscribed, but not reading while 2,400 single 8 KiB writes happen: ~19 MiB of events,
    // far past what HTTP/2 flow control buffers, so the server side really is held up.
    let mut slow = sub(&mut c, scope("acme", ""), start).await;
    let t = std::time::Instant::now();
    let pad = "p".repeat(8 * 1024);
    let writers = (0..8).map(|w| {
        let mut c = c.clone();
        let pad = pad.clone();
        tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..300 {
                revs.push(try_put(&mut c, text_cube(scope("acme", &format!("w{w}")), &format!("{i} {pad}")), "").await.unwrap().revision);
            }
            revs
        })
    });
    let mut revs: Vec<u64> = futures::future::join_all(writers).await.into_iter().flat_map(|r| r.unwrap()).collect();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(60), "writers finished while the subscriber slept ({took:?})");
    revs.sort();
    // Concurrent writes may be committed together (group commit) and share a revision.
    revs.dedup();
    let got = batches_until(&mut slow, *revs.last().unwrap()).await;
    assert_eq!(got.iter().map(|b| b.revision).collect::<Vec<_>>(), revs, "every revision, in order, none twice");
    assert_eq!(got.iter().map(|b| b.events.len()).sum::<usize>(), 2400, "all 2,400 events");
}

#[tokio::test]
async fn the_client_stream_resumes_across_a_node_crash_without_loss_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let data = dir.path().join("n1");
    let mut node = NodeProc::start_on(&data, &addr, &[]);
    let mut c = node.client().await;
    let mut stream = subscribe(vec![addr.clone()], SubscribeRequest { scope: Some(scope("acme", "")), ..Default::default() });
    // Wait for the bookmark so the subscription is in place before writing.
    assert!(matches!(stream.next().await.unwrap().unwrap(), FeedItem::Progress(_)));
    let mut revs = Vec::new();
    for i in 0..20 {
        revs.push(try_put(&mut c, text_cube(scope("acme", "x"), &format!("{i}")), "").await.unwrap().revision);
    }
    // Read a few, then crash the node with the rest undelivered to us.
    let mut seen = Vec::new();
    while seen.len() < 5 {
        if let FeedItem::Events(b) = stream.next().await.unwrap().unwrap() {
            seen.push(b.revision);
        }
    }
    node.kill9();
    let node = NodeProc::start_on(&data, &addr, &[]);
    let mut c = node.client().await;
    for i in 20..40 {
        revs.push(try_put(&mut c, text_cube(scope("acme", "x"), &format!("{i}")), "").await.unwrap().revision);
    }
    while seen.last() != revs.last() {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("stream resumed").unwrap().unwrap() {
            FeedItem::Events(b) => seen.push(b.revision),
            FeedItem::Progress(_) => {}
        }
    }
    assert_eq!(seen, revs, "each revision exactly once across the crash");
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

#[tokio::test]
async fn memmesh_watch_prints_one_json_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("n1"));
    let mut c = node.client().await;
    let mut watch = std::process::Command::new(bin("memmesh"))
        .args(["--addr", &node.addr, "--json", "watch", "--tenant", "acme", "--user", "w", "--limit", "3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Writes before the watcher is subscribed would be missed ("from now"); write until it has
    // seen three, with the first three texts marking what it must print.
    let mut written = Vec::new();
    for i in 0..200 {
        written.push(try_put(&mut c, text_cube(scope("acme", "w"), &format!("w{i}")), "").await.unwrap().revision);
        if watch.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = watch.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    let revs: Vec<u64> = lines.iter().map(|l| l["revision"].as_u64().unwrap()).collect();
    let first = written.iter().position(|r| *r == revs[0]).expect("a revision this test wrote");
    assert_eq!(revs, written[first..first + 3], "three consecutive writes, none skipped");
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(l["type"], "CREATED");
        assert_eq!(l["cube"]["content"]["text"], format!("w{}", first + k));
    }
}

fn memmesh_sync(addr: &str, dir: &std::path::Path, user: &str) -> serde_json::Value {
    let out = std::process::Command::new(bin("memmesh"))
        .args(["--addr", addr, "--json", "sync", "--tenant", "acme", "--user", user, "--once", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "sync failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The mirror holds exactly the server's cubes of the scope (every state), each at its version.
async fn assert_mirror_matches(c: &mut Client, dir: &std::path::Path, user: &str) -> usize {
    let server = list_all(c, ListRequest { scope: Some(scope("acme", user)), states: vec![1, 2, 3], page_size: 1000, ..Default::default() }).await;
    let mut files: Vec<String> =
        std::fs::read_dir(dir.join("cubes")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut want: Vec<String> = server.iter().map(|c| format!("{}.json", c.id)).collect();
    want.sort();
    assert_eq!(files, want, "the mirror holds exactly the scope's cubes");
    for cube in &server {
        let f: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cubes").join(format!("{}.json", cube.id))).unwrap()).unwrap();
        assert_eq!(f["version"].as_u64(), Some(cube.version), "{}", cube.id);
        assert_eq!(f["content"]["text"].as_str(), Some(text_of(cube)));
        assert_eq!(f["state"], memmesh_client::json::state(cube.state));
    }
    server.len()
}

#[tokio::test]
async fn sync_mirror_converges_after_being_offline_while_1000_changes_happen() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("n1"));
    let mut c = node.client().await;
    let mirror = dir.path().join("mirror");
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(try_put(&mut c, text_cube(scope("acme", "alice"), &format!("a{i}")), "").await.unwrap().cube.unwrap().id);
    }
    let first = memmesh_sync(&node.addr, &mirror, "alice");
    assert_eq!((first["mode"].as_str(), first["cubes"].as_u64()), (Some("full"), Some(50)));

    // Offline: 1,000 changes — creates, updates, deletes, restores, purges, and noise elsewhere.
    let mut changes = 0;
    for b in 0..3 {
        let cubes = (0..100).map(|i| text_cube(scope("acme", "alice"), &format!("n{b}-{i}"))).collect();
        ids.extend(
            c.memory
                .put_batch(PutBatchRequest { cubes, request_id: String::new(), ..Default::default() })
                .await
                .unwrap()
                .into_inner()
                .cubes
                .into_iter()
                .map(|c| c.id),
        );
        changes += 100;
    }
    for i in 0..400 {
        let id = ids[i % ids.len()].clone();
        let upd = UpdateRequest { id, content: Some(Content { text: format!("u{i}"), ..Default::default() }), ..Default::default() };
        c.memory.update(upd).await.unwrap();
        changes += 1;
    }
    for id in &ids[200..350] {
        c.memory.delete(DeleteRequest { id: id.clone(), ..Default::default() }).await.unwrap();
        changes += 1;
    }
    for id in &ids[200..250] {
        c.memory.restore(RestoreRequest { id: id.clone(), ..Default::default() }).await.unwrap();
        changes += 1;
    }
    for id in &ids[0..50] {
        c.memory.purge(PurgeRequest { target: Some(purge_request::Target::Id(id.clone())), request_id: String::new() }).await.unwrap();
        changes += 1;
    }
    for i in 0..50 {
        try_put(&mut c, text_cube(scope("acme", "bob"), &format!("b{i}")), "").await.unwrap();
        changes += 1;
    }
    assert_eq!(changes, 1000);

    let second = memmesh_sync(&node.addr, &mirror, "alice");
    assert_eq!(second["mode"], "resume", "restarted from its stored revision, not a new listing");
    assert_eq!(second["revision"].as_u64(), Some(applied(&mut c).await));
    let n = assert_mirror_matches(&mut c, &mirror, "alice").await;
    assert_eq!(n, 300, "350 created, 50 purged");
    assert_eq!(second["cubes"].as_u64(), Some(300));
}

#[tokio::test]
async fn sync_falls_back_to_a_full_listing_when_its_revision_was_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &[("MEMMESH__FEED__RETENTION_REVISIONS", "5")]);
    let mut c = node.client().await;
    let mirror = dir.path().join("mirror");
    try_put(&mut c, text_cube(scope("acme", "carol"), "c0"), "").await.unwrap();
    assert_eq!(memmesh_sync(&node.addr, &mirror, "carol")["mode"], "full");
    let mut purge_me = String::new();
    for i in 1..40 {
        let w = try_put(&mut c, text_cube(scope("acme", "carol"), &format!("c{i}")), "").await.unwrap();
        if i == 1 {
            purge_me = w.cube.unwrap().id;
        }
    }
    c.memory.purge(PurgeRequest { target: Some(purge_request::Target::Id(purge_me)), request_id: String::new() }).await.unwrap();
    // Wait until the history the mirror would resume from is compacted.
    for _ in 0..50 {
        let req = SubscribeRequest { scope: Some(scope("acme", "carol")), start_revision: 3, ..Default::default() };
        if c.memstore.subscribe(req).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = memmesh_sync(&node.addr, &mirror, "carol");
    assert_eq!(r["mode"], "full", "compacted history forces a new listing");
    assert_eq!(assert_mirror_matches(&mut c, &mirror, "carol").await, 39);
}
