//! Tool loops against servers that check what comes back to them. The first request is
//! answered with the server's fixture (`fixtures/chat-completions/<server>.sse`), the second by
//! a judge that refuses it with that server's own 400 when what the server handed out is not
//! on it: DeepSeek's `reasoning_content` on the assistant message that called tools
//! (<https://api-docs.deepseek.com/guides/thinking_mode>, "Tool Calls"), Gemini's thought
//! signature in `extra_content` on the call it came with
//! (<https://ai.google.dev/gemini-api/docs/thought-signatures>). OpenAI hands out nothing, and
//! is sent nothing beyond its own fields.

use crate::common::*;
use crate::servers::{
    GEMINI_SIGNATURE, bearer, call_block, fixture, request, unpriced, usage, with_reasoning,
};
use git_agent::llm::{
    ContentBlock, LlmError, Message, Provider, ProviderKind, Request, Response, Role, StopReason,
    ToolSpec,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// What a server checks in a request: `Err` with its refusal.
type Check = fn(&Value) -> Result<(), Reply>;

/// The two answers of a tool loop and the bodies of the requests the server received.
struct Loop {
    first: Response,
    second: Result<Response, LlmError>,
    bodies: Vec<Value>,
    /// The paths and key headers of the requests.
    requests: Vec<(String, Vec<(String, String)>)>,
}

/// The first request of the loop, with the tools the fixtures call.
fn first_request(model: &str) -> Request {
    let tool = |name: &str| ToolSpec {
        name: name.to_string(),
        description: format!("{name} in the repository"),
        input_schema: json!({"type": "object"}),
    };
    Request {
        tools: vec![tool("search"), tool("read_file"), tool("list_files")],
        ..request(model)
    }
}

/// The loop's next request: the conversation with the answer as it was kept, and a result
/// for each of its calls.
fn next_request(first: &Request, answer: &Response) -> Request {
    let results = answer
        .tool_calls()
        .map(|(id, name, _)| ContentBlock::ToolResult {
            tool_use_id: id.to_string(),
            content: format!("what {name} found"),
            is_error: false,
        })
        .collect();
    let mut next = first.clone();
    next.messages
        .push(Message::assistant(answer.content.clone()));
    next.messages.push(Message {
        role: Role::User,
        content: results,
    });
    next
}

/// Runs a loop of two requests: the server answers the first with `fixture`, and the second
/// with `answer` if `check` passes it, else with the refusal `check` returns.
async fn tool_loop(
    fixture_name: &str,
    base_path: &str,
    model: &str,
    check: Check,
    answer: &str,
) -> Loop {
    let answer = answer.to_string();
    let raw = RawServer::judging(vec![
        Box::new({
            let body = fixture(fixture_name);
            move |_| Reply::sse(&body, 11)
        }),
        Box::new(move |request: &Captured| match check(&request.body) {
            Ok(()) => Reply::sse(&answer, 11),
            Err(refusal) => refusal,
        }),
    ])
    .await;
    let config = config(ProviderKind::Openai, &format!("{}{base_path}", raw.url), 3);
    let provider = Provider::new(config).unwrap();
    let request = first_request(model);
    let mut events = Events::default();
    let first = provider
        .complete(&request, &mut events.sink())
        .await
        .unwrap();
    let next = next_request(&request, &first);
    let second = provider.complete(&next, &mut events.sink()).await;
    let captured = raw.requests();
    Loop {
        first,
        second,
        bodies: captured.iter().map(|r| r.body.clone()).collect(),
        requests: captured
            .into_iter()
            .map(|r| {
                let keys = r
                    .headers
                    .into_iter()
                    .filter(|(name, _)| name == "authorization");
                (r.path, keys.collect())
            })
            .collect(),
    }
}

/// The assistant messages of a request body that called tools.
fn calling_messages(body: &Value) -> Vec<&Value> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
        .collect()
}

/// DeepSeek in thinking mode: an assistant message that called tools must carry its
/// `reasoning_content`, else the request is refused with this 400 (the body as issues
/// `the-open-agent/openagent#2206` and `dataelement/Clawith#570` quote it).
fn deepseek_check(body: &Value) -> Result<(), Reply> {
    if calling_messages(body)
        .iter()
        .all(|m| m["reasoning_content"].is_string())
    {
        return Ok(());
    }
    Err(Reply::json(
        400,
        &json!({"error": {
            "message": "The `reasoning_content` in the thinking mode must be passed back to the API.",
            "type": "invalid_request_error",
            "param": null,
            "code": "invalid_request_error",
        }}),
    ))
}

