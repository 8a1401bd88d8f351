//! `git agent fsck` against state broken by hand with the git CLI: each rule of
//! docs/data-model.md is found, said with a repair command, and the repair (run as printed)
//! makes the state clean again.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::Value;

use crate::common::{TestEnv, worktree};

/// A repository with task `x`: its task commit and one hand checkpoint. Clean.
fn task(env: &TestEnv) -> PathBuf {
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--no-run", "--name", "x", "Add a b file"]);
    std::fs::write(worktree(&repo, "x").join("b.txt"), "b\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "x", "-m", "Add b"]);
    assert_clean(env, &repo);
    repo
}

/// The findings of `git agent fsck --json`, with the exit code.
fn fsck(env: &TestEnv, repo: &Path) -> (i32, Vec<Value>) {
    let (code, out, err) = env.agent(repo, &["fsck", "--json"]);
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "fsck", "{out}");
    let findings: Vec<Value> = lines
        .iter()
        .filter(|l| l["type"] == "finding")
        .cloned()
        .collect();
    assert_eq!(summary["findings"], findings.len(), "{out}");
    (code, findings)
}

fn assert_clean(env: &TestEnv, repo: &Path) {
    let (code, findings) = fsck(env, repo);
    assert_eq!((code, findings), (0, Vec::new()));
}

/// The one finding fsck reports, which must break `rule`.
fn only(env: &TestEnv, repo: &Path, rule: &str) -> Value {
    let (code, findings) = fsck(env, repo);
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!((code, rules), (1, vec![rule]), "{findings:#?}");
    findings.into_iter().next().unwrap()
}

fn text<'a>(finding: &'a Value, key: &str) -> &'a str {
    finding[key].as_str().unwrap_or_default()
}

/// Run the repair as printed, then fsck must be clean.
fn repair(env: &TestEnv, repo: &Path, finding: &Value) {
    env.sh(repo, text(finding, "repair"));
    assert_clean(env, repo);
}

/// A commit with this message on top of `parent`, with `parent`'s tree.
fn commit_on(env: &TestEnv, repo: &Path, parent: &str, message: &str) -> String {
    let tree = format!("{parent}^{{tree}}");
    env.git(repo, &["commit-tree", "-p", parent, "-m", message, &tree])
        .trim()
        .to_string()
}

