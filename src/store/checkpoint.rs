//! Checkpoints: one commit per unit of work, with its trailers and its record note, landing
//! in one compare-and-swap transaction.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};

use super::capture::snapshot::{ChangeKind, snapshot_scoped};
use super::format::record::{CheckpointRecord, TestsVerdict};
use super::format::refs::{self, Edit, Expect};
use super::format::trailers::{CheckpointTrailers, StepOf, parse_trailers, summary_line};
use super::task::Task;
use super::{Result, Store, StoreError, git_err};
use crate::policy::SecretAllowList;

/// The harness's test result as it goes into the `Agent-Tests` trailer.
#[derive(Debug, Clone)]
pub struct TestsSummary {
    pub verdict: TestsVerdict,
    pub command: String,
    pub summary: String,
}

impl TestsSummary {
    pub fn trailer(&self) -> String {
        if self.command.is_empty() {
            return self.verdict.as_str().to_string();
        }
        let summary = if self.summary.is_empty() {
            self.verdict.as_str()
        } else {
            &self.summary
        };
        format!("{} ({}: {})", self.verdict.as_str(), self.command, summary)
    }
}

/// What the loop hands over for one checkpoint.
pub struct CheckpointInput<'a> {
    pub summary: &'a str,
    pub body: &'a str,
    pub step: u32,
    pub steps: u32,
    pub expected: &'a str,
    pub tests: TestsSummary,
    pub risks: &'a str,
    pub next: &'a str,
    pub model: &'a str,
    /// Usage and test details; the checkpoint number, diff stats and timing are filled in here.
    pub record: CheckpointRecord,
    /// An opt-in `Co-authored-by` line.
    pub co_author: Option<&'a str>,
    /// What the secret scan lets through; `None` commits secrets too (the user's explicit
    /// `--allow-secrets`, never the model's choice).
    pub secret_allow: Option<&'a SecretAllowList>,
    /// The paths a [`super::capture::watch::Watch`] saw change since the last checkpoint, when it can vouch
    /// for them; `None` walks the whole worktree.
    pub scope: Option<&'a BTreeSet<BString>>,
    /// The second parent when this checkpoint merges the task's base in (`git agent update`;
    /// see [`Store::pending_update`]). Its diff stats stay those against the first parent.
    pub merge_parent: Option<ObjectId>,
}

#[derive(Debug, Clone)]
pub struct CheckpointOutcome {
    pub commit: ObjectId,
    pub number: u32,
    pub files_changed: u32,
    pub insertions: u32,
    pub deletions: u32,
    pub checkpoint_ms: u64,
    /// What the snapshot could not reach and left out, each with why
    /// ([`super::capture::snapshot::Snapshot::left_out`]).
    pub left_out: Vec<String>,
    /// What the checkpoint recorded that a person should know of, as git warns (a
    /// repository inside the worktree recorded as a gitlink, or left out).
    pub warnings: Vec<String>,
}

impl Store {
    /// The checkpoint number of a commit of the task (0 for the task commit).
    pub fn checkpoint_number(&self, commit: ObjectId) -> Result<u32> {
        let message = self.commit_message(commit)?;
        Ok(CheckpointTrailers::parse(&parse_trailers(&message))
            .checkpoint
            .unwrap_or(0))
    }

    /// Snapshot `worktree`, commit it on the task branch and write its record, atomically:
    /// the branch and the notes ref move together or not at all.
    pub fn checkpoint(
        &self,
        task: &Task,
        worktree: &Path,
        input: CheckpointInput<'_>,
    ) -> Result<CheckpointOutcome> {
        self.checkpoint_with_tip_note(task, worktree, input, None)
    }

