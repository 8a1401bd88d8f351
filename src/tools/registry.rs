//! The one definition of every model-facing tool: its name, what it is for, who is offered
//! it, its input schema, and the fields progress lines show. The specs sent to the models,
//! the planner's and the executor's tool sets, the edit tracking, the progress text and the
//! unknown-tool message and the dispatch all derive from [`TOOLS`]; adding a tool is one row
//! here (its handler included; a control tool's handling is the loop's).

use std::path::Path;

use serde_json::{Value, json};

use super::{ToolOutput, field, files, number, search};
use crate::llm::ToolSpec;

/// How a call of the tool is carried out.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Works on the worktree's files, confined to it.
    Worktree(fn(&Path, &Value) -> Result<ToolOutput, ToolOutput>),
    /// Runs a command: the toolbox's policy, sandbox and time limits apply.
    Command,
    /// Ends a step or a run, or submits a plan: the loop's business, never dispatched.
    Loop,
}

/// What a tool does, which decides who gets it and how the loop treats a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads the worktree; the planner gets these too.
    Read,
    /// Changes files: counted towards `max_edits_before_test`.
    Edit,
    /// Runs a command in the sandbox.
    Command,
    /// Ends a step or a run, or submits a plan: handled by the loop, never dispatched.
    Control,
}

pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub planner: bool,
    pub executor: bool,
    /// Input fields that progress lines show, in order.
    pub shown: &'static [&'static str],
    pub required: &'static [&'static str],
    properties: fn() -> Value,
    pub handler: Handler,
}

impl ToolDef {
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.to_string(),
            description: self.description.to_string(),
            input_schema: json!({"type": "object", "properties": (self.properties)(), "required": self.required}),
        }
    }

    /// The input as one line for progress output.
    pub fn describe(&self, input: &Value) -> String {
        let parts: Vec<&str> = self
            .shown
            .iter()
            .filter_map(|k| input.get(*k).and_then(Value::as_str))
            .filter(|v| !v.is_empty())
            .collect();
        crate::text::first_line(parts.join(" ").trim(), 100)
    }
}

pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "read_file",
        description: "Read a file of the worktree; returns numbered lines.",
        kind: Kind::Read,
        planner: true,
        executor: true,
        shown: &["path"],
        required: &["path"],
        properties: || json!({"path": {"type": "string"}, "offset": {"type": "integer", "description": "first line, 1-based"}, "limit": {"type": "integer"}}),
        handler: Handler::Worktree(|worktree, input| {
            files::read_file(
                worktree,
                field(input, "path")?,
                number(input, "offset"),
                number(input, "limit"),
            )
        }),
    },
    ToolDef {
        name: "list_files",
        description: "List files under a folder of the worktree (default: all), honouring .gitignore.",
        kind: Kind::Read,
        planner: true,
        executor: true,
        shown: &["path"],
        required: &[],
        properties: || json!({"path": {"type": "string"}}),
        handler: Handler::Worktree(|worktree, input| {
            files::list_files(worktree, input.get("path").and_then(Value::as_str))
        }),
    },
    ToolDef {
        name: "search",
        description: "Search the worktree for a regular expression; returns path:line: text.",
        kind: Kind::Read,
        planner: true,
        executor: true,
        shown: &["pattern", "path"],
        required: &["pattern"],
        properties: || json!({"pattern": {"type": "string"}, "path": {"type": "string"}}),
        handler: Handler::Worktree(|worktree, input| {
            search::search(
                worktree,
                field(input, "pattern")?,
                input.get("path").and_then(Value::as_str),
            )
        }),
    },
    ToolDef {
        name: "write_file",
        description: "Create or replace a file of the worktree.",
        kind: Kind::Edit,
        planner: false,
        executor: true,
        shown: &["path"],
        required: &["path", "content"],
        properties: || json!({"path": {"type": "string"}, "content": {"type": "string"}}),
        handler: Handler::Worktree(|worktree, input| {
            files::write_file(worktree, field(input, "path")?, field(input, "content")?)
        }),
    },
    ToolDef {
        name: "edit_file",
        description: "Replace one exact, unique occurrence of old_text with new_text in a file.",
        kind: Kind::Edit,
        planner: false,
        executor: true,
        shown: &["path"],
        required: &["path", "old_text", "new_text"],
        properties: || json!({"path": {"type": "string"}, "old_text": {"type": "string"}, "new_text": {"type": "string"}}),
        handler: Handler::Worktree(|worktree, input| {
            files::edit_file(
                worktree,
                field(input, "path")?,
                field(input, "old_text")?,
                field(input, "new_text")?,
            )
        }),
    },
    ToolDef {
        name: "run_command",
        description: "Run a shell command in the worktree (sandboxed, no network unless allowed).",
        kind: Kind::Command,
        planner: false,
        executor: true,
        shown: &["command"],
        required: &["command"],
        properties: || json!({"command": {"type": "string"}, "timeout_secs": {"type": "integer"}}),
        handler: Handler::Command,
    },
    ToolDef {
        name: "finish_step",
        description: "End the current step. The harness then runs the tests and records a checkpoint.",
        kind: Kind::Control,
        planner: false,
        executor: true,
        shown: &["summary"],
        required: &["summary", "expected_outcome", "risks", "next_step"],
        properties: || json!({"summary": {"type": "string"}, "expected_outcome": {"type": "string"}, "risks": {"type": "string"}, "next_step": {"type": "string"}}),
        handler: Handler::Loop,
    },
    ToolDef {
        name: "report_blocked",
        description: "Stop the run: the goal cannot be reached safely or needs a human decision.",
        kind: Kind::Control,
        planner: true,
        executor: true,
        shown: &["reason"],
        required: &["reason"],
        properties: || json!({"reason": {"type": "string"}}),
        handler: Handler::Loop,
    },
    ToolDef {
        name: "submit_plan",
        description: "Submit the plan: objective, constraints, acceptance criteria, the test command and small ordered steps.",
        kind: Kind::Control,
        planner: true,
        executor: false,
        shown: &["objective"],
        required: &[
            "objective",
            "constraints",
            "acceptance_criteria",
            "test_command",
            "steps",
        ],
        properties: || {
            json!({
                "objective": {"type": "string"},
                "constraints": {"type": "array", "items": {"type": "string"}},
                "acceptance_criteria": {"type": "array", "items": {"type": "string"}},
                "test_command": {"type": "string"},
                "steps": {"type": "array", "items": {"type": "object", "properties": {"title": {"type": "string"}, "detail": {"type": "string"}}, "required": ["title", "detail"]}}
            })
        },
        handler: Handler::Loop,
    },
];

/// The definition of a tool by name.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Whether `name` is a tool of `kind`.
pub fn is(name: &str, kind: Kind) -> bool {
    find(name).is_some_and(|t| t.kind == kind)
}

/// The specs the planner is offered.
pub fn planner_specs() -> Vec<ToolSpec> {
    TOOLS
        .iter()
        .filter(|t| t.planner)
        .map(ToolDef::spec)
        .collect()
}

/// The specs the executor is offered.
pub fn executor_specs() -> Vec<ToolSpec> {
    TOOLS
        .iter()
        .filter(|t| t.executor)
        .map(ToolDef::spec)
        .collect()
}

/// What the model is told when it calls a tool that does not exist (or not for it).
pub fn unknown_tool(name: &str, planner: bool) -> String {
    let names: Vec<&str> = TOOLS
        .iter()
        .filter(|t| if planner { t.planner } else { t.executor })
        .map(|t| t.name)
        .collect();
    format!("unknown tool `{name}`; the tools are {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_offered_to_someone_and_named_once() {
        let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len());
        assert!(TOOLS.iter().all(|t| t.planner || t.executor));
        for spec in planner_specs().iter().chain(&executor_specs()) {
            assert_eq!(spec.input_schema["type"], "object");
        }
        assert_eq!(
            planner_specs()
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            [
                "read_file",
                "list_files",
                "search",
                "report_blocked",
                "submit_plan"
            ]
        );
    }
}
