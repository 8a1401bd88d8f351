//! The command policy: allow and deny patterns checked against every simple
//! command a shell string can run, before anything runs.
//!
//! # Patterns
//! A pattern is a list of words matched against a command's words after normalisation
//! (wrappers such as `env`, `command`, `exec`, `xargs`, `nice`, `timeout`, `sh -c` are
//! looked through; `/usr/bin/git` is `git`; git's global options are dropped):
//! - words not starting with `-` must match the command's first non-option words, in order
//!   (`git push` matches `git push -f origin`, not `git log --grep push`);
//! - words starting with `-` must each match some option of the command, anywhere:
//!   `-D` also matches a cluster such as `-Df`, `--amend` also matches `--amend=…`;
//! - `*` inside a word matches any text.
//!
//! A pattern starting with `re:` is instead a regex searched in the normalised command
//! line (words joined by single spaces).
//!
//! Deny patterns always win. When the allow list is not empty, every simple command must
//! match one of its patterns.
//!
//! # What it refuses without a rule
//! The policy is conservative about what it cannot see: a program or git subcommand known
//! only at run time (`git $x`), a shell reading commands from standard input (`… | sh`,
//! `sh <<EOF`, `. /dev/stdin`), git configuration that can rename or run commands
//! (`git -c alias.…`, `--config-env`, `GIT_CONFIG_*`), and `rm` of a path known only at run
//! time. The sandbox is the boundary; this is a guard whose refusals say why.

use super::shell::{self, ParseError, Pipeline, SimpleCommand, Word};
use regex::Regex;

/// A configured pattern was invalid.
#[derive(Debug, thiserror::Error)]
pub enum PolicyConfigError {
    #[error("invalid command pattern `{pattern}`: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("empty command pattern")]
    Empty,
}

/// A command the policy refused, with the rule that refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error("refused `{command}`: denied by rule `{rule}` ({reason})")]
    Denied {
        command: String,
        rule: String,
        reason: String,
    },
    #[error("refused `{command}`: it matches none of the allowed command patterns ({allowed})")]
    NotAllowed { command: String, allowed: String },
    #[error("refused `{command}`: {reason}; a command that cannot be checked does not run")]
    Unchecked { command: String, reason: String },
    #[error(
        "refused: the command cannot be parsed ({0}); a command that cannot be checked does not run"
    )]
    Unparsable(ParseError),
}

/// One allow or deny rule.
#[derive(Debug, Clone)]
struct Rule {
    /// As configured, to name it in refusals.
    text: String,
    reason: String,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Words {
        positional: Vec<Regex>,
        options: Vec<OptionPattern>,
    },
    Regex(Regex),
    /// A built-in check in code, for rules no pattern can state.
    Check(CheckFn),
}

#[derive(Debug, Clone)]
enum OptionPattern {
    /// `-D`: a single-dash cluster holding this letter.
    Short(char),
    /// `--amend`, or any other option glob.
    Glob(Regex),
}

/// Default denials: `(pattern, reason)`.
const DEFAULT_DENY: &[(&str, &str)] = &[
    ("git push", GIT_OWNED),
    ("git send-pack", GIT_PUBLISHES),
    ("git http-push", GIT_PUBLISHES),
    ("git receive-pack", GIT_PUBLISHES),
    ("git reset", GIT_OWNED),
    ("git checkout", GIT_OWNED),
    ("git switch", GIT_OWNED),
    ("git branch -d", GIT_OWNED),
    ("git branch -D", GIT_OWNED),
    ("git branch --delete", GIT_OWNED),
    ("git branch -m", GIT_OWNED),
    ("git branch -M", GIT_OWNED),
    ("git branch --move", GIT_OWNED),
    ("git branch -f", GIT_OWNED),
    ("git branch --force", GIT_OWNED),
    ("git update-ref", GIT_OWNED),
    ("git symbolic-ref", GIT_OWNED),
    ("git tag", GIT_OWNED),
    ("git rebase", GIT_OWNED),
    ("git commit", GIT_OWNED),
    ("git merge", GIT_OWNED),
    ("git cherry-pick", GIT_OWNED),
    ("git revert", GIT_OWNED),
    ("git am", GIT_OWNED),
    ("git pull", GIT_OWNED),
    ("git fetch", GIT_OWNED),
    ("git stash", GIT_OWNED),
    ("git notes", GIT_OWNED),
    ("git replace", GIT_OWNED),
    ("git filter-branch", GIT_OWNED),
    ("git filter-repo", GIT_OWNED),
    ("git reflog expire", GIT_OWNED),
    ("git reflog delete", GIT_OWNED),
    ("git gc", GIT_OWNED),
    ("git prune", GIT_OWNED),
    ("git worktree", GIT_OWNED),
    ("git remote", GIT_OWNED),
    ("git config", GIT_OWNED),
    ("git add", GIT_STAGES),
    ("git rm", GIT_STAGES),
    ("git mv", GIT_STAGES),
    ("git restore --staged", GIT_STAGES),
    ("sudo", PRIVILEGE),
    ("su", PRIVILEGE),
    ("doas", PRIVILEGE),
    ("pkexec", PRIVILEGE),
    ("alias", ALIAS),
    ("hash -p", ALIAS),
    ("mkfs*", "it formats a file system"),
    ("shutdown", "it stops the machine"),
    ("reboot", "it stops the machine"),
    ("poweroff", "it stops the machine"),
    ("halt", "it stops the machine"),
];

