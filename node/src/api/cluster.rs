//! `memmesh.v1.Cluster`: introspection of this node and its Raft group.

use std::sync::Arc;

use memmesh_proto::cluster_server::Cluster;
use memmesh_proto::{Member, StatusRequest, StatusResponse};
use openraft::ServerState;
use tonic::{Request, Response, Status};

use super::ApiError;
use crate::node::Core;

pub struct ClusterService {
    core: Arc<Core>,
}

impl ClusterService {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

fn role(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn status(&self, _req: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let raft = &self.core.raft;
        let committed = raft
            .with_raft_state(|s| s.committed.map_or(0, |l| l.index))
            .await
            .map_err(|e| ApiError::RaftStopped(e.to_string()))?;
        let m = raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                addr: node.addr.clone(),
                role: if voters.contains(id) { "voter" } else { "learner" }.into(),
            })
            .collect();
        let leader_addr = m
            .current_leader
            .and_then(|l| membership.get_node(&l).map(|n| n.addr.clone()))
            .unwrap_or_default();
        Ok(Response::new(StatusResponse {
            node_id: m.id,
            role: role(m.state).into(),
            term: m.current_term,
            leader_id: m.current_leader.unwrap_or(0),
            leader_addr,
            committed_index: committed,
            applied_index: m.last_applied.map_or(0, |l| l.index),
            last_log_index: m.last_log_index.unwrap_or(0),
            members,
            addr: self.core.addr.clone(),
        }))
    }
}
