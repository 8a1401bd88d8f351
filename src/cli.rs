//! Command-line definitions (clap). They also feed the man page and shell completions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::config::Flags;
use crate::llm::ProviderKind;
use crate::ui::{ColorChoice, Style};

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
    /// Print JSON on stdout instead of human output: one object a line, each with a string
    /// `type`; a failure is one `error` object (message, hint, exit_code).
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

/// The command line's view of `--color`: the domain enum is `ui::ColorChoice`.
impl ValueEnum for ColorChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &ColorChoice::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl GlobalArgs {
    /// How output looks, for the renderers.
    pub fn style(&self) -> Style {
        Style {
            json: self.json,
            quiet: self.quiet,
            color: self.color,
        }
    }
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
    /// Run the policy checks, then merge the task into its base branch (checked out here).
    #[command(
        long_about = "Run the policy checks, then merge the task into its base branch (checked out here).\n\n\
The base branch is the branch that was checked out when the task started; it must be the branch \
checked out now (merge refuses otherwise and prints the command to run), or name another with \
--into. The merge is computed first without touching your checkout: when it conflicts, nothing \
changes (checkout, index and HEAD stay as they were) and the conflicting paths are listed with \
the ways forward (git agent update brings the task up to date with its base; the agent resolves \
the conflicts). Then the policy checks run (tests, lint, secret scan, changes to configuration, \
hooks and CI), binary files and files over 1 MiB that the merge brings in are listed, and only \
then do your branch and checkout move, as git merge --no-ff (or --squash) would leave them."
    )]
    Merge(MergeArgs),
    /// Bring a task up to date with its base branch: merge the base into the task.
    #[command(
        long_about = "Bring a task up to date with its base branch: merge the base into the task.\n\n\
The merge is made in the task's own worktree, never in your checkout. A clean merge is recorded \
as a checkpoint of the task: a merge commit whose second parent is the base, with the usual \
trailers and record (the tests are run when the plan has a test command). When it conflicts, \
the files with conflict markers are left in the task's worktree and the plan gets a step to \
resolve them: git agent resume has the agent resolve them with the tests run, as any step; or \
resolve them yourself there and record it with git agent checkpoint. Either checkpoint is the \
merge commit."
    )]
    Update(TaskArg),
    /// Delete a task: branch, notes, attic and worktree.
    Drop(DropArgs),
    /// Push a task's branch, notes and attic to a remote.
    Push(PushArgs),
    /// Fetch tasks' branches, notes and attic from a remote.
    Pull(PullArgs),
    /// Put tasks on a shared remote for workers, or show the remote's queue.
    #[command(
        long_about = "Put tasks on a shared remote for workers, or show the remote's queue.\n\n\
git agent queue add creates a task as start --no-run does and pushes it; git agent queue (or \
queue ls) fetches the remote's agent refs and shows every task as queued, claimed (by which \
worker, since when, how long ago its lease last moved), running, done or blocked. Any git host \
is the coordination store: no server of git-agent's own."
    )]
    Queue(QueueArgs),
    /// Take queued tasks of a shared remote and work on them, one at a time.
    #[command(
        long_about = "Take queued tasks of a shared remote and work on them, one at a time.\n\n\
A worker fetches the remote's agent refs, claims the oldest queued task by pushing its lease \
ref (refs/agent/<slug>/lease) with compare-and-swap (git push --atomic --force-with-lease), \
resumes it from what the remote holds, pushes after every checkpoint together with a renewal of \
the lease, renews the lease while it works, and on stop pushes the final state and releases the \
lease in one atomic push. When the push of the lease fails, another worker won: it picks another \
task. A lease whose heartbeat has not moved for its duration, as this worker's own clock sees \
it, may be taken over; the work goes on from the last pushed checkpoint. SIGTERM or Ctrl-C \
finishes the current tool call, pushes, releases and exits 130. Use one clone per worker. \
Without --follow, the worker exits when no task is queued or held by another worker."
    )]
    Worker(WorkerArgs),
    /// Tell a task something; a run shows it to the model at its next turn, from any terminal.
    #[command(
        long_about = "Tell a task something; a run shows it to the model at its next turn, from any terminal.\n\n\
The message is stored in git (refs/agent/<slug>/say, one commit per message) and travels with \
git agent push and pull, so it can come from another terminal or another machine. It takes no \
lock: a running loop reads it before every model turn and shows it as the user's words; a \
stopped task gets it when it resumes (the planner sees it too). The next checkpoint's record \
lists the messages shown, so none is shown twice."
    )]
    Say(SayArgs),
    /// Stop a task's run as Ctrl-C in its terminal does, from any terminal or machine.
    #[command(
        long_about = "Stop a task's run as Ctrl-C in its terminal does, from any terminal or machine.\n\n\
The request is stored in git, in the task's say chain (refs/agent/<slug>/say, a commit with the \
trailer Agent-Say: stop), and travels with git agent push and pull. A run of the task on this \
machine sees it within a moment and stops gracefully: a model call in flight answers and is \
booked, the step's unfinished work goes to the attic, the stop record says `interrupted` \
(stopped with git agent stop), the lock is released. By default stop waits for that and prints \
the stop. A worker on another machine gets the request once it is pushed (git agent push) and \
stops at its next turn; the task is then `stopped` in the queue and no worker takes it up again \
until a person resumes it. A request is for the run under way: a run started later ignores it."
    )]
    Stop(StopArgs),
    /// Print a task's plan, or change it with --edit before the next resume.
    #[command(
        long_about = "Print a task's plan, or change it with --edit before the next resume.\n\n\
--edit opens the plan's editable part (objective, constraints, acceptance criteria, test \
command, steps) as TOML in git's editor (GIT_EDITOR, core.editor, VISUAL, EDITOR). On save it is \
checked; a mistake reopens the file with the error at the top. An unchanged or empty file \
changes nothing. The edit is a new revision of the plan note, and the next git agent resume \
follows it. A running task cannot be edited: tell it with git agent say instead."
    )]
    Plan(PlanArgs),
    /// Show a task's parallel attempts side by side: tests, tries, diff, cost, time, files.
    #[command(
        long_about = "Show a task's parallel attempts side by side: tests, tries, diff, cost, time, files.\n\n\
Attempts are run with git agent start --attempts N (or resume --attempts N). While they run or \
wait for a pick, the figures are read from the attempt tasks (<task>--try-<k>); once one is \
picked, from the record of the round in the task's plan, with why each lost and which attic \
entry keeps it. --json prints one object per attempt and a closing summary."
    )]
    Compare(TaskArg),
    /// Choose attempt K of a task: it becomes agent/<task>, the others go to the attic.
    #[command(
        long_about = "Choose attempt K of a task: it becomes agent/<task>, the others go to the attic.\n\n\
For a round started with --pick manual, or to override the harness's choice: the attempt's \
checkpoints become the task's branch (written again as commits of the task, same trees), every \
other attempt is kept in the task's attic with the reason it lost, and the attempt tasks are \
deleted. After a pick, choosing another attempt moves the branch to it and keeps the current \
tip in the attic."
    )]
    Pick(PickArgs),
    /// Find the first checkpoint of a task at which a command fails (git bisect over its checkpoints).
    #[command(
        long_about = "Find the first checkpoint of a task at which a command fails (git bisect over its checkpoints).\n\n\
Tests the task's first-parent checkpoints in a scratch worktree (your checkout and the task's \
worktree are not touched), in the sandbox commands of the agent run in. The tip must fail; the \
search takes the task commit as the last good state (and tests it only when every checkpoint \
fails), so N checkpoints take at most ceil(log2(N+1))+1 runs. Prints the first failing \
checkpoint with its trailers and record, and the rollback to the one before it. Exit 0 when it \
found one, 1 when the tip passes."
    )]
    Bisect(BisectArgs),
    /// Follow a running task live: steps, tool calls, tests, checkpoints, cost.
    #[command(
        long_about = "Follow a running task live: steps, tool calls, tests, checkpoints, cost.\n\n\
Reads the run's event log ($GIT_COMMON_DIR/agent/runs/<slug>.jsonl) from the start and follows \
it until the run stops; with --json it prints the events as JSON lines, as the run's own --json \
does. Ctrl-C stops watching, never the run. With no run, it says so and shows the task's last \
stop.\n\n\
With --remote, it follows a task that a worker elsewhere runs, through the remote: every \
checkpoint as it is pushed, who holds the lease, and the stop once the task is done or blocked."
    )]
    Watch(WatchArgs),
    /// Check the agent state in git against the data model and say how to repair each finding.
    #[command(
        long_about = "Check the agent state in git against the data model and say how to repair each finding. \
The rules are those of docs/data-model.md: plan and record notes that do not parse, trailers that \
disagree with records, checkpoint numbers that skip, branches moved off their task, commits of \
other tasks on a task branch, notes and attic entries of tasks that do not exist, attic refs that \
are not commits, stale locks and worktrees. Each finding says what is wrong, where, and the \
command that repairs it; nothing is changed. Exits 1 when there are findings, 0 when the state is \
clean."
    )]
    Fsck(FsckArgs),
    /// Print the effective configuration and where each value came from.
    Config,
    /// List the models git-agent knows: prices, context windows, the defaults, and what the
    /// configuration here uses.
    #[command(
        long_about = "List the models git-agent knows: prices, context windows, the defaults, and what the configuration here uses.\n\n\
Prices are in USD per million tokens (input, output, cache write, cache read) and decide what a \
run records as its cost and what max_cost stops. A name covers the names that start with it \
(claude-sonnet-4 covers claude-sonnet-4-20250514); a router's prefix (openai/, anthropic/) is \
ignored. A model outside the table still works: its calls are recorded at $0, and it is said \
so here and when a run starts. The default model of each provider is marked default; the \
planner uses the executor's model unless planner_model is set."
    )]
    Models,
    /// Trust this repository's .git-agent.toml, as it is now, to widen what the agent may do.
    #[command(
        long_about = trust_about()
    )]
    Trust(TrustArgs),
    /// An offline run on a sample repository with a recorded session.
    Demo(DemoArgs),
    /// Print shell completions, or install them where the shell finds them.
    Completions(CompletionsArgs),
    /// Install the manual page, so that `git help agent` and `git agent --help` show it.
    #[command(
        long_about = "Install the manual page, so that `git help agent` and `git agent --help` show it.\n\n\
Writes DIR/man1/git-agent.1. The default DIR is <dir of the git-agent binary>/../share/man: for \
`cargo install`, ~/.cargo/share/man, which man finds through PATH with no setup."
    )]
    InstallMan(InstallManArgs),
    /// The task names, newest first, one a line: what the shell completions offer for a task.
    #[command(name = TASKS_SUBCOMMAND, hide = true)]
    Tasks,
    /// Serve the task commands to MCP clients (Claude Code, Codex, Cursor) over stdio.
    #[command(
        long_about = "Serve the task commands to MCP clients (Claude Code, Codex, Cursor) over stdio.\n\n\
A Model Context Protocol server on stdin and stdout for the repository it starts in. Tools: start \
(a detached run; returns the task at once), resume (the same for a stopped task), stop, say, status, list, log, diff, plan, \
rollback, merge and drop. \
Resources: git-agent://<task>/plan and git-agent://<task>/checkpoints/<n>. Runs started by the \
`start` tool write their JSON events to $GIT_COMMON_DIR/agent/runs/<task>.jsonl."
    )]
    Mcp,
    /// A read-only live web view of every task, from this repository or a remote.
    #[command(
        long_about = "A read-only live web view of every task, from this repository or a remote.\n\n\
Pages: the tasks (state, step, tests, cost, age, base; attempts under their task; a filter by \
state), one task (goal, plan and its history, checkpoints with their trailers and diffs, tests \
across steps, cost and tokens, the attic, stops, a running task's events) and the fleet (queue, \
workers, takeovers, throughput). They update live as checkpoints, stops and leases land.\n\n\
It binds 127.0.0.1 by default. Any other address needs a token, checked on every request (a \
Bearer header, ?token= or the cookie it sets); one is generated and printed when --token is not \
given. With --remote it fetches the remote's agent refs into its tracking refs every --refresh \
and shows them: the fleet's view from any machine. Nothing it serves changes a ref."
    )]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Show a remote's tasks (fetched every --refresh) instead of this repository's.
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
    /// The address to listen on; anything but 127.0.0.1 or ::1 requires a token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4680")]
    pub listen: std::net::SocketAddr,
    /// The token every request must carry (generated and printed when needed and not given).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
    /// How often to fetch the remote with --remote.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_poll)]
    pub refresh: std::time::Duration,
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

