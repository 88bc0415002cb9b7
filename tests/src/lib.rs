//! Harness for integration tests that run real `memmesh-node` processes.
//!
//! The binaries are taken from the cargo target directory this test binary was built into, so
//! build them first: `cargo build --workspace --bins` (the README's test command does).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use memmesh_client::proto;

pub mod auth;
pub mod bench;
pub mod linearizability;
pub mod locomo;
pub mod locomo_adapter;
pub mod netns;

/// The etcd v3 API subset (KV.Put, Maintenance.Status) the cluster benchmark uses as baseline.
#[allow(clippy::all, missing_docs)]
pub mod etcdpb {
    tonic::include_proto!("etcdserverpb");
}
use memmesh_client::Client;

/// Path of a workspace binary in the target directory of the running executable
/// (`target/<profile>/NAME`; test executables live one level deeper, in `deps/`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("executable has a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    let p = dir.join(name);
    assert!(p.exists(), "{} not found: run `cargo build --workspace --bins` first (scripts/test.sh does)", p.display());
    p
}

/// Runs the `memmesh` CLI against `addr` with `--json` (and `--token` if given): whether it
/// succeeded, and the JSON value it printed on stdout (panics, showing both streams, if stdout
/// is not one JSON value).
pub fn memmesh_json(addr: &str, token: Option<&str>, args: &[&str]) -> (bool, serde_json::Value) {
    let mut cmd = std::process::Command::new(bin("memmesh"));
    cmd.args(["--addr", addr]);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let out = cmd.arg("--json").args(args).output().expect("run memmesh");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} (stderr {})", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), v)
}

/// Environment that makes a node run its embedding model (pass to `start_with_env` & co.).
pub const EMBEDDING_ON: &[(&str, &str)] = &[("MEMMESH__EMBEDDING__ENABLED", "true")];

/// The repository's root directory. Read when the test runs (cargo sets `CARGO_MANIFEST_DIR`
/// for it), not baked in at compile time: two checkouts sharing one target directory can reuse
/// each other's test binaries, and a baked-in path would send one to the other's files.
pub fn repo_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let dir = dir.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.parent().expect("tests/ is inside the repository").to_path_buf()
}

/// A running `memmesh-node`. Killed (SIGKILL) when dropped.
pub struct NodeProc {
    child: Option<Child>,
    pub addr: String,
    pub node_id: u64,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl NodeProc {
    /// Starts a node on an ephemeral loopback port with `data_dir`, waiting until it serves.
    pub fn start(data_dir: &Path) -> NodeProc {
        Self::start_with_env(data_dir, &[])
    }

    pub fn start_with_env(data_dir: &Path, env: &[(&str, &str)]) -> NodeProc {
        Self::start_on(data_dir, "127.0.0.1:0", env)
    }

    /// Starts a node listening on `listen` (e.g. a fixed port, so a restart keeps the address).
    pub fn start_on(data_dir: &Path, listen: &str, env: &[(&str, &str)]) -> NodeProc {
        Self::start_args(data_dir, listen, &[], env)
    }

    /// Starts a node with extra command-line arguments (e.g. `--join ADDR`).
    pub fn start_args(data_dir: &Path, listen: &str, args: &[&str], env: &[(&str, &str)]) -> NodeProc {
        Self::start_wrapped(&[], data_dir, listen, args, env)
    }

    /// As [`NodeProc::start_args`], the node started through `wrapper` (e.g. `ip netns exec NS`).
    pub fn start_wrapped(wrapper: &[&str], data_dir: &Path, listen: &str, args: &[&str], env: &[(&str, &str)]) -> NodeProc {
        Self::start_within(Duration::from_secs(60), wrapper, data_dir, listen, args, env)
    }

    /// As [`NodeProc::start_wrapped`], waiting up to `ready` for the node to serve (a restart
    /// over a million cubes rebuilds its search index for longer than the usual minute).
    pub fn start_within(ready: Duration, wrapper: &[&str], data_dir: &Path, listen: &str, args: &[&str], env: &[(&str, &str)]) -> NodeProc {
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.with_extension("log");
        let logf = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin("memmesh-node"));
                c
            }
            None => Command::new(bin("memmesh-node")),
        };
        cmd.arg("--data-dir").arg(data_dir).arg("--listen").arg(listen).args(args);
        // The model lives in the repository's .local/ (scripts/setup-models.sh). Embedding is off
        // unless a test turns it on (`EMBEDDING_ON`): most tests write many cubes and measure
        // replication, not inference.
        let root = repo_root();
        cmd.env("MEMMESH__EMBEDDING__ENABLED", "false")
            .env("MEMMESH__EMBEDDING__MODEL_DIR", root.join(".local/models/all-minilm-l6-v2"))
            .env("MEMMESH__EMBEDDING__ORT_DYLIB", root.join(".local/lib/libonnxruntime.so"));
        cmd.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(logf).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn memmesh-node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            for _ in lines {} // keep draining so the node never blocks on stdout
        });
        let line = match rx.recv_timeout(ready) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("node did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        };
        // "memmesh-node <id> listening on <addr>"
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.get(2..4), Some(&["listening", "on"][..]), "unexpected ready line {line:?}");
        NodeProc {
            child: Some(child),
            addr: parts[4].to_string(),
            node_id: parts[1].parse().expect("node id"),
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.addr).await.expect("connect")
    }

    /// The process id (for SIGSTOP/SIGCONT isolation).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node running").id()
    }

    /// SIGKILL: no shutdown path runs, as in a crash or power loss of the process.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("node running");
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A node that owns its data directory: started in a fresh temporary directory, which is removed
/// when the node is dropped (after the process is killed). Derefs to its [`NodeProc`].
pub struct TestNode {
    node: NodeProc,
    // Dropped after `node`: the process is gone before its files are.
    _dir: tempfile::TempDir,
}

