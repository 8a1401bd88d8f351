//! What `git add -A` records for a directory of the worktree that is a repository: a
//! gitlink to the commit its HEAD names. That is a submodule whose HEAD was moved by hand,
//! or a repository made inside the worktree that is no submodule (git adds it too, and warns).
//!
//! The worktree is enemy territory, and so is a repository in it: its HEAD is read as git
//! reads it (a commit id, or a symbolic ref to a loose or a packed ref) but through
//! [`Root`], beneath the directory, never through a link, only regular files of bounded size,
//! so it can make the harness neither read elsewhere nor hang on a FIFO. Nothing of it is
//! opened as a repository (its configuration is never read). A submodule's `.git` is a file
//! naming its repository; it is followed only into the worktree's own modules dir
//! (`<admin>/modules/`), where git keeps the submodules of a linked worktree and where
//! [`super::submodules`] clones them.

use std::path::{Component, Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::index::entry::Mode;
use gix::refs::{FullName, Target};

use crate::beneath::{Kind, Root};

/// The largest `HEAD`, ref or `.git` file read; `packed-refs` may be larger.
const MAX_REF_BYTES: u64 = 4 << 10;
const MAX_PACKED_REFS_BYTES: u64 = 64 << 20;
/// How many symbolic refs are followed, as git's own limit (`SYMREF_MAXDEPTH`).
const MAX_SYMREF_DEPTH: usize = 5;

/// What the HEAD of a repository in the worktree names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) enum Head {
    /// A commit: what the gitlink records.
    Commit(ObjectId),
    /// No `.git` there: not a repository (a submodule that is not checked out).
    Absent,
    /// A repository whose HEAD names no commit yet (`git add` refuses it).
    Unborn,
    /// A repository the harness does not follow, and why.
    NotFollowed(String),
}

/// The HEAD of the repository whose worktree is the directory `dir` of `root`, the task's
/// worktree with its admin dir `admin`.
pub(in crate::store) fn head_at(root: &Root, admin: &Path, dir: &Path) -> Head {
    let dot_git = dir.join(".git");
    match root.kind(&dot_git) {
        Ok(None) => Head::Absent,
        Ok(Some(Kind::Dir)) => resolve_head(root, &dot_git),
        Ok(Some(Kind::File { .. })) => match module_of(root, admin, &dot_git) {
            Ok((admin_root, git_dir)) => resolve_head(&admin_root, &git_dir),
            Err(why) => Head::NotFollowed(why),
        },
        Ok(Some(Kind::Symlink)) => Head::NotFollowed("its .git is a symbolic link".into()),
        Ok(Some(Kind::Special)) => Head::NotFollowed("its .git is not a file".into()),
        Err(err) => Head::NotFollowed(err.to_string()),
    }
}

/// What became of a gitlink of the index in the worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) enum Now {
    /// Its directory, with the recorded commit checked out, or no repository (a submodule
    /// not checked out, or one the harness does not follow): git keeps the gitlink.
    Same,
    /// Its repository's HEAD names another commit.
    Moved(ObjectId),
    /// A file or a link stands there: it is hashed as any file.
    Replaced,
    /// Nothing is there (or only through a link): the gitlink goes.
    Gone,
}

/// The gitlink of the index at `dir` (recording `recorded`), as `git add -A` sees it now.
pub(in crate::store) fn now(root: &Root, admin: &Path, dir: &Path, recorded: ObjectId) -> Now {
    match root.kind(dir) {
        Ok(Some(Kind::Dir)) => match head_at(root, admin, dir) {
            Head::Commit(id) if id != recorded => Now::Moved(id),
            _ => Now::Same,
        },
        Ok(Some(Kind::File { .. } | Kind::Symlink)) => Now::Replaced,
        _ => Now::Gone,
    }
}

