//! Anthropic Messages API (`POST {base}/v1/messages`) with streaming, prompt caching and
//! extended thinking (thinking blocks kept and sent back as signed).

use super::config::ProviderConfig;
use super::error::LlmError;
use super::http::{Http, error_fields};
use super::sse::{SseEvent, SseStream};
use super::types::{
    ContentBlock, Request, Response, Role, StopReason, StreamEvent, Thinking, Usage,
    parse_tool_input,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PROVIDER: &str = "anthropic";
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const VERSION: &str = "2023-06-01";
/// Lets Claude 4 models with a thinking budget think between tool calls too, not only before
/// the first one.
const INTERLEAVED_THINKING: &str = "interleaved-thinking-2025-05-14";

pub(crate) struct Anthropic {
    http: Http,
    url: String,
    key: HeaderValue,
}

impl Anthropic {
    pub fn new(config: &ProviderConfig) -> Result<Anthropic, LlmError> {
        let http = Http::new(PROVIDER, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", config)?;
        let key = config.api_key.as_ref().ok_or(LlmError::MissingKey {
            provider: PROVIDER,
            env: "ANTHROPIC_API_KEY",
        })?;
        let key = http.secret_header(key.expose_secret())?;
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let url = format!("{}/v1/messages", base.trim_end_matches('/'));
        Ok(Anthropic { http, url, key })
    }

    pub async fn attempt(
        &self,
        request: &Request,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<Response, LlmError> {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-api-key"), self.key.clone());
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(VERSION),
        );
        if let Some(beta) = thinking_wire(request).and_then(|wire| wire.beta) {
            headers.insert(
                HeaderName::from_static("anthropic-beta"),
                HeaderValue::from_static(beta),
            );
        }
        let body = serde_json::to_vec(&request_body(request)).map_err(|e| LlmError::Protocol {
            provider: PROVIDER,
            message: format!("cannot encode the request: {e}"),
        })?;
        let mut stream = self
            .http
            .post_sse(&self.url, headers, body, whole_answer)
            .await?;
        read_stream(&mut stream, request, on_event).await
    }
}

const EPHEMERAL: &str = "ephemeral";

/// The request body. Cache breakpoints (at most 4) go on the last tool, the end of the
/// system prompt, and the last block of the two newest user turns: the newest writes the
/// cache for the next call of a tool loop, the one before reads what the previous call wrote.
pub fn request_body(request: &Request) -> Value {
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": true,
    });
    if let Some(wire) = thinking_wire(request) {
        // Thinking counts against max_tokens, and a budget must stay below it.
        body["max_tokens"] = json!(request.output_limit());
        body["thinking"] = wire.thinking;
        if let Some(effort) = wire.effort {
            body["output_config"] = json!({"effort": effort});
        }
    }
    if !request.tools.is_empty() {
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
        if let Some(last) = tools.last_mut() {
            last["cache_control"] = json!({"type": EPHEMERAL});
        }
        body["tools"] = Value::Array(tools);
    }
    if !request.system.is_empty() {
        body["system"] = json!([{
            "type": "text",
            "text": request.system,
            "cache_control": {"type": EPHEMERAL},
        }]);
    }
    let mut messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let content: Vec<Value> = m
                .content
                .iter()
                // The API refuses empty text blocks. Reasoning a Chat Completions server sent
                // is unsigned, and the API takes thinking only with its signature.
                .filter(|b| {
                    !matches!(b, ContentBlock::Text { text } if text.is_empty())
                        && !matches!(b, ContentBlock::Reasoning { .. })
                })
                .map(|b| match b {
                    // What another server attached to a call is not for this API.
                    ContentBlock::ToolUse {
                        id, name, input, ..
                    } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": input})
                    }
                    // The API takes only an object as input; the tool result says what was wrong.
                    ContentBlock::InvalidToolUse { id, name, .. } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                    _ => serde_json::to_value(b).unwrap_or(Value::Null),
                })
                .collect();
            json!({"role": m.role, "content": content})
        })
        .collect();
    let newest_users: Vec<usize> = request
        .messages
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(i, _)| i)
        .take(2)
        .collect();
    for i in newest_users {
        if let Some(last) = messages[i]["content"]
            .as_array_mut()
            .and_then(|c| c.last_mut())
        {
            last["cache_control"] = json!({"type": EPHEMERAL});
        }
    }
    body["messages"] = Value::Array(messages);
    body
}

