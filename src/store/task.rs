//! Tasks: creation, lookup and the task commit that anchors the plan.

use std::time::Instant;

use gix::ObjectId;
use gix::bstr::ByteSlice;

use super::cache::Anchor;
use super::capture::carry::Carried;
use super::format::plan::Plan;
use super::format::record::{CheckpointRecord, TestsVerdict};
use super::format::refs::{self, Edit, Expect, TaskRef};
use super::format::slug::{slug_from_goal, validate_slug};
use super::format::subject::{Subject, TaskCommit};
use super::format::trailers::{CheckpointTrailers, StepOf, key, parse_trailers};
use super::{Result, Store, StoreError, git_err};

/// What `git agent start` asks for.
pub struct NewTask<'a> {
    pub goal: &'a str,
    pub name: Option<&'a str>,
    /// Work in the current checkout instead of a private worktree.
    pub here: bool,
    /// Add `refs/notes/agent/*` to `notes.displayRef` so plain `git log` shows the notes.
    pub display_notes: bool,
    /// The user's uncommitted work, committed on top of the task commit as checkpoint 1.
    pub carried: Option<&'a Carried>,
}

/// A task as git holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub slug: String,
    /// The first commit of the branch; its note is the plan.
    pub task_commit: ObjectId,
    /// HEAD when the task started.
    pub base: ObjectId,
    pub goal: String,
    /// Where the branch points now.
    pub tip: ObjectId,
}

impl Task {
    pub fn branch(&self) -> String {
        refs::branch(&self.slug)
    }
}

pub(crate) fn task_message(slug: &str, goal: &str, base: ObjectId) -> String {
    TaskCommit {
        slug: slug.to_string(),
        goal: goal.to_string(),
        base: Some(base),
    }
    .message()
}

/// The carried commit is checkpoint 1, of step 0 of a plan not made yet.
const CARRIED_NUMBER: u32 = 1;
const CARRIED_STEP: StepOf = StepOf { index: 0, steps: 0 };

/// The message of the commit that carries the user's uncommitted work into the task.
fn carried_message(slug: &str, carried: &Carried) -> String {
    let trailers = CheckpointTrailers {
        task: Some(slug.to_string()),
        checkpoint: Some(CARRIED_NUMBER),
        step: Some(CARRIED_STEP),
        carried: true,
        ..CheckpointTrailers::default()
    }
    .with_tests(TestsVerdict::NotRun.as_str().to_string())
    .trailers();
    let mut files = String::new();
    for (status, path) in carried.changes.iter().take(20) {
        files.push_str(&format!("  {status} {path}\n"));
    }
    if carried.changes.len() > 20 {
        files.push_str(&format!("  … and {} more\n", carried.changes.len() - 20));
    }
    format!(
        "{}\n\n\
         The uncommitted work of the checkout when the task started (tracked changes, and\n\
         untracked files that are not ignored), as `git add -A` stages it; the checkout, its\n\
         index and the stash were left as they were. {} file{}:\n{files}\n{}",
        Subject::Carried,
        carried.changes.len(),
        if carried.changes.len() == 1 { "" } else { "s" },
        trailers.render()
    )
}

/// The record of the carried commit: a checkpoint whose work is the user's (no model, no
/// tests run), with the diff stats of the commit itself.
fn carried_record(carried: &Carried, (insertions, deletions): (u32, u32)) -> CheckpointRecord {
    CheckpointRecord {
        checkpoint: CARRIED_NUMBER,
        step: CARRIED_STEP.index,
        steps: CARRIED_STEP.steps,
        model: "human".into(),
        files_changed: carried.changes.len() as u32,
        insertions,
        deletions,
        ..CheckpointRecord::default()
    }
}

/// How [`Store::which_task`] chose a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// The command named it.
    Named,
    /// Its branch is checked out.
    CheckedOut,
    /// It is the only task.
    Only,
    /// The most recently active of several (`candidates`, newest first): a guess.
    Newest { candidates: Vec<String> },
}

