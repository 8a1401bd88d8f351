use git_agent::policy::{PathError, confine, confine_for_write};
use pretty_assertions::assert_eq;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

/// A real repository with a task worktree where the harness puts it:
/// `<repo>/.git/agent/worktrees/x`, holding a `.git` file like a linked worktree.
struct Layout {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    worktree: PathBuf,
}

fn layout() -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir(&repo).unwrap();
    crate::support::git(&repo, &["init", "-q"]);
    let worktree = repo.join(".git/agent/worktrees/x");
    fs::create_dir_all(worktree.join("src")).unwrap();
    fs::write(worktree.join(".git"), "gitdir: ../../../worktrees/x\n").unwrap();
    fs::write(worktree.join("src/lib.rs"), "fn x() {}\n").unwrap();
    let worktree = worktree.canonicalize().unwrap();
    Layout {
        _dir: dir,
        repo: repo.canonicalize().unwrap(),
        worktree,
    }
}

fn err(result: Result<PathBuf, PathError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn paths_inside_the_worktree_resolve() {
    let l = layout();
    assert_eq!(
        confine(&l.worktree, "src/lib.rs").unwrap(),
        l.worktree.join("src/lib.rs")
    );
    assert_eq!(
        confine(&l.worktree, "./src/../src/lib.rs").unwrap(),
        l.worktree.join("src/lib.rs")
    );
    assert_eq!(
        confine(&l.worktree, "new/dir/file.txt").unwrap(),
        l.worktree.join("new/dir/file.txt")
    );
    assert_eq!(confine(&l.worktree, "").unwrap(), l.worktree);
    symlink("src/lib.rs", l.worktree.join("alias.rs")).unwrap();
    assert_eq!(
        confine_for_write(&l.worktree, "alias.rs").unwrap(),
        l.worktree.join("src/lib.rs")
    );
}

#[test]
fn dot_dot_escaping_is_refused() {
    let l = layout();
    let error = confine(&l.worktree, "../../../config").unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "path `../../../config` resolves outside the worktree (to `{}`)",
            l.repo.join(".git/config").display()
        )
    );
    assert_eq!(
        err(confine(
            &l.worktree,
            "src/../../x/../../../hooks/pre-commit"
        )),
        format!(
            "path `src/../../x/../../../hooks/pre-commit` resolves outside the worktree (to `{}`)",
            l.repo.join(".git/hooks/pre-commit").display()
        )
    );
}

#[test]
fn absolute_paths_are_refused() {
    let l = layout();
    assert_eq!(
        err(confine(&l.worktree, "/etc/passwd")),
        "path `/etc/passwd` is absolute; give a path relative to the worktree"
    );
    let inside = l.worktree.join("src/lib.rs");
    assert!(matches!(
        confine(&l.worktree, inside.to_str().unwrap()),
        Err(PathError::Absolute { .. })
    ));
}

#[test]
fn symlinks_leading_out_are_refused() {
    let l = layout();
    let outside = l.repo.join("user-file.txt");
    fs::write(&outside, "user's\n").unwrap();
    symlink(&outside, l.worktree.join("abs-link")).unwrap();
    symlink("../../../../user-file.txt", l.worktree.join("src/rel-link")).unwrap();
    symlink(&l.repo, l.worktree.join("checkout")).unwrap();
    symlink(l.repo.join("missing-target"), l.worktree.join("dangling")).unwrap();
    for path in [
        "abs-link",
        "src/rel-link",
        "checkout/user-file.txt",
        "dangling",
        "checkout/new-file",
    ] {
        let error = confine(&l.worktree, path).unwrap_err();
        assert!(
            matches!(error, PathError::Escapes { .. }),
            "{path}: {error}"
        );
        let error = confine_for_write(&l.worktree, path).unwrap_err();
        assert!(
            matches!(error, PathError::Escapes { .. }),
            "{path}: {error}"
        );
    }
    assert_eq!(
        err(confine_for_write(&l.worktree, "abs-link")),
        format!(
            "path `abs-link` resolves outside the worktree (to `{}`)",
            outside.display()
        )
    );
    assert_eq!(fs::read_to_string(&outside).unwrap(), "user's\n");
}

#[test]
fn symlink_loops_are_refused() {
    let l = layout();
    symlink("b", l.worktree.join("a")).unwrap();
    symlink("a", l.worktree.join("b")).unwrap();
    assert_eq!(
        err(confine(&l.worktree, "a")),
        "path `a` has too many levels of symbolic links"
    );
}

#[test]
fn anything_inside_dot_git_is_refused() {
    let l = layout();
    let message = |p: &str| {
        format!(
            "path `{p}` is inside `.git`; the repository's metadata belongs to the harness, not to the agent"
        )
    };
    for path in [
        ".git",
        ".git/config",
        "sub/.git/HEAD",
        "src/../.git",
        ".GIT",
    ] {
        assert_eq!(err(confine(&l.worktree, path)), message(path));
    }
    symlink(".git", l.worktree.join("g")).unwrap();
    assert_eq!(err(confine_for_write(&l.worktree, "g")), message("g"));
    // The worktree itself lives under `$GIT_DIR`; only components below it count.
    assert!(l.worktree.components().any(|c| c.as_os_str() == ".git"));
    assert_eq!(confine(&l.worktree, "src").unwrap(), l.worktree.join("src"));
}

#[test]
fn writing_a_file_hard_linked_elsewhere_is_refused() {
    let l = layout();
    let outside = l.repo.join("outside.txt");
    fs::write(&outside, "x").unwrap();
    fs::hard_link(&outside, l.worktree.join("linked.txt")).unwrap();
    assert_eq!(
        err(confine_for_write(&l.worktree, "linked.txt")),
        "path `linked.txt` is a file with other hard links; writing it would change a file elsewhere"
    );
    assert_eq!(
        confine(&l.worktree, "linked.txt").unwrap(),
        l.worktree.join("linked.txt")
    );
}
