//! Seed corpora: valid encodings of what each target reads, for libFuzzer to start from (it
//! mutates them; from nothing it would spend a short run finding the framing). Written by
//! `scripts/fuzz.sh` through the ignored test `write_fuzz_seeds`; the tests of this module
//! check every seed is what it claims to be, so a format change cannot leave them stale.

use memmesh_proto as pb;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use openraft::{CommittedLeaderId, EntryPayload, Vote};
use prost::Message;

use super::client::METHODS;
use crate::model::{new_cube, Dedupe, Pb};
use crate::raft::wire::{encode, PeerError};
use crate::raft::{Entry, LogId, NodeId, Op, Proposal, Request, Responses, SnapshotMeta, StoredMembership};
use crate::store::{self, keys, snapshot};

/// The targets, by the names of their files in `node/fuzz/fuzz_targets`.
pub const TARGETS: &[&str] = &["log_entry", "peer_message", "snapshot", "stored", "text", "client_request"];

fn input(user: &str, text: &str) -> pb::CubeInput {
    pb::CubeInput {
        scope: Some(pb::Scope { tenant: "acme".into(), user: user.into(), ..Default::default() }),
        content: Some(pb::Content { text: text.into(), ..Default::default() }),
        memory_type: pb::MemoryType::Fact as i32,
        tags: vec!["seed".into()],
        ttl_seconds: 3_600,
        ..Default::default()
    }
}

fn cube(n: u64, text: &str) -> pb::MemCube {
    let mut c = new_cube(input("alice", text), ulid::Ulid::from_parts(1_000 + n, 7), 1_000 + n as i64, "r");
    c.embedding = Some(pb::Embedding { vector: vec![0.6, 0.8, 0.0], model: "m".into() });
    c
}

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(3, 1), index)
}

fn request(op: Op) -> Request {
    Request {
        tenant: "acme".into(),
        request_id: "r1".into(),
        fingerprint: [7; 32],
        at_ms: 1_000,
        actor: "seed".into(),
        quota: Default::default(),
        op,
    }
}

fn entries() -> Vec<Entry> {
    let cubes = vec![Pb(cube(1, "alpha beta")), Pb(cube(2, "gamma"))];
    let put = Op::Put { cubes: cubes.clone() };
    let dedupe = Op::PutDedupe { cubes, dedupe: Dedupe::Semantic { threshold: 0.9 } };
    let expire = Op::Expire { at_ms: 9, items: vec![(cube(1, "").id, 4)] };
    vec![
        Entry { log_id: log_id(1), payload: EntryPayload::Normal(Proposal { requests: vec![request(put), request(expire)] }) },
        Entry { log_id: log_id(2), payload: EntryPayload::Normal(Proposal { requests: vec![request(dedupe)] }) },
        Entry { log_id: log_id(3), payload: EntryPayload::Blank },
    ]
}

fn snapshot_file() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = store::open(dir.path()).expect("a database").state;
    for n in 0..3 {
        let c = cube(n, &format!("fact {n}"));
        let id = c.id.parse().expect("an id");
        db.put_cf(store::cf(&db, store::CF_CUBES), keys::cube_key(id), c.encode_to_vec()).expect("a write");
    }
    let path = dir.path().join("s.snap");
    snapshot::write(&db, &path).expect("a snapshot");
    std::fs::read(&path).expect("the snapshot file")
}

fn tagged(tag: u8, body: Vec<u8>) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(body);
    v
}

fn method(path: &str) -> u8 {
    METHODS.iter().position(|(p, _)| *p == path).expect("a method of the target") as u8
}

fn call(path: &str, msg: impl Message) -> Vec<u8> {
    tagged(method(path), msg.encode_to_vec())
}

