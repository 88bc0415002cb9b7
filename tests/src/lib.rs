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
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.with_extension("log");
        let logf = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut cmd = Command::new(bin("memmesh-node"));
        cmd.arg("--data-dir").arg(data_dir).arg("--listen").arg(listen);
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
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
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
    proto::CubeInput {
        scope: Some(scope),
        content: Some(proto::Content { text: text.into(), ..Default::default() }),
        ..Default::default()
    }
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
