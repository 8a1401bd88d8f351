//! The Anthropic provider against servers speaking the Messages streaming protocol.

use crate::common::*;
use git_agent::llm::{
    ContentBlock, LlmError, Message, Price, Provider, ProviderConfig, ProviderKind, Request,
    Response, Role, StopReason, StreamEvent, Thinking, ToolSpec, Usage,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MODEL: &str = "claude-sonnet-4-5-20250929";
const SONNET: Price = Price::new(3.0, 15.0, 3.75, 0.30);

fn ev(name: &str, data: Value) -> String {
    crate::support::sse_event(name, data)
}

fn message_start() -> String {
    ev(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "content": [], "model": MODEL,
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 472, "cache_creation_input_tokens": 1800, "cache_read_input_tokens": 0, "output_tokens": 2}
        }}),
    )
}

fn text_block(index: u32, pieces: &[&str]) -> String {
    let mut s = ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    );
    for p in pieces {
        s += &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}),
        );
    }
    s + &ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    )
}

fn tool_start(index: u32, id: &str, name: &str, fragments: &[&str]) -> String {
    let mut s = ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": index,
               "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
    );
    for f in fragments {
        s += &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": f}}),
        );
    }
    s
}

fn tool_block(index: u32, id: &str, name: &str, fragments: &[&str]) -> String {
    tool_start(index, id, name, fragments)
        + &ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        )
}

fn message_end(stop_reason: &str, output_tokens: u64) -> String {
    ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": output_tokens}}),
    ) + &ev("message_stop", json!({"type": "message_stop"}))
}

fn ping() -> String {
    ev("ping", json!({"type": "ping"}))
}

/// Text with a multi-byte tail, a ping, an event type from the future, and a tool call in
/// three fragments.
pub(crate) fn tool_use_stream() -> String {
    message_start()
        + &ping()
        + &text_block(0, &["Let me ", "look at the fil", "e — héllo 😀"])
        + &ev(
            "content_block_hint",
            json!({"type": "content_block_hint", "index": 0}),
        )
        + &tool_block(
            1,
            "toolu_01",
            "read_file",
            &["{\"pa", "th\": \"src/ma", "in.rs\"}"],
        )
        + &ping()
        + &message_end("tool_use", 87)
}

pub(crate) fn tool_use_response() -> Response {
    let usage = Usage {
        input_tokens: 472,
        output_tokens: 87,
        cache_read_tokens: 0,
        cache_write_tokens: 1800,
        reasoning_tokens: 0,
    };
    Response {
        content: vec![
            ContentBlock::text("Let me look at the file — héllo 😀"),
            ContentBlock::ToolUse {
                id: "toolu_01".to_string(),
                name: "read_file".to_string(),
                input: json!({"path": "src/main.rs"}),
                extra_content: None,
            },
        ],
        stop_reason: StopReason::ToolUse,
        usage,
        model: MODEL.to_string(),
        cost_usd: SONNET.cost(&usage),
        price_known: true,
        usage_estimated: false,
    }
}

pub(crate) fn tool_use_events() -> Vec<StreamEvent> {
    vec![
        text("Let me "),
        text("look at the fil"),
        text("e — héllo 😀"),
        tool("toolu_01", "read_file"),
    ]
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "read_file".to_string(),
            description: "Read a file".to_string(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        },
        ToolSpec {
            name: "run_command".to_string(),
            description: "Run a command".to_string(),
            input_schema: json!({"type": "object", "properties": {"command": {"type": "string"}}}),
        },
    ]
}

