//! The OpenAI-compatible provider against servers speaking Chat Completions streaming the
//! way OpenAI, Ollama, llama.cpp and OpenRouter each do.

use crate::common::*;
use git_agent::llm::{
    ContentBlock, LlmError, Message, Price, Provider, ProviderConfig, ProviderKind, Request,
    Response, Role, StopReason, StreamEvent, Thinking, ToolSpec, Usage,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const GPT4O: Price = Price::new(2.50, 10.0, 0.0, 1.25);

fn data(value: Value) -> String {
    format!("data: {value}\n\n")
}

/// A chunk with one choice.
fn chunk(model: &str, delta: Value, finish: Value) -> String {
    data(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
    )
}

fn usage_chunk(model: &str, usage: Value) -> String {
    data(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [], "usage": usage}),
    )
}

const DONE: &str = "data: [DONE]\n\n";

/// Text, then two tool calls whose argument fragments interleave by index.
fn openai_stream() -> String {
    let m = "gpt-4o-2024-08-06";
    let call = |v: Value| chunk(m, json!({"tool_calls": [v]}), Value::Null);
    chunk(m, json!({"role": "assistant", "content": ""}), Value::Null)
        + &chunk(m, json!({"content": "Checking "}), Value::Null)
        + &chunk(m, json!({"content": "both — ✓"}), Value::Null)
        + &call(
            json!({"index": 0, "id": "call_abc", "type": "function", "function": {"name": "read_file", "arguments": ""}}),
        )
        + &call(json!({"index": 0, "function": {"arguments": "{\"path\":"}}))
        + &call(
            json!({"index": 1, "id": "call_def", "type": "function", "function": {"name": "search", "arguments": "{\"pattern\""}}),
        )
        + &call(json!({"index": 0, "function": {"arguments": " \"a.rs\"}"}}))
        + &call(json!({"index": 1, "function": {"arguments": ": \"fn main\"}"}}))
        + &chunk(m, json!({}), json!("tool_calls"))
        + &usage_chunk(
            m,
            json!({"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                   "prompt_tokens_details": {"cached_tokens": 1024}}),
        )
        + DONE
}

fn openai_response() -> Response {
    let usage = Usage {
        input_tokens: 176,
        output_tokens: 40,
        cache_read_tokens: 1024,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    };
    Response {
        content: vec![
            ContentBlock::text("Checking both — ✓"),
            ContentBlock::ToolUse {
                id: "call_abc".to_string(),
                name: "read_file".to_string(),
                input: json!({"path": "a.rs"}),
                extra_content: None,
            },
            ContentBlock::ToolUse {
                id: "call_def".to_string(),
                name: "search".to_string(),
                input: json!({"pattern": "fn main"}),
                extra_content: None,
            },
        ],
        stop_reason: StopReason::ToolUse,
        usage,
        model: "gpt-4o-2024-08-06".to_string(),
        cost_usd: GPT4O.cost(&usage),
        price_known: true,
        usage_estimated: false,
    }
}

fn openai_events() -> Vec<StreamEvent> {
    vec![
        text("Checking "),
        text("both — ✓"),
        tool("call_abc", "read_file"),
        tool("call_def", "search"),
    ]
}

fn loop_request(model: &str) -> Request {
    Request {
        model: model.to_string(),
        system: "You are git-agent.".to_string(),
        messages: vec![
            Message::user("Fix the failing test"),
            Message::assistant(vec![
                ContentBlock::text("Reading."),
                ContentBlock::ToolUse {
                    id: "call_a".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "a.rs"}),
                    extra_content: None,
                },
            ]),
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "call_a".to_string(),
                    content: "fn a() {}".to_string(),
                    is_error: false,
                }],
            },
            Message::assistant(vec![ContentBlock::ToolUse {
                id: "call_b".to_string(),
                name: "run_command".to_string(),
                input: json!({"command": "cargo test"}),
                extra_content: None,
            }]),
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::ToolResult {
                        tool_use_id: "call_b".to_string(),
                        content: "1 failed".to_string(),
                        is_error: true,
                    },
                    ContentBlock::text("Keep going."),
                ],
            },
        ],
        tools: vec![ToolSpec {
            name: "read_file".to_string(),
            description: "Read a file".to_string(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        max_tokens: 4096,
        thinking: Thinking::Off,
    }
}

fn loop_request_body(model: &str, max_field: &str) -> Value {
    let mut body = json!({
        "model": model,
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "You are git-agent."},
            {"role": "user", "content": "Fix the failing test"},
            {"role": "assistant", "content": "Reading.", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "fn a() {}"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_b", "type": "function", "function": {"name": "run_command", "arguments": "{\"command\":\"cargo test\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_b", "content": "Error: 1 failed"},
            {"role": "user", "content": "Keep going."},
        ],
        "tools": [{"type": "function", "function": {
            "name": "read_file", "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        }}],
    });
    body[max_field] = json!(4096);
    body
}

fn simple_request(model: &str) -> Request {
    Request {
        model: model.to_string(),
        system: String::new(),
        messages: vec![Message::user("hi")],
        tools: vec![],
        max_tokens: 100,
        thinking: Thinking::Off,
    }
}

fn provider(url: &str, attempts: u32) -> Provider {
    Provider::new(config(ProviderKind::Openai, &format!("{url}/v1"), attempts)).unwrap()
}

/// A provider for a local server: no key.
fn keyless(url: &str) -> Provider {
    let mut config = config(ProviderKind::Openai, &format!("{url}/v1"), 1);
    config.api_key = None;
    Provider::new(config).unwrap()
}

async fn run(provider: &Provider, request: &Request) -> (Result<Response, LlmError>, Events) {
    let mut events = Events::default();
    let result = provider.complete(request, &mut events.sink()).await;
    (result, events)
}

fn shown(err: &LlmError) -> (String, Option<String>) {
    let all = format!("{err} {err:?} {:?}", err.hint());
    assert!(!all.contains(KEY), "the key leaked: {all}");
    (err.to_string(), err.hint())
}

#[tokio::test]
async fn openai_streams_text_and_tool_calls_accumulated_by_index() {
    let server = RawServer::start(vec![Reply::sse(&openai_stream(), 5)]).await;
    let (result, events) = run(&provider(&server.url, 1), &loop_request("gpt-4o")).await;

    assert_eq!(result.unwrap(), openai_response());
    assert_eq!(events.events, openai_events());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (
            request.path.as_str(),
            request.headers.get("authorization").map(String::as_str)
        ),
        ("/v1/chat/completions", Some("Bearer sk-test-secret-4242"))
    );
    assert_eq!(request.body, loop_request_body("gpt-4o", "max_tokens"));
}

#[test]
fn reasoning_models_get_max_completion_tokens() {
    assert_eq!(
        git_agent::llm::wire::openai_body(&loop_request("o4-mini")),
        loop_request_body("o4-mini", "max_completion_tokens")
    );
}

#[tokio::test]
async fn ollama_whole_tool_calls_in_one_delta_without_index_or_key() {
    let m = "qwen2.5-coder:7b";
    let stream = chunk(
        m,
        json!({"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_k2", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"README.md\"}"}},
            {"id": "call_k3", "type": "function", "function": {"name": "list_files", "arguments": "{}"}},
        ]}),
        Value::Null,
    ) + &chunk(
        m,
        json!({"role": "assistant", "content": ""}),
        json!("stop"),
    ) + &usage_chunk(
        m,
        json!({"prompt_tokens": 310, "completion_tokens": 25, "total_tokens": 335}),
    ) + DONE;
    let server = RawServer::start(vec![Reply::sse(&stream, 64)]).await;
    let (result, events) = run(&keyless(&server.url), &simple_request(m)).await;

    assert_eq!(
        result.unwrap(),
        Response {
            content: vec![
                ContentBlock::ToolUse {
                    id: "call_k2".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "README.md"}),
                    extra_content: None,
                },
                ContentBlock::ToolUse {
                    id: "call_k3".to_string(),
                    name: "list_files".to_string(),
                    input: json!({}),
                    extra_content: None,
                },
            ],
            stop_reason: StopReason::ToolUse,
            usage: Usage {
                input_tokens: 310,
                output_tokens: 25,
                ..Usage::default()
            },
            model: m.to_string(),
            cost_usd: 0.0,
            price_known: false,
            usage_estimated: false,
        }
    );
    assert_eq!(
        events.events,
        vec![tool("call_k2", "read_file"), tool("call_k3", "list_files")]
    );
    assert_eq!(server.requests()[0].headers.get("authorization"), None);
}

