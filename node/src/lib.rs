//! # memmesh-node
//!
//! A MemMesh node keeps MemCubes in RocksDB, orders every write through Raft (openraft) and
//! serves them over gRPC (tonic). A single node is a one-voter Raft cluster.
//!
//! ## Layout
//!
//! | module | concept |
//! |---|---|
//! | [`config`] | layered configuration: defaults → TOML → `MEMMESH__…` env → flags |
//! | [`model`] | the MemCube rules: validation, building and patching cubes, apply errors |
//! | [`raft`] | openraft type config; the log entry ([`raft::Request`]) and its result |
//! | [`store`] | RocksDB: log store, state machine, apply, snapshots, reads |
//! | [`embed`] | local inference: ONNX model + tokenizer, the embedding worker threads |
//! | [`index`] | the search index (exact per-scope vectors, per-tenant BM25, fusion), kept by apply |
//! | [`auth`] | principals, tokens (hashed, replicated), grants, the access rules, authentication |
//! | [`api`] | gRPC services and the single error → `tonic::Status` mapping |
//! | [`quota`] | per-tenant quotas: stored cubes and bytes, requests per second |
//! | [`tls`] | TLS / mutual TLS for clients and peers |
//! | [`node`] | start-up (node id, storage, Raft, server) and shutdown |
//!
//! ## A write, end to end
//!
//! 1. `api::memory` validates the request (nothing is proposed if it is invalid), assigns ids
//!    and timestamps, fingerprints it for idempotency, and has [`embed`] compute the text's
//!    vector — all before proposing, so the entry carries everything `apply` needs.
//! 2. `Core::propose` answers a remembered request id at once; otherwise it proposes one
//!    [`raft::Request`] with `client_write`.
//! 3. The log store appends the entry and acknowledges it only after the WAL is fsynced.
//! 4. Once committed (a majority; today one voter), `store::apply` applies it in one atomic
//!    RocksDB batch together with the applied log id; its log index is the write's revision.
//! 5. `apply` also updates the [`index`], before the revision is published as applied.
//! 6. `client_write` returns the apply result, which becomes the gRPC response.

pub mod api;
pub mod auth;
pub mod config;
pub mod embed;
pub mod index;
pub mod model;
pub mod node;
pub mod quota;
pub mod raft;
pub mod store;
pub mod tls;
