//! Regex search over the worktree with ripgrep's engine, honouring .gitignore and the
//! generated-output list.

use grep_regex::RegexMatcher;
use grep_searcher::sinks::UTF8;
use grep_searcher::{BinaryDetection, SearcherBuilder};

use super::files::{start_dir, walker};
use super::{Scope, ToolOutput};
use crate::beneath::Root;

const MAX_MATCHES: usize = 200;
/// Characters of one matching line shown: a minified file's one line is not the whole result.
const MAX_LINE_CHARS: usize = 300;

/// A matching line as shown, cut after [`MAX_LINE_CHARS`] characters with how much was left.
fn shown_line(line: &str) -> String {
    let line = line.trim_end();
    let total = line.chars().count();
    if total <= MAX_LINE_CHARS {
        return line.to_string();
    }
    let head: String = line.chars().take(MAX_LINE_CHARS).collect();
    format!(
        "{head} [… {} more characters on this line; read_file shows it]",
        total - MAX_LINE_CHARS
    )
}

pub fn search(
    scope: &Scope<'_>,
    pattern: &str,
    path: Option<&str>,
) -> Result<ToolOutput, ToolOutput> {
    let root = scope.root;
    let matcher = RegexMatcher::new(pattern).map_err(|err| {
        ToolOutput::error(format!(
            "`{pattern}` is not a valid regular expression ({err}); escape special characters \
             such as ( [ {{ . * + ? with a backslash to match them literally"
        ))
    })?;
    let start = start_dir(root, path)?;
    let mut lines = Vec::new();
    let mut total = 0usize;
    // Binary files stop at their first NUL, so a huge sparse file costs nothing.
    let mut searcher = SearcherBuilder::new()
        .binary_detection(BinaryDetection::quit(0))
        .build();
    let root_fd = Root::open(root)
        .map_err(|err| ToolOutput::error(format!("cannot open the worktree: {err}")))?;
    for entry in walker(scope, &start).build().flatten() {
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
                    lines.push(format!("{rel}:{line_number}: {}", shown_line(line)));
                }
                Ok(true)
            }),
        );
    }
    if lines.is_empty() {
        return Ok(ToolOutput::ok(
            "no matches (the search skips files ignored by .gitignore and generated output)",
        ));
    }
    let mut out = lines.join("\n");
    if total > MAX_MATCHES {
        out.push_str(&format!(
            "\n(… {} more matches not shown; narrow the pattern or the path)",
            total - MAX_MATCHES
        ));
    }
    Ok(ToolOutput::ok(out))
}
