//! The index of a task's worktree: read and written as git reads and writes it, and the tree
//! it stands for.
//!
//! A snapshot edits the tip's tree at the paths that changed, which is right only while the
//! index holds exactly the tip's tree. git commands typed in the worktree break that
//! (`git add`, `git add -f`, `git rm --cached` change the index; `git reset --soft` moves the
//! tip). The index says which tree it holds the way git's own index does: the root of its
//! cache-tree extension (`TREE`), the tree id and the number of entries it covers. Every
//! writer here records it, and git invalidates it at every change it makes to the index, so
//! a valid root equal to the tip proves the index holds the tip; anything else makes the
//! snapshot compare the index with the tip first ([`drift`]).
//!
//! Only the root is written, not the cache tree of each directory: computing those would
//! read every tree of the tip on every checkpoint. git rebuilds what it needs at its next
//! `write-tree` (`git write-tree --prefix` alone finds no cached directory before that).

use std::collections::BTreeMap;
use std::io::Write;

use gix::ObjectId;
use gix::bstr::BString;
use gix::index::entry::Mode;

use crate::store::{Result, StoreError};

/// The worktree's index as it is on disk. Its trailing checksum is not verified, as git does
/// not verify it on reading either (only `git fsck` does): hashing the whole file would make
/// every checkpoint cost the size of the tree.
pub(in crate::store) fn read(repo: &gix::Repository) -> Result<gix::index::File, gix::Error> {
    gix::index::File::at(
        repo.index_path(),
        repo.object_hash(),
        true,
        gix::index::decode::Options::default(),
    )
}

/// The tree the index holds by its own account: the valid root of its cache tree, covering
/// every entry, with no conflict among them.
pub(in crate::store) fn holds(state: &gix::index::State) -> Option<ObjectId> {
    let root = state.tree()?;
    let count = usize::try_from(root.num_entries?).ok()?;
    let whole = root.name.is_empty()
        && count == state.entries().len()
        && state.entries().iter().all(|e| e.stage_raw() == 0);
    whole.then_some(root.id)
}

/// Write `state` to `path` under `index.lock`, as git does: the entries as gix serializes
/// them, the root of the cache tree saying it holds `tree` (when it does), then git's
/// trailing SHA-1 of those bytes. The checksum guards against a torn file, not an attacker,
/// so it needs no collision detection (git's `index.skipHash` leaves it out altogether);
/// gix's collision-detecting SHA-1 made it most of a checkpoint's cost at 100k files.
pub(in crate::store) fn write(
    state: &gix::index::State,
    path: &std::path::Path,
    tree: Option<ObjectId>,
) -> Result<()> {
    use sha1::Digest;
    let failed = |err: Box<dyn std::error::Error + Send + Sync>| StoreError::Git {
        context: format!("could not write the index {}", path.display()),
        source: err,
    };
    let mut bytes = Vec::with_capacity(state.entries().len() * 96 + 4096);
    // gix writes a cache tree only as it was read, and the end-of-entries extension would
    // have to count the one appended here: both are left to this function.
    let options = gix::index::write::Options {
        extensions: gix::index::write::Extensions::Given {
            tree_cache: false,
            end_of_index_entry: false,
        },
        skip_hash: false,
    };
    state
        .write_to(&mut bytes, options)
        .map_err(|err| failed(err.into()))?;
    if let Some(tree) = tree {
        let root = gix::index::extension::Tree {
            name: Default::default(),
            id: tree,
            num_entries: Some(
                u32::try_from(state.entries().len()).map_err(|err| failed(err.into()))?,
            ),
            children: Vec::new(),
        };
        root.write_to(&mut bytes)
            .map_err(|err| failed(err.into()))?;
    }
    let checksum = sha1::Sha1::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    let mut lock = gix::lock::File::acquire_to_update_resource(
        path,
        gix::lock::acquire::Fail::Immediately,
        None,
        0,
    )
    .map_err(|err| failed(err.into()))?;
    lock.write_all(&bytes).map_err(|err| failed(err.into()))?;
    lock.commit().map_err(|err| failed(err.error.into()))?;
    Ok(())
}

/// An entry as a tree records it.
pub(in crate::store) type Recorded = (Mode, ObjectId);

/// A path where the index and a tree differ, with its state in each (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) struct Drifted {
    pub path: BString,
    pub in_tree: Option<Recorded>,
    pub in_index: Option<Recorded>,
}

/// Where the index and `tree` differ, in path order. Conflicted entries count as absent
/// from the index.
pub(in crate::store) fn drift(
    repo: &gix::Repository,
    state: &gix::index::State,
    tree: ObjectId,
) -> Result<Vec<Drifted>> {
    let of_tree =
        gix::index::State::from_tree(&tree, &repo.objects, super::paths::path_options(repo))
            .map_err(|err| StoreError::Git {
                context: "could not read the task's tree".into(),
                source: err.into(),
            })?;
    let staged = |s: &gix::index::State| -> Vec<(BString, Recorded)> {
        s.entries()
            .iter()
            .filter(|e| e.stage_raw() == 0)
            .map(|e| (e.path(s).to_owned(), (e.mode, e.id)))
            .collect()
    };
    let mut in_tree: BTreeMap<BString, Recorded> = staged(&of_tree).into_iter().collect();
    let mut drift = Vec::new();
    for (path, in_index) in staged(state) {
        let was = in_tree.remove(&path);
        if was != Some(in_index) {
            drift.push(Drifted {
                path,
                in_tree: was,
                in_index: Some(in_index),
            });
        }
    }
    drift.extend(in_tree.into_iter().map(|(path, was)| Drifted {
        path,
        in_tree: Some(was),
        in_index: None,
    }));
    drift.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(drift)
}
