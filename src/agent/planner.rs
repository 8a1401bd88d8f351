//! The planner: looks at the repository with read-only tools and answers with
//! `submit_plan`, validated here; a malformed plan goes back to the model as a tool error.

use serde_json::Value;

use super::context::{PlannerContext, planner_message};
use super::{
    Agent, Book, Event, LoopError, Outcome, Turn, invalid_input, owned_tool_calls, tool_results,
};
use crate::llm::{Message, StopReason};
use crate::store::{Plan, PlanStatus, PlanStep, Task};
use crate::tools::ToolOutput;
use crate::tools::registry::{self, Kind};

const PLANNER_PROMPT: &str = include_str!("prompts/planner.md");
const MAX_TURNS: u32 = 30;
const MAX_INVALID: u32 = 3;

/// A plan the model submitted: objective, constraints, acceptance criteria, test command, steps.
type Submitted = (String, Vec<String>, Vec<String>, String, Vec<PlanStep>);

/// A plan the model submitted, checked against the schema.
fn parse_plan(
    input: &Value,
    configured_test: Option<&str>,
    max_steps: usize,
) -> Result<Submitted, String> {
    let mut problems = Vec::new();
    let text = |k: &str| {
        input
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    let list = |k: &str, problems: &mut Vec<String>| match input.get(k) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => {
            problems.push(format!("`{k}` must be an array of strings"));
            Vec::new()
        }
        None => Vec::new(),
    };
    let objective = text("objective");
    if objective.is_empty() {
        problems.push("`objective` is missing or empty".to_string());
    }
    let constraints = list("constraints", &mut problems);
    let acceptance = list("acceptance_criteria", &mut problems);
    let mut test_command = text("test_command");
    if let Some(configured) = configured_test {
        test_command = configured.to_string();
    }
    if test_command.is_empty() {
        problems.push(
            "`test_command` is missing: give the command that runs the project's tests".to_string(),
        );
    }
    let mut steps = Vec::new();
    match input.get("steps") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                let title = item
                    .get("title")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or_default();
                let detail = item
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or_default();
                if title.is_empty() {
                    problems.push(format!("step {} has no `title`", i + 1));
                }
                steps.push(PlanStep {
                    title: title.to_string(),
                    detail: detail.to_string(),
                });
            }
            if items.len() > max_steps {
                problems.push(format!(
                    "{} steps is too many; at most {max_steps}, make them coarser",
                    items.len()
                ));
            }
        }
        _ => problems.push("`steps` must be a non-empty array of {title, detail}".to_string()),
    }
    if problems.is_empty() {
        Ok((objective, constraints, acceptance, test_command, steps))
    } else {
        Err(format!(
            "the plan was not accepted: {}. Call submit_plan again with these fixed.",
            problems.join("; ")
        ))
    }
}

