//! What the front ends show of a task, read from git: a task's row, a checkpoint, a patch.

use std::collections::BTreeMap;
use std::process::Stdio;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::store::{Checkpoint, GitCommand, Store, Task, TaskRow};

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// One task as `git agent status --json` and `list --json` print it (with `type`) and the MCP
/// `status` and `list` tools return it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TaskInfo {
    pub slug: String,
    /// planning, idle, running, done, blocked, budget, interrupted, error or merged.
    pub state: String,
    pub branch: String,
    pub tip: String,
    pub base: String,
    pub task_commit: String,
    pub goal: String,
    /// The step the tip finished.
    pub step: u32,
    /// Steps in the plan.
    pub steps: u32,
    pub checkpoints: usize,
    /// The tip's Agent-Tests trailer.
    pub tests: Option<String>,
    pub cost_usd: f64,
    pub tokens: u64,
    pub turns: u64,
    /// Failed attempts rolled back so far.
    pub attempts: usize,
    /// What stopped the last run.
    pub stop_detail: Option<String>,
    /// How to get past what stopped the last run.
    pub stop_hint: Option<String>,
    /// Set when git could not record the last run's stop (a full disk, a read-only `.git`):
    /// why. The stop shown is then kept beside the task's lock.
    #[serde(default)]
    pub stop_unrecorded: Option<String>,
}

impl From<&TaskRow> for TaskInfo {
    fn from(s: &TaskRow) -> TaskInfo {
        TaskInfo {
            slug: s.task.slug.clone(),
            state: s.state.as_str().to_string(),
            branch: s.task.branch(),
            tip: s.task.tip.to_string(),
            base: s.task.base.to_string(),
            task_commit: s.task.task_commit.to_string(),
            goal: s.task.goal.clone(),
            step: s.step.0,
            steps: s.step.1,
            checkpoints: s.checkpoints,
            tests: s.last_tests.clone(),
            cost_usd: s.budget.usage.cost_usd,
            tokens: s.budget.usage.total_tokens(),
            turns: s.budget.usage.turns,
            attempts: s.attempts,
            stop_detail: s.stop_detail.clone(),
            stop_hint: s.stop_hint.clone(),
            stop_unrecorded: s.stop_unrecorded.clone(),
        }
    }
}

/// A checkpoint, its commit, trailers and record note: what `git agent log --json` prints
/// (with `type`), the MCP `log` tool and the checkpoint resources serve.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckpointInfo {
    pub commit: String,
    pub summary: String,
    /// The commit's trailers (Agent-Checkpoint, Agent-Step, Agent-Tests, …).
    pub trailers: BTreeMap<String, String>,
    /// The record note: model, tokens, cost, wall time, test run, changes, stop record.
    pub record: Option<JsonObject>,
}

impl From<&Checkpoint> for CheckpointInfo {
    fn from(c: &Checkpoint) -> CheckpointInfo {
        CheckpointInfo {
            commit: c.commit.to_string(),
            summary: c.summary.clone(),
            trailers: c.trailers.0.iter().cloned().collect(),
            record: c
                .record
                .as_ref()
                .and_then(|r| serde_json::to_value(r).ok())
                .and_then(|v| v.as_object().cloned()),
        }
    }
}

/// git on the repository's common directory, named and run from inside it, with none of
/// git's variables that would point it elsewhere: a diff of two commits needs no worktree.
pub fn git_on_common_dir(store: &Store) -> GitCommand {
    let dir = store.common_dir();
    let mut cmd = GitCommand::new(dir, None);
    for var in REPOSITORY_ENV {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir);
    cmd
}

/// git's variables that would point it at another repository or worktree than the one named.
/// `GIT_CONFIG_PARAMETERS` stays: it is how `git -c color.diff=… agent diff` reaches us.
const REPOSITORY_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
];

/// One file of a task's change.
pub struct FileChange {
    pub path: String,
    /// git's status letter: `A`, `M`, `D`, `T`.
    pub status: String,
    /// `None` for a binary file.
    pub insertions: Option<u64>,
    pub deletions: Option<u64>,
}

/// The task's whole change against its base as text, for callers that are not a terminal
/// (`--json`, the MCP server): the files and the patch, without external diff drivers.
pub struct Patch {
    pub files: Vec<FileChange>,
    pub patch: String,
}

fn output(store: &Store, args: &[&str]) -> anyhow::Result<String> {
    let out = git_on_common_dir(store)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn task_patch(store: &Store, task: &Task) -> anyhow::Result<Patch> {
    let (base, tip) = (task.base.to_string(), task.tip.to_string());
    let flags = [
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
    ];
    let diff = |what: &[&str]| {
        output(
            store,
            &[
                &["diff"][..],
                what,
                &flags,
                &[base.as_str(), tip.as_str(), "--"],
            ]
            .concat(),
        )
    };
    let numstat = diff(&["--numstat", "-z"])?;
    let statuses = diff(&["--name-status", "-z"])?;
    // `--name-status -z`: status NUL path NUL, pair after pair (no renames: one path each).
    let mut status_of = std::collections::HashMap::new();
    let mut fields = statuses.split('\0');
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        status_of.insert(path.to_string(), status.to_string());
    }
    let files = numstat
        .split('\0')
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let mut fields = entry.splitn(3, '\t');
            let (added, deleted, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some(FileChange {
                path: path.to_string(),
                status: status_of.get(path).cloned().unwrap_or_default(),
                insertions: added.parse().ok(),
                deletions: deleted.parse().ok(),
            })
        })
        .collect();
    let patch = diff(&[])?;
    Ok(Patch { files, patch })
}
