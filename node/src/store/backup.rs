//! Backups of a running cluster and the start of a new cluster from one.
//!
//! A backup is a snapshot file ([`super::snapshot`]: every data column family, the applied log
//! id, a SHA-256 over it all) taken at an **entry boundary**: apply holds the state machine's
//! boundary lock while it applies an entry, and a backup takes its RocksDB snapshot under the
//! same lock. So a backup holds exactly the entries up to its revision — never part of a group
//! commit's entry, which a Raft snapshot may (see `applied_sub`) — and "every write
//! acknowledged with a revision ≤ R is in it, none after" is a promise a restore can keep.
//!
//! [`restore`] writes such a file into the empty databases of a new node and makes that node
//! the sole voter of a new cluster whose log continues after the backup's last entry:
//!
//! - the state is installed as a snapshot would be, with the membership replaced by the new
//!   node alone (the old members are added to the retired ids);
//! - the Raft log is empty and purged up to the backup's log id, and the vote is the new node's
//!   in the backup's term (uncommitted): it elects itself in the next term and appends after
//!   the restored index, so revisions keep increasing and a mirror's `start_revision` stays
//!   meaningful;
//! - the file itself becomes the node's current snapshot, which is what members joining later
//!   receive (the log before it does not exist).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::{BasicNode, Membership, Vote};
use rocksdb::{WriteBatch, DB};

use super::meta::{KEY_APPLIED, KEY_LAST_PURGED, KEY_VOTE};
use super::snapshot as snap;
use super::{cf, encode, synced, Dbs, Feed, StoreError, CF_RAFT_META};
use crate::raft::{NodeId, SnapshotMeta, StoredMembership};

/// Takes backups of this replica's state at entry boundaries. Cheap to clone.
#[derive(Clone)]
pub struct Backups {
    db: Arc<DB>,
    /// Held by apply for the whole of each entry (see the module docs).
    boundary: Arc<Mutex<()>>,
    /// Where backup files are written while they are streamed out.
    dir: PathBuf,
}

/// A backup file written by [`Backups::write`].
#[derive(Debug)]
pub struct BackupFile {
    pub path: PathBuf,
    /// Every entry up to this one is in the backup, none after it.
    pub revision: u64,
    pub bytes: u64,
}

impl Backups {
    pub(super) fn new(db: Arc<DB>, boundary: Arc<Mutex<()>>, dir: PathBuf) -> Self {
        Self { db, boundary, dir }
    }

    /// Writes a backup of the state as now applied to a new file (fsynced) in the snapshot
    /// directory. The caller removes it when done with it.
    pub fn write(&self) -> Result<BackupFile, StoreError> {
        let path = self.dir.join(format!("backup-{}.tmp", ulid::Ulid::new()));
        let view = {
            let _entry = self.boundary.lock().unwrap_or_else(|p| p.into_inner());
            self.db.snapshot()
        };
        let header = match snap::write_from(&self.db, &view, &path) {
            Ok(h) => h,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        let bytes = std::fs::metadata(&path)?.len();
        Ok(BackupFile { path, revision: header.last_applied.map_or(0, |l| l.index), bytes })
    }
}

/// Why a file cannot be restored.
fn refuse(detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { cf: "backup", detail: detail.into() }
}

/// Makes the empty databases `dbs` hold the backup `data` as the state of a new cluster whose
/// only member is node `id` at `addr` (see the module docs). The snapshot directory receives
/// the file as the node's current snapshot. Returns the backup's revision.
pub fn restore(dbs: &Dbs, snapshot_dir: &Path, data: &[u8], id: NodeId, addr: &str) -> Result<u64, StoreError> {
    if super::meta::get::<Option<crate::raft::LogId>>(&dbs.state, KEY_APPLIED)?.flatten().is_some() {
        return Err(refuse("the data directory already holds a node's state"));
    }
    let mut batch = WriteBatch::default();
    let header = snap::stage_install(&dbs.state, data, &mut batch)?;
    let Some(last) = header.last_applied else { return Err(refuse("the backup holds no applied entry")) };
    // Progress inside an entry after the last applied one: part of a group commit's writes.
    if header.applied_sub.is_some_and(|(index, _)| index > last.index) {
        return Err(refuse("this snapshot was taken in the middle of a log entry (a Raft snapshot file?); restore a file made by `memmesh backup`"));
    }
    let mut retired = header.retired.clone();
    retired.extend(header.membership.membership().nodes().map(|(n, _)| *n));
    if retired.contains(&id) {
        return Err(refuse(format!("node id {id} belonged to the backed-up cluster; start from an empty data directory")));
    }
    let membership = Membership::new(vec![BTreeSet::from([id])], BTreeMap::from([(id, BasicNode { addr: addr.to_string() })]));
    let stored = StoredMembership::new(Some(last), membership);
    Feed::new(dbs.state.clone(), 1)?.reset_to(last.index, &mut batch);
    let snapshot =
        SnapshotMeta { last_log_id: Some(last), last_membership: stored, snapshot_id: format!("restored-{}-{}", last.index, ulid::Ulid::new()) };
    // No progress inside an entry: a backup ends at an entry boundary (checked above).
    snap::stage_meta(&dbs.state, &mut batch, &snapshot, header.dedupe_count, &retired, None);
    // The snapshot file first: the state names it.
    std::fs::create_dir_all(snapshot_dir)?;
    let file = snapshot_dir.join(format!("{}.snap", snapshot.snapshot_id));
    std::fs::write(&file, data)?;
    std::fs::File::open(&file)?.sync_all()?;
    dbs.state.write_opt(batch, &synced())?;
    super::flush_all(&dbs.state)?;
    // The log: nothing in it, purged up to the backup's entry; the vote this node's own (not
    // committed) in that entry's term, so its first election moves to a later term.
    let mut log = WriteBatch::default();
    log.put_cf(cf(&dbs.log, CF_RAFT_META), KEY_LAST_PURGED, encode(&last));
    log.put_cf(cf(&dbs.log, CF_RAFT_META), KEY_VOTE, encode(&Vote::<NodeId>::new(last.leader_id.term, id)));
    dbs.log.write_opt(log, &synced())?;
    Ok(last.index)
}
