//! Layered configuration. Lowest to highest: built-in defaults,
//! `~/.config/git-agent/config.toml`, the repository's `.git-agent.toml`, git config
//! `agent.*`, environment (`GIT_AGENT_*`; `ANTHROPIC_BASE_URL` and `OPENAI_BASE_URL` for the
//! base URLs), command-line flags. Every effective value remembers where it came from, for
//! `git agent config`.
//!
//! Trust levels: every layer but the repository's file is the user's own. The repository's
//! file may set only what [`keys::KEYS`] marks as a project fact; its budgets are caps (the
//! lower of the user's value and its own applies); the keys that widen what the agent may do
//! or where data goes are ignored, with a warning naming them, unless the user trusted that
//! exact content (`trust.rs`). Deny lists add up across layers.

mod keys;
mod mcp;
mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Advice, Exit};
use crate::llm::{ProviderKind, Thinking};

pub use keys::{KEYS, Key, Kind, Trust, by_name, markdown_table, user_trust_names, with_table};
pub use mcp::McpServer;
pub use trust::{REPO_FILE, RepoFile, RepoRead, TRUST_KEY, TrustState, read_repo_file};

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub provider: ProviderKind,
    pub model: String,
    pub planner_model: String,
    /// How much the executor's model reasons before each answer.
    pub thinking: Thinking,
    /// How much the planner's model reasons.
    pub planner_thinking: Thinking,
    pub anthropic_base_url: Option<String>,
    pub openai_base_url: Option<String>,
    pub replay_file: Option<PathBuf>,
    pub record_file: Option<PathBuf>,
    /// How long a model server that answers nothing is retried (src/llm/retry.rs).
    pub unreachable_wait: Duration,
    /// The OTLP collector's base URL for the run's traces (src/agent/telemetry.rs).
    pub otel_endpoint: Option<String>,
    /// The longest a run's end waits for its last spans to be exported.
    pub otel_flush_wait: Duration,
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
    /// Model turns one try of a step may take before it ends as a failed try.
    pub max_step_turns: u32,
    /// Tokens of the executor model's context window, when set: else the model's known
    /// window (see `crate::llm::context_window`).
    pub context_window: Option<u64>,
    pub display_notes: bool,
    /// Keep a file-system monitor per task worktree, so that `git agent checkpoint` looks
    /// only at what changed (see `reexec::fsmonitor`).
    pub fsmonitor: bool,
    pub secret_allow: Vec<String>,
    /// Untracked files no checkpoint records (see `crate::walk::generated`).
    pub generated: Vec<String>,
    /// MCP servers whose tools the executor is offered, by name.
    pub mcp_servers: Vec<McpServer>,
    /// Key → (value as shown, source), for `git agent config`.
    pub sources: BTreeMap<&'static str, (String, String)>,
    /// Values of the repository's file that do not apply, and why.
    pub ignored: Vec<Ignored>,
    /// For stderr, once per run: ignored keys and settings, with what to do about them.
    pub warnings: Vec<Warning>,
}

impl Config {
    /// The sandbox of commands run for a task in `worktree`: the agent's own commands, the
    /// harness's test runs and merge's checks all get this one.
    pub fn sandbox_for(&self, worktree: &std::path::Path) -> crate::policy::SandboxSpec {
        crate::policy::SandboxSpec::for_worktree(worktree, self.network, self.sandbox_off)
    }
}

/// A value of the repository's file that does not apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    pub key: &'static str,
    pub value: toml::Value,
    /// The file, as shown in sources.
    pub source: String,
    pub why: Why,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// A key that widens what the agent may do, in a file the user has not trusted.
    NotTrusted,
    /// The same, in a file that changed since the user trusted it.
    Changed,
    /// A budget above the user's own (shown).
    AboveYours(String),
}

impl Why {
    pub fn describe(&self) -> String {
        match self {
            Why::NotTrusted => "not trusted: `git agent trust` applies it".into(),
            Why::Changed => "changed since trusted: `git agent trust` applies it".into(),
            Why::AboveYours(yours) => {
                format!("a repository may only lower a budget; yours is {yours}")
            }
        }
    }
}

