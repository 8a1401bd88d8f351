//! The loop: planner, executor, budgets, stop rules, prompts.
//!
//! `start:  goal -> planner -> plan note -> executor loop`
//! `loop:   step context -> model turns with tools -> harness runs the tests -> checkpoint`
//! `resume: read the task, plan note, tip trailers and records -> rebuild worktree -> loop`
//!
//! Everything the loop knows at a step boundary comes from git, so a killed run resumes
//! from the same place.

pub mod budget;
mod context;
pub mod events;
mod executor;
mod interrupt;
mod planner;
mod stopwatch;
pub mod telemetry;
pub mod testrun;
mod window;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use events::Event;
pub use interrupt::{Interrupt, Press, Presses};

use crate::config::Config;
use crate::error::Exit;
use crate::llm::{
    ContentBlock, Message, Provider, Request, Response, StreamEvent, Thinking, ToolSpec,
};
use crate::store::format::record::Usage;
use crate::store::{Plan, StopReason, StopRecord, Store, Task};
use crate::tools::ToolBox;
use budget::Limits;

/// Tokens a model's answer may take (its `max_tokens`; thinking gets its budget on top).
const ANSWER_TOKENS: u32 = 8192;

/// How long the first Ctrl-C waits for a model call in flight to finish, so that what the
/// provider bills for it is recorded. A second Ctrl-C exits at once.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(30);

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(String),
    Blocked(String),
    Budget(String),
    Interrupted,
    Failed(String),
}

impl Outcome {
    pub fn exit(&self) -> Exit {
        match self {
            Outcome::Done(_) => Exit::Done,
            Outcome::Blocked(_) => Exit::Blocked,
            Outcome::Budget(_) => Exit::Budget,
            Outcome::Interrupted => Exit::Interrupted,
            Outcome::Failed(_) => Exit::Error,
        }
    }

    fn stop(&self, hint: Option<&str>) -> StopRecord {
        let (reason, detail) = match self {
            Outcome::Done(d) => (StopReason::Done, d.clone()),
            Outcome::Blocked(d) => (StopReason::Blocked, d.clone()),
            Outcome::Budget(d) => (StopReason::Budget, d.clone()),
            Outcome::Interrupted => (StopReason::Interrupted, "Ctrl-C was pressed".to_string()),
            Outcome::Failed(d) => (StopReason::Error, d.clone()),
        };
        StopRecord {
            reason,
            detail,
            at: crate::store::now_rfc3339(),
            hint: hint.unwrap_or_default().to_string(),
            request: String::new(),
        }
    }
}

/// One run of the loop on one task.
pub struct Agent<'a> {
    pub store: &'a Store,
    pub slug: String,
    pub worktree: PathBuf,
    pub config: Config,
    pub provider: Provider,
    pub tools: ToolBox,
    pub limits: Limits,
    pub emit: &'a mut (dyn FnMut(Event) + Send),
    pub interrupt: Interrupt,
    /// Stop after planning.
    pub plan_only: bool,
    started: Instant,
    /// Since when this run's wall time is not yet in git.
    mark: Instant,
    /// Budgets already warned about at 80 % in this run.
    warned: Vec<&'static str>,
    /// Spent on the task and already in git: earlier runs, and this one up to its last note.
    base: Usage,
    /// Spent by this run and not yet in git: between a model answer and its note, and tool
    /// calls counted since.
    unrecorded: Usage,
    /// How to get past the error that ended the run, if it says.
    stop_hint: Option<String>,
    /// The say ref as this run last read it.
    said_tip: Option<gix::ObjectId>,
    /// Messages of `git agent say` this run has shown to a model.
    said_shown: std::collections::HashSet<String>,
    /// Those of them no checkpoint record lists yet: the next checkpoint records them.
    said_unrecorded: Vec<String>,
    /// What changed in the worktree since the last checkpoint, when a watch can tell
    /// (`None`: every checkpoint walks the worktree).
    watch: Option<crate::store::Watch>,
    /// The next checkpoint walks the whole worktree: the first of a run (what changed
    /// before the run began, nobody watched), and any after the watch lost track.
    walk_next: bool,
    /// The say chain's tip when this run took the task's lock: stop requests after it are
    /// for this run (src/store/say.rs).
    stop_base: Option<gix::ObjectId>,
    /// The say chain's tip when this run last looked for a stop request.
    stop_checked: Option<gix::ObjectId>,
}

/// The result of one model turn.
enum Turn {
    Response(Response),
    Interrupted,
    Budget(String),
}

