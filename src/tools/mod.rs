//! The model-facing tools. Names and input fields are fixed so recorded
//! sessions and test servers stay valid. Every path is confined to the worktree; every
//! command passes the command policy and runs in the sandbox. A tool error goes back to the
//! model as an error result; it never ends the run.

mod files;
mod search;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::llm::ToolSpec;
use crate::policy::{CommandPolicy, SandboxSpec};

/// What a tool call gave back to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub content: String,
    pub is_error: bool,
    /// The call changed files in the worktree.
    pub edited: bool,
}

impl ToolOutput {
    pub fn ok(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: false,
            edited: false,
        }
    }

    pub fn error(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: true,
            edited: false,
        }
    }

    fn edited(mut self) -> Self {
        self.edited = !self.is_error;
        self
    }
}

/// The tools of one task.
pub struct ToolBox {
    pub worktree: PathBuf,
    pub policy: CommandPolicy,
    pub sandbox: SandboxSpec,
    pub command_timeout: Duration,
    /// Most characters of tool output sent back to the model.
    pub output_limit: usize,
    /// Values masked in everything a tool returns (provider keys).
    pub secrets: Vec<String>,
    /// How many commands the policy refused in this run.
    pub refusals: u32,
}

pub const READ_ONLY: &[&str] = &["read_file", "list_files", "search"];

fn spec(name: &str, description: &str, properties: Value, required: &[&str]) -> ToolSpec {
    ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        input_schema: json!({"type": "object", "properties": properties, "required": required}),
    }
}

/// The tool definitions sent to the model.
pub fn specs(names: &[&str]) -> Vec<ToolSpec> {
    let all = [
        spec(
            "read_file",
            "Read a file of the worktree; returns numbered lines.",
            json!({"path": {"type": "string"}, "offset": {"type": "integer", "description": "first line, 1-based"}, "limit": {"type": "integer"}}),
            &["path"],
        ),
        spec(
            "list_files",
            "List files under a folder of the worktree (default: all), honouring .gitignore.",
            json!({"path": {"type": "string"}}),
            &[],
        ),
        spec(
            "search",
            "Search the worktree for a regular expression; returns path:line: text.",
            json!({"pattern": {"type": "string"}, "path": {"type": "string"}}),
            &["pattern"],
        ),
        spec(
            "write_file",
            "Create or replace a file of the worktree.",
            json!({"path": {"type": "string"}, "content": {"type": "string"}}),
            &["path", "content"],
        ),
        spec(
            "edit_file",
            "Replace one exact, unique occurrence of old_text with new_text in a file.",
            json!({"path": {"type": "string"}, "old_text": {"type": "string"}, "new_text": {"type": "string"}}),
            &["path", "old_text", "new_text"],
        ),
        spec(
            "run_command",
            "Run a shell command in the worktree (sandboxed, no network unless allowed).",
            json!({"command": {"type": "string"}, "timeout_secs": {"type": "integer"}}),
            &["command"],
        ),
        spec(
            "finish_step",
            "End the current step. The harness then runs the tests and records a checkpoint.",
            json!({"summary": {"type": "string"}, "expected_outcome": {"type": "string"}, "risks": {"type": "string"}, "next_step": {"type": "string"}}),
            &["summary", "expected_outcome", "risks", "next_step"],
        ),
        spec(
            "report_blocked",
            "Stop the run: the goal cannot be reached safely or needs a human decision.",
            json!({"reason": {"type": "string"}}),
            &["reason"],
        ),
        spec(
            "submit_plan",
            "Submit the plan: objective, constraints, acceptance criteria, the test command and small ordered steps.",
            json!({
                "objective": {"type": "string"},
                "constraints": {"type": "array", "items": {"type": "string"}},
                "acceptance_criteria": {"type": "array", "items": {"type": "string"}},
                "test_command": {"type": "string"},
                "steps": {"type": "array", "items": {"type": "object", "properties": {"title": {"type": "string"}, "detail": {"type": "string"}}, "required": ["title", "detail"]}}
            }),
            &[
                "objective",
                "constraints",
                "acceptance_criteria",
                "test_command",
                "steps",
            ],
        ),
    ];
    all.into_iter()
        .filter(|s| names.contains(&s.name.as_str()))
        .collect()
}

