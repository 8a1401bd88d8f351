//! File tools: read, list, write, edit — all confined to the worktree.

use std::path::Path;

use super::ToolOutput;
use crate::policy::{confine, confine_for_write};

const DEFAULT_LIMIT: u64 = 2000;

fn confined(root: &Path, path: &str) -> Result<std::path::PathBuf, ToolOutput> {
    confine(root, path).map_err(|err| ToolOutput::error(err.to_string()))
}

pub fn read_file(
    root: &Path,
    path: &str,
    offset: Option<u64>,
    limit: Option<u64>,
) -> Result<ToolOutput, ToolOutput> {
    let full = confined(root, path)?;
    let bytes = std::fs::read(&full)
        .map_err(|err| ToolOutput::error(format!("cannot read {path}: {err}")))?;
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
        Some(p) if !p.is_empty() && p != "." => confined(root, p)?,
        _ => root.to_path_buf(),
    };
    let mut files = Vec::new();
    for entry in ignore::WalkBuilder::new(&dir)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build()
        .flatten()
    {
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
    let full = confine_for_write(root, path).map_err(|err| ToolOutput::error(err.to_string()))?;
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(|err| {
            ToolOutput::error(format!("cannot create the folder of {path}: {err}"))
        })?;
    }
    let existed = full.exists();
    std::fs::write(&full, content)
        .map_err(|err| ToolOutput::error(format!("cannot write {path}: {err}")))?;
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
    let full = confine_for_write(root, path).map_err(|err| ToolOutput::error(err.to_string()))?;
    let text = std::fs::read_to_string(&full)
        .map_err(|err| ToolOutput::error(format!("cannot read {path}: {err}")))?;
    if old_text.is_empty() {
        return Err(ToolOutput::error(
            "old_text is empty; use write_file to create a file",
        ));
    }
    match text.matches(old_text).count() {
        0 => Err(ToolOutput::error(format!(
            "old_text was not found in {path}; read the file again and copy the text exactly"
        ))),
        1 => {
            let updated = text.replacen(old_text, new_text, 1);
            std::fs::write(&full, updated)
                .map_err(|err| ToolOutput::error(format!("cannot write {path}: {err}")))?;
            Ok(ToolOutput::ok(format!("edited {path}")))
        }
        n => Err(ToolOutput::error(format!(
            "old_text appears {n} times in {path}; include more surrounding lines so it is unique"
        ))),
    }
}
