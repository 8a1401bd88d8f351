//! File tools: read, list, write, edit — all confined to the worktree.
//!
//! Reads and writes go through [`crate::beneath::Root`]: resolved by the kernel beneath the
//! worktree, never through a symbolic link, only on regular files, and through the fd that
//! was checked — so nothing a command left behind can redirect them.

use std::path::{Path, PathBuf};

use super::ToolOutput;
use crate::beneath::{BeneathError, Root};
use crate::policy::confine;

const DEFAULT_LIMIT: u64 = 2000;
/// The largest file `read_file` and `edit_file` load; larger ones are read with a command.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// The model's path as a relative path for [`Root`], or a tool error: absolute paths and
/// anything naming `.git` (the repository's metadata belongs to the harness) are refused.
fn model_path(path: &str) -> Result<PathBuf, ToolOutput> {
    let rel = Path::new(path);
    if rel.is_absolute() {
        return Err(ToolOutput::error(format!(
            "path `{path}` is absolute; give a path relative to the worktree"
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

fn root_of(worktree: &Path) -> Result<Root, ToolOutput> {
    Root::open(worktree)
        .map_err(|err| ToolOutput::error(format!("cannot open the worktree: {err}")))
}

fn refused(err: BeneathError) -> ToolOutput {
    let hint = match &err {
        BeneathError::Symlink { .. } => {
            "; the file tools never follow symbolic links: use the path of the link's target"
        }
        BeneathError::TooLarge { .. } => "; read parts of it with run_command (head, sed -n)",
        _ => "",
    };
    ToolOutput::error(format!("{err}{hint}"))
}

pub fn read_file(
    root: &Path,
    path: &str,
    offset: Option<u64>,
    limit: Option<u64>,
) -> Result<ToolOutput, ToolOutput> {
    let rel = model_path(path)?;
    let bytes = root_of(root)?.read(&rel, MAX_FILE_BYTES).map_err(refused)?;
    if bytes.contains(&0) {
        return Err(ToolOutput::error(format!(
            "{path} is a binary file ({} bytes)",
            bytes.len()
        )));
    }
    let text = String::from_utf8_lossy(&bytes);
    let first = offset.unwrap_or(1).max(1);
    let limit = limit.unwrap_or(DEFAULT_LIMIT).max(1);
    let total = text.lines().count() as u64;
    let mut out = String::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .skip((first - 1) as usize)
        .take(limit as usize)
    {
        out.push_str(&format!("{:>6}\t{line}\n", i + 1));
    }
    let last = (first + limit - 1).min(total);
    if total == 0 {
        out.push_str("(empty file)\n");
    } else if first > 1 || last < total {
        out.push_str(&format!("(lines {first}-{last} of {total})\n"));
    }
    Ok(ToolOutput::ok(out))
}

pub fn list_files(root: &Path, path: Option<&str>) -> Result<ToolOutput, ToolOutput> {
    let dir = match path {
        Some(p) if !p.is_empty() && p != "." => {
            model_path(p)?;
            confine(root, p).map_err(|err| ToolOutput::error(err.to_string()))?
        }
        _ => root.to_path_buf(),
    };
    let mut files = Vec::new();
    let (builder, _) = crate::walk::builder(root, &dir);
    for entry in builder.build().flatten() {
        if entry.file_type().is_some_and(|t| !t.is_dir())
            && let Ok(rel) = entry.path().strip_prefix(root)
        {
            files.push(rel.display().to_string());
        }
    }
    files.sort();
    const MAX: usize = 500;
    let more = files.len().saturating_sub(MAX);
    let mut out = files.into_iter().take(MAX).collect::<Vec<_>>().join("\n");
    if more > 0 {
        out.push_str(&format!(
            "\n(… and {more} more files; list a folder to see them)"
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

pub fn edit_file(
    root: &Path,
    path: &str,
    old_text: &str,
    new_text: &str,
) -> Result<ToolOutput, ToolOutput> {
    let rel = model_path(path)?;
    if old_text.is_empty() {
        return Err(ToolOutput::error(
            "old_text is empty; use write_file to create a file",
        ));
    }
    let root = root_of(root)?;
    let bytes = root.read(&rel, MAX_FILE_BYTES).map_err(refused)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ToolOutput::error(format!("{path} is not UTF-8 text; use write_file")))?;
    match text.matches(old_text).count() {
        0 => Err(ToolOutput::error(format!(
            "old_text was not found in {path}; read the file again and copy the text exactly"
        ))),
        1 => {
            let updated = text.replacen(old_text, new_text, 1);
            root.write(&rel, updated.as_bytes(), None, false)
                .map_err(refused)?;
            Ok(ToolOutput::ok(format!("edited {path}")))
        }
        n => Err(ToolOutput::error(format!(
            "old_text appears {n} times in {path}; include more surrounding lines so it is unique"
        ))),
    }
}
