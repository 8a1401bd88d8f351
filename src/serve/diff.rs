//! A diff for a page, bounded: git's output is read up to [`DIFF_BYTES`] and the rest left
//! unread, and a file of more than [`OPEN_LINES`] lines is shown collapsed.

use std::io::Read;
use std::process::Stdio;

use gix::ObjectId;

use crate::store::Store;

/// The most of a diff a page reads.
pub const DIFF_BYTES: u64 = 512 * 1024;
/// A file with more changed lines than this is collapsed.
pub const OPEN_LINES: usize = 300;

#[derive(Debug, Default)]
pub struct Diff {
    pub files: Vec<FileDiff>,
    /// Git had more to say than [`DIFF_BYTES`].
    pub truncated: bool,
}

#[derive(Debug, Default)]
pub struct FileDiff {
    /// The `diff --git a/… b/…` line.
    pub header: String,
    pub lines: Vec<String>,
}

/// `git diff from to` of the repository, without external diff drivers or textconv (a
/// repository's configuration must not run a program because a page was opened).
pub fn read(store: &Store, from: ObjectId, to: ObjectId) -> std::io::Result<Diff> {
    let mut git = crate::git_command::GitCommand::new(store.git_dir(), None);
    git.args([
        "-c",
        "core.quotePath=true",
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "-M",
    ])
    .arg(from.to_string())
    .arg(to.to_string())
    .arg("--")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = git.spawn()?;
    let mut bytes = Vec::new();
    if let Some(out) = child.stdout.take() {
        out.take(DIFF_BYTES + 1).read_to_end(&mut bytes)?;
    }
    // What is left unread is not wanted: stop git rather than wait for it.
    let _ = child.kill();
    let _ = child.wait();
    let truncated = bytes.len() as u64 > DIFF_BYTES;
    bytes.truncate(DIFF_BYTES as usize);
    Ok(parse(&String::from_utf8_lossy(&bytes), truncated))
}

fn parse(text: &str, truncated: bool) -> Diff {
    let mut diff = Diff {
        files: Vec::new(),
        truncated,
    };
    for line in text.lines() {
        if line.starts_with("diff --git ") {
            diff.files.push(FileDiff {
                header: line.to_string(),
                lines: Vec::new(),
            });
        } else if let Some(file) = diff.files.last_mut() {
            file.lines.push(line.to_string());
        }
    }
    diff
}

/// The class of a diff line for its colour.
pub fn class(line: &str) -> &'static str {
    if line.starts_with("+++") || line.starts_with("---") {
        "meta"
    } else if line.starts_with('+') {
        "add"
    } else if line.starts_with('-') {
        "del"
    } else if line.starts_with("@@") {
        "hunk"
    } else if line.starts_with(' ') {
        "ctx"
    } else {
        "meta"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_splits_into_files_and_its_lines_are_classed() {
        let d = parse(
            "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/y b/y\n",
            false,
        );
        assert_eq!(d.files.len(), 2);
        assert_eq!(d.files[0].lines.len(), 5);
        let classes: Vec<&str> = d.files[0].lines.iter().map(|l| class(l)).collect();
        assert_eq!(classes, ["meta", "meta", "hunk", "del", "add"]);
    }
}
