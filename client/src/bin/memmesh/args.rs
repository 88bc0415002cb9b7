//! The command line: flags, subcommands and their argument types, and the conversions from
//! argument values to protocol enums (each a `From`, the one way they are converted).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use memmesh_client::proto::*;

pub use crate::consolidation::{parse_link, ConsolidateArgs, HoldCmd, LinkArgs, PolicyCmd};

#[derive(Parser)]
#[command(name = "memmesh", version, about = "MemMesh command-line client")]
pub struct Cli {
    /// Node address (host:port).
    #[arg(long, global = true, env = "MEMMESH_ADDR", default_value = "127.0.0.1:7070")]
    pub addr: String,
    /// Print one JSON value per command instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// API token (sent as `authorization: Bearer …`).
    #[arg(long, global = true, env = "MEMMESH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to trust: connects with TLS.
    #[arg(long, global = true, env = "MEMMESH_CA")]
    pub ca: Option<String>,
    /// Client certificate and key (PEM), for nodes that require mutual TLS.
    #[arg(long, global = true, env = "MEMMESH_CERT")]
    pub cert: Option<String>,
    #[arg(long, global = true, env = "MEMMESH_KEY")]
    pub key: Option<String>,
    /// Read consistency for get/list/history: linearizable (default) or serializable (local
    /// replica as it is).
    #[arg(long, global = true, value_enum, default_value = "linearizable")]
    pub consistency: ConsistencyArg,
    /// For reads: wait until the serving node has applied at least this revision.
    #[arg(long, global = true, default_value_t = 0)]
    pub min_revision: u64,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Args, Clone, Default)]
pub struct ScopeArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long, default_value = "")]
    pub user: String,
    #[arg(long, default_value = "")]
    pub agent: String,
    #[arg(long, default_value = "")]
    pub run: String,
}

impl ScopeArgs {
    pub fn scope(&self) -> Scope {
        Scope { tenant: self.tenant.clone(), user: self.user.clone(), agent: self.agent.clone(), run: self.run.clone() }
    }
}

/// A cube's access list (see `Acl` in `cube.proto`).
#[derive(Args, Clone, Default)]
pub struct AclArgs {
    /// A principal of the tenant that may read the cube: USER (and their agents), USER/AGENT,
    /// /AGENT (an agent of that name, any user) or '*' (everyone in the tenant). Repeatable.
    #[arg(long = "reader", value_parser = parse_acl_entry)]
    pub readers: Vec<AclEntry>,
    /// A principal that may read and change the cube (same forms as --reader). Repeatable.
    #[arg(long = "writer", value_parser = parse_acl_entry)]
    pub writers: Vec<AclEntry>,
    /// Only the listed principals (and the tenant's admins) may access the cube.
    #[arg(long)]
    pub restricted: bool,
}

impl AclArgs {
    /// The ACL the flags describe; `None` when no flag was given.
    pub fn acl(self) -> Option<Acl> {
        (self.restricted || !self.readers.is_empty() || !self.writers.is_empty()).then_some(Acl {
            readers: self.readers,
            writers: self.writers,
            restricted: self.restricted,
        })
    }
}

pub fn parse_acl_entry(s: &str) -> Result<AclEntry, String> {
    match s {
        "*" => Ok(AclEntry::default()),
        _ => match s.split_once('/') {
            Some((user, agent)) if !agent.is_empty() => Ok(AclEntry { user: user.into(), agent: agent.into() }),
            None if !s.is_empty() => Ok(AclEntry { user: s.into(), agent: String::new() }),
            _ => Err(format!("expected USER, USER/AGENT, /AGENT or '*', got {s:?}")),
        },
    }
}

#[derive(ValueEnum, Clone, Copy)]
pub enum ModeArg {
    Hybrid,
    Dense,
    Lexical,
}

#[derive(ValueEnum, Clone, Copy)]
pub enum TypeArg {
    Fact,
    Preference,
    Episode,
    Procedure,
    Summary,
    Prompt,
    Persona,
    Other,
}