impl TestNode {
    /// A single node with the harness defaults (embedding off, loopback, no auth).
    pub fn start() -> TestNode {
        Self::start_with_env(&[])
    }

    /// A single node with extra `MEMMESH__…` settings.
    pub fn start_with_env(env: &[(&str, &str)]) -> TestNode {
        let dir = tempfile::tempdir().expect("temporary directory");
        let node = NodeProc::start_with_env(&dir.path().join("n1"), env);
        TestNode { node, _dir: dir }
    }
}

impl std::ops::Deref for TestNode {
    type Target = NodeProc;
    fn deref(&self) -> &NodeProc {
        &self.node
    }
}

impl std::ops::DerefMut for TestNode {
    fn deref_mut(&mut self) -> &mut NodeProc {
        &mut self.node
    }
}

/// Puts one cube with `request_id` ("" = none): the node's answer, or its refusal.
pub async fn try_put(c: &mut Client, cube: proto::CubeInput, request_id: &str) -> Result<proto::WriteResponse, tonic::Status> {
    Ok(c.memory.put(proto::PutRequest { cube: Some(cube), request_id: request_id.into(), ..Default::default() }).await?.into_inner())
}

/// Puts a plaintext cube into `scope` and returns it as stored; panics if the node refuses.
pub async fn put_text(c: &mut Client, scope: proto::Scope, text: &str) -> proto::MemCube {
    try_put(c, text_cube(scope, text), "").await.expect("put").cube.expect("a put returns its cube")
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A scope in `tenant` for `user`.
pub fn scope(tenant: &str, user: &str) -> proto::Scope {
    proto::Scope { tenant: tenant.into(), user: user.into(), ..Default::default() }
}

/// A plaintext cube input.
pub fn text_cube(scope: proto::Scope, text: &str) -> proto::CubeInput {
    proto::CubeInput { scope: Some(scope), content: Some(proto::Content { text: text.into(), ..Default::default() }), ..Default::default() }
}

/// The text of a cube.
pub fn text_of(c: &proto::MemCube) -> &str {
    c.content.as_ref().map_or("", |c| c.text.as_str())
}

/// The node's applied revision.
pub async fn applied(c: &mut Client) -> u64 {
    c.cluster.status(proto::StatusRequest {}).await.unwrap().into_inner().applied_index
}

/// Every cube matching `req`, following page tokens.
pub async fn list_all(c: &mut Client, mut req: proto::ListRequest) -> Vec<proto::MemCube> {
    let mut out = Vec::new();
    loop {
        let r = c.memory.list(req.clone()).await.unwrap().into_inner();
        out.extend(r.cubes);
        if r.next_page_token.is_empty() {
            return out;
        }
        req.page_token = r.next_page_token;
    }
}

/// Several `memmesh-node` processes on loopback forming one cluster: node 0 starts a new
/// cluster, the others `--join` it. Every node keeps its address across restarts.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Option<NodeProc>>,
    pub addrs: Vec<String>,
    ids: Vec<u64>,
    env: Vec<(String, String)>,
    /// How the harness itself connects: with authentication on, the cluster admin (bootstrap)
    /// token; with TLS on, the CA and (for mutual TLS) the nodes' own certificate.
    pub options: memmesh_client::Options,
}

