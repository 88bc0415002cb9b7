//! Nothing acknowledged is ever lost: clean restarts, `kill -9` under concurrent writers, and
//! restarts from a snapshot after the log was purged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memmesh_tests::proto::*;
use memmesh_tests::*;

#[tokio::test]
async fn restart_keeps_everything_and_the_node_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    let mut node = NodeProc::start(&data);
    let mut c = node.client().await;
    let mut written = Vec::new();
    for i in 0..200 {
        let w = c
            .memory
            .put(PutRequest { cube: Some(text_cube(scope("acme", "u"), &format!("m{i}"))), request_id: format!("r{i}"), ..Default::default() })
            .await
            .unwrap();
        written.push(w.into_inner());
    }
    let last_rev = applied(&mut c).await;
    let id = node.node_id;
    assert!(node.terminate().success(), "SIGTERM is a clean shutdown; log:\n{}", node.log());

    let node = NodeProc::start(&data);
    assert_eq!(node.node_id, id, "node id persists across restarts");
    let mut c = node.client().await;
    for w in &written {
        let cube = w.cube.as_ref().unwrap();
        let got = c.memory.get(GetRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap();
        assert_eq!(&got, cube);
    }
    // The idempotency table survives too.
    let again = c
        .memory
        .put(PutRequest { cube: Some(text_cube(scope("acme", "u"), "m0")), request_id: "r0".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(again.deduplicated);
    let w = c
        .memory
        .put(PutRequest { cube: Some(text_cube(scope("acme", "u"), "after")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(w.revision > last_rev, "revisions keep increasing after a restart");
}

#[tokio::test]
async fn kill_9_under_four_writers_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    let mut node = NodeProc::start(&data);
    let acked: Arc<Mutex<Vec<MemCube>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = node.client().await;
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let cube = text_cube(scope("acme", &format!("w{w}")), &format!("writer {w} item {i} {}", "x".repeat((i % 7 * 100) as usize)));
                match c.memory.put(PutRequest { cube: Some(cube), request_id: format!("w{w}-{i}"), ..Default::default() }).await {
                    Ok(r) => acked.lock().unwrap().push(r.into_inner().cube.unwrap()),
                    Err(_) => break, // the node died under us: this write was not acknowledged
                }
                i += 1;
            }
        }));
    }
    // Let the writers run, then pull the plug mid-stream.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "writers made progress before the kill ({} acks)", acked.len());

    let node = NodeProc::start(&data);
    let mut c = node.client().await;
    for cube in &acked {
        let got = c.memory.get(GetRequest { id: cube.id.clone(), ..Default::default() }).await;
        let got = got.unwrap_or_else(|e| panic!("acknowledged cube {} lost: {e}", cube.id)).into_inner().cube.unwrap();
        assert_eq!(&got, cube, "acknowledged content intact");
    }
    // Unacknowledged writes may or may not be there, but never half-applied: every cube listed
    // is complete and its version 1 is in history.
    for w in 0..4 {
        for cube in list_all(&mut c, ListRequest { scope: Some(scope("acme", &format!("w{w}"))), ..Default::default() }).await {
            assert!(text_of(&cube).starts_with(&format!("writer {w} item ")));
            let h = c.memory.history(HistoryRequest { id: cube.id.clone(), ..Default::default() }).await.unwrap().into_inner().versions;
            assert_eq!(h.len(), 1);
        }
    }
}

#[tokio::test]
async fn restart_after_snapshot_and_log_purge_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    let env = [("MEMMESH__RAFT__SNAPSHOT_AFTER_ENTRIES", "50"), ("MEMMESH__RAFT__KEEP_LOG_AFTER_SNAPSHOT", "5")];
    let mut node = NodeProc::start_with_env(&data, &env);
    let mut c = node.client().await;
    let mut ids = Vec::new();
    for i in 0..300 {
        let w = c
            .memory
            .put(PutRequest { cube: Some(text_cube(scope("acme", "s"), &format!("snap {i}"))), request_id: format!("s{i}"), ..Default::default() })
            .await
            .unwrap();
        ids.push(w.into_inner().cube.unwrap().id);
    }
    // Give the snapshot task a moment, then check that a snapshot exists.
    let mut snap_files = 0;
    for _ in 0..50 {
        snap_files =
            std::fs::read_dir(data.join("snapshots")).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".snap")).count();
        if snap_files > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(snap_files >= 1, "a snapshot was built");
    node.kill9();

    let node = NodeProc::start_with_env(&data, &env);
    let mut c = node.client().await;
    let listed = list_all(&mut c, ListRequest { scope: Some(scope("acme", "s")), order: ListOrder::OldestFirst as i32, ..Default::default() }).await;
    assert_eq!(listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids);
    let again = c
        .memory
        .put(PutRequest { cube: Some(text_cube(scope("acme", "s"), "snap 7")), request_id: "s7".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(again.deduplicated, "the idempotency table is part of the state");
}

#[tokio::test]
async fn sigterm_stops_the_node_promptly_even_with_idle_clients_connected() {
    let mut node = TestNode::start_with_env(&[("MEMMESH__NODE__SHUTDOWN_GRACE_MS", "300")]);
    let mut c = node.client().await;
    c.memory.put(PutRequest { cube: Some(text_cube(scope("acme", "u"), "x")), request_id: String::new(), ..Default::default() }).await.unwrap();
    // `c` stays connected (idle HTTP/2) while the node is asked to stop.
    let t = std::time::Instant::now();
    let status = node.terminate();
    assert!(status.success(), "clean exit; log:\n{}", node.log());
    assert!(t.elapsed() < Duration::from_secs(5), "stopped after {:?}", t.elapsed());
    assert!(node.log().contains("shutdown grace period"), "the idle connection was cut after the grace period");
    drop(c);
}