const GIT_OWNED: &str = "the harness owns git: it commits, moves and publishes refs itself";
const GIT_STAGES: &str = "the harness decides what goes in each checkpoint; edit files instead";
const PRIVILEGE: &str = "commands never run with raised privileges";
const GIT_PUBLISHES: &str =
    "it sends refs to another repository as git push does; the harness owns git";
const ALIAS: &str = "an alias can rename any command, so what it runs cannot be checked";

/// Whether a normalised command's words break a built-in rule.
type CheckFn = fn(&[String]) -> bool;

/// Denials no pattern can state: `(name, reason, check)`.
const BUILTIN_CHECKS: &[(&str, &str, CheckFn)] = &[(
    "rm of /, a top-level directory or a home",
    "it would delete the whole system or a home",
    deletes_root_or_home,
)];

/// Why a shell that reads its script from standard input is refused.
const SHELL_STDIN: &str = "a shell reading its commands from standard input (a pipe or here-document) cannot be checked; pass the script with `sh -c '…'` or as a file";
const UNKNOWN_PROGRAM: &str = "cannot tell what this runs: the program is only known at run time";
const UNKNOWN_GIT_SUBCOMMAND: &str =
    "cannot tell what this runs: the git subcommand is only known at run time";
const UNKNOWN_RM_PATH: &str =
    "cannot tell what this deletes: a path is only known at run time; name the paths";

/// Rule name of the pipeline check for `curl … | sh`.
const PIPE_TO_SHELL: &str = "download piped to an interpreter";
const DOWNLOADERS: &[&str] = &["curl", "wget", "fetch", "aria2c"];
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "fish", "python", "python3", "perl", "ruby", "node",
    "php",
];
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox", "fish", "yash", "posh", "rbash",
    "csh", "tcsh",
];

/// `git -c KEY=…` keys that only change what output looks like. Any other key may name a
/// command git runs (`core.fsmonitor`, `core.pager`, diff drivers, hooks) or an alias.
const SAFE_GIT_CONFIG: &[&str] = &[
    "color.*",
    "advice.*",
    "column.*",
    "i18n.*",
    "log.*",
    "pretty.*",
    "grep.*",
    "blame.*",
    "user.name",
    "user.email",
    "init.defaultbranch",
    "safe.directory",
    "core.quotepath",
    "core.abbrev",
    "core.autocrlf",
    "core.safecrlf",
    "core.filemode",
    "core.ignorecase",
    "diff.renames",
    "diff.algorithm",
    "diff.noprefix",
    "diff.mnemonicprefix",
    "diff.relative",
    "diff.context",
    "diff.interhunkcontext",
    "diff.indentheuristic",
    "diff.colormoved",
    "status.short",
    "status.branch",
    "status.showuntrackedfiles",
];

/// Allow and deny patterns for the commands the agent runs.
#[derive(Debug, Clone)]
pub struct CommandPolicy {
    allow: Vec<Rule>,
    deny: Vec<Rule>,
}

impl Default for CommandPolicy {
    /// The built-in denials and no allow list.
    fn default() -> Self {
        // The built-in patterns are tested; should one ever fail to compile it is left out
        // rather than taking the harness down.
        let deny = DEFAULT_DENY
            .iter()
            .filter_map(|(text, reason)| Rule::new(text, reason).ok())
            .chain(BUILTIN_CHECKS.iter().map(|(name, reason, check)| Rule {
                text: (*name).to_owned(),
                reason: (*reason).to_owned(),
                matcher: Matcher::Check(*check),
            }))
            .collect();
        Self {
            allow: Vec::new(),
            deny,
        }
    }
}

