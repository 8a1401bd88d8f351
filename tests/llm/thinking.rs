//! Thinking and reasoning: Anthropic's thinking blocks round-trip on the wire, the thinking
//! and effort parameters each model takes, OpenAI's `reasoning_effort` and reasoning tokens.
//!
//! The Anthropic streams have the shape of recorded ones: a `thinking` block opened empty
//! with an empty signature, its text in `thinking_delta` pieces, one `signature_delta`, then
//! text and `tool_use` blocks (the streaming example of Anthropic's extended-thinking page;
//! the recorded Claude 3.7 stream in deepnoodle-ai/dive `providers/anthropic/reference.md`),
//! and a `redacted_thinking` block that arrives whole in its `content_block_start`.

use crate::common::*;
use git_agent::llm::{
    ContentBlock, Message, Price, Provider, ProviderKind, Request, Response, Role, StopReason,
    Thinking, ToolSpec, Usage,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const SONNET_45: &str = "claude-sonnet-4-5-20250929";

fn ev(data: Value) -> String {
    let name = data["type"].as_str().unwrap().to_string();
    crate::support::sse_event(&name, data)
}

/// The pieces of thinking text the server streams: quotes, backslashes, newlines, a line
/// separator, accents and an emoji, split inside none of them (the SSE reader's job is
/// tested elsewhere; here the point is what comes back).
const THOUGHTS: [&str; 4] = [
    "The test says \"expected 3, got 4\".",
    " Off by one in C:\\src\\lib.rs?\n\nLet me read",
    " the file first \u{2028}— héllo 😀 </thinking>",
    " and check `len() - 1`.",
];
const SIGNATURE: &str =
    "EqQBCkYIBhgCIkD0bX8+a4/3nJm2aZ0Qp1fK9Vb8rLw4xTzqH2m6N8s5cYd0eR7uJ1kP/vW3oXgE+hM9lQ2tA6yB==";
const REDACTED: &str = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP+kNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pr3fJX2dSdbLGzEMeNT5X=";

fn message_start(model: &str) -> String {
    ev(json!({"type": "message_start", "message": {
        "id": "msg_01Thk", "type": "message", "role": "assistant", "content": [], "model": model,
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 1210, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 6}
    }}))
}

fn thinking_block(index: u32) -> String {
    let mut s = ev(
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    );
    s += &ev(json!({"type": "ping"}));
    for piece in THOUGHTS {
        s += &ev(
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": piece}}),
        );
    }
    s += &ev(
        json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
    );
    s + &ev(json!({"type": "content_block_stop", "index": index}))
}

fn redacted_block(index: u32) -> String {
    ev(
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "redacted_thinking", "data": REDACTED}}),
    ) + &ev(json!({"type": "content_block_stop", "index": index}))
}

fn text_block(index: u32, text: &str) -> String {
    ev(
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    ) + &ev(
        json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
    ) + &ev(json!({"type": "content_block_stop", "index": index}))
}

fn tool_block(index: u32, id: &str, input: &str) -> String {
    let (a, b) = input.split_at(input.len() / 2);
    ev(json!({"type": "content_block_start", "index": index,
              "content_block": {"type": "tool_use", "id": id, "name": "read_file", "input": {}}}))
        + &ev(
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": a}}),
        )
        + &ev(
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": b}}),
        )
        + &ev(json!({"type": "content_block_stop", "index": index}))
}

fn message_end(stop_reason: &str, output_tokens: u64) -> String {
    ev(
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
              "usage": {"output_tokens": output_tokens}}),
    ) + &ev(json!({"type": "message_stop"}))
}

fn read_file_tool() -> ToolSpec {
    ToolSpec {
        name: "read_file".to_string(),
        description: "Read a file".to_string(),
        input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }
}

fn request(model: &str, thinking: Thinking) -> Request {
    Request {
        model: model.to_string(),
        system: "You are git-agent.".to_string(),
        messages: vec![Message::user("Fix the off-by-one")],
        tools: vec![read_file_tool()],
        max_tokens: 4096,
        thinking,
    }
}

