//! `memmesh`: the MemMesh command-line client.
//!
//! With `--json` every command prints exactly one JSON value on stdout (an object, or an array
//! for `list --all`/`history`); a failure prints `{"error": {"code", "message"}}` and exits 1.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use memmesh_client::proto::*;
use memmesh_client::{json, Client};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "memmesh", version, about = "MemMesh command-line client")]
struct Cli {
    /// Node address (host:port).
    #[arg(long, global = true, env = "MEMMESH_ADDR", default_value = "127.0.0.1:7070")]
    addr: String,
    /// Print one JSON value per command instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// API token (sent as `authorization: Bearer …`).
    #[arg(long, global = true, env = "MEMMESH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM) to trust: connects with TLS.
    #[arg(long, global = true, env = "MEMMESH_CA")]
    ca: Option<String>,
    /// Client certificate and key (PEM), for nodes that require mutual TLS.
    #[arg(long, global = true, env = "MEMMESH_CERT")]
    cert: Option<String>,
    #[arg(long, global = true, env = "MEMMESH_KEY")]
    key: Option<String>,
    /// Read consistency for get/list/history: linearizable (default) or serializable (local
    /// replica as it is).
    #[arg(long, global = true, value_enum, default_value = "linearizable")]
    consistency: ConsistencyArg,
    /// For reads: wait until the serving node has applied at least this revision.
    #[arg(long, global = true, default_value_t = 0)]
    min_revision: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone, Default)]
struct ScopeArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long, default_value = "")]
    user: String,
    #[arg(long, default_value = "")]
    agent: String,
    #[arg(long, default_value = "")]
    run: String,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        Scope { tenant: self.tenant.clone(), user: self.user.clone(), agent: self.agent.clone(), run: self.run.clone() }
    }
}

/// A cube's access list (see `Acl` in `cube.proto`).
#[derive(Args, Clone, Default)]
struct AclArgs {
    /// A principal of the tenant that may read the cube: USER (and their agents), USER/AGENT,
    /// /AGENT (an agent of that name, any user) or '*' (everyone in the tenant). Repeatable.
    #[arg(long = "reader", value_parser = parse_acl_entry)]
    readers: Vec<AclEntry>,
    /// A principal that may read and change the cube (same forms as --reader). Repeatable.
    #[arg(long = "writer", value_parser = parse_acl_entry)]
    writers: Vec<AclEntry>,
    /// Only the listed principals (and the tenant's admins) may access the cube.
    #[arg(long)]
    restricted: bool,
}

impl AclArgs {
    /// The ACL the flags describe; `None` when no flag was given.
    fn acl(self) -> Option<Acl> {
        (self.restricted || !self.readers.is_empty() || !self.writers.is_empty())
            .then_some(Acl { readers: self.readers, writers: self.writers, restricted: self.restricted })
    }
}

fn parse_acl_entry(s: &str) -> Result<AclEntry, String> {
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
enum ModeArg {
    Hybrid,
    Dense,
    Lexical,
}

#[derive(ValueEnum, Clone, Copy)]
enum TypeArg {
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
enum ConsistencyArg {
    Linearizable,
    Serializable,
}

/// A duration like 30d, 12h, 90m, 45s or plain seconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("not a duration: {s:?} (e.g. 30d, 12h, 90m, 45s)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit in {s:?}: use s, m, h or d")),
    };
    Ok(n * mult)
}

#[derive(ValueEnum, Clone, Copy)]
enum RoleArg {
    Reader,
    Writer,
    Admin,
}

