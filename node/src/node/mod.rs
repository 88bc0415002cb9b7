//! Starting and stopping a node: data directory, node id, storage, Raft, gRPC server; and
//! [`restore`], which turns a backup into the data directory of a new cluster's first node.
//!
//! A node's id is a random u64 created on its first start and kept in `<data_dir>/node_id`.
//! It is never reused: a wiped data directory is a new node with a new id (a node rejoining
//! under an old id with an empty log could vote twice in one term and split the cluster).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use memmesh_proto::admin_server::AdminServer;
use memmesh_proto::cluster_client::ClusterClient;
use memmesh_proto::cluster_server::ClusterServer;
use memmesh_proto::mem_store_server::MemStoreServer;
use memmesh_proto::memory_server::MemoryServer;
use memmesh_proto::raft_peer_server::RaftPeerServer;
use openraft::BasicNode;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

use crate::api::admin::AdminService;
use crate::api::authn::{Authenticate, PeerSecret};
use crate::api::cluster::ClusterService;
use crate::api::memory::MemoryService;
use crate::api::memstore::MemStoreService;
use crate::api::raft_peer::RaftPeerService;
use crate::config::Config;
use crate::engine::denials::DenialLog;
use crate::engine::write::{inflight_slots, run_proposer};
use crate::engine::Core;
use crate::index::SearchIndex;
use crate::raft::network::{Network, MAX_PEER_MESSAGE};
use crate::raft::{NodeId, Raft};
use crate::store::{self, Feed, LogStore, Reader, StateMachine, StoreError};
use crate::telemetry::CallLayer;

pub mod restore;