impl TestCluster {
    pub async fn start(n: usize, env: &[(&str, &str)]) -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let tls = get("MEMMESH__TLS__CA").map(|ca| {
            memmesh_client::Options::tls(&ca, get("MEMMESH__TLS__CERT").as_deref(), get("MEMMESH__TLS__KEY").as_deref()).expect("tls files")
        });
        let options = memmesh_client::Options { token: get("MEMMESH__AUTH__BOOTSTRAP_TOKEN"), tls };
        let mut c = TestCluster { dir, nodes: Vec::new(), addrs: Vec::new(), ids: Vec::new(), env, options };
        for _ in 0..n {
            c.add_node(false).await;
        }
        c.wait_voters(n).await;
        c
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// Starts a fresh node (new data dir, so a new node id); it joins through a live node.
    pub async fn add_node(&mut self, learner: bool) -> usize {
        let i = self.nodes.len();
        let addr = free_addr();
        let data = self.dir.path().join(format!("n{i}"));
        let env = self.env();
        let node = match self.live().first() {
            None => NodeProc::start_on(&data, &addr, &env),
            Some(&seed) => {
                let seed = self.addrs[seed].clone();
                let mut args = vec!["--join", seed.as_str()];
                if learner {
                    args.push("--learner");
                }
                NodeProc::start_args(&data, &addr, &args, &env)
            }
        };
        self.ids.push(node.node_id);
        self.nodes.push(Some(node));
        self.addrs.push(addr);
        i
    }

    /// Indices of the running nodes.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].is_some()).collect()
    }

    pub fn node(&self, i: usize) -> &NodeProc {
        self.nodes[i].as_ref().expect("node is running")
    }

    pub async fn client(&self, i: usize) -> Client {
        Client::connect_with(&self.addrs[i], &self.options).await.expect("connect")
    }

    pub async fn status(&self, i: usize) -> Option<proto::StatusResponse> {
        let mut c = Client::connect_with(&self.addrs[i], &self.options).await.ok()?;
        c.cluster.status(proto::StatusRequest {}).await.ok().map(|r| r.into_inner())
    }

    /// The index of the node that is leader, once the running nodes agree on one.
    pub async fn leader(&self) -> usize {
        for _ in 0..300 {
            for i in self.live() {
                if let Some(s) = self.status(i).await {
                    if s.role == "leader" {
                        return i;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no leader among {:?}", self.live());
    }

    /// Waits until the leader reports `n` voters, every member caught up.
    pub async fn wait_voters(&self, n: usize) {
        for _ in 0..600 {
            let l = self.leader().await;
            if let Some(s) = self.status(l).await {
                let voters = s.members.iter().filter(|m| m.role == "voter").count();
                if voters == n && s.members.iter().all(|m| m.lag == 0) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cluster did not reach {n} caught-up voters");
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut n) = self.nodes[i].take() {
            n.kill9();
        }
    }

    /// Restarts a stopped node from its data directory, on its old address.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} is running");
        let env = self.env();
        let node = NodeProc::start_on(&self.dir.path().join(format!("n{i}")), &self.addrs[i].clone(), &env);
        self.nodes[i] = Some(node);
    }

    /// The node id of node `i`.
    pub fn id(&self, i: usize) -> u64 {
        self.ids[i]
    }
}
