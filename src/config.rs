//! Layered configuration (DESIGN.md §5). Lowest to highest: built-in defaults,
//! `~/.config/git-agent/config.toml`, the repository's `.git-agent.toml`, git config
//! `agent.*`, environment (`GIT_AGENT_*`), command-line flags. Every effective value
//! remembers where it came from, for `git agent config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{BudgetArgs, ModelArgs, ProviderKind};
use crate::error::{Advice, Exit};

/// One layer's values; every field optional, unknown keys refused (they are typos).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub provider: Option<ProviderKind>,
    pub model: Option<String>,
    pub planner_model: Option<String>,
    pub anthropic_base_url: Option<String>,
    pub openai_base_url: Option<String>,
    pub replay_file: Option<PathBuf>,
    pub record_file: Option<PathBuf>,
    pub max_turns: Option<u64>,
    pub max_tokens: Option<u64>,
    pub max_cost: Option<f64>,
    pub max_time: Option<String>,
    pub test_command: Option<String>,
    pub lint_command: Option<String>,
    pub test_timeout: Option<String>,
    pub command_timeout: Option<String>,
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub network: Option<bool>,
    pub sandbox: Option<String>,
    pub co_author: Option<String>,
    pub step_attempts: Option<u32>,
    pub replans: Option<u32>,
    pub max_steps: Option<u32>,
    pub max_edits_before_test: Option<u32>,
    pub display_notes: Option<bool>,
    pub secret_allow: Option<Vec<String>>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub provider: ProviderKind,
    pub model: String,
    pub planner_model: String,
    pub anthropic_base_url: Option<String>,
    pub openai_base_url: Option<String>,
    pub replay_file: Option<PathBuf>,
    pub record_file: Option<PathBuf>,
    pub max_turns: Option<u64>,
    pub max_tokens: Option<u64>,
    pub max_cost: Option<f64>,
    pub max_time: Option<Duration>,
    pub test_command: Option<String>,
    /// Run by `git agent merge` with the tests and the secret scan.
    pub lint_command: Option<String>,
    pub test_timeout: Duration,
    pub command_timeout: Duration,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub network: bool,
    pub sandbox_off: bool,
    pub co_author: Option<String>,
    /// K: failing tries of a step before rolling back to the last green checkpoint.
    pub step_attempts: u32,
    /// R: plans rewritten after failures before stopping `blocked`.
    pub replans: u32,
    /// The most steps a plan may have.
    pub max_steps: u32,
    pub max_edits_before_test: u32,
    pub display_notes: bool,
    pub secret_allow: Vec<String>,
    /// Key → (value as shown, source), for `git agent config`.
    pub sources: BTreeMap<&'static str, (String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{key} = {value:?} from {source_name}: {message}")]
    Value {
        key: String,
        value: String,
        source_name: String,
        message: String,
    },
}

impl Advice for ConfigError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ConfigError::File { .. } => {
                "fix the file; `git agent config` lists the keys it accepts".into()
            }
            ConfigError::Value { .. } => {
                "fix or remove that value; `git agent config` shows every value and its source"
                    .into()
            }
        })
    }
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// The keys, in the order `git agent config` prints them.
pub const KEYS: &[&str] = &[
    "provider",
    "model",
    "planner_model",
    "anthropic_base_url",
    "openai_base_url",
    "replay_file",
    "record_file",
    "max_turns",
    "max_tokens",
    "max_cost",
    "max_time",
    "test_command",
    "lint_command",
    "test_timeout",
    "command_timeout",
    "allow",
    "deny",
    "network",
    "sandbox",
    "co_author",
    "step_attempts",
    "replans",
    "max_steps",
    "max_edits_before_test",
    "display_notes",
    "secret_allow",
];

fn parse_file(path: &Path) -> Result<Option<Layer>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(ConfigError::File {
                file: path.display().to_string(),
                message: err.to_string(),
            });
        }
    };
    toml::from_str(&text).map(Some).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        ConfigError::File {
            file: match line {
                Some(line) => format!("{}:{line}", path.display()),
                None => path.display().to_string(),
            },
            message: err.message().to_string(),
        }
    })
}

