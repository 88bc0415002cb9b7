//! Storage tests: openraft's conformance suite, apply semantics, snapshot round trip.

use std::sync::Arc;

use memmesh_proto::{Content, CubeInput, MemCube, Scope};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, EntryPayload, RaftSnapshotBuilder};
use tempfile::TempDir;

use super::dbs::{open_state_db, WAL_PREALLOCATED};
use super::*;
use crate::model::new_cube;
use crate::raft::durable::Durable;
use crate::raft::{Entry, LogId, Op, Pb, Proposal, Request, StorageError, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = TempDir::new().expect("tempdir");
        let dbs = open(dir.path()).expect("open dbs");
        let db = dbs.state.clone();
        // The suite applies entries it never appended: the state machine sees a log on disk.
        let sm = StateMachine::new(db.clone(), dir.path().join("snapshots"), Feed::new(db.clone(), 16).expect("feed"), Default::default(), on_disk())
            .expect("sm");
        Ok((dir, LogStore::new(&dbs, 1).expect("log store"), sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).expect("openraft storage suite");
}

/// A durable mark for state machines tested without a log: everything is on disk.
fn on_disk() -> Durable {
    Durable::new(Some(LogId::new(CommittedLeaderId::new(u64::MAX, 0), u64::MAX)))
}

fn stores() -> (TempDir, Arc<rocksdb::DB>, StateMachine) {
    let dir = TempDir::new().unwrap();
    let db = open(dir.path()).unwrap().state;
    let sm = StateMachine::new(db.clone(), dir.path().join("snapshots"), Feed::new(db.clone(), 16).unwrap(), Default::default(), on_disk()).unwrap();
    (dir, db, sm)
}

fn cube(tenant: &str, user: &str, text: &str, ms: u64) -> Pb<MemCube> {
    let input = CubeInput {
        scope: Some(Scope { tenant: tenant.into(), user: user.into(), ..Default::default() }),
        content: Some(Content { text: text.into(), ..Default::default() }),
        ..Default::default()
    };
    Pb(new_cube(input, ulid::Ulid::from_parts(ms, rand::random()), ms as i64, ""))
}

fn entry(index: u64, op: Op, request_id: &str) -> Entry {
    let req = Request {
        tenant: "t".into(),
        request_id: request_id.into(),
        fingerprint: [index as u8; 32],
        at_ms: 1000 + index as i64,
        actor: String::new(),
        quota: Default::default(),
        op,
    };
    Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Normal(Proposal { requests: vec![req] }) }
}

#[tokio::test]
async fn apply_writes_data_and_applied_id_and_is_idempotent_by_request_id() {
    let (_d, db, mut sm) = stores();
    let put = Op::Put { cubes: vec![cube("t", "u", "a", 1), cube("t", "u", "b", 2)] };
    let r = sm.apply([entry(1, put.clone(), "rid")]).await.unwrap();
    let out = r[0].0[0].result.clone().unwrap();
    assert_eq!(out.cubes.len(), 2);
    assert!(out.cubes.iter().all(|c| c.0.version == 1 && c.0.revision == 1));
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.unwrap().index, 1);

    // Same request id, same fingerprint (index 1 → same bytes) is not possible with entry();
    // build the retry by hand with the original fingerprint.
    let mut retry = entry(2, Op::Put { cubes: vec![cube("t", "u", "a", 3)] }, "rid");
    if let EntryPayload::Normal(p) = &mut retry.payload {
        p.requests[0].fingerprint = [1; 32];
    }
    let r2 = sm.apply([retry]).await.unwrap();
    let out2 = r2[0].0[0].result.clone().unwrap();
    assert!(out2.deduplicated);
    assert_eq!(r2[0].0[0].revision, 1, "the original revision");
    assert_eq!(out2.cubes, out.cubes);
    let reader = Reader::new(db.clone(), sm.applied_watch());
    let q = reader::ListQuery {
        scope: Scope { tenant: "t".into(), ..Default::default() },
        filter: crate::model::Filter { states: vec![1], ..Default::default() },
        page_size: 100,
        ..Default::default()
    };
    assert_eq!(reader.list(&q, |_| true).unwrap().cubes.len(), 2, "the retry created nothing");
    assert_eq!(reader.applied_revision(), 2);

    // A different request under the same id is refused.
    let r3 = sm.apply([entry(3, Op::Put { cubes: vec![cube("t", "u", "c", 4)] }, "rid")]).await.unwrap();
    assert!(matches!(r3[0].0[0].result, Err(crate::model::ApplyError::RequestIdReused { .. })));
}

