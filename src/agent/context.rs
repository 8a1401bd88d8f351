//! What the models are shown: the planner's view of the repository, and the executor's
//! fresh context for one step (never the whole past transcript).

use std::path::Path;

use crate::store::format::record::TestRun;
use crate::store::{Checkpoint, Plan};

/// A committed file is a stranger's data: read beneath the worktree, never through a link
/// (a `README.md -> ~/.ssh/id_rsa` must not reach the provider), regular files only, and
/// never more than a bounded prefix.
fn read_beneath(dir: &Path, name: &str, max: usize) -> Option<String> {
    let root = crate::beneath::Root::open(dir).ok()?;
    let (file, _) = root.open_regular(Path::new(name)).ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max as u64 + 4), &mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_capped(dir: &Path, name: &str, max: usize) -> Option<String> {
    let text = read_beneath(dir, name, max)?;
    Some(if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}\n[… cut at {max} characters]", &text[..end])
    } else {
        text
    })
}

/// A test command guessed from the files of the project, offered to the planner as a hint.
pub fn detect_test_command(dir: &Path) -> Option<&'static str> {
    let has = |f: &str| dir.join(f).exists();
    if has("Cargo.toml") {
        Some("cargo test")
    } else if has("package.json") {
        Some("npm test")
    } else if has("pyproject.toml") || has("pytest.ini") || has("setup.py") {
        Some("python -m pytest -q")
    } else if has("go.mod") {
        Some("go test ./...")
    } else if has("test.sh") {
        Some("sh test.sh")
    } else if read_beneath(dir, "Makefile", 1 << 20)
        .is_some_and(|m| m.contains("\ntest:") || m.starts_with("test:"))
    {
        Some("make test")
    } else {
        None
    }
}

pub struct PlannerContext<'a> {
    pub goal: &'a str,
    pub worktree: &'a Path,
    /// Generated output the file list leaves out.
    pub generated: &'a crate::walk::generated::Generated,
    pub history: &'a str,
    pub configured_test_command: Option<&'a str>,
    /// On a replan: the plan so far, the steps kept, and the failed attempts.
    pub previous: Option<(&'a Plan, u32)>,
    /// Why planning stopped blocked before, when the user resumed a blocked task.
    pub blocked: &'a [String],
}

pub fn planner_message(ctx: &PlannerContext<'_>) -> String {
    let mut out = format!("# Goal\n\n{}\n\n", ctx.goal.trim());
    let files = crate::tools::files_overview(ctx.worktree, ctx.generated);
    out.push_str(&format!("# Files (honouring .gitignore)\n\n{files}\n\n"));
    for name in ["README.md", "README", "AGENTS.md", "CLAUDE.md"] {
        if let Some(text) = read_capped(ctx.worktree, name, 4000) {
            out.push_str(&format!("# {name}\n\n{text}\n\n"));
        }
    }
    if !ctx.history.trim().is_empty() {
        out.push_str(&format!("# Recent history\n\n{}\n\n", ctx.history.trim()));
    }
    match (
        ctx.configured_test_command,
        detect_test_command(ctx.worktree),
    ) {
        (Some(cmd), _) => out.push_str(&format!(
            "# Test command\n\nThe project configures `{cmd}`; use it.\n\n"
        )),
        (None, Some(cmd)) => out.push_str(&format!(
            "# Test command hint\n\n`{cmd}` looks right for this project.\n\n"
        )),
        (None, None) => {}
    }
    if let Some((plan, kept)) = ctx.previous {
        out.push_str("# Replanning\n\nAn earlier plan failed. Steps already done and kept:\n");
        for (i, step) in plan.steps.iter().take(kept as usize).enumerate() {
            out.push_str(&format!("{}. {}\n", i + 1, step.title));
        }
        out.push_str("\nFailed attempts (rolled back; learn from them):\n");
        for attempt in &plan.attempts {
            out.push_str(&format!("- step {}: {}\n", attempt.step, attempt.reason));
        }
        out.push_str("\nSubmit only the REMAINING steps; they continue after the kept ones.\n");
    }
    if !ctx.blocked.is_empty() {
        out.push_str("# Blocked before\n\nAn earlier planning stopped blocked with:\n");
        for reason in ctx.blocked {
            out.push_str(&format!("- {reason}\n"));
        }
        out.push_str(
            "\nThe user has resumed the task: plan it with the most reasonable reading of the goal \
             (and say in the constraints which you chose), or call report_blocked again if it \
             cannot be done safely.\n",
        );
    }
    out
}

