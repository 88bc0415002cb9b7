//! Free space on the data directory's filesystem.
//!
//! RocksDB and the Raft log must never meet a full disk: a failed log append stops Raft on the
//! node (openraft treats every storage error as fatal), and a failed flush leaves RocksDB
//! read-only until it is reopened. So a node keeps `node.min_free_bytes` in reserve: below it,
//! the engine refuses new writes (`RESOURCE_EXHAUSTED`, or `UNAVAILABLE` for a write forwarded
//! to a leader whose disk is low) while reads go on and purges — which free space — still pass;
//! once space is back above the reserve, writes are accepted again, with no restart. The node
//! reads the free space every half second, so the reserve must cover what it writes in that time
//! plus a memtable flush and a compaction's output (the default 256 MiB does for the default
//! limits).
//!
//! A follower whose disk falls below its reserve while the leader's has room refuses log
//! entries and snapshots (taking each as a heartbeat, so it starts no election) and catches up
//! by itself once space is freed: see `api::raft_peer`. What the reserve cannot prevent is a
//! disk that fills faster than it is read, or by more than the reserve in between: an append
//! that then fails stops Raft on that node until a restart.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;

pub struct DiskSpace {
    dir: PathBuf,
    min_free: u64,
    free: AtomicU64,
}

impl DiskSpace {
    /// Watches the filesystem holding `dir`; `min_free` = 0 turns the reserve off.
    pub fn new(dir: &Path, min_free: u64) -> Result<Self, StoreError> {
        let d = Self { dir: dir.to_path_buf(), min_free, free: AtomicU64::new(u64::MAX) };
        d.check()?;
        Ok(d)
    }

    /// Reads the free space now (bytes available to this unprivileged process).
    pub fn check(&self) -> Result<u64, StoreError> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: statvfs(3) fills the zeroed struct we own from a NUL-terminated path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let free = (st.f_bavail as u64).saturating_mul(st.f_frsize as u64);
        self.free.store(free, Ordering::Relaxed);
        metrics::gauge!("memmesh_data_dir_free_bytes").set(free as f64);
        Ok(free)
    }

    /// The free bytes when they are below the reserve (writes must be refused), else `None`.
    pub fn low(&self) -> Option<u64> {
        let free = self.free.load(Ordering::Relaxed);
        (self.min_free > 0 && free < self.min_free).then_some(free)
    }

    /// Why writes are refused, when they are: the free bytes against the reserve.
    pub fn shortfall(&self) -> Option<String> {
        self.low().map(|free| format!("data directory has {free} bytes free, below its reserve node.min_free_bytes = {}", self.min_free))
    }
}
