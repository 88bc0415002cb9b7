//! The `memmesh` CLI: `--json` prints one JSON value per command, which scripts rely on.

use std::process::Command;

use memmesh_tests::*;
use serde_json::Value;

fn memmesh(addr: &str, args: &[&str]) -> (bool, Value) {
    let out = Command::new(bin("memmesh")).arg("--addr").arg(addr).arg("--json").args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one JSON line, got {stdout:?} (stderr {:?})", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), serde_json::from_str(lines[0]).unwrap())
}

#[test]
fn cli_put_get_update_history_round_trip_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("n1"));
    let a = node.addr.as_str();
    let (ok, put) = memmesh(
        a,
        &[
            "put",
            "--tenant",
            "acme",
            "--user",
            "alice",
            "--agent",
            "planner",
            "--type",
            "preference",
            "--text",
            "prefers window seats",
            "--tag",
            "travel",
            "--attr",
            "k=v",
        ],
    );
    assert!(ok, "{put}");
    let id = put["id"].as_str().unwrap().to_string();
    assert_eq!(put["version"], 1);
    assert!(put["revision"].as_u64().unwrap() > 0);
    assert_eq!(put["memory_type"], "PREFERENCE");

    let (ok, got) = memmesh(a, &["get", &id]);
    assert!(ok);
    assert_eq!(got["content"]["text"], "prefers window seats");
    assert_eq!(got["scope"]["agent"], "planner");
    assert_eq!(got["tags"][0], "travel");
    assert_eq!(got["attributes"]["k"], "v");

    let (ok, up) = memmesh(a, &["update", &id, "--text", "prefers aisle seats", "--expected-version", "1"]);
    assert!(ok, "{up}");
    assert_eq!(up["version"], 2);
    let (ok, conflict) = memmesh(a, &["update", &id, "--text", "x", "--expected-version", "1"]);
    assert!(!ok);
    assert_eq!(conflict["error"]["code"], "ABORTED");

    let (_, hist) = memmesh(a, &["history", &id]);
    assert_eq!(hist.as_array().unwrap().len(), 2);
    let (_, list) = memmesh(a, &["list", "--tenant", "acme", "--all"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (ok, status) = memmesh(a, &["status"]);
    assert!(ok);
    assert_eq!(status["role"], "leader");
    assert_eq!(status["node_id"].as_u64().unwrap(), node.node_id);
    assert_eq!(status["members"].as_array().unwrap().len(), 1);

    let (ok, missing) = memmesh(a, &["get", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert!(!ok);
    assert_eq!(missing["error"]["code"], "NOT_FOUND");
}

#[test]
fn cli_search_with_filters_prints_hits_with_both_scores() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), EMBEDDING_ON);
    let a = node.addr.as_str();
    let put = |text: &str, extra: &[&str]| {
        let mut args = vec!["put", "--tenant", "acme", "--user", "alice", "--text", text];
        args.extend_from_slice(extra);
        let (ok, v) = memmesh(a, &args);
        assert!(ok, "{v}");
        assert_eq!(v["embedding"]["dims"], 384, "{v}");
        v["id"].as_str().unwrap().to_string()
    };
    let seats = put("prefers window seats on long flights", &["--type", "preference", "--tag", "travel", "--attr", "channel=chat"]);
    let food = put("is vegetarian and avoids mushrooms", &["--type", "preference", "--tag", "food"]);
    put("booked a flight to Lisbon for May", &["--type", "episode", "--tag", "travel"]);
    memmesh(a, &["put", "--tenant", "acme", "--user", "bob", "--text", "prefers window seats too"]);

    let (ok, r) = memmesh(a, &["search", "--tenant", "acme", "--user", "alice", "--query", "where does she like to sit on a plane", "-k", "2"]);
    assert!(ok, "{r}");
    let hits = r["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["id"], seats.as_str());
    assert!(hits[0]["dense_score"].is_number() && hits[0]["score"].is_number());
    assert!(r["model"].as_str().unwrap().starts_with("all-minilm-l6-v2@"));
    assert!(hits.iter().all(|h| h["scope"]["user"] == "alice"), "bob's cube never appears in alice's search");

    // Filters: type, tag and attribute narrow inside the search.
    let (_, r) = memmesh(a, &["search", "--tenant", "acme", "--user", "alice", "--query", "travel food", "--type", "preference", "--tag", "food"]);
    let ids: Vec<&str> = r["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![food.as_str()]);
    let (_, r) = memmesh(a, &["search", "--tenant", "acme", "--query", "seats flight", "--mode", "lexical", "--attr", "channel=chat"]);
    let ids: Vec<&str> = r["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![seats.as_str()]);
    let (ok, e) = memmesh(a, &["search", "--tenant", "", "--query", "x"]);
    assert!(!ok);
    assert_eq!(e["error"]["code"], "INVALID_ARGUMENT");
}

#[test]
fn cli_tokens_and_grants_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("MEMMESH__AUTH__ENABLED", "true"), ("MEMMESH__AUTH__BOOTSTRAP_TOKEN", "boot-cli")];
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &env);
    let a = node.addr.as_str();
    let (ok, e) = memmesh(a, &["list", "--tenant", "acme"]);
    assert!(!ok);
    assert_eq!(e["error"]["code"], "UNAUTHENTICATED");
    let (ok, t) = memmesh(a, &["--token", "boot-cli", "auth", "create-token", "--tenant", "acme", "--user", "alice", "--expires", "1d"]);
    assert!(ok, "{t}");
    let alice = t["token"].as_str().unwrap().to_string();
    assert!(alice.starts_with("mmt_"));
    assert_eq!(t["info"]["principal"]["user"], "alice");
    assert!(t["info"]["expires_at_ms"].as_i64().unwrap() > 0);
    let (ok, who) = memmesh(a, &["--token", &alice, "auth", "whoami"]);
    assert!(ok);
    assert_eq!((who["tenant"].as_str(), who["user"].as_str(), who["role"].as_str()), (Some("acme"), Some("alice"), Some("WRITER")));
    let (ok, _) = memmesh(a, &["--token", &alice, "put", "--tenant", "acme", "--user", "alice", "--text", "mine"]);
    assert!(ok);
    let (ok, e) = memmesh(a, &["--token", &alice, "put", "--tenant", "acme", "--user", "bob", "--text", "not mine"]);
    assert!(!ok);
    assert_eq!(e["error"]["code"], "PERMISSION_DENIED");
    let (ok, g) = memmesh(a, &["--token", &alice, "grant", "create", "--tenant", "acme", "--user", "alice", "--to-user", "bob"]);
    assert!(ok, "{g}");
    assert_eq!(g["access"], "READ");
    let (_, list) = memmesh(a, &["--token", &alice, "grant", "list", "--tenant", "acme"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (ok, _) = memmesh(a, &["--token", &alice, "grant", "revoke", g["id"].as_str().unwrap()]);
    assert!(ok);
    // A per-cube ACL from the command line: shared with bob, then unshared.
    let (ok, t) = memmesh(a, &["--token", "boot-cli", "auth", "create-token", "--tenant", "acme", "--user", "bob"]);
    assert!(ok);
    let bob = t["token"].as_str().unwrap().to_string();
    let (ok, c) = memmesh(
        a,
        &["--token", &alice, "put", "--tenant", "acme", "--user", "alice", "--text", "for bob", "--reader", "bob", "--writer", "/planner"],
    );
    assert!(ok, "{c}");
    assert_eq!(c["acl"]["readers"][0]["user"], "bob");
    assert_eq!(c["acl"]["writers"][0]["agent"], "planner");
    let id = c["id"].as_str().unwrap().to_string();
    let (ok, got) = memmesh(a, &["--token", &bob, "get", &id]);
    assert!(ok, "{got}");
    let (ok, _) = memmesh(a, &["--token", &alice, "update", &id, "--clear-acl"]);
    assert!(ok);
    let (ok, e) = memmesh(a, &["--token", &bob, "get", &id]);
    assert!(!ok);
    assert_eq!(e["error"]["code"], "NOT_FOUND");
    // A malformed entry is a usage error, before anything is sent.
    let out = Command::new(bin("memmesh")).args(["--addr", a, "put", "--tenant", "acme", "--text", "x", "--reader", "bob/"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("USER/AGENT"), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, tokens) = memmesh(a, &["--token", "boot-cli", "auth", "list", "--tenant", "acme"]);
    let alices = tokens.as_array().unwrap().iter().find(|t| t["principal"]["user"] == "alice").unwrap();
    let id = alices["id"].as_str().unwrap().to_string();
    memmesh(a, &["--token", "boot-cli", "auth", "revoke", &id]);
    let (ok, e) = memmesh(a, &["--token", &alice, "auth", "whoami"]);
    assert!(!ok);
    assert_eq!(e["error"]["code"], "UNAUTHENTICATED");
}

#[test]
fn cli_slots_links_consolidate_and_policies_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&dir.path().join("n1"));
    let a = node.addr.as_str();
    let put = |text: &str, extra: &[&str]| {
        let mut args = vec!["put", "--tenant", "acme", "--user", "dana", "--text", text];
        args.extend_from_slice(extra);
        let (ok, v) = memmesh(a, &args);
        assert!(ok, "{v}");
        v
    };
    let paris = put("Dana lives in Paris", &["--slot", "user.home_city"]);
    let lisbon = put("Dana moved to Lisbon", &["--slot", "user.home_city"]);
    assert_eq!(lisbon["outcome"], "CREATED");
    assert_eq!(lisbon["superseded_ids"][0], paris["id"]);
    assert_eq!(lisbon["links"][0]["type"], "SUPERSEDES");
    let (_, old) = memmesh(a, &["get", paris["id"].as_str().unwrap()]);
    assert_eq!(old["state"], "ARCHIVED");
    assert_eq!(old["incoming"][0]["source_id"], lisbon["id"]);

    let first = put("Dinner at 8", &[]);
    let second = put("dinner at 8.", &["--link", &format!("relates-to:{}", lisbon["id"].as_str().unwrap())]);
    assert_eq!(second["links"][0]["type"], "RELATES_TO");
    let (ok, linked) = memmesh(a, &["link", first["id"].as_str().unwrap(), "derived-from", lisbon["id"].as_str().unwrap()]);
    assert!(ok, "{linked}");
    assert_eq!(linked["version"], 2);

    let (ok, plan) = memmesh(a, &["consolidate", "--tenant", "acme", "--user", "dana", "--mode", "exact", "--dry-run"]);
    assert!(ok, "{plan}");
    assert_eq!(plan["clusters"][0]["keeper_id"], first["id"]);
    assert_eq!(plan["clusters"][0]["member_ids"][0], second["id"]);
    let (ok, done) = memmesh(a, &["consolidate", "--tenant", "acme", "--user", "dana", "--mode", "exact"]);
    assert!(ok, "{done}");
    assert_eq!(done["merged"], 1);
    let (_, merged) = memmesh(a, &["get", second["id"].as_str().unwrap()]);
    assert_eq!(merged["state"], "ARCHIVED");
    assert!(merged["links"].as_array().unwrap().iter().any(|l| l["type"] == "MERGED_INTO" && l["target_id"] == first["id"]));

    let (ok, p) = memmesh(a, &["policy", "set", "tenant-default", "--tenant", "acme", "--dedupe", "exact"]);
    assert!(ok, "{p}");
    assert_eq!(p["dedupe"], "EXACT");
    assert_eq!(put("Dinner at 8!", &[])["outcome"], "UNCHANGED", "the policy's default applies");
    let (_, list) = memmesh(a, &["policy", "list", "--tenant", "acme"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (ok, bad) = memmesh(a, &["policy", "set", "sweep", "--tenant", "acme", "--consolidate-every", "1h"]);
    assert!(!ok);
    assert_eq!(bad["error"]["code"], "INVALID_ARGUMENT");
    let (ok, _) = memmesh(a, &["policy", "delete", "tenant-default", "--tenant", "acme"]);
    assert!(ok);

    // Retention flags and legal holds.
    let (ok, p) = memmesh(a, &["policy", "set", "retention", "--tenant", "acme", "--default-ttl", "30d", "--purge-deleted-after", "1h"]);
    assert!(ok, "{p}");
    assert_eq!((p["default_ttl_seconds"].as_i64(), p["purge_deleted_after_seconds"].as_i64()), (Some(30 * 86400), Some(3600)));
    let (ok, h) = memmesh(a, &["hold", "set", "case-42", "--tenant", "acme", "--user", "dana"]);
    assert!(ok, "{h}");
    assert_eq!((h["hold"].as_bool(), h["scope"]["user"].as_str()), (Some(true), Some("dana")));
    let (ok, kept) = memmesh(a, &["hold", "set", "retention", "--tenant", "acme"]);
    assert!(ok, "{kept}");
    assert_eq!((kept["hold"].as_bool(), kept["default_ttl_seconds"].as_i64()), (Some(true), Some(30 * 86400)), "other settings kept");
    let (ok, clash) = memmesh(a, &["hold", "set", "retention", "--tenant", "acme", "--user", "erin"]);
    assert!(!ok);
    assert_eq!(clash["error"]["code"], "FAILED_PRECONDITION");
    let (ok, lifted) = memmesh(a, &["hold", "clear", "case-42", "--tenant", "acme"]);
    assert!(ok, "{lifted}");
    assert_eq!(lifted["hold"].as_bool(), Some(false));
}