/// A warning for stderr and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub message: String,
    pub hint: Option<String>,
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

/// Whose a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Default,
    User,
    Repo(TrustState),
}

/// One layer's values, checked against their keys' types.
type Values = BTreeMap<&'static str, toml::Value>;

struct Layer {
    name: String,
    origin: Origin,
    values: Values,
}

fn file_error(
    file: &str,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> ConfigError {
    let line = span.map(|span| text[..span.start.min(text.len())].lines().count().max(1));
    ConfigError::File {
        file: match line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        },
        message: message.to_string(),
    }
}

/// A configuration file's text as values; unknown keys are refused (they are typos).
pub fn parse_toml(
    file: &str,
    text: &str,
) -> Result<BTreeMap<&'static str, toml::Value>, ConfigError> {
    let table: BTreeMap<String, toml::Spanned<toml::Value>> =
        toml::from_str(text).map_err(|err| file_error(file, text, err.span(), err.message()))?;
    let mut values = Values::new();
    for (name, spanned) in table {
        let span = spanned.span();
        let Some(key) = by_name(&name) else {
            return Err(file_error(
                file,
                text,
                Some(span),
                &format!("unknown key `{name}`"),
            ));
        };
        let value = key
            .kind
            .check(spanned.into_inner())
            .map_err(|message| file_error(file, text, Some(span), &format!("{name}: {message}")))?;
        values.insert(key.name, value);
    }
    Ok(values)
}

fn user_file(path: &Path) -> Result<Option<Values>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_toml(&path.display().to_string(), &text).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(ConfigError::File {
            file: path.display().to_string(),
            message: err.to_string(),
        }),
    }
}

/// Git config `agent.*` as a layer: `agent.maxTurns`, `agent.max-turns` and git's own
/// `agent.maxturns` are all `max_turns`. A list key takes one entry per value. A name that is
/// no key is named in a warning.
fn git_layer(
    entries: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<Values, ConfigError> {
    let mut values = Values::new();
    for (name, value) in entries {
        let Some(rest) = name
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case("agent."))
            .and_then(|_| name.get(6..))
        else {
            continue;
        };
        if keys::fold(rest) == keys::fold(TRUST_KEY.trim_start_matches("agent.")) {
            continue;
        }
        let Some(key) = keys::by_git_name(rest) else {
            warnings.push(Warning {
                message: format!("git config {name} is not a git-agent setting; it is ignored"),
                hint: Some("`git agent config` lists the settings; git config names match them whatever the case, `-` or `_` (agent.maxTurns is max_turns)".into()),
            });
            continue;
        };
        if key.kind == Kind::List {
            let list = values
                .entry(key.name)
                .or_insert_with(|| toml::Value::Array(Vec::new()));
            if let toml::Value::Array(items) = list {
                items.push(toml::Value::String(value.clone()));
            }
        } else {
            let typed = key
                .kind
                .parse(value)
                .map_err(|message| ConfigError::Value {
                    key: key.name.to_string(),
                    value: value.clone(),
                    source_name: format!("git config {name}"),
                    message,
                })?;
            values.insert(key.name, typed);
        }
    }
    Ok(values)
}

/// The environment, one layer per variable: `GIT_AGENT_<KEY>`, and the providers' own
/// `ANTHROPIC_BASE_URL` and `OPENAI_BASE_URL` (below `GIT_AGENT_*`).
fn env_layers(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Layer>, ConfigError> {
    let mut layers = Vec::new();
    for key in KEYS {
        let vendor = match key.name {
            "anthropic_base_url" => Some("ANTHROPIC_BASE_URL"),
            "openai_base_url" => Some("OPENAI_BASE_URL"),
            _ => None,
        };
        let own = format!("GIT_AGENT_{}", key.name.to_ascii_uppercase());
        for name in vendor.into_iter().map(str::to_string).chain([own]) {
            let Some(value) = lookup(&name) else {
                continue;
            };
            if vendor == Some(name.as_str()) && value.trim().is_empty() {
                continue;
            }
            let typed = key
                .kind
                .parse(&value)
                .map_err(|message| ConfigError::Value {
                    key: key.name.to_string(),
                    value: value.clone(),
                    source_name: name.clone(),
                    message,
                })?;
            layers.push(Layer {
                name: format!("environment {name}"),
                origin: Origin::User,
                values: Values::from([(key.name, typed)]),
            });
        }
    }
    Ok(layers)
}

/// The command-line layer, the highest: what the user passed as flags for this one run.
/// The command line (`cli`) fills it; this module knows nothing of how flags are parsed.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub provider: Option<ProviderKind>,
    pub model: Option<String>,
    pub planner_model: Option<String>,
    pub replay_file: Option<PathBuf>,
    pub max_turns: Option<u64>,
    pub max_tokens: Option<u64>,
    pub max_cost: Option<f64>,
    pub max_time: Option<String>,
}

