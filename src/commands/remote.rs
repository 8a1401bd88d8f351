//! `git agent push` and `git agent pull`: move tasks through a remote with the user's own
//! `git push`/`git fetch` (credentials, transports, hooks of the server).
//!
//! What a task is on a remote: its branch `refs/heads/agent/<slug>`, its notes ref
//! `refs/notes/agent/<slug>` and its attic `refs/agent/<slug>/attic/<n>`. Both commands first
//! fetch the remote's view into tracking refs, so every decision compares three known values:
//!
//! - branches: `refs/remotes/<remote>/agent/<slug>` (where a plain `git fetch` puts them too)
//! - notes: `refs/notes/remotes/<remote>/agent/<slug>` (under `refs/notes/`, where
//!   `git notes` expects notes refs)
//! - attic: `refs/agent-remotes/<remote>/<slug>/attic/<n>`
//! - what was said (`git agent say`): `refs/agent-remotes/<remote>/<slug>/say`, fetched by the
//!   same refspec as the attic
//!
//! Nothing is ever overwritten on either side: branches only fast-forward (a push may rewind
//! a remote branch only when the commit it discards is kept in an attic pushed with it, i.e.
//! after a `rollback`), notes are merged with `git notes merge`, attic entries are copied by
//! commit under a free number, and what was said is joined by a merge commit when both sides
//! said something. Every push is `--atomic` with a lease on each ref, so a
//! concurrent push from another machine makes ours fail instead of clobbering it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use gix::ObjectId;

use super::{Context, short};
use crate::cli::{PullArgs, PushArgs};
use crate::error::{Exit, UserError};
use crate::store::{Store, TaskLock, branch_ref, say_ref, tracking_say, validate_slug};

fn notes_ref(slug: &str) -> String {
    format!("refs/notes/agent/{slug}")
}
fn tracking_branch(remote: &str, slug: &str) -> String {
    format!("refs/remotes/{remote}/agent/{slug}")
}
fn tracking_notes(remote: &str, slug: &str) -> String {
    format!("refs/notes/remotes/{remote}/agent/{slug}")
}
fn tracking_attic_prefix(remote: &str) -> String {
    format!("refs/agent-remotes/{remote}/")
}

/// Run git in the repository and hand back its output, whatever the exit status.
fn git(store: &Store, args: &[&str]) -> anyhow::Result<Output> {
    Ok(std::process::Command::new("git")
        .args(args)
        .current_dir(store.workdir()?)
        .output()?)
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// How two commits of the same ref relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Same,
    /// The first is behind: the second contains it.
    Behind,
    /// The first is ahead: it contains the second.
    Ahead,
    Diverged,
}

fn is_ancestor(store: &Store, a: ObjectId, b: ObjectId) -> anyhow::Result<bool> {
    let out = git(
        store,
        &[
            "merge-base",
            "--is-ancestor",
            &a.to_string(),
            &b.to_string(),
        ],
    )?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => anyhow::bail!("git merge-base failed: {}", stderr_of(&out)),
    }
}

