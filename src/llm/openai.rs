//! OpenAI Chat Completions (`POST {base}/chat/completions`) and the servers that speak it:
//! OpenRouter, Ollama, llama.cpp's server, vLLM, LM Studio, Groq, DeepSeek, Gemini's
//! OpenAI-compatible endpoint and Azure OpenAI (whose key goes in `api-key`, and whose base
//! URL carries `?api-version=`).

use super::config::ProviderConfig;
use super::error::LlmError;
use super::http::{Http, error_fields};
use super::sse::{SseEvent, SseStream};
use super::types::{
    ContentBlock, Request, Response, Role, StopReason, StreamEvent, Thinking, Usage,
    estimate_tokens, parse_tool_input,
};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName};
use serde_json::{Value, json};

const PROVIDER: &str = "openai";
const KEY_ENV: &str = "OPENAI_API_KEY";
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The field DeepSeek (and vLLM, llama.cpp, LM Studio) stream the model's reasoning in, and
/// the field DeepSeek takes it back in on the assistant message that called tools.
const REASONING_CONTENT: &str = "reasoning_content";
/// The field of a tool call where Gemini puts data it wants back on that call (its thought
/// signature, under `google.thought_signature`).
const EXTRA_CONTENT: &str = "extra_content";

/// The header Azure OpenAI takes its key in.
const AZURE_KEY_HEADER: HeaderName = HeaderName::from_static("api-key");
/// Hosts of Azure OpenAI resources (and of Azure AI Foundry's).
const AZURE_HOSTS: [&str; 3] = [
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
];
/// The path of Azure's deployment URLs, which no other server uses.
const AZURE_DEPLOYMENTS: &str = "/openai/deployments/";

/// Where a base URL's chat completions are, and how that server takes its key.
#[derive(Debug, PartialEq)]
struct Endpoint {
    url: String,
    /// Azure OpenAI: the key goes in `api-key`, not `Authorization`.
    azure: bool,
}

impl Endpoint {
    /// `{base}/chat/completions`, with a query the base URL carries (Azure's
    /// `?api-version=`) kept after the path. An Azure deployment URL without its API version
    /// is refused here, before a request is paid for an answer of "Resource not found".
    fn of(base: &str) -> Result<Endpoint, LlmError> {
        let (path, query) = match base.split_once('?') {
            Some((path, query)) => (path, Some(query).filter(|q| !q.is_empty())),
            None => (base, None),
        };
        let mut url = format!("{}/chat/completions", path.trim_end_matches('/'));
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        let parsed = reqwest::Url::parse(path).ok();
        let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("");
        let deployment = parsed
            .as_ref()
            .is_some_and(|u| u.path().contains(AZURE_DEPLOYMENTS));
        let azure = deployment
            || AZURE_HOSTS
                .iter()
                .any(|h| host.to_ascii_lowercase().ends_with(h));
        let versioned = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("api-version=")));
        if deployment && !versioned {
            return Err(LlmError::Config {
                provider: PROVIDER,
                message: "the base URL is an Azure OpenAI deployment without its API version: \
                          end it with ?api-version=2024-10-21 (or the version your resource serves)"
                    .to_string(),
            });
        }
        Ok(Endpoint { url, azure })
    }
}

pub(crate) struct OpenAi {
    http: Http,
    url: String,
    headers: HeaderMap,
}

impl OpenAi {
    /// The key is optional: local servers (Ollama, llama.cpp) take none.
    pub fn new(config: &ProviderConfig) -> Result<OpenAi, LlmError> {
        let http = Http::new(PROVIDER, KEY_ENV, "OPENAI_BASE_URL", config)?;
        let base = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let endpoint = Endpoint::of(base)?;
        let mut headers = HeaderMap::new();
        match &config.api_key {
            Some(key) if endpoint.azure => {
                headers.insert(AZURE_KEY_HEADER, http.secret_header(key.expose_secret())?);
            }
            Some(key) => {
                let value = http.secret_header(&format!("Bearer {}", key.expose_secret()))?;
                headers.insert(AUTHORIZATION, value);
            }
            None if endpoint.azure || base.trim_end_matches('/') == DEFAULT_BASE_URL => {
                return Err(LlmError::MissingKey {
                    provider: PROVIDER,
                    env: KEY_ENV,
                });
            }
            None => {}
        }
        Ok(OpenAi {
            http,
            url: endpoint.url,
            headers,
        })
    }

