//! Guards on the crate's shape that no compiler checks: the top-level modules of `src/` form
//! no import cycle, nor do the files of any folder inside it, and every file of a test
//! directory is compiled into its test binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The source without `//` comments (doc comments name other modules freely).
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of source names through `crate::`: `crate::store::X`,
/// `crate::{store, text::first_line}` and nested groups alike.
fn crate_modules_named(source: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && ch == ',') {
                    if let Some(name) = leading_ident(&item) {
                        named.insert(name);
                    }
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(ch);
                }
            }
        } else if let Some(name) = leading_ident(rest) {
            named.insert(name);
        }
    }
    named
}

fn leading_ident(text: &str) -> Option<String> {
    let ident: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty()).then_some(ident)
}

/// module -> the modules it imports, over `src/` (the binary's `main.rs` and `lib.rs` are
/// the roots, not modules).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = manifest_dir().join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "main" || module == "lib" {
            continue;
        }
        let source = without_comments(&std::fs::read_to_string(&file).unwrap());
        let imports = graph.entry(module.clone()).or_default();
        imports.extend(
            crate_modules_named(&source)
                .into_iter()
                .filter(|m| *m != module),
        );
    }
    graph
}

/// A cycle through `start`, if there is one (depth-first search).
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in graph.get(path.last().unwrap()).into_iter().flatten() {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(next.clone());
            return Some(cycle);
        }
        if path.contains(next) || !graph.contains_key(next) {
            continue;
        }
        path.push(next.clone());
        if let Some(cycle) = cycle_from(graph, start, path) {
            return Some(cycle);
        }
        path.pop();
    }
    None
}

#[test]
fn the_parser_sees_grouped_and_nested_imports() {
    let named = crate_modules_named(
        "use crate::{store::{Store, Task}, text::first_line};\nlet x = crate::llm::Usage::default();",
    );
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        ["llm", "store", "text"]
    );
}

#[test]
fn the_top_level_modules_form_no_import_cycle() {
    let graph = module_graph();
    // The guard must see the crate: a graph with no edges would pass vacuously.
    assert!(graph.get("commands").is_some_and(|m| m.contains("store")));
    for module in graph.keys() {
        let mut path = vec![module.clone()];
        if let Some(cycle) = cycle_from(&graph, module, &mut path) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_leaf_modules_import_nothing_of_the_crate() {
    let graph = module_graph();
    for leaf in ["error", "text", "beneath", "walk", "git_command"] {
        assert_eq!(graph.get(leaf), Some(&BTreeSet::new()), "{leaf} imports");
    }
    // Domain modules know nothing of the command line.
    for module in ["agent", "config", "llm", "policy", "store", "tools", "ui"] {
        assert!(
            !graph[module].contains("cli") && !graph[module].contains("commands"),
            "{module} imports the command line: {:?}",
            graph[module]
        );
    }
}

#[test]
fn every_test_file_is_compiled_into_its_binary() {
    let tests = manifest_dir().join("tests");
    for entry in std::fs::read_dir(&tests).unwrap() {
        let dir = entry.unwrap().path();
        let main = dir.join("main.rs");
        if !main.is_file() {
            continue;
        }
        let declared = std::fs::read_to_string(&main).unwrap();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().to_string()) else {
                continue;
            };
            if path.extension().is_none_or(|e| e != "rs") || stem == "main" {
                continue;
            }
            assert!(
                declared.contains(&format!("mod {stem};")),
                "{} is not declared in {} and would never run",
                path.display(),
                main.display()
            );
        }
    }
}

