//! Paths of a worktree as a capture sees them, shared by the snapshot, the watch, the index
//! and the checkout: which paths a scoped checkpoint reaches (`parent_dirs`, `within`,
//! `leads_to`), which files git's ignore rules read beyond the worktree's own (`excludes`,
//! `excludes_file`), which path names git accepts (`path_options`), and the error of a path
//! refused beneath the worktree (`beneath_err`).
//!
//! A leaf: it calls nothing of the store but its error type.

use std::collections::BTreeSet;
use std::path::Path;

use gix::bstr::{BStr, BString, ByteSlice, ByteVec};

use crate::beneath::BeneathError;
use crate::store::StoreError;
use crate::walk::generated::Generated;

/// Every directory holding one of `paths`, and their parents; `""` is the top.
pub(crate) fn parent_dirs<'p>(paths: impl Iterator<Item = &'p BStr>) -> BTreeSet<BString> {
    let mut dirs = BTreeSet::new();
    for path in paths {
        dirs.insert(BString::default());
        let mut end = path.len();
        while let Some(slash) = path[..end].rfind_byte(b'/') {
            if !dirs.insert(path[..slash].to_owned()) {
                break;
            }
            end = slash;
        }
    }
    dirs
}

/// Whether `path` is one of `scope` or lies beneath one of them.
pub(crate) fn within(scope: &BTreeSet<BString>, path: &[u8]) -> bool {
    if scope.contains(path) {
        return true;
    }
    let mut end = path.len();
    while let Some(slash) = path[..end].rfind_byte(b'/') {
        if scope.contains(&path[..slash]) {
            return true;
        }
        end = slash;
    }
    false
}

/// Whether a walk must enter the directory `dir` to reach `scope`: it is in the scope, lies
/// beneath a path of it, or holds one.
pub(crate) fn leads_to(scope: &BTreeSet<BString>, dir: &[u8]) -> bool {
    if dir.is_empty() || within(scope, dir) {
        return true;
    }
    let mut prefix = BString::from(dir);
    prefix.push_byte(b'/');
    scope
        .range(prefix.clone()..)
        .next()
        .is_some_and(|first| first.starts_with(&prefix))
}

/// The exclude rules of the worktree `workdir` of `repo` beyond its own ignore files.
pub(crate) fn excludes(
    repo: &gix::Repository,
    workdir: &Path,
    generated: &Generated,
) -> crate::walk::Excludes {
    crate::walk::Excludes {
        file: excludes_file(repo, workdir),
        generated: generated.clone(),
    }
}

/// The file of `core.excludesFile`, as git finds it: the repository's configuration (any
/// level), else `$XDG_CONFIG_HOME/git/ignore` or `~/.config/git/ignore`.
pub(crate) fn excludes_file(repo: &gix::Repository, workdir: &Path) -> Option<std::path::PathBuf> {
    let configured = repo
        .config_snapshot()
        .trusted_path("core.excludesFile")
        .ok()
        .flatten();
    let path = configured.or_else(|| {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
        Some(base.join("git").join("ignore"))
    })?;
    Some(workdir.join(path))
}

/// gix's path validation options.
pub(crate) type PathOptions = gix::validate::path::component::Options;

/// Path validation as git does it on this platform, for `repo` (see `Store::path_options`): one owner for what every tree read for a worktree
/// accepts.
pub(crate) fn path_options(repo: &gix::Repository) -> PathOptions {
    let config = repo.config_snapshot();
    PathOptions {
        protect_windows: cfg!(windows),
        protect_hfs: config
            .boolean("core.protectHFS")
            .unwrap_or(cfg!(target_os = "macos")),
        protect_ntfs: config.boolean("core.protectNTFS").unwrap_or(true),
    }
}

pub(crate) fn beneath_err(root: &Path) -> impl Fn(BeneathError) -> StoreError {
    let root = root.to_path_buf();
    move |err| StoreError::Git {
        context: format!("in the worktree {}", root.display()),
        source: err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(paths: &[&str]) -> BTreeSet<BString> {
        paths.iter().map(|p| BString::from(*p)).collect()
    }

    #[test]
    fn a_scope_reaches_its_paths_and_what_lies_beneath_them() {
        let s = scope(&["a/b/c.txt", "d"]);
        assert!(within(&s, b"a/b/c.txt"));
        assert!(within(&s, b"d/e/f"));
        assert!(!within(&s, b"a/b/c.txt2"));
        assert!(!within(&s, b"a/b"));
        assert!(leads_to(&s, b""));
        assert!(leads_to(&s, b"a"));
        assert!(leads_to(&s, b"a/b"));
        assert!(leads_to(&s, b"d/e"));
        assert!(!leads_to(&s, b"a/bb"));
        assert!(!leads_to(&s, b"ab"));
        assert!(!leads_to(&s, b"e"));
    }
}
