//! Ref names of a task, and the compare-and-swap edits a ref transaction is made of.

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
/// Where the attic lives under a task's refs: `refs/agent/<slug>/attic/<n>`.
const ATTIC: &str = "attic";
/// What the user said to a task: `refs/agent/<slug>/say`.
const SAY: &str = "say";
/// The lease of a task on a shared remote: `refs/agent/<slug>/lease`.
const LEASE: &str = "lease";

/// Where the copies of every remote's task branches live: `refs/remotes/<remote>/agent/<slug>`,
/// where a plain `git fetch` puts them too.
const TRACKING_BRANCHES: &str = "refs/remotes/";
/// Where the copies of every remote's notes refs live: `refs/notes/remotes/<remote>/agent/<slug>`
/// (under `refs/notes/`, where `git notes` looks).
pub const TRACKING_NOTES_PREFIX: &str = "refs/notes/remotes/";
/// Where the copies of every remote's `refs/agent/` live: `refs/agent-remotes/<remote>/…`.
const TRACKING_AGENT: &str = "refs/agent-remotes/";
/// Where a notes merge is prepared (`git notes merge` only merges into refs under
/// `refs/notes/`): `refs/notes/agent-merge/<slug>`.
const NOTES_MERGE: &str = "refs/notes/agent-merge/";

pub fn branch(slug: &str) -> String {
    format!("{BRANCH_PREFIX}{slug}")
}

pub fn notes(slug: &str) -> String {
    format!("{NOTES_PREFIX}{slug}")
}

/// Everything of a task under `refs/agent/<slug>/`.
fn task_prefix(slug: &str) -> String {
    format!("{TASK_PREFIX}{slug}/")
}

pub fn attic_prefix(slug: &str) -> String {
    format!("{}{ATTIC}/", task_prefix(slug))
}

pub fn attic(slug: &str, n: u32) -> String {
    format!("{}{n}", attic_prefix(slug))
}

/// What the user said to a task (`git agent say`): a chain of commits, read by the running loop.
pub fn say(slug: &str) -> String {
    format!("{}{SAY}", task_prefix(slug))
}

/// The lease of a task on a shared remote (`git agent worker`): a commit naming the worker
/// that holds the task, with a heartbeat counter (docs/data-model.md#leases).
pub fn lease(slug: &str) -> String {
    format!("{}{LEASE}", task_prefix(slug))
}

/// Where a fetch puts the remote's task branches, for every task.
pub fn tracking_branch_prefix(remote: &str) -> String {
    format!("{TRACKING_BRANCHES}{remote}/agent/")
}

/// Where a fetch puts the remote's task branch of `slug`.
pub fn tracking_branch(remote: &str, slug: &str) -> String {
    format!("{}{slug}", tracking_branch_prefix(remote))
}

/// Where a fetch puts the remote's notes refs, for every task.
pub fn tracking_notes_prefix(remote: &str) -> String {
    format!("{TRACKING_NOTES_PREFIX}{remote}/agent/")
}

/// Where a fetch puts the remote's notes ref of `slug`.
pub fn tracking_notes(remote: &str, slug: &str) -> String {
    format!("{}{slug}", tracking_notes_prefix(remote))
}

/// The remote and the task of a tracking notes ref of any remote: [`tracking_notes`] read
/// back (a remote's name may hold `/`, a task's may not).
pub fn parse_tracking_notes(name: &str) -> Option<(&str, &str)> {
    let (remote, slug) = name
        .strip_prefix(TRACKING_NOTES_PREFIX)?
        .rsplit_once("/agent/")?;
    (!slug.contains('/')).then_some((remote, slug))
}

/// Where a fetch puts everything under the remote's `refs/agent/` (attic, say, lease).
pub fn tracking_agent_prefix(remote: &str) -> String {
    format!("{TRACKING_AGENT}{remote}/")
}

/// Where a fetch keeps the remote's lease of a task.
pub fn tracking_lease(remote: &str, slug: &str) -> String {
    format!("{}{slug}/{LEASE}", tracking_agent_prefix(remote))
}

