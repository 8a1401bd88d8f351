//! Renderers of the loop's events: plain lines (or a spinner on a terminal) on stderr for
//! people, or one JSON object per line on stdout with `--json`.

use crate::policy::redact_known;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub mod runlog;

pub use runlog::{RunLog, run_log_path};

use crate::agent::Event;
use crate::cli::{ColorChoice, GlobalArgs};

/// Whether to colour stderr: `--color`, `NO_COLOR`, `TERM=dumb`, and whether it is a terminal.
pub fn use_color(global: &GlobalArgs) -> bool {
    color_for(global, std::io::stderr().is_terminal())
}

/// Whether to colour results on stdout, by the same rules.
pub fn use_color_stdout(global: &GlobalArgs) -> bool {
    color_for(global, std::io::stdout().is_terminal())
}

fn color_for(global: &GlobalArgs, terminal: bool) -> bool {
    match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
                && terminal
        }
    }
}

/// An event as one line of JSON, redacted: what `--json` prints and the run log holds.
pub fn json_line(event: &Event) -> Option<String> {
    serde_json::to_string(event)
        .ok()
        .map(|line| redact_known(&line))
}

/// A sink for the loop's events, chosen by the global flags.
pub fn renderer(global: &GlobalArgs) -> Box<dyn FnMut(Event) + Send> {
    if global.json {
        return Box::new(|event: Event| {
            if let Some(line) = json_line(&event) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
        });
    }
    if global.quiet {
        return Box::new(|_| {});
    }
    let color = use_color(global);
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
    };
    Box::new(move |event| human.render(event))
}

struct Human {
    color: bool,
    spinner: Option<ProgressBar>,
    step: String,
    usage: String,
}

impl Human {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn line(&self, text: String) {
        // Tool inputs and outputs pass through here: a key the model echoed is masked.
        let text = redact_known(&text);
        match &self.spinner {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
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
        match event {
            Event::TaskStarted { slug, branch, worktree, resumed } => self.line(format!(
                "{} task {slug} on {branch}\n  worktree: {worktree}",
                if resumed { "Resuming" } else { "Starting" }
            )),
            Event::Planning { replan } => {
                self.step = if replan == 0 { "planning".into() } else { format!("replanning ({replan})") };
                self.line(self.paint("1", &format!("{}…", capitalize(&self.step))));
            }
            Event::Plan { objective, test_command, steps } => {
                let mut text = format!("Plan: {objective}\n");
                for (i, s) in steps.iter().enumerate() {
                    text.push_str(&format!("  {}. {s}\n", i + 1));
                }
                text.push_str(&format!("  tests: {test_command}"));
                self.line(text);
            }
            Event::StepStarted { step, steps, title, attempt } => {
                self.step = format!("step {step}/{steps}");
                let again = if attempt > 1 { format!(" (try {attempt})") } else { String::new() };
                self.line(self.paint("1", &format!("Step {step}/{steps}: {title}{again}")));
            }
            Event::ModelText { text } => {
                let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
                if !last.is_empty() {
                    self.status(&crate::text::first_line(&last, 60));
                }
            }
            Event::ModelRetry { attempt, wait_ms, reason } => {
                self.line(self.paint("33", &format!("  model call failed ({reason}); try {attempt} in {:.1}s", wait_ms as f64 / 1000.0)));
            }
            Event::ToolCall { name, detail } => {
                self.line(format!("  · {name} {}", self.paint("2", &detail)));
                self.status(&name);
            }
            Event::ToolResult { name, is_error, detail } => {
                if is_error {
                    self.line(self.paint("33", &format!("    ! {name}: {detail}")));
                }
            }
            Event::Tests { command, verdict, summary } => {
                let code = if verdict == "pass" { "32" } else { "31" };
                self.line(format!("  tests `{command}`: {} ({summary})", self.paint(code, &verdict)));
            }
            Event::SecretFound { findings } => {
                self.line(self.paint("31", &format!("  secret scan: {} finding(s); not committed", findings.len())));
            }
            Event::TryEnded { step, reason, attic } => self.line(self.paint(
                "33",
                &format!(
                    "  try of step {step} ended: {reason}{}",
                    attic.map(|a| format!(" (work kept in {a})")).unwrap_or_default()
                ),
            )),
            Event::BudgetWarning { budget, used, limit } => self.line(self.paint(
                "33",
                &format!("  budget: {used} of {limit} {budget} spent (80 %)"),
            )),
            Event::Said { message, .. } => {
                self.line(self.paint("36", &format!("  » from the user: {}", crate::text::first_line(&message, 100))))
            }
            Event::McpServer { server, tools, skipped, error } => {
                match error {
                    Some(error) => self.line(self.paint("33", &format!("  ! MCP server {server} not started: {error}"))),
                    None => self.line(format!("  MCP server {server}: {} tool(s) {}", tools.len(), self.paint("2", &tools.join(", ")))),
                }
                for why in skipped {
                    self.line(self.paint("33", &format!("  ! MCP server {server}: not offered: {why}")));
                }
            }
            Event::Checkpoint { number, commit, step, tests, files_changed, checkpoint_ms } => self.line(format!(
                "  {} checkpoint {number} {} (step {step}, tests {tests}, {files_changed} files, {checkpoint_ms} ms)",
                self.paint("32", "✓"),
                &commit[..8.min(commit.len())]
            )),
            Event::Rollback { to, attic, reason, .. } => self.line(self.paint(
                "33",
                &format!("  ↺ rolled back to {} ({reason}); discarded work kept in {attic}", &to[..8.min(to.len())]),
            )),
            Event::Usage { turns, tokens, cost_usd, elapsed_ms } => {
                self.usage = format!("{turns} turns · {tokens} tokens · ${cost_usd:.4} · {}s", elapsed_ms / 1000);
                self.status("");
            }
            Event::Stopped { reason, detail, slug: _, hint, next, usage } => {
                if let Some(bar) = self.spinner.take() {
                    bar.finish_and_clear();
                }
                let code = if reason == "done" { "32" } else { "33" };
                let detail = redact_known(&detail);
                eprintln!("{} {detail}", self.paint(code, &format!("Stopped: {reason}.")));
                let field = |label: &str, text: &str| eprintln!("  {:<10}{text}", format!("{label}:"));
                if let Some(hint) = hint {
                    field("hint", &hint);
                }
                for suggestion in next {
                    field(suggestion.label, &suggestion.commands.join("   ·   "));
                }
                field(
                    "usage",
                    &format!(
                        "{} turns · {} tokens · ${:.4} · {}s",
                        usage.turns,
                        usage.tokens,
                        usage.cost_usd,
                        usage.elapsed_ms / 1000
                    ),
                );
            }
        }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
