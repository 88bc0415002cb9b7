//! The Raft log and vote, on RocksDB.
//!
//! Durability contract (the one that NATS JetStream broke in Jepsen 2025): a vote is fsynced
//! before `save_vote` returns, and nothing this node has not fsynced counts towards a commit.
//! A follower's append is written synced before it is reported flushed — its acknowledgement
//! is the promise. A leader's own append is reported at once and fsynced by a flusher thread
//! (one fsync for everything pending), in parallel with replication; [`crate::raft::durable`] explains
//! why that is safe and what keeps the leader from committing ahead of its disk.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{EntryPayload, LogState, OptionalSend, RaftLogReader, StorageIOError, Vote};
use rocksdb::{WriteBatch, DB};

use super::keys::{u64_from_key, u64_key};
use super::meta::{KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE};
use super::{cf, decode, encode, synced, Dbs, StoreError, CF_RAFT_LOG, CF_RAFT_META};
use crate::raft::durable::Durable;
use crate::raft::{Entry, LogId, NodeId, StorageError, TypeConfig};

/// Ranges up to this many entries are read with point lookups instead of an iterator.
const POINT_READS: u64 = 16;

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

/// A leader's appends waiting for the flusher: everything up to `upto`, written in `epoch`.
struct Flush {
    epoch: u64,
    upto: LogId,
}

/// The log store. Cheap to clone: clones share the database, the flusher and the marks.
#[derive(Clone)]
pub struct LogStore {
    /// The log database (see [`Dbs`]).
    db: Arc<DB>,
    /// The state database: flushed before a purge.
    state: Arc<DB>,
    /// This node: appends of entries it proposes under its own committed vote are a leader's.
    id: NodeId,
    /// The last vote saved, to tell a leader's appends from a follower's.
    vote: Arc<std::sync::Mutex<Option<Vote<NodeId>>>>,
    durable: Durable,
    flusher: mpsc::Sender<Flush>,
}

impl LogStore {
    /// Opens the log of node `id`. Whatever the write-ahead log holds is fsynced first (a
    /// process killed before its flusher ran leaves appends in the page cache), so the durable
    /// mark starts at the last entry.
    ///
    /// A node that led when it stopped comes back as a candidate of its old term, not as its
    /// leader: openraft 0.9 restores a committed vote for itself as leadership at once, but a
    /// machine that lost power has lost the unsynced tail of its log, which followers may hold.
    /// Leading the same term again, it would append different entries under the log ids they
    /// hold, and a follower takes an entry whose log id it has for the same entry — the logs
    /// would diverge. As a candidate it must win an election, which moves to a new term.
    pub fn new(dbs: &Dbs, id: NodeId) -> Result<Self, StoreError> {
        let (db, state) = (dbs.log.clone(), dbs.state.clone());
        db.flush_wal(true)?;
        let (tx, rx) = mpsc::channel::<Flush>();
        let mut store = Self { db, state, id, vote: Default::default(), durable: Durable::new(None), flusher: tx };
        store.durable = Durable::new(store.last_entry_id()?);
        let mut vote: Option<Vote<NodeId>> = store.meta(KEY_VOTE)?;
        if let Some(v) = vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(id)) {
            let candidate = Vote::new(v.leader_id().term, id);
            store.put_meta_synced(KEY_VOTE, &candidate)?;
            vote = Some(candidate);
        }
        *store.vote.lock().unwrap_or_else(|p| p.into_inner()) = vote;
        // Weak: the thread must not keep the database (and its lock) open once the stores are
        // dropped; it exits when the last sender goes.
        let (fdb, durable) = (Arc::downgrade(&store.db), store.durable.clone());
        std::thread::Builder::new().name("memmesh-wal-sync".into()).spawn(move || flusher_loop(fdb, rx, durable)).expect("spawn WAL flusher thread");
        Ok(store)
    }

    /// How far this node's log is on disk.
    pub fn durable(&self) -> Durable {
        self.durable.clone()
    }

    /// Whether `entries` are this node's own proposals as the leader of its current term —
    /// the only appends that may be reported before their fsync. Membership changes are synced
    /// anyway: they are rare, and a configuration with this node as its only voter must never
    /// commit on an unsynced entry.
    pub(crate) fn leads(&self, entries: &[Entry]) -> bool {
        let vote = *self.vote.lock().unwrap_or_else(|p| p.into_inner());
        let Some(v) = vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(self.id)) else { return false };
        entries.iter().all(|e| e.log_id.leader_id == *v.leader_id() && !matches!(e.payload, EntryPayload::Membership(_)))
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get_cf(cf(&self.db, CF_RAFT_META), key)? {
            Some(b) => Ok(Some(decode(CF_RAFT_META, &b)?)),
            None => Ok(None),
        }
    }

    fn put_meta_synced<T: serde::Serialize>(&self, key: &[u8], v: &T) -> Result<(), StoreError> {
        self.durable.before_fsync();
        self.db.put_cf_opt(cf(&self.db, CF_RAFT_META), key, encode(v), &synced())?;
        Ok(())
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StoreError> {
        let mut it = self.db.raw_iterator_cf(cf(&self.db, CF_RAFT_LOG));
        it.seek_to_last();
        match it.value() {
            Some(v) => Ok(Some(decode::<Entry>(CF_RAFT_LOG, v)?.log_id)),
            None => {
                it.status()?;
                Ok(None)
            }
        }
    }
}

