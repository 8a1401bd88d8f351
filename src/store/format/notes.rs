//! Notes of a task, compatible with `git notes` both ways (fan-out trees included, through
//! gix's notes plumbing). Writes return a ref edit so a note can land in the same
//! transaction as the commit it describes.

use gix::ObjectId;
use gix::bstr::ByteSlice;

use super::plan::Plan;
use super::record::CheckpointRecord;
use super::refs::{self, Edit, Expect};
use crate::store::{Result, Store, StoreError, git_err};

/// Reads many notes of one notes ref, keeping the parsed fan-out tree between reads.
pub struct NotesReader<'s> {
    store: &'s Store,
    notes_ref: String,
    state: Option<gix::note::plumbing::State>,
}

impl<'s> NotesReader<'s> {
    pub fn new(store: &'s Store, slug: &str) -> Result<NotesReader<'s>> {
        let notes_ref = refs::notes(slug);
        let tree = store.notes_tree(&notes_ref)?;
        Self::with_tree(store, notes_ref, tree)
    }

    /// The notes of a task as of `notes_commit`, a commit its notes ref pointed to (`None`:
    /// the task has no notes yet).
    pub(crate) fn at(
        store: &'s Store,
        slug: &str,
        notes_commit: Option<ObjectId>,
    ) -> Result<NotesReader<'s>> {
        let tree = match notes_commit {
            Some(commit) => Some(store.tree_of(commit)?),
            None => None,
        };
        Self::with_tree(store, refs::notes(slug), tree)
    }

    /// The notes as of one commit of a notes ref (e.g. each side of a notes merge).
    pub fn at_commit(store: &'s Store, notes_commit: ObjectId) -> Result<NotesReader<'s>> {
        let tree = store.tree_of(notes_commit)?;
        Self::with_tree(store, format!("notes commit {notes_commit}"), Some(tree))
    }

    fn with_tree(
        store: &'s Store,
        notes_ref: String,
        tree: Option<ObjectId>,
    ) -> Result<NotesReader<'s>> {
        let state = match tree {
            None => None,
            Some(tree) => Some(gix::note::plumbing::State::new(tree, store.repo()).map_err(
                git_err(format!("could not read the notes tree of {notes_ref}")),
            )?),
        };
        Ok(NotesReader {
            store,
            notes_ref,
            state,
        })
    }

    /// The blob of the note on `commit`, if there is one.
    pub fn blob(&mut self, commit: ObjectId) -> Result<Option<ObjectId>> {
        let Some(state) = self.state.as_mut() else {
            return Ok(None);
        };
        state
            .get(&commit, self.store.repo())
            .map_err(git_err(format!("could not look up the note on {commit}")))
    }

    /// The text of the note on `commit`, if there is one.
    pub fn text(&mut self, commit: ObjectId) -> Result<Option<String>> {
        let Some(blob) = self.blob(commit)? else {
            return Ok(None);
        };
        let repo = self.store.repo();
        let blob = repo
            .find_blob(blob)
            .map_err(git_err(format!("could not read the note on {commit}")))?;
        Ok(Some(blob.data.to_str_lossy().into_owned()))
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        commit: ObjectId,
        text: &str,
        what: &'static str,
    ) -> Result<T> {
        toml::from_str(text).map_err(|err| StoreError::MalformedNote {
            notes_ref: self.notes_ref.clone(),
            commit: commit.to_string(),
            what,
            detail: err.message().to_string(),
        })
    }

    pub fn plan(&mut self, task_commit: ObjectId) -> Result<Option<Plan>> {
        match self.text(task_commit)? {
            None => Ok(None),
            Some(text) => self.parse(task_commit, &text, "plan").map(Some),
        }
    }

    pub fn record(&mut self, commit: ObjectId) -> Result<Option<CheckpointRecord>> {
        match self.text(commit)? {
            None => Ok(None),
            Some(text) => self.parse(commit, &text, "checkpoint record").map(Some),
        }
    }
}

impl Store {
    /// The root tree of a notes ref, if the ref exists.
    fn notes_tree(&self, notes_ref: &str) -> Result<Option<ObjectId>> {
        let Some(commit) = self.ref_target(notes_ref)? else {
            return Ok(None);
        };
        let tree = self
            .repo
            .find_commit(commit)
            .map_err(git_err(format!("{notes_ref} must point to a commit")))?
            .tree_id()
            .map_err(git_err(format!("could not read the tree of {notes_ref}")))?;
        Ok(Some(tree.detach()))
    }

    /// Write notes (`(annotated commit, text)`) as one new commit on the task's notes ref and
    /// return the compare-and-swap edit that publishes it. Nothing is visible until the edit
    /// is applied by [`Store::transaction`].
    pub fn notes_edit(
        &self,
        slug: &str,
        notes: &[(ObjectId, String)],
        message: &str,
    ) -> Result<Edit> {
        self.notes_edit_replacing(slug, notes, message, false)
    }

