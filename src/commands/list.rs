//! `git agent list`: tasks with state, step, tests and cost.

use super::Context;
use crate::app::read::TaskInfo;
use crate::app::views::attempt_name;
use crate::error::Exit;
use crate::store::TaskRow;
use crate::text::first_line;
use crate::text::terminal::line;

pub fn cmd_list(ctx: &Context) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let rows: Vec<_> = store
        .task_rows()?
        .into_iter()
        .map(|(slug, row)| row.map_err(|err| (slug, err)))
        .collect();
    // One write of the whole table: stdout is line-buffered, and a thousand tasks would be a
    // thousand writes.
    let mut table: Vec<String> = Vec::with_capacity(rows.len() + 1);
    let names: std::collections::HashSet<String> = rows
        .iter()
        .map(|r| match r {
            Ok(s) => s.task.slug.clone(),
            Err((slug, _)) => slug.clone(),
        })
        .collect();
    if ctx.global.json {
        for row in &rows {
            let value = match row {
                Ok(s) => {
                    let mut value = row_json(s)?;
                    if let (Some((task, k)), Some(map)) =
                        (attempt_name(&s.task.slug, &names), value.as_object_mut())
                    {
                        map.insert(
                            "attempt_of".into(),
                            serde_json::json!({"task": task, "k": k}),
                        );
                    }
                    value
                }
                Err((slug, err)) => {
                    serde_json::json!({"type": "task", "slug": slug, "error": err.to_string()})
                }
            };
            table.push(value.to_string());
        }
        if !table.is_empty() {
            ctx.json_lines(&table.join("\n"));
        }
        return Ok(Exit::Done);
    }
    if rows.is_empty() {
        ctx.say("No tasks yet. Start one with: git agent start \"goal\"");
        return Ok(Exit::Done);
    }
    let width = rows
        .iter()
        .map(|r| match r {
            Ok(s) => s.task.slug.len(),
            Err((slug, _)) => slug.len(),
        })
        .max()
        .unwrap_or(4)
        .max(4);
    table.push(format!(
        "{:<width$}  {:<11}  {:>5}  {:<7}  {:>8}  GOAL",
        "TASK", "STATE", "STEP", "TESTS", "COST"
    ));
    let color = crate::ui::use_color_stdout(&ctx.global.style());
    for row in rows {
        match row {
            // Printed raw for the state's colour: every other column is escaped here.
            Ok(s) => table.push(format!(
                "{:<width$}  {}  {:>5}  {:<7}  {:>8}  {}",
                line(&s.task.slug),
                paint_state(s.state, color),
                format!("{}/{}", s.step.0, s.step.1),
                line(
                    s.last_tests
                        .as_deref()
                        .and_then(|t| t.split_whitespace().next())
                        .unwrap_or("-")
                ),
                format!("${:.2}", s.budget.usage.cost_usd),
                line(&match attempt_name(&s.task.slug, &names) {
                    Some((task, k)) => format!("attempt {k} of {task}"),
                    None => first_line(&s.task.goal, 60),
                }),
            )),
            Err((slug, err)) => table.push(format!(
                "{:<width$}  {:<11}  {}",
                line(&slug),
                "broken",
                line(&err.to_string())
            )),
        }
    }
    ctx.out_raw(table.join("\n"));
    Ok(Exit::Done)
}

/// The state, padded to its column, coloured on a terminal.
pub fn paint_state(state: crate::store::TaskState, color: bool) -> String {
    use crate::store::TaskState::*;
    let text = format!("{:<11}", state.as_str());
    if !color {
        return text;
    }
    let code = match state {
        Done | Merged => "32",
        Running | Planning => "36",
        Blocked | Error => "31",
        Budget | Interrupted => "33",
        Idle => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A task's row as `--json` prints it: the [`TaskInfo`] view with its `type`.
pub fn row_json(s: &TaskRow) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(TaskInfo::from(s))?;
    value["type"] = "task".into();
    Ok(value)
}
