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

/// Waits (up to 15 s) for `done` to hold, polling every 100 ms.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(std::time::Instant::now() < until, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn history_len(c: &mut Client, id: &str) -> usize {
    match c.memory.history(HistoryRequest { id: id.into(), ..Default::default() }).await {
        Ok(r) => r.into_inner().versions.len(),
        Err(s) if s.code() == Code::NotFound => 0,
        Err(s) => panic!("{s:?}"),
    }
}

#[tokio::test]
async fn retention_policies_purge_after_their_grace_free_quota_and_stop_at_a_legal_hold() {
    let node = TestNode::start_with_env(&[("MEMMESH__QUOTAS__TENANTS__ACME__MAX_CUBES", "4")]);
    let mut c = node.client().await;
    // Written before any policy: the default TTL must reach it later, from the leader.
    let old = put_text(&mut c, scope("acme", "ttl"), "written before the policy").await;
    assert_eq!(old.expires_at_ms, 0);
    let doomed = put_text(&mut c, scope("acme", "u"), "delete me").await;
    let mut held = text_cube(scope("acme", "held"), "evidence");
    held.ttl_seconds = 1;
    let held = try_put(&mut c, held, "").await.unwrap().cube.unwrap();
    put_text(&mut c, scope("acme", "u"), "one too many").await;
    let over = try_put(&mut c, text_cube(scope("acme", "u"), "over quota"), "").await;
    assert_eq!(over.unwrap_err().code(), Code::ResourceExhausted, "4 cubes is the quota");

    set(&mut c, Policy { purge_deleted_after_seconds: 1, purge_expired_after_seconds: 1, ..policy("retention", "") }).await;
    set(&mut c, Policy { hold: true, ..policy("litigation", "held") }).await;
    set(&mut c, Policy { default_ttl_seconds: 1, ..policy("short-lived", "ttl") }).await;
    c.memory.delete(DeleteRequest { id: doomed.id.clone(), ..Default::default() }).await.unwrap();
    c.memory.delete(DeleteRequest { id: held.id.clone(), ..Default::default() }).await.unwrap();
    let refused = c.memory.purge(PurgeRequest { target: Some(purge_request::Target::Id(held.id.clone())), ..Default::default() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("legal hold"), "{refused:?}");

    // Deleted 1 s ago → purged: content and history gone.
    eventually("the deleted cube purged", || {
        let mut c = c.clone();
        let id = doomed.id.clone();
        async move { history_len(&mut c, &id).await == 0 }
    })
    .await;
    // Quota released: the write refused before now fits.
    try_put(&mut c, text_cube(scope("acme", "u"), "fits again"), "").await.expect("quota usage released by the purge");
    // The pre-existing cube got the default TTL (from its creation, so already past), expired,
    // and was purged one second later.
    eventually("the pre-existing cube expired and purged", || {
        let mut c = c.clone();
        let id = old.id.clone();
        async move { history_len(&mut c, &id).await == 0 }
    })
    .await;
    // A new cube in that scope gets the default TTL at once.
    let fresh = put_text(&mut c, scope("acme", "ttl"), "written after the policy").await;
    assert_eq!(fresh.ttl_seconds, 1);
    assert_eq!(fresh.expires_at_ms, fresh.created_at_ms + 1000);

    // The held cube: deleted long past its grace, and never purged; lifting the hold lets it go.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(history_len(&mut c, &held.id).await, 2, "created and deleted, nothing more");
    let p = c.admin.get_policy(PolicyRef { tenant: "acme".into(), name: "litigation".into() }).await.unwrap().into_inner();
    set(&mut c, Policy { hold: false, ..p }).await;
    eventually("the held cube purged once the hold is lifted", || {
        let mut c = c.clone();
        let id = held.id.clone();
        async move { history_len(&mut c, &id).await == 0 }
    })
    .await;

    // Every lifecycle change is audited with the lifecycle and its policy as the actor.
    let audit = c.admin.list_audit(ListAuditRequest { tenant: "acme".into(), limit: 1000, ..Default::default() }).await.unwrap().into_inner();
    let reclaims: Vec<&AuditEntry> = audit.entries.iter().filter(|e| e.operation == "reclaim").collect();
    assert!(!reclaims.is_empty() && reclaims.iter().all(|e| e.actor.contains("policy retention")), "{reclaims:?}");
    assert!(audit.entries.iter().any(|e| e.operation == "default-ttl" && e.actor.contains("policy short-lived")));

    for (bad, field) in [
        (Policy { default_ttl_seconds: -1, ..policy("x", "") }, "policy.default_ttl_seconds"),
        (Policy { purge_deleted_after_seconds: -60, ..policy("x", "") }, "policy.purge_deleted_after_seconds"),
        (Policy { purge_expired_after_seconds: i64::MAX, ..policy("x", "") }, "policy.purge_expired_after_seconds"),
        (Policy { hold: true, memory_type: 42, ..policy("x", "") }, "policy.memory_type"),
    ] {
        let s = c.admin.set_policy(SetPolicyRequest { policy: Some(bad) }).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{field}: {s:?}");
        assert!(s.message().contains(field), "{field}: {s:?}");
    }
}

#[tokio::test]
async fn tiering_archives_idle_cubes_a_read_reactivates_them_and_search_may_rank_by_strength() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let strong_input = CubeInput { importance: 1.0, ..text_cube(scope("acme", "u"), "a red kite nests in the old oak by the river, they say") };
    let strong = try_put(&mut c, strong_input, "").await.unwrap().cube.unwrap();
    let weak = put_text(&mut c, scope("acme", "u"), "red kite nests: red kite").await;
    let search = |w: f32| SearchRequest {
        scope: Some(scope("acme", "u")),
        query: "red kite nests".into(),
        mode: SearchMode::Lexical as i32,
        strength_weight: w,
        ..Default::default()
    };
    let plain = c.memory.search(search(0.0)).await.unwrap().into_inner().hits;
    assert!(plain.iter().all(|h| h.strength.is_none()), "off by default");
    assert_eq!(plain[0].cube.as_ref().unwrap().id, weak.id, "by relevance alone, the short repetitive text wins");
    let ranked = c.memory.search(search(0.9)).await.unwrap().into_inner().hits;
    assert_eq!(ranked[0].cube.as_ref().unwrap().id, strong.id, "importance 1 vs 0 decides at weight 0.9");
    let (s0, s1) = (ranked[0].strength.unwrap(), ranked[1].strength.unwrap());
    assert!((s0 - 0.5).abs() < 0.01 && (s1 - 0.25).abs() < 0.01, "fresh, never read: (0.5 + 0.5·importance) · 0.5 = {s0}, {s1}");
    let bad = c.memory.search(search(1.5)).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("strength_weight"));

    // Idle for a second → archived by the leader; a read with record_access brings it back.
    set(&mut c, Policy { archive_after_idle_seconds: 1, reactivate_on_access: true, ..policy("tiers", "u") }).await;
    let get = |id: &str, record_access: bool| GetRequest { id: id.into(), record_access, ..Default::default() };
    eventually("both cubes archived", || {
        let mut c = c.clone();
        let ids = [strong.id.clone(), weak.id.clone()];
        async move {
            let mut all = true;
            for id in ids {
                all &= c.memory.get(get(&id, false)).await.unwrap().into_inner().cube.unwrap().state == CubeState::Archived as i32;
            }
            all
        }
    })
    .await;
    c.memory.get(get(&weak.id, true)).await.unwrap();
    let now = c.memory.get(get(&weak.id, false)).await.unwrap().into_inner().cube.unwrap();
    assert_eq!(now.state, CubeState::Active as i32, "reactivated by the read");
    let audit = c.admin.list_audit(ListAuditRequest { tenant: "acme".into(), limit: 1000, ..Default::default() }).await.unwrap().into_inner();
    assert!(audit.entries.iter().any(|e| e.operation == "archive" && e.actor.contains("lifecycle (tiering, policy tiers")), "audited");
    for (bad, field) in [
        (Policy { archive_after_idle_seconds: -3, ..policy("x", "") }, "policy.archive_after_idle_seconds"),
        (Policy { archive_below_strength: 1.0, ..policy("x", "") }, "policy.archive_below_strength"),
    ] {
        let s = c.admin.set_policy(SetPolicyRequest { policy: Some(bad) }).await.unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument, "{field}: {s:?}");
        assert!(s.message().contains(field), "{field}: {s:?}");
    }
}