#[tokio::test]
async fn llama_cpp_ids_without_prefix_and_missing_ids_with_crlf() {
    let m = "gpt-3.5-turbo";
    let call = |v: Value| chunk(m, json!({"tool_calls": [v]}), Value::Null);
    let stream = chunk(
        m,
        json!({"role": "assistant", "content": null}),
        Value::Null,
    ) + &call(
        json!({"index": 0, "id": "Qx7aTzS1", "type": "function", "function": {"name": "search", "arguments": ""}}),
    ) + &call(json!({"index": 0, "function": {"arguments": "{\"pattern\":"}}))
        + &call(json!({"index": 0, "function": {"arguments": "\"todo\"}"}}))
        + &call(
            json!({"index": 1, "type": "function", "function": {"name": "list_files", "arguments": "{}"}}),
        )
        + &chunk(m, json!({}), json!("tool_calls"))
        + &usage_chunk(
            m,
            json!({"completion_tokens": 30, "prompt_tokens": 200, "total_tokens": 230}),
        )
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&crlf(&stream), 3)]).await;
    let (result, events) = run(&keyless(&server.url), &simple_request("local")).await;
    let response = result.unwrap();
    assert_eq!(
        (response.content, response.stop_reason),
        (
            vec![
                ContentBlock::ToolUse {
                    id: "Qx7aTzS1".to_string(),
                    name: "search".to_string(),
                    input: json!({"pattern": "todo"}),
                    extra_content: None,
                },
                ContentBlock::ToolUse {
                    id: "call_1".to_string(),
                    name: "list_files".to_string(),
                    input: json!({}),
                    extra_content: None,
                },
            ],
            StopReason::ToolUse
        )
    );
    assert_eq!(
        events.events,
        vec![tool("Qx7aTzS1", "search"), tool("call_1", "list_files")]
    );
}

