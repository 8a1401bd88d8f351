//! Find files by name: a glob pattern over the worktree, honouring `.gitignore` and the
//! generated-output list, as the vendors' own agents offer it (Claude Code's Glob, Codex's
//! file search).

use globset::{GlobBuilder, GlobMatcher};

use super::files::{start_dir, walker};
use super::{Scope, ToolOutput};

/// Paths one call names at most.
const MAX_FOUND: usize = 500;

/// The matcher of a model's pattern: `*` and `?` stay within one path part, `**` crosses
/// folders, `{a,b}` gives alternatives; a pattern without `/` matches a file name at any
/// depth, as in `.gitignore`.
fn matcher(pattern: &str) -> Result<GlobMatcher, ToolOutput> {
    let pattern = pattern.trim().trim_start_matches("./");
    if pattern.is_empty() {
        return Err(ToolOutput::error(
            "`pattern` is empty; give a glob such as `**/*.rs` or `src/**/test_*.py`",
        ));
    }
    let full = if pattern.contains('/') {
        pattern.to_string()
    } else {
        format!("**/{pattern}")
    };
    GlobBuilder::new(&full)
        .literal_separator(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|err| {
            ToolOutput::error(format!(
                "`{pattern}` is not a valid glob ({err}); examples of good patterns: `*.toml`, `src/**/*.rs`, `tests/**/test_{{a,b}}*.py`"
            ))
        })
}

pub fn glob(
    scope: &Scope<'_>,
    pattern: &str,
    path: Option<&str>,
) -> Result<ToolOutput, ToolOutput> {
    let matcher = matcher(pattern)?;
    let start = start_dir(scope.root, path)?;
    let mut found = Vec::new();
    for entry in walker(scope, &start).build().flatten() {
        if entry.file_type().is_none_or(|t| t.is_dir()) {
            continue;
        }
        let (Ok(under_start), Ok(rel)) = (
            entry.path().strip_prefix(&start),
            entry.path().strip_prefix(scope.root),
        ) else {
            continue;
        };
        if matcher.is_match(under_start) {
            found.push(rel.display().to_string());
        }
    }
    found.sort();
    Ok(ToolOutput::ok(report(found, pattern, path)))
}

fn report(found: Vec<String>, pattern: &str, path: Option<&str>) -> String {
    if found.is_empty() {
        let folder = path
            .filter(|p| !p.is_empty() && *p != ".")
            .map(|p| format!(" under `{p}`"))
            .unwrap_or_default();
        return format!(
            "no file matches `{pattern}`{folder} (files ignored by .gitignore and generated output are not searched)"
        );
    }
    let more = found.len().saturating_sub(MAX_FOUND);
    let mut out = found
        .into_iter()
        .take(MAX_FOUND)
        .collect::<Vec<_>>()
        .join("\n");
    if more > 0 {
        out.push_str(&format!(
            "\n(… and {more} more files; narrow the pattern or give a folder as `path`)"
        ));
    }
    out
}

/// Whether `pattern` names `path` (relative to where the search starts): for tests.
#[cfg(test)]
fn matches(pattern: &str, path: &str) -> bool {
    matcher(pattern).is_ok_and(|m| m.is_match(std::path::Path::new(path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::generated::Generated;
    use pretty_assertions::assert_eq;

    #[test]
    fn patterns_read_as_in_gitignore_and_the_vendors_globs() {
        let table = [
            ("*.rs", "main.rs", true),
            ("*.rs", "src/deep/lib.rs", true),
            ("src/*.rs", "src/lib.rs", true),
            ("src/*.rs", "src/deep/lib.rs", false),
            ("src/**/*.rs", "src/deep/lib.rs", true),
            ("src/**/*.rs", "src/lib.rs", true),
            ("./src/*.rs", "src/lib.rs", true),
            ("*.{toml,md}", "docs/x.md", true),
            ("test_?.py", "t/test_1.py", true),
            ("test_?.py", "t/test_12.py", false),
        ];
        for (pattern, path, expected) in table {
            assert_eq!(matches(pattern, path), expected, "{pattern} ~ {path}");
        }
        assert!(
            matcher("src/[")
                .unwrap_err()
                .content
                .contains("is not a valid glob")
        );
        assert!(matcher(" ").unwrap_err().content.contains("is empty"));
    }

    #[test]
    fn ignored_and_generated_files_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "src/a.rs",
            "src/b/c.rs",
            "notes.txt",
            "out/x.rs",
            "node_modules/m/index.js",
            "app.js",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        std::fs::write(root.join(".gitignore"), "out/\n").unwrap();
        let generated = Generated::built_in();
        let scope = Scope {
            root,
            generated: &generated,
            budget: 1000,
        };
        let found =
            |pattern: &str, path: Option<&str>| glob(&scope, pattern, path).unwrap().content;
        assert_eq!(found("*.rs", None), "src/a.rs\nsrc/b/c.rs");
        assert_eq!(found("*.js", None), "app.js");
        assert_eq!(found("*.rs", Some("src/b")), "src/b/c.rs");
        assert_eq!(found("b/*.rs", Some("src")), "src/b/c.rs");
        assert_eq!(
            found("*.py", None),
            "no file matches `*.py` (files ignored by .gitignore and generated output are not searched)"
        );
        let escapes = [
            glob(&scope, "*", Some("..")),
            glob(&scope, "*", Some("/etc")),
            glob(&scope, "*", Some(".git")),
        ];
        for out in escapes {
            assert!(out.is_err(), "{out:?}");
        }
    }
}
