//! OpenTelemetry traces of a run (docs/telemetry.md): one trace per run, a span for planning,
//! each try of a step, each model call, tool call, test run, checkpoint and rollback, and span
//! events for retries, stops, budget warnings, `say` and secret refusals.
//!
//! Off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or the user-trust key `otel_endpoint`);
//! `OTEL_SDK_DISABLED=true` wins. Spans go through the SDK's batch processor: a bounded queue
//! drained by its own thread, so a collector that is down or hangs never holds the loop; the
//! spans left at the end are flushed for at most `otel_flush_wait`.
//!
//! The loop calls the few functions below; the state of the run's open spans lives here, so
//! nothing else imports an OpenTelemetry type. Every string attribute is redacted as notes are.

use super::events::Event;
use crate::config::Config;
use crate::store::format::record::TestRun;
use opentelemetry::trace::{Span as _, SpanContext, Status, TraceContextExt, Tracer as _};
use opentelemetry::trace::{SpanBuilder, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, Span,
};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The standard switch that turns the SDK off whatever else is set.
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// The standard endpoint variables; the exporter reads them (and `OTEL_EXPORTER_OTLP_HEADERS`)
/// itself, this module only needs to know whether one is set.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];
/// Spans waiting for export at most: past it new spans are dropped (the SDK's batch processor
/// counts them; that count is not reported yet) rather than held in memory.
const QUEUE_SPANS: usize = 2048;
/// One export's limit, so the export thread does not wait on a hanging collector for ever.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The trace of the run in progress, if telemetry is on.
static ACTIVE: Mutex<Option<RunTrace>> = Mutex::new(None);

/// The run's open spans.
struct RunTrace {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    flush_wait: Duration,
    run: Span,
    planning: Option<Span>,
    step: Option<Span>,
    model: Option<ModelCall>,
    tool: Option<Span>,
}

struct ModelCall {
    span: Span,
    started: Instant,
    first_token: bool,
    retries: i64,
}

/// What a run's trace is about, set on its root span.
pub struct RunFacts<'a> {
    pub slug: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub resumed: bool,
}

/// Ends the run's trace and flushes it (for at most `otel_flush_wait`) when dropped, however
/// the run ends.
pub struct RunGuard(());

impl Drop for RunGuard {
    fn drop(&mut self) {
        finish();
    }
}

/// Where spans go, or `None` when telemetry is off.
fn endpoint(config: &Config) -> Option<Option<String>> {
    let disabled = std::env::var(SDK_DISABLED).is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if disabled {
        return None;
    }
    if let Some(url) = &config.otel_endpoint {
        // The key names the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT does.
        return Some(Some(format!("{}/v1/traces", url.trim_end_matches('/'))));
    }
    ENDPOINT_VARS
        .iter()
        .any(|var| std::env::var(var).is_ok_and(|v| !v.trim().is_empty()))
        .then_some(None)
}

/// Start the run's trace if telemetry is configured. Call outside an async runtime: the
/// exporter's blocking HTTP client must not be made inside one.
pub fn start(config: &Config, facts: RunFacts<'_>) -> RunGuard {
    let Some(endpoint) = endpoint(config) else {
        return RunGuard(());
    };
    match provider(endpoint) {
        Ok(provider) => {
            let tracer = provider.tracer("git-agent");
            let host = hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            let run = tracer
                .span_builder("run")
                .with_attributes(vec![
                    text("task", facts.slug),
                    text("provider", facts.provider),
                    text("model", facts.model),
                    KeyValue::new("resumed", facts.resumed),
                    text("host", &host),
                ])
                .start(&tracer);
            let trace = RunTrace {
                provider,
                tracer,
                flush_wait: config.otel_flush_wait,
                run,
                planning: None,
                step: None,
                model: None,
                tool: None,
            };
            if let Ok(mut active) = ACTIVE.lock() {
                // A run that did not end its trace (a fleet worker's previous run) is ended now.
                if let Some(old) = active.replace(trace) {
                    old.end();
                }
            }
        }
        Err(err) => tracing::warn!("telemetry is off: {err}"),
    }
    RunGuard(())
}

fn provider(endpoint: Option<String>) -> Result<SdkTracerProvider, String> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT);
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(endpoint);
    }
    let exporter = exporter.build().map_err(|e| e.to_string())?;
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(QUEUE_SPANS)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch)
        .build();
    let mut resource = Resource::builder();
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by the SDK's own detectors.
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("git-agent");
    }
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource.build())
        .build())
}

/// The trace id of the run in progress (32 hex digits), for the checkpoint's record.
pub fn trace_id() -> Option<String> {
    let active = ACTIVE.lock().ok()?;
    let trace = active.as_ref()?;
    Some(trace.run.span_context().trace_id().to_string())
}