/// One run of the loop on a task: the task, where it works, its configuration and model, and
/// how it begins. One value instead of a list of arguments every caller must keep in order.
pub struct RunSpec<'a> {
    pub store: &'a Store,
    pub slug: String,
    /// The worktree the run works in (the task's own, or the user's checkout with `--here`).
    pub worktree: PathBuf,
    pub config: Config,
    pub provider: Provider,
    /// The run goes on from what git holds of the task (`resume`, a worker's claim).
    pub resumed: bool,
    /// Stop once the plan is written.
    pub plan_only: bool,
}

/// Where the usage of a model turn goes in git, right after the answer: the plan's
/// `planner_usage` while planning, else the tip's pending usage.
enum Book<'p> {
    Planning(&'p Task, &'p mut Plan),
    Pending,
}

impl<'a> Agent<'a> {
    pub fn new(
        spec: RunSpec<'a>,
        tools: ToolBox,
        emit: &'a mut (dyn FnMut(Event) + Send),
        interrupt: Interrupt,
    ) -> Agent<'a> {
        let RunSpec {
            store,
            slug,
            worktree,
            config,
            provider,
            resumed: _,
            plan_only,
        } = spec;
        let limits = Limits::from_config(&config);
        Agent {
            store,
            slug,
            worktree,
            config,
            provider,
            tools,
            limits,
            emit,
            interrupt,
            plan_only,
            started: Instant::now(),
            mark: Instant::now(),
            warned: Vec::new(),
            base: Usage::default(),
            unrecorded: Usage::default(),
            stop_hint: None,
            said_tip: None,
            said_shown: Default::default(),
            said_unrecorded: Vec::new(),
            watch: None,
            walk_next: true,
            stop_base: None,
            stop_checked: None,
        }
    }

    /// Run until the task is done, blocked, out of budget, interrupted or failed, and write
    /// the stop record on the tip.
    pub async fn run(&mut self) -> Result<Outcome, crate::store::StoreError> {
        let task = self.store.task(&self.slug)?;
        let plan = self.store.plan(&task)?;
        self.base = self.store.budget(&task, &plan)?.usage;
        self.started = Instant::now();
        self.mark = self.started;
        self.arm_watch();
        let said_ref = crate::store::say_ref(&self.slug);
        self.stop_base = match crate::store::TaskLock::said_when_taken(self.store, &self.slug) {
            Some(base) => base,
            // Not our lock record: only requests from now on are for this run.
            None => self.store.ref_target(&said_ref)?,
        };
        self.stop_checked = self.stop_base;
        // `git agent stop` during a model call or the tests acts at once, as Ctrl-C does.
        let _stop_watch = self.store.workdir().ok().map(|dir| {
            stopwatch::StopWatch::start(
                dir.to_path_buf(),
                said_ref,
                self.stop_base,
                self.interrupt.clone(),
            )
        });
        let outcome = match self.work().await {
            Ok(outcome) => outcome,
            Err(err) => {
                // The cause's advice (a provider's "set ANTHROPIC_API_KEY", a store's repair)
                // becomes the stop record's hint.
                self.stop_hint = crate::error::Advice::hint(&err).or(self.stop_hint.take());
                Outcome::Failed(err.to_string())
            }
        };
        // MCP servers end with the run's work, before anything is written about it.
        self.tools.mcp.shutdown();
        if matches!(
            outcome,
            Outcome::Interrupted | Outcome::Budget(_) | Outcome::Failed(_)
        ) && let Err(err) = self.keep_unfinished("work of an unfinished step")
        {
            // The work stays in the worktree, where the next `resume` puts it in the attic.
            tracing::warn!("the unfinished work stays in the worktree: {err}");
        }
        let hint = self.stop_hint.take();
        let mut stop = outcome.stop(hint.as_deref());
        if outcome == Outcome::Interrupted
            && let Some(request) = self.interrupt.stop_request()
        {
            stop.detail = "stopped with git agent stop".to_string();
            stop.request = request.to_string();
        }
        let spent = self.take_unrecorded();
        let task = self.store.task(&self.slug)?;
        let planned = self.plan_only && matches!(outcome, Outcome::Done(_));
        let written = if !planned {
            self.store.record_stop(&task, stop.clone(), &spent)
        } else if !spent.is_zero() {
            self.store.add_pending(&task, &spent)
        } else {
            Ok(())
        };
        // A stop git cannot hold (a full disk, a read-only `.git`) still reaches the user, and
        // is kept beside the task's lock for `status` and `fsck`.
        let unrecorded = match &written {
            Ok(()) => {
                self.base.add(&spent);
                None
            }
            Err(err) => Some(self.keep_unrecorded(&task, &stop, planned, err)),
        };
        // What the stop line says is what git holds.
        let plan = self.store.plan(&task)?;
        let total = self.store.budget(&task, &plan)?.usage;
        let raised = self.limits.raised(&total);
        // `--plan-only` ends where it was asked to: it says what it planned, not a stop.
        let (reason, detail) = if planned {
            let n = plan.steps.len();
            let steps = if n == 1 { "step" } else { "steps" };
            (events::PLANNED, format!("{n} {steps}, none started yet."))
        } else {
            (stop.reason.as_str(), stop.detail)
        };
        let next = if planned {
            events::suggestions(events::PLANNED, &self.slug, false, None)
        } else {
            events::suggestions(
                reason,
                &self.slug,
                task.tip != task.task_commit,
                raised.as_deref(),
            )
        };
        (self.emit)(Event::Stopped {
            reason: reason.to_string(),
            detail,
            slug: self.slug.clone(),
            hint,
            next,
            usage: events::UsageTotal {
                turns: total.turns,
                tokens: total.total_tokens(),
                cost_usd: total.cost_usd,
                elapsed_ms: self.started.elapsed().as_millis() as u64,
            },
            unrecorded,
        });
        // The command fails with git's own error: the state git holds is not what it says.
        written?;
        Ok(outcome)
    }

    /// Put uncommitted work of the worktree into the attic. What it cost is in the tip's
    /// pending usage already.
    /// Watch the worktree from now on (see [`crate::store::Watch`]); without a watch every
    /// checkpoint walks it, which is correct, only slower on a large tree.
    fn arm_watch(&mut self) {
        self.watch = match self.store.watch(&self.worktree) {
            Ok(watch) => Some(watch),
            Err(why) => {
                tracing::debug!("checkpoints walk the worktree: {why}");
                None
            }
        };
        self.walk_next = true;
    }

    /// Keep the stop git could not record (`err` says why) beside the task's lock. A run that
    /// only planned has no stop to keep: its usage, which git could not take, is lost.
    fn keep_unrecorded(
        &self,
        task: &Task,
        stop: &StopRecord,
        planned: bool,
        err: &crate::store::StoreError,
    ) -> events::Unrecorded {
        let why = crate::text::error_chain(err);
        if planned {
            return events::Unrecorded { why, kept_in: None };
        }
        let path = self.store.unrecorded_stop_path(&self.slug);
        let kept_in = match self.store.keep_unrecorded_stop(task, stop, &why) {
            Ok(()) => Some(path.display().to_string()),
            Err(again) => {
                tracing::warn!("could not keep the stop beside the lock either: {again}");
                None
            }
        };
        events::Unrecorded { why, kept_in }
    }

    fn keep_unfinished(&mut self, why: &str) -> Result<(), crate::store::StoreError> {
        let task = self.store.task(&self.slug)?;
        self.store.stash_unfinished(&task, &self.worktree, why)?;
        Ok(())
    }

    /// Everything spent on the task so far, this run's unrecorded work included.
    fn used(&self) -> Usage {
        let mut used = self.base;
        used.add(&self.unrecorded);
        used.wall_ms += self.mark.elapsed().as_millis() as u64;
        used
    }

    /// This run's usage not yet in git, its wall time up to now included; from now on it is
    /// the caller's to write.
    fn take_unrecorded(&mut self) -> Usage {
        let mut spent = std::mem::take(&mut self.unrecorded);
        let now = Instant::now();
        spent.wall_ms += now.duration_since(self.mark).as_millis() as u64;
        self.mark = now;
        spent
    }

    /// Write this run's unrecorded usage to git where `book` says.
    fn book(&mut self, book: Book<'_>) -> Result<(), LoopError> {
        let spent = self.take_unrecorded();
        match book {
            Book::Planning(task, plan) => {
                plan.planner_usage.add(&spent);
                plan.planner_usage = plan.planner_usage.rounded();
                self.store.write_plan(
                    task,
                    plan,
                    &crate::store::format::notes::planning_usage_message(&task.slug),
                )
            }
            Book::Pending => self
                .store
                .task(&self.slug)
                .and_then(|task| self.store.add_pending(&task, &spent)),
        }?;
        self.base.add(&spent);
        Ok(())
    }

    /// One model call, raced against Ctrl-C, counted in the budget and written to git (where
    /// `book` says) as soon as it is answered.
    ///
    /// Ctrl-C while the call is in flight lets it finish, for up to [`IN_FLIGHT_GRACE`] and
    /// without a new attempt, because the provider bills it anyway: its usage is recorded,
    /// its answer is not acted on.
    async fn turn(
        &mut self,
        model: &str,
        thinking: Thinking,
        system: &str,
        messages: &[Message],
        tools: Vec<ToolSpec>,
        book: Book<'_>,
    ) -> Result<Turn, LoopError> {
        self.look_for_stop_request()?;
        if self.interrupt.is_set() {
            return Ok(Turn::Interrupted);
        }
        let used = self.used();
        if let Some(why) = self.limits.exceeded(&used) {
            return Ok(Turn::Budget(why));
        }
        for (budget, spent, limit) in self.limits.nearly_spent(&used) {
            if !self.warned.contains(&budget) {
                self.warned.push(budget);
                (self.emit)(Event::BudgetWarning {
                    budget: budget.to_string(),
                    used: spent,
                    limit,
                });
            }
        }
        let request = Request {
            model: model.to_string(),
            system: system.to_string(),
            messages: messages.to_vec(),
            tools,
            max_tokens: ANSWER_TOKENS,
            thinking,
        };
        let interrupt = self.interrupt.clone();
        // Between attempts nothing is in flight: Ctrl-C then stops at once.
        let waiting_until: Mutex<Option<Instant>> = Mutex::new(None);
        let retrying_after_interrupt = AtomicBool::new(false);
        let emit = &mut *self.emit;
        let mut on_event = |event: StreamEvent| match event {
            StreamEvent::TextDelta(text) => {
                telemetry::model_streamed();
                emit(Event::ModelText { text })
            }
            StreamEvent::Retrying {
                attempt,
                wait,
                reason,
                unreachable,
            } => {
                if interrupt.is_set() {
                    retrying_after_interrupt.store(true, Ordering::SeqCst);
                }
                if let Ok(mut until) = waiting_until.lock() {
                    *until = Some(Instant::now() + wait);
                }
                emit(Event::ModelRetry {
                    attempt,
                    wait_ms: wait.as_millis() as u64,
                    reason,
                    unreachable: unreachable
                        .map(|(retry, of)| events::UnreachableRetry { retry, of }),
                })
            }
            StreamEvent::ToolCall { .. } => telemetry::model_streamed(),
        };
        telemetry::model_call_started(model);
        let response = {
            let call = self.provider.complete(&request, &mut on_event);
            tokio::pin!(call);
            let first = tokio::select! {
                response = &mut call => Some(response),
                _ = interrupt.wait() => None,
            };
            let between_attempts = || {
                waiting_until
                    .lock()
                    .ok()
                    .and_then(|until| *until)
                    .is_some_and(|until| Instant::now() < until)
            };
            match first {
                Some(response) => response,
                None if between_attempts() => return Ok(Turn::Interrupted),
                None => {
                    let grace = tokio::time::sleep(IN_FLIGHT_GRACE);
                    tokio::pin!(grace);
                    loop {
                        tokio::select! {
                            response = &mut call => break response,
                            _ = &mut grace => return Ok(Turn::Interrupted),
                            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                                if retrying_after_interrupt.load(Ordering::SeqCst) {
                                    return Ok(Turn::Interrupted);
                                }
                            }
                        }
                    }
                }
            }
        };
        telemetry::model_call_ended(response.as_ref().map_err(|e| e.to_string()));
        let response = response?;
        self.unrecorded.turns += 1;
        self.unrecorded.input_tokens += response.usage.input_tokens;
        self.unrecorded.output_tokens += response.usage.output_tokens;
        self.unrecorded.cache_read_tokens += response.usage.cache_read_tokens;
        self.unrecorded.cache_write_tokens += response.usage.cache_write_tokens;
        self.unrecorded.reasoning_tokens += response.usage.reasoning_tokens;
        self.unrecorded.cost_usd += response.cost_usd;
        if response.usage_estimated {
            self.unrecorded.estimated_turns += 1;
        }
        self.book(book)?;
        let used = self.used();
        (self.emit)(Event::Usage {
            turns: used.turns,
            tokens: used.total_tokens(),
            cost_usd: used.cost_usd,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        });
        if self.interrupt.is_set() {
            return Ok(Turn::Interrupted);
        }
        Ok(Turn::Response(response))
    }
}

