//! Per-cube access lists end to end: an ACL widens access to principals the scope rule does not
//! admit, or (restricted) narrows it to the listed ones — in Get, List, History, Search and
//! Subscribe alike, across a restart — and only the scope's owners may change it. Also: a live
//! subscription ends when the grant or token it relied on is revoked.

use std::time::Duration;

use memmesh_client::Client;
use memmesh_tests::auth::*;
use memmesh_tests::proto::{self, subscribe_response, Acl, AclEntry, Role, SearchMode};
use memmesh_tests::*;
use tonic::Code;

type Feed = tonic::Streaming<proto::SubscribeResponse>;

fn entry(user: &str, agent: &str) -> AclEntry {
    AclEntry { user: user.into(), agent: agent.into() }
}

fn acl(readers: Vec<AclEntry>, writers: Vec<AclEntry>, restricted: bool) -> Option<Acl> {
    Some(Acl { readers, writers, restricted })
}

async fn put(c: &mut Client, scope: proto::Scope, text: &str, acl: Option<Acl>) -> Result<proto::MemCube, tonic::Status> {
    let cube = proto::CubeInput { acl, ..text_cube(scope, text) };
    Ok(try_put(c, cube, "").await?.cube.unwrap())
}

async fn get(c: &mut Client, id: &str) -> Option<Code> {
    code(c.memory.get(proto::GetRequest { id: id.into(), ..Default::default() }).await)
}

/// Ids listed in `scope` (all pages), or the refusal.
async fn list(c: &mut Client, scope: proto::Scope) -> Result<Vec<String>, Code> {
    let mut req = proto::ListRequest { scope: Some(scope), page_size: 2, ..Default::default() };
    let mut out = Vec::new();
    loop {
        let r = c.memory.list(req.clone()).await.map_err(|s| s.code())?.into_inner();
        out.extend(r.cubes.into_iter().map(|c| c.id));
        if r.next_page_token.is_empty() {
            out.sort();
            return Ok(out);
        }
        req.page_token = r.next_page_token;
    }
}

/// Ids found by a search for `query` in `scope` (every mode must agree), or the refusal.
async fn search(c: &mut Client, scope: proto::Scope, query: &str) -> Result<Vec<String>, Code> {
    let mut found: Option<Vec<String>> = None;
    for mode in [SearchMode::Dense, SearchMode::Lexical, SearchMode::Hybrid] {
        let req = proto::SearchRequest { query: query.into(), scope: Some(scope.clone()), k: 100, mode: mode as i32, ..Default::default() };
        let mut ids: Vec<String> =
            c.memory.search(req).await.map_err(|s| s.code())?.into_inner().hits.into_iter().map(|h| h.cube.unwrap().id).collect();
        ids.sort();
        if mode == SearchMode::Dense {
            // Dense ranks everything readable; the other modes need a shared word. Compare
            // the lexical and hybrid sets with the dense one, which sees every candidate.
            found = Some(ids);
        } else {
            let all = found.as_ref().unwrap();
            assert!(ids.iter().all(|i| all.contains(i)), "{mode:?} found {ids:?}, outside the dense candidates {all:?}");
        }
    }
    Ok(found.unwrap())
}

async fn subscribe(c: &mut Client, scope: proto::Scope) -> Result<Feed, Code> {
    let req = proto::SubscribeRequest { scope: Some(scope), progress_notify_ms: 50, ..Default::default() };
    Ok(c.memstore.subscribe(req).await.map_err(|s| s.code())?.into_inner())
}

