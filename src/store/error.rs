use std::path::PathBuf;

use crate::error::{Advice, Exit};

/// Errors of the task store. Each says what went wrong; [`Advice::hint`] says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not a git repository: {}", path.display())]
    NotARepository { path: PathBuf, detail: String },
    #[error("{} is a bare repository; git-agent needs a working tree", path.display())]
    BareRepository { path: PathBuf },
    #[error("{} uses SHA-256 object names, which git-agent does not support yet", path.display())]
    UnsupportedObjectFormat { path: PathBuf },
    #[error("HEAD has no commit yet (unborn branch)")]
    UnbornHead,
    #[error("no git identity: {0}")]
    NoIdentity(String),
    #[error("the checkout has uncommitted changes: {0}")]
    DirtyCheckout(String),
    #[error("no task named '{slug}'")]
    UnknownTask { slug: String, known: Vec<String> },
    #[error("there are no tasks in this repository")]
    NoTasks,
    /// No task was named, none is checked out, and there are several: a change is not made
    /// to a guess.
    #[error("which task? {} could be meant: {}", .candidates.len(), .candidates.join(", "))]
    WhichTask { candidates: Vec<String> },
    #[error("'{slug}' cannot be a task name: {reason}")]
    InvalidSlug { slug: String, reason: String },
    #[error("a task named '{0}' exists already")]
    TaskExists(String),
    #[error("the note on {commit} in {notes_ref} is not valid TOML for a {what}: {detail}")]
    MalformedNote {
        notes_ref: String,
        commit: String,
        what: &'static str,
        detail: String,
    },
    #[error(
        "the branch {branch} was moved by hand: its tip {tip} does not descend from the task commit {task_commit}"
    )]
    BranchMoved {
        branch: String,
        tip: String,
        task_commit: String,
    },
    #[error("task '{slug}' is in use by another run (pid {pid} on {host}, since {since})")]
    Locked {
        slug: String,
        pid: u32,
        host: String,
        since: String,
    },
    #[error(
        "{refname} changed while we were writing it (expected {expected}); another process updated the task"
    )]
    RaceLost { refname: String, expected: String },
    #[error("{0}")]
    NothingToRollBack(String),
    #[error("{0}")]
    BadRevision(String),
    #[error("{message}")]
    Attempts { message: String, hint: String },
    /// A git operation failed; the cause is kept (its own chain included), not flattened.
    #[error("{context}: {source}")]
    Git {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the checkpoint was refused (secrets, files too large, or changes inside a submodule); nothing was committed:\n  {}",
        findings.join("\n  ")
    )]
    Refused { findings: Vec<String> },
    #[error(
        "task '{slug}' is written in format {format}, newer than the format {known} this git-agent knows; it will not change it"
    )]
    NewerFormat {
        slug: String,
        format: u32,
        known: u32,
    },
    #[error("git {args} failed: {detail}")]
    GitCommand { args: String, detail: String },
    #[error("the note on {commit} would not be valid TOML; nothing was written: {detail}")]
    NoteNotWritten { commit: String, detail: String },
    #[error("the required filter `{driver}` failed on `{path}`; nothing was committed: {detail}")]
    FilterFailed {
        path: String,
        driver: String,
        detail: String,
    },
    #[error("'{0}' cannot be a remote name here")]
    BadRemote(String),
    #[error("{what} {remote}: {detail}")]
    Remote {
        remote: String,
        what: &'static str,
        detail: String,
    },
    #[error("could not move agent/{slug} in {}: {detail}", dir.display())]
    CheckoutInTheWay {
        slug: String,
        dir: PathBuf,
        detail: String,
    },
    /// The task breaks a rule of docs/data-model.md that `git agent fsck` checks: a command
    /// that would build on it refuses, with the repair fsck prints.
    #[error("{0}")]
    Inconsistent(Box<Inconsistency>),
    #[error("your checkout has unresolved conflicts: {0}")]
    Unmerged(String),
    /// The checkpoint that records an update's merge found the worktree holding the bare tip;
    /// the merge was put back (src/store/update.rs).
    #[error(
        "the worktree of task '{slug}' had lost the merge of {branch} ({base}) that its next checkpoint records; the merge's files, conflict markers included, are back in {}; nothing was committed",
        worktree.display()
    )]
    MergeLost {
        slug: String,
        branch: String,
        base: String,
        worktree: PathBuf,
    },
    #[error(
        "your uncommitted work holds secrets; no task was started and nothing was written:\n  {}",
        findings.join("\n  ")
    )]
    CarriedSecrets { findings: Vec<String> },
}

/// A finding of `git agent fsck` that a command refuses to build on.
#[derive(Debug)]
pub struct Inconsistency {
    pub task: String,
    pub rule: &'static str,
    pub what: String,
    pub location: String,
    pub repair: String,
    pub note: Option<String>,
    /// Other findings of the task that would stop the command too.
    pub more: usize,
}

impl std::fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Inconsistency {
            task,
            rule,
            what,
            location,
            ..
        } = self;
        write!(
            f,
            "task '{task}' breaks the rule {rule} (`git agent fsck {task}` reports it): {what}, at {location}; nothing was changed"
        )?;
        match self.more {
            0 => {}
            1 => write!(f, " (1 more finding in `git agent fsck {task}`)")?,
            n => write!(f, " ({n} more findings in `git agent fsck {task}`)")?,
        }
        if let Some(note) = &self.note {
            write!(f, ". About the repair: {note}")?;
        }
        Ok(())
    }
}

impl StoreError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            context,
            path,
            source,
        }
    }
}

