//! Durable state: two RocksDB databases ([`Dbs`]) — the Raft log in `<data dir>/raft`, the state
//! it produces in `<data dir>/db` — with a column family per concept.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `raft_log` (log db) | log index (u64 BE) | postcard `Entry` |
//! | `raft_meta` (log db) | see [`meta`] | postcard |
//! | `sm_meta` | see [`meta`] | postcard |
//! | `cubes` | cube id (ULID, 16 bytes) | protobuf `MemCube` (current version; an expiry is a merge operand until RocksDB merges it — see [`history`]) |
//! | `versions` | id ++ version (u64 BE) | protobuf `MemCube` (a past version; the current one is only in `cubes`, and one a change of state alone replaced only inside the next — see [`history`]) |
//! | `scope_idx` | level ++ scope ids ++ id | empty — see [`keys`] |
//! | `dedupe` | tenant `\0` request id | postcard [`dedupe::DedupeRecord`] |
//! | `dedupe_order` | revision (u64 BE) | dedupe key (for bounded eviction) |
//! | `events` | revision (u64 BE) | postcard `Vec<feed::EventRecord>` (node-local change history) |
//! | `auth` | see [`auth`] and [`usage`] | API tokens (hashed), grants, tenant usage |
//! | `audit` | revision ++ position (u32 BE) | postcard [`crate::model::AuditRecord`] |
//! | `links` | target id ++ source id ++ link type (u8) | empty: the reverse index of `MemCube.links` |
//! | `expiry` | expiry time (ms, u64 BE) ++ id | empty: the expirable cubes, soonest first (see `lifecycle`) |
//! | `feedback` | see [`feedback`] | retrieval feedback, the training data of query adapters |
//!
//! Modules, one concept each:
//!
//! | module | concept |
//! |---|---|
//! | [`dbs`] | opening the two databases; the log's preallocated write-ahead log |
//! | [`log_store`] | the Raft log: openraft `RaftLogStorage` (appends fsynced by a helper thread, see [`crate::raft::durable`]) |
//! | [`state_machine`] | openraft `RaftStateMachine`: applies entries, builds and installs snapshots |
//! | [`apply`] | what each operation of a log entry does to the data |
//! | `put` | creating cubes, with write-time deduplication and slot superseding |
//! | `links` | the reverse link index, slot claims, `Link` and `Consolidate` steps |
//! | `lifecycle` | the expiry index, the sweep's `Expire` steps, restoring an expired cube |
//! | [`dedupe`] | the idempotency table (request ids) |
//! | [`usage`] | tenant usage counters and quota charging |
//! | [`auth`] | tokens and grants in the replicated state |
//! | [`policies`] | memory policies in the replicated state |
//! | [`audit`] | the audit log |
//! | [`feed`] | change-feed events, live broadcast and stored history |
//! | [`feedback`] | retrieval feedback (adapter training data), bounded per tenant |
//! | [`snapshot`] | the snapshot file format |
//! | [`reader`] | queries served from the local replica |
//! | [`history`] | a cube's past versions, stored or inside the next (state changes) |
//! | [`keys`] | key encodings; [`meta`]: every metadata key |
//!
//! Durability: the Raft log is the only record that must survive a crash on its own. Log
//! appends and votes go through RocksDB's write-ahead log and are fsynced before anything
//! counts on them (a leader's own appends in parallel with replication — see [`crate::raft::durable`]; into
//! a preallocated log file — see [`dbs`]). State-machine writes (`apply`) skip the
//! write-ahead log altogether
//! ([`unlogged`]): they live in memtables until RocksDB flushes them to table files, and a crash
//! loses the unflushed ones — which the durable log re-applies on restart, deterministically,
//! from the applied index that was flushed with them. Two rules make that sound:
//!
//! - Flushes are atomic across column families (`atomic_flush`), so what survives is always a
//!   prefix of the applied writes, data and `applied` marker together — never cubes from
//!   revision 90 with a marker saying 80.
//! - Before log entries are forgotten (purge), every memtable is flushed: the state they produced
//!   is then on disk, so the log is never purged past what a restart can rebuild.
//!
//! Why: the applied state repeats what the log already holds durably; writing it to the
//! write-ahead log as well cost each replica a second copy of every payload, a `write` system
//! call per applied write and that much more to fsync (measured: ~15% of a node's CPU under the
//! cluster write benchmark). Installing a snapshot is the exception: it replaces the state with
//! something the log does not hold, so it is written through the write-ahead log and synced.

pub mod apply;
pub mod audit;
pub mod auth;
pub mod backup;
mod dbs;
pub mod dedupe;
pub mod disk;
pub mod export;
pub mod feed;
pub mod feedback;
mod history;
mod import;
pub mod keys;
mod lifecycle;
mod links;
pub mod log_store;
pub mod meta;
pub mod policies;
mod put;
pub mod reader;
pub mod snapshot;
pub mod state_machine;
pub mod usage;

#[cfg(test)]
mod feedback_tests;
#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod links_tests;
#[cfg(test)]
mod put_tests;
#[cfg(test)]
mod tests;