#[tokio::test]
async fn openrouter_comment_lines_are_skipped_and_a_502_error_chunk_is_retried() {
    let m = "anthropic/claude-sonnet-4";
    let processing = ": OPENROUTER PROCESSING\n\n";
    let failed = processing.to_string()
        + &chunk(
            m,
            json!({"role": "assistant", "content": "Hal"}),
            Value::Null,
        )
        + &data(
            json!({"id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": m,
                       "provider": "Anthropic", "error": {"code": 502, "message": "Provider returned error"},
                       "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}),
        );
    let good = processing.repeat(3)
        + &chunk(
            m,
            json!({"role": "assistant", "content": "Hello"}),
            Value::Null,
        )
        + processing
        + &chunk(m, json!({}), json!("stop"))
        + &usage_chunk(
            m,
            json!({"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}),
        )
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&failed, 8), Reply::sse(&good, 8)]).await;
    let (result, events) = run(&provider(&server.url, 3), &simple_request(m)).await;

    let usage = Usage {
        input_tokens: 1000,
        output_tokens: 100,
        ..Usage::default()
    };
    assert_eq!(
        result.unwrap(),
        Response {
            content: vec![ContentBlock::text("Hello")],
            stop_reason: StopReason::EndTurn,
            usage,
            model: m.to_string(),
            cost_usd: Price::new(3.0, 15.0, 3.75, 0.30).cost(&usage),
            price_known: true,
            usage_estimated: false,
        }
    );
    assert_eq!(
        events.normalized(),
        vec![
            text("Hal"),
            retrying(
                2,
                "openai sent an error in the stream (502): Provider returned error"
            ),
            text("Hello"),
        ]
    );
}

#[tokio::test]
async fn insufficient_quota_fails_at_once_with_a_billing_hint() {
    let server = RawServer::start(vec![Reply::json(
        429,
        &json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                          "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
    )])
    .await;
    let (result, _) = run(&provider(&server.url, 5), &simple_request("gpt-4o")).await;
    assert_eq!(
        shown(&result.unwrap_err()),
        (
            "openai returned HTTP 429 (insufficient_quota): You exceeded your current quota, please check your plan and billing details.".to_string(),
            Some("the account is out of quota or credit: check the plan and billing details".to_string())
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_401_that_echoes_the_key_is_redacted() {
    let server = RawServer::start(vec![Reply::json(
        401,
        &json!({"error": {"message": format!("Incorrect API key provided: {KEY}."),
                          "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    )])
    .await;
    let (result, _) = run(&provider(&server.url, 5), &simple_request("gpt-4o")).await;
    assert_eq!(
        shown(&result.unwrap_err()),
        (
            "openai returned HTTP 401 (invalid_api_key): Incorrect API key provided: ***."
                .to_string(),
            Some("set OPENAI_API_KEY to a valid API key".to_string())
        )
    );
}

#[tokio::test]
async fn an_ollama_404_for_a_missing_model() {
    let server = RawServer::start(vec![Reply::json(
        404,
        &json!({"error": {"message": "model \"llama9\" not found, try pulling it first", "type": "api_error", "param": null, "code": null}}),
    )])
    .await;
    let (result, _) = run(&keyless(&server.url), &simple_request("llama9")).await;
    assert_eq!(
        shown(&result.unwrap_err()),
        (
            "openai returned HTTP 404 (api_error): model \"llama9\" not found, try pulling it first".to_string(),
            Some("check the model name (--model) and OPENAI_BASE_URL".to_string())
        )
    );
}

#[tokio::test]
async fn length_inside_a_tool_call_drops_the_half_call() {
    let m = "gpt-4.1";
    let stream = chunk(m, json!({"content": "Writing."}), Value::Null)
        + &chunk(
            m,
            json!({"tool_calls": [{"index": 0, "id": "call_w", "type": "function",
                                   "function": {"name": "write_file", "arguments": "{\"path\": \"a.rs\", \"content\": \"fn"}}]}),
            Value::Null,
        )
        + &chunk(m, json!({}), json!("length"))
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&stream, 10)]).await;
    let (result, events) = run(&provider(&server.url, 3), &simple_request(m)).await;
    // No usage chunk came: the usage is estimated from the request and all that was
    // generated, the dropped half call included.
    let sent = serde_json::to_vec(&git_agent::llm::wire::openai_body(&simple_request(m)))
        .unwrap()
        .len();
    let generated =
        "Writing.".len() + "write_file".len() + "{\"path\": \"a.rs\", \"content\": \"fn".len();
    let usage = Usage {
        input_tokens: sent.div_ceil(3) as u64,
        output_tokens: generated.div_ceil(3) as u64,
        ..Usage::default()
    };
    assert_eq!(
        result.unwrap(),
        Response {
            content: vec![ContentBlock::text("Writing.")],
            stop_reason: StopReason::MaxTokens,
            usage,
            model: m.to_string(),
            cost_usd: Price::new(2.0, 8.0, 0.0, 0.50).cost(&usage),
            price_known: true,
            usage_estimated: true,
        }
    );
    assert_eq!(events.events, vec![text("Writing.")]);
}

#[tokio::test]
async fn a_stream_cut_before_the_finish_is_retried_as_a_whole() {
    let full = openai_stream();
    let cut_at = full.find("fn main").unwrap();
    let server = RawServer::start(vec![Reply::sse_cut(&full, cut_at), Reply::sse(&full, 21)]).await;
    let (result, events) = run(&provider(&server.url, 2), &loop_request("gpt-4o")).await;

    assert_eq!(result.unwrap(), openai_response());
    let mut expected = vec![
        text("Checking "),
        text("both — ✓"),
        retrying(
            2,
            "openai stream broke off: error decoding response body: error reading a body from connection: unexpected EOF during chunk size line",
        ),
    ];
    expected.extend(openai_events());
    assert_eq!(events.normalized(), expected);
    let bodies: Vec<Value> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(
        bodies,
        vec![
            loop_request_body("gpt-4o", "max_tokens"),
            loop_request_body("gpt-4o", "max_tokens")
        ]
    );
}

#[test]
fn the_openai_endpoint_needs_a_key_but_a_local_server_does_not() {
    let err = Provider::new(ProviderConfig::new(ProviderKind::Openai)).unwrap_err();
    let mut local = ProviderConfig::new(ProviderKind::Openai);
    local.base_url = Some("http://localhost:11434/v1".to_string());
    assert_eq!(
        (
            err.to_string(),
            err.hint(),
            Provider::new(local).map(|p| p.name().to_string()).ok()
        ),
        (
            "no API key for openai: OPENAI_API_KEY is not set".to_string(),
            Some("set OPENAI_API_KEY, or choose another provider with --provider".to_string()),
            Some("openai".to_string())
        )
    );
}

#[tokio::test]
async fn a_stream_cut_after_the_finish_before_the_usage_is_estimated_never_free() {
    let full = openai_stream();
    let usage_at = full.find("data: {\"choices\":[],").unwrap();
    // The finish chunk arrives, then the connection closes cleanly: no usage, no [DONE].
    let server = RawServer::start(vec![Reply::sse(&full[..usage_at], 21)]).await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request("gpt-4o")).await;

    let response = result.unwrap();
    let expected = openai_response();
    assert_eq!(
        (&response.content, &response.stop_reason, events.events),
        (&expected.content, &expected.stop_reason, openai_events())
    );
    // Estimated from the request and the answer, and marked so.
    let request_bytes = serde_json::to_vec(&loop_request_body("gpt-4o", "max_tokens"))
        .unwrap()
        .len() as u64;
    assert_eq!(
        (response.usage, response.usage_estimated),
        (
            Usage {
                input_tokens: request_bytes.div_ceil(3),
                output_tokens: ("Checking both — ✓".len()
                    + "read_file{\"path\": \"a.rs\"}".len()
                    + "search{\"pattern\": \"fn main\"}".len())
                .div_ceil(3) as u64,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                reasoning_tokens: 0,
            },
            true
        )
    );
    assert!(response.cost_usd > 0.0 && response.price_known);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_corrupted_chunk_mid_stream_is_retried_as_a_whole() {
    let full = openai_stream();
    let at = full.find("data: {").unwrap() + 200;
    let at = full[at..].find("data: ").unwrap() + at;
    let broken = format!(
        "{}data: {{\"id\": \"chatcmpl-1\", \"choi\n\n{}",
        &full[..at],
        &full[at..]
    );
    let server = RawServer::start(vec![Reply::sse(&broken, 17), Reply::sse(&full, 17)]).await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request("gpt-4o")).await;

    assert_eq!(result.unwrap(), openai_response());
    let retries: Vec<StreamEvent> = events
        .normalized()
        .into_iter()
        .filter(|e| matches!(e, StreamEvent::Retrying { .. }))
        .collect();
    assert_eq!(
        retries,
        vec![retrying(
            2,
            "openai sent a malformed event: a chunk is not JSON: EOF while parsing a string at line 1 column 26"
        )]
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_corrupted_done_after_a_whole_answer_is_accepted_without_a_second_call() {
    let full = openai_stream();
    let broken = format!("{}data: [DON\u{fffd}\n\n", &full[..full.len() - DONE.len()]);
    let server = RawServer::start(vec![Reply::sse(&broken, 17)]).await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request("gpt-4o")).await;

    assert_eq!(result.unwrap(), openai_response());
    assert_eq!(events.events, openai_events());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn tool_arguments_that_are_not_a_json_object_come_back_as_invalid_calls() {
    let m = "gpt-4.1";
    let stream = chunk(
        m,
        json!({"tool_calls": [
            {"index": 0, "id": "call_w", "type": "function", "function": {"name": "write_file", "arguments": "{\"path\": \"a.rs\", \"content\": \"fn"}},
            {"index": 1, "id": "call_s", "type": "function", "function": {"name": "read_file", "arguments": "[\"a.rs\"]"}},
        ]}),
        Value::Null,
    ) + &chunk(m, json!({}), json!("tool_calls"))
        + &usage_chunk(
            m,
            json!({"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}),
        )
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&stream, 10)]).await;
    let (result, _) = run(&provider(&server.url, 3), &simple_request(m)).await;
    assert_eq!(
        result.unwrap().content,
        vec![
            ContentBlock::InvalidToolUse {
                id: "call_w".to_string(),
                name: "write_file".to_string(),
                input: "{\"path\": \"a.rs\", \"content\": \"fn".to_string(),
                error: "not valid JSON (EOF while parsing a string at line 1 column 31)"
                    .to_string(),
            },
            ContentBlock::InvalidToolUse {
                id: "call_s".to_string(),
                name: "read_file".to_string(),
                input: "[\"a.rs\"]".to_string(),
                error: "an array, not a JSON object".to_string(),
            },
        ]
    );
    let mut request = simple_request(m);
    request
        .messages
        .push(Message::assistant(vec![ContentBlock::InvalidToolUse {
            id: "call_w".to_string(),
            name: "write_file".to_string(),
            input: "{\"path\"".to_string(),
            error: "not valid JSON".to_string(),
        }]));
    assert_eq!(
        git_agent::llm::wire::openai_body(&request)["messages"][1]["tool_calls"][0],
        json!({"id": "call_w", "type": "function", "function": {"name": "write_file", "arguments": "{}"}})
    );
}

#[tokio::test]
async fn context_length_exceeded_fails_at_once_with_a_hint() {
    let server = RawServer::start(vec![Reply::json(
        400,
        &json!({"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens.",
                          "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
    )])
    .await;
    let (result, _) = run(&provider(&server.url, 3), &simple_request("gpt-4o")).await;
    let (_, hint) = shown(&result.unwrap_err());
    assert_eq!(
        hint,
        Some("the conversation is longer than the model's context window: set context_window to the window the server really has, choose a model with a larger one (--model), or make the plan's steps smaller".to_string())
    );
    assert_eq!(server.requests().len(), 1);
}

/// A message of `git agent say` rides on the user message that carries tool results: the
/// results go first as tool messages, then the texts as one user message, a blank line apart.
#[test]
fn text_after_tool_results_follows_them_as_one_user_message() {
    let mut request = simple_request("gpt-4o");
    request.messages = vec![
        Message::user("step context"),
        Message::assistant(vec![ContentBlock::ToolUse {
            id: "call_1".to_string(),
            name: "read_file".to_string(),
            input: json!({"path": "a"}),
            extra_content: None,
        }]),
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult {
                    tool_use_id: "call_1".to_string(),
                    content: "1 a".to_string(),
                    is_error: false,
                },
                ContentBlock::text("first"),
                ContentBlock::text("second"),
            ],
        },
    ];
    let body = git_agent::llm::wire::openai_body(&request);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages[2..],
        [
            json!({"role": "tool", "tool_call_id": "call_1", "content": "1 a"}),
            json!({"role": "user", "content": "first\n\nsecond"}),
        ]
    );
}

/// OpenRouter's stream of a tool call as recorded from a real route: the id and the whole name
/// repeated in every delta, `finish_reason` null throughout, the usage chunk, `[DONE]`. The
/// answer is whole: one paid call, its usage exact, the name as sent.
#[tokio::test]
async fn a_router_stream_without_finish_reason_and_with_repeated_names_is_one_whole_call() {
    let m = "anthropic/claude-sonnet-4";
    let call = |args: &str| {
        chunk(
            m,
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "toolu_vrtx_01", "type": "function",
                   "function": {"name": "llm_version", "arguments": args}}]}),
            Value::Null,
        )
    };
    let stream = ": OPENROUTER PROCESSING\n\n".to_string()
        + &chunk(m, json!({"role": "assistant", "content": ""}), Value::Null)
        + &call("")
        + &call("{\"verbose\"")
        + &call(": true}")
        + &usage_chunk(
            m,
            json!({"prompt_tokens": 812, "completion_tokens": 37, "total_tokens": 849}),
        )
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&stream, 11), Reply::sse(&stream, 11)]).await;
    let (result, events) = run(&provider(&server.url, 3), &simple_request(m)).await;

    let usage = Usage {
        input_tokens: 812,
        output_tokens: 37,
        ..Usage::default()
    };
    assert_eq!(
        result.unwrap(),
        Response {
            content: vec![ContentBlock::ToolUse {
                id: "toolu_vrtx_01".to_string(),
                name: "llm_version".to_string(),
                input: json!({"verbose": true}),
                extra_content: None,
            }],
            stop_reason: StopReason::ToolUse,
            usage,
            model: m.to_string(),
            cost_usd: Price::new(3.0, 15.0, 3.75, 0.30).cost(&usage),
            price_known: true,
            usage_estimated: false,
        }
    );
    assert_eq!(
        events.normalized(),
        vec![tool("toolu_vrtx_01", "llm_version")]
    );
    assert_eq!(server.requests().len(), 1, "a whole answer was asked again");
}