/// Whether `commit` is contained in one of these (attic) commits.
fn kept_in<'a>(
    store: &Store,
    commit: ObjectId,
    attic: impl Iterator<Item = &'a ObjectId>,
) -> anyhow::Result<bool> {
    for &kept in attic {
        if is_ancestor(store, commit, kept)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn relation(store: &Store, ours: ObjectId, theirs: ObjectId) -> anyhow::Result<Relation> {
    Ok(if ours == theirs {
        Relation::Same
    } else if is_ancestor(store, ours, theirs)? {
        Relation::Behind
    } else if is_ancestor(store, theirs, ours)? {
        Relation::Ahead
    } else {
        Relation::Diverged
    })
}

/// The remote's agent refs, fetched into the tracking refs (stale ones pruned).
fn fetch(store: &Store, remote: &str) -> anyhow::Result<()> {
    let specs = [
        format!("+refs/heads/agent/*:refs/remotes/{remote}/agent/*"),
        format!("+refs/notes/agent/*:refs/notes/remotes/{remote}/agent/*"),
        format!("+refs/agent/*:{}*", tracking_attic_prefix(remote)),
    ];
    let mut args = vec![
        "fetch",
        "--quiet",
        "--prune",
        "--no-write-fetch-head",
        remote,
    ];
    args.extend(specs.iter().map(String::as_str));
    let out = git(store, &args)?;
    if !out.status.success() {
        return Err(UserError::new(format!("could not fetch from {remote}"))
            .hint(format!(
                "git said: {}\nis `{remote}` a remote? `git remote -v` lists them",
                stderr_of(&out)
            ))
            .into());
    }
    Ok(())
}

/// The attic of every task as the remote holds it: slug -> (number -> commit).
fn remote_attics(
    store: &Store,
    remote: &str,
) -> anyhow::Result<BTreeMap<String, BTreeMap<u32, ObjectId>>> {
    let prefix = tracking_attic_prefix(remote);
    let mut out: BTreeMap<String, BTreeMap<u32, ObjectId>> = BTreeMap::new();
    for (name, id) in store.refs_with_prefix(&prefix)? {
        let Some((slug, n)) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once("/attic/"))
        else {
            continue;
        };
        if let Ok(n) = n.parse() {
            out.entry(slug.to_string()).or_default().insert(n, id);
        }
    }
    Ok(out)
}

fn local_attic(store: &Store, slug: &str) -> anyhow::Result<BTreeMap<u32, ObjectId>> {
    Ok(store
        .attic(slug)?
        .into_iter()
        .map(|e| (e.n, e.commit))
        .collect())
}

/// Where our attic entry `n` goes on the remote: `n` when the remote has no entry `n`, else
/// the first number above every number in use on either side.
fn free_number(n: u32, ours: &BTreeMap<u32, ObjectId>, theirs: &BTreeMap<u32, ObjectId>) -> u32 {
    if !theirs.contains_key(&n) {
        return n;
    }
    ours.keys().chain(theirs.keys()).max().copied().unwrap_or(0) + 1
}

pub fn cmd_push(ctx: &Context, args: PushArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = args.remote.unwrap_or_else(|| "origin".to_string());
    let slugs = match args.slug {
        Some(slug) => vec![store.resolve_slug(Some(&slug))?],
        None => store.task_slugs()?,
    };
    if slugs.is_empty() {
        ctx.say("No tasks to push.");
        return Ok(Exit::Done);
    }
    ctx.say(format!("Fetching the agent refs of {remote}…"));
    fetch(&store, &remote)?;
    let attics = remote_attics(&store, &remote)?;

    let mut specs = Vec::new();
    let mut leases = Vec::new();
    let mut push = |local: ObjectId, dst: String, expect: Option<ObjectId>| {
        specs.push(format!("{local}:{dst}"));
        leases.push(format!(
            "--force-with-lease={dst}:{}",
            expect.map(|e| e.to_string()).unwrap_or_default()
        ));
    };
    let mut problems = Vec::new();
    let mut report = Vec::new();
    for slug in &slugs {
        let Some(tip) = store.ref_target(&branch_ref(slug))? else {
            continue;
        };
        let theirs_attic = attics.get(slug).cloned().unwrap_or_default();
        let ours_attic = local_attic(&store, slug)?;

        // The attic first: a rewound branch may only go out with the tip it discards.
        let mut kept: Vec<ObjectId> = theirs_attic.values().copied().collect();
        for (&n, &commit) in &ours_attic {
            if kept.contains(&commit) {
                continue;
            }
            let m = free_number(n, &ours_attic, &theirs_attic);
            push(commit, format!("refs/agent/{slug}/attic/{m}"), None);
            kept.push(commit);
        }

        // Decide for the branch and the notes before pushing either: a task goes out whole.
        let remote_tip = store.ref_target(&tracking_branch(&remote, slug))?;
        let (branch, what) = match remote_tip {
            None => (Some(None), "new"),
            Some(theirs) => match relation(&store, tip, theirs)? {
                Relation::Same => (None, "up to date"),
                Relation::Ahead => (Some(Some(theirs)), "fast-forward"),
                // A rollback here moved the branch back (or aside): the remote's tip may be
                // dropped from the branch only because the attic going out with it keeps it.
                Relation::Behind | Relation::Diverged if kept_in(&store, theirs, kept.iter())? => (
                    Some(Some(theirs)),
                    "rewound (the tip it discards is kept in the attic)",
                ),
                Relation::Behind => (None, "behind the remote (run `git agent pull`)"),
                Relation::Diverged => {
                    problems.push(slug.clone());
                    continue;
                }
            },
        };
        let ours_notes = store.ref_target(&notes_ref(slug))?;
        let theirs_notes = store.ref_target(&tracking_notes(&remote, slug))?;
        let notes = match (ours_notes, theirs_notes) {
            (None, _) => None,
            (Some(ours), None) => Some((ours, None)),
            (Some(ours), Some(theirs)) => match relation(&store, ours, theirs)? {
                Relation::Ahead => Some((ours, Some(theirs))),
                Relation::Same | Relation::Behind => None,
                Relation::Diverged => {
                    problems.push(slug.clone());
                    continue;
                }
            },
        };
        let ours_say = store.ref_target(&say_ref(slug))?;
        let theirs_say = store.ref_target(&tracking_say(&remote, slug))?;
        let said = match (ours_say, theirs_say) {
            (None, _) => None,
            (Some(ours), None) => Some((ours, None)),
            (Some(ours), Some(theirs)) => match relation(&store, ours, theirs)? {
                Relation::Ahead => Some((ours, Some(theirs))),
                Relation::Same | Relation::Behind => None,
                Relation::Diverged => {
                    problems.push(slug.clone());
                    continue;
                }
            },
        };
        if let Some((ours, expect)) = said {
            push(ours, say_ref(slug), expect);
        }
        if let Some(expect) = branch {
            push(tip, branch_ref(slug), expect);
        }
        if let Some((ours, expect)) = notes {
            push(ours, notes_ref(slug), expect);
        }
        let branch = what;
        report.push((slug.clone(), tip, branch));
    }

    if !specs.is_empty() {
        let mut cmd = vec!["push", "--atomic", "--porcelain", "--quiet"];
        cmd.extend(leases.iter().map(String::as_str));
        cmd.push(remote.as_str());
        cmd.extend(specs.iter().map(String::as_str));
        let out = git(&store, &cmd)?;
        if !out.status.success() {
            return Err(UserError::new(format!("{remote} refused the push"))
                .hint(format!(
                    "git said: {}{}\nif someone pushed meanwhile, `git agent pull {remote}` first",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    stderr_of(&out)
                ))
                .into());
        }
    }
    // Our view of the remote is now what we pushed.
    fetch(&store, &remote)?;
    for (slug, tip, what) in &report {
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "push", "remote": remote, "slug": slug, "tip": tip.to_string(), "branch": what}));
        } else {
            ctx.out(format!("{slug}: {what} at {}", short(*tip)));
        }
    }
    if !problems.is_empty() {
        return Err(diverged(&remote, &problems, "push").into());
    }
    ctx.say(format!("Pushed {} task(s) to {remote}", report.len()));
    Ok(Exit::Done)
}