/// Gemini 3: the first call of each step must carry the thought signature it came with, else
/// this 400 (as `manthanabc/paws#103` quotes Gemini's OpenAI-compatible endpoint).
fn gemini_check(body: &Value) -> Result<(), Reply> {
    let signed =
        |m: &&Value| m["tool_calls"][0]["extra_content"]["google"]["thought_signature"].is_string();
    if calling_messages(body).iter().all(signed) {
        return Ok(());
    }
    Err(Reply::json(
        400,
        &json!([{"error": {
            "code": 400,
            "message": "Function call is missing a thought_signature in functionCall parts. \
                This is required for tools to work correctly, and missing thought_signature may \
                lead to degraded model performance. Additional data, function call \
                `default_api:read_file` , position 2. Please refer to \
                https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
            "status": "INVALID_ARGUMENT",
        }}]),
    ))
}

/// OpenAI validates messages against its schema: a field of another server's is refused.
fn openai_check(body: &Value) -> Result<(), Reply> {
    let unknown = calling_messages(body).into_iter().find_map(|m| {
        let message = m
            .as_object()?
            .keys()
            .find(|k| !["role", "content", "tool_calls"].contains(&k.as_str()));
        let call = m["tool_calls"].as_array()?.iter().find_map(|c| {
            c.as_object()?
                .keys()
                .find(|k| !["id", "type", "function"].contains(&k.as_str()))
        });
        message.or(call).cloned()
    });
    match unknown {
        None => Ok(()),
        Some(field) => Err(Reply::json(
            400,
            &json!({"error": {
                "message": format!("Additional properties are not allowed ('{field}' was unexpected) - 'messages.2'"),
                "type": "invalid_request_error",
                "param": null,
                "code": null,
            }}),
        )),
    }
}

/// DeepSeek's answer to the loop's second request, in the shape of deepseek.sse: thinking,
/// then the text, the usage on the finish chunk.
const DEEPSEEK_ANSWER: &str = r#"data: {"id":"8a0c2f1e-7d3b-4c55-a1e9-2b6f0d4c9e17","object":"chat.completion.chunk","created":1794914160,"model":"deepseek-v4-flash","system_fingerprint":"fp_a26a795594","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Found it."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"8a0c2f1e-7d3b-4c55-a1e9-2b6f0d4c9e17","object":"chat.completion.chunk","created":1794914160,"model":"deepseek-v4-flash","system_fingerprint":"fp_a26a795594","choices":[{"index":0,"delta":{"content":"add is fixed.","reasoning_content":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"8a0c2f1e-7d3b-4c55-a1e9-2b6f0d4c9e17","object":"chat.completion.chunk","created":1794914160,"model":"deepseek-v4-flash","system_fingerprint":"fp_a26a795594","choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":6400,"completion_tokens":20,"total_tokens":6420,"prompt_tokens_details":{"cached_tokens":6144},"completion_tokens_details":{"reasoning_tokens":4},"prompt_cache_hit_tokens":6144,"prompt_cache_miss_tokens":256}}

data: [DONE]

"#;

/// Gemini's answer to the second request, in the shape of gemini.sse.
const GEMINI_ANSWER: &str = r#"data: {"choices":[{"delta":{"content":"Both read.","role":"assistant"},"finish_reason":"stop","index":0}],"created":1794914490,"id":"Yr9lA6nSCd-4aR1QyI3hBx","model":"gemini-3-flash-preview","object":"chat.completion.chunk","usage":{"completion_tokens":5,"prompt_tokens":3100,"total_tokens":3140}}

data: [DONE]

"#;

/// OpenAI's answer to the second request, in the shape of openai.sse.
const OPENAI_ANSWER: &str = r#"data: {"id":"chatcmpl-CgT8a1Xo9LyMcX1bAsE5fZqI2tGn4","object":"chat.completion.chunk","created":1794913060,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[{"index":0,"delta":{"role":"assistant","content":"Both read.","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-CgT8a1Xo9LyMcX1bAsE5fZqI2tGn4","object":"chat.completion.chunk","created":1794913060,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-CgT8a1Xo9LyMcX1bAsE5fZqI2tGn4","object":"chat.completion.chunk","created":1794913060,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[],"usage":{"prompt_tokens":2500,"completion_tokens":4,"total_tokens":2504,"prompt_tokens_details":{"cached_tokens":2304,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}

