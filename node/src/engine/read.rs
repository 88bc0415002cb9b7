//! Read consistency: what a node does before serving a read.
//!
//! - LINEARIZABLE (default): get a read index — the leader's commit index, confirmed by a
//!   quorum heartbeat that it still leads — then wait until this node has applied that far. On a
//!   follower the read index comes from the leader over `RaftPeer.ReadIndex`; the data is still
//!   read locally.
//! - SERIALIZABLE: read the local replica as it is.
//! - `min_revision`: additionally wait until this node has applied that revision.

use std::time::Duration;

use memmesh_proto::{ReadConsistency, ReadOptions};
use openraft::error::RaftError;

use super::{ApiError, Core, LeaderCall};
use crate::model::ValidationError;
use crate::raft::wire::encode;

/// How long a read waits for this node to apply up to the revision it needs.
const APPLY_WAIT: Duration = Duration::from_secs(5);

impl Core {
    /// Makes the local replica fit to serve a read with `opts`.
    pub async fn read_barrier(&self, opts: Option<&ReadOptions>) -> Result<(), ApiError> {
        let opts = opts.copied().unwrap_or_default();
        let consistency = ReadConsistency::try_from(opts.consistency)
            .map_err(|_| ValidationError::new("read.consistency", format!("unknown enum value {}", opts.consistency)))?;
        if consistency != ReadConsistency::Serializable {
            let index = tokio::time::timeout(self.request_timeout, self.read_index()).await.map_err(|_| {
                ApiError::Unavailable(format!(
                    "could not confirm the leader within {} ms for a linearizable read; retry, or read with SERIALIZABLE",
                    self.request_timeout.as_millis()
                ))
            })??;
            self.wait_applied(index).await?;
        }
        if opts.min_revision > 0 {
            self.wait_applied(opts.min_revision).await?;
        }
        Ok(())
    }

    async fn read_index(&self) -> Result<u64, ApiError> {
        match self.leader() {
            Some(l) if l != self.id => self.call_leader(l, LeaderCall::ReadIndex, encode(&())).await,
            _ => match self.raft.get_read_log_id().await {
                Ok((read, _)) => Ok(read.map_or(0, |l| l.index)),
                Err(RaftError::APIError(e)) => Err(e.into()),
                Err(RaftError::Fatal(f)) => Err(ApiError::RaftStopped(f.to_string())),
            },
        }
    }

    /// Waits until this node has applied `revision`.
    pub async fn wait_applied(&self, revision: u64) -> Result<(), ApiError> {
        let mut w = self.reader.applied_watch();
        let reached = matches!(tokio::time::timeout(APPLY_WAIT, w.wait_for(|a| *a >= revision)).await, Ok(Ok(_)));
        match reached {
            true => Ok(()),
            false => Err(ApiError::Unavailable(format!(
                "this node has applied up to revision {}, not yet {revision}; retry or read from the leader",
                self.reader.applied_revision()
            ))),
        }
    }
}