impl Agent<'_> {
    /// At a turn boundary: a stop request of `git agent stop` for this run stops it, as
    /// Ctrl-C does. One ref read when the say chain did not move.
    fn look_for_stop_request(&mut self) -> Result<(), LoopError> {
        let tip = self.store.ref_target(&crate::store::say_ref(&self.slug))?;
        if tip == self.stop_checked {
            return Ok(());
        }
        self.stop_checked = tip;
        if let Some(first) = self.store.stop_requests(tip, self.stop_base)?.first() {
            self.interrupt.request_stop(*first);
        }
        Ok(())
    }

    /// What the user said (`git agent say`) that no record lists and this run has not shown
    /// yet; from now on it counts as shown. One ref read when nothing was said since the last
    /// look.
    fn new_said(&mut self) -> Result<Vec<crate::store::Said>, LoopError> {
        let tip = self.store.ref_target(&crate::store::say_ref(&self.slug))?;
        if tip.is_none() || tip == self.said_tip {
            return Ok(Vec::new());
        }
        let task = self.store.task(&self.slug)?;
        let undelivered = self.store.undelivered(&task)?;
        self.said_tip = tip;
        let mut out = Vec::new();
        for said in undelivered {
            let id = said.commit.to_string();
            if self.said_shown.insert(id.clone()) {
                self.said_unrecorded.push(id.clone());
                (self.emit)(Event::Said {
                    commit: id,
                    message: said.message.clone(),
                });
                out.push(said);
            }
        }
        Ok(out)
    }

    /// Show new messages of `git agent say` to the model: appended to the last user message,
    /// as the providers allow no two user messages in a row.
    fn deliver_said(&mut self, messages: &mut [Message]) -> Result<(), LoopError> {
        let said = self.new_said()?;
        if let Some(last) = messages.last_mut() {
            for s in said {
                last.content.push(ContentBlock::text(said_text(&s.message)));
            }
        }
        Ok(())
    }

    /// Tell the renderers about a tool call and count it in the step's usage.
    fn announce_tool_call(&mut self, name: &str, input: &Input) {
        let detail = match input {
            Ok(input) => describe(name, input),
            Err(_) => "(input not a JSON object)".to_string(),
        };
        (self.emit)(Event::ToolCall {
            name: name.to_string(),
            detail,
        });
        self.unrecorded.tool_calls += 1;
    }
}

