//! What the loop tells the outside world. The loop only emits events; the human renderer
//! and the JSON-lines renderer (src/ui) consume them.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    TaskStarted {
        slug: String,
        branch: String,
        worktree: String,
        resumed: bool,
    },
    Planning {
        replan: u32,
    },
    Plan {
        objective: String,
        test_command: String,
        steps: Vec<String>,
    },
    StepStarted {
        step: u32,
        steps: u32,
        title: String,
        attempt: u32,
    },
    ModelText {
        text: String,
    },
    /// A model call failed and is tried again after `wait_ms`; `unreachable` is set when the
    /// server answered nothing (src/llm/retry.rs).
    ModelRetry {
        attempt: u32,
        wait_ms: u64,
        reason: String,
        unreachable: Option<UnreachableRetry>,
    },
    ToolCall {
        name: String,
        detail: String,
    },
    ToolResult {
        name: String,
        is_error: bool,
        detail: String,
    },
    Tests {
        command: String,
        verdict: crate::store::TestsVerdict,
        summary: String,
    },
    SecretFound {
        findings: Vec<String>,
    },
    /// A checkpoint was made without these paths, which it could not reach (each with why
    /// and what to do); the model is told at the start of its next step.
    LeftOut {
        paths: Vec<String>,
    },
    /// A try of a step ended without a checkpoint (refused, looping, out of turns …); it
    /// counts towards the step's tries.
    TryEnded {
        step: u32,
        reason: String,
        /// Where its work was kept, if it left any.
        attic: Option<String>,
    },
    /// A budget is 80 % spent.
    BudgetWarning {
        budget: String,
        used: String,
        limit: String,
    },
    /// A message of `git agent say` was shown to the model as the user's words.
    Said {
        commit: String,
        message: String,
    },
    /// An MCP server was started for the executor (`tools`: what it offers), or could not
    /// be (`error`); `skipped`: tools it lists that are not offered, and why.
    McpServer {
        server: String,
        tools: Vec<String>,
        skipped: Vec<String>,
        error: Option<String>,
    },
    Checkpoint {
        number: u32,
        commit: String,
        step: u32,
        tests: String,
        files_changed: u32,
        checkpoint_ms: u64,
        /// What the checkpoint recorded that the user (and the model) should know, as git
        /// warns: a repository inside the worktree recorded as a gitlink, or left out.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
    },
    Rollback {
        from: String,
        to: String,
        attic: String,
        reason: String,
    },
    Usage {
        turns: u64,
        tokens: u64,
        cost_usd: f64,
        elapsed_ms: u64,
    },
    /// The run ended. `hint` says how to get past the error that ended it, if known; `next`
    /// lists what the user can do now, only what applies to the task as it stands; `usage` is
    /// the task's whole usage as git holds it, every run included; `unrecorded` is set when
    /// git could not hold the stop record.
    Stopped {
        reason: String,
        detail: String,
        slug: String,
        hint: Option<String>,
        next: Vec<Suggestion>,
        usage: UsageTotal,
        unrecorded: Option<Unrecorded>,
    },
}

/// The `retry`-th of at most `of` retries of a model server that answered nothing: as many
/// as the `unreachable_wait` window holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UnreachableRetry {
    pub retry: u32,
    pub of: u32,
}

/// A stop git could not record (a full disk, a read-only `.git`): why, and the runtime file
/// it is kept in instead (`None`: it could not be kept either).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unrecorded {
    pub why: String,
    pub kept_in: Option<String>,
}

