//! `memmesh mcp`: an MCP server (the `rmcp` crate) that gives agents MemMesh as tools —
//! `remember`, `recall`, `get`, `update`, `forget`, `history`, `list` — over stdio (the
//! default; what MCP hosts launch) or streamable HTTP (`--http ADDR`).
//!
//! Every tool is one gRPC call to the node (`--addr`, `--token`/`MEMMESH_TOKEN`); a failed
//! call is an MCP error whose message starts with the gRPC code (`NOT_FOUND: cube … not
//! found`) and whose data holds `grpc_code` and, for INVALID_ARGUMENT, the `field`. The scope
//! comes from `--tenant/--user/--agent/--run`; a call may name its own only with
//! `--scope-per-call` (then the flags are defaults).

use std::net::SocketAddr;

use memmesh_client::proto::*;
use memmesh_client::{json, Client};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tonic::{Code, Status};

use crate::args::McpArgs;

type ToolResult = Result<String, ErrorData>;

/// A gRPC failure as an MCP error: the code leads the message; data carries it and the field.
fn mcp_error(s: Status) -> ErrorData {
    let code = json::code_name(s.code());
    let field = s.metadata().get("x-memmesh-field").and_then(|v| v.to_str().ok()).map(str::to_string);
    let data = Some(json!({ "grpc_code": code, "field": field }));
    let message = format!("{code}: {}", s.message());
    match s.code() {
        Code::InvalidArgument => ErrorData::invalid_params(message, data),
        Code::NotFound => ErrorData::resource_not_found(message, data),
        _ => ErrorData::internal_error(message, data),
    }
}

fn rendered(v: Value) -> ToolResult {
    Ok(v.to_string())
}

