//! Reaching the leader from a follower: a forwarded proposal (writes anywhere) or a read index
//! (linearizable reads on any node), over the leader's `RaftPeer` service.

use memmesh_proto::raft_peer_client::RaftPeerClient;
use tonic::transport::Channel;

use super::{ApiError, Core};
use crate::raft::network::peer_client;
use crate::raft::NodeId;

impl Core {
    /// A (pooled, lazily connecting) client of the peer at `addr`.
    pub fn peer(&self, addr: &str) -> Result<RaftPeerClient<Channel>, ApiError> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = peers.get(addr) {
            return Ok(c.clone());
        }
        let c = peer_client(addr, self.peer_tls.as_ref()).map_err(|e| ApiError::Unavailable(format!("peer address {addr}: {e}")))?;
        peers.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// Calls the leader's `RaftPeer` service (a forwarded write or a read index) and decodes its
    /// `Result<T, PeerError>` reply.
    pub async fn call_leader<T: serde::de::DeserializeOwned>(&self, leader: NodeId, call: LeaderCall, data: Vec<u8>) -> Result<T, ApiError> {
        let addr = self.member_addr(leader).ok_or(ApiError::NotLeader { leader_id: Some(leader), leader_addr: None })?;
        self.faults.check(leader).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let mut peer = self.peer(&addr)?;
        let mut msg = tonic::Request::new(memmesh_proto::PeerMessage { data });
        crate::raft::network::with_secret(&mut msg, self.cluster_secret.as_deref());
        let (what, reply) = match call {
            LeaderCall::Propose => ("forwarding the write to", peer.propose(msg).await),
            LeaderCall::ReadIndex => ("getting the read index from", peer.read_index(msg).await),
        };
        let reply = reply.map_err(|s| ApiError::Unavailable(format!("{what} leader {leader} at {addr} failed: {}", s.message())))?;
        let res: Result<T, crate::raft::wire::PeerError> = crate::raft::wire::decode(&reply.into_inner().data)
            .map_err(|e| ApiError::Unavailable(format!("undecodable reply from leader {leader}: {e}")))?;
        Ok(res?)
    }
}

/// What [`Core::call_leader`] asks the leader for.
pub enum LeaderCall {
    Propose,
    ReadIndex,
}