impl ModelArgs {
    /// The configuration's command-line layer of these flags and `budget`'s.
    pub fn flags(&self, budget: &BudgetArgs) -> Flags {
        Flags {
            provider: self.provider,
            model: self.model.clone(),
            planner_model: self.planner_model.clone(),
            replay_file: self.replay_file.clone(),
            max_turns: budget.max_turns,
            max_tokens: budget.max_tokens,
            max_cost: budget.max_cost,
            max_time: budget.max_time.clone(),
        }
    }
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

/// The command line's view of the providers: the domain enum is `llm::ProviderKind`.
impl ValueEnum for ProviderKind {
    fn value_variants<'a>() -> &'a [Self] {
        &ProviderKind::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
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
    /// Start from HEAD alone: leave your uncommitted work out of the task (by default it is
    /// carried in as the task's first checkpoint; your checkout is never touched).
    #[arg(long)]
    pub from_head: bool,
    /// Create the task and its plan, then stop before the executor runs.
    #[arg(long, conflicts_with = "no_run")]
    pub plan_only: bool,
    /// Only create the task and its worktree; plan and work later with `git agent resume`.
    #[arg(long)]
    pub no_run: bool,
    #[command(flatten)]
    pub parallel: ParallelArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ParallelArgs {
    /// Plan once, then run N attempts side by side, each in its own worktree and branch
    /// (agent/<task>--try-<k>); the budget is split evenly between them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub attempts: Option<u32>,
    /// Who picks the attempt that becomes the task: the harness (tests pass, then fewest
    /// failed tries, then smallest diff, then cost) or you, with `git agent pick`.
    #[arg(long, value_enum, requires = "attempts")]
    pub pick: Option<PickMode>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum PickMode {
    #[default]
    Auto,
    Manual,
}

impl PickMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PickMode::Auto => "auto",
            PickMode::Manual => "manual",
        }
    }
}

#[derive(Debug, Args)]
pub struct PickArgs {
    /// The task.
    pub slug: String,
    /// The attempt's number.
    pub k: u32,
}

#[derive(Debug, Args)]
pub struct BisectArgs {
    /// The task (defaults to the current agent/* branch, else the most recent task, named on
    /// stderr).
    pub slug: Option<String>,
    /// The command that passes (exit 0) on a good checkpoint and fails on a bad one.
    #[arg(long, value_name = "CMD")]
    pub test: String,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The task (defaults to the task of the current agent/* branch, else the only task;
    /// refused when several could be meant).
    pub slug: Option<String>,
    #[command(flatten)]
    pub parallel: ParallelArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The task (defaults to the task of the current agent/* branch, else the only task;
    /// refused when several could be meant).
    pub slug: Option<String>,
    /// The summary line of the checkpoint.
    #[arg(short, long, value_name = "SUMMARY")]
    pub message: String,
    /// What this unit of work is expected to achieve.
    #[arg(long, value_name = "TEXT", default_value = "recorded by hand")]
    pub expected: String,
    /// Record the change even when the secret scan finds something (merge still checks).
    #[arg(long)]
    pub allow_secrets: bool,
}

#[derive(Debug, Args)]
pub struct TaskArg {
    /// The task (defaults to the current agent/* branch, else the most recent task, named on
    /// stderr).
    pub slug: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").args(["to", "steps", "last_green", "undo"])))]
pub struct RollbackArgs {
    /// The task (defaults to the task of the current agent/* branch, else the only task;
    /// refused when several could be meant).
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
    /// The task (defaults to the task of the current agent/* branch, else the only task;
    /// refused when several could be meant).
    pub slug: Option<String>,
    /// Squash the task into one commit instead of a merge commit.
    #[arg(long)]
    pub squash: bool,
    /// Merge even when a policy check fails or a flagged file (CI, hooks, configuration)
    /// changed; recorded in an Agent-Forced trailer.
    #[arg(long)]
    pub force: bool,
    /// Merge into this branch (it must be checked out) instead of the task's base branch.
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
}

#[derive(Debug, Args)]
pub struct DropArgs {
    /// The task to delete (defaults to the task of the current agent/* branch, else the only
    /// task; refused when several could be meant).
    pub slug: Option<String>,
    /// Also drop a task that is not merged.
    #[arg(long, short)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The remote (default: origin). A single name that is no remote but a task's means the
    /// task: `git agent push <task>` pushes it to origin.
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
#[command(args_conflicts_with_subcommands = true)]
pub struct QueueArgs {
    #[command(subcommand)]
    pub action: Option<QueueAction>,
    /// The shared remote (default: origin).
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Create a task (as `start --no-run`) and push it to the remote for a worker.
    Add(QueueAddArgs),
    /// Show the remote's tasks: queued, claimed, running, done, blocked.
    Ls(QueueLsArgs),
}

#[derive(Debug, Args)]
pub struct QueueAddArgs {
    /// The goal, in plain words.
    pub goal: String,
    /// Task name (slug) instead of one derived from the goal.
    #[arg(long, value_name = "SLUG")]
    pub name: Option<String>,
    /// The shared remote (default: origin).
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct QueueLsArgs {
    /// The shared remote (default: origin).
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The shared remote (default: origin).
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
    /// Work on one task, then exit. With nothing queued it exits once no other worker holds a
    /// task; until then it waits, to take over a task whose worker died.
    #[arg(long, conflicts_with = "follow")]
    pub once: bool,
    /// Exit after this many tasks.
    #[arg(long, value_name = "N")]
    pub max_tasks: Option<u32>,
    /// How long the lease lasts without a heartbeat before another worker may take the task
    /// over (renewed every third of it).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_lease)]
    pub lease: std::time::Duration,
    /// How often to look at the remote while waiting.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_poll)]
    pub poll: std::time::Duration,
    /// Keep waiting for new tasks when the queue is empty.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_secs(1) || d > crate::store::remote::lease::MAX_LEASE {
        return Err("a lease lasts between 1s and 7 days".into());
    }
    Ok(d)
}

fn parse_poll(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_millis(10) || d > std::time::Duration::from_secs(3600) {
        return Err("poll between 10ms and 1h".into());
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The task (defaults to the current agent/* branch, else the most recent task, named on
    /// stderr).
    pub slug: Option<String>,
    /// Follow the task as this remote shows it (a worker elsewhere runs it).
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct SayArgs {
    /// The task (optional: defaults to the task of the current agent/* branch, else the only
    /// task; refused when several could be meant), then the message.
    #[arg(value_name = "[TASK] MESSAGE", num_args = 1..=2, required = true)]
    pub words: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The task (defaults to the task of the current agent/* branch, else the only task;
    /// refused when several could be meant).
    pub slug: Option<String>,
    /// Return once the request is written, without waiting for the run to stop.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The task (defaults to the current agent/* branch, else the most recent task, named on
    /// stderr).
    pub slug: Option<String>,
    /// Change the plan in git's editor; the next resume follows it.
    #[arg(long)]
    pub edit: bool,
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Stop trusting the file: remove the record.
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Check only this task (default: every task and the whole agent state).
    pub slug: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the sample repository in this directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for.
    #[arg(required_unless_present = "install")]
    pub shell: Option<clap_complete::Shell>,
    /// Install the completions where the shell loads them for you (bash, zsh, fish) and say
    /// what to add to the shell's startup file, if anything.
    #[arg(long)]
    pub install: bool,
    /// The shell to install for (default: the one $SHELL names).
    #[arg(
        long = "shell",
        value_name = "SHELL",
        requires = "install",
        conflicts_with = "shell"
    )]
    pub install_shell: Option<clap_complete::Shell>,
}

#[derive(Debug, Args)]
pub struct InstallManArgs {
    /// Install into DIR/man1 (default: <dir of the binary>/../share/man).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The hidden subcommand that lists task names for the completion scripts.
pub const TASKS_SUBCOMMAND: &str = "__tasks";

/// The subcommands whose first argument is a task: what `<command> <TAB>` completes with
/// task names. Read from the definitions (a first positional named `slug`, and `say`).
fn task_subcommands() -> Vec<String> {
    use clap::CommandFactory;
    Cli::command()
        .get_subcommands()
        .filter(|sub| {
            sub.get_name() == "say"
                || sub
                    .get_positionals()
                    .next()
                    .is_some_and(|a| a.get_id() == "slug")
        })
        .map(|sub| sub.get_name().to_string())
        .collect()
}

/// The completion scripts committed in `completions/` (for packages), by shell: each under
/// the name its shell's system directory expects.
pub const COMPLETION_FILES: &[(clap_complete::Shell, &str)] = &[
    (clap_complete::Shell::Bash, "git-agent"),
    (clap_complete::Shell::Zsh, "_git-agent"),
    (clap_complete::Shell::Fish, "git-agent.fish"),
];

/// The completion script of `shell` for the `git-agent` binary (and, for bash, git's own
/// `git agent <TAB>`).
pub fn render_completions(shell: clap_complete::Shell) -> Vec<u8> {
    use clap::CommandFactory;
    // The definitions say `git agent` for help texts; scripts need the binary's own name, set
    // before clap derives the subcommands' names from it.
    let mut cmd = Cli::command().bin_name("git-agent");
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "git-agent", &mut script);
    // Task names are data of the repository, not of the definitions: the scripts ask
    // `git-agent __tasks` for them when a task is to be completed.
    let tasks = task_subcommands().join(" ");
    match shell {
        clap_complete::Shell::Bash => {
            // clap_complete spells the case arms of a hyphenated binary differently from the
            // state its loop computes (clap-rs/clap#6421), so subcommand options never complete.
            let fixed = String::from_utf8_lossy(&script)
                .replace("git__subcmd__agent__subcmd__", "git__agent__subcmd__")
                .replace(
                    "complete -F _git__agent ",
                    "complete -F _git_agent_complete ",
                );
            script = fixed.into_bytes();
            script.extend_from_slice(
                BASH_TASKS
                    .replace("@TASK_COMMANDS@", &tasks)
                    .replace("@TASKS@", TASKS_SUBCOMMAND)
                    .as_bytes(),
            );
            script.extend_from_slice(BASH_GIT_SHIM.as_bytes());
        }
        clap_complete::Shell::Zsh => {
            // A task argument (`slug`) completes with task names instead of files.
            let text = String::from_utf8_lossy(&script);
            let mut out = String::with_capacity(text.len() + 512);
            for line in text.split_inclusive('\n') {
                if line.starts_with("'::slug -- ") && line.contains(":_default' \\") {
                    out.push_str(&line.replace(":_default' \\", ":_git_agent_tasks' \\"));
                } else if line.starts_with("if [ \"$funcstack[1]\" = \"_git-agent\" ]") {
                    out.push_str(&ZSH_TASKS.replace("@TASKS@", TASKS_SUBCOMMAND));
                    out.push_str(line);
                } else {
                    out.push_str(line);
                }
            }
            script = out.into_bytes();
        }
        clap_complete::Shell::Fish => {
            script.extend_from_slice(
                format!(
                    "\n# A task argument completes with the task names of the repository.\n\
                     complete -c git-agent -n \"__fish_git_agent_using_subcommand {tasks}\" -f -a \"(git-agent {TASKS_SUBCOMMAND} 2>/dev/null)\"\n"
                )
                .as_bytes(),
            );
        }
        _ => {}
    }
    script
}

/// bash: after a subcommand that takes a task, the first word that is not an option
/// completes with the repository's task names; everything else is clap_complete's.
const BASH_TASKS: &str = r#"
# `git-agent resume <TAB>` (and every command whose first argument is a task): task names.
_git_agent_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    if [[ ${COMP_CWORD} -eq 2 && ${cur} != -* ]]; then
        case " @TASK_COMMANDS@ " in
            *" ${COMP_WORDS[1]} "*)
                COMPREPLY=($(compgen -W "$(git-agent @TASKS@ 2>/dev/null)" -- "${cur}"))
                return 0
                ;;
        esac
    fi
    _git__agent "$@"
}
"#;

/// zsh: the function a task argument calls.
const ZSH_TASKS: &str = r#"(( $+functions[_git_agent_tasks] )) ||
_git_agent_tasks() {
    local -a tasks
    tasks=(${(f)"$(git-agent @TASKS@ 2>/dev/null)"})
    _describe -t tasks 'task' tasks
}

"#;

/// git's own bash completion hands `git agent …` to a function named `_git_agent`, with the
/// words in `words`/`cword`; this adapts them to the function clap_complete generates for the
/// `git-agent` binary, so both `git-agent <TAB>` and `git agent <TAB>` complete.
const BASH_GIT_SHIM: &str = r#"
# `git agent <TAB>`: git's completion calls _git_agent with words=(git agent ...).
_git_agent() {
    local COMP_WORDS=(git-agent "${words[@]:2}")
    local COMP_CWORD=$((cword - 1))
    _git_agent_complete git-agent "$cur" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;

/// The manual page `man/git-agent.1`: the main page, then one section per subcommand with its
/// synopsis and its own options (the global options are listed once, on the main page), then
/// exit status, environment and files. `cargo run --example gen_man` writes it.
pub fn render_man() -> std::io::Result<Vec<u8>> {
    use clap::CommandFactory;
    use clap_mangen::roff::{Roff, bold, roman};

    let man = clap_mangen::Man::new(Cli::command())
        .title("GIT-AGENT")
        .manual("Git Agent Manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    let mut synopsis = Roff::new();
    synopsis.control("SH", ["SYNOPSIS"]);
    synopsis.text(synopsis_line(&Cli::command()));
    synopsis.to_writer(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;

    let mut heading = Roff::new();
    heading.control("SH", ["COMMANDS"]);
    heading.to_writer(&mut out)?;
    // Subcommands built on their own, so that the global options (listed once above) do not
    // repeat under every command.
    for sub in Cli::command().get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let name = format!("git agent {}", sub.get_name());
        let sub = sub.clone().bin_name(&name);
        let sub_man = clap_mangen::Man::new(sub.clone());
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut heading = Roff::new();
        heading.control("SS", [name.as_str()]);
        heading.to_writer(&mut out)?;
        let mut text = Roff::new();
        text.text(synopsis_line(&sub));
        text.control("PP", []).text([roman(about)]);
        text.to_writer(&mut out)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            let mut options = Vec::new();
            sub_man.render_options_section(&mut options)?;
            out.extend(without_section_heading(&options));
        }
    }

    let mut extra = Roff::new();
    extra.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "the run finished (done), or the command succeeded"),
        ("1", "an error"),
        ("2", "a usage error"),
        ("3", "the run stopped blocked: it needs a person"),
        ("4", "a budget (turns, tokens, cost, time) was exhausted"),
        ("130", "interrupted by Ctrl-C"),
    ] {
        extra
            .control("TP", [])
            .text([bold(code)])
            .text([roman(meaning)]);
    }
    extra.control("SH", ["MCP SERVERS"]);
    extra.control("PP", []).text([roman(
        "The executor can be given the tools of MCP (Model Context Protocol) servers. Each \
server named in the configuration is started for a run in the same sandbox as commands \
(working directory /, the task's worktree named in GIT_AGENT_WORKTREE, its writes confined to the worktree, the network as configured), spoken to over \
stdio, and its tools are offered to the executor (not the planner) as <server>__<tool> with \
their input schemas. An error the server answers is a tool error; a server that exits \
during a call, does not answer within its timeout or answers outside the protocol is a tool \
error too, and is killed and started again at the next call (at most 5 times a run). Every server is killed, with what it started, when the run ends. \
Servers come from your configuration file; a repository's .git-agent.toml names one only \
after git agent trust. For example, in ~/.config/git-agent/config.toml:",
    )]);
    extra.control("IP", []).control("nf", []).text([roman(
        "[mcp.servers.docs]\n\
command = [\"python3\", \"/opt/docs-mcp/server.py\"]   # program and arguments, no shell\n\
env = { DOCS_INDEX = \"/var/cache/docs\" }           # added to the clean environment\n\
tools = [\"search\"]                                 # allow list; absent: all its tools\n\
timeout = \"30s\"                                    # per call and for starting (60s)",
    )]);
    extra.control("fi", []);
    extra.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in [
        (
            "ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL",
            "key and endpoint of the anthropic provider",
        ),
        (
            "OPENAI_API_KEY, OPENAI_BASE_URL",
            "key and endpoint of the openai provider",
        ),
        ("NO_COLOR", "no colour in the output"),
        ("GIT_DIR, GIT_WORK_TREE", "honoured as git does"),
    ] {
        extra
            .control("TP", [])
            .text([bold(name)])
            .text([roman(meaning)]);
    }
    extra.control("SH", ["FILES"]);
    for (name, meaning) in [
        (
            "refs/heads/agent/<slug>",
            "the task branch: the task commit, then one commit per checkpoint",
        ),
        (
            "refs/notes/agent/<slug>",
            "the plan (note on the task commit) and a record per checkpoint, in TOML",
        ),
        (
            "refs/agent/<slug>/attic/<n>",
            "discarded tips, kept so that nothing is lost",
        ),
        (
            "refs/agent/<slug>/say",
            "what was said to the task with git agent say: one commit per message",
        ),
        (
            "$GIT_DIR/agent/",
            "runtime only: locks, the private worktrees of tasks, and the event log of each \
run (runs/<slug>.jsonl) that git agent watch follows",
        ),
        (
            ".git-agent.toml",
            "the repository's settings: test and lint commands, model names, step limits, \
lower budgets; what widens the agent's reach applies only after git agent trust",
        ),
        ("~/.config/git-agent/config.toml", "the user's defaults"),
    ] {
        extra
            .control("TP", [])
            .text([bold(name)])
            .text([roman(meaning)]);
    }
    extra.control("SH", ["EXAMPLES"]);
    for (command, meaning) in MAN_EXAMPLES {
        extra
            .control("TP", [])
            .text([bold(*command)])
            .text([roman(*meaning)]);
    }
    extra.control("SH", ["SEE ALSO"]);
    extra.text([
        bold("git"),
        roman("(1), "),
        bold("git-log"),
        roman("(1), "),
        bold("git-notes"),
        roman("(1), "),
        bold("git-worktree"),
        roman("(1)"),
    ]);
    extra.control("PP", []).text([roman(
        "README.md and the docs/ directory of the source: docs/running.md (providers, budgets, \
attempts, steering), docs/review.md (reviewing with plain git), docs/configuration.md, \
docs/trust.md (what is confined and what is not), docs/data-model.md (every ref, commit, \
trailer and note), docs/mcp.md, docs/fleet.md.",
    )]);
    extra.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// The EXAMPLES of the man page: a command line, then what it does. Each names a real
/// subcommand (tests/it/cli_man.rs checks), so a renamed command cannot leave a stale one.
pub const MAN_EXAMPLES: &[(&str, &str)] = &[
    (
        "git agent demo",
        "An offline run on a sample repository with a recorded session: no key, no network.",
    ),
    (
        "git agent start \"add a --json flag to the list command\"",
        "Plan the goal and work through it on the branch agent/<slug>, one checkpoint per step \
(ANTHROPIC_API_KEY, or OPENAI_API_KEY with --provider openai).",
    ),
    (
        "git agent start --plan-only \"<goal>\"; git agent plan --edit; git agent resume",
        "Plan, review and edit the plan in your editor, then run it.",
    ),
    (
        "git agent watch",
        "Follow the running task from another terminal: steps, tool calls, tests, checkpoints, cost.",
    ),
    (
        "git agent say \"use the v2 API, not v1\"",
        "Tell the running task something; the model sees it before its next turn.",
    ),
    (
        "git log agent/<slug>",
        "The checkpoints, with their trailers and (through notes.displayRef) their records.",
    ),
    (
        "git agent diff",
        "The whole change of the task against its base.",
    ),
    (
        "git agent rollback --last-green --reason \"the approach was wrong\"",
        "Back to the last checkpoint whose tests passed; the discarded work stays in the attic \
(git agent rollback --undo brings it back).",
    ),
    (
        "git agent resume",
        "Continue after a crash, Ctrl-C or a budget stop, here or on another machine.",
    ),
    (
        "git agent merge",
        "Secret scan, tests, lint and flagged files checked, then a --no-ff merge.",
    ),
];

/// The synopsis line of `cmd` for the man page, as clap_mangen writes it but with each
/// option's value (`[-C <PATH>]`, `[--name <NAME>]`): clap_mangen 0.2 drops the value names,
/// which left `[-C ]` in the page.
fn synopsis_line(cmd: &clap::Command) -> Vec<clap_mangen::roff::Inline> {
    use clap_mangen::roff::{bold, italic, roman};

    let mut cmd = cmd.clone();
    cmd.build();
    let name = cmd
        .get_bin_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned();
    let mut line = vec![bold(name), roman(" ")];
    let mut options: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .collect();
    options.sort_by_key(|a| (a.get_display_order(), sort_key(a)));
    for opt in options {
        let (open, close) = if opt.is_required_set() {
            ("<", ">")
        } else {
            ("[", "]")
        };
        line.push(roman(open));
        match (opt.get_short(), opt.get_long()) {
            (Some(short), Some(long)) => {
                line.push(bold(format!("-{short}")));
                line.push(roman("|"));
                line.push(bold(format!("--{long}")));
            }
            (Some(short), None) => line.push(bold(format!("-{short}"))),
            (None, Some(long)) => line.push(bold(format!("--{long}"))),
            (None, None) => continue,
        }
        let takes = opt.get_num_args().is_some_and(|n| n.takes_values());
        if takes {
            let value = opt
                .get_value_names()
                .map(|names| {
                    names
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|| opt.get_id().as_str().to_uppercase());
            line.push(roman(" "));
            line.push(italic(format!("<{value}>")));
        }
        if matches!(opt.get_action(), clap::ArgAction::Count) {
            line.push(roman("..."));
        }
        line.push(roman(close));
        line.push(roman(" "));
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let (open, close) = if arg.is_required_set() {
            ("<", ">")
        } else {
            ("[", "]")
        };
        let value = arg
            .get_value_names()
            .map(|names| {
                names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| arg.get_id().as_str().to_owned());
        line.extend([roman(open), italic(value), roman(close), roman(" ")]);
    }
    if cmd.has_subcommands() {
        let (open, close) = if cmd.is_subcommand_required_set() {
            ("<", ">")
        } else {
            ("[", "]")
        };
        let value = cmd
            .get_subcommand_value_name()
            .or(cmd.get_subcommand_help_heading())
            .unwrap_or("subcommands")
            .to_lowercase();
        line.extend([roman(open), italic(value), roman(close)]);
    }
    line
}

/// clap_mangen's order within one display order: short options by letter (lower case
/// first), then long ones by name.
fn sort_key(arg: &clap::Arg) -> String {
    match (arg.get_short(), arg.get_long()) {
        (Some(short), _) => {
            let mut key = short.to_ascii_lowercase().to_string();
            key.push(if short.is_ascii_lowercase() { '0' } else { '1' });
            key
        }
        (None, Some(long)) => long.to_owned(),
        (None, None) => format!("{{{}", arg.get_id()),
    }
}

/// A section clap_mangen rendered, without its `.SH` line, to sit under a `.SS` of ours.
fn without_section_heading(section: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(section.len());
    for line in section.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b".SH ") {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The long help of `git agent trust` (and its man page section): the keys that need trust
/// are listed from the configuration's key table, so the page never drops one.
fn trust_about() -> String {
    format!(
        "Trust this repository's .git-agent.toml, as it is now, to widen what the agent may do.\n\n\
A repository's .git-agent.toml may set only project facts (test and lint commands, model names, \
step limits, budgets lower than yours). The keys that widen what the agent may do, where data \
goes or what keeps running ({}) are ignored until you trust the file: this records the git blob \
id of its current content as agent.trustedConfig in the repository's own .git/config (a clone \
never carries it) and prints what the file unlocks. Any change to the file ends the trust.",
        crate::config::user_trust_names().join(", ")
    )
}
