//! Every OpenAI-compatible server people run, each answering with a stream of the shape it
//! sends: `tests/llm/fixtures/chat-completions/<server>.sse`, whose header says where the
//! shape comes from. Each test checks the whole parsed turn with its exact usage, the path
//! the server serves, and that a whole answer is asked for once (the server would answer a
//! second request the same way, so a wrong retry shows as a second request).

use crate::common::*;
use git_agent::llm::{
    ContentBlock, Message, Price, Provider, Request, Response, StopReason, StreamEvent, Usage,
};
use pretty_assertions::assert_eq;
use serde_json::json;

/// A fixture's body: the file without its header of `#` lines and the blank line after it.
pub(crate) fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/llm/fixtures/chat-completions/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.split_inclusive('\n');
    let mut header = 0;
    for line in lines.by_ref() {
        header += line.len();
        if !line.starts_with('#') {
            assert_eq!(line, "\n", "{path}: the header ends with a blank line");
            break;
        }
    }
    text[header..].to_string()
}

/// How the test reaches the server: the path of its base URL, and whether a key is sent.
struct Server {
    fixture: &'static str,
    base_path: &'static str,
    keyed: bool,
    /// Bytes per network read, so lines, JSON and UTF-8 are split at odd places.
    piece: usize,
}

/// What one call made of the server's answer.
struct Call {
    response: Response,
    events: Vec<StreamEvent>,
    /// (path, the headers that can carry a key) of every request the server received.
    requests: Vec<(String, Vec<(String, String)>)>,
    /// The size of the request body, for estimated usage.
    sent: usize,
}

pub(crate) fn request(model: &str) -> Request {
    Request {
        model: model.to_string(),
        system: "You are git-agent.".to_string(),
        messages: vec![Message::user("Fix the failing test in src/lib.rs")],
        tools: vec![],
        max_tokens: 4096,
        thinking: git_agent::llm::Thinking::Off,
    }
}

async fn call(server: Server, model: &str) -> Call {
    let body = fixture(server.fixture);
    let raw = RawServer::start(vec![
        Reply::sse(&body, server.piece),
        Reply::sse(&body, server.piece),
    ])
    .await;
    let mut config = config(
        git_agent::llm::ProviderKind::Openai,
        &format!("{}{}", raw.url, server.base_path),
        3,
    );
    if !server.keyed {
        config.api_key = None;
    }
    let provider = Provider::new(config).unwrap();
    let request = request(model);
    let mut events = Events::default();
    let response = provider
        .complete(&request, &mut events.sink())
        .await
        .unwrap();
    let sent = serde_json::to_vec(&git_agent::llm::wire::openai_body(&request))
        .unwrap()
        .len();
    Call {
        response,
        events: events.normalized(),
        requests: raw
            .requests()
            .into_iter()
            .map(|r| {
                let keys = r.headers.into_iter().filter(|(name, _)| {
                    matches!(name.as_str(), "authorization" | "api-key" | "x-api-key")
                });
                (r.path, keys.collect())
            })
            .collect(),
        sent,
    }
}

pub(crate) fn bearer() -> Vec<(String, String)> {
    vec![("authorization".to_string(), format!("Bearer {KEY}"))]
}

pub(crate) fn call_block(id: &str, name: &str, input: serde_json::Value) -> ContentBlock {
    ContentBlock::ToolUse {
        id: id.to_string(),
        name: name.to_string(),
        input,
        extra_content: None,
    }
}

pub(crate) fn usage(input: u64, output: u64, cache_read: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: cache_read,
        ..Usage::default()
    }
}

/// `usage` with the reasoning tokens the server reported among the output tokens.
pub(crate) fn with_reasoning(usage: Usage, reasoning_tokens: u64) -> Usage {
    Usage {
        reasoning_tokens,
        ..usage
    }
}

/// A response of a model the built-in price table does not know: free, and said so.
pub(crate) fn unpriced(content: Vec<ContentBlock>, usage: Usage, model: &str) -> Response {
    Response {
        content,
        stop_reason: StopReason::ToolUse,
        usage,
        model: model.to_string(),
        cost_usd: 0.0,
        price_known: false,
        usage_estimated: false,
    }
}

fn priced(content: Vec<ContentBlock>, usage: Usage, model: &str, price: Price) -> Response {
    Response {
        cost_usd: price.cost(&usage),
        price_known: true,
        ..unpriced(content, usage, model)
    }
}

