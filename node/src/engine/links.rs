//! Links and consolidation for a caller: the links shown around a cube (each neighbour only if
//! the caller may read it, exactly as a Get decides), adding and removing client links, and
//! running `Consolidate` — planning from a linearizable read, proposing bounded steps — on
//! request or, for policies that schedule it, by the leader.

use memmesh_proto::{IncomingLink, LinkType, LinkedCube, MemCube, Scope};
use ulid::Ulid;

use super::{ApiError, Core};
use crate::auth::{Caller, Need};
use crate::model::consolidate::plan_clusters;
use crate::model::policy::consolidate_rule;
use crate::model::{now_ms, Dedupe, Filter, FilterSpec, MergePlan};
use crate::raft::Op;
use crate::store::reader::ListQuery;

/// Clusters per log entry of a Consolidate: bounds the work (and the entry) of one apply.
pub const CONSOLIDATE_STEP: usize = 64;

/// Clusters one scheduled run of a policy merges at most (the rest wait for its next run).
pub const SCHEDULED_MAX_CLUSTERS: usize = 1000;

/// A client link to add or remove (see `Memory.Link`).
pub struct LinkChange {
    pub link_type: LinkType,
    pub target: String,
    pub remove: bool,
    pub expected_version: u64,
}

/// What a Consolidate did (or, dry, would do).
pub struct Consolidated {
    pub clusters: Vec<MergePlan>,
    pub merged: u64,
    pub skipped: u64,
    pub revision: u64,
}

impl Core {
    /// Whether `who` may read `cube` — Get's rule, without recording a refusal (a neighbour the
    /// caller may not read is simply not shown).
    fn may_read(&self, who: &Caller, cube: &MemCube, grants: &mut Option<Vec<memmesh_proto::Grant>>) -> Result<bool, ApiError> {
        let scope = cube.scope.clone().unwrap_or_default();
        let grants = match grants {
            Some(g) => g,
            None => grants.insert(self.grants_for(who, &scope.tenant)?),
        };
        Ok(who.may_cube(&scope, cube.acl.as_ref(), Need::Read, grants))
    }