impl From<TypeArg> for MemoryType {
    fn from(t: TypeArg) -> MemoryType {
        match t {
            TypeArg::Fact => MemoryType::Fact,
            TypeArg::Preference => MemoryType::Preference,
            TypeArg::Episode => MemoryType::Episode,
            TypeArg::Procedure => MemoryType::Procedure,
            TypeArg::Summary => MemoryType::Summary,
            TypeArg::Prompt => MemoryType::Prompt,
            TypeArg::Persona => MemoryType::Persona,
            TypeArg::Other => MemoryType::Other,
        }
    }
}

#[derive(ValueEnum, Clone, Copy)]
pub enum ConsistencyArg {
    Linearizable,
    Serializable,
}

impl From<ConsistencyArg> for ReadConsistency {
    fn from(c: ConsistencyArg) -> ReadConsistency {
        match c {
            ConsistencyArg::Linearizable => ReadConsistency::Linearizable,
            ConsistencyArg::Serializable => ReadConsistency::Serializable,
        }
    }
}

impl From<ModeArg> for SearchMode {
    fn from(m: ModeArg) -> SearchMode {
        match m {
            ModeArg::Hybrid => SearchMode::Hybrid,
            ModeArg::Dense => SearchMode::Dense,
            ModeArg::Lexical => SearchMode::Lexical,
        }
    }
}

/// A duration like 30d, 12h, 90m, 45s or plain seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("not a duration: {s:?} (e.g. 30d, 12h, 90m, 45s)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit in {s:?}: use s, m, h or d")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("duration too long: {s:?}"))
}

#[derive(ValueEnum, Clone, Copy)]
pub enum RoleArg {
    Reader,
    Writer,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Reader => Role::Reader,
            RoleArg::Writer => Role::Writer,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Subcommand)]
pub enum AuthCmd {
    /// Create an API token for a principal (shown once).
    CreateToken {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "")]
        user: String,
        #[arg(long, default_value = "")]
        agent: String,
        #[arg(long, value_enum, default_value = "writer")]
        role: RoleArg,
        /// Lifetime, e.g. 30d (default: no expiry).
        #[arg(long, value_parser = parse_duration)]
        expires: Option<u64>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Tokens of a tenant (ids and principals, never secrets).
    List {
        #[arg(long, default_value = "")]
        tenant: String,
    },
    /// Revoke a token by id.
    Revoke { id: String },
    /// The principal of the token in use.
    Whoami,
}