/// Why a node could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("node id file {path} is corrupt ({content:?}); refusing to invent a new id for existing data")]
    NodeIdCorrupt { path: String, content: String },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Boxed: openraft's error is large, and every start-up step returns this type.
    #[error("raft configuration: {0}")]
    RaftConfig(Box<openraft::ConfigError>),
    #[error("raft: {0}")]
    Raft(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("grpc server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("embedding: {0}")]
    Embedding(#[from] crate::embed::EmbedError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("restore: {0}")]
    Restore(String),
}

/// Reads the node id, or creates one if the directory holds no data yet. Returns the id and
/// whether it was created now.
fn node_id(data_dir: &Path) -> Result<(NodeId, bool), NodeError> {
    let path = data_dir.join("node_id");
    let io = |source| NodeError::DataDir { path: path.display().to_string(), source };
    match std::fs::read_to_string(&path) {
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(id) if id != 0 => Ok((id, false)),
            _ => Err(NodeError::NodeIdCorrupt { path: path.display().to_string(), content: s }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if data_dir.join("db").exists() || data_dir.join("raft").exists() {
                // Data without an id: the id was lost. Making one up would reuse a Raft log
                // under a new identity; refuse instead.
                return Err(NodeError::NodeIdCorrupt { path: path.display().to_string(), content: String::new() });
            }
            let id = loop {
                let id: u64 = rand::random();
                if id != 0 {
                    break id;
                }
            };
            let tmp = data_dir.join("node_id.tmp");
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            writeln!(f, "{id}").map_err(io)?;
            f.sync_all().map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            std::fs::File::open(data_dir).and_then(|d| d.sync_all()).map_err(io)?;
            Ok((id, true))
        }
        Err(e) => Err(io(e)),
    }
}

fn raft_config(cfg: &Config) -> Result<openraft::Config, NodeError> {
    openraft::Config {
        cluster_name: "memmesh".into(),
        heartbeat_interval: cfg.raft.heartbeat_interval_ms,
        election_timeout_min: cfg.raft.election_timeout_min_ms,
        election_timeout_max: cfg.raft.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.raft.snapshot_after_entries),
        max_in_snapshot_log_to_keep: cfg.raft.keep_log_after_snapshot,
        ..Default::default()
    }
    .validate()
    .map_err(|e| NodeError::RaftConfig(Box::new(e)))
}

/// Asks the cluster that `seed` belongs to to add this node, following leader hints, until it
/// succeeds (the leader adds us as a learner, waits until we caught up, then promotes us).
async fn join_cluster(core: Arc<Core>, seed: String, learner: bool, token: Option<String>) {
    let mut target = seed;
    let req = memmesh_proto::AddMemberRequest { node_id: core.id, addr: core.addr.clone(), learner_only: learner };
    loop {
        let mut call = tonic::Request::new(req.clone());
        // A cluster requiring tokens accepts new members from its cluster admin only.
        if let Some(v) = token.as_ref().and_then(|t| format!("Bearer {t}").parse().ok()) {
            call.metadata_mut().insert("authorization", v);
        }
        let channel = match crate::raft::network::peer_endpoint(&target, core.peer_tls.as_ref()) {
            Ok(ep) => ep.connect().await,
            Err(e) => Err(e),
        };
        match channel {
            Err(e) => tracing::info!(%target, error = %e, "join: cannot reach the seed yet; retrying"),
            Ok(ch) => match ClusterClient::new(ch).add_member(call).await {
                Ok(r) => {
                    tracing::info!(node_id = core.id, revision = r.into_inner().revision, learner, "joined the cluster");
                    return;
                }
                Err(s) if s.code() == tonic::Code::Unavailable => {
                    if let Some(leader) = s.metadata().get(crate::api::error::LEADER_METADATA).and_then(|v| v.to_str().ok()) {
                        target = leader.to_string();
                    }
                    tracing::info!(%target, error = s.message(), "join: retrying");
                }
                Err(s) => {
                    tracing::error!(code = ?s.code(), error = s.message(), "join refused; not retrying");
                    return;
                }
            },
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Runs `work` every `period` on a blocking thread (it is storage work), for as long as the
/// node lives: the task holds only a weak reference, so it never keeps a stopped node alive.
fn spawn_periodic<F>(core: &Arc<Core>, period: Duration, what: &'static str, work: F)
where
    F: Fn(&Core) -> Result<(), StoreError> + Send + Sync + 'static,
{
    let weak = Arc::downgrade(core);
    let work = Arc::new(work);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        loop {
            every.tick().await;
            let Some(core) = weak.upgrade() else { return };
            let work = work.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || work(&core)).await {
                tracing::warn!(error = %e, "{what} failed");
            }
        }
    });
}

/// Keeps the change history to `retention` revisions, checking once a second.
fn spawn_feed_compaction(core: &Arc<Core>, retention: u64) {
    spawn_periodic(core, Duration::from_secs(1), "change history compaction", move |core| {
        let applied = core.reader.applied_revision();
        if applied > retention {
            core.feed.compact(applied - retention)?;
        }
        Ok(())
    });
}

/// Runs the policies' scheduled consolidations (on the leader; others skip), every `tick`.
fn spawn_scheduled_consolidation(core: &Arc<Core>, tick: Duration) {
    let weak = Arc::downgrade(core);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(core) = weak.upgrade() else { return };
            if let Err(e) = core.consolidate_due_policies().await {
                tracing::warn!(error = %e, "scheduled consolidation failed; retried at the next tick");
            }
        }
    });
}

/// Runs the lifecycle sweeps — expiry, reclamation, default TTLs, tiering — (on the leader;
/// others skip), every `interval`.
fn spawn_expiry_sweep(core: &Arc<Core>, interval: Duration, batch: usize) {
    let weak = Arc::downgrade(core);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursor = crate::engine::lifecycle::SweepCursor::default();
        let mut reclaim = crate::engine::lifecycle::ReclaimCursor::default();
        let mut tiers = crate::engine::lifecycle::TierCursor::default();
        loop {
            every.tick().await;
            let Some(core) = weak.upgrade() else { return };
            if let Err(e) = core.sweep_expired(batch, &mut cursor).await {
                tracing::warn!(error = %e, "expiry sweep failed; retried at the next tick");
            }
            if let Err(e) = core.reclaim_due(batch, &mut reclaim).await {
                tracing::warn!(error = %e, "reclamation failed; retried at the next tick");
            }
            if let Err(e) = core.backfill_default_ttls(batch).await {
                tracing::warn!(error = %e, "default TTL step failed; retried at the next tick");
            }
            if let Err(e) = core.tier(batch, &mut tiers).await {
                tracing::warn!(error = %e, "tiering failed; retried at the next tick");
            }
        }
    });
}