/// Tests wait for what they observe, never for a length of time (docs/tests.md, "Waiting and
/// load"): every sleep in tests/ says, on its line or the line above, that time is what is
/// tested, except the one poll interval of tests/support/.
#[test]
fn every_sleep_in_the_tests_is_one_where_time_is_what_is_tested() {
    let sleep = concat!("thread", "::sleep(");
    let said = |line: &str| line.contains("// time is what is tested");
    let mut unexplained = Vec::new();
    let mut polls = Vec::new();
    for path in rust_files(&manifest_dir().join("tests")) {
        let source = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if !code.contains(sleep) {
                continue;
            }
            let above = i.checked_sub(1).map_or("", |j| lines[j]);
            let at = format!("{}:{}", path.display(), i + 1);
            if said(line) || said(above) {
                continue;
            }
            if path.ends_with("tests/support/mod.rs") && above.contains("// The poll interval") {
                polls.push(at);
            } else {
                unexplained.push(at);
            }
        }
    }
    assert_eq!(
        unexplained,
        Vec::<String>::new(),
        "sleeps that wait for something instead of observing it"
    );
    assert!(polls.len() <= 1, "more than one poll interval: {polls:?}");
}

// ---------------------------------------------------------------------------------------
// Circles between the files of one folder: every folder of `src/` is held to what the crate
// root is held to. A file imports another when it names it, or a name the folder's face
// (`mod.rs`) hands on from it, through `crate::`, `super::` or `self::`. An import between two
// files counts in the folder that holds both: `store/remote/sync.rs` naming
// `store/format/refs.rs` is an arrow `remote -> format` among the files and folders of
// `store/`. A face is the folder itself, not one of its files: its own imports and the
// imports of it are no arrows.
// ---------------------------------------------------------------------------------------

/// A module's path from the crate root: `store/format/refs.rs` is `["store", "format",
/// "refs"]`, `store/mod.rs` is `["store"]`.
type ModPath = Vec<String>;

/// The source files of a crate in memory: module -> its source without comments and tests.
struct SourceTree {
    files: BTreeMap<ModPath, String>,
}

impl SourceTree {
    /// `files`: each path relative to `src/` with its text; the roots `lib.rs` and `main.rs`
    /// are no modules.
    fn new(files: impl IntoIterator<Item = (PathBuf, String)>) -> SourceTree {
        let mut tree = BTreeMap::new();
        for (relative, text) in files {
            let mut module: ModPath = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            if module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                continue;
            }
            tree.insert(module, without_tests(&without_comments(&text)));
        }
        SourceTree { files: tree }
    }

    fn of_crate() -> SourceTree {
        let src = manifest_dir().join("src");
        SourceTree::new(rust_files(&src).into_iter().map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            (file.strip_prefix(&src).unwrap().to_path_buf(), text)
        }))
    }

    /// The module that `path` (after its `crate`, `super` or `self`) names from `base`: the
    /// deepest file it reaches, going through the names a face hands on.
    fn resolve(&self, base: &[String], path: &[String], depth: usize) -> ModPath {
        let mut at = base.to_vec();
        for (i, segment) in path.iter().enumerate() {
            if segment == "self" {
                continue;
            }
            let mut child = at.clone();
            child.push(segment.clone());
            if self.files.contains_key(&child) {
                at = child;
                continue;
            }
            let handed_on = self.files.get(&at).and_then(|face| {
                public_uses(face)
                    .into_iter()
                    .find(|(_, name)| name == segment)
            });
            if let Some((mut from, _)) = handed_on
                && depth < 8
            {
                let from_base = if from.first().is_some_and(|s| s == "crate") {
                    from.remove(0);
                    Vec::new()
                } else {
                    at.clone()
                };
                from.extend(path[i + 1..].iter().cloned());
                return self.resolve(&from_base, &from, depth + 1);
            }
            break;
        }
        at
    }

    /// folder -> (file or subfolder -> the files and subfolders of the same folder it imports).
    fn folder_graphs(&self) -> BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> {
        let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for (module, source) in &self.files {
            for (path, _) in use_paths(source) {
                let (keyword, rest) = path.split_first().unwrap();
                let ups = rest.iter().take_while(|s| *s == "super").count();
                let base: ModPath = match keyword.as_str() {
                    "crate" => Vec::new(),
                    "self" => module.clone(),
                    _ => module[..module.len().saturating_sub(1 + ups)].to_vec(),
                };
                let target = self.resolve(&base, &rest[ups..], 0);
                let shared = module
                    .iter()
                    .zip(&target)
                    .take_while(|(a, b)| a == b)
                    .count();
                if shared == module.len() || shared == target.len() {
                    continue; // a module and its own folder's face, or itself
                }
                graphs
                    .entry(module[..shared].to_vec())
                    .or_default()
                    .entry(module[shared].clone())
                    .or_default()
                    .insert(target[shared].clone());
            }
        }
        graphs
    }

    /// Every circle between the files of one folder, as `folder: a -> b -> a`.
    fn circles(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (folder, graph) in self.folder_graphs() {
            for file in graph.keys() {
                let mut path = vec![file.clone()];
                if let Some(cycle) = cycle_from(&graph, file, &mut path)
                    // Each circle once, from its least file.
                    && cycle.iter().all(|f| f >= file)
                {
                    found.push(format!("{}/: {}", folder.join("/"), cycle.join(" -> ")));
                }
            }
        }
        found
    }
}