/// The cube ids of the events delivered until the stream reports progress at `revision`, or
/// the status that ended the stream.
async fn events_until(feed: &mut Feed, revision: u64) -> Result<Vec<String>, tonic::Status> {
    let mut ids = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), feed.message()).await.expect("feed stalled")?.expect("stream open");
        match msg.kind {
            Some(subscribe_response::Kind::Events(b)) => {
                ids.extend(b.events.into_iter().map(|e| e.cube.unwrap().id));
                if b.revision >= revision {
                    return Ok(ids);
                }
            }
            Some(subscribe_response::Kind::Progress(p)) if p.revision >= revision => return Ok(ids),
            _ => {}
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn an_acl_shares_one_cube_with_a_principal_outside_its_scope_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start_with_env(&dir.path().join("n1"), &auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let (alice_t, _) = token(&mut boot, "acme", "alice", "", Role::Writer, 0).await;
    let (bob_t, _) = token(&mut boot, "acme", "bob", "", Role::Writer, 0).await;
    let (bob_ro_t, _) = token(&mut boot, "acme", "bob", "", Role::Reader, 0).await;
    let (carol_t, _) = token(&mut boot, "acme", "carol", "", Role::Writer, 0).await;
    let (foreign_t, _) = token(&mut boot, "globex", "bob", "", Role::Writer, 0).await;
    let (admin_t, _) = token(&mut boot, "acme", "", "", Role::Admin, 0).await;
    let mut alice = as_token(&node.addr, &alice_t).await;
    let mut bob = as_token(&node.addr, &bob_t).await;
    let mut bob_ro = as_token(&node.addr, &bob_ro_t).await;
    let mut carol = as_token(&node.addr, &carol_t).await;
    let mut foreign = as_token(&node.addr, &foreign_t).await;
    let mut admin = as_token(&node.addr, &admin_t).await;
    let alices = scope3("acme", "alice", "");
    let tenant = scope3("acme", "", "");

    let shared = put(&mut alice, alices.clone(), "the office wifi password is hunter2", acl(vec![entry("bob", "")], vec![], false)).await.unwrap();
    let private = put(&mut alice, alices.clone(), "the office wifi password for guests is swordfish", None).await.unwrap();
    put(&mut bob, scope3("acme", "bob", ""), "bob's own note about the office wifi", None).await.unwrap();
    assert_eq!(shared.acl.as_ref().unwrap().readers, vec![entry("bob", "")], "the ACL is stored on the cube");

    for round in ["before restart", "after restart"] {
        // bob reads the shared cube and nothing else of alice's, by every path.
        assert_eq!(get(&mut bob, &shared.id).await, None, "{round}");
        assert_eq!(get(&mut bob, &private.id).await, Some(Code::NotFound), "{round}");
        assert_eq!(code(bob.memory.history(proto::HistoryRequest { id: shared.id.clone(), read: None }).await), None, "{round}");
        assert_eq!(list(&mut bob, alices.clone()).await, Ok(vec![shared.id.clone()]), "{round}: List of a scope he cannot read shows what is shared");
        assert_eq!(search(&mut bob, alices.clone(), "office wifi password").await, Ok(vec![shared.id.clone()]), "{round}");
        let in_tenant = search(&mut bob, tenant.clone(), "office wifi password").await.unwrap();
        assert!(
            in_tenant.contains(&shared.id) && !in_tenant.contains(&private.id) && in_tenant.len() == 2,
            "{round}: his own + the shared one: {in_tenant:?}"
        );
        // A reader entry gives no write.
        let upd = proto::UpdateRequest { id: shared.id.clone(), add_tags: vec!["seen".into()], ..Default::default() };
        assert_eq!(code(bob.memory.update(upd).await), Some(Code::PermissionDenied), "{round}");
        // Nobody else gains anything: carol (same tenant) and bob of another tenant.
        for (who, c) in [("carol", &mut carol), ("foreign bob", &mut foreign)] {
            assert_eq!(get(c, &shared.id).await, Some(Code::NotFound), "{round}: {who}");
            assert_eq!(list(c, alices.clone()).await, Err(Code::PermissionDenied), "{round}: {who}");
            assert_eq!(search(c, alices.clone(), "office wifi password").await, Err(Code::PermissionDenied), "{round}: {who}");
            assert_eq!(subscribe(c, alices.clone()).await.err(), Some(Code::PermissionDenied), "{round}: {who}");
        }
        // alice, the owner, still sees both.
        assert_eq!(list(&mut alice, alices.clone()).await, Ok(sorted(vec![shared.id.clone(), private.id.clone()])), "{round}");
        if round == "before restart" {
            node.terminate();
            node = NodeProc::start_with_env(&dir.path().join("n1"), &auth_env());
            alice = as_token(&node.addr, &alice_t).await;
            bob = as_token(&node.addr, &bob_t).await;
            bob_ro = as_token(&node.addr, &bob_ro_t).await;
            carol = as_token(&node.addr, &carol_t).await;
            foreign = as_token(&node.addr, &foreign_t).await;
            admin = as_token(&node.addr, &admin_t).await;
        }
    }

    // bob's subscription to alice's scope delivers the shared cube's changes only.
    let mut feed = subscribe(&mut bob, alices.clone()).await.unwrap();
    let touch = |id: &str, tag: &str| proto::UpdateRequest { id: id.into(), add_tags: vec![tag.into()], ..Default::default() };
    alice.memory.update(touch(&private.id, "a")).await.unwrap();
    let rev = alice.memory.update(touch(&shared.id, "b")).await.unwrap().into_inner().revision;
    assert_eq!(events_until(&mut feed, rev).await.unwrap(), vec![shared.id.clone()]);

    // Only the scope's owners change an ACL; bob may not, not even to widen it for himself.
    let give_bob_write = proto::UpdateRequest { id: shared.id.clone(), acl: acl(vec![], vec![entry("bob", "")], false), ..Default::default() };
    assert_eq!(code(bob.memory.update(give_bob_write.clone()).await), Some(Code::PermissionDenied));
    alice.memory.update(give_bob_write).await.unwrap();
    let edit = proto::UpdateRequest {
        id: shared.id.clone(),
        content: Some(proto::Content { text: "the office wifi password is now correcthorse".into(), ..Default::default() }),
        ..Default::default()
    };
    assert_eq!(code(bob.memory.update(edit.clone()).await), None, "a writer entry lets bob change the content");
    assert_eq!(code(bob_ro.memory.update(edit).await), Some(Code::PermissionDenied), "a READER token never writes");
    let widen =
        proto::UpdateRequest { id: shared.id.clone(), acl: acl(vec![entry("carol", "")], vec![entry("bob", "")], false), ..Default::default() };
    assert_eq!(code(bob.memory.update(widen).await), Some(Code::PermissionDenied), "an ACL writer may not share further");
    // The refusal is audited (denials are recorded in the background: poll briefly).
    let mut audited = false;
    for _ in 0..50 {
        let audit =
            admin.admin.list_audit(proto::ListAuditRequest { tenant: "acme".into(), limit: 1000, ..Default::default() }).await.unwrap().into_inner();
        audited =
            audit.entries.iter().any(|e| e.operation == "denied" && e.target.contains("change the access list") && e.actor.starts_with("acme/bob/"));
        if audited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(audited, "the refused ACL change is in the audit log");

    // Unsharing: an empty ACL removes it, and bob is back to nothing in alice's scope.
    let unshare = proto::UpdateRequest { id: shared.id.clone(), acl: Some(Acl::default()), ..Default::default() };
    let after = alice.memory.update(unshare).await.unwrap().into_inner().cube.unwrap();
    assert!(after.acl.is_none(), "an empty, unrestricted ACL is no ACL");
    assert_eq!(get(&mut bob, &shared.id).await, Some(Code::NotFound));
    assert_eq!(list(&mut bob, alices.clone()).await, Err(Code::PermissionDenied));
    assert_eq!(search(&mut bob, alices.clone(), "office wifi password").await, Err(Code::PermissionDenied));
    // ... and his open subscription ends rather than going quiet.
    alice.memory.update(touch(&private.id, "c")).await.unwrap();
    let err = events_until(&mut feed, u64::MAX).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
}

#[tokio::test]
async fn a_restricted_acl_hides_a_cube_from_everyone_it_does_not_name_but_admins() {
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let mut alice = client_as(&mut boot, &node.addr, "acme", "alice", "", Role::Writer).await;
    let mut planner = client_as(&mut boot, &node.addr, "acme", "alice", "planner", Role::Writer).await;
    let mut tenant_reader = client_as(&mut boot, &node.addr, "acme", "", "", Role::Reader).await;
    let mut admin = client_as(&mut boot, &node.addr, "acme", "", "", Role::Admin).await;
    let planners = scope3("acme", "alice", "planner");
    let alices = scope3("acme", "alice", "");

    // alice normally sees her agents' memory; her feed is open while the planner writes.
    let mut alice_feed = subscribe(&mut alice, alices.clone()).await.unwrap();
    let open = put(&mut planner, planners.clone(), "draft plan for the quarterly launch", None).await.unwrap();
    // Restricting without naming oneself would lock the author out: refused, nothing written.
    let locked = put(&mut planner, planners.clone(), "secret launch codename", acl(vec![], vec![entry("bob", "")], true)).await;
    assert_eq!(locked.unwrap_err().code(), Code::InvalidArgument);
    let secret =
        put(&mut planner, planners.clone(), "secret launch codename is bluebird", acl(vec![], vec![entry("", "planner")], true)).await.unwrap();

    assert_eq!(get(&mut planner, &secret.id).await, None);
    assert_eq!(get(&mut admin, &secret.id).await, None, "tenant admins always");
    for (who, c) in [("alice", &mut alice), ("tenant reader", &mut tenant_reader)] {
        assert_eq!(get(c, &secret.id).await, Some(Code::NotFound), "{who}");
        assert_eq!(code(c.memory.history(proto::HistoryRequest { id: secret.id.clone(), read: None }).await), Some(Code::NotFound), "{who}");
        assert_eq!(list(c, alices.clone()).await, Ok(vec![open.id.clone()]), "{who}: listed without the restricted cube");
        assert_eq!(search(c, planners.clone(), "secret launch codename").await, Ok(vec![open.id.clone()]), "{who}");
    }
    let upd = proto::UpdateRequest { id: secret.id.clone(), add_tags: vec!["x".into()], ..Default::default() };
    assert_eq!(code(alice.memory.update(upd).await), Some(Code::NotFound), "alice may not even learn it exists");
    assert_eq!(list(&mut admin, alices.clone()).await, Ok(sorted(vec![open.id.clone(), secret.id.clone()])));
    let rev = planner
        .memory
        .update(proto::UpdateRequest { id: open.id.clone(), add_tags: vec!["t".into()], ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .revision;
    assert_eq!(
        events_until(&mut alice_feed, rev).await.unwrap(),
        vec![open.id.clone(), open.id.clone()],
        "creation and update of the open cube, nothing of the secret one"
    );

    // Lifting the restriction (the planner owns the scope) gives alice her view back.
    planner.memory.update(proto::UpdateRequest { id: secret.id.clone(), acl: Some(Acl::default()), ..Default::default() }).await.unwrap();
    assert_eq!(get(&mut alice, &secret.id).await, None);
    // A rollback restores content, never an older ACL.
    let c = planner.memory.history(proto::HistoryRequest { id: secret.id.clone(), read: None }).await.unwrap().into_inner().versions;
    let rb = proto::RollbackRequest { id: secret.id.clone(), to_version: c[0].version, ..Default::default() };
    let rolled = planner.memory.rollback(rb).await.unwrap().into_inner().cube.unwrap();
    assert!(rolled.acl.is_none(), "rolled back to version 1's content under the current (no) ACL");
    assert_eq!(get(&mut alice, &secret.id).await, None);
}

#[tokio::test]
async fn a_live_subscription_ends_when_its_grant_or_token_is_revoked() {
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let (watcher_t, watcher_id) = token(&mut boot, "acme", "alice", "", Role::Reader, 0).await;
    let mut planner = client_as(&mut boot, &node.addr, "acme", "alice", "planner", Role::Writer).await;
    let mut coder = client_as(&mut boot, &node.addr, "acme", "alice", "coder", Role::Writer).await;
    let mut watcher = as_token(&node.addr, &watcher_t).await;
    let planners = scope3("acme", "alice", "planner");
    let grant = planner
        .admin
        .create_grant(proto::CreateGrantRequest {
            scope: Some(planners.clone()),
            grantee: Some(proto::Principal { tenant: "acme".into(), agent: "coder".into(), ..Default::default() }),
            access: proto::Access::Read as i32,
            ttl_seconds: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut coder_feed = subscribe(&mut coder, planners.clone()).await.unwrap();
    let mut watcher_feed = subscribe(&mut watcher, planners.clone()).await.unwrap();
    let first = put(&mut planner, planners.clone(), "step one", None).await.unwrap();
    assert_eq!(events_until(&mut coder_feed, first.revision).await.unwrap(), vec![first.id.clone()]);
    assert_eq!(events_until(&mut watcher_feed, first.revision).await.unwrap(), vec![first.id.clone()]);

    planner.admin.revoke_grant(proto::RevokeGrantRequest { id: grant.id }).await.unwrap();
    boot.admin.revoke_token(proto::RevokeTokenRequest { id: watcher_id }).await.unwrap();
    put(&mut planner, planners.clone(), "step two, after the revocations", None).await.unwrap();
    let e = events_until(&mut coder_feed, u64::MAX).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = events_until(&mut watcher_feed, u64::MAX).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
}