    pub async fn attempt(
        &self,
        request: &Request,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<Response, LlmError> {
        let body = serde_json::to_vec(&request_body(request)).map_err(|e| LlmError::Protocol {
            provider: PROVIDER,
            message: format!("cannot encode the request: {e}"),
        })?;
        let sent = body.len();
        let mut stream = self
            .http
            .post_sse(&self.url, self.headers.clone(), body, whole_answer)
            .await?;
        read_stream(&mut stream, request, sent, on_event).await
    }
}

/// OpenAI's reasoning models, by name: they take `max_completion_tokens` and
/// `reasoning_effort`. A router prefix (`openai/o3`) is ignored.
fn is_reasoning_model(model: &str) -> bool {
    let bare = model.rsplit_once('/').map_or(model, |(_, m)| m);
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| bare.starts_with(p))
}

/// Reasoning models refuse `max_tokens`; older local servers know only `max_tokens`.
fn max_tokens_field(model: &str) -> &'static str {
    if is_reasoning_model(model) {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

/// The `reasoning_effort` to send, if any. Only OpenAI's reasoning models get it: other models
/// and servers may refuse a field they do not know. o1-mini and o1-preview refuse it too.
fn reasoning_effort(request: &Request) -> Option<&'static str> {
    let bare = request
        .model
        .rsplit_once('/')
        .map_or(request.model.as_str(), |(_, m)| m);
    let refuses = ["o1-mini", "o1-preview"]
        .iter()
        .any(|p| bare.starts_with(p));
    (request.thinking != Thinking::Off && is_reasoning_model(&request.model) && !refuses)
        .then(|| request.thinking.name())
}

pub fn request_body(request: &Request) -> Value {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        let mut text = String::new();
        let mut reasoning: Option<&str> = None;
        let mut calls = Vec::new();
        let mut results = Vec::new();
        for block in &message.content {
            match block {
                ContentBlock::Text { text: t } => {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(t)
                }
                ContentBlock::ToolUse {
                    id,
                    name,
                    input,
                    extra_content,
                } => {
                    let mut call = json!({
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": input.to_string()},
                    });
                    // Gemini checks its thought signature on the call it came with.
                    if let Some(extra) = extra_content {
                        call[EXTRA_CONTENT] = extra.clone();
                    }
                    calls.push(call)
                }
                // Some servers parse the arguments of earlier calls; send valid JSON. The tool
                // result says what was wrong with the model's.
                ContentBlock::InvalidToolUse { id, name, .. } => calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": "{}"},
                })),
                // Signed for Anthropic's API only; Chat Completions has no place for it.
                ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
                ContentBlock::Reasoning { reasoning: r } => reasoning = Some(r),
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    // Chat Completions has no error flag; say it in the content.
                    let content = if *is_error {
                        format!("Error: {content}")
                    } else {
                        content.clone()
                    };
                    results.push(
                        json!({"role": "tool", "tool_call_id": tool_use_id, "content": content}),
                    );
                }
            }
        }
        match message.role {
            Role::User => {
                // Tool results must directly follow the assistant message that called.
                messages.extend(results);
                if !text.is_empty() {
                    messages.push(json!({"role": "user", "content": text}));
                }
            }
            Role::Assistant => {
                let mut m = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text) }});
                // Only where the server sent it: other servers may refuse a field they do
                // not know.
                if let Some(reasoning) = reasoning {
                    m[REASONING_CONTENT] = json!(reasoning);
                }
                if !calls.is_empty() {
                    m["tool_calls"] = Value::Array(calls);
                }
                messages.push(m);
            }
        }
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    body[max_tokens_field(&request.model)] = json!(request.max_tokens);
    if let Some(effort) = reasoning_effort(request) {
        body["reasoning_effort"] = json!(effort);
        // Reasoning counts against the limit.
        body[max_tokens_field(&request.model)] = json!(request.output_limit());
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
    }
    body
}

/// A `chat.completion` object (the answer of a server that ignored `"stream": true`) as the
/// chunks it would have streamed: one chunk holding the whole message, then `[DONE]`.
fn whole_answer(answer: Value) -> Vec<SseEvent> {
    let event = |data: String| SseEvent {
        event: "message".to_string(),
        data,
    };
    if answer["choices"].is_null() {
        // An error object, or something else the chunk reader will say is wrong.
        return vec![event(answer.to_string())];
    }
    let choices: Vec<Value> = answer["choices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|choice| {
            let mut delta = choice["message"].clone();
            if let Some(calls) = delta["tool_calls"].as_array_mut() {
                for (n, call) in calls.iter_mut().enumerate() {
                    if call["index"].is_null() {
                        call["index"] = json!(n);
                    }
                }
            }
            json!({"index": choice["index"], "delta": delta, "finish_reason": choice["finish_reason"]})
        })
        .collect();
    let mut chunk = answer.clone();
    chunk["choices"] = Value::Array(choices);
    vec![event(chunk.to_string()), event("[DONE]".to_string())]
}