/// The source before its unit tests (`#[cfg(test)] mod …`), which may name anything.
fn without_tests(source: &str) -> String {
    match source.find("#[cfg(test)]\nmod ") {
        Some(at) => source[..at].to_string(),
        None => source.to_string(),
    }
}

/// The names a face hands on (`pub use a::b::{C, d as e};`), each with its path.
fn public_uses(face: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for (at, _) in face.match_indices("use ") {
        let before = face[..at].trim_end();
        if before.ends_with("pub") || before.ends_with(')') && before.contains("pub(") {
            out.extend(use_tree(&face[at + "use ".len()..]));
        }
    }
    out
}

/// Every path a source names through `crate::`, `super::` or `self::` (the keyword first, a
/// `super::super::` as two), groups expanded, with the name each path is known by (its
/// last segment, or its alias after `as`).
fn use_paths(source: &str) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    for keyword in ["crate::", "super::", "self::"] {
        for (at, _) in source.match_indices(keyword) {
            let before = source[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue; // `super::super::` is read from its first `super`
            }
            let head = keyword.trim_end_matches(':').to_string();
            for (mut path, name) in use_tree(&source[at + keyword.len()..]) {
                path.insert(0, head.clone());
                found.push((path, name));
            }
        }
    }
    found
}

/// The paths of a use tree (`a::b::{c, d::e as f}`), from its start to where it ends.
fn use_tree(text: &str) -> Vec<(Vec<String>, String)> {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 1;
        let mut items = vec![String::new()];
        for ch in group.chars() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 1 => {
                    items.push(String::new());
                    continue;
                }
                _ => {}
            }
            if depth == 0 {
                break;
            }
            items.last_mut().unwrap().push(ch);
        }
        return items
            .iter()
            .filter(|item| !item.trim().is_empty())
            .flat_map(|item| use_tree(item))
            .collect();
    }
    let Some(ident) = leading_ident(text) else {
        return Vec::new();
    };
    let rest = &text[ident.len()..];
    if let Some(deeper) = rest.strip_prefix("::") {
        let inner = use_tree(deeper);
        if !inner.is_empty() {
            return inner
                .into_iter()
                .map(|(mut path, name)| {
                    path.insert(0, ident.clone());
                    (path, name)
                })
                .collect();
        }
    }
    let name = rest
        .trim_start()
        .strip_prefix("as ")
        .and_then(leading_ident)
        .unwrap_or_else(|| ident.clone());
    vec![(vec![ident], name)]
}

