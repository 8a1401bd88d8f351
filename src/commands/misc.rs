//! Smaller commands: config and completions.

use super::Context;
use crate::cli::CompletionsArgs;
use crate::config::KEYS;
use crate::error::Exit;

/// The configuration that applies here, in a repository or outside one, its warnings said.
pub(super) fn config_here(ctx: &Context) -> anyhow::Result<crate::config::Config> {
    let store = ctx.store().ok();
    let repo = store
        .as_ref()
        .and_then(|s| Some((s.git_dir(), s.workdir().ok()?)));
    let inputs = crate::config::Inputs::discover(repo, Default::default());
    let config = crate::config::load(&inputs)?;
    ctx.warn(&config.warnings);
    Ok(config)
}

pub fn cmd_config(ctx: &Context) -> anyhow::Result<Exit> {
    let config = config_here(ctx)?;
    let width = KEYS.iter().map(|k| k.name.len()).max().unwrap_or(10);
    for key in KEYS {
        let Some((value, source)) = config.sources.get(key.name) else {
            continue;
        };
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "config", "key": key.name, "value": value, "source": source}));
        } else {
            ctx.out(format!("{:<width$}  {value:<30}  # {source}", key.name));
        }
    }
    // What the repository's file sets and does not get, and why.
    let mut heading = None;
    for ignored in &config.ignored {
        let value = key_kind(ignored.key).show(&ignored.value);
        let why = ignored.why.describe();
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "config_ignored", "key": ignored.key, "value": value, "source": ignored.source, "reason": why}));
            continue;
        }
        if heading.as_ref() != Some(&ignored.source) {
            ctx.out(format!("\n# ignored from {}:", ignored.source));
            heading = Some(ignored.source.clone());
        }
        ctx.out(format!("{:<width$}  {value:<30}  # {why}", ignored.key));
    }
    Ok(Exit::Done)
}

fn key_kind(name: &str) -> crate::config::Kind {
    crate::config::by_name(name).map_or(crate::config::Kind::Text, |k| k.kind)
}

/// `git-agent __tasks`: the task names, newest first, for the completion scripts. Outside a
/// repository, or with anything wrong, it prints nothing: a completion never shows an error.
pub fn cmd_tasks(ctx: &Context) -> anyhow::Result<Exit> {
    let Ok(store) = ctx.store() else {
        return Ok(Exit::Done);
    };
    for slug in store.tasks_newest_first().unwrap_or_default() {
        ctx.out(slug);
    }
    Ok(Exit::Done)
}

pub fn cmd_completions(ctx: &Context, args: CompletionsArgs) -> anyhow::Result<Exit> {
    use std::io::Write;
    if args.install {
        return super::install::install_completions(ctx, args.shell.or(args.install_shell));
    }
    let Some(shell) = args.shell else {
        return Err(crate::error::UserError::usage("no shell given")
            .hint("git agent completions bash (or zsh, fish, elvish, powershell)")
            .into());
    };
    let script = crate::cli::render_completions(shell);
    if ctx.global.json {
        ctx.json(
            &serde_json::json!({"type": "completions", "shell": shell.to_string(),
            "script": String::from_utf8_lossy(&script)}),
        );
        return Ok(Exit::Done);
    }
    match std::io::stdout().lock().write_all(&script) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Done),
        other => other.map(|()| Exit::Done).map_err(Into::into),
    }
}
