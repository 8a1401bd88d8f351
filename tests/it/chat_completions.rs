//! The OpenAI-compatible provider configured the way docs/running.md tells users to, through
//! the real binary, against a server on 127.0.0.1 speaking Chat Completions the way Azure
//! OpenAI, Ollama and DeepSeek do: the URL, the key header and the usage git records are
//! checked, and a DeepSeek tool loop whose second request the server refuses unless the
//! reasoning comes back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::sample;
use crate::common::TestEnv;

const KEY: &str = "azure-test-key-0123456789abcdef0123456789abcdef";

/// One request as the server saw it: the request line, the headers (names lower-cased) and
/// the JSON body.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// A Chat Completions server's answer to one request: an event stream, or an error status
/// with its JSON body.
type Answer = Result<String, (u16, Value)>;

/// Chooses the answer to a request from its body.
type Judge = Box<dyn Fn(&Value) -> Answer + Send>;

/// A Chat Completions server that answers the n-th request with the n-th judge's answer (the
/// last judge answers the rest).
struct ChatServer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ChatServer {
    /// A server that answers every request with `body` as an event stream.
    fn start(body: String) -> ChatServer {
        ChatServer::judging(vec![Box::new(move |_| Ok(body.clone()))])
    }

    fn judging(judges: Vec<Judge>) -> ChatServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let books = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().flatten().enumerate() {
                let judge = &judges[n.min(judges.len() - 1)];
                let _ = answer(stream, judge, &books);
            }
        });
        ChatServer { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, judge: &Judge, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut request = vec![0; length];
    reader.read_exact(&mut request)?;
    let body: Value = serde_json::from_slice(&request).unwrap_or(Value::Null);
    let answer = judge(&body);
    seen.lock().unwrap().push(Seen {
        line: line.trim_end().to_string(),
        headers,
        body,
    });
    let (head, body) = match answer {
        Ok(events) => (
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream".to_string(),
            events,
        ),
        Err((status, error)) => (
            format!("HTTP/1.1 {status} Bad Request\r\ncontent-type: application/json"),
            error.to_string(),
        ),
    };
    let mut out = stream;
    write!(
        out,
        "{head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

fn data(value: Value) -> String {
    format!("data: {value}\n\n")
}

/// The plan the server's model submits, as the arguments of a `submit_plan` call.
fn plan_arguments() -> String {
    json!({"objective": "add --shout", "constraints": [], "acceptance_criteria": ["sh test.sh passes"],
           "test_command": "sh test.sh",
           "steps": [{"title": "Add --shout to greet.sh", "detail": "branch on the flag"}]})
    .to_string()
}

/// `submit_plan` as Azure OpenAI streams it: the prompt-filter chunk without a model, content
/// filter results on every choice, the arguments in two pieces, the usage chunk last.
fn azure_stream() -> String {
    let arguments = plan_arguments();
    let (first, rest) = arguments.split_at(arguments.len() / 2);
    let chunk = |delta: Value, finish: Value| {
        data(
            json!({"choices": [{"content_filter_results": {}, "delta": delta, "finish_reason": finish, "index": 0, "logprobs": null}],
                   "created": 1794914300, "id": "chatcmpl-az1", "model": "gpt-4.1-2025-04-14", "object": "chat.completion.chunk",
                   "system_fingerprint": "fp_4c2b7e1f9a", "usage": null}),
        )
    };
    let call = |piece: Value| chunk(json!({"tool_calls": [piece]}), Value::Null);
    data(
        json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
    ) + &chunk(
        json!({"content": "", "refusal": null, "role": "assistant"}),
        Value::Null,
    ) + &call(
        json!({"function": {"arguments": "", "name": "submit_plan"}, "id": "call_az", "index": 0, "type": "function"}),
    ) + &call(json!({"function": {"arguments": first}, "index": 0}))
        + &call(json!({"function": {"arguments": rest}, "index": 0}))
        + &chunk(json!({}), json!("tool_calls"))
        + &data(
            json!({"choices": [], "created": 1794914300, "id": "chatcmpl-az1", "model": "gpt-4.1-2025-04-14",
                        "object": "chat.completion.chunk", "system_fingerprint": "fp_4c2b7e1f9a",
                        "usage": {"completion_tokens": 92, "prompt_tokens": 3300, "prompt_tokens_details": {"cached_tokens": 2048},
                                  "total_tokens": 3392}}),
        )
        + "data: [DONE]\n\n"
}

/// `submit_plan` as Ollama streams it: the whole call in one delta, then the finish, then the
/// usage chunk.
fn ollama_stream() -> String {
    let chunk = |delta: Value, finish: Value| {
        data(
            json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1794913512, "model": "qwen3-coder:30b",
                   "system_fingerprint": "fp_ollama", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    chunk(
        json!({"role": "assistant", "content": "", "tool_calls": [{"id": "call_ol", "index": 0, "type": "function",
               "function": {"name": "submit_plan", "arguments": plan_arguments()}}]}),
        Value::Null,
    ) + &chunk(
        json!({"role": "assistant", "content": ""}),
        json!("tool_calls"),
    ) + &data(
        json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1794913512, "model": "qwen3-coder:30b",
                       "system_fingerprint": "fp_ollama", "choices": [], "usage": {"prompt_tokens": 2950, "completion_tokens": 80, "total_tokens": 3030}}),
    ) + "data: [DONE]\n\n"
}

/// The planner's usage as the plan note holds it: (turns, input, output, cache read, cost).
fn planner_usage(env: &TestEnv, dir: &Path) -> (i64, i64, i64, i64, f64) {
    let task = env.rev(dir, "agent/t");
    let note: toml::Value =
        toml::from_str(&env.git(dir, &["notes", "--ref", "agent/t", "show", &task])).unwrap();
    let usage = &note["planner_usage"];
    let n = |k: &str| usage[k].as_integer().unwrap();
    (
        n("turns"),
        n("input_tokens"),
        n("output_tokens"),
        n("cache_read_tokens"),
        usage["cost_usd"].as_float().unwrap(),
    )
}

/// What a request asked: its request line, the headers that can carry a key, the model.
#[derive(Debug, PartialEq)]
struct Asked {
    line: String,
    keys: Vec<(String, String)>,
    model: Value,
}

fn requests(server: &ChatServer) -> Vec<Asked> {
    server
        .seen()
        .into_iter()
        .map(|seen| Asked {
            line: seen.line,
            keys: seen
                .headers
                .into_iter()
                .filter(|(name, _)| matches!(name.as_str(), "authorization" | "api-key"))
                .collect(),
            model: seen.body["model"].clone(),
        })
        .collect()
}

#[test]
fn azure_openai_from_git_config_takes_its_key_in_api_key_at_the_deployment_url() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let server = ChatServer::start(azure_stream());
    let base = format!(
        "{}/openai/deployments/gpt-41?api-version=2024-10-21",
        server.url
    );
    env.git(&dir, &["config", "agent.provider", "openai"]);
    env.git(&dir, &["config", "agent.openaiBaseUrl", &base]);
    env.git(&dir, &["config", "agent.model", "gpt-41"]);
    let out = env
        .agent_cmd(
            &dir,
            &["start", "--name", "t", "--plan-only", "Add a --shout flag"],
        )
        .env("OPENAI_API_KEY", KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");

    assert_eq!(
        requests(&server),
        vec![Asked {
            line:
                "POST /openai/deployments/gpt-41/chat/completions?api-version=2024-10-21 HTTP/1.1"
                    .to_string(),
            keys: vec![("api-key".to_string(), KEY.to_string())],
            model: json!("gpt-41"),
        }]
    );
    // The usage the server reported, priced as gpt-4.1 ($2 input, $0.50 cached, $8 output).
    let cost = (1252.0 * 2.0 + 2048.0 * 0.50 + 92.0 * 8.0) / 1e6;
    assert_eq!(planner_usage(&env, &dir), (1, 1252, 92, 2048, cost));
    let everything = env.git(&dir, &["log", "--all", "-p", "--notes=agent/*"]);
    assert!(
        !everything.contains(KEY) && !err.contains(KEY),
        "the key leaked"
    );
}

#[test]
fn ollama_from_the_environment_needs_no_key() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let server = ChatServer::start(ollama_stream());
    let out = env
        .agent_cmd(
            &dir,
            &[
                "start",
                "--name",
                "t",
                "--plan-only",
                "--model",
                "qwen3-coder:30b",
                "Add a --shout flag",
            ],
        )
        .env("GIT_AGENT_PROVIDER", "openai")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");

    assert_eq!(
        requests(&server),
        vec![Asked {
            line: "POST /v1/chat/completions HTTP/1.1".to_string(),
            keys: vec![],
            model: json!("qwen3-coder:30b"),
        }]
    );
    // A local model has no price: its tokens are recorded, its cost is nothing, and the run
    // says so before it starts.
    assert_eq!(planner_usage(&env, &dir), (1, 2950, 80, 0, 0.0));
    assert!(
        err.contains(
            "warning: no price is known for the planner and executor model qwen3-coder:30b: its calls are recorded at $0 (unless the server's answers name a model that has one, as Azure's do), so max_cost may not stop this run\n\
             hint: git agent models lists the models with known prices; max_turns and max_tokens bound a run on any model\n"
        ),
        "{err}"
    );
}

/// A DeepSeek chunk of the shape `tests/llm/fixtures/chat-completions/deepseek.sse` records.
fn deepseek_chunk(delta: Value, finish: Value, usage: Value) -> String {
    data(
        json!({"id": "6e1f9a2c-4b7d-4e08-9c3a-5d2f8b1e7a61", "object": "chat.completion.chunk", "created": 1794914155,
               "model": "deepseek-v4-flash", "system_fingerprint": "fp_a26a795594",
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}], "usage": usage}),
    )
}

