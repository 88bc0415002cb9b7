//! Proposing writes: idempotency fast path, fingerprints, Raft submission.

use sha2::{Digest, Sha256};

use super::ApiError;
use crate::model::ApplyError;
use crate::node::Core;
use crate::raft::{Op, Outcome, Request};

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
        let resp = self.raft.client_write(req).await?;
        let revision = resp.data.revision;
        Ok(Written { revision, outcome: resp.data.result? })
    }
}