/// A stream of text with no finish_reason and no `[DONE]`, closed cleanly after the usage
/// chunk (the last thing a server sends): whole, not cut.
#[tokio::test]
async fn a_stream_closed_after_its_usage_without_done_or_finish_is_whole() {
    let m = "gpt-4o-2024-08-06";
    let stream = chunk(
        m,
        json!({"role": "assistant", "content": "Done."}),
        Value::Null,
    ) + &usage_chunk(m, json!({"prompt_tokens": 100, "completion_tokens": 2}));
    let server = RawServer::start(vec![Reply::sse(&stream, 7), Reply::sse(&stream, 7)]).await;
    let (result, _) = run(&provider(&server.url, 3), &simple_request("gpt-4o")).await;
    let response = result.unwrap();
    assert_eq!(
        (
            response.content,
            response.stop_reason,
            response.usage,
            response.usage_estimated
        ),
        (
            vec![ContentBlock::text("Done.")],
            StopReason::EndTurn,
            Usage {
                input_tokens: 100,
                output_tokens: 2,
                ..Usage::default()
            },
            false
        )
    );
    assert_eq!(server.requests().len(), 1);
}

/// A server or proxy that ignores `"stream": true` answers with one `chat.completion` object.
/// It is read as the answer it is (text, parallel calls without an index, exact usage): one
/// paid call, never retried as a cut stream.
#[tokio::test]
async fn a_json_answer_to_a_streaming_request_is_read_once_with_its_usage() {
    let m = "gpt-4o-2024-08-06";
    let answer = json!({
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": m,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Reading both.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"b.rs\"}"}}
            ]}}],
        "usage": {"prompt_tokens": 1500, "completion_tokens": 60, "total_tokens": 1560,
                  "prompt_tokens_details": {"cached_tokens": 1024}}
    });
    let server = RawServer::start(vec![Reply::json(200, &answer), Reply::json(200, &answer)]).await;
    let (result, events) = run(&provider(&server.url, 3), &simple_request("gpt-4o")).await;

    let usage = Usage {
        input_tokens: 476,
        output_tokens: 60,
        cache_read_tokens: 1024,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    };
    assert_eq!(
        result.unwrap(),
        Response {
            content: vec![
                ContentBlock::text("Reading both."),
                ContentBlock::ToolUse {
                    id: "call_1".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "a.rs"}),
                    extra_content: None,
                },
                ContentBlock::ToolUse {
                    id: "call_2".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "b.rs"}),
                    extra_content: None,
                },
            ],
            stop_reason: StopReason::ToolUse,
            usage,
            model: m.to_string(),
            cost_usd: GPT4O.cost(&usage),
            price_known: true,
            usage_estimated: false,
        }
    );
    assert_eq!(
        events.normalized(),
        vec![
            text("Reading both."),
            tool("call_1", "read_file"),
            tool("call_2", "read_file")
        ]
    );
    assert_eq!(server.requests().len(), 1, "a whole answer was asked again");
}

