//! The one table of configuration keys: name, type, who may set it, built-in value, what it
//! means and how it sets its field. The git config and environment names derive from it, and
//! so do `git agent config`, the checks of every layer, the effective [`Config`], the key
//! table of docs/configuration.md and the man page's list of keys that need trust; adding a
//! key is one entry here and one field of [`Config`].

use std::path::PathBuf;

use toml::Value;

use super::Config;
use crate::llm::ProviderKind;

/// Who may set a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// A fact about the project (its commands, model names, step limits): the repository's
    /// `.git-agent.toml` may set it.
    Project,
    /// A budget: a repository's value is a cap. It applies only when it is lower than the
    /// user's (or the user sets none).
    Budget,
    /// Widens what the agent may do or where data goes: only the user's own layers set it,
    /// or a repository file whose exact content the user trusted (`git agent trust`).
    User,
}

/// The type of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number, 0 or more.
    Count,
    /// US dollars.
    Dollars,
    Flag,
    Text,
    Path,
    /// A list of strings; from git config one entry per value, from the environment split at
    /// commas.
    List,
    /// `90s`, `30m`, `2h`.
    Duration,
    /// `anthropic`, `openai` or `replay`.
    Provider,
    /// `on` or `off`.
    OnOff,
    /// How much a model reasons: `off`, `low`, `medium` or `high`.
    Thinking,
    /// MCP servers, `[mcp.servers.<name>]` tables (see `super::mcp`): set in a file only.
    Servers,
}

/// One configuration key: everything about it, in one place. The parser of every layer, the
/// effective [`Config`], `git agent config`, the key table of docs/configuration.md and the
/// man page's list of keys a repository needs trust for all read it from here.
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub trust: Trust,
    /// The built-in value, written as in git config (`""` is an empty list).
    pub default: Option<&'static str>,
    /// What `git agent config` shows when nothing sets the key and there is no default.
    pub unset: &'static str,
    /// What the key means, for the docs (Markdown).
    pub doc: &'static str,
    /// Sets the key's field of the [`Config`] from its effective value, which was checked
    /// against its [`Kind`] when its layer was read.
    pub apply: fn(&mut Config, &Value),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

const fn key(
    name: &'static str,
    kind: Kind,
    trust: Trust,
    default: Option<&'static str>,
    unset: &'static str,
    doc: &'static str,
    apply: fn(&mut Config, &Value),
) -> Key {
    Key {
        name,
        kind,
        trust,
        default,
        unset,
        doc,
        apply,
    }
}

use Kind::*;
use Trust::{Budget, Project, User};

// The typed readers `apply` uses: a value of the wrong type (impossible once checked) reads as
// unset.
fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}
fn count(v: &Value) -> Option<u64> {
    v.as_integer().map(|n| u64::try_from(n).unwrap_or(0))
}
/// A count that must be at least 1 (a stop rule of 0 would stop before anything runs).
fn small(v: &Value) -> u32 {
    count(v)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
        .max(1)
}
fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or(false)
}
fn list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|items| items.iter().filter_map(text).collect())
        .unwrap_or_default()
}
/// A duration; `unlimited` (or a value that cannot be one) is none.
fn duration(v: &Value) -> Option<std::time::Duration> {
    v.as_str()
        .filter(|t| t.trim() != UNLIMITED)
        .and_then(|t| humantime::parse_duration(t.trim()).ok())
}
fn thinking(v: &Value) -> crate::llm::Thinking {
    v.as_str()
        .and_then(crate::llm::Thinking::from_name)
        .unwrap_or_default()
}

