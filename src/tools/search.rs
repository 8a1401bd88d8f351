//! Regex search over the worktree with ripgrep's engine, honouring .gitignore.

use std::path::Path;

use grep_regex::RegexMatcher;
use grep_searcher::sinks::UTF8;
use grep_searcher::{BinaryDetection, SearcherBuilder};

use super::ToolOutput;
use crate::beneath::Root;
use crate::policy::confine;

const MAX_MATCHES: usize = 200;

pub fn search(root: &Path, pattern: &str, path: Option<&str>) -> Result<ToolOutput, ToolOutput> {
    let matcher = RegexMatcher::new(pattern)
        .map_err(|err| ToolOutput::error(format!("invalid regex: {err}")))?;
    let start = match path {
        Some(p) if !p.is_empty() && p != "." => {
            confine(root, p).map_err(|err| ToolOutput::error(err.to_string()))?
        }
        _ => root.to_path_buf(),
    };
    let mut lines = Vec::new();
    let mut total = 0usize;
    // Binary files stop at their first NUL, so a huge sparse file costs nothing.
    let mut searcher = SearcherBuilder::new()
        .binary_detection(BinaryDetection::quit(0))
        .build();
    let root_fd = Root::open(root)
        .map_err(|err| ToolOutput::error(format!("cannot open the worktree: {err}")))?;
    let (builder, _) = crate::walk::builder(root, &start);
    for entry in builder.build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(rel_path) = entry.path().strip_prefix(root) else {
            continue;
        };
        // Opened beneath the worktree without following links; FIFOs are refused unopened.
        let Ok((file, _)) = root_fd.open_regular(rel_path) else {
            continue;
        };
        let rel = rel_path.display().to_string();
        let _ = searcher.search_file(
            &matcher,
            &file,
            UTF8(|line_number, line| {
                total += 1;
                if lines.len() < MAX_MATCHES {
                    lines.push(format!("{rel}:{line_number}: {}", line.trim_end()));
                }
                Ok(true)
            }),
        );
    }
    if lines.is_empty() {
        return Ok(ToolOutput::ok("no matches"));
    }
    let mut out = lines.join("\n");
    if total > MAX_MATCHES {
        out.push_str(&format!(
            "\n(… {} more matches; narrow the pattern or the path)",
            total - MAX_MATCHES
        ));
    }
    Ok(ToolOutput::ok(out))
}
