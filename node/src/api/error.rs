//! The single mapping from MemMesh errors to gRPC status codes.
//!
//! | error | code |
//! |---|---|
//! | invalid input, request id reused for another request | `INVALID_ARGUMENT` |
//! | cube or version not found | `NOT_FOUND` |
//! | `expected_version` mismatch | `ABORTED` |
//! | operation not allowed in the cube's state; refused membership change; reused node id | `FAILED_PRECONDITION` |
//! | revision not applied yet; subscription start compacted (+ `x-memmesh-compact-revision`) | `OUT_OF_RANGE` |
//! | tenant quota (cubes, bytes, requests/s) exceeded | `RESOURCE_EXHAUSTED` |
//! | the caller may not do this (a cube it may not even read is `NOT_FOUND` instead) | `PERMISSION_DENIED` |
//! | not the leader / no leader yet | `UNAVAILABLE` (+ `x-memmesh-leader` metadata when known) |
//! | Raft stopped | `UNAVAILABLE` |
//! | search mode needs an embedding model this node does not run | `FAILED_PRECONDITION` |
//! | embedding workers stopped | `UNAVAILABLE` |
//! | storage failure, inference failure | `INTERNAL` |

use tonic::{Code, Status};

use crate::model::{ApplyError, ValidationError};
use crate::store::StoreError;

/// Metadata key carrying the leader's address on `UNAVAILABLE`.
pub const LEADER_METADATA: &str = "x-memmesh-leader";
/// Metadata key carrying the compacted revision on a subscription's `OUT_OF_RANGE`.
pub const COMPACT_METADATA: &str = "x-memmesh-compact-revision";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid argument: {0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    #[error("cube {0} not found")]
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
}

fn leader_hint(id: &Option<u64>, addr: &Option<String>) -> String {
    match (id, addr) {
        (Some(id), Some(addr)) => format!("; the leader is node {id} at {addr}"),
        (Some(id), None) => format!("; the leader is node {id}"),
        _ => "; no leader is known yet (election in progress), retry shortly".into(),
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let msg = e.to_string();
        match e {
            ApiError::Invalid(_) => Status::invalid_argument(msg),
            ApiError::Apply(a) => match a {
                ApplyError::NotFound { .. } | ApplyError::VersionNotFound { .. } => Status::not_found(msg),
                ApplyError::VersionConflict { .. } => Status::aborted(msg),
                ApplyError::Precondition(_) => Status::failed_precondition(msg),
                ApplyError::RequestIdReused { .. } => Status::invalid_argument(msg),
                ApplyError::QuotaExceeded(_) => Status::resource_exhausted(msg),
            },
            ApiError::Store(_) => {
                tracing::error!(error = %msg, "storage failure");
                Status::internal(msg)
            }
            ApiError::NotFound(_) => Status::not_found(msg),
            ApiError::OutOfRange(_) => Status::out_of_range(msg),
            ApiError::NotLeader { leader_addr, .. } => {
                let mut s = Status::new(Code::Unavailable, msg);
                if let Some(addr) = leader_addr.and_then(|a| a.parse().ok()) {
                    s.metadata_mut().insert(LEADER_METADATA, addr);
                }
                s
            }
            ApiError::RaftStopped(_) | ApiError::Unavailable(_) => Status::unavailable(msg),
            ApiError::Precondition(_) => Status::failed_precondition(msg),
            ApiError::PermissionDenied(_) => Status::permission_denied(msg),
            ApiError::Unauthenticated(_) => Status::unauthenticated(msg),
            ApiError::Embedding(crate::embed::EmbedError::Stopped) => Status::unavailable(msg),
            ApiError::Embedding(_) => {
                tracing::error!(error = %msg, "inference failure");
                Status::internal(msg)
            }
            ApiError::Compacted { compacted, .. } => {
                let mut s = Status::out_of_range(msg);
                s.metadata_mut().insert(COMPACT_METADATA, compacted.into());
                s
            }
        }
    }
}

impl From<ValidationError> for Status {
    fn from(e: ValidationError) -> Status {
        ApiError::from(e).into()
    }
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Status {
        ApiError::from(e).into()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_documented_code() {
        let cases: Vec<(ApiError, Code)> = vec![
            (ValidationError::new("f", "bad").into(), Code::InvalidArgument),
            (ApplyError::NotFound { id: "x".into() }.into(), Code::NotFound),
            (ApplyError::VersionConflict { id: "x".into(), expected: 1, actual: 2 }.into(), Code::Aborted),
            (ApplyError::Precondition("p".into()).into(), Code::FailedPrecondition),
            (ApplyError::RequestIdReused { request_id: "r".into() }.into(), Code::InvalidArgument),
            (ApiError::OutOfRange("r".into()), Code::OutOfRange),
            (ApiError::NotLeader { leader_id: None, leader_addr: None }, Code::Unavailable),
            (ApiError::Compacted { requested: 3, compacted: 9 }, Code::OutOfRange),
        ];
        for (e, code) in cases {
            assert_eq!(Status::from(e).code(), code);
        }
    }

    #[test]
    fn not_leader_carries_the_leader_address() {
        let s = Status::from(ApiError::NotLeader { leader_id: Some(7), leader_addr: Some("127.0.0.1:7071".into()) });
        assert_eq!(s.metadata().get(LEADER_METADATA).unwrap(), "127.0.0.1:7071");
        assert!(s.message().contains("node 7 at 127.0.0.1:7071"), "{}", s.message());
    }
}
