//! Types that travel in the Raft log.
//!
//! A [`Request`] is fully determined when it is proposed: ids, timestamps and (later)
//! embeddings are chosen by the node that received the write, so `apply` is a pure function of
//! the entry and the prior state and every replica ends bit-identical.

use memmesh_proto::{Embedding, ExportedCube, MemCube, Policy, Scope, UpdateRequest};
use serde::{Deserialize, Serialize};

pub use crate::model::Pb;
use crate::model::{ApplyError, AuditRecord, Dedupe, FeedbackRecord, GrantRecord, MergePlan, PutResult, Quota, TokenRecord};

openraft::declare_raft_types!(
    /// MemMesh's openraft configuration.
    pub TypeConfig:
        D = Proposal,
        R = Responses,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;

/// What one Raft entry carries: one or more client writes, applied in order at the entry's
/// log index — their shared revision. Concurrent writes are grouped by the proposer (group
/// commit), so a busy cluster commits many writes per entry and per fsync.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Proposal {
    pub requests: Vec<Request>,
}

/// The results of a proposal's writes, in order.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Responses(pub Vec<Response>);

/// One write, as proposed to Raft.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// Namespace of `request_id` (request ids are unique per tenant, not globally).
    pub tenant: String,
    /// Client idempotency key; empty = none.
    pub request_id: String,
    /// SHA-256 of the client's request (without its request id): a retry must match it.
    pub fingerprint: [u8; 32],
    /// Wall-clock time at the receiving node, ms since the epoch; all timestamps of the change.
    pub at_ms: i64,
    /// Who asked (for the audit log), e.g. `acme/alice/planner token 01J…` or `cluster-admin`.
    pub actor: String,
    /// The tenant's storage quota as configured on the proposing node; `apply` enforces it.
    pub quota: Quota,
    pub op: Op,
}

