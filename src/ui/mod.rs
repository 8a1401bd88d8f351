//! Renderers of the loop's events: plain lines (or a spinner on a terminal) on stderr for
//! people, or one JSON object per line on stdout with `--json`.

use crate::policy::redact_known;
use crate::text::terminal as term;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub mod runlog;

pub use runlog::{RunLog, run_log_path};

use crate::agent::Event;
use crate::agent::events::PLANNED;

/// When to colour output (`--color`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub const ALL: [ColorChoice; 3] = [ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never];

    pub fn name(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }
}

/// How output looks: JSON lines, quiet, and colour; the global flags fill it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub json: bool,
    pub quiet: bool,
    pub color: ColorChoice,
}

/// Whether to colour stderr: `--color`, `NO_COLOR`, `TERM=dumb`, and whether it is a terminal.
pub fn use_color(style: &Style) -> bool {
    color_for(style, std::io::stderr().is_terminal())
}

/// Whether to colour results on stdout, by the same rules.
pub fn use_color_stdout(style: &Style) -> bool {
    color_for(style, std::io::stdout().is_terminal())
}

fn color_for(style: &Style, terminal: bool) -> bool {
    match style.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
                && terminal
        }
    }
}

/// An event as one line of JSON, redacted: what `--json` prints and the run log holds. Its
/// strings are redacted as values, before JSON escapes them (a key after a tab would be `\t`
/// plus the key, glued to a letter); the line is parsed back before it is used.
pub fn json_line(event: &Event) -> Option<String> {
    let line = serde_json::to_string(&event.clone().map_text(|text| redact_known(&text))).ok()?;
    serde_json::from_str::<serde_json::Value>(&line).ok()?;
    Some(line)
}