#[test]
fn a_clean_repository_passes_and_a_task_can_be_named() {
    let env = TestEnv::new();
    let repo = task(&env);
    // A rollback and its undo leave attic entries, which are the task's own.
    env.agent_ok(&repo, &["rollback", "x", "--steps", "1", "--reason", "try"]);
    env.agent_ok(&repo, &["rollback", "x", "--undo"]);
    env.agent_ok(&repo, &["start", "--no-run", "--name", "y", "Another"]);
    let (code, out, err) = env.agent(&repo, &["fsck"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "", "2 tasks checked: the agent state is consistent\n")
    );
    let (code, _, err) = env.agent(&repo, &["fsck", "agent/y"]);
    assert_eq!(
        (code, err.as_str()),
        (0, "1 task checked: the agent state is consistent\n")
    );
    let (code, _, err) = env.agent(&repo, &["fsck", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no task named 'nope'"), "{err}");
}

#[test]
fn findings_are_printed_with_where_and_the_repair() {
    let env = TestEnv::new();
    let repo = task(&env);
    env.git(&repo, &["update-ref", "refs/agent/ghost/attic/1", "HEAD"]);
    let head = env.rev(&repo, "HEAD");
    let (code, out, err) = env.agent(&repo, &["fsck"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        format!(
            "attic-unknown-task: ghost: an attic entry of a task that has no branch\n  \
             where:  refs/agent/ghost/attic/1 at {}\n  \
             repair: git update-ref -d refs/agent/ghost/attic/1 {head}\n  \
             note:   deletes work kept there; look at it first: git log -p refs/agent/ghost/attic/1\n",
            &head[..8]
        )
    );
    assert_eq!(err, "1 task checked: 1 finding\n");
    // Naming another task leaves the ghost out.
    assert_eq!(env.agent(&repo, &["fsck", "x"]).0, 0);
    assert_eq!(env.agent(&repo, &["fsck", "ghost"]).0, 1);
    let finding = only(&env, &repo, "attic-unknown-task");
    repair(&env, &repo, &finding);
}

#[test]
fn notes_that_do_not_parse_are_restored_from_the_notes_history() {
    let env = TestEnv::new();
    let repo = task(&env);
    let plan_before = env.git(&repo, &["notes", "--ref", "agent/x", "show", "agent/x~1"]);
    env.git(
        &repo,
        &[
            "notes",
            "--ref",
            "agent/x",
            "add",
            "-f",
            "-m",
            "not toml [",
            "agent/x~1",
        ],
    );
    let finding = only(&env, &repo, "plan-malformed");
    assert!(text(&finding, "where").starts_with("refs/notes/agent/x on task commit "));
    assert!(
        text(&finding, "repair").starts_with("git notes --ref refs/notes/agent/x add -f -C "),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
    assert_eq!(
        env.git(&repo, &["notes", "--ref", "agent/x", "show", "agent/x~1"]),
        plan_before
    );

    env.git(
        &repo,
        &[
            "notes",
            "--ref",
            "agent/x",
            "add",
            "-f",
            "-m",
            "checkpoint = \"two\"",
            "agent/x",
        ],
    );
    let finding = only(&env, &repo, "record-malformed");
    assert!(
        text(&finding, "what").contains("checkpoint record"),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
    env.agent_ok(&repo, &["status", "x"]);
}

#[test]
fn missing_notes_are_written_anew() {
    let env = TestEnv::new();
    let repo = task(&env);
    // A removed plan comes back from the notes history.
    env.git(&repo, &["notes", "--ref", "agent/x", "remove", "agent/x~1"]);
    let finding = only(&env, &repo, "plan-missing");
    assert!(text(&finding, "repair").contains(" add -C "), "{finding:#}");
    repair(&env, &repo, &finding);

    // With the whole notes ref gone, a new plan holds the goal and a record the trailers.
    env.git(&repo, &["update-ref", "-d", "refs/notes/agent/x"]);
    let (code, findings) = fsck(&env, &repo);
    assert_eq!(code, 1);
    let rules: Vec<&str> = findings.iter().map(|f| text(f, "rule")).collect();
    assert_eq!(rules, vec!["record-missing", "plan-missing"]);
    for finding in &findings {
        env.sh(&repo, text(finding, "repair"));
    }
    assert_clean(&env, &repo);
    let plan = env.git(&repo, &["notes", "--ref", "agent/x", "show", "agent/x~1"]);
    let plan: toml::Table = toml::from_str(&plan).unwrap();
    assert_eq!(plan["goal"].as_str(), Some("Add a b file"));
    assert_eq!(plan["format"].as_integer(), Some(1));
    let status = env.agent_ok(&repo, &["status", "x"]);
    assert!(status.contains("Add a b file"), "{status}");
}

#[test]
fn a_record_that_disagrees_with_its_trailers_follows_them() {
    let env = TestEnv::new();
    let repo = task(&env);
    env.sh(
        &repo,
        "git notes --ref agent/x show agent/x | sed 's/^checkpoint = 1/checkpoint = 5/' \
         | git notes --ref agent/x add -f -F - agent/x",
    );
    let finding = only(&env, &repo, "record-mismatch");
    assert!(
        text(&finding, "what").contains("checkpoint = 5 (trailers: 1)"),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
}

#[test]
fn a_checkpoint_numbered_wrong_is_taken_off_the_branch_into_the_attic() {
    let env = TestEnv::new();
    let repo = task(&env);
    let good = env.rev(&repo, "agent/x");
    let bad = commit_on(
        &env,
        &repo,
        &good,
        "Skip ahead\n\nAgent-Task: x\nAgent-Checkpoint: 7\nAgent-Step: 0/0\nAgent-Model: human",
    );
    env.git(
        &repo,
        &[
            "notes",
            "--ref",
            "agent/x",
            "add",
            "-m",
            "checkpoint = 7",
            &bad,
        ],
    );
    env.git(&repo, &["update-ref", "refs/heads/agent/x", &bad]);
    let finding = only(&env, &repo, "checkpoint-number");
    assert!(
        text(&finding, "what").contains("numbered 7, but after its first parent it must be 2"),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
    assert_eq!(env.rev(&repo, "agent/x"), good);
    assert_eq!(env.rev(&repo, "refs/agent/x/attic/1"), bad);
    // The task works again: the next checkpoint is number 2.
    std::fs::write(worktree(&repo, "x").join("c.txt"), "c\n").unwrap();
    let out = env.agent_ok(&repo, &["checkpoint", "x", "-m", "Add c"]);
    assert!(out.starts_with("Checkpoint 2 "), "{out}");
    assert_clean(&env, &repo);
}

#[test]
fn a_checkpoint_without_its_trailers_is_found() {
    let env = TestEnv::new();
    let repo = task(&env);
    let bad = commit_on(&env, &repo, "agent/x", "Half a checkpoint\n\nAgent-Task: x");
    env.git(
        &repo,
        &[
            "notes",
            "--ref",
            "agent/x",
            "add",
            "-m",
            "model = \"m\"",
            &bad,
        ],
    );
    env.git(&repo, &["update-ref", "refs/heads/agent/x", &bad]);
    let finding = only(&env, &repo, "checkpoint-trailers");
    assert!(
        text(&finding, "what").contains("no Agent-Checkpoint trailer; no Agent-Step trailer"),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
}

#[test]
fn commits_of_another_task_or_by_hand_on_the_branch_are_found() {
    let env = TestEnv::new();
    let repo = task(&env);
    let good = env.rev(&repo, "agent/x");
    let other = commit_on(
        &env,
        &repo,
        &good,
        "Work of y\n\nAgent-Task: y\nAgent-Checkpoint: 2\nAgent-Step: 1/1",
    );
    env.git(&repo, &["update-ref", "refs/heads/agent/x", &other]);
    let finding = only(&env, &repo, "foreign-commit");
    assert!(
        text(&finding, "what").contains("belongs to task 'y' (Agent-Task: y)"),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
    assert_eq!(env.rev(&repo, "agent/x"), good);

    // A commit made with plain git in the task's worktree: its files stay, as uncommitted
    // work that a checkpoint records.
    let wt = worktree(&repo, "x");
    std::fs::write(wt.join("hand.txt"), "by hand\n").unwrap();
    env.git(&wt, &["add", "hand.txt"]);
    env.git(&wt, &["commit", "-qm", "by hand"]);
    env.git(&wt, &["commit", "-q", "--allow-empty", "-m", "and more"]);
    let finding = only(&env, &repo, "foreign-commit");
    assert!(
        text(&finding, "what").contains("no Agent-Task trailer), with 1 commit above it"),
        "{finding:#}"
    );
    // The worktree's index follows the branch, through the admin dir git registered.
    let admin = repo.join(".git/worktrees/x");
    assert!(
        text(&finding, "repair").ends_with(&format!(
            " && git --git-dir={} --work-tree={} reset -q",
            admin.display(),
            wt.display()
        )),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
    assert_eq!(env.rev(&repo, "agent/x"), good);
    assert_eq!(
        std::fs::read_to_string(wt.join("hand.txt")).unwrap(),
        "by hand\n"
    );
    env.agent_ok(&repo, &["checkpoint", "x", "-m", "Keep the hand work"]);
    assert_eq!(env.git(&repo, &["show", "agent/x:hand.txt"]), "by hand\n");
    assert_clean(&env, &repo);
}

#[test]
fn a_branch_moved_by_hand_goes_back_where_its_reflog_says() {
    let env = TestEnv::new();
    let repo = task(&env);
    let good = env.rev(&repo, "agent/x");
    env.git(&repo, &["commit", "-q", "--allow-empty", "-m", "unrelated"]);
    env.git(&repo, &["update-ref", "refs/heads/agent/x", "main"]);
    assert_eq!(env.agent(&repo, &["status", "x"]).0, 1);
    let finding = only(&env, &repo, "branch-moved");
    assert!(text(&finding, "repair").contains(&good), "{finding:#}");
    repair(&env, &repo, &finding);
    assert_eq!(env.rev(&repo, "agent/x"), good);
    env.agent_ok(&repo, &["status", "x"]);
}

#[test]
fn refs_of_tasks_that_do_not_exist_or_that_are_not_commits() {
    let env = TestEnv::new();
    let repo = task(&env);
    // An attic ref pointing at a blob.
    let blob = env.sh(&repo, "echo data | git hash-object -w --stdin");
    env.git(&repo, &["update-ref", "refs/agent/x/attic/7", blob.trim()]);
    let finding = only(&env, &repo, "ref-not-a-commit");
    assert!(
        text(&finding, "what").contains("points to a blob"),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);

    // The notes ref itself pointing at a blob: one finding, not one per missing note, and the
    // ref's reflog puts it back.
    let notes = env.rev(&repo, "refs/notes/agent/x");
    env.git(&repo, &["update-ref", "refs/notes/agent/x", blob.trim()]);
    let finding = only(&env, &repo, "ref-not-a-commit");
    assert_eq!(
        text(&finding, "repair"),
        format!("git update-ref --no-deref refs/notes/agent/x {notes}")
    );
    repair(&env, &repo, &finding);

    // An attic entry of this task's name that is not its work (a task of the same name
    // elsewhere).
    env.git(&repo, &["update-ref", "refs/agent/x/attic/1", "main"]);
    let finding = only(&env, &repo, "attic-not-of-task");
    repair(&env, &repo, &finding);

    // The branch deleted by hand: the notes bring the task back at its checkpoint.
    let tip = env.rev(&repo, "agent/x");
    env.git(
        &repo,
        &[
            "worktree",
            "remove",
            "--force",
            worktree(&repo, "x").to_str().unwrap(),
        ],
    );
    env.git(&repo, &["update-ref", "-d", "refs/heads/agent/x"]);
    let finding = only(&env, &repo, "notes-without-branch");
    repair(&env, &repo, &finding);
    assert_eq!(env.rev(&repo, "agent/x"), tip);
    env.agent_ok(&repo, &["status", "x"]);
}

/// Remove the loose object file of `id`, as `git gc --prune=now` does to an object it thinks
/// unreachable while a writer is about to name it in a ref.
fn prune_object(repo: &Path, id: &str) {
    std::fs::remove_file(repo.join(".git/objects").join(&id[..2]).join(&id[2..])).unwrap();
}

#[test]
fn a_ref_at_a_pruned_object_is_a_finding_and_its_task_is_still_a_task() {
    let env = TestEnv::new();
    let repo = task(&env);
    let wt = worktree(&repo, "x");
    let before = env.rev(&repo, "agent/x");
    std::fs::write(wt.join("c.txt"), "c\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "x", "-m", "Add c"]);
    let lost = env.rev(&repo, "agent/x");
    prune_object(&repo, &lost);

    // The task is checked, its own worktree is not stale, and the finding names the ref and
    // the object.
    let (code, _, err) = env.agent(&repo, &["fsck"]);
    assert_eq!((code, err.as_str()), (1, "1 task checked: 1 finding\n"));
    let finding = only(&env, &repo, "object-missing");
    assert_eq!(text(&finding, "where"), "refs/heads/agent/x");
    assert!(text(&finding, "what").contains(&lost), "{finding:#}");
    assert_eq!(only(&env, &repo, "object-missing"), finding);
    assert_eq!(env.agent(&repo, &["fsck", "x"]).0, 1);
    // The repair keeps the work: the branch goes back to the checkpoint before, whose files
    // stay in the worktree as a change the next checkpoint records again.
    assert!(
        text(&finding, "repair").contains(&format!("refs/heads/agent/x {before} {lost}")),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
    env.fsck(&repo);
    assert_eq!(env.rev(&repo, "agent/x"), before);
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "?? c.txt\n");
    let out = env.agent_ok(&repo, &["checkpoint", "x", "-m", "Add c again"]);
    assert!(out.starts_with("Checkpoint 2 "), "{out}");
    assert_eq!(env.git(&repo, &["show", "agent/x:c.txt"]), "c\n");
    assert_clean(&env, &repo);

    // The notes ref at a pruned commit goes back to the one before; the record it held is
    // written anew from the trailers.
    let notes_before = env.rev(&repo, "refs/notes/agent/x^");
    let notes = env.rev(&repo, "refs/notes/agent/x");
    prune_object(&repo, &notes);
    let finding = only(&env, &repo, "object-missing");
    assert_eq!(text(&finding, "where"), "refs/notes/agent/x");
    env.sh(&repo, text(&finding, "repair"));
    assert_eq!(env.rev(&repo, "refs/notes/agent/x"), notes_before);
    let finding = only(&env, &repo, "record-missing");
    repair(&env, &repo, &finding);
    env.fsck(&repo);
}

#[test]
fn stale_worktrees_are_found() {
    let env = TestEnv::new();
    let repo = task(&env);
    let root = repo.join(".git/agent/worktrees");
    std::fs::create_dir(root.join("orphan")).unwrap();
    let finding = only(&env, &repo, "stale-worktree");
    assert_eq!(text(&finding, "task"), "orphan");
    repair(&env, &repo, &finding);

    // A worktree registered with git, of no task.
    let other = root.join("other");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "other",
            other.to_str().unwrap(),
        ],
    );
    let finding = only(&env, &repo, "stale-worktree");
    assert!(text(&finding, "repair").starts_with("git worktree remove --force "));
    repair(&env, &repo, &finding);

    // The task's worktree deleted: its registration stays behind.
    std::fs::remove_dir_all(worktree(&repo, "x")).unwrap();
    let finding = only(&env, &repo, "worktree-gone");
    assert_eq!(text(&finding, "repair"), "git worktree prune");
    repair(&env, &repo, &finding);
    let list = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(!list.contains("agent/worktrees/x"), "{list}");
}

#[test]
fn a_lock_left_by_a_dead_run_is_stale_and_a_live_one_is_a_notice() {
    use std::os::fd::AsRawFd;
    let env = TestEnv::new();
    let repo = task(&env);
    let lock = repo.join(".git/agent/locks/x.lock");
    std::fs::write(
        &lock,
        "pid=4242\nhost=elsewhere\nsince=2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let finding = only(&env, &repo, "stale-lock");
    assert!(
        text(&finding, "what").contains("pid 4242 on elsewhere, since 2026-01-01T00:00:00Z"),
        "{finding:#}"
    );
    assert!(
        text(&finding, "note").contains("git agent resume x"),
        "{finding:#}"
    );
    repair(&env, &repo, &finding);
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "");

    // A live holder: the task is running, which is no finding.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock)
        .unwrap();
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    std::fs::write(&lock, "pid=4242\nhost=here\nsince=2026-01-01T00:00:00Z\n").unwrap();
    let (code, _, err) = env.agent(&repo, &["fsck"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note: x: a run is working on it (pid 4242 on here)"),
        "{err}"
    );
    drop(held);
}

#[test]
fn a_task_in_a_newer_format_is_read_but_never_written() {
    let env = TestEnv::new();
    let repo = task(&env);
    env.sh(
        &repo,
        "git notes --ref agent/x show agent/x~1 | sed 's/^format = 1/format = 2/' \
         | git notes --ref agent/x add -f -F - agent/x~1",
    );
    let (code, _, err) = env.agent(&repo, &["fsck"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note: x: written in format 2; this git-agent knows format 1"),
        "{err}"
    );
    env.agent_ok(&repo, &["status", "x"]);
    env.agent_ok(&repo, &["log", "x"]);
    let tip = env.rev(&repo, "agent/x");
    let notes = env.rev(&repo, "refs/notes/agent/x");
    std::fs::write(worktree(&repo, "x").join("c.txt"), "c\n").unwrap();
    for args in [
        &["checkpoint", "x", "-m", "c"][..],
        &["rollback", "x", "--steps", "1"][..],
    ] {
        let (code, _, err) = env.agent(&repo, args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains("written in format 2, newer than the format 1"),
            "{err}"
        );
        assert!(err.contains("hint: upgrade git-agent"), "{err}");
    }
    assert_eq!(env.rev(&repo, "agent/x"), tip);
    assert_eq!(env.rev(&repo, "refs/notes/agent/x"), notes);
}

/// docs/data-model.md is the specification: it lists every fsck rule and every trailer the
/// code writes or reads.
#[test]
fn the_data_model_page_names_every_rule_and_every_trailer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/data-model.md")).unwrap();
    let fsck = &page[page.find("\n## fsck").unwrap()..];
    let listed: Vec<&str> = fsck
        .lines()
        .filter_map(|l| {
            l.strip_prefix("| `")?
                .split_once("` |")
                .map(|(rule, _)| rule)
        })
        .collect();
    assert_eq!(listed, git_agent::store::Finding::RULES.to_vec());

    let trailer = regex::Regex::new(r"(Agent-[A-Z][A-Za-z-]*[a-z]|Co-authored-by)\b").unwrap();
    let mut sources = vec![root.join("src")];
    let mut keys = std::collections::BTreeSet::new();
    while let Some(path) = sources.pop() {
        if path.is_dir() {
            sources.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            keys.extend(trailer.find_iter(&text).map(|m| m.as_str().to_string()));
        }
    }
    assert!(keys.contains("Agent-Task-Tip"), "{keys:?}");
    for key in keys {
        assert!(
            page.contains(&format!("| `{key}` |")),
            "{key} is used in src/ but not in the trailer table of docs/data-model.md"
        );
    }
}

#[test]
fn the_lock_of_a_task_that_is_gone_is_removed_not_reported() {
    let env = TestEnv::new();
    let repo = task(&env);
    let locks = repo.join(".git/agent/locks");
    // A drop leaves no lock file of the task it dropped.
    env.agent_ok(&repo, &["drop", "--force", "x"]);
    assert!(!locks.join("x.lock").exists());
    // What a drop killed between its refs and its lock leaves: a holder of no task.
    let lock = locks.join("x.lock");
    std::fs::write(
        &lock,
        "pid=4242\nhost=elsewhere\nsince=2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let (code, _, err) = env.agent(&repo, &["fsck"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("x: removed the lock file a killed run left for a task that no longer exists"),
        "{err}"
    );
    assert!(!lock.exists());
    assert_clean(&env, &repo);
}

#[test]
fn a_merge_killed_while_it_landed_is_found_until_merge_finishes_it() {
    let env = TestEnv::new();
    let repo = task(&env);
    let before = env.rev(&repo, "main");
    env.agent_ok(&repo, &["merge", "x"]);
    let after = env.rev(&repo, "main");
    assert_ne!(before, after);
    // The record a merge writes before it moves the checkout, left by one killed after the
    // branch moved and before it cleared the record.
    let landing = repo.join(".git/agent/landing.lock");
    std::fs::write(&landing, format!("refs/heads/main {before} {after}\n")).unwrap();
    let finding = only(&env, &repo, "interrupted-merge");
    assert_eq!(text(&finding, "task"), "x");
    assert_eq!(text(&finding, "repair"), "git agent merge x");
    env.agent_ok(&repo, &["merge", "x"]);
    assert_clean(&env, &repo);
    assert_eq!(std::fs::read_to_string(&landing).unwrap(), "");
    assert_eq!(env.rev(&repo, "main"), after);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn a_fetch_killed_in_the_middle_is_found_until_the_next_sync() {
    let env = TestEnv::new();
    let repo = task(&env);
    let remote = env.root.path().join("origin.git");
    env.git(&repo, &["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    env.agent_ok(&repo, &["push", "x"]);
    // The record of a sync, as `git agent pull` writes it before git runs, left by a kill.
    let sync = repo.join(".git/agent/sync/origin.lock");
    std::fs::write(&sync, "fetch --quiet --prune -- origin\n").unwrap();
    let stale = repo.join(".git/refs/remotes/origin/agent");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("x.lock"), "").unwrap();
    let finding = only(&env, &repo, "interrupted-sync");
    assert_eq!(text(&finding, "repair"), "git agent pull origin");
    env.agent_ok(&repo, &["pull", "origin"]);
    assert_clean(&env, &repo);
    assert!(!stale.join("x.lock").exists());
    // A task-scoped fsck does not report what belongs to no task.
    std::fs::write(&sync, "fetch --quiet --prune -- origin\n").unwrap();
    let (code, out, err) = env.agent(&repo, &["fsck", "x"]);
    assert_eq!(code, 0, "{out}{err}");
}