#[derive(Default)]
struct Call {
    /// The `index` the server gave the call, if it gave one.
    index: Option<u64>,
    id: Option<String>,
    name: String,
    arguments: String,
    /// Gemini's `extra_content` (its thought signature), kept whole to be sent back.
    extra_content: Option<Value>,
}

#[derive(Default)]
struct Assembly {
    text: String,
    /// What a reasoning model thought aloud (`reasoning_content`: DeepSeek, vLLM, llama.cpp,
    /// LM Studio; `reasoning`: OpenRouter, Ollama, Groq): generated and paid for, but not
    /// part of what the model answered.
    reasoning: String,
    /// The reasoning came as `reasoning_content`, the field it goes back in: it is kept in
    /// the conversation. Reasoning sent only as `reasoning` is not: OpenRouter takes
    /// reasoning back as `reasoning_details`, not as `reasoning`
    /// (<https://openrouter.ai/docs/use-cases/reasoning-tokens#preserving-reasoning-blocks>),
    /// and nothing says Ollama or Groq take it back: a field a server does not know may be
    /// refused.
    reasoning_goes_back: bool,
    calls: Vec<Call>,
    finish: Option<String>,
    usage: Option<Usage>,
    /// The last chunk carried the usage and nothing of the answer: the close of a whole
    /// answer (some servers send usage in every chunk, so usage alone proves nothing).
    ended_with_usage: bool,
    model: Option<String>,
}

impl Assembly {
    /// Adds one chunk's `delta` of a choice (text, reasoning, tool-call fragments); false
    /// when it held none of them.
    fn add_delta(&mut self, delta: &Value, on_event: &mut (dyn FnMut(StreamEvent) + Send)) -> bool {
        let mut added = false;
        if let Some(piece) = delta["content"].as_str()
            && !piece.is_empty()
        {
            self.text.push_str(piece);
            on_event(StreamEvent::TextDelta(piece.to_string()));
            added = true;
        }
        // Some servers send both names for the same text; one of them counts.
        let reasoning = [REASONING_CONTENT, "reasoning"]
            .into_iter()
            .find_map(|k| Some((k, delta[k].as_str().filter(|s| !s.is_empty())?)));
        if let Some((field, piece)) = reasoning {
            self.reasoning.push_str(piece);
            self.reasoning_goes_back |= field == REASONING_CONTENT;
            added = true;
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.add_call_delta(call);
            added = true;
        }
        added
    }

    /// Adds one entry of `delta.tool_calls`. Entries carry an `index` (OpenAI, vLLM,
    /// llama.cpp); Gemini and Ollama's older replies have none, and send a call whole or its
    /// arguments over several entries.
    fn add_call_delta(&mut self, delta: &Value) {
        let id = delta["id"].as_str().filter(|s| !s.is_empty());
        let function = &delta["function"];
        let name = function["name"].as_str().unwrap_or("");
        let slot = self.slot_for(delta["index"].as_u64(), id, name);
        let call = &mut self.calls[slot];
        if let Some(id) = id {
            call.id = Some(id.to_string());
        }
        if let Some(extra) = delta.get(EXTRA_CONTENT).filter(|v| !v.is_null()) {
            call.extra_content = Some(extra.clone());
        }
        // OpenAI sends the name once; some routers repeat the whole name (and id) in every
        // delta of the call. A repeat is not a continuation.
        if call.name != name {
            call.name.push_str(name);
        }
        match &function["arguments"] {
            Value::String(s) => call.arguments.push_str(s),
            Value::Null => {}
            // Some servers send the arguments as an object rather than a JSON string.
            other => call.arguments.push_str(&other.to_string()),
        }
    }

    /// The call a tool-call entry continues, or a new one. With an index: the call of that
    /// index, unless the entry names another id (a server that reuses an index for the next
    /// call). Without: the last call, unless the entry starts another (an id the last call
    /// does not have, or a name without an id).
    fn slot_for(&mut self, index: Option<u64>, id: Option<&str>, name: &str) -> usize {
        let found = match index {
            Some(index) => self.calls.iter().rposition(|c| c.index == Some(index)).filter(
                |&slot| !matches!((id, &self.calls[slot].id), (Some(new), Some(old)) if new != old),
            ),
            None => self.calls.len().checked_sub(1).filter(|&slot| match id {
                Some(new) => self.calls[slot].id.as_deref() == Some(new),
                None => name.is_empty(),
            }),
        };
        found.unwrap_or_else(|| {
            self.calls.push(Call {
                index,
                ..Call::default()
            });
            self.calls.len() - 1
        })
    }

