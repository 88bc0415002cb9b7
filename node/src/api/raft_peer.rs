//! `memmesh.v1.RaftPeer`: the node-to-node side — Raft RPCs from other nodes, writes forwarded
//! by followers, and read-index requests for follower reads.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

use memmesh_proto::raft_peer_server::RaftPeer;
use memmesh_proto::PeerMessage;
use openraft::error::{CheckIsLeaderError, ClientWriteError, InstallSnapshotError, RaftError};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest};
use tonic::{Request, Response, Status, Streaming};

use super::ApiError;
use crate::engine::Core;
use crate::model::ValidationError;
use crate::raft::wire::{decode, encode, PeerError};
use crate::raft::{NodeId, TypeConfig};

pub struct RaftPeerService {
    core: Arc<Core>,
}

impl RaftPeerService {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

fn undecodable(e: postcard::Error) -> Status {
    ApiError::from(ValidationError::new("data", format!("undecodable peer message: {e}"))).into()
}

fn reply<T: serde::Serialize>(v: &T) -> Result<Response<PeerMessage>, Status> {
    Ok(Response::new(PeerMessage { data: encode(v) }))
}

/// A follower whose disk is below its reserve (see `store::disk`) takes no log entries and no
/// snapshot: an append that failed on a full disk would stop Raft on this node for good (openraft
/// treats storage errors as fatal), while a refused RPC is only a follower the leader cannot
/// reach for now — it retries, the others keep the quorum, and this node catches up by itself
/// once space is freed.
fn refuse_entries(core: &Core, writes: bool) -> Option<Status> {
    let why = core.disk.shortfall().filter(|_| writes)?;
    Some(Status::unavailable(format!("this node's {why}; it takes no log entries until space is freed")))
}

/// One append from the leader, or its refusal (see [`refuse_entries`]).
///
/// A refused append is still the leader's word that it leads, so it is first taken as a
/// heartbeat: the same request without its entries. Without that this node would hear nothing
/// it accepts — after a refusal openraft backs off and then sends the same entries again, never
/// a heartbeat in between — and after an election timeout it would start elections it cannot
/// win, raising the term under a healthy leader. The heartbeat's answer stands when it is not a
/// success: a conflict at `prev_log_id` or a higher vote is as true of the entries.
///
/// openraft waits 500 ms (`RaftNetwork::backoff`) after each refusal, so these heartbeats come
/// about twice a second — inside a follower's election timeout, which with a committed leader is
/// the leader lease plus `raft.election_timeout_min_ms` (900 ms with the defaults).
async fn append_or_refuse(core: &Core, mut rpc: AppendEntriesRequest<TypeConfig>) -> Result<PeerMessage, Status> {
    let Some(refused) = refuse_entries(core, !rpc.entries.is_empty()) else {
        return Ok(PeerMessage { data: encode(&core.raft.append_entries(rpc).await) });
    };
    rpc.entries.clear();
    match core.raft.append_entries(rpc).await {
        Ok(AppendEntriesResponse::Success) => Err(refused),
        answer => Ok(PeerMessage { data: encode(&answer) }),
    }
}

impl RaftPeerService {
    fn not_leader(&self, leader_id: Option<NodeId>) -> PeerError {
        let leader_addr = leader_id.and_then(|l| self.core.member_addr(l));
        PeerError::NotLeader { leader_id, leader_addr }
    }
}

#[tonic::async_trait]
impl RaftPeer for RaftPeerService {
    async fn vote(&self, req: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let rpc: VoteRequest<NodeId> = decode(&req.into_inner().data).map_err(undecodable)?;
        reply(&self.core.raft.vote(rpc).await)
    }

    type AppendStream = Pin<Box<dyn Stream<Item = Result<PeerMessage, Status>> + Send + 'static>>;

    /// Serves one leader's appends in the order they arrive, one at a time: the leader sends
    /// the next only after this reply, as it did with one call per append. The handling runs
    /// inside the reply stream, so no task sits between the frames and openraft.
    async fn append(&self, req: Request<Streaming<PeerMessage>>) -> Result<Response<Self::AppendStream>, Status> {
        let core = self.core.clone();
        let replies = futures::stream::unfold(Some(req.into_inner()), move |frames| {
            let core = core.clone();
            async move {
                let mut frames = frames?;
                let reply = match frames.message().await {
                    Ok(Some(m)) => match decode::<AppendEntriesRequest<TypeConfig>>(&m.data) {
                        Ok(rpc) => append_or_refuse(&core, rpc).await,
                        Err(e) => Err(undecodable(e)),
                    },
                    Ok(None) => return None,
                    Err(s) => Err(s),
                };
                // An error ends the stream; the leader opens a new one.
                let next = reply.is_ok().then_some(frames);
                Some((reply, next))
            }
        });
        Ok(Response::new(Box::pin(replies)))
    }

    async fn install_snapshot(&self, req: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(&req.into_inner().data).map_err(undecodable)?;
        if let Some(refused) = refuse_entries(&self.core, true) {
            // As for a refused append (see `append_or_refuse`): the chunk is the leader's word
            // that it leads, taken as a heartbeat that claims no log.
            let beat = AppendEntriesRequest { vote: rpc.vote, prev_log_id: None, leader_commit: None, entries: Vec::new() };
            return match self.core.raft.append_entries(beat).await {
                Ok(AppendEntriesResponse::HigherVote(vote)) => {
                    reply(&Ok::<_, RaftError<NodeId, InstallSnapshotError>>(InstallSnapshotResponse { vote }))
                }
                _ => Err(refused),
            };
        }
        reply(&self.core.raft.install_snapshot(rpc).await)
    }

    async fn propose(&self, req: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let proposal: crate::raft::Proposal = decode(&req.into_inner().data).map_err(undecodable)?;
        // The leader's own disk reserve (see `store::disk`): the forwarding node answers its
        // client UNAVAILABLE with this reason.
        if let Some(why) = self.core.disk.shortfall().filter(|_| proposal.requests.iter().any(|r| !r.op.frees_space())) {
            return reply(&Err::<crate::raft::Responses, _>(PeerError::Unavailable(format!("the leader's {why}; retry once space is freed"))));
        }
        let res = match self.core.raft.client_write(proposal).await {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(self.not_leader(f.leader_id)),
            Err(e) => Err(PeerError::Unavailable(e.to_string())),
        };
        reply(&res)
    }

    async fn read_index(&self, _req: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let res: Result<u64, PeerError> = match self.core.raft.get_read_log_id().await {
            Ok((read, _applied)) => Ok(read.map_or(0, |l| l.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(self.not_leader(f.leader_id)),
            Err(e) => Err(PeerError::Unavailable(e.to_string())),
        };
        reply(&res)
    }
}
