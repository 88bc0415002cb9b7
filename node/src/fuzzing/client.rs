//! Client requests of every type, as the bytes a client sends, through a real node: decoding
//! (tonic, prost), authentication, validation and, for what is valid, the engine, Raft and
//! apply. Whatever the bytes, the node answers a status — a panic in any of its tasks aborts the
//! fuzzer (libfuzzer-sys's panic hook) — and keeps answering.
//!
//! The first byte of an input picks the method ([`METHODS`]); the rest is the request message.
//! One single-node cluster (embedding off, authentication on, the bootstrap token as caller)
//! serves every input of a run, so state accumulates across inputs as it does in production.
//! Left out: membership changes (a request could name any address, and tests address only
//! their own hosts) and Backup (it streams the whole state); Subscribe and Export are read up to
//! their first message.

use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use prost::bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::config::Config;
use crate::node::Node;

/// (path, server-streaming) of every method the target calls.
pub const METHODS: &[(&str, bool)] = &[
    ("/memmesh.v1.Memory/Put", false),
    ("/memmesh.v1.Memory/PutBatch", false),
    ("/memmesh.v1.Memory/Get", false),
    ("/memmesh.v1.Memory/Update", false),
    ("/memmesh.v1.Memory/Delete", false),
    ("/memmesh.v1.Memory/Restore", false),
    ("/memmesh.v1.Memory/Purge", false),
    ("/memmesh.v1.Memory/List", false),
    ("/memmesh.v1.Memory/History", false),
    ("/memmesh.v1.Memory/Rollback", false),
    ("/memmesh.v1.Memory/Search", false),
    ("/memmesh.v1.Memory/Link", false),
    ("/memmesh.v1.Memory/Consolidate", false),
    ("/memmesh.v1.MemStore/Subscribe", true),
    ("/memmesh.v1.Admin/CreateToken", false),
    ("/memmesh.v1.Admin/ListTokens", false),
    ("/memmesh.v1.Admin/RevokeToken", false),
    ("/memmesh.v1.Admin/CreateGrant", false),
    ("/memmesh.v1.Admin/ListGrants", false),
    ("/memmesh.v1.Admin/RevokeGrant", false),
    ("/memmesh.v1.Admin/WhoAmI", false),
    ("/memmesh.v1.Admin/ListAudit", false),
    ("/memmesh.v1.Admin/SetPolicy", false),
    ("/memmesh.v1.Admin/GetPolicy", false),
    ("/memmesh.v1.Admin/ListPolicies", false),
    ("/memmesh.v1.Admin/DeletePolicy", false),
    ("/memmesh.v1.Admin/Export", true),
    ("/memmesh.v1.Admin/Import", false),
    ("/memmesh.v1.Cluster/Status", false),
    // Appended: the seeds, whose first byte is an index below 29, still pick the same methods.
    ("/memmesh.v1.Memory/Feedback", false),
    ("/memmesh.v1.Memory/TrainAdapter", false),
];

const TOKEN: &str = "fuzzing-bootstrap-token";

/// Passes message bytes through unchanged, so the node receives exactly the input.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// A running node and a channel to it.
pub struct Target {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Starts the node (in a temporary directory, on a loopback port).
    pub fn start() -> Arc<Target> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let channel = runtime.block_on(async {
            let mut cfg = Config::default();
            cfg.embedding.enabled = false;
            cfg.node.data_dir = dir.path().to_path_buf();
            cfg.node.listen = "127.0.0.1:0".parse().expect("an address");
            cfg.node.shutdown_grace_ms = 100;
            cfg.auth.enabled = Some(true);
            cfg.auth.bootstrap_token = Some(TOKEN.into());
            let node = Node::start(&cfg).await.expect("the node starts");
            let url = format!("http://{}", node.local_addr);
            tokio::spawn(node.serve(std::future::pending()));
            Channel::from_shared(url).expect("a url").connect().await.expect("the node answers")
        });
        Arc::new(Target { runtime, channel, _dir: dir })
    }

    /// One request: the first byte picks the method, the rest is sent as its message. Returns
    /// the status code the node answered (OK for a reply).
    pub fn call(&self, data: &[u8]) -> tonic::Code {
        let Some((&pick, body)) = data.split_first() else { return tonic::Code::Ok };
        let (path, streaming) = METHODS[pick as usize % METHODS.len()];
        self.runtime.block_on(async {
            let mut grpc = tonic::client::Grpc::new(self.channel.clone());
            grpc.ready().await.expect("the channel is ready");
            let mut req = Request::new(body.to_vec());
            req.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("ascii"));
            let path = PathAndQuery::from_static(path);
            let answer = if streaming {
                match grpc.server_streaming(req, path, Raw).await {
                    // The first message, if one comes soon (a feed waits for events).
                    Ok(r) => tokio::time::timeout(Duration::from_millis(20), r.into_inner().message()).await.unwrap_or(Ok(None)).map(|_| ()),
                    Err(s) => Err(s),
                }
            } else {
                grpc.unary(req, path, Raw).await.map(|_| ())
            };
            match answer {
                Ok(()) => tonic::Code::Ok,
                Err(s) => {
                    check_refusal(&s);
                    s.code()
                }
            }
        })
    }
}

/// What a refusal must look like: a status that says what is wrong, of a bounded size. INTERNAL
/// is a bug unless it is tonic's answer to bytes that are not the message (tonic-prost maps a
/// protobuf decode error to INTERNAL; the node never sees those requests).
fn check_refusal(s: &Status) {
    let undecodable = s.code() == tonic::Code::Internal && s.message().starts_with("failed to decode Protobuf message");
    assert!(!matches!(s.code(), tonic::Code::Internal | tonic::Code::Unknown) || undecodable, "the node failed on a request: {s:?}");
    assert!(s.message().len() <= 2048, "a status message of {} bytes: {}…", s.message().len(), s.message().chars().take(200).collect::<String>());
}
