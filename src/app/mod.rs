//! The application layer: what the front ends (the CLI in `commands`, the MCP server in
//! `commands::mcp`) do, as library functions that return typed views. A view is one
//! `serde::Serialize` struct: the CLI prints it with `--json` (adding its `type`) and renders
//! it for people, the MCP server returns it as a tool's structured result, so the two cannot
//! drift apart.
//!
//! May call `store`, `config`, `policy`, `llm`, `tools`, `agent`, `walk`, `text` and `error`;
//! never a front end (`commands`). It prints nothing: what a use case has to tell beyond its
//! result goes to the caller's [`Notices`].

pub mod advice;
pub mod checks;
pub mod drop;
pub mod merge;
pub mod read;
pub mod rollback;
pub mod say;
pub mod session;
pub mod stop;
pub mod update;
pub mod views;

use crate::config::Warning;

/// Where a use case's notices go: stderr for the CLI (unless `-q` or `--json`), nowhere for
/// the MCP server (stdout is its protocol).
pub trait Notices {
    /// Progress or a remark for people.
    fn say(&self, text: &str);
    /// Configuration warnings (ignored keys, unpriced models).
    fn warn(&self, warnings: &[Warning]);
}

/// Notices nobody reads: the MCP server's.
pub struct Quiet;

impl Notices for Quiet {
    fn say(&self, _text: &str) {}
    fn warn(&self, _warnings: &[Warning]) {}
}

/// A commit id as people read it: its first eight hex digits.
pub fn short(id: gix::ObjectId) -> String {
    id.to_hex_with_len(8).to_string()
}

/// A path from a repository, safe to print on a terminal: control characters (an escape
/// sequence in a file name) are shown as `?`.
pub fn visible(path: &str) -> String {
    path.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The worktree a task works in: the user's checkout for `--here`, else its private one.
pub fn task_worktree(
    store: &crate::store::Store,
    task: &crate::store::Task,
    here: bool,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    if here {
        return Ok(Some(store.workdir()?.to_path_buf()));
    }
    let path = store.worktree_path(&task.slug);
    Ok(path.join(".git").is_file().then_some(path))
}
