//! The plan: a TOML note on the task commit, rewritten when the plan changes.

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::record::{StopRecord, Usage};

/// The format of a task's data this version writes (docs/data-model.md#format). A plan note
/// records it; notes written before the field existed read as format 1.
pub const FORMAT: u32 = 1;

fn format_one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Plan {
    /// The format the task's data is written in. A version that finds a newer one reads the
    /// fields it knows and refuses to change the task.
    #[serde(default = "format_one")]
    pub format: u32,
    pub goal: String,
    /// The branch checked out when the task started (empty for a detached HEAD).
    pub base_branch: String,
    /// The task works in the user's checkout (`--here`), not a private worktree.
    pub here: bool,
    pub status: PlanStatus,
    pub objective: String,
    pub constraints: Vec<String>,
    pub acceptance_criteria: Vec<String>,
    pub test_command: String,
    /// Questions the planner needs answered before work can start.
    pub questions: Vec<String>,
    /// How many times the plan was rewritten after failures.
    pub replans: u32,
    pub planner_model: String,
    /// Model usage of planning, counted in the budget like checkpoint records; written after
    /// every planner turn.
    pub planner_usage: Usage,
    /// While the task commit is the tip: model usage not (yet) in a checkpoint record, as in
    /// a checkpoint record's `pending`.
    #[serde(skip_serializing_if = "Usage::is_zero")]
    pub pending: Usage,
    pub steps: Vec<PlanStep>,
    /// Failed attempts, so the next plan and executor learn from them.
    pub attempts: Vec<Attempt>,
    pub stop: Option<StopRecord>,
    pub merged: Option<Merged>,
    /// Set by `git agent update` when merging the base conflicted: what the next checkpoint
    /// merges (see [`Update`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    /// On an attempt task (`<task>--try-<k>`): the task it is an attempt of.
    pub attempt_of: Option<AttemptOf>,
    /// Rounds of parallel attempts (`--attempts N`), oldest first; the last one may still be
    /// running or waiting for a pick.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parallel: Vec<Parallel>,
    /// Fields written by newer versions or by hand; kept when the note is rewritten.
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// Where planning stands. TOML spells it `planning`, `ready` or `blocked`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    /// The steps are there; the executor may work.
    Ready,
    /// The planner gave up (questions, or too many replans).
    Blocked,
    /// Not planned yet, or re-planning. Also what a missing or unknown word reads as: the
    /// planner then runs again rather than the executor on a plan it cannot vouch for.
    /// (Last: serde's `other` must be.)
    #[default]
    #[serde(other)]
    Planning,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Planning => "planning",
            PlanStatus::Ready => "ready",
            PlanStatus::Blocked => "blocked",
        }
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanStep {
    pub title: String,
    pub detail: String,
}

/// A discarded experiment: where the branch was, where it went back to, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempt {
    pub at: String,
    pub step: u32,
    pub reason: String,
    /// The tip that was discarded, kept in `attic`.
    pub discarded: String,
    pub attic: String,
    /// The commit the branch went back to (for a failed try: the tip the next try starts
    /// from again).
    pub restored: String,
    /// `try` for a try that ended without a checkpoint (refused, looping, out of turns …);
    /// empty for a rollback.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// How many replans the plan had when the try ended: only tries of the current plan
    /// count towards the step's limit.
    #[serde(skip_serializing_if = "is_zero")]
    pub replan: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// [`Attempt::kind`] of a try that ended without a checkpoint.
pub const FAILED_TRY: &str = "try";

impl Attempt {
    /// Whether this is a failed try of `step` under the plan revision `replan`, started from
    /// one of `tips`.
    pub fn is_failed_try_of(&self, step: u32, replan: u32, tips: &[String]) -> bool {
        self.kind == FAILED_TRY
            && self.step == step
            && self.replan == replan
            && tips.contains(&self.restored)
    }
}

/// What an attempt task is an attempt of (docs/data-model.md#attempts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttemptOf {
    /// The slug of the task the attempt belongs to.
    pub task: String,
    /// This attempt's number, 1-based, and how many run side by side.
    pub k: u32,
    pub n: u32,
    /// Full id of the commit of the task's branch the attempt started from.
    pub fork: String,
    /// The task's steps done at the fork: this plan's steps are the task's after them.
    pub offset: u32,
}

/// One round of parallel attempts of a task, on its plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Parallel {
    pub n: u32,
    /// `auto` (the harness picks when all have stopped) or `manual` (`git agent pick`).
    pub pick: String,
    /// Full id of the branch's tip when the attempts started.
    pub fork: String,
    /// The task's steps done at the fork.
    pub offset: u32,
    pub at: String,
    /// The attempt that became the branch; 0 while none is picked.
    pub picked: u32,
    /// Every attempt as it ended, once one is picked.
    pub results: Vec<AttemptResult>,
}

