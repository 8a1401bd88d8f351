//! The executor: one step at a time, a fresh context per step, tests and a checkpoint after
//! every `finish_step`, rollback and replanning when a step keeps failing.

use gix::ObjectId;
use serde_json::Value;

use super::context::{StepContext, step_message};
use super::testrun::run_tests;
use super::window::{ContextWindow, Pressure};
use super::{
    ANSWER_TOKENS, Agent, Book, Event, LoopError, Outcome, Turn, invalid_input, owned_tool_calls,
    tool_results,
};
use crate::llm::{Message, StopReason, ToolSpec};
use crate::policy::SecretAllowList;
use crate::store::StoreError;
use crate::store::format::record::TestRun;
use crate::store::{
    Changes, Checkpoint, CheckpointInput, CheckpointRecord, Plan, PlanStatus, RollbackTarget, Task,
    TestsSummary, TestsVerdict,
};
use crate::tools::ToolOutput;

const EXECUTOR_PROMPT: &str = include_str!("prompts/executor.md");
const MAX_NUDGES: u32 = 3;
const MAX_REFUSALS: u32 = 5;
/// Tool calls with malformed input in one try before the try ends.
const MAX_INVALID_CALLS: u32 = 3;
/// The same call with the same input this many times in a row is a loop: the try ends.
const REPEATS_FOR_A_LOOP: u32 = 3;

/// What `finish_step` said.
struct Finish {
    summary: String,
    expected: String,
    risks: String,
    next: String,
}

/// What a tool call of a step comes to: an answer for the model, or the end of the step.
enum Call {
    Answered(ToolOutput),
    Ends(StepEnd),
}

enum StepEnd {
    Finished(Finish),
    /// The try ended without a checkpoint; the reason goes into the plan's `attempts`.
    TryEnded(String),
    Stop(Outcome),
}

/// What the loop does next at a step boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextMove {
    /// Every step of the plan has a checkpoint.
    Done,
    /// Work on the step (another try).
    Work,
    /// The step failed its tries: roll back to the last green checkpoint and plan again.
    Replan,
}

/// The stop rule at a step boundary, from where the task stands (`position`): a pure
/// decision, so the rule is tested without a model.
fn next_move(step: u32, steps: u32, failed_tries: u32, tries_per_step: u32) -> NextMove {
    if step > steps {
        NextMove::Done
    } else if failed_tries >= tries_per_step {
        NextMove::Replan
    } else {
        NextMove::Work
    }
}

/// Whether a task that has now been replanned `replans` times has used up its `limit`: it
/// then stops `blocked` instead of planning again.
fn replans_exhausted(replans: u32, limit: u32) -> bool {
    replans > limit
}

/// Where the task stands, read from git: the next step, how many of its tries failed
/// already — failing checkpoints and tries that ended without one (the plan's `attempts`) —
/// and the last test result.
fn position(
    checkpoints: &[Checkpoint],
    plan: &Plan,
    task_commit: ObjectId,
) -> (u32, u32, Option<TestRun>) {
    let step_of = |c: &Checkpoint| c.typed.step_index();
    let (step, streak, last_test) = match checkpoints.last() {
        None => (1, 0, None),
        Some(last) => {
            let step = step_of(last);
            let last_test = last.record.as_ref().map(|r| r.tests.clone());
            if last.tests_verdict() == Some(TestsVerdict::Fail) {
                let streak = checkpoints
                    .iter()
                    .rev()
                    .take_while(|c| {
                        step_of(c) == step && c.tests_verdict() == Some(TestsVerdict::Fail)
                    })
                    .count();
                (step.max(1), streak, last_test)
            } else {
                (step + 1, 0, last_test)
            }
        }
    };
    // The tips a try of this step started from: each failing checkpoint of the streak, and
    // the commit before it.
    let n = checkpoints.len();
    let mut tips: Vec<String> = checkpoints[n - streak..]
        .iter()
        .map(|c| c.commit.to_string())
        .collect();
    tips.push(
        n.checked_sub(streak + 1)
            .map_or(task_commit, |i| checkpoints[i].commit)
            .to_string(),
    );
    let failed_tries = plan
        .attempts
        .iter()
        .filter(|a| a.is_failed_try_of(step, plan.replans, &tips))
        .count();
    (step, (streak + failed_tries) as u32, last_test)
}

