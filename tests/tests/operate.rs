//! Operating a node: backup and restore, the Prometheus endpoint, gRPC reflection, JSON logs,
//! the health command containers probe with.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memmesh_client::Client;
use memmesh_tests::auth::*;
use memmesh_tests::proto::{self, Role};
use memmesh_tests::*;
use serde_json::Value;
use tonic::Code;

/// Authentication on, embedding off (these tests write many cubes, not search them).
fn env() -> Vec<(&'static str, &'static str)> {
    vec![("MEMMESH__AUTH__ENABLED", "true"), ("MEMMESH__AUTH__BOOTSTRAP_TOKEN", BOOT), ("MEMMESH__AUTH__CLUSTER_SECRET", "peer-secret-for-tests")]
}

/// Runs the CLI with `--json` as `token`; (success, the JSON value printed).
fn memmesh(addr: &str, token: &str, args: &[&str]) -> (bool, Value) {
    memmesh_json(addr, Some(token), args)
}

async fn get(c: &mut Client, id: &str) -> Result<proto::MemCube, tonic::Status> {
    let r = c.memory.get(proto::GetRequest { id: id.into(), ..Default::default() }).await?;
    Ok(r.into_inner().cube.expect("a get returns its cube"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_concurrent_writes_restores_exactly_the_writes_acknowledged_up_to_its_revision() {
    let dir = tempfile::tempdir().unwrap();
    let env = env();
    let a = NodeProc::start_with_env(&dir.path().join("a"), &env);
    let mut admin = as_token(&a.addr, BOOT).await;
    let (alice, _) = token(&mut admin, "acme", "alice", "", Role::Writer, 0).await;
    let grant = admin
        .admin
        .create_grant(proto::CreateGrantRequest {
            scope: Some(scope3("acme", "alice", "")),
            grantee: Some(proto::Principal { tenant: "acme".into(), user: "bob".into(), ..Default::default() }),
            access: proto::Access::Read as i32,
            ttl_seconds: 0,
        })
        .await
        .unwrap()
        .into_inner();

    // Four writers, each recording what was acknowledged and at which revision.
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Default::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (mut c, acked, stop) = (as_token(&a.addr, &alice).await, acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = try_put(&mut c, text_cube(scope3("acme", "alice", ""), &format!("w{w} n{i}")), "").await.expect("put");
                acked.lock().unwrap().push((r.cube.unwrap().id, r.revision));
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let file = dir.path().join("cluster.backup");
    let (addr, path) = (a.addr.clone(), file.to_str().unwrap().to_string());
    let (ok, out) = tokio::task::spawn_blocking(move || memmesh(&addr, BOOT, &["backup", "--out", &path])).await.unwrap();
    assert!(ok, "backup failed: {out}");
    let revision = out["revision"].as_u64().unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().len(), out["bytes"].as_u64().unwrap());
    // Writes go on after the backup: those must not be in it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let (before, after): (Vec<_>, Vec<_>) = acked.iter().partition(|(_, rev)| *rev <= revision);
    assert!(before.len() >= 20 && after.len() >= 5, "the writers did not straddle the backup: {} before, {} after", before.len(), after.len());

    // A new cluster from the backup: a new node id, every acknowledged write up to the
    // revision, nothing after it.
    let b = NodeProc::start_args(&dir.path().join("b"), "127.0.0.1:0", &["--restore", file.to_str().unwrap()], &env);
    assert_ne!(b.node_id, a.node_id, "a restored node gets a new id");
    let mut c = as_token(&b.addr, &alice).await;
    for (id, rev) in &before {
        let cube = get(&mut c, id).await.unwrap_or_else(|s| panic!("{id} (revision {rev} <= {revision}) lost: {s}"));
        assert_eq!(cube.revision, *rev);
    }
    for (id, rev) in &after {
        let s = get(&mut c, id).await.expect_err("a write after the backup's revision was restored");
        assert_eq!(s.code(), Code::NotFound, "{id} (revision {rev} > {revision})");
    }
    // Grants, token hashes (alice's token above) and the audit log came back too.
    let mut admin_b = as_token(&b.addr, BOOT).await;
    let grants = admin_b.admin.list_grants(proto::ListGrantsRequest { tenant: "acme".into() }).await.unwrap().into_inner();
    assert!(grants.grants.iter().any(|g| g.id == grant.id), "grant lost: {grants:?}");
    let audit = admin_b.admin.list_audit(proto::ListAuditRequest { tenant: "acme".into(), ..Default::default() }).await.unwrap().into_inner();
    let audit_a = admin.admin.list_audit(proto::ListAuditRequest { tenant: "acme".into(), ..Default::default() }).await.unwrap().into_inner();
    assert!(!audit.entries.is_empty());
    assert_eq!(audit.entries.first(), audit_a.entries.first(), "the audit log starts where the old one did");
    // The new cluster's revisions continue after the backup's, and it takes new members, who
    // receive the restored state.
    let w = try_put(&mut c, text_cube(scope3("acme", "alice", ""), "after the restore"), "").await.unwrap();
    assert!(w.revision > revision, "revision {} after a restore of {revision}", w.revision);
    let joiner = NodeProc::start_args(&dir.path().join("b2"), "127.0.0.1:0", &["--join", &b.addr], &env);
    let mut j = as_token(&joiner.addr, &alice).await;
    let last = &before.last().unwrap().0;
    let mut found = Err(tonic::Status::unknown("not tried"));
    for _ in 0..100 {
        found = get(&mut j, last).await;
        if found.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found.is_ok(), "the joining member never served the restored state ({found:?}); log:\n{}", joiner.log());
    assert_eq!(get(&mut j, &w.cube.unwrap().id).await.unwrap().revision, w.revision);
}

#[tokio::test]
async fn restore_refuses_a_used_data_directory_and_a_damaged_file_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let env = env();
    let mut a = NodeProc::start_with_env(&dir.path().join("a"), &env);
    let mut admin = as_token(&a.addr, BOOT).await;
    let cube = put_text(&mut admin, scope("acme", "alice"), "kept").await;
    let file = dir.path().join("b.backup");
    let (ok, out) = memmesh(&a.addr, BOOT, &["backup", "--out", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    a.terminate();

    let restore = |data: &std::path::Path, file: &std::path::Path| {
        let out = Command::new(bin("memmesh-node"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--restore")
            .arg(file)
            .env("MEMMESH__EMBEDDING__ENABLED", "false")
            .output()
            .unwrap();
        assert!(!out.status.success(), "restore should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Over an existing node's data: refused, the node untouched.
    let err = restore(&dir.path().join("a"), &file);
    assert!(err.contains("already belongs to node"), "{err}");
    // A damaged file: refused by its checksum, and the new directory left empty.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = dir.path().join("bad.backup");
    std::fs::write(&bad, &bytes).unwrap();
    let fresh = dir.path().join("fresh");
    let err = restore(&fresh, &bad);
    assert!(err.contains("checksum mismatch"), "{err}");
    assert_eq!(std::fs::read_dir(&fresh).unwrap().count(), 0, "a failed restore left files behind");
    // The same directory then takes the good file.
    let b = NodeProc::start_args(&fresh, "127.0.0.1:0", &["--restore", file.to_str().unwrap()], &env);
    let mut c = as_token(&b.addr, BOOT).await;
    assert_eq!(text_of(&get(&mut c, &cube.id).await.unwrap()), "kept");
    // The original node still starts on its data.
    let a2 = NodeProc::start_with_env(&dir.path().join("a"), &env);
    assert_eq!(a2.node_id, a.node_id);
}

#[tokio::test]
async fn backup_is_for_the_cluster_admin_only() {
    let dir = tempfile::tempdir().unwrap();
    let a = NodeProc::start_with_env(&dir.path().join("a"), &env());
    let mut admin = as_token(&a.addr, BOOT).await;
    let (tenant_admin, _) = token(&mut admin, "acme", "", "", Role::Admin, 0).await;
    let file = dir.path().join("x.backup");
    let (ok, out) = memmesh(&a.addr, &tenant_admin, &["backup", "--out", file.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(out["error"]["code"], "PERMISSION_DENIED", "{out}");
    assert!(!file.exists() && !dir.path().join("x.backup.part").exists(), "a refused backup left a file");
}

/// `GET /metrics` over a plain TCP connection: the body.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// The value of the series whose line starts with `series` (name plus labels), summed over
/// matching lines.
fn value(body: &str, series: &str) -> Option<f64> {
    let vals: Vec<f64> = body
        .lines()
        .filter(|l| l.starts_with(series) && l[series.len()..].starts_with([' ', '{', ',', '}']))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_the_named_series_and_they_move() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_addr();
    let mut env = auth_env();
    env.push(("MEMMESH__QUOTAS__TENANTS__TINY__MAX_CUBES", "1"));
    // One log line per call, in the call's span.
    env.push(("MEMMESH__LOG__FILTER", "info,memmesh_node::telemetry=debug"));
    let a = NodeProc::start_args(&dir.path().join("a"), "127.0.0.1:0", &["--metrics-listen", &metrics, "--log-format", "json"], &env);
    let mut admin = as_token(&a.addr, BOOT).await;
    put_text(&mut admin, scope("acme", "alice"), "first").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = scrape(&metrics);

    for i in 0..5 {
        put_text(&mut admin, scope("acme", "alice"), &format!("note {i} about the garden")).await;
    }
    let search = proto::SearchRequest { scopes: vec![scope("acme", "alice")], query: "garden".into(), k: 3, ..Default::default() };
    admin.memory.search(search).await.unwrap();
    // A quota rejection and a refused (unauthenticated) request.
    put_text(&mut admin, scope("tiny", "u"), "one").await;
    let over = try_put(&mut admin, text_cube(scope("tiny", "u"), "two"), "").await;
    assert_eq!(code(over), Some(Code::ResourceExhausted));
    let mut stranger = as_token(&a.addr, "not-a-token").await;
    assert_eq!(code(stranger.memory.get(proto::GetRequest { id: "x".into(), ..Default::default() }).await), Some(Code::Unauthenticated));
    // A write with a request id, sent with a call id: both end up in its span.
    let mut call = tonic::Request::new(proto::PutRequest {
        cube: Some(text_cube(scope("acme", "alice"), "traced")),
        request_id: "trace-me-1".into(),
        ..Default::default()
    });
    call.metadata_mut().insert("x-request-id", "call-42".parse().unwrap());
    admin.memory.put(call).await.unwrap();
    // An open subscription.
    let sub = proto::SubscribeRequest { scope: Some(scope("acme", "alice")), ..Default::default() };
    let _stream = admin.memstore.subscribe(sub).await.unwrap().into_inner();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = scrape(&metrics);

    let moved = |series: &str| {
        let (b, a) = (value(&before, series).unwrap_or(0.0), value(&after, series));
        assert!(a.is_some(), "{series} missing:\n{after}");
        assert!(a.unwrap() > b, "{series} did not move: {b} -> {a:?}");
    };
    moved("memmesh_grpc_request_duration_seconds_count{method=\"/memmesh.v1.Memory/Put\",code=\"Ok\"");
    moved("memmesh_grpc_request_duration_seconds_count{method=\"/memmesh.v1.Memory/Search\"");
    moved("memmesh_grpc_request_duration_seconds_count{method=\"/memmesh.v1.Memory/Put\",code=\"ResourceExhausted\"");
    moved("memmesh_group_commit_batch_requests_count");
    moved("memmesh_embed_inference_seconds_count");
    moved("memmesh_raft_applied_index");
    moved("memmesh_raft_commit_index");
    moved("memmesh_raft_last_log_index");
    moved("memmesh_index_documents");
    moved("memmesh_quota_rejections_total");
    moved("memmesh_audit_denials_total");
    moved("memmesh_feed_subscribers");
    moved("memmesh_feed_subscriber_lag_revisions_count");
    for present in
        ["memmesh_raft_term", "memmesh_raft_is_leader", "memmesh_raft_member_lag_entries", "memmesh_state_db_bytes", "memmesh_embed_queue_jobs"]
    {
        assert!(value(&after, present).is_some(), "{present} missing:\n{after}");
    }
    assert_eq!(value(&after, "memmesh_raft_is_leader"), Some(1.0));

    // --log-format json: every line of the log is a JSON object with a level and a message,
    // and the traced write's line carries its span: method, call id, request id, tenant.
    let log = a.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|v| v["level"].is_string() && v["fields"]["message"].is_string()));
    let traced = lines.iter().find(|v| v["span"]["call"] == "call-42").unwrap_or_else(|| panic!("no line of call-42 in:\n{log}"));
    assert_eq!(traced["span"]["request_id"], "trace-me-1", "{traced}");
    assert_eq!(traced["span"]["tenant"], "acme", "{traced}");
    assert_eq!(traced["span"]["method"], "/memmesh.v1.Memory/Put", "{traced}");
    assert_eq!(traced["fields"]["message"], "call ended", "{traced}");
    let ok = lines.iter().filter(|v| v["fields"]["message"] == "call ended" && v["span"]["method"] == "/memmesh.v1.Memory/Put");
    assert!(ok.count() >= 6, "one line per call");
}

#[tokio::test]
async fn reflection_lists_the_services_and_health_answers_serving() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let dir = tempfile::tempdir().unwrap();
    let a = NodeProc::start(&dir.path().join("a"));
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", a.addr)).unwrap().connect().await.unwrap();
    let req = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut answers = ServerReflectionClient::new(ch).server_reflection_info(tokio_stream::iter([req])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = answers.message().await.unwrap().unwrap().message_response else {
        panic!("not a list of services")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in ["memmesh.v1.Memory", "memmesh.v1.MemStore", "memmesh.v1.Admin", "memmesh.v1.Cluster", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|n| n == s), "{s} not listed: {names:?}");
    }

    let ok = Command::new(bin("memmesh")).args(["--addr", &a.addr, "health"]).output().unwrap();
    assert!(ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("SERVING"));
    drop(a);
    let down = Command::new(bin("memmesh")).args(["--addr", "127.0.0.1:1", "health"]).output().unwrap();
    assert!(!down.status.success(), "health of a node that is not there must fail");
}