    /// Like [`Store::checkpoint`], with the tip's own note rewritten in the same notes commit:
    /// the tip's pending usage moves into the new record (see [`Store::take_pending`]) with no
    /// moment at which git counts it twice or not at all.
    pub fn checkpoint_with_tip_note(
        &self,
        task: &Task,
        worktree: &Path,
        input: CheckpointInput<'_>,
        tip_note: Option<String>,
    ) -> Result<CheckpointOutcome> {
        let started = Instant::now();
        self.refuse_a_rejected_tip(task)?;
        let wt_repo = self.open_worktree(worktree)?;
        let tip_tree = self.tree_of(task.tip)?;
        // A merge brought files in that no watch of a run saw being written: walk them all.
        let scope = input.scope.filter(|_| input.merge_parent.is_none());
        let mut snapshot = snapshot_scoped(
            &wt_repo,
            tip_tree,
            input.secret_allow,
            scope,
            &self.generated(),
        )?;
        let gitlinks = snapshot.gitlinks();
        if !gitlinks.is_empty() {
            let inside =
                self.submodule_changes(worktree, wt_repo.git_dir(), task.tip, &gitlinks)?;
            snapshot.refused.extend(inside);
        }
        if !snapshot.refused.is_empty() {
            return Err(StoreError::Refused {
                findings: snapshot.refused,
            });
        }
        if let Some(base) = input.merge_parent {
            self.refuse_lost_merge(task, worktree, snapshot.tree, base)?;
        }
        let number = self.checkpoint_number(task.tip)? + 1;
        // A plan edited down below the steps already done (`git agent plan --edit`) counts
        // as long as the step this work belongs to: a step past the plan's last is rejected.
        let step = StepOf {
            index: input.step,
            steps: input.steps.max(input.step),
        };
        let (insertions, deletions) = self.line_stats(tip_tree, snapshot.tree)?;
        let files_changed = snapshot.changes.len() as u32;

        let trailers = CheckpointTrailers {
            task: Some(task.slug.clone()),
            checkpoint: Some(number),
            step: Some(step),
            expected: Some(input.expected.to_string()),
            risks: Some(input.risks.to_string()),
            next: Some(input.next.to_string()),
            model: Some(input.model.to_string()),
            co_author: input.co_author.map(str::to_string),
            ..CheckpointTrailers::default()
        }
        .with_tests(input.tests.trailer())
        .trailers();
        let mut files = String::new();
        for change in snapshot.changes.iter().take(20) {
            let mark = match change.kind {
                ChangeKind::Added => 'A',
                ChangeKind::Modified => 'M',
                ChangeKind::Deleted => 'D',
            };
            files.push_str(&format!("  {mark} {}\n", change.path));
        }
        if snapshot.changes.len() > 20 {
            files.push_str(&format!("  … and {} more\n", snapshot.changes.len() - 20));
        }
        let body = input.body.trim();
        let message = format!(
            "{}\n\n{}{}{} file{} changed, {insertions} insertion{}(+), {deletions} deletion{}(-)\n{}\n{}",
            summary_line(input.summary),
            body,
            if body.is_empty() { "" } else { "\n\n" },
            files_changed,
            plural(files_changed),
            plural(insertions),
            plural(deletions),
            files,
            trailers.render()
        );
        let parents = std::iter::once(task.tip).chain(input.merge_parent);
        let commit = self.commit(&message, snapshot.tree, parents)?;

        let mut record = input.record;
        record.checkpoint = number;
        record.step = step.index;
        record.steps = step.steps;
        record.files_changed = files_changed;
        record.insertions = insertions;
        record.deletions = deletions;
        record.checkpoint_ms = started.elapsed().as_millis() as u64;
        let checkpoint_ms = record.checkpoint_ms;
        let note_text = toml::to_string(&record).unwrap_or_default();
        let mut notes = vec![(commit, note_text)];
        notes.extend(tip_note.map(|text| (task.tip, text)));
        let notes = self.notes_edit(
            &task.slug,
            &notes,
            &format!("checkpoint {number} of {}", task.slug),
        )?;
        let branch = Edit::update(
            refs::branch(&task.slug),
            Expect::At(task.tip),
            commit,
            format!(
                "agent: checkpoint {number}: {}",
                summary_line(input.summary)
            ),
        );
        self.transaction(&[branch, notes])?;
        // The commit has landed; a crash before this line leaves a stale index that the next
        // snapshot corrects by rehashing the few files whose stat data changed.
        snapshot.write_index()?;
        Ok(CheckpointOutcome {
            commit,
            number,
            files_changed,
            insertions,
            deletions,
            checkpoint_ms,
            left_out: snapshot.left_out,
            warnings: snapshot.warnings,
        })
    }

