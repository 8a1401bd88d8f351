//! Checking a repository's agent state against its specification, docs/data-model.md
//! (`git agent fsck`).
//!
//! Nothing here writes. Each check returns typed [`Finding`]s, and a finding says what is
//! wrong, where, and the command that repairs it: a git command wherever git can do the repair,
//! so fixing the state never depends on git-agent reading it first. Repairs that move a branch
//! are compare-and-swap (`git update-ref <ref> <new> <old>`), so a stale repair command fails
//! instead of undoing something newer; repairs that take commits off a branch keep them in the
//! attic first.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use serde::de::DeserializeOwned;

use super::format::notes::NotesReader;
use super::format::plan::{AttemptOf, FORMAT, Plan};
use super::format::refs::{self, Expect, TaskRef};
use super::format::slug::validate_slug;
use super::format::subject::{Subject, TaskCommit};
use super::format::trailers::{Trailers, key, parse_trailers};
use super::{Result, Store, StoreError, git_err};

/// How far back the history of a notes ref is searched for an earlier, readable note, and how
/// many reflog entries are tried when looking for where a branch was.
const HISTORY_LIMIT: usize = 10_000;
const REFLOG_LIMIT: usize = 200;

mod finding;
mod gate;
mod links;
mod runtime;

use finding::short;
pub use finding::{Checkout, Finding, Mismatch, Rewind};
use links::RecordNote;

/// What `git agent fsck` found.
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    /// The tasks (branches) checked.
    pub tasks: Vec<String>,
    pub findings: Vec<Finding>,
    /// Things worth knowing that are not wrong: `(task, text)`.
    pub notices: Vec<(String, String)>,
}

/// The notes of a task as a check finds them.
enum NotesOf<'a> {
    /// It has no notes ref.
    None,
    /// Its notes ref is a finding of its own: no note can be read.
    Unreadable,
    Read(&'a TaskNotes),
}

/// What a check is for: the report of `git agent fsck`, or the gate of work that builds on a
/// task ([`Store::lock_for_work`]), which needs only the findings that stop work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Report,
    Work,
}

/// What a ref under an agent prefix points to.
enum Target {
    Commit(ObjectId),
    Unreadable(Unreadable),
}

/// What a ref that should point to a commit points to instead.
enum Unreadable {
    /// An object the repository does not have, e.g. pruned by `git gc --prune=now` after a
    /// writer made it and before the ref named it.
    Missing(ObjectId),
    /// Not a commit: a description of what instead.
    Other(String),
}

/// How the first-parent chain from a tip reaches the task commit.
struct Link {
    commit: ObjectId,
    parent: Option<ObjectId>,
    trailers: Trailers,
}

enum Chain {
    /// The links from the task commit's child up to the tip, oldest first.
    Found {
        task_commit: ObjectId,
        links: Vec<Link>,
    },
    NotFound,
}

/// The notes of one task: annotated commit -> note blob, and the notes commit they are read at.
struct TaskNotes {
    notes_commit: ObjectId,
    notes: BTreeMap<ObjectId, ObjectId>,
}

impl Store {
    /// Check the agent state of one task (`only`) or of the whole repository.
    pub fn fsck(&self, only: Option<&str>) -> Result<FsckReport> {
        self.check(only, Purpose::Report)
    }

