//! [`ApiError`]: how a request can fail below the gRPC layer — composed from the errors of the
//! layers it calls (validation, apply, storage, Raft, inference). `api::error` turns it into a
//! `tonic::Status`, the only place that does.

use crate::model::{ApplyError, ValidationError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid argument: {0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    /// What was not found, named ("cube 01J…", "token 01J…", "policy p").
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    OutOfRange(String),
    #[error("this node is not the leader{}", leader_hint(.leader_id, .leader_addr))]
    NotLeader { leader_id: Option<u64>, leader_addr: Option<String> },
    #[error("raft is unavailable: {0}")]
    RaftStopped(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(
        "revision {requested} is compacted: the change history starts at revision {} (compact_revision {compacted}); \
         List the scope, then subscribe from its read_revision + 1",
        compacted + 1
    )]
    Compacted { requested: u64, compacted: u64 },
    #[error("embedding: {0}")]
    Embedding(#[from] crate::embed::EmbedError),
    #[error("{0}")]
    Precondition(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The data directory's filesystem is below its reserve (`node.min_free_bytes`).
    #[error("{0}")]
    DiskFull(String),
    /// A bug or a broken invariant of this node (not the request's fault).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// NOT_FOUND for a cube: the answer for a cube that does not exist and, identically, for
    /// one the caller may not read.
    pub fn cube_not_found(id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("cube {id}"))
    }
}

fn leader_hint(id: &Option<u64>, addr: &Option<String>) -> String {
    match (id, addr) {
        (Some(id), Some(addr)) => format!("; the leader is node {id} at {addr}"),
        (Some(id), None) => format!("; the leader is node {id}"),
        _ => "; no leader is known yet (election in progress), retry shortly".into(),
    }
}

impl<E: std::error::Error> From<openraft::error::RaftError<u64, E>> for ApiError
where
    E: Into<ApiError>,
{
    fn from(e: openraft::error::RaftError<u64, E>) -> Self {
        match e {
            openraft::error::RaftError::APIError(api) => api.into(),
            openraft::error::RaftError::Fatal(f) => ApiError::RaftStopped(f.to_string()),
        }
    }
}

impl From<crate::raft::wire::PeerError> for ApiError {
    fn from(e: crate::raft::wire::PeerError) -> Self {
        match e {
            crate::raft::wire::PeerError::NotLeader { leader_id, leader_addr } => ApiError::NotLeader { leader_id, leader_addr },
            crate::raft::wire::PeerError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<openraft::error::CheckIsLeaderError<u64, openraft::BasicNode>> for ApiError {
    fn from(e: openraft::error::CheckIsLeaderError<u64, openraft::BasicNode>) -> Self {
        match e {
            openraft::error::CheckIsLeaderError::ForwardToLeader(f) => {
                ApiError::NotLeader { leader_id: f.leader_id, leader_addr: f.leader_node.map(|n| n.addr) }
            }
            openraft::error::CheckIsLeaderError::QuorumNotEnough(q) => ApiError::Unavailable(format!("cannot confirm leadership: {q}")),
        }
    }
}

impl From<crate::store::feed::HistoryError> for ApiError {
    fn from(e: crate::store::feed::HistoryError) -> Self {
        match e {
            crate::store::feed::HistoryError::Compacted(c) => ApiError::Compacted { requested: c.requested, compacted: c.compacted },
            crate::store::feed::HistoryError::Store(s) => s.into(),
        }
    }
}

impl From<openraft::error::ClientWriteError<u64, openraft::BasicNode>> for ApiError {
    fn from(e: openraft::error::ClientWriteError<u64, openraft::BasicNode>) -> Self {
        match e {
            openraft::error::ClientWriteError::ForwardToLeader(f) => {
                ApiError::NotLeader { leader_id: f.leader_id, leader_addr: f.leader_node.map(|n| n.addr) }
            }
            // Another change still committing (two nodes joining at once): retrying shortly
            // succeeds, so it is UNAVAILABLE — which is what makes a joining node retry.
            openraft::error::ClientWriteError::ChangeMembershipError(c @ openraft::error::ChangeMembershipError::InProgress(_)) => {
                ApiError::Unavailable(format!("another membership change is still being committed; retry: {c}"))
            }
            // Any other refused membership change (e.g. it would leave no voter) is the request's
            // fault, not an outage: retrying as is will not help.
            openraft::error::ClientWriteError::ChangeMembershipError(c) => {
                ApiError::Apply(ApplyError::Precondition(format!("membership change refused: {c}")))
            }
        }
    }
}
