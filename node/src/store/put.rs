//! Applying a put: creating cubes, with write-time deduplication.
//!
//! Each input is first planned — new, a duplicate of a stored cube (asked of the index, see
//! `index::SearchIndex::find_duplicate`), or a duplicate of an earlier new input of the same put
//! — and only then is anything staged, so a put is written whole or not at all. Duplicates of a
//! stored cube are folded into it in input order and give it one new version (a MERGED event)
//! when they add anything; duplicates of an earlier input are folded into that input before it
//! is written. A new cube with a slot supersedes the slot's holders (see `links`); one whose
//! rule asks for them is told its related cubes. Every decision reads the entry and the
//! replicated state only.

use std::collections::HashMap;

use memmesh_proto::{CubeState, EventType, MemCube};
use ulid::Ulid;

use super::apply::Applier;
use super::keys::scope_index_keys;
use super::reader::load_cube;
use super::usage::cube_bytes;
use super::{cf, StoreError, CF_SCOPE_IDX};
use crate::model::dedupe::{merge_duplicate, similarity, text_key};
use crate::model::links::repeated_slot;
use crate::model::{ApplyError, Dedupe, Pb, PutOutcome, PutResult};
use crate::raft::Outcome;

/// Where one input of a put ends up.
#[derive(Clone, Copy)]
enum Target {
    New,
    /// A duplicate of this stored cube, at this similarity.
    Stored(Ulid, f32),
    /// A duplicate of the earlier input at this position, at this similarity.
    Earlier(usize, f32),
}

/// The new inputs of a put so far, for finding duplicates among the inputs themselves.
#[derive(Default)]
struct Earlier {
    /// Position of each new input, by its normalised-text key.
    by_key: HashMap<[u8; 16], Vec<usize>>,
    /// Positions of the new inputs that have a vector (for SEMANTIC).
    with_vector: Vec<usize>,
}

impl Earlier {
    fn add(&mut self, j: usize, key: Option<[u8; 16]>, c: &MemCube) {
        if let Some(key) = key {
            self.by_key.entry(key).or_default().push(j);
        }
        if c.embedding.is_some() {
            self.with_vector.push(j);
        }
    }

    /// The earlier new input that `c` (whose key is `key`) duplicates: an equal text first, else
    /// (SEMANTIC) the most similar vector at or above the threshold, the earlier on a tie.
    fn duplicate_of(&self, inputs: &[Pb<MemCube>], c: &MemCube, key: Option<[u8; 16]>, rule: Dedupe) -> Option<(usize, f32)> {
        let key = key?;
        // A slotted input restates or replaces its slot's holder, never an earlier input.
        if !c.slot.is_empty() {
            return None;
        }
        let comparable = |o: &MemCube| o.scope == c.scope && o.memory_type == c.memory_type && o.kind == c.kind && o.slot.is_empty();
        if let Some(&j) = self.by_key.get(&key).and_then(|js| js.iter().find(|&&j| comparable(&inputs[j].0))) {
            return Some((j, 1.0));
        }
        let (Dedupe::Semantic { threshold }, Some(v)) = (rule, c.embedding.as_ref()) else { return None };
        let mut best: Option<(usize, f32)> = None;
        for &j in &self.with_vector {
            let o = &inputs[j].0;
            let Some(w) = o.embedding.as_ref().filter(|w| comparable(o) && w.model == v.model && w.vector.len() == v.vector.len()) else { continue };
            let sim = similarity(&v.vector, &w.vector);
            if sim >= threshold && best.is_none_or(|(_, s)| sim > s) {
                best = Some((j, sim));
            }
        }
        best
    }
}

/// How many related cubes a created cube is told about.
const MAX_RELATED: usize = 5;