#[derive(Subcommand)]
enum AuthCmd {
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
enum GrantCmd {
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
    Revoke { id: String },
}

#[derive(Subcommand)]
enum ClusterCmd {
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
enum KindArg {
    Plaintext,
    Activation,
    Parametric,
}

#[derive(ValueEnum, Clone, Copy)]
enum SourceArg {
    User,
    Agent,
    Inference,
    Retrieval,
    Import,
    Tuning,
}

#[derive(ValueEnum, Clone, Copy)]
enum StateArg {
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

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a cube.
    Put {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Text of a plaintext cube.
        #[arg(long, conflicts_with = "data_file")]
        text: Option<String>,
        /// File holding the payload of an activation/parametric cube.
        #[arg(long)]
        data_file: Option<PathBuf>,
        #[arg(long, default_value = "")]
        media_type: String,
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        #[arg(long = "type", value_enum)]
        memory_type: Option<TypeArg>,
        #[arg(long, default_value = "")]
        custom_type: String,
        #[arg(long, value_enum)]
        source: Option<SourceArg>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long = "attr", value_parser = parse_kv)]
        attributes: Vec<(String, String)>,
        #[arg(long, default_value_t = 0.0)]
        importance: f32,
        /// Time to live in seconds.
        #[arg(long, default_value_t = 0)]
        ttl: u64,
        #[arg(long, default_value = "")]
        origin_agent: String,
        #[arg(long = "parent")]
        parents: Vec<String>,
        /// Search context: text that helps find the memory without being part of it.
        #[arg(long, default_value = "")]
        context: String,
        #[command(flatten)]
        acl: AclArgs,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Read a cube (latest, a version, or as of a revision).
    Get {
        id: String,
        #[arg(long, default_value_t = 0)]
        version: u64,
        #[arg(long, default_value_t = 0)]
        as_of: u64,
        /// Count this read in the cube's usage.
        #[arg(long)]
        record_access: bool,
    },
    /// Change some fields of a cube (a new version).
    Update {
        id: String,
        #[arg(long)]
        text: Option<String>,
        #[arg(long = "type", value_enum)]
        memory_type: Option<TypeArg>,
        #[arg(long)]
        custom_type: Option<String>,
        #[arg(long)]
        importance: Option<f32>,
        #[arg(long)]
        ttl: Option<u64>,
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        #[arg(long = "add-tag")]
        add_tags: Vec<String>,
        #[arg(long = "remove-tag")]
        remove_tags: Vec<String>,
        #[arg(long = "set-attr", value_parser = parse_kv)]
        set_attributes: Vec<(String, String)>,
        #[arg(long = "remove-attr")]
        remove_attributes: Vec<String>,
        /// Replace the search context ("" clears it).
        #[arg(long)]
        context: Option<String>,
        /// Replace the access list with the one --reader/--writer/--restricted describe.
        #[command(flatten)]
        acl: AclArgs,
        /// Remove the access list (the scope's rule alone applies again).
        #[arg(long, conflicts_with_all = ["readers", "writers", "restricted"])]
        clear_acl: bool,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Soft-delete a cube (restorable).
    Delete {
        id: String,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Undo a soft delete.
    Restore {
        id: String,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Hard-delete one cube, or every cube in a scope (--tenant [--user ...]).
    Purge {
        #[arg(conflicts_with = "tenant")]
        id: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value = "")]
        user: String,
        #[arg(long, default_value = "")]
        agent: String,
        #[arg(long, default_value = "")]
        run: String,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// List cubes in a scope.
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long = "type", value_enum)]
        types: Vec<TypeArg>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long = "state", value_enum)]
        states: Vec<StateArg>,
        #[arg(long)]
        oldest_first: bool,
        #[arg(long, default_value_t = 0)]
        page_size: u32,
        #[arg(long, default_value = "")]
        page_token: String,
        /// Follow page tokens and print every match (as one JSON array with --json).
        #[arg(long)]
        all: bool,
    },
    /// Search a scope: hybrid (default), dense (embeddings) or lexical (BM25).
    Search {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        query: String,
        #[arg(short = 'k', long, default_value_t = 10)]
        k: u32,
        #[arg(long, value_enum, default_value = "hybrid")]
        mode: ModeArg,
        #[arg(long = "type", value_enum)]
        types: Vec<TypeArg>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long = "state", value_enum)]
        states: Vec<StateArg>,
        /// Attribute equality filter, KEY=VALUE (repeatable).
        #[arg(long = "attr", value_parser = parse_kv)]
        attributes: Vec<(String, String)>,
    },
    /// Every version of a cube.
    History { id: String },
    /// Make an earlier version current again (as a new version).
    Rollback {
        id: String,
        #[arg(long)]
        to_version: u64,
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Node and cluster status (same as `cluster status`).
    Status,
    /// Cluster membership: status, add, promote, remove, transfer-leader.
    Cluster {
        #[command(subcommand)]
        cmd: ClusterCmd,
    },
    /// API tokens: create-token, list, revoke, whoami.
    Auth {
        #[command(subcommand)]
        cmd: AuthCmd,
    },
    /// Sharing grants: create, list, revoke.
    Grant {
        #[command(subcommand)]
        cmd: GrantCmd,
    },
    /// The audit log, oldest first (every page with --all).
    Audit {
        /// Required unless the token is the cluster admin's.
        #[arg(long, default_value = "")]
        tenant: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        all: bool,
    },
    /// Follow changes in a scope as they happen (one line per event; JSON with --json).
    /// Reconnects and resumes by itself; Ctrl-C stops it.
    Watch {
        #[command(flatten)]
        scope: ScopeArgs,
        /// First revision to show (0 = from now).
        #[arg(long, default_value_t = 0)]
        from_revision: u64,
        /// Only cubes of these memory types.
        #[arg(long = "type", value_enum)]
        types: Vec<TypeArg>,
        /// Include the previous version of changed cubes.
        #[arg(long)]
        prev: bool,
        /// Also print progress bookmarks ({"progress": R}) every this many ms.
        #[arg(long, default_value_t = 0)]
        progress_ms: u32,
        /// Stop after this many events (0 = never).
        #[arg(long, default_value_t = 0)]
        limit: u64,
        /// Further node addresses to fail over to.
        #[arg(long = "fallback-addr")]
        fallback: Vec<String>,
    },
    /// Keep a local mirror of a scope in DIR (one JSON file per cube plus state.json), following
    /// changes; resumes from its stored revision after a restart.
    Sync {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        dir: PathBuf,
        /// Catch up to the server's current revision, then exit (instead of following forever).
        #[arg(long)]
        once: bool,
        /// Further node addresses to fail over to.
        #[arg(long = "fallback-addr")]
        fallback: Vec<String>,
    },
}