impl Advice for StoreError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            StoreError::NotARepository { .. } => {
                "run git agent inside a git repository, or create one with `git init` and a first commit".into()
            }
            StoreError::BareRepository { .. } => {
                "clone it into a repository with a working tree (`git clone <bare> <dir>`) and run git agent there".into()
            }
            StoreError::UnsupportedObjectFormat { .. } => {
                "use git-agent in a SHA-1 repository (`git rev-parse --show-object-format` says which); nothing was written".into()
            }
            StoreError::UnbornHead => "make a first commit: a task starts from the commit HEAD points to".into(),
            StoreError::NoIdentity(_) => {
                "tell git who you are: git config --global user.name \"Your Name\"; git config --global user.email you@example.com".into()
            }
            StoreError::DirtyCheckout(_) => {
                "commit or stash your changes first (`git stash -u`), or leave out --here so the agent works in a private worktree".into()
            }
            StoreError::UnknownTask { known, .. } if known.is_empty() => {
                "there are no tasks yet; start one with `git agent start \"goal\"`".into()
            }
            StoreError::UnknownTask { known, .. } => format!("known tasks: {}", known.join(", ")),
            StoreError::NoTasks => "start one with `git agent start \"goal\"`".into(),
            StoreError::WhichTask { candidates } => format!(
                "name it, e.g. `git agent <command> {}`, or check out its branch (agent/<task>)",
                candidates.first().map_or("<task>", String::as_str)
            ),
            StoreError::InvalidSlug { .. } => {
                "use lowercase letters, digits and '-', at most 40 characters, e.g. --name fix-json-flag".into()
            }
            StoreError::TaskExists(slug) => {
                format!("pick another --name, resume it with `git agent resume {slug}`, or delete it with `git agent drop {slug}`")
            }
            StoreError::MalformedNote { notes_ref, commit, .. } => format!(
                "`git agent fsck` prints the command that restores the newest version that parses (from `git log -p {notes_ref}`); \
                 or fix it by hand with `git notes --ref {notes_ref} edit {commit}`"
            ),
            StoreError::BranchMoved { branch, task_commit, .. } => format!(
                "move it back onto the task (`git branch -f {branch} <checkpoint>`; `git reflog {branch}` lists where it was), \
                 or start a new task; the task commit is {task_commit}"
            ),
            StoreError::Locked { .. } => {
                "wait for that run to finish or stop it (Ctrl-C); a lock left by a dead process is taken over automatically".into()
            }
            StoreError::BadRemote(_) => {
                "give the name of a configured remote (`git remote -v` lists them); add one with `git remote add <name> <url>`".into()
            }
            StoreError::Remote { remote, .. } => format!(
                "is `{remote}` a remote you can reach? `git remote -v` lists them; if someone pushed meanwhile, `git agent pull {remote}` first"
            ),
            StoreError::CheckoutInTheWay { slug, .. } => format!(
                "uncommitted changes there are in the way; record them with `git agent checkpoint {slug} -m …` or remove them, then pull again"
            ),
            StoreError::RaceLost { .. } => "nothing was overwritten; look at `git agent status` and try again".into(),
            StoreError::NothingToRollBack(_) => "`git agent log` lists the checkpoints of the task".into(),
            StoreError::Attempts { hint, .. } => hint.clone(),
            StoreError::BadRevision(_) => "name a checkpoint of the task: a commit id, or agent/<slug>~N".into(),
            StoreError::Refused { .. } => {
                "remove the secrets (keep keys in the environment or outside the repository) and large files (or add them to .gitignore), \
                 and undo changes inside submodules; allow a value with `secret_allow` in your own configuration, or record secrets anyway \
                 with `git agent checkpoint --allow-secrets`".into()
            }
            StoreError::FilterFailed { driver, .. } => format!(
                "`git add` fails the same way: fix the filter (`git config --get-regexp '^filter\\.{driver}\\.'`), \
                 or mark it optional with `git config filter.{driver}.required false` to store such files unfiltered"
            ),
            StoreError::Unmerged(_) => {
                "resolve them (or finish or abort the merge or rebase) first, or start from HEAD alone with \
                 `git agent start --from-head`"
                    .into()
            }
            StoreError::CarriedSecrets { .. } => {
                "remove the secrets from those files, add the files to .gitignore, or start from HEAD alone with \
                 `git agent start --from-head` (your uncommitted work then stays out of the task)"
                    .into()
            }
            StoreError::MergeLost { slug, branch, .. } => format!(
                "resolve the conflicts there, then record them: git agent checkpoint {slug} -m \"Resolve conflicts with {branch}\"; \
                 or have the agent do it: git agent resume {slug}"
            ),
            StoreError::Inconsistent(found) => found.repair.clone(),
            StoreError::NewerFormat { .. } => {
                "upgrade git-agent to work on this task; reading it (status, log, list, fsck) works with this version".into()
            }
            StoreError::NoteNotWritten { .. } => {
                "a bug in git-agent: the task's notes are as they were; report the error above".into()
            }
            StoreError::Git { .. } | StoreError::Io { .. } | StoreError::GitCommand { .. } => return None,
        })
    }

    fn exit(&self) -> Exit {
        match self {
            StoreError::InvalidSlug { .. } => Exit::Usage,
            _ => Exit::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn a_git_error_keeps_its_cause_and_says_it() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "packed-refs: denied");
        let err = StoreError::Git {
            context: "could not write refs".into(),
            source: io.into(),
        };
        assert_eq!(err.to_string(), "could not write refs: packed-refs: denied");
        let cause = std::error::Error::source(&err).expect("the cause is kept");
        let io = cause
            .downcast_ref::<std::io::Error>()
            .expect("as the error it was");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
    }
}
