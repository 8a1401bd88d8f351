//! The one definition of every model-facing tool: its name, what it is for, who is offered
//! it, its input schema, and the fields progress lines show. The specs sent to the models,
//! the planner's and the executor's tool sets, the edit tracking, the progress text and the
//! unknown-tool message and the dispatch all derive from [`TOOLS`]; adding a tool is one row
//! here (its handler included; a control tool's handling is the loop's).

use serde_json::{Value, json};

use super::files::{self, Edit};
use super::{Scope, ToolOutput, field, glob, number, patch, search};
use crate::llm::ToolSpec;

/// How a call of the tool is carried out.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Works on the worktree's files, confined to it.
    Worktree(fn(&Scope<'_>, &Value) -> Result<ToolOutput, ToolOutput>),
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

/// The descriptions follow the vendors' guidance for tool definitions (Anthropic's "Define
/// tools" best practices, OpenAI's function-calling guide): what the tool does, when to use
/// it and when not, what each parameter means, its limits, and an example of good input.
pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub planner: bool,
    pub executor: bool,
    /// Offered only to the models this accepts (a format some models are trained on).
    pub only_for: Option<fn(&str) -> bool>,
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

    fn offered_to(&self, model: &str) -> bool {
        self.only_for.is_none_or(|accepts| accepts(model))
    }
}

/// An optional string field of a tool input.
fn optional<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

const PATH: &str = "Path of the file relative to the worktree root, with forward slashes, e.g. `src/lib.rs`. Absolute paths, `..` out of the worktree, `.git` and symbolic links are refused.";

pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "read_file",
        description: "Read a text file of the worktree. Returns its lines numbered as `     N<TAB>text`; the numbers are not part of the file, so never copy them into edit_file's old_text. \
Use it to see the exact text before you edit a file, and to read code you need to understand. Do not use it to find files (use glob) or to find where something is defined or used (use search), and do not read a whole large file when a range will do. \
One result holds about 8,000 tokens: a longer file is cut at a line boundary and the last line of the result says `continue with offset=N`; a single very long line (minified code, a data file) is cut within the line and the result says `continue with offset=N column=C`. Binary files and files over 8 MiB are refused (use run_command with head or sed -n for those). \
Example: {\"path\": \"src/parser.rs\", \"offset\": 120, \"limit\": 80} reads lines 120-199.",
        kind: Kind::Read,
        planner: true,
        executor: true,
        only_for: None,
        shown: &["path"],
        required: &["path"],
        properties: || {
            json!({
                "path": {"type": "string", "description": PATH},
                "offset": {"type": "integer", "minimum": 1, "description": "First line to read, 1-based. Default 1. Use the offset a cut result names to read on."},
                "limit": {"type": "integer", "minimum": 1, "description": "Most lines to read. Default 2000; fewer come back when they fill the result's token budget."},
                "column": {"type": "integer", "minimum": 1, "description": "Character column (1-based) of the first line to start at; only to read on in a very long line, as a cut result says. Default 1."}
            })
        },
        handler: Handler::Worktree(|scope, input| {
            files::read_file(
                scope,
                field(input, "path")?,
                number(input, "offset"),
                number(input, "limit"),
                number(input, "column"),
            )
        }),
    },
    ToolDef {
        name: "list_files",
        description: "List the files under a folder of the worktree, one path per line, sorted, relative to the worktree root. \
Files ignored by .gitignore and generated output (node_modules/, target/ beside Cargo.toml, __pycache__/ and the like) are left out. \
Use it to get to know the layout of a project or of one folder. To find files by name or extension across the tree use glob instead; to find text inside files use search. \
At most 500 paths are returned; the result says how many more there are. \
Example: {\"path\": \"src/tools\"}.",
        kind: Kind::Read,
        planner: true,
        executor: true,
        only_for: None,
        shown: &["path"],
        required: &[],
        properties: || {
            json!({
                "path": {"type": "string", "description": "Folder to list, relative to the worktree root. Default: the whole worktree."}
            })
        },
        handler: Handler::Worktree(|scope, input| {
            files::list_files(scope, optional(input, "path"))
        }),
    },
    ToolDef {
        name: "glob",
        description: "Find files by name with a glob pattern; returns the matching paths relative to the worktree root, one per line, sorted. \
`*` and `?` match within one path part, `**` matches any number of folders, `{a,b}` matches either, `[abc]` one of the characters. A pattern without `/` matches a file name at any depth (`*.rs` finds every Rust file); a pattern with `/` matches the path from the folder searched (`src/*.rs` only files directly in src). \
Use it to find files when you know part of a name or an extension. To find text inside files use search; to see a folder's whole content use list_files. \
Files ignored by .gitignore and generated output are not searched. At most 500 paths are returned. \
Examples: {\"pattern\": \"**/*_test.go\"}, {\"pattern\": \"Cargo.toml\"}, {\"pattern\": \"*.{yml,yaml}\", \"path\": \".github\"}.",
        kind: Kind::Read,
        planner: true,
        executor: true,
        only_for: None,
        shown: &["pattern", "path"],
        required: &["pattern"],
        properties: || {
            json!({
                "pattern": {"type": "string", "description": "Glob pattern, e.g. `**/*.py`, `src/**/mod.rs`, `README*`."},
                "path": {"type": "string", "description": "Folder to search in, relative to the worktree root. Default: the whole worktree."}
            })
        },
        handler: Handler::Worktree(|scope, input| {
            glob::glob(scope, field(input, "pattern")?, optional(input, "path"))
        }),
    },
    ToolDef {
        name: "search",
        description: "Search the contents of the worktree's files for a regular expression (ripgrep's engine and syntax); returns matching lines as `path:line: text`. \
Use it to find where a function, type, setting or message is defined or used before you read or edit. To find files by name use glob instead. \
The pattern is a regex: escape ( ) [ ] { } . * + ? | with a backslash to match them literally (`fn main\\(`); `(?i)` makes it case-insensitive. \
Files ignored by .gitignore, generated output and binary files are not searched. At most 200 matching lines are returned, each cut after 300 characters; the result says how many more matched. \
Example: {\"pattern\": \"struct Config\\\\b\", \"path\": \"src\"}.",
        kind: Kind::Read,
        planner: true,
        executor: true,
        only_for: None,
        shown: &["pattern", "path"],
        required: &["pattern"],
        properties: || {
            json!({
                "pattern": {"type": "string", "description": "Regular expression (Rust regex syntax), e.g. `fn parse_\\w+` or `TODO|FIXME`."},
                "path": {"type": "string", "description": "File or folder to search, relative to the worktree root. Default: the whole worktree."}
            })
        },
        handler: Handler::Worktree(|scope, input| {
            search::search(scope, field(input, "pattern")?, optional(input, "path"))
        }),
    },
    ToolDef {
        name: "write_file",
        description: "Create a file, or replace a file's whole content, in the worktree. Missing parent folders are created. \
Use it for new files and for rewriting a small file entirely. To change part of an existing file use edit_file or multi_edit instead: they send only the changed text and cannot lose the rest of the file by accident. \
`content` is the complete new content, written exactly as given (end it with a newline). \
Example: {\"path\": \"tests/test_cli.py\", \"content\": \"import cli\\n\\ndef test_help():\\n    assert cli.main([\\\"--help\\\"]) == 0\\n\"}.",
        kind: Kind::Edit,
        planner: false,
        executor: true,
        only_for: None,
        shown: &["path"],
        required: &["path", "content"],
        properties: || {
            json!({
                "path": {"type": "string", "description": PATH},
                "content": {"type": "string", "description": "The complete content of the file."}
            })
        },
        handler: Handler::Worktree(|scope, input| {
            files::write_file(scope.root, field(input, "path")?, field(input, "content")?)
        }),
    },
    ToolDef {
        name: "edit_file",
        description: "Replace text in an existing file: old_text, which must occur exactly once in the file, becomes new_text. \
Use it for a focused change after reading the file. Copy old_text exactly from read_file's output without the line-number prefix, indentation and whitespace included, with enough surrounding lines (typically 2-4) to be unique. For several changes to one file use multi_edit; to create a file use write_file. \
If old_text is not found or occurs more than once, nothing changes and the error says which and how to fix the call; set replace_all to change every occurrence (a rename). \
Example: {\"path\": \"src/app.py\", \"old_text\": \"def greet(name):\\n    return 'Hi ' + name\", \"new_text\": \"def greet(name):\\n    return f'Hello, {name}!'\"}.",
        kind: Kind::Edit,
        planner: false,
        executor: true,
        only_for: None,
        shown: &["path"],
        required: &["path", "old_text", "new_text"],
        properties: || {
            json!({
                "path": {"type": "string", "description": PATH},
                "old_text": {"type": "string", "description": "The exact text to replace, unique in the file."},
                "new_text": {"type": "string", "description": "The text to put in its place (empty to delete it)."},
                "replace_all": {"type": "boolean", "description": "Replace every occurrence of old_text instead of exactly one. Default false."}
            })
        },
        handler: Handler::Worktree(|scope, input| {
            let edit = Edit::from_json(input).map_err(|why| {
                ToolOutput::error(format!("the input of edit_file is malformed: {why}"))
            })?;
            files::edit_file(scope.root, field(input, "path")?, &edit)
        }),
    },
    ToolDef {
        name: "multi_edit",
        description: "Make several replacements in one file in one call, all or nothing. \
The edits apply in order, each to the text the edits before it left; each is like edit_file: its old_text must occur exactly once (unless replace_all is true) and differ from its new_text. If any edit fails, none is applied, the file stays as it was, and the error says which edit failed and why. \
Use it instead of several edit_file calls on the same file. Do not use it to create a file (use write_file) or to change several files (one call per file). \
Example: {\"path\": \"src/lib.rs\", \"edits\": [{\"old_text\": \"fn old_name(\", \"new_text\": \"fn new_name(\"}, {\"old_text\": \"old_name(x)\", \"new_text\": \"new_name(x)\", \"replace_all\": true}]}.",
        kind: Kind::Edit,
        planner: false,
        executor: true,
        only_for: None,
        shown: &["path"],
        required: &["path", "edits"],
        properties: || {
            json!({
                "path": {"type": "string", "description": PATH},
                "edits": {
                    "type": "array",
                    "minItems": 1,
                    "description": "The replacements, applied in order.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "old_text": {"type": "string", "description": "The exact text to replace, unique in the file at this point."},
                            "new_text": {"type": "string", "description": "The text to put in its place."},
                            "replace_all": {"type": "boolean", "description": "Replace every occurrence. Default false."}
                        },
                        "required": ["old_text", "new_text"]
                    }
                }
            })
        },
        handler: Handler::Worktree(|scope, input| {
            let edits = input.get("edits").unwrap_or(&Value::Null);
            files::multi_edit(scope.root, field(input, "path")?, edits)
        }),
    },
    ToolDef {
        name: "apply_patch",
        description: "Edit files with a patch in the apply_patch format: add, delete, update and rename files of the worktree in one call. \
The input is the whole patch, from `*** Begin Patch` to `*** End Patch`. Each file operation starts with `*** Add File: <path>` (every following line starts with +), `*** Delete File: <path>`, or `*** Update File: <path>` (optionally followed by `*** Move to: <new path>`) and its hunks. A hunk starts with `@@` (optionally `@@ <a line such as a def or class that comes before the change>`), then lines starting with ' ' (context, 3 lines before and after a change), '-' (removed) or '+' (added). Paths are relative to the worktree root, never absolute. \
All or nothing: if any hunk does not match, no file changes and the error says which operation and which lines were not found. \
Example: {\"input\": \"*** Begin Patch\\n*** Update File: src/app.py\\n@@ def greet():\\n-    print(\\\"Hi\\\")\\n+    print(\\\"Hello, world!\\\")\\n*** End Patch\"}.",
        kind: Kind::Edit,
        planner: false,
        executor: true,
        only_for: Some(patch::trained_on),
        shown: &[],
        required: &["input"],
        properties: || {
            json!({
                "input": {"type": "string", "description": "The entire patch, from `*** Begin Patch` to `*** End Patch`."}
            })
        },
        handler: Handler::Worktree(|scope, input| {
            patch::apply_patch(scope.root, field(input, "input")?)
        }),
    },
    ToolDef {
        name: "run_command",
        description: "Run a shell command (sh -c) in the worktree root and return its exit code and its output (stdout and stderr interleaved). \
Use it to run the tests, build, lint, and for what the file tools cannot do (moving files, running a script). Do not use it to read, find or edit files: read_file, glob, search and the edit tools are safer and cheaper. Never run git commands that change refs, the index or the configuration: the harness owns git and commits after finish_step. \
It runs in a sandbox: writes only inside the worktree and temp, no network unless the project allows it, a command policy that may refuse a command (the error says why). It is stopped after timeout_secs. Output longer than about 8,000 tokens keeps its head and tail with a line saying how much was cut; narrow it with head, tail or grep. \
Example: {\"command\": \"cargo test --lib parser 2>&1 | tail -n 40\", \"timeout_secs\": 300}.",
        kind: Kind::Command,
        planner: false,
        executor: true,
        only_for: None,
        shown: &["command"],
        required: &["command"],
        properties: || {
            json!({
                "command": {"type": "string", "description": "The shell command line."},
                "timeout_secs": {"type": "integer", "minimum": 1, "description": "Seconds before the command is stopped. Default: the configured command timeout; at most five times it."}
            })
        },
        handler: Handler::Command,
    },
    ToolDef {
        name: "finish_step",
        description: "End the current step when its work is done and you ran the tests. The harness then runs the plan's test command itself and records a checkpoint commit of the worktree; if the tests fail you get their output and another try. \
Do not call it before the step's change is made, and call no other tool in the same turn after it. \
Example: {\"summary\": \"Add a --shout flag to greet.sh\", \"expected_outcome\": \"sh test.sh passes; greet.sh --shout prints upper case\", \"risks\": \"none\", \"next_step\": \"Test --shout\"}.",
        kind: Kind::Control,
        planner: false,
        executor: true,
        only_for: None,
        shown: &["summary"],
        required: &["summary", "expected_outcome", "risks", "next_step"],
        properties: || {
            json!({
                "summary": {"type": "string", "description": "The commit subject: imperative, at most 72 characters."},
                "expected_outcome": {"type": "string", "description": "What the tests should show now."},
                "risks": {"type": "string", "description": "What could be wrong with the change, or `none`."},
                "next_step": {"type": "string", "description": "What comes next, or `done`."}
            })
        },
        handler: Handler::Loop,
    },
    ToolDef {
        name: "report_blocked",
        description: "Stop the whole run because the goal cannot be reached safely or needs a human decision (an ambiguous goal, missing credentials, a destructive change). The user reads the reason and may resume the task. \
Do not use it for an ordinary failure you can fix (a failing test, a wrong path): fix it instead. \
Example: {\"reason\": \"The goal says to drop the users table, but tests/test_db.py depends on it; which should win?\"}.",
        kind: Kind::Control,
        planner: true,
        executor: true,
        only_for: None,
        shown: &["reason"],
        required: &["reason"],
        properties: || {
            json!({
                "reason": {"type": "string", "description": "What blocks the work and what decision or input is needed."}
            })
        },
        handler: Handler::Loop,
    },
    ToolDef {
        name: "submit_plan",
        description: "Submit the plan for the goal: the objective, constraints, acceptance criteria, the test command and small ordered steps, each a change that can be made and tested on its own in a few tool calls. \
Call it once, after you read enough of the repository to plan; the executor then carries out the steps one by one and the harness runs test_command after each. \
Example: {\"objective\": \"greet.sh takes --shout\", \"constraints\": [\"keep the plain greeting\"], \"acceptance_criteria\": [\"sh test.sh passes\"], \"test_command\": \"sh test.sh\", \"steps\": [{\"title\": \"Add --shout to greet.sh\", \"detail\": \"branch on the flag\"}]}.",
        kind: Kind::Control,
        planner: true,
        executor: false,
        only_for: None,
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
                "objective": {"type": "string", "description": "The goal restated as one checkable sentence."},
                "constraints": {"type": "array", "items": {"type": "string"}, "description": "What must not change or break."},
                "acceptance_criteria": {"type": "array", "items": {"type": "string"}, "description": "How to tell the goal is reached."},
                "test_command": {"type": "string", "description": "The shell command that runs the project's tests, e.g. `cargo test` or `python -m pytest -q`."},
                "steps": {"type": "array", "items": {"type": "object", "properties": {"title": {"type": "string", "description": "Imperative, at most 72 characters."}, "detail": {"type": "string", "description": "What to change and how to check it."}}, "required": ["title", "detail"]}, "description": "Small ordered steps."}
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

/// The specs the executor running `model` is offered.
pub fn executor_specs(model: &str) -> Vec<ToolSpec> {
    TOOLS
        .iter()
        .filter(|t| t.executor && t.offered_to(model))
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
        for spec in planner_specs().iter().chain(&executor_specs("gpt-5")) {
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
                "glob",
                "search",
                "report_blocked",
                "submit_plan"
            ]
        );
    }

    #[test]
    fn apply_patch_is_offered_to_openai_models_only() {
        let names = |model: &str| {
            executor_specs(model)
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        };
        assert!(names("gpt-5").contains(&"apply_patch".to_string()));
        assert!(!names("claude-sonnet-4-5").contains(&"apply_patch".to_string()));
        assert_eq!(names("gpt-5").len(), names("claude-sonnet-4-5").len() + 1);
    }

    /// What the vendors ask of a definition: a description that says what, when and when
    /// not, limits and an example; every parameter described.
    #[test]
    fn every_definition_says_what_when_and_gives_an_example() {
        for tool in TOOLS {
            let d = tool.description;
            assert!(d.len() > 250, "{}: {} characters", tool.name, d.len());
            assert!(d.contains("Example"), "{} has no example", tool.name);
            let properties = (tool.properties)();
            for (name, schema) in properties.as_object().unwrap() {
                assert!(
                    schema["description"].as_str().is_some_and(|d| d.len() > 10),
                    "{}.{name} is not described",
                    tool.name
                );
            }
        }
        // The limit the descriptions state is the one the tool box applies.
        let stated = format!(
            "about {},{:03} tokens",
            super::super::OUTPUT_TOKENS / 1000,
            super::super::OUTPUT_TOKENS % 1000
        );
        for name in ["read_file", "run_command"] {
            assert!(find(name).unwrap().description.contains(&stated), "{name}");
        }
    }
}
