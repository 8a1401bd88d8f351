//! The secret scan of a checkpoint-to-be: what the worktree changed since the tip (the diff
//! of tracked files, and new files whole). A secret is never committed.

use std::path::Path;

use gix::ObjectId;

use crate::policy::{SecretAllowList, scan_diff, scan_file};

/// Findings as `path:line: rule (excerpt)`; the secret itself is never in them. The inline
/// allow marker is not honoured: the model can write it as easily as the secret.
pub fn worktree_findings(worktree: &Path, tip: ObjectId, allow: &[String]) -> Vec<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(worktree)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let allow = SecretAllowList::new(allow, &[])
        .unwrap_or_default()
        .without_inline_marker();
    let diff = git(&["diff", "--no-color", "--no-ext-diff", &tip.to_string()]);
    let mut findings: Vec<String> = scan_diff(&diff, &allow)
        .iter()
        .map(ToString::to_string)
        .collect();
    for path in git(&["ls-files", "--others", "--exclude-standard"]).lines() {
        if let Ok(text) = std::fs::read_to_string(worktree.join(path)) {
            findings.extend(
                scan_file(path, &text, &allow)
                    .iter()
                    .map(ToString::to_string),
            );
        }
    }
    findings
}
