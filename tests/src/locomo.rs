//! The LoCoMo long-conversation data set (see ../shared/data/locomo/README.md), as the
//! retrieval and deduplication benches read it: conversations, their turns and questions, and
//! the cube each turn becomes.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::proto::{Content, CubeInput, MemoryType, Scope};

/// One turn of a conversation.
pub struct Turn {
    pub dia_id: String,
    pub speaker: String,
    pub text: String,
    pub caption: Option<String>,
    pub session: usize,
    pub date: String,
}

/// A question with the dia ids of the turns that answer it.
pub struct Question {
    pub text: String,
    pub evidence: Vec<String>,
}

impl Question {
    /// Recall@k: the fraction of this question's evidence turns (dia ids) among the first `k`
    /// of `ranked` — the one scorer every LoCoMo bench uses.
    pub fn recall_at(&self, ranked: &[&str], k: usize) -> f64 {
        let top = &ranked[..k.min(ranked.len())];
        self.evidence.iter().filter(|e| top.contains(&e.as_str())).count() as f64 / self.evidence.len().max(1) as f64
    }
}

/// One LoCoMo conversation file.
pub struct Conversation {
    pub name: String,
    pub turns: Vec<Turn>,
    pub questions: Vec<Question>,
}

/// Reads one conversation file (LoCoMo layout; questions of categories 1–4).
pub fn load(path: &Path) -> Conversation {
    let v: Value = serde_json::from_slice(&std::fs::read(path).expect("read conversation")).expect("conversation JSON");
    // Some files nest the sessions under "conversation".
    let conv = v.get("conversation").unwrap_or(&v);
    let mut sessions: Vec<(usize, &Value)> = conv
        .as_object()
        .expect("object")
        .iter()
        .filter_map(|(k, s)| k.strip_prefix("session_").and_then(|n| n.parse().ok()).filter(|_| s.is_array()).map(|n| (n, s)))
        .collect();
    sessions.sort_by_key(|(n, _)| *n);
    let mut turns = Vec::new();
    for (n, s) in sessions {
        let date = conv.get(format!("session_{n}_date_time")).and_then(Value::as_str).unwrap_or("").to_string();
        for t in s.as_array().unwrap() {
            let get = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
            turns.push(Turn {
                dia_id: get("dia_id").unwrap_or_default(),
                speaker: get("speaker").unwrap_or_default(),
                text: get("text").unwrap_or_default(),
                caption: get("blip_caption"),
                session: n,
                date: date.clone(),
            });
        }
    }
    let questions = v["qa"]
        .as_array()
        .map(|qa| {
            qa.iter()
                .filter(|q| q["category"].as_u64().is_some_and(|c| (1..=4).contains(&c)))
                .filter_map(|q| {
                    let evidence: Vec<String> = q["evidence"]
                        .as_array()?
                        .iter()
                        .filter_map(Value::as_str)
                        .flat_map(|e| e.split(|c: char| c.is_whitespace() || c == ';' || c == ',').map(str::to_string).collect::<Vec<_>>())
                        .filter(|e| !e.is_empty())
                        .collect();
                    let text = q["question"].as_str()?.to_string();
                    (!evidence.is_empty()).then_some(Question { text, evidence })
                })
                .collect()
        })
        .unwrap_or_default();
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    Conversation { name, turns, questions }
}

/// What a turn says, as stored: speaker, text and the caption of a shared photo.
pub fn said(t: &Turn) -> String {
    let mut text = format!("{}: {}", t.speaker, t.text);
    if let Some(c) = &t.caption {
        text.push_str(&format!(" [shares a photo of {c}]"));
    }
    text
}

/// The memory a turn becomes: who said what (with the photo's caption); the turn it replies to
/// as its search context (a reply is often found by the words of the question it answers);
/// session number and date as attributes.
pub fn cube_of(scope: &Scope, t: &Turn, prev: Option<&Turn>) -> CubeInput {
    let text = said(t);
    let context = prev.filter(|p| p.session == t.session).map(said).unwrap_or_default();
    let attributes =
        [("dia_id", t.dia_id.clone()), ("speaker", t.speaker.clone()), ("session", t.session.to_string()), ("session_date", t.date.clone())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .filter(|(_, v)| !v.is_empty())
            .collect();
    CubeInput {
        scope: Some(scope.clone()),
        content: Some(Content { text, ..Default::default() }),
        memory_type: MemoryType::Episode as i32,
        attributes,
        context,
        ..Default::default()
    }
}

/// The `*.json` conversations of `dir`, sorted by name; `limit` keeps the first ones.
pub fn conversations(dir: &Path, limit: Option<usize>) -> Vec<Conversation> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if let Some(n) = limit {
        files.truncate(n);
    }
    files.iter().map(|p| load(p)).collect()
}

/// A conversation's turns grouped by session, in order.
pub fn sessions(conv: &Conversation) -> Vec<Vec<&Turn>> {
    let mut by_session: Vec<Vec<&Turn>> = Vec::new();
    for t in &conv.turns {
        if by_session.last().is_none_or(|s| s[0].session != t.session) {
            by_session.push(Vec::new());
        }
        by_session.last_mut().unwrap().push(t);
    }
    by_session
}