/// Every key, in the order `git agent config` and the docs list them. `model` and
/// `planner_model` have defaults computed from the provider and the model.
pub const KEYS: &[Key] = &[
    key(
        "provider",
        Provider,
        User,
        Some("anthropic"),
        "",
        "`anthropic`, `openai` or `replay`",
        |c, v| {
            c.provider = match v.as_str() {
                Some("openai") => ProviderKind::Openai,
                Some("replay") => ProviderKind::Replay,
                _ => ProviderKind::Anthropic,
            }
        },
    ),
    key(
        "model",
        Text,
        Project,
        None,
        "(the provider's)",
        "the executor's model (`git agent models` lists the known ones); the provider's is claude-opus-5-5, gpt-5.5 for openai",
        |c, v| c.model = text(v).unwrap_or_default(),
    ),
    key(
        "planner_model",
        Text,
        Project,
        None,
        "(the model)",
        "the planner's model",
        |c, v| c.planner_model = text(v).unwrap_or_default(),
    ),
    // The executor works in many small turns; the planner's few answers decide the whole run.
    key(
        "thinking",
        Thinking,
        Project,
        Some("off"),
        "",
        "how much the executor's model reasons before it answers: `off`, `low`, `medium`, `high` ([how](#thinking-and-reasoning))",
        |c, v| c.thinking = thinking(v),
    ),
    key(
        "planner_thinking",
        Thinking,
        Project,
        Some("medium"),
        "",
        "how much the planner's model reasons, as `thinking`",
        |c, v| c.planner_thinking = thinking(v),
    ),
    key(
        "anthropic_base_url",
        Text,
        User,
        None,
        "(unset)",
        "the Anthropic API endpoint (also `ANTHROPIC_BASE_URL`); unset, the vendor's",
        |c, v| c.anthropic_base_url = text(v),
    ),
    key(
        "openai_base_url",
        Text,
        User,
        None,
        "(unset)",
        "the OpenAI-compatible API endpoint (also `OPENAI_BASE_URL`); unset, the vendor's",
        |c, v| c.openai_base_url = text(v),
    ),
    key(
        "replay_file",
        Path,
        User,
        None,
        "(unset)",
        "play a recorded session",
        |c, v| c.replay_file = text(v).map(PathBuf::from),
    ),
    key(
        "record_file",
        Path,
        User,
        None,
        "(unset)",
        "record the session",
        |c, v| c.record_file = text(v).map(PathBuf::from),
    ),
    // How long a run waits for a network that is gone: the user's network, the user's say.
    key(
        "unreachable_wait",
        Duration,
        User,
        Some("5m"),
        "",
        "how long a model server that answers nothing (connection refused, a name that does not resolve, a reset before any header) is retried before the run stops; `0s` counts such failures among the 5 attempts ([retries](running.md#model-calls-and-retries))",
        |c, v| c.unreachable_wait = duration(v).unwrap_or(crate::llm::UNREACHABLE_WAIT),
    ),
    // Where the run's traces go (docs/telemetry.md): data leaves the machine, the user's say.
    key(
        "otel_endpoint",
        Text,
        User,
        None,
        "(unset)",
        "the OTLP/HTTP collector the run's traces go to ([telemetry](telemetry.md)); `OTEL_EXPORTER_OTLP_ENDPOINT` also sets it",
        |c, v| c.otel_endpoint = text(v),
    ),
    // How long a graceful stop waits for the last spans to reach the collector.
    key(
        "otel_flush_wait",
        Duration,
        User,
        Some("40ms"),
        "",
        "the longest the end of a run waits for its last spans to reach the collector",
        |c, v| c.otel_flush_wait = duration(v).unwrap_or(std::time::Duration::from_millis(40)),
    ),
    key(
        "max_turns",
        Count,
        Budget,
        None,
        "(unlimited)",
        "budget: model turns, summed across resumes from the records in git; `\"unlimited\"` lifts it",
        |c, v| c.max_turns = count(v),
    ),
    key(
        "max_tokens",
        Count,
        Budget,
        None,
        "(unlimited)",
        "budget: tokens (input + output), as `max_turns`",
        |c, v| c.max_tokens = count(v),
    ),
    // On by default: a run that loops costs the user's money (`unlimited` lifts it).
    key(
        "max_cost",
        Dollars,
        Budget,
        Some("10"),
        "(unlimited)",
        "budget: US dollars of model cost, as `max_turns`",
        |c, v| c.max_cost = v.as_float(),
    ),
    key(
        "max_time",
        Duration,
        Budget,
        None,
        "(unlimited)",
        "budget: wall time (`90s`, `2h`), as `max_turns`",
        |c, v| c.max_time = duration(v),
    ),
    key(
        "test_command",
        Text,
        Project,
        None,
        "(from the plan)",
        "overrides the plan's test command",
        |c, v| c.test_command = text(v),
    ),
    key(
        "lint_command",
        Text,
        Project,
        None,
        "(none)",
        "run by `git agent merge`",
        |c, v| c.lint_command = text(v),
    ),
    key(
        "test_timeout",
        Duration,
        Project,
        Some("10m"),
        "",
        "how long a test run may take",
        |c, v| c.test_timeout = duration(v).unwrap_or(TEST_TIMEOUT),
    ),
    key(
        "command_timeout",
        Duration,
        Project,
        Some("2m"),
        "",
        "how long one of the model's commands may take",
        |c, v| c.command_timeout = duration(v).unwrap_or(COMMAND_TIMEOUT),
    ),
    key(
        "allow",
        List,
        User,
        Some(""),
        "",
        "command policy allow list (`cargo`, `git status`, `re:<regex>`, globs); empty, all that is not denied",
        |c, v| c.allow = list(v),
    ),
    // Deny lists add up across layers: a repository's denials only narrow.
    key(
        "deny",
        List,
        Project,
        Some(""),
        "",
        "command policy deny patterns, beside the built-in denials; the lists of all layers add up, so a repository's only narrow",
        |c, v| c.deny = list(v),
    ),
    key(
        "network",
        Flag,
        User,
        Some("false"),
        "",
        "let commands use the network",
        |c, v| c.network = flag(v),
    ),
    key(
        "sandbox",
        OnOff,
        User,
        Some("on"),
        "",
        "`on`, or `off` to run commands unconfined (explicit opt-out)",
        |c, v| c.sandbox_off = v.as_str() == Some("off"),
    ),
    key(
        "co_author",
        Text,
        Project,
        None,
        "(unset)",
        "adds a `Co-authored-by` trailer",
        |c, v| c.co_author = text(v),
    ),
    key(
        "step_attempts",
        Count,
        Project,
        Some("3"),
        "",
        "stop rule: failed tries of a step before a rollback and replan",
        |c, v| c.step_attempts = small(v),
    ),
    key(
        "replans",
        Count,
        Project,
        Some("2"),
        "",
        "stop rule: replans before `blocked`",
        |c, v| c.replans = count(v).map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
    ),
    key(
        "max_steps",
        Count,
        Project,
        Some("30"),
        "",
        "the most steps a plan may have",
        |c, v| c.max_steps = small(v),
    ),
    key(
        "max_edits_before_test",
        Count,
        Project,
        Some("30"),
        "",
        "stop rule: edits before a test run",
        |c, v| c.max_edits_before_test = small(v),
    ),
    key(
        "max_step_turns",
        Count,
        Project,
        Some("40"),
        "",
        "stop rule: model turns of one try of a step",
        |c, v| c.max_step_turns = small(v),
    ),
    // A model fact, for a model the table does not know or a server run with a smaller one.
    key(
        "context_window",
        Count,
        Project,
        None,
        "(the model's)",
        "tokens of the executor model's context window, for a model the built-in table does not know or a server run with a smaller one (Ollama's `num_ctx`); old tool results are cleared to stay under it ([how](tools.md#context-that-never-overflows)); unset, the model's (32,000 for an unknown model)",
        |c, v| c.context_window = count(v).filter(|w| *w > 0),
    ),
    key(
        "display_notes",
        Flag,
        Project,
        Some("true"),
        "",
        "add the task notes refs to `notes.displayRef`, so plain `git log` shows the records",
        |c, v| c.display_notes = flag(v),
    ),
    // A process that outlives the command: the user's to start.
    key(
        "fsmonitor",
        Flag,
        User,
        Some("false"),
        "",
        "keep a file-system monitor per task worktree, so that `git agent checkpoint` looks only at what changed ([how](fidelity.md)); turned off, a task's monitor stops at its next `checkpoint` or `resume`",
        |c, v| c.fsmonitor = flag(v),
    ),
    key(
        "secret_allow",
        List,
        User,
        Some(""),
        "",
        "regexes the secret scan lets through",
        |c, v| c.secret_allow = list(v),
    ),
    // Files a checkpoint leaves out: the user's to choose, since a repository says what it
    // ignores in its own .gitignore, which outranks this list.
    key(
        "generated",
        List,
        User,
        Some(crate::walk::generated::BUILT_IN),
        "",
        "generated output no checkpoint records, though no ignore file names it: gitignore patterns, or `DIR/ beside FILE` ([how](fidelity.md#generated-files-are-never-committed)); a value replaces the list, `[]` empties it",
        |c, v| c.generated = list(v),
    ),
    // A server runs for the whole run and talks to the model: the user's to name.
    key(
        "mcp",
        Servers,
        User,
        None,
        "(none)",
        "`[mcp.servers.<name>]` tables: MCP servers whose tools the executor gets ([MCP](mcp.md#mcp-servers-as-tools-of-the-executor))",
        |c, v| c.mcp_servers = super::mcp::servers(v),
    ),
];

