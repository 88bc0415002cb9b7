//! # memmesh-client
//!
//! A Rust client for MemMesh's gRPC API, and the `memmesh` command-line tool built on it.
//!
//! - [`Client`]: connects to a node and hands out the generated service clients.
//! - [`json`]: the JSON shape of cubes and responses printed by `memmesh --json`.
//! - [`subscribe`]: a change-feed subscription that reconnects and resumes by itself.
//! - [`sync`]: a local mirror of a scope that follows the change feed (`memmesh sync`).
//! - [`transfer`]: the export file format (`memmesh export` / `memmesh import`); [`importers`]
//!   turn other systems' exports (Mem0, Letta) into it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use memmesh_client::{Client, proto};
//! let mut c = Client::connect("127.0.0.1:7070").await?;
//! let cube = proto::CubeInput {
//!     scope: Some(proto::Scope { tenant: "acme".into(), user: "alice".into(), ..Default::default() }),
//!     content: Some(proto::Content { text: "prefers window seats".into(), ..Default::default() }),
//!     ..Default::default()
//! };
//! let written = c.memory.put(proto::PutRequest { cube: Some(cube), request_id: "req-1".into(), ..Default::default() }).await?;
//! println!("revision {}", written.into_inner().revision);
//! # Ok(()) }
//! ```

pub mod importers;
pub mod json;
pub mod subscribe;
pub mod sync;
pub mod transfer;

pub use memmesh_proto as proto;
use memmesh_proto::admin_client::AdminClient;
use memmesh_proto::cluster_client::ClusterClient;
use memmesh_proto::mem_store_client::MemStoreClient;
use memmesh_proto::memory_client::MemoryClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The environment variable [`Client::connect`] takes the API token from.
pub const TOKEN_ENV: &str = "MEMMESH_TOKEN";
/// Environment variables [`Client::connect`] takes TLS settings from: the CA certificate to
/// trust (turns TLS on), and a client certificate and key (for nodes that require mutual TLS).
pub const CA_ENV: &str = "MEMMESH_CA";
pub const CERT_ENV: &str = "MEMMESH_CERT";
pub const KEY_ENV: &str = "MEMMESH_KEY";

/// How to connect: credentials and transport security.
#[derive(Clone, Default)]
pub struct Options {
    /// API token, sent as `authorization: Bearer …`.
    pub token: Option<String>,
    /// TLS settings; `None` = plaintext HTTP/2.
    pub tls: Option<ClientTlsConfig>,
}

impl Options {
    /// `MEMMESH_TOKEN`, `MEMMESH_CA`, `MEMMESH_CERT`, `MEMMESH_KEY`.
    pub fn from_env() -> Result<Options, ConnectError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let tls = match var(CA_ENV) {
            Some(ca) => Some(Self::tls(&ca, var(CERT_ENV).as_deref(), var(KEY_ENV).as_deref())?),
            None => None,
        };
        Ok(Options { token: var(TOKEN_ENV), tls })
    }

    /// TLS trusting the PEM CA in file `ca`, with an optional client certificate and key.
    pub fn tls(ca: &str, cert: Option<&str>, key: Option<&str>) -> Result<ClientTlsConfig, ConnectError> {
        let read = |p: &str| std::fs::read(p).map_err(|e| ConnectError::Tls(format!("{p}: {e}")));
        let mut t = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
        match (cert, key) {
            (Some(c), Some(k)) => t = t.identity(Identity::from_pem(read(c)?, read(k)?)),
            (None, None) => {}
            _ => return Err(ConnectError::Tls("give both a client certificate and its key".into())),
        }
        Ok(t)
    }
}

/// Adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// The channel every service client uses.
pub type Transport = InterceptedService<Channel, Bearer>;

/// Largest message the client sends or accepts (matches the node's default request limit).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid address {addr:?}: {source}")]
    Address { addr: String, source: tonic::transport::Error },
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: tonic::transport::Error },
    #[error("the API token contains characters not allowed in a header")]
    Token,
    #[error("tls: {0}")]
    Tls(String),
}

/// A connection to one MemMesh node. Clone it freely: clones share the connection.
#[derive(Clone)]
pub struct Client {
    pub memory: MemoryClient<Transport>,
    pub cluster: ClusterClient<Transport>,
    pub memstore: MemStoreClient<Transport>,
    pub admin: AdminClient<Transport>,
    /// The standard gRPC health service (`grpc.health.v1`).
    pub health: tonic_health::pb::health_client::HealthClient<Transport>,
}

/// `host:port` or a full `http://host:port` URI.
pub fn endpoint_uri(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

impl Client {
    /// Connects with the token and TLS settings of the environment ([`Options::from_env`]).
    pub async fn connect(addr: &str) -> Result<Client, ConnectError> {
        Self::connect_with(addr, &Options::from_env()?).await
    }

    /// Connects in plaintext, sending `token` (if any) with every call.
    pub async fn connect_with_token(addr: &str, token: Option<&str>) -> Result<Client, ConnectError> {
        Self::connect_with(addr, &Options { token: token.map(str::to_string), tls: None }).await
    }

    pub async fn connect_with(addr: &str, opts: &Options) -> Result<Client, ConnectError> {
        let uri = match (&opts.tls, addr.contains("://")) {
            (Some(_), false) => format!("https://{addr}"),
            _ => endpoint_uri(addr),
        };
        let bad = |source| ConnectError::Address { addr: addr.to_string(), source };
        let mut ep = Endpoint::from_shared(uri).map_err(bad)?;
        if let Some(t) = &opts.tls {
            ep = ep.tls_config(t.clone()).map_err(bad)?;
        }
        let ch = ep.connect().await.map_err(|source| ConnectError::Connect { addr: addr.to_string(), source })?;
        let bearer = match opts.token.as_deref() {
            Some(t) => Bearer(Some(format!("Bearer {t}").parse().map_err(|_| ConnectError::Token)?)),
            None => Bearer(None),
        };
        Ok(Client::from_channel(ch, bearer))
    }

    pub fn from_channel(ch: Channel, bearer: Bearer) -> Client {
        let t = |ch: &Channel| InterceptedService::new(ch.clone(), bearer.clone());
        Client {
            memory: MemoryClient::new(t(&ch)).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES),
            cluster: ClusterClient::new(t(&ch)),
            memstore: MemStoreClient::new(t(&ch)).max_decoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminClient::new(t(&ch)).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES),
            health: tonic_health::pb::health_client::HealthClient::new(t(&ch)),
        }
    }
}
