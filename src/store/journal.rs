//! The redo journal: what makes a change of several refs all or nothing at every crash point.
//!
//! git and gix apply a ref transaction by locking every ref (a `<ref>.lock` file each) and then
//! renaming the lock files into place one at a time. A process killed between two renames
//! leaves some refs moved and the others not — a checkpoint without its record, a task commit
//! without its plan, a rollback whose old tip is in no attic entry — and the lock files of the
//! rest, which block the task's refs until someone removes them.
//!
//! So a change of more than one ref is written down whole before any ref moves: a journal file
//! under `$GIT_COMMON_DIR/agent/journal/`, on which its writer holds an `flock` for as long as
//! it lives. Then the refs change (one transaction), then the journal is removed. A journal
//! whose `flock` is free belongs to a writer that died, and the next git-agent command settles
//! it before reading anything: when at least one of its refs had moved, the change is finished
//! (roll forward: every ref still at its old value is moved to its new one); when none had,
//! nothing happened and the journal is forgotten. Either way the ref lock files of the dead
//! writer go. docs/data-model.md#ref-transactions is the protocol other writers follow.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use gix::ObjectId;

use super::format::refs::{Edit, Expect};
use super::lock::try_flock;
use super::{Result, Store, StoreError};

/// The first line of every journal file: what it is and the version of its layout.
const HEADER: &str = "git-agent journal 1";
/// A journal being written: renamed to its final name once whole, so a reader never parses
/// half of one.
const PARTIAL: &str = ".partial";
/// A journal file just created, before its writer holds it.
const FRESH: &str = ".fresh";
/// A finished journal file: `<pid>-<nanos>-<n>.redo`.
const FINAL: &str = ".redo";
/// How `old` or `new` is written when the ref does not exist before or after.
const ABSENT: &str = "-";

/// A journal held by this process; removed by [`Journal::end`], left for recovery otherwise.
pub(crate) struct Journal {
    path: PathBuf,
    /// Holds the `flock` that says the writer is alive; closing it releases it.
    _file: std::fs::File,
}

/// One ref change as a journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    message: String,
}

impl Store {
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
                        .is_ok_and(|now| now == edit.expect.id())
                });
                if untouched {
                    journal.end();
                }
                // Otherwise the journal stays: the next command finishes the change.
                Err(err)
            }
        }
    }
}

fn render(edits: &[Edit]) -> String {
    let id = |id: Option<ObjectId>| id.map_or_else(|| ABSENT.to_string(), |id| id.to_string());
    let mut out = format!("{HEADER}\n");
    for edit in edits {
        let old = edit.expect.id();
        // A message is one line of the reflog: no line breaks, no tabs (the field separator).
        let message: String = edit
            .message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str(&format!(
            "{} {} {}\t{message}\n",
            id(old),
            id(edit.new),
            edit.name
        ));
    }
    out
}

fn parse(text: &str) -> Option<Vec<Entry>> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let id = |field: &str| -> Option<Option<ObjectId>> {
        if field == ABSENT {
            return Some(None);
        }
        ObjectId::from_hex(field.as_bytes()).ok().map(Some)
    };
    let mut entries = Vec::new();
    for line in lines {
        let (fields, message) = line.split_once('\t')?;
        let mut fields = fields.split(' ');
        let old = id(fields.next()?)?;
        let new = id(fields.next()?)?;
        let name = fields.next()?.to_string();
        if fields.next().is_some() || !name.starts_with("refs/") {
            return None;
        }
        entries.push(Entry {
            name,
            old,
            new,
            message: message.to_string(),
        });
    }
    Some(entries)
}

impl Journal {
    pub(crate) fn dir(store: &Store) -> PathBuf {
        store.agent_dir().join("journal")
    }

