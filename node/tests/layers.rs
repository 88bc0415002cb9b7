//! The node's layering, checked: every `crate::` path in a top-level module of `node/src` must
//! point to a module of a lower layer (test modules, inline or in files declared
//! `#[cfg(test)] mod name;`, may reach anywhere). The layers are the
//! ones `node/src/lib.rs` draws; a new module must be given one here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer: a module may use only modules of a lower layer.
const LAYERS: &[(&str, u32)] = &[
    ("model", 0),
    ("auth", 1),
    ("embed", 1),
    ("quota", 1),
    ("raft", 1),
    ("tls", 1),
    ("index", 2),
    ("config", 2),
    ("store", 3),
    ("engine", 4),
    ("api", 5),
    ("telemetry", 5),
    ("node", 6),
    ("fuzzing", 7),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_file() {
        out.push(p.to_path_buf());
    } else if let Ok(dir) = std::fs::read_dir(p) {
        for e in dir.flatten() {
            rust_files(&e.path(), out);
        }
    }
}

/// The text without line comments and without `#[cfg(test)] mod … { … }` blocks.
fn without_tests_and_comments(s: &str) -> String {
    let s: String = s.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let is_mod = after["#[cfg(test)]".len()..].trim_start().starts_with("mod ");
        let Some(open) = after.find('{').filter(|_| is_mod) else {
            out.push_str("#[cfg(test)]");
            rest = &after["#[cfg(test)]".len()..];
            continue;
        };
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules that `text` names through `crate::x` or `crate::{x, y::z}`.
fn crate_refs(text: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut refs = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            refs.extend(group.split(',').map(|p| ident(p.trim())).filter(|p| !p.is_empty()));
        } else {
            refs.push(ident(rest));
        }
    }
    refs
}

/// Files of modules declared `#[cfg(test)] mod name;` (test code, like the inline blocks).
fn test_module_files(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for (at, _) in text.match_indices("#[cfg(test)]") {
            let after = text[at + "#[cfg(test)]".len()..].trim_start();
            if let Some(decl) = after.strip_prefix("mod ").and_then(|d| d.split_once(';')).filter(|(n, _)| !n.contains('{')) {
                let dir = f.parent().unwrap();
                out.push(dir.join(format!("{}.rs", decl.0.trim())));
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_lower_layers() {
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(src()).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let Some(&own) = layer.get(name.as_str()) else {
            violations.push(format!("module {name} has no layer in this test's LAYERS"));
            continue;
        };
        let mut files = Vec::new();
        rust_files(&path, &mut files);
        let tests = test_module_files(&files);
        for f in files.iter().filter(|f| !tests.contains(f)) {
            let text = without_tests_and_comments(&std::fs::read_to_string(f).unwrap());
            for r in crate_refs(&text) {
                match layer.get(r.as_str()) {
                    Some(&l) if r != name && l >= own => violations.push(format!("{} (layer {own}) uses crate::{r} (layer {l})", f.display())),
                    _ => {}
                }
            }
        }
    }
    assert!(violations.is_empty(), "layering violated:\n{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_uses_and_skips_tests_and_comments() {
    let text = "use crate::store::Reader;\n// crate::api\nuse crate::{model, raft::Op};\n#[cfg(test)]\nmod tests { use crate::api::x; }\n";
    let refs = crate_refs(&without_tests_and_comments(text));
    assert_eq!(refs, vec!["store", "model", "raft"]);
}
