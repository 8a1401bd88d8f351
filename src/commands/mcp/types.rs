//! The MCP tools' inputs and outputs. Their JSON schemas are derived from these types, so
//! what `tools/list` announces is what `tools/call` returns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::app::read::{CheckpointInfo, TaskInfo};

// ---- inputs -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StartParams {
    /// The goal, in plain words: what the agent should do in this repository.
    pub goal: String,
    /// Task name (slug: lowercase a-z, 0-9 and `-`, at most 40 characters) instead of one
    /// derived from the goal.
    pub name: Option<String>,
    /// Only plan: stop once the plan is written, before any step runs.
    #[serde(default)]
    pub plan_only: bool,
    /// Model provider: anthropic, openai or replay (default: the user's configuration).
    pub provider: Option<String>,
    /// Model for the executor.
    pub model: Option<String>,
    /// Model for the planner (defaults to `model`).
    pub planner_model: Option<String>,
    /// Stop after this many model turns.
    pub max_turns: Option<u64>,
    /// Stop after this many tokens (input + output).
    pub max_tokens: Option<u64>,
    /// Stop after this many US dollars of model cost.
    pub max_cost: Option<f64>,
    /// Stop after this much wall time, e.g. "30m" or "2h".
    pub max_time: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct TaskParams {
    /// The task's slug (default: the task of the checked-out agent/* branch, else the most
    /// recent task).
    pub task: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DiffParams {
    /// The task's slug (default: the task of the checked-out agent/* branch, else the most
    /// recent task).
    pub task: Option<String>,
    /// The most bytes of patch to return (default 100000); the file list is always whole.
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RollbackParams {
    /// The task's slug.
    pub task: String,
    /// Move the branch back to this revision (a checkpoint of the task).
    pub to: Option<String>,
    /// Move the branch back by this many checkpoints (the default is 1).
    pub steps: Option<u32>,
    /// Move the branch back to the last checkpoint whose tests passed.
    #[serde(default)]
    pub last_green: bool,
    /// Undo the most recent rollback: restore the tip kept in the attic.
    #[serde(default)]
    pub undo: bool,
    /// Why; recorded in the plan's attempts so the next plan learns from it.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct MergeParams {
    /// The task's slug.
    pub task: String,
    /// Squash the task into one commit instead of a merge commit.
    #[serde(default)]
    pub squash: bool,
    /// Merge even when a policy check fails or a flagged file (CI, hooks, configuration)
    /// changed; recorded in an Agent-Forced trailer.
    #[serde(default)]
    pub force: bool,
    /// The branch to merge into instead of the task's base branch (`git agent merge --into`).
    /// Either way it must be the branch checked out in the repository.
    pub into: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct UpdateParams {
    /// The task's slug (default: the task of the checked-out agent/* branch, else the only
    /// task; refused when several tasks could be meant).
    pub task: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DropParams {
    /// The task's slug.
    pub task: String,
    /// Also drop a task that is not merged (its work is deleted).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct StopParams {
    /// The task's slug (default: the task of the checked-out agent/* branch, else the only
    /// task; refused when several tasks could be meant).
    pub task: Option<String>,
    /// Return once the request is written, without waiting (up to a minute) for the run to
    /// stop.
    #[serde(default)]
    pub no_wait: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SayParams {
    /// The task's slug (default: the task of the checked-out agent/* branch, else the only
    /// task; refused when several tasks could be meant).
    pub task: Option<String>,
    /// What to tell the task, in plain words; its run shows it to the model at its next turn.
    pub message: String,
}

// ---- outputs ------------------------------------------------------------------------------

#[derive(Debug, Serialize, JsonSchema)]
pub struct Started {
    /// The new task's slug; its branch is agent/<slug>.
    pub slug: String,
    pub branch: String,
    /// Process id of the run (its own process group).
    pub pid: u32,
    /// The run's log: its events, one JSON object per line (`git agent watch` follows it).
    pub events_log: String,
    /// The run's warnings and errors.
    pub stderr_log: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    #[serde(flatten)]
    pub task: TaskInfo,
    /// The log of the task's last run, if it had one: its events, one JSON object per line.
    pub events_log: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskInfo>,
    /// Tasks whose branch or notes could not be read.
    pub broken: Vec<BrokenTask>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BrokenTask {
    pub slug: String,
    pub error: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskLog {
    pub slug: String,
    pub goal: String,
    /// Oldest first.
    pub checkpoints: Vec<CheckpointInfo>,
    /// Discarded tips, restorable with rollback's `undo`.
    pub attic: Vec<AtticInfo>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AtticInfo {
    pub refname: String,
    pub commit: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskDiff {
    pub slug: String,
    pub base: String,
    pub tip: String,
    pub files: Vec<FileChange>,
    /// `git diff <base> <tip>`, cut at `max_bytes`.
    pub patch: String,
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileChange {
    pub path: String,
    /// Lines added; none for a binary file.
    pub insertions: Option<u64>,
    /// Lines deleted; none for a binary file.
    pub deletions: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanInfo {
    pub slug: String,
    /// planning, ready or blocked.
    pub status: String,
    pub goal: String,
    pub objective: String,
    pub constraints: Vec<String>,
    pub acceptance_criteria: Vec<String>,
    pub test_command: String,
    pub steps: Vec<PlanStepInfo>,
    /// The step the tip finished.
    pub current_step: u32,
    /// Questions the planner needs answered.
    pub questions: Vec<String>,
    pub replans: u32,
    pub attempts: Vec<AttemptInfo>,
    /// The plan note as git holds it (TOML).
    pub toml: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanStepInfo {
    pub title: String,
    pub detail: String,
    pub done: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AttemptInfo {
    pub step: u32,
    pub reason: String,
    pub discarded: String,
    pub attic: String,
    pub restored: String,
}
