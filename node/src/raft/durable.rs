//! How far this node's Raft log is known to be on disk — what lets a leader replicate an entry
//! while its own fsync of it is still running.
//!
//! openraft 0.9 waits for every append to be reported flushed before it does anything else, so
//! a leader that fsyncs before reporting sends nothing to its followers until its own disk is
//! done: two fsyncs in a row on every write's path (measured here: ~210 µs each under load,
//! about a fifth of a single client's write latency). Raft does not need that order (Ongaro's
//! thesis, §10.2.1): an entry is safe once a *majority* has it on disk, and the leader's own
//! copy can be written in parallel with the followers'.
//!
//! So a leader's append is reported at once and fsynced by the flusher thread, and the leader
//! is kept from counting an entry as committed before its own copy is on disk by three rules:
//!
//! - **Follower acknowledgements wait for the leader's disk.** openraft commits an entry when a
//!   quorum of voters has acknowledged it, counting the leader itself; with more than one voter
//!   every quorum holds a follower, whose acknowledgement the network layer hands to openraft
//!   only once this node's durable mark has reached the entry ([`Durable::wait`]). A follower
//!   acknowledges only what it has fsynced itself (followers always write synced), so at the
//!   moment of commit a majority, leader included, holds the entry on disk.
//! - **Nothing is applied before it is durable here.** The state machine waits for the mark
//!   before applying; that covers a single-voter cluster, where openraft commits on the leader's
//!   own report alone, so no write is acknowledged to a client before its fsync.
//! - **No commit index beyond the mark leaves this node.** Outgoing appends carry
//!   `min(committed, durable)`, so a learner never applies what the leader could still lose.
//!
//! A node stops leading only through a new vote, which is written synced — and a synced RocksDB
//! write makes every earlier write to the write-ahead log durable too — so a former leader never
//! acknowledges a later leader's append for an entry it holds only in memory.
//!
//! The mark moves only forward, except when a follower truncates its log: then it is set to what
//! is left, and the *epoch* changes, so that a flush started before the truncation cannot later
//! raise the mark over entries that were replaced.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::raft::LogId;

/// The durable mark and the epoch it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The last log id known to be on disk.
    pub upto: Option<LogId>,
    /// Bumped by every truncation.
    pub epoch: u64,
    /// An fsync failed: nothing written since can be trusted to be on disk, and the mark will
    /// never move again.
    pub failed: bool,
}

/// Why [`Durable::wait`] gave up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an fsync of the Raft log failed; this node's log can no longer be trusted to reach disk")]
pub struct FsyncFailed;

/// The durable mark of one node's log. Cheap to clone: clones share it.
#[derive(Clone, Debug)]
pub struct Durable(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    mark: watch::Sender<Mark>,
    /// Fault injection: while set, the flusher does not start an fsync.
    held: AtomicBool,
    /// Fault injection: milliseconds every fsync of the log takes on top of the disk's own.
    slow_ms: AtomicU64,
}

fn index(l: Option<LogId>) -> u64 {
    l.map_or(0, |l| l.index)
}

/// Whether the mark `m` is short of `upto` (an empty mark is short of the entry at index 0).
fn below(m: Option<LogId>, upto: LogId) -> bool {
    m.is_none_or(|m| m.index < upto.index)
}

impl Durable {
    /// A mark at `upto` (what is on disk when the store opens).
    pub fn new(upto: Option<LogId>) -> Self {
        Durable(Arc::new(Inner {
            mark: watch::Sender::new(Mark { upto, epoch: 0, failed: false }),
            held: AtomicBool::new(false),
            slow_ms: AtomicU64::new(0),
        }))
    }

    pub fn get(&self) -> Mark {
        *self.0.mark.borrow()
    }

    /// Fault injection for tests: holds the leader's fsyncs back (as a slow disk would) until
    /// released. Synced writes — a follower's appends, votes — are not affected.
    pub fn hold_flushes(&self, held: bool) {
        self.0.held.store(held, Ordering::SeqCst);
    }