    /// The secret scan of everything a change adds between two trees: every new or changed
    /// blob (binary too), its path, and link targets — the objects themselves, so no diff
    /// attribute or quoting can hide one.
    pub fn scan_trees(
        &self,
        from: ObjectId,
        to: ObjectId,
        allow: &SecretAllowList,
    ) -> Result<Vec<crate::policy::SecretFinding>> {
        let mut findings = Vec::new();
        for (path, _, new) in self.diff_trees(from, to)? {
            let Some((kind, id)) = new else { continue };
            if matches!(kind, gix::objs::tree::EntryKind::Commit) {
                continue;
            }
            if let Some((mut loose, size)) = self.open_loose_blob(id)?
                && size > 16 << 20
            {
                // A large blob is scanned as it is inflated, never held whole.
                let mut scan = crate::policy::StreamScan::new(&path.to_string(), allow);
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = std::io::Read::read(&mut loose, &mut buf)
                        .map_err(git_err_io(format!("could not read blob {id}")))?;
                    if n == 0 {
                        break;
                    }
                    scan.feed(&buf[..n]);
                }
                findings.extend(scan.finish());
                continue;
            }
            let data = self.blob_bytes(id)?;
            findings.extend(crate::policy::scan_object(&path.to_string(), &data, allow));
        }
        Ok(findings)
    }

    /// Lines added and removed between two trees, reading only the blobs that differ. A
    /// blob over 16 MiB counts as binary (no lines), as git's `core.bigFileThreshold` does
    /// at 512 MiB: counting its lines would hold it in memory.
    pub fn line_stats(&self, from: ObjectId, to: ObjectId) -> Result<(u32, u32)> {
        const MAX_COUNTED: u64 = 16 << 20;
        let mut insertions = 0;
        let mut deletions = 0;
        for (_, old, new) in self.diff_trees(from, to)? {
            let too_large = [old, new].into_iter().flatten().any(|(_, id)| {
                self.repo
                    .find_header(id)
                    .is_ok_and(|header| header.size() > MAX_COUNTED)
            });
            let gitlink = [old, new]
                .into_iter()
                .flatten()
                .any(|(kind, _)| kind == gix::objs::tree::EntryKind::Commit);
            if too_large || gitlink {
                continue;
            }
            let old_text = match old {
                Some((_, id)) => self.blob_bytes(id)?,
                None => Vec::new(),
            };
            let new_text = match new {
                Some((_, id)) => self.blob_bytes(id)?,
                None => Vec::new(),
            };
            let (added, removed) = count_line_changes(&old_text, &new_text);
            insertions += added;
            deletions += removed;
        }
        Ok((insertions, deletions))
    }

    fn blob_bytes(&self, id: ObjectId) -> Result<Vec<u8>> {
        match self.repo.find_object(id) {
            Ok(object) if object.kind == gix::object::Kind::Blob => Ok(object.detach().data),
            Ok(_) => Ok(Vec::new()),
            Err(err) => Err(git_err(format!("could not read blob {id}"))(err)),
        }
    }
}

fn git_err_io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |err| StoreError::Git {
        context,
        source: err.into(),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Lines added and removed, as `git diff --numstat` counts them: a line-level diff of the
/// two texts (binary files count as no lines).
fn count_line_changes(old: &[u8], new: &[u8]) -> (u32, u32) {
    if old.contains(&0) || new.contains(&0) {
        return (0, 0);
    }
    let old_lines: Vec<&[u8]> = old.lines_with_terminator().collect();
    let new_lines: Vec<&[u8]> = new.lines_with_terminator().collect();
    // Trim the common prefix and suffix, then diff the middle by longest common subsequence
    // when it is small, else count it as replaced.
    let prefix = old_lines
        .iter()
        .zip(&new_lines)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old_lines[prefix..]
        .iter()
        .rev()
        .zip(new_lines[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let a = &old_lines[prefix..old_lines.len() - suffix];
    let b = &new_lines[prefix..new_lines.len() - suffix];
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        return (b.len() as u32, a.len() as u32);
    }
    let mut table = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            table[i][j] = if a[i] == b[j] {
                table[i + 1][j + 1] + 1
            } else {
                table[i + 1][j].max(table[i][j + 1])
            };
        }
    }
    let common = table[0][0];
    (b.len() as u32 - common, a.len() as u32 - common)
}

#[cfg(test)]
mod tests {
    use super::count_line_changes;

    #[test]
    fn line_changes_count_like_numstat() {
        assert_eq!(count_line_changes(b"a\nb\nc\n", b"a\nB\nc\nd\n"), (2, 1));
        assert_eq!(count_line_changes(b"", b"x\ny\n"), (2, 0));
        assert_eq!(count_line_changes(b"x\n", b""), (0, 1));
        assert_eq!(count_line_changes(b"\0bin", b"\0bin2"), (0, 0));
    }
}
