//! `apply_patch`: the file-oriented diff format OpenAI's models are trained to write (the
//! "V4A" format of Codex CLI, `codex-rs/apply-patch` in openai/codex). Offered to OpenAI
//! models only; the others get `edit_file` and `multi_edit`.
//!
//! ```text
//! Patch      := "*** Begin Patch" NL { FileOp } "*** End Patch" [NL]
//! FileOp     := AddFile | DeleteFile | UpdateFile
//! AddFile    := "*** Add File: " path NL { "+" line NL }
//! DeleteFile := "*** Delete File: " path NL
//! UpdateFile := "*** Update File: " path NL [ "*** Move to: " path NL ] { Hunk }
//! Hunk       := [ "@@" [ " " context ] NL ] { (" " | "-" | "+") line NL } [ "*** End of File" NL ]
//! ```
//!
//! A hunk's ` ` and `-` lines are the old text, its ` ` and `+` lines the new; the old lines
//! are looked for after the `@@` context line and after the hunk before, exactly first, then
//! ignoring trailing whitespace, then ignoring surrounding whitespace, then with typographic
//! quotes, dashes and spaces read as their ASCII forms — as Codex does, since models copy
//! context loosely. The whole patch is worked out in memory first and written only if every
//! operation applies: a failing hunk changes no file, and the error names the operation and
//! the lines that were not found.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::ToolOutput;
use super::files::{MAX_FILE_BYTES, model_path, refused, root_of};
use crate::beneath::{Kind, Root};

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File: ";
const DELETE: &str = "*** Delete File: ";
const UPDATE: &str = "*** Update File: ";
const MOVE: &str = "*** Move to: ";
const END_OF_FILE: &str = "*** End of File";

