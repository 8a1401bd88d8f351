//! The findings of `git agent fsck`: what is wrong, where, and the command that repairs it.

use std::path::PathBuf;

use gix::ObjectId;

use crate::store::format::plan::FORMAT;
use crate::store::format::refs::{self, TaskRef};
use crate::store::format::trailers::key;
use crate::store::lock::NotAFile;
use crate::store::{Inconsistency, StoreError};
use crate::text::shell_word as sh;

/// Where a task branch is checked out: the task's private worktree (with the admin dir git
/// registered for it), or the user's own checkout (`--here`, no admin dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub worktree: PathBuf,
    pub admin: Option<PathBuf>,
}

impl Checkout {
    /// Bring the checkout's index to the branch's new tip, leaving its files alone: a
    /// checkpoint trusts the index to describe the tip, so after the branch moved outside
    /// git-agent the files' differences must show as changes. The admin dir is named
    /// explicitly, never found through the worktree's `.git` file, which commands can rewrite.
    fn reset_index(&self) -> String {
        match &self.admin {
            Some(admin) => format!(
                "git --git-dir={} --work-tree={} reset -q",
                sh(&admin.display().to_string()),
                sh(&self.worktree.display().to_string())
            ),
            None => format!(
                "git -C {} reset -q",
                sh(&self.worktree.display().to_string())
            ),
        }
    }
}

/// Taking commits off a task branch: its tip goes to a free attic slot, then the branch goes
/// back to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewind {
    pub tip: ObjectId,
    pub to: ObjectId,
    /// The attic ref that will keep the tip.
    pub attic: String,
    /// Where the branch is checked out, whose index must follow.
    pub checkout: Option<Checkout>,
}

/// A checkpoint record field that disagrees with the commit's trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `checkpoint`, `step` or `steps`.
    pub field: &'static str,
    pub record: i64,
    pub trailer: u32,
}

