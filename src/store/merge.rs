//! Merges computed before anything moves: `git merge` (the task into the user's branch) and
//! `git agent update` (the base into the task) first compute the merged tree in the object
//! store alone, with `git merge-tree --write-tree`, which touches no checkout, index or ref.
//! Only a clean result moves a branch and a checkout; a conflict is reported with nothing
//! changed (`merge`) or handed to the task's own worktree (`update`), never to the user's.

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::task::Task;
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

/// An update of the task from its base that is waiting for its conflicts to be resolved
/// (docs/data-model.md, the plan's `update`): the next checkpoint of the task is the merge
/// commit, with this commit as its second parent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Update {
    /// The base branch merged in, without `refs/heads/`.
    pub branch: String,
    /// Full id of the commit of the base branch that is merged in.
    pub base: String,
    /// The paths that conflicted.
    pub conflicts: Vec<String>,
    /// The plan step (1-based) added to resolve them.
    pub step: u32,
    pub at: String,
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

    /// Move the branch checked out in the user's checkout from `old` to `new` as `git merge`
    /// does: files and index first (`git read-tree -m -u`, a two-tree merge that refuses when
    /// local changes are in the way), then the branch by compare-and-swap (`git update-ref`,
    /// which also writes HEAD's reflog), and `ORIG_HEAD` so `git reset --hard ORIG_HEAD`
    /// undoes it. When the branch moved meanwhile, the files go back and nothing is changed.
    pub fn land_on_checkout(
        &self,
        branch: &str,
        old: ObjectId,
        new: ObjectId,
        reflog: &str,
    ) -> Result<()> {
        let (old_s, new_s) = (old.to_string(), new.to_string());
        self.git_output(&["read-tree", "-m", "-u", &old_s, &new_s])?;
        if let Err(err) = self.git_output(&["update-ref", "-m", reflog, branch, &new_s, &old_s]) {
            let _ = self.git_output(&["read-tree", "-m", "-u", &new_s, &old_s]);
            return Err(err);
        }
        let _ = self.git_output(&["update-ref", "--no-deref", "ORIG_HEAD", &old_s]);
        Ok(())
    }

    /// The base commit an [`Update`] of the task is still waiting to merge: recorded in the
    /// plan and not yet reachable from the tip. `None` once a checkpoint merged it (or when
    /// there is no update), so nothing needs clearing and a crash leaves no stale state.
    pub fn pending_update(&self, task: &Task, plan: &Plan) -> Result<Option<ObjectId>> {
        let Some(update) = &plan.update else {
            return Ok(None);
        };
        let Ok(base) = ObjectId::from_hex(update.base.as_bytes()) else {
            return Ok(None);
        };
        if self.repo.find_commit(base).is_err() {
            return Ok(None);
        }
        let merged = super::sync::Ancestry::is_ancestor(self, base, task.tip)?;
        Ok((!merged).then_some(base))
    }

    /// Write the merged tree into the task's worktree as uncommitted changes on top of the
    /// tip (`from_tree`): the conflict markers, for the agent or a person to resolve there.
    /// The index is left describing `from_tree` with no stat data, so the next snapshot —
    /// which trusts an entry whose stat data matches — hashes every file and sees every
    /// change the merge brought in, not only the files edited afterwards.
    pub fn checkout_in_worktree(
        &self,
        worktree: &std::path::Path,
        from_tree: ObjectId,
        to_tree: ObjectId,
    ) -> Result<()> {
        let repo = self.open_worktree(worktree)?;
        let index_path = repo.index_path();
        self.checkout_between(worktree, &index_path, from_tree, to_tree)?;
        let state =
            gix::index::State::from_tree(&from_tree, &self.repo.objects, Default::default())
                .map_err(|err| StoreError::Git {
                    context: "could not build an index from the tree".into(),
                    source: err.into(),
                })?;
        super::index::write(&state, &index_path, Some(from_tree))
    }
}

impl Store {
    /// The paths where the task's worktree differs from the tip: work in no checkpoint, which
    /// an update must not mix into its merge.
    pub fn uncheckpointed_changes(
        &self,
        task: &Task,
        worktree: &std::path::Path,
    ) -> Result<Vec<String>> {
        let repo = self.open_worktree(worktree)?;
        let snapshot =
            super::snapshot_worktree(&repo, self.tree_of(task.tip)?, None, &self.generated())?;
        Ok(snapshot
            .changes
            .iter()
            .map(|change| change.path.to_string())
            .collect())
    }

    /// Record in the plan an update whose merge conflicted: a step to resolve the conflicts,
    /// inserted as the next step to work on (after the tip's step), and the plan's `update`,
    /// which makes the next checkpoint the merge commit. Returns the step's number.
    pub fn plan_update_step(
        &self,
        task: &Task,
        plan: &mut Plan,
        branch: &str,
        base: ObjectId,
        conflicts: &[Conflict],
    ) -> Result<u32> {
        let done = (self.current_step(task.tip)? as usize).min(plan.steps.len());
        let paths: Vec<String> = conflicts.iter().map(|c| c.path.clone()).collect();
        let listed: Vec<String> = conflicts
            .iter()
            .map(|c| {
                if c.kind.is_empty() {
                    c.path.clone()
                } else {
                    format!("{} ({})", c.path, c.kind)
                }
            })
            .collect();
        plan.steps.insert(
            done,
            super::PlanStep {
                title: format!("Resolve the conflicts of merging {branch} into the task"),
                detail: format!(
                    "`git agent update` merged {branch} ({}) into this worktree, and these files conflict: {}. \
Each conflicting file holds both sides between <<<<<<<, ======= and >>>>>>> markers (a file deleted on one side and changed \
on the other is there as changed). Edit them so that the result keeps what both sides meant, remove every marker, and make \
the tests pass. The checkpoint of this step records the merge.",
                    base.to_hex_with_len(8),
                    listed.join(", ")
                ),
            },
        );
        let step = done as u32 + 1;
        plan.update = Some(Update {
            branch: branch.to_string(),
            base: base.to_string(),
            conflicts: paths,
            step,
            at: super::now_rfc3339(),
        });
        self.write_plan(
            task,
            plan,
            &format!("update of {} from {branch}", task.slug),
        )?;
        Ok(step)
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