fn diverged(remote: &str, slugs: &[String], during: &str) -> UserError {
    let first = &slugs[0];
    let mut hint = if during == "push" {
        format!("`git agent pull {remote}` first, which merges notes and fast-forwards branches; ")
    } else {
        String::new()
    };
    hint.push_str(&format!(
        "see both sides with `git log --oneline --graph agent/{first} {remote}/agent/{first}`, \
         then keep one with `git branch -f agent/{first} <commit>` (save the other first with \
         `git update-ref refs/agent/{first}/attic/<n> <commit>`)"
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

/// Where each branch is checked out: branch ref -> worktree path.
fn checkouts(store: &Store) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let out = git(store, &["worktree", "list", "--porcelain"])?;
    let mut map = BTreeMap::new();
    let mut path = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(PathBuf::from(p));
        } else if let Some(b) = line.strip_prefix("branch ")
            && let Some(p) = path.take()
        {
            map.insert(b.to_string(), p);
        }
    }
    Ok(map)
}

pub fn cmd_pull(ctx: &Context, args: PullArgs) -> anyhow::Result<Exit> {
    let store = ctx.store()?;
    let remote = args.remote.unwrap_or_else(|| "origin".to_string());
    ctx.say(format!("Fetching the agent refs of {remote}…"));
    fetch(&store, &remote)?;
    let attics = remote_attics(&store, &remote)?;
    let checkouts = checkouts(&store)?;
    let prefix = format!("refs/remotes/{remote}/agent/");
    let mut problems = Vec::new();
    let mut running = Vec::new();
    let mut count = 0;
    for (name, theirs) in store.refs_with_prefix(&prefix)? {
        let slug = name.trim_start_matches(&prefix).to_string();
        if validate_slug(&slug).is_err() {
            ctx.say(format!("skipping {name}: not a task name"));
            continue;
        }
        if store.is_folded_attempt(&slug)? {
            ctx.say(format!("skipping {name}: an attempt already picked here"));
            continue;
        }
        count += 1;

        // The attic, always: it only adds refs, and keeps their work reachable here.
        let ours_attic = local_attic(&store, &slug)?;
        let theirs_attic = attics.get(&slug).cloned().unwrap_or_default();
        let mut taken = ours_attic;
        for (&n, &commit) in &theirs_attic {
            if taken.values().any(|&c| c == commit) {
                continue;
            }
            let m = if taken.contains_key(&n) {
                taken.keys().max().copied().unwrap_or(0) + 1
            } else {
                n
            };
            update_ref(
                &store,
                &format!("refs/agent/{slug}/attic/{m}"),
                commit,
                None,
            )?;
            taken.insert(m, commit);
        }

        // What was said, always: `say` takes no lock, and a run reads it at its next turn.
        let said = pull_said(&store, &remote, &slug)?;
        if let Some(said) = said {
            if ctx.global.json {
                ctx.json(&serde_json::json!({"type": "pull_said", "remote": remote, "slug": slug, "said": said}));
            } else {
                ctx.say(format!("{slug}: what was said: {said}"));
            }
        }

        if TaskLock::is_held(&store, &slug) {
            running.push(slug);
            continue;
        }
        let local = branch_ref(&slug);
        let (what, theirs_ahead) = match store.ref_target(&local)? {
            None => {
                update_ref(&store, &local, theirs, None)?;
                ("new", true)
            }
            Some(ours) => match relation(&store, ours, theirs)? {
                Relation::Same => ("up to date", true),
                // Ours was discarded over there (a rollback kept it in their attic, which we
                // just took): follow the rewind, nothing of ours is lost.
                Relation::Ahead | Relation::Diverged
                    if kept_in(&store, ours, theirs_attic.values())? =>
                {
                    fast_forward(&store, &checkouts, &slug, ours, theirs)?;
                    ("rewound as on the remote (ours is kept in the attic)", true)
                }
                Relation::Ahead => ("ahead of the remote", false),
                Relation::Behind => {
                    fast_forward(&store, &checkouts, &slug, ours, theirs)?;
                    ("fast-forward", true)
                }
                Relation::Diverged => {
                    problems.push(slug);
                    continue;
                }
            },
        };
        let notes = merge_notes(&store, &remote, &slug, theirs_ahead)?;
        let tip = store.ref_target(&local)?.unwrap_or(theirs);
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "pull", "remote": remote, "slug": slug, "tip": tip.to_string(), "branch": what, "notes": notes}));
        } else {
            ctx.out(format!("{slug}: {what} at {}, notes {notes}", short(tip)));
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

/// Bring in what was said to a task on the remote: fast-forward, or join both lines with a
/// merge commit so no message is lost. `None` when nothing changed.
fn pull_said(store: &Store, remote: &str, slug: &str) -> anyhow::Result<Option<&'static str>> {
    let Some(theirs) = store.ref_target(&tracking_say(remote, slug))? else {
        return Ok(None);
    };
    let Some(ours) = store.ref_target(&say_ref(slug))? else {
        update_ref(store, &say_ref(slug), theirs, None)?;
        return Ok(Some("new"));
    };
    Ok(match relation(store, ours, theirs)? {
        Relation::Same | Relation::Ahead => None,
        Relation::Behind => {
            update_ref(store, &say_ref(slug), theirs, Some(ours))?;
            Some("fast-forward")
        }
        Relation::Diverged => {
            store.merge_said(slug, ours, theirs)?;
            Some("merged (both sides said something)")
        }
    })
}

