//! Transport security: TLS for every service on the node's port (clients and peers alike), and
//! optionally mutual TLS — then only holders of a certificate signed by `tls.ca` get a
//! connection at all, which also authenticates peers to each other.
//!
//! Peers connect to each other with the node's own certificate as client identity and `tls.ca`
//! as trust root, so one CA and one certificate per node (valid for server and client use)
//! secure the whole cluster.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The `[tls]` section. TLS is on when `cert` and `key` are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate (chain) of this node.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// PEM CA certificate(s): trust root for peers' certificates, and for client certificates
    /// when `require_client_cert` is set.
    pub ca: Option<PathBuf>,
    /// Mutual TLS: refuse connections without a client certificate signed by `ca`.
    pub require_client_cert: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.{key} = {path}: {source}")]
    File { key: &'static str, path: String, source: std::io::Error },
    #[error("tls: {0}")]
    Config(String),
}

fn read(key: &'static str, p: &Option<PathBuf>) -> Result<Option<Vec<u8>>, TlsError> {
    p.as_ref().map(|p| std::fs::read(p).map_err(|source| TlsError::File { key, path: p.display().to_string(), source })).transpose()
}

/// What a node uses: the server side, and the client side of its calls to peers.
#[derive(Clone)]
pub struct NodeTls {
    pub server: ServerTlsConfig,
    pub peer: ClientTlsConfig,
}

impl TlsConfig {
    /// `None` when TLS is off. Errors name the file or setting at fault.
    pub fn load(&self) -> Result<Option<NodeTls>, TlsError> {
        let (cert, key) = match (read("cert", &self.cert)?, read("key", &self.key)?) {
            (Some(c), Some(k)) => (c, k),
            (None, None) => {
                if self.require_client_cert || self.ca.is_some() {
                    return Err(TlsError::Config("tls.ca / tls.require_client_cert need tls.cert and tls.key".into()));
                }
                return Ok(None);
            }
            _ => return Err(TlsError::Config("set both tls.cert and tls.key".into())),
        };
        let ca = read("ca", &self.ca)?;
        let identity = Identity::from_pem(&cert, &key);
        let mut server = ServerTlsConfig::new().identity(identity.clone());
        let mut peer = ClientTlsConfig::new().identity(identity);
        match ca {
            Some(ca) => {
                if self.require_client_cert {
                    server = server.client_ca_root(Certificate::from_pem(&ca));
                }
                peer = peer.ca_certificate(Certificate::from_pem(&ca));
            }
            None if self.require_client_cert => return Err(TlsError::Config("tls.require_client_cert needs tls.ca".into())),
            None => peer = peer.with_enabled_roots(),
        }
        Ok(Some(NodeTls { server, peer }))
    }
}