const GPT41: Price = Price::new(2.0, 8.0, 0.0, 0.50);
const SONNET45: Price = Price::new(3.0, 15.0, 3.75, 0.30);

#[tokio::test]
async fn openai_parallel_calls_interleaved_by_index_and_the_usage_chunk() {
    let server = Server {
        fixture: "openai.sse",
        base_path: "/v1",
        keyed: true,
        piece: 7,
    };
    let call = call(server, "gpt-4.1").await;
    let content = vec![
        ContentBlock::text("I'll read both files."),
        call_block(
            "call_Jm2Qv7rXyZ8cN4pL1kTa9eWs",
            "read_file",
            json!({"path": "src/lib.rs"}),
        ),
        call_block(
            "call_Rt5bH0sMd3fKq9LxV2nYc6Gu",
            "search",
            json!({"pattern": "fn add", "path": "src"}),
        ),
    ];
    assert_eq!(
        call.response,
        priced(content, usage(390, 58, 1920), "gpt-4.1-2025-04-14", GPT41)
    );
    assert_eq!(
        call.events,
        vec![
            text("I'll read"),
            text(" both files."),
            tool("call_Jm2Qv7rXyZ8cN4pL1kTa9eWs", "read_file"),
            tool("call_Rt5bH0sMd3fKq9LxV2nYc6Gu", "search"),
        ]
    );
    assert_eq!(
        call.requests,
        vec![("/v1/chat/completions".to_string(), bearer())]
    );
}

/// OpenRouter names Claude models with dots (`claude-sonnet-4.5`); they are priced as the
/// vendor's `claude-sonnet-4-5`.
#[tokio::test]
async fn openrouter_reasoning_is_not_text_and_the_last_chunk_has_usage_and_an_empty_delta() {
    let server = Server {
        fixture: "openrouter.sse",
        base_path: "/api/v1",
        keyed: true,
        piece: 11,
    };
    let call = call(server, "anthropic/claude-sonnet-4.5").await;
    let content = vec![
        ContentBlock::text("Running the tests first."),
        call_block(
            "toolu_vrtx_01KfQ8mZ3xR7nB2cWvL5sT9d",
            "run_command",
            json!({"command": "cargo test --lib"}),
        ),
    ];
    assert_eq!(
        call.response,
        priced(
            content,
            with_reasoning(usage(220, 212, 3900), 118),
            "anthropic/claude-sonnet-4.5",
            SONNET45
        )
    );
    assert_eq!(
        call.events,
        vec![
            text("Running the tests first."),
            tool("toolu_vrtx_01KfQ8mZ3xR7nB2cWvL5sT9d", "run_command"),
        ]
    );
    assert_eq!(
        call.requests,
        vec![("/api/v1/chat/completions".to_string(), bearer())]
    );
}

#[tokio::test]
async fn ollama_a_whole_call_in_one_delta_reasoning_and_no_key() {
    let server = Server {
        fixture: "ollama.sse",
        base_path: "/v1",
        keyed: false,
        piece: 64,
    };
    let call = call(server, "gpt-oss:20b").await;
    let content = vec![call_block(
        "call_7x2kq0ab",
        "list_files",
        json!({"path": "src"}),
    )];
    assert_eq!(
        call.response,
        unpriced(content, usage(1480, 96, 0), "gpt-oss:20b")
    );
    assert_eq!(call.events, vec![tool("call_7x2kq0ab", "list_files")]);
    assert_eq!(
        call.requests,
        vec![("/v1/chat/completions".to_string(), vec![])]
    );
}

/// llama.cpp's server with `--jinja`: its thinking as `reasoning_content`, kept as reasoning.
#[tokio::test]
async fn llama_cpp_usage_and_timings_on_the_finish_chunk_and_arguments_split_mid_string() {
    let server = Server {
        fixture: "llama-cpp.sse",
        base_path: "/v1",
        keyed: false,
        piece: 3,
    };
    let call = call(server, "local").await;
    let id = "hN9q2cX1mPzL8tR4vB6wY0aK3jD5fG7s";
    // llama.cpp takes `reasoning_content` back on an assistant message as it sends it.
    let content = vec![
        ContentBlock::Reasoning {
            reasoning: "Read the file before editing it.".to_string(),
        },
        call_block(id, "read_file", json!({"path": "src/lib.rs", "limit": 40})),
    ];
    assert_eq!(
        call.response,
        unpriced(content, usage(903, 61, 0), "Qwen3-8B-Q4_K_M.gguf")
    );
    assert_eq!(call.events, vec![tool(id, "read_file")]);
    assert_eq!(
        call.requests,
        vec![("/v1/chat/completions".to_string(), vec![])]
    );
}