/// The seeds of `target`.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let vote = Vote::new(3, 1);
    match target {
        "log_entry" => entries().iter().map(store::encode).collect(),
        "peer_message" => {
            let meta = SnapshotMeta { last_log_id: Some(log_id(2)), last_membership: StoredMembership::default(), snapshot_id: "s-1".into() };
            let refused: Result<Responses, PeerError> = Err(PeerError::NotLeader { leader_id: Some(2), leader_addr: Some("127.0.0.1:7070".into()) });
            vec![
                tagged(0, encode(&VoteRequest::<NodeId>::new(vote, Some(log_id(2))))),
                tagged(
                    1,
                    encode(&AppendEntriesRequest::<crate::raft::TypeConfig> {
                        vote,
                        prev_log_id: Some(log_id(0)),
                        entries: entries(),
                        leader_commit: Some(log_id(1)),
                    }),
                ),
                tagged(
                    2,
                    encode(&InstallSnapshotRequest::<crate::raft::TypeConfig> { vote, meta, offset: 0, data: b"MMSNAP2\n".to_vec(), done: false }),
                ),
                tagged(3, encode(&Proposal { requests: vec![request(Op::Put { cubes: vec![Pb(cube(3, "delta"))] })] })),
                tagged(4, encode(&Ok::<_, openraft::error::RaftError<NodeId>>(VoteResponse::<NodeId>::new(vote, Some(log_id(2)), true)))),
                tagged(5, encode(&Ok::<_, openraft::error::RaftError<NodeId>>(AppendEntriesResponse::<NodeId>::Success))),
                tagged(
                    6,
                    encode(&Ok::<_, openraft::error::RaftError<NodeId, openraft::error::InstallSnapshotError>>(InstallSnapshotResponse::<NodeId> {
                        vote,
                    })),
                ),
                tagged(7, encode(&refused)),
                tagged(8, encode(&Ok::<u64, PeerError>(42))),
            ]
        }
        "snapshot" => {
            let file = snapshot_file();
            let body = file[..file.len() - 32].to_vec();
            let mut v1 = body.clone();
            v1[..8].copy_from_slice(b"MMSNAP1\n");
            vec![tagged(0, file), tagged(1, body), tagged(0, v1)]
        }
        "stored" => {
            let id = ulid::Ulid::from_parts(7, 9);
            vec![
                cube(1, "some text").encode_to_vec(),
                keys::version_key(id, 3).to_vec(),
                keys::expiry_key(5, id).to_vec(),
                keys::link_key(id, id, 2).to_vec(),
            ]
        }
        "text" => [
            "Über naïve façades — ﬁne ｆｕｌｌ-width 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, it's 3.14!",
            "a\u{0}b\u{200b}c \u{fffd}",
            "The quick brown fox jumps over the lazy dog",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        "client_request" => {
            let scope = || Some(pb::Scope { tenant: "acme".into(), user: "alice".into(), ..Default::default() });
            let id = || ulid::Ulid::from_parts(1_001, 7).to_string();
            vec![
                call(
                    "/memmesh.v1.Memory/Put",
                    pb::PutRequest { cube: Some(input("alice", "likes green tea")), request_id: "p1".into(), ..Default::default() },
                ),
                call(
                    "/memmesh.v1.Memory/PutBatch",
                    pb::PutBatchRequest { cubes: vec![input("alice", "one"), input("bob", "two")], ..Default::default() },
                ),
                call("/memmesh.v1.Memory/Get", pb::GetRequest { id: id(), ..Default::default() }),
                call("/memmesh.v1.Memory/Update", pb::UpdateRequest { id: id(), add_tags: vec!["x".into()], ..Default::default() }),
                call("/memmesh.v1.Memory/Delete", pb::DeleteRequest { id: id(), ..Default::default() }),
                call("/memmesh.v1.Memory/List", pb::ListRequest { scope: scope(), page_size: 10, ..Default::default() }),
                call("/memmesh.v1.Memory/History", pb::HistoryRequest { id: id(), ..Default::default() }),
                call(
                    "/memmesh.v1.Memory/Search",
                    pb::SearchRequest { scopes: vec![scope().expect("a scope")], query: "green tea".into(), k: 5, ..Default::default() },
                ),
                call(
                    "/memmesh.v1.Memory/Link",
                    pb::LinkRequest {
                        source_id: id(),
                        link: Some(pb::Link { r#type: pb::LinkType::RelatesTo as i32, target_id: id() }),
                        ..Default::default()
                    },
                ),
                call("/memmesh.v1.MemStore/Subscribe", pb::SubscribeRequest { scope: scope(), ..Default::default() }),
                call(
                    "/memmesh.v1.Admin/CreateToken",
                    pb::CreateTokenRequest {
                        principal: Some(pb::Principal { tenant: "acme".into(), user: "alice".into(), ..Default::default() }),
                        ttl_seconds: 60,
                        ..Default::default()
                    },
                ),
                call("/memmesh.v1.Admin/ListAudit", pb::ListAuditRequest { tenant: "acme".into(), ..Default::default() }),
                call(
                    "/memmesh.v1.Admin/SetPolicy",
                    pb::SetPolicyRequest { policy: Some(pb::Policy { name: "p".into(), scope: scope(), ..Default::default() }) },
                ),
                call("/memmesh.v1.Admin/Import", pb::ImportRequest { tenant: "acme".into(), ..Default::default() }),
                call("/memmesh.v1.Admin/Export", pb::ExportRequest { tenant: "acme".into(), ..Default::default() }),
                call("/memmesh.v1.Cluster/Status", pb::StatusRequest {}),
            ]
        }
        other => panic!("no fuzz target {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing;

    #[test]
    fn every_seed_is_a_valid_encoding_of_what_its_target_reads() {
        for e in seeds("log_entry") {
            store::decode::<Entry>("log", &e).expect("a log entry seed decodes");
        }
        for s in seeds("snapshot") {
            let file = if s[0] % 2 == 0 { s[1..].to_vec() } else { [&s[1..], &sha2::Sha256::digest(&s[1..])[..]].concat() };
            snapshot::stage_install(fuzzing_db(), &file, &mut rocksdb::WriteBatch::default()).expect("a snapshot seed installs");
        }
        store::decode_cube(store::CF_CUBES, &seeds("stored")[0]).expect("a stored cube seed decodes");
        for t in TARGETS.iter().filter(|t| **t != "client_request") {
            for s in seeds(t) {
                match *t {
                    "log_entry" => fuzzing::log_entry(&s),
                    "peer_message" => fuzzing::peer_message(&s),
                    "snapshot" => fuzzing::snapshot(&s),
                    "stored" => fuzzing::stored(&s),
                    _ => fuzzing::text(&s),
                }
            }
        }
    }

    fn fuzzing_db() -> &'static rocksdb::DB {
        super::super::scratch_db()
    }

    use sha2::Digest;

    #[test]
    fn the_client_target_answers_its_seeds_and_refuses_garbage_with_a_status() {
        let target = fuzzing::client::Target::start();
        let put = &seeds("client_request")[0];
        assert_eq!(target.call(put), tonic::Code::Ok, "a valid put is written");
        // The same method with a cube of no scope: refused, naming the field.
        let bad = call("/memmesh.v1.Memory/Put", pb::PutRequest { cube: Some(pb::CubeInput::default()), ..Default::default() });
        assert_eq!(target.call(&bad), tonic::Code::InvalidArgument);
        // Bytes that are no message at all.
        assert_eq!(target.call(&[method("/memmesh.v1.Memory/Get"), 0xff, 0xff, 0xff]), tonic::Code::Internal);
        for s in seeds("client_request") {
            target.call(&s);
        }
    }

    /// Writes every target's seeds to `$MEMMESH_FUZZ_SEEDS_DIR/<target>/` (run by `scripts/fuzz.sh`).
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let dir = std::path::PathBuf::from(std::env::var("MEMMESH_FUZZ_SEEDS_DIR").expect("MEMMESH_FUZZ_SEEDS_DIR"));
        for t in TARGETS {
            let d = dir.join(t);
            std::fs::create_dir_all(&d).expect("a seed directory");
            for (i, s) in seeds(t).iter().enumerate() {
                std::fs::write(d.join(format!("seed-{i}")), s).expect("a seed file");
            }
        }
    }
}
