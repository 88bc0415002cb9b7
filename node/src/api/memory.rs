//! `memmesh.v1.Memory`: CRUD, batch, list, history and rollback of MemCubes.
//!
//! Every handler validates fully before proposing (so a rejected request writes nothing), then
//! either proposes one Raft entry or reads the local replica.

use std::sync::Arc;

use base64::Engine;
use memmesh_proto::memory_server::Memory;
use memmesh_proto::*;
use tonic::{Request, Response, Status};
use ulid::Ulid;

use super::authn::caller;
use super::{invalid, ApiError};
use crate::auth::{Caller, Need};
use crate::engine::write::{fingerprint, Written};
use crate::engine::Core;
use crate::model::lifecycle::is_expired;
use crate::model::{self, apply_patch, check_cube_id, check_merged, new_cube, now_ms, Dedupe, Filter, FilterSpec, Pb, PutResult};
use crate::raft::Op;
use crate::store::reader::ListQuery;

pub struct MemoryService {
    pub(super) core: Arc<Core>,
}

impl MemoryService {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

type Res<T> = Result<Response<T>, Status>;

const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;

impl MemoryService {
    /// The current version of a cube, or NOT_FOUND.
    fn current(&self, id: &str) -> Result<(Ulid, MemCube), ApiError> {
        let ulid = check_cube_id("id", id)?;
        let cube = self.core.reader.get(ulid)?.ok_or_else(|| ApiError::cube_not_found(id))?;
        Ok((ulid, cube))
    }

    fn tenant_of(cube: &MemCube) -> String {
        cube.scope.as_ref().map(|s| s.tenant.clone()).unwrap_or_default()
    }

    /// Proposes `op` against the existing cube `id` (whose tenant namespaces the request id).
    async fn write_existing(&self, who: &Caller, id: &str, request_id: &str, fingerprint: [u8; 32], op: Op) -> Result<WriteResponse, ApiError> {
        model::check_request_id(request_id)?;
        let (_, cur) = self.current(id)?;
        self.core.authorize_cube(who, &cur, Need::Write)?;
        let w = self.core.propose(&who.actor(), &Self::tenant_of(&cur), request_id, fingerprint, now_ms(), op).await?;
        Ok(Self::one(w))
    }

    /// New cubes may be written only into scopes the caller may write, with ACLs it may set.
    /// Each distinct scope is checked once (a batch is usually one scope).
    pub(super) fn authorize_new(&self, who: &Caller, field: &str, cubes: &[Pb<MemCube>]) -> Result<(), ApiError> {
        let mut scopes: Vec<&Scope> = cubes.iter().filter_map(|c| c.0.scope.as_ref()).collect();
        scopes.sort_by(|a, b| (&a.user, &a.agent, &a.run).cmp(&(&b.user, &b.agent, &b.run)));
        scopes.dedup();
        for s in scopes {
            self.core.authorize_scope(who, s, Need::Write)?;
        }
        // The tenant's grants, read once for the whole batch (a batch is one tenant).
        let mut grants = None;
        for (i, c) in cubes.iter().enumerate() {
            if let (Some(acl), Some(scope)) = (&c.0.acl, &c.0.scope) {
                let f = if cubes.len() == 1 && field == "cube" { "cube.acl".to_string() } else { format!("{field}[{i}].acl") };
                let grants = match &grants {
                    Some(g) => g,
                    None => grants.insert(self.core.grants_for(who, &scope.tenant)?),
                };
                self.core.authorize_acl(who, scope, Some(acl), &f, grants)?;
            }
        }
        Ok(())
    }

