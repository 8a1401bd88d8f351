//! The `mcp` key: MCP servers whose tools the executor is offered.
//!
//! ```toml
//! [mcp.servers.docs]
//! command = ["python3", "/opt/docs-mcp/server.py"]   # run in the sandbox, in the worktree
//! env = { DOCS_INDEX = "/var/cache/docs" }           # added to the sandbox's clean environment
//! tools = ["search"]                                  # allow list; absent: every tool it lists
//! timeout = "30s"                                     # per call, and for starting up
//! ```
//!
//! The key is a [`super::Trust::User`] key: a server is a program that runs for the whole run
//! and whose tool descriptions and answers go to the model, so a repository's committed file
//! names one only after `git agent trust`. Layers merge by server name: a higher layer's
//! server replaces a lower layer's of the same name, the others add up.

use std::time::Duration;

use toml::Value;

/// The per-call timeout when a server sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest server name; `<server>__<tool>` must fit the providers' 64-character tool names.
const MAX_NAME: usize = 32;

/// One configured server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    pub name: String,
    /// Program and arguments, run without a shell.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Tool names offered to the model; `None`: all the server lists.
    pub tools: Option<Vec<String>>,
    pub timeout: Duration,
}

/// Whether `name` can prefix a tool name: letters, digits, `-` and `_`, no `__` (the
/// separator), at most [`MAX_NAME`] characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The value of the `mcp` key as a file gives it, checked; the error says what is wrong.
pub fn check(value: Value) -> Result<Value, String> {
    let Some(top) = value.as_table() else {
        return Err("expected a table: [mcp.servers.<name>]".into());
    };
    for key in top.keys() {
        if key != "servers" {
            return Err(format!("unknown key `mcp.{key}` (expected mcp.servers)"));
        }
    }
    let Some(servers) = top.get("servers") else {
        return Ok(value);
    };
    let Some(servers) = servers.as_table() else {
        return Err("mcp.servers: expected tables, [mcp.servers.<name>]".into());
    };
    for (name, server) in servers {
        let at = format!("mcp.servers.{name}");
        if !valid_name(name) {
            return Err(format!(
                "{at}: a server name is 1 to {MAX_NAME} letters, digits, `-` or `_`, without `__` or a trailing `_` (its tools are named `<server>__<tool>`)"
            ));
        }
        let Some(server) = server.as_table() else {
            return Err(format!("{at}: expected a table"));
        };
        for (key, field) in server {
            let ok = match key.as_str() {
                "command" => {
                    strings(field).is_some_and(|c| c.first().is_some_and(|p| !p.is_empty()))
                }
                "env" => field
                    .as_table()
                    .is_some_and(|t| t.values().all(Value::is_str)),
                "tools" => strings(field).is_some(),
                "timeout" => field.as_str().is_some_and(|t| {
                    humantime::parse_duration(t.trim()).is_ok_and(|d| !d.is_zero())
                }),
                other => {
                    return Err(format!(
                        "{at}: unknown key `{other}` (a server has command, env, tools and timeout)"
                    ));
                }
            };
            if !ok {
                return Err(format!(
                    "{at}.{key}: {}",
                    match key.as_str() {
                        "command" =>
                            "expected a program and its arguments, [\"program\", \"arg\", …]",
                        "env" => "expected a table of strings, { NAME = \"value\" }",
                        "tools" => "expected a list of tool names",
                        _ => "write a duration above zero, like 30s or 2m",
                    }
                ));
            }
        }
        if !server.contains_key("command") {
            return Err(format!("{at}: `command` is missing"));
        }
    }
    Ok(value)
}

/// The servers of a lower layer with those of a higher one: same names replaced.
pub fn merge(lower: &Value, higher: &Value) -> Value {
    let mut merged = servers_table(lower);
    merged.extend(servers_table(higher));
    let mut top = toml::Table::new();
    top.insert("servers".into(), Value::Table(merged));
    Value::Table(top)
}

fn servers_table(value: &Value) -> toml::Table {
    value
        .get("servers")
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default()
}

