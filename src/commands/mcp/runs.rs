//! The MCP `start` and `resume` tools: a run in a process of its own, detached from the server.
//!
//! A run takes minutes to hours; an MCP call must not. The server picks the task's slug,
//! spawns `git-agent start --json --name <slug> … -- <goal>` in a process group of its own
//! (so a client that kills the server's group on exit does not kill the run), whose events go
//! to its run log `$GIT_COMMON_DIR/agent/runs/<slug>.jsonl`, and answers as soon as the task's
//! branch exists. Progress is then read from git, as with any other run: `status`, `log`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::types::{StartParams, Started};
use crate::error::UserError;
use crate::policy::credentials::{PROVIDER_KEY_VARS, var};
use crate::store::{Store, TaskLock, slug_from_goal, validate_slug};

/// How long `start` waits for the run to create its task before it gives up on it.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a run writes its events: the run log every run keeps (`git agent watch` reads it).
pub fn events_log(store: &Store, slug: &str) -> PathBuf {
    crate::ui::runlog::run_log_path(store, slug)
}

fn stderr_log(store: &Store, slug: &str) -> PathBuf {
    store
        .agent_dir()
        .join("runs")
        .join(format!("{slug}.stderr"))
}

/// The run's stdout: its events again, and with `--json` the `error` object of a run that
/// failed; read for that object alone.
fn stdout_log(store: &Store, slug: &str) -> PathBuf {
    store
        .agent_dir()
        .join("runs")
        .join(format!("{slug}.stdout"))
}