/// The middle of a tool loop: two tool calls made, their results returned.
pub(crate) fn loop_request() -> Request {
    Request {
        model: MODEL.to_string(),
        system: "You are git-agent.".to_string(),
        messages: vec![
            Message::user("Fix the failing test"),
            Message::assistant(vec![
                ContentBlock::text("Reading."),
                ContentBlock::ToolUse {
                    id: "toolu_a".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "a.rs"}),
                    extra_content: None,
                },
            ]),
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "toolu_a".to_string(),
                    content: "fn a() {}".to_string(),
                    is_error: false,
                }],
            },
            Message::assistant(vec![ContentBlock::ToolUse {
                id: "toolu_b".to_string(),
                name: "run_command".to_string(),
                input: json!({"command": "cargo test"}),
                extra_content: None,
            }]),
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "toolu_b".to_string(),
                    content: "1 failed".to_string(),
                    is_error: true,
                }],
            },
        ],
        tools: tools(),
        max_tokens: 4096,
        thinking: Thinking::Off,
    }
}

fn loop_request_body() -> Value {
    let eph = json!({"type": "ephemeral"});
    json!({
        "model": MODEL,
        "max_tokens": 4096,
        "stream": true,
        "system": [{"type": "text", "text": "You are git-agent.", "cache_control": eph}],
        "tools": [
            {"name": "read_file", "description": "Read a file",
             "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
            {"name": "run_command", "description": "Run a command",
             "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
             "cache_control": eph},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Fix the failing test"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_a", "name": "read_file", "input": {"path": "a.rs"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "fn a() {}", "cache_control": eph},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_b", "name": "run_command", "input": {"command": "cargo test"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "1 failed", "is_error": true, "cache_control": eph},
            ]},
        ],
    })
}

pub(crate) fn simple_request() -> Request {
    Request {
        model: MODEL.to_string(),
        system: String::new(),
        messages: vec![Message::user("hi")],
        tools: vec![],
        max_tokens: 100,
        thinking: Thinking::Off,
    }
}

fn provider(url: &str, attempts: u32) -> Provider {
    Provider::new(config(ProviderKind::Anthropic, url, attempts)).unwrap()
}

async fn run(provider: &Provider, request: &Request) -> (Result<Response, LlmError>, Events) {
    let mut events = Events::default();
    let result = provider.complete(request, &mut events.sink()).await;
    (result, events)
}

/// The error as text with its hint, after checking the key shows nowhere in it.
fn shown(err: &LlmError) -> (String, Option<String>) {
    let all = format!("{err} {err:?} {:?}", err.hint());
    assert!(!all.contains(KEY), "the key leaked: {all}");
    (err.to_string(), err.hint())
}

#[tokio::test]
async fn streams_text_and_a_tool_call_split_at_odd_places_with_crlf() {
    let server = RawServer::start(vec![Reply::sse(&crlf(&tool_use_stream()), 7)]).await;
    let (result, events) = run(&provider(&server.url, 1), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    assert_eq!(events.events, tool_use_events());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/messages")
    );
    let header = |name: &str| request.headers.get(name).map(String::as_str);
    assert_eq!(
        [
            header("x-api-key"),
            header("anthropic-version"),
            header("content-type"),
            header("accept")
        ],
        [
            Some(KEY),
            Some("2023-06-01"),
            Some("application/json"),
            Some("text/event-stream")
        ]
    );
    assert_eq!(request.body, loop_request_body());
}

#[tokio::test]
async fn cache_breakpoints_stay_at_four_and_move_with_the_newest_turn() {
    let mut request = loop_request();
    for _ in 0..3 {
        request
            .messages
            .push(Message::assistant(vec![ContentBlock::text("more")]));
        request.messages.push(Message::user("again"));
    }
    let body = git_agent::llm::wire::anthropic_body(&request);
    let marked: Vec<String> = [("tools", &body["tools"]), ("system", &body["system"])]
        .into_iter()
        .flat_map(|(what, list)| {
            list.as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(|(_, b)| b.get("cache_control").is_some())
                .map(move |(i, _)| format!("{what}[{i}]"))
        })
        .chain(
            body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .flat_map(|(m, msg)| {
                    msg["content"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.get("cache_control").is_some())
                        .map(move |(i, _)| format!("messages[{m}][{i}]"))
                }),
        )
        .collect();
    assert_eq!(
        marked,
        vec!["tools[1]", "system[0]", "messages[8][0]", "messages[10][0]"]
    );
}