#[test]
fn use_trees_expand_to_their_paths_and_names() {
    let paths = use_paths("use super::{a::{self, B}, c as d};\nlet x = crate::e::f(1);");
    let shown: Vec<String> = paths
        .iter()
        .map(|(path, name)| format!("{} {name}", path.join("::")))
        .collect();
    assert_eq!(
        shown,
        [
            "crate::e::f f",
            "super::a::self self",
            "super::a::B B",
            "super::c d"
        ]
    );
}

#[test]
fn the_circle_check_finds_a_planted_circle_through_a_face_and_passes_without_it() {
    let plant = |b: &str| {
        SourceTree::new([
            (
                "store/mod.rs".into(),
                "mod a;\nmod b;\npub use a::Thing;\npub struct Store;\n".into(),
            ),
            (
                "store/a.rs".into(),
                "use super::b::helper;\npub struct Thing;\n".into(),
            ),
            ("store/b.rs".into(), b.to_string()),
            ("store/deep/mod.rs".into(), "mod c;\n".into()),
            (
                "store/deep/c.rs".into(),
                "use crate::store::a::Thing;\n".into(),
            ),
            ("top.rs".into(), "use crate::store::Store;\n".into()),
        ])
    };
    // b names `Thing`, which the face hands on from a: a -> b -> a.
    let planted = plant("use crate::store::Thing;\npub fn helper() {}\n");
    assert_eq!(planted.circles(), ["store/: a -> b -> a"]);
    // A circle two folders deep is seen in the folder that holds both sides.
    let deep = plant("use super::deep::c::X;\npub fn helper() {}\n");
    assert_eq!(deep.circles(), ["store/: a -> b -> deep -> a"]);
    // Naming the face's own items is no arrow.
    let clean = plant("use super::Store;\npub fn helper() {}\n");
    assert_eq!(clean.circles(), Vec::<String>::new());
}

