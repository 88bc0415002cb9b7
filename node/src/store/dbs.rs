//! Opening a node's two databases: the Raft log's and the state's.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

use super::meta::KEY_WAL_PADDING;
use super::{cf, cf_options, flush, synced, StoreError, ALL_CFS, CF_RAFT_META, LOG_CFS};

/// A node's two RocksDB databases: the Raft log and the state it produces.
///
/// Two instances, not one, because they want opposite write-ahead-log settings: the log's
/// fsyncs are on every write's critical path and are cheapest into a recycled, already
/// written log file (see [`preallocate_wal`]), which RocksDB only does with
/// `recycle_log_file_num` — and RocksDB refuses state-machine writes without the write-ahead
/// log (see the module docs) on a database that recycles.
#[derive(Clone)]
pub struct Dbs {
    /// `raft_log` and `raft_meta`, in `<data dir>/raft`.
    pub log: Arc<DB>,
    /// Everything else, in `<data dir>/db`.
    pub state: Arc<DB>,
}

/// Opens (or creates) both databases of the node whose data directory is `dir`.
///
/// Data directories made before the log had its own database hold it in `db`: it is copied to
/// a new database first, which replaces nothing until it is complete and renamed into place.
pub fn open(dir: &Path) -> Result<Dbs, StoreError> {
    let state = Arc::new(open_state_db(&dir.join("db"))?);
    let log_path = dir.join("raft");
    let tmp = dir.join("raft.new");
    if tmp.exists() {
        // A copy interrupted by a crash: the log is still where it was copied from.
        std::fs::remove_dir_all(&tmp)?;
    }
    if !log_path.exists() && holds_old_log(&state)? {
        let log = open_log_db(&tmp)?;
        for name in LOG_CFS {
            let mut batch = rocksdb::WriteBatch::default();
            for kv in state.iterator_cf(cf(&state, name), rocksdb::IteratorMode::Start) {
                let (k, v) = kv?;
                batch.put_cf(cf(&log, name), k, v);
            }
            log.write_opt(batch, &synced())?;
        }
        drop(log);
        std::fs::rename(&tmp, &log_path)?;
        std::fs::File::open(dir)?.sync_all()?;
        // The old copy is now dead weight, and must not be mistaken for the log.
        for name in LOG_CFS {
            let mut batch = rocksdb::WriteBatch::default();
            batch.delete_range_cf(cf(&state, name), [].as_slice(), [0xff_u8; 9].as_slice());
            state.write_opt(batch, &synced())?;
        }
    }
    let log = open_log_db(&log_path)?;
    preallocate_wal(&log)?;
    Ok(Dbs { log: Arc::new(log), state })
}

/// Whether the state database holds a log, as data directories from before [`Dbs`] do.
fn holds_old_log(state: &DB) -> Result<bool, StoreError> {
    for name in LOG_CFS {
        let mut it = state.raw_iterator_cf(cf(state, name));
        it.seek_to_first();
        if it.valid() {
            return Ok(true);
        }
        it.status()?;
    }
    Ok(false)
}

/// Options both databases share.
fn base_options() -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts
}

/// The state database. It still has the log's column families, which held the log in data
/// directories older than [`Dbs`] (RocksDB opens a database only with all of its families).
pub(super) fn open_state_db(path: &Path) -> Result<DB, StoreError> {
    let mut opts = base_options();
    // State-machine writes skip the write-ahead log: flushes must then cover every column
    // family at once, so a crash never keeps data without its applied marker (see [`super`]).
    opts.set_atomic_flush(true);
    let cfs = ALL_CFS.iter().map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name)));
    Ok(DB::open_cf_descriptors(&opts, path, cfs)?)
}

fn open_log_db(path: &Path) -> Result<DB, StoreError> {
    let mut opts = base_options();
    // Write-ahead log files are reused instead of deleted (see `preallocate_wal`).
    opts.set_recycle_log_file_num(WAL_RECYCLE_FILES);
    let cfs = LOG_CFS.iter().map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
    Ok(DB::open_cf_descriptors(&opts, path, cfs)?)
}

/// How many obsolete write-ahead log files the log database keeps for reuse.
const WAL_RECYCLE_FILES: usize = 2;
/// The size of the write-ahead log file a node starts with.
pub(super) const WAL_PREALLOCATED: usize = 16 << 20;

/// Starts the log database on a write-ahead log file that is already written to its full
/// size, so that the fsync of every Raft append is an overwrite in place.
///
/// Why: an fdatasync that extends a file must also commit the file's new size to the
/// filesystem journal. Measured on this project's 2-core ext4 VM (1.1 KiB writes, p50): 180 µs
/// appending to a growing file — also when it was `fallocate`d with `KEEP_SIZE`, as RocksDB
/// does — against 115–125 µs overwriting a file already written. A follower's synced append
/// is on every write's critical path. etcd gets the same effect by preallocating its 64 MiB
/// WAL segments.
///
/// How: RocksDB reuses obsolete log files when `recycle_log_file_num` is set (recyclable
/// records carry their file's number, so recovery stops at the first stale record), but only
/// files this process made obsolete. So write a log file full of log-only padding (`put_log_data`
/// bypasses the memtables), flush — which starts a new log file and retires the padded one to
/// the recycle list — and flush once more, so that the next log file is the padded one. A node
/// that writes more than that rotates onto recycled files of its own size. If RocksDB has not
/// retired the file by the second flush, the node merely starts on a fresh file.
fn preallocate_wal(db: &DB) -> Result<(), StoreError> {
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..WAL_PREALLOCATED / chunk.len() {
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_log_data(&chunk);
        db.write(batch)?;
    }
    let meta = cf(db, CF_RAFT_META);
    for _ in 0..2 {
        // A log file is switched only if it holds something and a memtable has data to flush.
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(meta, KEY_WAL_PADDING, b"");
        batch.delete_cf(meta, KEY_WAL_PADDING);
        db.write(batch)?;
        flush(db, &LOG_CFS)?;
    }
    Ok(())
}