/// Compare-and-swap a ref with `git update-ref` (`None`: it must not exist yet).
fn update_ref(
    store: &Store,
    name: &str,
    new: ObjectId,
    old: Option<ObjectId>,
) -> anyhow::Result<()> {
    let old = old.map(|o| o.to_string()).unwrap_or_default();
    store.git_output(&[
        "update-ref",
        "-m",
        "agent: pull",
        name,
        &new.to_string(),
        &old,
    ])?;
    Ok(())
}

/// Move the branch to the remote's tip (forward, or back to follow a remote rollback). Where
/// it is checked out (the task's private worktree, or the user's checkout for `--here`) the
/// files must follow, or the next checkpoint would record the old files on top of the new
/// commits: `git reset --keep` there does both, and refuses when uncommitted changes are in
/// the way.
fn fast_forward(
    store: &Store,
    checkouts: &BTreeMap<String, PathBuf>,
    slug: &str,
    ours: ObjectId,
    theirs: ObjectId,
) -> anyhow::Result<()> {
    let Some(dir) = checkouts.get(&branch_ref(slug)) else {
        return update_ref(store, &branch_ref(slug), theirs, Some(ours));
    };
    let dir = dir.display().to_string();
    let out = git(
        store,
        &[
            "-c",
            "core.hooksPath=/dev/null",
            "-C",
            &dir,
            "reset",
            "--keep",
            "--quiet",
            &theirs.to_string(),
        ],
    )?;
    if !out.status.success() {
        return Err(
            UserError::new(format!("could not move agent/{slug} in {dir}"))
                .hint(format!(
                    "git said: {}\nuncommitted changes there are in the way; record them with \
             `git agent checkpoint {slug} -m …` or remove them, then pull again",
                    stderr_of(&out)
                ))
                .into(),
        );
    }
    Ok(())
}