/// The test timeout when nothing sets one (the key's default says the same).
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// The command timeout when nothing sets one (the key's default says the same).
pub const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The keys a repository's file sets only once the user trusts it, by name.
pub fn user_trust_names() -> Vec<&'static str> {
    KEYS.iter()
        .filter(|k| k.trust == User)
        .map(|k| k.name)
        .collect()
}

/// The table of keys in docs/configuration.md, between [`TABLE_BEGIN`] and [`TABLE_END`]:
/// written from [`KEYS`] (`cargo run --example gen_man`), checked by tests/it/docs.rs.
pub fn markdown_table() -> String {
    let mut table = String::from(
        "| key | meaning | default | in a repository's `.git-agent.toml` |\n|---|---|---|---|\n",
    );
    for key in KEYS {
        let default = match key.default {
            Some("") => "none".to_string(),
            Some(value) => value
                .split(',')
                .map(|v| format!("`{}`", v.trim()))
                .collect::<Vec<_>>()
                .join(", "),
            None => key.unset.trim_matches(['(', ')']).to_string(),
        };
        let repository = match key.trust {
            Project => "yes",
            Budget => "lower only",
            User => "after `git agent trust`",
        };
        table.push_str(&format!(
            "| `{}` | {} | {default} | {repository} |\n",
            key.name, key.doc
        ));
    }
    table
}