/// A sink for the loop's events, chosen by the global flags.
pub fn renderer(style: &Style) -> Box<dyn FnMut(Event) + Send> {
    if style.json {
        return Box::new(|event: Event| {
            if let Some(line) = json_line(&event) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
        });
    }
    if style.quiet {
        return Box::new(|_| {});
    }
    let color = use_color(style);
    let spinner = (std::io::stderr().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb"))
    .then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut human = Human {
        color,
        spinner,
        step: String::new(),
        usage: String::new(),
        out: Box::new(|text: &str| eprintln!("{text}")),
    };
    Box::new(move |event| human.render(event))
}

struct Human {
    color: bool,
    spinner: Option<ProgressBar>,
    step: String,
    usage: String,
    /// Where lines go when no spinner owns the terminal: stderr (a buffer in tests).
    out: Box<dyn FnMut(&str) + Send>,
}

impl Human {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn line(&mut self, text: String) {
        // Tool inputs and outputs pass through here: a key the model echoed is masked.
        let text = redact_known(&text);
        match &self.spinner {
            Some(bar) => bar.println(text),
            None => (self.out)(&text),
        }
    }

    fn status(&self, activity: &str) {
        if let Some(bar) = &self.spinner {
            bar.set_message(redact_known(&format!(
                "{} {} {}",
                self.step,
                activity,
                self.paint("2", &self.usage)
            )));
        }
    }

    fn render(&mut self, event: Event) {
        match for_terminal(event) {
            Event::TaskStarted {
                slug,
                branch,
                worktree,
                resumed,
            } => self.line(format!(
                "{} task {slug} on {branch}\n  worktree: {worktree}",
                if resumed { "Resuming" } else { "Starting" }
            )),
            Event::Planning { replan } => {
                self.step = if replan == 0 {
                    "planning".into()
                } else {
                    format!("replanning ({replan})")
                };
                self.line(self.paint("1", &format!("{}…", capitalize(&self.step))));
            }
            Event::Plan {
                objective,
                test_command,
                steps,
            } => {
                let mut text = format!("Plan: {objective}\n");
                for (i, s) in steps.iter().enumerate() {
                    text.push_str(&format!("  {}. {s}\n", i + 1));
                }
                text.push_str(&format!("  tests: {test_command}"));
                self.line(text);
            }
            Event::StepStarted {
                step,
                steps,
                title,
                attempt,
            } => {
                self.step = format!("step {step}/{steps}");
                let again = if attempt > 1 {
                    format!(" (try {attempt})")
                } else {
                    String::new()
                };
                self.line(self.paint("1", &format!("Step {step}/{steps}: {title}{again}")));
            }
            Event::ModelText { text } => {
                let last = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default()
                    .to_string();
                if !last.is_empty() {
                    self.status(&crate::text::first_line(&last, 60));
                }
            }
            Event::ModelRetry {
                attempt,
                wait_ms,
                reason,
                unreachable,
            } => {
                let wait = wait_ms as f64 / 1000.0;
                self.line(self.paint("33", &match unreachable {
                    Some(u) => format!("  model server unreachable ({reason}), retrying in {wait:.1}s ({} of {})", u.retry, u.of),
                    None => format!("  model call failed ({reason}); try {attempt} in {wait:.1}s"),
                }));
            }
            Event::ToolCall { name, detail } => {
                self.line(format!("  · {name} {}", self.paint("2", &detail)));
                self.status(&name);
            }
            Event::ToolResult {
                name,
                is_error,
                detail,
            } => {
                if is_error {
                    self.line(self.paint("33", &format!("    ! {name}: {detail}")));
                }
            }
            Event::Tests {
                command,
                verdict,
                summary,
            } => {
                let code = if verdict == crate::store::TestsVerdict::Pass {
                    "32"
                } else {
                    "31"
                };
                self.line(format!(
                    "  tests `{command}`: {} ({summary})",
                    self.paint(code, verdict.as_str())
                ));
            }
            Event::SecretFound { findings } => {
                self.line(self.paint(
                    "31",
                    &format!(
                        "  secret scan: {} finding(s); not committed",
                        findings.len()
                    ),
                ));
            }
            Event::LeftOut { paths } => {
                for path in paths {
                    self.line(self.paint("33", &format!("  left out of the checkpoint: {path}")));
                }
            }
            Event::TryEnded {
                step,
                reason,
                attic,
            } => self.line(self.paint(
                "33",
                &format!(
                    "  try of step {step} ended: {reason}{}",
                    attic.map(|a| format!(" (work kept in {a})")).unwrap_or_default()
                ),
            )),
            Event::BudgetWarning {
                budget,
                used,
                limit,
            } => self.line(self.paint(
                "33",
                &format!("  budget: {used} of {limit} {budget} spent (80 %)"),
            )),
            Event::Said { message, .. } => self.line(self.paint(
                "36",
                &format!(
                    "  » from the user: {}",
                    crate::text::first_line(&message, 100)
                ),
            )),
            Event::McpServer {
                server,
                tools,
                skipped,
                error,
            } => {
                match error {
                    Some(error) => self.line(self.paint(
                        "33",
                        &format!("  ! MCP server {server} not started: {error}"),
                    )),
                    None => self.line(format!(
                        "  MCP server {server}: {} tool(s) {}",
                        tools.len(),
                        self.paint("2", &tools.join(", "))
                    )),
                }
                for why in skipped {
                    self.line(self.paint(
                        "33",
                        &format!("  ! MCP server {server}: not offered: {why}"),
                    ));
                }
            }
            Event::Checkpoint {
                number,
                commit,
                step,
                tests,
                files_changed,
                checkpoint_ms,
                warnings,
            } => {
                self.line(format!(
                    "  {} checkpoint {number} {} (step {step}, tests {tests}, {files_changed} file{}, {checkpoint_ms} ms)",
                    {
                        let (mark, code) = checkpoint_mark(&tests);
                        self.paint(code, mark)
                    },
                    &commit[..8.min(commit.len())],
                    if files_changed == 1 { "" } else { "s" }
                ));
                for warning in warnings {
                    self.line(self.paint("33", &format!("    ! {warning}")));
                }
            }
            Event::Rollback {
                to, attic, reason, ..
            } => self.line(self.paint(
                "33",
                &format!(
                    "  ↺ rolled back to {} ({reason}); discarded work kept in {attic}",
                    &to[..8.min(to.len())]
                ),
            )),
            Event::Usage {
                turns,
                tokens,
                cost_usd,
                elapsed_ms,
            } => {
                self.usage = format!(
                    "{turns} turns · {tokens} tokens · ${cost_usd:.4} · {}s",
                    elapsed_ms / 1000
                );
                self.status("");
            }
            Event::Stopped {
                reason,
                detail,
                slug: _,
                hint,
                next,
                usage,
                unrecorded,
            } => {
                if let Some(bar) = self.spinner.take() {
                    bar.finish_and_clear();
                }
                let code = if reason == "done" || reason == PLANNED {
                    "32"
                } else {
                    "33"
                };
                // `start --plan-only` ends by design after planning: that is no stop.
                let stopped = if reason == PLANNED {
                    self.paint(code, "Planned:")
                } else {
                    self.paint(code, &format!("Stopped: {reason}."))
                };
                self.line(format!("{stopped} {detail}"));
                let field =
                    |label: &str, text: &str| format!("  {:<10}{text}", format!("{label}:"));
                if let Some(unrecorded) = unrecorded {
                    let kept = match unrecorded.kept_in {
                        Some(path) => format!("kept in {path} until a later stop is recorded"),
                        None => "not kept anywhere either".to_string(),
                    };
                    self.line(self.paint(
                        "31",
                        &field(
                            "git",
                            &format!("could not record this stop ({}); {kept}", unrecorded.why),
                        ),
                    ));
                }
                if let Some(hint) = hint {
                    self.line(field("hint", &hint));
                }
                for suggestion in next {
                    self.line(field(
                        suggestion.label,
                        &suggestion.commands.join("   ·   "),
                    ));
                }
                self.line(field(
                    "usage",
                    &format!(
                        "{} turns · {} tokens · ${:.4} · {}s",
                        usage.turns,
                        usage.tokens,
                        usage.cost_usd,
                        usage.elapsed_ms / 1000
                    ),
                ));
            }
        }
    }
}

/// The event with every string redacted and then made safe for a terminal (src/text/terminal.rs), as
/// one line each: the renderer adds the newlines and colours, nothing else does. Redacted
/// first: a key after a newline is still a word of its own before `\n` shows it as text.
fn for_terminal(event: Event) -> Event {
    match event {
        // Shown by its last line: the lines stay apart until the renderer picks one.
        Event::ModelText { text } => Event::ModelText {
            text: redact_known(&text)
                .lines()
                .map(term::line)
                .collect::<Vec<_>>()
                .join("\n"),
        },
        event => event.map_text(|text| term::line(&redact_known(&text)).into_owned()),
    }
}

/// The mark of a checkpoint line and its colour, from its tests (`pass (…)`, `fail (…)`,
/// `not-run (…)`): a green tick only when they passed.
pub fn checkpoint_mark(tests: &str) -> (&'static str, &'static str) {
    let word = tests.split_whitespace().next().unwrap_or_default();
    match crate::store::TestsVerdict::from_word(word) {
        Some(crate::store::TestsVerdict::Pass) => ("✓", "32"),
        Some(crate::store::TestsVerdict::Fail) => ("✗", "31"),
        _ => ("○", "33"),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod snapshot_tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::agent::events::{Suggestion, Unrecorded, UsageTotal};
    use crate::store::TestsVerdict;

    /// One run's events, each kind at least once, in the order a run emits them.
    fn a_run() -> Vec<Event> {
        let s = |t: &str| t.to_string();
        vec![
            Event::TaskStarted {
                slug: s("shout"),
                branch: s("agent/shout"),
                worktree: s("/repo/.git/agent/worktrees/shout"),
                resumed: false,
            },
            Event::Planning { replan: 0 },
            Event::Plan {
                objective: s("Add a --shout flag"),
                test_command: s("sh test.sh"),
                steps: vec![s("Add the flag"), s("Test it")],
            },
            Event::McpServer {
                server: s("docs"),
                tools: vec![s("docs__lookup")],
                skipped: vec![s("docs__delete: not in the allow list")],
                error: None,
            },
            Event::McpServer {
                server: s("broken"),
                tools: vec![],
                skipped: vec![],
                error: Some(s("exited before answering initialize")),
            },
            Event::StepStarted {
                step: 1,
                steps: 2,
                title: s("Add the flag"),
                attempt: 1,
            },
            Event::ModelText {
                text: s("Reading greet.sh first."),
            },
            Event::ModelRetry {
                attempt: 2,
                wait_ms: 1500,
                reason: s("HTTP 529 overloaded"),
                unreachable: None,
            },
            Event::ModelRetry {
                attempt: 3,
                wait_ms: 2000,
                reason: s(
                    "cannot reach anthropic at http://127.0.0.1:9/v1/messages: connection refused",
                ),
                unreachable: Some(crate::agent::events::UnreachableRetry { retry: 1, of: 14 }),
            },
            Event::ToolCall {
                name: s("read_file"),
                detail: s("greet.sh"),
            },
            Event::ToolResult {
                name: s("edit_file"),
                is_error: true,
                detail: s("old_text not found"),
            },
            Event::Said {
                commit: s("5d2433a7"),
                message: s("use printf, not echo"),
            },
            Event::Tests {
                command: s("sh test.sh"),
                verdict: TestsVerdict::Fail,
                summary: s("1 passed, 1 failed"),
            },
            Event::SecretFound {
                findings: vec![s("config.env:1 aws-access-key")],
            },
            Event::LeftOut {
                paths: vec![s("d/d/d…: too deep")],
            },
            Event::TryEnded {
                step: 1,
                reason: s("the secret scan refused the checkpoint"),
                attic: Some(s("refs/agent/shout/attic/1")),
            },
            Event::Rollback {
                from: s("0123456789abcdef"),
                to: s("fedcba9876543210"),
                attic: s("refs/agent/shout/attic/2"),
                reason: s("tests failed twice"),
            },
            Event::Planning { replan: 1 },
            Event::StepStarted {
                step: 1,
                steps: 2,
                title: s("Add the flag"),
                attempt: 2,
            },
            Event::Tests {
                command: s("sh test.sh"),
                verdict: TestsVerdict::Pass,
                summary: s("2 passed, 0 failed"),
            },
            Event::Checkpoint {
                number: 1,
                commit: s("89abcdef01234567"),
                step: 1,
                tests: s("pass"),
                files_changed: 2,
                checkpoint_ms: 4,
                warnings: vec![s("sub/: a git repository inside the worktree")],
            },
            Event::BudgetWarning {
                budget: s("cost"),
                used: s("$8.10"),
                limit: s("$10.00"),
            },
            Event::Usage {
                turns: 7,
                tokens: 12345,
                cost_usd: 0.0421,
                elapsed_ms: 9300,
            },
            Event::Stopped {
                reason: s("done"),
                detail: s("all 2 steps done"),
                slug: s("shout"),
                hint: None,
                next: vec![Suggestion {
                    label: "review",
                    commands: vec![s("git agent diff shout"), s("git log agent/shout")],
                }],
                usage: UsageTotal {
                    turns: 7,
                    tokens: 12345,
                    cost_usd: 0.0421,
                    elapsed_ms: 9300,
                },
                unrecorded: None,
            },
        ]
    }

    /// A human renderer without colour whose lines are kept, and the lines.
    fn recording() -> (Human, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let human = Human {
            color: false,
            spinner: None,
            step: String::new(),
            usage: String::new(),
            out: Box::new(move |text: &str| sink.lock().unwrap().push(text.to_string())),
        };
        (human, lines)
    }

    #[test]
    fn the_human_renderer_prints_a_run_as_people_read_it() {
        let (mut human, lines) = recording();
        for event in a_run() {
            human.render(event);
        }
        let printed = lines.lock().unwrap().join("\n");
        insta::assert_snapshot!(printed);
    }

    #[test]
    fn a_stop_git_could_not_record_says_so_and_where_it_is_kept() {
        let (mut human, lines) = recording();
        let s = |t: &str| t.to_string();
        let stopped = |kept_in: Option<&str>| Event::Stopped {
            reason: s("error"),
            detail: s("could not update refs"),
            slug: s("shout"),
            hint: None,
            next: vec![],
            usage: UsageTotal {
                turns: 1,
                tokens: 10,
                cost_usd: 0.0,
                elapsed_ms: 0,
            },
            unrecorded: Some(Unrecorded {
                why: s("could not update refs: Permission denied"),
                kept_in: kept_in.map(s),
            }),
        };
        human.render(stopped(Some(".git/agent/locks/shout.stop")));
        human.render(stopped(None));
        let printed = lines.lock().unwrap();
        assert_eq!(
            printed[1],
            "  git:      could not record this stop (could not update refs: Permission denied); \
             kept in .git/agent/locks/shout.stop until a later stop is recorded"
        );
        assert_eq!(
            printed[4],
            "  git:      could not record this stop (could not update refs: Permission denied); \
             not kept anywhere either"
        );
    }

    #[test]
    fn a_checkpoint_is_ticked_only_when_its_tests_passed() {
        let (mut human, lines) = recording();
        for (number, tests) in [
            (1, "pass (2 passed)"),
            (2, "fail (1 failed)"),
            (3, "not-run (no test command)"),
        ] {
            human.render(Event::Checkpoint {
                number,
                commit: "89abcdef01234567".into(),
                step: 1,
                tests: tests.into(),
                files_changed: 1,
                checkpoint_ms: 4,
                warnings: Vec::new(),
            });
        }
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "  ✓ checkpoint 1 89abcdef (step 1, tests pass (2 passed), 1 file, 4 ms)",
                "  ✗ checkpoint 2 89abcdef (step 1, tests fail (1 failed), 1 file, 4 ms)",
                "  ○ checkpoint 3 89abcdef (step 1, tests not-run (no test command), 1 file, 4 ms)",
            ]
        );
    }

    #[test]
    fn the_json_renderer_prints_one_object_a_line() {
        let printed: Vec<String> = a_run().iter().filter_map(json_line).collect();
        for line in &printed {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(value["type"].is_string(), "{line}");
        }
        insta::assert_snapshot!(printed.join("\n"));
    }
}
