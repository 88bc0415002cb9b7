//! Consolidation on the command line: `link`, `consolidate` and `policy` — their arguments and
//! what each does.

use clap::{Args, Subcommand, ValueEnum};
use memmesh_client::proto::*;
use memmesh_client::{json, Client};
use serde_json::{json, Value};
use tonic::Status;

use crate::args::{parse_duration, DedupeArg, ScopeArgs, TypeArg};
use crate::render::{self, Rendered};

type Result<T> = std::result::Result<T, Status>;

/// A client link, `derived-from:ID` or `relates-to:ID`.
pub fn parse_link(s: &str) -> std::result::Result<Link, String> {
    let (t, id) = s.split_once(':').ok_or_else(|| format!("expected TYPE:ID (TYPE derived-from or relates-to), got {s:?}"))?;
    Ok(Link { r#type: LinkTypeArg::from_str(t, true)?.into(), target_id: id.to_string() })
}

/// The link types a client sets.
#[derive(ValueEnum, Clone, Copy)]
pub enum LinkTypeArg {
    DerivedFrom,
    RelatesTo,
}

impl From<LinkTypeArg> for i32 {
    fn from(t: LinkTypeArg) -> i32 {
        match t {
            LinkTypeArg::DerivedFrom => LinkType::DerivedFrom as i32,
            LinkTypeArg::RelatesTo => LinkType::RelatesTo as i32,
        }
    }
}

#[derive(Args)]
pub struct LinkArgs {
    /// The cube the link goes from (it gets a new version).
    pub source: String,
    #[arg(value_enum)]
    pub link_type: LinkTypeArg,
    /// The cube it points at (same tenant).
    pub target: String,
    /// Remove the link instead.
    #[arg(long)]
    pub remove: bool,
    #[arg(long, default_value_t = 0)]
    pub expected_version: u64,
    #[arg(long, default_value = "")]
    pub request_id: String,
}

#[derive(Args)]
pub struct ConsolidateArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// exact (equal normalised text) or semantic (default: exact, or cosine >= the threshold).
    #[arg(long, value_enum)]
    pub mode: Option<DedupeArg>,
    /// For semantic: the similarity threshold in (0, 1] (default 0.95).
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f32,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// At most this many clusters (default 10,000).
    #[arg(long, default_value_t = 0)]
    pub max_clusters: u32,
}

/// Memory policies (see `Policy` in `admin.proto`).
#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Create or replace a policy.
    Set(PolicySetArgs),
    Get {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    List {
        #[arg(long)]
        tenant: String,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        name: String,
    },
}

#[derive(Args)]
pub struct PolicySetArgs {
    /// Unique in the tenant.
    pub name: String,
    /// Where it applies: --tenant, optionally narrowed by --user/--agent/--run.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only cubes of this type.
    #[arg(long = "type", value_enum)]
    pub memory_type: Option<TypeArg>,
    /// Dedupe for puts that set none themselves.
    #[arg(long, value_enum)]
    pub dedupe: Option<DedupeArg>,
    #[arg(long, default_value_t = 0.0)]
    pub dedupe_threshold: f32,
    /// Let the leader consolidate the policy's cubes this often (e.g. 1h, 30m).
    #[arg(long, value_parser = parse_duration)]
    pub consolidate_every: Option<u64>,
    #[arg(long, value_enum)]
    pub consolidate_mode: Option<DedupeArg>,
    #[arg(long, default_value_t = 0.0)]
    pub consolidate_threshold: f32,
    /// TTL for cubes that have none (new ones, and existing ones in bounded steps), e.g. 30d.
    #[arg(long, value_parser = parse_duration)]
    pub default_ttl: Option<u64>,
    /// Purge DELETED cubes this long after their deletion (content and history gone).
    #[arg(long, value_parser = parse_duration)]
    pub purge_deleted_after: Option<u64>,
    /// Purge EXPIRED cubes this long after their expiry.
    #[arg(long, value_parser = parse_duration)]
    pub purge_expired_after: Option<u64>,
    /// Legal hold: nothing in the policy's scope is expired or purged (see `memmesh hold`).
    #[arg(long)]
    pub hold: bool,
    /// Archive ACTIVE cubes not read (with record_access) for this long, e.g. 30d.
    #[arg(long, value_parser = parse_duration)]
    pub archive_after_idle: Option<u64>,
    /// Archive ACTIVE cubes whose strength falls below this, in (0, 1).
    #[arg(long, default_value_t = 0.0)]
    pub archive_below_strength: f32,
    /// A read with record_access brings a cube archived by tiering back to ACTIVE.
    #[arg(long)]
    pub reactivate_on_access: bool,
    /// Keep at most this many ACTIVE cubes in each exact scope (the weakest are archived).
    #[arg(long)]
    pub max_active_per_scope: Option<u32>,
}

/// Legal holds: policies that stop every expiry and purge in their scope until cleared.
#[derive(Subcommand)]
pub enum HoldCmd {
    /// Put a hold on a scope (a policy named NAME; an existing policy of that name keeps its
    /// other settings and gains the hold).
    Set {
        name: String,
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long = "type", value_enum)]
        memory_type: Option<TypeArg>,
    },
    /// Lift the hold of policy NAME (its other settings stay).
    Clear {
        #[arg(long)]
        tenant: String,
        name: String,
    },
}