pub struct StepContext<'a> {
    pub plan: &'a Plan,
    pub step: u32,
    pub done: &'a [Checkpoint],
    pub last_test: Option<&'a TestRun>,
    pub feedback: Option<&'a str>,
    /// What the last checkpoint warned about (a repository inside the worktree).
    pub warnings: &'a [String],
}

pub fn step_message(ctx: &StepContext<'_>) -> String {
    let plan = ctx.plan;
    let mut out = format!(
        "# Goal\n\n{}\n\n# Objective\n\n{}\n\n",
        plan.goal.trim(),
        plan.objective
    );
    if let Some(of) = &plan.attempt_of {
        out.push_str(&format!(
            "# Attempt {} of {}\n\nOther attempts work on the same plan side by side; the harness keeps \
             the one whose tests pass with the fewest failed tries and the smallest diff.\n\n",
            of.k, of.n
        ));
    }
    if !plan.constraints.is_empty() {
        out.push_str("# Constraints\n\n");
        for c in &plan.constraints {
            out.push_str(&format!("- {c}\n"));
        }
        out.push('\n');
    }
    out.push_str("# Plan\n\n");
    for (i, step) in plan.steps.iter().enumerate() {
        let n = i as u32 + 1;
        let mark = if n < ctx.step {
            "done"
        } else if n == ctx.step {
            "CURRENT"
        } else {
            "later"
        };
        out.push_str(&format!("{n}. [{mark}] {}\n", step.title));
    }
    out.push_str(&format!(
        "\nTest command (run by the harness after finish_step): `{}`\n\n",
        plan.test_command
    ));
    let recent: Vec<&Checkpoint> = ctx.done.iter().rev().take(5).collect();
    if !recent.is_empty() {
        out.push_str("# Earlier checkpoints (newest first)\n\n");
        for c in recent {
            out.push_str(&format!(
                "- {} [tests: {}]\n",
                c.summary,
                c.typed.tests_line.as_deref().unwrap_or("?")
            ));
        }
        out.push('\n');
    }
    let failed: Vec<_> = plan
        .attempts
        .iter()
        .filter(|a| a.step <= ctx.step + 1)
        .collect();
    if !failed.is_empty() {
        out.push_str("# Failed attempts (rolled back)\n\n");
        for a in failed {
            out.push_str(&format!("- step {}: {}\n", a.step, a.reason));
        }
        out.push('\n');
    }
    if let Some(test) = ctx
        .last_test
        .filter(|t| t.verdict == crate::store::TestsVerdict::Fail)
    {
        out.push_str(&format!(
            "# The last test run FAILED\n\n`{}`: {}\n```\n{}\n```\n\n",
            test.command, test.summary, test.output_tail
        ));
    }
    if let Some(feedback) = ctx.feedback {
        out.push_str(&format!("# Fix this first\n\n{feedback}\n\n"));
    }
    if !ctx.warnings.is_empty() {
        out.push_str("# The last checkpoint warned\n\n");
        for warning in ctx.warnings {
            out.push_str(&format!("- {warning}\n"));
        }
        out.push('\n');
    }
    let step = plan.steps.get(ctx.step.saturating_sub(1) as usize);
    out.push_str(&format!(
        "# Current step {} of {}: {}\n\n{}\n",
        ctx.step,
        plan.steps.len(),
        step.map(|s| s.title.as_str()).unwrap_or(""),
        step.map(|s| s.detail.as_str()).unwrap_or("")
    ));
    out
}