/// How the harness's checkpoint of a step went.
enum Checkpointed {
    /// It landed: without the paths it could not reach (each with why), and what it warned
    /// about.
    Made {
        left_out: Vec<String>,
        warnings: Vec<String>,
    },
    /// Refused as a whole: the secret scan's findings, files too large to commit, or a
    /// submodule's change.
    Refused(Vec<String>),
}

/// What the next step is told of paths its checkpoint left out, if any.
fn left_out_feedback(left_out: &[String]) -> Option<String> {
    (!left_out.is_empty()).then(|| {
        format!(
            "The last checkpoint was made without these paths, which it cannot reach; they stay in \
             the worktree but no checkpoint will ever hold them. Remove them:\n- {}",
            left_out.join("\n- ")
        )
    })
}

impl Agent<'_> {
    pub(super) async fn work(&mut self) -> Result<Outcome, LoopError> {
        let store = self.store;
        let task = store.task(&self.slug)?;
        let mut plan = store.plan(&task)?;
        // A plan blocked by the planner is planned again (told why it blocked): the user
        // resumed it.
        if (plan.status != PlanStatus::Ready || plan.steps.is_empty())
            && let Some(outcome) = self.plan(&task, &mut plan, None).await?
        {
            return Ok(outcome);
        }
        if self.plan_only {
            return Ok(Outcome::Done("planned".into()));
        }
        self.start_mcp_servers().await;
        let mut feedback: Option<String> = None;
        // What the last checkpoint warned about, for the model to see in the next step.
        let mut warned: Vec<String> = Vec::new();
        loop {
            let task = store.task(&self.slug)?;
            let plan = store.plan(&task)?;
            // Enough history for the stop rules and the context, not the whole branch.
            let recent = (self.config.step_attempts as usize).max(5) + 1;
            let checkpoints = store.recent_checkpoints(&task, recent)?;
            let (step, tries, last_test) = position(&checkpoints, &plan, task.task_commit);
            let steps = plan.steps.len() as u32;
            match next_move(step, steps, tries, self.config.step_attempts) {
                NextMove::Done => {
                    return Ok(Outcome::Done(match &last_test {
                        Some(t) if t.verdict == TestsVerdict::Pass => {
                            format!("all {steps} steps done; `{}`: {}", t.command, t.summary)
                        }
                        _ => format!("all {steps} steps done"),
                    }));
                }
                NextMove::Replan => {
                    if let Some(outcome) = self
                        .replan_after_failures(&task, step, tries, last_test.as_ref())
                        .await?
                    {
                        return Ok(outcome);
                    }
                    continue;
                }
                NextMove::Work => {}
            }
            (self.emit)(Event::StepStarted {
                step,
                steps,
                title: plan.steps[(step - 1) as usize].title.clone(),
                attempt: tries + 1,
            });
            let context = step_message(&StepContext {
                plan: &plan,
                step,
                done: &checkpoints,
                last_test: last_test.as_ref(),
                feedback: feedback.as_deref(),
                warnings: &warned,
            });
            let finish = match self.run_step(context).await? {
                StepEnd::Finished(finish) => finish,
                StepEnd::TryEnded(reason) => {
                    feedback = Some(self.end_try(&task, step, &reason)?);
                    continue;
                }
                StepEnd::Stop(outcome) => return Ok(outcome),
            };
            let tests = self.run_harness_tests(&plan).await;
            if self.interrupt.is_set() {
                return Ok(Outcome::Interrupted);
            }
            // The secret scan reads the blobs the checkpoint is about to write, after the
            // tests, so a file the test command wrote is scanned too.
            let findings = match self.checkpoint(&task, &plan, step, finish, tests)? {
                Checkpointed::Made { left_out, warnings } => {
                    feedback = left_out_feedback(&left_out);
                    warned = warnings;
                    continue;
                }
                Checkpointed::Refused(findings) => findings,
            };
            (self.emit)(Event::SecretFound {
                findings: findings.clone(),
            });
            let reason = format!("the checkpoint was refused: {}", findings.join("; "));
            self.end_try(&task, step, &reason)?;
            feedback = Some(format!(
                "The secret scan found secrets in your change; nothing was committed. Remove them (use \
                 environment variables or config outside the repository), and any file too large to \
                 commit:\n- {}",
                findings.join("\n- ")
            ));
        }
    }

    /// Start the configured MCP servers, once a run, and say what each offers. The planner
    /// gets none of their tools: it only reads.
    async fn start_mcp_servers(&mut self) {
        for started in self.tools.mcp.start().await {
            let (tools, error) = match started.result {
                Ok(tools) => (tools, None),
                Err(error) => (Vec::new(), Some(error)),
            };
            (self.emit)(Event::McpServer {
                server: started.server,
                tools,
                skipped: started.skipped,
                error,
            });
        }
    }

    /// A try that made no checkpoint counts: its work goes to the attic, its reason into the
    /// plan's `attempts`, and the worktree back to the tip. Returns what the next try is told.
    fn end_try(&mut self, task: &Task, step: u32, reason: &str) -> Result<String, LoopError> {
        let task = self.store.task(&task.slug)?;
        let attic = self
            .store
            .record_failed_try(&task, &self.worktree, step, reason)?;
        (self.emit)(Event::TryEnded {
            step,
            reason: reason.to_string(),
            attic: attic.clone(),
        });
        Ok(format!(
            "Your previous try of this step ended without a checkpoint: {reason}. Its work is kept \
             in the attic{}; the worktree is back at the last checkpoint. Try a different approach.",
            attic.map(|a| format!(" ({a})")).unwrap_or_default()
        ))
    }

    /// Model turns with tools until `finish_step`, `report_blocked`, a budget or Ctrl-C.
    async fn run_step(&mut self, context: String) -> Result<StepEnd, LoopError> {
        let mut messages = vec![Message::user(context)];
        let model = self.config.model.clone();
        let mut tools = crate::tools::registry::executor_specs(&model);
        tools.extend(self.tools.mcp.specs());
        let mut nudges = 0;
        let mut edits_since_run = 0;
        let mut invalid_calls = 0;
        let mut last_call: Option<(String, String)> = None;
        let mut repeats = 0;
        let mut window = ContextWindow::new(
            crate::llm::context_window(&model, self.config.context_window),
            u64::from(ANSWER_TOKENS + self.config.thinking.budget_tokens()),
        );
        for _ in 0..self.config.max_step_turns {
            self.deliver_said(&mut messages)?;
            let response = match self.fitted_turn(&mut window, &tools, &mut messages).await? {
                Turn::Response(r) => r,
                Turn::Interrupted => return Ok(StepEnd::Stop(Outcome::Interrupted)),
                Turn::Budget(why) => return Ok(StepEnd::Stop(Outcome::Budget(why))),
            };
            messages.push(Message::assistant(response.content.clone()));
            let calls = owned_tool_calls(&response);
            if calls.is_empty() {
                if response.stop_reason == StopReason::Refusal {
                    return Ok(StepEnd::Stop(Outcome::Blocked(
                        "the model refused the step".into(),
                    )));
                }
                nudges += 1;
                if nudges > MAX_NUDGES {
                    return Ok(StepEnd::TryEnded(format!(
                        "{nudges} answers in a row called no tool{}",
                        if response.stop_reason == StopReason::MaxTokens {
                            " (cut at the token limit)"
                        } else {
                            ""
                        }
                    )));
                }
                let nudge = if response.stop_reason == StopReason::MaxTokens {
                    "Your answer was cut off. Continue with smaller tool calls."
                } else {
                    "Continue with the tools; call finish_step when the step is done, or report_blocked."
                };
                messages.push(Message::user(nudge));
                continue;
            }
            nudges = 0;
            let mut results = Vec::new();
            for (id, name, input) in calls {
                self.announce_tool_call(&name, &input);
                // Broken input is counted on its own (below), not as a repeat.
                let call = input.as_ref().ok().map(|i| (name.clone(), i.to_string()));
                repeats = if call.is_some() && last_call == call {
                    repeats + 1
                } else {
                    1
                };
                last_call = call;
                if repeats >= REPEATS_FOR_A_LOOP {
                    return Ok(StepEnd::TryEnded(format!(
                        "the same `{name}` call was repeated {repeats} times in a row"
                    )));
                }
                let input = match input {
                    Ok(input) => input,
                    Err(error) => {
                        invalid_calls += 1;
                        if invalid_calls >= MAX_INVALID_CALLS {
                            return Ok(StepEnd::TryEnded(format!(
                                "{invalid_calls} tool calls had malformed input"
                            )));
                        }
                        let out = invalid_input(&name, &error);
                        (self.emit)(Event::ToolResult {
                            name: name.clone(),
                            is_error: true,
                            detail: crate::text::first_line(out.content.trim(), 100),
                        });
                        results.push((id, out));
                        continue;
                    }
                };
                match self.handle_call(&name, &input, &mut edits_since_run).await {
                    Call::Answered(out) => results.push((id, out)),
                    Call::Ends(end) => return Ok(end),
                }
            }
            messages.push(tool_results(results));
            if self.tools.refusals >= MAX_REFUSALS {
                return Ok(StepEnd::Stop(Outcome::Blocked(format!(
                    "{} commands were refused by the command policy",
                    self.tools.refusals
                ))));
            }
        }
        Ok(StepEnd::TryEnded(format!(
            "the step was not finished in {} model turns",
            self.config.max_step_turns
        )))
    }

    /// One tool call with well-formed input: `finish_step` and `report_blocked` end the step,
    /// every other tool answers the model.
    async fn handle_call(&mut self, name: &str, input: &Value, edits_since_run: &mut u32) -> Call {
        let text = |k: &str| {
            input
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        match name {
            "finish_step" => {
                let summary = text("summary");
                if summary.is_empty() {
                    return Call::Answered(ToolOutput::error("finish_step needs a `summary`"));
                }
                Call::Ends(StepEnd::Finished(Finish {
                    summary,
                    expected: text("expected_outcome"),
                    risks: text("risks"),
                    next: text("next_step"),
                }))
            }
            "report_blocked" => Call::Ends(StepEnd::Stop(Outcome::Blocked(text("reason")))),
            _ => Call::Answered(self.call_tool(name, input, edits_since_run).await),
        }
    }

    /// A tool of the toolbox or of an MCP server, run and shown; `edits_since_run` counts
    /// the edits since a command last ran, and refuses one edit too many.
    async fn call_tool(
        &mut self,
        name: &str,
        input: &Value,
        edits_since_run: &mut u32,
    ) -> ToolOutput {
        use crate::tools::registry::{Kind, is};
        let is_edit = is(name, Kind::Edit);
        let out = if is_edit && *edits_since_run >= self.config.max_edits_before_test {
            ToolOutput::error(format!(
                "{edits_since_run} edits without running anything: run the tests with run_command first"
            ))
        } else if self.tools.mcp.offers(name) {
            // A server's call may take its whole timeout: Ctrl-C does not wait for it (the
            // server is stopped with the run).
            let interrupt = self.interrupt.clone();
            tokio::select! {
                out = self.tools.call(name, input) => out,
                () = interrupt.wait() => ToolOutput::error("interrupted (Ctrl-C) before the MCP server answered"),
            }
        } else {
            self.tools.call(name, input).await
        };
        if is_edit && !out.is_error {
            *edits_since_run += 1;
        }
        if is(name, Kind::Command) {
            *edits_since_run = 0;
        }
        (self.emit)(Event::ToolResult {
            name: name.to_string(),
            is_error: out.is_error,
            detail: crate::text::first_line(out.content.trim(), 100),
        });
        out
    }

    /// One executor turn, the conversation fitted to the model's context window first. A
    /// request the server still refuses as too long is fitted harder (the window it names
    /// learned) and sent once more; if nothing is left to clear, the error stands.
    async fn fitted_turn(
        &mut self,
        window: &mut ContextWindow,
        tools: &[ToolSpec],
        messages: &mut [Message],
    ) -> Result<Turn, LoopError> {
        let fixed = EXECUTOR_PROMPT.len() + serde_json::to_string(tools).map_or(0, |t| t.len());
        let model = self.config.model.clone();
        let mut refused = false;
        loop {
            let cleared = window.fit(fixed, messages, Pressure::Routine);
            if cleared.results > 0 {
                tracing::debug!(
                    "cleared {} tool results to fit a {}-token window: about {} tokens before, {} after",
                    cleared.results,
                    window.window(),
                    cleared.before,
                    cleared.after
                );
            }
            let bytes = fixed + serde_json::to_string(&*messages).map_or(0, |m| m.len());
            let turn = self
                .turn(
                    &model,
                    self.config.thinking,
                    EXECUTOR_PROMPT,
                    messages,
                    tools.to_vec(),
                    Book::Pending,
                )
                .await;
            match turn {
                Ok(Turn::Response(response)) => {
                    if !response.usage_estimated {
                        let usage = &response.usage;
                        window.measured(
                            bytes,
                            usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
                        );
                    }
                    return Ok(Turn::Response(response));
                }
                Err(LoopError::Model(err)) if err.is_context_overflow() && !refused => {
                    refused = true;
                    let named = err.context_window();
                    window.shrink(named.unwrap_or(window.estimate(bytes) * 9 / 10));
                    let cleared = window.fit(fixed, messages, Pressure::Refused);
                    tracing::debug!(
                        "the server refused a prompt as too long (window {named:?}); cleared {} more tool results",
                        cleared.results
                    );
                    if cleared.results == 0 {
                        return Err(LoopError::Model(err));
                    }
                }
                other => return other,
            }
        }
    }

    /// What the next checkpoint looks at: the paths the watch saw change, or (`None`, or
    /// [`Changes::Unknown`]) the whole worktree. A watch that lost track is armed anew
    /// first, so that what changes while the walk runs is seen by the next checkpoint.
    /// The checkpoint of the plan's last step walks too: what inotify cannot see (a write
    /// through a shared mapping, a file changed through a hard link) is in the task's
    /// result all the same.
    fn changes_to_checkpoint(&mut self, last_step: bool) -> Option<Changes> {
        let watch = self.watch.as_mut()?;
        let changes = watch.changes();
        if let Changes::Unknown(why) = &changes {
            tracing::debug!("the checkpoint walks the worktree: {why}");
            self.arm_watch();
            return Some(changes);
        }
        if self.walk_next {
            return Some(Changes::Unknown("the first checkpoint of a run".into()));
        }
        if last_step {
            return Some(Changes::Unknown("the checkpoint of the last step".into()));
        }
        Some(changes)
    }

    async fn run_harness_tests(&mut self, plan: &Plan) -> TestRun {
        let command = self
            .config
            .test_command
            .clone()
            .unwrap_or_else(|| plan.test_command.clone());
        let interrupt = self.interrupt.clone();
        let tests = tokio::select! {
            t = run_tests(&command, &self.worktree, &self.tools.sandbox, self.config.test_timeout) => t,
            _ = interrupt.wait() => TestRun { command: command.clone(), verdict: TestsVerdict::NotRun, summary: "interrupted".into(), ..TestRun::default() },
        };
        super::telemetry::tests_ran(&tests);
        (self.emit)(Event::Tests {
            command: tests.command.clone(),
            verdict: tests.verdict,
            summary: tests.summary.clone(),
        });
        tests
    }

    fn checkpoint(
        &mut self,
        task: &Task,
        plan: &Plan,
        step: u32,
        finish: Finish,
        tests: TestRun,
    ) -> Result<Checkpointed, LoopError> {
        let verdict = tests.verdict;
        // The step's usage is in the tip's pending usage, turn by turn (with that of earlier
        // runs that stopped on this tip); the checkpoint takes it into its record, in the same
        // notes commit that clears it from the tip.
        let (pending, tip_note) = self.store.take_pending(task)?;
        let fresh = self.take_unrecorded();
        let said = std::mem::take(&mut self.said_unrecorded);
        let mut usage = pending;
        usage.add(&fresh);
        let secret_allow =
            SecretAllowList::new(&self.config.secret_allow, &[])?.without_inline_marker();
        let steps = plan.steps.len() as u32;
        let next = if verdict == TestsVerdict::Fail {
            format!("fix the failing tests of step {step}")
        } else if finish.next.is_empty() {
            if step >= steps {
                "done".into()
            } else {
                plan.steps[step as usize].title.clone()
            }
        } else {
            finish.next.clone()
        };
        let body = format!(
            "Step {step}/{steps}: {}",
            plan.steps[(step - 1) as usize].title
        );
        let changes = self.changes_to_checkpoint(step >= steps);
        let merge_parent = self.store.pending_update(task, plan)?;
        let scope = match &changes {
            Some(Changes::Paths(paths)) => Some(paths),
            _ => None,
        };
        let outcome = self.store.checkpoint_with_tip_note(
            task,
            &self.worktree,
            CheckpointInput {
                summary: &finish.summary,
                body: &body,
                step,
                steps,
                expected: &finish.expected,
                tests: TestsSummary {
                    verdict,
                    command: tests.command.clone(),
                    summary: tests.summary.clone(),
                },
                risks: if finish.risks.is_empty() {
                    "none"
                } else {
                    &finish.risks
                },
                next: &next,
                model: &self.config.model,
                record: CheckpointRecord {
                    provider: self.provider.name().to_string(),
                    model: self.config.model.clone(),
                    usage: usage.rounded(),
                    tests: tests.clone(),
                    said: said.clone(),
                    trace: super::telemetry::trace_id().unwrap_or_default(),
                    ..CheckpointRecord::default()
                },
                co_author: self.config.co_author.as_deref(),
                secret_allow: Some(&secret_allow),
                scope,
                merge_parent,
            },
            Some(tip_note),
        );
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(StoreError::Refused { findings }) => {
                // Nothing landed: the tip keeps its pending usage, and this run's fresh usage
                // waits for the next checkpoint or the stop.
                self.unrecorded.add(&fresh);
                self.said_unrecorded.splice(0..0, said);
                return Ok(Checkpointed::Refused(findings));
            }
            Err(err) => return Err(err.into()),
        };
        self.base.add(&fresh);
        if let (Some(watch), Some(changes)) = (&mut self.watch, &changes) {
            watch.settle(changes);
            self.walk_next = false;
        }
        (self.emit)(Event::Checkpoint {
            number: outcome.number,
            commit: outcome.commit.to_string(),
            step,
            tests: format!("{} ({})", verdict.as_str(), tests.summary),
            files_changed: outcome.files_changed,
            checkpoint_ms: outcome.checkpoint_ms,
            warnings: outcome.warnings.clone(),
        });
        if !outcome.left_out.is_empty() {
            (self.emit)(Event::LeftOut {
                paths: outcome.left_out.clone(),
            });
        }
        Ok(Checkpointed::Made {
            left_out: outcome.left_out,
            warnings: outcome.warnings,
        })
    }

    /// K failing tries: roll back to the last green checkpoint, record the attempt, replan;
    /// after R replans, stop blocked.
    async fn replan_after_failures(
        &mut self,
        task: &Task,
        step: u32,
        tries: u32,
        last: Option<&TestRun>,
    ) -> Result<Option<Outcome>, LoopError> {
        let reason = format!(
            "step {step} failed {tries} tries{}",
            last.map(|t| format!(" (last tests `{}`: {})", t.command, t.summary))
                .unwrap_or_default()
        );
        // Tries that ended without a checkpoint leave nothing to roll back: the tip may
        // already be the last green commit.
        let to = match self.store.rollback_target(task, &RollbackTarget::LastGreen) {
            Ok(to) => Some(to),
            Err(StoreError::NothingToRollBack(_)) => None,
            Err(err) => return Err(err.into()),
        };
        if let Some(to) = to {
            let rolled = self
                .store
                .rollback(task, to, &reason, Some(&self.worktree))?;
            (self.emit)(Event::Rollback {
                from: rolled.from.to_string(),
                to: rolled.to.to_string(),
                attic: rolled.attic.clone(),
                reason: reason.clone(),
            });
        }
        let task = self.store.task(&self.slug)?;
        let mut plan = self.store.plan(&task)?;
        plan.replans += 1;
        if replans_exhausted(plan.replans, self.config.replans) {
            self.store.write_plan(&task, &plan, "replans exhausted")?;
            return Ok(Some(Outcome::Blocked(format!(
                "{reason}; gave up after {} replans",
                self.config.replans
            ))));
        }
        let kept = self.store.current_step(task.tip)?;
        self.plan(&task, &mut plan, Some(kept)).await
    }
}

