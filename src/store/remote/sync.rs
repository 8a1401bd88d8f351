//! Moving tasks through a remote (docs/data-model.md#refs): the tracking-ref layout, the
//! decisions `push` and `pull` take for each ref, and the writes that carry them out.
//!
//! What a task is on a remote: its branch `refs/heads/agent/<slug>`, its notes ref
//! `refs/notes/agent/<slug>`, its attic `refs/agent/<slug>/attic/<n>`, what was said
//! `refs/agent/<slug>/say` and, while a worker holds it, its lease `refs/agent/<slug>/lease`.
//! Every operation first fetches the remote's view into tracking refs, so every decision
//! compares three known values: ours, theirs, and the attic that keeps discarded tips.
//!
//! The decisions are pure functions of those values and of the commit graph (behind the
//! [`Ancestry`] trait), unit-tested below on a graph in memory; the `Store` methods read the
//! refs, ask them, and write: local refs only through [`Store::transaction`] (compare and
//! swap), remote refs only through one `git push --atomic` with a lease on every ref.
//!
//! Nothing is ever overwritten on either side: branches only fast-forward (a push may rewind a
//! remote branch only when the commit it discards is kept in an attic pushed with it, i.e.
//! after a `rollback`), notes are merged, attic entries are copied by commit under a free
//! number, and what was said is joined by a merge commit when both sides said something.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::store::ancestry::Ancestry;
use crate::store::format::notes::NotesReader;
use crate::store::format::plan::Plan;
use crate::store::format::refs::{
    self, Edit, Expect, TaskRef, fetch_refspecs, fetch_task_refspec, notes_merge_scratch,
    tracking_agent_prefix, tracking_branch, tracking_branch_prefix, tracking_name, tracking_notes,
    tracking_notes_prefix,
};
use crate::store::format::slug::validate_slug;
use crate::store::lock::TaskLock;
use crate::store::lock::{MarkedLock, clear_locks_since};
use crate::store::{Result, Store, StoreError};

/// The directory under `$GIT_COMMON_DIR/agent/` of the remotes' sync locks.
const SYNC_LOCKS: &str = "sync";

/// The name of the [`MarkedLock`] that a fetch or push with `remote` holds.
fn sync_lock(remote: &str) -> String {
    format!("{SYNC_LOCKS}/{remote}")
}

impl Store {
    /// Whether the repository's configuration names a remote `name` (`[remote "<name>"]`).
    pub fn is_remote(&self, name: &str) -> bool {
        self.repo
            .remote_names()
            .iter()
            .any(|known| **known == *name.as_bytes())
    }
}