/// The markers around the generated table in docs/configuration.md.
pub const TABLE_BEGIN: &str = "<!-- keys: generated from src/config/keys.rs -->\n";
pub const TABLE_END: &str = "<!-- end of keys -->\n";

/// `doc` with its generated key table replaced by [`markdown_table`]; `None` without markers.
pub fn with_table(doc: &str) -> Option<String> {
    let begin = doc.find(TABLE_BEGIN)? + TABLE_BEGIN.len();
    let end = begin + doc[begin..].find(TABLE_END)?;
    Some(format!(
        "{}{}{}",
        &doc[..begin],
        markdown_table(),
        &doc[end..]
    ))
}

/// The key of a file or environment name (`max_turns`).
pub fn by_name(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The key of a git config name, which git prints lowercased: `agent.maxTurns`,
/// `agent.max-turns` and `agent.maxturns` are all `max_turns`.
pub fn by_git_name(name: &str) -> Option<&'static Key> {
    let wanted = fold(name);
    KEYS.iter().find(|k| fold(k.name) == wanted)
}

/// The value that lifts a limit, spelled out (`max_cost = "unlimited"`).
pub const UNLIMITED: &str = "unlimited";

/// A name without case, `-` or `_`.
pub fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Kind {
    /// A value as a TOML file gives it, checked; the error says what was expected.
    pub fn check(self, value: toml::Value) -> Result<toml::Value, String> {
        use toml::Value as V;
        let ok = match (self, &value) {
            (Count | Dollars | Duration, V::String(s)) if s == UNLIMITED => true,
            (Count, V::Integer(n)) => *n >= 0,
            (Dollars, V::Integer(n)) => {
                return if *n >= 0 {
                    // Whole dollars as a float: exact up to 2^53, far beyond any budget.
                    Ok(V::Float(*n as f64))
                } else {
                    Err(self.expected())
                };
            }
            (Dollars, V::Float(f)) => f.is_finite() && *f >= 0.0,
            (Flag, V::Boolean(_)) => true,
            (Text | Path, V::String(_)) => true,
            (List, V::Array(items)) => items.iter().all(|i| matches!(i, V::String(_))),
            (Duration, V::String(s)) => {
                return humantime::parse_duration(s.trim())
                    .map(|_| value.clone())
                    .map_err(|err| format!("{err} ({})", self.expected()));
            }
            (Provider, V::String(s)) => matches!(s.as_str(), "anthropic" | "openai" | "replay"),
            (OnOff, V::String(s)) => matches!(s.as_str(), "on" | "off"),
            (Thinking, V::String(s)) => crate::llm::Thinking::from_name(s).is_some(),
            (Servers, _) => return super::mcp::check(value),
            _ => false,
        };
        if ok { Ok(value) } else { Err(self.expected()) }
    }

    /// A value written as text (git config, environment), typed and checked.
    pub fn parse(self, text: &str) -> Result<toml::Value, String> {
        use toml::Value as V;
        if matches!(self, Count | Dollars | Duration) && text.trim() == UNLIMITED {
            return Ok(V::String(UNLIMITED.to_string()));
        }
        let value = match self {
            Count => V::Integer(text.trim().parse().map_err(|_| self.expected())?),
            Dollars => V::Float(text.trim().parse().map_err(|_| self.expected())?),
            Flag => V::Boolean(match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => true,
                "false" | "no" | "off" | "0" => false,
                _ => return Err(self.expected()),
            }),
            List => V::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| V::String(s.to_string()))
                    .collect(),
            ),
            Provider | OnOff | Thinking => V::String(text.trim().to_ascii_lowercase()),
            Text | Path | Duration => V::String(text.to_string()),
            Servers => return Err(self.expected()),
        };
        self.check(value)
    }

    fn expected(self) -> String {
        match self {
            Count => "expected a whole number",
            Dollars => "expected a number of dollars",
            Flag => "expected true or false",
            Text => "expected a string",
            Path => "expected a path (a string)",
            List => "expected a list of strings",
            Duration => "write durations like 90s, 30m or 2h",
            Provider => "expected \"anthropic\", \"openai\" or \"replay\"",
            OnOff => "expected \"on\" or \"off\"",
            Thinking => "expected \"off\", \"low\", \"medium\" or \"high\"",
            Servers => {
                "MCP servers are set in a configuration file, as [mcp.servers.<name>] tables"
            }
        }
        .to_string()
    }

    /// How `git agent config` and the warnings show a value.
    pub fn show(self, value: &toml::Value) -> String {
        use toml::Value as V;
        match (self, value) {
            (Servers, _) => super::mcp::show(value),
            (Dollars, V::Float(f)) => format!("${f}"),
            (_, V::String(s)) => s.clone(),
            (_, V::Array(items)) if items.is_empty() => "[]".to_string(),
            (_, V::Array(items)) => items
                .iter()
                .map(|i| i.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", "),
            (_, other) => other.to_string(),
        }
    }

    /// For budgets: whether `a` is a tighter limit than `b`.
    pub fn lower(self, a: &toml::Value, b: &toml::Value) -> bool {
        use toml::Value as V;
        match (a, b) {
            (V::String(a), _) if a == UNLIMITED => false,
            (_, V::String(b)) if b == UNLIMITED => true,
            (V::Integer(a), V::Integer(b)) => a < b,
            (V::Float(a), V::Float(b)) => a < b,
            (V::String(a), V::String(b)) if self == Duration => {
                match (
                    humantime::parse_duration(a.trim()),
                    humantime::parse_duration(b.trim()),
                ) {
                    (Ok(a), Ok(b)) => a < b,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn git_names_match_whatever_the_case_dash_or_underscore() {
        for name in [
            "maxTurns",
            "maxturns",
            "max-turns",
            "MAX_TURNS",
            "Max-Turns",
        ] {
            assert_eq!(
                by_git_name(name).map(|k| k.name),
                Some("max_turns"),
                "{name}"
            );
        }
        assert_eq!(
            by_git_name("maxEditsBeforeTest").map(|k| k.name),
            Some("max_edits_before_test")
        );
        assert_eq!(by_git_name("maxTurnz").map(|k| k.name), None);
    }

    #[test]
    fn every_default_is_a_valid_value_and_names_fold_apart() {
        for key in KEYS {
            if let Some(default) = key.default {
                assert!(key.kind.parse(default).is_ok(), "{}", key.name);
            }
            let same: Vec<_> = KEYS
                .iter()
                .filter(|k| fold(k.name) == fold(key.name))
                .collect();
            assert_eq!(same.len(), 1, "{}", key.name);
        }
    }
}
