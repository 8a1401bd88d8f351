//! `git agent plan`: print a task's plan, or change it (`--edit`) in git's editor, as
//! `git commit` does: a TOML file, checked on save, reopened with the error at the top.

use serde::{Deserialize, Serialize};

use super::Context;
use crate::cli::PlanArgs;
use crate::error::{Exit, UserError};
use crate::store::{NotesReader, Plan, PlanStep, Store, StoreError, TaskLock};

/// The part of a plan a person edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Editable {
    objective: String,
    #[serde(default)]
    constraints: Vec<String>,
    #[serde(default)]
    acceptance_criteria: Vec<String>,
    #[serde(default)]
    test_command: String,
    #[serde(default)]
    steps: Vec<PlanStep>,
}

impl Editable {
    fn of(plan: &Plan) -> Editable {
        Editable {
            objective: plan.objective.clone(),
            constraints: plan.constraints.clone(),
            acceptance_criteria: plan.acceptance_criteria.clone(),
            test_command: plan.test_command.clone(),
            steps: plan.steps.clone(),
        }
    }

    /// Parse and check an edited file; the error names the line where it can.
    fn parse(text: &str) -> Result<Editable, String> {
        let edited: Editable = toml::from_str(text).map_err(|err| err.to_string())?;
        if edited.steps.is_empty() {
            return Err("the plan needs at least one step ([[steps]] with a title)".into());
        }
        for (i, step) in edited.steps.iter().enumerate() {
            if step.title.trim().is_empty() {
                let line = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.trim() == "[[steps]]")
                    .nth(i)
                    .map(|(n, _)| format!("line {}: ", n + 1))
                    .unwrap_or_default();
                return Err(format!("{line}step {} has no title", i + 1));
            }
        }
        Ok(edited)
    }
}

pub fn cmd_plan(ctx: &Context, args: PlanArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = if args.edit {
        store.resolve_slug_to_change(args.slug.as_deref())?
    } else {
        super::task_to_show(ctx, &store, args.slug.as_deref())?
    };
    if args.edit {
        return edit(ctx, &store, &slug);
    }
    let task = store.task(&slug)?;
    let plan = NotesReader::new(&store, &slug)?
        .plan(task.task_commit)?
        .unwrap_or_else(|| Plan::new(&task.goal));
    if ctx.global.json {
        let mut value = serde_json::to_value(&plan)?;
        value["type"] = "plan".into();
        value["slug"] = slug.into();
        ctx.json(&value);
    } else {
        ctx.out(render(&slug, &plan));
    }
    Ok(Exit::Done)
}

fn render(slug: &str, plan: &Plan) -> String {
    let mut out = format!("Plan of {slug} (status: {})\n", plan.status);
    out.push_str(&format!("Objective: {}\n", plan.objective));
    let list = |out: &mut String, title: &str, items: &[String]| {
        if !items.is_empty() {
            out.push_str(&format!("{title}:\n"));
            for item in items {
                out.push_str(&format!("  - {item}\n"));
            }
        }
    };
    list(&mut out, "Constraints", &plan.constraints);
    list(&mut out, "Acceptance criteria", &plan.acceptance_criteria);
    list(&mut out, "Questions", &plan.questions);
    out.push_str(&format!("Test command: {}\n", plan.test_command));
    out.push_str("Steps:\n");
    for (i, step) in plan.steps.iter().enumerate() {
        out.push_str(&format!("  {}. {}\n", i + 1, step.title));
        for line in step.detail.lines() {
            out.push_str(&format!("     {line}\n"));
        }
    }
    out.trim_end().to_string()
}