/// A remote's name goes into ref names and onto git's command line: it must be a plain name.
pub fn validate_remote(remote: &str) -> Result<()> {
    let bad = remote.is_empty()
        || remote.starts_with('-')
        || remote.starts_with('.')
        || remote.ends_with(".lock")
        || remote.contains("..")
        || remote.contains("@{")
        || remote
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
        || remote.contains("//")
        || remote.ends_with('/')
        || remote.split('/').any(|part| part.starts_with('.'));
    if bad {
        return Err(StoreError::BadRemote(remote.to_string()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Decisions: pure functions of ref values and the commit graph.
// ---------------------------------------------------------------------------------------

/// How two values of the same ref relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Same,
    /// Ours is behind: theirs contains it.
    Behind,
    /// Ours is ahead: it contains theirs.
    Ahead,
    Diverged,
}

pub fn relation(g: &impl Ancestry, ours: ObjectId, theirs: ObjectId) -> Result<Relation> {
    Ok(if ours == theirs {
        Relation::Same
    } else if g.is_ancestor(ours, theirs)? {
        Relation::Behind
    } else if g.is_ancestor(theirs, ours)? {
        Relation::Ahead
    } else {
        Relation::Diverged
    })
}

/// Whether `commit` is kept by one of these (attic) commits.
fn kept_in(g: &impl Ancestry, commit: ObjectId, attic: &[ObjectId]) -> Result<bool> {
    for &kept in attic {
        if g.is_ancestor(commit, kept)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What `push` does with a task branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchPush {
    /// The remote has no such branch.
    Create,
    UpToDate,
    FastForward {
        theirs: ObjectId,
    },
    /// A rollback here moved the branch back (or aside): the remote's tip may be dropped from
    /// the branch only because the attic going out with it keeps it.
    Rewind {
        theirs: ObjectId,
    },
    /// The remote is ahead: nothing to push; `pull` first.
    Behind,
    /// Both sides have work the other lacks.
    Diverged,
}

impl BranchPush {
    pub fn describe(self) -> &'static str {
        match self {
            BranchPush::Create => "new",
            BranchPush::UpToDate => "up to date",
            BranchPush::FastForward { .. } => "fast-forward",
            BranchPush::Rewind { .. } => "rewound (the tip it discards is kept in the attic)",
            BranchPush::Behind => "behind the remote (run `git agent pull`)",
            BranchPush::Diverged => "diverged",
        }
    }
}

/// Decide the push of a branch at `ours` over the remote's `theirs`, given every commit the
/// remote's attic will keep once the push is through (`kept`).
pub fn classify_branch_push(
    g: &impl Ancestry,
    ours: ObjectId,
    theirs: Option<ObjectId>,
    kept: &[ObjectId],
) -> Result<BranchPush> {
    let Some(theirs) = theirs else {
        return Ok(BranchPush::Create);
    };
    Ok(match relation(g, ours, theirs)? {
        Relation::Same => BranchPush::UpToDate,
        Relation::Ahead => BranchPush::FastForward { theirs },
        Relation::Behind | Relation::Diverged if kept_in(g, theirs, kept)? => {
            BranchPush::Rewind { theirs }
        }
        Relation::Behind => BranchPush::Behind,
        Relation::Diverged => BranchPush::Diverged,
    })
}

/// What `push` does with a ref that only grows (notes, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrowingPush {
    /// Nothing of ours the remote lacks.
    Nothing,
    /// Send ours; the remote must hold `theirs` (`None`: no such ref) when it arrives.
    Send {
        theirs: Option<ObjectId>,
    },
    Diverged,
}

pub fn classify_growing_push(
    g: &impl Ancestry,
    ours: Option<ObjectId>,
    theirs: Option<ObjectId>,
) -> Result<GrowingPush> {
    Ok(match (ours, theirs) {
        (None, _) => GrowingPush::Nothing,
        (Some(_), None) => GrowingPush::Send { theirs: None },
        (Some(ours), Some(theirs)) => match relation(g, ours, theirs)? {
            Relation::Ahead => GrowingPush::Send {
                theirs: Some(theirs),
            },
            Relation::Same | Relation::Behind => GrowingPush::Nothing,
            Relation::Diverged => GrowingPush::Diverged,
        },
    })
}

/// What `pull` does with a task branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchPull {
    Create,
    UpToDate,
    FastForward {
        ours: ObjectId,
    },
    /// Ours was discarded over there (a rollback kept it in their attic, which the pull takes
    /// too): follow the rewind, nothing of ours is lost.
    FollowRewind {
        ours: ObjectId,
    },
    /// Ours is ahead: nothing to take; `push` sends it.
    Ahead,
    Diverged,
}

impl BranchPull {
    pub fn describe(self) -> &'static str {
        match self {
            BranchPull::Create => "new",
            BranchPull::UpToDate => "up to date",
            BranchPull::FastForward { .. } => "fast-forward",
            BranchPull::FollowRewind { .. } => {
                "rewound as on the remote (ours is kept in the attic)"
            }
            BranchPull::Ahead => "ahead of the remote",
            BranchPull::Diverged => "diverged",
        }
    }

    /// Whether the branch now holds their work (their notes then win a conflict).
    pub fn theirs_current(self) -> bool {
        !matches!(self, BranchPull::Ahead | BranchPull::Diverged)
    }
}

pub fn classify_branch_pull(
    g: &impl Ancestry,
    ours: Option<ObjectId>,
    theirs: ObjectId,
    their_attic: &[ObjectId],
) -> Result<BranchPull> {
    let Some(ours) = ours else {
        return Ok(BranchPull::Create);
    };
    Ok(match relation(g, ours, theirs)? {
        Relation::Same => BranchPull::UpToDate,
        Relation::Ahead | Relation::Diverged if kept_in(g, ours, their_attic)? => {
            BranchPull::FollowRewind { ours }
        }
        Relation::Ahead => BranchPull::Ahead,
        Relation::Behind => BranchPull::FastForward { ours },
        Relation::Diverged => BranchPull::Diverged,
    })
}

/// What `pull` does with a ref that only grows (notes, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrowingPull {
    /// Theirs adds nothing.
    Nothing,
    Create,
    FastForward {
        ours: ObjectId,
    },
    /// Both sides added: join them (notes merge, or a merge commit of what was said).
    Join {
        ours: ObjectId,
    },
}

pub fn classify_growing_pull(
    g: &impl Ancestry,
    ours: Option<ObjectId>,
    theirs: Option<ObjectId>,
) -> Result<GrowingPull> {
    Ok(match (ours, theirs) {
        (_, None) => GrowingPull::Nothing,
        (None, Some(_)) => GrowingPull::Create,
        (Some(ours), Some(theirs)) => match relation(g, ours, theirs)? {
            Relation::Same | Relation::Ahead => GrowingPull::Nothing,
            Relation::Behind => GrowingPull::FastForward { ours },
            Relation::Diverged => GrowingPull::Join { ours },
        },
    })
}

/// The attic entries of `from` that `into` lacks (compared by commit), each with the number
/// it gets in `into`: its own when free there, else the next above every number in use on
/// either side (and above those handed out before it).
pub fn attic_to_copy(
    from: &BTreeMap<u32, ObjectId>,
    into: &BTreeMap<u32, ObjectId>,
) -> Vec<(u32, ObjectId)> {
    let present: BTreeSet<ObjectId> = into.values().copied().collect();
    let mut taken: BTreeSet<u32> = into.keys().copied().collect();
    let mut next = from.keys().chain(into.keys()).max().copied().unwrap_or(0) + 1;
    let mut out = Vec::new();
    for (&n, &commit) in from {
        if present.contains(&commit) || out.iter().any(|&(_, c)| c == commit) {
            continue;
        }
        let m = if taken.contains(&n) {
            let m = next;
            next += 1;
            m
        } else {
            n
        };
        taken.insert(m);
        out.push((m, commit));
    }
    out
}

// ---------------------------------------------------------------------------------------
// The store's side: reading the refs, asking the decisions, writing.
// ---------------------------------------------------------------------------------------

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// One ref update of an atomic push: `expect` is the lease (what the remote must hold;
/// `None`: the ref must not exist there), `new` `None` deletes the ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUpdate {
    pub name: String,
    pub new: Option<ObjectId>,
    pub expect: Option<ObjectId>,
}

