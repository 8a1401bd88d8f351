//! What fsck rejects, nothing builds on: a run and a checkpoint check the task with the very
//! rules of `git agent fsck` before they work on it, and refuse with the repair fsck prints
//! (docs/data-model.md#fsck). Reading a task (status, log, list) still works, and says what
//! it can.

use super::links::RecordNote;
use super::{Finding, Link, Purpose, Rewind, Target};
use crate::store::format::notes::NotesReader;
use crate::store::format::refs;
use crate::store::format::trailers::{key, parse_trailers};
use crate::store::lock::TaskLock;
use crate::store::task::Task;
use crate::store::{Result, Store};

impl Store {
    /// Take the lock of a task for work that builds on it (a run, a checkpoint): once it is
    /// held, the task is checked as `git agent fsck <slug>` checks it, and any finding that
    /// stops work ([`Finding::stops_work`]) refuses it, with fsck's repair as the hint.
    pub fn lock_for_work(&self, slug: &str) -> Result<TaskLock> {
        let lock = TaskLock::acquire(self, slug)?;
        let report = self.check(Some(slug), Purpose::Work)?;
        refuse(report.findings.iter().filter(|f| f.task() == slug))?;
        Ok(lock)
    }

    /// Refuse to build a checkpoint on the tip of `task` when fsck rejects the tip: its
    /// trailers, its numbering, its record. What lies below the tip was checked when the work
    /// began ([`Store::lock_for_work`]); this costs a few reads, whatever the task's length.
    pub(crate) fn refuse_a_rejected_tip(&self, task: &Task) -> Result<()> {
        if task.tip == task.task_commit {
            return Ok(());
        }
        let slug = task.slug.as_str();
        let parent = self.parents(task.tip)?.first().copied();
        let parent_number = match parent {
            Some(p) if p == task.task_commit => Some(0),
            Some(p) => parse_trailers(&self.commit_message(p)?)
                .get(key::CHECKPOINT)
                .and_then(|n| n.parse().ok()),
            None => None,
        };
        let link = Link {
            commit: task.tip,
            parent,
            trailers: parse_trailers(&self.commit_message(task.tip)?),
        };
        let notes_commit = self.ref_target(&refs::notes(slug))?;
        let blob = NotesReader::at(self, slug, notes_commit)?.blob(task.tip)?;
        let record = blob.map_or(RecordNote::Missing, RecordNote::Blob);
        let attic: Vec<_> = self
            .agent_refs(&refs::attic_prefix(slug))?
            .into_iter()
            .filter_map(|(name, target)| match target {
                Target::Commit(id) => Some((name, id)),
                Target::Unreadable(_) => None,
            })
            .collect();
        let rewind = Rewind {
            tip: task.tip,
            to: parent.unwrap_or(task.task_commit),
            attic: self.free_attic(slug, &attic),
            checkout: self.checkout_of(slug),
        };
        let mut findings = self
            .check_link(slug, &link, parent_number, record, 0, rewind)?
            .findings;
        if let (Some(notes_commit), Some(blob)) = (notes_commit, blob) {
            findings.extend(self.record_malformed(slug, notes_commit, task.tip, blob, true)?);
        }
        refuse(findings.iter())
    }
}

/// The refusal of the first of `findings` that stops work, if any.
fn refuse<'a>(findings: impl Iterator<Item = &'a Finding>) -> Result<()> {
    let mut stopping = findings.filter(|f| f.stops_work());
    match stopping.next() {
        Some(first) => Err(first.refusal(stopping.count())),
        None => Ok(()),
    }
}
