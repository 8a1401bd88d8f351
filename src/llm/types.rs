//! The provider-neutral conversation model. Content blocks serialize in the shape the
//! Anthropic Messages API uses (`{"type": "text", ...}`), which is also the replay format.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Value,
        /// What a Chat Completions server attached to the call for itself, sent back on the
        /// same call unchanged: Gemini's `extra_content`, which holds its thought signature
        /// (<https://ai.google.dev/gemini-api/docs/thought-signatures>: a Gemini 3 call sent
        /// back without it is refused with 400). None for every other server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        extra_content: Option<serde_json::Value>,
    },
    /// A tool call whose input is not a JSON object: not JSON at all (cut off, garbled), or
    /// JSON of another type. `input` is the text the model sent, `error` what is wrong with
    /// it. The loop answers it with a tool error so the model can send the call again; on the
    /// wire it goes back as the same call with an empty object as input.
    InvalidToolUse {
        id: String,
        name: String,
        input: String,
        error: String,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    /// What the model reasoned before it answered (Anthropic extended thinking), with the
    /// provider's signature over it. The API checks the signature when the block comes back:
    /// later requests of the same tool-use loop carry it unchanged, text and signature byte
    /// for byte. It is data from the model, never shown raw to a person.
    Thinking {
        thinking: String,
        signature: String,
    },
    /// Reasoning the provider encrypted: opaque data, sent back unchanged like [`Thinking`].
    ///
    /// [`Thinking`]: ContentBlock::Thinking
    RedactedThinking {
        data: String,
    },
    /// What a Chat Completions server said the model reasoned, in `reasoning_content`
    /// (DeepSeek, vLLM, llama.cpp, LM Studio). Unsigned; it goes back as `reasoning_content`
    /// on the same assistant message, which DeepSeek's thinking mode requires of a turn that
    /// called tools (<https://api-docs.deepseek.com/guides/thinking_mode>: without it the
    /// next request is refused with 400). Data from the model, never shown raw to a person.
    Reasoning {
        reasoning: String,
    },
}

/// The input of a tool call from the text the model streamed: JSON, or why it is not. An
/// empty text is a call without parameters.
pub fn parse_tool_input(raw: &str) -> Result<serde_json::Value, String> {
    if raw.trim().is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(raw).map_err(|err| format!("not valid JSON ({err})"))
}