impl CommandPolicy {
    /// The built-in denials, plus `deny`, plus an allow list (empty: everything not denied).
    pub fn from_config(allow: &[String], deny: &[String]) -> Result<Self, PolicyConfigError> {
        let mut policy = Self::default();
        for text in deny {
            policy
                .deny
                .push(Rule::new(text, "denied by the configuration")?);
        }
        for text in allow {
            policy.allow.push(Rule::new(text, "")?);
        }
        Ok(policy)
    }

    /// The patterns of the built-in deny list, for `git agent config` and documentation.
    pub fn default_deny_patterns() -> Vec<&'static str> {
        DEFAULT_DENY
            .iter()
            .map(|(text, _)| *text)
            .chain(BUILTIN_CHECKS.iter().map(|(name, _, _)| *name))
            .collect()
    }

    /// Checks every simple command `command` can run.
    pub fn check(&self, command: &str) -> Result<(), PolicyRefusal> {
        self.check_script(command, 0)
    }

    fn check_script(&self, script: &str, depth: usize) -> Result<(), PolicyRefusal> {
        if depth > 8 {
            return Err(PolicyRefusal::Unchecked {
                command: script.to_owned(),
                reason: "shells are nested too deeply".to_owned(),
            });
        }
        let pipelines = shell::parse(script).map_err(PolicyRefusal::Unparsable)?;
        for pipeline in &pipelines {
            self.check_pipeline(pipeline)?;
            for command in pipeline {
                for invocation in unwrap(command)? {
                    match invocation {
                        Invocation::Run { words, open } => self.check_words(&words, open)?,
                        Invocation::Script(script) => self.check_script(&script, depth + 1)?,
                        Invocation::Unseen(refusal) => return Err(refusal),
                    }
                }
            }
        }
        Ok(())
    }

    fn check_pipeline(&self, pipeline: &Pipeline) -> Result<(), PolicyRefusal> {
        // What each member runs with its wrappers (`env`, `nice`, `busybox`) looked through; a
        // member that cannot be read is refused on its own afterwards.
        let runs: Vec<Vec<Invocation>> = pipeline
            .iter()
            .map(|command| unwrap(command).unwrap_or_default())
            .collect();
        let download = runs.iter().position(|invocations| {
            invocations.iter().any(|i| match i {
                Invocation::Run { words, .. } => DOWNLOADERS.contains(&words[0].as_str()),
                _ => false,
            })
        });
        if let Some(first) = download {
            let interpreter = runs[first + 1..].iter().flatten().find(|i| match i {
                Invocation::Run { words, .. } => {
                    let n = words[0].as_str();
                    INTERPRETERS.contains(&n)
                        || n.strip_prefix("python").is_some_and(|v| v.starts_with('3'))
                }
                Invocation::Script(_) | Invocation::Unseen(_) => true,
            });
            if interpreter.is_some() {
                return Err(PolicyRefusal::Denied {
                    command: pipeline
                        .iter()
                        .map(|c| display_words(&c.words))
                        .collect::<Vec<_>>()
                        .join(" | "),
                    rule: PIPE_TO_SHELL.to_owned(),
                    reason: "code fetched from the network is never run".to_owned(),
                });
            }
        }
        Ok(())
    }

    fn check_words(&self, words: &[String], open: bool) -> Result<(), PolicyRefusal> {
        let line = words.join(" ");
        if let Some(rule) = self.deny.iter().find(|r| r.matches(words, open)) {
            return Err(PolicyRefusal::Denied {
                command: line,
                rule: rule.text.clone(),
                reason: rule.reason.clone(),
            });
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.matches(words, false)) {
            return Err(PolicyRefusal::NotAllowed {
                command: line,
                allowed: self
                    .allow
                    .iter()
                    .map(|r| format!("`{}`", r.text))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(())
    }
}

impl Rule {
    fn new(text: &str, reason: &str) -> Result<Self, PolicyConfigError> {
        let compile = |pattern: &str| {
            Regex::new(pattern).map_err(|source| PolicyConfigError::Regex {
                pattern: text.to_owned(),
                source: Box::new(source),
            })
        };
        let matcher = if let Some(regex) = text.strip_prefix("re:") {
            Matcher::Regex(compile(regex)?)
        } else {
            let mut positional = Vec::new();
            let mut options = Vec::new();
            for word in text.split_whitespace() {
                if word.starts_with('-') {
                    let letters: Vec<char> = word.chars().skip(1).collect();
                    options.push(match letters.as_slice() {
                        [letter] if letter.is_ascii_alphanumeric() => OptionPattern::Short(*letter),
                        _ => OptionPattern::Glob(compile(&format!(
                            "^{}(=.*)?$",
                            glob_to_regex(word)
                        ))?),
                    });
                } else {
                    positional.push(compile(&format!("^{}$", glob_to_regex(word)))?);
                }
            }
            if positional.is_empty() && options.is_empty() {
                return Err(PolicyConfigError::Empty);
            }
            Matcher::Words {
                positional,
                options,
            }
        };
        Ok(Self {
            text: text.to_owned(),
            reason: reason.to_owned(),
            matcher,
        })
    }

    /// `open`: the command gets more arguments at run time (`xargs`), so a rule matches
    /// when the words seen so far do not rule it out.
    fn matches(&self, words: &[String], open: bool) -> bool {
        match &self.matcher {
            Matcher::Regex(regex) => regex.is_match(&words.join(" ")),
            Matcher::Check(check) => check(words),
            Matcher::Words {
                positional,
                options,
            } => {
                let mut plain = Vec::new();
                let mut flags = Vec::new();
                let mut after_dashes = false;
                for word in words {
                    if after_dashes || !word.starts_with('-') || word == "-" {
                        plain.push(word.as_str());
                    } else if word == "--" {
                        after_dashes = true;
                    } else {
                        flags.push(word.as_str());
                    }
                }
                let positional_ok = positional
                    .iter()
                    .enumerate()
                    .all(|(i, pattern)| plain.get(i).map_or(open, |word| pattern.is_match(word)));
                let options_ok = options
                    .iter()
                    .all(|pattern| open || flags.iter().any(|flag| pattern.matches(flag)));
                positional_ok && options_ok
            }
        }
    }
}

impl OptionPattern {
    fn matches(&self, flag: &str) -> bool {
        match self {
            OptionPattern::Short(letter) => {
                !flag.starts_with("--") && flag.chars().skip(1).any(|c| c == *letter)
            }
            OptionPattern::Glob(regex) => regex.is_match(flag),
        }
    }
}

fn glob_to_regex(glob: &str) -> String {
    glob.split('*')
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(".*")
}

/// What a simple command runs once its wrappers are looked through.
#[derive(Debug)]
enum Invocation {
    /// A program with its words (first word a bare program name).
    Run { words: Vec<String>, open: bool },
    /// Shell text to check in turn (`sh -c`, `eval`, `trap`).
    Script(String),
    /// A shell running code the policy cannot see (from standard input or a file named only
    /// at run time): refused, and an interpreter for the download check.
    Unseen(PolicyRefusal),
}

fn display_words(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn basename(word: &str) -> String {
    word.rsplit('/').next().unwrap_or(word).to_owned()
}

fn is_assignment(word: &Word) -> bool {
    let Some((name, _)) = word.text.split_once('=') else {
        return false;
    };
    let name = name.strip_suffix('+').unwrap_or(name);
    let name = name.split_once('[').map_or(name, |(base, _)| base);
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reserved words that may open a simple command, and leading assignments.
fn strip_prefix_words(words: &[Word]) -> &[Word] {
    let mut rest = words;
    while let Some(first) = rest.first() {
        let keyword = !first.dynamic
            && matches!(
                first.text.as_str(),
                "!" | "{"
                    | "}"
                    | "if"
                    | "then"
                    | "else"
                    | "elif"
                    | "fi"
                    | "do"
                    | "done"
                    | "while"
                    | "until"
                    | "esac"
                    | "time"
            );
        if keyword || is_assignment(first) {
            rest = &rest[1..];
        } else {
            break;
        }
    }
    rest
}

/// Looks through wrappers to what a simple command really runs.
fn unwrap(command: &SimpleCommand) -> Result<Vec<Invocation>, PolicyRefusal> {
    let rest = strip_prefix_words(&command.words);
    let prefix = &command.words[..command.words.len() - rest.len()];
    check_assignments(prefix.iter().filter(|w| is_assignment(w)), &command.words)?;
    let mut out = Vec::new();
    unwrap_words(rest, false, &mut out)?;
    Ok(out)
}

/// Environment variables through which a command can hand git an alias or its programs.
fn sets_git_config(name: &str, value: Option<&str>) -> bool {
    match name {
        "GIT_CONFIG_PARAMETERS" | "GIT_CONFIG_COUNT" | "GIT_CONFIG" | "GIT_EXEC_PATH" => true,
        "GIT_CONFIG_GLOBAL" | "GIT_CONFIG_SYSTEM" => value != Some("/dev/null"),
        _ => name.starts_with("GIT_CONFIG_KEY_") || name.starts_with("GIT_CONFIG_VALUE_"),
    }
}

/// Refuses assignments (`X=1 cmd`, `env X=1`, `export X=1`, `export X`) to git's
/// configuration variables.
fn check_assignments<'a>(
    assignments: impl Iterator<Item = &'a Word>,
    command: &[Word],
) -> Result<(), PolicyRefusal> {
    for word in assignments {
        let (name, value) = match word.text.split_once('=') {
            Some((name, value)) => (name.trim_end_matches('+'), Some(value)),
            None => (word.text.as_str(), None),
        };
        if sets_git_config(name, value) {
            return Err(unchecked(
                command,
                &format!(
                    "setting {name} changes git's configuration, where an alias can rename any command and other keys run programs"
                ),
            ));
        }
    }
    Ok(())
}

/// `rm` of `/`, a directory just below it, `/home/<user>`, or a home (`~`, `~user`), however
/// spelled: `//`, `/.`, `/tmp/..`, a trailing `/`, or a glob in the first component (`/h*`).
/// Also a relative path that only climbs (`..`, `../..`): it holds the worktree.
fn deletes_root_or_home(words: &[String]) -> bool {
    if words.first().map(String::as_str) != Some("rm") {
        return false;
    }
    let mut operands = false;
    words[1..].iter().any(|word| {
        if !operands && word == "--" {
            operands = true;
            return false;
        }
        (operands || !word.starts_with('-') || word == "-") && protected_path(word)
    })
}

fn protected_path(path: &str) -> bool {
    let (home, rest) = match path.strip_prefix('~') {
        Some(after) => (true, after.split_once('/').map_or("", |(_, rest)| rest)),
        None => (false, path),
    };
    let absolute = !home && path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    let mut climbs = 0;
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    climbs += 1;
                }
            }
            // What a glob matches lies in the directory before it: `/h*` may be `/home`.
            _ if part.contains(['*', '?', '[']) => break,
            _ => parts.push(part),
        }
    }
    if home {
        parts.is_empty() || climbs > 0
    } else if absolute {
        parts.len() <= 1 || (parts.len() == 2 && matches!(parts[0], "home" | "Users"))
    } else {
        parts.is_empty() && climbs > 0
    }
}

