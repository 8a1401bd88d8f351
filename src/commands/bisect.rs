//! `git agent bisect`: the first checkpoint of a task (along first parents) at which a
//! command fails, found by binary search in a scratch worktree, in the sandbox every command
//! of the agent runs in. The user's checkout and the task's worktree are not touched.

use std::path::{Path, PathBuf};

use super::Context;
use crate::cli::{BisectArgs, BudgetArgs, ModelArgs};
use crate::error::{Exit, UserError};
use crate::store::{GitCommand, NotesReader, Store};

/// A detached worktree of its own, removed (with its registration) when dropped.
struct Scratch<'s> {
    store: &'s Store,
    path: PathBuf,
}

impl<'s> Scratch<'s> {
    fn add(store: &'s Store, slug: &str, at: gix::ObjectId) -> anyhow::Result<Scratch<'s>> {
        remove_abandoned(store);
        let path = store
            .agent_dir()
            .join("bisect")
            .join(format!("{slug}-{}", std::process::id()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let path_text = path.display().to_string();
        let at = at.to_string();
        store.git_output(&["worktree", "add", "-q", "--detach", "-f", &path_text, &at])?;
        Ok(Scratch { store, path })
    }

    /// Check out `commit`, leaving no untracked file of an earlier run behind (ignored files,
    /// such as build output, stay, as in a `git bisect` of a checkout). The tests ran in the
    /// scratch and may have replaced its `.git`: git is given the admin dir the repository
    /// registered for it (which puts the `.git` file back), never left to discover one there.
    fn checkout(&self, commit: gix::ObjectId) -> anyhow::Result<()> {
        let repo = self.store.open_worktree(&self.path)?;
        let id = commit.to_string();
        for args in [
            &["checkout", "-q", "--detach", "-f", &id][..],
            &["clean", "-fdq"],
        ] {
            let out = GitCommand::untrusted(repo.git_dir(), Some(&self.path))
                .args(args)
                .output()?;
            if !out.status.success() {
                anyhow::bail!(
                    "git {} failed in {}: {}",
                    args.join(" "),
                    self.path.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        Ok(())
    }
}

/// Scratch worktrees of bisects that were killed (`kill -9` skips `Drop`): named
/// `<slug>-<pid>`, abandoned when no process has that pid any more.
fn remove_abandoned(store: &Store) {
    let Ok(entries) = std::fs::read_dir(store.agent_dir().join("bisect")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .rsplit_once('-')
            .and_then(|(_, p)| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        // Dropping it removes the worktree and its registration.
        drop(Scratch {
            store,
            path: entry.path(),
        });
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let path = self.path.display().to_string();
        if self
            .store
            .git_output(&["worktree", "remove", "--force", &path])
            .is_err()
        {
            let _ = std::fs::remove_dir_all(&self.path);
            let _ = self.store.git_output(&["worktree", "prune"]);
        }
    }
}

pub fn cmd_bisect(ctx: &Context, args: BisectArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let slug = super::task_to_show(ctx, &store, args.slug.as_deref())?;
    if args.test.trim().is_empty() {
        return Err(UserError::usage("the test command is empty")
            .hint("say what to run: git agent bisect --test 'cargo test'")
            .into());
    }
    let config = super::session::load_config(
        ctx,
        &store,
        ModelArgs::default().flags(&BudgetArgs::default()),
    )?;
    let task = store.task(&slug)?;
    let checkpoints = store.checkpoints(&task)?;
    if checkpoints.is_empty() {
        return Err(UserError::new(format!("task '{slug}' has no checkpoints to bisect")).into());
    }
    // Position 0 is the task commit (the base's tree), 1..=m the checkpoints.
    let mut line = vec![task.task_commit];
    line.extend(checkpoints.iter().map(|c| c.commit));
    let m = checkpoints.len();
    let scratch = Scratch::add(&store, &slug, task.tip)?;
    let sandbox = config.sandbox_for(&scratch.path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut runs = 0;
    let mut test = |position: usize| -> anyhow::Result<bool> {
        scratch.checkout(line[position])?;
        runs += 1;
        let run = runtime.block_on(crate::agent::testrun::run_tests(
            &args.test,
            &scratch.path,
            &sandbox,
            config.command_timeout,
        ));
        let pass = run.verdict == crate::store::TestsVerdict::Pass;
        let what = if position == 0 {
            "the task commit".to_string()
        } else {
            format!("checkpoint {position}")
        };
        if ctx.global.json {
            ctx.json(&serde_json::json!({
                "type": "bisect_run", "run": runs, "position": position,
                "commit": line[position].to_string(), "pass": pass, "summary": run.summary,
            }));
        }
        ctx.say(format!(
            "run {runs}: {what} ({}): {} ({})",
            super::short(line[position]),
            if pass { "passes" } else { "fails" },
            run.summary
        ));
        Ok(pass)
    };
    if test(m)? {
        if ctx.global.json {
            ctx.json(
                &serde_json::json!({"type": "bisect", "task": slug, "first_failing": null,
                "tip_passes": true, "runs": runs}),
            );
            return Ok(Exit::Error);
        }
        ctx.out(format!(
            "`{}` passes at the tip of {slug} (checkpoint {m}): nothing to bisect",
            args.test
        ));
        return Ok(Exit::Error);
    }
    // The first failing position is in lo+1..=hi; lo = -1 stands for "before the task
    // commit", which is never run: m+1 candidates take ceil(log2(m+1)) runs.
    let (mut lo, mut hi): (i64, i64) = (-1, m as i64);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if test(mid as usize)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    drop(scratch);
    let first = hi as usize;
    if first == 0 {
        if !ctx.global.json {
            ctx.out(format!(
                "`{}` fails at the task commit of {slug} already (the tree the task started \
                 from): none of its checkpoints broke it ({runs} runs)",
                args.test
            ));
        } else {
            ctx.json(
                &serde_json::json!({"type": "bisect", "task": slug, "first_failing": 0,
                "commit": task.task_commit.to_string(), "runs": runs}),
            );
        }
        return Ok(Exit::Error);
    }
    let bad = &checkpoints[first - 1];
    let before = line[first - 1];
    let rollback = format!("git agent rollback {slug} --to {}", super::short(before));
    let mut notes = NotesReader::new(&store, &slug)?;
    let record = notes.text(bad.commit)?.unwrap_or_default();
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "bisect", "task": slug, "first_failing": first,
            "commit": bad.commit.to_string(), "summary": bad.summary,
            "trailers": bad.trailers.render(), "record": record,
            "runs": runs, "rollback": rollback,
        }));
        return Ok(Exit::Done);
    }
    let mut out = vec![format!(
        "First failing checkpoint of {slug}: {first} of {m} ({}) {} — found in {runs} runs",
        super::short(bad.commit),
        bad.summary
    )];
    out.push(String::new());
    out.extend(bad.trailers.render().lines().map(|l| format!("  {l}")));
    if !record.trim().is_empty() {
        out.push(String::new());
        out.push("  record:".into());
        out.extend(record.trim_end().lines().map(|l| format!("    {l}")));
    }
    out.push(String::new());
    out.push(format!("Go back to the one before it: {rollback}"));
    ctx.out(out.join("\n"));
    Ok(Exit::Done)
}