#[tokio::test]
async fn vllm_the_rest_of_the_arguments_rides_on_the_finish_chunk() {
    let server = Server {
        fixture: "vllm.sse",
        base_path: "/v1",
        keyed: false,
        piece: 13,
    };
    let call = call(server, "Qwen/Qwen3-Coder-30B-A3B-Instruct").await;
    let id = "chatcmpl-tool-9c1e4b7a2f3d4e58";
    let content = vec![
        ContentBlock::text("Running the tests."),
        call_block(
            id,
            "run_command",
            json!({"command": "cargo test", "timeout_secs": 300}),
        ),
    ];
    assert_eq!(
        call.response,
        unpriced(
            content,
            usage(2048, 63, 0),
            "Qwen/Qwen3-Coder-30B-A3B-Instruct"
        )
    );
    assert_eq!(
        call.events,
        vec![
            text("Running"),
            text(" the tests."),
            tool(id, "run_command")
        ]
    );
}

/// No usage in the stream: estimated from the request and what was generated, never free.
#[tokio::test]
async fn lm_studio_without_usage_is_estimated_and_a_split_escape_joins() {
    let server = Server {
        fixture: "lm-studio.sse",
        base_path: "/v1",
        keyed: false,
        piece: 5,
    };
    let call = call(server, "qwen2.5-7b-instruct").await;
    let arguments =
        r#"{"path":"README.md","old_text":"caf\u00e9 au lait","new_text":"café au lait ☕"}"#;
    let generated = "Fixing the word.".len() + "edit_file".len() + arguments.len();
    let content = vec![
        ContentBlock::text("Fixing the word."),
        call_block(
            "365174485",
            "edit_file",
            json!({"path": "README.md", "old_text": "café au lait", "new_text": "café au lait ☕"}),
        ),
    ];
    let estimate = usage(
        call.sent.div_ceil(3) as u64,
        generated.div_ceil(3) as u64,
        0,
    );
    assert_eq!(
        call.response,
        Response {
            usage_estimated: true,
            ..unpriced(content, estimate, "qwen2.5-7b-instruct")
        }
    );
    assert_eq!(
        call.events,
        vec![text("Fixing the word."), tool("365174485", "edit_file")]
    );
}

#[tokio::test]
async fn groq_usage_only_under_x_groq() {
    let server = Server {
        fixture: "groq.sse",
        base_path: "/openai/v1",
        keyed: true,
        piece: 17,
    };
    let call = call(server, "openai/gpt-oss-120b").await;
    let id = "fc_2b8e41d7-6a0c-4f3e-9b51-c7d0a8e2f613";
    let content = vec![call_block(
        id,
        "search",
        json!({"pattern": "TODO", "path": "src"}),
    )];
    assert_eq!(
        call.response,
        unpriced(content, usage(1650, 88, 0), "openai/gpt-oss-120b")
    );
    assert_eq!(call.events, vec![tool(id, "search")]);
    assert_eq!(
        call.requests,
        vec![("/openai/v1/chat/completions".to_string(), bearer())]
    );
}

/// DeepSeek's thinking comes as `reasoning_content`: kept as reasoning, neither text nor shown.
#[tokio::test]
async fn deepseek_reasoning_content_arguments_a_token_at_a_time_and_cache_hits() {
    let server = Server {
        fixture: "deepseek.sse",
        base_path: "",
        keyed: true,
        piece: 9,
    };
    let call = call(server, "deepseek-v4-flash").await;
    let id = "call_00_Vb7nQ2xKp9mR4tL1cZ8wY3sD";
    let content = vec![
        ContentBlock::Reasoning {
            reasoning: "The test expects 5. Check add.".to_string(),
        },
        call_block(id, "search", json!({"pattern": "fn add", "path": "src"})),
    ];
    assert_eq!(
        call.response,
        unpriced(
            content,
            with_reasoning(usage(312, 140, 5888), 51),
            "deepseek-v4-flash"
        )
    );
    assert_eq!(call.events, vec![tool(id, "search")]);
    assert_eq!(
        call.requests,
        vec![("/chat/completions".to_string(), bearer())]
    );
}

