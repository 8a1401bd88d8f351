//! Guards on the crate's shape that no compiler checks: the top-level modules of `src/` form
//! no import cycle, and every file of a test directory is compiled into its test binary.

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
