//! Raft: the replicated log that orders every write.
//!
//! - [`types`]: the openraft type configuration and the log entry payload ([`Request`]) and
//!   apply result ([`Response`]).
//! - [`network`]: how this node reaches other nodes' Raft endpoints (gRPC `RaftPeer`).
//! - [`wire`]: the encoding of node-to-node messages.
//! - [`durable`]: how far this node's log is on disk, and why a leader need not wait for it.
//! - [`faults`]: fault injection on node-to-node traffic (used by the in-process cluster tests).
//!
//! The Raft log index of an entry is the MemMesh **revision** of the change it carries.

pub mod durable;
pub mod faults;
pub mod network;
pub mod types;
pub mod wire;

pub use types::*;
