//! One file per subcommand; this module dispatches and holds what they share.

mod attempts;
mod bisect;
mod checkpoint;
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
mod models;
mod plan;
mod remote;
pub mod report;
mod rollback;
mod say;
mod serve;
mod session;
mod start;
mod status;
mod stop;
mod trust;
mod update;
mod watch;

use std::io::Write;
use std::path::PathBuf;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::Exit;
use crate::store::Store;

/// What every command gets: the global flags and where it runs.
pub struct Context {
    pub global: GlobalArgs,
    pub cwd: PathBuf,
}

impl Context {
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::discover(&self.cwd)?)
    }

    /// Progress and notices for people, on stderr, unless `-q` or `--json`; every control
    /// character shown, not obeyed (src/text/terminal.rs): they quote tasks, models and remotes.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.global.quiet && !self.global.json {
            eprintln!("{}", crate::text::terminal::block(text.as_ref()));
        }
    }

    /// What a command has to tell beyond its result (a setting it changed, a submodule left
    /// empty): `note:` on stderr, or a `notice` object with `--json`; nothing with `-q`.
    pub fn note(&self, text: impl AsRef<str>) {
        if self.global.quiet {
            return;
        }
        if self.global.json {
            self.json(&serde_json::json!({"type": "notice", "text": text.as_ref()}));
        } else {
            eprintln!("note: {}", text.as_ref());
        }
    }

    /// Warnings on stderr, unless `-q` (with `--json` too: stdout stays JSON).
    pub fn warn(&self, warnings: &[crate::config::Warning]) {
        if self.global.quiet {
            return;
        }
        for warning in warnings {
            eprintln!(
                "warning: {}",
                crate::text::terminal::block(&warning.message)
            );
            if let Some(hint) = &warning.hint {
                eprintln!("hint: {}", crate::text::terminal::block(hint));
            }
        }
    }

    /// A result line on stdout, every control character shown, not obeyed (src/text/terminal.rs):
    /// what it prints quotes goals, plans, commit messages and remotes. Lines it is given as
    /// one text stay lines. With `--json` stdout holds JSON lines only: a text that a command
    /// has no JSON form for goes out as a `text` object rather than break a reader.
    pub fn out(&self, text: impl AsRef<str>) {
        if self.global.json {
            self.json(&serde_json::json!({"type": "text", "text": text.as_ref()}));
        } else {
            self.out_raw(crate::text::terminal::block(text.as_ref()));
        }
    }

    /// Text on stdout as it is: lines built from parts already passed through
    /// `text::terminal` and this program's own colours.
    pub fn out_raw(&self, text: impl AsRef<str>) {
        write_stdout(text.as_ref());
    }

    /// One JSON value on one line of stdout.
    pub fn json(&self, value: &serde_json::Value) {
        write_stdout(&value.to_string());
    }

    /// An application view on stdout as one JSON line, with its `type` (what `--json`
    /// prints; the MCP server returns the same view without it).
    pub fn view(&self, kind: &str, view: &impl serde::Serialize) -> anyhow::Result<()> {
        let mut value = serde_json::to_value(view)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("type".to_string(), kind.into());
        }
        self.json(&value);
        Ok(())
    }

    /// Lines that are JSON already (a run log's events, a table built as JSON), on stdout.
    pub fn json_lines(&self, lines: &str) {
        write_stdout(lines);
    }
}

fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// The task a command that only shows something means: as [`Store::which_task`] chooses;
/// when several could be meant and none is named or checked out, the most recently active,
/// saying so on stderr (a command that changes things refuses instead:
/// [`Store::resolve_slug_to_change`]).
pub fn task_to_show(ctx: &Context, store: &Store, given: Option<&str>) -> anyhow::Result<String> {
    let (slug, chosen) = store.which_task(given)?;
    if let crate::store::Chosen::Newest { candidates } = &chosen
        && !ctx.global.quiet
    {
        let others: Vec<&str> = candidates
            .iter()
            .map(String::as_str)
            .filter(|c| *c != slug)
            .collect();
        eprintln!(
            "note: showing {slug}, the most recently active of {} tasks (also: {}); name one to choose",
            candidates.len(),
            crate::text::first_line(&others.join(", "), 200)
        );
    }
    Ok(slug)
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
        Command::Stop(args) => stop::cmd_stop(&ctx, args),
        Command::Plan(args) => plan::cmd_plan(&ctx, args),
        Command::Compare(args) => attempts::cmd_compare(&ctx, args),
        Command::Pick(args) => attempts::cmd_pick(&ctx, args),
        Command::Bisect(args) => bisect::cmd_bisect(&ctx, args),
        Command::Watch(args) => watch::cmd_watch(&ctx, args),
        Command::Fsck(args) => fsck::cmd_fsck(&ctx, args),
        Command::Config => misc::cmd_config(&ctx),
        Command::Models => models::cmd_models(&ctx),
        Command::Trust(args) => trust::cmd_trust(&ctx, args),
        Command::Demo(args) => demo::cmd_demo(&ctx, args),
        Command::Completions(args) => misc::cmd_completions(&ctx, args),
        Command::InstallMan(args) => install::cmd_install_man(&ctx, args),
        Command::Tasks => misc::cmd_tasks(&ctx),
        Command::Mcp => mcp::cmd_mcp(&ctx),
        Command::Serve(args) => serve::cmd_serve(&ctx, args),
    }
}

pub use crate::text::first_line;

pub(crate) use crate::app::{short, task_worktree, visible};

/// The CLI's notices: progress on stderr as [`Context::say`] prints it, warnings as
/// [`Context::warn`] does.
impl crate::app::Notices for Context {
    fn say(&self, text: &str) {
        Context::say(self, text);
    }
    fn warn(&self, warnings: &[crate::config::Warning]) {
        Context::warn(self, warnings);
    }
}