/// An error object in a 200 JSON body is the server's error, said as such.
#[tokio::test]
async fn a_json_error_body_with_status_200_is_the_servers_error() {
    let body =
        json!({"error": {"message": "model is overloaded", "type": "server_error", "code": 503}});
    let server = RawServer::start(vec![Reply::json(200, &body)]).await;
    let (result, _) = run(&provider(&server.url, 1), &simple_request("gpt-4o")).await;
    let (message, _) = shown(&result.unwrap_err());
    assert!(message.contains("model is overloaded"), "{message}");
}

/// xAI-style streams carry the usage so far in every chunk: usage alone does not make a
/// stream whole, so one cut before its finish is asked again.
#[tokio::test]
async fn a_stream_with_usage_in_every_chunk_cut_before_its_finish_is_asked_again() {
    let m = "grok-code-fast-1";
    let piece = |content: &str, finish: Value, completion: u64| {
        data(
            json!({"id": "x1", "object": "chat.completion.chunk", "created": 1, "model": m,
                   "choices": [{"index": 0, "delta": {"content": content, "role": "assistant"}, "finish_reason": finish}],
                   "usage": {"prompt_tokens": 300, "completion_tokens": completion, "total_tokens": 300 + completion}}),
        )
    };
    let whole = piece("All", Value::Null, 1)
        + &piece(" green.", Value::Null, 3)
        + &piece("", json!("stop"), 3)
        + DONE;
    let cut = piece("All", Value::Null, 1);
    let server = RawServer::start(vec![Reply::sse(&cut, 7), Reply::sse(&whole, 7)]).await;
    let (result, events) = run(&provider(&server.url, 3), &simple_request(m)).await;
    let response = result.unwrap();
    assert_eq!(
        (response.content, response.usage, server.requests().len()),
        (
            vec![ContentBlock::text("All green.")],
            Usage {
                input_tokens: 300,
                output_tokens: 3,
                ..Usage::default()
            },
            2
        )
    );
    assert_eq!(
        events.normalized(),
        vec![
            text("All"),
            retrying(
                2,
                "openai stream broke off: the stream ended before a finish_reason"
            ),
            text("All"),
            text(" green."),
        ]
    );
}

