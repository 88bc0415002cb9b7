//! Authentication and authorization end to end: every principal × operation × target cell of
//! the isolation matrix, grants, token expiry and revocation (on every node of a cluster).

use std::time::Duration;

use memmesh_client::Client;
use memmesh_tests::auth::*;
use memmesh_tests::proto::{self, Role, SearchMode};
use memmesh_tests::*;
use tonic::Code;

fn scope(t: &str, u: &str, a: &str) -> proto::Scope {
    scope3(t, u, a)
}

/// Whether scope `inner` lies inside `outer`.
fn within(inner: &proto::Scope, outer: &proto::Scope) -> bool {
    let eq = |o: &str, i: &str| o.is_empty() || o == i;
    inner.tenant == outer.tenant && eq(&outer.user, &inner.user) && eq(&outer.agent, &inner.agent)
}

/// The outcome of one operation: `None` = allowed, `Some(code)` = denied with that code.
async fn try_op(c: &mut Client, op: &str, target: &proto::Scope, cube: &proto::MemCube, seen: &mut Vec<proto::Scope>) -> Option<Code> {
    let text = text_of(cube).to_string();
    match op {
        "put" => code(
            c.memory
                .put(proto::PutRequest { cube: Some(text_cube(target.clone(), "new memory")), request_id: String::new(), ..Default::default() })
                .await,
        ),
        "get" => code(c.memory.get(proto::GetRequest { id: cube.id.clone(), ..Default::default() }).await),
        "update" => {
            let req = proto::UpdateRequest { id: cube.id.clone(), add_tags: vec!["touched".into()], ..Default::default() };
            code(c.memory.update(req).await)
        }
        "delete" => code(c.memory.delete(proto::DeleteRequest { id: cube.id.clone(), ..Default::default() }).await),
        "list" => code(c.memory.list(proto::ListRequest { scope: Some(target.clone()), ..Default::default() }).await),
        "history" => code(c.memory.history(proto::HistoryRequest { id: cube.id.clone(), read: None }).await),
        "search" => {
            // The query is the target cube's exact text. A search over a scope the caller may
            // only partly read is narrowed to that part: "denied" then means the target cube is
            // not among the hits.
            let req = proto::SearchRequest {
                query: text.clone(),
                scope: Some(target.clone()),
                k: 50,
                mode: SearchMode::Hybrid as i32,
                ..Default::default()
            };
            match c.memory.search(req).await {
                Ok(r) => {
                    let hits = r.into_inner().hits;
                    *seen = hits.iter().map(|h| h.cube.as_ref().unwrap().scope.clone().unwrap()).collect();
                    (!hits.iter().any(|h| h.cube.as_ref().unwrap().id == cube.id)).then_some(Code::PermissionDenied)
                }
                Err(s) => Some(s.code()),
            }
        }
        "subscribe" => {
            let req = proto::SubscribeRequest { scope: Some(target.clone()), ..Default::default() };
            code(c.memstore.subscribe(req).await)
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn isolation_matrix_every_principal_operation_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let env = auth_env();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &env);
    let mut boot = as_token(&node.addr, BOOT).await;

    let targets = [
        ("alice", scope("acme", "alice", "")),
        ("planner", scope("acme", "alice", "planner")),
        ("coder", scope("acme", "alice", "coder")),
        ("bob", scope("acme", "bob", "")),
        ("globex", scope("globex", "zed", "")),
    ];
    let mut cubes = Vec::new();
    for (name, s) in &targets {
        let text = format!("the private note of {name} says zebra-{name}-4711");
        let r = boot
            .memory
            .put(proto::PutRequest { cube: Some(text_cube(s.clone(), &text)), request_id: String::new(), ..Default::default() })
            .await
            .unwrap();
        cubes.push(r.into_inner().cube.unwrap());
    }
    // Who may touch which target (by index into `targets`).
    let principals: Vec<(&str, String, Vec<usize>)> = vec![
        ("cluster admin", BOOT.to_string(), vec![0, 1, 2, 3, 4]),
        ("tenant admin", token(&mut boot, "acme", "", "", Role::Admin, 0).await.0, vec![0, 1, 2, 3]),
        ("user alice", token(&mut boot, "acme", "alice", "", Role::Writer, 0).await.0, vec![0, 1, 2]),
        ("user bob", token(&mut boot, "acme", "bob", "", Role::Writer, 0).await.0, vec![3]),
        ("agent planner", token(&mut boot, "acme", "alice", "planner", Role::Writer, 0).await.0, vec![1]),
        ("agent coder", token(&mut boot, "acme", "alice", "coder", Role::Writer, 0).await.0, vec![2]),
        ("foreign tenant", token(&mut boot, "globex", "", "", Role::Admin, 0).await.0, vec![4]),
    ];
    let ops = ["put", "get", "update", "list", "history", "search", "subscribe", "delete"];
    let mut cells = 0;
    for (who, tok, allowed) in &principals {
        let mut c = as_token(&node.addr, tok).await;
        for (i, (tname, target)) in targets.iter().enumerate() {
            for op in ops {
                let mut seen = Vec::new();
                let got = try_op(&mut c, op, target, &cubes[i], &mut seen).await;
                // Whatever a search returns lies in a scope this principal may read.
                for s in &seen {
                    assert!(allowed.iter().any(|&j| within(s, &targets[j].1)), "{who} search {tname} returned a cube of {s:?}");
                }
                let want = if allowed.contains(&i) {
                    None
                } else if matches!(op, "get" | "update" | "delete" | "history") {
                    // Never reveals that the cube exists.
                    Some(Code::NotFound)
                } else {
                    Some(Code::PermissionDenied)
                };
                assert_eq!(got, want, "{who} {op} {tname}");
                cells += 1;
                if op == "delete" && got.is_none() {
                    boot.memory.restore(proto::RestoreRequest { id: cubes[i].id.clone(), ..Default::default() }).await.unwrap();
                }
            }
        }
    }
    assert_eq!(cells, 7 * 5 * 8);

    // A user searching the whole tenant with another user's exact text sees only its own.
    let alice_tok = &principals[2].1;
    let mut alice = as_token(&node.addr, alice_tok).await;
    let req = proto::SearchRequest { query: text_of(&cubes[3]).into(), scope: Some(scope("acme", "", "")), k: 100, ..Default::default() };
    let hits = alice.memory.search(req).await.unwrap().into_inner().hits;
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.cube.as_ref().unwrap().scope.as_ref().unwrap().user == "alice"), "no cube of bob's");
    // Readers read but do not write.
    let mut r = client_as(&mut boot, &node.addr, "acme", "alice", "", Role::Reader).await;
    assert_eq!(try_op(&mut r, "get", &targets[0].1, &cubes[0], &mut Vec::new()).await, None);
    assert_eq!(try_op(&mut r, "update", &targets[0].1, &cubes[0], &mut Vec::new()).await, Some(Code::PermissionDenied));
    assert_eq!(try_op(&mut r, "put", &targets[0].1, &cubes[0], &mut Vec::new()).await, Some(Code::PermissionDenied));
    // Only the cluster admin changes membership; only admins manage tokens.
    let add = proto::AddMemberRequest { node_id: 99, addr: "127.0.0.1:1".into(), learner_only: true };
    assert_eq!(code(alice.cluster.add_member(add).await), Some(Code::PermissionDenied));
    let p = proto::Principal { tenant: "acme".into(), user: "bob".into(), ..Default::default() };
    let req = proto::CreateTokenRequest { principal: Some(p), ..Default::default() };
    assert_eq!(code(alice.admin.create_token(req).await), Some(Code::PermissionDenied));
}