/// One thing in a repository that does not match docs/data-model.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The task commit has no note in the task's notes ref.
    PlanMissing {
        task: String,
        task_commit: ObjectId,
        goal: String,
        /// The newest readable version of the plan in the notes ref's history.
        earlier: Option<ObjectId>,
    },
    /// The note on the task commit does not parse as a plan.
    PlanMalformed {
        task: String,
        task_commit: ObjectId,
        detail: String,
        earlier: Option<ObjectId>,
    },
    /// A note other than the plan does not parse as a checkpoint record.
    RecordMalformed {
        task: String,
        commit: ObjectId,
        detail: String,
        earlier: Option<ObjectId>,
        /// It is on a commit whose record readers read: one of the branch, or of an attic
        /// entry's line. A note on anything else is wrong, but nothing reads it.
        read: bool,
    },
    /// A checkpoint on the branch has no record note.
    RecordMissing {
        task: String,
        commit: ObjectId,
        checkpoint: u32,
        step: Option<(u32, u32)>,
    },
    /// A record's `checkpoint`, `step` or `steps` disagree with the commit's trailers.
    RecordMismatch {
        task: String,
        commit: ObjectId,
        fields: Vec<Mismatch>,
    },
    /// A commit naming the task lacks `Agent-Checkpoint` or a well-formed `Agent-Step`.
    CheckpointTrailers {
        task: String,
        commit: ObjectId,
        problems: Vec<String>,
        rewind: Rewind,
    },
    /// A checkpoint's number is not its first parent's number plus one.
    CheckpointNumber {
        task: String,
        commit: ObjectId,
        expected: u32,
        found: u32,
        rewind: Rewind,
    },
    /// A commit between the task commit and the tip whose `Agent-Task` names another task, or
    /// that has none (a commit made by hand on the task branch).
    ForeignCommit {
        task: String,
        commit: ObjectId,
        names: Option<String>,
        /// How many commits sit above it on the branch.
        above: usize,
        rewind: Rewind,
    },
    /// The branch's tip does not descend from the task commit along first parents.
    BranchMoved {
        task: String,
        tip: ObjectId,
        /// The newest position on the task that the branch's reflog or the notes know.
        restore: Option<ObjectId>,
        checkout: Option<Checkout>,
    },
    /// `refs/notes/agent/<x>` with no `refs/heads/agent/<x>`.
    NotesWithoutBranch {
        task: String,
        /// Where the task's branch could be restored to, if the notes name its commits.
        restore: Option<ObjectId>,
    },
    /// A notes or attic ref that does not point to a commit.
    RefNotACommit {
        task: String,
        refname: String,
        /// What it points to instead, e.g. "a blob 1a2b3c4d".
        target: String,
        /// An earlier value from the ref's reflog that is a commit.
        restore: Option<ObjectId>,
    },
    /// A task ref naming an object the repository does not have: pruned by `git gc
    /// --prune=now` while a run was writing, or lost with a disk.
    ObjectMissing {
        task: String,
        refname: String,
        object: ObjectId,
        /// Where the ref can go back to: for a branch the newest commit of the task its reflog
        /// or notes know, for another ref the last commit in its reflog.
        restore: Option<ObjectId>,
        /// For a branch: where it is checked out, whose index must follow.
        checkout: Option<Checkout>,
    },
    /// `refs/agent/<x>/attic/<n>` with no `refs/heads/agent/<x>`.
    AtticOfUnknownTask {
        task: String,
        refname: String,
        commit: ObjectId,
    },
    /// An attic entry that does not descend from the task commit.
    AtticNotOfTask {
        task: String,
        refname: String,
        commit: ObjectId,
        task_commit: ObjectId,
    },
    /// An attempt task (its plan has `attempt_of`) that belongs to no open round of attempts
    /// of its task: the task is gone, was picked, or started from elsewhere.
    AttemptOrphan {
        task: String,
        of: String,
        problem: String,
        /// Every ref of the attempt task, with what it holds.
        refs: Vec<(String, ObjectId)>,
    },
    /// A lock file holding a record of a run that is gone.
    StaleLock {
        task: String,
        path: PathBuf,
        /// Whether a task of that name exists.
        known: bool,
        pid: u32,
        host: String,
        since: String,
    },
    /// A task's lock path holds something other than a regular file.
    LockNotAFile { task: String, problem: NotAFile },
    /// A directory under `agent/worktrees/` that is not the registered worktree of a task.
    StaleWorktree {
        task: String,
        path: PathBuf,
        /// Registered as a worktree with git (of no task).
        registered: bool,
        /// Named after an existing task (git-agent would move it aside and rebuild).
        of_task: bool,
    },
    /// A worktree registration under `$GIT_COMMON_DIR/worktrees/` whose directory in
    /// `agent/worktrees/` is gone.
    WorktreeGone {
        task: String,
        path: PathBuf,
        admin: PathBuf,
    },
    /// A `<ref>.lock` file of one of the task's refs with no live writer: it blocks every
    /// change of that ref.
    StaleRefLock { task: String, path: PathBuf },
    /// The journal of a ref change whose writer died, that could not be settled yet.
    InterruptedChange { task: String, path: PathBuf },
    /// A merge killed while it moved the user's checkout: its record is left in
    /// `agent/landing.lock` (`task`: the merged task, when the merge commit names it).
    InterruptedLanding {
        task: String,
        path: PathBuf,
        branch: String,
    },
    /// A fetch or push killed in the middle: its record is left in `agent/sync/<remote>.lock`,
    /// and lock files of the tracking refs it was writing may be with it.
    InterruptedSync {
        task: String,
        path: PathBuf,
        remote: String,
    },
}
pub(super) fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(8).to_string()
}

fn is_branch(refname: &str) -> bool {
    matches!(TaskRef::parse(refname), Some((_, TaskRef::Branch)))
}

fn notes_cmd(task: &str) -> String {
    format!("git notes --ref {}", refs::notes(task))
}

