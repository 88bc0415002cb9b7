//! Encoding of node-to-node messages (`memmesh.v1.RaftPeer`): postcard, like the log.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::NodeId;

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("postcard serialization of in-memory values cannot fail")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// Why a forwarded proposal or read-index request was not served by its target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
pub enum PeerError {
    #[error("node is not the leader")]
    NotLeader { leader_id: Option<NodeId>, leader_addr: Option<String> },
    #[error("raft is unavailable: {0}")]
    Unavailable(String),
}