#[tokio::test]
async fn dedupe_table_is_bounded_and_evicts_oldest_first() {
    let (_d, db, _sm) = stores();
    let req = |rid: &str, fp: u8| Request {
        tenant: "t".into(),
        request_id: rid.into(),
        fingerprint: [fp; 32],
        at_ms: 1,
        actor: String::new(),
        quota: Default::default(),
        op: Op::Put { cubes: vec![cube("t", "u", rid, 1)] },
    };
    for (i, rid) in ["r1", "r2", "r3", "r4", "r5"].iter().enumerate() {
        let mut batch = rocksdb::WriteBatch::default();
        let (r, _) = apply::apply_with_capacity(&db, &crate::index::SearchIndex::default(), &mut batch, &req(rid, 0), i as u64 + 1, 3).unwrap();
        assert!(!r.result.unwrap().deduplicated);
        db.write(batch).unwrap();
    }
    let count: u64 = decode(CF_SM_META, &db.get_cf(cf(&db, CF_SM_META), super::meta::KEY_DEDUPE_COUNT).unwrap().unwrap()).unwrap();
    assert_eq!(count, 3);
    let remembered = |rid: &str| db.get_cf(cf(&db, CF_DEDUPE), keys::dedupe_key("t", rid)).unwrap().is_some();
    assert_eq!(["r1", "r2", "r3", "r4", "r5"].map(remembered), [false, false, true, true, true], "oldest two evicted");
    let order = db.iterator_cf(cf(&db, CF_DEDUPE_ORDER), rocksdb::IteratorMode::Start).count();
    assert_eq!(order, 3, "eviction order index shrinks with the table");

    // A remembered id still deduplicates; an evicted one is a new write.
    let mut batch = rocksdb::WriteBatch::default();
    let (again, _) = apply::apply_with_capacity(&db, &crate::index::SearchIndex::default(), &mut batch, &req("r5", 0), 9, 3).unwrap();
    assert!(again.result.unwrap().deduplicated);
    let (fresh, _) = apply::apply_with_capacity(&db, &crate::index::SearchIndex::default(), &mut batch, &req("r1", 0), 9, 3).unwrap();
    assert!(!fresh.result.unwrap().deduplicated);
}

#[tokio::test]
async fn snapshot_built_on_one_store_installs_identically_on_another() {
    let (_d1, db1, mut sm1) = stores();
    sm1.apply([entry(1, Op::Put { cubes: (0..50).map(|i| cube("t", "u", &format!("m{i}"), i + 1)).collect() }, "r1")]).await.unwrap();
    sm1.apply([entry(2, Op::PurgeScope { scope: Pb(Scope { tenant: "t".into(), user: "nobody".into(), ..Default::default() }) }, "")]).await.unwrap();
    let snap = sm1.build_snapshot().await.unwrap();
    assert_eq!(snap.meta.last_log_id.unwrap().index, 2);

    // The target already holds unrelated state, which the snapshot must replace, not merge.
    let (_d2, db2, mut sm2) = stores();
    sm2.apply([entry(1, Op::Put { cubes: vec![cube("other", "x", "stale", 99)] }, "")]).await.unwrap();
    let mut recv = sm2.begin_receiving_snapshot().await.unwrap();
    let mut src = snap.snapshot;
    tokio::io::copy(&mut *src, &mut *recv).await.unwrap();
    tokio::io::AsyncWriteExt::flush(&mut *recv).await.unwrap();
    sm2.install_snapshot(&snap.meta, recv).await.unwrap();

    let (applied, _) = sm2.applied_state().await.unwrap();
    assert_eq!(applied.unwrap().index, 2);
    for name in DATA_CFS {
        let dump = |db: &rocksdb::DB| db.iterator_cf(cf(db, name), rocksdb::IteratorMode::Start).map(|kv| kv.unwrap()).collect::<Vec<_>>();
        assert_eq!(dump(&db1), dump(&db2), "column family {name} identical after install");
    }
    let cur = sm2.get_current_snapshot().await.unwrap().expect("installed snapshot is current");
    assert_eq!(cur.meta, snap.meta);
}