#[tokio::test]
async fn a_working_set_cap_archives_the_weakest_beyond_it_and_spares_pinned_cubes() {
    let node = TestNode::start();
    let mut c = node.client().await;
    let mut ids = Vec::new();
    for (i, importance) in [0.9f32, 0.1, 0.5, 0.0, 0.7].into_iter().enumerate() {
        let cube = CubeInput { importance, pinned: i == 3, ..text_cube(scope("acme", "cap"), &format!("memory {i}")) };
        ids.push(try_put(&mut c, cube, "").await.unwrap().cube.unwrap().id);
    }
    set(&mut c, Policy { max_active_per_scope: Some(3), ..policy("working-set", "cap") }).await;
    let active = |c: Client| async move {
        let mut c = c;
        let cubes = list_all(&mut c, ListRequest { scope: Some(scope("acme", "cap")), ..Default::default() }).await;
        let mut ids: Vec<String> = cubes.into_iter().map(|c| c.id).collect();
        ids.sort();
        ids
    };
    eventually("the scope down to its cap", || {
        let c = c.clone();
        async move { active(c).await.len() == 3 }
    })
    .await;
    // Weakest first: importance 0.1 (ids[1]) and 0.5 (ids[2]); the pinned 0.0 stays.
    let mut want = vec![ids[0].clone(), ids[3].clone(), ids[4].clone()];
    want.sort();
    assert_eq!(active(c.clone()).await, want);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(active(c.clone()).await.len(), 3, "nothing more archived once at the cap");
    let bad = c.admin.set_policy(SetPolicyRequest { policy: Some(Policy { max_active_per_scope: Some(0), ..policy("x", "") }) }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("policy.max_active_per_scope"), "{bad:?}");
}