    /// The links into `id` from cubes `who` may read.
    pub fn incoming_links(&self, who: &Caller, id: Ulid) -> Result<Vec<IncomingLink>, ApiError> {
        let mut grants = None;
        let mut out = Vec::new();
        for (source, t) in self.reader.incoming(id)? {
            let Some(src) = self.reader.get(source)? else { continue };
            if self.may_read(who, &src, &mut grants)? {
                out.push(IncomingLink { r#type: t, source_id: source.to_string() });
            }
        }
        Ok(out)
    }

    /// The cubes one link away from `cube`, outgoing then incoming, that `who` may read (their
    /// current versions, without vectors).
    pub fn linked_cubes(&self, who: &Caller, cube: &MemCube) -> Result<Vec<LinkedCube>, ApiError> {
        let mut grants = None;
        let mut out = Vec::new();
        let Ok(id) = Ulid::from_string(&cube.id) else { return Ok(out) };
        let outgoing = cube.links.iter().filter_map(|l| Some((l.r#type, Ulid::from_string(&l.target_id).ok()?, false)));
        let incoming = self.reader.incoming(id)?.into_iter().map(|(s, t)| (t, s, true));
        for (t, other, incoming) in outgoing.collect::<Vec<_>>().into_iter().chain(incoming) {
            let Some(mut c) = self.reader.get(other)? else { continue };
            if self.may_read(who, &c, &mut grants)? {
                c.embedding = None;
                out.push(LinkedCube { r#type: t, incoming, cube: Some(c) });
            }
        }
        Ok(out)
    }

    /// Adds or removes a client link from `source` (which `who` must be able to change) to
    /// `target` (which it must be able to read: else NOT_FOUND, like a missing cube).
    pub async fn link(
        &self,
        who: &Caller,
        source: &MemCube,
        change: LinkChange,
        request_id: &str,
        fp: [u8; 32],
    ) -> Result<super::write::Written, ApiError> {
        let LinkChange { link_type, target, remove, expected_version } = change;
        let target = target.as_str();
        self.authorize_cube(who, source, Need::Write)?;
        if remove && !source.links.iter().any(|l| l.r#type == link_type as i32 && l.target_id == target) {
            // Refused here as apply would refuse it, without a log entry.
            return Err(ApiError::NotFound(format!("{} link from cube {} to cube {target}", link_type.as_str_name(), source.id)));
        }
        let tenant = source.scope.as_ref().map(|s| s.tenant.clone()).unwrap_or_default();
        if !remove && !self.may_link_to(who, &tenant, target)? {
            return Err(ApiError::cube_not_found(target));
        }
        let op = Op::Link { source: source.id.clone(), link_type: link_type as i32, target: target.to_string(), remove, expected_version };
        self.propose(&who.actor(), &tenant, request_id, fp, now_ms(), op).await
    }

    /// Whether `who` may link to `target` from a cube of `tenant`: false when it does not exist
    /// or lies in another tenant; NOT_FOUND when the caller may not read it (see
    /// [`Self::authorize_cube`], which records that refusal).
    fn may_link_to(&self, who: &Caller, tenant: &str, target: &str) -> Result<bool, ApiError> {
        let Ok(id) = Ulid::from_string(target) else { return Ok(false) };
        match self.reader.get(id)? {
            Some(t) if t.scope.as_ref().is_some_and(|s| s.tenant == tenant) => {
                self.authorize_cube(who, &t, Need::Read)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Every link target of new cubes must be a cube `who` may read (else NOT_FOUND, naming
    /// the field).
    pub fn authorize_link_targets(&self, who: &Caller, field: &str, cubes: &[crate::model::Pb<MemCube>]) -> Result<(), ApiError> {
        for (i, c) in cubes.iter().enumerate() {
            let tenant = c.0.scope.as_ref().map_or("", |s| s.tenant.as_str());
            for l in &c.0.links {
                if !self.may_link_to(who, tenant, &l.target_id)? {
                    let f = if cubes.len() == 1 { format!("{field}.links") } else { format!("{field}[{i}].links") };
                    return Err(ApiError::NotFound(format!("cube {} (named by {f})", l.target_id)));
                }
            }
        }
        Ok(())
    }

    /// Consolidates `scope` for `who` (tenant admins and the scope's owners — whoever may
    /// write all of it): plans from a linearizable read, then proposes the plan in steps of
    /// [`CONSOLIDATE_STEP`] clusters unless `dry_run`.
    pub async fn consolidate(&self, who: &Caller, scope: &Scope, rule: Dedupe, dry_run: bool, max: usize) -> Result<Consolidated, ApiError> {
        self.authorize_scope(who, scope, Need::Write)?;
        self.run_consolidation(&who.actor(), scope, None, rule, dry_run, max).await
    }

    /// Consolidation as `actor` (already authorized), of the cubes in `scope` (and of
    /// `memory_type`, if given).
    pub async fn run_consolidation(
        &self,
        actor: &str,
        scope: &Scope,
        memory_type: Option<i32>,
        rule: Dedupe,
        dry_run: bool,
        max: usize,
    ) -> Result<Consolidated, ApiError> {
        self.read_barrier(None).await?;
        let mut cubes = Vec::new();
        let mut after = None;
        let types: Vec<i32> = memory_type.into_iter().collect();
        let filter = Filter::build(&FilterSpec { memory_types: &types, ..Default::default() })?.active_by_default().judged_at(now_ms());
        loop {
            let q = ListQuery { scope: scope.clone(), filter: filter.clone(), newest_first: false, page_size: 1000, after, shared_only: false };
            let page = self.reader.list(&q, |_| true)?;
            cubes.extend(page.cubes);
            match page.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        // Quadratic in the cubes of one group under SEMANTIC: off the async workers.
        let clusters = tokio::task::spawn_blocking(move || plan_clusters(&cubes, rule, max))
            .await
            .map_err(|e| ApiError::Internal(format!("consolidation planner: {e}")))?;
        let mut done = Consolidated { clusters, merged: 0, skipped: 0, revision: 0 };
        if dry_run {
            return Ok(done);
        }
        for step in done.clusters.chunks(CONSOLIDATE_STEP) {
            let w = self.propose(actor, &scope.tenant, "", [0; 32], now_ms(), Op::Consolidate { clusters: step.to_vec() }).await?;
            done.merged += w.outcome.merged;
            done.skipped += w.outcome.skipped;
            done.revision = w.revision;
        }
        Ok(done)
    }

    /// One round of scheduled consolidation, run by the leader only: every policy whose period
    /// has passed since its last run (by the leader's clock, judged here, before proposing) is
    /// consolidated, at most [`SCHEDULED_MAX_CLUSTERS`] clusters each, and its run recorded in
    /// the replicated state. A leader change mid-run loses nothing: the next leader finds the
    /// policy still due and plans again from what is stored, and a step never merges a cube
    /// twice (see `Op::Consolidate`).
    pub async fn consolidate_due_policies(&self) -> Result<usize, ApiError> {
        if self.leader() != Some(self.id) {
            return Ok(0);
        }
        let mut ran = 0;
        for p in self.reader.policies(None)? {
            let Some(rule) = consolidate_rule(&p) else { continue };
            let now = now_ms();
            if now.saturating_sub(p.last_consolidated_at_ms) < (p.consolidate_every_seconds as i64).saturating_mul(1000) {
                continue;
            }
            if matches!(rule, Dedupe::Semantic { .. }) && self.embedder.is_none() {
                tracing::warn!(policy = p.name, "SEMANTIC consolidation needs the embedding model, which this leader does not run; skipped");
                continue;
            }
            let scope = p.scope.clone().unwrap_or_default();
            let memory_type = (p.memory_type != 0).then_some(p.memory_type);
            let actor = format!("consolidation (policy {}, leader {})", p.name, self.id);
            let done = self.run_consolidation(&actor, &scope, memory_type, rule, false, SCHEDULED_MAX_CLUSTERS).await?;
            tracing::info!(policy = p.name, tenant = scope.tenant, merged = done.merged, skipped = done.skipped, "scheduled consolidation");
            let op = Op::PolicyRan { tenant: scope.tenant.clone(), name: p.name.clone(), at_ms: now };
            self.propose(&actor, &scope.tenant, "", [0; 32], now, op).await?;
            ran += 1;
        }
        Ok(ran)
    }
}