data: [DONE]

"#;

fn answered(content: Vec<ContentBlock>, response: Response) -> Response {
    Response {
        content,
        stop_reason: StopReason::EndTurn,
        ..response
    }
}

#[tokio::test]
async fn deepseek_gets_its_reasoning_content_back_on_the_message_that_called_tools() {
    let run = tool_loop(
        "deepseek.sse",
        "",
        "deepseek-v4-flash",
        deepseek_check,
        DEEPSEEK_ANSWER,
    )
    .await;
    let thought = "The test expects 5. Check add.";
    let id = "call_00_Vb7nQ2xKp9mR4tL1cZ8wY3sD";
    assert_eq!(
        run.first,
        unpriced(
            vec![
                ContentBlock::Reasoning {
                    reasoning: thought.to_string(),
                },
                call_block(id, "search", json!({"pattern": "fn add", "path": "src"})),
            ],
            with_reasoning(usage(312, 140, 5888), 51),
            "deepseek-v4-flash",
        )
    );
    let second = run.second.unwrap();
    assert_eq!(
        second,
        answered(
            vec![
                ContentBlock::Reasoning {
                    reasoning: "Found it.".to_string(),
                },
                ContentBlock::text("add is fixed."),
            ],
            unpriced(
                vec![],
                with_reasoning(usage(256, 20, 6144), 4),
                "deepseek-v4-flash"
            ),
        )
    );
    assert_eq!(second.text(), "add is fixed.");
    assert_eq!(
        run.bodies[1]["messages"][2],
        json!({
            "role": "assistant",
            "content": null,
            "reasoning_content": thought,
            "tool_calls": [{
                "id": id,
                "type": "function",
                "function": {"name": "search", "arguments": r#"{"path":"src","pattern":"fn add"}"#},
            }],
        })
    );
    assert_eq!(
        run.requests,
        vec![("/chat/completions".to_string(), bearer()); 2]
    );
}

#[tokio::test]
async fn gemini_gets_its_thought_signature_back_on_the_call_it_came_with() {
    let run = tool_loop(
        "gemini.sse",
        "/v1beta/openai",
        "gemini-3-flash-preview",
        gemini_check,
        GEMINI_ANSWER,
    )
    .await;
    let (first, second) = (
        "function-call-15520973411346227380",
        "function-call-15520973411346227381",
    );
    assert_eq!(
        run.first.content[1],
        ContentBlock::ToolUse {
            id: first.to_string(),
            name: "read_file".to_string(),
            input: json!({"path": "src/lib.rs"}),
            extra_content: Some(GEMINI_SIGNATURE.clone()),
        }
    );
    assert_eq!(
        run.second.unwrap(),
        answered(
            vec![ContentBlock::text("Both read.")],
            unpriced(vec![], usage(3100, 40, 0), "gemini-3-flash-preview"),
        )
    );
    // The signature goes back byte for byte on its call, and the call without one gets none.
    assert_eq!(
        run.bodies[1]["messages"][2],
        json!({
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                {
                    "id": first,
                    "type": "function",
                    "function": {"name": "read_file", "arguments": r#"{"path":"src/lib.rs"}"#},
                    "extra_content": *GEMINI_SIGNATURE,
                },
                {
                    "id": second,
                    "type": "function",
                    "function": {"name": "list_files", "arguments": r#"{"path":"tests"}"#},
                },
            ],
        })
    );
    assert_eq!(
        run.requests,
        vec![("/v1beta/openai/chat/completions".to_string(), bearer()); 2]
    );
}

#[tokio::test]
async fn openai_is_sent_nothing_it_did_not_hand_out() {
    let run = tool_loop("openai.sse", "/v1", "gpt-4.1", openai_check, OPENAI_ANSWER).await;
    let second = run.second.unwrap();
    assert_eq!(second.content, vec![ContentBlock::text("Both read.")]);
    assert_eq!(second.usage, usage(196, 4, 2304));
    for body in &run.bodies {
        for message in body["messages"].as_array().unwrap() {
            assert_eq!(message.get("reasoning_content"), None, "{message}");
            for call in message["tool_calls"].as_array().into_iter().flatten() {
                assert_eq!(call.get("extra_content"), None, "{call}");
            }
        }
    }
    assert_eq!(
        run.requests,
        vec![("/v1/chat/completions".to_string(), bearer()); 2]
    );
}