    fn check(&self, only: Option<&str>, purpose: Purpose) -> Result<FsckReport> {
        if let Some(slug) = only {
            validate_slug(slug)?;
        }
        let wanted = |slug: &str| only.is_none_or(|o| o == slug);
        let mut report = FsckReport::default();

        // Every task with a branch ref, whether or not what the ref points to can be read:
        // its notes, attic, lock and worktree are its own either way.
        let mut tasks: BTreeSet<String> = BTreeSet::new();
        let mut branches: BTreeMap<String, ObjectId> = BTreeMap::new();
        let mut unreadable_branches = Vec::new();
        for (name, target) in self.agent_refs(refs::BRANCH_PREFIX)? {
            let Some((slug, TaskRef::Branch)) = TaskRef::parse(&name) else {
                continue;
            };
            if !wanted(slug) {
                continue;
            }
            tasks.insert(slug.to_string());
            match target {
                Target::Commit(id) => {
                    branches.insert(slug.to_string(), id);
                }
                Target::Unreadable(what) => {
                    unreadable_branches.push((slug.to_string(), name, what))
                }
            }
        }

        let mut notes_refs: BTreeMap<String, ObjectId> = BTreeMap::new();
        for (name, target) in self.agent_refs(refs::NOTES_PREFIX)? {
            let Some((slug, TaskRef::Notes)) = TaskRef::parse(&name) else {
                continue;
            };
            if !wanted(slug) {
                continue;
            }
            match target {
                Target::Commit(id) => {
                    notes_refs.insert(slug.to_string(), id);
                }
                Target::Unreadable(what) => {
                    let finding = self.unreadable_ref(slug, &name, what, None)?;
                    report.findings.push(finding);
                }
            }
        }

        for (slug, name, target) in unreadable_branches {
            let notes = match notes_refs.get(&slug) {
                Some(&commit) => Some(self.task_notes(commit)?),
                None => None,
            };
            let restore = self.restore_point(&slug, None, notes.as_ref())?;
            let finding = self.unreadable_ref(&slug, &name, target, Some(restore))?;
            report.findings.push(finding);
            report.tasks.push(slug);
        }

        // Attic entries, by task. Other refs under refs/agent/ belong to no rule this version
        // knows, and are left alone.
        let mut attics: BTreeMap<String, Vec<(String, ObjectId)>> = BTreeMap::new();
        for (name, target) in self.agent_refs(refs::TASK_PREFIX)? {
            let Some((slug, kind)) = TaskRef::parse(&name) else {
                continue;
            };
            // What was said (`git agent say`): a chain of commits; a worker's lease: a commit.
            if (kind == TaskRef::Say || kind == TaskRef::Lease) && wanted(slug) {
                if let Target::Unreadable(what) = target {
                    let finding = self.unreadable_ref(slug, &name, what, None)?;
                    report.findings.push(finding);
                }
                continue;
            }
            if !matches!(kind, TaskRef::Attic(_)) || !wanted(slug) {
                continue;
            }
            match target {
                Target::Commit(id) => attics.entry(slug.to_string()).or_default().push((name, id)),
                Target::Unreadable(what) => {
                    let finding = self.unreadable_ref(slug, &name, what, None)?;
                    report.findings.push(finding);
                }
            }
        }

        for (slug, tip) in &branches {
            let notes = match notes_refs.get(slug) {
                Some(&commit) => Some(self.task_notes(commit)?),
                None => None,
            };
            // A notes ref that is not a commit is its own finding; every note would be missing.
            let unreadable = report.findings.iter().any(|f| {
                matches!(f, Finding::RefNotACommit { refname, .. } | Finding::ObjectMissing { refname, .. }
                    if *refname == refs::notes(slug))
            });
            let attic = attics.get(slug).map(Vec::as_slice).unwrap_or_default();
            let notes = match &notes {
                Some(notes) => NotesOf::Read(notes),
                None if unreadable => NotesOf::Unreadable,
                None => NotesOf::None,
            };
            self.fsck_task(slug, *tip, notes, attic, purpose, &mut report)?;
            report.tasks.push(slug.clone());
        }
        for (slug, &commit) in &notes_refs {
            if !tasks.contains(slug) {
                let notes = self.task_notes(commit)?;
                report.findings.push(Finding::NotesWithoutBranch {
                    task: slug.clone(),
                    restore: self.restore_point(slug, None, Some(&notes))?,
                });
            }
        }
        for (slug, entries) in &attics {
            if tasks.contains(slug) {
                continue;
            }
            for (refname, commit) in entries {
                report.findings.push(Finding::AtticOfUnknownTask {
                    task: slug.clone(),
                    refname: refname.clone(),
                    commit: *commit,
                });
            }
        }

        let locks = self.fsck_locks(&tasks, &wanted, &mut report);
        let dirs = self.fsck_worktrees(&tasks, &wanted, &mut report);

        if let Some(slug) = only {
            let known = !tasks.is_empty()
                || !notes_refs.is_empty()
                || !attics.is_empty()
                || locks
                || dirs
                || report.findings.iter().any(|f| f.task() == slug);
            if !known {
                return Err(StoreError::UnknownTask {
                    slug: slug.to_string(),
                    known: self.task_slugs()?,
                });
            }
        }
        report.findings.sort_by(|a, b| a.task().cmp(b.task()));
        report.tasks.sort();
        Ok(report)
    }

