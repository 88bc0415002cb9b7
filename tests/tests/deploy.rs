//! The container image and the compose cluster, run for real under Docker (the README's test
//! command installs and starts it with scripts/setup-deploy.sh and builds the image with
//! scripts/build-image.sh). Traffic goes only to loopback (published ports) and to containers
//! on the networks these tests create.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use memmesh_client::Client;
use memmesh_tests::proto;
use memmesh_tests::*;

const DOCKER: &str = "/usr/bin/docker";
const TOKEN: &str = "deploy-test-bootstrap-token";
const IMAGE: &str = "memmesh:test";

/// One Docker test at a time: each starts nodes that load the model, on two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker(args: &[&str]) -> String {
    run(Command::new(DOCKER).args(args))
}

/// Builds the image once per test run (from the binaries the tests run).
fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let ok = Command::new(DOCKER).arg("info").output().is_ok_and(|o| o.status.success());
        assert!(ok, "no Docker daemon: run scripts/setup-deploy.sh (the README's test command does)");
        // The binaries these tests run (target/<profile>/), not a new build.
        let target = bin("memmesh-node").parent().and_then(|p| p.parent()).expect("target dir").to_path_buf();
        run(Command::new(repo_root().join("scripts/build-image.sh")).arg(IMAGE).env("MEMMESH_SKIP_BUILD", "1").env("CARGO_TARGET_DIR", target));
    });
    IMAGE
}

/// A unique suffix for the names of this test's containers, volumes and networks.
fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// The loopback address Docker published `port` of `container` on.
fn published(container: &str, port: &str) -> String {
    let out = docker(&["port", container, port]);
    let line = out.lines().find(|l| l.starts_with("127.0.0.1:")).unwrap_or_else(|| panic!("{port} of {container} not published: {out}"));
    line.to_string()
}