#[tokio::test]
async fn only_the_leaders_own_appends_skip_the_fsync_before_being_reported() {
    let dir = TempDir::new().unwrap();
    let mut log = LogStore::new(&open(dir.path()).unwrap(), 1).unwrap();
    let durable = log.durable();
    let batch = |from: u64, term: u64, leader: u64| -> Vec<Entry> {
        (from..from + 3).map(|i| Entry { log_id: LogId::new(CommittedLeaderId::new(term, leader), i), payload: EntryPayload::Blank }).collect()
    };
    // No vote yet, then a vote for another node: a follower's appends — synced, so the mark is
    // there the moment they are reported.
    assert!(!log.leads(&batch(1, 1, 1)));
    openraft::storage::RaftLogStorageExt::blocking_append(&mut log, batch(1, 1, 1)).await.unwrap();
    assert_eq!(durable.get().upto.map(|l| l.index), Some(3));
    log.save_vote(&openraft::Vote::new_committed(2, 2)).await.unwrap();
    assert!(!log.leads(&batch(4, 2, 2)));
    // Node 1 leads term 3: its own entries of term 3 are a leader's, anything else is not —
    // not even entries it proposed as the leader of an earlier term.
    log.save_vote(&openraft::Vote::new_committed(3, 1)).await.unwrap();
    assert!(log.leads(&batch(4, 3, 1)));
    assert!(!log.leads(&batch(4, 1, 1)));
    let membership = vec![Entry { log_id: LogId::new(CommittedLeaderId::new(3, 1), 4), payload: EntryPayload::Membership(Default::default()) }];
    assert!(!log.leads(&membership), "a membership change is always synced");
    // A vote that is not committed (a candidate's) is not a leader's either.
    log.save_vote(&openraft::Vote::new(4, 1)).await.unwrap();
    assert!(!log.leads(&batch(4, 4, 1)));
    log.save_vote(&openraft::Vote::new_committed(4, 1)).await.unwrap();
    // The leader's append is reported before its fsync; the mark follows once the flusher ran.
    openraft::storage::RaftLogStorageExt::blocking_append(&mut log, batch(4, 4, 1)).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), durable.wait(6)).await.expect("the flusher raised the mark").unwrap();
    // A truncation takes the mark back to what is left.
    log.truncate(LogId::new(CommittedLeaderId::new(4, 1), 5)).await.unwrap();
    assert_eq!(durable.get().upto.map(|l| l.index), Some(4));
}

#[tokio::test]
async fn a_leader_restarts_as_a_candidate_of_its_term_so_it_cannot_lead_that_term_again() {
    let dir = TempDir::new().unwrap();
    let path = dir.path();
    {
        let mut log = LogStore::new(&open(path).unwrap(), 1).unwrap();
        log.save_vote(&openraft::Vote::new_committed(7, 1)).await.unwrap();
    }
    let mut log = LogStore::new(&open(path).unwrap(), 1).unwrap();
    let vote = log.read_vote().await.unwrap().unwrap();
    assert_eq!(vote, openraft::Vote::new(7, 1), "still voted for itself in term 7, but not leading it");
    assert!(!vote.is_committed());
    // A follower's committed vote for another node is kept as it is.
    log.save_vote(&openraft::Vote::new_committed(8, 2)).await.unwrap();
    drop(log);
    let mut log = LogStore::new(&open(path).unwrap(), 1).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(openraft::Vote::new_committed(8, 2)));
}

