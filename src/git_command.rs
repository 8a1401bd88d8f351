//! The one way this crate starts `git`: always on a repository named explicitly
//! (`--git-dir`, and `--work-tree` when there is one), never one git discovers from its
//! working directory. Discovery reads the `.git` it finds, and in a worktree a command the
//! model ran can replace that `.git` by a repository whose config runs a program
//! (`core.fsmonitor`), which the harness's next `git` would then run outside the sandbox.
//!
//! - [`GitCommand::new`]: the user's own repository (or one this program made), with its
//!   config and hooks, as `git` run there would have them.
//! - [`GitCommand::untrusted`]: a worktree a command ran in (a bisect's scratch): also no
//!   monitor, no hooks, and no variable of the environment that could name another
//!   repository.
//! - [`GitCommand::outside`]: a command that needs no repository (`clone`, `init`), from a
//!   directory of ours, with no variable naming one.
//!
//! tests/it/git_invocations.rs checks that no other code starts `git` or opens a repository
//! by discovery.

use std::ffi::OsString;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Command, Stdio};

/// The environment variables that point git at a repository, an index or a configuration
/// other than the one named.
pub(crate) const GIT_LOCAL_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
];

/// `git` on a named repository; a [`Command`] otherwise (it derefs to one).
pub struct GitCommand(Command);

impl GitCommand {
    /// git on the repository whose git dir is `git_dir`, working in `work_tree` (run there)
    /// when given, else run in the git dir.
    pub fn new(git_dir: &Path, work_tree: Option<&Path>) -> GitCommand {
        let mut cmd = Command::new("git");
        cmd.arg(flag("--git-dir=", git_dir));
        match work_tree {
            Some(work_tree) => {
                cmd.arg(flag("--work-tree=", work_tree))
                    .current_dir(work_tree);
            }
            None => {
                cmd.current_dir(git_dir);
            }
        }
        GitCommand(cmd)
    }

    /// [`GitCommand::new`] for a worktree that commands ran in: no `core.fsmonitor`, no
    /// hooks, and none of [`GIT_LOCAL_ENV`] from our environment; stdin closed.
    pub fn untrusted(git_dir: &Path, work_tree: Option<&Path>) -> GitCommand {
        let mut git = GitCommand::new(git_dir, work_tree);
        for var in GIT_LOCAL_ENV {
            git.env_remove(var);
        }
        git.args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .stdin(Stdio::null());
        git
    }

    /// git for a command that makes a repository (`clone`, `init`) and reads none, run in
    /// `dir` (a directory of ours), with none of [`GIT_LOCAL_ENV`].
    pub fn outside(dir: &Path) -> GitCommand {
        let mut cmd = Command::new("git");
        for var in GIT_LOCAL_ENV {
            cmd.env_remove(var);
        }
        cmd.current_dir(dir);
        GitCommand(cmd)
    }
}

fn flag(name: &str, path: &Path) -> OsString {
    let mut flag = OsString::from(name);
    flag.push(path);
    flag
}

impl Deref for GitCommand {
    type Target = Command;

    fn deref(&self) -> &Command {
        &self.0
    }
}

impl DerefMut for GitCommand {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.0
    }
}

/// What git printed when it failed: its error output, else its output, else its exit status,
/// so a message is never empty.
pub fn output_detail(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if !stderr.is_empty() {
        return stderr;
    }
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !stdout.is_empty() {
        return stdout;
    }
    format!("git exited with {} and printed nothing", output.status)
}