    /// A put's deduplication rules: the request's own, or — when it leaves the mode unset —
    /// the tenant's policies' default for each cube (see `model::policy`). SEMANTIC needs this
    /// node's embedding model.
    fn dedupe_rules(&self, mode: i32, threshold: f32, cubes: &[Pb<MemCube>]) -> Result<Vec<Dedupe>, ApiError> {
        let rule = Dedupe::from_request(mode, threshold)?;
        let rules = if mode != DedupeMode::Unspecified as i32 {
            vec![rule]
        } else {
            let tenant = cubes.first().and_then(|c| c.0.scope.as_ref()).map(|s| s.tenant.clone()).unwrap_or_default();
            let policies = self.core.reader.tenant_policies(&tenant)?;
            if policies.is_empty() {
                vec![Dedupe::None]
            } else {
                cubes
                    .iter()
                    .map(|c| model::policy::dedupe_default(&policies, c.0.scope.as_ref().unwrap_or(&Scope::default()), c.0.memory_type))
                    .collect()
            }
        };
        if self.core.embedder.is_none() && rules.iter().any(|r| matches!(r, Dedupe::Semantic { .. })) {
            let why = if mode == DedupeMode::Unspecified as i32 { "a policy asks for SEMANTIC dedupe" } else { "SEMANTIC dedupe" };
            return Err(ApiError::Precondition(format!(
                "{why} compares embeddings, and this node runs no embedding model (embedding.enabled = false); use EXACT"
            )));
        }
        Ok(rules)
    }

    fn one(w: Written) -> WriteResponse {
        WriteResponse {
            cube: w.outcome.cubes.into_iter().next().map(|c| c.0),
            revision: w.revision,
            deduplicated: w.outcome.deduplicated,
            result: None,
        }
    }