/// A model call starts.
pub fn model_call_started(model: &str) {
    with(|t| {
        let span = t.child(
            t.step_or_run(),
            "model_call",
            None,
            vec![text("model", model)],
        );
        let call = ModelCall {
            span,
            started: Instant::now(),
            first_token: false,
            retries: 0,
        };
        // A call given up by Ctrl-C never reported its end.
        if let Some(mut old) = t.model.replace(call) {
            old.span.end();
        }
    });
}

/// A model call ended with `response`, or failed with `error`.
pub fn model_call_ended(result: Result<&crate::llm::Response, String>) {
    with(|t| {
        let Some(mut call) = t.model.take() else {
            return;
        };
        call.span
            .set_attribute(KeyValue::new("retries", call.retries));
        match result {
            Ok(response) => {
                let usage = &response.usage;
                call.span.set_attributes([
                    count("input_tokens", usage.input_tokens),
                    count("output_tokens", usage.output_tokens),
                    count("cache_read_tokens", usage.cache_read_tokens),
                    count("cache_write_tokens", usage.cache_write_tokens),
                    KeyValue::new("cost_usd", response.cost_usd),
                    text("stop_reason", &format!("{:?}", response.stop_reason)),
                    KeyValue::new("outcome", "ok"),
                ]);
            }
            Err(error) => {
                call.span.set_attribute(KeyValue::new("outcome", "error"));
                call.span.set_status(Status::error(redact(&error)));
            }
        }
        call.span.end();
    });
}

/// The model call in progress streamed a piece of its answer (text or a tool call): the
/// first one sets its time to first token.
pub fn model_streamed() {
    with(|t| {
        if let Some(call) = t.model.as_mut()
            && !call.first_token
        {
            call.first_token = true;
            let ms = call.started.elapsed().as_millis() as u64;
            call.span.set_attribute(count("time_to_first_token_ms", ms));
        }
    });
}

/// The harness ran the tests (its span ends now and started `duration_ms` ago).
pub fn tests_ran(tests: &TestRun) {
    with(|t| {
        let started = SystemTime::now() - Duration::from_millis(tests.duration_ms);
        let mut span = t.child(
            t.step_or_run(),
            "tests",
            Some(started),
            vec![
                text("command", &tests.command),
                KeyValue::new("verdict", tests.verdict.as_str()),
                count("duration_ms", tests.duration_ms),
            ],
        );
        span.end();
    });
}

/// What the loop told the renderers, as spans and span events.
pub fn on_event(event: &Event) {
    with(|t| t.on_event(event));
}

/// End every open span and flush, for at most `otel_flush_wait`.
fn finish() {
    let trace = ACTIVE.lock().ok().and_then(|mut active| active.take());
    if let Some(trace) = trace {
        trace.end();
    }
}

fn with(f: impl FnOnce(&mut RunTrace)) {
    if let Ok(mut active) = ACTIVE.lock()
        && let Some(trace) = active.as_mut()
    {
        f(trace);
    }
}

impl RunTrace {
    /// The parent of a model call, tool call, test run or checkpoint: the step's try, else
    /// the planning, else the run.
    fn step_or_run(&self) -> SpanContext {
        self.step
            .as_ref()
            .or(self.planning.as_ref())
            .unwrap_or(&self.run)
            .span_context()
            .clone()
    }

    fn child(
        &self,
        parent: SpanContext,
        name: &'static str,
        started: Option<SystemTime>,
        attributes: Vec<KeyValue>,
    ) -> Span {
        let mut builder = SpanBuilder::from_name(name).with_attributes(attributes);
        if let Some(started) = started {
            builder = builder.with_start_time(started);
        }
        let parent = Context::new().with_remote_span_context(parent);
        self.tracer.build_with_context(builder, &parent)
    }

    /// The span events go to: the open model call, else the step, else the run.
    fn current(&mut self) -> &mut Span {
        if let Some(call) = self.model.as_mut() {
            return &mut call.span;
        }
        match (&mut self.step, &mut self.planning) {
            (Some(step), _) => step,
            (None, Some(planning)) => planning,
            (None, None) => &mut self.run,
        }
    }

    fn end_step(&mut self, outcome: &str) {
        if let Some(mut step) = self.step.take() {
            step.set_attribute(text("outcome", outcome));
            step.end();
        }
    }

