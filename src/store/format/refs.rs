//! Ref names of a task and compare-and-swap ref transactions.

use gix::ObjectId;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::{FullName, Target};

use crate::store::{Result, Store, StoreError, git_err};

/// Where task branches live: `refs/heads/agent/<slug>`.
pub const BRANCH_PREFIX: &str = "refs/heads/agent/";
/// Where task notes refs live: `refs/notes/agent/<slug>`.
pub const NOTES_PREFIX: &str = "refs/notes/agent/";
/// Where a task's other refs live: `refs/agent/<slug>/…`.
pub const TASK_PREFIX: &str = "refs/agent/";

pub fn branch(slug: &str) -> String {
    format!("{BRANCH_PREFIX}{slug}")
}

pub fn notes(slug: &str) -> String {
    format!("{NOTES_PREFIX}{slug}")
}

pub fn attic_prefix(slug: &str) -> String {
    format!("{TASK_PREFIX}{slug}/attic/")
}

pub fn attic(slug: &str, n: u32) -> String {
    format!("{}{n}", attic_prefix(slug))
}

/// What the user said to a task (`git agent say`): a chain of commits, read by the running loop.
pub fn say(slug: &str) -> String {
    format!("refs/agent/{slug}/say")
}

/// The lease of a task on a shared remote (`git agent worker`): a commit naming the worker
/// that holds the task, with a heartbeat counter (docs/data-model.md#leases).
pub fn lease(slug: &str) -> String {
    format!("{TASK_PREFIX}{slug}/lease")
}

/// Where a fetch keeps the remote's lease of a task.
pub fn tracking_lease(remote: &str, slug: &str) -> String {
    format!("refs/agent-remotes/{remote}/{slug}/lease")
}

/// Where `pull` and `push` keep the remote's say ref of a task.
pub fn tracking_say(remote: &str, slug: &str) -> String {
    format!("refs/agent-remotes/{remote}/{slug}/say")
}

/// What a ref of the format is, read from its full name: the one parser of the layout of
/// docs/data-model.md#refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRef {
    Branch,
    Notes,
    Attic(u32),
    Say,
    /// A worker's lease on a shared remote (docs/data-model.md#leases).
    Lease,
    /// Under `refs/agent/<slug>/` but nothing this format names: reserved for later formats,
    /// left alone by readers.
    Reserved(String),
}

impl TaskRef {
    /// The task a ref belongs to and what it is, or `None` for a ref outside the layout.
    pub fn parse(name: &str) -> Option<(&str, TaskRef)> {
        if let Some(slug) = name.strip_prefix(BRANCH_PREFIX) {
            return (!slug.contains('/')).then_some((slug, TaskRef::Branch));
        }
        if let Some(slug) = name.strip_prefix(NOTES_PREFIX) {
            return (!slug.contains('/')).then_some((slug, TaskRef::Notes));
        }
        let (slug, rest) = name.strip_prefix(TASK_PREFIX)?.split_once('/')?;
        let kind = match rest.split_once('/') {
            None if rest == "say" => TaskRef::Say,
            None if rest == "lease" => TaskRef::Lease,
            Some(("attic", n)) => match n.parse::<u32>() {
                Ok(number) if number > 0 => TaskRef::Attic(number),
                _ => TaskRef::Reserved(rest.to_string()),
            },
            _ => TaskRef::Reserved(rest.to_string()),
        };
        Some((slug, kind))
    }
}

pub(crate) fn full_name(name: &str) -> Result<FullName> {
    FullName::try_from(name).map_err(|err| StoreError::Git {
        context: format!("invalid ref name {name}"),
        source: err.into(),
    })
}

/// What a ref must hold before an edit: nothing, or exactly this commit.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    Absent,
    At(ObjectId),
}

impl Expect {
    pub fn from_option(id: Option<ObjectId>) -> Expect {
        id.map_or(Expect::Absent, Expect::At)
    }

    fn previous(self) -> PreviousValue {
        match self {
            Expect::Absent => PreviousValue::MustNotExist,
            Expect::At(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
        }
    }
}

/// One compare-and-swap edit of a transaction.
pub struct Edit {
    pub name: String,
    pub expect: Expect,
    /// `None` deletes the ref.
    pub new: Option<ObjectId>,
    pub message: String,
}

impl Edit {
    pub fn update(name: String, expect: Expect, new: ObjectId, message: impl Into<String>) -> Edit {
        Edit {
            name,
            expect,
            new: Some(new),
            message: message.into(),
        }
    }

    pub fn delete(name: String, current: ObjectId) -> Edit {
        Edit {
            name,
            expect: Expect::At(current),
            new: None,
            message: String::new(),
        }
    }

    fn to_ref_edit(&self) -> Result<RefEdit> {
        let change = match self.new {
            Some(new) => Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: true,
                    message: self.message.clone().into(),
                },
                expected: self.expect.previous(),
                new: Target::Object(new),
            },
            None => Change::Delete {
                expected: self.expect.previous(),
                log: RefLog::AndReference,
            },
        };
        Ok(RefEdit {
            change,
            name: full_name(&self.name)?,
            deref: false,
        })
    }
}

fn expected_of(edit: &Edit) -> Option<ObjectId> {
    match edit.expect {
        Expect::Absent => None,
        Expect::At(id) => Some(id),
    }
}

impl Store {
    /// The commit a ref points to, if it exists.
    pub fn ref_target(&self, name: &str) -> Result<Option<ObjectId>> {
        let reference = self
            .repo
            .try_find_reference(name)
            .map_err(git_err(format!("could not read {name}")))?;
        match reference {
            None => Ok(None),
            Some(mut reference) => {
                let id = reference
                    .peel_to_id()
                    .map_err(git_err(format!("could not resolve {name}")))?;
                Ok(Some(id.detach()))
            }
        }
    }