/// A word that expands at run time (not just a glob or a `find`/`xargs` placeholder).
fn expands(word: &Word) -> bool {
    word.dynamic && word.text.contains(['$', '`'])
}

/// `/dev/stdin`, `/dev/fd/0`, `/proc/self/fd/0`, `-`: a script file that is standard input.
fn is_stdin_path(text: &str) -> bool {
    text == "-" || text.starts_with("/dev/") || text.starts_with("/proc/")
}

fn unchecked(words: &[Word], reason: &str) -> PolicyRefusal {
    PolicyRefusal::Unchecked {
        command: display_words(words),
        reason: reason.to_owned(),
    }
}

fn unwrap_words(
    words: &[Word],
    open: bool,
    out: &mut Vec<Invocation>,
) -> Result<(), PolicyRefusal> {
    let Some(first) = words.first() else {
        return Ok(());
    };
    if first.dynamic {
        return Err(unchecked(words, UNKNOWN_PROGRAM));
    }
    let name = basename(&first.text);
    let args = &words[1..];
    match name.as_str() {
        "for" | "select" | "case" | "function" => Ok(()),
        "env" => unwrap_env(words, open, out),
        "xargs" => unwrap_xargs(words, out),
        "find" => unwrap_find(words, open, out),
        "eval" => unwrap_eval(words, out),
        "trap" => unwrap_trap(words, out),
        "source" | "." => {
            out.push(sourced(words, open));
            Ok(())
        }
        wrapper if let Some(w) = WRAPPERS.iter().find(|w| w.names.contains(&wrapper)) => {
            unwrap_words(w.command_of(args), open, out)
        }
        "export" | "declare" | "typeset" | "readonly" | "local" => {
            check_assignments(args.iter().filter(|w| !w.text.starts_with('-')), words)?;
            out.push(Invocation::Run {
                words: words.iter().map(|w| w.text.clone()).collect(),
                open,
            });
            Ok(())
        }
        "flock" => unwrap_flock(words, open, out),
        "rm" => {
            if args.iter().any(expands) {
                return Err(unchecked(words, UNKNOWN_RM_PATH));
            }
            let mut texts: Vec<String> = words.iter().map(|w| w.text.clone()).collect();
            texts[0] = name;
            out.push(Invocation::Run { words: texts, open });
            Ok(())
        }
        shell if SHELLS.contains(&shell) => unwrap_shell(words, open, out),
        "git" => {
            out.push(Invocation::Run {
                words: normalize_git(words)?,
                open,
            });
            Ok(())
        }
        // `/usr/lib/git-core/git-push` is `git push`.
        git if git.len() > 4 && git.starts_with("git-") => {
            let mut split = vec![Word::literal("git"), Word::literal(&git[4..])];
            split.extend(args.iter().cloned());
            out.push(Invocation::Run {
                words: normalize_git(&split)?,
                open,
            });
            Ok(())
        }
        _ => {
            let mut texts: Vec<String> = words.iter().map(|w| w.text.clone()).collect();
            texts[0] = name;
            out.push(Invocation::Run { words: texts, open });
            Ok(())
        }
    }
}

