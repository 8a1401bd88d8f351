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
    ModelRetry {
        attempt: u32,
        wait_ms: u64,
        reason: String,
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
        verdict: String,
        summary: String,
    },
    SecretFound {
        findings: Vec<String>,
    },
    Checkpoint {
        number: u32,
        commit: String,
        step: u32,
        tests: String,
        files_changed: u32,
        checkpoint_ms: u64,
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
    Stopped {
        reason: String,
        detail: String,
        slug: String,
    },
}
