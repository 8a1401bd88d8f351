//! A fake Anthropic Messages server on 127.0.0.1 that speaks the real SSE wire protocol.
//! Its answers come from a script that looks at the request (planner or executor, which
//! step, how many turns so far), so a killed and resumed run gets the same answers.
//!
//! It keeps the books the way a provider does: every answer it delivered whole is
//! [`Served`], with the tokens it reported, so tests can compare them with what git holds.
//! A faulty answer (an error status, a cut or corrupted stream) is not served.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the model "does": content blocks (Anthropic shape) for a request.
pub type Script = dyn Fn(&Value) -> Vec<Value> + Send + Sync;

/// Which fault, if any, the `n`th request (0-based) gets.
pub type FaultPlan = dyn Fn(usize, &Value) -> Option<&'static str> + Send + Sync;

pub struct FakeModel {
    pub url: String,
    pub requests: Arc<Mutex<Vec<(String, Value)>>>,
    pub faults: Arc<Mutex<Vec<&'static str>>>,
    pub served: Arc<Mutex<Vec<Served>>>,
    /// Holds requests before they are answered, so a test can keep a run going until it
    /// has done what it tests (sent a signal, started a watcher) — no timing involved.
    pub gate: Arc<Gate>,
    /// Connections accepted and not yet done with.
    answering: Arc<AtomicUsize>,
}

/// A gate in front of the fake server's answers: requests it holds wait unanswered until
/// [`Gate::open`]. It holds the requests from the `n`th on ([`Gate::close_from`]) or those a
/// rule picks ([`Gate::close_when`]: a step's first call, in every attempt at once).
#[derive(Default)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

/// Which requests a closed gate holds: (index of the request, 0-based; its body).
type Hold = dyn Fn(usize, &Value) -> bool + Send + Sync;

#[derive(Default)]
struct GateState {
    hold: Option<Arc<Hold>>,
    waiting: usize,
}

impl Gate {
    /// Requests from the `n`th on (0-based) wait until the gate is opened.
    pub fn close_from(&self, n: usize) {
        self.close_when(move |index, _| index >= n);
    }

    /// Requests for which `hold` is true wait until the gate is opened.
    pub fn close_when(&self, hold: impl Fn(usize, &Value) -> bool + Send + Sync + 'static) {
        self.state.lock().unwrap().hold = Some(Arc::new(hold));
        self.changed.notify_all();
    }

    /// Lets every waiting and later request through.
    pub fn open(&self) {
        self.state.lock().unwrap().hold = None;
        self.changed.notify_all();
    }

    /// Blocks until a request is waiting at the gate (the run is then certainly still going,
    /// inside a model call); panics after `limit`.
    pub fn wait_for_waiting(&self, limit: Duration) {
        self.wait_for_held(1, limit);
    }

    /// Blocks until `n` requests are waiting at the gate (`n` runs, each inside a model
    /// call); panics after `limit`.
    pub fn wait_for_held(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap();
        while state.waiting < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} of {n} requests reached the closed gate within {limit:?}",
                state.waiting
            );
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    fn pass(&self, index: usize, request: &Value) {
        let mut state = self.state.lock().unwrap();
        let held = |s: &GateState| s.hold.as_ref().is_some_and(|hold| hold(index, request));
        if !held(&state) {
            return;
        }
        state.waiting += 1;
        self.changed.notify_all();
        while held(&state) {
            state = self.changed.wait(state).unwrap();
        }
        state.waiting -= 1;
    }
}

/// One answer delivered whole, with the usage it reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Served {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Faults a real server produces, injected at random by [`FakeModel::start_with_faults`].
/// `corrupt_event` breaks an event in the middle of the stream; `corrupt_stop` breaks the
/// `message_stop` after a whole answer (which is then served: its usage was delivered).
pub const FAULTS: &[&str] = &[
    "529",
    "429",
    "503",
    "cut_in_tool_call",
    "error_event",
    "cut_before_headers",
    "corrupt_event",
    "corrupt_stop",
];