fn flags_layer(flags: &Flags) -> Result<Values, ConfigError> {
    use toml::Value as V;
    let mut values = Values::new();
    let mut set = |name: &'static str, value: Option<V>| -> Result<(), ConfigError> {
        let (Some(value), Some(key)) = (value, by_name(name)) else {
            return Ok(());
        };
        let shown = value.to_string();
        let value = key
            .kind
            .check(value)
            .map_err(|message| ConfigError::Value {
                key: name.to_string(),
                value: shown,
                source_name: "command line".into(),
                message,
            })?;
        values.insert(key.name, value);
        Ok(())
    };
    set(
        "provider",
        flags.provider.map(|p| V::String(p.name().into())),
    )?;
    set("model", flags.model.clone().map(V::String))?;
    set("planner_model", flags.planner_model.clone().map(V::String))?;
    set(
        "replay_file",
        flags
            .replay_file
            .as_ref()
            .map(|p| V::String(p.display().to_string())),
    )?;
    let count = |n: u64| V::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    set("max_turns", flags.max_turns.map(count))?;
    set("max_tokens", flags.max_tokens.map(count))?;
    set("max_cost", flags.max_cost.map(V::Float))?;
    set("max_time", flags.max_time.clone().map(V::String))?;
    Ok(values)
}

/// Where configuration comes from, so tests can pass their own.
pub struct Inputs<'a> {
    pub user_file: Option<PathBuf>,
    pub repo_file: Option<PathBuf>,
    pub git_config: Vec<(String, String)>,
    /// `agent.trustedConfig` of the repository's local git config: the blob id of the
    /// repository file's content the user trusted.
    pub trust_record: Option<String>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub flags: Flags,
}

impl Inputs<'_> {
    /// The real sources: the user's file, the repository's file, its git config, the process environment.
    /// `repo`: the repository's git dir and working tree, when there is one.
    pub fn discover(repo: Option<(&Path, &Path)>, flags: Flags) -> Inputs<'static> {
        let repo_workdir = repo.map(|(_, workdir)| workdir);
        let user_file = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("git-agent/config.toml"));
        let (git_config, trust_record) = repo
            .map(|(git_dir, workdir)| read_git_config(git_dir, workdir))
            .unwrap_or_default();
        Inputs {
            user_file,
            repo_file: repo_workdir.map(|d| d.join(REPO_FILE)),
            git_config,
            trust_record,
            env: &crate::policy::credentials::var,
            flags,
        }
    }
}

impl Inputs<'_> {
    /// Like [`Inputs::discover`], in the repository `repo` was opened from, without running
    /// `git config` when no configuration can hold an `agent.*` key: git-agent commands that
    /// do git's work (a checkpoint) then start no process at all. Whether one can is decided
    /// from what gix read when it opened the repository, the system file git reads and the
    /// environment; whenever in doubt, `git config` is asked as before.
    pub fn discover_in(repo: &gix::Repository, flags: Flags) -> Inputs<'static> {
        let workdir = repo.workdir();
        if git_config_may_set_agent_keys(repo, &|name| std::env::var_os(name)) {
            return Inputs::discover(workdir.map(|w| (repo.git_dir(), w)), flags);
        }
        let mut inputs = Inputs::discover(None, flags);
        inputs.repo_file = workdir.map(|d| d.join(REPO_FILE));
        inputs
    }
}

