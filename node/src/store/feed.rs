//! The change feed's storage side: event records written by `apply`, the live broadcast of
//! applied revisions, the stored event history, and its compaction.
//!
//! An event record is a *reference* (cube id, version, scope, type), not a copy of the cube: the
//! cube is read from the version history when the event is delivered. So the history costs a few
//! dozen bytes per change, and purging a cube also removes its content from the feed (a purged
//! cube's events deliver identity and scope only) — "forget this user" forgets the feed too.
//!
//! The history (`events` column family) is node-local derived state: written in the same batch
//! as the change it describes, compacted per node by revision count, and not carried in
//! snapshots — a node that installs a snapshot starts its history at the snapshot's revision.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmesh_proto::{MemCube, Scope};
use rocksdb::{WriteBatch, DB};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::keys::{u64_from_key, u64_key};
use super::meta::KEY_EVENTS_COMPACTED;
use super::{cf, decode, encode, StoreError, CF_EVENTS, CF_SM_META};
use crate::model::{Facets, Pb};

/// One change to one cube (see the `EventType` enum in `memstore.proto`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub kind: i32,
    pub id: String,
    /// Version after the change (for PURGED: the last version there was).
    pub version: u64,
    /// Version before the change; 0 for none.
    pub prev_version: u64,
    pub scope: Pb<Scope>,
    pub memory_type: i32,
    pub request_id: String,
}

impl EventRecord {
    pub fn new(kind: memmesh_proto::EventType, cube: &MemCube, prev_version: u64, request_id: &str) -> Self {
        Self {
            kind: kind as i32,
            id: cube.id.clone(),
            version: cube.version,
            prev_version,
            scope: Pb(cube.scope.clone().unwrap_or_default()),
            memory_type: cube.memory_type,
            request_id: request_id.to_string(),
        }
    }
}

/// A record carries the cube's memory type and nothing else a filter looks at.
impl Facets for EventRecord {
    fn memory_type(&self) -> i32 {
        self.memory_type
    }
}

/// The events of one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionEvents {
    pub revision: u64,
    pub events: Vec<EventRecord>,
}

/// What one apply call published: every revision in `from..=to` was applied; `revisions` lists
/// those that had events. Covering revisions without events lets subscribers detect gaps.
#[derive(Debug)]
pub struct FeedMsg {
    pub from: u64,
    pub to: u64,
    pub revisions: Vec<RevisionEvents>,
}

/// A history read that starts at or below the compacted revision.
#[derive(Debug, thiserror::Error)]
#[error("revision {requested} has been compacted (compacted up to {compacted})")]
pub struct Compacted {
    pub requested: u64,
    pub compacted: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Compacted(#[from] Compacted),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shared handle: the broadcast sender and the compaction watermark.
#[derive(Clone)]
pub struct Feed {
    db: Arc<DB>,
    tx: broadcast::Sender<Arc<FeedMsg>>,
    compacted: Arc<AtomicU64>,
}

impl Feed {
    /// `live_buffer`: how many apply calls the live broadcast holds. A subscriber that falls
    /// further behind is caught up from the stored history instead; apply never waits.
    pub fn new(db: Arc<DB>, live_buffer: usize) -> Result<Self, StoreError> {
        let compacted = match db.get_cf(cf(&db, CF_SM_META), KEY_EVENTS_COMPACTED)? {
            Some(b) => decode(CF_SM_META, &b)?,
            None => 0,
        };
        let (tx, _) = broadcast::channel(live_buffer.max(1));
        Ok(Self { db, tx, compacted: Arc::new(AtomicU64::new(compacted)) })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedMsg>> {
        self.tx.subscribe()
    }

    pub(crate) fn publish(&self, msg: FeedMsg) {
        // No receivers is fine: nobody is subscribed.
        let _ = self.tx.send(Arc::new(msg));
    }

    /// Highest revision whose events are no longer stored.
    pub fn compacted(&self) -> u64 {
        self.compacted.load(Ordering::Acquire)
    }

    /// Stages the events of write `sub` of the entry at `revision` into `batch`. Keys are
    /// revision ++ sub, so a revision's events stay together and in order.
    pub(crate) fn stage(&self, batch: &mut WriteBatch, revision: u64, sub: u32, events: &[EventRecord]) {
        if !events.is_empty() {
            let mut key = u64_key(revision).to_vec();
            key.extend_from_slice(&sub.to_be_bytes());
            batch.put_cf(cf(&self.db, CF_EVENTS), key, encode(&events));
        }
    }

    /// The stored events of revisions `from..=to`, oldest first.
    pub fn history(&self, from: u64, to: u64) -> Result<Vec<RevisionEvents>, HistoryError> {
        let compacted = self.compacted();
        if from <= compacted {
            return Err(Compacted { requested: from, compacted }.into());
        }
        let mut out = Vec::new();
        let mut it = self.db.raw_iterator_cf(cf(&self.db, CF_EVENTS));
        it.seek(u64_key(from));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let rev = u64_from_key(k).ok_or_else(|| StoreError::Corrupt { cf: CF_EVENTS, detail: "short key".into() })?;
            if rev > to {
                break;
            }
            let events: Vec<EventRecord> = decode(CF_EVENTS, v)?;
            match out.last_mut() {
                Some(RevisionEvents { revision, events: all }) if *revision == rev => all.extend(events),
                _ => out.push(RevisionEvents { revision: rev, events }),
            }
            it.next();
        }
        it.status().map_err(StoreError::from)?;
        // Compaction may have raced the read: then what was read is incomplete.
        let compacted = self.compacted();
        if from <= compacted {
            return Err(Compacted { requested: from, compacted }.into());
        }
        Ok(out)
    }

    /// Drops the events of every revision up to `upto` (inclusive).
    pub fn compact(&self, upto: u64) -> Result<(), StoreError> {
        if upto <= self.compacted() {
            return Ok(());
        }
        // Raise the watermark first, so no reader trusts a range while it is being deleted.
        self.compacted.store(upto, Ordering::Release);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf(&self.db, CF_EVENTS), u64_key(0), u64_key(upto + 1));
        batch.put_cf(cf(&self.db, CF_SM_META), KEY_EVENTS_COMPACTED, encode(&upto));
        // Like the events it deletes, unlogged: a crash must not keep the deletion while losing
        // (and then re-applying) the events of revisions after it.
        self.db.write_opt(batch, &super::unlogged())?;
        Ok(())
    }

    /// After a snapshot install the history before it does not exist on this node.
    pub(crate) fn reset_to(&self, revision: u64, batch: &mut WriteBatch) {
        self.compacted.store(revision, Ordering::Release);
        batch.delete_range_cf(cf(&self.db, CF_EVENTS), u64_key(0), u64_key(u64::MAX));
        batch.put_cf(cf(&self.db, CF_SM_META), KEY_EVENTS_COMPACTED, encode(&revision));
    }
}