fn wait_healthy(container: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        let state = docker(&["inspect", "-f", "{{.State.Health.Status}}", container]);
        if state == "healthy" {
            return;
        }
        assert!(start.elapsed() < timeout, "{container} not healthy after {timeout:?} ({state}); logs:\n{}", logs(container));
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn logs(container: &str) -> String {
    let out = Command::new(DOCKER).args(["logs", "--tail", "40", container]).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

async fn connect(addr: &str) -> Client {
    let start = Instant::now();
    loop {
        match Client::connect_with_token(addr, Some(TOKEN)).await {
            Ok(c) => return c,
            Err(e) if start.elapsed() > Duration::from_secs(30) => panic!("cannot connect to {addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Writes with retries under the same request id until acknowledged (a write that timed out
/// across a leader change may have committed: the id makes the retry return it, not write it
/// twice); returns (id, revision).
async fn put_acked(c: &mut Client, text: &str, request_id: &str) -> (String, u64) {
    let start = Instant::now();
    loop {
        match try_put(c, text_cube(scope("acme", "alice"), text), request_id).await {
            Ok(w) => return (w.cube.unwrap().id, w.revision),
            Err(s) if start.elapsed() < Duration::from_secs(30) && matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(s) => panic!("write {request_id} failed: {s}"),
        }
    }
}

/// Reads a cube, retrying while the cluster has no leader that can confirm itself (right after
/// a leader's death, until an election settles).
async fn get(c: &mut Client, id: &str, consistency: proto::ReadConsistency) -> Result<proto::MemCube, tonic::Status> {
    let read = Some(proto::ReadOptions { consistency: consistency as i32, min_revision: 0 });
    let start = Instant::now();
    loop {
        match c.memory.get(proto::GetRequest { id: id.into(), read, ..Default::default() }).await {
            Ok(r) => return Ok(r.into_inner().cube.unwrap()),
            Err(s) if s.code() == tonic::Code::Unavailable && start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(s) => return Err(s),
        }
    }
}

/// Removes what a test created, also when it fails: commands run in reverse order.
struct Cleanup(Vec<Command>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for cmd in self.0.iter_mut().rev() {
            let _ = cmd.output();
        }
    }
}

fn command(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_container_runs_as_non_root_and_a_docker_kill_loses_nothing_acknowledged() {
    let _serial = SERIAL.lock().await;
    let image = image();
    let name = format!("memmesh-test-{}", unique());
    let volume = format!("{name}-data");
    let _cleanup = Cleanup(vec![command(DOCKER, &["volume", "rm", "-f", &volume]), command(DOCKER, &["rm", "-f", &name])]);
    let token_env = format!("MEMMESH__AUTH__BOOTSTRAP_TOKEN={TOKEN}");
    let data = format!("{volume}:/data");
    docker(&["run", "-d", "--name", &name, "-p", "127.0.0.1::7070", "-v", &data, "-e", &token_env, image]);
    wait_healthy(&name, Duration::from_secs(90));
    assert_eq!(docker(&["exec", &name, "id", "-u"]), "10001", "the node runs as the image's own user");

    // The CLI from the host, through the published port.
    let addr = published(&name, "7070/tcp");
    let cli = |args: &[&str]| run(Command::new(bin("memmesh")).args(["--addr", &addr, "--token", TOKEN]).args(args));
    let id = cli(&["put", "--tenant", "acme", "--user", "alice", "--text", "stored in a container"]);
    let id = id.split_whitespace().next().unwrap().to_string();
    assert!(cli(&["get", &id]).contains("stored in a container"));
    let hits = cli(&["search", "--tenant", "acme", "--user", "alice", "--query", "container"]);
    assert!(hits.contains(&id), "the image's model and runtime answer a search: {hits}");

    // Writers while the container is killed: every acknowledged write survives.
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Default::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (addr, acked) = (addr.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let mut c = connect(&addr).await;
            for i in 0.. {
                match try_put(&mut c, text_cube(scope("acme", "alice"), &format!("w{w} n{i}")), "").await {
                    Ok(r) => acked.lock().unwrap().push((r.cube.unwrap().id, r.revision)),
                    Err(_) => return, // the kill
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    docker(&["kill", &name]);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20, "only {} writes before the kill", acked.len());
    docker(&["start", &name]);
    wait_healthy(&name, Duration::from_secs(90));
    let mut c = connect(&published(&name, "7070/tcp")).await;
    for (id, rev) in &acked {
        let cube = get(&mut c, id, proto::ReadConsistency::Linearizable).await.unwrap_or_else(|s| panic!("acknowledged {id} lost: {s}"));
        assert_eq!(cube.revision, *rev);
    }
}

/// A compose project of deploy/compose.yaml with this test's names and ports.
struct Compose {
    project: String,
    env: Vec<(String, String)>,
}

impl Compose {
    fn command(&self, args: &[&str]) -> Command {
        let file = repo_root().join("deploy/compose.yaml");
        let mut c = Command::new("docker-compose");
        c.arg("-p").arg(&self.project).arg("-f").arg(file).args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn cmd(&self, args: &[&str]) -> String {
        run(&mut self.command(args))
    }

    fn container(&self, service: &str) -> String {
        self.cmd(&["ps", "-q", service])
    }

    fn addr(&self, service: &str) -> String {
        let port = &self.env.iter().find(|(k, _)| *k == format!("MEMMESH_PORT_{}", &service[4..])).unwrap().1;
        format!("127.0.0.1:{port}")
    }
}

async fn status(addr: &str) -> Option<proto::StatusResponse> {
    let mut c = Client::connect_with_token(addr, Some(TOKEN)).await.ok()?;
    Some(c.cluster.status(proto::StatusRequest {}).await.ok()?.into_inner())
}

/// Waits until `addr` has applied at least `revision`.
async fn caught_up(addr: &str, revision: u64) {
    let start = Instant::now();
    while status(addr).await.is_none_or(|s| s.applied_index < revision) {
        assert!(start.elapsed() < Duration::from_secs(60), "{addr} did not catch up to {revision}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compose_cluster_survives_a_leader_kill_and_a_partition() {
    let _serial = SERIAL.lock().await;
    let image = image();
    let project = format!("memmeshtest{}", unique().replace('-', ""));
    let mut env = vec![
        ("MEMMESH_IMAGE".to_string(), image.to_string()),
        ("MEMMESH_BOOTSTRAP_TOKEN".to_string(), TOKEN.to_string()),
        ("MEMMESH_CLUSTER_SECRET".to_string(), "deploy-test-cluster-secret".to_string()),
        // Three nodes on two cores: one worker each.
        ("MEMMESH_WORKER_THREADS".to_string(), "1".to_string()),
    ];
    for i in 1..=3 {
        for kind in ["PORT", "METRICS_PORT"] {
            let port = free_addr().rsplit(':').next().unwrap().to_string();
            env.push((format!("MEMMESH_{kind}_{i}"), port));
        }
    }
    let compose = Compose { project: project.clone(), env };
    let _cleanup = Cleanup(vec![compose.command(&["down", "-v", "-t", "1"])]);
    let started = Instant::now();
    compose.cmd(&["up", "-d"]);
    let nodes = ["node1", "node2", "node3"];
    for n in nodes {
        wait_healthy(&compose.container(n), Duration::from_secs(120));
    }
    // Healthy is serving; the cluster is formed once node1 lists three voters.
    let addrs: BTreeMap<&str, String> = nodes.iter().map(|n| (*n, compose.addr(n))).collect();
    loop {
        let voters = status(&addrs["node1"]).await.map_or(0, |s| s.members.iter().filter(|m| m.role == "voter").count());
        if voters == 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no 3-voter cluster");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("compose: 3-node cluster healthy {:.1} s after `up`", started.elapsed().as_secs_f64());

    // A write through each node.
    let mut acked = Vec::new();
    for n in nodes {
        let mut c = connect(&addrs[n]).await;
        acked.push(put_acked(&mut c, &format!("through {n}"), &format!("via-{n}")).await);
    }

    // Kill the leader's container while a writer (through a follower) runs.
    let leader_addr = status(&addrs["node1"]).await.unwrap().leader_addr;
    let leader = *nodes.iter().find(|n| leader_addr.starts_with(*n)).unwrap_or_else(|| panic!("leader {leader_addr}"));
    let writer_node = *nodes.iter().find(|n| **n != leader).unwrap();
    let survivors: Vec<&str> = nodes.iter().copied().filter(|n| *n != leader).collect();
    let writes: Arc<Mutex<Vec<(String, u64)>>> = Default::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (addr, writes, stop) = (addrs[writer_node].clone(), writes.clone(), stop.clone());
        tokio::spawn(async move {
            let mut c = connect(&addr).await;
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let w = put_acked(&mut c, &format!("during the kill {i}"), &format!("kill-{i}")).await;
                writes.lock().unwrap().push(w);
                i += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let killed = compose.container(leader);
    docker(&["kill", &killed]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    acked.extend(writes.lock().unwrap().iter().cloned());
    let top = acked.iter().map(|(_, r)| *r).max().unwrap();
    for n in &survivors {
        let mut c = connect(&addrs[n]).await;
        for (id, rev) in &acked {
            let cube = get(&mut c, id, proto::ReadConsistency::Linearizable).await.unwrap_or_else(|s| panic!("{id} not on {n}: {s}"));
            assert_eq!(cube.revision, *rev);
        }
    }
    // The killed node comes back on its volume and catches up.
    docker(&["start", &killed]);
    wait_healthy(&killed, Duration::from_secs(120));
    caught_up(&addrs[leader], top).await;
    let mut c = connect(&addrs[leader]).await;
    for (id, _) in &acked {
        get(&mut c, id, proto::ReadConsistency::Serializable).await.unwrap_or_else(|s| panic!("{id} not on the restarted {leader}: {s}"));
    }

    // A partition: one node off the network; the majority keeps taking writes; back on, it
    // catches up.
    let network = format!("{project}_default");
    let cut = compose.container(survivors[0]);
    docker(&["network", "disconnect", &network, &cut]);
    let majority = [leader, survivors[1]];
    let mut c = connect(&addrs[majority[0]]).await;
    let (id, rev) = put_acked(&mut c, "while partitioned", "partitioned-1").await;
    docker(&["network", "connect", "--alias", survivors[0], &network, &cut]);
    caught_up(&addrs[survivors[0]], rev).await;
    let mut c = connect(&addrs[survivors[0]]).await;
    assert_eq!(get(&mut c, &id, proto::ReadConsistency::Linearizable).await.unwrap().revision, rev);
}