/// The `agent.*` entries of git config, as `git config` reads them in the repository, and the
/// trust record of the repository's own config.
fn read_git_config(git_dir: &Path, workdir: &Path) -> (Vec<(String, String)>, Option<String>) {
    // `scope NUL name LF value NUL`, per entry; a name alone is a boolean `true`.
    let output = crate::git_command::GitCommand::new(git_dir, Some(workdir))
        .args(["config", "-z", "--show-scope", "--get-regexp", "^agent\\."])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let mut git_config = Vec::new();
    let mut trust_record = None;
    let mut fields = output.split('\0');
    while let (Some(scope), Some(entry)) = (fields.next(), fields.next()) {
        let (name, value) = entry.split_once('\n').unwrap_or((entry, "true"));
        if keys::fold(name) == keys::fold(TRUST_KEY) {
            // Only the repository's own config records trust in its file.
            if scope == "local" {
                trust_record = Some(value.to_string());
            }
            continue;
        }
        git_config.push((name.to_string(), value.to_string()));
    }
    (git_config, trust_record)
}

/// Whether `git config` could print an `agent.*` entry in `repo`. False only when none of
/// the files gix read (with their includes) has an `[agent]` section, no environment
/// variable adds configuration, and no system file git may read instead of gix's mentions
/// `agent` at all. A wrong `true` costs a process; a wrong `false` would lose settings, so
/// every doubt answers `true`.
fn git_config_may_set_agent_keys(
    repo: &gix::Repository,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    use gix::bstr::ByteSlice;
    // `git -c`, `GIT_CONFIG_COUNT` and the old `GIT_CONFIG` (a file instead of all others).
    if ["GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG"]
        .iter()
        .any(|name| env(name).is_some())
    {
        return true;
    }
    let config = repo.config_snapshot();
    if config
        .plumbing()
        .sections()
        .any(|s| s.header().name().eq_ignore_ascii_case(b"agent"))
    {
        return true;
    }
    // The system file of the git that runs us may not be the one gix reads (/etc/gitconfig):
    // a git installed under /usr/local reads /usr/local/etc/gitconfig.
    if env("GIT_CONFIG_NOSYSTEM").is_some_and(|v| !v.is_empty() && v != "0" && v != "false") {
        return false;
    }
    let mut candidates: Vec<PathBuf> = vec![PathBuf::from("/etc/gitconfig")];
    if let Some(file) = env("GIT_CONFIG_SYSTEM") {
        candidates = vec![PathBuf::from(file)];
    } else {
        // `<prefix>/libexec/git-core` (set by git for the commands it runs), and the
        // `<prefix>/bin` of every `git` on PATH.
        let exec_path = env("GIT_EXEC_PATH").map(PathBuf::from);
        let path = env("PATH");
        let prefixes = exec_path
            .iter()
            .filter_map(|p| p.parent()?.parent().map(Path::to_path_buf))
            .chain(
                path.iter()
                    .flat_map(std::env::split_paths)
                    .filter(|dir| dir.join("git").is_file())
                    .filter_map(|dir| {
                        let git = dir.join("git").canonicalize().ok()?;
                        Some(git.parent()?.parent()?.to_path_buf())
                    }),
            );
        candidates.extend(prefixes.map(|prefix| prefix.join("etc/gitconfig")));
    }
    candidates.iter().any(|file| match std::fs::read(file) {
        Ok(text) => text.to_ascii_lowercase().find(b"agent").is_some(),
        Err(err) => err.kind() != std::io::ErrorKind::NotFound,
    })
}

fn defaults_layer() -> Result<Layer, ConfigError> {
    let mut values = Values::new();
    for key in KEYS {
        if let Some(default) = key.default {
            let value = key
                .kind
                .parse(default)
                .map_err(|message| ConfigError::Value {
                    key: key.name.to_string(),
                    value: default.to_string(),
                    source_name: "default".into(),
                    message,
                })?;
            values.insert(key.name, value);
        }
    }
    Ok(Layer {
        name: "default".into(),
        origin: Origin::Default,
        values,
    })
}

