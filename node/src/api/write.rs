//! Proposing writes: idempotency fast path, fingerprints, Raft submission.

use memmesh_proto::PeerMessage;
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::model::ApplyError;
use crate::node::Core;
use crate::raft::wire::{decode, encode, PeerError};
use crate::raft::{NodeId, Op, Outcome, Request, Response};

/// SHA-256 over the operation name and the client's request encoded as protobuf (maps are
/// ordered, so equal requests encode equally). The caller clears the request id first: a retry
/// is the same request under the same id.
pub fn fingerprint(op: &str, msg: &impl prost::Message) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(op.as_bytes());
    h.update([0]);
    h.update(msg.encode_to_vec());
    h.finalize().into()
}

/// Milliseconds since the Unix epoch at this node.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The result of a committed write.
pub struct Written {
    pub revision: u64,
    pub outcome: Outcome,
}

impl Core {
    /// Replicates `op` and returns its outcome once it is committed and applied here.
    ///
    /// A request id that this replica already remembers is answered without proposing
    /// anything; one that is in flight concurrently is caught by `apply`, which decides in log
    /// order — so a retry can never create a second copy.
    pub async fn propose(&self, tenant: &str, request_id: &str, fingerprint: [u8; 32], at_ms: i64, op: Op) -> Result<Written, ApiError> {
        if !request_id.is_empty() {
            if let Some((rec, outcome)) = self.reader.dedupe(tenant, request_id)? {
                if rec.fingerprint != fingerprint {
                    return Err(ApplyError::RequestIdReused { request_id: request_id.to_string() }.into());
                }
                return Ok(Written { revision: rec.revision, outcome });
            }
        }
        let req = Request { tenant: tenant.to_string(), request_id: request_id.to_string(), fingerprint, at_ms, op };
        let submit = async {
            match self.leader() {
                Some(l) if l != self.id => self.forward(l, req).await,
                _ => Ok(self.raft.client_write(req).await?.data),
            }
        };
        let resp = tokio::time::timeout(self.request_timeout, submit).await.map_err(|_| {
            ApiError::Unavailable(format!(
                "the write was not committed within {} ms (no quorum reachable?); it may still commit — retry with the same request_id",
                self.request_timeout.as_millis()
            ))
        })??;
        Ok(Written { revision: resp.revision, outcome: resp.result? })
    }

    /// Proposes through the leader. If the connection fails midway the write may or may not have
    /// been committed; the client's retry with the same request id settles it without a duplicate.
    async fn forward(&self, leader: NodeId, req: Request) -> Result<Response, ApiError> {
        let addr = self.member_addr(leader).ok_or(ApiError::NotLeader { leader_id: Some(leader), leader_addr: None })?;
        let reply = self
            .peer(&addr)?
            .propose(PeerMessage { data: encode(&req) })
            .await
            .map_err(|s| ApiError::Unavailable(format!("forwarding the write to leader {leader} at {addr} failed: {}", s.message())))?;
        let res: Result<Response, PeerError> =
            decode(&reply.into_inner().data).map_err(|e| ApiError::Unavailable(format!("undecodable reply from the leader: {e}")))?;
        Ok(res?)
    }
}
