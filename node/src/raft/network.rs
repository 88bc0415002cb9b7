//! How this node reaches other nodes' Raft endpoints: the `memmesh.v1.RaftPeer` gRPC service on
//! the peer's (client API) address. Channels connect lazily and reconnect by themselves. Appends
//! (and heartbeats) go over one long-lived stream per follower; votes and snapshot chunks are
//! unary calls.
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
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::durable::Durable;
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
#[derive(Clone)]
pub struct Network {
    faults: Arc<Faults>,
    /// Sent with every peer call when the cluster has a secret (`auth.cluster_secret`).
    secret: Option<Arc<str>>,
    tls: Option<ClientTlsConfig>,
    /// How far this node's own log is on disk (see [`crate::raft::durable`]).
    durable: Durable,
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
    pub fn new(faults: Arc<Faults>, secret: Option<Arc<str>>, tls: Option<ClientTlsConfig>, durable: Durable) -> Self {
        Self { faults, secret, tls, durable }
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    client: Option<RaftPeerClient<Channel>>,
    /// The open append stream to this peer, if any (see [`AppendStream`]).
    appends: Option<AppendStream>,
    faults: Arc<Faults>,
    secret: Option<Arc<str>>,
    tls: Option<ClientTlsConfig>,
    durable: Durable,
}

/// The leader's end of `RaftPeer.Append` to one follower. openraft's replication task sends one
/// append at a time and waits for its reply, so requests and replies pair up in order without
/// ids. After any failure or timeout the stream is dropped (a late reply must not be taken for
/// the next request's) and the next append opens a new one.
struct AppendStream {
    requests: mpsc::Sender<PeerMessage>,
    replies: tonic::Streaming<PeerMessage>,
}

#[derive(Debug, thiserror::Error)]
#[error("peer {target} at {addr}: {detail}")]
struct PeerFailure {
    target: NodeId,
    addr: String,
    detail: String,
}

type PeerResult<R, E> = Result<R, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

// The errors here are openraft's `RPCError`, which its `RaftNetwork` trait makes these
// helpers return; its size is openraft's choice, not ours to box.
#[allow(clippy::result_large_err)]
impl PeerClient {
    fn fail(&self, detail: impl Into<String>) -> PeerFailure {
        PeerFailure { target: self.target, addr: self.addr.clone(), detail: detail.into() }
    }

    fn unreachable<E: std::error::Error>(&self, detail: impl Into<String>) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        RPCError::Unreachable(Unreachable::new(&self.fail(detail)))
    }

    fn network<E: std::error::Error>(&self, detail: impl Into<String>) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        RPCError::Network(NetworkError::new(&self.fail(detail)))
    }

    /// A failed call: `UNAVAILABLE` (connection refused or lost) makes openraft back off.
    fn status_error<E: std::error::Error>(&self, s: tonic::Status) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        if matches!(s.code(), tonic::Code::Unavailable) {
            self.unreachable(s.message())
        } else {
            self.network(format!("{}: {}", s.code(), s.message()))
        }
    }

    /// Applies the fault-injection rules to one outgoing message.
    async fn check_faults<E: std::error::Error>(&self) -> PeerResult<(), E> {
        match self.faults.check(self.target).await {
            Ok(()) => Ok(()),
            Err(d) => Err(self.unreachable(d.to_string())),
        }
    }

    fn client<E: std::error::Error>(&mut self) -> PeerResult<RaftPeerClient<Channel>, E> {
        if self.client.is_none() {
            let c = peer_client(&self.addr, self.tls.as_ref()).map_err(|e| self.unreachable(e.to_string()))?;
            self.client = Some(c);
        }
        Ok(self.client.clone().expect("set above"))
    }

    /// The peer's reply, decoded: its own Raft error comes back as a `RemoteError`.
    fn decode_reply<E, R>(&self, data: &[u8]) -> PeerResult<R, E>
    where
        E: std::error::Error + DeserializeOwned,
        R: DeserializeOwned,
    {
        let decoded: Result<R, RaftError<NodeId, E>> = decode(data).map_err(|e| self.network(format!("undecodable reply: {e}")))?;
        decoded.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    /// One unary call (vote, snapshot chunk).
    async fn call<E, R>(&mut self, method: &'static str, data: Vec<u8>, option: &RPCOption) -> PeerResult<R, E>
    where
        E: std::error::Error + DeserializeOwned,
        R: DeserializeOwned,
    {
        self.check_faults().await?;
        let mut client = self.client()?;
        let mut req = tonic::Request::new(PeerMessage { data });
        req.set_timeout(option.hard_ttl());
        with_secret(&mut req, self.secret.as_deref());
        let res = match method {
            "vote" => client.vote(req).await,
            _ => client.install_snapshot(req).await,
        };
        let msg = res.map_err(|s| self.status_error(s))?.into_inner();
        self.decode_reply(&msg.data)
    }

    /// One append over the append stream, opening it first if there is none.
    ///
    /// This node's own log may still be on its way to disk (a leader's appends are fsynced in
    /// parallel with replication), so the commit index sent is held at the durable mark, and
    /// a success is handed to openraft — which counts it towards a commit — only once this
    /// node has the acknowledged entries on disk too. See [`crate::raft::durable`].
    async fn append(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: &RPCOption,
    ) -> PeerResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.check_faults().await?;
        rpc.leader_commit = self.durable.clamp(rpc.leader_commit);
        let sent_upto = rpc.entries.last().map(|e| e.log_id).or(rpc.prev_log_id);
        let ttl = option.hard_ttl();
        let deadline = tokio::time::Instant::now() + ttl;
        let reply = match tokio::time::timeout_at(deadline, self.exchange(encode(&rpc))).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                self.appends = None;
                return Err(e);
            }
            Err(_) => {
                self.appends = None;
                return Err(self.network(format!("no append reply within {} ms", ttl.as_millis())));
            }
        };
        let reply = self.decode_reply(&reply)?;
        let acked = match &reply {
            AppendEntriesResponse::Success => sent_upto,
            AppendEntriesResponse::PartialSuccess(upto) => *upto,
            AppendEntriesResponse::Conflict | AppendEntriesResponse::HigherVote(_) => None,
        };
        if let Some(acked) = acked {
            match tokio::time::timeout_at(deadline, self.durable.wait(acked.index)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(self.network(e.to_string())),
                Err(_) => return Err(self.network(format!("this node's log did not reach disk within {} ms", ttl.as_millis()))),
            }
        }
        Ok(reply)
    }

    async fn exchange(&mut self, data: Vec<u8>) -> PeerResult<Vec<u8>, openraft::error::Infallible> {
        if self.appends.is_none() {
            let mut client = self.client()?;
            let (requests, rx) = mpsc::channel(1);
            let mut req = tonic::Request::new(ReceiverStream::new(rx));
            with_secret(&mut req, self.secret.as_deref());
            let replies = client.append(req).await.map_err(|s| self.status_error(s))?.into_inner();
            self.appends = Some(AppendStream { requests, replies });
        }
        let stream = self.appends.as_mut().expect("opened above");
        if stream.requests.send(PeerMessage { data }).await.is_err() {
            return Err(self.network("the append stream is closed"));
        }
        match stream.replies.message().await {
            Ok(Some(m)) => Ok(m.data),
            Ok(None) => Err(self.network("the peer closed the append stream")),
            Err(s) => Err(self.status_error(s)),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            client: None,
            appends: None,
            faults: self.faults.clone(),
            secret: self.secret.clone(),
            tls: self.tls.clone(),
            durable: self.durable.clone(),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.append(rpc, &option).await
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
