//! One function per command: build the request from the arguments, call the node, render the
//! answer. `watch` and `sync` stream until stopped and print as they go.

use std::collections::BTreeMap;

use memmesh_client::proto::*;
use memmesh_client::{json, Client};
use serde_json::{json, Value};
use tonic::Status;

use crate::args::*;
use crate::render::{self, Rendered};

type Result<T> = std::result::Result<T, Status>;

pub async fn put(c: &mut Client, a: PutArgs) -> Result<Rendered> {
    let data = match &a.data_file {
        Some(p) => std::fs::read(p).map_err(|e| Status::invalid_argument(format!("--data-file {}: {e}", p.display())))?,
        None => Vec::new(),
    };
    let kind = match a.kind {
        Some(k) => k.into(),
        None if a.data_file.is_some() => CubeKind::Activation,
        None => CubeKind::Plaintext,
    };
    let cube = CubeInput {
        scope: Some(a.scope.scope()),
        kind: kind as i32,
        content: Some(Content { text: a.text.unwrap_or_default(), data, media_type: a.media_type }),
        memory_type: a.memory_type.map_or(MemoryType::Unspecified, Into::into) as i32,
        custom_type: a.custom_type,
        source: a.source.map_or(Source::Unspecified, Into::into) as i32,
        provenance: Some(Provenance { origin_agent: a.origin_agent, request_id: String::new(), parents: a.parents }),
        tags: a.tags,
        attributes: a.attributes.into_iter().collect::<BTreeMap<_, _>>(),
        importance: a.importance,
        ttl_seconds: a.ttl,
        embedding: None,
        context: a.context,
        acl: a.acl.acl(),
        slot: a.slot,
        links: a.links,
        pinned: a.pin,
    };
    let dedupe = a.dedupe.map_or(DedupeMode::Unspecified, Into::into) as i32;
    let req = PutRequest {
        cube: Some(cube),
        request_id: a.request_id,
        dedupe,
        dedupe_threshold: a.dedupe_threshold,
        related_threshold: a.related_threshold,
    };
    Ok(render::write(&c.memory.put(req).await?.into_inner()))
}

