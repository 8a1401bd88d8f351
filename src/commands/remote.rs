//! `git agent push` and `git agent pull`: move tasks through a remote with the user's own
//! `git push`/`git fetch` (credentials, transports, hooks of the server). The protocol — the
//! tracking refs, what is decided for each ref, how it is written — is `store::remote::sync`; this
//! file handles the arguments and prints what happened.

use super::{Context, short};
use crate::cli::{PullArgs, PushArgs};
use crate::error::{Exit, UserError};
use crate::store::remote::sync::{PushFailure, TaskPull};

/// The remote when none is named.
const DEFAULT_REMOTE: &str = "origin";

/// What `push`'s arguments mean: `(remote, task)`. A single argument is the remote, as in
/// `git push <remote>`, unless no remote has that name and a task does: `git agent push
/// <slug>` pushes that task to the default remote.
fn push_target(
    first: Option<String>,
    second: Option<String>,
    is_remote: impl Fn(&str) -> bool,
    is_task: impl Fn(&str) -> bool,
) -> (String, Option<String>) {
    match (first, second) {
        (Some(only), None) if !is_remote(&only) && is_task(&only) => {
            (DEFAULT_REMOTE.to_string(), Some(only))
        }
        (remote, slug) => (remote.unwrap_or_else(|| DEFAULT_REMOTE.to_string()), slug),
    }
}

pub fn cmd_push(ctx: &Context, args: PushArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let (remote, slug) = push_target(
        args.remote,
        args.slug,
        |name| store.is_remote(name),
        |name| store.resolve_slug(Some(name)).is_ok(),
    );
    crate::store::remote::sync::validate_remote(&remote)?;
    let slugs = match slug {
        Some(slug) => vec![store.resolve_slug(Some(&slug))?],
        None => store.task_slugs()?,
    };
    if slugs.is_empty() {
        ctx.say("No tasks to push.");
        return Ok(Exit::Done);
    }
    ctx.say(format!("Fetching the agent refs of {remote}…"));
    store.fetch_agent_refs(&remote)?;
    let plan = store.plan_push(&remote, &slugs)?;
    match store.push_updates(&remote, &plan.updates) {
        Ok(()) => {}
        Err(PushFailure::Rejected(said)) => {
            return Err(UserError::new(format!("{remote} refused the push"))
                .hint(format!(
                    "git said: {said}\nif someone pushed meanwhile, `git agent pull {remote}` first"
                ))
                .into());
        }
        Err(PushFailure::Error(err)) => return Err(err.into()),
    }
    // Our view of the remote is now what we pushed.
    store.fetch_agent_refs(&remote)?;
    for task in &plan.tasks {
        let what = task.branch.describe();
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "push", "remote": remote, "slug": task.slug, "tip": task.tip.to_string(), "branch": what}));
        } else {
            ctx.out(format!("{}: {what} at {}", task.slug, short(task.tip)));
        }
    }
    if !plan.diverged.is_empty() {
        return Err(diverged(&remote, &plan.diverged, "push").into());
    }
    ctx.say(format!("Pushed {} task(s) to {remote}", plan.tasks.len()));
    Ok(Exit::Done)
}

