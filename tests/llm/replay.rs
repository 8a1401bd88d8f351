//! The replay provider and the recorder.

use crate::anthropic::{simple_request, tool_use_events, tool_use_response, tool_use_stream};
use crate::common::*;
use git_agent::llm::{
    ContentBlock, LlmError, Provider, ProviderConfig, ProviderKind, Request, Response, StopReason,
    StreamEvent, Usage,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use std::path::{Path, PathBuf};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replay/example.jsonl")
}

fn replay(file: &Path) -> Result<Provider, LlmError> {
    let mut config = ProviderConfig::new(ProviderKind::Replay);
    config.replay_file = Some(file.to_path_buf());
    Provider::new(config)
}

async fn run(
    provider: &Provider,
    request: &Request,
) -> (Result<Response, LlmError>, Vec<StreamEvent>) {
    let mut events = Events::default();
    let result = provider.complete(request, &mut events.sink()).await;
    (result, events.events)
}

#[tokio::test]
async fn plays_the_example_in_order_with_events_then_runs_out() {
    let provider = replay(&example()).unwrap();
    let request = simple_request();
    let mut calls = Vec::new();
    for _ in 0..4 {
        let (result, events) = run(&provider, &request).await;
        let response = result.unwrap();
        let names: Vec<String> = response
            .tool_calls()
            .map(|(_, n, _)| n.to_string())
            .collect();
        calls.push((response.stop_reason, names, events));
    }
    assert_eq!(
        calls,
        vec![
            (
                StopReason::ToolUse,
                vec!["submit_plan".to_string()],
                vec![
                    text("The goal is small; one step will do."),
                    tool("toolu_01", "submit_plan")
                ]
            ),
            (
                StopReason::ToolUse,
                vec!["read_file".to_string()],
                vec![tool("toolu_02", "read_file")]
            ),
            (
                StopReason::ToolUse,
                vec!["edit_file".to_string()],
                vec![text("I'll add the option."), tool("toolu_03", "edit_file")]
            ),
            (
                StopReason::ToolUse,
                vec!["finish_step".to_string()],
                vec![tool("toolu_04", "finish_step")]
            ),
        ]
    );
    let err = run(&provider, &request).await.0.unwrap_err();
    assert_eq!(
        (err.to_string(), err.is_retryable()),
        (
            format!(
                "the recording {} ran out: it holds 4 responses and call 5 asked for one more",
                example().display()
            ),
            false
        )
    );
}

#[tokio::test]
async fn a_replayed_call_is_priced_like_a_live_one() {
    let provider = replay(&example()).unwrap();
    let response = run(&provider, &simple_request()).await.0.unwrap();
    let usage = Usage {
        input_tokens: 1830,
        output_tokens: 212,
        cache_read_tokens: 0,
        cache_write_tokens: 1650,
        reasoning_tokens: 0,
    };
    assert_eq!(
        (
            response.usage,
            response.model.as_str(),
            response.price_known,
            response.cost_usd
        ),
        (
            usage,
            "claude-sonnet-4-5-20250929",
            true,
            git_agent::llm::Price::new(3.0, 15.0, 3.75, 0.30).cost(&usage)
        )
    );
}

#[test]
fn a_malformed_recording_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "# comment\n{\"model\":\"m\",\"stop_reason\":\"end_turn\",\"content\":[]}\n\n{\"model\":\"m\",\"stop_reason\":\"end_turn\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\"}]}\n",
    )
    .unwrap();
    let err = replay(&file).unwrap_err();
    assert_eq!(
        (err.to_string(), err.hint()),
        (
            format!("{}:4: missing field `name` (column 78)", file.display()),
            Some("see fixtures/replay/README.md for the format".to_string())
        )
    );
}

#[test]
fn a_missing_recording_is_a_clear_error() {
    let err = replay(Path::new("/nonexistent/session.jsonl")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read the replay file /nonexistent/session.jsonl: No such file or directory (os error 2)"
    );
    let err = Provider::new(ProviderConfig::new(ProviderKind::Replay)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid replay configuration: no recording given (--replay-file)"
    );
}