/// Bring in the remote's notes of a task; returns what happened, for the report.
///
/// Notes refs only grow (every write is a commit on top of the last), so usually one side
/// contains the other and this is a fast-forward. When both sides wrote notes, `git notes
/// merge` combines them: notes on different commits are simply united; for a commit whose
/// note both sides changed, one side's note wins whole. `union` or `cat_sort_uniq` would
/// interleave two TOML documents into an invalid one and `manual` would stop a command for a
/// person, so the strategy is `theirs` when their branch is at or ahead of ours (they did the
/// later work, their plan and stop record describe the tip we now have) and `ours` when ours
/// is ahead. The losing note is not gone: the merge commit keeps both parents, so
/// `git log -p refs/notes/agent/<slug>` still shows it.
fn merge_notes(
    store: &Store,
    remote: &str,
    slug: &str,
    theirs_ahead: bool,
) -> anyhow::Result<&'static str> {
    let Some(theirs) = store.ref_target(&tracking_notes(remote, slug))? else {
        return Ok("none on the remote");
    };
    let Some(ours) = store.ref_target(&notes_ref(slug))? else {
        update_ref(store, &notes_ref(slug), theirs, None)?;
        return Ok("new");
    };
    Ok(match relation(store, ours, theirs)? {
        Relation::Same | Relation::Ahead => "up to date",
        Relation::Behind => {
            update_ref(store, &notes_ref(slug), theirs, Some(ours))?;
            "fast-forward"
        }
        Relation::Diverged => {
            let strategy = if theirs_ahead { "theirs" } else { "ours" };
            let out = git(
                store,
                &[
                    "notes",
                    "--ref",
                    &notes_ref(slug),
                    "merge",
                    "--quiet",
                    "-s",
                    strategy,
                    // A full ref name: a short one is looked up like any revision first and
                    // would find the remote-tracking branch of the same name.
                    &tracking_notes(remote, slug),
                ],
            )?;
            if !out.status.success() {
                return Err(UserError::new(format!(
                    "could not merge the notes of agent/{slug} from {remote}"
                ))
                .hint(format!("git notes merge said: {}", stderr_of(&out)))
                .into());
            }
            keep_both_attempts(store, slug, ours, theirs)?;
            if theirs_ahead {
                "merged (theirs won conflicts)"
            } else {
                "merged (ours won conflicts)"
            }
        }
    })
}

/// After a notes merge where one plan note won whole, put back the failed attempts only the
/// other side knew: they are what the next plan learns from, so they must not be lost.
fn keep_both_attempts(
    store: &Store,
    slug: &str,
    ours: gix::ObjectId,
    theirs: gix::ObjectId,
) -> anyhow::Result<()> {
    use crate::store::NotesReader;
    let task = store.task(slug)?;
    let plan_at = |notes_commit: gix::ObjectId| -> anyhow::Result<Option<crate::store::Plan>> {
        Ok(NotesReader::at_commit(store, notes_commit)?.plan(task.task_commit)?)
    };
    let (Some(a), Some(b)) = (plan_at(ours)?, plan_at(theirs)?) else {
        return Ok(());
    };
    let mut merged = store.plan(&task)?;
    let mut changed = false;
    for attempt in a.attempts.iter().chain(&b.attempts) {
        if !merged.attempts.contains(attempt) {
            merged.attempts.push(attempt.clone());
            changed = true;
        }
    }
    if changed {
        merged.attempts.sort_by(|x, y| x.at.cmp(&y.at));
        store.write_plan(
            &task,
            &merged,
            &format!("keep the attempts of both sides of agent/{slug}"),
        )?;
    }
    Ok(())
}
