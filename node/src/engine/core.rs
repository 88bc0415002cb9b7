//! [`Core`]: what every request handler shares — this node's Raft handle, its replica, the change
//! feed, the search index, the embedding workers, the write queue. Its methods are spread over
//! the engine's modules by concept ([`super::write`], [`super::read`], [`super::forward`],
//! [`super::embedding`], [`super::authz`]).

use std::sync::Arc;
use std::time::Duration;

use memmesh_proto::raft_peer_client::RaftPeerClient;
use tonic::transport::Channel;

use crate::index::SearchIndex;
use crate::model::Limits;
use crate::raft::{NodeId, Raft};
use crate::store::{Feed, Reader};

/// What the request handlers share.
pub struct Core {
    pub id: NodeId,
    /// The address this node advertises.
    pub addr: String,
    pub raft: Raft,
    pub reader: Reader,
    /// The change feed: live broadcast and stored history.
    pub feed: Feed,
    pub limits: Limits,
    /// Bound on waiting for a quorum (`raft.request_timeout_ms`).
    pub request_timeout: Duration,
    /// Bound on waiting for a new member to catch up (`raft.catch_up_timeout_ms`).
    pub catch_up_timeout: Duration,
    /// Fault rules of this node's outgoing peer traffic (tests only; empty in production).
    pub faults: Arc<crate::raft::faults::Faults>,
    /// How far this node's Raft log is on disk (see `raft::durable`).
    pub durable: crate::raft::durable::Durable,
    /// Queue of the group-commit proposer (see [`super::write`]).
    pub proposals: tokio::sync::mpsc::Sender<super::write::Pending>,
    /// Slots of proposals committing at once (see [`super::write`]).
    pub inflight: Arc<tokio::sync::Semaphore>,
    /// Clients of other nodes' `RaftPeer` service, by address (forwarded writes, read index).
    pub peers: std::sync::Mutex<std::collections::HashMap<String, RaftPeerClient<Channel>>>,
    /// Tenant quotas (`[quotas]`).
    pub quotas: crate::quota::QuotaConfig,
    /// Refused requests, on their way to the audit log.
    pub denials: super::denials::DenialLog,
    /// Sent with this node's peer calls (`auth.cluster_secret`).
    pub cluster_secret: Option<String>,
    /// Client TLS settings for calls to peers (`None` = plaintext).
    pub peer_tls: Option<tonic::transport::ClientTlsConfig>,
    /// The embedding workers; `None` when `embedding.enabled = false`.
    pub embedder: Option<crate::embed::EmbedPool>,
    /// What `Memory.Search` queries; kept current by the state machine.
    pub index: Arc<SearchIndex>,
    /// Free space of the data directory, and the reserve below which writes are refused.
    pub disk: Arc<crate::store::disk::DiskSpace>,
    /// Consistent copies of this replica's state (`Admin.Backup`).
    pub backups: crate::store::backup::Backups,
    /// Cube ids. One generator per node, so ids this node assigns strictly increase — even
    /// within one millisecond or if the clock steps back — and a client's sequential writes list
    /// in the order it made them.
    pub ids: std::sync::Mutex<ulid::Generator>,
}

impl Core {
    /// The current leader, as this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// The address of a cluster member.
    pub fn member_addr(&self, id: NodeId) -> Option<String> {
        self.raft.metrics().borrow().membership_config.membership().get_node(&id).map(|n| n.addr.clone())
    }
}
