//! Memory policies against real node processes: dedupe defaults resolved by precedence
//! (tenant < type < scope prefix; a write's own mode wins), consolidation scheduled by the
//! leader, bad policies refused by field, and only tenant admins setting them (audited).

use std::time::Duration;

use memmesh_client::Client;
use memmesh_tests::auth::*;
use memmesh_tests::proto::*;
use memmesh_tests::*;
use tonic::Code;

fn policy(name: &str, user: &str) -> Policy {
    Policy { name: name.into(), scope: Some(scope("acme", user)), ..Default::default() }
}

async fn set(c: &mut Client, p: Policy) -> Policy {
    c.admin.set_policy(SetPolicyRequest { policy: Some(p) }).await.unwrap().into_inner()
}

async fn put_outcome(c: &mut Client, user: &str, text: &str, memory_type: MemoryType, dedupe: DedupeMode) -> i32 {
    let mut cube = text_cube(scope("acme", user), text);
    cube.memory_type = memory_type as i32;
    let r = c.memory.put(PutRequest { cube: Some(cube), dedupe: dedupe as i32, ..Default::default() }).await.unwrap().into_inner();
    r.result.unwrap().outcome
}

const CREATED: i32 = PutOutcome::Created as i32;
const UNCHANGED: i32 = PutOutcome::Unchanged as i32;

