//! MCP servers as tools of the executor: each configured server (`[mcp.servers.<name>]`) is
//! started for a run in the same sandbox as commands (`policy::sandbox::spawn_confined`:
//! writes confined to the worktree, named in `GIT_AGENT_WORKTREE`, network as configured), spoken to over stdio with
//! rmcp's client, and its tools are offered to the executor as `<server>__<tool>` with their
//! input schemas passed through.
//!
//! A server is a stranger's program, so nothing it does may hang or end the run: starting
//! (`initialize`, `tools/list`) and every call are bounded by the server's timeout; a server
//! that exits, answers late or answers garbage gives a tool error, is stopped, and is started
//! again at the next call (at most [`MAX_RESTARTS`] times a run). Every server is killed with
//! everything it started when the run ends (or the [`McpServers`] is dropped).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, PaginatedRequestParams};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::async_rw::AsyncRwTransport;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::ToolOutput;
use crate::config::McpServer;
use crate::llm::ToolSpec;
use crate::policy::SandboxSpec;
use crate::policy::sandbox::{Confined, setup_failure, spawn_confined};

/// The variable that tells a server the task's worktree (its working directory is `/`).
pub const WORKTREE_VAR: &str = "GIT_AGENT_WORKTREE";

/// Separates the server's name from its tool's in the name the model sees.
pub const SEPARATOR: &str = "__";

/// Starts of crashed or stopped servers in one run, over all servers: a server that dies at
/// every call must not cost a start per call for ever.
pub const MAX_RESTARTS: u32 = 5;

/// The longest line read from a server: a larger message is dropped (the call then times out).
const MAX_LINE: usize = 4 * 1024 * 1024;

/// How much of a server's stderr is kept, for the message when it fails.
const STDERR_TAIL: usize = 2048;

/// How long a server that broke its connection gets to exit, so its exit status can be told.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// The providers' limit on tool names.
const MAX_TOOL_NAME: usize = 64;

/// The most pages of `tools/list` read from one server: one that always gives a next cursor
/// must not be paged until its timeout, piling up tools in memory.
const MAX_TOOL_PAGES: usize = 100;

/// The most tools one server may list.
const MAX_TOOLS_LISTED: usize = 1000;

/// The largest description and input schema (together, in bytes) of a tool offered: every
/// offered spec goes to the provider at every executor turn.
const MAX_TOOL_SPEC: usize = 32 * 1024;

/// The most bytes of specs one server's offered tools take together.
const MAX_SERVER_SPECS: usize = 256 * 1024;

/// A tool a server offers, as the model sees it.
#[derive(Debug, Clone)]
struct Offered {
    spec: ToolSpec,
    server: String,
    /// The tool's own name on its server.
    tool: String,
}

struct Running {
    service: RunningService<RoleClient, ()>,
    process: Confined,
    stderr: Arc<Mutex<Tail>>,
}

/// The last bytes a server wrote to stderr.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        let over = self.0.len().saturating_sub(STDERR_TAIL);
        if over > 0 {
            // Keep whole lines: a line cut at its start could hold the end of a secret that
            // redaction no longer recognises.
            let line_end = self.0[over..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(self.0.len(), |at| over + at + 1);
            self.0.drain(..line_end);
        }
    }
}

/// What starting a server gave, for the progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub server: String,
    /// The tools offered (namespaced), or why there are none.
    pub result: Result<Vec<String>, String>,
    /// Tools listed but not offered, and why.
    pub skipped: Vec<String>,
}

/// The MCP servers of one run.
pub struct McpServers {
    configs: Vec<McpServer>,
    sandbox: SandboxSpec,
    worktree: std::path::PathBuf,
    running: Vec<(String, Running)>,
    offered: Vec<Offered>,
    started: bool,
    restarts: u32,
}

impl McpServers {
    pub fn new(
        configs: Vec<McpServer>,
        worktree: std::path::PathBuf,
        sandbox: SandboxSpec,
    ) -> McpServers {
        // A value the user hands a server in a variable named like a credential is masked
        // wherever tool output goes, as the provider keys are.
        for server in &configs {
            for (name, value) in &server.env {
                if crate::policy::sandbox::is_secret_env_name(name) {
                    crate::policy::remember_secret(value);
                }
            }
        }
        McpServers {
            configs,
            sandbox,
            worktree,
            running: Vec::new(),
            offered: Vec::new(),
            started: false,
            restarts: 0,
        }
    }

