//! Export and import (MemDumper / MemLoader) between real nodes through the `memmesh` CLI:
//! a tenant with histories, deletes, ACLs, links, vectors and policies survives export → import
//! into a fresh cluster → export unchanged; re-importing writes nothing; a point-in-time export
//! holds the state at its revision; only tenant admins export and import; Mem0 and Letta
//! exports arrive with their times and scopes.

use std::path::Path;

use memmesh_client::transfer::{Reader, Record};
use memmesh_client::Client;
use memmesh_tests::auth::*;
use memmesh_tests::proto::*;
use memmesh_tests::*;
use serde_json::Value;
use tonic::Code;

/// Runs the CLI with `--json` as `token`; (success, the JSON value printed).
fn memmesh(addr: &str, token: &str, args: &[&str]) -> (bool, Value) {
    memmesh_json(addr, Some(token), args)
}

/// Every record of an export file but its header (which names the source's revision and time).
fn body(path: &Path) -> Vec<Record> {
    let mut r = Reader::new(memmesh_client::transfer::open(path, |_| {}).unwrap());
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        if !matches!(rec, Record::Header(_)) {
            out.push(rec);
        }
    }
    out
}

async fn update_text(c: &mut Client, id: &str, text: &str) -> MemCube {
    let req = UpdateRequest { id: id.into(), content: Some(Content { text: text.into(), ..Default::default() }), ..Default::default() };
    c.memory.update(req).await.unwrap().into_inner().cube.unwrap()
}

async fn history(c: &mut Client, id: &str) -> Vec<MemCube> {
    c.memory.history(HistoryRequest { id: id.into(), ..Default::default() }).await.unwrap().into_inner().versions
}