/// Where `pull` and `push` keep the remote's say ref of a task.
pub fn tracking_say(remote: &str, slug: &str) -> String {
    format!("{}{slug}/{SAY}", tracking_agent_prefix(remote))
}

/// Where the notes merge of a task is prepared before the task's notes ref is moved to it by
/// compare and swap.
pub fn notes_merge_scratch(slug: &str) -> String {
    format!("{NOTES_MERGE}{slug}")
}

/// The refspecs that fetch a remote's agent refs into the tracking refs.
pub fn fetch_refspecs(remote: &str) -> [String; 3] {
    [
        format!("+{BRANCH_PREFIX}*:{}*", tracking_branch_prefix(remote)),
        format!("+{NOTES_PREFIX}*:{}*", tracking_notes_prefix(remote)),
        format!("+{TASK_PREFIX}*:{}*", tracking_agent_prefix(remote)),
    ]
}

/// The refspec that fetches a remote's refs under `refs/agent/<slug>/` alone (attic, say,
/// lease) into their tracking refs.
pub fn fetch_task_refspec(remote: &str, slug: &str) -> String {
    format!(
        "+{}*:{}{slug}/*",
        task_prefix(slug),
        tracking_agent_prefix(remote)
    )
}

/// The tracking ref that mirrors a ref of the remote (`None` for refs sync does not track).
pub fn tracking_name(remote: &str, name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix(BRANCH_PREFIX) {
        return Some(format!("{}{rest}", tracking_branch_prefix(remote)));
    }
    if let Some(rest) = name.strip_prefix(NOTES_PREFIX) {
        return Some(format!("{}{rest}", tracking_notes_prefix(remote)));
    }
    name.strip_prefix(TASK_PREFIX)
        .map(|rest| format!("{}{rest}", tracking_agent_prefix(remote)))
}