    fn on_event(&mut self, event: &Event) {
        match event {
            Event::TaskStarted { branch, .. } => self.run.set_attribute(text("branch", branch)),
            Event::Planning { replan } => {
                let run = self.run.span_context().clone();
                let span = self.child(run, "planning", None, vec![count("replan", *replan as u64)]);
                if let Some(mut old) = self.planning.replace(span) {
                    old.end();
                }
            }
            Event::Plan { steps, .. } => {
                if let Some(mut planning) = self.planning.take() {
                    planning.set_attribute(count("steps", steps.len() as u64));
                    planning.end();
                }
            }
            Event::StepStarted {
                step,
                steps,
                attempt,
                ..
            } => {
                self.end_step("abandoned");
                let run = self.run.span_context().clone();
                let attributes = vec![
                    count("step", *step as u64),
                    count("steps", *steps as u64),
                    count("try", *attempt as u64),
                ];
                self.step = Some(self.child(run, "step", None, attributes));
            }
            Event::ModelRetry {
                attempt,
                wait_ms,
                reason,
                ..
            } => {
                if let Some(call) = self.model.as_mut() {
                    call.retries += 1;
                }
                self.current().add_event(
                    "retry",
                    vec![
                        count("attempt", *attempt as u64),
                        count("wait_ms", *wait_ms),
                        text("reason", reason),
                    ],
                );
            }
            Event::ToolCall { name, detail } => {
                let parent = self.step_or_run();
                let attributes = vec![text("tool", name), count("bytes_in", detail.len() as u64)];
                let span = self.child(parent, "tool_call", None, attributes);
                if let Some(mut old) = self.tool.replace(span) {
                    old.end();
                }
            }
            Event::ToolResult {
                is_error, detail, ..
            } => {
                if let Some(mut tool) = self.tool.take() {
                    let outcome = if *is_error { "error" } else { "ok" };
                    tool.set_attributes([
                        KeyValue::new("outcome", outcome),
                        count("bytes_out", detail.len() as u64),
                    ]);
                    tool.end();
                }
            }
            Event::SecretFound { findings } => self.current().add_event(
                "secret_refused",
                vec![count("findings", findings.len() as u64)],
            ),
            Event::TryEnded { reason, .. } => {
                self.current()
                    .add_event("try_ended", vec![text("reason", reason)]);
                self.end_step(reason);
            }
            Event::BudgetWarning {
                budget,
                used,
                limit,
            } => self.current().add_event(
                "budget_warning",
                vec![
                    text("budget", budget),
                    text("used", used),
                    text("limit", limit),
                ],
            ),
            Event::Said { commit, .. } => self
                .current()
                .add_event("say", vec![text("commit", commit)]),
            Event::Checkpoint {
                number,
                commit,
                files_changed,
                checkpoint_ms,
                ..
            } => {
                let started = SystemTime::now() - Duration::from_millis(*checkpoint_ms);
                let attributes = vec![
                    count("number", *number as u64),
                    text("commit", commit),
                    count("files_changed", *files_changed as u64),
                    count("duration_ms", *checkpoint_ms),
                ];
                let parent = self.step_or_run();
                self.child(parent, "checkpoint", Some(started), attributes)
                    .end();
                self.end_step("checkpoint");
            }
            Event::Rollback {
                from, to, reason, ..
            } => {
                let run = self.run.span_context().clone();
                let attributes = vec![text("from", from), text("to", to), text("reason", reason)];
                self.child(run, "rollback", None, attributes).end();
            }
            Event::Stopped {
                reason,
                detail,
                usage,
                ..
            } => {
                self.run
                    .add_event("stop", vec![text("reason", reason), text("detail", detail)]);
                self.run.set_attributes([
                    text("stop_reason", reason),
                    count("turns", usage.turns),
                    count("tokens", usage.tokens),
                    KeyValue::new("cost_usd", usage.cost_usd),
                ]);
                if reason == "error" {
                    self.run.set_status(Status::error(redact(detail)));
                }
            }
            Event::LeftOut { .. }
            | Event::McpServer { .. }
            | Event::Usage { .. }
            | Event::ModelText { .. } => {}
            Event::Tests { .. } => {}
        }
    }

    /// End what is open, inner spans first, then flush for at most `flush_wait`.
    fn end(mut self) {
        if let Some(mut call) = self.model.take() {
            call.span.end();
        }
        if let Some(mut tool) = self.tool.take() {
            tool.end();
        }
        if let Some(mut planning) = self.planning.take() {
            planning.end();
        }
        self.end_step("stopped");
        self.run.end();
        if let Err(err) = self.provider.shutdown_with_timeout(self.flush_wait) {
            tracing::debug!("telemetry flush: {err}");
        }
    }
}

fn redact(value: &str) -> String {
    crate::policy::redact_known(value)
}

/// A string attribute, redacted as notes are.
fn text(key: &'static str, value: &str) -> KeyValue {
    KeyValue::new(key, redact(value))
}

fn count(key: &'static str, value: u64) -> KeyValue {
    KeyValue::new(key, i64::try_from(value).unwrap_or(i64::MAX))
}