/// How a model is asked to think.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThinkingControl {
    /// A model from before extended thinking, or not Claude: no thinking parameter.
    Unsupported,
    /// `{"type": "enabled", "budget_tokens": N}`. `interleaved`: the model thinks between
    /// tool calls when the beta header asks (Claude 4); Claude 3.7 thinks only before them.
    Budget { interleaved: bool },
    /// `{"type": "adaptive"}` with `output_config.effort`: Claude 4.6 and later, where a
    /// budget is deprecated or refused with a 400. Interleaving comes with it.
    Adaptive,
}

/// By model-name prefix, the longest matching one wins. Checked 2026-12-07 against
/// <https://platform.claude.com/docs/en/build-with-claude/extended-thinking>, `.../effort`
/// and Amazon Bedrock's `claude-messages-adaptive-thinking` page: Claude 4.7 and later refuse
/// budgets (and `{"type": "disabled"}`), 4.6 deprecates budgets, 4.5 and earlier know only
/// budgets. A Claude model newer than this table is taken as adaptive.
const THINKING_CONTROLS: &[(&str, ThinkingControl)] = &[
    ("claude", ThinkingControl::Adaptive),
    ("claude-2", ThinkingControl::Unsupported),
    ("claude-instant", ThinkingControl::Unsupported),
    ("claude-3", ThinkingControl::Unsupported),
    (
        "claude-3-7-sonnet",
        ThinkingControl::Budget { interleaved: false },
    ),
    (
        "claude-sonnet-4",
        ThinkingControl::Budget { interleaved: true },
    ),
    (
        "claude-opus-4",
        ThinkingControl::Budget { interleaved: true },
    ),
    (
        "claude-haiku-4-5",
        ThinkingControl::Budget { interleaved: true },
    ),
    ("claude-sonnet-4-6", ThinkingControl::Adaptive),
    ("claude-opus-4-6", ThinkingControl::Adaptive),
    ("claude-opus-4-7", ThinkingControl::Adaptive),
    ("claude-opus-4-8", ThinkingControl::Adaptive),
];

fn thinking_control(model: &str) -> ThinkingControl {
    let bare = model.rsplit_once('/').map_or(model, |(_, m)| m);
    super::price::longest_prefix(THINKING_CONTROLS.iter().map(|(p, c)| (*p, *c)), bare)
        .map_or(ThinkingControl::Unsupported, |(_, control)| control)
}

/// What a request with thinking on sends: the `thinking` object, the effort, the beta header.
struct ThinkingWire {
    thinking: Value,
    effort: Option<&'static str>,
    beta: Option<&'static str>,
}

/// `None` when the request asks for no thinking or the model cannot think. Off sends nothing
/// at all: the adaptive-only models refuse `{"type": "disabled"}`.
fn thinking_wire(request: &Request) -> Option<ThinkingWire> {
    if request.thinking == Thinking::Off {
        return None;
    }
    match thinking_control(&request.model) {
        ThinkingControl::Unsupported => None,
        ThinkingControl::Budget { interleaved } => Some(ThinkingWire {
            thinking: json!({"type": "enabled", "budget_tokens": request.thinking.budget_tokens()}),
            effort: None,
            beta: (interleaved && !request.tools.is_empty()).then_some(INTERLEAVED_THINKING),
        }),
        ThinkingControl::Adaptive => Some(ThinkingWire {
            thinking: json!({"type": "adaptive"}),
            effort: Some(request.thinking.name()),
            beta: None,
        }),
    }
}

