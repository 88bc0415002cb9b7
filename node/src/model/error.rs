//! Failures of client input and of applying a write.

use serde::{Deserialize, Serialize};

/// The request is malformed or outside a limit. Found before proposing: nothing is written.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// Path of the offending field, e.g. `cube.scope.tenant` or `cubes[3].tags[0]`.
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// A committed write that changed nothing because the state did not allow it. Decided in
/// `apply`, so every replica reaches the same verdict.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq, Eq)]
pub enum ApplyError {
    #[error("cube {id} not found")]
    NotFound { id: String },
    #[error("version {version} of cube {id} not found")]
    VersionNotFound { id: String, version: u64 },
    #[error("version conflict on cube {id}: expected version {expected}, current version is {actual}")]
    VersionConflict { id: String, expected: u64, actual: u64 },
    /// The cube is not in a state that allows the operation (e.g. restoring an active cube).
    #[error("{0}")]
    Precondition(String),
    #[error("request_id {request_id:?} was already used for a different request")]
    RequestIdReused { request_id: String },
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
}
