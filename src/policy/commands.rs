//! The command policy (DESIGN.md §6): allow and deny patterns checked against every simple
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
    (
        "re:^rm( +-[^ ]*)* +(/|/\\*|~|~/|\\$HOME|\\$HOME/|/home|/root)( |$)",
        "it would delete the whole system or home",
    ),
    ("mkfs*", "it formats a file system"),
    ("shutdown", "it stops the machine"),
    ("reboot", "it stops the machine"),
    ("poweroff", "it stops the machine"),
    ("halt", "it stops the machine"),
];

const GIT_OWNED: &str = "the harness owns git: it commits, moves and publishes refs itself";
const GIT_STAGES: &str = "the harness decides what goes in each checkpoint; edit files instead";
const PRIVILEGE: &str = "commands never run with raised privileges";

/// Rule name of the pipeline check for `curl … | sh`.
const PIPE_TO_SHELL: &str = "download piped to an interpreter";
const DOWNLOADERS: &[&str] = &["curl", "wget", "fetch", "aria2c"];
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "fish", "python", "python3", "perl", "ruby", "node",
    "php",
];
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox"];

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
        DEFAULT_DENY.iter().map(|(text, _)| *text).collect()
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
                    }
                }
            }
        }
        Ok(())
    }

    fn check_pipeline(&self, pipeline: &Pipeline) -> Result<(), PolicyRefusal> {
        let names: Vec<String> = pipeline
            .iter()
            .map(|command| {
                let words = strip_prefix_words(&command.words);
                words.first().map(|w| basename(&w.text)).unwrap_or_default()
            })
            .collect();
        let download = names.iter().position(|n| DOWNLOADERS.contains(&n.as_str()));
        if let Some(first) = download {
            let interpreter = names[first + 1..].iter().find(|n| {
                INTERPRETERS.contains(&n.as_str())
                    || n.strip_prefix("python").is_some_and(|v| v.starts_with('3'))
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
enum Invocation {
    Run { words: Vec<String>, open: bool },
    Script(String),
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
    let mut out = Vec::new();
    unwrap_words(strip_prefix_words(&command.words), false, &mut out)?;
    Ok(out)
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
        return Err(unchecked(
            words,
            "the program to run is only known at run time",
        ));
    }
    let name = basename(&first.text);
    let args = &words[1..];
    match name.as_str() {
        "for" | "select" | "case" | "function" => Ok(()),
        "env" => {
            let mut i = 0;
            while let Some(word) = args.get(i) {
                let t = word.text.as_str();
                if t == "-S" || t == "--split-string" || t.starts_with("--split-string=") {
                    return Err(unchecked(words, "`env -S` is not looked through"));
                }
                if t == "-u" || t == "--unset" || t == "-C" || t == "--chdir" {
                    i += 2;
                } else if t == "--" {
                    i += 1;
                    break;
                } else if t.starts_with('-') || is_assignment(word) {
                    i += 1;
                } else {
                    break;
                }
            }
            unwrap_words(args.get(i..).unwrap_or_default(), open, out)
        }
        "command" | "builtin" | "exec" | "nohup" | "setsid" | "time" => {
            let skip = args.iter().take_while(|w| w.text.starts_with('-')).count();
            unwrap_words(&args[skip..], open, out)
        }
        "nice" | "ionice" | "stdbuf" | "chrt" | "taskset" => {
            let mut i = 0;
            while let Some(word) = args.get(i) {
                let t = word.text.as_str();
                if matches!(t, "-n" | "-c" | "-p" | "-o" | "-e" | "-i" | "--adjustment") {
                    i += 2;
                } else if t.starts_with('-') {
                    i += 1;
                } else {
                    break;
                }
            }
            if matches!(name.as_str(), "chrt" | "taskset") {
                // Their first operand is a priority or CPU mask.
                i += 1;
            }
            unwrap_words(args.get(i..).unwrap_or_default(), open, out)
        }
        "timeout" => {
            let mut i = 0;
            while let Some(word) = args.get(i) {
                let t = word.text.as_str();
                if matches!(t, "-s" | "--signal" | "-k" | "--kill-after") {
                    i += 2;
                } else if t.starts_with('-') {
                    i += 1;
                } else {
                    break;
                }
            }
            unwrap_words(args.get(i + 1..).unwrap_or_default(), open, out)
        }
        "xargs" => {
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
        "find" => {
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
        "eval" => {
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
        shell if SHELLS.contains(&shell) => unwrap_shell(words, open, out),
        "git" => {
            out.push(Invocation::Run {
                words: normalize_git(words)?,
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
            i += 1;
            continue;
        }
        if t.starts_with("--") {
            i += 1;
            continue;
        }
        break;
    }
    if !has_c {
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

/// `git -C dir --no-pager -c k=v status` is `git status`; `-c alias.*` is refused since an
/// alias can rename any command.
fn normalize_git(words: &[Word]) -> Result<Vec<String>, PolicyRefusal> {
    let mut out = vec!["git".to_owned()];
    let mut i = 1;
    while let Some(word) = words.get(i) {
        let t = word.text.as_str();
        if !t.starts_with('-') {
            break;
        }
        if matches!(
            t,
            "-C" | "-c"
                | "--git-dir"
                | "--work-tree"
                | "--namespace"
                | "--config-env"
                | "--super-prefix"
        ) {
            if t == "-c" || t == "--config-env" {
                let value = words.get(i + 1).map(|w| w.text.to_ascii_lowercase());
                if value.as_deref().is_none_or(|v| v.starts_with("alias.")) {
                    return Err(unchecked(words, "`git -c alias.…` can rename any command"));
                }
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    out.extend(words[i.min(words.len())..].iter().map(|w| w.text.clone()));
    Ok(out)
}
