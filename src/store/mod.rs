//! The git data model (docs/data-model.md): tasks, checkpoints, notes, attic, lock, worktree.
//!
//! Everything a task is lives in git: the branch `agent/<slug>`, the notes ref
//! `refs/notes/agent/<slug>` (plan on the task commit, a record on every checkpoint) and the
//! attic refs `refs/agent/<slug>/attic/<n>`. This module owns every read and write of them,
//! in four parts and the operations over them, each part importing only the ones below it:
//!
//! - `format/`: what git holds and how it is spelled (refs, trailers, notes, plan, records,
//!   task names): each format written and read in one file.
//! - `capture/`: a worktree turned into a tree as `git add -A` would, and back.
//! - the operations on a task, in this folder: creating and finding tasks (`task.rs`),
//!   checkpoints, the attic, rollback, updates, merges, what a task is doing (`state.rs`),
//!   the run lock, the ref journal that makes a change of several refs all or nothing, and
//!   the cache of what each task's refs say. They use `format/` and `capture/`.
//! - `remote/`: tasks between repositories (sync, leases, attempts), over the operations.
//! - `fsck/`: the state checked against its specification, over all of it.
//!
//! `error.rs` (the store's errors) and `ancestry.rs` (which commit holds which) are leaves.
//! tests/it/layout.rs checks that the files of every folder import each other in no circle.

pub(crate) mod capture;
pub mod format;
mod fsck;
pub mod remote;

mod ancestry;
mod attic;
mod cache;
mod checkpoint;
mod error;
pub(crate) mod journal;
mod landing;
mod lock;
mod merge;
mod rollback;
mod say;
mod state;
mod task;
mod unrecorded;
mod update;
mod worktree;

pub use crate::git_command::GitCommand;
pub use ancestry::Ancestry;
pub use attic::AtticEntry;
pub use capture::carry::Carried;
pub use capture::snapshot::{Snapshot, snapshot_scoped, snapshot_worktree};
pub use capture::watch::{Changes, Watch};
pub use checkpoint::{CheckpointInput, CheckpointOutcome, TestsSummary};
pub use error::{Inconsistency, StoreError};
pub use format::notes::NotesReader;
pub use format::plan::{
    Attempt, AttemptOf, AttemptResult, FAILED_TRY, FORMAT, Merged, Parallel, Plan, PlanStatus,
    PlanStep, Update,
};
pub use format::record::{CheckpointRecord, StopReason, StopRecord, TestsVerdict, now_rfc3339};
/// Where the agent's own refs live, for readers that watch them whole (`serve`).
pub use format::refs::{BRANCH_PREFIX, NOTES_PREFIX, TASK_PREFIX, tracking_notes_prefix};
pub use format::refs::{
    Edit, Expect, TaskRef, attic as attic_ref, attic_prefix, branch as branch_ref,
    lease as lease_ref, notes as notes_ref, say as say_ref, tracking_agent_prefix, tracking_branch,
    tracking_branch_prefix, tracking_lease, tracking_notes, tracking_say,
};
pub use format::slug::{
    MAX_ATTEMPTS, attempt_slug, max_len_with_attempts, slug_from_goal, validate_slug,
};
pub use format::trailers::{
    CheckpointTrailers, StepOf, Trailers, key as trailer, merge_trailers, parse_trailers,
};
pub use fsck::{Finding, FsckReport, Mismatch, Rewind};
pub use lock::TaskLock;
pub use merge::{BroughtIn, Conflict, LARGE_FILE_BYTES, MergeTree};
pub use remote::attempts::{PickOutcome, rank, why_lost};
pub use rollback::{RollbackOutcome, RollbackTarget};
pub use say::Said;
pub use state::{Budget, Checkpoint, TaskRow, TaskState, TaskSummary};
pub use task::{Chosen, NewTask, Task};
pub use unrecorded::UnrecordedStop;
pub use update::{PendingMerge, RunWorktree, UpdateAfterRollback, update_step_title};

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cache::{Anchor, TaskCache};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A repository opened for git-agent: the main repository (never a bare one).
pub struct Store {
    repo: gix::Repository,
    /// The task cache file, read once when first needed (see `cache.rs`).
    cache: RefCell<Option<TaskCache>>,
    /// Task commits already found, by `(slug, commit of the branch)`: a commit's ancestry
    /// never changes, so a long-running loop walks each checkpoint once.
    anchors: RefCell<HashMap<(String, gix::ObjectId), Anchor>>,
    /// What the store has to tell the user beyond its results (a submodule left empty);
    /// the commands print them.
    notes: std::sync::Mutex<Vec<String>>,
    /// The generated-output rules of the user's configuration, read when first needed.
    generated: std::cell::OnceCell<crate::walk::generated::Generated>,
}

impl Store {
    /// Open the repository containing `dir`, honouring `GIT_DIR` and `GIT_WORK_TREE` like git.
    pub fn discover(dir: &Path) -> Result<Store> {
        let repo = gix::discover_with_environment_overrides(dir).map_err(|err| {
            // gix is built for SHA-1 only; a SHA-256 repository is refused by name rather
            // than written into with the wrong hash.
            if is_sha256_repository(dir) {
                return StoreError::UnsupportedObjectFormat {
                    path: dir.to_path_buf(),
                };
            }
            StoreError::NotARepository {
                path: dir.to_path_buf(),
                detail: err.to_string(),
            }
        })?;
        if repo.object_hash() != gix::hash::Kind::Sha1 {
            return Err(StoreError::UnsupportedObjectFormat {
                path: dir.to_path_buf(),
            });
        }
        if repo.workdir().is_none() {
            return Err(StoreError::BareRepository {
                path: repo.git_dir().to_path_buf(),
            });
        }
        let store = Store {
            repo,
            cache: RefCell::new(None),
            anchors: RefCell::new(HashMap::new()),
            notes: Default::default(),
            generated: Default::default(),
        };
        // A ref change cut short by a crash is settled before anything is read.
        store.recover_journals();
        Ok(store)
    }