#[derive(Subcommand)]
pub enum GrantCmd {
    /// Share a scope with other principals of the tenant.
    Create {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Grantee: user (empty = any user).
        #[arg(long, default_value = "")]
        to_user: String,
        /// Grantee: agent (empty = any agent).
        #[arg(long, default_value = "")]
        to_agent: String,
        /// Read and write (default: read only).
        #[arg(long)]
        write: bool,
        #[arg(long, value_parser = parse_duration)]
        expires: Option<u64>,
    },
    List {
        #[arg(long)]
        tenant: String,
    },
    Revoke {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Every member's id, address, role, matched index and lag (as seen by the leader).
    Status,
    /// Add a node (learner, promoted to voter once caught up unless --learner).
    Add {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        addr: String,
        #[arg(long)]
        learner: bool,
    },
    /// Make a learner a voter.
    Promote {
        #[arg(long)]
        id: u64,
    },
    /// Remove a node for good (its id is never accepted again).
    Remove {
        #[arg(long)]
        id: u64,
    },
    /// Make a voter the leader (it campaigns; wins if its log is up to date).
    TransferLeader {
        #[arg(long)]
        id: u64,
    },
}

#[derive(ValueEnum, Clone, Copy)]
pub enum KindArg {
    Plaintext,
    Activation,
    Parametric,
}

impl From<KindArg> for CubeKind {
    fn from(k: KindArg) -> CubeKind {
        match k {
            KindArg::Plaintext => CubeKind::Plaintext,
            KindArg::Activation => CubeKind::Activation,
            KindArg::Parametric => CubeKind::Parametric,
        }
    }
}

#[derive(ValueEnum, Clone, Copy)]
pub enum SourceArg {
    User,
    Agent,
    Inference,
    Retrieval,
    Import,
    Tuning,
}

impl From<SourceArg> for Source {
    fn from(s: SourceArg) -> Source {
        match s {
            SourceArg::User => Source::User,
            SourceArg::Agent => Source::Agent,
            SourceArg::Inference => Source::Inference,
            SourceArg::Retrieval => Source::Retrieval,
            SourceArg::Import => Source::Import,
            SourceArg::Tuning => Source::Tuning,
        }
    }
}

#[derive(ValueEnum, Clone, Copy)]
pub enum DedupeArg {
    None,
    Exact,
    Semantic,
}

impl From<DedupeArg> for DedupeMode {
    fn from(d: DedupeArg) -> DedupeMode {
        match d {
            DedupeArg::None => DedupeMode::None,
            DedupeArg::Exact => DedupeMode::Exact,
            DedupeArg::Semantic => DedupeMode::Semantic,
        }
    }
}

#[derive(ValueEnum, Clone, Copy)]
pub enum StateArg {
    Active,
    Archived,
    Deleted,
}

impl From<StateArg> for CubeState {
    fn from(s: StateArg) -> CubeState {
        match s {
            StateArg::Active => CubeState::Active,
            StateArg::Archived => CubeState::Archived,
            StateArg::Deleted => CubeState::Deleted,
        }
    }
}

pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Create a cube.
    Put(PutArgs),
    /// Read a cube (latest, a version, or as of a revision).
    Get(GetArgs),
    /// Change some fields of a cube (a new version).
    Update(UpdateArgs),
    /// Soft-delete a cube (restorable).
    Delete(StateChangeArgs),
    /// Undo a soft delete or an expiry (an expired cube needs --ttl; 0 = none).
    Restore(RestoreArgs),
    /// Pin a cube: it never expires.
    Pin(StateChangeArgs),
    /// Unpin a cube: its TTL applies again.
    Unpin(StateChangeArgs),
    /// Hard-delete one cube, or every cube in a scope (--tenant [--user ...]).
    Purge(PurgeArgs),
    /// List cubes in a scope.
    List(ListArgs),
    /// Search a scope: hybrid (default), dense (embeddings) or lexical (BM25).
    Search(SearchArgs),
    /// Every version of a cube.
    History(HistoryArgs),
    /// Make an earlier version current again (as a new version).
    Rollback(RollbackArgs),
    /// Node and cluster status (same as `cluster status`).
    Status,
    /// Cluster membership: status, add, promote, remove, transfer-leader.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// API tokens: create-token, list, revoke, whoami.
    #[command(subcommand)]
    Auth(AuthCmd),
    /// Sharing grants: create, list, revoke.
    #[command(subcommand)]
    Grant(GrantCmd),
    /// The audit log, oldest first (every page with --all).
    Audit(AuditArgs),
    /// Add or remove a link (derived-from, relates-to) from one cube to another.
    Link(LinkArgs),
    /// Merge the near-duplicates stored in a scope into their strongest member (tenant admins
    /// and the scope's owners); --dry-run prints the plan.
    Consolidate(ConsolidateArgs),
    /// Memory policies of a tenant (tenant admins): dedupe defaults, scheduled consolidation,
    /// default TTL, purge-after grace periods, legal holds.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Legal holds (tenant admins): `hold set NAME --tenant T [--user U]`, `hold clear`.
    #[command(subcommand)]
    Hold(HoldCmd),
    /// Follow changes in a scope as they happen (one line per event; JSON with --json).
    /// Reconnects and resumes by itself; Ctrl-C stops it.
    Watch(WatchArgs),
    /// Keep a local mirror of a scope in DIR (one JSON file per cube plus state.json), following
    /// changes; resumes from its stored revision after a restart.
    Sync(SyncArgs),
    /// Back up the whole cluster (cluster admin) to FILE: every write acknowledged before the
    /// call, checked end to end; `memmesh-node --restore FILE` starts a new cluster from it.
    Backup(BackupArgs),
    /// Exit 0 if the node answers the gRPC health check as SERVING (container probes).
    Health,
    /// Export a tenant's memory (tenant admins) to a JSON Lines file — gzip-compressed when
    /// FILE ends in .gz — consistent at one revision: every cube in every state, optionally
    /// with its past versions, and the tenant's policies. See the README's "Export and import".
    Export(ExportArgs),
    /// Import a file written by `memmesh export` (keeping ids, versions, timestamps,
    /// provenance and ACLs; tenant admins), or with --as-new as new cubes (any writer);
    /// or another system's export with --from mem0|letta. Safe to run again: nothing is
    /// written twice.
    Import(ImportArgs),
    /// Serve MemMesh to agents as MCP tools (remember, recall, get, update, forget, history,
    /// list): over stdio (what MCP hosts launch) or streamable HTTP with --http.
    Mcp(McpArgs),
    /// Record that a question was answered by a cube (or, --negative, was not): training data
    /// for the scope's query adapter.
    Feedback(crate::adapter::FeedbackArgs),
    /// Query adapters: train (on the node, from feedback), list, show, activate, deactivate.
    #[command(subcommand)]
    Adapter(crate::adapter::AdapterCmd),
}