/// A whole `message` object (the answer of a server or proxy that ignored `"stream": true`)
/// as the events it would have streamed: each block opened whole and closed, then the stop.
fn whole_answer(message: Value) -> Vec<SseEvent> {
    let event = |kind: &str, data: Value| SseEvent {
        event: kind.to_string(),
        data: data.to_string(),
    };
    if message["type"].as_str() != Some("message") {
        // An error object, or something the event reader will say is wrong.
        let kind = message["type"].as_str().unwrap_or("error").to_string();
        return vec![event(&kind, message)];
    }
    let mut start = message.clone();
    start["content"] = json!([]);
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": start}),
    )];
    for (index, block) in message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        // Text goes out as one delta, so that a person watching sees it as a stream's.
        let text = block["text"].as_str().filter(|_| block["type"] == "text");
        let opened = match text {
            Some(_) => json!({"type": "text", "text": ""}),
            None => block.clone(),
        };
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": opened}),
        ));
        if let Some(text) = text {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"]}, "usage": message["usage"]}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

enum Partial {
    Text(String),
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking(String),
    /// Server-side blocks: not part of the neutral model.
    Skipped,
}

#[derive(Default)]
struct Assembly {
    open: BTreeMap<u64, Partial>,
    done: BTreeMap<u64, ContentBlock>,
    /// Tool calls whose input is not JSON, by index: (id, name, text, error). Cut off by
    /// `max_tokens` they are dropped; otherwise they go back to the model as invalid calls.
    unparsed: BTreeMap<u64, (String, String, String, String)>,
    usage: Usage,
    model: Option<String>,
    stop_reason: Option<StopReason>,
}

impl Assembly {
    /// The answer is whole once `message_delta` said why it stopped: only `message_stop`
    /// can follow, and it carries nothing.
    fn is_whole(&self) -> bool {
        self.stop_reason.is_some()
    }
}

async fn read_stream(
    stream: &mut SseStream,
    request: &Request,
    on_event: &mut (dyn FnMut(StreamEvent) + Send),
) -> Result<Response, LlmError> {
    let mut state = Assembly::default();
    loop {
        let Some(event) = stream.next().await else {
            return Err(LlmError::StreamCut {
                provider: PROVIDER,
                message: "the stream ended before message_stop".to_string(),
            });
        };
        let event = event?;
        let data: Value = match serde_json::from_str(&event.data) {
            Ok(data) => data,
            // A garbled `message_stop` after a whole answer loses nothing; asking again would
            // pay for the answer twice.
            Err(_) if state.is_whole() => {
                tracing::debug!(provider = PROVIDER, event = %event.event, "malformed event after a whole answer");
                return finish(state, request);
            }
            Err(e) => {
                return Err(LlmError::Malformed {
                    provider: PROVIDER,
                    message: format!("{} is not JSON: {e}", event.event),
                });
            }
        };
        let kind = data["type"].as_str().unwrap_or(&event.event).to_string();
        match kind.as_str() {
            "message_start" => {
                let message = &data["message"];
                state.model = message["model"].as_str().map(str::to_string);
                read_usage(&message["usage"], &mut state.usage);
            }
            "content_block_start" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let block = &data["content_block"];
                let partial = match block["type"].as_str() {
                    Some("text") => Partial::Text(block["text"].as_str().unwrap_or("").to_string()),
                    Some("tool_use") => {
                        let input = &block["input"];
                        let has_input = input.as_object().is_some_and(|o| !o.is_empty());
                        Partial::Tool {
                            id: block["id"].as_str().unwrap_or("").to_string(),
                            name: block["name"].as_str().unwrap_or("").to_string(),
                            json: if has_input {
                                input.to_string()
                            } else {
                                String::new()
                            },
                        }
                    }
                    // A whole answer opens the block with its text and signature in it.
                    Some("thinking") => Partial::Thinking {
                        thinking: block["thinking"].as_str().unwrap_or("").to_string(),
                        signature: block["signature"].as_str().unwrap_or("").to_string(),
                    },
                    Some("redacted_thinking") => {
                        Partial::RedactedThinking(block["data"].as_str().unwrap_or("").to_string())
                    }
                    _ => Partial::Skipped,
                };
                state.open.insert(index, partial);
            }
            "content_block_delta" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let delta = &data["delta"];
                match (state.open.get_mut(&index), delta["type"].as_str()) {
                    (Some(Partial::Text(text)), Some("text_delta")) => {
                        let piece = delta["text"].as_str().unwrap_or("");
                        text.push_str(piece);
                        if !piece.is_empty() {
                            on_event(StreamEvent::TextDelta(piece.to_string()));
                        }
                    }
                    (Some(Partial::Tool { json, .. }), Some("input_json_delta")) => {
                        json.push_str(delta["partial_json"].as_str().unwrap_or(""));
                    }
                    // Not shown: the display gets the answer, not the reasoning.
                    (Some(Partial::Thinking { thinking, .. }), Some("thinking_delta")) => {
                        thinking.push_str(delta["thinking"].as_str().unwrap_or(""));
                    }
                    (Some(Partial::Thinking { signature, .. }), Some("signature_delta")) => {
                        signature.push_str(delta["signature"].as_str().unwrap_or(""));
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap_or(0);
                match state.open.remove(&index) {
                    Some(Partial::Text(text)) => {
                        state.done.insert(index, ContentBlock::Text { text });
                    }
                    Some(Partial::Tool { id, name, json }) => match parse_tool_input(&json) {
                        Ok(input) => {
                            on_event(StreamEvent::ToolCall {
                                id: id.clone(),
                                name: name.clone(),
                            });
                            state
                                .done
                                .insert(index, ContentBlock::tool_use(id, name, input));
                        }
                        Err(error) => {
                            state.unparsed.insert(index, (id, name, json, error));
                        }
                    },
                    Some(Partial::Thinking {
                        thinking,
                        signature,
                    }) => {
                        let block = ContentBlock::Thinking {
                            thinking,
                            signature,
                        };
                        state.done.insert(index, block);
                    }
                    Some(Partial::RedactedThinking(data)) => {
                        state
                            .done
                            .insert(index, ContentBlock::RedactedThinking { data });
                    }
                    Some(Partial::Skipped) | None => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    state.stop_reason = Some(StopReason::parse(reason));
                }
                read_usage(&data["usage"], &mut state.usage);
            }
            "message_stop" => return finish(state, request),
            "error" => {
                let (kind, message) = error_fields(&data).unwrap_or((None, data.to_string()));
                return Err(LlmError::StreamError {
                    provider: PROVIDER,
                    kind: kind.unwrap_or_else(|| "error".to_string()),
                    message,
                });
            }
            // `ping` and event types added after this was written.
            other => tracing::trace!(provider = PROVIDER, event = other, "ignored event"),
        }
    }
}

/// Usage fields present in `value` replace what we have: `message_delta` counts are
/// cumulative.
fn read_usage(value: &Value, usage: &mut Usage) {
    let set = |key: &str, field: &mut u64| {
        if let Some(n) = value[key].as_u64() {
            *field = n;
        }
    };
    set("input_tokens", &mut usage.input_tokens);
    set("output_tokens", &mut usage.output_tokens);
    set("cache_read_input_tokens", &mut usage.cache_read_tokens);
    set("cache_creation_input_tokens", &mut usage.cache_write_tokens);
}

fn finish(mut state: Assembly, request: &Request) -> Result<Response, LlmError> {
    let stop_reason = state.stop_reason.unwrap_or(StopReason::EndTurn);
    // A block still open at message_stop was cut off as well.
    for (index, partial) in std::mem::take(&mut state.open) {
        if let Partial::Tool { id, name, json } = partial {
            let error = "cut off before the end of its input".to_string();
            state.unparsed.insert(index, (id, name, json, error));
        }
    }
    for (index, (id, name, input, error)) in state.unparsed {
        if stop_reason == StopReason::MaxTokens {
            tracing::debug!(provider = PROVIDER, tool = %name, "dropped a tool call cut off by max_tokens");
            continue;
        }
        let block = ContentBlock::InvalidToolUse {
            id,
            name,
            input,
            error,
        };
        state.done.insert(index, block);
    }
    Ok(Response {
        content: state.done.into_values().collect(),
        stop_reason,
        usage: state.usage,
        model: state.model.unwrap_or_else(|| request.model.clone()),
        cost_usd: 0.0,
        price_known: false,
        usage_estimated: false,
    })
}