    /// Start every server and learn its tools, once a run; later calls return nothing. A
    /// server that cannot start offers no tools, and the run goes on without it.
    pub async fn start(&mut self) -> Vec<Started> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        let mut report = Vec::new();
        for config in self.configs.clone() {
            let started = match start(&config, &self.worktree, &self.sandbox).await {
                Ok((mut running, tools)) => {
                    let (offered, skipped) = offer(&config, tools);
                    let names = offered.iter().map(|o| o.spec.name.clone()).collect();
                    if offered.is_empty() {
                        // Nothing of it is offered: it has no reason to run.
                        running.process.kill();
                    } else {
                        self.running.push((config.name.clone(), running));
                    }
                    self.offered.extend(offered);
                    Started {
                        server: config.name.clone(),
                        result: Ok(names),
                        skipped,
                    }
                }
                Err(why) => Started {
                    server: config.name.clone(),
                    result: Err(why),
                    skipped: Vec::new(),
                },
            };
            report.push(started);
        }
        report
    }

    /// The specs of the tools offered to the executor.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.offered.iter().map(|o| o.spec.clone()).collect()
    }

    /// Whether `name` is a tool of a server.
    pub fn offers(&self, name: &str) -> bool {
        self.offered.iter().any(|o| o.spec.name == name)
    }

    /// Names of the tools offered, for the unknown-tool message.
    pub fn names(&self) -> Vec<String> {
        self.offered.iter().map(|o| o.spec.name.clone()).collect()
    }

    /// Call `name` if it is a tool of a server; `None` when it is not.
    pub async fn call(&mut self, name: &str, input: &Value) -> Option<ToolOutput> {
        let offered = self.offered.iter().find(|o| o.spec.name == name)?.clone();
        Some(self.call_offered(&offered, input).await)
    }

    async fn call_offered(&mut self, offered: &Offered, input: &Value) -> ToolOutput {
        let Some(config) = self
            .configs
            .iter()
            .find(|c| c.name == offered.server)
            .cloned()
        else {
            return ToolOutput::error(format!("no MCP server `{}`", offered.server));
        };
        let Value::Object(arguments) = input.clone() else {
            return ToolOutput::error(format!(
                "the input of `{}` must be a JSON object",
                offered.spec.name
            ));
        };
        let server = &offered.server;
        // A server that died between calls is started again, within the run's allowance.
        if let Some(status) = self.exited(server) {
            let running = self.stop(server);
            let why = format!(
                "the MCP server `{server}` had exited ({status}){}",
                running.map(|r| stderr_note(&r)).unwrap_or_default()
            );
            if let Err(more) = self.restart(&config).await {
                return ToolOutput::error(format!("{why}; {more}"));
            }
        } else if self.position(server).is_none()
            && let Err(why) = self.restart(&config).await
        {
            return ToolOutput::error(why);
        }
        let Some(index) = self.position(server) else {
            return ToolOutput::error(format!("the MCP server `{server}` is not running"));
        };
        let params = CallToolRequestParams::new(offered.tool.clone()).with_arguments(arguments);
        let call = self.running[index].1.service.call_tool(params);
        let answer = tokio::time::timeout(config.timeout, call).await;
        match answer {
            Ok(Ok(result)) => result_output(&serde_json::to_value(&result).unwrap_or_default()),
            Ok(Err(err)) => {
                let exited = self.wait_exit(server).await;
                match exited {
                    Some(status) => {
                        let note = self
                            .stop(server)
                            .map(|r| stderr_note(&r))
                            .unwrap_or_default();
                        ToolOutput::error(format!(
                            "the MCP server `{server}` exited during the call ({status}){note}; it is started again at the next call"
                        ))
                    }
                    None if matches!(err, rmcp::ServiceError::McpError(_)) => {
                        ToolOutput::error(format!("the MCP server `{server}` answered: {err}"))
                    }
                    None => {
                        // The connection is unusable (closed, or answers that are not the
                        // protocol): stop the server rather than guess.
                        let note = self
                            .stop(server)
                            .map(|r| stderr_note(&r))
                            .unwrap_or_default();
                        ToolOutput::error(format!(
                            "the MCP server `{server}` failed the call: {err}{note}; it was stopped and is started again at the next call"
                        ))
                    }
                }
            }
            Err(_) => {
                self.stop(server);
                ToolOutput::error(format!(
                    "the MCP server `{server}` did not answer `{}` within {}; it was stopped and is started again at the next call",
                    offered.tool,
                    humantime::format_duration(config.timeout)
                ))
            }
        }
    }

    fn position(&self, server: &str) -> Option<usize> {
        self.running.iter().position(|(name, _)| name == server)
    }

    /// How the server's process ended, if it did.
    fn exited(&mut self, server: &str) -> Option<String> {
        let index = self.position(server)?;
        let status = self.running[index].1.process.child.try_wait().ok()??;
        Some(describe_status(status))
    }

    /// Like [`Self::exited`], giving a process that closed its end a moment to exit.
    async fn wait_exit(&mut self, server: &str) -> Option<String> {
        let index = self.position(server)?;
        let child = &mut self.running[index].1.process.child;
        match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
            Ok(Ok(status)) => Some(describe_status(status)),
            _ => None,
        }
    }

    /// Kill a server and everything it started; what is left of it, for its stderr.
    fn stop(&mut self, server: &str) -> Option<Running> {
        let index = self.position(server)?;
        let (_, mut running) = self.running.remove(index);
        running.process.kill();
        Some(running)
    }

    async fn restart(&mut self, config: &McpServer) -> Result<(), String> {
        if self.restarts >= MAX_RESTARTS {
            return Err(format!(
                "MCP servers were started again {MAX_RESTARTS} times in this run already; `{}` stays stopped",
                config.name
            ));
        }
        self.restarts += 1;
        let (running, _) = start(config, &self.worktree, &self.sandbox).await?;
        self.running.push((config.name.clone(), running));
        Ok(())
    }

    /// Stop every server, with everything it started.
    pub fn shutdown(&mut self) {
        for (_, mut running) in self.running.drain(..) {
            running.process.kill();
        }
    }
}

