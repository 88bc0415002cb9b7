//! openraft's `RaftStateMachine` on RocksDB: applies committed entries, builds and installs
//! snapshots. What each command does lives in [`super::apply`].

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError};
use rocksdb::{WriteBatch, DB};
use tokio::sync::watch;

use super::apply::apply_request;
use super::feed::{Feed, FeedMsg, RevisionEvents};
use super::meta::{KEY_APPLIED, KEY_APPLIED_SUB, KEY_MEMBERSHIP, KEY_RETIRED, KEY_SNAPSHOT};
use super::reader::load_cube;
use super::snapshot as snap;
use super::{cf, decode_cube, encode, synced, unlogged, StoreError, CF_CUBES, CF_SM_META};
use crate::index::SearchIndex;
use crate::model::ApplyError;
use crate::raft::durable::Durable;
use crate::raft::{Entry, LogId, Proposal, Response, Responses, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

/// The state machine. Clones share the database; the applied-revision watch lets readers wait
/// for (and report) how far this replica has applied.
#[derive(Clone)]
pub struct StateMachine {
    db: Arc<DB>,
    snapshot_dir: PathBuf,
    applied: Arc<watch::Sender<u64>>,
    feed: Feed,
    /// The search index, kept current as writes apply (derived state; rebuilt at start).
    index: Arc<SearchIndex>,
    /// How far the log is on disk: nothing is applied before it is (see [`crate::raft::durable`]).
    durable: Durable,
    /// Held while one entry applies, so a backup sees whole entries (see [`super::backup`]).
    boundary: Arc<std::sync::Mutex<()>>,
}

fn sm_err(e: StoreError) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

impl StateMachine {
    pub fn new(db: Arc<DB>, snapshot_dir: PathBuf, feed: Feed, index: Arc<SearchIndex>, durable: Durable) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&snapshot_dir)?;
        // Backups are streamed from a file here and removed once sent; a crash mid-stream leaves
        // one behind, which nothing will ever read.
        for e in std::fs::read_dir(&snapshot_dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with("backup-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let sm = Self { db, snapshot_dir, applied: Arc::new(watch::channel(0).0), feed, index, durable, boundary: Default::default() };
        let applied = sm.read_meta::<Option<LogId>>(KEY_APPLIED)?.flatten();
        sm.rebuild_index()?;
        sm.applied.send_replace(applied.map_or(0, |l| l.index));
        Ok(sm)
    }

    /// Re-creates the search index from the stored cubes (at start and after a snapshot), and
    /// adds the lifecycle index entries that cubes written before those indexes lack.
    pub(super) fn rebuild_index(&self) -> Result<(), StoreError> {
        self.index.clear();
        let mut repairs = WriteBatch::default();
        let mut added = 0;
        for item in self.db.iterator_cf(cf(&self.db, CF_CUBES), rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            let cube = decode_cube(CF_CUBES, &v)?;
            self.index.upsert(&cube);
            let id = super::keys::id_from_index_key(CF_CUBES, &k)?;
            added += super::lifecycle::repair_index_entries(&self.db, &mut repairs, id, &cube)?;
        }
        if added > 0 {
            // Derived entries: unlogged like apply's writes; lost in a crash, added again at the
            // next start.
            self.db.write_opt(repairs, &unlogged())?;
            tracing::info!(added, "lifecycle indexes: added the entries of cubes written before them");
        }
        Ok(())
    }

    /// Brings the index up to date for the cubes `events` changed (already written by a write
    /// made at `at_ms`). The write's outcome usually holds the changed cubes as written; an
    /// expiry changed state, version and time alone (see `lifecycle`), and only the others
    /// (purges) are looked up.
    fn reindex(&self, events: &[crate::store::feed::EventRecord], resp: &Response, at_ms: i64) -> Result<(), StoreError> {
        let written: &[crate::raft::Pb<memmesh_proto::MemCube>] = resp.result.as_ref().map_or(&[], |o| o.cubes.as_slice());
        for (i, e) in events.iter().enumerate() {
            if e.kind == memmesh_proto::EventType::Expired as i32 {
                if let Ok(id) = e.id.parse::<ulid::Ulid>() {
                    self.index.restate(id, e.version, resp.revision, memmesh_proto::CubeState::Expired as i32, at_ms);
                }
                continue;
            }
            // Events and returned cubes come in the same order: look at the same position
            // first, so a 1,000-cube batch is not a quadratic search.
            let same = |c: &&crate::raft::Pb<memmesh_proto::MemCube>| c.0.id == e.id && c.0.version == e.version;
            if let Some(c) = written.get(i).filter(same).or_else(|| written.iter().find(same)) {
                self.index.upsert(&c.0);
                continue;
            }
            let Ok(id) = e.id.parse::<ulid::Ulid>() else { continue };
            match load_cube(&self.db, id)? {
                Some(c) => self.index.upsert(&c),
                None => self.index.remove(id),
            }
        }
        Ok(())
    }

    /// Backups of this replica's state (see [`super::backup`]).
    pub fn backups(&self) -> super::backup::Backups {
        super::backup::Backups::new(self.db.clone(), self.boundary.clone(), self.snapshot_dir.clone())
    }

    /// A receiver of the highest applied revision.
    pub fn applied_watch(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        super::meta::get(&self.db, key)
    }

    fn snapshot_path(&self, id: &str) -> PathBuf {
        self.snapshot_dir.join(format!("{id}.snap"))
    }

    /// Removes finished snapshot files other than `keep` (files still being built or received
    /// are `.tmp` and left alone).
    fn remove_other_snapshots(&self, keep: &str) {
        let Ok(dir) = std::fs::read_dir(&self.snapshot_dir) else { return };
        let keep = format!("{keep}.snap");
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".snap") && name != keep {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Applies the writes of one entry in order. Each write goes to RocksDB in its own atomic
    /// batch together with its events and the marker (index, k) — so later writes of the entry
    /// see the effects of earlier ones — and a re-apply of a partly applied entry (after a crash,
    /// or after installing a snapshot taken mid-entry) skips the writes the marker covers.
    ///
    /// With `finish`, the last write also records `finish` as the applied log id (one write per
    /// entry fewer); the returned flag says whether it did (not when that write was skipped).
    pub(crate) fn apply_proposal(
        &self,
        p: &Proposal,
        index: u64,
        finish: Option<LogId>,
    ) -> Result<(Responses, Vec<crate::store::feed::EventRecord>, bool), StoreError> {
        let done: Option<u32> = match self.read_meta::<(u64, u32)>(KEY_APPLIED_SUB)? {
            Some((i, k)) if i == index => Some(k),
            _ => None,
        };
        let mut resps = Vec::with_capacity(p.requests.len());
        let mut all_events = Vec::new();
        let mut finished = false;
        for (k, req) in p.requests.iter().enumerate() {
            let k = k as u32;
            if done.is_some_and(|d| k <= d) {
                // Applied before the restart; its client is long gone.
                resps.push(Response { revision: index, result: Err(ApplyError::Precondition("applied before a restart".into())) });
                continue;
            }
            let mut batch = WriteBatch::default();
            let (resp, events) = apply_request(&self.db, &self.index, &mut batch, req, index)?;
            super::audit::stage(&self.db, &mut batch, index, k, req, &resp);
            self.feed.stage(&mut batch, index, k, &events);
            batch.put_cf(cf(&self.db, CF_SM_META), KEY_APPLIED_SUB, encode(&(index, k)));
            if let (Some(id), true) = (finish, k as usize + 1 == p.requests.len()) {
                batch.put_cf(cf(&self.db, CF_SM_META), KEY_APPLIED, encode(&Some(id)));
                finished = true;
            }
            self.db.write_opt(batch, &unlogged())?;
            if matches!(req.op, crate::raft::Op::PutPolicy { .. } | crate::raft::Op::DeletePolicy { .. } | crate::raft::Op::Import { .. }) {
                // After the write: a reader that sees the new generation reads the new policies.
                super::policies::changed();
            }
            self.reindex(&events, &resp, req.at_ms)?;
            all_events.extend(events);
            resps.push(resp);
        }
        Ok((Responses(resps), all_events, finished))
    }

    fn save_snapshot_meta(&self, meta: &SnapshotMeta) -> Result<(), StoreError> {
        self.db.put_cf_opt(cf(&self.db, CF_SM_META), KEY_SNAPSHOT, encode(meta), &synced())?;
        Ok(())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.read_meta::<Option<LogId>>(KEY_APPLIED).map_err(sm_err)?.flatten();
        let membership = self.read_meta(KEY_MEMBERSHIP).map_err(sm_err)?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Responses>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        // Immediate but for a single-voter leader, whose commits run ahead of its fsync.
        if let Some(e) = entries.last() {
            self.durable.wait(e.log_id.index).await.map_err(|err| StorageError::from(StorageIOError::apply(e.log_id, &err)))?;
        }
        let mut out = Vec::new();
        let (mut first, mut last) = (None, None);
        let mut published = Vec::new();
        for e in entries {
            let index = e.log_id.index;
            // Uncontended but while a backup takes its (instant) RocksDB snapshot.
            let _entry = self.boundary.lock().unwrap_or_else(|p| p.into_inner());
            let mut batch = WriteBatch::default();
            let mut finished = false;
            let resp = match &e.payload {
                EntryPayload::Blank => Responses::default(),
                EntryPayload::Normal(p) => {
                    let (resps, events, done) =
                        self.apply_proposal(p, index, Some(e.log_id)).map_err(|err| StorageError::from(StorageIOError::apply(e.log_id, &err)))?;
                    finished = done;
                    if !events.is_empty() {
                        published.push(RevisionEvents { revision: index, events });
                    }
                    resps
                }
                EntryPayload::Membership(m) => {
                    // Nodes leaving the membership are retired for good: their ids are never
                    // accepted again (a node rejoining under an old id could vote twice).
                    let prev: StoredMembership = self.read_meta(KEY_MEMBERSHIP).map_err(sm_err)?.unwrap_or_default();
                    let removed: Vec<u64> = prev.membership().nodes().map(|(id, _)| *id).filter(|id| m.get_node(id).is_none()).collect();
                    if !removed.is_empty() {
                        let mut retired: std::collections::BTreeSet<u64> = self.read_meta(KEY_RETIRED).map_err(sm_err)?.unwrap_or_default();
                        retired.extend(removed);
                        batch.put_cf(cf(&self.db, CF_SM_META), KEY_RETIRED, encode(&retired));
                    }
                    let sm = StoredMembership::new(Some(e.log_id), m.clone());
                    batch.put_cf(cf(&self.db, CF_SM_META), KEY_MEMBERSHIP, encode(&sm));
                    Responses::default()
                }
            };
            // Blank and membership entries: the change and the applied log id in one atomic write.
            // Write entries: each write was already written atomically with its progress marker,
            // the last one usually with the applied log id too (see `apply_proposal`).
            if !finished {
                batch.put_cf(cf(&self.db, CF_SM_META), KEY_APPLIED, encode(&Some(e.log_id)));
                self.db.write_opt(batch, &unlogged()).map_err(|err| StorageError::from(StorageIOError::apply(e.log_id, &err)))?;
            }
            out.push(resp);
            first.get_or_insert(index);
            last = Some(index);
        }
        if let (Some(from), Some(to)) = (first, last) {
            // Applied first, then published: a subscriber that reads `applied` after subscribing
            // is sure to receive every later revision from the broadcast.
            self.applied.send_replace(to);
            self.feed.publish(FeedMsg { from, to, revisions: published });
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = self.snapshot_dir.join(format!("recv-{}.tmp", ulid::Ulid::new()));
        let f = tokio::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).await.map_err(snap_err)?;
        Ok(Box::new(f))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: Box<tokio::fs::File>) -> Result<(), StorageError> {
        use tokio::io::AsyncSeekExt;
        let mut f = *snapshot;
        f.seek(std::io::SeekFrom::Start(0)).await.map_err(snap_err)?;
        let f = f.into_std().await;
        let (db, path, meta2, feed) = (self.db.clone(), self.snapshot_path(&meta.snapshot_id), meta.clone(), self.feed.clone());
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            let data = snap::read_all(f)?;
            let mut batch = WriteBatch::default();
            let header = snap::stage_install(&db, &data, &mut batch)?;
            // The change history before the snapshot never happened on this node. A snapshot taken
            // in the middle of entry i holds part of i's writes but none of its events: this node
            // could never deliver revision i whole, so its history starts after i.
            let upto = meta2.last_log_id.map_or(0, |l| l.index).max(header.applied_sub.map_or(0, |(i, _)| i));
            feed.reset_to(upto, &mut batch);
            snap::stage_meta(&db, &mut batch, &meta2, header.dedupe_count, &header.retired, header.applied_sub);
            db.write_opt(batch, &synced())?;
            std::fs::write(&path, &data)?;
            File::open(&path)?.sync_all()?;
            Ok(())
        })
        .await
        .map_err(snap_err)?
        .map_err(sm_err)?;
        self.remove_other_snapshots(&meta.snapshot_id);
        self.rebuild_index().map_err(sm_err)?;
        super::policies::changed();
        // The received temporary file was copied into place above.
        let _ = std::fs::read_dir(&self.snapshot_dir).map(|d| {
            d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("recv-")).for_each(|e| {
                let _ = std::fs::remove_file(e.path());
            })
        });
        self.applied.send_replace(meta.last_log_id.map_or(0, |l| l.index));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(meta) = self.read_meta::<SnapshotMeta>(KEY_SNAPSHOT).map_err(sm_err)? else {
            return Ok(None);
        };
        let f = tokio::fs::File::open(self.snapshot_path(&meta.snapshot_id)).await.map_err(snap_err)?;
        Ok(Some(Snapshot { meta, snapshot: Box::new(f) }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let tmp = self.snapshot_dir.join(format!("build-{}.tmp", ulid::Ulid::new()));
        let (db, tmp2) = (self.db.clone(), tmp.clone());
        let header = tokio::task::spawn_blocking(move || snap::write(&db, &tmp2)).await.map_err(snap_err)?.map_err(snap_err)?;
        let id = match header.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, ulid::Ulid::new()),
            None => format!("0-0-{}", ulid::Ulid::new()),
        };
        let path = self.snapshot_path(&id);
        std::fs::rename(&tmp, &path).map_err(snap_err)?;
        let meta = SnapshotMeta { last_log_id: header.last_applied, last_membership: header.membership, snapshot_id: id.clone() };
        self.save_snapshot_meta(&meta).map_err(snap_err)?;
        self.remove_other_snapshots(&id);
        let f = tokio::fs::File::open(&path).await.map_err(snap_err)?;
        Ok(Snapshot { meta, snapshot: Box::new(f) })
    }
}