impl Rewind {
    fn command(&self, task: &str) -> String {
        let mut command = format!(
            "git update-ref -m 'agent: fsck: keep' {} {} '' && git update-ref -m 'agent: fsck: rewind' {} {} {}",
            self.attic,
            self.tip,
            refs::branch(task),
            self.to,
            self.tip
        );
        if let Some(checkout) = &self.checkout {
            command.push_str(&format!(" && {}", checkout.reset_index()));
        }
        command
    }
}

const REWIND_NOTE: &str = "a commit cannot be changed: this takes it, and everything above it, off the branch into \
the attic; their files stay in the checkout as uncommitted changes, which `git agent checkpoint` records again";

impl Finding {
    /// Every rule, by its stable name (docs/data-model.md#fsck lists them).
    pub const RULES: [&'static str; 23] = [
        "plan-missing",
        "plan-malformed",
        "record-malformed",
        "record-missing",
        "record-mismatch",
        "checkpoint-trailers",
        "checkpoint-number",
        "foreign-commit",
        "branch-moved",
        "notes-without-branch",
        "ref-not-a-commit",
        "object-missing",
        "attic-unknown-task",
        "attic-not-of-task",
        "attempt-orphan",
        "stale-lock",
        NotAFile::RULE,
        "stale-worktree",
        "worktree-gone",
        "stale-ref-lock",
        "interrupted-change",
        "interrupted-merge",
        "interrupted-sync",
    ];