/// Git config `agent.*` as a layer: `agent.maxTurns` is `max_turns`.
fn git_layer(entries: &[(String, String)]) -> Result<Layer, ConfigError> {
    let mut table = toml::Table::new();
    for (key, value) in entries {
        let Some(name) = key.strip_prefix("agent.") else {
            continue;
        };
        let snake = camel_to_snake(name);
        let Some(&key) = KEYS.iter().find(|k| **k == snake) else {
            continue;
        };
        let typed = typed_value(key, value, "git config")?;
        if matches!(key, "allow" | "deny" | "secret_allow") {
            let list = table
                .entry(key)
                .or_insert_with(|| toml::Value::Array(Vec::new()));
            if let toml::Value::Array(items) = list {
                items.push(toml::Value::String(value.clone()));
            }
        } else {
            table.insert(key.to_string(), typed);
        }
    }
    Layer::deserialize(table).map_err(|err| ConfigError::File {
        file: "git config agent.*".into(),
        message: err.to_string(),
    })
}

fn camel_to_snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out.to_ascii_lowercase().replace('-', "_")
}

/// A string from git config or the environment, typed by its key.
fn typed_value(key: &str, value: &str, source: &str) -> Result<toml::Value, ConfigError> {
    let bad = |message: &str| ConfigError::Value {
        key: key.to_string(),
        value: value.to_string(),
        source_name: source.to_string(),
        message: message.to_string(),
    };
    Ok(match key {
        "max_turns"
        | "max_tokens"
        | "step_attempts"
        | "replans"
        | "max_steps"
        | "max_edits_before_test" => toml::Value::Integer(
            value
                .trim()
                .parse()
                .map_err(|_| bad("expected a whole number"))?,
        ),
        "max_cost" => toml::Value::Float(
            value
                .trim()
                .parse()
                .map_err(|_| bad("expected a number of dollars"))?,
        ),
        "network" | "display_notes" => {
            toml::Value::Boolean(match value.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => true,
                "false" | "no" | "off" | "0" => false,
                _ => return Err(bad("expected true or false")),
            })
        }
        "allow" | "deny" | "secret_allow" => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(value.to_string()),
    })
}

fn env_layer(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(&'static str, Layer)>, ConfigError> {
    let mut layers = Vec::new();
    for key in KEYS {
        let name = format!("GIT_AGENT_{}", key.to_ascii_uppercase());
        if let Some(value) = lookup(&name) {
            let mut table = toml::Table::new();
            table.insert(key.to_string(), typed_value(key, &value, &name)?);
            let layer = Layer::deserialize(table).map_err(|err| ConfigError::Value {
                key: key.to_string(),
                value,
                source_name: name.clone(),
                message: err.to_string(),
            })?;
            layers.push((*key, layer));
        }
    }
    Ok(layers)
}

fn flags_layer(model: &ModelArgs, budget: &BudgetArgs) -> Layer {
    Layer {
        provider: model.provider,
        model: model.model.clone(),
        planner_model: model.planner_model.clone(),
        replay_file: model.replay_file.clone(),
        max_turns: budget.max_turns,
        max_tokens: budget.max_tokens,
        max_cost: budget.max_cost,
        max_time: budget.max_time.clone(),
        ..Layer::default()
    }
}

/// Where configuration comes from, so tests can pass their own.
pub struct Inputs<'a> {
    pub user_file: Option<PathBuf>,
    pub repo_file: Option<PathBuf>,
    pub git_config: Vec<(String, String)>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub model: ModelArgs,
    pub budget: BudgetArgs,
}

impl Inputs<'_> {
    /// The real sources: the user's file, the repository's file, its git config, the process environment.
    pub fn discover(
        repo_workdir: Option<&Path>,
        model: ModelArgs,
        budget: BudgetArgs,
    ) -> Inputs<'static> {
        let user_file = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("git-agent/config.toml"));
        let git_config = repo_workdir
            .and_then(|dir| {
                std::process::Command::new("git")
                    .args(["config", "--get-regexp", "^agent\\."])
                    .current_dir(dir)
                    .output()
                    .ok()
            })
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| {
                        l.split_once(' ')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Inputs {
            user_file,
            repo_file: repo_workdir.map(|d| d.join(".git-agent.toml")),
            git_config,
            env: &|name| std::env::var(name).ok(),
            model,
            budget,
        }
    }
}