    /// [`Store::notes_edit`]; with `replace_usage`, a newest notes commit that only added
    /// usage (and was not pushed) is replaced rather than followed: the new commit takes its
    /// parents, and its tree (with the new notes) — so nothing it held is lost, and the ref's
    /// history keeps one commit per real change instead of one per model turn.
    fn notes_edit_replacing(
        &self,
        slug: &str,
        notes: &[(ObjectId, String)],
        message: &str,
        replace_usage: bool,
    ) -> Result<Edit> {
        let notes_ref = refs::notes(slug);
        let parent = self.ref_target(&notes_ref)?;
        let parents = match parent {
            Some(head) if replace_usage && self.replaceable_usage_commit(slug, head)? => {
                self.parents(head)?
            }
            _ => parent.into_iter().collect(),
        };
        let root = match parent {
            Some(_) => self
                .notes_tree(&notes_ref)?
                .unwrap_or_else(|| ObjectId::empty_tree(self.repo.object_hash())),
            None => ObjectId::empty_tree(self.repo.object_hash()),
        };
        let repo = self.repo();
        let mut state = gix::note::plumbing::State::new(root, repo).map_err(git_err(format!(
            "could not read the notes tree of {notes_ref}"
        )))?;
        for (commit, text) in notes {
            // Every note (plan, record, stop, steering) is redacted on its way into git.
            let mut text = redacted_note(*commit, text)?;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            let blob = repo
                .write_blob(text.as_bytes())
                .map_err(git_err("could not write a note"))?;
            state
                .edit(*commit, Some(blob.detach()), repo)
                .map_err(git_err(format!("could not add the note on {commit}")))?;
        }
        let tree = state.write(repo).map_err(git_err(format!(
            "could not write the notes tree of {notes_ref}"
        )))?;
        let commit = self.commit(&format!("{message}\n"), tree, parents)?;
        Ok(Edit::update(
            notes_ref,
            Expect::from_option(parent),
            commit,
            format!("notes: {message}"),
        ))
    }

    /// Write one note and publish it at once. A note that only adds usage
    /// ([`usage_message`], [`planning_usage_message`]) replaces the previous such commit.
    pub fn write_note(
        &self,
        slug: &str,
        commit: ObjectId,
        text: String,
        message: &str,
    ) -> Result<()> {
        let replace = is_usage_message(slug, message);
        let edit = self.notes_edit_replacing(slug, &[(commit, text)], message, replace)?;
        self.transaction(&[edit])
    }

    /// Whether `head`, the newest commit of the task's notes ref, only added usage and no
    /// remote has it (replacing a pushed commit would make the next push a non-fast-forward).
    fn replaceable_usage_commit(&self, slug: &str, head: ObjectId) -> Result<bool> {
        if !is_usage_message(slug, self.commit_message(head)?.trim_end()) {
            return Ok(false);
        }
        let pushed = self
            .ref_ids_with_prefix(refs::TRACKING_NOTES_PREFIX)?
            .into_iter()
            .any(|(name, id)| {
                id == head && refs::parse_tracking_notes(&name).is_some_and(|(_, of)| of == slug)
            });
        Ok(!pushed)
    }
}

/// The message of the notes commit that adds a model turn's usage to the tip's `pending`.
pub(crate) fn usage_message(slug: &str) -> String {
    format!("usage of {slug}")
}

/// The message of the notes commit that adds a planning turn's usage to the plan.
pub(crate) fn planning_usage_message(slug: &str) -> String {
    format!("planning usage of {slug}")
}

fn is_usage_message(slug: &str, message: &str) -> bool {
    message == usage_message(slug) || message == planning_usage_message(slug)
}

/// A note's TOML with every string redacted as a value: redacting the rendered text would
/// miss a key TOML escaped (`\tghp_…` glues it to a letter) and could cut the note where a
/// rule matched across escaped text. The result is parsed back; a note that would not parse is
/// never written.
fn redacted_note(commit: ObjectId, text: &str) -> Result<String> {
    let refused = |detail: String| StoreError::NoteNotWritten {
        commit: commit.to_string(),
        detail,
    };
    let mut table: toml::Table = toml::from_str(text).map_err(|err| refused(err.to_string()))?;
    let mut changed = false;
    for (_, value) in table.iter_mut() {
        redact_value(value, &mut changed);
    }
    if !changed {
        return Ok(text.to_owned());
    }
    let out = toml::to_string(&table).map_err(|err| refused(err.to_string()))?;
    toml::from_str::<toml::Table>(&out).map_err(|err| refused(err.to_string()))?;
    Ok(out)
}

fn redact_value(value: &mut toml::Value, changed: &mut bool) {
    match value {
        toml::Value::String(text) => {
            let redacted = crate::policy::redact_known(text);
            if redacted != *text {
                *text = redacted;
                *changed = true;
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, changed)),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| redact_value(v, changed)),
        _ => {}
    }
}