pub async fn link(c: &mut Client, a: LinkArgs) -> Result<Rendered> {
    let req = LinkRequest {
        source_id: a.source,
        link: Some(Link { r#type: a.link_type.into(), target_id: a.target }),
        remove: a.remove,
        expected_version: a.expected_version,
        request_id: a.request_id,
    };
    Ok(render::write(&c.memory.link(req).await?.into_inner()))
}

pub async fn consolidate(c: &mut Client, a: ConsolidateArgs) -> Result<Rendered> {
    let req = ConsolidateRequest {
        scope: Some(a.scope.scope()),
        mode: a.mode.map_or(DedupeMode::Unspecified, Into::into) as i32,
        threshold: a.threshold,
        dry_run: a.dry_run,
        max_clusters: a.max_clusters,
    };
    let r = c.memory.consolidate(req).await?.into_inner();
    let clusters: Vec<Value> =
        r.clusters.iter().map(|k| json!({"keeper_id": k.keeper_id, "member_ids": k.member_ids, "similarities": k.similarities})).collect();
    let mut text: Vec<String> = r.clusters.iter().map(|k| format!("{} <- {}", k.keeper_id, k.member_ids.join(","))).collect();
    let verb = if a.dry_run { "would merge" } else { "merged" };
    let members: usize = r.clusters.iter().map(|k| k.member_ids.len()).sum();
    let merged = if a.dry_run { members as u64 } else { r.merged };
    text.push(format!("{verb} {merged} cube(s) in {} cluster(s); {} skipped; revision {}", r.clusters.len(), r.skipped, r.revision));
    Ok(Rendered::new(
        json!({"dry_run": a.dry_run, "clusters": clusters, "merged": r.merged, "skipped": r.skipped, "revision": r.revision}),
        text.join("\n"),
    ))
}

pub async fn policy(c: &mut Client, cmd: PolicyCmd) -> Result<Rendered> {
    let admin = &mut c.admin;
    Ok(match cmd {
        PolicyCmd::Set(a) => {
            let p = Policy {
                name: a.name,
                scope: Some(a.scope.scope()),
                memory_type: a.memory_type.map_or(MemoryType::Unspecified, Into::into) as i32,
                dedupe: a.dedupe.map_or(DedupeMode::Unspecified, Into::into) as i32,
                dedupe_threshold: a.dedupe_threshold,
                consolidate_every_seconds: a.consolidate_every.unwrap_or(0),
                consolidate_mode: a.consolidate_mode.map_or(DedupeMode::Unspecified, Into::into) as i32,
                consolidate_threshold: a.consolidate_threshold,
                default_ttl_seconds: seconds(a.default_ttl)?,
                purge_deleted_after_seconds: seconds(a.purge_deleted_after)?,
                purge_expired_after_seconds: seconds(a.purge_expired_after)?,
                hold: a.hold,
                archive_after_idle_seconds: seconds(a.archive_after_idle)?,
                archive_below_strength: a.archive_below_strength,
                reactivate_on_access: a.reactivate_on_access,
                max_active_per_scope: a.max_active_per_scope,
                ..Default::default()
            };
            Rendered::compact(json::policy(&admin.set_policy(SetPolicyRequest { policy: Some(p) }).await?.into_inner()))
        }
        PolicyCmd::Get { tenant, name } => Rendered::compact(json::policy(&admin.get_policy(PolicyRef { tenant, name }).await?.into_inner())),
        PolicyCmd::List { tenant } => {
            let r = admin.list_policies(ListPoliciesRequest { tenant }).await?.into_inner();
            Rendered::lines(&r.policies, json::policy, |p| json::policy(p).to_string())
        }
        PolicyCmd::Delete { tenant, name } => render::revoked(admin.delete_policy(PolicyRef { tenant, name }).await?.into_inner().revision),
    })
}

/// A duration flag as the policy's signed seconds (0 = not set).
fn seconds(d: Option<u64>) -> Result<i64> {
    i64::try_from(d.unwrap_or(0)).map_err(|_| Status::invalid_argument("duration too long"))
}

pub async fn hold(c: &mut Client, cmd: HoldCmd) -> Result<Rendered> {
    let admin = &mut c.admin;
    let p = match cmd {
        HoldCmd::Set { name, scope, memory_type } => {
            let (scope, memory_type) = (scope.scope(), memory_type.map_or(MemoryType::Unspecified, Into::into) as i32);
            let existing = admin.get_policy(PolicyRef { tenant: scope.tenant.clone(), name: name.clone() }).await;
            match existing {
                Ok(p) => {
                    let p = p.into_inner();
                    if p.scope.as_ref() != Some(&scope) || p.memory_type != memory_type {
                        return Err(Status::failed_precondition(format!(
                            "policy {name} exists with another scope or type; name the hold differently or give the same"
                        )));
                    }
                    Policy { hold: true, ..p }
                }
                Err(e) if e.code() == tonic::Code::NotFound => Policy { name, scope: Some(scope), memory_type, hold: true, ..Default::default() },
                Err(e) => return Err(e),
            }
        }
        HoldCmd::Clear { tenant, name } => Policy { hold: false, ..admin.get_policy(PolicyRef { tenant, name }).await?.into_inner() },
    };
    Ok(Rendered::compact(json::policy(&admin.set_policy(SetPolicyRequest { policy: Some(p) }).await?.into_inner())))
}
