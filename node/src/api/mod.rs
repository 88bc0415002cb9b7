//! The gRPC API: one module per service, and [`error`] — the one place where internal errors
//! become `tonic::Status` codes.

pub mod admin;
mod authz;
pub mod cluster;
mod embedding;
pub mod error;
pub mod memory;
pub mod memstore;
pub mod raft_peer;
mod read;
mod search;
pub mod write;

pub use error::ApiError;

/// An INVALID_ARGUMENT naming the request field at fault.
pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    crate::model::ValidationError::new(field, reason).into()
}

/// A time bound of a request: 0 means none.
pub(crate) fn opt_ms(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}
