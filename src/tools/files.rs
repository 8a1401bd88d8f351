//! File tools: read, list, write, edit, multi-edit — all confined to the worktree.
//!
//! Reads and writes go through [`crate::beneath::Root`]: resolved by the kernel beneath the
//! worktree, never through a symbolic link, only on regular files, and through the fd that
//! was checked — so nothing a command left behind can redirect them.
//!
//! What a read returns is sized in tokens, not lines: a minified file's one line is cut like
//! a long file, and the result ends saying what was left out and which call shows it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Scope, ToolOutput};
use crate::beneath::{BeneathError, Root};
use crate::llm::bytes_for_tokens;
use crate::policy::confine;

const DEFAULT_LIMIT: u64 = 2000;
/// The largest file `read_file` and the edit tools load; larger ones are read with a command.
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// Bytes of a read's budget kept for the line that says where to continue.
const NOTE_ROOM: usize = 300;
/// Files `list_files` names at most.
const MAX_LISTED: usize = 500;

/// The model's path as a relative path for [`Root`], or a tool error: absolute paths and
/// anything naming `.git` (the repository's metadata belongs to the harness) are refused.
pub(super) fn model_path(path: &str) -> Result<PathBuf, ToolOutput> {
    let rel = Path::new(path);
    if path.is_empty() {
        return Err(ToolOutput::error(
            "`path` is empty; give a file path relative to the worktree, such as `src/main.rs`",
        ));
    }
    if rel.is_absolute() {
        return Err(ToolOutput::error(format!(
            "path `{path}` is absolute; give a path relative to the worktree, such as `src/main.rs`"
        )));
    }
    if rel
        .components()
        .any(|c| c.as_os_str().eq_ignore_ascii_case(".git"))
    {
        return Err(ToolOutput::error(format!(
            "path `{path}` is inside `.git`; the repository's metadata belongs to the harness, not to the agent"
        )));
    }
    Ok(rel.to_path_buf())
}

pub(super) fn root_of(worktree: &Path) -> Result<Root, ToolOutput> {
    Root::open(worktree)
        .map_err(|err| ToolOutput::error(format!("cannot open the worktree: {err}")))
}

pub(super) fn refused(err: BeneathError) -> ToolOutput {
    let hint = match &err {
        BeneathError::Symlink { .. } => {
            "; the file tools never follow symbolic links: use the path of the link's target"
        }
        BeneathError::TooLarge { .. } => "; read parts of it with run_command (head, sed -n)",
        BeneathError::BadPath { .. } => "; give a path inside the worktree, without `..`",
        err if err.is_not_found() => "; find the right path with glob or list_files",
        _ => "",
    };
    ToolOutput::error(format!("{err}{hint}"))
}

/// A directory the model named for a walk (`None`, empty or `.`: the whole worktree).
pub(super) fn start_dir(root: &Path, path: Option<&str>) -> Result<PathBuf, ToolOutput> {
    match path {
        Some(p) if !p.is_empty() && p != "." => {
            model_path(p)?;
            confine(root, p).map_err(|err| ToolOutput::error(err.to_string()))
        }
        _ => Ok(root.to_path_buf()),
    }
}

/// A walk over `start` inside the worktree as the model sees it: `.gitignore` and the
/// generated-output list honoured, as checkpoints do; no link followed, no `.git`.
pub(super) fn walker(scope: &Scope<'_>, start: &Path) -> ignore::WalkBuilder {
    let excludes = crate::walk::Excludes {
        file: None,
        generated: scope.generated.clone(),
    };
    let (mut builder, _, _) =
        crate::walk::builder_with_excludes(scope.root, start, &excludes, None);
    builder.git_global(true);
    builder
}

/// The text of a file for editing: UTF-8, at most [`MAX_FILE_BYTES`].
fn text_for_edit(root: &Root, rel: &Path, path: &str) -> Result<String, ToolOutput> {
    let bytes = root.read(rel, MAX_FILE_BYTES).map_err(refused)?;
    String::from_utf8(bytes).map_err(|_| {
        ToolOutput::error(format!(
            "{path} is not UTF-8 text, so it cannot be edited by replacing text; rewrite it whole with write_file"
        ))
    })
}

/// `text` from its `column`th character (1-based) on.
fn from_column(text: &str, column: u64) -> &str {
    let skip = (column.max(1) - 1) as usize;
    text.char_indices()
        .nth(skip)
        .map_or("", |(at, _)| &text[at..])
}

