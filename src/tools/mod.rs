//! The model-facing tools. Names and input fields are fixed so recorded
//! sessions and test servers stay valid. Every path is confined to the worktree; every
//! command passes the command policy and runs in the sandbox. A tool error goes back to the
//! model as an error result; it never ends the run.

mod files;
mod glob;
pub mod mcp;
mod patch;
pub mod registry;
mod search;

use registry::{Handler, Kind};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::llm::{bytes_for_tokens, estimate_tokens};
use crate::policy::{CommandPolicy, SandboxSpec};
use crate::walk::generated::Generated;

/// The most tokens one tool result gives the model by default: enough for a few hundred
/// lines of code, small enough that a step's context holds many of them.
pub const OUTPUT_TOKENS: u64 = 8_000;

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
    /// Most tokens of one tool result sent back to the model (estimated, see
    /// [`crate::llm::estimate_tokens`]).
    pub output_tokens: u64,
    /// Generated output the file finders leave out, as checkpoints do.
    pub generated: Generated,
    /// Values masked in everything a tool returns (provider keys).
    pub secrets: Vec<String>,
    /// How many commands the policy refused in this run.
    pub refusals: u32,
    /// The configured MCP servers, whose tools the executor is offered beside these.
    pub mcp: mcp::McpServers,
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
                self.output_tokens,
            ),
            ..out
        }
    }

    async fn dispatch(&mut self, name: &str, input: &Value) -> Result<ToolOutput, ToolOutput> {
        let Some(def) = registry::find(name).filter(|def| def.executor) else {
            return match self.mcp.call(name, input).await {
                Some(out) => Ok(out),
                None => {
                    let mut message = registry::unknown_tool(name, false);
                    let servers = self.mcp.names();
                    if !servers.is_empty() {
                        message.push_str(&format!(", and of MCP servers {}", servers.join(", ")));
                    }
                    Err(ToolOutput::error(message))
                }
            };
        };
        let out = match def.handler {
            Handler::Worktree(handle) => handle(
                &Scope {
                    root: &self.worktree,
                    generated: &self.generated,
                    budget: self.output_tokens,
                },
                input,
            ),
            Handler::Command => {
                self.run_command(field(input, "command")?, number(input, "timeout_secs"))
                    .await
            }
            Handler::Loop => Err(ToolOutput::error(registry::unknown_tool(name, false))),
        };
        if def.kind == Kind::Edit {
            return out.map(ToolOutput::edited);
        }
        out
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
            bytes_for_tokens(self.output_tokens),
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

/// What a worktree tool works on, and how much it may return.
pub struct Scope<'a> {
    pub root: &'a Path,
    pub generated: &'a Generated,
    /// Most tokens of output.
    pub budget: u64,
}

/// Keep the head and the tail of a text longer than `tokens`, and say how much was cut.
pub fn bound(text: &str, tokens: u64) -> String {
    let limit = bytes_for_tokens(tokens);
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
        "{}\n[… {} characters ({} lines, about {} tokens) cut from the middle: a tool result holds \
         about {tokens} tokens; ask for less to see them …]\n{}",
        &text[..head_end],
        cut.len(),
        cut.lines().count(),
        estimate_tokens(cut.len()),
        &text[tail_start..]
    )
}

/// The file list the planner sees first, bounded.
pub fn files_overview(worktree: &Path, generated: &Generated) -> String {
    let scope = Scope {
        root: worktree,
        generated,
        budget: OUTPUT_TOKENS,
    };
    match files::list_files(&scope, None) {
        Ok(out) | Err(out) => bound(&out.content, OUTPUT_TOKENS),
    }
}
