//! # memmesh-node
//!
//! A MemMesh node keeps MemCubes in RocksDB, orders every write through Raft (openraft) and
//! serves them over gRPC (tonic). A single node is a one-voter Raft cluster; more nodes join it
//! as voters or learners.
//!
//! ## Layers
//!
//! Every arrow points down: a module imports only from the layers below it (checked by
//! `module_cycles.py`: no cycles among the top-level modules). Where a lower layer needs
//! something from a higher one, it owns the type or trait and the higher layer supplies it —
//! the way openraft's storage and network traits are implemented by this crate.
//!
//! ```text
//!  fuzzing               fuzz targets' entry points (tests and the `fuzzing` feature only)
//!        │
//!  node, config          start-up, restore, shutdown, layered configuration
//!        │
//!  api, telemetry       gRPC adapters: decode, authenticate, call the engine, encode;
//!        │               the one error → tonic::Status mapping; logs and metrics
//!  engine                Core; the write pipeline (idempotency fast path, group commit,
//!        │               proposing, forwarding to the leader); read barriers; embedding before
//!        │               proposing; authorization, refusals to the audit log
//!  store ──▶ index       RocksDB: Raft log, state machine, apply, snapshots, feed, reads;
//!        │               the search index is derived state that apply keeps current
//!  raft   auth  embed  quota  tls
//!        │               openraft types, log entry, peer network, durable mark; access rules;
//!        │               inference; quota configuration; TLS settings
//!  model                 cube rules, scope rule, the one cube filter, records carried in log
//!                        entries, errors of input and apply, limits, the clock
//! ```
//!
//! | module | concept |
//! |---|---|
//! | [`model`] | the MemCube rules (validation, building, patching), [`model::scope_matches`], [`model::Filter`], log-entry records, [`model::ApplyError`]; dedupe, slots and links, consolidation plans, policy precedence |
//! | [`raft`] | openraft type config; the log entry ([`raft::Proposal`] of [`raft::Request`]s) and its result; peer network; [`raft::durable`] |
//! | [`auth`] | principals and the access rules ([`auth::Caller`]); token secrets |
//! | [`embed`] | local inference: ONNX model + tokenizer, the embedding worker threads; query adapters (fitting, ONNX writing, loading and running) |
//! | [`quota`] | per-tenant quotas: configuration, the request-rate limiter |
//! | [`tls`] | TLS / mutual TLS for clients and peers |
//! | [`index`] | the search index (exact per-scope vectors, per-tenant BM25, fusion; the adapter registry) |
//! | [`store`] | RocksDB: log store, state machine, apply (puts with dedupe and slots; links and consolidation steps), idempotency, usage, policies, audit, change feed, snapshots, version history, reads |
//! | [`engine`] | what a request goes through between gRPC and storage ([`engine::Core`]); consolidation on request and on a policy's schedule; feedback, adapter training and the search's adapter |
//! | [`api`] | gRPC services, authentication, the error mapping |
//! | [`config`] | layered configuration: defaults → TOML → `MEMMESH__…` env → flags |
//! | [`telemetry`] | logs (text or JSON) and the Prometheus metrics: exporter, gauges, request latency |
//! | `fuzzing` | entry points of the coverage-guided fuzz targets (`node/fuzz`; the `fuzzing` feature), their seed corpora |
//! | [`node`] | start-up (node id, storage, Raft, server), restore from a backup, and shutdown |
//!
//! ## A write, end to end (`Memory.Put`)
//!
//! 1. `api::memory::MemoryService::put` validates the input (`model::check_cube_input`;
//!    nothing is proposed if it is invalid), takes ids and the timestamp, and checks the
//!    caller may write the scope (`engine::authz`, `Core::authorize_scope`).
//! 2. `engine::embedding` (`Core::embed_cubes`) computes the text's vector on this node's
//!    embedding workers — before proposing, so the entry carries everything `apply` needs.
//! 3. `engine::write` (`Core::propose`): a request id this replica remembers is answered at once
//!    (`store::dedupe::lookup`); otherwise the write becomes a [`raft::Request`] and is proposed —
//!    alone when nothing is queued, or packed with concurrent writes into one
//!    [`raft::Proposal`] by `engine::write::run_proposer` (group commit). A follower forwards the
//!    proposal to the leader (`engine::forward`, served by `api::raft_peer`).
//! 4. The leader's `store::log_store` appends the entry; a helper thread fsyncs it while it is
//!    replicated (`raft::network`); `raft::durable` keeps anything from counting before a
//!    majority, leader included, has it on disk.
//! 5. Once committed, `store::state_machine` applies it: `store::apply::apply_request` per write
//!    (retries answered from `store::dedupe`; a put's duplicates found through the index and
//!    merged by `store::put`; quota charged by `store::usage`), with its audit
//!    record (`store::audit`) and change-feed events (`store::feed`) in the same atomic RocksDB
//!    batch; the entry's log index is the write's revision. The [`index`] is updated before the
//!    revision is published as applied, then the feed broadcasts it.
//! 6. `client_write` returns the apply result to `Core::propose`, and the handler encodes it;
//!    an error becomes a `tonic::Status` in `api::error`.
//!
//! A read (`Get`, `List`, `Search`) goes `api` → `engine::read` (`Core::read_barrier`: a read
//! index from the leader for linearizable reads) → `store::reader` or the [`index`].

pub mod api;
pub mod auth;
pub mod config;
pub mod embed;
pub mod engine;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod index;
pub mod model;
pub mod node;
pub mod quota;
pub mod raft;
pub mod store;
pub mod telemetry;
pub mod tls;
