//! Command-line definitions (clap). They also feed the man page and shell completions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "git-agent",
    bin_name = "git agent",
    version,
    about = "An autonomous coding agent that keeps every piece of its state in git",
    long_about = "git-agent plans a goal, works through the plan in small steps and records every \
step as a commit on the task's agent/<slug> branch, with the plan and per-step records in git \
notes. History is the only state file: review with plain `git log agent/<slug>`, resume after a \
crash with `git agent resume`, discard an experiment with `git agent rollback`."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Print one JSON event per line on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only results and errors, no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Run as if started in this directory.
    #[arg(short = 'C', global = true, value_name = "PATH")]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan a goal and start working on it in a new task.
    Start(StartArgs),
    /// Continue a task from what git holds.
    Resume(ResumeArgs),
    /// Move the task branch back; the discarded tip is kept in the attic.
    Rollback(RollbackArgs),
    /// Record the task worktree's current state as a checkpoint (e.g. after editing by hand).
    Checkpoint(CheckpointArgs),
    /// List tasks with state, step, tests and cost.
    List,
    /// Show one task in detail.
    Status(TaskArg),
    /// Show the checkpoints of a task with their trailers and records.
    Log(TaskArg),
    /// Show the task's whole change against its base.
    Diff(TaskArg),
    /// Run the policy checks, then merge the task into its base branch.
    Merge(MergeArgs),
    /// Delete a task: branch, notes, attic and worktree.
    Drop(DropArgs),
    /// Push a task's branch, notes and attic to a remote.
    Push(PushArgs),
    /// Fetch tasks' branches, notes and attic from a remote.
    Pull(PullArgs),
    /// Print the effective configuration and where each value came from.
    Config,
    /// An offline run on a sample repository with a recorded session.
    Demo(DemoArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct BudgetArgs {
    /// Stop after this many model turns.
    #[arg(long, value_name = "N")]
    pub max_turns: Option<u64>,
    /// Stop after this many tokens (input + output).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Stop after this many US dollars of model cost.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Stop after this much wall time, e.g. 30m or 2h.
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ModelArgs {
    /// Model provider.
    #[arg(long, value_enum)]
    pub provider: Option<ProviderKind>,
    /// Model for the executor.
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Model for the planner (defaults to --model).
    #[arg(long, value_name = "M")]
    pub planner_model: Option<String>,
    /// Recorded session for the replay provider.
    #[arg(long, value_name = "FILE")]
    pub replay_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Anthropic,
    Openai,
    Replay,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The goal, in plain words.
    pub goal: String,
    /// Task name (slug) instead of one derived from the goal.
    #[arg(long, value_name = "SLUG")]
    pub name: Option<String>,
    /// Work in the current checkout (it must be clean) instead of a private worktree.
    #[arg(long)]
    pub here: bool,
    /// Create the task and its plan, then stop before the executor runs.
    #[arg(long, conflicts_with = "no_run")]
    pub plan_only: bool,
    /// Only create the task and its worktree; plan and work later with `git agent resume`.
    #[arg(long)]
    pub no_run: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The task (defaults to the current agent/* branch, else the most recent task).
    pub slug: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The task (defaults to the current agent/* branch, else the most recent task).
    pub slug: Option<String>,
    /// The summary line of the checkpoint.
    #[arg(short, long, value_name = "SUMMARY")]
    pub message: String,
    /// What this unit of work is expected to achieve.
    #[arg(long, value_name = "TEXT", default_value = "recorded by hand")]
    pub expected: String,
}

#[derive(Debug, Args)]
pub struct TaskArg {
    /// The task (defaults to the current agent/* branch, else the most recent task).
    pub slug: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").args(["to", "steps", "last_green", "undo"])))]
pub struct RollbackArgs {
    /// The task (defaults to the current agent/* branch, else the most recent task).
    pub slug: Option<String>,
    /// Move the branch back to this revision (a checkpoint of the task).
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    /// Move the branch back by N checkpoints (default 1).
    #[arg(long, value_name = "N")]
    pub steps: Option<u32>,
    /// Move the branch back to the last checkpoint whose tests passed.
    #[arg(long)]
    pub last_green: bool,
    /// Undo the most recent rollback: restore the tip kept in the attic.
    #[arg(long)]
    pub undo: bool,
    /// Why; recorded in the plan's attempts so the next plan learns from it.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The task (defaults to the current agent/* branch, else the most recent task).
    pub slug: Option<String>,
    /// Squash the task into one commit instead of a merge commit.
    #[arg(long)]
    pub squash: bool,
    /// Merge even when a policy check fails; recorded in a trailer.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DropArgs {
    /// The task to delete.
    pub slug: Option<String>,
    /// Also drop a task that is not merged.
    #[arg(long, short)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The remote (default: origin).
    pub remote: Option<String>,
    /// The task (default: all tasks).
    pub slug: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The remote (default: origin).
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the sample repository in this directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