#[derive(Args)]
pub struct McpArgs {
    /// Serve streamable HTTP on this address (path /mcp) instead of stdio.
    #[arg(long)]
    pub http: Option<std::net::SocketAddr>,
    /// Host header values the HTTP server accepts (repeatable; default: loopback names only,
    /// against DNS rebinding).
    #[arg(long = "allowed-host")]
    pub allowed_hosts: Vec<String>,
    /// The scope the tools read and write.
    #[arg(long, env = "MEMMESH_TENANT")]
    pub tenant: Option<String>,
    #[arg(long, env = "MEMMESH_USER", default_value = "")]
    pub user: String,
    #[arg(long, env = "MEMMESH_AGENT", default_value = "")]
    pub agent: String,
    #[arg(long, default_value = "")]
    pub run: String,
    /// Let each call name its scope (tenant, user, agent, run); the flags become defaults.
    #[arg(long)]
    pub scope_per_call: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub tenant: String,
    /// Only this user's memory.
    #[arg(long, default_value = "")]
    pub user: String,
    /// The state as it was at this revision (default: now).
    #[arg(long, default_value_t = 0)]
    pub as_of_revision: u64,
    /// Include every cube's past versions.
    #[arg(long)]
    pub history: bool,
    /// Where to write (FILE.part until complete; .gz = compressed).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    /// A file written by `memmesh export`.
    Memmesh,
    /// Mem0's `get_all` output (a JSON array, {"results": [...]}, or JSON Lines).
    Mem0,
    /// A Letta agent file (.af).
    Letta,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The file to import (gzip is recognised by itself).
    pub file: PathBuf,
    /// The file's format.
    #[arg(long, value_enum, default_value = "memmesh")]
    pub from: ImportFormat,
    /// Import into this tenant (required with --from; default: the exported tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The user of memories that name none (Mem0) or of all of them (Letta).
    #[arg(long)]
    pub user: Option<String>,
    /// Write the cubes as new ones through PutBatch (new ids and versions; deleted and expired
    /// cubes and policies are left out) — for writers who are not tenant admins.
    #[arg(long)]
    pub as_new: bool,
    /// Versions (cubes plus past versions) per request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

#[derive(Args)]
pub struct BackupArgs {
    /// Where to write the backup (written to FILE.part, then renamed once complete and checked).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Text of a plaintext cube.
    #[arg(long, conflicts_with = "data_file")]
    pub text: Option<String>,
    /// File holding the payload of an activation/parametric cube.
    #[arg(long)]
    pub data_file: Option<PathBuf>,
    #[arg(long, default_value = "")]
    pub media_type: String,
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    #[arg(long = "type", value_enum)]
    pub memory_type: Option<TypeArg>,
    #[arg(long, default_value = "")]
    pub custom_type: String,
    #[arg(long, value_enum)]
    pub source: Option<SourceArg>,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long = "attr", value_parser = parse_kv)]
    pub attributes: Vec<(String, String)>,
    #[arg(long, default_value_t = 0.0)]
    pub importance: f32,
    /// Time to live in seconds.
    #[arg(long, default_value_t = 0)]
    pub ttl: u64,
    /// Never expire.
    #[arg(long)]
    pub pin: bool,
    #[arg(long, default_value = "")]
    pub origin_agent: String,
    #[arg(long = "parent")]
    pub parents: Vec<String>,
    /// Search context: text that helps find the memory without being part of it.
    #[arg(long, default_value = "")]
    pub context: String,
    #[command(flatten)]
    pub acl: AclArgs,
    #[arg(long, default_value = "")]
    pub request_id: String,
    /// Write-time deduplication against the scope's ACTIVE cubes of the same type: none
    /// (default: always create), exact (same normalised text), semantic (exact, or embedding
    /// cosine >= the threshold).
    #[arg(long, value_enum)]
    pub dedupe: Option<DedupeArg>,
    /// For --dedupe semantic: the similarity threshold in (0, 1] (default 0.95).
    #[arg(long, default_value_t = 0.0)]
    pub dedupe_threshold: f32,
    /// For --dedupe semantic: report cubes at least this similar (below the duplicate
    /// threshold) as related (default 0.80).
    #[arg(long, default_value_t = 0.0)]
    pub related_threshold: f32,
    /// The slot this memory holds (e.g. user.home_city): supersedes the slot's current holder
    /// in the scope.
    #[arg(long, default_value = "")]
    pub slot: String,
    /// A link to set on the new cube, TYPE:ID with TYPE derived-from or relates-to. Repeatable.
    #[arg(long = "link", value_parser = parse_link)]
    pub links: Vec<Link>,
}

