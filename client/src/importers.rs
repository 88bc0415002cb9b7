//! Importers: other agent-memory systems' exports turned into MemMesh export records (see
//! [`crate::transfer`]), which `memmesh import` then writes like any export.
//!
//! Each imported memory gets a ULID made from its original creation time and a hash of its
//! original id, so importing the same file twice finds the same ids and writes nothing twice.
//! Scope ids must match MemMesh's identifier charset: other characters become `_` (the original
//! is kept in an attribute).
//!
//! **Mem0** (`--from mem0`): what `Memory.get_all()` / the platform's `get_all` return — a JSON
//! array of memories, an object with a `results` array, or JSON Lines of memories:
//!
//! | Mem0 field | MemCube |
//! |---|---|
//! | `memory` (or `text`, `data`) | `content.text` (PLAINTEXT, memory type FACT, source IMPORT) |
//! | `user_id` / `agent_id` / `run_id` | `scope.user` / `scope.agent` / `scope.run` (user defaults to `--user`) |
//! | `app_id`, `hash`, `id` | attributes `mem0.app_id`, `mem0.hash`, `mem0.id` |
//! | `metadata` | attributes `mem0.meta.<key>` (non-string values as JSON) |
//! | `categories` | tags |
//! | `created_at` / `updated_at` (ISO 8601) | `created_at_ms` / `updated_at_ms` |
//!
//! **Letta** (`--from letta`): an agent file (`.af`). The current schema (`AgentFileSchema`:
//! `agents`, `blocks`, …) and the first one (a single agent with `core_memory`) are read:
//!
//! | Letta | MemCube |
//! |---|---|
//! | core memory block labelled `persona` | PERSONA, slot `letta.<label>` |
//! | any other block (`human`, custom labels) | FACT, slot `letta.<label>`, tag `letta:<label>` |
//! | `user` and `assistant` messages with text | EPISODE, source USER / AGENT, at the message's time |
//! | archival passages (`passages`, when the file has them) | FACT, tag `letta:archival` |
//!
//! Scope: `--tenant`, `--user`, and the agent's name as `scope.agent`. System and tool
//! messages, tools, files and sources are not memories and are skipped (and counted).