    /// Write down `edits` whole, held by this process, before any of them is applied.
    pub(crate) fn begin(store: &Store, edits: &[Edit]) -> Result<Journal> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = Self::dir(store);
        std::fs::create_dir_all(&dir).map_err(StoreError::io("could not create", &dir))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let stem = format!(
            "{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let fresh = dir.join(format!("{stem}{FRESH}"));
        let partial = dir.join(format!("{stem}{PARTIAL}"));
        let path = dir.join(format!("{stem}{FINAL}"));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&fresh)
            .map_err(StoreError::io("could not create", &fresh))?;
        // The lock goes with the open file, through the renames: a `.partial` or `.redo` name
        // exists only for a file whose writer holds it or died holding it. Between the create
        // and the lock the file has a name no settler reads.
        if !try_flock(&file) {
            return Err(StoreError::io("could not lock", &fresh)(
                std::io::Error::last_os_error(),
            ));
        }
        std::fs::rename(&fresh, &partial).map_err(StoreError::io("could not write", &partial))?;
        file.write_all(render(edits).as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(StoreError::io("could not write", &partial))?;
        std::fs::rename(&partial, &path).map_err(StoreError::io("could not write", &path))?;
        Ok(Journal { path, _file: file })
    }

    /// The change is complete (or never happened): forget it.
    pub(crate) fn end(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A `.fresh` journal made in the last few seconds: its writer creates the file before it
/// takes the `flock`, so a free lock on a new one may be a live writer's between the two.
fn being_written(path: &Path) -> bool {
    const GRACE: std::time::Duration = std::time::Duration::from_secs(10);
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().map_or(true, |age| age < GRACE))
}

/// Whether the journal behind `file` was removed after we opened it: its writer ended it
/// (`Journal::end` removes it before it lets go of the `flock`), so the free lock we got is
/// not a dead writer's.
fn unlinked(file: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().is_ok_and(|m| m.nlink() == 0)
}

/// What a dead writer's journal came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Some refs had moved; the rest were moved too.
    Finished(Vec<String>),
    /// No ref had moved: nothing happened.
    Forgotten,
    /// The journal is not one this version can read; left in place.
    Unreadable,
}