impl Drop for McpServers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Start one server: spawn it confined, `initialize`, `tools/list`, each within its timeout.
async fn start(
    config: &McpServer,
    worktree: &std::path::Path,
    sandbox: &SandboxSpec,
) -> Result<(Running, Vec<rmcp::model::Tool>), String> {
    let name = &config.name;
    // Not in the worktree: a server's working directory is where `python -m`, `npx` or `uvx`
    // look first, and the worktree holds the repository's files, so a module the repository
    // commits under the server's name would run in its place, with the credentials the user
    // gave the server. The worktree is named in the environment instead.
    let mut env = config.env.clone();
    env.push((WORKTREE_VAR.to_string(), worktree.display().to_string()));
    let mut process = spawn_confined(&config.command, std::path::Path::new("/"), sandbox, &env)
        .map_err(|err| format!("the MCP server `{name}` could not be started: {err}"))?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) = (
        process.child.stdin.take(),
        process.child.stdout.take(),
        process.child.stderr.take(),
    ) else {
        return Err(format!("the MCP server `{name}` has no standard streams"));
    };
    let tail = Arc::new(Mutex::new(Tail::default()));
    let sink = tail.clone();
    // Read stderr to the end, so a chatty server never blocks on a full pipe.
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Ok(mut tail) = sink.lock() {
                tail.push(&buf[..n]);
            }
        }
    });
    let transport = AsyncRwTransport::new_client(stdout, stdin).with_max_line_length(MAX_LINE);
    let limit = humantime::format_duration(config.timeout);
    let failed = |process: &mut Confined, tail: &Arc<Mutex<Tail>>, why: String| {
        let status = process.child.try_wait().ok().flatten();
        let stderr = tail_text(tail);
        if let Some(message) = setup_failure(status.and_then(|s| s.code()), &stderr) {
            return format!(
                "the MCP server `{name}` could not be started: the sandbox could not be set up: {message}"
            );
        }
        let status = status
            .map(|s| format!(" ({})", describe_status(s)))
            .unwrap_or_default();
        process.kill();
        format!("the MCP server `{name}` {why}{status}{}", note(&stderr))
    };
    let service = match tokio::time::timeout(config.timeout, ().serve(transport)).await {
        Ok(Ok(service)) => service,
        Ok(Err(err)) => {
            // Let a server that is exiting finish, for its status and last words.
            let _ = tokio::time::timeout(EXIT_GRACE, process.child.wait()).await;
            return Err(failed(
                &mut process,
                &tail,
                format!("failed to initialize: {err}"),
            ));
        }
        Err(_) => {
            return Err(failed(
                &mut process,
                &tail,
                format!("did not answer `initialize` within {limit}"),
            ));
        }
    };
    let tools = match tokio::time::timeout(config.timeout, list_tools(&service)).await {
        Ok(Ok(tools)) => tools,
        Ok(Err(why)) => {
            let _ = tokio::time::timeout(EXIT_GRACE, process.child.wait()).await;
            return Err(failed(&mut process, &tail, why));
        }
        Err(_) => {
            return Err(failed(
                &mut process,
                &tail,
                format!("did not list its tools within {limit}"),
            ));
        }
    };
    Ok((
        Running {
            service,
            process,
            stderr: tail,
        },
        tools,
    ))
}