/// Trims this node's copy of the audit log to `keep` records, every 10 s.
fn spawn_audit_trim(core: &Arc<Core>, keep: u64) {
    spawn_periodic(core, Duration::from_secs(10), "audit log trimming", move |core| core.reader.trim_audit(keep).map(|_| ()));
}

/// A started node: its bound address and the means to stop it.
pub struct Node {
    pub core: Arc<Core>,
    pub local_addr: SocketAddr,
    listener: TcpListener,
    shutdown_grace: Duration,
    /// A node of the cluster to join once serving (first start with `--join`).
    join: Option<String>,
    learner: bool,
    /// Authentication of every client-facing service.
    auth: Authenticate,
    bootstrap_token: Option<String>,
    server_tls: Option<tonic::transport::ServerTlsConfig>,
}

impl Node {
    /// Opens storage, starts Raft (initialising a single-voter cluster on first start) and binds
    /// the listener. Serving starts with [`Node::serve`].
    pub async fn start(cfg: &Config) -> Result<Node, NodeError> {
        Self::open(cfg, None).await
    }

    /// As [`Node::start`], after writing the backup `file` into the (new) data directory: the
    /// node is the only member of a new cluster holding the backup's state (see [`restore`]).
    pub async fn start_restored(cfg: &Config, file: &Path) -> Result<Node, NodeError> {
        if cfg.node.join.is_some() {
            return Err(NodeError::Restore("a restore starts a new cluster; it cannot join one".into()));
        }
        Self::open(cfg, Some(file)).await
    }

    async fn open(cfg: &Config, restore: Option<&Path>) -> Result<Node, NodeError> {
        let dir = &cfg.node.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| NodeError::DataDir { path: dir.display().to_string(), source })?;
        let (id, created) = node_id(dir)?;
        if created {
            tracing::info!(node_id = id, "created a new node id");
        }

