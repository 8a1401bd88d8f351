//! Smaller commands: push, pull, config, demo, completions; and merge's policy checks.

use super::Context;
use crate::cli::{CompletionsArgs, PullArgs, PushArgs};
use crate::error::{Exit, UserError};

pub fn cmd_push(ctx: &Context, args: PushArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = args.remote.unwrap_or_else(|| "origin".to_string());
    let slugs = match args.slug {
        Some(slug) => vec![store.resolve_slug(Some(&slug))?],
        None => store.task_slugs()?,
    };
    let mut specs = Vec::new();
    for slug in &slugs {
        specs.push(format!("refs/heads/agent/{slug}:refs/heads/agent/{slug}"));
        specs.push(format!("refs/notes/agent/{slug}:refs/notes/agent/{slug}"));
        for entry in store.attic(slug)? {
            specs.push(format!("{0}:{0}", entry.refname));
        }
    }
    let mut cmd = vec!["push", "--porcelain", remote.as_str()];
    cmd.extend(specs.iter().map(String::as_str));
    store.git_output(&cmd)?;
    ctx.out(format!("Pushed {} task(s) to {remote}", slugs.len()));
    Ok(Exit::Done)
}

pub fn cmd_pull(ctx: &Context, args: PullArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = args.remote.unwrap_or_else(|| "origin".to_string());
    store.git_output(&[
        "fetch",
        &remote,
        "+refs/heads/agent/*:refs/remotes/agent-pull/heads/*",
        "+refs/notes/agent/*:refs/remotes/agent-pull/notes/*",
        "refs/agent/*:refs/agent/*",
    ])?;
    let mut updated = 0;
    for (name, id) in store.refs_with_prefix("refs/remotes/agent-pull/heads/")? {
        let slug = name
            .trim_start_matches("refs/remotes/agent-pull/heads/")
            .to_string();
        let local = format!("refs/heads/agent/{slug}");
        match store.ref_target(&local)? {
            None => {
                store.git_output(&[
                    "update-ref",
                    "-m",
                    "agent: pull",
                    &local,
                    &id.to_string(),
                    "",
                ])?;
            }
            Some(current) if current != id => {
                // Fast-forward only; diverged task branches are the user's call.
                let ff = store
                    .git_output(&[
                        "merge-base",
                        "--is-ancestor",
                        &current.to_string(),
                        &id.to_string(),
                    ])
                    .is_ok();
                if !ff {
                    return Err(UserError::new(format!("agent/{slug} has diverged from {remote}"))
                        .hint(format!("compare with git log agent/{slug}...refs/remotes/agent-pull/heads/{slug}"))
                        .into());
                }
                store.git_output(&[
                    "update-ref",
                    "-m",
                    "agent: pull",
                    &local,
                    &id.to_string(),
                    &current.to_string(),
                ])?;
            }
            Some(_) => {}
        }
        updated += 1;
        let remote_notes = format!("refs/remotes/agent-pull/notes/{slug}");
        let local_notes = format!("refs/notes/agent/{slug}");
        if let Some(theirs) = store.ref_target(&remote_notes)? {
            match store.ref_target(&local_notes)? {
                None => {
                    store.git_output(&["update-ref", &local_notes, &theirs.to_string(), ""])?;
                }
                Some(ours) if ours != theirs => {
                    // Notes that changed on both sides are merged, never overwritten.
                    store.git_output(&[
                        "notes",
                        "--ref",
                        &format!("agent/{slug}"),
                        "merge",
                        "-s",
                        "theirs",
                        &remote_notes,
                    ])?;
                }
                Some(_) => {}
            }
        }
    }
    ctx.out(format!("Pulled {updated} task(s) from {remote}"));
    Ok(Exit::Done)
}

pub fn cmd_config(ctx: &Context) -> anyhow::Result<Exit> {
    let workdir = ctx
        .store()
        .ok()
        .and_then(|s| s.workdir().ok().map(std::path::Path::to_path_buf));
    let inputs =
        crate::config::Inputs::discover(workdir.as_deref(), Default::default(), Default::default());
    let config = crate::config::load(&inputs)?;
    let width = crate::config::KEYS
        .iter()
        .map(|k| k.len())
        .max()
        .unwrap_or(10);
    for key in crate::config::KEYS {
        let Some((value, source)) = config.sources.get(key) else {
            continue;
        };
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "config", "key": key, "value": value, "source": source}));
        } else {
            ctx.out(format!("{key:<width$}  {value:<30}  # {source}"));
        }
    }
    Ok(Exit::Done)
}

pub fn cmd_completions(_ctx: &Context, args: CompletionsArgs) -> anyhow::Result<Exit> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "git-agent", &mut std::io::stdout());
    Ok(Exit::Done)
}