impl Store {
    /// The journals of writers that died, settled as the module doc says; what each came to
    /// is logged. Called when a store is opened, so every command reads a settled state. A
    /// journal that cannot be settled (a read-only `.git`) stays for a later command.
    pub(crate) fn recover_journals(&self) {
        let dir = Journal::dir(self);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            match self.settle_journal(&path) {
                Ok(Some(Settled::Finished(refs))) => tracing::warn!(
                    journal = %path.display(),
                    "finished the ref change of a git-agent that died in the middle of it: {}",
                    refs.join(", ")
                ),
                Ok(Some(Settled::Forgotten)) => tracing::info!(
                    journal = %path.display(),
                    "a git-agent died before its ref change began; nothing to finish"
                ),
                Ok(Some(Settled::Unreadable)) => tracing::warn!(
                    journal = %path.display(),
                    "a journal this version cannot read was left in place"
                ),
                Ok(None) => {}
                Err(err) => tracing::warn!(
                    journal = %path.display(),
                    "could not finish an interrupted ref change: {err}"
                ),
            }
        }
    }

    /// Whether `path` is the journal of a writer that is gone (its `flock` is free).
    pub(crate) fn journal_is_dead(path: &Path) -> bool {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .is_ok_and(|file| try_flock(&file) && !unlinked(&file))
    }

    /// Settle one journal file; `None` when its writer is alive (or it is not a journal).
    fn settle_journal(&self, path: &Path) -> Result<Option<Settled>> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(FRESH) {
            // A writer killed between creating the file and locking it: nothing in it yet.
            if !being_written(path) && std::fs::File::open(path).is_ok_and(|f| try_flock(&f)) {
                let _ = std::fs::remove_file(path);
            }
            return Ok(None);
        }
        let partial = name.ends_with(PARTIAL);
        if !partial && !name.ends_with(FINAL) {
            return Ok(None);
        }
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(file) => file,
            Err(_) => return Ok(None),
        };
        // Held while we settle it, so two commands never settle the same journal at once.
        if !try_flock(&file) || unlinked(&file) {
            return Ok(None);
        }
        if partial {
            // Its writer died before the journal was whole: no ref had been touched.
            let _ = std::fs::remove_file(path);
            return Ok(Some(Settled::Forgotten));
        }
        let mut text = String::new();
        file.seek(std::io::SeekFrom::Start(0))
            .and_then(|_| file.read_to_string(&mut text))
            .map_err(StoreError::io("could not read", path))?;
        let Some(entries) = parse(&text) else {
            return Ok(Some(Settled::Unreadable));
        };
        let settled = self.settle_entries(&entries)?;
        std::fs::remove_file(path).map_err(StoreError::io("could not remove", path))?;
        Ok(Some(settled))
    }

    /// Roll the change of `entries` forward if any of its refs moved, else forget it; clear the
    /// lock files the dead writer left on its refs.
    fn settle_entries(&self, entries: &[Entry]) -> Result<Settled> {
        for entry in entries {
            // The writer is dead and held these locks: nobody else writes a task's refs
            // while its journal stands (docs/data-model.md#ref-transactions).
            let lock = self.common_dir().join(format!("{}.lock", entry.name));
            if lock.is_file() {
                tracing::warn!(lock = %lock.display(), "removing a ref lock left by a killed git-agent");
                let _ = std::fs::remove_file(&lock);
            }
        }
        let mut moved = false;
        let mut pending = Vec::new();
        for entry in entries {
            let now = self.ref_target(&entry.name)?;
            if entry.old == entry.new {
                continue;
            }
            if now == entry.new {
                moved = true;
            } else if now == entry.old {
                pending.push(entry);
            } else {
                // Changed since by someone else: theirs stands; the rest still lands.
                moved = true;
                tracing::warn!(
                    refname = %entry.name,
                    "left as it is: it changed after the git-agent that was changing it died"
                );
            }
        }
        if !moved {
            return Ok(Settled::Forgotten);
        }
        let edits: Vec<Edit> = pending
            .iter()
            .map(|entry| Edit {
                name: entry.name.clone(),
                expect: Expect::from_option(entry.old),
                new: entry.new,
                message: format!("{} (finished after a crash)", entry.message),
            })
            .collect();
        if !edits.is_empty() {
            self.apply_edits(&edits)?;
        }
        Ok(Settled::Finished(
            pending.iter().map(|e| e.name.clone()).collect(),
        ))
    }

    /// The task the first ref of a journal belongs to, for `fsck`.
    pub(crate) fn journal_task(&self, path: &Path) -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        let entries = parse(&text)?;
        let (slug, _) = super::format::refs::TaskRef::parse(&entries.first()?.name)?;
        Some(slug.to_string())
    }

    /// The journals of writers that are gone, for `fsck` (a command settles them when it
    /// opens the repository; one still here could not be settled).
    pub(crate) fn dead_journals(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(Journal::dir(self)) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.to_str()
                    .is_some_and(|s| s.ends_with(PARTIAL) || s.ends_with(FINAL))
            })
            .filter(|p| Self::journal_is_dead(p))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_reads_back_what_was_written() {
        let a = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
        let b = ObjectId::from_hex(b"2222222222222222222222222222222222222222").unwrap();
        let edits = [
            Edit::update(
                "refs/notes/agent/x".into(),
                Expect::At(a),
                b,
                "notes: a\tmessage\nover lines",
            ),
            Edit::update("refs/agent/x/attic/1".into(), Expect::Absent, a, "attic"),
            Edit::delete("refs/heads/agent/x".into(), b),
        ];
        let entries = parse(&render(&edits)).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].old, Some(a));
        assert_eq!(entries[0].new, Some(b));
        assert_eq!(entries[0].message, "notes: a message over lines");
        assert_eq!(entries[1].old, None);
        assert_eq!(entries[2].new, None);
        assert_eq!(entries[2].name, "refs/heads/agent/x");
    }

    #[test]
    fn anything_else_is_not_a_journal() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("git-agent journal 2\n"), None);
        assert_eq!(parse("git-agent journal 1\n- - refs/heads/x\n"), None);
        assert_eq!(parse("git-agent journal 1\nzz - refs/heads/x\tm\n"), None);
        assert_eq!(parse("git-agent journal 1\n- - HEAD\tm\n"), None);
        assert_eq!(
            parse("git-agent journal 1\n"),
            Some(Vec::new()),
            "an empty change is a journal with nothing to do"
        );
    }
}