/// What `push` found for one task.
#[derive(Debug, Clone)]
pub struct TaskPush {
    pub slug: String,
    pub tip: ObjectId,
    pub branch: BranchPush,
}

/// The updates that bring a remote up to our tasks, and what was decided for each task.
#[derive(Debug, Default)]
pub struct PushPlan {
    pub updates: Vec<RemoteUpdate>,
    pub tasks: Vec<TaskPush>,
    /// Tasks left out: both sides have work the other lacks.
    pub diverged: Vec<String>,
}

/// Why an atomic push did not go through.
#[derive(Debug)]
pub enum PushFailure {
    /// The remote refused: a lease did not hold (someone pushed meanwhile) or a hook said no.
    Rejected(String),
    Error(StoreError),
}

impl From<StoreError> for PushFailure {
    fn from(err: StoreError) -> Self {
        PushFailure::Error(err)
    }
}

/// What `pull` did with one task.
#[derive(Debug, Clone)]
pub enum TaskPull {
    /// The branch decision, and what happened to the notes.
    Pulled {
        slug: String,
        tip: ObjectId,
        branch: BranchPull,
        notes: &'static str,
        said: Option<&'static str>,
    },
    /// A run holds the task: only the attic and what was said were taken.
    Running {
        slug: String,
        said: Option<&'static str>,
    },
    Diverged {
        slug: String,
        said: Option<&'static str>,
    },
}

impl Store {
    /// Run git in the repository and hand back its output, whatever the exit status.
    pub(crate) fn git_raw(&self, args: &[&str]) -> Result<std::process::Output> {
        self.git()?
            .args(args)
            .output()
            .map_err(|err| StoreError::GitCommand {
                args: args.join(" "),
                detail: err.to_string(),
            })
    }

    /// Fetch the remote's agent refs into the tracking refs (stale ones pruned).
    pub fn fetch_agent_refs(&self, remote: &str) -> Result<()> {
        validate_remote(remote)?;
        let specs = fetch_refspecs(remote);
        let mut args = vec![
            "fetch",
            "--quiet",
            "--prune",
            "--no-write-fetch-head",
            "--",
            remote,
        ];
        args.extend(specs.iter().map(String::as_str));
        self.fetch_retrying(remote, &args)
    }

    /// Run `git fetch` or `git push` on `remote` under the remote's sync lock: a git killed in
    /// the middle with git-agent (kill -9, power loss) leaves lock files on the tracking refs
    /// it was writing, which would fail every later fetch (`cannot lock ref`); the next sync
    /// finds its record in the lock and removes them first (docs/data-model.md#runtime-files).
    fn sync_git(&self, remote: &str, args: &[&str]) -> Result<std::process::Output> {
        let mut lock = MarkedLock::take(self, &sync_lock(remote))?;
        if let Some((_, since)) = lock.left_over() {
            for prefix in [
                tracking_branch_prefix(remote),
                tracking_notes_prefix(remote),
                tracking_agent_prefix(remote),
            ] {
                clear_locks_since(&self.common_dir().join(prefix), since);
            }
        }
        lock.mark(&format!("{}\n", args.join(" ")))?;
        let out = self.git_raw(args);
        lock.clear();
        out
    }