async fn sync(addr: String, as_json: bool, cmd: Cmd) -> Result<(), tonic::Status> {
    let Cmd::Sync { scope, dir, once, fallback } = cmd else { unreachable!() };
    let mirror = memmesh_client::sync::Mirror::new(&dir, scope.scope()).map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
    let mut addrs = vec![addr];
    addrs.extend(fallback);
    let report = mirror.sync(&addrs, once).await.map_err(|e| match e {
        memmesh_client::sync::SyncError::Rpc(s) => s,
        other => tonic::Status::internal(other.to_string()),
    })?;
    if as_json {
        println!("{}", report.to_json());
    } else {
        println!("{} sync: {} cubes mirrored at revision {} ({} events applied)", if report.full { "full" } else { "resumed" }, report.cubes, report.revision, report.events_applied);
    }
    Ok(())
}

async fn watch(addr: String, as_json: bool, cmd: Cmd) -> Result<(), tonic::Status> {
    use memmesh_client::subscribe::{subscribe, FeedItem};
    use tokio_stream::StreamExt;
    let Cmd::Watch { scope, from_revision, types, prev, progress_ms, limit, fallback } = cmd else { unreachable!() };
    let req = SubscribeRequest {
        scope: Some(scope.scope()),
        memory_types: types.into_iter().map(|t| MemoryType::from(t) as i32).collect(),
        start_revision: from_revision,
        progress_notify_ms: progress_ms,
        prev_cube: prev,
        ..Default::default()
    };
    let mut addrs = vec![addr];
    addrs.extend(fallback);
    let mut stream = subscribe(addrs, req);
    let mut seen = 0u64;
    while let Some(item) = stream.next().await {
        match item? {
            FeedItem::Events(b) => {
                for e in &b.events {
                    if as_json {
                        println!("{}", json::event(b.revision, e));
                    } else {
                        let kind = json::event_type(e.r#type);
                        println!("rev{} {} {}", b.revision, kind.as_str().unwrap_or("?"), e.cube.as_ref().map(text_line).unwrap_or_default());
                    }
                    seen += 1;
                    if limit > 0 && seen >= limit {
                        return Ok(());
                    }
                }
            }
            FeedItem::Progress(r) if progress_ms > 0 => {
                if as_json {
                    println!("{}", json!({ "progress": r }));
                } else {
                    println!("progress rev{r}");
                }
            }
            FeedItem::Progress(_) => {}
        }
    }
    Ok(())
}

fn text_line(c: &MemCube) -> String {
    let s = c.scope.clone().unwrap_or_default();
    let body = c.content.as_ref().map(|ct| if ct.text.is_empty() { format!("<{} bytes {}>", ct.data.len(), ct.media_type) } else { ct.text.clone() });
    format!(
        "{} v{} rev{} {}/{}/{}/{} {} {} {}",
        c.id,
        c.version,
        c.revision,
        s.tenant,
        s.user,
        s.agent,
        s.run,
        json::memory_type(c.memory_type).as_str().unwrap_or("?"),
        json::state(c.state).as_str().unwrap_or("?"),
        body.unwrap_or_default()
    )
}

enum Out {
    Json(Value),
    Text(String),
}

async fn run(cli: Cli) -> Result<Out, tonic::Status> {
    let mut c = Client::connect(&cli.addr).await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let read = Some(ReadOptions {
        consistency: match cli.consistency {
            ConsistencyArg::Linearizable => ReadConsistency::Linearizable,
            ConsistencyArg::Serializable => ReadConsistency::Serializable,
        } as i32,
        min_revision: cli.min_revision,
    });
    let membership = |r: MembershipResponse| {
        let v = json!({"revision": r.revision, "members": r.members.iter().map(|m| json!({"id": m.id, "addr": m.addr, "role": m.role})).collect::<Vec<_>>()});
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        (v, text)
    };
    let write = |w: WriteResponse| {
        let line = w.cube.as_ref().map(text_line).unwrap_or_default();
        let v = json::write(&w);
        (v, format!("{line}{}", if w.deduplicated { " (deduplicated)" } else { "" }))
    };
    let (v, text) = match cli.cmd {
        Cmd::Put {
            scope, text, data_file, media_type, kind, memory_type, custom_type, source, tags, attributes, importance, ttl,
            origin_agent, parents, context, acl, request_id,
        } => {
            let data = match &data_file {
                Some(p) => std::fs::read(p).map_err(|e| tonic::Status::invalid_argument(format!("--data-file {}: {e}", p.display())))?,
                None => Vec::new(),
            };
            let kind = match kind {
                Some(KindArg::Plaintext) => CubeKind::Plaintext,
                Some(KindArg::Activation) => CubeKind::Activation,
                Some(KindArg::Parametric) => CubeKind::Parametric,
                None if data_file.is_some() => CubeKind::Activation,
                None => CubeKind::Plaintext,
            };
            let source = source.map_or(Source::Unspecified, |s| match s {
                SourceArg::User => Source::User,
                SourceArg::Agent => Source::Agent,
                SourceArg::Inference => Source::Inference,
                SourceArg::Retrieval => Source::Retrieval,
                SourceArg::Import => Source::Import,
                SourceArg::Tuning => Source::Tuning,
            });
            let cube = CubeInput {
                scope: Some(scope.scope()),
                kind: kind as i32,
                content: Some(Content { text: text.unwrap_or_default(), data, media_type }),
                memory_type: memory_type.map_or(MemoryType::Unspecified, Into::into) as i32,
                custom_type,
                source: source as i32,
                provenance: Some(Provenance { origin_agent, request_id: String::new(), parents }),
                tags,
                attributes: attributes.into_iter().collect::<BTreeMap<_, _>>(),
                importance,
                ttl_seconds: ttl,
                embedding: None,
                context,
                acl: acl.acl(),
            };
            write(c.memory.put(PutRequest { cube: Some(cube), request_id }).await?.into_inner())
        }
        Cmd::Get { id, version, as_of, record_access } => {
            let r = c.memory.get(GetRequest { id, version, as_of_revision: as_of, record_access, read }).await?.into_inner();
            let cube = r.cube.unwrap_or_default();
            let mut v = json::cube(&cube);
            v["read_revision"] = r.read_revision.into();
            (v, text_line(&cube))
        }
        Cmd::Update {
            id, text, memory_type, custom_type, importance, ttl, state, add_tags, remove_tags, set_attributes,
            remove_attributes, context, acl, clear_acl, expected_version, request_id,
        } => {
            let req = UpdateRequest {
                id,
                expected_version,
                request_id,
                content: text.map(|t| Content { text: t, ..Default::default() }),
                memory_type: memory_type.map(|t| MemoryType::from(t) as i32),
                custom_type,
                importance,
                ttl_seconds: ttl,
                state: state.map(|s| CubeState::from(s) as i32),
                add_tags,
                remove_tags,
                set_attributes: set_attributes.into_iter().collect(),
                remove_attributes,
                context,
                acl: if clear_acl { Some(Acl::default()) } else { acl.acl() },
            };
            write(c.memory.update(req).await?.into_inner())
        }
        Cmd::Delete { id, expected_version, request_id } => {
            write(c.memory.delete(DeleteRequest { id, expected_version, request_id }).await?.into_inner())
        }
        Cmd::Restore { id, expected_version, request_id } => {
            write(c.memory.restore(RestoreRequest { id, expected_version, request_id }).await?.into_inner())
        }
        Cmd::Purge { id, tenant, user, agent, run, request_id } => {
            let target = match (id, tenant) {
                (Some(id), _) => purge_request::Target::Id(id),
                (None, Some(tenant)) => purge_request::Target::Scope(Scope { tenant, user, agent, run }),
                (None, None) => return Err(tonic::Status::invalid_argument("give a cube id or --tenant [--user ...]")),
            };
            let r = c.memory.purge(PurgeRequest { target: Some(target), request_id }).await?.into_inner();
            (
                json!({"purged": r.purged, "revision": r.revision, "deduplicated": r.deduplicated}),
                format!("purged {} cube(s) at revision {}", r.purged, r.revision),
            )
        }
        Cmd::List { scope, types, tags, states, oldest_first, page_size, page_token, all } => {
            let mut req = ListRequest {
                scope: Some(scope.scope()),
                memory_types: types.into_iter().map(|t| MemoryType::from(t) as i32).collect(),
                tags,
                states: states.into_iter().map(|s| CubeState::from(s) as i32).collect(),
                order: if oldest_first { ListOrder::OldestFirst } else { ListOrder::NewestFirst } as i32,
                page_size,
                page_token,
                read,
                ..Default::default()
            };
            let mut cubes = Vec::new();
            let (next, read_revision) = loop {
                let r = c.memory.list(req.clone()).await?.into_inner();
                cubes.extend(r.cubes);
                if !all || r.next_page_token.is_empty() {
                    break (r.next_page_token, r.read_revision);
                }
                req.page_token = r.next_page_token;
            };
            let text = cubes.iter().map(text_line).collect::<Vec<_>>().join("\n");
            let items: Vec<Value> = cubes.iter().map(json::cube).collect();
            let v = if all { Value::Array(items) } else { json!({"cubes": items, "next_page_token": next, "read_revision": read_revision}) };
            (v, text)
        }
        Cmd::Search { scope, query, k, mode, types, tags, states, attributes } => {
            let req = SearchRequest {
                query,
                scope: Some(scope.scope()),
                k,
                mode: match mode {
                    ModeArg::Hybrid => SearchMode::Hybrid,
                    ModeArg::Dense => SearchMode::Dense,
                    ModeArg::Lexical => SearchMode::Lexical,
                } as i32,
                memory_types: types.into_iter().map(|t| MemoryType::from(t) as i32).collect(),
                tags,
                states: states.into_iter().map(|s| CubeState::from(s) as i32).collect(),
                attributes: attributes.into_iter().collect(),
                read,
                ..Default::default()
            };
            let r = c.memory.search(req).await?.into_inner();
            let text = r
                .hits
                .iter()
                .map(|h| format!("{:.4} {}", h.score, h.cube.as_ref().map(text_line).unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("\n");
            let v = json!({"hits": r.hits.iter().map(json::hit).collect::<Vec<_>>(), "read_revision": r.read_revision, "model": r.model});
            (v, text)
        }
        Cmd::History { id } => {
            let r = c.memory.history(HistoryRequest { id, read }).await?.into_inner();
            let text = r.versions.iter().map(text_line).collect::<Vec<_>>().join("\n");
            (Value::Array(r.versions.iter().map(json::cube).collect()), text)
        }
        Cmd::Rollback { id, to_version, expected_version, request_id } => {
            write(c.memory.rollback(RollbackRequest { id, to_version, expected_version, request_id }).await?.into_inner())
        }
        Cmd::Watch { .. } | Cmd::Sync { .. } => unreachable!("streaming commands are handled separately"),
        Cmd::Auth { cmd: AuthCmd::CreateToken { tenant, user, agent, role, expires, description } } => {
            let role = match role {
                RoleArg::Reader => Role::Reader,
                RoleArg::Writer => Role::Writer,
                RoleArg::Admin => Role::Admin,
            } as i32;
            let principal = Principal { tenant, user, agent, role, cluster_admin: false };
            let req = CreateTokenRequest { principal: Some(principal), ttl_seconds: expires.unwrap_or(0), description };
            let r = c.admin.create_token(req).await?.into_inner();
            let info = r.info.unwrap_or_default();
            (json!({"token": r.token, "info": json::token(&info)}), format!("{}\n(id {}; shown only once)", r.token, info.id))
        }
        Cmd::Auth { cmd: AuthCmd::List { tenant } } => {
            let r = c.admin.list_tokens(ListTokensRequest { tenant }).await?.into_inner();
            let text = r.tokens.iter().map(|t| format!("{} {}", t.id, json::token(t)["principal"])).collect::<Vec<_>>().join("\n");
            (Value::Array(r.tokens.iter().map(json::token).collect()), text)
        }
        Cmd::Auth { cmd: AuthCmd::Revoke { id } } => {
            let r = c.admin.revoke_token(RevokeTokenRequest { id }).await?.into_inner();
            (json!({"revision": r.revision}), format!("revoked at revision {}", r.revision))
        }
        Cmd::Auth { cmd: AuthCmd::Whoami } => {
            let p = c.admin.who_am_i(WhoAmIRequest {}).await?.into_inner();
            let v = json::principal(&p);
            (v.clone(), v.to_string())
        }
        Cmd::Grant { cmd: GrantCmd::Create { scope, to_user, to_agent, write, expires } } => {
            let s = scope.scope();
            let grantee = Principal { tenant: s.tenant.clone(), user: to_user, agent: to_agent, ..Default::default() };
            let access = if write { Access::ReadWrite } else { Access::Read } as i32;
            let g = c.admin.create_grant(CreateGrantRequest { scope: Some(s), grantee: Some(grantee), access, ttl_seconds: expires.unwrap_or(0) }).await?.into_inner();
            let v = json::grant(&g);
            (v.clone(), v.to_string())
        }
        Cmd::Audit { tenant, limit, all } => {
            let mut req = ListAuditRequest { tenant, page_token: String::new(), limit };
            let mut entries = Vec::new();
            loop {
                let r = c.admin.list_audit(req.clone()).await?.into_inner();
                entries.extend(r.entries);
                if !all || r.next_page_token.is_empty() {
                    break;
                }
                req.page_token = r.next_page_token;
            }
            let items: Vec<Value> = entries.iter().map(json::audit).collect();
            let text = entries
                .iter()
                .map(|e| format!("{}.{} {} {} {} {} -> {}", e.revision, e.position, e.at_ms, e.actor, e.operation, e.target, e.outcome))
                .collect::<Vec<_>>()
                .join("\n");
            (Value::Array(items), text)
        }
        Cmd::Grant { cmd: GrantCmd::List { tenant } } => {
            let r = c.admin.list_grants(ListGrantsRequest { tenant }).await?.into_inner();
            let items: Vec<Value> = r.grants.iter().map(json::grant).collect();
            let text = items.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
            (Value::Array(items), text)
        }
        Cmd::Grant { cmd: GrantCmd::Revoke { id } } => {
            let r = c.admin.revoke_grant(RevokeGrantRequest { id }).await?.into_inner();
            (json!({"revision": r.revision}), format!("revoked at revision {}", r.revision))
        }
        Cmd::Cluster { cmd: ClusterCmd::Add { id, addr, learner } } => {
            membership(c.cluster.add_member(AddMemberRequest { node_id: id, addr, learner_only: learner }).await?.into_inner())
        }
        Cmd::Cluster { cmd: ClusterCmd::Promote { id } } => membership(c.cluster.promote_member(MemberRequest { node_id: id }).await?.into_inner()),
        Cmd::Cluster { cmd: ClusterCmd::Remove { id } } => membership(c.cluster.remove_member(MemberRequest { node_id: id }).await?.into_inner()),
        Cmd::Cluster { cmd: ClusterCmd::TransferLeader { id } } => {
            let s = c.cluster.transfer_leader(MemberRequest { node_id: id }).await?.into_inner();
            let v = json::status(&s);
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            (v, text)
        }
        Cmd::Status | Cmd::Cluster { cmd: ClusterCmd::Status } => {
            let s = c.cluster.status(StatusRequest {}).await?.into_inner();
            let v = json::status(&s);
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            (v, text)
        }
    };
    Ok(if cli.json { Out::Json(v) } else { Out::Text(text) })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every connection (also the reconnecting ones of watch and sync) reads the token from the
    // environment; a --token flag is put there before any thread exists.
    for (var, value) in [
        (memmesh_client::TOKEN_ENV, &cli.token),
        (memmesh_client::CA_ENV, &cli.ca),
        (memmesh_client::CERT_ENV, &cli.cert),
        (memmesh_client::KEY_ENV, &cli.key),
    ] {
        if let Some(v) = value {
            std::env::set_var(var, v);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> ExitCode {
    let as_json = cli.json;
    let result = match cli.cmd {
        Cmd::Watch { .. } => watch(cli.addr, as_json, cli.cmd).await.map(|()| Out::Text(String::new())),
        Cmd::Sync { .. } => sync(cli.addr, as_json, cli.cmd).await.map(|()| Out::Text(String::new())),
        _ => run(cli).await,
    };
    match result {
        Ok(Out::Json(v)) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Ok(Out::Text(t)) => {
            if !t.is_empty() {
                println!("{t}");
            }
            ExitCode::SUCCESS
        }
        Err(s) => {
            if as_json {
                println!("{}", json::error(&s));
            } else {
                eprintln!("error: {}: {}", json::code_name(s.code()), s.message());
            }
            ExitCode::FAILURE
        }
    }
}
