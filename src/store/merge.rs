//! Merges computed before anything moves: `git merge` (the task into the user's branch) and
//! `git agent update` (the base into the task) first compute the merged tree in the object
//! store alone, with `git merge-tree --write-tree`, which touches no checkout, index or ref.
//! Only a clean result moves a branch and a checkout; a conflict is reported with nothing
//! changed (`merge`) or handed to the task's own worktree (`update`), never to the user's.

use gix::ObjectId;

use super::format::trailers::{key, parse_trailers};
use super::{Result, Store, StoreError};

/// A file `merge` brings in that is worth a look before it lands on a shared branch: above
/// this size it is listed as large. Source files are rarely above 1 MiB; data dumps, archives
/// and build output often are.
pub const LARGE_FILE_BYTES: u64 = 1 << 20;

/// How much of a blob is read to tell binary from text: git's own rule (`buffer_is_binary`)
/// looks for a NUL byte in the first 8000 bytes.
const BINARY_PROBE_BYTES: usize = 8000;

/// The result of merging two commits, computed without touching any checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeTree {
    Clean(ObjectId),
    /// The tree holds the conflicting files with git's conflict markers, as `git merge`
    /// would leave them in a working tree.
    Conflicted {
        tree: ObjectId,
        conflicts: Vec<Conflict>,
    },
}

impl MergeTree {
    /// The merged tree, conflict markers included when it conflicted.
    pub fn tree(&self) -> ObjectId {
        match self {
            MergeTree::Clean(tree) | MergeTree::Conflicted { tree, .. } => *tree,
        }
    }
}

/// One path the merge could not resolve, and git's word for the kind of conflict
/// (`content`, `modify/delete`, `rename/delete`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: String,
    pub kind: String,
}

/// A binary or large file a merge adds or changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroughtIn {
    pub path: String,
    pub size: u64,
    pub binary: bool,
    pub large: bool,
}

impl Store {
    /// Merge `theirs` into `ours` in the object store alone (`git merge-tree --write-tree`):
    /// no checkout, index or ref changes, whatever the outcome.
    pub fn merge_trees(&self, ours: ObjectId, theirs: ObjectId) -> Result<MergeTree> {
        let args = [
            "merge-tree",
            "--write-tree",
            "-z",
            "--name-only",
            "--messages",
            &ours.to_string(),
            &theirs.to_string(),
        ];
        let output = crate::git_command::GitCommand::new(self.repo.git_dir(), None)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|err| StoreError::GitCommand {
                args: args.join(" "),
                detail: err.to_string(),
            })?;
        let clean = match output.status.code() {
            Some(0) => true,
            Some(1) => false,
            _ => {
                return Err(StoreError::GitCommand {
                    args: args.join(" "),
                    detail: crate::git_command::output_detail(&output),
                });
            }
        };
        let parsed = parse_merge_tree(&output.stdout).ok_or_else(|| StoreError::GitCommand {
            args: args.join(" "),
            detail: format!(
                "unexpected output: {}",
                String::from_utf8_lossy(&output.stdout)
            ),
        })?;
        Ok(if clean {
            MergeTree::Clean(parsed.0)
        } else {
            MergeTree::Conflicted {
                tree: parsed.0,
                conflicts: parsed.1,
            }
        })
    }

    /// The binary and large files among what changes from tree `from` to tree `to`, in path
    /// order.
    pub fn binary_or_large(&self, from: ObjectId, to: ObjectId) -> Result<Vec<BroughtIn>> {
        use gix::objs::tree::EntryKind;
        let mut found = Vec::new();
        for (path, _, new) in self.diff_trees(from, to)? {
            let Some((EntryKind::Blob | EntryKind::BlobExecutable, id)) = new else {
                continue;
            };
            let size = self
                .repo
                .find_header(id)
                .map_err(super::git_err(format!("could not read blob {id}")))?
                .size();
            let large = size > LARGE_FILE_BYTES;
            // A large blob is not read to look for NUL bytes: it is listed anyway.
            let binary = !large && {
                let blob = self
                    .repo
                    .find_blob(id)
                    .map_err(super::git_err(format!("could not read blob {id}")))?;
                blob.data
                    .iter()
                    .take(BINARY_PROBE_BYTES)
                    .any(|&byte| byte == 0)
            };
            if binary || large {
                found.push(BroughtIn {
                    path: path.to_string(),
                    size,
                    binary,
                    large,
                });
            }
        }
        Ok(found)
    }

    /// The merge (or squash) commit of the task's `tip` on the first-parent history of `head`
    /// (its `Agent-Task` and `Agent-Task-Tip` trailers), within the last 1000 commits: a merge
    /// that landed before the plan could record it (the merge was killed in between).
    pub fn landed_merge(
        &self,
        head: ObjectId,
        slug: &str,
        tip: ObjectId,
    ) -> Result<Option<ObjectId>> {
        let grep = format!("--grep=^{}: {tip}$", key::TASK_TIP);
        let found = self.git_output(&[
            "rev-list",
            "--first-parent",
            "--max-count=1000",
            &grep,
            &head.to_string(),
        ])?;
        for line in found.lines() {
            let Ok(commit) = ObjectId::from_hex(line.trim().as_bytes()) else {
                continue;
            };
            let trailers = parse_trailers(&self.commit_message(commit)?);
            if trailers.get(key::TASK) == Some(slug)
                && trailers.get(key::TASK_TIP) == Some(tip.to_string().as_str())
            {
                return Ok(Some(commit));
            }
        }
        Ok(None)
    }
}