/// The request after `first`: its answer, then the tool's result.
fn follow_up(first: &Request, answer: &Response, tool_id: &str) -> Request {
    let mut next = first.clone();
    next.messages
        .push(Message::assistant(answer.content.clone()));
    next.messages.push(Message {
        role: Role::User,
        content: vec![ContentBlock::ToolResult {
            tool_use_id: tool_id.to_string(),
            content: "fn len() {}".to_string(),
            is_error: false,
        }],
    });
    next
}

fn anthropic(url: &str) -> Provider {
    Provider::new(config(ProviderKind::Anthropic, url, 1)).unwrap()
}

/// Thinking, text and a tool call in one answer; the next request of the loop carries the
/// thinking block back as it came: the text of every delta joined, the signature, unchanged.
#[tokio::test]
async fn a_thinking_block_goes_back_byte_equal_in_the_next_request_of_the_tool_loop() {
    let first_answer = message_start(SONNET_45)
        + &thinking_block(0)
        + &text_block(1, "Reading lib.rs.")
        + &tool_block(2, "toolu_01T", r#"{"path": "src/lib.rs"}"#)
        + &message_end("tool_use", 312);
    let second_answer =
        message_start(SONNET_45) + &text_block(0, "Done.") + &message_end("end_turn", 9);
    let server = RawServer::start(vec![
        Reply::sse(&first_answer, 61),
        Reply::sse(&second_answer, 61),
    ])
    .await;
    let provider = anthropic(&server.url);
    let first = request(SONNET_45, Thinking::Medium);
    let mut events = Events::default();
    let answer = provider.complete(&first, &mut events.sink()).await.unwrap();

    let thought: String = THOUGHTS.concat();
    let usage = Usage {
        input_tokens: 1210,
        output_tokens: 312,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    };
    assert_eq!(
        answer,
        Response {
            content: vec![
                ContentBlock::Thinking {
                    thinking: thought.clone(),
                    signature: SIGNATURE.to_string(),
                },
                ContentBlock::text("Reading lib.rs."),
                ContentBlock::ToolUse {
                    id: "toolu_01T".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "src/lib.rs"}),
                    extra_content: None,
                },
            ],
            stop_reason: StopReason::ToolUse,
            usage,
            model: SONNET_45.to_string(),
            // Thinking is billed as output: 312 output tokens at Sonnet's $15.
            cost_usd: Price::new(3.0, 15.0, 3.75, 0.30).cost(&usage),
            price_known: true,
            usage_estimated: false,
        }
    );
    // The display sees the answer's text, never the thinking.
    assert_eq!(
        events.events,
        vec![text("Reading lib.rs."), tool("toolu_01T", "read_file")]
    );

    let next = follow_up(&first, &answer, "toolu_01T");
    provider
        .complete(&next, &mut Events::default().sink())
        .await
        .unwrap();
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    // What the server streamed, taken from the test's own pieces, not from the parser.
    assert_eq!(
        sent[1].body["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": thought, "signature": SIGNATURE})
    );
    let back = &sent[1].body["messages"][1]["content"][0];
    assert_eq!(
        (back["thinking"].as_str(), back["signature"].as_str()),
        (Some(THOUGHTS.concat().as_str()), Some(SIGNATURE))
    );
    // Thinking on both requests, with its budget on top of the answer's tokens, and the
    // header that lets a Claude 4 model think between tool calls.
    for request in &sent {
        assert_eq!(
            (
                &request.body["thinking"],
                &request.body["max_tokens"],
                request.headers.get("anthropic-beta").map(String::as_str)
            ),
            (
                &json!({"type": "enabled", "budget_tokens": 8192}),
                &json!(4096 + 8192),
                Some("interleaved-thinking-2025-05-14")
            )
        );
    }
}