#[tokio::test]
async fn missing_forged_expired_and_revoked_tokens_are_unauthenticated() {
    let node = TestNode::start_with_env(&auth_env());
    let get = proto::GetRequest { id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), ..Default::default() };
    let mut anon = Client::connect_with_token(&node.addr, None).await.unwrap();
    assert_eq!(code(anon.memory.get(get.clone()).await), Some(Code::Unauthenticated));
    let mut forged = as_token(&node.addr, "mmt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(code(forged.memory.get(get.clone()).await), Some(Code::Unauthenticated));

    let mut boot = as_token(&node.addr, BOOT).await;
    let (short, _) = token(&mut boot, "acme", "alice", "", Role::Writer, 1).await;
    let (long, long_id) = token(&mut boot, "acme", "alice", "", Role::Writer, 0).await;
    let mut s = as_token(&node.addr, &short).await;
    assert_eq!(code(s.memory.get(get.clone()).await), Some(Code::NotFound), "valid token: the cube just does not exist");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(code(s.memory.get(get.clone()).await), Some(Code::Unauthenticated), "expired");

    let mut l = as_token(&node.addr, &long).await;
    assert_eq!(code(l.memory.get(get.clone()).await), Some(Code::NotFound));
    // Listing shows ids and principals, never a secret.
    let list = boot.admin.list_tokens(proto::ListTokensRequest { tenant: "acme".into() }).await.unwrap().into_inner();
    assert_eq!(list.tokens.len(), 2);
    assert!(!format!("{list:?}").contains(&long[4..]), "secrets are never listed");
    boot.admin.revoke_token(proto::RevokeTokenRequest { id: long_id }).await.unwrap();
    assert_eq!(code(l.memory.get(get.clone()).await), Some(Code::Unauthenticated), "revoked");
    let who = boot.admin.who_am_i(proto::WhoAmIRequest {}).await.unwrap().into_inner();
    assert!(who.cluster_admin);
    // The secret is not in the node's log output.
    assert!(!node.log().contains(BOOT) && !node.log().contains(&long));
}

