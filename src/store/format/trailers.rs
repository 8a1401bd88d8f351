//! Commit message trailers, written so `git interpret-trailers --parse` reads them back, and
//! the one owner of the agent's trailer keys and of what their values mean
//! (docs/data-model.md#commits).

use std::fmt;
use std::str::FromStr;

use super::record::TestsVerdict;

/// The trailer keys of the format. Every reader and writer names a key through these.
pub mod key {
    pub const TASK: &str = "Agent-Task";
    pub const BASE: &str = "Agent-Base";
    pub const CHECKPOINT: &str = "Agent-Checkpoint";
    pub const STEP: &str = "Agent-Step";
    pub const EXPECTED: &str = "Agent-Expected";
    pub const TESTS: &str = "Agent-Tests";
    pub const RISKS: &str = "Agent-Risks";
    pub const NEXT: &str = "Agent-Next";
    pub const MODEL: &str = "Agent-Model";
    pub const CARRIED: &str = "Agent-Carried";
    pub const ATTIC: &str = "Agent-Attic";
    pub const TASK_TIP: &str = "Agent-Task-Tip";
    pub const FORCED: &str = "Agent-Forced";
    /// On a commit of the say chain that is not a message: what it is (`stop`).
    pub const SAY: &str = "Agent-Say";
    pub const CO_AUTHOR: &str = "Co-authored-by";
    /// The lease of a task on a shared remote (docs/data-model.md#leases): who holds it,
    /// where, since when, its heartbeat and how long it lasts.
    pub const LEASE_HOLDER: &str = "Agent-Lease-Holder";
    pub const LEASE_HOST: &str = "Agent-Lease-Host";
    pub const LEASE_PID: &str = "Agent-Lease-Pid";
    pub const LEASE_SINCE: &str = "Agent-Lease-Since";
    pub const LEASE_HEARTBEAT: &str = "Agent-Lease-Heartbeat";
    pub const LEASE_DURATION: &str = "Agent-Lease-Duration";
    /// What every agent trailer key starts with.
    pub const PREFIX: &str = "Agent-";
}

/// The trailers of a merge of a task into its base branch: the task, the tip merged, and the
/// policy checks the user overrode (`--force`), if any.
pub fn merge_trailers(slug: &str, tip: impl fmt::Display, forced: &[String]) -> Trailers {
    let mut trailers = Trailers::default();
    trailers.push(key::TASK, slug);
    trailers.push(key::TASK_TIP, tip.to_string());
    if !forced.is_empty() {
        trailers.push(key::FORCED, forced.join("; "));
    }
    trailers
}

/// `Agent-Step: <index>/<steps>`: the plan step a checkpoint finished, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepOf {
    pub index: u32,
    pub steps: u32,
}

impl fmt::Display for StepOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.steps)
    }
}

/// A step past the plan's last is no step of the plan: read as one, it would say the plan
/// is done and skip what is left of it.
impl FromStr for StepOf {
    type Err = String;
    fn from_str(text: &str) -> Result<StepOf, String> {
        let bad = || format!("{text} is not <i>/<steps>");
        let (index, steps) = text.split_once('/').ok_or_else(bad)?;
        let step = StepOf {
            index: index.trim().parse().map_err(|_| bad())?,
            steps: steps.trim().parse().map_err(|_| bad())?,
        };
        if step.index > step.steps {
            return Err(format!(
                "{text} names step {} of a plan of {} steps",
                step.index, step.steps
            ));
        }
        Ok(step)
    }
}

/// The value of `Agent-Carried` on the commit that carries the user's uncommitted work.
const CARRIED_FROM: &str = "working tree";

/// A checkpoint's trailers, parsed once into what they mean, and the writer of them: a
/// checkpoint's trailer block is `CheckpointTrailers::trailers` rendered. A value that does
/// not parse reads as absent here; `git agent fsck` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointTrailers {
    pub task: Option<String>,
    pub checkpoint: Option<u32>,
    pub step: Option<StepOf>,
    pub expected: Option<String>,
    /// The verdict word that starts `Agent-Tests`.
    pub tests: Option<TestsVerdict>,
    /// The whole `Agent-Tests` value: the verdict and the harness's summary of the run.
    pub tests_line: Option<String>,
    pub risks: Option<String>,
    pub next: Option<String>,
    pub model: Option<String>,
    pub co_author: Option<String>,
    /// The checkpoint carries the user's uncommitted work into the task.
    pub carried: bool,
}