pub fn load(inputs: &Inputs<'_>) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let mut layers = vec![defaults_layer()?];
    if let Some(path) = &inputs.user_file
        && let Some(values) = user_file(path)?
    {
        layers.push(Layer {
            name: path.display().to_string(),
            origin: Origin::User,
            values,
        });
    }
    if let Some(path) = &inputs.repo_file {
        let shown = path.display().to_string();
        let read = read_repo_file(path).map_err(|err| ConfigError::File {
            file: shown.clone(),
            message: err.to_string(),
        })?;
        match read {
            RepoRead::Absent => {}
            RepoRead::Refused(why) => warnings.push(Warning {
                message: format!("{shown} {why}; it is ignored"),
                hint: None,
            }),
            RepoRead::File(file) => {
                let values = parse_toml(&shown, &file.text)?;
                let state = TrustState::of(&file, inputs.trust_record.as_deref());
                layers.push(Layer {
                    name: if state == TrustState::Trusted {
                        format!("{shown} (trusted)")
                    } else {
                        shown
                    },
                    origin: Origin::Repo(state),
                    values,
                });
            }
        }
    }
    layers.push(Layer {
        name: "git config agent.*".into(),
        origin: Origin::User,
        values: git_layer(&inputs.git_config, &mut warnings)?,
    });
    layers.extend(env_layers(inputs.env)?);
    layers.push(Layer {
        name: "command line".into(),
        origin: Origin::User,
        values: flags_layer(&inputs.flags)?,
    });
    let (values, ignored) = resolve(&layers);
    warnings.extend(warnings_for(&ignored));
    build(values, ignored, warnings)
}

/// A value and the layer it came from.
type Picked = (toml::Value, String);

/// Each key's value by the layers' order and trust; what the repository's file may not set.
fn resolve(layers: &[Layer]) -> (BTreeMap<&'static str, Picked>, Vec<Ignored>) {
    let mut values = BTreeMap::new();
    let mut ignored = Vec::new();
    for key in KEYS {
        let mut picked: Option<Picked> = None;
        let mut cap: Option<(&toml::Value, &Layer)> = None;
        for layer in layers {
            let Some(value) = layer.values.get(key.name) else {
                continue;
            };
            let state = match layer.origin {
                Origin::Repo(state) => Some(state),
                Origin::Default | Origin::User => None,
            };
            match (state, key.trust) {
                (Some(_), Trust::Budget) => {
                    cap = Some((value, layer));
                    continue;
                }
                (Some(TrustState::NotTrusted), Trust::User)
                | (Some(TrustState::Changed), Trust::User) => {
                    ignored.push(Ignored {
                        key: key.name,
                        value: value.clone(),
                        source: layer.name.clone(),
                        why: if state == Some(TrustState::Changed) {
                            Why::Changed
                        } else {
                            Why::NotTrusted
                        },
                    });
                    continue;
                }
                _ => {}
            }
            picked = Some(match (key.name, picked.take()) {
                // Denials add up; the built-in empty list is no source.
                ("deny", Some((toml::Value::Array(mut before), source))) if source != "default" => {
                    if let toml::Value::Array(more) = value {
                        before.extend(more.iter().cloned());
                    }
                    (
                        toml::Value::Array(before),
                        format!("{source} + {}", layer.name),
                    )
                }
                // Servers merge by name: a higher layer replaces a server of the same name.
                ("mcp", Some((before, source))) => (
                    mcp::merge(&before, value),
                    format!("{source} + {}", layer.name),
                ),
                _ => (value.clone(), layer.name.clone()),
            });
        }
        if let Some((value, layer)) = cap {
            match &picked {
                Some((yours, _)) if !key.kind.lower(value, yours) => ignored.push(Ignored {
                    key: key.name,
                    value: value.clone(),
                    source: layer.name.clone(),
                    why: Why::AboveYours(key.kind.show(yours)),
                }),
                Some((_, from)) if from == "default" => {
                    picked = Some((value.clone(), layer.name.clone()));
                }
                Some((yours, _)) => {
                    let source =
                        format!("{} (lower than your {})", layer.name, key.kind.show(yours));
                    picked = Some((value.clone(), source));
                }
                None => picked = Some((value.clone(), layer.name.clone())),
            }
        }
        if let Some(picked) = picked {
            values.insert(key.name, picked);
        }
    }
    (values, ignored)
}