#[tokio::test]
async fn an_empty_tool_input_becomes_an_empty_object() {
    let stream = message_start()
        + &tool_block(0, "toolu_9", "list_files", &[])
        + &message_end("tool_use", 12);
    let server = RawServer::start(vec![Reply::sse(&stream, 64)]).await;
    let (result, events) = run(&provider(&server.url, 1), &simple_request()).await;
    let response = result.unwrap();
    assert_eq!(
        (response.content, events.events),
        (
            vec![ContentBlock::ToolUse {
                id: "toolu_9".to_string(),
                name: "list_files".to_string(),
                input: json!({}),
                extra_content: None,
            }],
            vec![tool("toolu_9", "list_files")]
        )
    );
}

#[tokio::test]
async fn overloaded_529_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(529).set_body_json(
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(tool_use_stream(), "text/event-stream"),
        )
        .mount(&server)
        .await;

    let (result, events) = run(&provider(&server.uri(), 3), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    let mut expected = vec![retrying(
        2,
        "anthropic returned HTTP 529 (overloaded_error): Overloaded",
    )];
    expected.extend(tool_use_events());
    assert_eq!(events.normalized(), expected);
    let received = server.received_requests().await.unwrap();
    let bodies: Vec<Value> = received
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies, vec![loop_request_body(), loop_request_body()]);
}

#[tokio::test]
async fn rate_limits_wait_as_long_as_retry_after_says_up_to_the_cap() {
    let limited =
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}});
    let server = RawServer::start(vec![
        Reply::json(429, &limited).header("retry-after-ms", "30"),
        // One second, more than the test policy's 200 ms cap.
        Reply::json(429, &limited).header("retry-after", "1"),
        Reply::sse(&tool_use_stream(), 100),
    ])
    .await;
    let started = Instant::now();
    let (result, events) = run(&provider(&server.url, 3), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    assert!(
        started.elapsed() >= Duration::from_millis(230),
        "{:?}",
        started.elapsed()
    );
    let reason = "anthropic returned HTTP 429 (rate_limit_error): slow down";
    let mut expected = vec![
        StreamEvent::Retrying {
            attempt: 2,
            wait: Duration::from_millis(30),
            reason: reason.to_string(),
            unreachable: None,
        },
        StreamEvent::Retrying {
            attempt: 3,
            wait: Duration::from_millis(200),
            reason: reason.to_string(),
            unreachable: None,
        },
    ];
    expected.extend(tool_use_events());
    assert_eq!(events.events, expected);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn unauthorized_401_fails_at_once_with_a_hint_and_no_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        ))
        .mount(&server)
        .await;
    let (result, events) = run(&provider(&server.uri(), 5), &simple_request()).await;

    assert_eq!(
        shown(&result.unwrap_err()),
        (
            "anthropic returned HTTP 401 (authentication_error): invalid x-api-key".to_string(),
            Some("set ANTHROPIC_API_KEY to a valid API key".to_string())
        )
    );
    assert_eq!(events.events, vec![]);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]
            .headers
            .get("x-api-key")
            .map(|v| v.to_str().unwrap()),
        Some(KEY)
    );
}