/// Price of the fake server's model (`claude-sonnet-4-5`), USD per million tokens.
pub const INPUT_PRICE: f64 = 3.0;
pub const OUTPUT_PRICE: f64 = 15.0;

impl FakeModel {
    pub fn start(script: Arc<Script>, delay: Duration) -> FakeModel {
        Self::start_with_faults(script, delay, 0, 0.0)
    }

    /// Like `start`, but a `rate` share of requests (seeded) gets one of [`FAULTS`].
    pub fn start_with_faults(
        script: Arc<Script>,
        delay: Duration,
        seed: u64,
        rate: f64,
    ) -> FakeModel {
        let rng = Mutex::new(fastrand::Rng::with_seed(seed));
        let plan = move |_: usize, _: &Value| {
            let mut rng = rng.lock().unwrap();
            (rng.f64() < rate).then(|| FAULTS[rng.usize(..FAULTS.len())])
        };
        Self::start_with_plan(script, delay, Arc::new(plan))
    }

    /// Like `start`, with the faults chosen by `plan` for each request.
    pub fn start_with_plan(
        script: Arc<Script>,
        delay: Duration,
        plan: Arc<FaultPlan>,
    ) -> FakeModel {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve_on(listener, script, delay, plan, None)
    }

    /// Like `start`, at `addr` (`127.0.0.1:<port>`): a server that comes up where a run has been
    /// knocking in vain.
    pub fn start_at(addr: std::net::SocketAddr, script: Arc<Script>) -> FakeModel {
        let listener = TcpListener::bind(addr).unwrap();
        Self::serve_on(
            listener,
            script,
            Duration::ZERO,
            Arc::new(|_: usize, _: &Value| None),
            None,
        )
    }

    /// Like `start`, for a model whose context window holds `window` tokens, counted as this
    /// server counts them (four bytes of the request body a token): a longer request gets
    /// the error Anthropic answers, 400 `invalid_request_error` "prompt is too long: N tokens
    /// > M maximum", and is not served. Each refusal is in `faults` as `over_window`.
    pub fn start_with_window(script: Arc<Script>, window: u64) -> FakeModel {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve_on(
            listener,
            script,
            Duration::ZERO,
            Arc::new(|_, _| None),
            Some(window),
        )
    }

    fn serve_on(
        listener: TcpListener,
        script: Arc<Script>,
        delay: Duration,
        plan: Arc<FaultPlan>,
        window: Option<u64>,
    ) -> FakeModel {
        let faults = Arc::new(Mutex::new(Vec::new()));
        let injected = faults.clone();
        let served = Arc::new(Mutex::new(Vec::new()));
        let books = served.clone();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let gate = Arc::new(Gate::default());
        let held = gate.clone();
        let answering = Arc::new(AtomicUsize::new(0));
        let busy = answering.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, seen, plan) = (script.clone(), seen.clone(), plan.clone());
                let (injected, books, held) = (injected.clone(), books.clone(), held.clone());
                let answering = Answering::begin(&busy);
                std::thread::spawn(move || {
                    let _answering = answering;
                    let books = Books {
                        seen: &seen,
                        injected: &injected,
                        served: &books,
                        gate: &held,
                        window,
                    };
                    let _ = serve(stream, &*script, delay, &*plan, books);
                });
            }
        });
        FakeModel {
            url,
            requests,
            faults,
            served,
            gate,
            answering,
        }
    }

    /// Blocks until no connection is being answered: after its client was killed, the books
    /// of the answer it was getting are final.
    pub fn wait_idle(&self) {
        crate::support::wait_until("the fake model to finish answering", || {
            self.answering.load(Ordering::SeqCst) == 0
        });
    }

    /// What the server delivered whole: (answers, input tokens, output tokens, cost).
    pub fn books(&self) -> (u64, u64, u64, f64) {
        let served = self.served.lock().unwrap();
        let input: u64 = served.iter().map(|s| s.input_tokens).sum();
        let output: u64 = served.iter().map(|s| s.output_tokens).sum();
        let cost = (input as f64 * INPUT_PRICE + output as f64 * OUTPUT_PRICE) / 1e6;
        (served.len() as u64, input, output, cost)
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn raw_headers(&self) -> String {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(h, _)| h.clone())
            .collect()
    }
}

