//! Every metadata key, in one place: the state machine's (`sm_meta`, in the state database) and
//! the Raft log's (`raft_meta`, in the log database). Values are postcard-encoded.
//!
//! | `sm_meta` key | value | written by |
//! |---|---|---|
//! | [`KEY_APPLIED`] | `Option<LogId>`: the last entry applied | apply (with the entry's last write), snapshot install |
//! | [`KEY_APPLIED_SUB`] | `(log index, write)`: progress inside a multi-write entry | apply, snapshot install |
//! | [`KEY_MEMBERSHIP`] | `StoredMembership` | apply of a membership entry, snapshot install |
//! | [`KEY_RETIRED`] | `BTreeSet<u64>`: node ids removed, never to be reused | apply of a membership entry, snapshot install |
//! | [`KEY_SNAPSHOT`] | `SnapshotMeta` of the current snapshot | snapshot build / install |
//! | [`KEY_DEDUPE_COUNT`] | `u64`: records in the idempotency table | apply (see [`super::dedupe`]) |
//! | [`KEY_EVENTS_COMPACTED`] | `u64`: change history compacted up to here | feed compaction (node-local) |
//!
//! | `raft_meta` key | value |
//! |---|---|
//! | [`KEY_VOTE`] | `Vote` (written synced) |
//! | [`KEY_COMMITTED`] | `Option<LogId>` |
//! | [`KEY_LAST_PURGED`] | `Option<LogId>` |
//! | [`KEY_WAL_PADDING`] | empty: written and deleted once at open to preallocate the log's WAL (see [`super::dbs`]) |

use rocksdb::DB;
use serde::de::DeserializeOwned;

use super::{cf, decode, StoreError, CF_SM_META};

pub(crate) const KEY_APPLIED: &[u8] = b"applied";
pub(crate) const KEY_APPLIED_SUB: &[u8] = b"applied_sub";
pub(crate) const KEY_MEMBERSHIP: &[u8] = b"membership";
pub(crate) const KEY_RETIRED: &[u8] = b"retired";
pub(crate) const KEY_SNAPSHOT: &[u8] = b"snapshot";
pub(crate) const KEY_DEDUPE_COUNT: &[u8] = b"dedupe_count";
pub(crate) const KEY_EVENTS_COMPACTED: &[u8] = b"events_compacted";

pub(crate) const KEY_VOTE: &[u8] = b"vote";
pub(crate) const KEY_COMMITTED: &[u8] = b"committed";
pub(crate) const KEY_LAST_PURGED: &[u8] = b"last_purged";
pub(crate) const KEY_WAL_PADDING: &[u8] = b"wal_padding";

/// Reads one `sm_meta` value.
pub(crate) fn get<T: DeserializeOwned>(db: &DB, key: &[u8]) -> Result<Option<T>, StoreError> {
    db.get_cf(cf(db, CF_SM_META), key)?.map(|b| decode(CF_SM_META, &b)).transpose()
}