/// What a reasoning model thought is not its answer (kept as reasoning, for the next request)
/// but it was generated: with no usage in the stream, the estimate counts it.
#[tokio::test]
async fn reasoning_without_usage_is_kept_out_of_the_text_and_counted_in_the_estimate() {
    let m = "deepseek-reasoner";
    let stream = chunk(
        m,
        json!({"role": "assistant", "content": null, "reasoning_content": "The user wants a greeting."}),
        Value::Null,
    ) + &chunk(
        m,
        json!({"content": "Hello!", "reasoning_content": null}),
        Value::Null,
    ) + &chunk(m, json!({"content": ""}), json!("stop"))
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&stream, 9)]).await;
    let (result, events) = run(&keyless(&server.url), &simple_request(m)).await;
    let sent = serde_json::to_vec(&git_agent::llm::wire::openai_body(&simple_request(m)))
        .unwrap()
        .len();
    let response = result.unwrap();
    assert_eq!(response.text(), "Hello!");
    assert_eq!(
        (response.content, response.usage, response.usage_estimated),
        (
            vec![
                ContentBlock::Reasoning {
                    reasoning: "The user wants a greeting.".to_string()
                },
                ContentBlock::text("Hello!")
            ],
            Usage {
                input_tokens: sent.div_ceil(3) as u64,
                output_tokens: ("The user wants a greeting.".len() + "Hello!".len()).div_ceil(3)
                    as u64,
                ..Usage::default()
            },
            true
        )
    );
    assert_eq!(events.events, vec![text("Hello!")]);
}