/// One answer of DeepSeek in thinking mode: its reasoning, then one call, then the usage.
fn deepseek_stream(reasoning: &str, id: &str, name: &str, arguments: &str, usage: Value) -> String {
    deepseek_chunk(
        json!({"role": "assistant", "content": null, "reasoning_content": reasoning}),
        Value::Null,
        Value::Null,
    ) + &deepseek_chunk(
        json!({"tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}}]}),
        Value::Null,
        Value::Null,
    ) + &deepseek_chunk(
        json!({"content": "", "reasoning_content": null}),
        json!("tool_calls"),
        usage,
    ) + "data: [DONE]\n\n"
}

fn deepseek_usage(prompt: u64, cached: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
           "prompt_tokens_details": {"cached_tokens": cached}, "prompt_cache_hit_tokens": cached,
           "prompt_cache_miss_tokens": prompt - cached})
}

/// DeepSeek's thinking mode refuses a request whose assistant message called tools without
/// its `reasoning_content` (https://api-docs.deepseek.com/guides/thinking_mode), with this 400.
fn deepseek_refusal(body: &Value) -> Option<(u16, Value)> {
    let messages = body["messages"].as_array()?;
    let bare = messages.iter().any(|m| {
        m["role"] == "assistant"
            && m["tool_calls"].is_array()
            && !m["reasoning_content"].is_string()
    });
    bare.then(|| {
        (
            400,
            json!({"error": {"message": "The `reasoning_content` in the thinking mode must be passed back to the API.",
                             "type": "invalid_request_error", "param": null, "code": "invalid_request_error"}}),
        )
    })
}