fn edit(ctx: &Context, store: &Store, slug: &str) -> anyhow::Result<Exit> {
    if TaskLock::is_held(store, slug) {
        return Err(running(slug).into());
    }
    let _lock = TaskLock::acquire(store, slug).map_err(|err| match err {
        StoreError::Locked { .. } => anyhow::Error::from(running(slug)),
        other => other.into(),
    })?;
    let task = store.task(slug)?;
    let mut plan = store.plan(&task)?;
    let original = Editable::of(&plan);
    let header = format!(
        "# The plan of task {slug}: objective, constraints, acceptance criteria, test command and\n\
         # steps. Save to record it as a new revision of the plan; `git agent resume {slug}`\n\
         # then follows it. An unchanged or empty file changes nothing.\n\n"
    );
    let body = toml::to_string(&original)?;
    let path = store.agent_dir().join(format!("PLAN_EDIT-{slug}.toml"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let editor = store.git_output(&["var", "GIT_EDITOR"])?.trim().to_string();
    let mut text = format!("{header}{body}");
    // The last text refused: an editor that saves it again unchanged (one that cannot be
    // used interactively, or a user who gave up) ends the edit instead of looping.
    let mut refused: Option<String> = None;
    let edited = loop {
        std::fs::write(&path, &text)?;
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$@\""))
            .arg("editor")
            .arg(&path)
            .status()?;
        if !status.success() {
            let _ = std::fs::remove_file(&path);
            return Err(
                UserError::new(format!("the editor `{editor}` failed ({status})"))
                    .hint("the plan is unchanged; set the editor with `git config core.editor`")
                    .into(),
            );
        }
        let saved = std::fs::read_to_string(&path)?;
        // The errors of the last round are ours, not part of the plan.
        let saved: String = saved
            .lines()
            .skip_while(|l| l.starts_with("# error:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let meaningful = saved
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !meaningful {
            let _ = std::fs::remove_file(&path);
            unchanged(ctx, slug, "Empty plan file: nothing changed.");
            return Ok(Exit::Done);
        }
        match Editable::parse(&saved) {
            Ok(edited) if edited == original => {
                let _ = std::fs::remove_file(&path);
                unchanged(ctx, slug, "The plan is unchanged: nothing written.");
                return Ok(Exit::Done);
            }
            Ok(edited) => break edited,
            Err(error) if refused.as_deref() == Some(saved.as_str()) => {
                let _ = std::fs::remove_file(&path);
                return Err(UserError::new(format!(
                    "the plan of {slug} still has a mistake: {}",
                    error.lines().next().unwrap_or_default().trim()
                ))
                .hint(format!(
                    "the plan is unchanged; fix the mistake in `git agent plan {slug} --edit`"
                ))
                .into());
            }
            Err(error) => {
                // Not an `error:` line: the command goes on, and the line would still stand
                // above its success once the edit is fixed.
                ctx.say(format!(
                    "The plan has a mistake ({}); reopening it with the error at the top.",
                    error.lines().next().unwrap_or_default().trim()
                ));
                let comments: String = error
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("# error: {l}\n"))
                    .collect();
                text = format!("{comments}{saved}");
                refused = Some(saved);
            }
        }
    };
    let _ = std::fs::remove_file(&path);
    plan.objective = edited.objective;
    plan.constraints = edited.constraints;
    plan.acceptance_criteria = edited.acceptance_criteria;
    plan.test_command = edited.test_command;
    plan.steps = edited.steps;
    plan.status = crate::store::PlanStatus::Ready;
    plan.questions.clear();
    store.write_plan(
        &task,
        &plan,
        &format!("plan of {slug} edited by hand (git agent plan --edit)"),
    )?;
    if ctx.global.json {
        ctx.json(
            &serde_json::json!({"type": "plan_edited", "slug": slug, "steps": plan.steps.len()}),
        );
    } else {
        ctx.out(format!(
            "Plan of {slug} edited: {} step(s)",
            plan.steps.len()
        ));
        ctx.say(format!("  continue with it: git agent resume {slug}"));
    }
    Ok(Exit::Done)
}

/// An edit that changed nothing: said on stderr, or a `plan_unchanged` object with `--json`.
fn unchanged(ctx: &Context, slug: &str, why: &str) {
    if ctx.global.json {
        ctx.json(&serde_json::json!({"type": "plan_unchanged", "slug": slug}));
    } else {
        ctx.say(why);
    }
}

fn running(slug: &str) -> UserError {
    UserError::new(format!(
        "task {slug} is running; its plan cannot be edited now"
    ))
    .hint(format!(
        "tell the run what to change: git agent say {slug} \"…\", or stop it (Ctrl-C) and edit"
    ))
}