        let listener = TcpListener::bind(cfg.node.listen).await.map_err(|source| NodeError::Listen { addr: cfg.node.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| NodeError::Listen { addr: cfg.node.listen, source })?;
        // With port 0 the advertised address is the one actually bound.
        let addr = cfg.node.advertise.clone().unwrap_or_else(|| local_addr.to_string());

        // The model loads first: a node that cannot embed says so before touching its data.
        let embedder = if cfg.embedding.enabled {
            let ecfg = cfg.embedding.clone();
            let pool = tokio::task::spawn_blocking(move || crate::embed::EmbedPool::start(&ecfg))
                .await
                .map_err(|e| NodeError::Raft(format!("embedding start-up panicked: {e}")))??;
            tracing::info!(model = pool.model_id(), dims = pool.dims(), "embedding model loaded");
            Some(pool)
        } else {
            tracing::info!("embedding disabled: lexical search only");
            None
        };
        let index = Arc::new(
            SearchIndex::new(embedder.as_ref().map(|e| (e.model_id().to_string(), e.dims())))
                .with_quantized_min(cfg.search.quantized_min_vectors)
                .with_binary_min(cfg.search.binary_min_vectors)
                .with_query_threads(cfg.search.query_threads),
        );

        let tls = cfg.tls.load()?;

        if let Some(file) = restore {
            restore::restore(dir, file, id, created, &addr)?;
        }
        let dbs = store::open(dir)?;
        let db = dbs.state.clone();
        let log = LogStore::new(&dbs, id)?;
        let durable = log.durable();
        let feed = Feed::new(db.clone(), cfg.feed.live_buffer)?;
        let sm = StateMachine::new(db.clone(), dir.join("snapshots"), feed.clone(), index.clone(), durable.clone())?;
        let backups = sm.backups();
        let disk = Arc::new(store::disk::DiskSpace::new(dir, cfg.node.min_free_bytes)?);
        let reader = Reader::new(db, sm.applied_watch());
        let faults = Arc::new(crate::raft::faults::Faults::default());
        let network =
            Network::new(faults.clone(), cfg.auth.cluster_secret.as_deref().map(Arc::from), tls.as_ref().map(|t| t.peer.clone()), durable.clone());
        let raft = Raft::new(id, Arc::new(raft_config(cfg)?), network, log, sm).await.map_err(|e| NodeError::Raft(e.to_string()))?;

        let initialized = raft.is_initialized().await.map_err(|e| NodeError::Raft(e.to_string()))?;
        let join = match (&cfg.node.join, initialized) {
            (Some(seed), false) => Some(seed.clone()),
            (None, false) => {
                tracing::info!(node_id = id, %addr, "initialising a new single-node cluster");
                let members = BTreeMap::from([(id, BasicNode { addr: addr.clone() })]);
                raft.initialize(members).await.map_err(|e| NodeError::Raft(e.to_string()))?;
                None
            }
            (_, true) => None,
        };
        // A sole voter elects itself within one election timeout; wait until it has also applied
        // its own first entry of the term (which linearizable reads need), so the node is fully
        // ready when it announces itself. (Members of a larger cluster find the leader by
        // themselves.)
        // Metrics are published asynchronously: wait until they show the membership before
        // deciding (a fresh `initialize` is not visible in them at once).
        let deadline = Duration::from_millis(cfg.raft.election_timeout_max_ms * 10);
        let sole_voter = join.is_none()
            && raft
                .wait(Some(deadline))
                .metrics(|m| m.membership_config.membership().voter_ids().next().is_some(), "membership loaded")
                .await
                .is_ok_and(|m| m.membership_config.membership().voter_ids().collect::<Vec<_>>() == vec![id]);
        if sole_voter {
            let ready = |m: &openraft::RaftMetrics<NodeId, BasicNode>| {
                m.current_leader == Some(m.id) && m.last_log_index.is_some() && m.last_applied.map(|l| l.index) == m.last_log_index
            };
            if let Err(e) = raft.wait(Some(deadline)).metrics(ready, "leader elected and caught up").await {
                tracing::warn!(error = %e, "no leader yet; writes will be UNAVAILABLE until one is elected");
            }
        }
        let (proposals, proposals_rx) = tokio::sync::mpsc::channel(4096);
        let denials = DenialLog::new(proposals.clone());
        let inflight = inflight_slots();
        let core = Arc::new(Core {
            id,
            addr,
            raft,
            reader,
            feed,
            limits: cfg.limits.clone(),
            request_timeout: Duration::from_millis(cfg.raft.request_timeout_ms),
            catch_up_timeout: Duration::from_millis(cfg.raft.catch_up_timeout_ms),
            proposals,
            inflight: inflight.clone(),
            faults,
            durable,
            peers: Default::default(),
            embedder,
            index,
            backups,
            disk,
            cluster_secret: cfg.auth.cluster_secret.clone(),
            peer_tls: tls.as_ref().map(|t| t.peer.clone()),
            denials,
            quotas: cfg.quotas.clone(),
            ids: Default::default(),
        });
        spawn_feed_compaction(&core, cfg.feed.retention_revisions.max(1));
        spawn_periodic(&core, Duration::from_millis(500), "free space check", |core| core.disk.check().map(|_| ()));
        spawn_scheduled_consolidation(&core, Duration::from_secs(1));
        spawn_expiry_sweep(&core, Duration::from_millis(cfg.lifecycle.sweep_interval_ms.max(10)), cfg.lifecycle.sweep_batch.max(1));
        tokio::spawn(run_proposer(Arc::downgrade(&core), inflight, proposals_rx));
        let required = cfg.auth.required(&local_addr);
        if required {
            tracing::info!(bootstrap_token = cfg.auth.bootstrap_token.is_some(), "authentication required (auth.enabled)");
        }
        let auth = Authenticate::new(core.reader.clone(), required, cfg.auth.bootstrap_token.as_deref(), core.denials.clone(), cfg.quotas.clone());
        spawn_audit_trim(&core, cfg.auth.audit_retention_records.max(1));
        Ok(Node {
            core,
            local_addr,
            listener,
            shutdown_grace: Duration::from_millis(cfg.node.shutdown_grace_ms),
            join,
            learner: cfg.node.learner,
            auth,
            bootstrap_token: cfg.auth.bootstrap_token.clone(),
            server_tls: tls.map(|t| t.server),
        })
    }