    /// The remotes whose fetch or push was killed in the middle (their sync lock holds a dead
    /// writer's record), with that lock file: for `fsck`.
    pub(crate) fn killed_syncs(&self) -> Vec<(PathBuf, String)> {
        let Ok(entries) = std::fs::read_dir(self.agent_dir().join(SYNC_LOCKS)) else {
            return Vec::new();
        };
        let mut remotes: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.strip_suffix(".lock")?.to_string();
                Some(name)
            })
            .collect();
        remotes.sort();
        remotes
            .into_iter()
            .filter_map(|remote| {
                let (path, _) = MarkedLock::left_by_dead(self, &sync_lock(&remote))?;
                Some((path, remote))
            })
            .collect()
    }

    /// Run a fetch; when another process of this repository was updating the same tracking
    /// refs at that moment (`cannot lock ref`: two fetches, or a push recording what it sent),
    /// try again: the refs are a cache, and the next fetch brings them up to date.
    fn fetch_retrying(&self, remote: &str, args: &[&str]) -> Result<()> {
        let mut attempt = 0;
        loop {
            let out = self.sync_git(remote, args)?;
            if out.status.success() {
                return Ok(());
            }
            let detail = stderr_of(&out);
            let contended = detail.contains("cannot lock ref")
                || detail.contains("unable to update local ref")
                || detail.contains("Unable to create") && detail.contains(".lock");
            attempt += 1;
            if !contended || attempt >= 8 {
                return Err(StoreError::Remote {
                    remote: remote.to_string(),
                    what: "could not fetch from",
                    detail,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(25 * attempt));
        }
    }

    /// The attic of every task as the remote holds it (after a fetch): slug -> (n -> commit).
    pub fn tracking_attics(
        &self,
        remote: &str,
    ) -> Result<BTreeMap<String, BTreeMap<u32, ObjectId>>> {
        let mut out: BTreeMap<String, BTreeMap<u32, ObjectId>> = BTreeMap::new();
        for (name, id) in self.refs_with_prefix(&tracking_agent_prefix(remote))? {
            if let Some((slug, TaskRef::Attic(n))) = TaskRef::parse_tracking(remote, &name) {
                out.entry(slug).or_default().insert(n, id);
            }
        }
        Ok(out)
    }

    /// The remote's task branches (after a fetch): slug -> tip, names that are not task names
    /// left out.
    pub fn tracking_tasks(&self, remote: &str) -> Result<Vec<(String, ObjectId)>> {
        Ok(self
            .refs_with_prefix(&tracking_branch_prefix(remote))?
            .into_iter()
            .filter_map(|(name, id)| match TaskRef::parse_tracking(remote, &name)? {
                (slug, TaskRef::Branch) if validate_slug(&slug).is_ok() => Some((slug, id)),
                _ => None,
            })
            .collect())
    }

    fn local_attic(&self, slug: &str) -> Result<BTreeMap<u32, ObjectId>> {
        Ok(self
            .attic(slug)?
            .into_iter()
            .map(|e| (e.n, e.commit))
            .collect())
    }

    /// Decide the push of these tasks (after a fetch): what to send, with the lease of each.
    pub fn plan_push(&self, remote: &str, slugs: &[String]) -> Result<PushPlan> {
        let attics = self.tracking_attics(remote)?;
        let mut plan = PushPlan::default();
        for slug in slugs {
            let Some(tip) = self.ref_target(&refs::branch(slug))? else {
                continue;
            };
            let theirs_attic = attics.get(slug).cloned().unwrap_or_default();
            let ours_attic = self.local_attic(slug)?;
            let mut updates = Vec::new();

            // The attic first: a rewound branch may only go out with the tip it discards.
            let mut kept: Vec<ObjectId> = theirs_attic.values().copied().collect();
            for (n, commit) in attic_to_copy(&ours_attic, &theirs_attic) {
                updates.push(RemoteUpdate {
                    name: refs::attic(slug, n),
                    new: Some(commit),
                    expect: None,
                });
                kept.push(commit);
            }

            // Decide for every ref before sending any: a task goes out whole.
            let remote_tip = self.ref_target(&tracking_branch(remote, slug))?;
            let branch = classify_branch_push(self, tip, remote_tip, &kept)?;
            let notes = classify_growing_push(
                self,
                self.ref_target(&refs::notes(slug))?,
                self.ref_target(&tracking_notes(remote, slug))?,
            )?;
            let say = classify_growing_push(
                self,
                self.ref_target(&refs::say(slug))?,
                self.ref_target(&refs::tracking_say(remote, slug))?,
            )?;
            if branch == BranchPush::Diverged
                || notes == GrowingPush::Diverged
                || say == GrowingPush::Diverged
            {
                plan.diverged.push(slug.clone());
                continue;
            }
            if let GrowingPush::Send { theirs } = say {
                updates.push(RemoteUpdate {
                    name: refs::say(slug),
                    new: self.ref_target(&refs::say(slug))?,
                    expect: theirs,
                });
            }
            match branch {
                BranchPush::Create => updates.push(RemoteUpdate {
                    name: refs::branch(slug),
                    new: Some(tip),
                    expect: None,
                }),
                BranchPush::FastForward { theirs } | BranchPush::Rewind { theirs } => {
                    updates.push(RemoteUpdate {
                        name: refs::branch(slug),
                        new: Some(tip),
                        expect: Some(theirs),
                    })
                }
                BranchPush::UpToDate | BranchPush::Behind | BranchPush::Diverged => {}
            }
            if let GrowingPush::Send { theirs } = notes {
                updates.push(RemoteUpdate {
                    name: refs::notes(slug),
                    new: self.ref_target(&refs::notes(slug))?,
                    expect: theirs,
                });
            }
            plan.updates.extend(updates);
            plan.tasks.push(TaskPush {
                slug: slug.clone(),
                tip,
                branch,
            });
        }
        Ok(plan)
    }

    /// Send these updates in one atomic push, each with its lease: all land or none does.
    pub fn push_updates(
        &self,
        remote: &str,
        updates: &[RemoteUpdate],
    ) -> std::result::Result<(), PushFailure> {
        validate_remote(remote)?;
        if updates.is_empty() {
            return Ok(());
        }
        let mut leases = Vec::new();
        let mut specs = Vec::new();
        for update in updates {
            leases.push(format!(
                "--force-with-lease={}:{}",
                update.name,
                update.expect.map(|e| e.to_string()).unwrap_or_default()
            ));
            specs.push(match update.new {
                Some(new) => format!("{new}:{}", update.name),
                None => format!(":{}", update.name),
            });
        }
        let mut args = vec!["push", "--atomic", "--porcelain", "--quiet"];
        args.extend(leases.iter().map(String::as_str));
        args.push("--");
        args.push(remote);
        args.extend(specs.iter().map(String::as_str));
        let out = self.sync_git(remote, &args)?;
        if out.status.success() {
            return Ok(());
        }
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            stderr_of(&out)
        );
        // `--porcelain` marks each refused ref with `!`; anything else is a transport error.
        let refused = String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with('!'));
        if refused {
            Err(PushFailure::Rejected(said))
        } else {
            Err(PushFailure::Error(StoreError::Remote {
                remote: remote.to_string(),
                what: "could not push to",
                detail: said,
            }))
        }
    }

    /// Where each branch is checked out: branch ref -> worktree path.
    pub fn checkouts(&self) -> Result<BTreeMap<String, PathBuf>> {
        let out = self.git_raw(&["worktree", "list", "--porcelain"])?;
        let mut map = BTreeMap::new();
        let mut path = None;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                path = Some(PathBuf::from(p));
            } else if let Some(b) = line.strip_prefix("branch ")
                && let Some(p) = path.take()
            {
                map.insert(b.to_string(), p);
            }
        }
        Ok(map)
    }

    /// Bring in one task from the remote (after a fetch): its attic and what was said always;
    /// the branch and notes unless a run holds the task.
    pub fn pull_task(
        &self,
        remote: &str,
        slug: &str,
        theirs: ObjectId,
        their_attic: &BTreeMap<u32, ObjectId>,
        checkouts: &BTreeMap<String, PathBuf>,
    ) -> Result<TaskPull> {
        // The attic, always: it only adds refs, and keeps their work reachable here.
        let ours_attic = self.local_attic(slug)?;
        let edits: Vec<Edit> = attic_to_copy(their_attic, &ours_attic)
            .into_iter()
            .map(|(n, commit)| {
                Edit::update(refs::attic(slug, n), Expect::Absent, commit, "agent: pull")
            })
            .collect();
        if !edits.is_empty() {
            self.transaction(&edits)?;
        }
        // What was said, always: `say` takes no lock, and a run reads it at its next turn.
        let said = self.pull_said(remote, slug)?;

        if TaskLock::is_held(self, slug) {
            return Ok(TaskPull::Running {
                slug: slug.to_string(),
                said,
            });
        }
        let local = refs::branch(slug);
        let ours = self.ref_target(&local)?;
        let kept: Vec<ObjectId> = their_attic.values().copied().collect();
        let branch = classify_branch_pull(self, ours, theirs, &kept)?;
        match branch {
            BranchPull::Create => self.transaction(&[Edit::update(
                local.clone(),
                Expect::Absent,
                theirs,
                "agent: pull",
            )])?,
            BranchPull::FastForward { ours } | BranchPull::FollowRewind { ours } => {
                self.move_branch(checkouts, slug, ours, theirs)?
            }
            BranchPull::UpToDate | BranchPull::Ahead => {}
            BranchPull::Diverged => {
                return Ok(TaskPull::Diverged {
                    slug: slug.to_string(),
                    said,
                });
            }
        }
        let notes = self.merge_notes(remote, slug, branch.theirs_current())?;
        let tip = self.ref_target(&local)?.unwrap_or(theirs);
        Ok(TaskPull::Pulled {
            slug: slug.to_string(),
            tip,
            branch,
            notes,
            said,
        })
    }

    /// Bring in what was said to a task on the remote: fast-forward, or join both lines with
    /// a merge commit so no message is lost. `None` when nothing changed.
    fn pull_said(&self, remote: &str, slug: &str) -> Result<Option<&'static str>> {
        let theirs = self.ref_target(&refs::tracking_say(remote, slug))?;
        let ours = self.ref_target(&refs::say(slug))?;
        let Some(theirs) = theirs else {
            return Ok(None);
        };
        Ok(match classify_growing_pull(self, ours, Some(theirs))? {
            GrowingPull::Nothing => None,
            GrowingPull::Create => {
                self.transaction(&[Edit::update(
                    refs::say(slug),
                    Expect::Absent,
                    theirs,
                    "agent: pull",
                )])?;
                Some("new")
            }
            GrowingPull::FastForward { ours } => {
                self.transaction(&[Edit::update(
                    refs::say(slug),
                    Expect::At(ours),
                    theirs,
                    "agent: pull",
                )])?;
                Some("fast-forward")
            }
            GrowingPull::Join { ours } => {
                self.merge_said(slug, ours, theirs)?;
                Some("merged (both sides said something)")
            }
        })
    }

    /// Move the branch from `ours` to the remote's tip (forward, or back to follow a remote
    /// rollback). Where it is checked out (the task's private worktree, or the user's checkout
    /// for `--here`) the files and index must follow, or the next checkpoint would record the
    /// old files on top of the new commits: `git read-tree -m -u` does that as a two-tree
    /// merge, which refuses when uncommitted changes are in the way; then the branch moves by
    /// compare and swap.
    fn move_branch(
        &self,
        checkouts: &BTreeMap<String, PathBuf>,
        slug: &str,
        ours: ObjectId,
        theirs: ObjectId,
    ) -> Result<()> {
        if let Some(dir) = checkouts.get(&refs::branch(slug)) {
            self.follow_in_checkout(dir, slug, ours, theirs)?;
        }
        self.transaction(&[Edit::update(
            refs::branch(slug),
            Expect::At(ours),
            theirs,
            "agent: pull",
        )])
    }

    fn follow_in_checkout(
        &self,
        dir: &Path,
        slug: &str,
        ours: ObjectId,
        theirs: ObjectId,
    ) -> Result<()> {
        // Named through the admin dir the repository registered, never discovered from the
        // worktree, whose `.git` a command may have replaced.
        let repo = self.open_worktree(dir)?;
        let args = [
            "read-tree",
            "-m",
            "-u",
            &ours.to_string(),
            &theirs.to_string(),
        ];
        let out = crate::store::GitCommand::untrusted(repo.git_dir(), Some(dir))
            .args(args)
            .output()
            .map_err(|err| StoreError::GitCommand {
                args: args.join(" "),
                detail: err.to_string(),
            })?;
        if !out.status.success() {
            return Err(StoreError::CheckoutInTheWay {
                slug: slug.to_string(),
                dir: dir.to_path_buf(),
                detail: stderr_of(&out),
            });
        }
        Ok(())
    }

    /// Bring in the remote's notes of a task; returns what happened, for the report.
    ///
    /// Notes refs only grow (every write is a commit on top of the last), so usually one side
    /// contains the other and this is a fast-forward. When both sides wrote notes, `git notes
    /// merge` combines them: notes on different commits are simply united; for a commit whose
    /// note both sides changed, one side's note wins whole. `union` or `cat_sort_uniq` would
    /// interleave two TOML documents into an invalid one and `manual` would stop a command for
    /// a person, so the strategy is `theirs` when their branch is at or ahead of ours (they did
    /// the later work, their plan and stop record describe the tip we now have) and `ours` when
    /// ours is ahead. The losing note is not gone: the merge commit keeps both parents, so
    /// `git log -p refs/notes/agent/<slug>` still shows it. The merge is made on a scratch ref;
    /// the task's notes ref then moves to it by compare and swap.
    fn merge_notes(&self, remote: &str, slug: &str, theirs_current: bool) -> Result<&'static str> {
        let theirs = self.ref_target(&tracking_notes(remote, slug))?;
        let ours = self.ref_target(&refs::notes(slug))?;
        let Some(theirs) = theirs else {
            return Ok("none on the remote");
        };
        Ok(match classify_growing_pull(self, ours, Some(theirs))? {
            GrowingPull::Nothing => "up to date",
            GrowingPull::Create => {
                self.transaction(&[Edit::update(
                    refs::notes(slug),
                    Expect::Absent,
                    theirs,
                    "agent: pull",
                )])?;
                "new"
            }
            GrowingPull::FastForward { ours } => {
                self.transaction(&[Edit::update(
                    refs::notes(slug),
                    Expect::At(ours),
                    theirs,
                    "agent: pull",
                )])?;
                "fast-forward"
            }
            GrowingPull::Join { ours } => {
                let merged = self.notes_merge_commit(remote, slug, ours, theirs_current)?;
                self.transaction(&[Edit::update(
                    refs::notes(slug),
                    Expect::At(ours),
                    merged,
                    "agent: pull (notes merged)",
                )])?;
                self.keep_both_attempts(slug, ours, theirs)?;
                if theirs_current {
                    "merged (theirs won conflicts)"
                } else {
                    "merged (ours won conflicts)"
                }
            }
        })
    }

    /// `git notes merge` of the remote's notes into a scratch copy of ours; the merge commit.
    fn notes_merge_commit(
        &self,
        remote: &str,
        slug: &str,
        ours: ObjectId,
        theirs_current: bool,
    ) -> Result<ObjectId> {
        let scratch = notes_merge_scratch(slug);
        // A scratch ref left by a process that died mid-merge is only a copy: start over.
        if let Some(stale) = self.ref_target(&scratch)? {
            self.transaction(&[Edit::delete(scratch.clone(), stale)])?;
        }
        self.transaction(&[Edit::update(
            scratch.clone(),
            Expect::Absent,
            ours,
            "agent: notes merge",
        )])?;
        let strategy = if theirs_current { "theirs" } else { "ours" };
        let out = self.git_raw(&[
            "notes",
            "--ref",
            &scratch,
            "merge",
            "--quiet",
            "-s",
            strategy,
            // A full ref name: a short one is looked up like any revision first and would find
            // the remote-tracking branch of the same name.
            &tracking_notes(remote, slug),
        ])?;
        let merged = self.ref_target(&scratch)?;
        if let Some(current) = merged {
            self.transaction(&[Edit::delete(scratch, current)])?;
        }
        match merged {
            Some(merged) if out.status.success() && merged != ours => Ok(merged),
            _ => Err(StoreError::Remote {
                remote: remote.to_string(),
                what: "could not merge the notes of the task from",
                detail: format!("git notes merge said: {}", stderr_of(&out)),
            }),
        }
    }

    /// After a notes merge where one plan note won whole, put back the failed attempts only
    /// the other side knew: they are what the next plan learns from, so they must not be lost.
    fn keep_both_attempts(&self, slug: &str, ours: ObjectId, theirs: ObjectId) -> Result<()> {
        let task = self.task(slug)?;
        let plan_at = |notes_commit: ObjectId| -> Result<Option<Plan>> {
            NotesReader::at_commit(self, notes_commit)?.plan(task.task_commit)
        };
        let (Some(a), Some(b)) = (plan_at(ours)?, plan_at(theirs)?) else {
            return Ok(());
        };
        let mut merged = self.plan(&task)?;
        let mut changed = false;
        for attempt in a.attempts.iter().chain(&b.attempts) {
            if !merged.attempts.contains(attempt) {
                merged.attempts.push(attempt.clone());
                changed = true;
            }
        }
        if changed {
            merged.attempts.sort_by(|x, y| x.at.cmp(&y.at));
            self.write_plan(
                &task,
                &merged,
                &format!("keep the attempts of both sides of agent/{slug}"),
            )?;
        }
        Ok(())
    }
}