impl Applier<'_> {
    /// Applies a put whose inputs get `rules` (one for all, or one each).
    pub(super) fn put(&mut self, inputs: &[Pb<MemCube>], rules: &[Dedupe], related: Option<f32>) -> Result<Result<Outcome, ApplyError>, StoreError> {
        let rule_of = |i: usize| if rules.len() == inputs.len() { rules[i] } else { rules.first().copied().unwrap_or(Dedupe::None) };
        // One holder per slot and scope: a put may not name a slot twice (checked before
        // proposing too).
        if let Some((j, i)) = repeated_slot(inputs.iter().map(|c| &c.0)) {
            return Ok(Err(ApplyError::Precondition(format!("cubes {j} and {i} name the same slot {:?} in one scope", inputs[i].0.slot))));
        }
        for c in inputs {
            if let Err(e) = self.check_link_targets(&c.0)? {
                return Ok(Err(e));
            }
        }

        // Plan. An input that carries its own access list is always created: merging it would
        // drop the list its writer asked for.
        let mut targets: Vec<Target> = Vec::with_capacity(inputs.len());
        let mut earlier = Earlier::default();
        for (i, c) in inputs.iter().enumerate() {
            let rule = rule_of(i);
            if rule == Dedupe::None || c.0.acl.is_some() {
                targets.push(Target::New);
                continue;
            }
            let key = text_key(&c.0);
            let t = if let Some((id, sim)) = self.index.find_duplicate(&c.0, key, rule, self.at_ms) {
                Target::Stored(id, sim)
            } else if let Some((j, sim)) = earlier.duplicate_of(inputs, &c.0, key, rule) {
                Target::Earlier(j, sim)
            } else {
                earlier.add(i, key, &c.0);
                Target::New
            };
            targets.push(t);
        }

        // The new cubes' ids, all checked before anything is staged.
        let mut new: Vec<Option<(Ulid, MemCube)>> = vec![None; inputs.len()];
        for (i, c) in inputs.iter().enumerate() {
            if !matches!(targets[i], Target::New) {
                continue;
            }
            let Ok(ulid) = Ulid::from_string(&c.0.id) else {
                return Ok(Err(ApplyError::Precondition(format!("invalid cube id {:?}", c.0.id))));
            };
            if load_cube(self.db, ulid)?.is_some() || new.iter().flatten().any(|(u, _)| *u == ulid) {
                return Ok(Err(ApplyError::Precondition(format!("cube id {ulid} already exists"))));
            }
            new[i] = Some((ulid, MemCube { version: 0, state: CubeState::Active as i32, ..c.0.clone() }));
        }

        // Fold the duplicates into their targets, in input order.
        let mut results: Vec<Option<PutResult>> = vec![None; inputs.len()];
        // Stored targets: id, the cube as merged so far, its size before, whether it changed.
        let mut stored: Vec<(Ulid, MemCube, i64, bool)> = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let dup = &inputs[i].0;
            match *t {
                Target::New => {}
                Target::Earlier(j, sim) => {
                    let (_, target) = new[j].as_mut().expect("an earlier target is a new input");
                    let changed = merge_duplicate(target, dup);
                    results[i] = Some(PutResult::new(if changed { PutOutcome::Merged } else { PutOutcome::Unchanged }, &target.id, sim));
                }
                Target::Stored(id, sim) => {
                    let at = match stored.iter().position(|(u, ..)| *u == id) {
                        Some(at) => at,
                        None => {
                            let Some(cube) = load_cube(self.db, id)? else {
                                return Err(StoreError::Corrupt {
                                    cf: "cubes",
                                    detail: format!("the search index holds cube {id}, the store does not"),
                                });
                            };
                            let before = cube_bytes(&cube);
                            stored.push((id, cube, before, false));
                            stored.len() - 1
                        }
                    };
                    let (_, target, _, any) = &mut stored[at];
                    let changed = merge_duplicate(target, dup);
                    *any |= changed;
                    results[i] = Some(PutResult::new(if changed { PutOutcome::Merged } else { PutOutcome::Unchanged }, &target.id, sim));
                }
            }
        }

        // Slots: each new slotted cube supersedes its slot's holders (a holder that an input of
        // this put merged into is superseded as merged: one version per cube per write).
        let mut superseded: Vec<Vec<(Ulid, MemCube)>> = vec![Vec::new(); inputs.len()];
        let mut merged_away: i64 = 0;
        for (i, slot) in new.iter().enumerate() {
            let Some((ulid, c)) = slot else { continue };
            for holder in self.index.slot_holders(&c.scope.clone().unwrap_or_default(), &c.slot) {
                if holder == *ulid {
                    continue;
                }
                let old = match stored.iter().position(|(u, ..)| *u == holder) {
                    Some(at) => {
                        let (_, merged, before, _) = stored.remove(at);
                        merged_away += cube_bytes(&merged) - before;
                        merged
                    }
                    None => match load_cube(self.db, holder)? {
                        Some(c) => c,
                        None => continue,
                    },
                };
                superseded[i].push((holder, old));
            }
        }

        // Quota: the new cubes, and what merges added to their targets.
        let created = new.iter().flatten().count() as i64;
        let mut bytes: i64 = new.iter().flatten().map(|(_, c)| cube_bytes(c)).sum();
        bytes += stored.iter().filter(|s| s.3).map(|(_, merged, before, _)| cube_bytes(merged) - before).sum::<i64>() + merged_away;
        if let Err(e) = self.charge(created, bytes)? {
            return Ok(Err(e));
        }

        // Stage.
        let mut written: Vec<Option<MemCube>> = vec![None; inputs.len()];
        let mut gone: Vec<(Ulid, MemCube)> = Vec::new();
        for (i, slot) in new.into_iter().enumerate() {
            let Some((ulid, mut cube)) = slot else { continue };
            let mut res = PutResult::new(PutOutcome::Created, &cube.id, 0.0);
            if let (Some(low), Dedupe::Semantic { threshold }) = (related, rule_of(i)) {
                res.related =
                    self.index.related(&cube, low, threshold, MAX_RELATED, self.at_ms).into_iter().map(|(id, s)| (id.to_string(), s)).collect();
            }
            for (holder, old) in std::mem::take(&mut superseded[i]) {
                let old = self.supersede(holder, old, &mut cube)?;
                res.superseded.push(holder.to_string());
                res.related.retain(|(id, _)| *id != old.id);
                gone.push((holder, old));
            }
            let cube = self.write_version(ulid, cube, EventType::Created)?;
            for k in scope_index_keys(&cube.scope.clone().unwrap_or_default(), ulid) {
                self.batch.put_cf(cf(self.db, CF_SCOPE_IDX), k, []);
            }
            self.index_shared(ulid, cube.scope.as_ref(), false, cube.acl.is_some());
            results[i] = Some(res);
            written[i] = Some(cube);
        }
        let mut targets_now: Vec<(Ulid, MemCube)> = Vec::with_capacity(stored.len());
        for (ulid, mut cube, _, changed) in stored {
            if changed {
                let usage = cube.usage.get_or_insert_with(Default::default);
                usage.access_count += 1;
                usage.last_accessed_at_ms = self.at_ms;
                cube = self.write_version(ulid, cube, EventType::Merged)?;
            }
            targets_now.push((ulid, cube));
        }
        // Each input's cube by its plan position (a batch of n inputs costs O(n), not O(n²)).
        let cubes = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let cube = match *t {
                    Target::New => written[i].clone(),
                    Target::Earlier(j, _) => written[j].clone(),
                    Target::Stored(id, _) => targets_now.iter().chain(gone.iter()).find(|(u, _)| *u == id).map(|(_, c)| c.clone()),
                };
                cube.map(Pb).expect("every target was staged or loaded")
            })
            .collect();
        let results: Vec<PutResult> = results.into_iter().map(|r| r.expect("every input has a result")).collect();
        Ok(Ok(Outcome { cubes, results, ..Default::default() }))
    }
}