impl Agent<'_> {
    /// Plan (or replan, keeping the first `kept` steps) and write the plan note. A plan that
    /// planning left `blocked` is planned again, the planner told why it blocked. Returns
    /// `Some(outcome)` when planning ends the run. Every planner turn's usage is in the plan
    /// note as soon as it is answered.
    pub(super) async fn plan(
        &mut self,
        task: &Task,
        plan: &mut Plan,
        kept: Option<u32>,
    ) -> Result<Option<Outcome>, LoopError> {
        (self.emit)(Event::Planning {
            replan: plan.replans,
        });
        let history = self
            .store
            .git_output(&["log", "--oneline", "-10", &task.base.to_string()])
            .unwrap_or_default();
        let blocked = if plan.status == PlanStatus::Blocked {
            plan.questions.clone()
        } else {
            Vec::new()
        };
        let message = planner_message(&PlannerContext {
            goal: &task.goal,
            worktree: &self.worktree,
            generated: &self.tools.generated,
            history: &history,
            configured_test_command: self.config.test_command.as_deref(),
            previous: kept.map(|k| (&*plan, k)),
            blocked: &blocked,
        });
        let mut messages = vec![Message::user(message)];
        let tools = registry::planner_specs();
        let model = self.config.planner_model.clone();
        let mut invalid = 0;
        let outcome = 'turns: {
            for _ in 0..MAX_TURNS {
                // What the user said (`git agent say`) and no record lists yet, as their words.
                self.deliver_said(&mut messages)?;
                let response = match self
                    .turn(
                        &model,
                        self.config.planner_thinking,
                        PLANNER_PROMPT,
                        &messages,
                        tools.clone(),
                        Book::Planning(task, plan),
                    )
                    .await?
                {
                    Turn::Response(r) => r,
                    Turn::Interrupted => break 'turns Some(Outcome::Interrupted),
                    Turn::Budget(why) => break 'turns Some(Outcome::Budget(why)),
                };
                messages.push(Message::assistant(response.content.clone()));
                if response.stop_reason == StopReason::Refusal {
                    break 'turns Some(self.block(
                        task,
                        plan,
                        "the planner model refused the goal".into(),
                    )?);
                }
                let calls = owned_tool_calls(&response);
                if calls.is_empty() {
                    messages.push(Message::user(
                        "Call submit_plan with the plan, or report_blocked with your questions.",
                    ));
                    continue;
                }
                let mut results = Vec::new();
                for (id, name, input) in calls {
                    self.announce_tool_call(&name, &input);
                    let input = match input {
                        Ok(input) => input,
                        Err(error) => {
                            results.push((id, invalid_input(&name, &error)));
                            continue;
                        }
                    };
                    match name.as_str() {
                        "submit_plan" => {
                            match parse_plan(
                                &input,
                                self.config.test_command.as_deref(),
                                self.config.max_steps as usize,
                            ) {
                                Ok((objective, constraints, acceptance, test_command, steps)) => {
                                    let keep = kept.unwrap_or(0) as usize;
                                    plan.steps.truncate(keep);
                                    plan.steps.extend(steps);
                                    plan.objective = objective;
                                    plan.constraints = constraints;
                                    plan.acceptance_criteria = acceptance;
                                    plan.test_command = test_command;
                                    plan.status = PlanStatus::Ready;
                                    // Answered by this plan: no longer open.
                                    plan.questions.clear();
                                    plan.planner_model = model.clone();
                                    break 'turns None;
                                }
                                Err(problem) => {
                                    invalid += 1;
                                    if invalid >= MAX_INVALID {
                                        break 'turns Some(Outcome::Failed(format!(
                                            "the planner submitted {invalid} invalid plans; last problem: {problem}"
                                        )));
                                    }
                                    results.push((id, ToolOutput::error(problem)));
                                }
                            }
                        }
                        "report_blocked" => {
                            let reason = input
                                .get("reason")
                                .and_then(Value::as_str)
                                .unwrap_or("no reason given")
                                .to_string();
                            break 'turns Some(self.block(task, plan, reason)?);
                        }
                        _ if registry::is(&name, Kind::Read) => {
                            results.push((id, self.tools.call(&name, &input).await))
                        }
                        _ if registry::find(&name).is_some() => results.push((
                            id,
                            ToolOutput::error(format!("`{name}` is not available while planning")),
                        )),
                        _ => results
                            .push((id, ToolOutput::error(registry::unknown_tool(&name, true)))),
                    }
                }
                messages.push(tool_results(results));
            }
            Some(Outcome::Failed(format!(
                "the planner did not submit a plan in {MAX_TURNS} turns"
            )))
        };
        // The tool calls and the time since the last answer belong to planning too.
        let spent = self.take_unrecorded();
        plan.planner_usage.add(&spent);
        plan.planner_usage = plan.planner_usage.rounded();
        self.base.add(&spent);
        self.store
            .write_plan(task, plan, &format!("plan of {}", task.slug))?;
        if outcome.is_none() {
            (self.emit)(Event::Plan {
                objective: plan.objective.clone(),
                test_command: plan.test_command.clone(),
                steps: plan.steps.iter().map(|s| s.title.clone()).collect(),
            });
        }
        Ok(outcome)
    }

    fn block(
        &mut self,
        _task: &Task,
        plan: &mut Plan,
        reason: String,
    ) -> Result<Outcome, LoopError> {
        plan.status = PlanStatus::Blocked;
        plan.questions.push(reason.clone());
        Ok(Outcome::Blocked(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_plan;
    use serde_json::json;

    #[test]
    fn malformed_plans_are_explained() {
        let err = parse_plan(&json!({"objective": "", "steps": []}), None, 30).unwrap_err();
        assert!(
            err.contains("`objective`")
                && err.contains("`steps`")
                && err.contains("`test_command`"),
            "{err}"
        );
        let ok = parse_plan(
            &json!({"objective": "o", "constraints": [], "acceptance_criteria": ["a"], "test_command": "make test",
                    "steps": [{"title": "t", "detail": "d"}]}),
            None,
            30,
        )
        .unwrap();
        assert_eq!(ok.3, "make test");
        assert_eq!(ok.4.len(), 1);
    }
}