    /// Fault injection for tests: every fsync of this node's log — the leader's flusher, a
    /// follower's synced appends, votes — takes `extra` longer, as on a failing or throttled
    /// disk (zero: back to normal).
    pub fn slow_fsyncs(&self, extra: Duration) {
        self.0.slow_ms.store(extra.as_millis() as u64, Ordering::SeqCst);
    }

    /// Called before each fsync of the log: sleeps as long as [`Durable::slow_fsyncs`] says.
    /// Blocking on purpose — a slow synced write blocks its caller the same way.
    pub(crate) fn before_fsync(&self) {
        let ms = self.0.slow_ms.load(Ordering::SeqCst);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }

    /// Returns once flushes are not held (see [`Durable::hold_flushes`]); for the flusher thread.
    pub(crate) fn until_released(&self) {
        while self.0.held.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Everything up to `upto` was written synced.
    pub fn synced(&self, upto: LogId) {
        self.0.mark.send_if_modified(|m| {
            let raise = !m.failed && below(m.upto, upto);
            if raise {
                m.upto = Some(upto);
            }
            raise
        });
    }

    /// A flush that began in `epoch` has put everything up to `upto` on disk.
    pub fn flushed(&self, epoch: u64, upto: LogId) {
        self.0.mark.send_if_modified(|m| {
            let raise = !m.failed && m.epoch == epoch && below(m.upto, upto);
            if raise {
                m.upto = Some(upto);
            }
            raise
        });
    }

    /// The log was truncated by a synced write — which put every earlier write on disk too —
    /// and `last` is its last entry now.
    pub fn truncated(&self, last: Option<LogId>) {
        self.0.mark.send_modify(|m| {
            m.epoch += 1;
            if !m.failed {
                m.upto = last;
            }
        });
    }

    pub fn failed(&self) {
        self.0.mark.send_modify(|m| m.failed = true);
    }

    /// Waits until everything up to log index `upto` is on disk.
    pub async fn wait(&self, upto: u64) -> Result<(), FsyncFailed> {
        let mut rx = self.0.mark.subscribe();
        let m = *rx.wait_for(|m| m.failed || index(m.upto) >= upto).await.expect("the sender lives in self");
        if m.failed {
            return Err(FsyncFailed);
        }
        Ok(())
    }

    /// `committed`, lowered to the mark (see the module docs).
    pub fn clamp(&self, committed: Option<LogId>) -> Option<LogId> {
        std::cmp::min(committed, self.get().upto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    #[tokio::test]
    async fn waiters_are_released_only_once_the_mark_reaches_their_index() {
        let d = Durable::new(Some(id(1, 3)));
        d.wait(3).await.unwrap();
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.wait(5).await }
        });
        d.synced(id(1, 4));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "released at index 4 while waiting for 5");
        d.flushed(0, id(1, 5));
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_flush_from_before_a_truncation_cannot_raise_the_mark() {
        let d = Durable::new(Some(id(1, 10)));
        let epoch = d.get().epoch;
        // A leader wrote 11..=20 and its flush is running when it is deposed and truncates
        // back to 12 as a follower.
        d.truncated(Some(id(1, 12)));
        d.flushed(epoch, id(1, 20));
        assert_eq!(d.get().upto, Some(id(1, 12)));
        // A flush started after the truncation counts.
        d.flushed(d.get().epoch, id(2, 14));
        assert_eq!(d.get().upto, Some(id(2, 14)));
    }

    #[tokio::test]
    async fn a_failed_fsync_fails_every_waiter_and_freezes_the_mark() {
        let d = Durable::new(None);
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.wait(1).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        d.failed();
        assert_eq!(waiter.await.unwrap(), Err(FsyncFailed));
        d.synced(id(1, 1));
        assert_eq!(d.get().upto, None);
        assert_eq!(d.wait(1).await, Err(FsyncFailed));
    }

    #[test]
    fn the_commit_index_sent_to_others_never_passes_the_mark() {
        let d = Durable::new(Some(id(1, 7)));
        assert_eq!(d.clamp(Some(id(1, 9))), Some(id(1, 7)));
        assert_eq!(d.clamp(Some(id(1, 5))), Some(id(1, 5)));
        assert_eq!(d.clamp(None), None);
    }
}