    /// Validates cube inputs and gives each a fresh id; all must share one tenant (the
    /// namespace of the write's request id).
    pub(super) fn new_cubes(&self, field: &str, inputs: &[&CubeInput], at_ms: i64, request_id: &str) -> Result<(String, Vec<Pb<MemCube>>), ApiError> {
        let mut tenant: Option<String> = None;
        let mut out = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let f = if inputs.len() == 1 && field == "cube" { field.to_string() } else { format!("{field}[{i}]") };
            let input = model::check_cube_input(&f, Some(input), &self.core.limits)?;
            let t = input.scope.as_ref().map(|s| s.tenant.clone()).unwrap_or_default();
            match &tenant {
                Some(first) if *first != t => {
                    return Err(invalid(&format!("{f}.scope.tenant"), format!("all cubes of a batch must be in one tenant ({first:?})")));
                }
                _ => tenant = Some(t),
            }
            out.push(input);
        }
        // Validate everything first, then take ids in one go: a batch gets consecutive ids.
        let mut gen = self.core.ids.lock().unwrap_or_else(|p| p.into_inner());
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms.max(0) as u64);
        let mut out = out
            .into_iter()
            .map(|input| {
                let id = gen
                    .generate_from_datetime(when)
                    .map_err(|e| ApiError::Unavailable(format!("cube id space for this millisecond exhausted ({e}); retry")))?;
                Ok(Pb(new_cube(input, id, at_ms, request_id)))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        drop(gen);
        let tenant = tenant.unwrap_or_default();
        // Cubes without a TTL take their policies' default (decided here, carried in the entry).
        let policies = self.core.reader.tenant_policies(&tenant)?;
        if policies.iter().any(|p| p.default_ttl_seconds > 0) {
            for c in &mut out {
                model::policy::give_default_ttl(&policies, &mut c.0);
            }
        }
        Ok((tenant, out))
    }
}

/// The log operation of a put: deduplicated unless every rule says NONE, with related cubes
/// under SEMANTIC (see `raft::Op::PutCubes`). The older variants are used where they say
/// enough, so entries stay as small as before.
fn put_op(cubes: Vec<Pb<MemCube>>, mut rules: Vec<Dedupe>, related: Option<f32>) -> Op {
    if rules.windows(2).all(|w| w[0] == w[1]) {
        rules.truncate(1);
    }
    match (rules.as_slice(), related) {
        ([Dedupe::None], _) => Op::Put { cubes },
        ([dedupe], None) => Op::PutDedupe { cubes, dedupe: *dedupe },
        _ => Op::PutCubes { cubes, rules, related },
    }
}

/// A put names each slot of a scope once (two holders in one write would supersede each other).
fn check_slots_once(field: &str, cubes: &[Pb<MemCube>]) -> Result<(), ApiError> {
    match model::links::repeated_slot(cubes.iter().map(|c| &c.0)) {
        Some((j, i)) => Err(invalid(&format!("{field}[{i}].slot"), format!("names the same slot as {field}[{j}] in the same scope"))),
        None => Ok(()),
    }
}

fn encode_token(newest_first: bool, id: Ulid) -> String {
    let mut b = vec![if newest_first { b'n' } else { b'o' }];
    b.extend_from_slice(&id.to_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn decode_token(token: &str, newest_first: bool) -> Result<Ulid, ApiError> {
    let bad = || invalid("page_token", "malformed page token (pass the next_page_token of a previous response unchanged)");
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    if b.len() != 17 {
        return Err(bad());
    }
    if (b[0] == b'n') != newest_first || !matches!(b[0], b'n' | b'o') {
        return Err(invalid("page_token", "page token was issued for the other order"));
    }
    Ok(Ulid::from_bytes(b[1..].try_into().map_err(|_| bad())?))
}

#[tonic::async_trait]
impl Memory for MemoryService {
    async fn put(&self, req: Request<PutRequest>) -> Res<WriteResponse> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        model::check_request_id(&req.request_id)?;
        let request_id = std::mem::take(&mut req.request_id);
        let at_ms = now_ms();
        let input = req.cube.as_ref().ok_or_else(|| invalid("cube", "is required"))?;
        let (tenant, mut cubes) = self.new_cubes("cube", &[input], at_ms, &request_id)?;
        let rules = self.dedupe_rules(req.dedupe, req.dedupe_threshold, &cubes)?;
        let related = model::dedupe::related_threshold(&rules, req.related_threshold)?;
        self.authorize_new(&who, "cube", &cubes)?;
        self.core.authorize_link_targets(&who, "cube", &cubes)?;
        self.core.embed_cubes("cube", &mut cubes).await?;
        let fp = fingerprint("put", &req);
        let w = self.core.propose(&who.actor(), &tenant, &request_id, fp, at_ms, put_op(cubes, rules, related)).await?;
        let result = w.outcome.results.first().map(PutResult::to_proto);
        Ok(Response::new(WriteResponse { result, ..Self::one(w) }))
    }

    async fn put_batch(&self, req: Request<PutBatchRequest>) -> Res<PutBatchResponse> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        model::check_request_id(&req.request_id)?;
        let max = self.core.limits.max_batch;
        if req.cubes.is_empty() {
            return Err(invalid("cubes", "must not be empty").into());
        }
        if req.cubes.len() > max {
            return Err(invalid("cubes", format!("{} cubes given, the batch limit is {max}", req.cubes.len())).into());
        }
        let request_id = std::mem::take(&mut req.request_id);
        let at_ms = now_ms();
        let inputs: Vec<&CubeInput> = req.cubes.iter().collect();
        let (tenant, mut cubes) = self.new_cubes("cubes", &inputs, at_ms, &request_id)?;
        let rules = self.dedupe_rules(req.dedupe, req.dedupe_threshold, &cubes)?;
        let related = model::dedupe::related_threshold(&rules, req.related_threshold)?;
        check_slots_once("cubes", &cubes)?;
        self.authorize_new(&who, "cubes", &cubes)?;
        self.core.authorize_link_targets(&who, "cubes", &cubes)?;
        // One call for the whole batch: the workers run it as batched inference.
        self.core.embed_cubes("cubes", &mut cubes).await?;
        let fp = fingerprint("put_batch", &req);
        let w = self.core.propose(&who.actor(), &tenant, &request_id, fp, at_ms, put_op(cubes, rules, related)).await?;
        Ok(Response::new(PutBatchResponse {
            results: w.outcome.results.iter().map(PutResult::to_proto).collect(),
            cubes: w.outcome.cubes.into_iter().map(|c| c.0).collect(),
            revision: w.revision,
            deduplicated: w.outcome.deduplicated,
        }))
    }

    async fn get(&self, req: Request<GetRequest>) -> Res<GetResponse> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let ulid = check_cube_id("id", &req.id)?;
        if req.version != 0 && req.as_of_revision != 0 {
            return Err(invalid("version", "give either version or as_of_revision, not both").into());
        }
        if req.record_access && (req.version != 0 || req.as_of_revision != 0) {
            return Err(invalid("record_access", "only applies to the latest version").into());
        }
        if !req.record_access {
            self.core.read_barrier(req.read.as_ref()).await?;
        }
        let reader = &self.core.reader;
        let read_revision = reader.applied_revision();
        let not_found = || ApiError::cube_not_found(&req.id);
        // An expired cube is not returned from the moment it expires, swept or not (its
        // history and past versions still are).
        let now = now_ms();
        // (`is_expired` covers both: a swept cube's stored state is EXPIRED.)
        let expired = |c: &MemCube| is_expired(c, now);
        let cube = if req.record_access {
            let (_, cur) = self.current(&req.id)?;
            self.core.authorize_cube(&who, &cur, Need::Read)?;
            if expired(&cur) {
                return Err(not_found().into());
            }
            let w = self.core.propose(&who.actor(), &Self::tenant_of(&cur), "", [0; 32], now_ms(), Op::Touch { id: req.id.clone() }).await?;
            w.outcome.cubes.into_iter().next().map(|c| c.0)
        } else if req.version != 0 {
            match reader.get_version(ulid, req.version)? {
                Some(c) => Some(c),
                None => match reader.get(ulid)? {
                    // Only a caller who may read the cube learns that it exists without that
                    // version; to anyone else it is a cube that does not exist.
                    Some(cur) => {
                        self.core.authorize_cube(&who, &cur, Need::Read)?;
                        return Err(ApiError::Apply(model::ApplyError::VersionNotFound { id: req.id.clone(), version: req.version }).into());
                    }
                    None => None,
                },
            }
        } else if req.as_of_revision != 0 {
            if req.as_of_revision > read_revision {
                return Err(ApiError::OutOfRange(format!(
                    "revision {} is not applied yet on this node (applied: {read_revision})",
                    req.as_of_revision
                ))
                .into());
            }
            reader.get_as_of(ulid, req.as_of_revision)?
        } else {
            reader.get(ulid)?
        };
        let cube = cube.ok_or_else(not_found)?;
        // A past version is judged by the cube's current ACL (an older one may have been wider);
        // the latest version already is the current one, so it is not read again.
        let current = if req.version != 0 || req.as_of_revision != 0 { reader.get(ulid)? } else { None };
        self.core.authorize_cube(&who, current.as_ref().unwrap_or(&cube), Need::Read)?;
        if current.is_none() && expired(&cube) {
            return Err(not_found().into());
        }
        let incoming = if current.is_none() { self.core.incoming_links(&who, ulid)? } else { Vec::new() };
        Ok(Response::new(GetResponse { cube: Some(cube), read_revision, incoming }))
    }