/// Whether `model` is one of OpenAI's models trained on this format: GPT-4.1, the GPT-5
/// family, o3 and o4-mini, the Codex models and gpt-oss. A router's `vendor/` prefix is
/// looked past (`openai/gpt-5`).
pub fn trained_on(model: &str) -> bool {
    let bare = model.rsplit('/').next().unwrap_or(model);
    ["gpt-4.1", "gpt-5", "o3", "o4", "codex", "gpt-oss"]
        .iter()
        .any(|family| bare.starts_with(family))
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Add {
        path: String,
        content: String,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Hunk {
    context: Option<String>,
    old: Vec<String>,
    new: Vec<String>,
    end_of_file: bool,
}

/// Why a patch does not parse, with the 1-based line of the patch.
fn bad(line: usize, why: impl std::fmt::Display) -> String {
    format!("line {line} of the patch: {why}")
}

fn parse(patch: &str) -> Result<Vec<Op>, String> {
    let lines: Vec<&str> = patch.trim().lines().collect();
    if lines.first().map(|l| l.trim()) != Some(BEGIN) {
        return Err(format!("the first line must be `{BEGIN}`"));
    }
    if lines.len() < 2 || lines.last().map(|l| l.trim()) != Some(END) {
        return Err(format!("the last line must be `{END}`"));
    }
    let body = &lines[1..lines.len() - 1];
    let mut ops = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let number = i + 2;
        let header = body[i].trim();
        i += 1;
        if header.is_empty() {
            continue;
        }
        if let Some(path) = header.strip_prefix(ADD) {
            let mut content = String::new();
            while let Some(line) = body.get(i).and_then(|l| l.strip_prefix('+')) {
                content.push_str(line);
                content.push('\n');
                i += 1;
            }
            ops.push(Op::Add {
                path: path.trim().to_string(),
                content,
            });
        } else if let Some(path) = header.strip_prefix(DELETE) {
            ops.push(Op::Delete {
                path: path.trim().to_string(),
            });
        } else if let Some(path) = header.strip_prefix(UPDATE) {
            let move_to = match body.get(i).and_then(|l| l.trim().strip_prefix(MOVE)) {
                Some(to) => {
                    i += 1;
                    Some(to.trim().to_string())
                }
                None => None,
            };
            let (hunks, used) = parse_hunks(&body[i..], i + 2)?;
            if hunks.is_empty() {
                return Err(bad(
                    number,
                    format!("`{header}` has no hunk; an update needs `@@` and changed lines"),
                ));
            }
            i += used;
            ops.push(Op::Update {
                path: path.trim().to_string(),
                move_to,
                hunks,
            });
        } else {
            return Err(bad(
                number,
                format!(
                    "`{header}` is not an operation; each starts with `{ADD}<path>`, `{DELETE}<path>` or `{UPDATE}<path>`"
                ),
            ));
        }
    }
    if ops.is_empty() {
        return Err("the patch holds no operation".into());
    }
    Ok(ops)
}

/// The hunks of an update, up to the next operation: the hunks and the lines they took.
fn parse_hunks(lines: &[&str], first_number: usize) -> Result<(Vec<Hunk>, usize), String> {
    let mut hunks: Vec<Hunk> = Vec::new();
    let mut i = 0;
    let mut open: Option<Hunk> = None;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("***") && line.trim() != END_OF_FILE {
            break;
        }
        if line.trim() == END_OF_FILE {
            let mut hunk = open.take().unwrap_or_default();
            hunk.end_of_file = true;
            hunks.push(hunk);
            i += 1;
            continue;
        }
        if line.trim_end() == "@@" || line.starts_with("@@ ") {
            hunks.extend(
                open.take()
                    .filter(|h| !h.old.is_empty() || !h.new.is_empty()),
            );
            let context = line[2..].trim();
            open = Some(Hunk {
                context: (!context.is_empty()).then(|| context.to_string()),
                ..Hunk::default()
            });
            i += 1;
            continue;
        }
        let hunk = open.get_or_insert_with(Hunk::default);
        match line.chars().next() {
            // A blank line is an empty context line: editors strip the lone space.
            None => {
                hunk.old.push(String::new());
                hunk.new.push(String::new());
            }
            Some(' ') => {
                hunk.old.push(line[1..].to_string());
                hunk.new.push(line[1..].to_string());
            }
            Some('-') => hunk.old.push(line[1..].to_string()),
            Some('+') => hunk.new.push(line[1..].to_string()),
            Some(_) => {
                return Err(bad(
                    first_number + i,
                    format!(
                        "`{line}` starts with none of ' ' (context), '-' (removed) or '+' (added)"
                    ),
                ));
            }
        }
        i += 1;
    }
    hunks.extend(open.filter(|h| !h.old.is_empty() || !h.new.is_empty()));
    Ok((hunks, i))
}

/// Where `pattern` starts in `lines`, at or after `from`, trying looser comparisons in turn.
/// With `at_end`, a match that ends the file is tried first.
fn seek(lines: &[String], pattern: &[String], from: usize, at_end: bool) -> Option<usize> {
    if pattern.is_empty() {
        return Some(from);
    }
    if pattern.len() > lines.len() {
        return None;
    }
    let last_start = lines.len() - pattern.len();
    /// Line comparisons, strictest first.
    type Same = fn(&str, &str) -> bool;
    let same: [Same; 4] = [
        |a, b| a == b,
        |a, b| a.trim_end() == b.trim_end(),
        |a, b| a.trim() == b.trim(),
        |a, b| ascii_form(a) == ascii_form(b),
    ];
    for equal in same {
        let fits = |at: usize| pattern.iter().zip(&lines[at..]).all(|(p, l)| equal(l, p));
        if at_end && fits(last_start) {
            return Some(last_start);
        }
        if let Some(at) = (from..=last_start).find(|&at| fits(at)) {
            return Some(at);
        }
    }
    None
}

