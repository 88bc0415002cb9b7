//! The in-process cluster harness of the node's fault tests: three `Node`s in one test
//! process, each with its own data directory and a fault-injecting transport (`Core::faults`)
//! and log (`Core::durable`). Shared by `faults.rs` and `slow_fsync.rs`; each uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use memmesh_node::config::Config;
use memmesh_node::engine::Core;
use memmesh_node::node::Node;
use memmesh_proto::memory_client::MemoryClient;
use memmesh_proto::*;
use openraft::ServerState;
use tokio::sync::oneshot;

pub struct Running {
    pub core: Arc<Core>,
    pub addr: String,
    _stop: oneshot::Sender<()>,
}

pub struct InProc {
    pub nodes: Vec<Running>,
    _dir: tempfile::TempDir,
}

pub async fn start_node(dir: &std::path::Path, join: Option<String>) -> Running {
    let mut cfg = Config::default();
    cfg.embedding.enabled = false;
    cfg.node.data_dir = dir.to_path_buf();
    cfg.node.listen = "127.0.0.1:0".parse().unwrap();
    cfg.node.join = join;
    cfg.node.shutdown_grace_ms = 100;
    cfg.raft.request_timeout_ms = 1500;
    let node = Node::start(&cfg).await.expect("start node");
    let (core, addr) = (node.core.clone(), node.local_addr.to_string());
    let (stop, rx) = oneshot::channel::<()>();
    tokio::spawn(node.serve(async {
        let _ = rx.await;
    }));
    Running { core, addr, _stop: stop }
}

impl InProc {
    pub async fn start(n: usize) -> InProc {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = vec![start_node(&dir.path().join("n0"), None).await];
        for i in 1..n {
            let seed = nodes[0].addr.clone();
            nodes.push(start_node(&dir.path().join(format!("n{i}")), Some(seed)).await);
        }
        let c = InProc { nodes, _dir: dir };
        c.wait(|c| c.leader().is_some_and(|l| c.voters(l) == n && c.applied_everywhere()), "all nodes voting").await;
        c
    }

    pub fn leader(&self) -> Option<usize> {
        let leaders: Vec<usize> =
            (0..self.nodes.len()).filter(|i| self.nodes[*i].core.raft.metrics().borrow().state == ServerState::Leader).collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    pub fn term(&self, i: usize) -> u64 {
        self.nodes[i].core.raft.metrics().borrow().current_term
    }

    pub fn voters(&self, i: usize) -> usize {
        self.nodes[i].core.raft.metrics().borrow().membership_config.membership().voter_ids().count()
    }

    pub fn applied(&self, i: usize) -> u64 {
        self.nodes[i].core.reader.applied_revision()
    }

    pub fn applied_everywhere(&self) -> bool {
        let max = (0..self.nodes.len()).map(|i| self.applied(i)).max().unwrap_or(0);
        (0..self.nodes.len()).all(|i| self.applied(i) == max)
    }

    pub async fn wait(&self, cond: impl Fn(&InProc) -> bool, what: &str) {
        for _ in 0..400 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    /// Cuts node `i` off from every other node, both directions.
    pub fn isolate(&self, i: usize, cut: bool) {
        for j in 0..self.nodes.len() {
            if j != i {
                self.nodes[i].core.faults.block(self.nodes[j].core.id, cut);
                self.nodes[j].core.faults.block(self.nodes[i].core.id, cut);
            }
        }
    }

    pub fn heal(&self) {
        for n in &self.nodes {
            n.core.faults.heal();
        }
    }

    pub async fn client(&self, i: usize) -> MemoryClient<tonic::transport::Channel> {
        MemoryClient::connect(format!("http://{}", self.nodes[i].addr)).await.unwrap()
    }
}

pub fn put_req(text: &str, rid: &str) -> PutRequest {
    PutRequest {
        cube: Some(CubeInput {
            scope: Some(Scope { tenant: "acme".into(), user: "f".into(), ..Default::default() }),
            content: Some(Content { text: text.into(), ..Default::default() }),
            ..Default::default()
        }),
        request_id: rid.into(),
        ..Default::default()
    }
}

/// Tries the nodes in `order` in turn with the same request until one acknowledges it.
pub async fn put_any(c: &InProc, order: &[usize], req: PutRequest, deadline: Duration) -> Option<WriteResponse> {
    let t = Instant::now();
    let mut k = 0;
    while t.elapsed() < deadline {
        let mut m = c.client(order[k % order.len()]).await;
        if let Ok(r) = m.put(req.clone()).await {
            return Some(r.into_inner());
        }
        k += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