/// Redacted thinking is opaque: it goes back as the same data, in its place among the blocks.
#[tokio::test]
async fn redacted_thinking_goes_back_unchanged_beside_the_thinking_block() {
    let first_answer = message_start(SONNET_45)
        + &thinking_block(0)
        + &redacted_block(1)
        + &tool_block(2, "toolu_01R", r#"{"path": "README.md"}"#)
        + &message_end("tool_use", 420);
    let second_answer =
        message_start(SONNET_45) + &text_block(0, "Done.") + &message_end("end_turn", 9);
    let server = RawServer::start(vec![
        Reply::sse(&crlf(&first_answer), 17),
        Reply::sse(&second_answer, 64),
    ])
    .await;
    let provider = anthropic(&server.url);
    let first = request(SONNET_45, Thinking::High);
    let answer = provider
        .complete(&first, &mut Events::default().sink())
        .await
        .unwrap();
    assert_eq!(
        answer.content,
        vec![
            ContentBlock::Thinking {
                thinking: THOUGHTS.concat(),
                signature: SIGNATURE.to_string(),
            },
            ContentBlock::RedactedThinking {
                data: REDACTED.to_string(),
            },
            ContentBlock::ToolUse {
                id: "toolu_01R".to_string(),
                name: "read_file".to_string(),
                input: json!({"path": "README.md"}),
                extra_content: None,
            },
        ]
    );

    let next = follow_up(&first, &answer, "toolu_01R");
    provider
        .complete(&next, &mut Events::default().sink())
        .await
        .unwrap();
    let sent = server.requests();
    assert_eq!(
        sent[1].body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": THOUGHTS.concat(), "signature": SIGNATURE},
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "tool_use", "id": "toolu_01R", "name": "read_file", "input": {"path": "README.md"}},
        ])
    );
    assert_eq!(
        (&sent[0].body["thinking"], &sent[0].body["max_tokens"]),
        (
            &json!({"type": "enabled", "budget_tokens": 16384}),
            &json!(4096 + 16384)
        )
    );
}

/// A proxy that ignores `"stream": true` sends the whole message: its thinking block is the
/// same block, signature included.
#[tokio::test]
async fn a_whole_json_answer_keeps_its_thinking_and_signature() {
    let message = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": SONNET_45,
        "content": [
            {"type": "thinking", "thinking": THOUGHTS.concat(), "signature": SIGNATURE},
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "text", "text": "Nothing to change."},
        ],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 250}
    });
    let server = RawServer::start(vec![Reply::json(200, &message)]).await;
    let answer = anthropic(&server.url)
        .complete(
            &request(SONNET_45, Thinking::Low),
            &mut Events::default().sink(),
        )
        .await
        .unwrap();
    assert_eq!(
        answer.content,
        vec![
            ContentBlock::Thinking {
                thinking: THOUGHTS.concat(),
                signature: SIGNATURE.to_string(),
            },
            ContentBlock::RedactedThinking {
                data: REDACTED.to_string(),
            },
            ContentBlock::text("Nothing to change."),
        ]
    );
}