#[test]
fn a_deepseek_planner_reads_a_file_and_plans_in_thinking_mode() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let read = deepseek_stream(
        "Read greet.sh first.",
        "call_00_read",
        "read_file",
        r#"{"path":"greet.sh"}"#,
        deepseek_usage(3000, 2048, 60),
    );
    let submit = deepseek_stream(
        "It echoes its argument.",
        "call_01_plan",
        "submit_plan",
        &plan_arguments(),
        deepseek_usage(3400, 3072, 90),
    );
    let judges: Vec<Judge> = vec![
        Box::new(move |_| Ok(read.clone())),
        Box::new(move |body| deepseek_refusal(body).map_or(Ok(submit.clone()), Err)),
    ];
    let server = ChatServer::judging(judges);
    let out = env
        .agent_cmd(
            &dir,
            &[
                "start",
                "--name",
                "t",
                "--plan-only",
                "--model",
                "deepseek-v4-flash",
                "Add a --shout flag",
            ],
        )
        .env("GIT_AGENT_PROVIDER", "openai")
        .env("OPENAI_BASE_URL", &server.url)
        .env("OPENAI_API_KEY", KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let called: Vec<&Value> = seen[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    assert_eq!(called.len(), 1, "{called:#?}");
    assert_eq!(called[0]["reasoning_content"], "Read greet.sh first.");
    assert_eq!(called[0]["tool_calls"][0]["id"], "call_00_read");
    // Both answers booked exactly: the input the cache did not serve, the output, the cache.
    assert_eq!(
        planner_usage(&env, &dir),
        (2, (3000 - 2048) + (3400 - 3072), 60 + 90, 2048 + 3072, 0.0)
    );
    // Thinking is never shown.
    let shown = String::from_utf8_lossy(&out.stdout) + err;
    assert!(!shown.contains("Read greet.sh first."), "{shown}");
    env.git(&dir, &["fsck", "--strict"]);
}