/// One warning for the widening keys of an untrusted (or changed) file, one per budget.
fn warnings_for(ignored: &[Ignored]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for why in [Why::NotTrusted, Why::Changed] {
        let keys: Vec<&Ignored> = ignored.iter().filter(|i| i.why == why).collect();
        let Some(first) = keys.first() else {
            continue;
        };
        let names = keys.iter().map(|i| i.key).collect::<Vec<_>>().join(", ");
        warnings.push(if why == Why::NotTrusted {
            Warning {
                message: format!(
                    "{} sets keys a repository may not set, so they are ignored: {names}",
                    first.source
                ),
                hint: Some("they widen what the agent may do or where data goes; review them with `git agent config`, and if you trust this file run `git agent trust` (it covers this content only)".into()),
            }
        } else {
            Warning {
                message: format!(
                    "{} changed since you trusted it, so these are ignored again: {names}",
                    first.source
                ),
                hint: Some("review the change (git diff), then run `git agent trust` again".into()),
            }
        });
    }
    for i in ignored {
        if let Why::AboveYours(yours) = &i.why {
            let kind = by_name(i.key).map_or(Kind::Text, |k| k.kind);
            warnings.push(Warning {
                message: format!(
                    "{} sets {} = {}, above your {yours}; a repository may only lower a budget, so it is ignored",
                    i.source,
                    i.key,
                    kind.show(&i.value)
                ),
                hint: None,
            });
        }
    }
    warnings
}

fn build(
    values: BTreeMap<&'static str, Picked>,
    ignored: Vec<Ignored>,
    warnings: Vec<Warning>,
) -> Result<Config, ConfigError> {
    let mut config = Config::unset();
    for key in KEYS {
        let Some((value, source)) = values.get(key.name) else {
            config
                .sources
                .insert(key.name, (key.unset.to_string(), "default".to_string()));
            continue;
        };
        // Every layer checked its values against the key's kind; a duration is parsed once
        // more here so that a value that slipped through still names its source.
        if key.kind == Kind::Duration {
            check_duration(key.name, value, source)?;
        }
        (key.apply)(&mut config, value);
        config
            .sources
            .insert(key.name, (key.kind.show(value), source.clone()));
    }
    if config.model.is_empty() {
        config.model = crate::llm::default_model(config.provider).to_string();
    }
    if config.planner_model.is_empty() {
        config.planner_model.clone_from(&config.model);
    }
    for (key, value) in [
        ("model", &config.model),
        ("planner_model", &config.planner_model),
    ] {
        if let Some(entry) = config.sources.get_mut(key) {
            entry.0.clone_from(value);
        }
    }
    config.ignored = ignored;
    config.warnings = warnings;
    Ok(config)
}

fn check_duration(key: &str, value: &toml::Value, source: &str) -> Result<(), ConfigError> {
    let text = value.as_str().unwrap_or_default();
    if text.trim() == keys::UNLIMITED {
        return Ok(());
    }
    humantime::parse_duration(text.trim())
        .map(drop)
        .map_err(|err| ConfigError::Value {
            key: key.to_string(),
            value: text.to_string(),
            source_name: source.to_string(),
            message: format!("{err} (write durations like 90s, 30m or 2h)"),
        })
}

