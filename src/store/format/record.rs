//! The checkpoint record (the note on every checkpoint) and the stop record.

use serde::{Deserialize, Serialize};

/// Model usage of a piece of work; budgets are sums of these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub turns: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Of `output_tokens`, those the model spent reasoning, where the provider reports them
    /// (OpenAI does; Anthropic counts thinking only in `output_tokens`).
    #[serde(skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
    pub wall_ms: u64,
    pub tool_calls: u64,
    /// Turns whose tokens are an estimate: the server reported no usage for them.
    #[serde(skip_serializing_if = "is_zero")]
    pub estimated_turns: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.turns += other.turns;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cost_usd += other.cost_usd;
        self.wall_ms += other.wall_ms;
        self.tool_calls += other.tool_calls;
        self.estimated_turns += other.estimated_turns;
    }

    /// Nothing spent.
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }

    /// The same usage with the cost rounded to a millionth of a dollar, so records read
    /// `0.015` rather than `0.015000000000000001`.
    pub fn rounded(mut self) -> Usage {
        self.cost_usd = (self.cost_usd * 1e6).round() / 1e6;
        self
    }

    /// Tokens counted against `--max-tokens`: everything sent and received.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

/// The verdict of the harness's test run, as records and the `Agent-Tests` trailer spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestsVerdict {
    Pass,
    Fail,
    /// Also what an unknown word reads as (a hand-edited note): not a pass.
    #[default]
    #[serde(other)]
    NotRun,
}

impl TestsVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            TestsVerdict::Pass => "pass",
            TestsVerdict::Fail => "fail",
            TestsVerdict::NotRun => "not-run",
        }
    }

    /// The verdict a word names, if it names one.
    pub fn from_word(word: &str) -> Option<TestsVerdict> {
        [TestsVerdict::Pass, TestsVerdict::Fail, TestsVerdict::NotRun]
            .into_iter()
            .find(|v| v.as_str() == word)
    }
}

impl std::fmt::Display for TestsVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The harness's own run of the test command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestRun {
    pub command: String,
    pub exit_code: Option<i32>,
    pub verdict: TestsVerdict,
    pub summary: String,
    pub duration_ms: u64,
    pub output_tail: String,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    Done,
    Blocked,
    Budget,
    Interrupted,
    Error,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Done => "done",
            StopReason::Blocked => "blocked",
            StopReason::Budget => "budget",
            StopReason::Interrupted => "interrupted",
            StopReason::Error => "error",
        }
    }
}

/// Added to the note of the tip when a run ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRecord {
    pub reason: StopReason,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub at: String,
    /// How the user can go on, when the run knows (a provider error's hint).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
    /// The stop request of `git agent stop` (its commit in the say chain) that ended the run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request: String,
}

impl StopRecord {
    /// Whether a person asked for this stop with `git agent stop`: such a task waits for them,
    /// no worker takes it up again.
    pub fn requested(&self) -> bool {
        self.reason == StopReason::Interrupted && !self.request.is_empty()
    }
}

/// The note on each checkpoint (docs/data-model.md#checkpoint-record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointRecord {
    pub checkpoint: u32,
    pub step: u32,
    pub steps: u32,
    pub provider: String,
    pub model: String,
    #[serde(flatten)]
    pub usage: Usage,
    /// The harness's own time to snapshot, commit and write this note.
    pub checkpoint_ms: u64,
    pub tests: TestRun,
    pub files_changed: u32,
    pub insertions: u32,
    pub deletions: u32,
    /// The `git agent say` messages (their commits) the model was shown during this unit of
    /// work, so no later run shows them again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub said: Vec<String>,
    /// Model usage spent while this commit was the tip and not (yet) in a checkpoint record:
    /// a step in progress, or runs that stopped without a checkpoint. Written after every
    /// model turn; moved into the next checkpoint's record in the same notes commit.
    #[serde(skip_serializing_if = "Usage::is_zero")]
    pub pending: Usage,
    pub stop: Option<StopRecord>,
    /// The OpenTelemetry trace id (32 hex digits) of the run that made this checkpoint, when
    /// telemetry was on (docs/telemetry.md); absent in older records.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trace: String,
    /// Fields written by newer versions or by hand; kept when the note is rewritten.
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// The time a note records (an attempt, a stop, a lease): RFC 3339, to the second, in UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn record_round_trips_and_keeps_unknown_fields() {
        let text = r#"
checkpoint = 2
step = 1
steps = 3
model = "m"
input_tokens = 10
cost_usd = 0.5
future_field = "kept"

[tests]
command = "make test"
exit_code = 0
verdict = "pass"
"#;
        let record: CheckpointRecord = toml::from_str(text).expect("parses");
        assert_eq!(record.usage.input_tokens, 10);
        assert_eq!(record.tests.verdict, TestsVerdict::Pass);
        let again: CheckpointRecord =
            toml::from_str(&toml::to_string(&record).expect("serializes")).expect("parses again");
        assert_eq!(again, record);
        assert_eq!(
            again.extra.get("future_field").and_then(|v| v.as_str()),
            Some("kept")
        );
    }
}