#[tokio::test]
async fn grants_share_memory_between_agents_until_revoked_or_expired() {
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let mut planner = client_as(&mut boot, &node.addr, "acme", "alice", "planner", Role::Writer).await;
    let mut coder = client_as(&mut boot, &node.addr, "acme", "alice", "coder", Role::Writer).await;
    let planner_scope = scope("acme", "alice", "planner");
    let note = planner
        .memory
        .put(proto::PutRequest {
            cube: Some(text_cube(planner_scope.clone(), "the release is planned for Friday")),
            request_id: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cube
        .unwrap();
    let get = || proto::GetRequest { id: note.id.clone(), ..Default::default() };
    assert_eq!(code(coder.memory.get(get()).await), Some(Code::NotFound), "not shared yet");

    // The planner shares its memory with the coder, read-only.
    let grantee = proto::Principal { tenant: "acme".into(), agent: "coder".into(), ..Default::default() };
    let g = planner
        .admin
        .create_grant(proto::CreateGrantRequest {
            scope: Some(planner_scope.clone()),
            grantee: Some(grantee.clone()),
            access: proto::Access::Read as i32,
            ttl_seconds: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(coder.memory.get(get()).await), None);
    let search = proto::SearchRequest { query: "when is the release".into(), scope: Some(scope("acme", "alice", "")), k: 5, ..Default::default() };
    let hits = coder.memory.search(search.clone()).await.unwrap().into_inner().hits;
    assert_eq!(hits.first().map(|h| h.cube.as_ref().unwrap().id.clone()), Some(note.id.clone()), "a shared scope is searched too");
    let upd = proto::UpdateRequest { id: note.id.clone(), add_tags: vec!["x".into()], ..Default::default() };
    assert_eq!(code(coder.memory.update(upd.clone()).await), Some(Code::PermissionDenied), "read-only grant");
    // The coder cannot share what it may not write.
    let back = proto::CreateGrantRequest {
        scope: Some(planner_scope.clone()),
        grantee: Some(grantee.clone()),
        access: proto::Access::ReadWrite as i32,
        ttl_seconds: 0,
    };
    assert_eq!(code(coder.admin.create_grant(back).await), Some(Code::PermissionDenied));

    planner.admin.revoke_grant(proto::RevokeGrantRequest { id: g.id }).await.unwrap();
    assert_eq!(code(coder.memory.get(get()).await), Some(Code::NotFound), "revoked");

    // A read-write grant that expires after a second.
    let rw =
        proto::CreateGrantRequest { scope: Some(planner_scope), grantee: Some(grantee), access: proto::Access::ReadWrite as i32, ttl_seconds: 1 };
    planner.admin.create_grant(rw).await.unwrap();
    assert_eq!(code(coder.memory.update(upd.clone()).await), None);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(code(coder.memory.update(upd).await), Some(Code::NotFound), "expired");
}

#[tokio::test]
async fn a_revoked_token_is_refused_by_every_node_of_the_cluster() {
    let env = auth_env();
    let cluster = TestCluster::start(3, &env).await;
    let leader = cluster.leader().await;
    let mut boot = as_token(&cluster.addrs[leader], BOOT).await;
    let (tok, id) = token(&mut boot, "acme", "alice", "", Role::Writer, 0).await;
    let get = proto::GetRequest { id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), ..Default::default() };
    // Accepted on every node once applied there, then refused everywhere once revoked.
    for want in [Code::NotFound, Code::Unauthenticated] {
        if want == Code::Unauthenticated {
            boot.admin.revoke_token(proto::RevokeTokenRequest { id: id.clone() }).await.unwrap();
        }
        for i in 0..3 {
            let mut c = as_token(&cluster.addrs[i], &tok).await;
            let mut got = None;
            for _ in 0..100 {
                got = code(c.memory.get(get.clone()).await);
                if got == Some(want) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(got, Some(want), "node {i}");
        }
    }
}

#[tokio::test]
async fn raft_calls_without_the_cluster_secret_are_rejected() {
    // The cluster itself replicates with the secret (three nodes elect and replicate)...
    let cluster = TestCluster::start(3, &auth_env()).await;
    let leader = cluster.leader().await;
    let mut c = as_token(&cluster.addrs[leader], BOOT).await;
    c.memory
        .put(proto::PutRequest { cube: Some(text_cube(scope("acme", "a", ""), "replicated")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap();
    // ...while an outsider's raw Raft message is refused, with or without a guessed secret.
    for secret in [None, Some("guess")] {
        let mut peer = proto::raft_peer_client::RaftPeerClient::connect(format!("http://{}", cluster.addrs[leader])).await.unwrap();
        let mut req = tonic::Request::new(proto::PeerMessage { data: vec![0; 16] });
        if let Some(s) = secret {
            req.metadata_mut().insert("x-memmesh-cluster-secret", s.parse().unwrap());
        }
        assert_eq!(code(peer.vote(req).await), Some(Code::Unauthenticated), "secret {secret:?}");
        // The append stream is checked when it opens.
        let mut req = tonic::Request::new(tokio_stream::iter([proto::PeerMessage { data: vec![0; 16] }]));
        if let Some(s) = secret {
            req.metadata_mut().insert("x-memmesh-cluster-secret", s.parse().unwrap());
        }
        assert_eq!(code(peer.append(req).await), Some(Code::Unauthenticated), "append, secret {secret:?}");
    }
    // With the secret, an undecodable append is refused on its stream and replication goes on.
    let mut peer = proto::raft_peer_client::RaftPeerClient::connect(format!("http://{}", cluster.addrs[leader])).await.unwrap();
    let mut req = tonic::Request::new(tokio_stream::iter([proto::PeerMessage { data: vec![0xff; 16] }]));
    req.metadata_mut().insert("x-memmesh-cluster-secret", "peer-secret-for-tests".parse().unwrap());
    let mut replies = peer.append(req).await.unwrap().into_inner();
    assert_eq!(code(replies.message().await), Some(Code::InvalidArgument));
    c.memory
        .put(proto::PutRequest { cube: Some(text_cube(scope("acme", "a", ""), "still replicated")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap();
}

#[tokio::test]
async fn every_write_grant_token_change_and_refusal_is_audited() {
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let (admin_tok, _) = token(&mut boot, "acme", "", "", Role::Admin, 0).await;
    let (alice_tok, alice_id) = token(&mut boot, "acme", "alice", "", Role::Writer, 0).await;
    let mut alice = as_token(&node.addr, &alice_tok).await;
    let cube = alice
        .memory
        .put(proto::PutRequest { cube: Some(text_cube(scope("acme", "alice", ""), "audited")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .cube
        .unwrap();
    let grantee = proto::Principal { tenant: "acme".into(), user: "bob".into(), ..Default::default() };
    let g = alice
        .admin
        .create_grant(proto::CreateGrantRequest { scope: Some(scope("acme", "alice", "")), grantee: Some(grantee), access: 0, ttl_seconds: 0 })
        .await
        .unwrap()
        .into_inner();
    alice.admin.revoke_grant(proto::RevokeGrantRequest { id: g.id.clone() }).await.unwrap();
    // Refused: a write into bob's scope, and a call without a token.
    let denied = alice
        .memory
        .put(proto::PutRequest { cube: Some(text_cube(scope("acme", "bob", ""), "x")), request_id: String::new(), ..Default::default() })
        .await;
    assert_eq!(code(denied), Some(Code::PermissionDenied));
    let mut anon = Client::connect_with_token(&node.addr, None).await.unwrap();
    assert_eq!(
        code(anon.memory.list(proto::ListRequest { scope: Some(scope("acme", "", "")), ..Default::default() }).await),
        Some(Code::Unauthenticated)
    );
    boot.admin.revoke_token(proto::RevokeTokenRequest { id: alice_id.clone() }).await.unwrap();

    // Refusals are recorded asynchronously; wait until the last one is there.
    let all = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.admin
                .list_audit(proto::ListAuditRequest { tenant: String::new(), page_token: String::new(), limit: 1000 })
                .await
                .unwrap()
                .into_inner()
                .entries
        }
    };
    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = all(&mut boot).await;
        if entries.iter().any(|e| e.actor == "unauthenticated") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let has = |op: &str, target: &str, outcome: &str| {
        entries.iter().any(|e| e.operation == op && e.target.contains(target) && e.outcome.starts_with(outcome))
    };
    assert!(has("create-token", &alice_id, "ok"), "{entries:#?}");
    assert!(has("put", &cube.id, "ok"));
    assert!(
        entries.iter().any(|e| e.operation == "put" && e.actor.starts_with("acme/alice/") && e.actor.contains(&alice_id)),
        "the actor names the token"
    );
    assert!(has("create-grant", &g.id, "ok") && has("revoke-grant", &g.id, "ok"));
    assert!(has("denied", "write scope acme/bob", "PERMISSION_DENIED"));
    assert!(entries.iter().any(|e| e.operation == "denied" && e.actor == "unauthenticated" && e.tenant.is_empty()));
    assert!(has("revoke-token", &alice_id, "ok"));

    // A tenant admin reads its tenant's records only; others may not read the log.
    let mut admin = as_token(&node.addr, &admin_tok).await;
    let own =
        admin.admin.list_audit(proto::ListAuditRequest { tenant: "acme".into(), page_token: String::new(), limit: 1000 }).await.unwrap().into_inner();
    assert!(!own.entries.is_empty() && own.entries.iter().all(|e| e.tenant == "acme"));
    let other = admin.admin.list_audit(proto::ListAuditRequest { tenant: "globex".into(), page_token: String::new(), limit: 10 }).await;
    assert_eq!(code(other), Some(Code::PermissionDenied));
    // Paging walks the same records in order.
    let mut paged = Vec::new();
    let mut req = proto::ListAuditRequest { tenant: "acme".into(), page_token: String::new(), limit: 2 };
    loop {
        let r = admin.admin.list_audit(req.clone()).await.unwrap().into_inner();
        paged.extend(r.entries);
        if r.next_page_token.is_empty() {
            break;
        }
        req.page_token = r.next_page_token;
    }
    assert_eq!(paged, own.entries);
}

#[tokio::test]
async fn tenant_quotas_refuse_growth_beyond_cubes_bytes_and_request_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = auth_env();
    env.retain(|(k, _)| !k.starts_with("MEMMESH__EMBEDDING"));
    env.extend([
        ("MEMMESH__QUOTAS__TENANTS__ACME__MAX_CUBES", "3"),
        ("MEMMESH__QUOTAS__TENANTS__SMALL__MAX_BYTES", "20"),
        ("MEMMESH__QUOTAS__TENANTS__BUSY__REQUESTS_PER_SECOND", "5"),
    ]);
    let mut node = NodeProc::start_with_env(&dir.path().join("n1"), &env);
    let mut boot = as_token(&node.addr, BOOT).await;
    let put =
        |t: &str, text: &str| proto::PutRequest { cube: Some(text_cube(scope(t, "u", ""), text)), request_id: String::new(), ..Default::default() };
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(boot.memory.put(put("acme", &format!("m{i}"))).await.unwrap().into_inner().cube.unwrap().id);
    }
    let e = boot.memory.put(put("acme", "one too many")).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("3 cubes"), "{}", e.message());
    assert!(boot.memory.put(put("other", "unlimited tenant")).await.is_ok());
    // Purging frees room; a batch that does not fit is refused whole.
    boot.memory
        .purge(proto::PurgeRequest { target: Some(proto::purge_request::Target::Id(ids[0].clone())), request_id: String::new() })
        .await
        .unwrap();
    let batch = proto::PutBatchRequest {
        cubes: vec![text_cube(scope("acme", "u", ""), "a"), text_cube(scope("acme", "u", ""), "b")],
        request_id: String::new(),
        ..Default::default()
    };
    assert_eq!(code(boot.memory.put_batch(batch).await), Some(Code::ResourceExhausted));
    let l = boot.memory.list(proto::ListRequest { scope: Some(scope("acme", "", "")), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(l.cubes.len(), 2, "nothing of the refused batch was written");
    assert!(boot.memory.put(put("acme", "fits again")).await.is_ok());

    // Bytes: growing a cube's text past the tenant's budget is refused; shrinking is fine.
    let c = boot.memory.put(put("small", "fifteen bytes!!")).await.unwrap().into_inner().cube.unwrap();
    let grow =
        proto::UpdateRequest { id: c.id.clone(), content: Some(proto::Content { text: "x".repeat(30), ..Default::default() }), ..Default::default() };
    assert_eq!(code(boot.memory.update(grow).await), Some(Code::ResourceExhausted));
    let shrink =
        proto::UpdateRequest { id: c.id.clone(), content: Some(proto::Content { text: "tiny".into(), ..Default::default() }), ..Default::default() };
    assert!(boot.memory.update(shrink).await.is_ok());

    // Usage is replicated state: after a restart the cube quota still holds.
    let addr = node.addr.clone();
    node.terminate();
    node = NodeProc::start_on(&dir.path().join("n1"), &addr, &env);
    let mut boot = as_token(&node.addr, BOOT).await;
    assert_eq!(code(boot.memory.put(put("acme", "still full")).await), Some(Code::ResourceExhausted));

    // Request rate: a principal of tenant busy gets at most ~5 requests per second.
    let mut busy = client_as(&mut boot, &node.addr, "busy", "u", "", Role::Writer).await;
    let mut limited = 0;
    for _ in 0..20 {
        if code(busy.memory.list(proto::ListRequest { scope: Some(scope("busy", "u", "")), ..Default::default() }).await)
            == Some(Code::ResourceExhausted)
        {
            limited += 1;
        }
    }
    assert!(limited >= 10, "{limited} of 20 rapid requests refused");
}

#[tokio::test]
async fn malformed_admin_requests_are_invalid_argument() {
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let principal = |t: &str, u: &str, role: Role| proto::Principal {
        tenant: t.into(),
        user: u.into(),
        agent: String::new(),
        role: role as i32,
        cluster_admin: false,
    };
    let create = |p: proto::Principal| proto::CreateTokenRequest { principal: Some(p), ttl_seconds: 0, description: String::new() };
    let cases = [
        create(principal("", "alice", Role::Writer)),      // no tenant
        create(principal("acme", "al ice", Role::Writer)), // bad identifier
        create(principal("acme", "alice", Role::Admin)),   // ADMIN is tenant-wide only
        create(proto::Principal { cluster_admin: true, ..principal("acme", "", Role::Admin) }),
        proto::CreateTokenRequest { principal: None, ttl_seconds: 0, description: String::new() },
    ];
    for req in cases {
        let e = boot.admin.create_token(req.clone()).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{req:?}: {}", e.message());
    }
    let cross = proto::CreateGrantRequest {
        scope: Some(scope("acme", "alice", "")),
        grantee: Some(principal("globex", "bob", Role::Unspecified)),
        access: 0,
        ttl_seconds: 0,
    };
    let e = boot.admin.create_grant(cross).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("never cross tenants"), "{}", e.message());
    for req in [
        proto::ListAuditRequest { tenant: "acme".into(), page_token: String::new(), limit: 5000 },
        proto::ListAuditRequest { tenant: "acme".into(), page_token: "garbage".into(), limit: 10 },
    ] {
        assert_eq!(code(boot.admin.list_audit(req).await), Some(Code::InvalidArgument));
    }
    // Found by an outside probe, each mended: a malformed id was echoed back whole (10,000
    // characters gave a 10 KB status message) and an unknown one was called a "cube".
    let long = "x".repeat(10_000);
    for (what, e) in [
        ("token", boot.admin.revoke_token(proto::RevokeTokenRequest { id: long.clone() }).await.unwrap_err()),
        ("grant", boot.admin.revoke_grant(proto::RevokeGrantRequest { id: long.clone() }).await.unwrap_err()),
    ] {
        assert_eq!(e.code(), Code::InvalidArgument, "{what}");
        assert!(e.message().len() < 200 && e.message().starts_with("invalid argument: id:") && e.message().contains(what), "{}", e.message());
    }
    let unknown = "01JAAAAAAAAAAAAAAAAAAAAAAA";
    let e = boot.admin.revoke_token(proto::RevokeTokenRequest { id: unknown.into() }).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, format!("token {unknown} not found").as_str()));
    let e = boot.admin.revoke_grant(proto::RevokeGrantRequest { id: unknown.into() }).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, format!("grant {unknown} not found").as_str()));
    // A TTL past i64 wrapped into a token or grant already expired; now refused like a cube's.
    for ttl in [1u64 << 63, u64::MAX] {
        let e = boot
            .admin
            .create_token(proto::CreateTokenRequest { ttl_seconds: ttl, ..create(principal("acme", "alice", Role::Writer)) })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("ttl_seconds"), "{}", e.message());
        let grant = proto::CreateGrantRequest {
            scope: Some(scope("acme", "alice", "")),
            grantee: Some(principal("acme", "bob", Role::Unspecified)),
            access: 0,
            ttl_seconds: ttl,
        };
        let e = boot.admin.create_grant(grant).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("ttl_seconds"), "{}", e.message());
    }
    // Every listing judges the tenant name the same way.
    let bad = "not a tenant!";
    assert_eq!(code(boot.admin.list_grants(proto::ListGrantsRequest { tenant: bad.into() }).await), Some(Code::InvalidArgument));
    assert_eq!(code(boot.admin.list_tokens(proto::ListTokensRequest { tenant: bad.into() }).await), Some(Code::InvalidArgument));
    assert_eq!(
        code(boot.admin.list_audit(proto::ListAuditRequest { tenant: bad.into(), page_token: String::new(), limit: 0 }).await),
        Some(Code::InvalidArgument)
    );
    // The Admin service reads requests up to limits.max_request_bytes like the Memory service:
    // a 5 MiB description is judged by the service, not cut off by tonic's 4 MiB default.
    let big = proto::CreateTokenRequest { description: "d".repeat(5 << 20), ..create(principal("acme", "alice", Role::Writer)) };
    let e = boot.admin.create_token(big).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert!(e.message().contains("description"), "{}", e.message());
}

#[tokio::test]
async fn a_cube_the_caller_may_not_read_answers_purge_and_versioned_get_exactly_like_a_missing_one() {
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let mut alice = client_as(&mut boot, &node.addr, "acme", "alice", "", Role::Writer).await;
    let mut bob = client_as(&mut boot, &node.addr, "acme", "bob", "", Role::Writer).await;
    let put = proto::PutRequest { cube: Some(text_cube(scope("acme", "alice", ""), "alice's secret")), ..Default::default() };
    let hidden = alice.memory.put(put).await.unwrap().into_inner().cube.unwrap().id;
    let missing = "01JAAAAAAAAAAAAAAAAAAAAAAA".to_string();

    // Purge is idempotent: nothing to purge, OK — for bob, alice's cube is nothing too.
    for id in [&hidden, &missing] {
        let r = bob.memory.purge(proto::PurgeRequest { target: Some(proto::purge_request::Target::Id(id.clone())), ..Default::default() }).await;
        assert_eq!(r.map(|r| r.into_inner().purged).map_err(|e| e.code()), Ok(0), "{id}");
    }
    // Get of a version: the same answer, naming only the id asked for.
    let answer = |r: Result<tonic::Response<proto::GetResponse>, tonic::Status>, id: &str| {
        let e = r.unwrap_err();
        (e.code(), e.message().replace(id, "ID"))
    };
    let get = |id: &String, version| proto::GetRequest { id: id.clone(), version, ..Default::default() };
    let of_hidden = answer(bob.memory.get(get(&hidden, 5)).await, &hidden);
    let of_missing = answer(bob.memory.get(get(&missing, 5)).await, &missing);
    assert_eq!(of_hidden, of_missing);
    assert_eq!(of_hidden, (Code::NotFound, "cube ID not found".to_string()));
    // Its owner learns the cube exists without that version; and it was not purged.
    let e = alice.memory.get(get(&hidden, 5)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("version 5"), "{}", e.message());
    assert!(alice.memory.get(get(&hidden, 0)).await.is_ok());
}

#[tokio::test]
async fn search_over_a_wildcard_scope_searches_the_part_the_caller_may_read() {
    // Found by an outside probe: alice searching acme/*/coder was PERMISSION_DENIED, and bob got
    // only what ACLs shared with him there, not his own coder's memory.
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let mut alice = client_as(&mut boot, &node.addr, "acme", "alice", "", Role::Writer).await;
    let mut bob = client_as(&mut boot, &node.addr, "acme", "bob", "", Role::Writer).await;
    for (c, user) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        for agent in ["coder", "planner"] {
            let cube = text_cube(scope("acme", user, agent), &format!("{user}'s {agent} noted the flaky build"));
            c.memory.put(proto::PutRequest { cube: Some(cube), ..Default::default() }).await.unwrap();
        }
    }
    for (c, user) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        let req = proto::SearchRequest {
            query: "flaky build".into(),
            scope: Some(scope("acme", "", "coder")),
            mode: SearchMode::Lexical as i32,
            k: 10,
            ..Default::default()
        };
        let hits = c.memory.search(req).await.expect("a wildcard scope read in part is searched in part").into_inner().hits;
        let found: Vec<String> = hits.iter().map(|h| text_of(h.cube.as_ref().unwrap()).to_string()).collect();
        assert_eq!(found, vec![format!("{user}'s coder noted the flaky build")], "{user}");
    }
}