#[tokio::test]
async fn the_recorder_writes_what_replay_plays_back() {
    let text_only = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Done.\"}}\n\n\
        event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let server = RawServer::start(vec![
        Reply::sse(&tool_use_stream(), 50),
        Reply::sse(text_only, 50),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.jsonl");
    let mut live_config = config(ProviderKind::Anthropic, &server.url, 1);
    live_config.record_file = Some(file.clone());
    let live = Provider::new(live_config).unwrap();

    let request = crate::anthropic::loop_request();
    let (first, _) = run(&live, &request).await;
    let (second, _) = run(&live, &simple_request()).await;
    let live_responses = vec![first.unwrap(), second.unwrap()];
    assert_eq!(live_responses[0], tool_use_response());

    let recorded =
        git_agent::llm::parse_recording(&file, &std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        recorded.iter().map(|r| r.note.clone()).collect::<Vec<_>>(),
        vec![
            Some("5 messages, 2 tools; last: tool error for toolu_b".to_string()),
            Some("1 messages, 0 tools; last: text \"hi\"".to_string()),
        ]
    );

    let replayed = replay(&file).unwrap();
    let (first, first_events) = run(&replayed, &request).await;
    let (second, second_events) = run(&replayed, &simple_request()).await;
    assert_eq!(vec![first.unwrap(), second.unwrap()], live_responses);
    // Replay sends each text block as one delta.
    let mut expected_events = vec![text("Let me look at the file — héllo 😀")];
    expected_events.extend(
        tool_use_events()
            .into_iter()
            .filter(|e| matches!(e, StreamEvent::ToolCall { .. })),
    );
    assert_eq!(
        (first_events, second_events),
        (expected_events, vec![text("Done.")])
    );
    assert_eq!(live_responses[1].content, vec![ContentBlock::text("Done.")]);
}

/// A recording keeps what the model thought, with secrets masked; the signature stays. It
/// replays as it was recorded.
#[tokio::test]
async fn the_recorder_masks_secrets_in_what_the_model_thought() {
    let key = "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let event =
        |data: serde_json::Value| crate::support::sse_event(data["type"].as_str().unwrap(), &data);
    let stream = [
        json!({"type": "message_start", "message": {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": format!("The .env file says ANTHROPIC_API_KEY={key}.")}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCkYI+/=="}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 30}}),
        json!({"type": "message_stop"}),
    ]
    .map(event)
    .concat();
    let server = RawServer::start(vec![Reply::sse(&stream, 50)]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.jsonl");
    let mut live_config = config(ProviderKind::Anthropic, &server.url, 1);
    live_config.record_file = Some(file.clone());
    let (live, _) = run(&Provider::new(live_config).unwrap(), &simple_request()).await;
    // The conversation itself keeps the block as the provider signed it.
    assert_eq!(
        live.unwrap().content,
        vec![ContentBlock::Thinking {
            thinking: format!("The .env file says ANTHROPIC_API_KEY={key}."),
            signature: "EqQBCkYI+/==".to_string(),
        }]
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(!written.contains(key), "{written}");
    let (replayed, _) = run(&replay(&file).unwrap(), &simple_request()).await;
    assert_eq!(
        replayed.unwrap().content,
        vec![ContentBlock::Thinking {
            thinking: "The .env file says ANTHROPIC_API_KEY=***.".to_string(),
            signature: "EqQBCkYI+/==".to_string(),
        }]
    );
}

/// Reasoning a Chat Completions server sent is masked in a recording like Anthropic's
/// thinking, and a call's `extra_content` (Gemini's thought signature) is kept whole.
#[tokio::test]
async fn the_recorder_masks_reasoning_content_and_keeps_extra_content() {
    let key = "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let extra = json!({"google": {"thought_signature": "CiQBjz1r"}});
    let chunks = [
        json!({"model": "deepseek-v4-flash", "choices": [{"index": 0, "delta": {"content": null, "reasoning_content": format!("The .env file says ANTHROPIC_API_KEY={key}.")}}]}),
        json!({"model": "deepseek-v4-flash", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "extra_content": extra, "function": {"name": "read_file", "arguments": "{\"path\":\".env\"}"}}]}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 10, "completion_tokens": 30}}),
    ];
    let stream: String = chunks
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .chain(["data: [DONE]\n\n".to_string()])
        .collect();
    let server = RawServer::start(vec![Reply::sse(&stream, 50)]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.jsonl");
    let mut live_config = config(ProviderKind::Openai, &server.url, 1);
    live_config.record_file = Some(file.clone());
    let (live, _) = run(&Provider::new(live_config).unwrap(), &simple_request()).await;
    let call = ContentBlock::ToolUse {
        id: "call_1".to_string(),
        name: "read_file".to_string(),
        input: json!({"path": ".env"}),
        extra_content: Some(extra),
    };
    assert_eq!(
        live.unwrap().content,
        vec![
            ContentBlock::Reasoning {
                reasoning: format!("The .env file says ANTHROPIC_API_KEY={key}."),
            },
            call.clone(),
        ]
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(!written.contains(key), "{written}");
    let (replayed, _) = run(&replay(&file).unwrap(), &simple_request()).await;
    assert_eq!(
        replayed.unwrap().content,
        vec![
            ContentBlock::Reasoning {
                reasoning: "The .env file says ANTHROPIC_API_KEY=***.".to_string(),
            },
            call,
        ]
    );
}