/// What [`Store::adopt_task`] did with our branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    /// We had the remote's tip already, or nothing.
    AsIs,
    /// Ours was behind: moved forward to theirs.
    FastForward,
    /// Ours had work the remote never got (a run that died before its push): kept in the
    /// attic, and the branch moved to theirs.
    Replaced { kept: ObjectId },
}

impl Store {
    /// After a push went through, the tracking refs hold what the remote now holds, without
    /// another fetch. They are a cache, written by compare and swap like every ref.
    pub fn record_pushed(&self, remote: &str, updates: &[RemoteUpdate]) -> Result<()> {
        let mut edits = Vec::new();
        for update in updates {
            let Some(tracking) = tracking_name(remote, &update.name) else {
                continue;
            };
            let current = self.ref_target(&tracking)?;
            match (update.new, current) {
                (Some(new), current) if current != Some(new) => edits.push(Edit::update(
                    tracking,
                    Expect::from_option(current),
                    new,
                    "agent: pushed",
                )),
                (None, Some(current)) => edits.push(Edit::delete(tracking, current)),
                _ => {}
            }
        }
        if !edits.is_empty() {
            self.transaction(&edits)?;
        }
        Ok(())
    }

    /// Fetch the remote's refs under `refs/agent/<slug>/` alone (attic, say, lease): what a
    /// worker needs while it runs the task, one small fetch instead of every task's refs.
    pub fn fetch_task_extras(&self, remote: &str, slug: &str) -> Result<()> {
        validate_remote(remote)?;
        let spec = fetch_task_refspec(remote, slug);
        self.fetch_retrying(
            remote,
            &[
                "fetch",
                "--quiet",
                "--no-write-fetch-head",
                "--",
                remote,
                &spec,
            ],
        )
    }