/// Why the loop could not go on. The cause is kept (not flattened into a string), so its hint
/// reaches the stop record and the user.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Model(#[from] crate::llm::LlmError),
    #[error(transparent)]
    SecretConfig(#[from] crate::policy::SecretConfigError),
    /// A failure the loop itself found (an invalid plan it cannot go on with, …).
    #[error("{0}")]
    Loop(String),
}

impl From<String> for LoopError {
    fn from(message: String) -> LoopError {
        LoopError::Loop(message)
    }
}

impl crate::error::Advice for LoopError {
    fn hint(&self) -> Option<String> {
        match self {
            LoopError::Store(err) => err.hint(),
            LoopError::Model(err) => err.hint(),
            LoopError::SecretConfig(_) | LoopError::Loop(_) => None,
        }
    }
}

/// The input of a tool call, or what is wrong with it.
type Input = Result<serde_json::Value, String>;

/// The tool calls of a response as owned `(id, name, input)`, to run while the conversation grows.
fn owned_tool_calls(response: &Response) -> Vec<(String, String, Input)> {
    response
        .tool_calls()
        .map(|(id, name, input)| {
            (
                id.to_string(),
                name.to_string(),
                input.cloned().map_err(str::to_string),
            )
        })
        .collect()
}

/// The tool error for a call whose input is not a JSON object: nothing ran, and the model can
/// send the call again.
fn invalid_input(name: &str, error: &str) -> crate::tools::ToolOutput {
    crate::tools::ToolOutput::error(format!(
        "the input of `{name}` must be a JSON object of its parameters; what arrived is {error}, \
         so nothing was run. Send the call again with its whole input."
    ))
}

/// A short one-line description of a tool input, for progress lines.
fn describe(name: &str, input: &serde_json::Value) -> String {
    match crate::tools::registry::find(name) {
        Some(tool) => tool.describe(input),
        // An MCP server's tool: its input's text fields, in order.
        None => {
            let parts: Vec<&str> = input
                .as_object()
                .into_iter()
                .flat_map(|o| o.values())
                .filter_map(serde_json::Value::as_str)
                .collect();
            crate::text::first_line(parts.join(" ").trim(), 100)
        }
    }
}

/// How a message of `git agent say` reaches a model.
fn said_text(message: &str) -> String {
    format!("Message from the user (git agent say): {message}")
}

/// Tool results of one assistant message, answered in one user message.
fn tool_results(results: Vec<(String, crate::tools::ToolOutput)>) -> Message {
    Message {
        role: crate::llm::Role::User,
        content: results
            .into_iter()
            .map(|(id, out)| ContentBlock::ToolResult {
                tool_use_id: id,
                content: out.content,
                is_error: out.is_error,
            })
            .collect(),
    }
}