/// A string field of a tool input, or a tool error naming it.
fn field<'a>(input: &'a Value, name: &str) -> Result<&'a str, ToolOutput> {
    input
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolOutput::error(format!("missing string field `{name}`")))
}

fn number(input: &Value, name: &str) -> Option<u64> {
    input.get(name).and_then(Value::as_u64)
}

impl ToolBox {
    /// Run one of the worktree tools. Loop-control tools (`finish_step`, `report_blocked`,
    /// `submit_plan`) are the loop's business and never reach here.
    pub async fn call(&mut self, name: &str, input: &Value) -> ToolOutput {
        let out = match self.dispatch(name, input).await {
            Ok(out) | Err(out) => out,
        };
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        ToolOutput {
            content: bound(
                &crate::policy::redact(&out.content, &secrets),
                self.output_limit,
            ),
            ..out
        }
    }

    async fn dispatch(&mut self, name: &str, input: &Value) -> Result<ToolOutput, ToolOutput> {
        match name {
            "read_file" => files::read_file(
                &self.worktree,
                field(input, "path")?,
                number(input, "offset"),
                number(input, "limit"),
            ),
            "list_files" => {
                files::list_files(&self.worktree, input.get("path").and_then(Value::as_str))
            }
            "search" => search::search(
                &self.worktree,
                field(input, "pattern")?,
                input.get("path").and_then(Value::as_str),
            ),
            "write_file" => files::write_file(
                &self.worktree,
                field(input, "path")?,
                field(input, "content")?,
            )
            .map(ToolOutput::edited),
            "edit_file" => files::edit_file(
                &self.worktree,
                field(input, "path")?,
                field(input, "old_text")?,
                field(input, "new_text")?,
            )
            .map(ToolOutput::edited),
            "run_command" => {
                self.run_command(field(input, "command")?, number(input, "timeout_secs"))
                    .await
            }
            other => Err(ToolOutput::error(format!(
                "unknown tool `{other}`; the tools are read_file, list_files, search, write_file, edit_file, run_command, finish_step, report_blocked"
            ))),
        }
    }

    async fn run_command(
        &mut self,
        command: &str,
        timeout_secs: Option<u64>,
    ) -> Result<ToolOutput, ToolOutput> {
        if let Err(refusal) = self.policy.check(command) {
            self.refusals += 1;
            return Err(ToolOutput::error(format!(
                "refused by the command policy: {refusal}"
            )));
        }
        let timeout = timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(self.command_timeout)
            .min(self.command_timeout.max(Duration::from_secs(1)) * 5);
        let output = crate::policy::sandbox::run(
            command,
            &self.worktree,
            &self.sandbox,
            &[],
            timeout,
            self.output_limit,
        )
        .await
        .map_err(|err| ToolOutput::error(format!("could not run the command: {err}")))?;
        let status = if output.timed_out {
            format!("timed out after {}s", timeout.as_secs())
        } else {
            match output.exit_code {
                Some(code) => format!("exit code {code}"),
                None => "killed by a signal".to_string(),
            }
        };
        // Commands may write files; the loop treats every command as a possible edit.
        Ok(ToolOutput {
            content: format!("{status}\n{}", output.output),
            is_error: output.exit_code != Some(0),
            edited: true,
        })
    }
}

/// Keep the head and the tail of a long text, and say how much was cut.
pub fn bound(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let half = limit / 2;
    let mut head_end = half;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - half;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let cut = &text[head_end..tail_start];
    format!(
        "{}\n[… {} characters ({} lines) cut …]\n{}",
        &text[..head_end],
        cut.len(),
        cut.lines().count(),
        &text[tail_start..]
    )
}

/// The file list the planner sees first, bounded.
pub fn files_overview(worktree: &std::path::Path) -> String {
    match files::list_files(worktree, None) {
        Ok(out) | Err(out) => out.content,
    }
}