pub fn load(inputs: &Inputs<'_>) -> Result<Config, ConfigError> {
    let mut layers: Vec<(String, Layer)> = Vec::new();
    if let Some(path) = &inputs.user_file
        && let Some(layer) = parse_file(path)?
    {
        layers.push((path.display().to_string(), layer));
    }
    if let Some(path) = &inputs.repo_file
        && let Some(layer) = parse_file(path)?
    {
        layers.push((path.display().to_string(), layer));
    }
    layers.push(("git config agent.*".into(), git_layer(&inputs.git_config)?));
    for (key, layer) in env_layer(inputs.env)? {
        layers.push((
            format!("environment GIT_AGENT_{}", key.to_ascii_uppercase()),
            layer,
        ));
    }
    layers.push((
        "command line".into(),
        flags_layer(&inputs.model, &inputs.budget),
    ));
    resolve(&layers)
}

fn resolve(layers: &[(String, Layer)]) -> Result<Config, ConfigError> {
    let mut sources = BTreeMap::new();
    macro_rules! pick {
        ($field:ident, $default:expr, $show:expr) => {{
            let mut value = $default;
            let mut source = "default".to_string();
            for (name, layer) in layers {
                if let Some(v) = &layer.$field {
                    value = v.clone().into();
                    source = name.clone();
                }
            }
            #[allow(clippy::redundant_closure_call)]
            let shown = ($show)(&value);
            sources.insert(stringify!($field), (shown, source.clone()));
            (value, source)
        }};
    }
    let show_opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
    let show_path = |v: &Option<PathBuf>| {
        v.as_ref()
            .map_or_else(|| "(unset)".into(), |p| p.display().to_string())
    };
    let show_num = |v: &Option<u64>| v.map_or_else(|| "(unlimited)".into(), |n| n.to_string());
    let show_list = |v: &Vec<String>| {
        if v.is_empty() {
            "[]".to_string()
        } else {
            v.join(", ")
        }
    };

    let (provider, _) = pick!(provider, ProviderKind::Anthropic, |v: &ProviderKind| {
        format!("{v:?}").to_lowercase()
    });
    let default_model = match provider {
        ProviderKind::Openai => "gpt-4.1",
        _ => "claude-sonnet-4-5",
    };
    let (model, _) = pick!(model, default_model.to_string(), |v: &String| v.clone());
    let (planner_model, _) = pick!(planner_model, model.clone(), |v: &String| v.clone());
    let (anthropic_base_url, _) = pick!(anthropic_base_url, None::<String>, show_opt);
    let (openai_base_url, _) = pick!(openai_base_url, None::<String>, show_opt);
    let (replay_file, _) = pick!(replay_file, None::<PathBuf>, show_path);
    let (record_file, _) = pick!(record_file, None::<PathBuf>, show_path);
    let (max_turns, _) = pick!(max_turns, None::<u64>, show_num);
    let (max_tokens, _) = pick!(max_tokens, None::<u64>, show_num);
    let (max_cost, _) = pick!(max_cost, None::<f64>, |v: &Option<f64>| v
        .map_or_else(|| "(unlimited)".into(), |c| format!("${c}")));
    let (max_time, max_time_src) = pick!(max_time, None::<String>, |v: &Option<String>| v
        .clone()
        .unwrap_or_else(|| "(unlimited)".into()));
    let (test_command, _) = pick!(test_command, None::<String>, |v: &Option<String>| v
        .clone()
        .unwrap_or_else(|| "(from the plan)".into()));
    let (lint_command, _) = pick!(lint_command, None::<String>, |v: &Option<String>| v
        .clone()
        .unwrap_or_else(|| "(none)".into()));
    let (test_timeout, test_timeout_src) =
        pick!(test_timeout, "10m".to_string(), |v: &String| v.clone());
    let (command_timeout, command_timeout_src) =
        pick!(command_timeout, "2m".to_string(), |v: &String| v.clone());
    let (allow, _) = pick!(allow, Vec::<String>::new(), show_list);
    let (deny, _) = pick!(deny, Vec::<String>::new(), show_list);
    let (network, _) = pick!(network, false, |v: &bool| v.to_string());
    let (sandbox, sandbox_src) = pick!(sandbox, "on".to_string(), |v: &String| v.clone());
    let (co_author, _) = pick!(co_author, None::<String>, show_opt);
    let (step_attempts, _) = pick!(step_attempts, 3u32, |v: &u32| v.to_string());
    let (replans, _) = pick!(replans, 2u32, |v: &u32| v.to_string());
    let (max_steps, _) = pick!(max_steps, 30u32, |v: &u32| v.to_string());
    let (max_edits_before_test, _) = pick!(max_edits_before_test, 30u32, |v: &u32| v.to_string());
    let (display_notes, _) = pick!(display_notes, true, |v: &bool| v.to_string());
    let (secret_allow, _) = pick!(secret_allow, Vec::<String>::new(), show_list);

    let duration = |key: &str, value: &str, source: &str| {
        humantime::parse_duration(value.trim()).map_err(|err| ConfigError::Value {
            key: key.to_string(),
            value: value.to_string(),
            source_name: source.to_string(),
            message: format!("{err} (write durations like 90s, 30m or 2h)"),
        })
    };
    let sandbox_off = match sandbox.as_str() {
        "on" => false,
        "off" => true,
        _ => {
            return Err(ConfigError::Value {
                key: "sandbox".into(),
                value: sandbox,
                source_name: sandbox_src,
                message: "expected \"on\" or \"off\"".into(),
            });
        }
    };
    Ok(Config {
        provider,
        model,
        planner_model,
        anthropic_base_url,
        openai_base_url,
        replay_file,
        record_file,
        max_turns,
        max_tokens,
        max_cost,
        max_time: max_time
            .map(|t| duration("max_time", &t, &max_time_src))
            .transpose()?,
        test_command,
        lint_command,
        test_timeout: duration("test_timeout", &test_timeout, &test_timeout_src)?,
        command_timeout: duration("command_timeout", &command_timeout, &command_timeout_src)?,
        allow,
        deny,
        network,
        sandbox_off,
        co_author,
        step_attempts: step_attempts.max(1),
        replans,
        max_steps: max_steps.max(1),
        max_edits_before_test: max_edits_before_test.max(1),
        display_notes,
        secret_allow,
        sources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn inputs<'a>(
        dir: &Path,
        env: &'a dyn Fn(&str) -> Option<String>,
        git: Vec<(String, String)>,
    ) -> Inputs<'a> {
        Inputs {
            user_file: Some(dir.join("user.toml")),
            repo_file: Some(dir.join("repo.toml")),
            git_config: git,
            env,
            model: ModelArgs::default(),
            budget: BudgetArgs::default(),
        }
    }

    #[test]
    fn layers_override_in_order_and_remember_sources() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("user.toml"),
            "model = \"a\"\nmax_turns = 5\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("repo.toml"),
            "model = \"b\"\ntest_command = \"make test\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "GIT_AGENT_MAX_TURNS").then(|| "9".to_string());
        let git = vec![
            ("agent.maxCost".to_string(), "1.5".to_string()),
            ("agent.deny".to_string(), "make deploy".to_string()),
        ];
        let mut i = inputs(dir.path(), &env, git);
        i.budget.max_time = Some("30m".into());
        let config = load(&i).unwrap();
        assert_eq!(config.model, "b");
        assert_eq!(config.max_turns, Some(9));
        assert_eq!(config.max_cost, Some(1.5));
        assert_eq!(config.deny, vec!["make deploy".to_string()]);
        assert_eq!(config.max_time, Some(Duration::from_secs(1800)));
        assert_eq!(config.test_command.as_deref(), Some("make test"));
        assert_eq!(
            config.sources["model"].1,
            dir.path().join("repo.toml").display().to_string()
        );
        assert_eq!(
            config.sources["max_turns"].1,
            "environment GIT_AGENT_MAX_TURNS"
        );
        assert_eq!(config.sources["max_cost"].1, "git config agent.*");
        assert_eq!(config.sources["max_time"].1, "command line");
        assert_eq!(
            config.sources["replans"],
            ("2".to_string(), "default".to_string())
        );
    }

    #[test]
    fn bad_values_name_their_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("repo.toml"),
            "model = \"b\"\n\nmax_turns = \"many\"\n",
        )
        .unwrap();
        let env = |_: &str| None;
        let err = load(&inputs(dir.path(), &env, vec![]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("repo.toml:3"), "{err}");
        std::fs::write(dir.path().join("repo.toml"), "modle = \"typo\"\n").unwrap();
        let err = load(&inputs(dir.path(), &env, vec![]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("repo.toml:1") && err.contains("modle"),
            "{err}"
        );
        std::fs::write(dir.path().join("repo.toml"), "max_time = \"soon\"\n").unwrap();
        let err = load(&inputs(dir.path(), &env, vec![]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_time") && err.contains("repo.toml"),
            "{err}"
        );
        let env = |name: &str| (name == "GIT_AGENT_NETWORK").then(|| "perhaps".to_string());
        std::fs::remove_file(dir.path().join("repo.toml")).unwrap();
        let err = load(&inputs(dir.path(), &env, vec![]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("GIT_AGENT_NETWORK"), "{err}");
    }
}