#[cfg(test)]
mod decision_tests {
    use super::{NextMove, next_move, replans_exhausted};

    #[test]
    fn a_step_is_worked_until_its_tries_are_spent_then_replanned() {
        // (step, steps, failed tries, tries per step) -> what happens
        let table = [
            ((1, 2, 0, 2), NextMove::Work),
            ((1, 2, 1, 2), NextMove::Work),
            ((1, 2, 2, 2), NextMove::Replan),
            ((2, 2, 5, 2), NextMove::Replan),
            ((3, 2, 0, 2), NextMove::Done),
            // Past the last step the task is done even if the last tries failed: those
            // belong to a step that was finished.
            ((3, 2, 2, 2), NextMove::Done),
            // A plan with no steps has nothing to do.
            ((1, 0, 0, 2), NextMove::Done),
            // One try per step: the first failure replans.
            ((1, 3, 1, 1), NextMove::Replan),
        ];
        for ((step, steps, tries, per_step), expected) in table {
            assert_eq!(
                next_move(step, steps, tries, per_step),
                expected,
                "step {step}/{steps}, {tries} failed of {per_step}"
            );
        }
    }

    #[test]
    fn the_replan_limit_allows_exactly_that_many_replans() {
        assert!(!replans_exhausted(1, 2));
        assert!(!replans_exhausted(2, 2));
        assert!(replans_exhausted(3, 2));
        // No replans allowed: the first failure stops the run.
        assert!(replans_exhausted(1, 0));
    }
}

#[cfg(test)]
mod carried_tests {
    use super::position;
    use crate::store::{Checkpoint, Trailers, trailer};

    #[test]
    fn the_carried_commit_is_before_step_one() {
        let mut trailers = Trailers::default();
        trailers.push(trailer::CHECKPOINT, "1");
        trailers.push(trailer::STEP, "0/0");
        trailers.push(trailer::TESTS, "not-run");
        trailers.push(trailer::CARRIED, "working tree");
        let carried = Checkpoint::new(
            gix::ObjectId::null(gix::hash::Kind::Sha1),
            format!(
                "agent: carried over from the working tree\n\n{}",
                trailers.render()
            ),
            None,
        );
        let null = gix::ObjectId::null(gix::hash::Kind::Sha1);
        let (step, tries, last) = position(&[carried], &crate::store::Plan::default(), null);
        assert_eq!((step, tries), (1, 0));
        assert!(last.is_none());
    }
}