impl Config {
    /// A configuration with no key set: what [`build`] starts from before each key's
    /// `apply`. Keys with a built-in value get it from the defaults layer, so what is here
    /// only matters to a key nothing sets.
    fn unset() -> Config {
        Config {
            provider: ProviderKind::Anthropic,
            model: String::new(),
            planner_model: String::new(),
            thinking: Thinking::default(),
            planner_thinking: Thinking::default(),
            anthropic_base_url: None,
            openai_base_url: None,
            replay_file: None,
            record_file: None,
            unreachable_wait: crate::llm::UNREACHABLE_WAIT,
            otel_endpoint: None,
            otel_flush_wait: Duration::from_millis(40),
            max_turns: None,
            max_tokens: None,
            max_cost: None,
            max_time: None,
            test_command: None,
            lint_command: None,
            test_timeout: keys::TEST_TIMEOUT,
            command_timeout: keys::COMMAND_TIMEOUT,
            allow: Vec::new(),
            deny: Vec::new(),
            network: false,
            sandbox_off: false,
            co_author: None,
            step_attempts: 1,
            replans: 0,
            max_steps: 1,
            max_edits_before_test: 1,
            max_step_turns: 1,
            context_window: None,
            display_notes: false,
            fsmonitor: false,
            secret_allow: Vec::new(),
            generated: Vec::new(),
            mcp_servers: Vec::new(),
            sources: BTreeMap::new(),
            ignored: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The command-line layer names its keys as text: a name that is not a key would drop
    /// its flag silently. Every flag set reaches a key of the table.
    #[test]
    fn every_flag_sets_a_key_of_the_table() {
        let flags = Flags {
            provider: Some(ProviderKind::Openai),
            model: Some("m".into()),
            planner_model: Some("p".into()),
            replay_file: Some(PathBuf::from("r.jsonl")),
            max_turns: Some(1),
            max_tokens: Some(2),
            max_cost: Some(3.0),
            max_time: Some("4m".into()),
        };
        let values = flags_layer(&flags).unwrap();
        assert_eq!(
            values.keys().copied().collect::<Vec<_>>(),
            [
                "max_cost",
                "max_time",
                "max_tokens",
                "max_turns",
                "model",
                "planner_model",
                "provider",
                "replay_file"
            ]
        );
    }

    fn inputs<'a>(
        dir: &Path,
        env: &'a dyn Fn(&str) -> Option<String>,
        git: Vec<(String, String)>,
    ) -> Inputs<'a> {
        Inputs {
            user_file: Some(dir.join("user.toml")),
            repo_file: Some(dir.join("repo.toml")),
            git_config: git,
            trust_record: None,
            env,
            flags: Flags::default(),
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
        i.flags.max_time = Some("30m".into());
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

    #[test]
    fn thinking_levels_are_set_per_role_from_any_layer_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let env = |name: &str| (name == "GIT_AGENT_THINKING").then(|| " Low ".to_string());
        let none = |_: &str| None;
        let defaults = load(&inputs(dir.path(), &none, vec![])).unwrap();
        assert_eq!(
            (defaults.thinking, defaults.planner_thinking),
            (Thinking::Off, Thinking::Medium)
        );
        std::fs::write(
            dir.path().join("repo.toml"),
            "planner_thinking = \"high\"\n",
        )
        .unwrap();
        let git = vec![("agent.planner-thinking".to_string(), "off".to_string())];
        let config = load(&inputs(dir.path(), &env, git)).unwrap();
        assert_eq!(
            (config.thinking, config.planner_thinking),
            (Thinking::Low, Thinking::Off)
        );
        let config = load(&inputs(dir.path(), &none, vec![])).unwrap();
        assert_eq!(config.planner_thinking, Thinking::High);
        std::fs::write(dir.path().join("repo.toml"), "thinking = \"max\"\n").unwrap();
        let err = load(&inputs(dir.path(), &none, vec![]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("repo.toml:1") && err.contains("\"off\", \"low\", \"medium\" or \"high\""),
            "{err}"
        );
    }

    #[test]
    fn the_repository_file_widens_nothing_until_its_content_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("user.toml"), "deny = [\"make deploy\"]\n").unwrap();
        let text = "sandbox = \"off\"\nnetwork = true\ndeny = [\"npm publish\"]\nreplans = 5\n";
        std::fs::write(dir.path().join("repo.toml"), text).unwrap();
        let env = |_: &str| None;
        let mut i = inputs(dir.path(), &env, vec![]);
        let config = load(&i).unwrap();
        assert_eq!(
            (config.sandbox_off, config.network, config.replans),
            (false, false, 5)
        );
        // Denials add up: the repository's only narrow.
        assert_eq!(config.deny, ["make deploy", "npm publish"]);
        assert_eq!(
            config
                .ignored
                .iter()
                .map(|i| (i.key, i.why.clone()))
                .collect::<Vec<_>>(),
            [("network", Why::NotTrusted), ("sandbox", Why::NotTrusted)]
        );
        i.trust_record = Some(trust::blob_id(text.as_bytes()));
        let config = load(&i).unwrap();
        assert_eq!((config.sandbox_off, config.network), (true, true));
        assert_eq!(config.ignored, []);
        assert_eq!(config.warnings, []);
        i.trust_record = Some(trust::blob_id(b"other content"));
        let config = load(&i).unwrap();
        assert_eq!((config.sandbox_off, config.network), (false, false));
        assert_eq!(
            config
                .warnings
                .iter()
                .map(|w| w.message.clone())
                .collect::<Vec<_>>(),
            [format!(
                "{} changed since you trusted it, so these are ignored again: network, sandbox",
                dir.path().join("repo.toml").display()
            )]
        );
    }