#[tokio::test]
async fn a_log_kept_in_the_state_database_by_an_older_version_moves_to_its_own_database_intact() {
    let dir = TempDir::new().unwrap();
    let entries: Vec<Entry> = (1..=4).map(|i| entry(i, Op::Touch { id: "x".into() }, "")).collect();
    let vote = openraft::Vote::new_committed(3, 2);
    {
        // The old layout: one database, the log in two of its column families.
        let old = open_state_db(&dir.path().join("db")).unwrap();
        for e in &entries {
            old.put_cf(cf(&old, CF_RAFT_LOG), keys::u64_key(e.log_id.index), encode(e)).unwrap();
        }
        old.put_cf(cf(&old, CF_RAFT_META), b"vote", encode(&vote)).unwrap();
        old.flush_wal(true).unwrap();
    }
    let dbs = open(dir.path()).unwrap();
    let mut log = LogStore::new(&dbs, 1).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(openraft::RaftLogReader::try_get_log_entries(&mut log, 1..5).await.unwrap(), entries);
    assert!(!dir.path().join("raft.new").exists());
    for name in LOG_CFS {
        assert_eq!(dbs.state.iterator_cf(cf(&dbs.state, name), rocksdb::IteratorMode::Start).count(), 0, "the old copy of {name} is gone");
    }
}

#[test]
fn the_log_database_starts_on_a_write_ahead_log_file_written_to_full_size() {
    let dir = TempDir::new().unwrap();
    let dbs = open(dir.path()).unwrap();
    // The newest log file is the current one; it must be the recycled, padded file.
    let mut logs: Vec<(String, u64)> = std::fs::read_dir(dir.path().join("raft"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .collect();
    logs.sort();
    let (name, len) = logs.last().unwrap().clone();
    assert!(len >= WAL_PREALLOCATED as u64, "current write-ahead log {name} is {len} bytes, not preallocated");
    drop(dbs);
}

#[tokio::test]
async fn log_store_reads_back_appends_and_survives_reopen() {
    let dir = TempDir::new().unwrap();
    {
        let mut log = LogStore::new(&open(dir.path()).unwrap(), 1).unwrap();
        let entries: Vec<Entry> = (1..=10).map(|i| entry(i, Op::Touch { id: "x".into() }, "")).collect();
        // No vote: a follower's append, reported once it is fsynced.
        openraft::storage::RaftLogStorageExt::blocking_append(&mut log, entries).await.unwrap();
        log.purge(LogId::new(CommittedLeaderId::new(1, 1), 3)).await.unwrap();
    }
    let mut log = LogStore::new(&open(dir.path()).unwrap(), 1).unwrap();
    let st = log.get_log_state().await.unwrap();
    assert_eq!(st.last_purged_log_id.unwrap().index, 3);
    assert_eq!(st.last_log_id.unwrap().index, 10);
    let got = openraft::RaftLogReader::try_get_log_entries(&mut log, 4..8).await.unwrap();
    assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
}

#[tokio::test]
async fn an_entry_applied_partly_before_a_crash_is_finished_without_repeating_a_write() {
    let (_d, db, mut sm) = stores();
    let a = cube("t", "u", "a", 1);
    let id = a.0.id.clone();
    let req = |op: Op| Request {
        tenant: "t".into(),
        request_id: String::new(),
        fingerprint: [0; 32],
        at_ms: 5,
        actor: String::new(),
        quota: Default::default(),
        op,
    };
    let patch = memmesh_proto::UpdateRequest { id: id.clone(), importance: Some(0.5), ..Default::default() };
    let proposal = Proposal {
        requests: vec![
            req(Op::Put { cubes: vec![a] }),
            req(Op::Update { patch: Pb(patch), embedding: None }),
            req(Op::Put { cubes: vec![cube("t", "u", "b", 2)] }),
        ],
    };
    // The crash: only the first write of entry 7 reached RocksDB (with its progress marker).
    let first = Proposal { requests: proposal.requests[..1].to_vec() };
    sm.apply_proposal(&first, 7, None).unwrap();
    // Restart: Raft re-applies the whole entry.
    let entry = Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), 7), payload: EntryPayload::Normal(proposal) };
    let r = sm.apply([entry]).await.unwrap();
    assert!(r[0].0[0].result.is_err(), "the first write is skipped, not repeated");
    assert_eq!(r[0].0[1].result.as_ref().unwrap().cubes[0].0.version, 2, "the update applies once");
    let reader = Reader::new(db.clone(), sm.applied_watch());
    let ulid = ulid::Ulid::from_string(&id).unwrap();
    assert_eq!(reader.history(ulid).unwrap().len(), 2, "versions 1 and 2 — no version 3");
    let q = reader::ListQuery {
        scope: Scope { tenant: "t".into(), ..Default::default() },
        filter: crate::model::Filter { states: vec![1], ..Default::default() },
        page_size: 10,
        ..Default::default()
    };
    assert_eq!(reader.list(&q, |_| true).unwrap().cubes.len(), 2);
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.unwrap().index, 7);
    // All three writes' events are in the history of revision 7, in order.
    let feed = Feed::new(db.clone(), 16).unwrap();
    let h = feed.history(7, 7).unwrap();
    let kinds: Vec<i32> = h[0].events.iter().map(|e| e.kind).collect();
    use memmesh_proto::EventType::*;
    assert_eq!(kinds, vec![Created as i32, Updated as i32, Created as i32]);
}