/// Scope fields a call may give (used only with `--scope-per-call`).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ScopeParams {
    /// Tenant (default: the server's --tenant).
    pub tenant: Option<String>,
    /// User (default: the server's --user).
    pub user: Option<String>,
    /// Agent (default: the server's --agent).
    pub agent: Option<String>,
    /// Run or session (default: the server's --run).
    pub run: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RememberParams {
    /// The memory, as plain text.
    pub text: String,
    /// FACT (default), PREFERENCE, EPISODE, PROCEDURE, SUMMARY, PROMPT, PERSONA or OTHER.
    pub memory_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Importance in [0, 1].
    pub importance: Option<f32>,
    /// Forget it after this many seconds.
    pub ttl_seconds: Option<u64>,
    #[serde(flatten)]
    pub scope: ScopeParams,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RecallParams {
    /// What to look for, in natural language.
    pub query: String,
    /// How many memories to return (default 5, at most 100).
    pub k: Option<u32>,
    #[serde(flatten)]
    pub scope: ScopeParams,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct IdParams {
    /// The memory's id.
    pub id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UpdateParams {
    /// The memory's id.
    pub id: String,
    /// The new text (omit to keep it).
    pub text: Option<String>,
    /// Tags to add.
    #[serde(default)]
    pub add_tags: Vec<String>,
    /// Only if the memory is still at this version (optimistic concurrency).
    pub expected_version: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ForgetParams {
    /// The memory's id.
    pub id: String,
    /// Erase it and its history for good (default: a soft delete that `restore` can undo).
    #[serde(default)]
    pub purge: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListParams {
    /// How many memories, newest first (default 20, at most 100).
    pub limit: Option<u32>,
    #[serde(flatten)]
    pub scope: ScopeParams,
}

/// The MCP server: a client of one node plus the scope it serves.
#[derive(Clone)]
pub struct MemoryTools {
    client: Client,
    scope: Scope,
    per_call: bool,
    tool_router: ToolRouter<Self>,
}

fn memory_type(name: Option<&str>) -> Result<i32, ErrorData> {
    let Some(n) = name else { return Ok(0) };
    MemoryType::from_str_name(&format!("MEMORY_TYPE_{}", n.to_ascii_uppercase())).map(|t| t as i32).ok_or_else(|| {
        ErrorData::invalid_params(format!("INVALID_ARGUMENT: memory_type {n:?} is not a memory type"), Some(json!({ "field": "memory_type" })))
    })
}

fn cube_summary(c: &MemCube) -> Value {
    json!({
        "id": c.id, "text": c.content.as_ref().map(|x| x.text.as_str()).unwrap_or(""), "memory_type": json::memory_type(c.memory_type),
        "state": json::state(c.state), "tags": c.tags, "version": c.version, "revision": c.revision,
        "created_at_ms": c.created_at_ms, "updated_at_ms": c.updated_at_ms,
    })
}

#[tool_router]
impl MemoryTools {
    pub fn new(client: Client, scope: Scope, per_call: bool) -> Self {
        Self { client, scope, per_call, tool_router: Self::tool_router() }
    }

    /// The scope of a call: the server's, or (with `--scope-per-call`) the call's over it.
    fn scope_of(&self, p: &ScopeParams) -> Result<Scope, ErrorData> {
        let given = [&p.tenant, &p.user, &p.agent, &p.run].iter().any(|f| f.is_some());
        if given && !self.per_call {
            return Err(ErrorData::invalid_params(
                "INVALID_ARGUMENT: this server's scope is fixed (start it with --scope-per-call to let calls choose)",
                Some(json!({ "field": "tenant" })),
            ));
        }
        let pick = |call: &Option<String>, default: &str| call.clone().unwrap_or_else(|| default.to_string());
        let s = Scope {
            tenant: pick(&p.tenant, &self.scope.tenant),
            user: pick(&p.user, &self.scope.user),
            agent: pick(&p.agent, &self.scope.agent),
            run: pick(&p.run, &self.scope.run),
        };
        if s.tenant.is_empty() {
            return Err(ErrorData::invalid_params(
                "INVALID_ARGUMENT: no tenant: give --tenant to the server (or tenant per call)",
                Some(json!({ "field": "tenant" })),
            ));
        }
        Ok(s)
    }

    #[tool(
        description = "Store a memory (a fact, preference, episode…) in MemMesh. Returns its id, and whether it was created or merged into an existing duplicate."
    )]
    async fn remember(&self, Parameters(p): Parameters<RememberParams>) -> ToolResult {
        let cube = CubeInput {
            scope: Some(self.scope_of(&p.scope)?),
            content: Some(Content { text: p.text, ..Default::default() }),
            memory_type: memory_type(p.memory_type.as_deref())?,
            tags: p.tags,
            importance: p.importance.unwrap_or(0.0),
            ttl_seconds: p.ttl_seconds.unwrap_or(0),
            ..Default::default()
        };
        let req = PutRequest { cube: Some(cube), request_id: ulid::Ulid::new().to_string(), ..Default::default() };
        let r = self.client.memory.clone().put(req).await.map_err(mcp_error)?.into_inner();
        let outcome = r.result.as_ref().map_or(Value::from("CREATED"), |x| json::put_outcome(x.outcome));
        let mut v = r.cube.as_ref().map(cube_summary).unwrap_or(Value::Null);
        v["outcome"] = outcome;
        rendered(v)
    }

    #[tool(description = "Search memories by meaning and keywords. Returns the best matches with their scores.")]
    async fn recall(&self, Parameters(p): Parameters<RecallParams>) -> ToolResult {
        let req = SearchRequest { query: p.query, scope: Some(self.scope_of(&p.scope)?), k: p.k.unwrap_or(5).clamp(1, 100), ..Default::default() };
        let hits = self.client.memory.clone().search(req).await.map_err(mcp_error)?.into_inner().hits;
        let out: Vec<Value> = hits
            .iter()
            .map(|h| {
                let mut v = h.cube.as_ref().map(cube_summary).unwrap_or(Value::Null);
                v["score"] = json!(h.score);
                v["dense_score"] = json!(h.dense_score);
                v["lexical_score"] = json!(h.lexical_score);
                v
            })
            .collect();
        rendered(json!({ "hits": out }))
    }

    #[tool(description = "Read one memory by id.")]
    async fn get(&self, Parameters(p): Parameters<IdParams>) -> ToolResult {
        let r = self.client.memory.clone().get(GetRequest { id: p.id, ..Default::default() }).await.map_err(mcp_error)?.into_inner();
        rendered(r.cube.as_ref().map(cube_summary).unwrap_or(Value::Null))
    }

    #[tool(description = "Change a memory's text or add tags; the old version stays in its history.")]
    async fn update(&self, Parameters(p): Parameters<UpdateParams>) -> ToolResult {
        let req = UpdateRequest {
            id: p.id,
            content: p.text.map(|text| Content { text, ..Default::default() }),
            add_tags: p.add_tags,
            expected_version: p.expected_version.unwrap_or(0),
            request_id: ulid::Ulid::new().to_string(),
            ..Default::default()
        };
        let r = self.client.memory.clone().update(req).await.map_err(mcp_error)?.into_inner();
        rendered(r.cube.as_ref().map(cube_summary).unwrap_or(Value::Null))
    }

    #[tool(description = "Forget a memory: a soft delete (restorable), or with purge=true erase it and its history for good.")]
    async fn forget(&self, Parameters(p): Parameters<ForgetParams>) -> ToolResult {
        let mut memory = self.client.memory.clone();
        if p.purge {
            let req = PurgeRequest { target: Some(purge_request::Target::Id(p.id.clone())), request_id: ulid::Ulid::new().to_string() };
            let r = memory.purge(req).await.map_err(mcp_error)?.into_inner();
            if r.purged == 0 {
                return Err(mcp_error(Status::not_found(format!("cube {} not found", p.id))));
            }
            return rendered(json!({ "id": p.id, "purged": true }));
        }
        let r = memory
            .delete(DeleteRequest { id: p.id, request_id: ulid::Ulid::new().to_string(), ..Default::default() })
            .await
            .map_err(mcp_error)?
            .into_inner();
        rendered(r.cube.as_ref().map(cube_summary).unwrap_or(Value::Null))
    }

    #[tool(description = "Every version of a memory, oldest first.")]
    async fn history(&self, Parameters(p): Parameters<IdParams>) -> ToolResult {
        let r = self.client.memory.clone().history(HistoryRequest { id: p.id, ..Default::default() }).await.map_err(mcp_error)?.into_inner();
        rendered(json!({ "versions": r.versions.iter().map(cube_summary).collect::<Vec<_>>() }))
    }

    #[tool(description = "The most recent memories of the scope, newest first.")]
    async fn list(&self, Parameters(p): Parameters<ListParams>) -> ToolResult {
        let req = ListRequest { scope: Some(self.scope_of(&p.scope)?), page_size: p.limit.unwrap_or(20).clamp(1, 100), ..Default::default() };
        let r = self.client.memory.clone().list(req).await.map_err(mcp_error)?.into_inner();
        rendered(json!({ "memories": r.cubes.iter().map(cube_summary).collect::<Vec<_>>() }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Long-term memory backed by MemMesh. `remember` what should outlive this conversation, `recall` before answering \
             questions about the user or past work, `forget` what the user asks to forget.",
        )
    }
}

/// Runs the server until stdin closes (stdio) or forever (HTTP).
pub async fn serve(client: Client, a: McpArgs) -> Result<(), Status> {
    let scope = Scope { tenant: a.tenant.unwrap_or_default(), user: a.user, agent: a.agent, run: a.run };
    let tools = MemoryTools::new(client, scope, a.scope_per_call);
    let failed = |e: &dyn std::fmt::Display| Status::internal(format!("mcp: {e}"));
    match a.http {
        None => {
            let running = tools.serve(rmcp::transport::stdio()).await.map_err(|e| failed(&e))?;
            running.waiting().await.map_err(|e| failed(&e))?;
        }
        Some(addr) => {
            use rmcp::transport::streamable_http_server::{session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService};
            let mut config = StreamableHttpServerConfig::default();
            if !a.allowed_hosts.is_empty() {
                config = config.with_allowed_hosts(a.allowed_hosts);
            }
            let service: StreamableHttpService<MemoryTools, LocalSessionManager> =
                StreamableHttpService::new(move || Ok(tools.clone()), Default::default(), config);
            let router = axum::Router::new().nest_service("/mcp", service);
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| failed(&e))?;
            let bound: SocketAddr = listener.local_addr().map_err(|e| failed(&e))?;
            // The first line on stderr says where it listens (port 0 picks a free one).
            eprintln!("memmesh mcp listening on http://{bound}/mcp");
            axum::serve(listener, router).await.map_err(|e| failed(&e))?;
        }
    }
    Ok(())
}