impl ContentBlock {
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock::Text { text: text.into() }
    }

    /// A `ToolUse` when `input` is a JSON object, else an `InvalidToolUse` that says what it is.
    pub fn tool_use(id: String, name: String, input: serde_json::Value) -> Self {
        use serde_json::Value;
        let what = match &input {
            Value::Object(_) => {
                return ContentBlock::ToolUse {
                    id,
                    name,
                    input,
                    extra_content: None,
                };
            }
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
        };
        ContentBlock::InvalidToolUse {
            id,
            name,
            input: input.to_string(),
            error: format!("{what}, not a JSON object"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![ContentBlock::text(text)],
        }
    }

    pub fn assistant(content: Vec<ContentBlock>) -> Self {
        Message {
            role: Role::Assistant,
            content,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
}

/// How much a model reasons before it answers, set per role. Each provider maps it to its own
/// control: Anthropic's thinking budget or adaptive effort, OpenAI's `reasoning_effort`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Thinking {
    /// No thinking asked for (a model that always reasons keeps its own default).
    #[default]
    Off,
    Low,
    Medium,
    High,
}

impl Thinking {
    pub const ALL: [Thinking; 4] = [
        Thinking::Off,
        Thinking::Low,
        Thinking::Medium,
        Thinking::High,
    ];

    /// The name configuration uses, which is also the effort level the APIs take.
    pub fn name(self) -> &'static str {
        match self {
            Thinking::Off => "off",
            Thinking::Low => "low",
            Thinking::Medium => "medium",
            Thinking::High => "high",
        }
    }

    pub fn from_name(name: &str) -> Option<Thinking> {
        Thinking::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Tokens the level lets the model spend on reasoning: Anthropic's `budget_tokens`, and
    /// what every provider adds to the answer's `max_tokens`, since reasoning counts against
    /// it. Anthropic's smallest budget is 1024.
    pub fn budget_tokens(self) -> u32 {
        match self {
            Thinking::Off => 0,
            Thinking::Low => 2048,
            Thinking::Medium => 8192,
            Thinking::High => 16384,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    /// Tokens for the answer; reasoning gets [`Thinking::budget_tokens`] on top.
    pub max_tokens: u32,
    #[serde(default)]
    pub thinking: Thinking,
}

impl Request {
    /// The output limit the provider is sent: the answer's tokens and the reasoning's.
    pub fn output_limit(&self) -> u32 {
        self.max_tokens
            .saturating_add(self.thinking.budget_tokens())
    }
}

/// Token counts of one call. `input_tokens` counts only the input that was neither read
/// from nor written to the prompt cache, as Anthropic reports it; the OpenAI provider
/// subtracts its `cached_tokens` to match.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    /// Everything the model generated, reasoning included: both vendors bill reasoning as
    /// output.
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Of `output_tokens`, those spent reasoning, where the provider says (OpenAI's
    /// `reasoning_tokens`; Anthropic reports thinking only inside `output_tokens`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
}

/// Tokens of a text of `bytes` bytes, estimated on the high side: three bytes a token
/// (English prose runs near four, code and JSON nearer three). What a tool may return and
/// how full a model's context window is are both reckoned with it, and an answer without
/// usage is priced with it.
pub fn estimate_tokens(bytes: usize) -> u64 {
    bytes.div_ceil(3) as u64
}

/// The bytes of text that [`estimate_tokens`] reckons as `tokens`.
pub fn bytes_for_tokens(tokens: u64) -> usize {
    usize::try_from(tokens.saturating_mul(3)).unwrap_or(usize::MAX)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
    }
}

/// Why the model stopped. Serialized as the Anthropic wire string (`end_turn`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    Refusal,
    PauseTurn,
    Other(String),
}

impl StopReason {
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::Refusal => "refusal",
            StopReason::PauseTurn => "pause_turn",
            StopReason::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> StopReason {
        match s {
            "end_turn" => StopReason::EndTurn,
            "tool_use" => StopReason::ToolUse,
            "max_tokens" => StopReason::MaxTokens,
            "stop_sequence" => StopReason::StopSequence,
            "refusal" => StopReason::Refusal,
            "pause_turn" => StopReason::PauseTurn,
            other => StopReason::Other(other.to_string()),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StopReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StopReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(StopReason::parse(&s))
    }
}

/// One whole model response. `cost_usd` is 0 with `price_known == false` when the model is
/// not in the price table. `usage_estimated` says the server reported no usage (a stream
/// that ended before its usage chunk, a server that never sends one), so `usage` is an
/// estimate from the sizes of the request and the answer: never recorded as free.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub content: Vec<ContentBlock>,
    pub stop_reason: StopReason,
    pub usage: Usage,
    pub model: String,
    pub cost_usd: f64,
    pub price_known: bool,
    pub usage_estimated: bool,
}

impl Response {
    /// The tool calls of the response, in order: `(id, name, input)`, the input `Err` with
    /// what is wrong when it is not a JSON object.
    pub fn tool_calls(
        &self,
    ) -> impl Iterator<Item = (&str, &str, Result<&serde_json::Value, &str>)> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse {
                id, name, input, ..
            } => Some((id.as_str(), name.as_str(), Ok(input))),
            ContentBlock::InvalidToolUse {
                id, name, error, ..
            } => Some((id.as_str(), name.as_str(), Err(error.as_str()))),
            _ => None,
        })
    }

    /// All text blocks joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Progress while a call streams. Text deltas are for display only; the [`Response`] is
/// the truth. A `ToolCall` is emitted once its input is whole. After a `Retrying` event the
/// call starts over, so a display should drop what the failed attempt showed.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    TextDelta(String),
    ToolCall {
        id: String,
        name: String,
    },
    Retrying {
        attempt: u32,
        wait: Duration,
        reason: String,
        /// `(k, n)`: the k-th of at most n retries of a server that answered nothing.
        unreachable: Option<(u32, u32)>,
    },
}