/// An attempt as it ended: the facts the pick compared, and where its work is now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttemptResult {
    pub k: u32,
    /// `won` or `lost`.
    pub outcome: String,
    /// Why it won or lost, in words.
    pub reason: String,
    /// How its run ended: `done`, `blocked`, `budget`, `interrupted`, `error`, `idle`.
    pub stop: String,
    /// The verdict of the tests at its tip: `pass`, `fail`, `not-run`, or `none` without a
    /// checkpoint.
    pub tests: String,
    pub checkpoints: u32,
    /// Failing checkpoints plus tries that ended without a checkpoint.
    pub failed_tries: u32,
    pub insertions: u32,
    pub deletions: u32,
    pub files: Vec<String>,
    pub cost_usd: f64,
    pub wall_ms: u64,
    pub turns: u64,
    /// Full id of its last commit as a commit of this task (on the branch for the winner, in
    /// `attic` for the others); empty when it made no checkpoint.
    pub tip: String,
    pub attic: String,
    /// What it spent outside checkpoint records (its replanning and pending usage): counted
    /// in the task's budget.
    #[serde(skip_serializing_if = "Usage::is_zero")]
    pub plan_usage: Usage,
}

impl AttemptResult {
    pub fn diff_lines(&self) -> u64 {
        u64::from(self.insertions) + u64::from(self.deletions)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Merged {
    pub into: String,
    pub commit: String,
    pub squash: bool,
    pub at: String,
}

impl Plan {
    pub fn new(goal: &str) -> Plan {
        Plan {
            format: FORMAT,
            goal: goal.to_string(),
            status: PlanStatus::Planning,
            ..Plan::default()
        }
    }

    /// Whether this version knows the plan's format well enough to write the task.
    pub fn is_writable(&self) -> bool {
        self.format <= FORMAT
    }

    pub fn to_toml(&self) -> String {
        // Plain data without maps keyed by non-strings cannot fail to serialize.
        toml::to_string(self)
            .unwrap_or_else(|err| format!("# could not serialize the plan: {err}\n"))
    }
}

/// An update of the task from its base that is waiting for its conflicts to be resolved
/// (docs/data-model.md, the plan's `update`): the next checkpoint of the task is the merge
/// commit, with this commit as its second parent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Update {
    /// The base branch merged in, without `refs/heads/`.
    pub branch: String,
    /// Full id of the commit of the base branch that is merged in.
    pub base: String,
    /// Full id of the task's tip the update was made on: the merge commit's first parent.
    /// Empty in plans written before it was recorded (then any tip is taken for it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub onto: String,
    /// The paths that conflicted.
    pub conflicts: Vec<String>,
    /// The plan step (1-based) added to resolve them.
    pub step: u32,
    pub at: String,
}

impl Update {
    /// Whether the update was made on `commit` (an update recorded without `onto` may have
    /// been made on any).
    pub(in crate::store) fn made_on(&self, commit: ObjectId) -> bool {
        self.onto.is_empty()
            || ObjectId::from_hex(self.onto.as_bytes()).is_ok_and(|onto| onto == commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn plan_round_trips_and_tolerates_unknown_fields() {
        let mut plan = Plan::new("add a flag");
        plan.steps.push(PlanStep {
            title: "write test".into(),
            detail: "in tests/".into(),
        });
        plan.attempts.push(Attempt {
            reason: "tests kept failing".into(),
            ..Attempt::default()
        });
        let mut text = plan.to_toml();
        text.insert_str(0, "reviewer = \"alice\"\n");
        let parsed: Plan = toml::from_str(&text).expect("parses");
        assert_eq!(parsed.steps, plan.steps);
        assert_eq!(parsed.attempts, plan.attempts);
        let rewritten: Plan = toml::from_str(&parsed.to_toml()).expect("parses again");
        assert_eq!(
            rewritten.extra.get("reviewer").and_then(|v| v.as_str()),
            Some("alice")
        );
    }

    #[test]
    fn new_plans_say_their_format_and_old_ones_read_as_format_1() {
        let text = Plan::new("g").to_toml();
        assert!(text.starts_with("format = 1\ngoal = \"g\"\n"), "{text}");
        // A note written before the field existed: the same bytes for every other field.
        let old = "goal = \"g\"\nbase_branch = \"\"\nhere = false\nstatus = \"planning\"\n";
        let plan: Plan = toml::from_str(old).expect("parses");
        assert_eq!(plan.format, 1);
        assert!(plan.is_writable());
        assert!(plan.to_toml().starts_with(&format!("format = 1\n{old}")));

        let newer: Plan =
            toml::from_str("format = 2\ngoal = \"g\"\nshiny = true\n").expect("parses");
        assert_eq!((newer.format, newer.goal.as_str()), (2, "g"));
        assert!(!newer.is_writable());
    }
}