/// A line with typographic dashes, quotes and spaces as their ASCII forms, trimmed.
fn ascii_form(line: &str) -> String {
    line.trim()
        .chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{2018}'..='\u{201B}' => '\'',
            '\u{201C}'..='\u{201F}' => '"',
            '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// `text` with the hunks applied, or what did not match.
fn apply_hunks(text: &str, hunks: &[Hunk]) -> Result<String, String> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    let mut edits: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut at = 0;
    for (n, hunk) in hunks.iter().enumerate() {
        if let Some(context) = &hunk.context {
            let found =
                seek(&lines, std::slice::from_ref(context), at, false).ok_or_else(|| {
                    format!(
                        "hunk {}: its `@@ {context}` line was not found{}",
                        n + 1,
                        after(at)
                    )
                })?;
            at = found + 1;
        }
        if hunk.old.is_empty() {
            let insert = if hunk.end_of_file || hunk.context.is_none() {
                lines.len()
            } else {
                at
            };
            edits.push((insert, 0, hunk.new.clone()));
            continue;
        }
        let (mut old, mut new) = (hunk.old.as_slice(), hunk.new.as_slice());
        let mut found = seek(&lines, old, at, hunk.end_of_file);
        // A trailing empty line in the hunk stands for the file's final newline.
        if found.is_none() && old.last().is_some_and(String::is_empty) {
            old = &old[..old.len() - 1];
            if new.last().is_some_and(String::is_empty) {
                new = &new[..new.len() - 1];
            }
            found = seek(&lines, old, at, hunk.end_of_file);
        }
        let Some(start) = found else {
            return Err(format!(
                "hunk {}: these lines were not found{}:\n{}\nread the file again and copy its ' ' and '-' lines exactly",
                n + 1,
                after(at),
                hunk.old.join("\n")
            ));
        };
        edits.push((start, old.len(), new.to_vec()));
        at = start + old.len();
    }
    for (start, len, new) in edits.into_iter().rev() {
        lines.splice(start..start + len, new);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

fn after(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" after line {line}")
    }
}

/// What the patch leaves at each path it touches: new content, or `None` for removed.
type Staged = BTreeMap<PathBuf, Option<String>>;

/// The current text of `path`: as staged by an earlier operation, else from the worktree.
fn current(root: &Root, staged: &Staged, path: &str) -> Result<Option<String>, String> {
    let rel = model_path(path).map_err(|e| e.content)?;
    if let Some(content) = staged.get(&rel) {
        return Ok(content.clone());
    }
    match root.kind(&rel) {
        Ok(None) => return Ok(None),
        Ok(Some(Kind::File { .. })) => {}
        Ok(Some(_)) => return Err(format!("`{path}` is not a regular file")),
        Err(err) => return Err(refused(err).content),
    }
    let bytes = root
        .read(&rel, MAX_FILE_BYTES)
        .map_err(|err| refused(err).content)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("`{path}` is not UTF-8 text; rewrite it with write_file"))
}

/// `path` as a place the patch may write: inside the worktree, not through a link, and a
/// regular file if anything stands there — checked before anything is written.
fn target(root: &Root, path: &str) -> Result<PathBuf, String> {
    let rel = model_path(path).map_err(|e| e.content)?;
    match root.kind(&rel) {
        Ok(None | Some(Kind::File { .. })) => Ok(rel),
        Ok(Some(_)) => Err(format!("`{path}` is not a regular file")),
        Err(err) if err.is_not_found() => Ok(rel),
        Err(err) => Err(refused(err).content),
    }
}

fn stage(root: &Root, ops: &[Op]) -> Result<Staged, String> {
    let mut staged = Staged::new();
    for (n, op) in ops.iter().enumerate() {
        let fail = |why: String| format!("operation {} of {} failed: {why}", n + 1, ops.len());
        match op {
            Op::Add { path, content } => {
                let rel = target(root, path).map_err(fail)?;
                staged.insert(rel, Some(content.clone()));
            }
            Op::Delete { path } => {
                current(root, &staged, path)
                    .map_err(fail)?
                    .ok_or_else(|| fail(format!("`{path}` to delete does not exist")))?;
                let rel = model_path(path).map_err(|e| fail(e.content))?;
                staged.insert(rel, None);
            }
            Op::Update {
                path,
                move_to,
                hunks,
            } => {
                let text = current(root, &staged, path).map_err(fail)?.ok_or_else(|| {
                    fail(format!(
                        "`{path}` to update does not exist; create it with `{ADD}{path}`"
                    ))
                })?;
                let updated =
                    apply_hunks(&text, hunks).map_err(|why| fail(format!("in `{path}`, {why}")))?;
                let from = model_path(path).map_err(|e| fail(e.content))?;
                match move_to {
                    Some(to) => {
                        let to = target(root, to).map_err(fail)?;
                        staged.insert(from, None);
                        staged.insert(to, Some(updated));
                    }
                    None => {
                        staged.insert(from, Some(updated));
                    }
                }
            }
        }
    }
    Ok(staged)
}