#[derive(Args)]
pub struct GetArgs {
    pub id: String,
    #[arg(long, default_value_t = 0)]
    pub version: u64,
    #[arg(long, default_value_t = 0)]
    pub as_of: u64,
    /// Count this read in the cube's usage.
    #[arg(long)]
    pub record_access: bool,
}

#[derive(Args)]
pub struct UpdateArgs {
    pub id: String,
    #[arg(long)]
    pub text: Option<String>,
    #[arg(long = "type", value_enum)]
    pub memory_type: Option<TypeArg>,
    #[arg(long)]
    pub custom_type: Option<String>,
    #[arg(long)]
    pub importance: Option<f32>,
    #[arg(long)]
    pub ttl: Option<u64>,
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    #[arg(long = "add-tag")]
    pub add_tags: Vec<String>,
    #[arg(long = "remove-tag")]
    pub remove_tags: Vec<String>,
    #[arg(long = "set-attr", value_parser = parse_kv)]
    pub set_attributes: Vec<(String, String)>,
    #[arg(long = "remove-attr")]
    pub remove_attributes: Vec<String>,
    /// Replace the search context ("" clears it).
    #[arg(long)]
    pub context: Option<String>,
    /// Replace the access list with the one --reader/--writer/--restricted describe.
    #[command(flatten)]
    pub acl: AclArgs,
    /// Remove the access list (the scope's rule alone applies again).
    #[arg(long, conflicts_with_all = ["readers", "writers", "restricted"])]
    pub clear_acl: bool,
    /// Pin (true: never expires) or unpin (false).
    #[arg(long)]
    pub pinned: Option<bool>,
    #[arg(long, default_value_t = 0)]
    pub expected_version: u64,
    #[arg(long, default_value = "")]
    pub request_id: String,
}

