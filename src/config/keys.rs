//! The one table of configuration keys: name, type, who may set it, built-in value. The git
//! config and environment names derive from it, and so do `git agent config` and the checks
//! of every layer; adding a key is one line here and one field of [`super::Config`].

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

#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub trust: Trust,
    /// The built-in value, written as in git config (`""` is an empty list).
    pub default: Option<&'static str>,
    /// What `git agent config` shows when nothing sets the key and there is no default.
    pub unset: &'static str,
}

const fn key(
    name: &'static str,
    kind: Kind,
    trust: Trust,
    default: Option<&'static str>,
    unset: &'static str,
) -> Key {
    Key {
        name,
        kind,
        trust,
        default,
        unset,
    }
}

use Kind::*;
use Trust::{Budget, Project, User};

/// Every key, in the order `git agent config` prints them. `model` and `planner_model` have
/// defaults computed from the provider and the model.
pub const KEYS: &[Key] = &[
    key("provider", Provider, User, Some("anthropic"), ""),
    key("model", Text, Project, None, ""),
    key("planner_model", Text, Project, None, ""),
    // The executor works in many small turns; the planner's few answers decide the whole run.
    key("thinking", Thinking, Project, Some("off"), ""),
    key("planner_thinking", Thinking, Project, Some("medium"), ""),
    key("anthropic_base_url", Text, User, None, "(unset)"),
    key("openai_base_url", Text, User, None, "(unset)"),
    key("replay_file", Path, User, None, "(unset)"),
    key("record_file", Path, User, None, "(unset)"),
    // How long a run waits for a network that is gone: the user's network, the user's say.
    key("unreachable_wait", Duration, User, Some("5m"), ""),
    // Where the run's traces go (docs/telemetry.md): data leaves the machine, the user's say.
    key("otel_endpoint", Text, User, None, "(unset)"),
    // How long a graceful stop waits for the last spans to reach the collector.
    key("otel_flush_wait", Duration, User, Some("40ms"), ""),
    key("max_turns", Count, Budget, None, "(unlimited)"),
    key("max_tokens", Count, Budget, None, "(unlimited)"),
    // On by default: a run that loops costs the user's money (`unlimited` lifts it).
    key("max_cost", Dollars, Budget, Some("10"), "(unlimited)"),
    key("max_time", Duration, Budget, None, "(unlimited)"),
    key("test_command", Text, Project, None, "(from the plan)"),
    key("lint_command", Text, Project, None, "(none)"),
    key("test_timeout", Duration, Project, Some("10m"), ""),
    key("command_timeout", Duration, Project, Some("2m"), ""),
    key("allow", List, User, Some(""), ""),
    // Deny lists add up across layers: a repository's denials only narrow.
    key("deny", List, Project, Some(""), ""),
    key("network", Flag, User, Some("false"), ""),
    key("sandbox", OnOff, User, Some("on"), ""),
    key("co_author", Text, Project, None, "(unset)"),
    key("step_attempts", Count, Project, Some("3"), ""),
    key("replans", Count, Project, Some("2"), ""),
    key("max_steps", Count, Project, Some("30"), ""),
    key("max_edits_before_test", Count, Project, Some("30"), ""),
    key("max_step_turns", Count, Project, Some("40"), ""),
    // A model fact, for a model the table does not know or a server run with a smaller one.
    key("context_window", Count, Project, None, "(the model's)"),
    key("display_notes", Flag, Project, Some("true"), ""),
    // A process that outlives the command: the user's to start.
    key("fsmonitor", Flag, User, Some("false"), ""),
    key("secret_allow", List, User, Some(""), ""),
    // Files a checkpoint leaves out: the user's to choose, since a repository says what it
    // ignores in its own .gitignore, which outranks this list.
    key(
        "generated",
        List,
        User,
        Some(crate::walk::generated::BUILT_IN),
        "",
    ),
    // A server runs for the whole run and talks to the model: the user's to name.
    key("mcp", Servers, User, None, "(none)"),
];

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
                    #[allow(clippy::cast_precision_loss)]
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