pub fn apply_patch(worktree: &std::path::Path, patch: &str) -> Result<ToolOutput, ToolOutput> {
    let unchanged = "; nothing was changed";
    let ops = parse(patch)
        .map_err(|why| ToolOutput::error(format!("the patch does not parse: {why}{unchanged}")))?;
    let root = root_of(worktree)?;
    let staged =
        stage(&root, &ops).map_err(|why| ToolOutput::error(format!("{why}{unchanged}")))?;
    // Every operation applied in memory: now the writes, then the removals.
    let mut report = Vec::new();
    for (rel, content) in &staged {
        if let Some(content) = content {
            let existed = root
                .write(rel, content.as_bytes(), None, false)
                .map_err(refused)?;
            let verb = if existed { "updated" } else { "added" };
            report.push(format!("{verb} {}", rel.display()));
        }
    }
    for (rel, content) in &staged {
        if content.is_none() {
            root.remove(rel).map_err(refused)?;
            report.push(format!("deleted {}", rel.display()));
        }
    }
    Ok(ToolOutput::ok(format!(
        "applied the patch: {}",
        report.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn the_grammar_of_codex_patches_parses() {
        let patch = "*** Begin Patch\n*** Add File: hello.txt\n+Hello world\n+\n*** Update File: src/app.py\n*** Move to: src/main.py\n@@ def greet():\n-print(\"Hi\")\n+print(\"Hello, world!\")\n*** Delete File: obsolete.txt\n*** End Patch\n";
        assert_eq!(
            parse(patch).unwrap(),
            vec![
                Op::Add {
                    path: "hello.txt".into(),
                    content: "Hello world\n\n".into()
                },
                Op::Update {
                    path: "src/app.py".into(),
                    move_to: Some("src/main.py".into()),
                    hunks: vec![Hunk {
                        context: Some("def greet():".into()),
                        old: lines("print(\"Hi\")"),
                        new: lines("print(\"Hello, world!\")"),
                        end_of_file: false,
                    }]
                },
                Op::Delete {
                    path: "obsolete.txt".into()
                },
            ]
        );
        // A first hunk may go without `@@`; several hunks; an end-of-file hunk.
        let ops = parse("*** Begin Patch\n*** Update File: f\n a\n-b\n+B\n@@\n-y\n+Y\n*** End of File\n*** End Patch").unwrap();
        let Op::Update { hunks, .. } = &ops[0] else {
            panic!()
        };
        assert_eq!(hunks.len(), 2);
        assert!(hunks[1].end_of_file);
        for (patch, why) in [
            ("nothing", "the first line must be `*** Begin Patch`"),
            (
                "*** Begin Patch\n*** Add File: x\n+x",
                "the last line must be `*** End Patch`",
            ),
            (
                "*** Begin Patch\n*** End Patch",
                "the patch holds no operation",
            ),
            (
                "*** Begin Patch\n*** Frobnicate: x\n*** End Patch",
                "line 2 of the patch: `*** Frobnicate: x` is not an operation",
            ),
            (
                "*** Begin Patch\n*** Update File: f\n*** End Patch",
                "line 2 of the patch: `*** Update File: f` has no hunk",
            ),
            (
                "*** Begin Patch\n*** Update File: f\n@@\nfoo\n*** End Patch",
                "line 4 of the patch: `foo` starts with none of",
            ),
        ] {
            let err = parse(patch).unwrap_err();
            assert!(err.starts_with(why), "{patch:?}: {err}");
        }
    }

    #[test]
    fn hunks_find_their_lines_from_exact_to_loose() {
        let text = "fn a() {\n    one();\n}\nfn b() {\n    one();\n}\n";
        let hunk = |context: Option<&str>, old: &str, new: &str| Hunk {
            context: context.map(str::to_string),
            old: lines(old),
            new: lines(new),
            end_of_file: false,
        };
        // The context line picks the second `one();`.
        assert_eq!(
            apply_hunks(text, &[hunk(Some("fn b() {"), "    one();", "    two();")]).unwrap(),
            "fn a() {\n    one();\n}\nfn b() {\n    two();\n}\n"
        );
        // Whitespace and typographic quotes copied loosely still match.
        assert_eq!(
            apply_hunks(
                "say(\u{201C}hi\u{201D})  \n",
                &[hunk(None, "say(\"hi\")", "say(\"bye\")")]
            )
            .unwrap(),
            "say(\"bye\")\n"
        );
        let err = apply_hunks(text, &[hunk(None, "three();", "x")]).unwrap_err();
        assert!(
            err.starts_with("hunk 1: these lines were not found:\nthree();"),
            "{err}"
        );
        let err = apply_hunks(text, &[hunk(Some("fn c() {"), "one();", "x")]).unwrap_err();
        assert_eq!(err, "hunk 1: its `@@ fn c() {` line was not found");
        // A pure addition goes at the end.
        assert_eq!(
            apply_hunks("a\n", &[hunk(None, "", "b")]).unwrap(),
            "a\nb\n"
        );
    }

    #[test]
    fn a_patch_is_all_or_nothing_and_confined() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("keep.txt"), "one\ntwo\n").unwrap();
        std::fs::write(root.join("old.txt"), "x\n").unwrap();
        // The second operation fails: the first (an add) is not written either.
        let failing = "*** Begin Patch\n*** Add File: new.txt\n+new\n*** Update File: keep.txt\n@@\n-three\n+3\n*** End Patch";
        let err = apply_patch(root, failing).unwrap_err().content;
        assert!(
            err.starts_with(
                "operation 2 of 2 failed: in `keep.txt`, hunk 1: these lines were not found"
            ),
            "{err}"
        );
        assert!(err.ends_with("; nothing was changed"), "{err}");
        assert!(!root.join("new.txt").exists());
        let good = "*** Begin Patch\n*** Add File: new.txt\n+new\n*** Update File: keep.txt\n*** Move to: moved/keep.txt\n@@\n one\n-two\n+2\n*** Delete File: old.txt\n*** End Patch";
        assert_eq!(
            apply_patch(root, good).unwrap().content,
            "applied the patch: added moved/keep.txt, added new.txt, deleted keep.txt, deleted old.txt"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("moved/keep.txt")).unwrap(),
            "one\n2\n"
        );
        assert!(!root.join("keep.txt").exists() && !root.join("old.txt").exists());
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        for path in [
            "../outside.txt",
            "/tmp/abs.txt",
            ".git/config",
            "link/passwd",
        ] {
            let patch = format!("*** Begin Patch\n*** Add File: {path}\n+x\n*** End Patch");
            let out = apply_patch(root, &patch);
            assert!(out.is_err(), "{path}: {out:?}");
        }
        assert!(!dir.path().parent().unwrap().join("outside.txt").exists());
    }

    #[test]
    fn openai_models_trained_on_the_format_are_known() {
        for model in [
            "gpt-5",
            "gpt-5.4-mini",
            "gpt-4.1",
            "o3",
            "o4-mini",
            "openai/gpt-5",
            "gpt-oss-120b",
        ] {
            assert!(trained_on(model), "{model}");
        }
        for model in ["claude-sonnet-4-5", "gpt-4o", "llama3.1", "qwen2.5-coder"] {
            assert!(!trained_on(model), "{model}");
        }
    }
}