    /// Apply all edits as one change: every ref is checked against what it must hold before any
    /// is changed, so a concurrent writer makes the whole change fail; and a change of several
    /// refs is journaled first, so a crash at any point leaves all of it or none of it once
    /// the next command has settled the journal (see `journal.rs`).
    pub fn transaction(&self, edits: &[Edit]) -> Result<()> {
        if edits.len() < 2 {
            return self.apply_edits(edits);
        }
        // A lost race is told before anything is written down.
        for edit in edits {
            self.check_expected(edit)?;
        }
        let journal = crate::store::journal::Journal::begin(self, edits)?;
        match self.apply_edits(edits) {
            Ok(()) => {
                journal.end();
                Ok(())
            }
            Err(err) => {
                let untouched = edits.iter().all(|edit| {
                    self.ref_target(&edit.name)
                        .is_ok_and(|now| now == expected_of(edit))
                });
                if untouched {
                    journal.end();
                }
                // Otherwise the journal stays: the next command finishes the change.
                Err(err)
            }
        }
    }

    /// Fail with [`StoreError::RaceLost`] unless the ref holds what `edit` expects.
    fn check_expected(&self, edit: &Edit) -> Result<()> {
        let expected = expected_of(edit);
        if self.ref_target(&edit.name)? != expected {
            return Err(StoreError::RaceLost {
                refname: edit.name.clone(),
                expected: expected.map_or_else(|| "no ref".to_string(), |id| id.to_string()),
            });
        }
        Ok(())
    }

    /// Apply the edits in one gix transaction (every ref locked and checked, then each lock
    /// renamed into place: not atomic across refs if the process dies in between).
    pub(in crate::store) fn apply_edits(&self, edits: &[Edit]) -> Result<()> {
        let ref_edits = edits
            .iter()
            .map(Edit::to_ref_edit)
            .collect::<Result<Vec<_>>>()?;
        let committer = self
            .repo
            .committer()
            .transpose()
            .map_err(|err| StoreError::NoIdentity(err.to_string()))?;
        if let Err(err) = self.repo.edit_references_as(ref_edits, committer) {
            // Tell a lost race from other failures by looking at what the refs hold now.
            for edit in edits {
                self.check_expected(edit)?;
            }
            return Err(git_err("could not update refs")(err));
        }
        Ok(())
    }

    /// All refs under `prefix`, with the commit each points to.
    pub fn refs_with_prefix(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        let platform = self
            .repo
            .references()
            .map_err(git_err("could not list refs"))?;
        let iter = platform
            .prefixed(prefix)
            .map_err(git_err(format!("could not list refs under {prefix}")))?;
        let mut out = Vec::new();
        for reference in iter {
            let mut reference = reference.map_err(|err| StoreError::Git {
                context: format!("could not read a ref under {prefix}"),
                source: err.into(),
            })?;
            let name = reference.name().as_bstr().to_string();
            if let Ok(id) = reference.peel_to_id() {
                out.push((name, id.detach()));
            }
        }
        Ok(out)
    }
}

impl Store {
    /// All refs under `prefix` with the id each holds, sorted by name, reading no object: a ref
    /// that holds an id is taken as it is, only a symbolic one is followed. What listing
    /// thousands of task refs needs; git-agent writes its refs pointing at commits.
    pub(crate) fn ref_ids_with_prefix(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        let platform = self
            .repo
            .references()
            .map_err(git_err("could not list refs"))?;
        let iter = platform
            .prefixed(prefix)
            .map_err(git_err(format!("could not list refs under {prefix}")))?;
        let mut out = Vec::new();
        for reference in iter {
            let mut reference = reference.map_err(|err| StoreError::Git {
                context: format!("could not read a ref under {prefix}"),
                source: err.into(),
            })?;
            let name = reference.name().as_bstr().to_string();
            let id = match reference.target().try_id() {
                Some(id) => Some(id.to_owned()),
                None => reference.peel_to_id().ok().map(|id| id.detach()),
            };
            if let Some(id) = id {
                out.push((name, id));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn every_ref_the_writers_name_parses_back_to_what_it_is() {
        for (name, kind) in [
            (branch("fix"), TaskRef::Branch),
            (notes("fix"), TaskRef::Notes),
            (attic("fix", 12), TaskRef::Attic(12)),
            (say("fix"), TaskRef::Say),
            (lease("fix"), TaskRef::Lease),
        ] {
            assert_eq!(TaskRef::parse(&name), Some(("fix", kind)), "{name}");
        }
    }

    #[test]
    fn refs_outside_the_layout_are_not_task_refs_and_unknown_ones_are_reserved() {
        assert_eq!(TaskRef::parse("refs/heads/main"), None);
        assert_eq!(TaskRef::parse("refs/heads/agent/a/b"), None);
        assert_eq!(TaskRef::parse("refs/agent/fix"), None);
        assert_eq!(
            TaskRef::parse("refs/agent/fix/attic/x"),
            Some(("fix", TaskRef::Reserved("attic/x".into())))
        );
        assert_eq!(
            TaskRef::parse("refs/agent/fix/attic/0"),
            Some(("fix", TaskRef::Reserved("attic/0".into())))
        );
        assert_eq!(
            TaskRef::parse("refs/agent/fix/leases"),
            Some(("fix", TaskRef::Reserved("leases".into())))
        );
    }
}