/// A program that runs the command after its own options and operands (`nice -n 5 make`,
/// `timeout 10 cargo test`): the command is what the policy checks.
struct Wrapper {
    names: &'static [&'static str],
    /// Its options that take a value as the next word.
    valued: &'static [&'static str],
    /// Operands before the command (a priority, a CPU mask, a duration).
    operands: usize,
}

/// The options of `nice`, `ionice`, `stdbuf`, `chrt` and `taskset` that take a value.
const SCHEDULING_VALUED: &[&str] = &["-n", "-c", "-p", "-o", "-e", "-i", "--adjustment"];

/// Every wrapper program looked through, one entry each.
const WRAPPERS: &[Wrapper] = &[
    // `exec -a NAME cmd`: NAME is what `cmd` is told it is called.
    Wrapper {
        names: &["exec"],
        valued: &["-a"],
        operands: 0,
    },
    Wrapper {
        names: &["command", "builtin", "nohup", "setsid", "time"],
        valued: &[],
        operands: 0,
    },
    Wrapper {
        names: &["nice", "ionice", "stdbuf"],
        valued: SCHEDULING_VALUED,
        operands: 0,
    },
    // Their first operand is a priority or CPU mask.
    Wrapper {
        names: &["chrt", "taskset"],
        valued: SCHEDULING_VALUED,
        operands: 1,
    },
    // Its first operand is the duration.
    Wrapper {
        names: &["timeout"],
        valued: &["-s", "--signal", "-k", "--kill-after"],
        operands: 1,
    },
];

