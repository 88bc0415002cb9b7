//! `memmesh.v1.Cluster`: introspection and membership of the Raft group.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use memmesh_proto::cluster_client::ClusterClient;
use memmesh_proto::cluster_server::Cluster;
use memmesh_proto::{AddMemberRequest, Member, MemberRequest, MembershipResponse, StatusRequest, StatusResponse};
use openraft::{BasicNode, ChangeMembers, ServerState};
use tonic::{Request, Response, Status};

use super::ApiError;
use crate::engine::Core;
use crate::model::{ApplyError, ValidationError};

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

impl ClusterService {
    async fn status(&self) -> Result<StatusResponse, ApiError> {
        let raft = &self.core.raft;
        let committed = raft.with_raft_state(|s| s.committed.map_or(0, |l| l.index)).await.map_err(|e| ApiError::RaftStopped(e.to_string()))?;
        let m = raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let last_log = m.last_log_index.unwrap_or(0);
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let matched = match &m.replication {
                    Some(_) if *id == m.id => Some(last_log),
                    Some(r) => r.get(id).map(|l| l.map_or(0, |l| l.index)),
                    None => None,
                };
                Member {
                    id: *id,
                    addr: node.addr.clone(),
                    role: if voters.contains(id) { "voter" } else { "learner" }.into(),
                    matched_index: matched.unwrap_or(0),
                    lag: matched.map_or(0, |x| committed.saturating_sub(x)),
                }
            })
            .collect();
        let leader_addr = m.current_leader.and_then(|l| membership.get_node(&l).map(|n| n.addr.clone())).unwrap_or_default();
        Ok(StatusResponse {
            node_id: m.id,
            role: role(m.state).into(),
            term: m.current_term,
            leader_id: m.current_leader.unwrap_or(0),
            leader_addr,
            committed_index: committed,
            applied_index: m.last_applied.map_or(0, |l| l.index),
            last_log_index: last_log,
            members,
            addr: self.core.addr.clone(),
        })
    }

    /// Membership changes go to the leader; elsewhere: UNAVAILABLE with its address.
    fn require_leader(&self) -> Result<(), ApiError> {
        match self.core.leader() {
            Some(l) if l == self.core.id => Ok(()),
            l => Err(ApiError::NotLeader { leader_id: l, leader_addr: l.and_then(|l| self.core.member_addr(l)) }),
        }
    }

    async fn change(&self, changes: ChangeMembers<u64, BasicNode>) -> Result<MembershipResponse, ApiError> {
        let r = self.core.raft.change_membership(changes, false).await?;
        Ok(MembershipResponse { revision: r.log_id.index, members: self.status().await?.members })
    }

    fn not_caught_up(&self, id: u64) -> ApiError {
        let addr = self.core.member_addr(id).unwrap_or_default();
        ApiError::Unavailable(format!(
            "node {id} is a learner that has not caught up within {:.1} s (is {addr} reachable?); repeat AddMember or PromoteMember once it has",
            self.core.catch_up_timeout.as_secs_f64()
        ))
    }

    /// Waits until learner `id` has replicated up to `index`.
    ///
    /// Why not trust openraft's "blocking" add_learner: it counts a learner within
    /// `replication_lag_threshold` (5,000) entries as caught up — even one never reached. Making
    /// such a node a voter would silently cost the cluster one failure of tolerance.
    async fn wait_caught_up(&self, id: u64, index: u64) -> Result<(), ApiError> {
        self.core
            .raft
            .wait(Some(self.core.catch_up_timeout))
            .metrics(
                move |m| m.replication.as_ref().and_then(|r| r.get(&id).copied().flatten()).is_some_and(|l| l.index >= index),
                "learner caught up",
            )
            .await
            .map(|_| ())
            .map_err(|_| self.not_caught_up(id))
    }

    fn require_member(&self, id: u64) -> Result<(), ApiError> {
        match self.core.member_addr(id) {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(format!("member {id}"))),
        }
    }

    fn is_voter(&self, id: u64) -> bool {
        self.core.raft.metrics().borrow().membership_config.membership().voter_ids().any(|v| v == id)
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn status(&self, _req: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(ClusterService::status(self).await?))
    }

    async fn add_member(&self, req: Request<AddMemberRequest>) -> Result<Response<MembershipResponse>, Status> {
        self.core.authorize_cluster_admin(&super::authn::caller(&req)?)?;
        let req = req.into_inner();
        if req.node_id == 0 {
            return Err(ValidationError::new("node_id", "must not be 0").into());
        }
        if req.addr.parse::<std::net::SocketAddr>().is_err() && !req.addr.contains(':') {
            return Err(ValidationError::new("addr", format!("{:?} is not host:port", req.addr)).into());
        }
        self.require_leader()?;
        if self.core.reader.is_retired(req.node_id).map_err(ApiError::from)? {
            return Err(ApiError::Apply(ApplyError::Precondition(format!(
                "node id {} was removed from this cluster and is never reused; start the node with an empty data directory to get a new id",
                req.node_id
            )))
            .into());
        }
        let node = BasicNode { addr: req.addr.clone() };
        let r = tokio::time::timeout(self.core.catch_up_timeout, self.core.raft.add_learner(req.node_id, node, true))
            .await
            .map_err(|_| self.not_caught_up(req.node_id))?
            .map_err(ApiError::from)?;
        self.wait_caught_up(req.node_id, r.log_id.index).await?;
        if req.learner_only || self.is_voter(req.node_id) {
            return Ok(Response::new(MembershipResponse { revision: r.log_id.index, members: ClusterService::status(self).await?.members }));
        }
        Ok(Response::new(self.change(ChangeMembers::AddVoterIds(BTreeSet::from([req.node_id]))).await?))
    }

    async fn promote_member(&self, req: Request<MemberRequest>) -> Result<Response<MembershipResponse>, Status> {
        self.core.authorize_cluster_admin(&super::authn::caller(&req)?)?;
        let id = req.into_inner().node_id;
        self.require_leader()?;
        self.require_member(id)?;
        let last = self.core.raft.metrics().borrow().last_log_index.unwrap_or(0);
        self.wait_caught_up(id, last).await?;
        Ok(Response::new(self.change(ChangeMembers::AddVoterIds(BTreeSet::from([id]))).await?))
    }

    async fn remove_member(&self, req: Request<MemberRequest>) -> Result<Response<MembershipResponse>, Status> {
        self.core.authorize_cluster_admin(&super::authn::caller(&req)?)?;
        let id = req.into_inner().node_id;
        self.require_leader()?;
        self.require_member(id)?;
        let changes =
            if self.is_voter(id) { ChangeMembers::RemoveVoters(BTreeSet::from([id])) } else { ChangeMembers::RemoveNodes(BTreeSet::from([id])) };
        Ok(Response::new(self.change(changes).await?))
    }

    async fn transfer_leader(&self, req: Request<MemberRequest>) -> Result<Response<StatusResponse>, Status> {
        self.core.authorize_cluster_admin(&super::authn::caller(&req)?)?;
        let id = req.into_inner().node_id;
        if id != self.core.id {
            // Ask the target itself: only it can start its own election.
            let addr = self.core.member_addr(id).ok_or_else(|| ApiError::NotFound(format!("member {id}")))?;
            let mut c =
                ClusterClient::connect(format!("http://{addr}")).await.map_err(|e| ApiError::Unavailable(format!("node {id} at {addr}: {e}")))?;
            return c.transfer_leader(MemberRequest { node_id: id }).await;
        }
        if !self.is_voter(id) {
            return Err(ApiError::Apply(ApplyError::Precondition(format!("node {id} is a learner; only voters can lead"))).into());
        }
        self.core.raft.trigger().elect().await.map_err(|e| ApiError::RaftStopped(e.to_string()))?;
        let me = self.core.id;
        let _ = self.core.raft.wait(Some(Duration::from_secs(5))).metrics(|m| m.current_leader == Some(me), "became leader").await;
        Ok(Response::new(ClusterService::status(self).await?))
    }
}
