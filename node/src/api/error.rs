//! The single mapping from MemMesh errors to gRPC status codes: every `tonic::Status` the node
//! sends is made here, from an [`ApiError`].
//!
//! | error | code |
//! |---|---|
//! | invalid input, request id reused for another request | `INVALID_ARGUMENT` (+ `x-memmesh-field` metadata naming the field) |
//! | cube or version not found | `NOT_FOUND` |
//! | `expected_version` mismatch | `ABORTED` |
//! | operation not allowed in the cube's state; refused membership change; reused node id | `FAILED_PRECONDITION` |
//! | revision not applied yet; subscription start compacted (+ `x-memmesh-compact-revision`) | `OUT_OF_RANGE` |
//! | tenant quota (cubes, bytes, requests/s) exceeded | `RESOURCE_EXHAUSTED` |
//! | the node's disk below its reserve (`node.min_free_bytes`); a write that would not free space | `RESOURCE_EXHAUSTED` |
//! | the caller may not do this (a cube it may not even read is `NOT_FOUND` instead) | `PERMISSION_DENIED` |
//! | not the leader / no leader yet | `UNAVAILABLE` (+ `x-memmesh-leader` metadata when known) |
//! | Raft stopped | `UNAVAILABLE` |
//! | search mode needs an embedding model this node does not run | `FAILED_PRECONDITION` |
//! | embedding workers stopped | `UNAVAILABLE` |
//! | no or bad token, peer call without the cluster secret | `UNAUTHENTICATED` |
//! | undecodable peer message | `INVALID_ARGUMENT` |
//! | storage failure, inference failure, internal error | `INTERNAL` |

use tonic::{Code, Status};

use crate::engine::ApiError;
use crate::model::{ApplyError, ValidationError};
use crate::store::StoreError;

/// Metadata key carrying the leader's address on `UNAVAILABLE`.
pub const LEADER_METADATA: &str = "x-memmesh-leader";
/// Metadata key carrying the request field at fault on `INVALID_ARGUMENT` (clients turn it into
/// a typed error without parsing the message).
pub const FIELD_METADATA: &str = "x-memmesh-field";
/// Metadata key carrying the compacted revision on a subscription's `OUT_OF_RANGE`.
pub const COMPACT_METADATA: &str = "x-memmesh-compact-revision";

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let msg = e.to_string();
        match e {
            ApiError::Invalid(v) => {
                let mut s = Status::invalid_argument(msg);
                if let Ok(field) = v.field.parse() {
                    s.metadata_mut().insert(FIELD_METADATA, field);
                }
                s
            }
            ApiError::Apply(a) => match a {
                ApplyError::NotFound { .. } | ApplyError::VersionNotFound { .. } => Status::not_found(msg),
                ApplyError::VersionConflict { .. } => Status::aborted(msg),
                ApplyError::Precondition(_) => Status::failed_precondition(msg),
                ApplyError::RequestIdReused { .. } => Status::invalid_argument(msg),
                ApplyError::QuotaExceeded(_) => {
                    metrics::counter!("memmesh_quota_rejections_total").increment(1);
                    Status::resource_exhausted(msg)
                }
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
            ApiError::DiskFull(_) => {
                metrics::counter!("memmesh_disk_full_rejections_total").increment(1);
                Status::resource_exhausted(msg)
            }
            ApiError::PermissionDenied(_) => Status::permission_denied(msg),
            ApiError::Unauthenticated(_) => Status::unauthenticated(msg),
            ApiError::Internal(_) => {
                tracing::error!(error = %msg, "internal error");
                Status::internal(msg)
            }
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