impl Wrapper {
    /// The words of the command it runs: after its options (and their values) and operands.
    fn command_of<'w>(&self, args: &'w [Word]) -> &'w [Word] {
        let mut i = 0;
        while let Some(word) = args.get(i) {
            let t = word.text.as_str();
            if self.valued.contains(&t) {
                i += 2;
            } else if t.starts_with('-') {
                i += 1;
            } else {
                break;
            }
        }
        args.get(i + self.operands..).unwrap_or_default()
    }
}

/// `env [-u NAME] [NAME=value]… cmd`: its assignments are checked, then the command.
fn unwrap_env(words: &[Word], open: bool, out: &mut Vec<Invocation>) -> Result<(), PolicyRefusal> {
    let args = &words[1..];
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let t = word.text.as_str();
        if t == "-S" || t == "--split-string" || t.starts_with("--split-string=") {
            return Err(unchecked(words, "`env -S` is not looked through"));
        }
        if matches!(t, "-u" | "--unset" | "-C" | "--chdir" | "-a" | "--argv0") {
            i += 2;
        } else if t == "--" {
            i += 1;
            break;
        } else if is_assignment(word) {
            check_assignments(std::iter::once(word), words)?;
            i += 1;
        } else if t.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    unwrap_words(args.get(i..).unwrap_or_default(), open, out)
}