/// A cube's state change (delete, restore).
#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub change: StateChangeArgs,
    /// New time to live (e.g. 30d, 12h; 0 = none), counted from the restore. Required for an
    /// expired cube.
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<u64>,
}

#[derive(Args)]
pub struct StateChangeArgs {
    pub id: String,
    #[arg(long, default_value_t = 0)]
    pub expected_version: u64,
    #[arg(long, default_value = "")]
    pub request_id: String,
}

#[derive(Args)]
pub struct PurgeArgs {
    #[arg(conflicts_with = "tenant")]
    pub id: Option<String>,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long, default_value = "")]
    pub user: String,
    #[arg(long, default_value = "")]
    pub agent: String,
    #[arg(long, default_value = "")]
    pub run: String,
    #[arg(long, default_value = "")]
    pub request_id: String,
}

/// The cube filter `list` and `search` share (the node's one filter).
#[derive(Args)]
pub struct FilterArgs {
    #[arg(long = "type", value_enum)]
    pub types: Vec<TypeArg>,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long = "state", value_enum)]
    pub states: Vec<StateArg>,
}

impl FilterArgs {
    pub fn memory_types(&self) -> Vec<i32> {
        self.types.iter().map(|t| MemoryType::from(*t) as i32).collect()
    }

    pub fn states(&self) -> Vec<i32> {
        self.states.iter().map(|s| CubeState::from(*s) as i32).collect()
    }
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(long)]
    pub oldest_first: bool,
    #[arg(long, default_value_t = 0)]
    pub page_size: u32,
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Follow page tokens and print every match (as one JSON array with --json).
    #[arg(long)]
    pub all: bool,
}

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[arg(long)]
    pub query: String,
    #[arg(short = 'k', long, default_value_t = 10)]
    pub k: u32,
    #[arg(long, value_enum, default_value = "hybrid")]
    pub mode: ModeArg,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Attribute equality filter, KEY=VALUE (repeatable).
    #[arg(long = "attr", value_parser = parse_kv)]
    pub attributes: Vec<(String, String)>,
    /// Add to each hit the cubes one link away that you may read.
    #[arg(long)]
    pub expand_links: bool,
    /// Rank by strength too, with this weight in [0, 1] (importance, use and age; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub strength_weight: f32,
    /// The query adapter: AUTO (the scope's active one, the default), NONE, or an adapter id.
    #[arg(long, default_value = "AUTO")]
    pub adapter: String,
}

#[derive(Args)]
pub struct HistoryArgs {
    pub id: String,
}

#[derive(Args)]
pub struct RollbackArgs {
    pub id: String,
    #[arg(long)]
    pub to_version: u64,
    #[arg(long, default_value_t = 0)]
    pub expected_version: u64,
    #[arg(long, default_value = "")]
    pub request_id: String,
}

#[derive(Args)]
pub struct AuditArgs {
    /// Required unless the token is the cluster admin's.
    #[arg(long, default_value = "")]
    pub tenant: String,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long)]
    pub all: bool,
}

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// First revision to show (0 = from now).
    #[arg(long, default_value_t = 0)]
    pub from_revision: u64,
    /// Only cubes of these memory types.
    #[arg(long = "type", value_enum)]
    pub types: Vec<TypeArg>,
    /// Include the previous version of changed cubes.
    #[arg(long)]
    pub prev: bool,
    /// Also print progress bookmarks ({"progress": R}) every this many ms.
    #[arg(long, default_value_t = 0)]
    pub progress_ms: u32,
    /// Stop after this many events (0 = never).
    #[arg(long, default_value_t = 0)]
    pub limit: u64,
    /// Further node addresses to fail over to.
    #[arg(long = "fallback-addr")]
    pub fallback: Vec<String>,
}

#[derive(Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[arg(long)]
    pub dir: PathBuf,
    /// Catch up to the server's current revision, then exit (instead of following forever).
    #[arg(long)]
    pub once: bool,
    /// Further node addresses to fail over to.
    #[arg(long = "fallback-addr")]
    pub fallback: Vec<String>,
}