pub(crate) fn diverged(remote: &str, slugs: &[String], during: &str) -> UserError {
    let first = slugs.first().map(String::as_str).unwrap_or("<task>");
    let mut hint = if during == "push" {
        format!("`git agent pull {remote}` first, which merges notes and fast-forwards branches; ")
    } else {
        String::new()
    };
    hint.push_str(&format!(
        "see both sides with `git log --oneline --graph agent/{first} {remote}/agent/{first}`, \
         then keep one with `git branch -f agent/{first} <commit>` (save the other first with \
         `git update-ref {}<n> <commit>`)",
        crate::store::attic_prefix(first)
    ));
    UserError::new(format!(
        "{} diverged from {remote}: both sides have work the other lacks ({})",
        if slugs.len() == 1 {
            "a task has"
        } else {
            "tasks have"
        },
        slugs
            .iter()
            .map(|s| format!("agent/{s}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .hint(hint)
}

pub fn cmd_pull(ctx: &Context, args: PullArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = args.remote.unwrap_or_else(|| DEFAULT_REMOTE.to_string());
    crate::store::remote::sync::validate_remote(&remote)?;
    ctx.say(format!("Fetching the agent refs of {remote}…"));
    store.fetch_agent_refs(&remote)?;
    let attics = store.tracking_attics(&remote)?;
    let checkouts = store.checkouts()?;
    let prefix = crate::store::tracking_branch_prefix(&remote);
    let mut problems = Vec::new();
    let mut running = Vec::new();
    let mut count = 0;
    let empty = Default::default();
    for (name, theirs) in store.refs_with_prefix(&prefix)? {
        let slug = name.trim_start_matches(&prefix).to_string();
        if crate::store::validate_slug(&slug).is_err() {
            ctx.say(format!("skipping {name}: not a task name"));
            continue;
        }
        if store.is_folded_attempt(&slug)? {
            ctx.say(format!("skipping {name}: an attempt already picked here"));
            continue;
        }
        count += 1;
        let their_attic = attics.get(&slug).unwrap_or(&empty);
        let pulled = store.pull_task(&remote, &slug, theirs, their_attic, &checkouts)?;
        let said = match &pulled {
            TaskPull::Pulled { said, .. }
            | TaskPull::Running { said, .. }
            | TaskPull::Diverged { said, .. } => *said,
        };
        if let Some(said) = said {
            if ctx.global.json {
                ctx.json(&serde_json::json!({"type": "pull_said", "remote": remote, "slug": slug, "said": said}));
            } else {
                ctx.say(format!("{slug}: what was said: {said}"));
            }
        }
        match pulled {
            TaskPull::Pulled {
                slug,
                tip,
                branch,
                notes,
                ..
            } => {
                let what = branch.describe();
                if ctx.global.json {
                    ctx.json(&serde_json::json!({"type": "pull", "remote": remote, "slug": slug, "tip": tip.to_string(), "branch": what, "notes": notes}));
                } else {
                    ctx.out(format!("{slug}: {what} at {}, notes {notes}", short(tip)));
                }
            }
            TaskPull::Running { slug, .. } => running.push(slug),
            TaskPull::Diverged { slug, .. } => problems.push(slug),
        }
    }
    if !running.is_empty() {
        ctx.say(format!(
            "skipped while running: {} (pull again when the run has stopped)",
            running.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(diverged(&remote, &problems, "pull").into());
    }
    ctx.say(format!("Pulled {count} task(s) from {remote}"));
    Ok(Exit::Done)
}

#[cfg(test)]
mod tests {
    use super::push_target;
    use pretty_assertions::assert_eq;

    fn target(args: &[&str]) -> (String, Option<String>) {
        let mut args = args.iter().map(|a| a.to_string());
        push_target(
            args.next(),
            args.next(),
            |name| ["origin", "backup", "both"].contains(&name),
            |name| ["t", "agent/t", "both"].contains(&name),
        )
    }

    #[test]
    fn a_single_argument_is_a_task_only_when_no_remote_has_its_name() {
        let of = |remote: &str, task: Option<&str>| (remote.to_string(), task.map(str::to_string));
        assert_eq!(
            [
                target(&[]),
                target(&["backup"]),
                target(&["t"]),
                target(&["agent/t"]),
                target(&["both"]),
                target(&["nowhere"]),
                target(&["backup", "t"]),
            ],
            [
                of("origin", None),
                of("backup", None),
                of("origin", Some("t")),
                of("origin", Some("agent/t")),
                of("both", None),
                of("nowhere", None),
                of("backup", Some("t")),
            ]
        );
    }
}