/// What each model is sent: a budget (Claude 4.5 and earlier, 3.7 without the interleaving
/// header), adaptive thinking with an effort (4.6 and later, and Claude models newer than the
/// table), nothing for a model that cannot think or when thinking is off.
#[tokio::test]
async fn each_model_gets_the_thinking_control_it_takes() {
    // (model, level, what goes on the wire: thinking, output_config, max_tokens, beta header)
    let interleaved = json!("interleaved-thinking-2025-05-14");
    let cases = [
        (
            "claude-sonnet-4-5",
            Thinking::Low,
            json!([{"type": "enabled", "budget_tokens": 2048}, null, 4096 + 2048, interleaved]),
        ),
        (
            "claude-3-7-sonnet-20250219",
            Thinking::Low,
            json!([{"type": "enabled", "budget_tokens": 2048}, null, 4096 + 2048, null]),
        ),
        (
            "claude-haiku-4-5",
            Thinking::Medium,
            json!([{"type": "enabled", "budget_tokens": 8192}, null, 4096 + 8192, interleaved]),
        ),
        (
            "claude-sonnet-4-6",
            Thinking::Medium,
            json!([{"type": "adaptive"}, {"effort": "medium"}, 4096 + 8192, null]),
        ),
        (
            "claude-opus-4-7",
            Thinking::High,
            json!([{"type": "adaptive"}, {"effort": "high"}, 4096 + 16384, null]),
        ),
        (
            "claude-opus-5",
            Thinking::Low,
            json!([{"type": "adaptive"}, {"effort": "low"}, 4096 + 2048, null]),
        ),
        // Off sends nothing: the adaptive-only models refuse {"type": "disabled"}.
        (
            "claude-opus-4-7",
            Thinking::Off,
            json!([null, null, 4096, null]),
        ),
        (
            "claude-3-5-haiku-20241022",
            Thinking::High,
            json!([null, null, 4096, null]),
        ),
    ];
    let answer = message_start("m") + &text_block(0, "ok") + &message_end("end_turn", 1);
    let server = RawServer::start(cases.iter().map(|_| Reply::sse(&answer, 500)).collect()).await;
    let provider = anthropic(&server.url);
    for (model, thinking, _) in &cases {
        provider
            .complete(&request(model, *thinking), &mut Events::default().sink())
            .await
            .unwrap();
    }
    let sent: Vec<(String, Value)> = server
        .requests()
        .into_iter()
        .map(|r| {
            let beta = r.headers.get("anthropic-beta").cloned();
            let body = r.body;
            (
                body["model"].as_str().unwrap().to_string(),
                json!([
                    body["thinking"],
                    body["output_config"],
                    body["max_tokens"],
                    beta
                ]),
            )
        })
        .collect();
    let expected: Vec<(String, Value)> = cases
        .iter()
        .map(|(model, _, wire)| (model.to_string(), wire.clone()))
        .collect();
    assert_eq!(sent, expected);
}

/// A budget model asked without tools gets its budget and no interleaving header.
#[tokio::test]
async fn without_tools_the_budget_stays_and_the_interleaving_header_goes() {
    let answer = message_start("m") + &text_block(0, "ok") + &message_end("end_turn", 1);
    let server = RawServer::start(vec![Reply::sse(&answer, 500)]).await;
    let mut plain = request("claude-sonnet-4-5", Thinking::Medium);
    plain.tools.clear();
    anthropic(&server.url)
        .complete(&plain, &mut Events::default().sink())
        .await
        .unwrap();
    let sent = &server.requests()[0];
    assert_eq!(
        (&sent.body["thinking"], sent.headers.get("anthropic-beta")),
        (&json!({"type": "enabled", "budget_tokens": 8192}), None)
    );
}

/// Chat Completions has no place for a signed Anthropic thinking block: a conversation that
/// holds one (a recording replayed against another provider) sends the rest without it.
#[test]
fn openai_requests_leave_thinking_blocks_out() {
    let mut request = request("gpt-5", Thinking::Off);
    request.messages.push(Message::assistant(vec![
        ContentBlock::Thinking {
            thinking: "hmm".to_string(),
            signature: SIGNATURE.to_string(),
        },
        ContentBlock::RedactedThinking {
            data: REDACTED.to_string(),
        },
        ContentBlock::text("Hello."),
    ]));
    let body = git_agent::llm::wire::openai_body(&request);
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "content": "Hello."})
    );
}