/// The ref of the remote that a tracking ref of `remote` mirrors: [`tracking_name`] read back.
pub fn tracked_name(remote: &str, tracking: &str) -> Option<String> {
    let under = |prefix: String| tracking.strip_prefix(prefix.as_str()).map(str::to_string);
    if let Some(rest) = under(tracking_branch_prefix(remote)) {
        return Some(format!("{BRANCH_PREFIX}{rest}"));
    }
    if let Some(rest) = under(tracking_notes_prefix(remote)) {
        return Some(format!("{NOTES_PREFIX}{rest}"));
    }
    under(tracking_agent_prefix(remote)).map(|rest| format!("{TASK_PREFIX}{rest}"))
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
    /// The full name of this ref of the task `slug`: what [`TaskRef::parse`] reads back.
    pub fn name(&self, slug: &str) -> String {
        match self {
            TaskRef::Branch => branch(slug),
            TaskRef::Notes => notes(slug),
            TaskRef::Attic(n) => attic(slug, *n),
            TaskRef::Say => say(slug),
            TaskRef::Lease => lease(slug),
            TaskRef::Reserved(rest) => format!("{}{rest}", task_prefix(slug)),
        }
    }

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
            None if rest == SAY => TaskRef::Say,
            None if rest == LEASE => TaskRef::Lease,
            Some((ATTIC, n)) => match n.parse::<u32>() {
                Ok(number) if number > 0 => TaskRef::Attic(number),
                _ => TaskRef::Reserved(rest.to_string()),
            },
            _ => TaskRef::Reserved(rest.to_string()),
        };
        Some((slug, kind))
    }

    /// A tracking ref of `remote` read as the task ref of the remote it mirrors.
    pub fn parse_tracking(remote: &str, tracking: &str) -> Option<(String, TaskRef)> {
        let name = tracked_name(remote, tracking)?;
        let (slug, kind) = TaskRef::parse(&name)?;
        Some((slug.to_string(), kind))
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

    /// The commit the ref must hold, `None` for no ref.
    pub fn id(self) -> Option<ObjectId> {
        match self {
            Expect::Absent => None,
            Expect::At(id) => Some(id),
        }
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

    /// Fail with [`StoreError::RaceLost`] unless the ref holds what `edit` expects.
    pub(in crate::store) fn check_expected(&self, edit: &Edit) -> Result<()> {
        let expected = edit.expect.id();
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
        self.refs_under(prefix, |reference| {
            Ok(reference.peel_to_id().ok().map(|id| id.detach()))
        })
    }

    /// All refs under `prefix` with the id each holds, sorted by name, reading no object: a ref
    /// that holds an id is taken as it is, only a symbolic one is followed. What listing
    /// thousands of task refs needs; git-agent writes its refs pointing at commits.
    pub(crate) fn ref_ids_with_prefix(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        self.refs_under(prefix, |reference| {
            Ok(match reference.target().try_id() {
                Some(id) => Some(id.to_owned()),
                None => reference.peel_to_id().ok().map(|id| id.detach()),
            })
        })
    }

    /// The one listing of refs: every ref under `prefix` in name order, with what `read`
    /// takes of it (`None` leaves the ref out).
    pub(in crate::store) fn refs_under<T>(
        &self,
        prefix: &str,
        mut read: impl FnMut(&mut gix::Reference<'_>) -> Result<Option<T>>,
    ) -> Result<Vec<(String, T)>> {
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
            if let Some(value) = read(&mut reference)? {
                out.push((reference.name().as_bstr().to_string(), value));
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
    fn every_kind_of_ref_is_written_from_its_type_and_read_back_equal() {
        for kind in [
            TaskRef::Branch,
            TaskRef::Notes,
            TaskRef::Attic(3),
            TaskRef::Say,
            TaskRef::Lease,
            TaskRef::Reserved("later/thing".into()),
        ] {
            let name = kind.name("fix-it");
            assert_eq!(
                TaskRef::parse(&name),
                Some(("fix-it", kind.clone())),
                "{name}"
            );
            let tracking = tracking_name("origin", &name).unwrap();
            assert_eq!(tracked_name("origin", &tracking).as_deref(), Some(&*name));
            assert_eq!(
                TaskRef::parse_tracking("origin", &tracking),
                Some(("fix-it".to_string(), kind)),
                "{tracking}"
            );
        }
    }

    #[test]
    fn tracking_refs_mirror_the_remote_layout_and_other_refs_are_not_tracked() {
        assert_eq!(
            tracking_name("o", "refs/heads/agent/t").as_deref(),
            Some("refs/remotes/o/agent/t")
        );
        assert_eq!(
            tracking_name("o", "refs/notes/agent/t").as_deref(),
            Some("refs/notes/remotes/o/agent/t")
        );
        assert_eq!(
            tracking_name("o", "refs/agent/t/attic/3").as_deref(),
            Some("refs/agent-remotes/o/t/attic/3")
        );
        assert_eq!(tracking_name("o", "refs/heads/main"), None);
        assert_eq!(
            parse_tracking_notes(&tracking_notes("up/stream", "t")),
            Some(("up/stream", "t"))
        );
        assert_eq!(parse_tracking_notes("refs/notes/remotes/o/agent/t/x"), None);
        assert_eq!(tracked_name("o", "refs/remotes/other/agent/t"), None);
        assert_eq!(
            tracking_lease("o", "t"),
            tracking_name("o", &lease("t")).unwrap()
        );
        assert_eq!(
            tracking_say("o", "t"),
            tracking_name("o", &say("t")).unwrap()
        );
        assert_eq!(
            tracking_notes("o", "t"),
            tracking_name("o", &notes("t")).unwrap()
        );
        assert_eq!(
            tracking_branch("o", "t"),
            tracking_name("o", &branch("t")).unwrap()
        );
        let specs = fetch_refspecs("o");
        assert_eq!(specs[0], "+refs/heads/agent/*:refs/remotes/o/agent/*");
        assert_eq!(specs[1], "+refs/notes/agent/*:refs/notes/remotes/o/agent/*");
        assert_eq!(specs[2], "+refs/agent/*:refs/agent-remotes/o/*");
        assert_eq!(
            fetch_task_refspec("o", "t"),
            "+refs/agent/t/*:refs/agent-remotes/o/t/*"
        );
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