/// The servers of a checked value, by name.
pub fn servers(value: &Value) -> Vec<McpServer> {
    servers_table(value)
        .iter()
        .filter_map(|(name, server)| {
            let command = strings(server.get("command")?)?;
            let env = server
                .get("env")
                .and_then(Value::as_table)
                .map(|t| {
                    t.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let timeout = server
                .get("timeout")
                .and_then(Value::as_str)
                .and_then(|t| humantime::parse_duration(t.trim()).ok())
                .unwrap_or(DEFAULT_TIMEOUT);
            Some(McpServer {
                name: name.clone(),
                command,
                env,
                tools: server.get("tools").and_then(strings),
                timeout,
            })
        })
        .collect()
}

/// How `git agent config` shows the servers: `name: program args; …`.
pub fn show(value: &Value) -> String {
    let shown: Vec<String> = servers(value)
        .iter()
        .map(|s| {
            let tools = s
                .tools
                .as_ref()
                .map(|t| format!(" (tools: {})", t.join(", ")))
                .unwrap_or_default();
            format!("{}: {}{tools}", s.name, s.command.join(" "))
        })
        .collect();
    if shown.is_empty() {
        "(none)".into()
    } else {
        shown.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn parse(text: &str) -> Result<Value, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        check(
            table
                .get("mcp")
                .cloned()
                .unwrap_or(Value::Table(Default::default())),
        )
    }

    #[test]
    fn servers_parse_with_their_defaults() {
        let value = parse(
            "[mcp.servers.docs]\ncommand = [\"python3\", \"s.py\"]\nenv = { A = \"1\" }\ntools = [\"search\"]\ntimeout = \"5s\"\n[mcp.servers.b-2]\ncommand = [\"b\"]\n",
        )
        .unwrap();
        assert_eq!(
            servers(&value),
            [
                McpServer {
                    name: "b-2".into(),
                    command: vec!["b".into()],
                    env: vec![],
                    tools: None,
                    timeout: DEFAULT_TIMEOUT,
                },
                McpServer {
                    name: "docs".into(),
                    command: vec!["python3".into(), "s.py".into()],
                    env: vec![("A".into(), "1".into())],
                    tools: Some(vec!["search".into()]),
                    timeout: Duration::from_secs(5),
                }
            ]
        );
        assert_eq!(show(&value), "b-2: b; docs: python3 s.py (tools: search)");
    }

    #[test]
    fn malformed_servers_are_refused_with_the_reason() {
        for (text, wanted) in [
            ("[mcp.servers.a__b]\ncommand = [\"x\"]\n", "server name"),
            ("[mcp.servers.\"a b\"]\ncommand = [\"x\"]\n", "server name"),
            ("[mcp.servers.a]\nenv = {}\n", "`command` is missing"),
            ("[mcp.servers.a]\ncommand = []\n", "mcp.servers.a.command"),
            (
                "[mcp.servers.a]\ncommand = \"x\"\n",
                "mcp.servers.a.command",
            ),
            (
                "[mcp.servers.a]\ncommand = [\"x\"]\nenv = { A = 1 }\n",
                "mcp.servers.a.env",
            ),
            (
                "[mcp.servers.a]\ncommand = [\"x\"]\ntimeout = \"soon\"\n",
                "timeout",
            ),
            (
                "[mcp.servers.a]\ncommand = [\"x\"]\ntimeout = \"0s\"\n",
                "timeout",
            ),
            (
                "[mcp.servers.a]\ncommand = [\"x\"]\nargs = []\n",
                "unknown key `args`",
            ),
            (
                "[mcp.server.a]\ncommand = [\"x\"]\n",
                "unknown key `mcp.server`",
            ),
            ("mcp = 3\n", "expected a table"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(wanted), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_higher_layer_replaces_a_server_of_the_same_name_only() {
        let low =
            parse("[mcp.servers.a]\ncommand = [\"low-a\"]\n[mcp.servers.b]\ncommand = [\"b\"]\n")
                .unwrap();
        let high = parse("[mcp.servers.a]\ncommand = [\"high-a\"]\n").unwrap();
        let names: Vec<(String, String)> = servers(&merge(&low, &high))
            .into_iter()
            .map(|s| (s.name, s.command[0].clone()))
            .collect();
        assert_eq!(
            names,
            [("a".into(), "high-a".into()), ("b".into(), "b".into())]
        );
    }
}