impl CheckpointTrailers {
    pub fn parse(trailers: &Trailers) -> CheckpointTrailers {
        let text = |key: &str| trailers.get(key).map(str::to_string);
        let tests_line = text(key::TESTS);
        CheckpointTrailers {
            task: text(key::TASK),
            checkpoint: trailers.get(key::CHECKPOINT).and_then(|n| n.parse().ok()),
            step: trailers.get(key::STEP).and_then(|s| s.parse().ok()),
            expected: text(key::EXPECTED),
            tests: tests_line.as_deref().and_then(tests_verdict),
            tests_line,
            risks: text(key::RISKS),
            next: text(key::NEXT),
            model: text(key::MODEL),
            co_author: text(key::CO_AUTHOR),
            carried: trailers.get(key::CARRIED).is_some(),
        }
    }

    /// The trailer block of a checkpoint, in the order of docs/data-model.md#commits.
    pub fn trailers(&self) -> Trailers {
        let mut trailers = Trailers::default();
        let mut push = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                trailers.push(key, value);
            }
        };
        push(key::TASK, self.task.clone());
        push(key::CHECKPOINT, self.checkpoint.map(|n| n.to_string()));
        push(key::STEP, self.step.map(|s| s.to_string()));
        push(key::EXPECTED, self.expected.clone());
        push(key::TESTS, self.tests_line.clone());
        push(key::RISKS, self.risks.clone());
        push(key::NEXT, self.next.clone());
        push(key::MODEL, self.model.clone());
        push(key::CO_AUTHOR, self.co_author.clone());
        push(key::CARRIED, self.carried.then(|| CARRIED_FROM.to_string()));
        trailers
    }

    /// The `Agent-Tests` value `line`, with the verdict read from it.
    pub fn with_tests(mut self, line: String) -> CheckpointTrailers {
        self.tests = tests_verdict(&line);
        self.tests_line = Some(line);
        self
    }

    /// The step index (0 for the task commit or a carried start).
    pub fn step_index(&self) -> u32 {
        self.step.map_or(0, |s| s.index)
    }
}

/// The verdict word that starts an `Agent-Tests` value.
fn tests_verdict(line: &str) -> Option<TestsVerdict> {
    line.split_whitespace()
        .next()
        .and_then(TestsVerdict::from_word)
}

/// Ordered `Key: value` pairs of a commit message's trailer block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers(pub Vec<(String, String)>);

impl Trailers {
    pub fn push(&mut self, key: &str, value: impl AsRef<str>) {
        self.0.push((key.to_string(), one_line(value.as_ref())));
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Replace each value of `key` that `new` maps to a new one; the others stay.
    pub fn rewrite(&mut self, key: &str, new: impl Fn(&str) -> Option<String>) {
        for (k, v) in &mut self.0 {
            if k.eq_ignore_ascii_case(key)
                && let Some(value) = new(v)
            {
                *v = one_line(&value);
            }
        }
    }

    /// The trailer block, one `Key: value` per line.
    pub fn render(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }
}

/// Trailer values must stay on one line, or git would read a continuation or a new trailer.
fn one_line(value: &str) -> String {
    let joined = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.is_empty() {
        "none".to_string()
    } else {
        joined
    }
}

/// The trailers of a commit message: the last paragraph, when every line of it is `Key: value`.
pub fn parse_trailers(message: &str) -> Trailers {
    let trimmed = message.trim_end();
    let last = trimmed.rsplit("\n\n").next().unwrap_or_default();
    let mut out = Vec::new();
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            return Trailers::default();
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Trailers::default();
        }
        out.push((key.to_string(), value.trim().to_string()));
    }
    Trailers(out)
}