/// Every tool a server lists, page by page, within [`MAX_TOOL_PAGES`] pages and
/// [`MAX_TOOLS_LISTED`] tools; the error is a clause saying what went wrong.
async fn list_tools(
    service: &RunningService<RoleClient, ()>,
) -> Result<Vec<rmcp::model::Tool>, String> {
    let mut tools = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_TOOL_PAGES {
        let page = service
            .list_tools(Some(PaginatedRequestParams::default().with_cursor(cursor)))
            .await
            .map_err(|err| format!("failed to list its tools: {err}"))?;
        tools.extend(page.tools);
        if tools.len() > MAX_TOOLS_LISTED {
            return Err(format!("lists more than {MAX_TOOLS_LISTED} tools"));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tools),
        }
    }
    Err(format!(
        "lists its tools in more than {MAX_TOOL_PAGES} pages"
    ))
}

/// The tools of a server the model is offered: those on its allow list (all without one)
/// whose namespaced names the providers accept. The rest, with the reason.
fn offer(config: &McpServer, tools: Vec<rmcp::model::Tool>) -> (Vec<Offered>, Vec<String>) {
    let mut offered = Vec::new();
    let mut skipped = Vec::new();
    for tool in tools {
        let name = format!("{}{SEPARATOR}{}", config.name, tool.name);
        if let Some(allowed) = &config.tools
            && !allowed.iter().any(|a| a.as_str() == tool.name)
        {
            continue;
        }
        let valid = name.len() <= MAX_TOOL_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            skipped.push(format!(
                "`{}`: `{}` is not a tool name the providers accept (letters, digits, `_`, `-`, at most {MAX_TOOL_NAME})",
                crate::text::first_line(&tool.name, 80),
                crate::text::first_line(&name, 80)
            ));
            continue;
        }
        if offered.iter().any(|o: &Offered| o.spec.name == name) {
            continue;
        }
        let mut schema = Value::Object((*tool.input_schema).clone());
        // The providers want an object schema; a server that leaves out the type means one.
        if schema.get("type").is_none() {
            schema["type"] = Value::from("object");
        }
        let description = tool
            .description
            .as_deref()
            .or(tool.title.as_deref())
            .unwrap_or_default();
        // Sent at every turn: a tool too large to pay for each time is left out.
        let size = description.len() + schema.to_string().len();
        let taken: usize = offered
            .iter()
            .map(|o| o.spec.description.len() + o.spec.input_schema.to_string().len())
            .sum();
        if size > MAX_TOOL_SPEC || taken + size > MAX_SERVER_SPECS {
            let name = crate::text::first_line(&tool.name, 80);
            skipped.push(if size > MAX_TOOL_SPEC {
                format!(
                    "`{name}`: its description and input schema take {size} bytes, more than the {MAX_TOOL_SPEC} a tool may take (they go to the model at every turn)"
                )
            } else {
                format!(
                    "`{name}`: its description and input schema ({size} bytes) would bring its server's tools over {MAX_SERVER_SPECS} bytes (they go to the model at every turn)"
                )
            });
            continue;
        }
        offered.push(Offered {
            spec: ToolSpec {
                name,
                description: format!("(MCP server `{}`) {description}", config.name),
                input_schema: schema,
            },
            server: config.name.clone(),
            tool: tool.name.to_string(),
        });
    }
    if let Some(allowed) = &config.tools {
        for wanted in allowed {
            if !offered.iter().any(|o| &o.tool == wanted)
                && !skipped.iter().any(|s| s.contains(wanted.as_str()))
            {
                skipped.push(format!("`{wanted}`: the server does not list it"));
            }
        }
    }
    (offered, skipped)
}