/// The longest prefix of `text` of at most `bytes` bytes that ends on a character boundary.
fn prefix_within(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub fn read_file(
    scope: &Scope<'_>,
    path: &str,
    offset: Option<u64>,
    limit: Option<u64>,
    column: Option<u64>,
) -> Result<ToolOutput, ToolOutput> {
    let rel = model_path(path)?;
    let bytes = root_of(scope.root)?
        .read(&rel, MAX_FILE_BYTES)
        .map_err(refused)?;
    if bytes.contains(&0) {
        return Err(ToolOutput::error(format!(
            "{path} is a binary file ({} bytes); inspect it with run_command (`file`, `xxd | head`) if you must",
            bytes.len()
        )));
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len() as u64;
    if total == 0 {
        return Ok(ToolOutput::ok("(empty file)\n"));
    }
    let first = offset.unwrap_or(1).max(1);
    if first > total {
        return Err(ToolOutput::error(format!(
            "offset {first} is past the end of {path}, which has {total} lines; give an offset from 1 to {total}"
        )));
    }
    let column = column.unwrap_or(1).max(1);
    let first_line_chars = lines[(first - 1) as usize].chars().count() as u64;
    if column > 1 && column > first_line_chars {
        return Err(ToolOutput::error(format!(
            "column {column} is past the end of line {first} of {path}, which has {first_line_chars} characters"
        )));
    }
    let last = first
        .saturating_add(limit.unwrap_or(DEFAULT_LIMIT).max(1) - 1)
        .min(total);
    let room = bytes_for_tokens(scope.budget).saturating_sub(NOTE_ROOM);
    let mut out = String::new();
    for n in first..=last {
        let line = lines[(n - 1) as usize];
        let start = if n == first { column } else { 1 };
        let shown = from_column(line, start);
        let entry = format!("{n:>6}\t{shown}\n");
        if out.len() + entry.len() <= room {
            out.push_str(&entry);
            continue;
        }
        if !out.is_empty() {
            out.push_str(&format!(
                "(lines {first}-{} of {total} shown: one result holds about {} tokens; continue with offset={n})\n",
                n - 1,
                scope.budget
            ));
            return Ok(ToolOutput::ok(out));
        }
        // One line longer than a whole result (minified code, a data file): as much of it as
        // fits, and the column where the rest begins.
        let fit = prefix_within(shown, room.saturating_sub(16));
        let fit_chars = fit.chars().count() as u64;
        let rest = shown.chars().count() as u64 - fit_chars;
        let next = start + fit_chars;
        out.push_str(&format!("{n:>6}\t{fit}\n"));
        out.push_str(&format!(
            "(line {n} is cut: columns {start}-{} of {} shown, {rest} more characters; continue with offset={n} column={next})\n",
            next - 1,
            start - 1 + shown.chars().count() as u64,
        ));
        return Ok(ToolOutput::ok(out));
    }
    if last < total {
        out.push_str(&format!(
            "(lines {first}-{last} of {total}; continue with offset={})\n",
            last + 1
        ));
    } else if first > 1 || column > 1 {
        out.push_str(&format!("(lines {first}-{last} of {total}, the end)\n"));
    }
    Ok(ToolOutput::ok(out))
}

pub fn list_files(scope: &Scope<'_>, path: Option<&str>) -> Result<ToolOutput, ToolOutput> {
    let dir = start_dir(scope.root, path)?;
    let mut files = Vec::new();
    for entry in walker(scope, &dir).build().flatten() {
        if entry.file_type().is_some_and(|t| !t.is_dir())
            && let Ok(rel) = entry.path().strip_prefix(scope.root)
        {
            files.push(rel.display().to_string());
        }
    }
    files.sort();
    let more = files.len().saturating_sub(MAX_LISTED);
    let mut out = files
        .into_iter()
        .take(MAX_LISTED)
        .collect::<Vec<_>>()
        .join("\n");
    if more > 0 {
        out.push_str(&format!(
            "\n(… and {more} more files; list a folder, or find files by name with glob)"
        ));
    }
    if out.is_empty() {
        out = "(no files)".into();
    }
    Ok(ToolOutput::ok(out))
}

pub fn write_file(root: &Path, path: &str, content: &str) -> Result<ToolOutput, ToolOutput> {
    let rel = model_path(path)?;
    let existed = root_of(root)?
        .write(&rel, content.as_bytes(), None, false)
        .map_err(refused)?;
    Ok(ToolOutput::ok(format!(
        "{} {path} ({} lines)",
        if existed { "replaced" } else { "created" },
        content.lines().count()
    )))
}

/// One replacement of an edit call.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub old_text: String,
    pub new_text: String,
    /// Replace every occurrence instead of exactly one.
    pub replace_all: bool,
}

impl Edit {
    /// The edit of a JSON object, or what is wrong with it.
    pub fn from_json(value: &Value) -> Result<Edit, String> {
        let text = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("it has no string field `{name}`"))
        };
        let replace_all = match value.get("replace_all") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("its `replace_all` is not true or false".into()),
        };
        Ok(Edit {
            old_text: text("old_text")?,
            new_text: text("new_text")?,
            replace_all,
        })
    }

    /// `text` with this edit made, or why it cannot be.
    pub fn apply(&self, text: &str) -> Result<String, String> {
        if self.old_text.is_empty() {
            return Err(
                "old_text is empty; to create a file or replace it whole use write_file".into(),
            );
        }
        if self.old_text == self.new_text {
            return Err("old_text and new_text are the same, so it would change nothing".into());
        }
        match text.matches(&self.old_text).count() {
            0 => Err(not_found(text, &self.old_text)),
            1 => Ok(text.replacen(&self.old_text, &self.new_text, 1)),
            _ if self.replace_all => Ok(text.replace(&self.old_text, &self.new_text)),
            n => Err(format!(
                "old_text appears {n} times; include more surrounding lines so it is unique, or \
                 set replace_all to true to change every occurrence"
            )),
        }
    }
}