use chrono::{DateTime, NaiveDateTime};
use memmesh_proto::{Content, CubeKind, CubeState, ExportedCube, MemCube, MemoryType, Provenance, Scope, Source, Usage};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Where imported memories go, and the time used when a record has none.
#[derive(Debug, Clone)]
pub struct Target {
    pub tenant: String,
    /// The user of memories whose record names none (Mem0) or of every memory (Letta).
    pub user: String,
    pub now_ms: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Records without any text.
    pub empty: u64,
    /// Letta messages that are not user or assistant text (system, tool calls and returns).
    pub messages: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// A scope id in MemMesh's charset (1–128 of `[A-Za-z0-9._:@-]`).
fn ident(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || "._:@-".contains(c) { c } else { '_' }).take(128).collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Milliseconds of an ISO 8601 time (with or without an offset; without = UTC).
fn parse_time(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let naive = s.trim_end_matches('Z');
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// A ULID at `ms` whose random part is a hash of the memory's origin and original id.
fn stable_id(origin: &str, original: &str, ms: i64) -> String {
    let h = Sha256::digest(format!("{origin}\0{original}").as_bytes());
    let mut r = [0u8; 16];
    r[6..].copy_from_slice(&h[..10]);
    ulid::Ulid::from_parts(ms.clamp(0, (1 << 48) - 1) as u64, u128::from_be_bytes(r)).to_string()
}

fn text_cube(id: String, scope: Scope, text: &str, created: i64, updated: i64) -> MemCube {
    MemCube {
        id,
        scope: Some(scope),
        kind: CubeKind::Plaintext as i32,
        content: Some(Content { text: text.to_string(), ..Default::default() }),
        memory_type: MemoryType::Fact as i32,
        source: Source::Import as i32,
        provenance: Some(Provenance::default()),
        created_at_ms: created,
        updated_at_ms: updated.max(created),
        version: 1,
        state: CubeState::Active as i32,
        usage: Some(Usage::default()),
        ..Default::default()
    }
}

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Mem0 memories (see the module docs for the accepted shapes and the mapping).
pub fn mem0(input: &str, t: &Target) -> Result<(Vec<ExportedCube>, Skipped), ImportError> {
    let records: Vec<Value> = match serde_json::from_str::<Value>(input) {
        Ok(Value::Array(a)) => a,
        Ok(Value::Object(mut o)) if o.get("results").is_some_and(Value::is_array) => match o.remove("results") {
            Some(Value::Array(a)) => a,
            _ => unreachable!("checked to be an array"),
        },
        Ok(Value::Object(o)) => vec![Value::Object(o)],
        Ok(_) => return Err(ImportError("a Mem0 export is an array of memories or an object with \"results\"".into())),
        Err(_) => input
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| ImportError(format!("line {}: {e}", i + 1))))
            .collect::<Result<_, _>>()?,
    };
    let mut out = Vec::with_capacity(records.len());
    let mut skipped = Skipped::default();
    for (i, r) in records.iter().enumerate() {
        let Some(o) = r.as_object() else { return Err(ImportError(format!("memory {i}: not a JSON object"))) };
        let Some(text) = ["memory", "text", "data"].iter().find_map(|k| str_of(o, k)) else {
            skipped.empty += 1;
            continue;
        };
        let created = parse_time(o.get("created_at")).unwrap_or(t.now_ms);
        let updated = parse_time(o.get("updated_at")).unwrap_or(created);
        let original = str_of(o, "id").map_or_else(|| format!("{:x}", Sha256::digest(text.as_bytes())), str::to_string);
        let mut attributes = std::collections::BTreeMap::new();
        let mut scope = Scope { tenant: t.tenant.clone(), user: t.user.clone(), ..Default::default() };
        for (key, field) in [("user_id", &mut scope.user), ("agent_id", &mut scope.agent), ("run_id", &mut scope.run)] {
            if let Some(v) = str_of(o, key) {
                *field = ident(v);
                if *field != v {
                    attributes.insert(format!("mem0.{key}"), v.to_string());
                }
            }
        }
        if scope.user.is_empty() {
            return Err(ImportError(format!("memory {i} ({original}) names no user_id; give --user")));
        }
        for key in ["app_id", "hash", "id"] {
            if let Some(v) = str_of(o, key) {
                attributes.insert(format!("mem0.{key}"), v.to_string());
            }
        }
        if let Some(Value::Object(meta)) = o.get("metadata") {
            for (k, v) in meta {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                attributes.insert(format!("mem0.meta.{k}"), v);
            }
        }
        let mut tags: Vec<String> =
            o.get("categories").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
        tags.sort();
        tags.dedup();
        let mut c = text_cube(stable_id("mem0", &original, created), scope, text, created, updated);
        c.attributes = attributes;
        c.tags = tags;
        out.push(ExportedCube { cube: Some(c), history: vec![] });
    }
    Ok((out, skipped))
}

