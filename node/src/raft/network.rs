//! How this node reaches other nodes' Raft endpoints: the `memmesh.v1.RaftPeer` gRPC service on
//! the peer's (client API) address. Channels connect lazily and reconnect by themselves.
//!
//! Error mapping matters to openraft: `Unreachable` makes it back off from a peer that is down,
//! `Network` is retried at once, and a `RemoteError` carries the peer's own Raft error back.

use std::time::Duration;

use memmesh_proto::raft_peer_client::RaftPeerClient;
use memmesh_proto::PeerMessage;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::faults::Faults;
use super::wire::{decode, encode};
use super::{NodeId, TypeConfig};
use std::sync::Arc;

/// Largest peer message (snapshot chunks and large batches).
pub const MAX_PEER_MESSAGE: usize = 256 * 1024 * 1024;

/// A lazily connecting client of a peer's `RaftPeer` service.
pub fn peer_client(addr: &str, tls: Option<&ClientTlsConfig>) -> Result<RaftPeerClient<Channel>, tonic::transport::Error> {
    let ep = peer_endpoint(addr, tls)?;
    Ok(RaftPeerClient::new(ep.connect_lazy()).max_decoding_message_size(MAX_PEER_MESSAGE).max_encoding_message_size(MAX_PEER_MESSAGE))
}

/// The endpoint of another node: `https` with this node's client TLS settings when TLS is on.
pub fn peer_endpoint(addr: &str, tls: Option<&ClientTlsConfig>) -> Result<Endpoint, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut ep = Endpoint::from_shared(format!("{scheme}://{addr}"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10));
    if let Some(t) = tls {
        ep = ep.tls_config(t.clone())?;
    }
    Ok(ep)
}

/// Creates [`PeerClient`]s.
#[derive(Clone, Default)]
pub struct Network {
    faults: Arc<Faults>,
    /// Sent with every peer call when the cluster has a secret (`auth.cluster_secret`).
    secret: Option<Arc<str>>,
    tls: Option<ClientTlsConfig>,
}

/// Metadata key of the cluster secret on peer (Raft) calls.
pub const SECRET_METADATA: &str = "x-memmesh-cluster-secret";

/// Adds the cluster secret to an outgoing peer call.
pub fn with_secret<T>(req: &mut tonic::Request<T>, secret: Option<&str>) {
    if let Some(v) = secret.and_then(|s| s.parse().ok()) {
        req.metadata_mut().insert(SECRET_METADATA, v);
    }
}

impl Network {
    pub fn new(faults: Arc<Faults>, secret: Option<Arc<str>>, tls: Option<ClientTlsConfig>) -> Self {
        Self { faults, secret, tls }
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    client: Option<RaftPeerClient<Channel>>,
    faults: Arc<Faults>,
    secret: Option<Arc<str>>,
    tls: Option<ClientTlsConfig>,
}

#[derive(Debug, thiserror::Error)]
#[error("peer {target} at {addr}: {detail}")]
struct PeerFailure {
    target: NodeId,
    addr: String,
    detail: String,
}

impl PeerClient {
    fn fail(&self, detail: impl Into<String>) -> PeerFailure {
        PeerFailure { target: self.target, addr: self.addr.clone(), detail: detail.into() }
    }

    async fn call<E, R>(&mut self, method: &'static str, data: Vec<u8>, option: &RPCOption) -> Result<R, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        E: std::error::Error + DeserializeOwned,
        R: DeserializeOwned,
    {
        if let Err(d) = self.faults.check(self.target).await {
            return Err(RPCError::Unreachable(Unreachable::new(&self.fail(d.to_string()))));
        }
        if self.client.is_none() {
            let c = peer_client(&self.addr, self.tls.as_ref()).map_err(|e| RPCError::Unreachable(Unreachable::new(&self.fail(e.to_string()))))?;
            self.client = Some(c);
        }
        let client = self.client.as_mut().expect("set above");
        let mut req = tonic::Request::new(PeerMessage { data });
        req.set_timeout(option.hard_ttl());
        with_secret(&mut req, self.secret.as_deref());
        let res = match method {
            "vote" => client.vote(req).await,
            "append" => client.append_entries(req).await,
            _ => client.install_snapshot(req).await,
        };
        let msg = match res {
            Ok(r) => r.into_inner(),
            Err(s) if matches!(s.code(), tonic::Code::Unavailable) => {
                return Err(RPCError::Unreachable(Unreachable::new(&self.fail(s.message().to_string()))));
            }
            Err(s) => return Err(RPCError::Network(NetworkError::new(&self.fail(format!("{}: {}", s.code(), s.message()))))),
        };
        let decoded: Result<R, RaftError<NodeId, E>> =
            decode(&msg.data).map_err(|e| RPCError::Network(NetworkError::new(&self.fail(format!("undecodable reply: {e}")))))?;
        decoded.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient { target, addr: node.addr.clone(), client: None, faults: self.faults.clone(), secret: self.secret.clone(), tls: self.tls.clone() }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("append", encode(&rpc), &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>> {
        self.call("snapshot", encode(&rpc), &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("vote", encode(&rpc), &option).await
    }
}