    /// A repository with `config` as its local config, opened without global or system
    /// configuration.
    fn repo_with(config: &str) -> (tempfile::TempDir, gix::Repository) {
        let dir = tempfile::tempdir().expect("temp dir");
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("objects")).expect("objects");
        std::fs::create_dir_all(git.join("refs")).expect("refs");
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
        std::fs::write(
            git.join("config"),
            format!("[core]\n\trepositoryformatversion = 0\n\tbare = false\n{config}"),
        )
        .expect("config");
        let repo = gix::open_opts(dir.path(), gix::open::Options::isolated()).expect("opens");
        (dir, repo)
    }

    #[test]
    fn git_config_is_asked_only_when_it_may_hold_agent_keys() {
        let system = tempfile::tempdir().expect("temp dir");
        let none = |_: &str| None;
        let (_d, plain) = repo_with("[user]\n\tname = x\n");
        let no_system = |name: &str| (name == "GIT_CONFIG_NOSYSTEM").then(|| "1".into());
        assert!(!git_config_may_set_agent_keys(&plain, &no_system));
        for section in [
            "[agent]\n\tmodel = m\n",
            "[AGENT]\n\tx\n",
            "[agent \"sub\"]\n\tk = v\n",
        ] {
            let (_d, repo) = repo_with(section);
            assert!(
                git_config_may_set_agent_keys(&repo, &no_system),
                "{section}"
            );
        }
        for var in ["GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG"] {
            let env = |name: &str| (name == var).then(|| "x".into());
            assert!(git_config_may_set_agent_keys(&plain, &env), "{var}");
        }
        // The system file of the git on PATH (`<prefix>/bin/git` reads
        // `<prefix>/etc/gitconfig`), or the one named by GIT_CONFIG_SYSTEM.
        let prefix = system.path();
        std::fs::create_dir_all(prefix.join("bin")).expect("bin");
        std::fs::create_dir_all(prefix.join("etc")).expect("etc");
        std::fs::write(prefix.join("bin/git"), "").expect("git");
        let path = |name: &str| (name == "PATH").then(|| prefix.join("bin").into_os_string());
        let etc = prefix.join("etc/gitconfig");
        std::fs::write(&etc, "[user]\n\tname = x\n").expect("gitconfig");
        let etc_gitconfig_mentions_agent = std::fs::read("/etc/gitconfig")
            .is_ok_and(|t| t.to_ascii_lowercase().windows(5).any(|w| w == b"agent"));
        assert_eq!(
            git_config_may_set_agent_keys(&plain, &path),
            etc_gitconfig_mentions_agent
        );
        assert_eq!(
            git_config_may_set_agent_keys(&plain, &none),
            etc_gitconfig_mentions_agent
        );
        std::fs::write(&etc, "[Agent]\n\tmaxTurns = 3\n").expect("gitconfig");
        assert!(git_config_may_set_agent_keys(&plain, &path));
        let named =
            |name: &str| (name == "GIT_CONFIG_SYSTEM").then(|| etc.clone().into_os_string());
        assert!(git_config_may_set_agent_keys(&plain, &named));
    }
}