/// A server that reuses an index for the next call, with a new id, starts a new call rather
/// than gluing two argument objects together.
#[tokio::test]
async fn a_new_id_at_a_used_index_is_a_new_call() {
    let m = "some-proxy-model";
    let call = |v: Value| chunk(m, json!({"tool_calls": [v]}), Value::Null);
    let stream = call(
        json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}}),
    ) + &call(
        json!({"index": 0, "id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":"}}),
    ) + &call(json!({"index": 0, "function": {"arguments": "\"b.rs\"}"}}))
        + &chunk(m, json!({}), json!("tool_calls"))
        + &usage_chunk(m, json!({"prompt_tokens": 50, "completion_tokens": 20}))
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&stream, 16)]).await;
    let (result, _) = run(&keyless(&server.url), &simple_request(m)).await;
    assert_eq!(
        result.unwrap().content,
        vec![
            ContentBlock::ToolUse {
                id: "call_1".to_string(),
                name: "read_file".to_string(),
                input: json!({"path": "a.rs"}),
                extra_content: None,
            },
            ContentBlock::ToolUse {
                id: "call_2".to_string(),
                name: "read_file".to_string(),
                input: json!({"path": "b.rs"}),
                extra_content: None,
            },
        ]
    );
}

/// DeepSeek's older answers report cache hits only as `prompt_cache_hit_tokens`.
#[tokio::test]
async fn deepseek_cache_hits_without_cached_tokens_are_cache_reads() {
    let m = "deepseek-chat";
    let stream = chunk(
        m,
        json!({"role": "assistant", "content": "Ok."}),
        Value::Null,
    ) + &chunk(m, json!({"content": ""}), json!("stop"))
        + &usage_chunk(
            m,
            json!({"prompt_tokens": 1000, "completion_tokens": 5, "total_tokens": 1005,
                   "prompt_cache_hit_tokens": 768, "prompt_cache_miss_tokens": 232}),
        )
        + DONE;
    let server = RawServer::start(vec![Reply::sse(&stream, 16)]).await;
    let (result, _) = run(&provider(&server.url, 1), &simple_request(m)).await;
    assert_eq!(
        result.unwrap().usage,
        Usage {
            input_tokens: 232,
            output_tokens: 5,
            cache_read_tokens: 768,
            ..Usage::default()
        }
    );
}