/// A call's result as the model reads it: the text of its content blocks, a line for each
/// block that is not text, or the structured content when there is no content.
fn result_output(result: &Value) -> ToolOutput {
    let mut parts: Vec<String> = Vec::new();
    for block in result["content"].as_array().into_iter().flatten() {
        let kind = block["type"].as_str().unwrap_or("unknown");
        parts.push(match kind {
            "text" => block["text"].as_str().unwrap_or_default().to_string(),
            "resource" => match block["resource"]["text"].as_str() {
                Some(text) => text.to_string(),
                None => format!(
                    "[resource {} omitted: binary]",
                    block["resource"]["uri"].as_str().unwrap_or("?")
                ),
            },
            "resource_link" => format!("[resource link {}]", block["uri"].as_str().unwrap_or("?")),
            other => format!(
                "[{other} content ({}) omitted]",
                block["mimeType"].as_str().unwrap_or("unknown type")
            ),
        });
    }
    if parts.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        parts.push(structured.to_string());
    }
    let text = crate::policy::redact_known(&parts.join("\n"));
    let out = if result["isError"].as_bool() == Some(true) {
        ToolOutput::error(text)
    } else {
        ToolOutput::ok(text)
    };
    // The server may have written files in the worktree.
    ToolOutput {
        edited: !out.is_error,
        ..out
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "ended".into(),
    }
}

fn tail_text(tail: &Arc<Mutex<Tail>>) -> String {
    tail.lock()
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .unwrap_or_default()
}

fn stderr_note(running: &Running) -> String {
    note(&tail_text(&running.stderr))
}

/// The end of a server's stderr, redacted, as a clause of a message.
fn note(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        return String::new();
    }
    format!(
        "; its stderr ends: {}",
        // Redacted whole, then shortened: a cut first could leave part of a secret unmasked.
        crate::tools::bound(&crate::policy::redact_known(stderr), 200)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn the_stderr_tail_keeps_whole_lines_only() {
        let mut tail = Tail::default();
        let long = format!("token=sk-ant-{}\n", "x".repeat(STDERR_TAIL));
        tail.push(long.as_bytes());
        tail.push(b"last line\n");
        // The line that no longer fits whole is gone, not kept as its unrecognisable end.
        assert_eq!(String::from_utf8_lossy(&tail.0), "last line\n");
        assert!(tail.0.len() <= STDERR_TAIL);
    }

    fn tool(name: &str, schema: Value) -> rmcp::model::Tool {
        serde_json::from_value(json!({"name": name, "description": "d", "inputSchema": schema}))
            .unwrap()
    }

    fn server(tools: Option<Vec<&str>>) -> McpServer {
        McpServer {
            name: "fx".into(),
            command: vec!["x".into()],
            env: vec![],
            tools: tools.map(|t| t.into_iter().map(str::to_string).collect()),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn tools_are_namespaced_filtered_and_their_schemas_passed_through() {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
        let tools = vec![
            tool("echo", schema.clone()),
            tool("hang", json!({"properties": {}})),
            tool("bad name!", json!({"type": "object"})),
        ];
        let (offered, skipped) = offer(&server(None), tools.clone());
        let names: Vec<&str> = offered.iter().map(|o| o.spec.name.as_str()).collect();
        assert_eq!(names, ["fx__echo", "fx__hang"]);
        assert_eq!(offered[0].spec.input_schema, schema);
        assert_eq!(
            offered[1].spec.input_schema,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(offered[0].tool, "echo");
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        let (offered, skipped) = offer(&server(Some(vec!["echo", "missing"])), tools);
        assert_eq!(offered.len(), 1);
        assert_eq!(skipped, ["`missing`: the server does not list it"]);
    }

    #[test]
    fn results_become_text_and_errors_stay_errors() {
        let out = result_output(
            &json!({"content": [{"type": "text", "text": "a"}, {"type": "image", "data": "AAAA", "mimeType": "image/png"}]}),
        );
        assert_eq!(out.content, "a\n[image content (image/png) omitted]");
        assert!(!out.is_error);
        let out =
            result_output(&json!({"content": [], "structuredContent": {"n": 1}, "isError": true}));
        assert_eq!((out.content.as_str(), out.is_error), ("{\"n\":1}", true));
    }
}