#[tokio::test]
async fn a_snapshot_taken_mid_entry_installs_without_repeating_or_splitting_that_entry() {
    let (_d1, db1, mut sm1) = stores();
    let a = cube("t", "u", "a", 1);
    let a_id = a.0.id.clone();
    sm1.apply([entry(4, Op::Put { cubes: vec![a] }, "")]).await.unwrap();
    let req = |op: Op| Request {
        tenant: "t".into(),
        request_id: String::new(),
        fingerprint: [0; 32],
        at_ms: 9,
        actor: String::new(),
        quota: Default::default(),
        op,
    };
    // An update (repeating it would make a third version) and a put.
    let patch = memmesh_proto::UpdateRequest { id: a_id.clone(), importance: Some(0.5), ..Default::default() };
    let five =
        Proposal { requests: vec![req(Op::Update { patch: Pb(patch), embedding: None }), req(Op::Put { cubes: vec![cube("t", "u", "c", 3)] })] };
    // Entry 5 half applied (its first write only) when the snapshot is taken.
    sm1.apply_proposal(&Proposal { requests: five.requests[..1].to_vec() }, 5, None).unwrap();
    let snap = sm1.build_snapshot().await.unwrap();
    assert_eq!(snap.meta.last_log_id.unwrap().index, 4);

    let (_d2, db2, mut sm2) = stores();
    let mut recv = sm2.begin_receiving_snapshot().await.unwrap();
    let mut src = snap.snapshot;
    tokio::io::copy(&mut *src, &mut *recv).await.unwrap();
    tokio::io::AsyncWriteExt::flush(&mut *recv).await.unwrap();
    sm2.install_snapshot(&snap.meta, recv).await.unwrap();
    // Raft then sends entry 5 from the log: the write already in the snapshot is skipped.
    let e5 = Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), 5), payload: EntryPayload::Normal(five.clone()) };
    sm2.apply([e5.clone()]).await.unwrap();
    sm1.apply([e5]).await.unwrap();
    for name in [CF_CUBES, CF_VERSIONS, CF_SCOPE_IDX] {
        let dump = |db: &rocksdb::DB| db.iterator_cf(cf(db, name), rocksdb::IteratorMode::Start).map(|kv| kv.unwrap()).collect::<Vec<_>>();
        assert_eq!(dump(&db1), dump(&db2), "{name}: same state as the node that applied entry 5 whole");
    }
    let reader = Reader::new(db2.clone(), sm2.applied_watch());
    let q = reader::ListQuery {
        scope: Scope { tenant: "t".into(), ..Default::default() },
        filter: crate::model::Filter { states: vec![1], ..Default::default() },
        page_size: 10,
        ..Default::default()
    };
    assert_eq!(reader.list(&q, |_| true).unwrap().cubes.len(), 2, "a and c");
    assert_eq!(reader.history(ulid::Ulid::from_string(&a_id).unwrap()).unwrap().len(), 2, "the update applied once: versions 1 and 2");
    // This node never saw revision 5 whole, so its change history starts after it.
    let feed = Feed::new(db2.clone(), 16).unwrap();
    assert_eq!(feed.compacted(), 5);
}