    /// Reads one chunk into the assembly.
    fn add_chunk(&mut self, chunk: &Value, on_event: &mut (dyn FnMut(StreamEvent) + Send)) {
        // Azure's first chunk (the prompt filter's) has an empty model.
        if let Some(model) = chunk["model"].as_str().filter(|m| !m.is_empty()) {
            self.model = Some(model.to_string());
        }
        // Groq put the usage under `x_groq` before it sent OpenAI's; it still sends both.
        let usage = [&chunk["usage"], &chunk["x_groq"]["usage"]]
            .into_iter()
            .find(|u| u.is_object());
        if let Some(usage) = usage {
            self.usage = Some(read_usage(usage));
        }
        let mut added = false;
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            // Azure sends late content-filter results as a choice without a delta.
            added |= self.add_delta(&choice["delta"], on_event);
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finish = Some(reason.to_string());
            }
        }
        self.ended_with_usage = usage.is_some() && !added;
    }
}

/// Reads the chunks of one answer. `sent` is the size of the request body, for an estimate of
/// the usage when the server reports none.
async fn read_stream(
    stream: &mut SseStream,
    request: &Request,
    sent: usize,
    on_event: &mut (dyn FnMut(StreamEvent) + Send),
) -> Result<Response, LlmError> {
    let mut state = Assembly::default();
    loop {
        let event = match stream.next().await {
            Some(event) => event?,
            // Some servers close without `[DONE]`. A finish reason, or the usage chunk that
            // comes after everything else, means the answer is whole.
            None if state.finish.is_some() || state.ended_with_usage => break,
            None => {
                return Err(LlmError::StreamCut {
                    provider: PROVIDER,
                    message: "the stream ended before a finish_reason".to_string(),
                });
            }
        };
        // `[DONE]` is the server saying the answer is whole, even where it never sent a
        // finish_reason (OpenRouter's routes do that): asking again would pay for it twice.
        if event.data.trim() == "[DONE]" {
            break;
        }
        let chunk: Value = match serde_json::from_str(&event.data) {
            Ok(chunk) => chunk,
            // A garbled `[DONE]` after the finish and the usage loses nothing; asking again
            // would pay for the answer twice.
            Err(_) if state.finish.is_some() && state.usage.is_some() => {
                tracing::debug!(provider = PROVIDER, "malformed event after a whole answer");
                break;
            }
            Err(e) => {
                return Err(LlmError::Malformed {
                    provider: PROVIDER,
                    message: format!("a chunk is not JSON: {e}"),
                });
            }
        };
        if let Some((kind, message)) = error_fields(&chunk) {
            return Err(LlmError::StreamError {
                provider: PROVIDER,
                kind: kind.unwrap_or_else(|| "error".to_string()),
                message,
            });
        }
        state.add_chunk(&chunk, on_event);
    }
    finish(state, request, sent, on_event)
}