#[tokio::test]
async fn policy_dedupe_defaults_follow_precedence_and_a_writes_own_mode_wins() {
    let node = TestNode::start();
    let mut c = node.client().await;
    set(&mut c, Policy { dedupe: DedupeMode::Exact as i32, ..policy("tenant-exact", "") }).await;
    set(&mut c, Policy { dedupe: DedupeMode::None as i32, memory_type: MemoryType::Preference as i32, ..policy("prefs-keep-all", "") }).await;
    set(&mut c, Policy { dedupe: DedupeMode::None as i32, ..policy("bob-keeps-all", "bob") }).await;
    set(&mut c, Policy { dedupe: DedupeMode::Exact as i32, memory_type: MemoryType::Preference as i32, ..policy("carol-prefs", "carol") }).await;

    let fact = MemoryType::Fact;
    let pref = MemoryType::Preference;
    let unset = DedupeMode::Unspecified;
    // Tenant default: EXACT.
    assert_eq!(put_outcome(&mut c, "alice", "Likes tea", fact, unset).await, CREATED);
    assert_eq!(put_outcome(&mut c, "alice", "likes tea.", fact, unset).await, UNCHANGED, "tenant policy");
    // A type policy beats the tenant's.
    assert_eq!(put_outcome(&mut c, "alice", "Prefers mornings", pref, unset).await, CREATED);
    assert_eq!(put_outcome(&mut c, "alice", "prefers mornings", pref, unset).await, CREATED, "type policy: NONE");
    // A scope prefix beats a type and the tenant.
    assert_eq!(put_outcome(&mut c, "bob", "Likes coffee", fact, unset).await, CREATED);
    assert_eq!(put_outcome(&mut c, "bob", "likes coffee", fact, unset).await, CREATED, "bob's policy: NONE");
    // Scope and type together beat scope alone.
    assert_eq!(put_outcome(&mut c, "carol", "Prefers tea", pref, unset).await, CREATED);
    assert_eq!(put_outcome(&mut c, "carol", "prefers tea", pref, unset).await, UNCHANGED, "carol's preference policy: EXACT");
    // The write's own mode always wins.
    assert_eq!(put_outcome(&mut c, "alice", "LIKES TEA", fact, DedupeMode::None).await, CREATED);
    assert_eq!(put_outcome(&mut c, "bob", "LIKES COFFEE", fact, DedupeMode::Exact).await, UNCHANGED);

    // Deleting the tenant policy restores the built-in default (NONE).
    c.admin.delete_policy(PolicyRef { tenant: "acme".into(), name: "tenant-exact".into() }).await.unwrap();
    assert_eq!(put_outcome(&mut c, "alice", "likes tea", fact, unset).await, CREATED);
    let listed = c.admin.list_policies(ListPoliciesRequest { tenant: "acme".into() }).await.unwrap().into_inner().policies;
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["bob-keeps-all", "carol-prefs", "prefs-keep-all"]);
    let gone = c.admin.get_policy(PolicyRef { tenant: "acme".into(), name: "tenant-exact".into() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn the_leader_consolidates_a_policys_scope_on_schedule() {
    let cl = TestCluster::start(3, &[]).await;
    let mut c = cl.client(0).await;
    let scope_carol = scope("acme", "carol");
    for n in 0..4 {
        for (k, text) in ["Dinner is at 8", "dinner is at 8.", "DINNER IS AT 8"].into_iter().enumerate() {
            let mut cube = text_cube(scope_carol.clone(), text);
            cube.tags = vec![format!("n{n}")];
            c.memory.put(PutRequest { cube: Some(cube), request_id: format!("{n}-{k}"), ..Default::default() }).await.unwrap();
        }
    }
    put_text(&mut c, scope("acme", "dave"), "Dinner is at 8").await;
    put_text(&mut c, scope("acme", "dave"), "dinner is at 8").await;
    let p = Policy { consolidate_every_seconds: 1, consolidate_mode: DedupeMode::Exact as i32, ..policy("carol-sweep", "carol") };
    let set_p = set(&mut c, p).await;
    assert!(set_p.updated_at_ms > 0);

    let active = |c: &mut Client, user: &str| {
        let mut c = c.clone();
        let s = scope("acme", user);
        async move { list_all(&mut c, ListRequest { scope: Some(s), ..Default::default() }).await }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = active(&mut c, "carol").await;
        if now.len() == 1 {
            let tags: Vec<&str> = now[0].tags.iter().map(String::as_str).collect();
            assert_eq!(tags, vec!["n0", "n1", "n2", "n3"], "merged into one cube carrying every copy's tags");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not consolidated within 20 s: {} active", now.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(active(&mut c, "dave").await.len(), 2, "outside the policy's scope nothing is merged");
    let got = c.admin.get_policy(PolicyRef { tenant: "acme".into(), name: "carol-sweep".into() }).await.unwrap().into_inner();
    assert!(got.last_consolidated_at_ms > 0, "the run is recorded in the replicated state");
    let audit = c.admin.list_audit(ListAuditRequest { tenant: "acme".into(), limit: 1000, ..Default::default() }).await.unwrap().into_inner();
    assert!(
        audit.entries.iter().any(|e| e.operation == "consolidate" && e.actor.contains("policy carol-sweep")),
        "the audit log names the policy as the actor"
    );
    // Every replica agrees.
    let mine = list_all(&mut c, ListRequest { scope: Some(scope_carol.clone()), states: vec![1, 2], ..Default::default() }).await;
    for i in 1..3 {
        let mut ci = cl.client(i).await;
        let theirs = list_all(&mut ci, ListRequest { scope: Some(scope_carol.clone()), states: vec![1, 2], ..Default::default() }).await;
        assert_eq!(theirs, mine, "node {i}");
    }
}

#[tokio::test]
async fn only_tenant_admins_set_policies_and_bad_ones_are_refused_by_field() {
    let node = TestNode::start_with_env(&auth_env());
    let mut boot = as_token(&node.addr, BOOT).await;
    let mut admin = client_as(&mut boot, &node.addr, "acme", "", "", Role::Admin).await;
    let mut writer = client_as(&mut boot, &node.addr, "acme", "alice", "", Role::Writer).await;
    let mut foreign = client_as(&mut boot, &node.addr, "globex", "", "", Role::Admin).await;

    let p = Policy { dedupe: DedupeMode::Exact as i32, ..policy("p", "alice") };
    assert_eq!(code(writer.admin.set_policy(SetPolicyRequest { policy: Some(p.clone()) }).await), Some(Code::PermissionDenied));
    assert_eq!(code(foreign.admin.set_policy(SetPolicyRequest { policy: Some(p.clone()) }).await), Some(Code::PermissionDenied));
    assert_eq!(code(writer.admin.list_policies(ListPoliciesRequest { tenant: "acme".into() }).await), Some(Code::PermissionDenied));
    set(&mut admin, p).await;
    let audit = admin.admin.list_audit(ListAuditRequest { tenant: "acme".into(), limit: 1000, ..Default::default() }).await.unwrap().into_inner();
    assert!(audit.entries.iter().any(|e| e.outcome.contains("PERMISSION_DENIED") && e.actor.contains("alice")), "the refusal is audited");
    assert!(audit.entries.iter().any(|e| e.operation == "set-policy"));

    for (bad, field) in [
        (Policy { name: "has space".into(), ..policy("", "") }, "policy.name"),
        (Policy { scope: None, ..policy("x", "") }, "policy.scope"),
        (Policy { memory_type: 77, ..policy("x", "") }, "policy.memory_type"),
        (Policy { dedupe: 9, ..policy("x", "") }, "policy.dedupe"),
        (Policy { dedupe: DedupeMode::Semantic as i32, dedupe_threshold: -0.5, ..policy("x", "") }, "policy.dedupe_threshold"),
        (Policy { consolidate_every_seconds: 60, ..policy("x", "") }, "policy.consolidate_mode"),
        (Policy { consolidate_every_seconds: 100 * 365 * 86400, consolidate_mode: 2, ..policy("x", "") }, "policy.consolidate_every_seconds"),
    ] {
        let s = admin.admin.set_policy(SetPolicyRequest { policy: Some(bad) }).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{field}: {s:?}");
        assert!(s.message().contains(field), "{field}: {s:?}");
    }
    let names: Vec<String> = admin
        .admin
        .list_policies(ListPoliciesRequest { tenant: "acme".into() })
        .await
        .unwrap()
        .into_inner()
        .policies
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["p".to_string()], "no bad policy was stored");
    let missing = admin.admin.delete_policy(PolicyRef { tenant: "acme".into(), name: "nope".into() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}