/// A commit summary line: one line, at most 72 characters, cut at a word.
pub fn summary_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("checkpoint");
    if line.chars().count() <= 72 {
        return line.to_string();
    }
    let mut out = String::new();
    for word in line.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > 71 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = line.chars().take(71).collect();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn render_and_parse_round_trip() {
        let mut t = Trailers::default();
        t.push("Agent-Task", "fix");
        t.push("Agent-Risks", "two\nlines  here");
        t.push("Agent-Next", "");
        let message = format!("Summary\n\nBody text: not a trailer\n\n{}", t.render());
        assert_eq!(
            parse_trailers(&message).0,
            vec![
                ("Agent-Task".into(), "fix".into()),
                ("Agent-Risks".into(), "two lines here".into()),
                ("Agent-Next".into(), "none".into())
            ]
        );
    }

    #[test]
    fn checkpoint_trailers_read_what_the_writer_wrote_and_tolerate_damage() {
        let mut t = Trailers::default();
        t.push(key::TASK, "fix");
        t.push(key::CHECKPOINT, "3");
        t.push(key::STEP, StepOf { index: 2, steps: 5 }.to_string());
        t.push(key::TESTS, "pass (sh test.sh: 2 passed)");
        let parsed = CheckpointTrailers::parse(&parse_trailers(&format!("s\n\n{}", t.render())));
        assert_eq!(parsed.task.as_deref(), Some("fix"));
        assert_eq!(parsed.checkpoint, Some(3));
        assert_eq!(parsed.step, Some(StepOf { index: 2, steps: 5 }));
        assert_eq!(parsed.tests, Some(TestsVerdict::Pass));
        assert!(!parsed.carried);

        let mut bad = Trailers::default();
        bad.push(key::STEP, "two of five");
        bad.push(key::CHECKPOINT, "x");
        bad.push(key::TESTS, "maybe");
        let parsed = CheckpointTrailers::parse(&bad);
        assert_eq!(
            (parsed.step, parsed.checkpoint, parsed.tests),
            (None, None, None)
        );
        assert_eq!(parsed.step_index(), 0);
        assert_eq!(
            "3/".parse::<StepOf>(),
            Err("3/ is not <i>/<steps>".to_string())
        );
        assert_eq!(
            "9/2".parse::<StepOf>(),
            Err("9/2 names step 9 of a plan of 2 steps".to_string())
        );
        assert_eq!("0/0".parse(), Ok(StepOf { index: 0, steps: 0 }));
        assert_eq!("2/2".parse(), Ok(StepOf { index: 2, steps: 2 }));
    }

    #[test]
    fn a_checkpoint_s_trailers_are_written_from_their_type_and_read_back_equal() {
        let written = CheckpointTrailers {
            task: Some("fix".into()),
            checkpoint: Some(4),
            step: Some(StepOf { index: 2, steps: 3 }),
            expected: Some("the flag parses".into()),
            risks: Some("none".into()),
            next: Some("document it".into()),
            model: Some("claude".into()),
            co_author: Some("Agent <agent@example.com>".into()),
            carried: true,
            ..CheckpointTrailers::default()
        }
        .with_tests("fail (sh test.sh: 1 failed)".into());
        assert_eq!(written.tests, Some(TestsVerdict::Fail));
        let message = format!("Summary\n\nbody\n\n{}", written.trailers().render());
        assert_eq!(
            CheckpointTrailers::parse(&parse_trailers(&message)),
            written
        );
        // The keys in the order docs/data-model.md gives them.
        let keys: Vec<String> = written.trailers().0.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                key::TASK,
                key::CHECKPOINT,
                key::STEP,
                key::EXPECTED,
                key::TESTS,
                key::RISKS,
                key::NEXT,
                key::MODEL,
                key::CO_AUTHOR,
                key::CARRIED
            ]
        );
        let none = CheckpointTrailers::default();
        assert_eq!(none.trailers(), Trailers::default());
    }

    #[test]
    fn a_rewrite_changes_the_values_of_its_key_alone() {
        let mut t = Trailers::default();
        t.push(key::TASK, "a");
        t.push(key::STEP, "1/2");
        t.rewrite("agent-task", |v| (v == "a").then(|| "b".to_string()));
        t.rewrite(key::STEP, |_| None);
        assert_eq!(t.render(), "Agent-Task: b\nAgent-Step: 1/2\n");
    }

    #[test]
    fn summary_is_bounded() {
        assert_eq!(summary_line("short\nsecond"), "short");
        let long = "word ".repeat(30);
        let s = summary_line(&long);
        assert!(s.chars().count() <= 72, "{s}");
        assert!(s.ends_with('…'));
    }
}