    /// Serves the gRPC API until `shutdown` completes, then stops Raft.
    ///
    /// After `shutdown`, requests in flight get `node.shutdown_grace_ms` to finish; connections
    /// still open then are cut (an idle HTTP/2 client would otherwise hold the node up forever).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), NodeError> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        };
        let max = self.core.limits.max_request_bytes;
        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<MemoryServer<MemoryService>>().await;
        // TCP_NODELAY on every accepted connection: without it Nagle's algorithm and delayed ACKs
        // add ~40 ms to each small request/response (tonic sets it only on listeners it binds).
        let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(self.listener), |s| {
            s.and_then(|s| {
                s.set_nodelay(true)?;
                Ok(s)
            })
        });
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = self.server_tls.clone() {
            builder = builder.tls_config(tls)?;
        }
        // Server reflection, so grpcurl-style tools list and call the services without the
        // .proto files. It describes the schema only (public in proto/), so it needs no token.
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(memmesh_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let serve = builder
            .layer(CallLayer)
            .add_service(health)
            .add_service(reflection)
            .add_service(InterceptedService::new(
                MemoryServer::new(MemoryService::new(self.core.clone())).max_decoding_message_size(max).max_encoding_message_size(max),
                self.auth.clone(),
            ))
            // Every client-facing service takes and answers requests up to `limits.max_request_bytes`
            // (tonic's own default is 4 MiB).
            .add_service(InterceptedService::new(
                ClusterServer::new(ClusterService::new(self.core.clone())).max_decoding_message_size(max).max_encoding_message_size(max),
                self.auth.clone(),
            ))
            .add_service(InterceptedService::new(
                MemStoreServer::new(MemStoreService::new(self.core.clone())).max_decoding_message_size(max).max_encoding_message_size(max),
                self.auth.clone(),
            ))
            .add_service(InterceptedService::new(
                AdminServer::new(AdminService::new(self.core.clone())).max_decoding_message_size(max).max_encoding_message_size(max),
                self.auth.clone(),
            ))
            .add_service(InterceptedService::new(
                RaftPeerServer::new(RaftPeerService::new(self.core.clone()))
                    .max_decoding_message_size(MAX_PEER_MESSAGE)
                    .max_encoding_message_size(MAX_PEER_MESSAGE),
                PeerSecret::new(self.core.cluster_secret.as_deref()),
            ))
            .serve_with_incoming_shutdown(incoming, shutdown);
        if let Some(seed) = self.join.clone() {
            // The listener is bound, so the leader's replication can connect while we ask.
            tokio::spawn(join_cluster(self.core.clone(), seed, self.learner, self.bootstrap_token.clone()));
        }
        let grace = self.shutdown_grace;
        let res = tokio::select! {
            res = serve => res,
            _ = async {
                if stopping_rx.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "connections still open after the shutdown grace period; closing them");
                Ok(())
            }
        };
        tracing::info!("shutting down raft");
        if let Err(e) = self.core.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        res.map_err(NodeError::from)
    }
}