/// Fsyncs the WAL for every batch of a leader's pending appends, then raises the durable mark.
/// A failed fsync is final (the kernel may have dropped the dirty pages): the mark freezes and
/// the next append fails, which stops Raft on this node.
fn flusher_loop(db: std::sync::Weak<DB>, rx: mpsc::Receiver<Flush>, durable: Durable) {
    while let Ok(first) = rx.recv() {
        let mut pending = vec![first];
        pending.extend(rx.try_iter());
        durable.until_released();
        durable.before_fsync();
        let Some(db) = db.upgrade() else { return };
        match db.flush_wal(true) {
            Ok(()) => pending.iter().for_each(|f| durable.flushed(f.epoch, f.upto)),
            Err(e) => {
                tracing::error!(error = %e, "fsync of the Raft log failed; this node stops accepting appends");
                durable.failed();
            }
        }
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => Some(e + 1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(&mut self, range: RB) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = bounds(&range);
        let mut out = Vec::new();
        // The common reads — replication and apply of the newest entries — ask for a few
        // entries. Point lookups serve them without building a RocksDB iterator (creating and
        // seeking one was ~7% of a node's CPU at one client, the lookups ~4.5%). Missing
        // entries are skipped, as the iterator does (openraft asks across the log's start).
        if let Some(end) = end.filter(|&e| e.saturating_sub(start) <= POINT_READS) {
            for idx in start..end {
                let Some(v) = self.db.get_pinned_cf(cf(&self.db, CF_RAFT_LOG), u64_key(idx)).map_err(read_err)? else { continue };
                out.push(decode::<Entry>(CF_RAFT_LOG, &v).map_err(read_err)?);
            }
            return Ok(out);
        }
        let mut it = self.db.raw_iterator_cf(cf(&self.db, CF_RAFT_LOG));
        it.seek(u64_key(start));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let idx = u64_from_key(k).ok_or_else(|| read_err(StoreError::Corrupt { cf: CF_RAFT_LOG, detail: "short key".into() }))?;
            if end.is_some_and(|e| idx >= e) {
                break;
            }
            out.push(decode::<Entry>(CF_RAFT_LOG, v).map_err(read_err)?);
            it.next();
        }
        it.status().map_err(read_err)?;
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.meta(KEY_LAST_PURGED).map_err(read_err)?;
        // Never below the purge point, even if an older entry is still stored.
        let last = std::cmp::max(self.last_entry_id().map_err(read_err)?, last_purged);
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        // Synced — which also puts every earlier write of the write-ahead log on disk, so a
        // leader's appends still waiting for the flusher are durable before it follows anyone.
        self.put_meta_synced(KEY_VOTE, vote).map_err(|e| StorageIOError::write_vote(&e))?;
        *self.vote.lock().unwrap_or_else(|p| p.into_inner()) = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.meta(KEY_VOTE).map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: the committed index is a hint for faster restart; Raft re-derives it.
        self.db.put_cf(cf(&self.db, CF_RAFT_META), KEY_COMMITTED, encode(&committed)).map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.meta::<Option<LogId>>(KEY_COMMITTED).map_err(read_err)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let mark = self.durable.get();
        if mark.failed {
            return Err(write_err(crate::raft::durable::FsyncFailed));
        }
        let mut batch = WriteBatch::default();
        let log = cf(&self.db, CF_RAFT_LOG);
        for e in &entries {
            batch.put_cf(log, u64_key(e.log_id.index), encode(e));
        }
        if self.leads(&entries) {
            self.db.write(batch).map_err(write_err)?;
            self.flusher.send(Flush { epoch: mark.epoch, upto: last }).map_err(|_| write_err(std::io::Error::other("WAL flusher thread is gone")))?;
        } else {
            self.durable.before_fsync();
            self.db.write_opt(batch, &synced()).map_err(write_err)?;
            self.durable.synced(last);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let log = cf(&self.db, CF_RAFT_LOG);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(log, u64_key(log_id.index), u64_key(u64::MAX));
        batch.delete_cf(log, u64_key(u64::MAX));
        self.db.write_opt(batch, &synced()).map_err(write_err)?;
        self.durable.truncated(self.last_entry_id().map_err(write_err)?);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Forgetting log entries is only safe once the state they produced is durable. Applied
        // state is written without the write-ahead log (see `store`), so flush it to table
        // files first; openraft purges only entries it has applied.
        super::flush_all(&self.state).map_err(write_err)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf(&self.db, CF_RAFT_META), KEY_LAST_PURGED, encode(&log_id));
        batch.delete_range_cf(cf(&self.db, CF_RAFT_LOG), u64_key(0), u64_key(log_id.index + 1));
        self.db.write_opt(batch, &synced()).map_err(write_err)
    }
}