    async fn update(&self, req: Request<UpdateRequest>) -> Res<WriteResponse> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        model::check_request_id(&req.request_id)?;
        let (_, cur) = self.current(&req.id)?;
        self.core.authorize_cube(&who, &cur, Need::Write)?;
        let kind = CubeKind::try_from(cur.kind).unwrap_or(CubeKind::Plaintext);
        model::check_update(&req, kind, &self.core.limits)?;
        let mut merged = cur.clone();
        apply_patch(&mut merged, &req, 0);
        check_merged(&merged, &self.core.limits)?;
        if model::adapter::is_adapter(&merged) && (req.content.is_some() || !model::adapter::is_adapter(&cur)) {
            // New bytes (or a cube becoming an adapter): checked like an uploaded one.
            self.core.check_adapter("content.data", merged.content.as_ref().map_or(&[][..], |c| &c.data)).await?;
        }
        if req.acl.is_some() {
            let scope = cur.scope.clone().unwrap_or_default();
            let grants = self.core.grants_for(&who, &scope.tenant)?;
            self.core.authorize_acl(&who, &scope, merged.acl.as_ref(), "acl", &grants)?;
        }
        let request_id = std::mem::take(&mut req.request_id);
        let fp = fingerprint("update", &req);
        // New text gets a new vector, computed here, before proposing.
        let embedding = match (&req.content, kind) {
            (Some(c), CubeKind::Plaintext | CubeKind::Unspecified) => self.core.embed_text(&c.text).await?.map(Pb),
            _ => None,
        };
        let op = Op::Update { patch: Pb(req), embedding };
        let w = self.core.propose(&who.actor(), &Self::tenant_of(&cur), &request_id, fp, now_ms(), op).await?;
        Ok(Response::new(Self::one(w)))
    }

    async fn delete(&self, req: Request<DeleteRequest>) -> Res<WriteResponse> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        let request_id = std::mem::take(&mut req.request_id);
        let op = Op::Delete { id: req.id.clone(), expected_version: req.expected_version };
        Ok(Response::new(self.write_existing(&who, &req.id, &request_id, fingerprint("delete", &req), op).await?))
    }

    async fn restore(&self, req: Request<RestoreRequest>) -> Res<WriteResponse> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        let request_id = std::mem::take(&mut req.request_id);
        let op = match req.ttl_seconds {
            Some(ttl_seconds) => {
                model::check_ttl("ttl_seconds", ttl_seconds)?;
                Op::RestoreWithTtl { id: req.id.clone(), expected_version: req.expected_version, ttl_seconds }
            }
            None => {
                // Refused here, as apply would: restoring with the old TTL would expire it again.
                if let Ok((_, cur)) = self.current(&req.id) {
                    if cur.state == CubeState::Expired as i32 {
                        self.core.authorize_cube(&who, &cur, Need::Write)?;
                        return Err(ApiError::Precondition(format!("cube {} expired: give ttl_seconds (0 = none) to restore it", req.id)).into());
                    }
                }
                Op::Restore { id: req.id.clone(), expected_version: req.expected_version }
            }
        };
        Ok(Response::new(self.write_existing(&who, &req.id, &request_id, fingerprint("restore", &req), op).await?))
    }

    async fn purge(&self, req: Request<PurgeRequest>) -> Res<PurgeResponse> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        model::check_request_id(&req.request_id)?;
        let request_id = std::mem::take(&mut req.request_id);
        let fp = fingerprint("purge", &req);
        let (tenant, op) = match &req.target {
            Some(purge_request::Target::Id(id)) => {
                let ulid = check_cube_id("id", id)?;
                // Purging is idempotent: a cube that does not exist — or, identically, one the
                // caller may not read — is nothing to remove and nothing to replicate.
                let nothing = || Ok(Response::new(PurgeResponse { purged: 0, revision: self.core.reader.applied_revision(), deduplicated: false }));
                match self.core.reader.get(ulid)? {
                    Some(c) => match self.core.authorize_cube(&who, &c, Need::Write) {
                        Ok(()) => (Self::tenant_of(&c), Op::PurgeCube { id: id.clone() }),
                        Err(ApiError::NotFound(_)) => return nothing(),
                        Err(e) => return Err(e.into()),
                    },
                    None => return nothing(),
                }
            }
            Some(purge_request::Target::Scope(s)) => {
                let scope = model::check_scope("scope", Some(s))?;
                self.core.authorize_scope(&who, &scope, Need::Write)?;
                (scope.tenant.clone(), Op::PurgeScope { scope: Pb(scope) })
            }
            None => return Err(invalid("target", "give either id or scope").into()),
        };
        let w = self.core.propose(&who.actor(), &tenant, &request_id, fp, now_ms(), op).await?;
        Ok(Response::new(PurgeResponse { purged: w.outcome.purged, revision: w.revision, deduplicated: w.outcome.deduplicated }))
    }

    async fn list(&self, req: Request<ListRequest>) -> Res<ListResponse> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let scope = model::check_scope("scope", req.scope.as_ref())?;
        let access = self.core.authorize_read(&who, &scope)?;
        let filter = Filter::build(&FilterSpec {
            memory_types: &req.memory_types,
            tags: &req.tags,
            states: &req.states,
            created_after_ms: req.created_after_ms,
            created_before_ms: req.created_before_ms,
            updated_after_ms: req.updated_after_ms,
            updated_before_ms: req.updated_before_ms,
            ..Default::default()
        })?
        .active_by_default()
        .judged_at(now_ms());
        let order = ListOrder::try_from(req.order).map_err(|_| invalid("order", format!("unknown enum value {}", req.order)))?;
        let newest_first = order != ListOrder::OldestFirst;
        let page_size = match req.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => return Err(invalid("page_size", format!("must be at most {MAX_PAGE_SIZE}")).into()),
            n => n,
        };
        let after = if req.page_token.is_empty() { None } else { Some(decode_token(&req.page_token, newest_first)?) };
        let q = ListQuery { scope, filter, newest_first, page_size: page_size as usize, after, shared_only: !access.whole };
        self.core.read_barrier(req.read.as_ref()).await?;
        let page = self.core.reader.list(&q, |c| access.sees(c)).map_err(ApiError::from)?;
        Ok(Response::new(ListResponse {
            cubes: page.cubes,
            next_page_token: page.next_after.map(|id| encode_token(newest_first, id)).unwrap_or_default(),
            read_revision: page.read_revision,
        }))
    }

    async fn history(&self, req: Request<HistoryRequest>) -> Res<HistoryResponse> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let ulid = check_cube_id("id", &req.id)?;
        self.core.read_barrier(req.read.as_ref()).await?;
        let versions = self.core.reader.history(ulid).map_err(ApiError::from)?;
        match versions.last() {
            None => return Err(ApiError::cube_not_found(&req.id).into()),
            Some(v) => self.core.authorize_cube(&who, v, Need::Read)?,
        }
        Ok(Response::new(HistoryResponse { versions }))
    }

    async fn rollback(&self, req: Request<RollbackRequest>) -> Res<WriteResponse> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        if req.to_version == 0 {
            return Err(invalid("to_version", "must be a version number (1 or more)").into());
        }
        let request_id = std::mem::take(&mut req.request_id);
        let op = Op::Rollback { id: req.id.clone(), to_version: req.to_version, expected_version: req.expected_version };
        Ok(Response::new(self.write_existing(&who, &req.id, &request_id, fingerprint("rollback", &req), op).await?))
    }

    async fn search(&self, req: Request<SearchRequest>) -> Res<SearchResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::search::search(&self.core, &who, req.into_inner()).await?))
    }

    async fn link(&self, req: Request<LinkRequest>) -> Res<WriteResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::links::link(&self.core, &who, req.into_inner()).await?))
    }

    async fn consolidate(&self, req: Request<ConsolidateRequest>) -> Res<ConsolidateResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::links::consolidate(&self.core, &who, req.into_inner()).await?))
    }

    async fn feedback(&self, req: Request<FeedbackRequest>) -> Res<FeedbackResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::adapters::feedback(self, &who, req.into_inner()).await?))
    }

    async fn train_adapter(&self, req: Request<TrainAdapterRequest>) -> Res<TrainAdapterResponse> {
        let who = caller(&req)?;
        Ok(Response::new(super::adapters::train(self, &who, req.into_inner()).await?))
    }
}