/// The change a [`Request`] makes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Op {
    /// Create cubes (fully formed except `version`/`revision`, which apply assigns).
    Put {
        cubes: Vec<Pb<MemCube>>,
    },
    /// Partial update; the patch was validated before proposing. When it changes the text,
    /// `embedding` is the new text's vector (computed before proposing; `None` = none).
    Update {
        patch: Pb<UpdateRequest>,
        embedding: Option<Pb<Embedding>>,
    },
    Delete {
        id: String,
        expected_version: u64,
    },
    Restore {
        id: String,
        expected_version: u64,
    },
    Rollback {
        id: String,
        to_version: u64,
        expected_version: u64,
    },
    /// Count one access in the cube's usage (not a new version).
    Touch {
        id: String,
    },
    PurgeCube {
        id: String,
    },
    PurgeScope {
        scope: Pb<Scope>,
    },
    /// Store an API token (its hash; the secret never enters the log).
    PutToken {
        token: TokenRecord,
    },
    RevokeToken {
        id: String,
    },
    PutGrant {
        grant: GrantRecord,
    },
    RevokeGrant {
        id: String,
    },
    /// Record a refused request in the audit log (nothing else changes).
    Audit {
        record: AuditRecord,
    },
    /// Create cubes unless they duplicate a stored cube or an earlier one of the same op,
    /// under `dedupe` (decided by `apply`; see `model::dedupe`). `Put` is this with
    /// `Dedupe::None` — kept as its own variant so that entries logged before deduplication
    /// existed still decode (variants are encoded by position: new ones go last).
    PutDedupe {
        cubes: Vec<Pb<MemCube>>,
        dedupe: Dedupe,
    },
    /// `PutDedupe` that also reports, per created cube, its related cubes: similarity at least
    /// `related` and below the SEMANTIC threshold. (Entries of the two older put variants report
    /// none, as they did when first applied: a replay must decide exactly the same.)
    /// `rules` holds one rule for all cubes, or one per cube (policies may give the inputs of
    /// a batch different defaults).
    PutCubes {
        cubes: Vec<Pb<MemCube>>,
        rules: Vec<Dedupe>,
        related: Option<f32>,
    },
    /// Add or remove a client link (`link_type` a client-settable `LinkType`, checked before
    /// proposing; the target's existence and tenant are checked by apply).
    Link {
        source: String,
        link_type: i32,
        target: String,
        remove: bool,
        expected_version: u64,
    },
    /// One step of `Memory.Consolidate`: each cluster is merged unless one of its cubes is no
    /// longer the version (or state) that was judged.
    Consolidate {
        clusters: Vec<MergePlan>,
    },
    /// Create or replace a policy (validated, `updated_at_ms` stamped before proposing).
    PutPolicy {
        policy: Pb<Policy>,
    },
    DeletePolicy {
        tenant: String,
        name: String,
    },
    /// The leader finished a scheduled consolidation under a policy at `at_ms`.
    PolicyRan {
        tenant: String,
        name: String,
        at_ms: i64,
    },
    /// Restore a deleted or expired cube with a new TTL (0 = none), counted from the entry's time.
    RestoreWithTtl {
        id: String,
        expected_version: u64,
        ttl_seconds: u64,
    },
    /// One step of the leader's expiry sweep, judged at `at_ms` (the leader's clock): each
    /// (id, version) becomes EXPIRED unless it changed since it was judged or is no longer past
    /// its expiry at `at_ms`.
    Expire {
        at_ms: i64,
        items: Vec<(String, u64)>,
    },
    /// One step of the leader's reclamation, judged at `at_ms`: each (id, version) is purged if
    /// it is still that version, DELETED or EXPIRED for at least the grace its policies give at
    /// apply (from the replicated policies), and under no legal hold.
    Reclaim {
        at_ms: i64,
        items: Vec<(String, u64)>,
    },
    /// One step of applying policy `name`'s default TTL to existing cubes of `tenant`: each
    /// (id, version) still without a TTL (and unpinned, live, that version) whose policies give
    /// a default TTL gets it, counted from its creation; then the policy records `cursor` as
    /// done (`"~"` = finished) — if the policy is still the one set at `set_at_ms` (a policy
    /// set again meanwhile starts over).
    DefaultTtl {
        tenant: String,
        name: String,
        set_at_ms: i64,
        items: Vec<(String, u64)>,
        cursor: String,
    },
    /// One step of the leader's tiering, judged at `at_ms`: each (id, version) is archived if it
    /// is still that version and its policies (the replicated ones) still find it idle or weak
    /// at `at_ms` (`model::policy::tier_due`).
    Archive {
        at_ms: i64,
        items: Vec<(String, u64)>,
    },
    /// The leader's working-set cap for the exact `scope` (cubes of `memory_type`, 0 = all):
    /// `items`, weakest first as judged at `at_ms`, are archived — each only if still that
    /// version, ACTIVE and unpinned, and only as many as the scope is over the cap its policies
    /// (the replicated ones) give at apply.
    Cap {
        at_ms: i64,
        scope: Pb<Scope>,
        memory_type: i32,
        items: Vec<(String, u64)>,
    },
    /// `Admin.Import`: exported cubes written as they were (validated before proposing), each
    /// unless its id exists; policies unless their name exists (see `store::import`).
    Import {
        cubes: Vec<Pb<ExportedCube>>,
        policies: Vec<Pb<Policy>>,
    },
    /// `Memory.Feedback`: retrieval feedback about cubes of the request's tenant (each checked
    /// readable by the caller before proposing; apply refuses the whole write if one is gone).
    Feedback {
        records: Vec<FeedbackRecord>,
    },
}

impl Op {
    /// Whether the change removes data (and so is let through when the disk is low).
    pub fn frees_space(&self) -> bool {
        matches!(self, Op::PurgeCube { .. } | Op::PurgeScope { .. })
    }
}

/// What applying an entry produced. Blank and membership entries produce an empty success.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// Revision of the change: the entry's log index, or for a deduplicated retry the revision
    /// of the original write.
    pub revision: u64,
    pub result: Result<Outcome, ApplyError>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// The cubes after the change (for a deduplicated retry: as the original write left them).
    pub cubes: Vec<Pb<MemCube>>,
    /// For purges: how many cubes were removed.
    pub purged: u64,
    /// True when this is the remembered result of an earlier write with the same request id.
    pub deduplicated: bool,
    /// Puts: one per input cube, in order (`cubes` then holds each input's resulting cube).
    pub results: Vec<PutResult>,
    /// Consolidate: cubes merged into their keepers, and clusters skipped because a cube changed.
    /// Expire / DefaultTtl: cubes changed, and items skipped.
    /// Import: cubes written, and cubes skipped because their id existed.
    pub merged: u64,
    pub skipped: u64,
    /// Import: policies created.
    #[serde(default)]
    pub imported_policies: u64,
}