/// What a failed `--json` run said: its `error` object as `message` and `hint:` lines.
fn json_error(stdout: &str) -> Option<String> {
    let error = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|value| value["type"] == "error")?;
    let mut said = error["message"].as_str()?.to_string();
    for cause in error["causes"].as_array().into_iter().flatten() {
        if let Some(cause) = cause.as_str() {
            said.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    if let Some(hint) = error["hint"].as_str() {
        said.push_str(&format!("\nhint: {hint}"));
    }
    Some(said)
}

/// The `git-agent start` arguments for a request, the goal last after `--` so that a goal
/// beginning with `-` stays a goal.
fn start_args(params: &StartParams, slug: &str) -> Vec<String> {
    let mut args = vec![
        "start".to_string(),
        "--json".to_string(),
        "--name".to_string(),
        slug.to_string(),
    ];
    if params.plan_only {
        args.push("--plan-only".into());
    }
    let options = [
        ("--provider", params.provider.clone()),
        ("--model", params.model.clone()),
        ("--planner-model", params.planner_model.clone()),
        ("--max-turns", params.max_turns.map(|n| n.to_string())),
        ("--max-tokens", params.max_tokens.map(|n| n.to_string())),
        ("--max-cost", params.max_cost.map(|n| n.to_string())),
        ("--max-time", params.max_time.clone()),
    ];
    for (flag, value) in options {
        if let Some(value) = value {
            args.push(flag.to_string());
            args.push(value);
        }
    }
    args.push("--".into());
    args.push(params.goal.clone());
    args
}

/// Start a run and return once its task exists. Errors that stop the run before that (no
/// API key, a dirty checkout, a taken name) come back as the error, with the run's own words.
pub fn start_detached(cwd: &Path, params: &StartParams) -> anyhow::Result<Started> {
    let store = Store::discover(cwd)?;
    if params.goal.trim().is_empty() {
        return Err(UserError::usage("the goal is empty")
            .hint("say what to do, e.g. {\"goal\": \"add a --json flag\"}")
            .into());
    }
    let slug = match &params.name {
        Some(name) => {
            validate_slug(name)?;
            name.clone()
        }
        None => store.unique_slug(&slug_from_goal(&params.goal))?,
    };
    let branch = crate::store::branch_ref(&slug);
    if store.ref_target(&branch)?.is_some() {
        return Err(crate::store::StoreError::TaskExists(slug).into());
    }
    let started = spawn_detached(cwd, &slug, start_args(params, &slug), |store, _| {
        Ok(store.ref_target(&branch)?.is_some())
    })?;
    Ok(started)
}

/// Resume a task in a run of its own and return once the run holds the task (or ended).
pub fn resume_detached(cwd: &Path, slug: &str) -> anyhow::Result<Started> {
    let store = Store::discover(cwd)?;
    let task = store.task(slug)?;
    store.plan(&task)?;
    let args = vec!["resume".to_string(), "--json".to_string(), slug.to_string()];
    // Ready once the run holds the task's lock (another run holding it makes this one fail).
    spawn_detached(cwd, slug, args, |store, pid| {
        Ok(TaskLock::is_held(store, slug)
            && TaskLock::holder(store, slug).is_some_and(|(holder, _, _)| holder == pid))
    })
}

/// Spawn `git-agent <args>` for task `slug` in a process group of its own, its events in the
/// task's run log and its stderr beside it, and return once `ready` says so. A run that ends
/// before is fine when `ready` then holds or it succeeded; else its own words are the error.
fn spawn_detached(
    cwd: &Path,
    slug: &str,
    args: Vec<String>,
    ready: impl Fn(&Store, u32) -> anyhow::Result<bool>,
) -> anyhow::Result<Started> {
    let store = Store::discover(cwd)?;
    let events = events_log(&store, slug);
    let errors = stderr_log(&store, slug);
    if let Some(dir) = events.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        // The run writes its own run log (the same events); its stdout is kept for the
        // `error` object that `--json` prints there when the run fails.
        .stdout(std::fs::File::create(stdout_log(&store, slug))?)
        .stderr(std::fs::File::create(&errors)?)
        .process_group(0);
    // The server took the keys out of its own environment when it started; the run is
    // git-agent too and needs them back.
    for name in PROVIDER_KEY_VARS {
        if let Some(value) = var(name) {
            cmd.env(name, value);
        }
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let deadline = Instant::now() + CREATE_TIMEOUT;
    let outcome = loop {
        if let Some(status) = child.try_wait()? {
            // It may have done its part and finished already (a plan-only run, a quick
            // error after the task commit, a short resume): done, blocked, out of budget or
            // interrupted are the ends of a run that ran.
            let ran = matches!(status.code(), Some(0 | 3 | 4 | 130));
            if ran || ready(&Store::discover(cwd)?, pid)? {
                break Ok(());
            }
            let printed = std::fs::read_to_string(stdout_log(&store, slug)).unwrap_or_default();
            let said = json_error(&printed)
                .unwrap_or_else(|| std::fs::read_to_string(&errors).unwrap_or_default());
            let said = said.trim();
            break Err(UserError::new(format!(
                "the run stopped before it began ({status}){}{said}",
                if said.is_empty() { "" } else { ":\n" }
            ))
            .into());
        }
        if ready(&Store::discover(cwd)?, pid)? {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(UserError::new(format!(
                "the run (pid {pid}) of task {slug} did not begin within {}s",
                CREATE_TIMEOUT.as_secs()
            ))
            .hint(format!("see {} and {}", events.display(), errors.display()))
            .into());
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    // Reap the run when it ends, so no zombie stays behind while the server lives.
    std::thread::spawn(move || child.wait());
    outcome.map(|()| Started {
        branch: format!("agent/{slug}"),
        slug: slug.to_string(),
        pid,
        events_log: events.display().to_string(),
        stderr_log: errors.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_goal_comes_last_after_a_double_dash() {
        let params = StartParams {
            goal: "--help me".into(),
            name: None,
            plan_only: true,
            provider: Some("replay".into()),
            model: None,
            planner_model: None,
            max_turns: Some(7),
            max_tokens: None,
            max_cost: Some(0.5),
            max_time: Some("10m".into()),
        };
        assert_eq!(
            start_args(&params, "help-me"),
            [
                "start",
                "--json",
                "--name",
                "help-me",
                "--plan-only",
                "--provider",
                "replay",
                "--max-turns",
                "7",
                "--max-cost",
                "0.5",
                "--max-time",
                "10m",
                "--",
                "--help me"
            ]
        );
    }
}