/// Why `old_text` was not found, with what is close to it when something is.
fn not_found(text: &str, old_text: &str) -> String {
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let close = !old_text.trim().is_empty() && squeeze(text).contains(&squeeze(old_text));
    if close {
        "old_text was not found exactly, but it is there with different whitespace or \
         indentation; read the file again and copy the lines exactly (tabs, spaces, line ends), \
         without read_file's line-number prefix"
            .into()
    } else {
        "old_text was not found; read the file again and copy the text exactly, without \
         read_file's line-number prefix"
            .into()
    }
}

pub fn edit_file(root: &Path, path: &str, edit: &Edit) -> Result<ToolOutput, ToolOutput> {
    let rel = model_path(path)?;
    let root = root_of(root)?;
    let text = text_for_edit(&root, &rel, path)?;
    let updated = edit
        .apply(&text)
        .map_err(|why| ToolOutput::error(format!("{path} was not changed: {why}")))?;
    root.write(&rel, updated.as_bytes(), None, false)
        .map_err(refused)?;
    Ok(ToolOutput::ok(format!("edited {path}")))
}

/// Several edits of one file in one call, made in order, each on the result of the one
/// before; all or nothing: the file is written once, after every edit applied.
pub fn multi_edit(root: &Path, path: &str, edits: &Value) -> Result<ToolOutput, ToolOutput> {
    let rel = model_path(path)?;
    let Some(list) = edits.as_array().filter(|l| !l.is_empty()) else {
        return Err(ToolOutput::error(
            "`edits` must be a non-empty array of {\"old_text\", \"new_text\"} objects; nothing was changed",
        ));
    };
    let n = list.len();
    let edits = list
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Edit::from_json(e).map_err(|why| {
                ToolOutput::error(format!(
                    "edit {} of {n} is malformed: {why}; nothing was changed",
                    i + 1
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let root = root_of(root)?;
    let mut text = text_for_edit(&root, &rel, path)?;
    for (i, edit) in edits.iter().enumerate() {
        text = edit.apply(&text).map_err(|why| {
            ToolOutput::error(format!(
                "edit {} of {n} failed: {why}. No edit was applied; {path} is unchanged. Edits \
                 apply in order, each to the text the edits before it left.",
                i + 1
            ))
        })?;
    }
    root.write(&rel, text.as_bytes(), None, false)
        .map_err(refused)?;
    Ok(ToolOutput::ok(format!(
        "edited {path}: {n} edit{} applied",
        if n == 1 { "" } else { "s" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::generated::Generated;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn scope<'a>(root: &'a Path, generated: &'a Generated, budget: u64) -> Scope<'a> {
        Scope {
            root,
            generated,
            budget,
        }
    }

    fn read(dir: &Path, budget: u64, input: (Option<u64>, Option<u64>, Option<u64>)) -> String {
        let generated = Generated::default();
        match read_file(
            &scope(dir, &generated, budget),
            "f",
            input.0,
            input.1,
            input.2,
        ) {
            Ok(out) => out.content,
            Err(out) => format!("ERR {}", out.content),
        }
    }

    #[test]
    fn a_minified_line_is_cut_by_tokens_and_read_on_by_column() {
        let dir = tempfile::tempdir().unwrap();
        let line: String = (0..20_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        std::fs::write(dir.path().join("f"), format!("{line}\n")).unwrap();
        // 1000 tokens: about 3000 bytes, less the room for the note.
        let first = read(dir.path(), 1000, (None, None, None));
        let shown = first.lines().next().unwrap().split('\t').nth(1).unwrap();
        assert_eq!(shown.len(), 3000 - NOTE_ROOM - 16);
        let next = shown.len() + 1;
        assert_eq!(
            first.lines().nth(1).unwrap(),
            format!(
                "(line 1 is cut: columns 1-{} of 20000 shown, {} more characters; continue with offset=1 column={next})",
                next - 1,
                20_000 - shown.len()
            )
        );
        // The next call goes on where the first stopped; the pieces make the line.
        let mut whole = shown.to_string();
        let mut column = next as u64;
        loop {
            let out = read(dir.path(), 1000, (Some(1), None, Some(column)));
            let piece = out.lines().next().unwrap().split('\t').nth(1).unwrap();
            whole.push_str(piece);
            match out.split("column=").nth(1) {
                Some(rest) => column = rest.trim_end_matches(")\n").parse().unwrap(),
                None => {
                    assert!(out.ends_with("(lines 1-1 of 1, the end)\n"), "{out}");
                    break;
                }
            }
        }
        assert_eq!(whole, line);
        assert!(
            read(dir.path(), 1000, (Some(1), None, Some(20_001))).starts_with("ERR column 20001")
        );
    }

    #[test]
    fn many_lines_stop_at_the_budget_and_say_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (1..=1000)
            .map(|i| format!("line number {i:04}\n"))
            .collect();
        std::fs::write(dir.path().join("f"), text).unwrap();
        let out = read(dir.path(), 1000, (None, None, None));
        let shown = out.lines().count() - 1;
        // Each numbered line is 24 bytes: as many as fit in 3000 - NOTE_ROOM.
        assert_eq!(shown, (3000 - NOTE_ROOM) / 24);
        assert_eq!(
            out.lines().last().unwrap(),
            format!(
                "(lines 1-{shown} of 1000 shown: one result holds about 1000 tokens; continue with offset={})",
                shown + 1
            )
        );
        let small = read(dir.path(), 1000, (Some(998), Some(2), None));
        assert_eq!(
            small,
            "   998\tline number 0998\n   999\tline number 0999\n(lines 998-999 of 1000; continue with offset=1000)\n"
        );
        assert!(read(dir.path(), 1000, (Some(1001), None, None)).starts_with("ERR offset 1001"));
    }

    #[test]
    fn a_multi_edit_applies_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.txt");
        std::fs::write(&file, "alpha beta gamma\nbeta\n").unwrap();
        let failing = json!([
            {"old_text": "alpha", "new_text": "ALPHA"},
            {"old_text": "beta", "new_text": "BETA"},
        ]);
        let err = multi_edit(dir.path(), "f.txt", &failing).unwrap_err();
        assert!(
            err.content
                .starts_with("edit 2 of 2 failed: old_text appears 2 times"),
            "{}",
            err.content
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "alpha beta gamma\nbeta\n"
        );
        let good = json!([
            {"old_text": "alpha", "new_text": "ALPHA"},
            {"old_text": "beta", "new_text": "BETA", "replace_all": true},
            // Sees the text the edits before it left.
            {"old_text": "ALPHA BETA", "new_text": "first"},
        ]);
        let out = multi_edit(dir.path(), "f.txt", &good).unwrap();
        assert_eq!(out.content, "edited f.txt: 3 edits applied");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "first gamma\nBETA\n"
        );
        let malformed = json!([{"old_text": "x"}]);
        assert_eq!(
            multi_edit(dir.path(), "f.txt", &malformed)
                .unwrap_err()
                .content,
            "edit 1 of 1 is malformed: it has no string field `new_text`; nothing was changed"
        );
    }

    #[test]
    fn an_edit_that_misses_says_whether_only_whitespace_differs() {
        let edit = |old: &str| Edit {
            old_text: old.into(),
            new_text: "y".into(),
            replace_all: false,
        };
        let text = "fn main() {\n\tlet x = 1;\n}\n";
        assert!(
            edit("fn main() {\n    let x = 1;")
                .apply(text)
                .unwrap_err()
                .contains("different whitespace")
        );
        assert!(
            edit("fn other()")
                .apply(text)
                .unwrap_err()
                .starts_with("old_text was not found; read")
        );
    }
}