    /// The finding of a task ref that does not point to a commit. `branch_restore` is where a
    /// branch can go back to (`Some` for a branch, whose checkout must follow); other refs go
    /// back to the last commit their reflog holds.
    fn unreadable_ref(
        &self,
        slug: &str,
        refname: &str,
        target: Unreadable,
        branch_restore: Option<Option<ObjectId>>,
    ) -> Result<Finding> {
        let task = slug.to_string();
        let checkout = branch_restore.and_then(|_| self.checkout_of(slug));
        let restore = match branch_restore {
            Some(restore) => restore,
            None => self.reflog_commit(refname)?,
        };
        let refname = refname.to_string();
        Ok(match target {
            Unreadable::Missing(object) => Finding::ObjectMissing {
                task,
                refname,
                object,
                restore,
                checkout,
            },
            Unreadable::Other(what) => Finding::RefNotACommit {
                task,
                refname,
                target: what,
                restore,
            },
        })
    }

    /// Why an attempt task (task commit `task_commit`, plan saying `of`) belongs to no open
    /// round of attempts of its task, if it does not (docs/data-model.md#attempts).
    fn attempt_problem(&self, task_commit: ObjectId, of: &AttemptOf) -> Result<Option<String>> {
        if validate_slug(&of.task).is_err() {
            return Ok(Some(format!("'{}' is not a task name", of.task)));
        }
        let Some(tip) = self.ref_target(&refs::branch(&of.task))? else {
            return Ok(Some(format!("task '{}' does not exist", of.task)));
        };
        let Ok(task) = self.task_at(&of.task, tip) else {
            return Ok(None); // The task's own findings say what is wrong with it.
        };
        let mut notes = NotesReader::new(self, &of.task)?;
        let Ok(Some(plan)) = notes.plan(task.task_commit) else {
            return Ok(None);
        };
        let Some(round) = plan.parallel.last().filter(|r| r.picked == 0) else {
            return Ok(Some(format!(
                "task '{}' has no round of attempts waiting",
                of.task
            )));
        };
        if round.fork != of.fork || of.k == 0 || of.k > round.n {
            return Ok(Some(format!(
                "the open round of '{}' forks at {} with {} attempts, this one says attempt {} from {}",
                of.task, round.fork, round.n, of.k, of.fork
            )));
        }
        if self.parents(task_commit)?.first().map(ToString::to_string) != Some(of.fork.clone()) {
            return Ok(Some(format!(
                "its task commit is not a child of {}",
                of.fork
            )));
        }
        Ok(None)
    }

    /// Every ref of a task: branch, notes, attic, say.
    fn task_refs(&self, slug: &str) -> Result<Vec<(String, ObjectId)>> {
        Ok(self
            .task_deletions(slug)?
            .into_iter()
            .filter_map(|edit| match edit.expect {
                Expect::At(id) => Some((edit.name, id)),
                Expect::Absent => None,
            })
            .collect())
    }

    /// The refs under `prefix` with what they point to, without peeling or following.
    fn agent_refs(&self, prefix: &str) -> Result<Vec<(String, Target)>> {
        self.refs_under(prefix, |reference| {
            let target = match reference.target() {
                gix::refs::TargetRef::Symbolic(to) => {
                    Target::Unreadable(Unreadable::Other(format!("the ref {}", to.as_bstr())))
                }
                gix::refs::TargetRef::Object(id) => {
                    let id = id.to_owned();
                    match self
                        .repo
                        .try_find_header(id)
                        .map_err(git_err(format!("could not read {id}")))?
                    {
                        Some(header) if header.kind() == gix::object::Kind::Commit => {
                            Target::Commit(id)
                        }
                        Some(header) => Target::Unreadable(Unreadable::Other(format!(
                            "a {} {}",
                            header.kind(),
                            short(&id)
                        ))),
                        None => Target::Unreadable(Unreadable::Missing(id)),
                    }
                }
            };
            Ok(Some(target))
        })
    }