    /// What a snapshot of a task worktree leaves out as generated output: the `generated`
    /// key of the user's configuration (the built-in list when the configuration cannot be
    /// read; the commands that depend on it have refused by then).
    pub fn generated(&self) -> crate::walk::generated::Generated {
        self.generated
            .get_or_init(|| {
                let inputs = crate::config::Inputs::discover_in(&self.repo, Default::default());
                crate::config::load(&inputs)
                    .map(|config| {
                        crate::walk::generated::Generated::new(config.generated.as_slice())
                    })
                    .unwrap_or_else(|_| crate::walk::generated::Generated::built_in())
            })
            .clone()
    }

    /// Use `generated` instead of the configuration's (the monitor, which runs without the
    /// user's environment, is given it). Only before the first snapshot.
    pub fn set_generated(&self, generated: crate::walk::generated::Generated) {
        let _ = self.generated.set(generated);
    }

    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    /// The notes gathered since the last call (see [`Store::notes`]).
    pub fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut notes| std::mem::take(&mut *notes))
            .unwrap_or_default()
    }

    pub(crate) fn note(&self, text: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.push(text);
        }
    }

    /// The git dir of the checkout this store was opened from.
    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    /// The directory shared by all worktrees (`$GIT_COMMON_DIR`).
    pub fn common_dir(&self) -> &Path {
        self.repo.common_dir()
    }

    /// Where git-agent keeps runtime files: locks and private worktrees.
    pub fn agent_dir(&self) -> PathBuf {
        self.common_dir().join("agent")
    }

    /// Use the task cache, reading it first if this is the first use.
    pub(crate) fn with_cache<T>(&self, f: impl FnOnce(&mut TaskCache) -> T) -> T {
        let mut slot = self.cache.borrow_mut();
        let cache =
            slot.get_or_insert_with(|| TaskCache::load(TaskCache::path_in(&self.agent_dir())));
        f(cache)
    }

    /// `git` on this repository, named explicitly (src/git_command.rs), run in the
    /// user's checkout: the user's own repository, with its config and hooks.
    pub(crate) fn git(&self) -> Result<GitCommand> {
        Ok(GitCommand::new(self.repo.git_dir(), Some(self.workdir()?)))
    }

    /// The working tree of the checkout this store was opened from.
    pub fn workdir(&self) -> Result<&Path> {
        self.repo
            .workdir()
            .ok_or_else(|| StoreError::BareRepository {
                path: self.repo.git_dir().to_path_buf(),
            })
    }
}

impl Store {
    /// Write a commit whose message is redacted first: known keys and key-shaped text never
    /// reach git through a message, whatever the model or a tool output put in it; and safe
    /// for a terminal.
    pub(crate) fn commit(
        &self,
        message: &str,
        tree: gix::ObjectId,
        parents: impl IntoIterator<Item = gix::ObjectId>,
    ) -> Result<gix::ObjectId> {
        // Control characters are shown, not kept (src/text/terminal.rs): `git log` prints a
        // message raw to a terminal, which would obey an escape sequence the model wrote. A
        // NUL (not allowed in a commit, `git fsck`: nulInCommit) becomes `^@` with them.
        // Redacted first: a key right after a control character is still a word of its own.
        let message =
            crate::text::terminal::block(&crate::policy::redact_known(message)).into_owned();
        let parents: Vec<gix::ObjectId> = parents.into_iter().collect();
        // The identity is looked up here, not inferred from the text of gix's error: no
        // author or committer configured is `None`, a typed answer.
        let author = identity(self.repo.author(), "author")?;
        let committer = identity(self.repo.committer(), "committer")?;
        self.repo
            .new_commit_as(committer, author, message, tree, parents)
            .map(|commit| commit.id)
            .map_err(|err| StoreError::Git {
                context: "could not write a commit".into(),
                source: err.to_string().into(),
            })
    }
}

/// An author or committer identity of the repository's configuration, or [`StoreError::NoIdentity`]
/// when it has none (`user.name`/`user.email` unset, no `GIT_*_NAME`): the case `git agent`
/// gives a hint for.
fn identity<'a, E: std::fmt::Display>(
    found: Option<std::result::Result<gix::actor::SignatureRef<'a>, E>>,
    role: &str,
) -> Result<gix::actor::SignatureRef<'a>> {
    match found {
        Some(Ok(signature)) => Ok(signature),
        None => Err(StoreError::NoIdentity(format!(
            "{role} identity is not configured"
        ))),
        // A date that cannot be read (`GIT_COMMITTER_DATE`) is not a missing identity.
        Some(Err(err)) => Err(StoreError::Git {
            context: format!("the {role} identity's date cannot be read"),
            source: err.to_string().into(),
        }),
    }
}

/// Whether git itself says the repository containing `dir` (found as `Store::discover`
/// finds it, from the user's own directory) uses SHA-256 object names.
fn is_sha256_repository(dir: &Path) -> bool {
    let Ok((found, _)) = gix::discover::upwards(dir) else {
        return false;
    };
    let (git_dir, work_tree) = found.into_repository_and_work_tree_directories();
    GitCommand::new(&git_dir, work_tree.as_deref())
        .args(["rev-parse", "--show-object-format"])
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.starts_with(b"sha256"))
}

/// Convert any gix error into a store error that names what we were doing.
pub(crate) fn git_err(context: impl Into<String>) -> impl FnOnce(gix::Error) -> StoreError {
    let context = context.into();
    move |err| StoreError::Git {
        context,
        source: err.into(),
    }
}