    /// Take in what was said to a task on the remote (after a fetch): see [`Store::pull_task`].
    pub fn pull_said_of(&self, remote: &str, slug: &str) -> Result<Option<&'static str>> {
        self.pull_said(remote, slug)
    }

    /// Make our copy of a task the remote's, for a worker that has just claimed it there: the
    /// remote holds the task's last pushed state, which is where the work goes on. Its attic
    /// and what was said come in as in `pull`; the branch fast-forwards, or — when ours has
    /// checkpoints the remote never got, from a run of ours that died before its push — ours
    /// goes into the attic (nothing is lost) and the branch moves to theirs, in one
    /// transaction; the notes are merged with theirs winning conflicts.
    pub fn adopt_task(&self, remote: &str, slug: &str) -> Result<Adopted> {
        let local = refs::branch(slug);
        let theirs = self
            .ref_target(&tracking_branch(remote, slug))?
            .ok_or_else(|| StoreError::UnknownTask {
                slug: slug.to_string(),
                known: Vec::new(),
            })?;
        let their_attic = self
            .tracking_attics(remote)?
            .remove(slug)
            .unwrap_or_default();
        let ours_attic = self.local_attic(slug)?;
        let edits: Vec<Edit> = attic_to_copy(&their_attic, &ours_attic)
            .into_iter()
            .map(|(n, commit)| {
                Edit::update(refs::attic(slug, n), Expect::Absent, commit, "agent: adopt")
            })
            .collect();
        if !edits.is_empty() {
            self.transaction(&edits)?;
        }
        self.pull_said(remote, slug)?;
        let checkouts = self.checkouts()?;
        let adopted = match self.ref_target(&local)? {
            None => {
                self.transaction(&[Edit::update(local, Expect::Absent, theirs, "agent: adopt")])?;
                Adopted::AsIs
            }
            Some(ours) if ours == theirs => Adopted::AsIs,
            Some(ours) if self.is_ancestor(ours, theirs)? => {
                self.move_branch(&checkouts, slug, ours, theirs)?;
                Adopted::FastForward
            }
            Some(ours) => {
                if let Some(dir) = checkouts.get(&local) {
                    self.follow_in_checkout(dir, slug, ours, theirs)?;
                }
                let kept: Vec<ObjectId> = self.local_attic(slug)?.into_values().collect();
                let mut edits = Vec::new();
                if !kept_in(self, ours, &kept)? {
                    edits.push(
                        self.attic_edit(slug, ours, "checkpoints a worker made but never pushed")?
                            .1,
                    );
                }
                edits.push(Edit::update(
                    local,
                    Expect::At(ours),
                    theirs,
                    "agent: adopt",
                ));
                self.transaction(&edits)?;
                Adopted::Replaced { kept: ours }
            }
        };
        self.merge_notes(remote, slug, true)?;
        Ok(adopted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A commit graph in memory: commit -> parents.
    struct Graph(HashMap<ObjectId, Vec<ObjectId>>);

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    impl Graph {
        /// Edges `(child, parent)`.
        fn new(edges: &[(u8, u8)]) -> Graph {
            let mut map: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
            for &(c, p) in edges {
                map.entry(id(c)).or_default().push(id(p));
            }
            Graph(map)
        }
    }

    impl Ancestry for Graph {
        fn is_ancestor(&self, a: ObjectId, b: ObjectId) -> Result<bool> {
            let mut stack = vec![b];
            while let Some(c) = stack.pop() {
                if c == a {
                    return Ok(true);
                }
                stack.extend(self.0.get(&c).into_iter().flatten().copied());
            }
            Ok(false)
        }
    }

    // 1 <- 2 <- 3 <- 4 ; 2 <- 5 (a side line: 5 and 3 diverged)
    fn line() -> Graph {
        Graph::new(&[(2, 1), (3, 2), (4, 3), (5, 2)])
    }

    #[test]
    fn relation_of_two_tips() {
        let g = line();
        assert_eq!(relation(&g, id(3), id(3)).unwrap(), Relation::Same);
        assert_eq!(relation(&g, id(2), id(4)).unwrap(), Relation::Behind);
        assert_eq!(relation(&g, id(4), id(2)).unwrap(), Relation::Ahead);
        assert_eq!(relation(&g, id(5), id(3)).unwrap(), Relation::Diverged);
    }

    #[test]
    fn branch_push_decisions() {
        let g = line();
        let push =
            |ours, theirs, kept: &[ObjectId]| classify_branch_push(&g, ours, theirs, kept).unwrap();
        assert_eq!(push(id(3), None, &[]), BranchPush::Create);
        assert_eq!(push(id(3), Some(id(3)), &[]), BranchPush::UpToDate);
        assert_eq!(
            push(id(4), Some(id(2)), &[]),
            BranchPush::FastForward { theirs: id(2) }
        );
        // Behind: nothing to send, unless our attic keeps their tip (a rollback here).
        assert_eq!(push(id(2), Some(id(4)), &[]), BranchPush::Behind);
        assert_eq!(
            push(id(2), Some(id(4)), &[id(4)]),
            BranchPush::Rewind { theirs: id(4) }
        );
        // An attic entry on top of their tip keeps it too.
        let g2 = Graph::new(&[(2, 1), (3, 2), (4, 3), (9, 4)]);
        assert_eq!(
            classify_branch_push(&g2, id(2), Some(id(4)), &[id(9)]).unwrap(),
            BranchPush::Rewind { theirs: id(4) }
        );
        assert_eq!(push(id(5), Some(id(3)), &[]), BranchPush::Diverged);
        assert_eq!(
            push(id(5), Some(id(3)), &[id(3)]),
            BranchPush::Rewind { theirs: id(3) }
        );
        // An attic that keeps something else does not allow the rewind.
        assert_eq!(push(id(5), Some(id(4)), &[id(3)]), BranchPush::Diverged);
    }

    #[test]
    fn branch_pull_decisions() {
        let g = line();
        let pull =
            |ours, theirs, kept: &[ObjectId]| classify_branch_pull(&g, ours, theirs, kept).unwrap();
        assert_eq!(pull(None, id(3), &[]), BranchPull::Create);
        assert_eq!(pull(Some(id(3)), id(3), &[]), BranchPull::UpToDate);
        assert_eq!(
            pull(Some(id(2)), id(4), &[]),
            BranchPull::FastForward { ours: id(2) }
        );
        assert_eq!(pull(Some(id(4)), id(2), &[]), BranchPull::Ahead);
        assert_eq!(
            pull(Some(id(4)), id(2), &[id(4)]),
            BranchPull::FollowRewind { ours: id(4) }
        );
        assert_eq!(pull(Some(id(5)), id(3), &[]), BranchPull::Diverged);
        assert_eq!(
            pull(Some(id(5)), id(3), &[id(5)]),
            BranchPull::FollowRewind { ours: id(5) }
        );
        assert!(!BranchPull::Ahead.theirs_current());
        assert!(BranchPull::FastForward { ours: id(1) }.theirs_current());
    }

    #[test]
    fn growing_refs_never_go_back() {
        let g = line();
        assert_eq!(
            classify_growing_push(&g, None, Some(id(1))).unwrap(),
            GrowingPush::Nothing
        );
        assert_eq!(
            classify_growing_push(&g, Some(id(1)), None).unwrap(),
            GrowingPush::Send { theirs: None }
        );
        assert_eq!(
            classify_growing_push(&g, Some(id(4)), Some(id(2))).unwrap(),
            GrowingPush::Send {
                theirs: Some(id(2))
            }
        );
        assert_eq!(
            classify_growing_push(&g, Some(id(2)), Some(id(4))).unwrap(),
            GrowingPush::Nothing
        );
        assert_eq!(
            classify_growing_push(&g, Some(id(5)), Some(id(4))).unwrap(),
            GrowingPush::Diverged
        );
        assert_eq!(
            classify_growing_pull(&g, Some(id(1)), None).unwrap(),
            GrowingPull::Nothing
        );
        assert_eq!(
            classify_growing_pull(&g, None, Some(id(1))).unwrap(),
            GrowingPull::Create
        );
        assert_eq!(
            classify_growing_pull(&g, Some(id(2)), Some(id(4))).unwrap(),
            GrowingPull::FastForward { ours: id(2) }
        );
        assert_eq!(
            classify_growing_pull(&g, Some(id(4)), Some(id(2))).unwrap(),
            GrowingPull::Nothing
        );
        assert_eq!(
            classify_growing_pull(&g, Some(id(5)), Some(id(4))).unwrap(),
            GrowingPull::Join { ours: id(5) }
        );
    }

    #[test]
    fn attic_copies_keep_free_numbers_and_renumber_collisions() {
        let map = |entries: &[(u32, u8)]| -> BTreeMap<u32, ObjectId> {
            entries.iter().map(|&(n, c)| (n, id(c))).collect()
        };
        // Free numbers are kept; a commit present on the other side is not copied again.
        assert_eq!(
            attic_to_copy(&map(&[(1, 10), (3, 11)]), &map(&[(1, 10), (2, 12)])),
            vec![(3, id(11))]
        );
        // Two collisions get two distinct numbers above every number in use.
        assert_eq!(
            attic_to_copy(
                &map(&[(1, 10), (2, 11)]),
                &map(&[(1, 20), (2, 21), (5, 22)])
            ),
            vec![(6, id(10)), (7, id(11))]
        );
        // One commit filed twice on our side goes out once.
        assert_eq!(
            attic_to_copy(&map(&[(1, 10), (2, 10)]), &map(&[])),
            vec![(1, id(10))]
        );
        assert!(attic_to_copy(&map(&[]), &map(&[(1, 10)])).is_empty());
    }

    #[test]
    fn remote_names_that_could_be_options_or_break_refs_are_refused() {
        for good in ["origin", "fleet", "team-a", "x_1", "team/a"] {
            assert!(validate_remote(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-u",
            "--upload-pack=x",
            "a b",
            "a/..",
            "a/.b",
            "a/",
            "a:b",
            "a..b",
            ".x",
            "x.lock",
            "a\nb",
        ] {
            assert!(validate_remote(bad).is_err(), "{bad:?}");
        }
    }
}
