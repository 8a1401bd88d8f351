//! `git agent trust`: let this repository's `.git-agent.toml`, exactly as it is now, set the
//! keys that widen what the agent may do (see `config/trust.rs`).

use super::Context;
use crate::cli::TrustArgs;
use crate::config::{REPO_FILE, RepoRead, TRUST_KEY, Trust, parse_toml, read_repo_file};
use crate::error::{Exit, UserError};

pub fn cmd_trust(ctx: &Context, args: TrustArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let path = store.workdir()?.join(REPO_FILE);
    let shown = path.display().to_string();
    if args.revoke {
        let recorded = store
            .git_output(&["config", "--local", "--get-all", TRUST_KEY])
            .is_ok();
        if recorded {
            store.git_output(&["config", "--local", "--unset-all", TRUST_KEY])?;
        }
        if ctx.global.json {
            ctx.json(
                &serde_json::json!({"type": "untrusted", "file": shown, "was_trusted": recorded}),
            );
        } else if recorded {
            ctx.out(format!(
                "No longer trusting {shown}: the keys that widen what the agent may do are ignored again"
            ));
        } else {
            ctx.out(format!("{shown} was not trusted; nothing to revoke"));
        }
        return Ok(Exit::Done);
    }
    let file = match read_repo_file(&path)? {
        RepoRead::File(file) => file,
        RepoRead::Absent => {
            return Err(UserError::new(format!("there is no {shown}"))
                .hint("there is nothing to trust; your own settings go in ~/.config/git-agent/config.toml or git config agent.*")
                .into());
        }
        RepoRead::Refused(why) => {
            return Err(UserError::new(format!("{shown} {why}")).into());
        }
    };
    let values = parse_toml(&shown, &file.text)?;
    let unlocked: Vec<(&str, &toml::Value)> = crate::config::KEYS
        .iter()
        .filter(|k| k.trust == Trust::User)
        .filter_map(|k| values.get(k.name).map(|v| (k.name, v)))
        .collect();
    if unlocked.is_empty() {
        if ctx.global.json {
            ctx.json(
                &serde_json::json!({"type": "trust_not_needed", "file": shown, "blob": file.blob}),
            );
            return Ok(Exit::Done);
        }
        ctx.out(format!(
            "{shown} sets nothing that needs trust (its project settings and lower budgets apply anyway); nothing recorded"
        ));
        return Ok(Exit::Done);
    }
    store.git_output(&["config", "--local", TRUST_KEY, &file.blob])?;
    if ctx.global.json {
        let keys: serde_json::Map<String, serde_json::Value> = unlocked
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::json!(v.to_string())))
            .collect();
        ctx.json(&serde_json::json!({"type": "trusted", "file": shown, "blob": file.blob, "unlocked": keys}));
        return Ok(Exit::Done);
    }
    let mut text = format!(
        "Trusted {shown} (blob {}) in this repository. It now sets:",
        &file.blob[..12.min(file.blob.len())]
    );
    for (key, value) in &unlocked {
        text.push_str(&format!("\n  {key} = {value}"));
    }
    ctx.out(text);
    ctx.say("Any change to the file ends the trust; `git agent trust --revoke` ends it now.");
    Ok(Exit::Done)
}