#[test]
fn the_files_of_every_folder_import_each_other_in_no_circle() {
    let tree = SourceTree::of_crate();
    let graphs = tree.folder_graphs();
    // The check must see the folders' insides: graphs with no edges would pass vacuously.
    let store = &graphs[&vec!["store".to_string()]];
    assert!(store["remote"].contains("format"), "{store:?}");
    assert!(graphs[&vec!["store".into(), "capture".into()]]["snapshot"].contains("paths"));
    assert!(graphs[&Vec::new()]["commands"].contains("store"));
    assert_eq!(tree.circles(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// One owner per format: a trailer key, a ref of the agent's layout and a commit subject are
// spelled in their owner alone (src/store/format/), and everything else writes and reads
// them through it. Prose for people may name them (`refs/agent/<slug>/say`, "an Agent-Forced
// trailer"); a literal that formats or parses one may not.
// ---------------------------------------------------------------------------------------

const TRAILER_OWNER: &str = "store/format/trailers.rs";
const REF_OWNER: &str = "store/format/refs.rs";
const SUBJECT_OWNER: &str = "store/format/subject.rs";

/// The beginnings of the agent's refs, tracking refs included.
const REF_LAYOUT: [&str; 7] = [
    "refs/heads/agent/",
    "refs/notes/agent/",
    "refs/agent/",
    "refs/agent-remotes/",
    "refs/notes/remotes/",
    "refs/notes/agent-merge/",
    "refs/remotes/",
];

/// The subjects the agent writes, as their literals begin.
const SUBJECTS: [&str; 6] = [
    "agent: start ",
    "agent: carried over",
    "agent: unfinished work",
    "agent: stop ",
    "agent: join what was said",
    "agent: lease ",
];

/// The string literals of a piece of source (`"…"`, `r"…"`, `r#"…"#`), escapes left as written.
fn string_literals(source: &str) -> Vec<String> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // A char literal `'"'` or `'\"'` opens no string.
            b'\'' if source[i..].starts_with("'\"'") => i += 3,
            b'\'' if source[i..].starts_with("'\\\"'") => i += 4,
            b'r' if source[i..].starts_with("r#\"") => {
                let end = source[i + 3..]
                    .find("\"#")
                    .map_or(bytes.len(), |e| i + 3 + e);
                found.push(source[i + 3..end].to_string());
                i = end + 2;
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                found.push(source[i + 1..j.min(bytes.len())].to_string());
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    found
}

/// What a literal spells that only a format's owner may: the owner and the offending text.
fn format_literals(literal: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    // A trailer key as a value of its own, at the end of a literal, or formatted
    // (`Agent-Task: {slug}`); and the key prefix itself.
    if literal == "Agent-" {
        found.push((TRAILER_OWNER, literal.to_string()));
    }
    for (at, _) in literal.match_indices("Agent-") {
        let rest = &literal[at + "Agent-".len()..];
        if !rest.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let after = &rest[key_len..];
        let formatted = after
            .strip_prefix(':')
            .is_some_and(|v| v.trim_start().starts_with('{'));
        if after.is_empty() || formatted {
            found.push((TRAILER_OWNER, literal[at..].to_string()));
        }
    }
    // A ref of the layout spelled with what follows its beginning; `<slug>` is prose.
    for prefix in REF_LAYOUT {
        for (at, _) in literal.match_indices(prefix) {
            if !literal[at + prefix.len()..].starts_with('<') {
                found.push((REF_OWNER, literal[at..].to_string()));
            }
        }
    }
    for subject in SUBJECTS {
        if literal.starts_with(subject) {
            found.push((SUBJECT_OWNER, literal.to_string()));
        }
    }
    found
}

/// Every format literal of `files` (path relative to `src/`, text) outside its owner, as
/// `path: literal (owner)`. Comments and unit tests (fixtures of the formats) are not read.
fn format_literals_outside_owners(files: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in files {
        let code = without_tests(&without_comments(text));
        for literal in string_literals(&code) {
            for (owner, spelled) in format_literals(&literal) {
                if path != owner {
                    found.push(format!("{path}: {spelled:?} (owned by {owner})"));
                }
            }
        }
    }
    found
}

fn src_files() -> Vec<(String, String)> {
    let src = manifest_dir().join("src");
    rust_files(&src)
        .into_iter()
        .map(|file| {
            let path = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .to_string();
            (path, std::fs::read_to_string(&file).unwrap())
        })
        .collect()
}

#[test]
fn the_literal_check_finds_planted_literals_and_lets_prose_pass() {
    let planted = |path: &str, text: &str| vec![(path.to_string(), text.to_string())];
    let code = r##"
fn f(t: &Trailers, slug: &str) -> String {
    let step = t.get("Agent-Step");
    let key = key.trim_start_matches("Agent-");
    let line = format!("Agent-Task: {slug}");
    let tracking = format!("refs/remotes/{remote}/agent/{slug}");
    let raw = r#"refs/agent/x/say"#;
    let c = '"';
    format!("agent: start {slug}")
}
"##;
    assert_eq!(
        format_literals_outside_owners(&planted("commands/x.rs", code)),
        [
            r#"commands/x.rs: "Agent-Step" (owned by store/format/trailers.rs)"#,
            r#"commands/x.rs: "Agent-" (owned by store/format/trailers.rs)"#,
            r#"commands/x.rs: "Agent-Task: {slug}" (owned by store/format/trailers.rs)"#,
            r#"commands/x.rs: "refs/remotes/{remote}/agent/{slug}" (owned by store/format/refs.rs)"#,
            r#"commands/x.rs: "refs/agent/x/say" (owned by store/format/refs.rs)"#,
            r#"commands/x.rs: "agent: start {slug}" (owned by store/format/subject.rs)"#,
        ]
    );
    // In their owners, in comments, in unit tests and in prose, they may stand.
    assert_eq!(
        format_literals_outside_owners(&planted(REF_OWNER, r#"let x = "refs/agent/";"#)),
        Vec::<String>::new()
    );
    let prose = r#"
// get("Agent-Step")
const HELP: &str = "stored in refs/agent/<slug>/say, with the trailer Agent-Say: stop, or an Agent-Forced trailer";
#[cfg(test)]
mod tests {
    const FIXTURE: &str = "x\n\nAgent-Task: t\n";
}
"#;
    assert_eq!(
        format_literals_outside_owners(&planted("cli.rs", prose)),
        Vec::<String>::new()
    );
}

#[test]
fn trailers_refs_and_subjects_are_spelled_by_their_owners_alone() {
    let files = src_files();
    // The check must read the owners: with no literal found there it would pass vacuously.
    let owners = ["store/format/trailers.rs", "store/format/refs.rs"];
    for owner in owners {
        let (_, text) = files.iter().find(|(path, _)| path == owner).unwrap();
        let literals = string_literals(&without_tests(&without_comments(text)));
        assert!(
            literals.iter().any(|l| !format_literals(l).is_empty()),
            "{owner}"
        );
    }
    assert_eq!(format_literals_outside_owners(&files), Vec::<String>::new());
}

/// The MCP server is a front end over `crate::app`, beside the CLI: it may use the command
/// context (`super::Context`, to start) and its own files, never a CLI command's helpers
/// (`super::merge::…`, `crate::commands::log::…`), whose output is the terminal's.
fn cli_helpers_named(source: &str) -> Vec<String> {
    let own = ["Context", "types", "runs", "resources", "*"];
    let mut named = Vec::new();
    for prefix in ["crate::commands::", "super::super::", "super::"] {
        let mut rest = source;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            // `super::super::x` is counted once, by its own prefix.
            if prefix == "super::" && (before == Some(':') || rest.starts_with("super::")) {
                continue;
            }
            let name = leading_ident(rest).unwrap_or_else(|| rest.chars().take(1).collect());
            if !own.contains(&name.as_str()) {
                named.push(format!("{prefix}{name}"));
            }
        }
    }
    named
}

#[test]
fn the_mcp_server_calls_the_application_layer_not_cli_helpers() {
    assert_eq!(
        cli_helpers_named(
            "use super::Context;\nsuper::merge::merge_task(); crate::commands::log::x"
        ),
        ["crate::commands::log", "super::merge"],
        "the guard must see a planted helper call"
    );
    let dir = manifest_dir().join("src/commands/mcp");
    let files = rust_files(&dir);
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let source = without_comments(&std::fs::read_to_string(&file).unwrap());
        let helpers = cli_helpers_named(&source);
        assert!(
            helpers.is_empty(),
            "{} calls CLI helpers {helpers:?}: call crate::app instead",
            file.display()
        );
    }
}

/// The types an `impl … Advice for T` of `src/` names.
fn advice_impls(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in source.lines() {
        let line = line.trim();
        if line.starts_with("impl") && line.contains("Advice for ") {
            let after = &line[line.find("Advice for ").unwrap() + "Advice for ".len()..];
            found.extend(leading_ident(after));
        }
    }
    found
}

/// Every error type with a hint is found by the front ends' advice lookup
/// (src/app/advice.rs): an `impl Advice` it does not downcast to loses its hint and exit code
/// silently (as `LoopError`'s once did).
#[test]
fn every_error_with_advice_is_looked_for_at_the_edge() {
    assert_eq!(
        advice_impls("impl crate::error::Advice for LoopError {"),
        ["LoopError"]
    );
    let lookup = std::fs::read_to_string(manifest_dir().join("src/app/advice.rs")).unwrap();
    let mut types = Vec::new();
    for file in rust_files(&manifest_dir().join("src")) {
        types.extend(advice_impls(&std::fs::read_to_string(&file).unwrap()));
    }
    assert!(types.len() >= 6, "{types:?}");
    for ty in types {
        assert!(
            lookup.contains(&format!("{ty}>()")),
            "src/app/advice.rs does not look for {ty}, which gives advice"
        );
    }
}