/// The text of a Letta message's `content`: a string, or the `text` parts of a list.
fn letta_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str).is_none_or(|t| t == "text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A Letta agent file (see the module docs for the mapping).
pub fn letta(input: &str, t: &Target) -> Result<(Vec<ExportedCube>, Skipped), ImportError> {
    let root: Value = serde_json::from_str(input).map_err(|e| ImportError(format!("not a JSON agent file: {e}")))?;
    let root = root.as_object().ok_or_else(|| ImportError("an agent file is a JSON object".into()))?;
    // Current schema: blocks at the top, referenced by id from each agent. First schema: one
    // agent with its blocks inline (`core_memory`).
    let top_blocks: Vec<&Value> = root.get("blocks").and_then(Value::as_array).into_iter().flatten().collect();
    let agents: Vec<&Map<String, Value>> = match root.get("agents").and_then(Value::as_array) {
        Some(a) => a.iter().filter_map(Value::as_object).collect(),
        None if root.contains_key("core_memory") || root.contains_key("messages") => vec![root],
        None => return Err(ImportError("not a Letta agent file: no \"agents\" (or \"core_memory\")".into())),
    };
    let mut out = Vec::new();
    let mut skipped = Skipped::default();
    for (ai, agent) in agents.iter().enumerate() {
        let name = str_of(agent, "name").map_or_else(|| format!("letta-agent-{ai}"), str::to_string);
        let agent_key = str_of(agent, "id").unwrap_or(&name).to_string();
        let scope = Scope { tenant: t.tenant.clone(), user: t.user.clone(), agent: ident(&name), ..Default::default() };
        let created = parse_time(agent.get("created_at").or(root.get("created_at"))).unwrap_or(t.now_ms);
        let ids: Vec<&str> = agent.get("block_ids").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let blocks: Vec<&Value> = match agent.get("core_memory").and_then(Value::as_array) {
            Some(inline) => inline.iter().collect(),
            None => top_blocks.iter().copied().filter(|b| b.get("id").and_then(Value::as_str).is_some_and(|id| ids.contains(&id))).collect(),
        };
        for b in blocks {
            let Some(o) = b.as_object() else { continue };
            let (Some(label), Some(value)) = (str_of(o, "label"), str_of(o, "value")) else {
                skipped.empty += 1;
                continue;
            };
            let mut c = text_cube(stable_id("letta-block", &format!("{agent_key}/{label}"), created), scope.clone(), value, created, created);
            c.slot = format!("letta.{}", ident(label));
            if label == "persona" {
                c.memory_type = MemoryType::Persona as i32;
            } else {
                c.tags = vec![format!("letta:{}", ident(label))];
            }
            c.attributes.insert("letta.label".into(), label.to_string());
            if let Some(d) = str_of(o, "description") {
                c.attributes.insert("letta.description".into(), d.to_string());
            }
            out.push(ExportedCube { cube: Some(c), history: vec![] });
        }
        for (mi, m) in agent.get("messages").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            let text = letta_text(m.get("content").or(m.get("text")));
            let source = match role {
                "user" => Source::User,
                "assistant" => Source::Agent,
                _ => {
                    skipped.messages += 1;
                    continue;
                }
            };
            if text.trim().is_empty() {
                skipped.messages += 1;
                continue;
            }
            let at = parse_time(m.get("created_at")).unwrap_or(created);
            let original = m.get("id").and_then(Value::as_str).map_or_else(|| format!("{agent_key}/message/{mi}"), str::to_string);
            let mut c = text_cube(stable_id("letta-message", &original, at), scope.clone(), &text, at, at);
            c.memory_type = MemoryType::Episode as i32;
            c.source = source as i32;
            c.attributes.insert("letta.role".into(), role.to_string());
            c.attributes.insert("letta.message_id".into(), original);
            out.push(ExportedCube { cube: Some(c), history: vec![] });
        }
        let passages = agent.get("passages").or(root.get("passages")).and_then(Value::as_array);
        for (pi, p) in passages.into_iter().flatten().enumerate() {
            let text = p.get("text").and_then(Value::as_str).unwrap_or("");
            if text.trim().is_empty() {
                skipped.empty += 1;
                continue;
            }
            let at = parse_time(p.get("created_at")).unwrap_or(created);
            let original = p.get("id").and_then(Value::as_str).map_or_else(|| format!("{agent_key}/passage/{pi}"), str::to_string);
            let mut c = text_cube(stable_id("letta-passage", &original, at), scope.clone(), text, at, at);
            c.tags = vec!["letta:archival".into()];
            out.push(ExportedCube { cube: Some(c), history: vec![] });
        }
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEM0: &str = include_str!("../../tests/data/import/mem0_get_all.json");
    const LETTA: &str = include_str!("../../tests/data/import/letta_agent.af");

    fn target() -> Target {
        Target { tenant: "acme".into(), user: "fallback".into(), now_ms: 1 }
    }

    fn texts(cubes: &[ExportedCube]) -> Vec<String> {
        cubes.iter().map(|e| e.cube.as_ref().unwrap().content.as_ref().unwrap().text.clone()).collect()
    }

    #[test]
    fn mem0_memories_keep_scope_times_metadata_and_categories() {
        let (cubes, skipped) = mem0(MEM0, &target()).unwrap();
        assert_eq!(texts(&cubes), ["Is a vegetarian and allergic to nuts", "Prefers window seats on long flights"]);
        assert_eq!(skipped, Skipped { empty: 1, messages: 0 });
        let a = cubes[0].cube.as_ref().unwrap();
        assert_eq!(a.scope.as_ref().unwrap().user, "alex");
        // 2024-07-25T23:57:00.108347-07:00
        assert_eq!(a.created_at_ms, 1_721_977_020_108);
        assert_eq!(a.updated_at_ms, 1_722_013_333_000);
        assert_eq!(a.tags, ["food", "health"]);
        assert_eq!(a.attributes["mem0.id"], "892db2ae-06d9-49e5-8b3e-585ef9b85b8e");
        assert_eq!(a.attributes["mem0.meta.source"], "onboarding");
        assert_eq!(a.attributes["mem0.meta.confidence"], "0.9");
        assert_eq!(ulid::Ulid::from_string(&a.id).unwrap().timestamp_ms(), 1_721_977_020_108);
        let b = cubes[1].cube.as_ref().unwrap();
        let s = b.scope.as_ref().unwrap();
        assert_eq!((s.agent.as_str(), s.run.as_str()), ("travel-agent", "trip_planning__3"));
        assert_eq!(b.attributes["mem0.run_id"], "trip planning #3");
        // No updated_at: the creation time.
        assert_eq!(b.updated_at_ms, b.created_at_ms);
        // The same file gives the same ids (re-importing writes nothing twice).
        assert_eq!(mem0(MEM0, &target()).unwrap().0, cubes);
    }

    #[test]
    fn mem0_accepts_a_bare_list_and_json_lines_and_needs_a_user() {
        let one = r#"{"id": "x", "memory": "likes tea", "created_at": "2024-01-01T00:00:00Z"}"#;
        let (from_list, _) = mem0(&format!("[{one}]"), &target()).unwrap();
        let (from_lines, _) = mem0(&format!("{one}\n{one}\n"), &target()).unwrap();
        assert_eq!(from_list[0].cube.as_ref().unwrap().scope.as_ref().unwrap().user, "fallback");
        assert_eq!(from_lines.len(), 2);
        let err = mem0(one, &Target { user: String::new(), ..target() }).unwrap_err();
        assert!(err.0.contains("--user"), "{err}");
    }

    #[test]
    fn letta_blocks_messages_and_agent_scope() {
        let (cubes, skipped) = letta(LETTA, &target()).unwrap();
        let c: Vec<&MemCube> = cubes.iter().map(|e| e.cube.as_ref().unwrap()).collect();
        // Three blocks of the agent (not the unrelated one), the user and assistant messages.
        assert_eq!(c.len(), 5, "{:?}", texts(&cubes));
        assert_eq!(skipped.messages, 2, "system and tool messages");
        assert!(c.iter().all(|c| c.scope.as_ref().unwrap().agent == "support_bot" && c.scope.as_ref().unwrap().user == "fallback"));
        assert_eq!(c[0].memory_type, MemoryType::Persona as i32);
        assert_eq!(c[0].slot, "letta.persona");
        assert_eq!((c[1].memory_type, c[1].tags.as_slice()), (MemoryType::Fact as i32, &["letta:human".to_string()][..]));
        assert_eq!(c[2].slot, "letta.open_tickets");
        assert_eq!((c[3].memory_type, c[3].source), (MemoryType::Episode as i32, Source::User as i32));
        assert_eq!(c[3].content.as_ref().unwrap().text, "My order 1234 arrived damaged.");
        assert_eq!(c[3].created_at_ms, 1_743_508_865_250);
        assert_eq!(c[4].source, Source::Agent as i32);
    }

    #[test]
    fn letta_first_schema_with_inline_core_memory_and_passages() {
        let v1 = r#"{"name": "old", "core_memory": [{"label": "human", "value": "Likes chess"}],
                     "messages": [{"role": "user", "text": "hi", "created_at": "2024-05-01T10:00:00"}],
                     "passages": [{"text": "The launch is in May.", "created_at": "2024-05-02T10:00:00Z"}]}"#;
        let (cubes, _) = letta(v1, &target()).unwrap();
        assert_eq!(texts(&cubes), ["Likes chess", "hi", "The launch is in May."]);
        assert_eq!(cubes[2].cube.as_ref().unwrap().tags, ["letta:archival"]);
        assert!(letta("{}", &target()).is_err());
    }
}