impl Drop for FakeModel {
    /// A test that fails while its gate is closed lets the runs it held go on, so they end
    /// instead of waiting for the test binary to exit.
    fn drop(&mut self) {
        self.gate.open();
    }
}

/// One connection being answered, counted from its accept to the end of its handler (a
/// handler that panics too).
struct Answering(Arc<AtomicUsize>);

impl Answering {
    fn begin(count: &Arc<AtomicUsize>) -> Answering {
        count.fetch_add(1, Ordering::SeqCst);
        Answering(count.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What one connection's handler records into and waits at.
struct Books<'a> {
    seen: &'a Mutex<Vec<(String, Value)>>,
    injected: &'a Mutex<Vec<&'static str>>,
    served: &'a Mutex<Vec<Served>>,
    gate: &'a Gate,
    window: Option<u64>,
}

fn serve(
    stream: TcpStream,
    script: &Script,
    delay: Duration,
    plan: &FaultPlan,
    books: Books<'_>,
) -> std::io::Result<()> {
    let Books {
        seen,
        injected,
        served,
        gate,
        window,
    } = books;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut headers = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        headers.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt_tokens = body.len() as u64 / 4;
    let over_window = window.filter(|w| prompt_tokens > *w);
    let (index, fault) = {
        let mut seen = seen.lock().unwrap();
        seen.push((headers, request.clone()));
        let planned = plan(seen.len() - 1, &request);
        (
            seen.len() - 1,
            over_window.map(|_| "over_window").or(planned),
        )
    };
    gate.pass(index, &request);
    if let Some(fault) = fault {
        injected.lock().unwrap().push(fault);
    }
    // time is what is tested: `delay` plays a slow model for the tests that ask for one
    std::thread::sleep(delay);
    let content = script(&request);
    let usage = Served {
        input_tokens: prompt_tokens,
        output_tokens: 20 + serde_json::to_string(&content).unwrap().len() as u64 / 4,
    };
    let mut out = stream;
    let status = |out: &mut TcpStream, status: &str, body: &str| {
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after-ms: 5\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        out.write_all(head.as_bytes())?;
        out.write_all(body.as_bytes())
    };
    match fault {
        Some("529") => {
            return status(
                &mut out,
                "529 Overloaded",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            );
        }
        Some("429") => {
            return status(
                &mut out,
                "429 Too Many Requests",
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            );
        }
        Some("503") => {
            return status(
                &mut out,
                "503 Service Unavailable",
                r#"{"type":"error","error":{"type":"api_error","message":"unavailable"}}"#,
            );
        }
        Some("overflow") => {
            return status(
                &mut out,
                "400 Bad Request",
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210417 tokens > 200000 maximum"}}"#,
            );
        }
        Some("over_window") => {
            let body = json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": format!("prompt is too long: {prompt_tokens} tokens > {} maximum", over_window.unwrap_or_default())}});
            return status(&mut out, "400 Bad Request", &body.to_string());
        }
        Some("cut_before_headers") => return Ok(()),
        _ => {}
    }
    out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n")?;
    let events = sse_events_with(&content, usage);
    for (i, event) in events.iter().enumerate() {
        if fault == Some("cut_in_tool_call") && event.contains("input_json_delta") {
            // Half a tool call, then the connection drops.
            return Ok(());
        }
        if fault == Some("error_event") && i == events.len() / 2 {
            let error = sse(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            );
            out.write_all(error.as_bytes())?;
            return Ok(());
        }
        if fault == Some("corrupt_event") && i == events.len() / 2 {
            // A proxy mangled one event; the rest of the stream still comes.
            out.write_all(b"event: content_block_delta\ndata: {\"type\": \"content_block_del\n\n")?;
        }
        if fault == Some("corrupt_stop") && i == events.len() - 1 {
            out.write_all(b"event: message_stop\ndata: {\"type\": \"message_st\n\n")?;
            out.flush()?;
            served.lock().unwrap().push(usage);
            return Ok(());
        }
        out.write_all(event.as_bytes())?;
        out.flush()?;
    }
    if fault != Some("corrupt_event") {
        served.lock().unwrap().push(usage);
    }
    Ok(())
}

fn sse(name: &str, data: Value) -> String {
    crate::support::sse_event(name, data)
}

/// The content blocks as the Messages API streams them, tool input and thinking text in two
/// fragments. A block `{"type": "raw_tool_use", "id", "name", "partial_json"}` streams its
/// input text verbatim, whole JSON or not.
pub fn sse_events_with(content: &[Value], usage: Served) -> Vec<String> {
    let mut events = vec![sse(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
               "model": "claude-sonnet-4-5", "content": [], "stop_reason": null,
               "usage": {"input_tokens": usage.input_tokens, "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}}),
    )];
    events.push(sse("ping", json!({"type": "ping"})));
    let mut stop = "end_turn";
    for (i, block) in content.iter().enumerate() {
        if block["type"] == "raw_tool_use" {
            stop = "tool_use";
            events.push(sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
            ));
            events.push(sse(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": block["partial_json"]}}),
            ));
        } else if block["type"] == "tool_use" {
            stop = "tool_use";
            events.push(sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
            ));
            let input = block["input"].to_string();
            let cut = input
                .char_indices()
                .nth(input.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            for part in [&input[..cut], &input[cut..]] {
                events.push(sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": part}}),
                ));
            }
        } else if block["type"] == "thinking" {
            // Opened empty, the text in two deltas, then the signature, as the API streams it.
            events.push(sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            ));
            let thinking = block["thinking"].as_str().unwrap_or_default();
            let cut = thinking
                .char_indices()
                .nth(thinking.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            for part in [&thinking[..cut], &thinking[cut..]] {
                events.push(sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": part}}),
                ));
            }
            events.push(sse(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": block["signature"]}}),
            ));
        } else if block["type"] == "redacted_thinking" {
            // Arrives whole in its start event.
            events.push(sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": block}),
            ));
        } else {
            events.push(sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
            ));
            events.push(sse(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": block["text"]}}),
            ));
        }
        events.push(sse(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        ));
    }
    events.push(sse(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": usage.output_tokens}}),
    ));
    events.push(sse("message_stop", json!({"type": "message_stop"})));
    events
}