#[tokio::test]
async fn bad_request_400_reports_the_server_message() {
    let message = "max_tokens: 999999 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5-20250929";
    let server = RawServer::start(vec![Reply::json(
        400,
        &json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
    )])
    .await;
    let (result, _) = run(&provider(&server.url, 5), &simple_request()).await;
    assert_eq!(
        shown(&result.unwrap_err()),
        (
            format!("anthropic returned HTTP 400 (invalid_request_error): {message}"),
            None
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn x_should_retry_false_stops_a_retryable_status() {
    let server = RawServer::start(vec![
        Reply::json(
            503,
            &json!({"type": "error", "error": {"type": "api_error", "message": "down"}}),
        )
        .header("x-should-retry", "false"),
    ])
    .await;
    let (result, _) = run(&provider(&server.url, 5), &simple_request()).await;
    assert_eq!(
        shown(&result.unwrap_err()).0,
        "anthropic returned HTTP 503 (api_error): down"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_overloaded_error_event_mid_stream_retries_the_whole_call() {
    let broken = message_start()
        + &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        )
        + &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let"}}),
        )
        + &ev(
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        );
    let server = RawServer::start(vec![
        Reply::sse(&broken, 11),
        Reply::sse(&tool_use_stream(), 11),
    ])
    .await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    let mut expected = vec![
        text("Let"),
        retrying(
            2,
            "anthropic sent an error in the stream (overloaded_error): Overloaded",
        ),
    ];
    expected.extend(tool_use_events());
    assert_eq!(events.normalized(), expected);
}

#[tokio::test]
async fn an_invalid_request_error_event_fails_at_once() {
    let broken = message_start()
        + &ev(
            "error",
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad tool schema"}}),
        );
    let server = RawServer::start(vec![Reply::sse(&broken, 50)]).await;
    let (result, _) = run(&provider(&server.url, 3), &simple_request()).await;
    assert_eq!(
        shown(&result.unwrap_err()),
        (
            "anthropic sent an error in the stream (invalid_request_error): bad tool schema"
                .to_string(),
            None
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stream_cut_inside_a_tool_call_is_retried_and_the_half_call_never_returned() {
    let full = tool_use_stream();
    let cut_at = full.find("src/ma").unwrap() + 3;
    let server = RawServer::start(vec![Reply::sse_cut(&full, cut_at), Reply::sse(&full, 9)]).await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    let mut expected = vec![
        text("Let me "),
        text("look at the fil"),
        text("e — héllo 😀"),
        retrying(2, CUT_REASON),
    ];
    expected.extend(tool_use_events());
    assert_eq!(events.normalized(), expected);
    assert_eq!(server.requests().len(), 2);
}

/// What reqwest reports for a chunked body closed before its last chunk.
const CUT_REASON: &str = "anthropic stream broke off: error decoding response body: error reading a body from connection: unexpected EOF during chunk size line";

#[tokio::test]
async fn a_stream_cut_every_time_gives_up_after_the_attempt_limit() {
    let full = tool_use_stream();
    let cut_at = full.find("src/ma").unwrap();
    let server = RawServer::start(vec![
        Reply::sse_cut(&full, cut_at),
        Reply::sse_cut(&full, cut_at),
    ])
    .await;
    let (result, events) = run(&provider(&server.url, 2), &loop_request()).await;

    assert_eq!(
        shown(&result.unwrap_err()),
        (
            format!("gave up after 2 attempts: {CUT_REASON}"),
            Some("the provider may be overloaded; try again later".to_string())
        )
    );
    assert!(
        !events
            .events
            .iter()
            .any(|e| matches!(e, StreamEvent::ToolCall { .. }))
    );
}

#[tokio::test]
async fn max_tokens_inside_a_tool_call_drops_the_half_call() {
    let stream = message_start()
        + &text_block(0, &["I'll write the file."])
        + &tool_start(
            1,
            "toolu_w",
            "write_file",
            &["{\"path\": \"a.rs\", \"content\": \"fn main() {"],
        )
        + &ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        )
        + &message_end("max_tokens", 4096);
    let server = RawServer::start(vec![Reply::sse(&stream, 5)]).await;
    let (result, events) = run(&provider(&server.url, 3), &simple_request()).await;

    let usage = Usage {
        input_tokens: 472,
        output_tokens: 4096,
        cache_read_tokens: 0,
        cache_write_tokens: 1800,
        reasoning_tokens: 0,
    };
    assert_eq!(
        result.unwrap(),
        Response {
            content: vec![ContentBlock::text("I'll write the file.")],
            stop_reason: StopReason::MaxTokens,
            usage,
            model: MODEL.to_string(),
            cost_usd: SONNET.cost(&usage),
            price_known: true,
            usage_estimated: false,
        }
    );
    assert_eq!(events.events, vec![text("I'll write the file.")]);
}

#[tokio::test]
async fn refusal_and_pause_turn_are_reported_as_stop_reasons() {
    let refusal =
        message_start() + &text_block(0, &["I can't help with that."]) + &message_end("refusal", 9);
    let pause =
        message_start() + &text_block(0, &["Still searching"]) + &message_end("pause_turn", 9);
    let odd = message_start() + &message_end("model_context_window_exceeded", 0);
    let server = RawServer::start(vec![
        Reply::sse(&refusal, 17),
        Reply::sse(&pause, 17),
        Reply::sse(&odd, 17),
    ])
    .await;
    let provider = provider(&server.url, 1);
    let mut reasons = Vec::new();
    for _ in 0..3 {
        reasons.push(
            run(&provider, &simple_request())
                .await
                .0
                .unwrap()
                .stop_reason,
        );
    }
    assert_eq!(
        reasons,
        vec![
            StopReason::Refusal,
            StopReason::PauseTurn,
            StopReason::Other("model_context_window_exceeded".to_string())
        ]
    );
}

#[tokio::test]
async fn an_idle_stream_times_out() {
    let server = RawServer::start(vec![Reply {
        status: 200,
        headers: vec![("content-type", "text/event-stream".to_string())],
        body: Body::Stall {
            pieces: vec![message_start().into_bytes()],
        },
    }])
    .await;
    let mut config = config(ProviderKind::Anthropic, &server.url, 1);
    config.idle_timeout = Duration::from_millis(100);
    let (result, _) = run(&Provider::new(config).unwrap(), &simple_request()).await;
    assert_eq!(
        shown(&result.unwrap_err()).0,
        "anthropic stream timed out after 100ms"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (result, events) = run(&provider(&url, 2), &simple_request()).await;
    let (message, hint) = shown(&result.unwrap_err());
    let prefix = format!("gave up after 2 attempts: cannot reach anthropic at {url}/v1/messages: ");
    assert!(message.starts_with(&prefix), "{message}");
    assert_eq!(
        hint,
        Some(
            "check the network and the provider's base URL (ANTHROPIC_BASE_URL or OPENAI_BASE_URL)"
                .to_string()
        )
    );
    assert_eq!(events.events.len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retried_through_the_unreachable_window_each_retry_numbered() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut config = config(ProviderKind::Anthropic, &url, 2);
    // Waits of 1, 2, 4, 8 and 16 ms fit in 50 ms at full length; a sixth (20 ms) does not.
    config.retry.unreachable_wait = Duration::from_millis(50);
    let (result, events) = run(&Provider::new(config).unwrap(), &simple_request()).await;
    let (message, hint) = shown(&result.unwrap_err());
    let prefix =
        "the model server stayed unreachable for 0s (5 retries): cannot reach anthropic at ";
    assert!(message.starts_with(prefix), "{message}");
    assert!(hint.unwrap().contains("unreachable_wait"));
    let numbered: Vec<(u32, Option<(u32, u32)>)> = events
        .events
        .iter()
        .map(|e| match e {
            StreamEvent::Retrying {
                attempt,
                unreachable,
                ..
            } => (*attempt, *unreachable),
            other => panic!("{other:?}"),
        })
        .collect();
    // Beyond the two attempts of a server that answers: the window decides.
    assert_eq!(
        numbered,
        (1..=5).map(|k| (k + 1, Some((k, 5)))).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_connection_that_never_comes_up_counts_as_unreachable() {
    // A listener whose backlog is full: the kernel drops further SYNs, so a connect hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut filling = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            filling.push(stream);
        }
    }
    let mut config = config(ProviderKind::Anthropic, &format!("http://{addr}"), 1);
    config.connect_timeout = Duration::from_millis(100);
    let (result, _) = run(&Provider::new(config).unwrap(), &simple_request()).await;
    let error = result.unwrap_err();
    assert!(
        error.is_unreachable(),
        "{error} (connections made before: {})",
        filling.len()
    );
}

#[test]
fn a_missing_key_is_reported_before_any_request() {
    let err = Provider::new(ProviderConfig::new(ProviderKind::Anthropic)).unwrap_err();
    assert_eq!(
        (err.to_string(), err.hint()),
        (
            "no API key for anthropic: ANTHROPIC_API_KEY is not set".to_string(),
            Some("set ANTHROPIC_API_KEY, or choose another provider with --provider".to_string())
        )
    );
}

#[test]
fn the_complete_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let provider = provider("http://127.0.0.1:9", 1);
    let request = simple_request();
    let mut sink = |_: StreamEvent| {};
    let future = provider.complete(&request, &mut sink);
    assert_send(&future);
}

/// A corrupted event: the JSON of the data line is cut short.
fn corrupted(name: &str) -> String {
    format!("event: {name}\ndata: {{\"type\": \"{name}\", \"ind\n\n")
}

#[tokio::test]
async fn a_corrupted_event_mid_stream_is_retried_as_a_whole() {
    let full = tool_use_stream();
    let at = full.find("event: content_block_start").unwrap();
    let broken = format!(
        "{}{}{}",
        &full[..at],
        corrupted("content_block_start"),
        &full[at..]
    );
    let server = RawServer::start(vec![Reply::sse(&broken, 13), Reply::sse(&full, 13)]).await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    let mut expected = vec![retrying(
        2,
        "anthropic sent a malformed event: content_block_start is not JSON: EOF while parsing a string at line 1 column 36",
    )];
    expected.extend(tool_use_events());
    assert_eq!(events.normalized(), expected);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_corrupted_message_stop_after_a_whole_answer_is_accepted_without_a_second_call() {
    let full = tool_use_stream();
    let at = full.find("event: message_stop").unwrap();
    let broken = format!("{}{}", &full[..at], corrupted("message_stop"));
    let server = RawServer::start(vec![Reply::sse(&broken, 13)]).await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    assert_eq!(events.events, tool_use_events());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn tool_input_that_is_not_a_json_object_comes_back_as_an_invalid_call() {
    let stream = message_start()
        + &text_block(0, &["Writing."])
        + &tool_block(
            1,
            "toolu_w",
            "write_file",
            &["{\"path\": \"a.rs\", \"content\": \"fn"],
        )
        + &tool_block(2, "toolu_s", "read_file", &["\"a.rs\""])
        + &tool_block(3, "toolu_r", "read_file", &["{\"path\": \"a.rs\"}"])
        + &message_end("tool_use", 40);
    let server = RawServer::start(vec![Reply::sse(&stream, 9)]).await;
    let (result, events) = run(&provider(&server.url, 3), &simple_request()).await;

    let usage = Usage {
        input_tokens: 472,
        output_tokens: 40,
        cache_read_tokens: 0,
        cache_write_tokens: 1800,
        reasoning_tokens: 0,
    };
    assert_eq!(
        result.unwrap(),
        Response {
            content: vec![
                ContentBlock::text("Writing."),
                ContentBlock::InvalidToolUse {
                    id: "toolu_w".to_string(),
                    name: "write_file".to_string(),
                    input: "{\"path\": \"a.rs\", \"content\": \"fn".to_string(),
                    error: "not valid JSON (EOF while parsing a string at line 1 column 31)"
                        .to_string(),
                },
                ContentBlock::InvalidToolUse {
                    id: "toolu_s".to_string(),
                    name: "read_file".to_string(),
                    input: "\"a.rs\"".to_string(),
                    error: "a string, not a JSON object".to_string(),
                },
                ContentBlock::ToolUse {
                    id: "toolu_r".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "a.rs"}),
                    extra_content: None,
                },
            ],
            stop_reason: StopReason::ToolUse,
            usage,
            model: MODEL.to_string(),
            cost_usd: SONNET.cost(&usage),
            price_known: true,
            usage_estimated: false,
        }
    );
    assert_eq!(
        events.events,
        // A call is announced once its input is whole JSON; the cut-off one never was.
        vec![
            text("Writing."),
            tool("toolu_s", "read_file"),
            tool("toolu_r", "read_file")
        ]
    );
}

#[test]
fn an_invalid_call_goes_back_on_the_wire_with_an_empty_object_input() {
    let mut request = simple_request();
    request
        .messages
        .push(Message::assistant(vec![ContentBlock::InvalidToolUse {
            id: "toolu_w".to_string(),
            name: "write_file".to_string(),
            input: "{\"path\"".to_string(),
            error: "not valid JSON".to_string(),
        }]));
    let body = git_agent::llm::wire::anthropic_body(&request);
    assert_eq!(
        body["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "toolu_w", "name": "write_file", "input": {}})
    );
}

#[tokio::test]
async fn a_prompt_too_long_fails_at_once_with_a_hint() {
    let server = RawServer::start(vec![Reply::json(
        400,
        &json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": "prompt is too long: 210417 tokens > 200000 maximum"}}),
    )])
    .await;
    let (result, _) = run(&provider(&server.url, 3), &simple_request()).await;
    assert_eq!(
        shown(&result.unwrap_err()),
        (
            "anthropic returned HTTP 400 (invalid_request_error): prompt is too long: 210417 tokens > 200000 maximum".to_string(),
            Some("the conversation is longer than the model's context window: set context_window to the window the server really has, choose a model with a larger one (--model), or make the plan's steps smaller".to_string())
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_server_that_stays_overloaded_gives_up_with_a_hint() {
    let overloaded = || {
        Reply::json(
            529,
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        )
    };
    let server = RawServer::start(vec![overloaded(), overloaded()]).await;
    let (result, _) = run(&provider(&server.url, 2), &simple_request()).await;
    assert_eq!(
        shown(&result.unwrap_err()),
        (
            "gave up after 2 attempts: anthropic returned HTTP 529 (overloaded_error): Overloaded".to_string(),
            Some("the provider stayed overloaded or unavailable through every retry; wait a few minutes, then resume".to_string())
        )
    );
}

#[tokio::test]
async fn a_key_too_short_to_be_a_key_masks_nothing() {
    let server = RawServer::start(vec![Reply::json(
        400,
        &json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": "max_tokens: 491 tokens is more than the 400 allowed for key k"}}),
    )])
    .await;
    let mut config = config(ProviderKind::Anthropic, &server.url, 1);
    config.api_key = Some(git_agent::llm::ApiKey::new("k"));
    let (result, _) = run(&Provider::new(config).unwrap(), &simple_request()).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "anthropic returned HTTP 400 (invalid_request_error): max_tokens: 491 tokens is more than the 400 allowed for key k"
    );
}

/// A proxy that ignores `"stream": true` answers with the whole `message` object. It is the
/// same answer: read once, with its usage, never retried as a cut stream.
#[tokio::test]
async fn a_json_message_answering_a_streaming_request_is_read_once() {
    let message = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": MODEL,
        "content": [
            {"type": "text", "text": "Let me look at the file — héllo 😀"},
            {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "src/main.rs"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 472, "output_tokens": 87, "cache_creation_input_tokens": 1800,
                  "cache_read_input_tokens": 0}
    });
    let server =
        RawServer::start(vec![Reply::json(200, &message), Reply::json(200, &message)]).await;
    let (result, events) = run(&provider(&server.url, 3), &loop_request()).await;

    assert_eq!(result.unwrap(), tool_use_response());
    assert_eq!(
        events.events,
        vec![
            text("Let me look at the file — héllo 😀"),
            tool("toolu_01", "read_file")
        ]
    );
    assert_eq!(server.requests().len(), 1, "a whole answer was asked again");
}
