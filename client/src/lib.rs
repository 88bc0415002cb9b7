//! # memmesh-client
//!
//! A Rust client for MemMesh's gRPC API, and the `memmesh` command-line tool built on it.
//!
//! - [`Client`]: connects to a node and hands out the generated service clients.
//! - [`json`]: the JSON shape of cubes and responses printed by `memmesh --json`.
//! - [`subscribe`]: a change-feed subscription that reconnects and resumes by itself.
//! - [`sync`]: a local mirror of a scope that follows the change feed (`memmesh sync`).
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
//! let written = c.memory.put(proto::PutRequest { cube: Some(cube), request_id: "req-1".into() }).await?;
//! println!("revision {}", written.into_inner().revision);
//! # Ok(()) }
//! ```

pub mod json;
pub mod subscribe;
pub mod sync;

pub use memmesh_proto as proto;
use memmesh_proto::cluster_client::ClusterClient;
use memmesh_proto::mem_store_client::MemStoreClient;
use memmesh_proto::memory_client::MemoryClient;
use tonic::transport::{Channel, Endpoint};

/// Largest message the client sends or accepts (matches the node's default request limit).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid address {addr:?}: {source}")]
    Address { addr: String, source: tonic::transport::Error },
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: tonic::transport::Error },
}

/// A connection to one MemMesh node. Clone it freely: clones share the connection.
#[derive(Clone)]
pub struct Client {
    pub memory: MemoryClient<Channel>,
    pub cluster: ClusterClient<Channel>,
    pub memstore: MemStoreClient<Channel>,
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
    pub async fn connect(addr: &str) -> Result<Client, ConnectError> {
        let uri = endpoint_uri(addr);
        let ep = Endpoint::from_shared(uri).map_err(|source| ConnectError::Address { addr: addr.to_string(), source })?;
        let ch = ep.connect().await.map_err(|source| ConnectError::Connect { addr: addr.to_string(), source })?;
        Ok(Client::from_channel(ch))
    }

    pub fn from_channel(ch: Channel) -> Client {
        Client {
            memory: MemoryClient::new(ch.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            cluster: ClusterClient::new(ch.clone()),
            memstore: MemStoreClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES),
        }
    }
}