    /// The newest value in a ref's reflog that is a commit other than what it holds now.
    fn reflog_commit(&self, refname: &str) -> Result<Option<ObjectId>> {
        for id in self.reflog(refname) {
            if self.is_commit(id) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The values a ref had, newest first, from its reflog (empty when it has none).
    fn reflog(&self, refname: &str) -> Vec<ObjectId> {
        let Ok(Some(reference)) = self.repo.try_find_reference(refname) else {
            return Vec::new();
        };
        let mut platform = reference.log_iter();
        let Ok(Some(lines)) = platform.rev() else {
            return Vec::new();
        };
        let current = match reference.target() {
            gix::refs::TargetRef::Object(id) => Some(id.to_owned()),
            gix::refs::TargetRef::Symbolic(_) => None,
        };
        lines
            .filter_map(|line| line.ok().map(|l| l.new_oid))
            .filter(|id| !id.is_null() && Some(*id) != current)
            .take(REFLOG_LIMIT)
            .collect()
    }

    fn is_commit(&self, id: ObjectId) -> bool {
        matches!(
            self.repo.try_find_header(id),
            Ok(Some(header)) if header.kind() == gix::object::Kind::Commit
        )
    }

    /// Every note of a notes commit: annotated object -> note blob (fan-out trees included).
    fn task_notes(&self, notes_commit: ObjectId) -> Result<TaskNotes> {
        let mut notes = BTreeMap::new();
        self.note_entries(self.tree_of(notes_commit)?, String::new(), &mut notes)?;
        Ok(TaskNotes {
            notes_commit,
            notes,
        })
    }

    fn note_entries(
        &self,
        tree: ObjectId,
        prefix: String,
        out: &mut BTreeMap<ObjectId, ObjectId>,
    ) -> Result<()> {
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(git_err(format!("could not read notes tree {tree}")))?;
        let decoded = tree.decode().map_err(git_err("could not decode a tree"))?;
        for entry in &decoded.entries {
            let name = format!("{prefix}{}", entry.filename);
            if !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            match entry.mode.kind() {
                EntryKind::Tree if name.len() < 40 => {
                    self.note_entries(entry.oid.to_owned(), name, out)?;
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    if let Ok(annotated) = ObjectId::from_hex(name.as_bytes()) {
                        out.insert(annotated, entry.oid.to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn blob_text(&self, blob: ObjectId) -> Result<String> {
        let blob = self
            .repo
            .find_blob(blob)
            .map_err(git_err(format!("could not read note {blob}")))?;
        Ok(blob.data.to_str_lossy().into_owned())
    }

    /// The newest note on `annotated` in the first-parent history of the notes commit
    /// `notes_commit` that is not `current` and parses as `T`.
    fn earlier_note<T: DeserializeOwned>(
        &self,
        notes_commit: ObjectId,
        annotated: ObjectId,
        current: Option<ObjectId>,
    ) -> Result<Option<ObjectId>> {
        let mut commit = Some(notes_commit);
        let mut seen = BTreeSet::new();
        for _ in 0..HISTORY_LIMIT {
            let Some(at) = commit else { break };
            let tree = self.tree_of(at)?;
            let mut state = gix::note::plumbing::State::new(tree, self.repo())
                .map_err(git_err(format!("could not read the notes tree of {at}")))?;
            let blob = state.get(&annotated, self.repo()).map_err(git_err(format!(
                "could not look up the note on {annotated}"
            )))?;
            if let Some(blob) = blob
                && Some(blob) != current
                && seen.insert(blob)
                && toml::from_str::<T>(&self.blob_text(blob)?).is_ok()
            {
                return Ok(Some(blob));
            }
            commit = self.parents(at)?.first().copied();
        }
        Ok(None)
    }

    /// Walk first parents from `tip` to the commit `agent: start <slug>`.
    fn chain(&self, slug: &str, tip: ObjectId) -> Result<Chain> {
        let mut links = Vec::new();
        let mut current = tip;
        loop {
            let message = self.commit_message(current)?;
            if Subject::starts_task(&message, slug) {
                links.reverse();
                return Ok(Chain::Found {
                    task_commit: current,
                    links,
                });
            }
            let parent = self.parents(current)?.first().copied();
            links.push(Link {
                commit: current,
                parent,
                trailers: parse_trailers(&message),
            });
            match parent {
                Some(parent) => current = parent,
                None => return Ok(Chain::NotFound),
            }
        }
    }

    /// The task commit below `commit` when every commit on the way names the task: the
    /// chain a task branch must have. Unreadable commits count as not.
    fn clean_chain(&self, slug: &str, commit: ObjectId) -> Option<ObjectId> {
        let mut current = commit;
        loop {
            let message = self.commit_message(current).ok()?;
            if Subject::starts_task(&message, slug) {
                return Some(current);
            }
            if parse_trailers(&message).get(key::TASK) != Some(slug) {
                return None;
            }
            current = self.parents(current).ok()?.first().copied()?;
        }
    }

    /// Whether `commit` has `ancestor` on its first-parent line.
    fn descends(&self, commit: ObjectId, ancestor: ObjectId) -> Result<bool> {
        let mut current = commit;
        loop {
            if current == ancestor {
                return Ok(true);
            }
            match self.parents(current)?.first() {
                Some(parent) => current = *parent,
                None => return Ok(false),
            }
        }
    }

    /// Where a task's branch belongs: the newest position in its reflog whose chain is the
    /// task's, else the checkpoint with the highest number among the commits its notes
    /// annotate, else its task commit.
    fn restore_point(
        &self,
        slug: &str,
        task_commit: Option<ObjectId>,
        notes: Option<&TaskNotes>,
    ) -> Result<Option<ObjectId>> {
        for id in self.reflog(&refs::branch(slug)) {
            if let Some(found) = self.clean_chain(slug, id)
                && task_commit.is_none_or(|t| t == found)
            {
                return Ok(Some(id));
            }
        }
        let Some(notes) = notes else {
            return Ok(task_commit);
        };
        let mut best: Option<(u32, i64, ObjectId)> = None;
        for &annotated in notes.notes.keys() {
            let Some(found) = self.clean_chain(slug, annotated) else {
                continue;
            };
            if task_commit.is_some_and(|t| t != found) {
                continue;
            }
            let number = if annotated == found {
                0
            } else {
                match self.commit_message(annotated).map(|m| {
                    parse_trailers(&m)
                        .get(key::CHECKPOINT)
                        .and_then(|n| n.parse::<u32>().ok())
                }) {
                    Ok(Some(n)) => n,
                    _ => continue,
                }
            };
            let time = self.commit_time(annotated).unwrap_or_default();
            if best.is_none_or(|(n, t, _)| (number, time) > (n, t)) {
                best = Some((number, time, annotated));
            }
        }
        Ok(best.map(|(_, _, id)| id).or(task_commit))
    }

    /// The commits whose records readers read: `branch`, and the first-parent lines of the
    /// attic entries down to the task commit (what a budget sums).
    fn read_commits(
        &self,
        task_commit: ObjectId,
        branch: Vec<ObjectId>,
        attic: &[(String, ObjectId)],
    ) -> HashSet<ObjectId> {
        let mut read: HashSet<ObjectId> = branch.into_iter().collect();
        for &(_, tip) in attic {
            let mut current = Some(tip);
            for _ in 0..HISTORY_LIMIT {
                match current {
                    Some(commit) if commit != task_commit && read.insert(commit) => {
                        current = self.parents(commit).ok().and_then(|p| p.first().copied());
                    }
                    _ => break,
                }
            }
        }
        read
    }

    /// The next attic ref of a task that a repair may create.
    fn free_attic(&self, slug: &str, attic: &[(String, ObjectId)]) -> String {
        let prefix = refs::attic_prefix(slug);
        let next = attic
            .iter()
            .filter_map(|(name, _)| name.strip_prefix(&prefix)?.parse::<u32>().ok())
            .max()
            .map_or(1, |n| n + 1);
        refs::attic(slug, next)
    }

    fn fsck_task(
        &self,
        slug: &str,
        tip: ObjectId,
        notes: NotesOf<'_>,
        attic: &[(String, ObjectId)],
        purpose: Purpose,
        report: &mut FsckReport,
    ) -> Result<()> {
        let (notes, notes_unreadable) = match notes {
            NotesOf::Read(notes) => (Some(notes), false),
            NotesOf::Unreadable => (None, true),
            NotesOf::None => (None, false),
        };
        let task = slug.to_string();
        // The commits of the branch above the task commit: their records are what readers read.
        let mut branch = Vec::new();
        let task_commit = match self.chain(slug, tip)? {
            Chain::NotFound => {
                report.findings.push(Finding::BranchMoved {
                    task: task.clone(),
                    tip,
                    restore: self.restore_point(slug, None, notes)?,
                    checkout: self.checkout_of(slug),
                });
                // The plan still tells a reader what the task is: check it where it is.
                notes.and_then(|n| {
                    n.notes.keys().copied().find(|&c| {
                        self.commit_message(c)
                            .is_ok_and(|m| Subject::starts_task(&m, slug))
                    })
                })
            }
            Chain::Found { task_commit, links } => {
                branch.extend(links.iter().map(|l| l.commit));
                let checkout = self.checkout_of(slug);
                let rewind = |to: Option<ObjectId>| Rewind {
                    tip,
                    to: to.unwrap_or(task_commit),
                    attic: self.free_attic(slug, attic),
                    checkout: checkout.clone(),
                };
                let mut parent_number = Some(0u32);
                for (i, link) in links.iter().enumerate() {
                    let record = match notes.and_then(|n| n.notes.get(&link.commit)) {
                        None if notes_unreadable => RecordNote::Unreadable,
                        None => RecordNote::Missing,
                        Some(&blob) => RecordNote::Blob(blob),
                    };
                    let check = self.check_link(
                        slug,
                        link,
                        parent_number,
                        record,
                        links.len() - 1 - i,
                        rewind(link.parent),
                    )?;
                    report.findings.extend(check.findings);
                    if check.foreign {
                        break;
                    }
                    parent_number = check.number;
                }
                Some(task_commit)
            }
        };

        // Every note: the plan on the task commit, a checkpoint record on anything else.
        if let Some(notes) = notes {
            let read = match task_commit {
                Some(task_commit) => self.read_commits(task_commit, branch, attic),
                None => HashSet::new(),
            };
            for (&annotated, &blob) in &notes.notes {
                let text = self.blob_text(blob)?;
                if Some(annotated) == task_commit {
                    match toml::from_str::<Plan>(&text) {
                        Ok(plan) if !plan.is_writable() => report.notices.push((
                            task.clone(),
                            format!(
                                "written in format {}; this git-agent knows format {FORMAT} and checked what it knows",
                                plan.format
                            ),
                        )),
                        Ok(plan) => {
                            if let Some(of) = &plan.attempt_of
                                && let Some(problem) = self.attempt_problem(annotated, of)?
                            {
                                report.findings.push(Finding::AttemptOrphan {
                                    task: task.clone(),
                                    of: of.task.clone(),
                                    problem,
                                    refs: self.task_refs(&task)?,
                                });
                            }
                        }
                        Err(err) => report.findings.push(Finding::PlanMalformed {
                            task: task.clone(),
                            task_commit: annotated,
                            detail: err.message().to_string(),
                            earlier: self.earlier_note::<Plan>(notes.notes_commit, annotated, Some(blob))?,
                        }),
                    }
                } else if purpose == Purpose::Work && !read.contains(&annotated) {
                    // A note nothing reads cannot stop work; with many, finding where each
                    // could be restored from would cost more than the work.
                } else if let Some(finding) = self.record_malformed(
                    slug,
                    notes.notes_commit,
                    annotated,
                    blob,
                    read.contains(&annotated),
                )? {
                    report.findings.push(finding);
                }
            }
        }
        if let Some(task_commit) = task_commit
            && !notes_unreadable
            && !notes.is_some_and(|n| n.notes.contains_key(&task_commit))
        {
            let earlier = match notes {
                Some(notes) => self.earlier_note::<Plan>(notes.notes_commit, task_commit, None)?,
                None => None,
            };
            let message = self.commit_message(task_commit)?;
            let goal = TaskCommit::parse(&message)
                .map(|t| t.goal)
                .unwrap_or_default();
            report.findings.push(Finding::PlanMissing {
                task: task.clone(),
                task_commit,
                goal,
                earlier,
            });
        }

        if let Some(task_commit) = task_commit {
            for (refname, commit) in attic {
                if !self.descends(*commit, task_commit)? {
                    report.findings.push(Finding::AtticNotOfTask {
                        task: task.clone(),
                        refname: refname.clone(),
                        commit: *commit,
                        task_commit,
                    });
                }
            }
        }
        Ok(())
    }
}