    /// The rule broken: one of [`Finding::RULES`].
    pub fn rule(&self) -> &'static str {
        match self {
            Finding::PlanMissing { .. } => "plan-missing",
            Finding::PlanMalformed { .. } => "plan-malformed",
            Finding::RecordMalformed { .. } => "record-malformed",
            Finding::RecordMissing { .. } => "record-missing",
            Finding::RecordMismatch { .. } => "record-mismatch",
            Finding::CheckpointTrailers { .. } => "checkpoint-trailers",
            Finding::CheckpointNumber { .. } => "checkpoint-number",
            Finding::ForeignCommit { .. } => "foreign-commit",
            Finding::BranchMoved { .. } => "branch-moved",
            Finding::NotesWithoutBranch { .. } => "notes-without-branch",
            Finding::RefNotACommit { .. } => "ref-not-a-commit",
            Finding::ObjectMissing { .. } => "object-missing",
            Finding::AtticOfUnknownTask { .. } => "attic-unknown-task",
            Finding::AtticNotOfTask { .. } => "attic-not-of-task",
            Finding::AttemptOrphan { .. } => "attempt-orphan",
            Finding::StaleLock { .. } => "stale-lock",
            Finding::LockNotAFile { .. } => NotAFile::RULE,
            Finding::StaleWorktree { .. } => "stale-worktree",
            Finding::WorktreeGone { .. } => "worktree-gone",
            Finding::StaleRefLock { .. } => "stale-ref-lock",
            Finding::InterruptedChange { .. } => "interrupted-change",
            Finding::InterruptedLanding { .. } => "interrupted-merge",
            Finding::InterruptedSync { .. } => "interrupted-sync",
        }
    }

    /// The task the finding is about.
    pub fn task(&self) -> &str {
        match self {
            Finding::PlanMissing { task, .. }
            | Finding::PlanMalformed { task, .. }
            | Finding::RecordMalformed { task, .. }
            | Finding::RecordMissing { task, .. }
            | Finding::RecordMismatch { task, .. }
            | Finding::CheckpointTrailers { task, .. }
            | Finding::CheckpointNumber { task, .. }
            | Finding::ForeignCommit { task, .. }
            | Finding::BranchMoved { task, .. }
            | Finding::NotesWithoutBranch { task, .. }
            | Finding::RefNotACommit { task, .. }
            | Finding::ObjectMissing { task, .. }
            | Finding::AtticOfUnknownTask { task, .. }
            | Finding::AtticNotOfTask { task, .. }
            | Finding::AttemptOrphan { task, .. }
            | Finding::StaleLock { task, .. }
            | Finding::LockNotAFile { task, .. }
            | Finding::StaleWorktree { task, .. }
            | Finding::WorktreeGone { task, .. }
            | Finding::StaleRefLock { task, .. }
            | Finding::InterruptedChange { task, .. }
            | Finding::InterruptedLanding { task, .. }
            | Finding::InterruptedSync { task, .. } => task,
        }
    }

    /// Whether work that builds on the task (a run, a checkpoint) must refuse: the finding
    /// is about what such work reads or builds on — the branch's commits and their records,
    /// the plan, the task's refs, its lock. The others it clears itself (a stale lock or ref
    /// lock, a worktree to rebuild, a journal to settle, a missing plan it writes anew), or
    /// they lie outside the task's branch.
    pub fn stops_work(&self) -> bool {
        match self {
            Finding::RecordMalformed { read, .. } => *read,
            Finding::PlanMalformed { .. }
            | Finding::RecordMissing { .. }
            | Finding::RecordMismatch { .. }
            | Finding::CheckpointTrailers { .. }
            | Finding::CheckpointNumber { .. }
            | Finding::ForeignCommit { .. }
            | Finding::BranchMoved { .. }
            | Finding::RefNotACommit { .. }
            | Finding::ObjectMissing { .. }
            | Finding::LockNotAFile { .. } => true,
            Finding::PlanMissing { .. }
            | Finding::NotesWithoutBranch { .. }
            | Finding::AtticOfUnknownTask { .. }
            | Finding::AtticNotOfTask { .. }
            | Finding::AttemptOrphan { .. }
            | Finding::StaleLock { .. }
            | Finding::StaleWorktree { .. }
            | Finding::WorktreeGone { .. }
            | Finding::StaleRefLock { .. }
            | Finding::InterruptedChange { .. }
            | Finding::InterruptedLanding { .. }
            | Finding::InterruptedSync { .. } => false,
        }
    }

    /// The error of work that refuses because of this finding (`more`: how many other
    /// findings would stop it too): what fsck says, with fsck's repair as its hint.
    pub fn refusal(&self, more: usize) -> StoreError {
        StoreError::Inconsistent(Box::new(Inconsistency {
            task: self.task().to_string(),
            rule: self.rule(),
            what: self.what(),
            location: self.location(),
            repair: self.repair(),
            note: self.note(),
            more,
        }))
    }

    /// What is wrong, in one sentence.
    pub fn what(&self) -> String {
        match self {
            Finding::PlanMissing { .. } => "the task commit has no plan note".into(),
            Finding::PlanMalformed { detail, .. } => {
                format!("the plan note is not valid TOML for a plan: {detail}")
            }
            Finding::RecordMalformed { detail, .. } => {
                format!("a record note is not valid TOML for a checkpoint record: {detail}")
            }
            Finding::RecordMissing { checkpoint, .. } => {
                format!("checkpoint {checkpoint} has no record note")
            }
            Finding::RecordMismatch { fields, .. } => {
                let said: Vec<String> = fields
                    .iter()
                    .map(|m| format!("{} = {} (trailers: {})", m.field, m.record, m.trailer))
                    .collect();
                format!(
                    "the record disagrees with the commit's trailers: {}",
                    said.join(", ")
                )
            }
            Finding::CheckpointTrailers { problems, .. } => format!(
                "a commit naming the task is not a well-formed checkpoint: {}",
                problems.join("; ")
            ),
            Finding::CheckpointNumber {
                expected, found, ..
            } => format!(
                "the checkpoint is numbered {found}, but after its first parent it must be {expected}"
            ),
            Finding::ForeignCommit { names, above, .. } => {
                let whose = match names {
                    Some(other) => format!("belongs to task '{other}' ({}: {other})", key::TASK),
                    None => format!("was not made by git-agent (no {} trailer)", key::TASK),
                };
                let above = match above {
                    0 => String::new(),
                    1 => ", with 1 commit above it".to_string(),
                    n => format!(", with {n} commits above it"),
                };
                format!("a commit on the task branch {whose}{above}")
            }
            Finding::BranchMoved { .. } => {
                "the branch was moved by hand: its tip does not descend from the task commit".into()
            }
            Finding::NotesWithoutBranch { .. } => "a notes ref of a task that has no branch".into(),
            Finding::RefNotACommit { target, .. } => {
                format!("the ref points to {target}, not a commit")
            }
            Finding::ObjectMissing { object, .. } => format!(
                "the ref points to {object}, which the repository does not have (pruned by `git gc --prune=now` while git-agent wrote it?)"
            ),
            Finding::AtticOfUnknownTask { .. } => {
                "an attic entry of a task that has no branch".into()
            }
            Finding::AtticNotOfTask { task_commit, .. } => format!(
                "an attic entry that does not descend from the task commit {}",
                short(task_commit)
            ),
            Finding::AttemptOrphan { of, problem, .. } => {
                format!(
                    "an attempt of task '{of}' that belongs to no open round of its attempts: {problem}"
                )
            }
            Finding::StaleLock {
                pid, host, since, ..
            } => format!(
                "a run died holding the task's lock (pid {pid} on {host}, since {since}) without recording why it stopped"
            ),
            Finding::LockNotAFile { problem, .. } => problem.what(),
            Finding::StaleWorktree {
                registered,
                of_task,
                ..
            } => match (registered, of_task) {
                (true, _) => "a registered worktree that belongs to no task".into(),
                (false, true) => {
                    "the task's worktree directory is not a registered worktree".into()
                }
                (false, false) => "a directory under agent/worktrees/ of no task".into(),
            },
            Finding::WorktreeGone { path, .. } => format!(
                "a registered worktree whose directory is gone ({})",
                path.display()
            ),
            Finding::StaleRefLock { .. } => {
                "a ref lock file left by a git-agent that died while writing; it blocks every change of the ref".into()
            }
            Finding::InterruptedChange { .. } => {
                "a change of several refs was cut short and could not be finished yet (is .git writable?)".into()
            }
            Finding::InterruptedLanding { branch, .. } => format!(
                "a merge was killed while it moved your checkout and {branch}: they may be half-way"
            ),
            Finding::InterruptedSync { remote, .. } => format!(
                "a fetch or push with '{remote}' was killed: lock files it left on tracking refs block `git fetch {remote}`"
            ),
        }
    }

    /// Where: the ref, commit or path.
    pub fn location(&self) -> String {
        match self {
            Finding::PlanMissing {
                task, task_commit, ..
            }
            | Finding::PlanMalformed {
                task, task_commit, ..
            } => format!(
                "{} on task commit {}",
                refs::notes(task),
                short(task_commit)
            ),
            Finding::RecordMalformed { task, commit, .. }
            | Finding::RecordMissing { task, commit, .. }
            | Finding::RecordMismatch { task, commit, .. } => {
                format!("{} on {}", refs::notes(task), short(commit))
            }
            Finding::CheckpointTrailers { task, commit, .. }
            | Finding::CheckpointNumber { task, commit, .. }
            | Finding::ForeignCommit { task, commit, .. } => {
                format!("commit {} on {}", short(commit), refs::branch(task))
            }
            Finding::BranchMoved { task, tip, .. } => {
                format!("{} at {}", refs::branch(task), short(tip))
            }
            Finding::NotesWithoutBranch { task, .. } => refs::notes(task),
            Finding::RefNotACommit { refname, .. } | Finding::ObjectMissing { refname, .. } => {
                refname.clone()
            }
            Finding::AtticOfUnknownTask {
                refname, commit, ..
            }
            | Finding::AtticNotOfTask {
                refname, commit, ..
            } => format!("{refname} at {}", short(commit)),
            Finding::AttemptOrphan { task, .. } => refs::branch(task),
            Finding::StaleLock { path, .. } | Finding::StaleWorktree { path, .. } => {
                path.display().to_string()
            }
            Finding::LockNotAFile { problem, .. } => problem.path.display().to_string(),
            Finding::WorktreeGone { admin, .. } => admin.display().to_string(),
            Finding::StaleRefLock { path, .. }
            | Finding::InterruptedChange { path, .. }
            | Finding::InterruptedLanding { path, .. }
            | Finding::InterruptedSync { path, .. } => path.display().to_string(),
        }
    }

    /// The command that repairs it, for a shell in the repository. A `<…>` part is for the
    /// user to fill in.
    pub fn repair(&self) -> String {
        match self {
            Finding::PlanMissing {
                task,
                task_commit,
                earlier: Some(blob),
                ..
            } => format!("{} add -C {blob} {task_commit}", notes_cmd(task)),
            Finding::PlanMissing {
                task,
                task_commit,
                goal,
                earlier: None,
            } => {
                let goal = toml::Value::String(goal.clone()).to_string();
                format!(
                    "{} add -m {} -m {} -m {} {task_commit}",
                    notes_cmd(task),
                    sh(&format!("format = {FORMAT}")),
                    sh(&format!("goal = {goal}")),
                    sh("status = \"planning\"")
                )
            }
            Finding::PlanMalformed {
                task,
                task_commit: commit,
                earlier,
                ..
            }
            | Finding::RecordMalformed {
                task,
                commit,
                earlier,
                ..
            } => match earlier {
                Some(blob) => format!("{} add -f -C {blob} {commit}", notes_cmd(task)),
                None => format!("{} edit {commit}", notes_cmd(task)),
            },
            Finding::RecordMissing {
                task,
                commit,
                checkpoint,
                step,
            } => {
                let mut fields = vec![format!("checkpoint = {checkpoint}")];
                if let Some((step, steps)) = step {
                    fields.push(format!("step = {step}"));
                    fields.push(format!("steps = {steps}"));
                }
                fields.push("model = \"unknown\"".into());
                let args: Vec<String> = fields.iter().map(|f| format!("-m {}", sh(f))).collect();
                format!("{} add {} {commit}", notes_cmd(task), args.join(" "))
            }
            Finding::RecordMismatch {
                task,
                commit,
                fields,
            } => {
                let edits: Vec<String> = fields
                    .iter()
                    .map(|m| {
                        format!(
                            "-e {}",
                            sh(&format!("s/^{0} *=.*/{0} = {1}/", m.field, m.trailer))
                        )
                    })
                    .collect();
                format!(
                    "{0} show {commit} | sed {1} | {0} add -f -F - {commit}",
                    notes_cmd(task),
                    edits.join(" ")
                )
            }
            Finding::CheckpointTrailers { task, rewind, .. }
            | Finding::CheckpointNumber { task, rewind, .. }
            | Finding::ForeignCommit { task, rewind, .. } => rewind.command(task),
            Finding::BranchMoved {
                task,
                tip,
                restore,
                checkout,
            } => {
                let restore = restore.map_or_else(|| "<commit>".to_string(), |r| r.to_string());
                let mut command = format!(
                    "git update-ref -m 'agent: fsck: back onto the task' {} {restore} {tip}",
                    refs::branch(task)
                );
                if let Some(checkout) = checkout {
                    command.push_str(&format!(" && {}", checkout.reset_index()));
                }
                command
            }
            Finding::NotesWithoutBranch {
                task,
                restore: Some(restore),
            } => format!(
                "git update-ref -m 'agent: fsck: restore the branch' {} {restore} ''",
                refs::branch(task)
            ),
            Finding::NotesWithoutBranch {
                task,
                restore: None,
            } => format!("git update-ref -d {}", refs::notes(task)),
            Finding::RefNotACommit {
                refname,
                restore: Some(restore),
                ..
            } => format!("git update-ref --no-deref {refname} {restore}"),
            Finding::RefNotACommit {
                refname,
                restore: None,
                ..
            } => format!("git update-ref --no-deref -d {refname}"),
            Finding::ObjectMissing {
                refname,
                object,
                restore,
                checkout,
                ..
            } => match restore {
                None if !is_branch(refname) => format!("git update-ref -d {refname} {object}"),
                // A branch keeps its name: its worktree holds the work of what was lost.
                restore => {
                    let to = restore.map_or_else(|| "<commit>".to_string(), |r| r.to_string());
                    // The reflog's entries of the missing object go too, or `git fsck`
                    // reports them.
                    let mut command = format!(
                        "git update-ref -m 'agent: fsck: back to a commit that exists' {refname} {to} {object} \
                         && git reflog expire --stale-fix --expire=never --expire-unreachable=never {refname}"
                    );
                    if let Some(checkout) = checkout {
                        command.push_str(&format!(" && {}", checkout.reset_index()));
                    }
                    command
                }
            },
            Finding::AtticOfUnknownTask {
                refname, commit, ..
            }
            | Finding::AtticNotOfTask {
                refname, commit, ..
            } => format!("git update-ref -d {refname} {commit}"),
            Finding::AttemptOrphan { refs, .. } => refs
                .iter()
                .map(|(refname, id)| format!("git update-ref -d {refname} {id}"))
                .collect::<Vec<_>>()
                .join(" && "),
            Finding::StaleLock {
                path, known: true, ..
            } => format!(": > {}", sh(&path.display().to_string())),
            Finding::StaleLock {
                path, known: false, ..
            } => format!("rm -f {}", sh(&path.display().to_string())),
            Finding::LockNotAFile { problem, .. } => problem.repair(),
            Finding::StaleWorktree {
                path,
                registered: true,
                ..
            } => format!(
                "git worktree remove --force {}",
                sh(&path.display().to_string())
            ),
            Finding::StaleWorktree {
                path,
                registered: false,
                ..
            } => format!("rm -rf {}", sh(&path.display().to_string())),
            Finding::WorktreeGone { .. } => "git worktree prune".into(),
            Finding::StaleRefLock { path, .. } => {
                format!("rm -f {}", sh(&path.display().to_string()))
            }
            // Any command that opens the repository settles the journal.
            Finding::InterruptedChange { .. } => "git agent list".into(),
            Finding::InterruptedLanding { task, .. } if !task.is_empty() => {
                format!("git agent merge {}", sh(task))
            }
            Finding::InterruptedLanding { .. } => "git agent merge <task>".into(),
            Finding::InterruptedSync { remote, .. } => format!("git agent pull {}", sh(remote)),
        }
    }

    /// What else to know before repairing, if anything.
    pub fn note(&self) -> Option<String> {
        Some(match self {
            Finding::PlanMissing {
                task,
                earlier: Some(_),
                ..
            } => format!(
                "restores the newest readable plan from the history of {}",
                refs::notes(task)
            ),
            Finding::PlanMissing { task, .. } => format!(
                "writes a new plan holding only the goal; `git agent resume {task}` plans again"
            ),
            Finding::PlanMalformed {
                task,
                task_commit: commit,
                earlier: Some(_),
                ..
            }
            | Finding::RecordMalformed {
                task,
                commit,
                earlier: Some(_),
                ..
            } => format!(
                "restores the newest version that parses; `git log -p {}` shows them all, `{} edit {commit}` edits it by hand",
                refs::notes(task),
                notes_cmd(task)
            ),
            Finding::PlanMalformed { task, .. } | Finding::RecordMalformed { task, .. } => {
                format!(
                    "no earlier version parses (`git log -p {}` shows them all): fix it in the editor",
                    refs::notes(task)
                )
            }
            Finding::RecordMissing { .. } => {
                "its model usage is unknown, so budgets count it as nothing".into()
            }
            Finding::RecordMismatch { .. } => {
                "the trailers are part of the commit and cannot change; the note follows them"
                    .into()
            }
            Finding::CheckpointTrailers { rewind, .. }
            | Finding::CheckpointNumber { rewind, .. }
            | Finding::ForeignCommit { rewind, .. } => match rewind.checkout {
                Some(_) => REWIND_NOTE.into(),
                None => "a commit cannot be changed: this takes it, and everything above it, off the branch into the attic".into(),
            },
            Finding::BranchMoved {
                task,
                restore: Some(_),
                ..
            } => format!(
                "moves the branch back to the newest commit of the task that its reflog or notes know; \
                 `git reflog show {}` lists where it has been",
                refs::branch(task)
            ),
            Finding::BranchMoved { task, .. } => format!(
                "no position on the task is known: pick one from `git reflog show {}`, or drop the task with `git agent drop {task} --force`",
                refs::branch(task)
            ),
            Finding::NotesWithoutBranch {
                task,
                restore: Some(_),
            } => format!(
                "brings the task back at the newest checkpoint its notes know; to delete the notes instead: git update-ref -d {}",
                refs::notes(task)
            ),
            Finding::NotesWithoutBranch { .. } => {
                "none of the commits it annotates is the task's; deleting it loses only notes"
                    .into()
            }
            Finding::RefNotACommit {
                restore: Some(_), ..
            } => "puts back the ref's last value that was a commit (from its reflog)".into(),
            Finding::RefNotACommit { .. } => return None,
            Finding::ObjectMissing {
                refname, restore, ..
            } => match (is_branch(refname), restore) {
                (true, Some(_)) => {
                    "the branch goes back to the newest commit of the task that exists; the files of what was lost stay in its worktree as uncommitted changes, which `git agent checkpoint` records again".into()
                }
                (true, None) => format!(
                    "no commit of the task is known to exist: pick one from `git reflog show {refname}`; the worktree keeps its files"
                ),
                (false, Some(_)) => {
                    "puts back the ref's last value that is a commit (from its reflog)".into()
                }
                (false, None) => "the object is gone: deleting the ref loses nothing more".into(),
            },
            Finding::AtticOfUnknownTask { refname, .. } | Finding::AtticNotOfTask { refname, .. } => {
                format!("deletes work kept there; look at it first: git log -p {refname}")
            }
            Finding::AttemptOrphan { task, .. } => format!(
                "deletes the attempt and its work; look at it first (git log agent/{task}), or keep it as a task of its own by removing attempt_of from its plan"
            ),
            Finding::StaleLock {
                task, known: true, ..
            } => format!(
                "clears the record that marks the task interrupted; `git agent resume {task}` instead takes the lock over and continues"
            ),
            Finding::StaleLock { .. } => return None,
            Finding::LockNotAFile { problem, .. } => return problem.note(),
            Finding::StaleWorktree {
                task,
                of_task: true,
                ..
            } => format!(
                "look inside before removing it; `git agent resume {task}` instead moves it aside and builds a new worktree"
            ),
            Finding::StaleWorktree { .. } => {
                "look inside before removing it: it may hold work that was never checkpointed"
                    .into()
            }
            Finding::WorktreeGone { .. } | Finding::StaleRefLock { .. } => return None,
            Finding::InterruptedChange { .. } => {
                "it finishes the change if any ref of it had moved, else forgets it".into()
            }
            Finding::InterruptedLanding { .. } => {
                "merge finishes a killed landing before anything else: it brings the checkout and the branch to the merge when nothing of yours is in the way, and says what is otherwise".into()
            }
            Finding::InterruptedSync { .. } => {
                "the next fetch or push with that remote removes the lock files the killed one made".into()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_new_plan_holds_any_goal_through_the_shell() {
        let commit = ObjectId::null(gix::hash::Kind::Sha1);
        let goal = "say \"hi\"\nand 'bye' \\ $HOME";
        let finding = Finding::PlanMissing {
            task: "x".into(),
            task_commit: commit,
            goal: goal.into(),
            earlier: None,
        };
        let repair = finding.repair();
        let args = repair
            .strip_prefix("git notes --ref refs/notes/agent/x add ")
            .and_then(|r| r.strip_suffix(&format!(" {commit}")))
            .expect("a git notes add");
        // What git notes would join into the note: each -m value, one paragraph each.
        let script =
            format!("for a in {args}; do [ \"$a\" = -m ] || printf '%s\\n\\n' \"$a\"; done");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        let plan: crate::store::Plan =
            toml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("the note parses");
        assert_eq!((plan.format, plan.goal.as_str()), (FORMAT, goal));
        assert_eq!(plan.status, crate::store::PlanStatus::Planning);
    }
}
