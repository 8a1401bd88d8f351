//! One file per subcommand; this module dispatches and holds what they share.

pub mod advice;
mod attempts;
mod bisect;
mod checkpoint;
mod checks;
mod demo;
mod diff;
mod drop;
mod fleet;
mod fsck;
mod install;
mod list;
mod log;
mod mcp;
mod merge;
mod misc;
mod plan;
mod remote;
mod rollback;
mod say;
mod session;
mod start;
mod status;
mod trust;
mod update;
mod watch;

use std::io::Write;
use std::path::PathBuf;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::Exit;
use crate::store::{Store, Task};

/// What every command gets: the global flags and where it runs.
pub struct Context {
    pub global: GlobalArgs,
    pub cwd: PathBuf,
}

impl Context {
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::discover(&self.cwd)?)
    }

    /// Progress and notices for people, on stderr, unless `-q` or `--json`.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.global.quiet && !self.global.json {
            eprintln!("{}", text.as_ref());
        }
    }

    /// Warnings on stderr, unless `-q` (with `--json` too: stdout stays JSON).
    pub fn warn(&self, warnings: &[crate::config::Warning]) {
        if self.global.quiet {
            return;
        }
        for warning in warnings {
            eprintln!("warning: {}", warning.message);
            if let Some(hint) = &warning.hint {
                eprintln!("hint: {hint}");
            }
        }
    }

    /// A result line on stdout.
    pub fn out(&self, text: impl AsRef<str>) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", text.as_ref());
    }

    /// One JSON value on one line of stdout.
    pub fn json(&self, value: &serde_json::Value) {
        self.out(value.to_string());
    }
}

/// The worktree a task works in: the user's checkout for `--here`, else its private one.
pub fn task_worktree(store: &Store, task: &Task, here: bool) -> anyhow::Result<Option<PathBuf>> {
    if here {
        return Ok(Some(store.workdir()?.to_path_buf()));
    }
    let path = store.worktree_path(&task.slug);
    Ok(path.join(".git").is_file().then_some(path))
}

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let cwd = match &cli.global.directory {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let ctx = Context {
        global: cli.global,
        cwd,
    };
    match cli.command {
        Command::Start(args) => start::cmd_start(&ctx, args),
        Command::Resume(args) => start::cmd_resume(&ctx, args),
        Command::Rollback(args) => rollback::cmd_rollback(&ctx, args),
        Command::Checkpoint(args) => checkpoint::cmd_checkpoint(&ctx, args),
        Command::List => list::cmd_list(&ctx),
        Command::Status(args) => status::cmd_status(&ctx, args),
        Command::Log(args) => log::cmd_log(&ctx, args),
        Command::Diff(args) => diff::cmd_diff(&ctx, args),
        Command::Merge(args) => merge::cmd_merge(&ctx, args),
        Command::Update(args) => update::cmd_update(&ctx, args),
        Command::Drop(args) => drop::cmd_drop(&ctx, args),
        Command::Push(args) => remote::cmd_push(&ctx, args),
        Command::Pull(args) => remote::cmd_pull(&ctx, args),
        Command::Queue(args) => fleet::cmd_queue(&ctx, args),
        Command::Worker(args) => fleet::cmd_worker(&ctx, args),
        Command::Say(args) => say::cmd_say(&ctx, args),
        Command::Plan(args) => plan::cmd_plan(&ctx, args),
        Command::Compare(args) => attempts::cmd_compare(&ctx, args),
        Command::Pick(args) => attempts::cmd_pick(&ctx, args),
        Command::Bisect(args) => bisect::cmd_bisect(&ctx, args),
        Command::Watch(args) => watch::cmd_watch(&ctx, args),
        Command::Fsck(args) => fsck::cmd_fsck(&ctx, args),
        Command::Config => misc::cmd_config(&ctx),
        Command::Trust(args) => trust::cmd_trust(&ctx, args),
        Command::Demo(args) => demo::cmd_demo(&ctx, args),
        Command::Completions(args) => misc::cmd_completions(&ctx, args),
        Command::InstallMan(args) => install::cmd_install_man(&ctx, args),
        Command::Mcp => mcp::cmd_mcp(&ctx),
    }
}

pub use crate::text::first_line;

pub(crate) fn short(id: gix::ObjectId) -> String {
    id.to_hex_with_len(8).to_string()
}