/// `git merge-tree --write-tree -z --name-only --messages` output: the tree, the conflicted
/// paths, an empty field, then messages as `<n>\0<path>…\0<type>\0<message>\0`. Each
/// conflicted path gets the kind of its first `CONFLICT (<kind>)` message.
fn parse_merge_tree(stdout: &[u8]) -> Option<(ObjectId, Vec<Conflict>)> {
    let text = String::from_utf8_lossy(stdout);
    let mut fields = text.split('\0');
    let tree = ObjectId::from_hex(fields.next()?.trim().as_bytes()).ok()?;
    let mut conflicts: Vec<Conflict> = Vec::new();
    for path in fields.by_ref() {
        if path.is_empty() {
            break;
        }
        if !conflicts.iter().any(|c| c.path == path) {
            conflicts.push(Conflict {
                path: path.to_string(),
                kind: String::new(),
            });
        }
    }
    while let Some(count) = fields.next() {
        let Ok(count) = count.parse::<usize>() else {
            break;
        };
        let paths: Vec<&str> = fields.by_ref().take(count).collect();
        let kind = fields.next().unwrap_or_default();
        let _message = fields.next();
        let Some(kind) = kind
            .strip_prefix("CONFLICT (")
            .and_then(|k| k.strip_suffix(')'))
        else {
            continue;
        };
        for path in paths {
            if let Some(conflict) = conflicts
                .iter_mut()
                .find(|c| c.path == path && c.kind.is_empty())
            {
                conflict.kind = kind.to_string();
            }
        }
    }
    Some((tree, conflicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn merge_tree_output_names_each_conflict_with_its_kind() {
        let out = b"3fd655d9bfb34c3c5a8a3cfcfd08d8dc925ce8e3\0f\0g\0\0\
1\0f\0Auto-merging\0Auto-merging f\n\0\
1\0f\0CONFLICT (contents)\0CONFLICT (content): Merge conflict in f\n\0\
1\0g\0CONFLICT (modify/delete)\0CONFLICT (modify/delete): g deleted in t and modified in main.\n\0";
        let (tree, conflicts) = parse_merge_tree(out).unwrap();
        assert_eq!(tree.to_string(), "3fd655d9bfb34c3c5a8a3cfcfd08d8dc925ce8e3");
        assert_eq!(
            conflicts,
            vec![
                Conflict {
                    path: "f".into(),
                    kind: "contents".into()
                },
                Conflict {
                    path: "g".into(),
                    kind: "modify/delete".into()
                },
            ]
        );
        let (_, none) = parse_merge_tree(b"3fd655d9bfb34c3c5a8a3cfcfd08d8dc925ce8e3\0").unwrap();
        assert_eq!(none, vec![]);
        assert_eq!(parse_merge_tree(b"garbage"), None);
    }
}