/// The `extra_content` of the first call in gemini.sse, which holds its thought signature.
pub(crate) static GEMINI_SIGNATURE: std::sync::LazyLock<serde_json::Value> =
    std::sync::LazyLock::new(
        || json!({"google": {"thought_signature": "CiQBjz1rX2h0aW5rLXNpZ25hdHVyZS1maXh0dXJlLW9ubHk="}}),
    );

/// Gemini sends parallel calls without an index, says `stop` for an answer that calls tools,
/// and leaves its thinking out of `completion_tokens` but not out of `total_tokens`. Its
/// thought signature stays on the call it came with; the call after it has none.
#[tokio::test]
async fn gemini_indexless_parallel_calls_stop_and_thinking_in_the_total() {
    let server = Server {
        fixture: "gemini.sse",
        base_path: "/v1beta/openai",
        keyed: true,
        piece: 19,
    };
    let call = call(server, "gemini-3-flash-preview").await;
    let (first, second) = (
        "function-call-15520973411346227380",
        "function-call-15520973411346227381",
    );
    let signed = ContentBlock::ToolUse {
        id: first.to_string(),
        name: "read_file".to_string(),
        input: json!({"path": "src/lib.rs"}),
        extra_content: Some(GEMINI_SIGNATURE.clone()),
    };
    let content = vec![
        ContentBlock::text("Checking both."),
        signed,
        call_block(second, "list_files", json!({"path": "tests"})),
    ];
    assert_eq!(
        call.response,
        unpriced(content, usage(2890, 122, 0), "gemini-3-flash-preview")
    );
    assert_eq!(
        call.events,
        vec![
            text("Checking both."),
            tool(first, "read_file"),
            tool(second, "list_files")
        ]
    );
    assert_eq!(
        call.requests,
        vec![("/v1beta/openai/chat/completions".to_string(), bearer())]
    );
}

/// Azure: the deployment URL with its `api-version` as the base URL, the key in `api-key`,
/// a prompt-filter chunk without a model first and a content-filter chunk without a delta
/// after the finish.
#[tokio::test]
async fn azure_deployment_url_api_key_header_and_content_filter_chunks() {
    let server = Server {
        fixture: "azure-openai.sse",
        base_path: "/openai/deployments/gpt-41?api-version=2024-10-21",
        keyed: true,
        piece: 23,
    };
    let call = call(server, "gpt-41").await;
    let id = "call_Xk4mB9qT2vR7nL0pW5sY8cZd";
    let content = vec![
        ContentBlock::text("The test passes now."),
        call_block(
            id,
            "finish_step",
            json!({"summary": "Fix add", "expected_outcome": "cargo test passes", "risks": "none", "next_step": "done"}),
        ),
    ];
    assert_eq!(
        call.response,
        priced(content, usage(536, 75, 4864), "gpt-4.1-2025-04-14", GPT41)
    );
    assert_eq!(
        call.events,
        vec![
            text("The test"),
            text(" passes now."),
            tool(id, "finish_step")
        ]
    );
    assert_eq!(
        call.requests,
        vec![(
            "/openai/deployments/gpt-41/chat/completions?api-version=2024-10-21".to_string(),
            vec![("api-key".to_string(), KEY.to_string())]
        )]
    );
}

/// Azure always takes a key; a deployment URL without its API version is refused before any
/// request.
#[test]
fn azure_needs_a_key_and_a_versioned_deployment_url() {
    let azure = |base: &str, keyed: bool| {
        let mut config = config(git_agent::llm::ProviderKind::Openai, base, 1);
        if !keyed {
            config.api_key = None;
        }
        Provider::new(config).err().map(|e| e.to_string())
    };
    assert_eq!(
        [
            azure("https://res.openai.azure.com/openai/v1", false),
            azure("https://res.openai.azure.com/openai/deployments/gpt-41", true),
            azure("https://res.openai.azure.com/openai/deployments/gpt-41?api-version=2024-10-21", true),
        ],
        [
            Some("no API key for openai: OPENAI_API_KEY is not set".to_string()),
            Some("invalid openai configuration: the base URL is an Azure OpenAI deployment without its API version: end it with ?api-version=2024-10-21 (or the version your resource serves)".to_string()),
            None,
        ]
    );
}