/// OpenAI's usage, with the cache reads as OpenAI (`prompt_tokens_details.cached_tokens`) or
/// DeepSeek (`prompt_cache_hit_tokens`) report them; the larger wins where both come. The
/// output is what `total_tokens` leaves after the prompt where that is more than
/// `completion_tokens`: Gemini's endpoint leaves its thinking out of `completion_tokens` but
/// not out of the total, and bills it as output.
fn read_usage(value: &Value) -> Usage {
    let count = |key: &str| value[key].as_u64().unwrap_or(0);
    let prompt = count("prompt_tokens");
    let cached = [
        &value["prompt_tokens_details"]["cached_tokens"],
        &value["prompt_cache_hit_tokens"],
    ]
    .iter()
    .filter_map(|v| v.as_u64())
    .max()
    .unwrap_or(0)
    .min(prompt);
    Usage {
        input_tokens: prompt - cached,
        output_tokens: count("completion_tokens").max(count("total_tokens").saturating_sub(prompt)),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        // Part of completion_tokens, and billed with them.
        reasoning_tokens: value["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap_or(0),
    }
}

fn finish(
    state: Assembly,
    request: &Request,
    sent: usize,
    on_event: &mut (dyn FnMut(StreamEvent) + Send),
) -> Result<Response, LlmError> {
    let finish = state.finish.unwrap_or_default();
    let mut stop_reason = match finish.as_str() {
        // No finish reason at all: the calls, if any, say why it stopped.
        "" if state.calls.is_empty() => StopReason::EndTurn,
        "" => StopReason::ToolUse,
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::Refusal,
        other => StopReason::Other(other.to_string()),
    };
    let answered = state.text.len()
        + state.reasoning.len()
        + state
            .calls
            .iter()
            .map(|c| c.name.len() + c.arguments.len())
            .sum::<usize>();
    let mut content = Vec::new();
    if state.reasoning_goes_back && !state.reasoning.is_empty() {
        content.push(ContentBlock::Reasoning {
            reasoning: state.reasoning,
        });
    }
    if !state.text.is_empty() {
        content.push(ContentBlock::Text { text: state.text });
    }
    for (n, call) in state.calls.into_iter().enumerate() {
        // llama.cpp may leave the id out; the next request needs one to pair the result.
        let id = call.id.unwrap_or_else(|| format!("call_{n}"));
        match parse_tool_input(&call.arguments) {
            Ok(input) => {
                on_event(StreamEvent::ToolCall {
                    id: id.clone(),
                    name: call.name.clone(),
                });
                let mut block = ContentBlock::tool_use(id, call.name, input);
                if let ContentBlock::ToolUse { extra_content, .. } = &mut block {
                    *extra_content = call.extra_content;
                }
                content.push(block);
            }
            Err(_) if stop_reason == StopReason::MaxTokens => {
                tracing::debug!(provider = PROVIDER, tool = %call.name, "dropped a tool call cut off by max_tokens");
            }
            Err(error) => content.push(ContentBlock::InvalidToolUse {
                id,
                name: call.name,
                input: call.arguments,
                error,
            }),
        }
    }
    // Older Ollama says `stop` even when it called tools.
    if stop_reason == StopReason::EndTurn
        && content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse { .. }))
    {
        stop_reason = StopReason::ToolUse;
    }
    // No usage: the stream ended after the finish but before the usage chunk, or the server
    // does not send one. Estimate it rather than record the call as free.
    let usage_estimated = state.usage.is_none();
    let usage = state.usage.unwrap_or_else(|| {
        tracing::warn!(
            provider = PROVIDER,
            "no usage in the answer; estimating it from its size"
        );
        Usage {
            input_tokens: estimate_tokens(sent),
            output_tokens: estimate_tokens(answered),
            ..Usage::default()
        }
    });
    Ok(Response {
        content,
        stop_reason,
        usage,
        model: state.model.unwrap_or_else(|| request.model.clone()),
        cost_usd: 0.0,
        price_known: false,
        usage_estimated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn endpoints_keep_the_base_urls_query_and_know_azure_by_host_or_deployment_path() {
        let of = |base: &str| {
            Endpoint::of(base)
                .map(|e| (e.url, e.azure))
                .map_err(|e| e.to_string())
        };
        let azure_error = "invalid openai configuration: the base URL is an Azure OpenAI deployment without its API version: end it with ?api-version=2024-10-21 (or the version your resource serves)".to_string();
        assert_eq!(
            [
                of("https://api.openai.com/v1"),
                of("http://localhost:11434/v1/"),
                of("https://res.openai.azure.com/openai/deployments/gpt-41?api-version=2024-10-21"),
                of("https://res.openai.azure.com/openai/v1"),
                of("https://res.cognitiveservices.azure.com/openai/v1/"),
                of("http://127.0.0.1:9/openai/deployments/d/?x=1&api-version=2025-04-01-preview"),
                of("https://res.openai.azure.com/openai/deployments/gpt-41"),
                of("https://res.openai.azure.com/openai/deployments/gpt-41?"),
                of("https://notazure.com.example/v1"),
            ],
            [
                Ok(("https://api.openai.com/v1/chat/completions".to_string(), false)),
                Ok(("http://localhost:11434/v1/chat/completions".to_string(), false)),
                Ok((
                    "https://res.openai.azure.com/openai/deployments/gpt-41/chat/completions?api-version=2024-10-21"
                        .to_string(),
                    true
                )),
                Ok(("https://res.openai.azure.com/openai/v1/chat/completions".to_string(), true)),
                Ok((
                    "https://res.cognitiveservices.azure.com/openai/v1/chat/completions".to_string(),
                    true
                )),
                Ok((
                    "http://127.0.0.1:9/openai/deployments/d/chat/completions?x=1&api-version=2025-04-01-preview"
                        .to_string(),
                    true
                )),
                Err(azure_error.clone()),
                Err(azure_error),
                Ok(("https://notazure.com.example/v1/chat/completions".to_string(), false)),
            ]
        );
    }
}
