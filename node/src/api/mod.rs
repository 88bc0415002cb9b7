//! The gRPC API: one module per service. Each handler decodes its request, authorizes it,
//! calls the [`crate::engine`] and encodes the answer; [`error`] is the one place where
//! errors become `tonic::Status` codes, and [`authn`] turns a bearer token into the request's
//! caller.

mod adapters;
pub mod admin;
pub mod authn;
mod backup;
pub mod cluster;
pub mod error;
mod links;
pub mod memory;
pub mod memstore;
mod policies;
pub mod raft_peer;
mod search;
mod transfer;

pub(crate) use crate::engine::{invalid, ApiError};