/// Writes a tenant with every kind of state an export must carry; returns the ids of
/// (an updated cube, a deleted cube, a cube with an ACL).
async fn populate(c: &mut Client) -> (String, String, String) {
    let mut ids = Vec::new();
    for (user, text) in [("alice", "Alice prefers window seats"), ("alice", "Alice is allergic to nuts"), ("bob", "Bob runs on Tuesdays")] {
        ids.push(put_text(c, scope("acme", user), text).await.id);
    }
    let updated = ids[0].clone();
    update_text(c, &updated, "Alice prefers aisle seats now").await;
    update_text(c, &updated, "Alice prefers aisle seats on long flights").await;
    c.memory.delete(DeleteRequest { id: ids[1].clone(), ..Default::default() }).await.unwrap();
    let mut shared = text_cube(scope("acme", "alice"), "Alice's travel budget is 2000 EUR");
    shared.acl = Some(Acl { readers: vec![AclEntry { user: "bob".into(), agent: String::new() }], ..Default::default() });
    let shared = try_put(c, shared, "").await.unwrap().cube.unwrap().id;
    let link = LinkRequest {
        source_id: shared.clone(),
        link: Some(Link { r#type: LinkType::RelatesTo as i32, target_id: updated.clone() }),
        ..Default::default()
    };
    c.memory.link(link).await.unwrap();
    let policy = Policy { name: "keep-exact".into(), scope: Some(scope("acme", "")), dedupe: DedupeMode::Exact as i32, ..Default::default() };
    c.admin.set_policy(SetPolicyRequest { policy: Some(policy) }).await.unwrap();
    // Another tenant: never part of acme's export.
    put_text(c, scope("globex", "zed"), "Zed's memory stays home").await;
    (updated, ids[1].clone(), shared)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_import_export_round_trips_a_tenant_exactly_and_reimporting_writes_nothing() {
    let a = TestNode::start_with_env(&auth_env());
    let b = TestNode::start_with_env(&auth_env());
    let mut ca = as_token(&a.addr, BOOT).await;
    let (updated, deleted, shared) = populate(&mut ca).await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("acme.jsonl.gz");
    let again = dir.path().join("acme-again.jsonl");

    let (ok, out) = memmesh(&a.addr, BOOT, &["export", "--tenant", "acme", "--history", "--out", first.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!((out["cubes"].as_u64(), out["policies"].as_u64()), (Some(4), Some(1)), "{out}");
    assert!(!dir.path().join("acme.jsonl.gz.part").exists());
    assert_eq!(std::fs::read(&first).unwrap()[..2], [0x1f, 0x8b], "a .gz name is compressed");

    let (ok, out) = memmesh(&b.addr, BOOT, &["import", first.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!((out["imported"].as_u64(), out["existing"].as_u64(), out["policies"].as_u64()), (Some(4), Some(0), Some(1)), "{out}");
    let (ok, out) = memmesh(&b.addr, BOOT, &["import", first.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(
        (out["imported"].as_u64(), out["existing"].as_u64(), out["policies"].as_u64()),
        (Some(0), Some(4), Some(0)),
        "a re-run writes nothing: {out}"
    );

    let (ok, out) = memmesh(&b.addr, BOOT, &["export", "--tenant", "acme", "--history", "--out", again.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (before, after) = (body(&first), body(&again));
    assert_eq!(before.len(), 6, "a policy, four cubes, the end");
    for (i, (x, y)) in before.iter().zip(&after).enumerate() {
        if x != y {
            let (x, y) = (format!("{x:?}"), format!("{y:?}"));
            let at = x.bytes().zip(y.bytes()).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "record {i} changed: {:?} became {:?}",
                &x[at.saturating_sub(200)..(at + 80).min(x.len())],
                &y[at.saturating_sub(200)..(at + 80).min(y.len())]
            );
        }
    }
    assert_eq!(before.len(), after.len());

    // The imported cubes are live data on B: same versions and history, readable, searchable,
    // their ACL enforced, the deleted one still deleted.
    let mut cb = as_token(&b.addr, BOOT).await;
    let (ha, hb) = (history(&mut ca, &updated).await, history(&mut cb, &updated).await);
    assert_eq!(hb.len(), 3);
    let strip = |h: Vec<MemCube>| h.into_iter().map(|c| MemCube { revision: 0, ..c }).collect::<Vec<_>>();
    assert_eq!(strip(ha), strip(hb));
    let got = cb.memory.get(GetRequest { id: deleted.clone(), ..Default::default() }).await.unwrap().into_inner().cube.unwrap();
    assert_eq!(got.state, CubeState::Deleted as i32);
    let hits = cb
        .memory
        .search(SearchRequest { scopes: vec![scope("acme", "alice")], query: "aisle seats".into(), k: 3, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(hits.first().and_then(|h| h.cube.as_ref()).map(|c| c.id.as_str()), Some(updated.as_str()), "{hits:?}");
    let mut bob = client_as(&mut cb, &b.addr, "acme", "bob", "", Role::Writer).await;
    assert!(bob.memory.get(GetRequest { id: shared.clone(), ..Default::default() }).await.is_ok(), "the ACL names bob");
    let mut carol = client_as(&mut cb, &b.addr, "acme", "carol", "", Role::Writer).await;
    let hidden = carol.memory.get(GetRequest { id: updated.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let policy = cb.admin.get_policy(PolicyRef { tenant: "acme".into(), name: "keep-exact".into() }).await.unwrap().into_inner();
    assert_eq!(policy.dedupe, DedupeMode::Exact as i32);
    // Nothing of the other tenant travelled.
    assert!(!std::fs::read_to_string(&again).unwrap().contains("globex"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_as_of_a_revision_holds_the_state_at_that_revision() {
    let a = TestNode::start_with_env(&auth_env());
    let mut c = as_token(&a.addr, BOOT).await;
    let (updated, _, _) = populate(&mut c).await;
    let at = applied(&mut c).await;
    update_text(&mut c, &updated, "Alice now flies business").await;
    let later = put_text(&mut c, scope("acme", "alice"), "written after the revision").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("asof.jsonl");
    let (ok, out) = memmesh(&a.addr, BOOT, &["export", "--tenant", "acme", "--as-of-revision", &at.to_string(), "--out", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(out["revision"].as_u64(), Some(at));
    let cubes: Vec<MemCube> = body(&file).into_iter().filter_map(|r| if let Record::Cube(e) = r { e.cube } else { None }).collect();
    assert_eq!(cubes.len(), 4, "the cube written later is not in it");
    assert!(cubes.iter().all(|c| c.id != later.id));
    let u = cubes.iter().find(|c| c.id == updated).unwrap();
    assert_eq!((text_of(u), u.version), ("Alice prefers aisle seats on long flights", 3));
    assert!(!body(&file).iter().any(|r| matches!(r, Record::Policy(_))), "policies keep no history");

    let (ok, out) = memmesh(&a.addr, BOOT, &["export", "--tenant", "acme", "--as-of-revision", "999999999", "--out", file.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(out["error"]["code"], "INVALID_ARGUMENT");
    assert!(out["error"]["message"].as_str().unwrap().contains("as_of_revision"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_tenant_admins_export_and_import_bad_cubes_are_refused_whole_and_writers_import_as_new() {
    let a = TestNode::start_with_env(&auth_env());
    let b = TestNode::start_with_env(&auth_env());
    let mut ca = as_token(&a.addr, BOOT).await;
    populate(&mut ca).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acme.jsonl");
    assert!(memmesh(&a.addr, BOOT, &["export", "--tenant", "acme", "--out", file.to_str().unwrap()]).0);

    let mut cb = as_token(&b.addr, BOOT).await;
    let (writer, _) = token(&mut cb, "acme", "alice", "", Role::Writer, 0).await;
    let (writer_a, _) = token(&mut ca, "acme", "alice", "", Role::Writer, 0).await;
    let (ok, out) = memmesh(&a.addr, &writer_a, &["export", "--tenant", "acme", "--out", file.with_extension("x").to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(out["error"]["code"], "PERMISSION_DENIED", "{out}");
    let (ok, out) = memmesh(&b.addr, &writer, &["import", file.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(out["error"]["code"], "PERMISSION_DENIED", "{out}");

    // A batch holding one cube of another tenant is refused whole, naming the field.
    let mut cubes: Vec<ExportedCube> = body(&file).into_iter().filter_map(|r| if let Record::Cube(e) = r { Some(e) } else { None }).collect();
    cubes[1].cube.as_mut().unwrap().scope.as_mut().unwrap().tenant = "globex".into();
    let s = cb.admin.import(ImportRequest { tenant: "acme".into(), cubes: cubes.clone(), policies: vec![] }).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().contains("cubes[1].cube.scope.tenant"), "{s:?}");
    let first = cubes[0].cube.as_ref().unwrap().id.clone();
    let missing = cb.memory.get(GetRequest { id: first, ..Default::default() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "nothing of the refused batch was written");

    // A writer imports its own scope's live cubes as new ones; a re-run is answered from the
    // idempotency record.
    let alice_only = dir.path().join("alice.jsonl");
    assert!(memmesh(&a.addr, BOOT, &["export", "--tenant", "acme", "--user", "alice", "--out", alice_only.to_str().unwrap()]).0);
    let (ok, out) = memmesh(&b.addr, &writer, &["import", "--as-new", alice_only.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!((out["imported"].as_u64(), out["not_live"].as_u64()), (Some(2), Some(1)), "two live cubes, one deleted: {out}");
    let (ok, out) = memmesh(&b.addr, &writer, &["import", "--as-new", alice_only.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!((out["imported"].as_u64(), out["existing"].as_u64()), (Some(0), Some(2)), "{out}");
    let listed = list_all(&mut cb, ListRequest { scope: Some(scope("acme", "alice")), ..Default::default() }).await;
    assert_eq!(listed.len(), 2);

    // --tenant moves a file's cubes into another tenant (here with their original ids, which B
    // does not hold: its copies above got new ones).
    let (ok, out) = memmesh(&b.addr, BOOT, &["import", "--tenant", "initech", alice_only.to_str().unwrap()]);
    assert!(ok && out["imported"].as_u64() == Some(3), "{out}");
    let moved = list_all(&mut cb, ListRequest { scope: Some(scope("initech", "alice")), states: vec![], ..Default::default() }).await;
    assert!(moved.iter().all(|c| c.scope.as_ref().unwrap().tenant == "initech") && !moved.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mem0_and_letta_exports_arrive_with_their_scopes_and_times_once() {
    let a = TestNode::start_with_env(&auth_env());
    let mut c = as_token(&a.addr, BOOT).await;
    let data = repo_root().join("tests/data/import");
    let mem0 = data.join("mem0_get_all.json");
    let (ok, out) = memmesh(&a.addr, BOOT, &["import", "--from", "mem0", "--tenant", "acme", mem0.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!((out["imported"].as_u64(), out["skipped_empty"].as_u64()), (Some(2), Some(1)), "{out}");
    let (ok, out) = memmesh(&a.addr, BOOT, &["import", "--from", "mem0", "--tenant", "acme", mem0.to_str().unwrap()]);
    assert!(ok && out["imported"].as_u64() == Some(0) && out["existing"].as_u64() == Some(2), "{out}");
    let alex = list_all(&mut c, ListRequest { scope: Some(scope("acme", "alex")), ..Default::default() }).await;
    assert_eq!(alex.len(), 2);
    let veg = alex.iter().find(|c| text_of(c).contains("vegetarian")).unwrap();
    assert_eq!(veg.created_at_ms, 1_721_977_020_108, "Mem0's created_at is kept");
    assert_eq!(veg.source, Source::Import as i32);

    let letta = data.join("letta_agent.af");
    let (ok, out) = memmesh(&a.addr, BOOT, &["import", "--from", "letta", "--tenant", "acme", "--user", "dana", letta.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!((out["imported"].as_u64(), out["skipped_messages"].as_u64()), (Some(5), Some(2)), "{out}");
    let hits = c
        .memory
        .search(SearchRequest { scopes: vec![scope("acme", "dana")], query: "damaged order".into(), k: 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .hits;
    let hit = hits[0].cube.as_ref().unwrap();
    assert_eq!(hit.scope.as_ref().unwrap().agent, "support_bot");
    assert_eq!(hit.memory_type, MemoryType::Episode as i32);
    let (ok, out) = memmesh(&a.addr, BOOT, &["import", "--from", "letta", "--tenant", "acme", letta.to_str().unwrap()]);
    assert!(!ok, "a Letta file needs --user: {out}");
}