pub async fn get(c: &mut Client, a: GetArgs, read: Option<ReadOptions>) -> Result<Rendered> {
    let req = GetRequest { id: a.id, version: a.version, as_of_revision: a.as_of, record_access: a.record_access, read };
    let r = c.memory.get(req).await?.into_inner();
    let cube = r.cube.unwrap_or_default();
    let mut v = json::cube(&cube);
    v["read_revision"] = r.read_revision.into();
    v["incoming"] = r.incoming.iter().map(|l| json!({"type": json::link_type(l.r#type), "source_id": l.source_id})).collect();
    Ok(Rendered::new(v, render::cube_line(&cube)))
}

pub async fn update(c: &mut Client, a: UpdateArgs) -> Result<Rendered> {
    let req = UpdateRequest {
        id: a.id,
        expected_version: a.expected_version,
        request_id: a.request_id,
        content: a.text.map(|t| Content { text: t, ..Default::default() }),
        memory_type: a.memory_type.map(|t| MemoryType::from(t) as i32),
        custom_type: a.custom_type,
        importance: a.importance,
        ttl_seconds: a.ttl,
        state: a.state.map(|s| CubeState::from(s) as i32),
        add_tags: a.add_tags,
        remove_tags: a.remove_tags,
        set_attributes: a.set_attributes.into_iter().collect(),
        remove_attributes: a.remove_attributes,
        context: a.context,
        acl: if a.clear_acl { Some(Acl::default()) } else { a.acl.acl() },
        pinned: a.pinned,
    };
    Ok(render::write(&c.memory.update(req).await?.into_inner()))
}

pub async fn delete(c: &mut Client, a: StateChangeArgs) -> Result<Rendered> {
    let req = DeleteRequest { id: a.id, expected_version: a.expected_version, request_id: a.request_id };
    Ok(render::write(&c.memory.delete(req).await?.into_inner()))
}

pub async fn restore(c: &mut Client, a: RestoreArgs) -> Result<Rendered> {
    let (ttl_seconds, a) = (a.ttl, a.change);
    let req = RestoreRequest { id: a.id, expected_version: a.expected_version, request_id: a.request_id, ttl_seconds };
    Ok(render::write(&c.memory.restore(req).await?.into_inner()))
}

pub async fn pin(c: &mut Client, a: StateChangeArgs, pinned: bool) -> Result<Rendered> {
    let req = UpdateRequest { id: a.id, expected_version: a.expected_version, request_id: a.request_id, pinned: Some(pinned), ..Default::default() };
    Ok(render::write(&c.memory.update(req).await?.into_inner()))
}

pub async fn rollback(c: &mut Client, a: RollbackArgs) -> Result<Rendered> {
    let req = RollbackRequest { id: a.id, to_version: a.to_version, expected_version: a.expected_version, request_id: a.request_id };
    Ok(render::write(&c.memory.rollback(req).await?.into_inner()))
}

pub async fn purge(c: &mut Client, a: PurgeArgs) -> Result<Rendered> {
    let target = match (a.id, a.tenant) {
        (Some(id), _) => purge_request::Target::Id(id),
        (None, Some(tenant)) => purge_request::Target::Scope(Scope { tenant, user: a.user, agent: a.agent, run: a.run }),
        (None, None) => return Err(Status::invalid_argument("give a cube id or --tenant [--user ...]")),
    };
    let r = c.memory.purge(PurgeRequest { target: Some(target), request_id: a.request_id }).await?.into_inner();
    Ok(Rendered::new(
        json!({"purged": r.purged, "revision": r.revision, "deduplicated": r.deduplicated}),
        format!("purged {} cube(s) at revision {}", r.purged, r.revision),
    ))
}

pub async fn list(c: &mut Client, a: ListArgs, read: Option<ReadOptions>) -> Result<Rendered> {
    let mut req = ListRequest {
        scope: Some(a.scope.scope()),
        memory_types: a.filter.memory_types(),
        states: a.filter.states(),
        tags: a.filter.tags,
        order: if a.oldest_first { ListOrder::OldestFirst } else { ListOrder::NewestFirst } as i32,
        page_size: a.page_size,
        page_token: a.page_token,
        read,
        ..Default::default()
    };
    let mut cubes = Vec::new();
    let (next, read_revision) = loop {
        let r = c.memory.list(req.clone()).await?.into_inner();
        cubes.extend(r.cubes);
        if !a.all || r.next_page_token.is_empty() {
            break (r.next_page_token, r.read_revision);
        }
        req.page_token = r.next_page_token;
    };
    let all = Rendered::lines(&cubes, json::cube, render::cube_line);
    if a.all {
        return Ok(all);
    }
    Ok(Rendered::new(json!({"cubes": all.json, "next_page_token": next, "read_revision": read_revision}), all.text))
}

pub async fn search(c: &mut Client, a: SearchArgs, read: Option<ReadOptions>) -> Result<Rendered> {
    let req = SearchRequest {
        query: a.query,
        scope: Some(a.scope.scope()),
        k: a.k,
        mode: SearchMode::from(a.mode) as i32,
        memory_types: a.filter.memory_types(),
        states: a.filter.states(),
        tags: a.filter.tags,
        attributes: a.attributes.into_iter().collect(),
        read,
        expand_links: a.expand_links,
        strength_weight: a.strength_weight,
        adapter: a.adapter,
        ..Default::default()
    };
    let r = c.memory.search(req).await?.into_inner();
    let hits = Rendered::lines(&r.hits, json::hit, render::hit_line);
    let adapter = r.adapter.map(|a| json!({"id": a.id, "version": a.version}));
    Ok(Rendered::new(json!({"hits": hits.json, "read_revision": r.read_revision, "model": r.model, "adapter": adapter}), hits.text))
}

pub async fn history(c: &mut Client, a: HistoryArgs, read: Option<ReadOptions>) -> Result<Rendered> {
    let r = c.memory.history(HistoryRequest { id: a.id, read }).await?.into_inner();
    Ok(Rendered::lines(&r.versions, json::cube, render::cube_line))
}

pub async fn status(c: &mut Client) -> Result<Rendered> {
    Ok(render::status(&c.cluster.status(StatusRequest {}).await?.into_inner()))
}

pub async fn cluster(c: &mut Client, cmd: ClusterCmd) -> Result<Rendered> {
    let cl = &mut c.cluster;
    Ok(match cmd {
        ClusterCmd::Status => render::status(&cl.status(StatusRequest {}).await?.into_inner()),
        ClusterCmd::Add { id, addr, learner } => {
            render::membership(&cl.add_member(AddMemberRequest { node_id: id, addr, learner_only: learner }).await?.into_inner())
        }
        ClusterCmd::Promote { id } => render::membership(&cl.promote_member(MemberRequest { node_id: id }).await?.into_inner()),
        ClusterCmd::Remove { id } => render::membership(&cl.remove_member(MemberRequest { node_id: id }).await?.into_inner()),
        ClusterCmd::TransferLeader { id } => render::status(&cl.transfer_leader(MemberRequest { node_id: id }).await?.into_inner()),
    })
}

pub async fn auth(c: &mut Client, cmd: AuthCmd) -> Result<Rendered> {
    let admin = &mut c.admin;
    Ok(match cmd {
        AuthCmd::CreateToken { tenant, user, agent, role, expires, description } => {
            let principal = Principal { tenant, user, agent, role: Role::from(role) as i32, cluster_admin: false };
            let req = CreateTokenRequest { principal: Some(principal), ttl_seconds: expires.unwrap_or(0), description };
            let r = admin.create_token(req).await?.into_inner();
            let info = r.info.unwrap_or_default();
            Rendered::new(json!({"token": r.token, "info": json::token(&info)}), format!("{}\n(id {}; shown only once)", r.token, info.id))
        }
        AuthCmd::List { tenant } => {
            let r = admin.list_tokens(ListTokensRequest { tenant }).await?.into_inner();
            Rendered::lines(&r.tokens, json::token, |t| format!("{} {}", t.id, json::token(t)["principal"]))
        }
        AuthCmd::Revoke { id } => render::revoked(admin.revoke_token(RevokeTokenRequest { id }).await?.into_inner().revision),
        AuthCmd::Whoami => Rendered::compact(json::principal(&admin.who_am_i(WhoAmIRequest {}).await?.into_inner())),
    })
}

pub async fn grant(c: &mut Client, cmd: GrantCmd) -> Result<Rendered> {
    let admin = &mut c.admin;
    Ok(match cmd {
        GrantCmd::Create { scope, to_user, to_agent, write, expires } => {
            let s = scope.scope();
            let grantee = Principal { tenant: s.tenant.clone(), user: to_user, agent: to_agent, ..Default::default() };
            let access = if write { Access::ReadWrite } else { Access::Read } as i32;
            let req = CreateGrantRequest { scope: Some(s), grantee: Some(grantee), access, ttl_seconds: expires.unwrap_or(0) };
            Rendered::compact(json::grant(&admin.create_grant(req).await?.into_inner()))
        }
        GrantCmd::List { tenant } => {
            let r = admin.list_grants(ListGrantsRequest { tenant }).await?.into_inner();
            Rendered::lines(&r.grants, json::grant, |g| json::grant(g).to_string())
        }
        GrantCmd::Revoke { id } => render::revoked(admin.revoke_grant(RevokeGrantRequest { id }).await?.into_inner().revision),
    })
}

pub async fn audit(c: &mut Client, a: AuditArgs) -> Result<Rendered> {
    let mut req = ListAuditRequest { tenant: a.tenant, page_token: String::new(), limit: a.limit };
    let mut entries = Vec::new();
    loop {
        let r = c.admin.list_audit(req.clone()).await?.into_inner();
        entries.extend(r.entries);
        if !a.all || r.next_page_token.is_empty() {
            break;
        }
        req.page_token = r.next_page_token;
    }
    Ok(Rendered::lines(&entries, json::audit, render::audit_line))
}

/// Follows the feed, printing each event (and, if asked, progress bookmarks) as it arrives.
pub async fn watch(addr: String, as_json: bool, a: WatchArgs) -> Result<()> {
    use memmesh_client::subscribe::{subscribe, FeedItem};
    use tokio_stream::StreamExt;
    let req = SubscribeRequest {
        scope: Some(a.scope.scope()),
        memory_types: a.types.into_iter().map(|t| MemoryType::from(t) as i32).collect(),
        start_revision: a.from_revision,
        progress_notify_ms: a.progress_ms,
        prev_cube: a.prev,
        ..Default::default()
    };
    let mut addrs = vec![addr];
    addrs.extend(a.fallback);
    let mut stream = subscribe(addrs, req);
    let mut seen = 0u64;
    while let Some(item) = stream.next().await {
        match item? {
            FeedItem::Events(b) => {
                for e in &b.events {
                    if as_json {
                        println!("{}", json::event(b.revision, e));
                    } else {
                        println!("{}", render::event_line(b.revision, e));
                    }
                    seen += 1;
                    if a.limit > 0 && seen >= a.limit {
                        return Ok(());
                    }
                }
            }
            FeedItem::Progress(r) if a.progress_ms > 0 => {
                let v: Value = json!({ "progress": r });
                if as_json {
                    println!("{v}");
                } else {
                    println!("progress rev{r}");
                }
            }
            FeedItem::Progress(_) => {}
        }
    }
    Ok(())
}

/// Mirrors a scope into a directory; follows it unless `--once`.
pub async fn sync(addr: String, as_json: bool, a: SyncArgs) -> Result<()> {
    let mirror = memmesh_client::sync::Mirror::new(&a.dir, a.scope.scope()).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let mut addrs = vec![addr];
    addrs.extend(a.fallback);
    let report = mirror.sync(&addrs, a.once).await.map_err(|e| match e {
        memmesh_client::sync::SyncError::Rpc(s) => s,
        other => Status::internal(other.to_string()),
    })?;
    if as_json {
        println!("{}", report.to_json());
    } else {
        let how = if report.full { "full" } else { "resumed" };
        println!("{how} sync: {} cubes mirrored at revision {} ({} events applied)", report.cubes, report.revision, report.events_applied);
    }
    Ok(())
}