/// A repository the walk passed by that the index does not hold as a gitlink: the gitlink
/// `git add -A` would add for it (`git add` warns about it, and so does the snapshot), or
/// `None` with a warning saying why it is left out. A directory holding tracked files is
/// no gitlink for git either (it walks into it); the walk does not, so it stays as it is.
pub(in crate::store) fn added(
    index: &gix::index::File,
    root: &Root,
    admin: &Path,
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Option<(BString, ObjectId)> {
    let path = gix::path::into_bstr(dir).ok()?.into_owned();
    if index
        .entry_index_by_path(path.as_ref())
        .is_ok_and(|i| index.entries()[i].mode == Mode::COMMIT)
    {
        return None;
    }
    let mut prefix = path.clone();
    prefix.push(b'/');
    if index
        .prefixed_entries_range(prefix.as_ref())
        .is_some_and(|r| !r.is_empty())
    {
        return None;
    }
    match head_at(root, admin, dir) {
        Head::Commit(id) => {
            warnings.push(format!(
                "{path}/: a git repository inside the worktree, not a submodule: recorded as a \
                 gitlink to its commit {} (as `git add` records it, with a warning), not as its \
                 files. To commit its files instead, remove {path}/.git; to leave it out, add \
                 {path}/ to .gitignore",
                id.to_hex_with_len(8)
            ));
            Some((path, id))
        }
        Head::Unborn => {
            warnings.push(format!(
                "{path}/: a git repository inside the worktree with no commit yet: left out \
                 (`git add` refuses it). Commit in it, remove {path}/.git, or add {path}/ to \
                 .gitignore"
            ));
            None
        }
        Head::NotFollowed(why) => {
            warnings.push(format!(
                "{path}/: a git repository inside the worktree left out: {why}. Remove \
                 {path}/.git, or add {path}/ to .gitignore"
            ));
            None
        }
        Head::Absent => None,
    }
}

/// The repository a `.git` file names, when it lies in the worktree's own modules dir: a
/// root there and the repository's path beneath it.
fn module_of(root: &Root, admin: &Path, gitfile: &Path) -> Result<(Root, PathBuf), String> {
    let text = root
        .read(gitfile, MAX_REF_BYTES)
        .map_err(|e| e.to_string())?;
    let named = text
        .strip_prefix(b"gitdir:")
        .map(|rest| rest.trim())
        .and_then(|path| path.to_path().ok())
        .ok_or("its .git file names no repository")?;
    // git writes the path relative to the directory when `submodule.useRelativePaths`
    // (or an older git) says so; `..` is resolved by name, and what it reaches is read
    // beneath the admin dir without following a link, so a wrong turn reads only our own.
    let base = root.path().join(gitfile.parent().unwrap_or(Path::new("")));
    let named = gix::path::normalize(base.join(named).into(), Path::new("/"))
        .map(|path| path.into_owned())
        .ok_or("its .git file names no repository")?;
    let modules = admin.join("modules");
    let real_modules = modules.canonicalize().unwrap_or_else(|_| modules.clone());
    let beneath = [&modules, &real_modules]
        .into_iter()
        .find_map(|base| named.strip_prefix(base).ok())
        .filter(|rest| {
            rest.components().next().is_some()
                && rest.components().all(|c| matches!(c, Component::Normal(_)))
        })
        .ok_or_else(|| {
            format!(
                "its .git file names {}, outside this worktree's submodules",
                named.display()
            )
        })?;
    let admin_root = Root::open(admin).map_err(|e| e.to_string())?;
    Ok((admin_root, Path::new("modules").join(beneath)))
}

/// Follow `HEAD` of the repository `git_dir` (beneath `root`) to a commit id.
fn resolve_head(root: &Root, git_dir: &Path) -> Head {
    let hash = gix::hash::Kind::Sha1;
    let mut name = FullName::try_from("HEAD").ok();
    for _ in 0..=MAX_SYMREF_DEPTH {
        let Some(current) = name.take() else {
            break;
        };
        let path = git_dir.join(current.as_bstr().to_path_lossy());
        match root.read(&path, MAX_REF_BYTES) {
            Ok(bytes) => {
                match gix::refs::file::loose::Reference::try_from_path(current, &bytes, hash) {
                    Ok(reference) => match reference.target {
                        Target::Object(id) => return Head::Commit(id),
                        Target::Symbolic(next) => name = Some(next),
                    },
                    Err(_) => {
                        return Head::NotFollowed(format!("{} cannot be read", path.display()));
                    }
                }
            }
            Err(err) if err.is_not_found() => return packed(root, git_dir, &current, hash),
            Err(err) => return Head::NotFollowed(err.to_string()),
        }
    }
    Head::NotFollowed("its HEAD is a chain of too many symbolic refs".into())
}

/// `name` in the repository's `packed-refs`, or [`Head::Unborn`].
fn packed(root: &Root, git_dir: &Path, name: &FullName, hash: gix::hash::Kind) -> Head {
    let bytes = match root.read(&git_dir.join("packed-refs"), MAX_PACKED_REFS_BYTES) {
        Ok(bytes) => bytes,
        Err(err) if err.is_not_found() => return Head::Unborn,
        Err(err) => return Head::NotFollowed(err.to_string()),
    };
    let found = gix::refs::packed::Buffer::from_bytes(&bytes, hash)
        .ok()
        .and_then(|buffer| {
            buffer
                .try_find(name.as_ref())
                .ok()
                .flatten()
                .map(|r| r.target())
        });
    found.map_or(Head::Unborn, Head::Commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let root = Root::open(dir.path()).unwrap();
        (dir, root)
    }

    const ID: &str = "0123456789012345678901234567890123456789";

    fn commit() -> Head {
        Head::Commit(ObjectId::from_hex(ID.as_bytes()).unwrap())
    }

    #[test]
    fn heads_are_followed_as_git_follows_them() {
        let admin = Path::new("/nowhere");
        let detached = [("sub/.git/HEAD", &*format!("{ID}\n"))];
        let (_d, root) = root_with(&detached);
        assert_eq!(head_at(&root, admin, Path::new("sub")), commit());
        let loose = [
            ("sub/.git/HEAD", "ref: refs/heads/main\n"),
            ("sub/.git/refs/heads/main", &*format!("{ID}\n")),
        ];
        let (_d, root) = root_with(&loose);
        assert_eq!(head_at(&root, admin, Path::new("sub")), commit());
        let packed = [
            ("sub/.git/HEAD", "ref: refs/heads/main\n"),
            (
                "sub/.git/packed-refs",
                &*format!("# pack-refs with: peeled fully-peeled sorted\n{ID} refs/heads/main\n"),
            ),
        ];
        let (_d, root) = root_with(&packed);
        assert_eq!(head_at(&root, admin, Path::new("sub")), commit());
        let (_d, root) = root_with(&[("sub/.git/HEAD", "ref: refs/heads/main\n")]);
        assert_eq!(head_at(&root, admin, Path::new("sub")), Head::Unborn);
        let (_d, root) = root_with(&[("sub/file", "x")]);
        assert_eq!(head_at(&root, admin, Path::new("sub")), Head::Absent);
    }

    #[test]
    fn hostile_heads_are_not_followed() {
        let admin = Path::new("/nowhere");
        let escape = [("sub/.git/HEAD", "ref: ../../../etc/passwd\n")];
        let (_d, root) = root_with(&escape);
        assert!(matches!(
            head_at(&root, admin, Path::new("sub")),
            Head::NotFollowed(_)
        ));
        let (dir, root) = root_with(&[("sub/x", "")]);
        std::os::unix::fs::symlink("/etc", dir.path().join("sub/.git")).unwrap();
        assert!(matches!(
            head_at(&root, admin, Path::new("sub")),
            Head::NotFollowed(_)
        ));
        let (dir, root) = root_with(&[("sub/.git/x", "")]);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("sub/.git/HEAD"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            head_at(&root, admin, Path::new("sub")),
            Head::NotFollowed(_)
        ));
        let elsewhere = [("sub/.git", "gitdir: /etc\n")];
        let (_d, root) = root_with(&elsewhere);
        assert!(matches!(
            head_at(&root, admin, Path::new("sub")),
            Head::NotFollowed(_)
        ));
        let climbing = [("sub/.git", "gitdir: /nowhere/modules/../../etc\n")];
        let (_d, root) = root_with(&climbing);
        assert!(matches!(
            head_at(&root, admin, Path::new("sub")),
            Head::NotFollowed(_)
        ));
    }

    #[test]
    fn a_submodule_is_read_from_the_worktrees_own_modules_dir() {
        let (admin_dir, _) = root_with(&[("modules/lib/HEAD", &*format!("{ID}\n"))]);
        let gitfile = format!("gitdir: {}/modules/lib\n", admin_dir.path().display());
        let (_d, root) = root_with(&[("lib/.git", &*gitfile)]);
        assert_eq!(head_at(&root, admin_dir.path(), Path::new("lib")), commit());
    }
}