impl Event {
    /// The event with `f` applied to every string it holds: how redaction and the terminal's
    /// escaping reach each field as a value, before anything is rendered.
    pub fn map_text(self, f: impl Fn(String) -> String) -> Event {
        let all = |texts: Vec<String>| texts.into_iter().map(&f).collect::<Vec<_>>();
        match self {
            Event::TaskStarted {
                slug,
                branch,
                worktree,
                resumed,
            } => Event::TaskStarted {
                slug: f(slug),
                branch: f(branch),
                worktree: f(worktree),
                resumed,
            },
            Event::Planning { replan } => Event::Planning { replan },
            Event::Plan {
                objective,
                test_command,
                steps,
            } => Event::Plan {
                objective: f(objective),
                test_command: f(test_command),
                steps: all(steps),
            },
            Event::StepStarted {
                step,
                steps,
                title,
                attempt,
            } => Event::StepStarted {
                step,
                steps,
                title: f(title),
                attempt,
            },
            Event::ModelText { text } => Event::ModelText { text: f(text) },
            Event::ModelRetry {
                attempt,
                wait_ms,
                reason,
                unreachable,
            } => Event::ModelRetry {
                attempt,
                wait_ms,
                reason: f(reason),
                unreachable,
            },
            Event::ToolCall { name, detail } => Event::ToolCall {
                name: f(name),
                detail: f(detail),
            },
            Event::ToolResult {
                name,
                is_error,
                detail,
            } => Event::ToolResult {
                name: f(name),
                is_error,
                detail: f(detail),
            },
            Event::Tests {
                command,
                verdict,
                summary,
            } => Event::Tests {
                command: f(command),
                verdict,
                summary: f(summary),
            },
            Event::SecretFound { findings } => Event::SecretFound {
                findings: all(findings),
            },
            Event::LeftOut { paths } => Event::LeftOut { paths: all(paths) },
            Event::TryEnded {
                step,
                reason,
                attic,
            } => Event::TryEnded {
                step,
                reason: f(reason),
                attic: attic.map(&f),
            },
            Event::BudgetWarning {
                budget,
                used,
                limit,
            } => Event::BudgetWarning {
                budget: f(budget),
                used: f(used),
                limit: f(limit),
            },
            Event::Said { commit, message } => Event::Said {
                commit: f(commit),
                message: f(message),
            },
            Event::McpServer {
                server,
                tools,
                skipped,
                error,
            } => Event::McpServer {
                server: f(server),
                tools: all(tools),
                skipped: all(skipped),
                error: error.map(&f),
            },
            Event::Checkpoint {
                number,
                commit,
                step,
                tests,
                files_changed,
                checkpoint_ms,
                warnings,
            } => Event::Checkpoint {
                number,
                commit: f(commit),
                step,
                tests: f(tests),
                files_changed,
                checkpoint_ms,
                warnings: all(warnings),
            },
            Event::Rollback {
                from,
                to,
                attic,
                reason,
            } => Event::Rollback {
                from: f(from),
                to: f(to),
                attic: f(attic),
                reason: f(reason),
            },
            Event::Usage { .. } => self,
            Event::Stopped {
                reason,
                detail,
                slug,
                hint,
                next,
                usage,
                unrecorded,
            } => Event::Stopped {
                reason: f(reason),
                detail: f(detail),
                slug: f(slug),
                hint: hint.map(&f),
                next: next
                    .into_iter()
                    .map(|s| Suggestion {
                        label: s.label,
                        commands: all(s.commands),
                    })
                    .collect(),
                usage,
                unrecorded: unrecorded.map(|u| Unrecorded {
                    why: f(u.why),
                    kept_in: u.kept_in.map(&f),
                }),
            },
        }
    }
}

/// The `reason` of the [`Event::Stopped`] of a run that only planned (`start --plan-only`):
/// no stop record is written for it, the task waits for `resume`.
pub const PLANNED: &str = "planned";

/// Something to do after a run, with the commands that do it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub label: &'static str,
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageTotal {
    pub turns: u64,
    pub tokens: u64,
    pub cost_usd: f64,
    /// Wall time of this run.
    pub elapsed_ms: u64,
}

/// What to suggest after a run that stopped for `reason`: reviewing and undoing only when the
/// task has a checkpoint, merging only when it is done, and for a budget stop the flag a
/// resume needs (`raised`, e.g. `--max-turns 12`).
pub fn suggestions(
    reason: &str,
    slug: &str,
    has_checkpoints: bool,
    raised: Option<&str>,
) -> Vec<Suggestion> {
    let one = |label, command: String| Suggestion {
        label,
        commands: vec![command],
    };
    let resume = format!("git agent resume {slug}");
    let mut out = Vec::new();
    if has_checkpoints {
        out.push(Suggestion {
            label: "review",
            commands: vec![
                format!("git log agent/{slug}"),
                format!("git agent log {slug}"),
                format!("git agent diff {slug}"),
            ],
        });
    }
    match reason {
        "done" if has_checkpoints => out.push(one("merge", format!("git agent merge {slug}"))),
        "done" => out.push(one("continue", resume)),
        "blocked" => {
            out.push(one("see why", format!("git agent status {slug}")));
            out.push(one("continue", resume));
        }
        "budget" => out.push(one(
            "continue",
            match raised {
                Some(flag) => format!("{resume} {flag}"),
                None => resume,
            },
        )),
        _ => out.push(one("continue", resume)),
    }
    if has_checkpoints {
        out.push(one("undo", format!("git agent rollback {slug} --steps 1")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn labels(s: Vec<Suggestion>) -> Vec<String> {
        s.into_iter()
            .map(|s| format!("{}: {}", s.label, s.commands.join(" · ")))
            .collect()
    }

    #[test]
    fn suggests_only_what_applies() {
        assert_eq!(
            labels(suggestions("blocked", "q", false, None)),
            [
                "see why: git agent status q",
                "continue: git agent resume q"
            ]
        );
        assert_eq!(
            labels(suggestions("budget", "b", true, Some("--max-turns 12"))),
            [
                "review: git log agent/b · git agent log b · git agent diff b",
                "continue: git agent resume b --max-turns 12",
                "undo: git agent rollback b --steps 1"
            ]
        );
        assert_eq!(
            labels(suggestions("done", "p", false, None)),
            ["continue: git agent resume p"]
        );
    }
}