/// A copy of a live node's databases: what a `kill -9` at this instant would leave on disk
/// (written data is in the files through the page cache; memtables are not).
fn crash_image(from: &std::path::Path, to: &std::path::Path) {
    for sub in ["db", "raft"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for e in std::fs::read_dir(from.join(sub)).unwrap().flatten() {
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn unlogged_applied_state_is_rebuilt_from_the_log_and_made_durable_before_a_purge() {
    let dir = TempDir::new().unwrap();
    let dbs = open(dir.path()).unwrap();
    let db = dbs.state.clone();
    let mut log = LogStore::new(&dbs, 1).unwrap();
    let mut sm =
        StateMachine::new(db.clone(), dir.path().join("snapshots"), Feed::new(db.clone(), 16).unwrap(), Default::default(), log.durable()).unwrap();
    let entries: Vec<Entry> = (1..=5).map(|i| entry(i, Op::Put { cubes: vec![cube("t", "u", &format!("c{i}"), i)] }, "")).collect();
    openraft::storage::RaftLogStorageExt::blocking_append(&mut log, entries.clone()).await.unwrap();
    sm.apply(entries.clone()).await.unwrap();
    let open = |path: std::path::PathBuf| {
        let dbs = open(&path).unwrap();
        let db = dbs.state.clone();
        let log = LogStore::new(&dbs, 1).unwrap();
        let sm =
            StateMachine::new(db.clone(), path.join("snapshots"), Feed::new(db.clone(), 16).unwrap(), Default::default(), log.durable()).unwrap();
        (db, sm, log)
    };

    // A crash now loses the applied state (no write-ahead log) but not the fsynced log, which
    // holds everything needed to apply it again — as openraft does at start-up.
    let img = TempDir::new().unwrap();
    crash_image(dir.path(), img.path());
    let (db1, mut sm1, mut log1) = open(img.path().to_path_buf());
    let (applied, _) = sm1.applied_state().await.unwrap();
    assert_eq!(applied, None, "applied state is not written ahead (if this fails, the WAL is back)");
    let again = openraft::RaftLogReader::try_get_log_entries(&mut log1, 1..6).await.unwrap();
    assert_eq!(again.len(), 5);
    sm1.apply(again).await.unwrap();
    assert_eq!(db1.iterator_cf(cf(&db1, CF_CUBES), rocksdb::IteratorMode::Start).count(), 5);

    // Purging the log first flushes the applied state: a crash right after keeps all of it.
    log.purge(LogId::new(CommittedLeaderId::new(1, 1), 5)).await.unwrap();
    let img2 = TempDir::new().unwrap();
    crash_image(dir.path(), img2.path());
    let (db2, mut sm2, mut log2) = open(img2.path().to_path_buf());
    let (applied, _) = sm2.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(5));
    assert_eq!(log2.get_log_state().await.unwrap().last_purged_log_id.map(|l| l.index), Some(5));
    let cubes: Vec<_> = db2.iterator_cf(cf(&db2, CF_CUBES), rocksdb::IteratorMode::Start).collect();
    assert_eq!(cubes.len(), 5, "every applied cube survived the crash after the purge");
}

#[tokio::test]
async fn the_current_version_is_stored_once_and_moves_into_the_history_when_replaced() {
    let (_d, db, mut sm) = stores();
    let a = cube("t", "u", "a", 1);
    let id = ulid::Ulid::from_string(&a.0.id).unwrap();
    sm.apply([entry(1, Op::Put { cubes: vec![a.clone()] }, "")]).await.unwrap();
    let versions = |db: &rocksdb::DB| db.iterator_cf(cf(db, CF_VERSIONS), rocksdb::IteratorMode::Start).count();
    assert_eq!(versions(&db), 0, "a cube never changed has no past version");
    let reader = Reader::new(db.clone(), sm.applied_watch());
    assert_eq!(reader.history(id).unwrap().iter().map(|c| c.version).collect::<Vec<_>>(), vec![1]);
    assert_eq!(reader.get_version(id, 1).unwrap().unwrap().revision, 1);
    assert_eq!(reader.get_as_of(id, 1).unwrap().unwrap().version, 1);

    let patch = memmesh_proto::UpdateRequest { id: a.0.id.clone(), importance: Some(0.5), ..Default::default() };
    sm.apply([entry(2, Op::Update { patch: Pb(patch), embedding: None }, "")]).await.unwrap();
    assert_eq!(versions(&db), 1, "version 1 moved into the history");
    let h = reader.history(id).unwrap();
    assert_eq!(h.iter().map(|c| (c.version, c.revision)).collect::<Vec<_>>(), vec![(1, 1), (2, 2)]);
    assert_eq!(reader.get_version(id, 1).unwrap().unwrap().importance, a.0.importance, "version 1 as it was");
    assert_eq!(reader.get_version(id, 2).unwrap().unwrap().importance, 0.5);
    assert_eq!(reader.get_as_of(id, 1).unwrap().unwrap().version, 1);
    assert_eq!(reader.get_as_of(id, 5).unwrap().unwrap().version, 2);
    assert!(reader.get_version(id, 3).unwrap().is_none());

    // Rolling back to version 1 reads it from the history and makes version 3.
    sm.apply([entry(3, Op::Rollback { id: a.0.id.clone(), to_version: 1, expected_version: 2 }, "")]).await.unwrap();
    let h = reader.history(id).unwrap();
    assert_eq!(h.iter().map(|c| c.version).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(h[2].importance, a.0.importance);
}

#[test]
fn a_backup_file_left_by_a_crash_is_removed_when_the_state_machine_opens() {
    let dir = TempDir::new().unwrap();
    let db = Arc::new(open_state_db(&dir.path().join("db")).unwrap());
    let snaps = dir.path().join("snapshots");
    std::fs::create_dir_all(&snaps).unwrap();
    std::fs::write(snaps.join("backup-01JABC.tmp"), b"half a backup").unwrap();
    std::fs::write(snaps.join("1-10-01JABC.snap"), b"a snapshot").unwrap();
    let _sm = StateMachine::new(db.clone(), snaps.clone(), Feed::new(db, 16).unwrap(), Default::default(), on_disk()).unwrap();
    assert!(!snaps.join("backup-01JABC.tmp").exists(), "the stale backup stays forever");
    assert!(snaps.join("1-10-01JABC.snap").exists(), "snapshots are not backups");
}