use rocksdb::{Options, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use dbs::{open, Dbs};
pub use feed::Feed;
pub use log_store::LogStore;
pub use reader::Reader;
pub use state_machine::StateMachine;

pub const CF_RAFT_LOG: &str = "raft_log";
pub const CF_RAFT_META: &str = "raft_meta";
pub const CF_SM_META: &str = "sm_meta";
pub const CF_CUBES: &str = "cubes";
pub const CF_VERSIONS: &str = "versions";
pub const CF_SCOPE_IDX: &str = "scope_idx";
pub const CF_DEDUPE: &str = "dedupe";
pub const CF_DEDUPE_ORDER: &str = "dedupe_order";
pub const CF_EVENTS: &str = "events";
pub const CF_AUTH: &str = "auth";
pub const CF_AUDIT: &str = "audit";
pub const CF_LINKS: &str = "links";
pub const CF_EXPIRY: &str = "expiry";
pub const CF_DORMANT: &str = "dormant";
pub const CF_FEEDBACK: &str = "feedback";

/// The column families of the log database.
const LOG_CFS: [&str; 2] = [CF_RAFT_LOG, CF_RAFT_META];

/// The column families of the state database (with the log's, see [`dbs`]).
const ALL_CFS: [&str; 15] = [
    CF_RAFT_LOG,
    CF_RAFT_META,
    CF_SM_META,
    CF_CUBES,
    CF_VERSIONS,
    CF_SCOPE_IDX,
    CF_DEDUPE,
    CF_DEDUPE_ORDER,
    CF_EVENTS,
    CF_AUTH,
    CF_AUDIT,
    CF_LINKS,
    CF_EXPIRY,
    CF_DORMANT,
    CF_FEEDBACK,
];

/// The column families that make up the state machine (what a snapshot carries). A snapshot
/// names each by its position here: new ones go last, so older snapshots still install.
pub const DATA_CFS: [&str; 11] =
    [CF_CUBES, CF_VERSIONS, CF_SCOPE_IDX, CF_DEDUPE, CF_DEDUPE_ORDER, CF_AUTH, CF_AUDIT, CF_LINKS, CF_EXPIRY, CF_DORMANT, CF_FEEDBACK];

/// A storage failure. Converted to openraft's `StorageError` inside Raft and to `INTERNAL`
/// at the API.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt record in {cf}: {detail}")]
    Corrupt { cf: &'static str, detail: String },
}

/// Write options for writes that must be durable before they return: through the write-ahead
/// log, fsynced (votes, log truncation and purges, snapshot installs and their metadata).
pub(crate) fn synced() -> rocksdb::WriteOptions {
    let mut o = rocksdb::WriteOptions::default();
    o.set_sync(true);
    o
}

/// Write options for state-machine writes: no write-ahead log (see the module docs for why
/// this is safe and what keeps it so).
pub(crate) fn unlogged() -> rocksdb::WriteOptions {
    let mut o = rocksdb::WriteOptions::default();
    o.disable_wal(true);
    o
}

/// Flushes every memtable to table files and waits (atomically across column families): after
/// this, everything applied so far survives a crash without the Raft log.
pub(crate) fn flush_all(db: &DB) -> Result<(), StoreError> {
    flush(db, &ALL_CFS)
}

/// Flushes the memtables of the column families `names` and waits.
pub(crate) fn flush(db: &DB, names: &[&'static str]) -> Result<(), StoreError> {
    let cfs: Vec<&rocksdb::ColumnFamily> = names.iter().map(|n| cf(db, n)).collect();
    let mut o = rocksdb::FlushOptions::default();
    o.set_wait(true);
    db.flush_cfs_opt(&cfs, &o)?;
    Ok(())
}

/// Column families looked up by key (every write checks that its new cube id is unused, most
/// reads are by id) get bloom filters, so a lookup of an absent key skips the table files
/// instead of reading an index block from each.
fn cf_options(name: &str) -> Options {
    let mut o = Options::default();
    if matches!(name, CF_CUBES | CF_VERSIONS | CF_DEDUPE | CF_AUTH | CF_SM_META) {
        let mut t = rocksdb::BlockBasedOptions::default();
        t.set_bloom_filter(10.0, false);
        o.set_block_based_table_factory(&t);
    }
    if name == CF_CUBES {
        // An expiry's record is the previous one with a patch appended (see `history`).
        let merge = |_: &[u8], record: Option<&[u8]>, ops: &rocksdb::MergeOperands| history::merge_state_patches(record, ops.iter());
        // Operands are not combined without their record: each needs the length before it.
        o.set_merge_operator(history::MERGE_OPERATOR, merge, |_: &[u8], _: Option<&[u8]>, _: &rocksdb::MergeOperands| None);
    }
    o
}

pub(crate) fn cf<'a>(db: &'a DB, name: &'static str) -> &'a rocksdb::ColumnFamily {
    // Every name passed here is in ALL_CFS, which `open_db` creates.
    db.cf_handle(name).expect("column family created by open_db")
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("postcard serialization of in-memory values cannot fail")
}

pub(crate) fn decode<T: DeserializeOwned>(cf: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt { cf, detail: e.to_string() })
}

pub(crate) fn decode_cube(cf: &'static str, bytes: &[u8]) -> Result<memmesh_proto::MemCube, StoreError> {
    prost::Message::decode(bytes).map_err(|e: prost::DecodeError| StoreError::Corrupt { cf, detail: e.to_string() })
}