/// The other way round: a Chat Completions server's unsigned reasoning and what Gemini
/// attached to a call have no place in Anthropic's API, which refuses thinking without a
/// signature and fields it does not know.
#[test]
fn anthropic_requests_leave_chat_completions_reasoning_and_extra_content_out() {
    let mut request = request("claude-sonnet-4-5", Thinking::Off);
    request.messages.push(Message::assistant(vec![
        ContentBlock::Reasoning {
            reasoning: "hmm".to_string(),
        },
        ContentBlock::ToolUse {
            id: "call_1".to_string(),
            name: "read_file".to_string(),
            input: json!({"path": "a"}),
            extra_content: Some(json!({"google": {"thought_signature": "c2ln"}})),
        },
    ]));
    let body = git_agent::llm::wire::anthropic_body(&request);
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "read_file", "input": {"path": "a"}},
        ]})
    );
}

/// `reasoning_effort` goes to OpenAI's reasoning models when thinking is on, with the
/// reasoning's tokens added to `max_completion_tokens`; never when it is off, nor to a model
/// that does not reason (which would refuse the field).
#[test]
fn openai_reasoning_effort_only_when_configured_and_only_to_reasoning_models() {
    let sent = |model: &str, thinking: Thinking| {
        let body = git_agent::llm::wire::openai_body(&request(model, thinking));
        (
            body["reasoning_effort"].clone(),
            body["max_completion_tokens"].clone(),
            body["max_tokens"].clone(),
        )
    };
    assert_eq!(
        [
            sent("gpt-5", Thinking::High),
            sent("o4-mini", Thinking::Low),
            sent("openai/o3", Thinking::Medium),
            sent("gpt-5", Thinking::Off),
            sent("gpt-4.1", Thinking::High),
            sent("o1-mini", Thinking::High),
        ],
        [
            (json!("high"), json!(4096 + 16384), Value::Null),
            (json!("low"), json!(4096 + 2048), Value::Null),
            (json!("medium"), json!(4096 + 8192), Value::Null),
            (Value::Null, json!(4096), Value::Null),
            (Value::Null, Value::Null, json!(4096)),
            (Value::Null, json!(4096), Value::Null),
        ]
    );
}

/// Reasoning tokens are part of `completion_tokens` and billed with them: booked once, as
/// output, and said apart.
#[tokio::test]
async fn openai_reasoning_tokens_are_booked_exactly() {
    let model = "o4-mini-2025-04-16";
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-r", "object": "chat.completion.chunk", "created": 1, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let stream = chunk(json!({"role": "assistant", "content": ""}), Value::Null)
        + &chunk(json!({"content": "The bug is in len()."}), Value::Null)
        + &chunk(json!({}), json!("stop"))
        + &format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-r", "object": "chat.completion.chunk", "created": 1, "model": model,
                   "choices": [], "usage": {
                       "prompt_tokens": 2300, "completion_tokens": 1450, "total_tokens": 3750,
                       "prompt_tokens_details": {"cached_tokens": 1280, "audio_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 1408, "audio_tokens": 0,
                           "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}})
        )
        + "data: [DONE]\n\n";
    let server = RawServer::start(vec![Reply::sse(&stream, 40)]).await;
    let provider = Provider::new(config(
        ProviderKind::Openai,
        &format!("{}/v1", server.url),
        1,
    ))
    .unwrap();
    let answer = provider
        .complete(
            &request(model, Thinking::Medium),
            &mut Events::default().sink(),
        )
        .await
        .unwrap();
    let usage = Usage {
        input_tokens: 2300 - 1280,
        output_tokens: 1450,
        cache_read_tokens: 1280,
        cache_write_tokens: 0,
        reasoning_tokens: 1408,
    };
    // o4-mini: $1.10 in, $4.40 out, $0.275 cached, per million.
    let usd = (1020.0 * 1.10 + 1450.0 * 4.40 + 1280.0 * 0.275) / 1e6;
    assert_eq!(
        (answer.usage, answer.text()),
        (usage, "The bug is in len().".to_string())
    );
    assert!(
        (answer.cost_usd - usd).abs() < 1e-12,
        "{} != {usd}",
        answer.cost_usd
    );
    assert_eq!(
        server.requests()[0].body["reasoning_effort"],
        json!("medium")
    );
}
