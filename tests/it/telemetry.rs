//! OpenTelemetry export of a run (docs/telemetry.md): a real OTLP/HTTP receiver on 127.0.0.1
//! decodes what the binary sends with the OpenTelemetry project's own protos, and the spans,
//! their parents and attributes are checked against the fake model's run and git's records.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::agent_e2e::{KEY, clumsy_model, good_model, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script};

/// An OTLP/HTTP collector: every span of every export request it was sent, with the
/// resource's `service.name`.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || serve(stream, &sink));
            }
        });
        Collector { url, spans }
    }

    fn spans(&self) -> Vec<(String, Span)> {
        self.spans.lock().unwrap().clone()
    }
}

/// Answers export requests on one connection (keep-alive) until the client closes it.
fn serve(stream: TcpStream, sink: &Mutex<Vec<(String, Span)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut length = None;
        let mut path = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if line.starts_with("POST ") {
                path = line.split(' ').nth(1).unwrap_or_default().to_string();
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.unwrap_or(0)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        assert_eq!(path, "/v1/traces", "traces go to the OTLP/HTTP traces path");
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
        let mut got = sink.lock().unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| string(a.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                got.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        drop(got);
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn string(value: &Any) -> Option<String> {
    match value {
        Any::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// The span's attributes as text (`"42"`, `"0.5"`, `"true"`, `"read_file"`).
fn attrs(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                Any::StringValue(s) => s.clone(),
                Any::IntValue(i) => i.to_string(),
                Any::DoubleValue(d) => d.to_string(),
                Any::BoolValue(b) => b.to_string(),
                _ => return None,
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn named<'a>(spans: &'a [(String, Span)], name: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == name)
        .collect()
}

/// A run of `git agent start` against `model`, its telemetry going to `endpoint` (if any),
/// with `extra` environment; its exit code, stderr and wall time.
fn run(
    env: &TestEnv,
    dir: &Path,
    model: &FakeModel,
    endpoint: Option<&str>,
) -> (i32, String, Duration) {
    let mut cmd = env.agent_cmd(dir, &["start", "--name", "t", "Add a --shout flag"]);
    cmd.env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY);
    if let Some(endpoint) = endpoint {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// The whole run's spans, once its root span arrived (the flush at the end of the run).
fn trace_of(collector: &Collector) -> Vec<(String, Span)> {
    let spans = collector.spans();
    assert_eq!(
        named(&spans, "run").len(),
        1,
        "one run span; got {:?}",
        spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
    );
    spans
}

#[test]
fn a_run_exports_one_trace_with_model_tool_test_and_checkpoint_spans() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    // A generous flush: this collector is up, every span must reach it.
    env.git(&dir, &["config", "agent.otelFlushWait", "20s"]);
    let collector = Collector::start();
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, err, _) = run(&env, &dir, &model, Some(&collector.url));
    assert_eq!(code, 0, "{err}");
    let spans = trace_of(&collector);

    let run = named(&spans, "run")[0];
    assert!(run.parent_span_id.is_empty(), "the run span is the root");
    let trace = hex(&run.trace_id);
    assert!(
        spans.iter().all(|(_, s)| hex(&s.trace_id) == trace),
        "one trace per run"
    );
    assert!(spans.iter().all(|(service, _)| service == "git-agent"));
    let run_attrs = attrs(run);
    assert_eq!(run_attrs["task"], "t");
    assert_eq!(run_attrs["provider"], "anthropic");
    assert_eq!(run_attrs["stop_reason"], "done");
    assert!(run.events.iter().any(|e| e.name == "stop"));

    // Planning and the two steps hang off the run; everything else off a step.
    let by_id: HashMap<Vec<u8>, &Span> =
        spans.iter().map(|(_, s)| (s.span_id.clone(), s)).collect();
    let parent = |s: &Span| by_id.get(&s.parent_span_id).map(|p| p.name.clone());
    assert_eq!(named(&spans, "planning").len(), 1);
    assert_eq!(parent(named(&spans, "planning")[0]).as_deref(), Some("run"));
    let steps = named(&spans, "step");
    assert_eq!(steps.len(), 2, "two steps, one try each");
    for step in &steps {
        assert_eq!(parent(step).as_deref(), Some("run"));
        assert_eq!(attrs(step)["outcome"], "checkpoint");
    }
    let calls = named(&spans, "model_call");
    assert_eq!(calls.len(), model.bodies().len(), "a span per model call");
    for call in &calls {
        assert!(matches!(parent(call).as_deref(), Some("planning" | "step")));
        let a = attrs(call);
        assert!(a["input_tokens"].parse::<u64>().unwrap() > 0, "{a:?}");
        assert!(a["cost_usd"].parse::<f64>().unwrap() > 0.0, "{a:?}");
        assert_eq!(
            a["model"], run_attrs["model"],
            "the planner model is the model here"
        );
        assert_eq!(a["outcome"], "ok");
        assert!(a.contains_key("time_to_first_token_ms"), "{a:?}");
    }
    let tools: Vec<String> = named(&spans, "tool_call")
        .iter()
        .map(|s| {
            let tool = attrs(s)["tool"].clone();
            let expected = if tool == "submit_plan" {
                "planning"
            } else {
                "step"
            };
            assert_eq!(parent(s).as_deref(), Some(expected), "{tool}");
            tool
        })
        .collect();
    for tool in ["submit_plan", "read_file", "write_file", "edit_file"] {
        assert!(tools.iter().any(|t| t == tool), "{tools:?}");
    }
    let tests = named(&spans, "tests");
    assert_eq!(tests.len(), 2);
    for t in &tests {
        assert_eq!(attrs(t)["verdict"], "pass");
        assert_eq!(attrs(t)["command"], "sh test.sh");
        assert_eq!(parent(t).as_deref(), Some("step"));
    }

    // Each checkpoint span names its commit, and that commit's record names the trace.
    let checkpoints = named(&spans, "checkpoint");
    assert_eq!(checkpoints.len(), 2);
    let log = env.git(&dir, &["log", "--format=%H", "agent/t~2..agent/t"]);
    for commit in log.lines() {
        let span = checkpoints
            .iter()
            .find(|s| attrs(s)["commit"] == commit)
            .unwrap_or_else(|| panic!("no checkpoint span for {commit}"));
        assert_eq!(parent(span).as_deref(), Some("step"));
        let note = env.git(&dir, &["notes", "--ref", "agent/t", "show", commit]);
        assert!(
            note.contains(&format!("trace = \"{trace}\"")),
            "the record names the trace {trace}:\n{note}"
        );
    }
    env.agent_fsck(&dir);
}

#[test]
fn retries_and_a_rollback_are_in_the_trace() {
    let env = TestEnv::new();
    let dir = sample(&env, "step_attempts = 2\nreplans = 1\n");
    env.git(&dir, &["config", "agent.otelFlushWait", "20s"]);
    let collector = Collector::start();
    // The second request is answered 529 once: retried.
    let fail_second = |index: usize, _: &serde_json::Value| (index == 1).then_some("529");
    let model = FakeModel::start_with_plan(
        Arc::new(clumsy_model) as Arc<Script>,
        Duration::ZERO,
        Arc::new(fail_second),
    );
    let (code, err, _) = run(&env, &dir, &model, Some(&collector.url));
    assert_eq!(code, 3, "{err}");
    let spans = trace_of(&collector);
    let retried: Vec<&Span> = named(&spans, "model_call")
        .into_iter()
        .filter(|s| s.events.iter().any(|e| e.name == "retry"))
        .collect();
    assert_eq!(retried.len(), 1, "one call was retried");
    assert_eq!(attrs(retried[0])["retries"], "1");
    let retry = retried[0]
        .events
        .iter()
        .find(|e| e.name == "retry")
        .unwrap();
    assert!(
        retry.attributes.iter().any(|a| a.key == "reason"),
        "{retry:?}"
    );
    let rollbacks = named(&spans, "rollback");
    assert!(!rollbacks.is_empty(), "the failing step was rolled back");
    assert!(attrs(rollbacks[0])["reason"].contains("step 1 failed 2 tries"));
    assert!(
        named(&spans, "tests")
            .iter()
            .any(|t| attrs(t)["verdict"] == "fail")
    );
    assert_eq!(attrs(named(&spans, "run")[0])["stop_reason"], "blocked");
}

/// A collector that is down (a closed port) or hangs (accepts, never answers) costs the run
/// next to nothing: spans wait in a bounded queue on the exporter's own thread, and the
/// final flush waits `otel_flush_wait` (40 ms) at most.
#[test]
fn a_dead_or_hanging_collector_does_not_slow_the_run() {
    let env = TestEnv::new();
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in hanging.incoming().flatten() {
            keep.lock().unwrap().push(stream);
        }
    });
    let mut times = Vec::new();
    for (i, endpoint) in [None, Some(dead.as_str()), Some(hanging_url.as_str())]
        .into_iter()
        .enumerate()
    {
        let root = env.root.path().join(format!("r{i}"));
        std::fs::create_dir_all(&root).unwrap();
        let dir = sample(&env, "");
        let moved = root.join("greet");
        std::fs::rename(&dir, &moved).unwrap();
        let (code, err, took) = run(&env, &moved, &model, endpoint);
        assert_eq!(code, 0, "{err}");
        times.push(took);
    }
    eprintln!(
        "without telemetry {:?}, dead collector {:?}, hanging collector {:?}",
        times[0], times[1], times[2]
    );
    // Generous for a shared machine, far below the 5 s an export may wait.
    for took in &times[1..] {
        assert!(
            took.saturating_sub(times[0]) < Duration::from_millis(1000),
            "{times:?}"
        );
    }
}

/// A run against `model` whose telemetry `collector` must not receive: its exit code and
/// stderr, after which the collector is checked empty and the record names no trace.
fn run_unseen(
    env: &TestEnv,
    dir: &Path,
    model: &FakeModel,
    collector: &Collector,
    vars: &[(&str, &str)],
) -> String {
    env.git(dir, &["config", "agent.otelFlushWait", "20s"]);
    let mut cmd = env.agent_cmd(dir, &["start", "--name", "t", "Add a --shout flag"]);
    cmd.env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(collector.spans().is_empty(), "nothing was exported");
    let note = env.git(dir, &["notes", "--ref", "agent/t", "show", "agent/t"]);
    assert!(!note.contains("trace ="), "{note}");
    err
}

/// Telemetry stays off when `OTEL_SDK_DISABLED=true`, however it is configured.
#[test]
fn the_sdk_switch_wins() {
    let env = TestEnv::new();
    let collector = Collector::start();
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let dir = sample(&env, "");
    env.git(&dir, &["config", "agent.otelEndpoint", &collector.url]);
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
        ("OTEL_SDK_DISABLED", "true"),
    ];
    run_unseen(&env, &dir, &model, &collector, &vars);
}

/// A repository's committed file cannot point a run's telemetry at a server: `otel_endpoint`
/// is a key of user trust.
#[test]
fn a_repository_file_cannot_name_the_collector() {
    let env = TestEnv::new();
    let collector = Collector::start();
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let dir = sample(&env, &format!("otel_endpoint = \"{}\"\n", collector.url));
    let err = run_unseen(&env, &dir, &model, &collector, &[]);
    assert!(
        err.contains("otel_endpoint"),
        "the run says the key was not applied: {err}"
    );
}

/// The git config key of the user names the collector as OTEL_EXPORTER_OTLP_ENDPOINT does.
#[test]
fn the_user_key_names_the_collector() {
    let env = TestEnv::new();
    let collector = Collector::start();
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let dir = sample(&env, "");
    env.git(&dir, &["config", "agent.otelEndpoint", &collector.url]);
    env.git(&dir, &["config", "agent.otelFlushWait", "20s"]);
    let (code, err, _) = run(&env, &dir, &model, None);
    assert_eq!(code, 0, "{err}");
    let spans = trace_of(&collector);
    assert_eq!(named(&spans, "checkpoint").len(), 2);
}
