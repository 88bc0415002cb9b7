//! Entry points of the coverage-guided fuzz targets (`node/fuzz`, run with `cargo fuzz` by
//! `scripts/fuzz.sh`). Each takes arbitrary bytes and returns; a panic anywhere — in a decoder,
//! a validator, or (for [`client::Target`]) anywhere in the running node — is a bug, and
//! libFuzzer keeps the input that caused it.
//!
//! | target | what a node reads | where from |
//! |---|---|---|
//! | [`log_entry`] | a Raft log entry (postcard) | its own log, a leader's append |
//! | [`peer_message`] | every RaftPeer request and reply (postcard) | other members |
//! | [`snapshot`] | a snapshot file, with and without a valid digest | a leader's InstallSnapshot, a restore |
//! | [`stored`] | a stored cube (protobuf) and every index key shape | its own column families |
//! | [`text`] | text through the BM25 tokenizer and the dedupe normaliser | clients' cubes and queries |
//! | [`client::Target`] | every client request type, as gRPC bytes, through a real node | clients |
//!
//! Built for the fuzz crate with the `fuzzing` feature, and for this crate's tests, which check
//! the targets and write their seed corpora ([`seeds`]).

pub mod client;
pub mod seeds;
#[cfg(test)]
mod smoke_tests;

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use sha2::{Digest, Sha256};

use crate::raft::wire::{self, PeerError};
use crate::raft::{Entry, NodeId, Proposal, Responses, TypeConfig};
use crate::store::{self, keys, snapshot};

/// Postcard decoding, then the property every decoder of ours relies on: what decodes
/// re-encodes to bytes that decode to the same value.
fn round_trip<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if let Ok(v) = wire::decode::<T>(data) {
        let again: T = wire::decode(&wire::encode(&v)).expect("a re-encoded value decodes");
        assert_eq!(format!("{again:?}"), format!("{v:?}"), "a value changed across encode/decode");
    }
}

/// A log entry as the log store and a follower's append read it.
pub fn log_entry(data: &[u8]) {
    let _ = store::decode::<Entry>("log", data);
    round_trip::<Entry>(data);
}

/// The first byte picks the message type; the rest is its postcard encoding.
pub fn peer_message(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    match kind % 9 {
        0 => round_trip::<VoteRequest<NodeId>>(body),
        1 => round_trip::<AppendEntriesRequest<TypeConfig>>(body),
        2 => round_trip::<InstallSnapshotRequest<TypeConfig>>(body),
        3 => round_trip::<Proposal>(body),
        4 => round_trip::<Result<VoteResponse<NodeId>, openraft::error::RaftError<NodeId>>>(body),
        5 => round_trip::<Result<AppendEntriesResponse<NodeId>, openraft::error::RaftError<NodeId>>>(body),
        6 => round_trip::<Result<InstallSnapshotResponse<NodeId>, openraft::error::RaftError<NodeId, openraft::error::InstallSnapshotError>>>(body),
        7 => round_trip::<Result<Responses, PeerError>>(body),
        _ => round_trip::<Result<u64, PeerError>>(body),
    }
}

/// A scratch state database the snapshot target stages against (staging reads what is there to
/// replace it; nothing is written).
fn scratch_db() -> &'static rocksdb::DB {
    static DB: std::sync::OnceLock<(tempfile::TempDir, std::sync::Arc<rocksdb::DB>)> = std::sync::OnceLock::new();
    let (_, db) = DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = store::open(dir.path()).expect("a scratch database").state;
        (dir, db)
    });
    db
}

/// The first byte picks the form: even — the bytes as a snapshot file; odd — the rest is a
/// `MMSNAP2` body that gets its valid digest appended, so the parser behind the digest is reached
/// (a digest that matches damaged content is what a buggy or hostile peer could send).
pub fn snapshot(data: &[u8]) {
    let Some((&form, body)) = data.split_first() else { return };
    let file = if form % 2 == 0 {
        body.to_vec()
    } else {
        let mut f = body.to_vec();
        f.extend_from_slice(&Sha256::digest(body));
        f
    };
    let _ = snapshot::stage_install(scratch_db(), &file, &mut rocksdb::WriteBatch::default());
}

/// A stored cube, and the same bytes as each kind of key the stores decode.
pub fn stored(data: &[u8]) {
    let _ = store::decode_cube(store::CF_CUBES, data);
    let _ = keys::u64_from_key(data);
    let _ = keys::id_from_index_key("fuzz", data);
    let _ = keys::link_from_key(data);
}

/// Text of any shape through what indexes and compares it.
pub fn text(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let (counts, len) = crate::index::lexical::term_counts(&s);
    assert!(counts.iter().all(|(t, n)| !t.is_empty() && *n > 0), "an empty term or a zero count");
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u32>(), len, "term counts do not add up to the length");
    let once = crate::model::dedupe::normalize_text(&s);
    assert_eq!(crate::model::dedupe::normalize_text(&once), once, "normalising is not idempotent");
}
