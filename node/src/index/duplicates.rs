//! Finding the duplicate of a new cube among the ACTIVE cubes of its exact scope, memory type
//! and kind, its near matches, and the holders of its slot — asked by `store::apply` for
//! write-time deduplication and superseding.
//!
//! Why the index may be asked inside `apply`: it is updated by `apply` itself, before the next
//! write is applied, and rebuilt from the applied state at start and after a snapshot, so every
//! replica asks the same question of the same index. Similarities are computed in f64 in a fixed
//! order ([`similarity`]) and ties break by cube id: the answer is the same bits everywhere.

use memmesh_proto::{CubeState, MemCube, Scope};
use ulid::Ulid;

use super::{key_matches, scope_key, SearchIndex};
use crate::model::dedupe::similarity;
#[cfg(doc)]
use crate::model::dedupe::text_key;
use crate::model::Dedupe;

impl SearchIndex {
    /// The cube `cube` duplicates under `rule`, with the similarity: an equal normalised text
    /// (similarity 1; the oldest such cube), else for SEMANTIC the most similar vector at or above
    /// the threshold (ties: the smaller id). Cubes restricted by an ACL are never candidates.
    /// `key` is `cube`'s [`text_key`] (computed once by the caller). A cube with a slot is
    /// compared with the slot's holder only: it restates the slot's value or replaces it.
    /// Cubes past their expiry at `at_ms` (the write's time, from its entry) are no candidates:
    /// no read would show them.
    pub fn find_duplicate(&self, cube: &MemCube, key: Option<[u8; 16]>, rule: Dedupe, at_ms: i64) -> Option<(Ulid, f32)> {
        let threshold = match rule {
            Dedupe::None => return None,
            Dedupe::Exact => None,
            Dedupe::Semantic { threshold } => Some(threshold),
        };
        let key = key?;
        let scope = cube.scope.clone().unwrap_or_default();
        let g = self.read();
        let tenant = g.tenants.get(&scope.tenant)?;
        let sk = scope_key(&scope);
        let holders = (!cube.slot.is_empty()).then(|| tenant.slots.get(&(sk.clone(), cube.slot.as_str().into())).map_or(&[][..], Vec::as_slice));
        let candidate = |slot: u32| {
            g.docs[slot as usize].as_ref().filter(|d| {
                d.active_at(at_ms)
                    && d.memory_type == cube.memory_type
                    && d.kind == cube.kind
                    && d.text_key.is_some()
                    && holders.is_none_or(|h| h.contains(&slot))
            })
        };
        let same_text = tenant.texts.get(&key).map_or(&[][..], Vec::as_slice);
        let exact = same_text.iter().filter_map(|&s| candidate(s)).filter(|d| scope_key(&d.scope) == sk).map(|d| d.id).min();
        if let Some(id) = exact {
            return Some((id, 1.0));
        }
        let (threshold, vector) = (threshold?, cube.embedding.as_ref()?);
        let (model, dims) = self.model()?;
        if vector.model != model || vector.vector.len() != dims {
            return None;
        }
        let bucket = tenant.buckets.get(&sk)?;
        let mut best: Option<(Ulid, f32)> = None;
        for (pos, &slot) in bucket.slots.iter().enumerate() {
            let Some(d) = candidate(slot) else { continue };
            let sim = similarity(&vector.vector, bucket.vector(pos as u32, dims));
            let better = match best {
                None => true,
                Some((id, s)) => sim > s || (sim == s && d.id < id),
            };
            if sim >= threshold && better {
                best = Some((d.id, sim));
            }
        }
        best
    }
}

impl SearchIndex {
    /// The ACTIVE cubes holding `slot` in the exact scope `scope`, in id order.
    pub fn slot_holders(&self, scope: &Scope, slot: &str) -> Vec<Ulid> {
        if slot.is_empty() {
            return Vec::new();
        }
        let g = self.read();
        let Some(tenant) = g.tenants.get(&scope.tenant) else { return Vec::new() };
        let mut ids: Vec<Ulid> = tenant
            .slots
            .get(&(scope_key(scope), slot.into()))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|&s| g.docs[s as usize].as_ref())
            .filter(|d| d.state == CubeState::Active as i32)
            .map(|d| d.id)
            .collect();
        ids.sort();
        ids
    }

    /// The cubes ACTIVE at `at_ms` (not past their expiry) of each exact scope inside `within`,
    /// of `memory_type` (0 = any), by scope then id: what a working-set cap counts. Identical
    /// on every replica at the same applied state, so apply may ask it too.
    pub fn active_by_scope(&self, within: &Scope, memory_type: i32, at_ms: i64) -> Vec<(Scope, Vec<Ulid>)> {
        let g = self.read();
        let Some(tenant) = g.tenants.get(&within.tenant) else { return Vec::new() };
        let mut out = Vec::new();
        for (key, members) in tenant.members.iter().filter(|(k, _)| key_matches(within, k)) {
            let mut ids: Vec<Ulid> = members
                .iter()
                .filter_map(|&s| g.docs[s as usize].as_ref())
                .filter(|d| crate::model::lifecycle::effective_state(d.state, d.expires, d.pinned, at_ms) == CubeState::Active as i32)
                .filter(|d| memory_type == 0 || d.memory_type == memory_type)
                .map(|d| d.id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            ids.sort();
            let scope = Scope { tenant: within.tenant.clone(), user: key.0.clone(), agent: key.1.clone(), run: key.2.clone() };
            out.push((scope, ids));
        }
        out
    }

    /// The ACTIVE cubes of `cube`'s exact scope, memory type and kind whose vectors have a
    /// similarity in `[low, high)` to its vector: the `n` most similar, ties by id. Restricted
    /// cubes are left out, as they are from duplicates.
    pub fn related(&self, cube: &MemCube, low: f32, high: f32, n: usize, at_ms: i64) -> Vec<(Ulid, f32)> {
        let Some(vector) = cube.embedding.as_ref() else { return Vec::new() };
        let Some((model, dims)) = self.model() else { return Vec::new() };
        if vector.model != model || vector.vector.len() != dims || n == 0 {
            return Vec::new();
        }
        let scope = cube.scope.clone().unwrap_or_default();
        let g = self.read();
        let Some(bucket) = g.tenants.get(&scope.tenant).and_then(|t| t.buckets.get(&scope_key(&scope))) else { return Vec::new() };
        let mut found: Vec<(Ulid, f32)> = Vec::new();
        for (pos, &slot) in bucket.slots.iter().enumerate() {
            let Some(d) = g.docs[slot as usize].as_ref() else { continue };
            if !d.active_at(at_ms) || d.memory_type != cube.memory_type || d.kind != cube.kind || d.text_key.is_none() {
                continue;
            }
            let sim = similarity(&vector.vector, bucket.vector(pos as u32, dims));
            if sim >= low && sim < high {
                found.push((d.id, sim));
            }
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        found.truncate(n);
        found
    }
}
