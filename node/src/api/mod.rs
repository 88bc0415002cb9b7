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