/// `xargs [options] cmd …`: the command, with its `-I` placeholder known only at run time.
fn unwrap_xargs(words: &[Word], out: &mut Vec<Invocation>) -> Result<(), PolicyRefusal> {
    let args = &words[1..];
    let mut i = 0;
    let mut replace: Option<String> = None;
    while let Some(word) = args.get(i) {
        let t = word.text.as_str();
        if matches!(
            t,
            "-I" | "-n" | "-P" | "-d" | "-L" | "-s" | "-a" | "-E" | "-e"
        ) {
            if t == "-I" {
                replace = args.get(i + 1).map(|w| w.text.clone());
            }
            i += 2;
        } else if let Some(r) = t.strip_prefix("-I").or(t.strip_prefix("--replace=")) {
            replace = Some(r.to_owned());
            i += 1;
        } else if t.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    let rest: Vec<Word> = args
        .get(i..)
        .unwrap_or_default()
        .iter()
        .map(|w| Word {
            text: w.text.clone(),
            dynamic: w.dynamic
                || replace
                    .as_ref()
                    .is_some_and(|r| w.text.contains(r.as_str())),
        })
        .collect();
    if rest.is_empty() {
        // xargs runs `echo` by default.
        return Ok(());
    }
    unwrap_words(&rest, true, out)
}

/// `find … -exec cmd {} ;`: find itself, and every command it execs.
fn unwrap_find(words: &[Word], open: bool, out: &mut Vec<Invocation>) -> Result<(), PolicyRefusal> {
    let args = &words[1..];
    out.push(Invocation::Run {
        words: words.iter().map(|w| w.text.clone()).collect(),
        open,
    });
    let mut i = 0;
    while i < args.len() {
        if matches!(
            args[i].text.as_str(),
            "-exec" | "-execdir" | "-ok" | "-okdir"
        ) {
            let start = i + 1;
            let mut end = start;
            while end < args.len() && !matches!(args[end].text.as_str(), ";" | "+") {
                end += 1;
            }
            let inner: Vec<Word> = args[start..end]
                .iter()
                .map(|w| Word {
                    text: w.text.clone(),
                    dynamic: w.dynamic || w.text.contains("{}"),
                })
                .collect();
            unwrap_words(&inner, true, out)?;
            i = end;
        }
        i += 1;
    }
    Ok(())
}

/// `eval WORDS`: the words joined are a script of their own.
fn unwrap_eval(words: &[Word], out: &mut Vec<Invocation>) -> Result<(), PolicyRefusal> {
    let args = &words[1..];
    if args.iter().any(|w| w.dynamic) {
        return Err(unchecked(words, "`eval` of text known only at run time"));
    }
    out.push(Invocation::Script(
        args.iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    ));
    Ok(())
}

/// `trap ACTION SIGNAL…`: the action is a script of its own.
fn unwrap_trap(words: &[Word], out: &mut Vec<Invocation>) -> Result<(), PolicyRefusal> {
    let args = &words[1..];
    let rest = match args.first() {
        Some(w) if w.text == "--" => &args[1..],
        _ => args,
    };
    match rest.first() {
        Some(action) if action.dynamic => Err(unchecked(
            words,
            "the trap's commands are only known at run time",
        )),
        // `trap -p`, `trap -l`, `trap - INT`: no commands.
        Some(action) if !action.text.starts_with('-') => {
            out.push(Invocation::Script(action.text.clone()));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `source FILE` (`.`): runs a file; refused unseen when the file is known only at run time
/// or is standard input.
fn sourced(words: &[Word], open: bool) -> Invocation {
    match words.get(1) {
        Some(file) if file.dynamic => Invocation::Unseen(unchecked(
            words,
            "the script to run is only known at run time",
        )),
        Some(file) if is_stdin_path(&file.text) => {
            Invocation::Unseen(unchecked(words, SHELL_STDIN))
        }
        _ => Invocation::Run {
            words: words.iter().map(|w| w.text.clone()).collect(),
            open,
        },
    }
}

/// `sh -c SCRIPT`, `bash -lc SCRIPT`, `busybox sh -c SCRIPT`: the script is checked itself.
fn unwrap_shell(
    words: &[Word],
    open: bool,
    out: &mut Vec<Invocation>,
) -> Result<(), PolicyRefusal> {
    let mut args = &words[1..];
    if basename(&words[0].text) == "busybox" {
        match args.first() {
            Some(applet) if SHELLS.contains(&applet.text.as_str()) => args = &args[1..],
            _ => return unwrap_words(args, open, out),
        }
    }
    let mut has_c = false;
    let mut from_stdin = false;
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let t = word.text.as_str();
        if t == "--" {
            i += 1;
            break;
        }
        if t == "-o" || t == "+o" || t == "-O" || t == "+O" {
            i += 2;
            continue;
        }
        if (t.starts_with('-') || t.starts_with('+')) && t.len() > 1 && !t.starts_with("--") {
            has_c |= t.contains('c');
            // `-s` reads the script from standard input, `-i` is interactive.
            from_stdin |= t.starts_with('-') && t.contains(['s', 'i']);
            // `-euo pipefail`: an `o` in a cluster takes the next word as its option name.
            i += if t.contains(['o', 'O']) { 2 } else { 1 };
            continue;
        }
        if t == "--version" || t == "--help" {
            // Prints and exits: reads no script.
            out.push(Invocation::Run {
                words: vec![basename(&words[0].text), t.to_owned()],
                open,
            });
            return Ok(());
        }
        if t.starts_with("--") {
            i += 1;
            continue;
        }
        break;
    }
    if !has_c {
        let refusal = match args.get(i) {
            _ if from_stdin => Some(SHELL_STDIN),
            None => Some(SHELL_STDIN),
            Some(file) if is_stdin_path(&file.text) => Some(SHELL_STDIN),
            Some(file) if file.dynamic => Some("the shell script to run is only known at run time"),
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            out.push(Invocation::Unseen(unchecked(words, reason)));
            return Ok(());
        }
        // `sh script.sh` runs a file the policy cannot see; the sandbox still holds.
        out.push(Invocation::Run {
            words: words
                .iter()
                .map(|w| basename(&w.text))
                .take(1)
                .chain(words[1..].iter().map(|w| w.text.clone()))
                .collect(),
            open,
        });
        return Ok(());
    }
    match args.get(i) {
        None => Err(unchecked(words, "`-c` without a script")),
        Some(script) if script.dynamic || open => Err(unchecked(
            words,
            "the shell script to run is only known at run time",
        )),
        Some(script) => {
            out.push(Invocation::Script(script.text.clone()));
            Ok(())
        }
    }
}

/// `flock [options] FILE COMMAND…` and `flock FILE -c SCRIPT`: the command is checked.
fn unwrap_flock(
    words: &[Word],
    open: bool,
    out: &mut Vec<Invocation>,
) -> Result<(), PolicyRefusal> {
    let args = &words[1..];
    let mut i = 0;
    let mut file_seen = false;
    while let Some(word) = args.get(i) {
        let t = word.text.as_str();
        if matches!(t, "-c" | "--command") {
            return match args.get(i + 1) {
                Some(script) if !script.dynamic && !open => {
                    out.push(Invocation::Script(script.text.clone()));
                    Ok(())
                }
                _ => Err(unchecked(
                    words,
                    "the shell script to run is only known at run time",
                )),
            };
        }
        if matches!(t, "-w" | "--timeout" | "-E" | "--conflict-exit-code") {
            i += 2;
        } else if t.starts_with('-') {
            i += 1;
        } else if !file_seen {
            file_seen = true;
            i += 1;
        } else {
            break;
        }
    }
    unwrap_words(args.get(i..).unwrap_or_default(), open, out)
}

/// `git -C dir --no-pager -c color.ui=never status` is `git status`. Refused: a global option
/// or subcommand known only at run time, `-c` of a key that can rename or run commands
/// (`alias.*`, `core.fsmonitor`, `core.pager` …), `--config-env` and `--exec-path=…`.
fn normalize_git(words: &[Word]) -> Result<Vec<String>, PolicyRefusal> {
    let mut out = vec!["git".to_owned()];
    let mut i = 1;
    while let Some(word) = words.get(i) {
        let t = word.text.as_str();
        if !t.starts_with('-') {
            break;
        }
        if word.dynamic {
            return Err(unchecked(
                words,
                "cannot tell what this runs: a git option is only known at run time",
            ));
        }
        if t == "--config-env" || t.starts_with("--config-env=") {
            return Err(unchecked(
                words,
                "`git --config-env` can set an alias, which renames any command",
            ));
        }
        if t.starts_with("--exec-path=") {
            return Err(unchecked(
                words,
                "`git --exec-path=…` chooses the programs git runs",
            ));
        }
        if t == "-c" {
            check_git_config_option(words, words.get(i + 1))?;
        }
        if matches!(
            t,
            "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace" | "--super-prefix"
        ) {
            i += 2;
        } else {
            i += 1;
        }
    }
    if words.get(i).is_some_and(|w| w.dynamic) {
        return Err(unchecked(words, UNKNOWN_GIT_SUBCOMMAND));
    }
    out.extend(words[i.min(words.len())..].iter().map(|w| w.text.clone()));
    Ok(out)
}

fn check_git_config_option(words: &[Word], value: Option<&Word>) -> Result<(), PolicyRefusal> {
    let Some(value) = value.filter(|v| !v.dynamic) else {
        return Err(unchecked(
            words,
            "`git -c` with a setting known only at run time can rename or run any command",
        ));
    };
    let key = value
        .text
        .split_once('=')
        .map_or(value.text.as_str(), |(key, _)| key)
        .to_ascii_lowercase();
    if key.starts_with("alias.") {
        return Err(unchecked(words, "`git -c alias.…` can rename any command"));
    }
    let safe = SAFE_GIT_CONFIG
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => key == *pattern,
        });
    if !safe {
        return Err(unchecked(
            words,
            &format!(
                "`git -c {key}` may make git run a program (hooks, pagers, diff drivers, fsmonitor); only display settings such as color.* can be set this way (for no pager: git --no-pager)"
            ),
        ));
    }
    Ok(())
}
