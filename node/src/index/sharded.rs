//! A hash map that grows in shards, so that no single insert rehashes every entry.
//!
//! Why: a `HashMap` that fills up doubles its table inside the insert that crossed the line,
//! rehashing and moving every entry. In the search index that insert is `apply`'s upsert,
//! under the index's write lock: while building an index of 2M cubes, the upsert that grew
//! `by_id` past 1.8M entries took 148 ms (92 ms at 0.9M), and every search and every later
//! write waited for it. A map of up to [`SPLIT_AT`] entries stays one `HashMap` (small tenants
//! pay nothing); past that it is split once into [`SHARDS`] maps, each of which then grows on its
//! own, at a 64th of the size.
//!
//! Keys choose their shard by bits of their own that are already uniform (a ULID's random
//! part, a digest), not by a second hash. Keys crafted to share a shard only bring back the
//! plain map's growth for that shard: each shard still hashes with `RandomState`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};

use ulid::Ulid;

/// How many shards a big map has.
const SHARDS: usize = 64;
/// From how many entries a map is split into shards: below it, one rehash moves at most this
/// many entries (a few milliseconds at most).
const SPLIT_AT: usize = 1 << 13;

/// A key that picks its shard from bits of its own.
pub(super) trait ShardKey: Hash + Eq {
    fn shard(&self) -> usize;
}

/// The low bits of a ULID are its random part (a server-made id's, at least).
impl ShardKey for Ulid {
    fn shard(&self) -> usize {
        (self.0 % SHARDS as u128) as usize
    }
}

/// A document's slot in the index: slots are handed out in order (freed ones again first).
impl ShardKey for u32 {
    fn shard(&self) -> usize {
        *self as usize % SHARDS
    }
}

/// A digest (`model::dedupe::text_key`).
impl ShardKey for [u8; 16] {
    fn shard(&self) -> usize {
        self[15] as usize % SHARDS
    }
}

/// The map; `S` builds each shard's hasher.
pub(super) struct Sharded<K, V, S = RandomState> {
    /// One map, or [`SHARDS`] maps.
    shards: Vec<HashMap<K, V, S>>,
    len: usize,
}

impl<K, V, S: Default> Default for Sharded<K, V, S> {
    fn default() -> Self {
        Self { shards: vec![HashMap::default()], len: 0 }
    }
}

impl<K: ShardKey, V, S: BuildHasher + Default> Sharded<K, V, S> {
    fn shard_of(&self, k: &K) -> usize {
        if self.shards.len() == 1 {
            0
        } else {
            k.shard()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, shard by shard (in an order that depends only on what was inserted and
    /// removed, like one map's).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }

    pub(super) fn get(&self, k: &K) -> Option<&V> {
        self.shards[self.shard_of(k)].get(k)
    }

    pub(super) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let s = self.shard_of(k);
        self.shards[s].get_mut(k)
    }

    pub(super) fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.entry(k) {
            Ok(mut e) => Some(e.insert(v)),
            Err(e) => {
                e.insert(v);
                None
            }
        }
    }

    /// The entry of `k`: `Ok` if it is there, `Err` with the place it goes if not.
    fn entry(&mut self, k: K) -> Result<std::collections::hash_map::OccupiedEntry<'_, K, V>, Vacant<'_, K, V>> {
        if self.shards.len() == 1 && self.len >= SPLIT_AT {
            self.split();
        }
        let s = self.shard_of(&k);
        match self.shards[s].entry(k) {
            Entry::Occupied(e) => Ok(e),
            Entry::Vacant(entry) => Err(Vacant { entry, len: &mut self.len }),
        }
    }

    /// The value of `k`, inserted as `V::default()` if missing.
    pub(super) fn or_default(&mut self, k: K) -> &mut V
    where
        V: Default,
    {
        match self.entry(k) {
            Ok(e) => e.into_mut(),
            Err(e) => e.insert(V::default()),
        }
    }

    pub(super) fn remove(&mut self, k: &K) -> Option<V> {
        let s = self.shard_of(k);
        let v = self.shards[s].remove(k);
        self.len -= v.is_some() as usize;
        v
    }

    /// Moves the single map's entries into [`SHARDS`] maps (once, at [`SPLIT_AT`] entries).
    fn split(&mut self) {
        let one = std::mem::take(&mut self.shards).pop().unwrap_or_default();
        self.shards = (0..SHARDS).map(|_| HashMap::with_capacity_and_hasher(2 * one.len() / SHARDS, S::default())).collect();
        for (k, v) in one {
            self.shards[k.shard()].insert(k, v);
        }
    }
}

/// A missing key's place, which counts the entry in when it is filled.
struct Vacant<'a, K, V> {
    entry: std::collections::hash_map::VacantEntry<'a, K, V>,
    len: &'a mut usize,
}

impl<'a, K, V> Vacant<'a, K, V> {
    fn insert(self, v: V) -> &'a mut V {
        *self.len += 1;
        self.entry.insert(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sharded map answers like one `HashMap` through the split and after it: the same
    /// inserts, replacements and removals leave the same contents and length.
    #[test]
    fn a_sharded_map_holds_what_one_map_would_through_its_split() {
        let (mut sharded, mut plain) = (Sharded::<Ulid, u32>::default(), HashMap::new());
        assert!(sharded.is_empty());
        let mut x: u64 = 1;
        for i in 0..(SPLIT_AT as u32 * 3) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let id = Ulid(((x >> 20) % (SPLIT_AT as u64 * 2)) as u128 * 0x9E37_79B9_7F4A_7C15);
            match i % 5 {
                0 => assert_eq!(sharded.remove(&id), plain.remove(&id)),
                1 => *sharded.or_default(id) += 1,
                _ => assert_eq!(sharded.insert(id, i), plain.insert(id, i)),
            }
            if i % 5 == 1 {
                *plain.entry(id).or_default() += 1;
            }
            assert_eq!(sharded.len(), plain.len());
        }
        assert_eq!(sharded.shards.len(), SHARDS, "split past SPLIT_AT entries");
        for (k, v) in &plain {
            assert_eq!(sharded.get(k), Some(v));
        }
        assert_eq!(sharded.iter().count(), plain.len());
        assert!(sharded.shards.iter().all(|s| s.len() < plain.len() / 16), "the entries spread over the shards");
    }
}
