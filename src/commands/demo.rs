//! `git agent demo`: an offline run on a sample repository with a recorded session (the
//! replay provider): no key, no network. It shows a plan, checkpoints, a step that keeps
//! failing and is rolled back, a replan, and the commands to review it all with git.

use std::path::{Path, PathBuf};

use super::Context;
use super::session::{load_config, run_loop};
use crate::agent::RunSpec;
use crate::cli::DemoArgs;
use crate::config::Flags;
use crate::error::{Exit, UserError};
use crate::llm::ProviderKind;
use crate::store::{NewTask, Store, TaskLock};

const FILES: &[(&str, &str)] = &[
    (
        "greet.sh",
        include_str!("../../fixtures/demo/repo/greet.sh"),
    ),
    ("test.sh", include_str!("../../fixtures/demo/repo/test.sh")),
    (
        "README.md",
        include_str!("../../fixtures/demo/repo/README.md"),
    ),
    (
        ".git-agent.toml",
        include_str!("../../fixtures/demo/repo/.git-agent.toml"),
    ),
];
const SESSION: &str = include_str!("../../fixtures/demo/session.jsonl");
const GOAL: &str = "Add a --shout flag to greet.sh that prints the greeting in capitals";
const SLUG: &str = "add-shout";

/// git on the demo's own repository `dir` (made by `init` below), named explicitly.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut git = if args.first() == Some(&"init") {
        crate::store::GitCommand::outside(dir)
    } else {
        crate::store::GitCommand::new(&dir.join(".git"), Some(dir))
    };
    let out = git.args(args).output()?;
    if !out.status.success() {
        return Err(UserError::new(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sample_repo(base: &Path) -> anyhow::Result<PathBuf> {
    let repo = base.join("greet");
    if repo.exists() {
        return Err(UserError::new(format!("{} exists already", repo.display()))
            .hint("give another --dir, or remove it")
            .into());
    }
    std::fs::create_dir_all(&repo)?;
    for (name, text) in FILES {
        std::fs::write(repo.join(name), text)?;
    }
    // Named, so the `git diff main...` it suggests works whatever `init.defaultBranch` says.
    git(&repo, &["init", "-q", "-b", "main"])?;
    if git(&repo, &["config", "user.email"]).is_err() {
        git(&repo, &["config", "user.name", "git-agent demo"])?;
        git(&repo, &["config", "user.email", "demo@example.invalid"])?;
    }
    git(&repo, &["add", "-A"])?;
    git(
        &repo,
        &["commit", "-qm", "greet: a tiny project to try git-agent on"],
    )?;
    Ok(repo)
}

pub fn cmd_demo(ctx: &Context, args: DemoArgs) -> anyhow::Result<Exit> {
    let base = match args.dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("git-agent-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&base)?;
    let base = base.canonicalize()?;
    let repo = sample_repo(&base)?;
    let session = base.join("session.jsonl");
    std::fs::write(&session, SESSION)?;
    ctx.say(format!("Sample repository: {}", repo.display()));
    ctx.say(format!(
        "Recorded session:  {} (replayed; no key, no network)\n",
        session.display()
    ));

    let store = Store::discover(&repo)?;
    let mut config = load_config(
        ctx,
        &store,
        Flags {
            provider: Some(ProviderKind::Replay),
            model: Some("claude-sonnet-4-5".into()),
            replay_file: Some(session),
            ..Flags::default()
        },
    )?;
    if crate::policy::launcher::landlock_abi().is_none() && !config.sandbox_off {
        ctx.say(
            "This kernel has no Landlock; the demo's recorded commands run without the sandbox.",
        );
        config.sandbox_off = true;
    }
    let provider = super::session::provider_for(&config)?;
    let task = store.create_task(&NewTask {
        goal: GOAL,
        name: Some(SLUG),
        here: false,
        display_notes: true,
        carried: None,
    })?;
    let exit = {
        let _lock = TaskLock::acquire(&store, SLUG)?;
        let worktree = store.ensure_worktree(&task)?;
        run_loop(
            ctx,
            RunSpec {
                store: &store,
                slug: SLUG.to_string(),
                worktree,
                config,
                provider,
                resumed: false,
                plan_only: false,
            },
        )?
    };
    if ctx.global.json {
        return Ok(exit);
    }
    let graph = git(
        &repo,
        &[
            "log",
            "--oneline",
            "--graph",
            &format!("agent/{SLUG}"),
            &crate::store::attic_ref(SLUG, 1),
        ],
    )
    .unwrap_or_default();
    ctx.out(format!(
        "\nThe task's history, with the discarded attempt kept in the attic:\n{graph}"
    ));
    ctx.out(format!(
        "Look around (all plain git):\n  cd {}\n  git log agent/{SLUG}                       # checkpoints, with records as notes\n  git log --format='%h %s%n%(trailers)' agent/{SLUG}\n  git notes --ref agent/{SLUG} show {}   # the plan, with the failed attempt\n  git log -p {}        # how the plan evolved\n  git diff main...agent/{SLUG}\n  git agent log {SLUG}; git agent merge {SLUG}",
        repo.display(),
        &task.task_commit.to_string()[..8],
        crate::store::notes_ref(SLUG)
    ));
    Ok(exit)
}