impl Store {
    /// The commit HEAD points to: the base of a new task. A detached HEAD is fine.
    pub fn head_commit_id(&self) -> Result<ObjectId> {
        let head = self.repo.head().map_err(git_err("could not read HEAD"))?;
        if head.is_unborn() {
            return Err(StoreError::UnbornHead);
        }
        let id = self.repo.head_id().map_err(|_| StoreError::UnbornHead)?;
        Ok(id.detach())
    }

    /// The branch the current checkout is on, if any.
    pub fn current_branch(&self) -> Result<Option<String>> {
        Ok(self
            .repo
            .head_name()
            .map_err(git_err("could not read HEAD"))?
            .map(|name| name.as_bstr().to_string()))
    }

    /// Create the task: its commit, branch and plan note in one ref transaction.
    pub fn create_task(&self, new: &NewTask<'_>) -> Result<Task> {
        let base = self.head_commit_id()?;
        let slug = match new.name {
            Some(name) => {
                validate_slug(name)?;
                if self.ref_target(&refs::branch(name))?.is_some() {
                    return Err(StoreError::TaskExists(name.to_string()));
                }
                name.to_string()
            }
            None => self.unique_slug(&slug_from_goal(new.goal))?,
        };
        let base_tree = self.tree_of(base)?;
        let message = task_message(&slug, new.goal, base);
        let commit = self.commit(&message, base_tree, [base])?;
        let mut plan = Plan::new(new.goal);
        plan.here = new.here;
        plan.base_branch = self
            .current_branch()?
            .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_string))
            .unwrap_or_default();
        let mut notes = vec![(commit, plan.to_toml())];
        let tip = match new.carried {
            Some(carried) => {
                let started = Instant::now();
                let tip = self.commit(&carried_message(&slug, carried), carried.tree, [commit])?;
                let mut record = carried_record(carried, self.line_stats(base_tree, carried.tree)?);
                record.checkpoint_ms = started.elapsed().as_millis() as u64;
                notes.push((tip, toml::to_string(&record).unwrap_or_default()));
                tip
            }
            None => commit,
        };
        let notes = self.notes_edit(&slug, &notes, &format!("plan of {slug}"))?;
        let branch = Edit::update(
            refs::branch(&slug),
            Expect::Absent,
            tip,
            Subject::Start(slug.clone()).to_string(),
        );
        self.transaction(&[branch, notes])?;
        if new.display_notes {
            self.with_repo_lock("setup", || self.ensure_display_notes())?;
        }
        Ok(Task {
            slug,
            task_commit: commit,
            base,
            goal: new.goal.trim().to_string(),
            tip,
        })
    }

    /// `wanted`, or `wanted-2`, `wanted-3` … whichever names no task yet.
    pub fn unique_slug(&self, wanted: &str) -> Result<String> {
        if self.ref_target(&refs::branch(wanted))?.is_none() {
            return Ok(wanted.to_string());
        }
        for n in 2.. {
            let suffix = format!("-{n}");
            let stem: String = wanted.chars().take(40 - suffix.len()).collect();
            let candidate = format!("{}{suffix}", stem.trim_end_matches('-'));
            if self.ref_target(&refs::branch(&candidate))?.is_none() {
                return Ok(candidate);
            }
        }
        unreachable!("an unused suffix always exists")
    }

    pub fn tree_of(&self, commit: ObjectId) -> Result<ObjectId> {
        Ok(self
            .repo
            .find_commit(commit)
            .map_err(git_err(format!("could not read commit {commit}")))?
            .tree_id()
            .map_err(git_err(format!("could not read the tree of {commit}")))?
            .detach())
    }

    pub fn commit_message(&self, commit: ObjectId) -> Result<String> {
        let commit = self
            .repo
            .find_commit(commit)
            .map_err(git_err(format!("could not read commit {commit}")))?;
        let message = commit
            .message_raw()
            .map_err(git_err("could not read a commit message"))?;
        Ok(message.to_str_lossy().into_owned())
    }

    pub fn parents(&self, commit: ObjectId) -> Result<Vec<ObjectId>> {
        let commit = self
            .repo
            .find_commit(commit)
            .map_err(git_err(format!("could not read commit {commit}")))?;
        Ok(commit.parent_ids().map(|id| id.detach()).collect())
    }

    /// All task names, from the task branches.
    pub fn task_slugs(&self) -> Result<Vec<String>> {
        let mut slugs: Vec<String> = self
            .refs_with_prefix(refs::BRANCH_PREFIX)?
            .into_iter()
            .filter_map(|(name, _)| match TaskRef::parse(&name) {
                Some((slug, TaskRef::Branch)) => Some(slug.to_string()),
                _ => None,
            })
            .collect();
        slugs.sort();
        Ok(slugs)
    }

    /// Read a task from its branch.
    pub fn task(&self, slug: &str) -> Result<Task> {
        let branch = refs::branch(slug);
        let tip = self
            .ref_target(&branch)?
            .ok_or_else(|| StoreError::UnknownTask {
                slug: slug.to_string(),
                known: self.task_slugs().unwrap_or_default(),
            })?;
        self.task_at(slug, tip)
    }

    /// The task whose tip is `tip` (a remote's copy of the branch, say).
    pub fn task_at_tip(&self, slug: &str, tip: ObjectId) -> Result<Task> {
        self.task_at(slug, tip)
    }

    /// The task whose branch points at `tip`.
    pub(crate) fn task_at(&self, slug: &str, tip: ObjectId) -> Result<Task> {
        let anchor = self.anchor_of(slug, tip)?;
        Ok(Task {
            slug: slug.to_string(),
            task_commit: anchor.task_commit,
            base: anchor.base,
            goal: anchor.goal,
            tip,
        })
    }

    /// Walk first parents from `tip` back to the task commit, checking that every commit on
    /// the way is a checkpoint of this task. The walk stops early at a commit whose task
    /// commit is known: found earlier by this process, or the tip the task cache holds —
    /// what lies below such a commit was checked when it was found, and cannot change.
    fn anchor_of(&self, slug: &str, tip: ObjectId) -> Result<Anchor> {
        let cached = self.with_cache(|c| c.any(slug).map(|f| (f.tips.tip, f.anchor.clone())));
        let mut walked = Vec::new();
        let mut current = tip;
        let anchor = loop {
            if let Some(anchor) = self.anchors.borrow().get(&(slug.to_string(), current)) {
                break anchor.clone();
            }
            if let Some((at, anchor)) = &cached
                && *at == current
            {
                break anchor.clone();
            }
            walked.push(current);
            let message = self.commit_message(current)?;
            if let Some(start) = TaskCommit::parse(&message).filter(|t| t.slug == slug) {
                let base = match start.base {
                    Some(base) => base,
                    None => self.parents(current)?.first().copied().unwrap_or(current),
                };
                break Anchor {
                    task_commit: current,
                    base,
                    goal: start.goal,
                };
            }
            // A checkpoint of this task names it in a trailer; anything else means the branch
            // was moved off the task by hand.
            let is_ours = parse_trailers(&message).get(key::TASK) == Some(slug);
            let parent = self.parents(current)?.first().copied();
            match parent {
                Some(parent) if is_ours => current = parent,
                _ => {
                    return Err(StoreError::BranchMoved {
                        branch: refs::branch(slug),
                        tip: tip.to_string(),
                        task_commit: self
                            .task_commit_from_reflog(slug)
                            .unwrap_or_else(|| "unknown".into()),
                    });
                }
            }
        };
        let mut anchors = self.anchors.borrow_mut();
        for commit in walked {
            anchors.insert((slug.to_string(), commit), anchor.clone());
        }
        Ok(anchor)
    }

    /// Where the task commit was, read from the branch's reflog, to help the user repair it.
    fn task_commit_from_reflog(&self, slug: &str) -> Option<String> {
        let path = self.common_dir().join("logs").join(refs::branch(slug));
        let log = std::fs::read_to_string(path).ok()?;
        let first = log.lines().next()?;
        first.split(' ').nth(1).map(str::to_string)
    }

    /// The task a command means: the one named, else the task of the current `agent/*`
    /// branch, else the only or most recently active task (see [`Store::which_task`]).
    pub fn resolve_slug(&self, given: Option<&str>) -> Result<String> {
        self.which_task(given).map(|(slug, _)| slug)
    }

    /// The task a command that changes things means: the one named, else the task of the
    /// current `agent/*` branch, else the only task. With several and none of those, it
    /// refuses and lists them ([`StoreError::WhichTask`]), newest first.
    pub fn resolve_slug_to_change(&self, given: Option<&str>) -> Result<String> {
        match self.which_task(given)? {
            (_, Chosen::Newest { candidates }) => Err(StoreError::WhichTask { candidates }),
            (slug, _) => Ok(slug),
        }
    }

    /// The task a command means, and how it was chosen.
    pub fn which_task(&self, given: Option<&str>) -> Result<(String, Chosen)> {
        if let Some(slug) = given {
            let slug = slug.strip_prefix("agent/").unwrap_or(slug);
            if self.ref_target(&refs::branch(slug))?.is_none() {
                return Err(StoreError::UnknownTask {
                    slug: slug.to_string(),
                    known: self.task_slugs()?,
                });
            }
            return Ok((slug.to_string(), Chosen::Named));
        }
        if let Some(current) = self.current_branch()?
            && let Some((slug, TaskRef::Branch)) = TaskRef::parse(&current)
        {
            return Ok((slug.to_string(), Chosen::CheckedOut));
        }
        let mut tasks = self.tasks_newest_first()?;
        match tasks.len() {
            0 => Err(StoreError::NoTasks),
            1 => Ok((tasks.remove(0), Chosen::Only)),
            _ => Ok((tasks[0].clone(), Chosen::Newest { candidates: tasks })),
        }
    }

    /// Every task, the most recently active (newest tip) first; the name breaks a tie.
    pub fn tasks_newest_first(&self) -> Result<Vec<String>> {
        let mut tasks = self.tip_times()?;
        tasks.sort_by(|(a, ta), (b, tb)| tb.cmp(ta).then_with(|| a.cmp(b)));
        Ok(tasks.into_iter().map(|(slug, _)| slug).collect())
    }

    pub fn commit_time(&self, commit: ObjectId) -> Result<i64> {
        let commit = self
            .repo
            .find_commit(commit)
            .map_err(git_err(format!("could not read commit {commit}")))?;
        Ok(commit.time().map(|t| t.seconds).unwrap_or_default())
    }

    /// Add `refs/notes/agent/*` to the repository's `notes.displayRef`, once.
    fn ensure_display_notes(&self) -> Result<()> {
        let glob = format!("{}*", refs::NOTES_PREFIX);
        let current = self
            .git_output(&["config", "--get-all", "notes.displayRef"])
            .unwrap_or_default();
        if current.lines().any(|l| l.trim() == glob) {
            return Ok(());
        }
        self.git_output(&["config", "--local", "--add", "notes.displayRef", &glob])?;
        // A setting of the user's repository changed by a command they ran for something
        // else: it says so once, with the command that undoes it.
        self.note(format!(
            "set notes.displayRef = {glob} in this repository's .git/config, so that `git log` \
             shows each checkpoint's record (git notes) under its commit; undo it with \
             `git config --local --unset --fixed-value notes.displayRef '{glob}'`, and keep \
             future tasks from setting it with `git config agent.displayNotes false`"
        ));
        Ok(())
    }

    /// Delete a task: its worktree, then all its refs in one transaction (the caller holds
    /// the task lock and has decided that the work may go).
    pub fn drop_task(&self, slug: &str) -> Result<()> {
        let edits = self.task_deletions(slug)?;
        self.remove_worktree(slug)?;
        self.transaction(&edits)?;
        self.clear_unrecorded_stop(slug);
        // The caller's lock goes with the task (its open file stays locked until released):
        // a lock file of no task would be left for fsck to find.
        let _ = std::fs::remove_file(super::TaskLock::path(self, slug));
        Ok(())
    }

    /// Run the `git` CLI for the porcelain gix lacks (config writes, status, push, fetch).
    pub fn git_output(&self, args: &[&str]) -> Result<String> {
        self.git_in_checkout(args, &[])
    }
}