/// A tool call whose input is streamed as this text, whole JSON or not.
pub fn raw_tool(name: &str, partial_json: &str) -> Value {
    json!({"type": "raw_tool_use", "id": format!("toolu_{}", fastrand::u32(..)), "name": name, "partial_json": partial_json})
}

pub fn tool(name: &str, input: Value) -> Value {
    json!({"type": "tool_use", "id": format!("toolu_{}", fastrand::u32(..)), "name": name, "input": input})
}

pub fn text(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// Who is asking: `None` for the planner, else the executor's current step.
pub fn current_step(request: &Value) -> Option<u32> {
    let first = request["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let rest = first.split("# Current step ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

/// How many assistant turns the request already holds (the turn being asked for).
pub fn turn(request: &Value) -> usize {
    request["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count())
}

pub fn is_replan(request: &Value) -> bool {
    request["messages"][0]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("# Replanning"))
}

/// The tool results a request carries in its last (user) message, in order, as
/// (content, is_error); content given as text parts is joined.
pub fn last_tool_results(request: &Value) -> Vec<(String, bool)> {
    let messages = request["messages"].as_array().unwrap();
    messages.last().unwrap()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let content = match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                _ => String::new(),
            };
            (content, b["is_error"].as_bool().unwrap_or(false))
        })
        .collect()
}
