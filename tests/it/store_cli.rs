//! The task store through the real binary, checked with the real git CLI.

use std::os::unix::fs::PermissionsExt;

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, get, worktree};

#[test]
fn start_creates_branch_task_commit_plan_note_and_worktree() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let head_before = env.rev(&repo, "HEAD");
    let out = env.agent_ok(
        &repo,
        &["start", "--no-run", "Add a --json flag to the list command"],
    );
    assert!(out.contains("add-a-json-flag-to-the-list-command"), "{out}");
    let slug = "add-a-json-flag-to-the-list-command";
    let branch = format!("agent/{slug}");

    // The task commit: parent = base, tree = base tree, message and trailers as specified.
    assert_eq!(env.rev(&repo, &format!("{branch}^")), head_before);
    assert_eq!(
        env.rev(&repo, &format!("{branch}^{{tree}}")),
        env.rev(&repo, "HEAD^{tree}")
    );
    let subject = env.git(&repo, &["log", "-1", "--format=%s%n%n%b", &branch]);
    assert!(
        subject.starts_with(&format!(
            "agent: start {slug}\n\nAdd a --json flag to the list command\n"
        )),
        "{subject}"
    );
    let trailers = env.trailers(&repo, &branch);
    assert_eq!(
        trailers,
        vec![
            ("Agent-Task".to_string(), slug.to_string()),
            ("Agent-Base".to_string(), head_before.clone())
        ]
    );
    // Author is the user's own identity.
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%an <%ae>", &branch])
            .trim(),
        "Test User <test@example.com>"
    );

    // The plan note, readable by git notes.
    let plan = env.git(
        &repo,
        &["notes", "--ref", &format!("agent/{slug}"), "show", &branch],
    );
    let plan: toml::Table = toml::from_str(&plan).unwrap();
    assert_eq!(
        plan["goal"].as_str(),
        Some("Add a --json flag to the list command")
    );
    assert_eq!(plan["base_branch"].as_str(), Some("main"));

    // Plain git log shows the notes through notes.displayRef.
    assert_eq!(
        env.git(&repo, &["config", "--get-all", "notes.displayRef"])
            .trim(),
        "refs/notes/agent/*"
    );
    let log = env.git(&repo, &["log", "-1", &branch]);
    assert!(log.contains("Notes (agent/"), "{log}");

    // The private worktree, on the branch; the user's checkout untouched.
    let list = env.git(&repo, &["worktree", "list", "--porcelain"]);
    let wt = worktree(&repo, slug);
    assert!(
        list.contains(&format!("worktree {}", wt.display())),
        "{list}"
    );
    assert!(
        list.contains(&format!("branch refs/heads/{branch}")),
        "{list}"
    );
    assert_eq!(env.rev(&repo, "HEAD"), head_before);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    env.fsck(&repo);

    // A second task with the same goal gets a suffix.
    let out = env.agent_ok(
        &repo,
        &["start", "--no-run", "Add a --json flag to the list command"],
    );
    assert!(out.contains(&format!("{slug}-2")), "{out}");
}

#[test]
fn checkpoint_stages_like_git_add_all_and_keeps_the_index_in_step() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "work", "--no-run", "do work"]);
    let wt = worktree(&repo, "work");
    std::fs::write(
        wt.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b + 0\n}\n",
    )
    .unwrap();
    std::fs::write(wt.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(wt.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("src/lib.rs", wt.join("lib-link")).unwrap();
    std::fs::remove_file(wt.join("README.md")).unwrap();
    std::fs::create_dir_all(wt.join("target")).unwrap();
    std::fs::write(wt.join("target/out.bin"), "ignored").unwrap();
    std::fs::write(wt.join("debug.log"), "ignored").unwrap();
    std::fs::create_dir_all(wt.join("docs/deep")).unwrap();
    std::fs::write(wt.join("docs/deep/notes.md"), "one\ntwo\n").unwrap();

    // What git itself would stage, computed in a throwaway copy of the worktree's index.
    let expected_tree = {
        let index = env.root.path().join("expected-index");
        let mut add = env.git_cmd(&wt, &["add", "-A"]);
        add.env("GIT_INDEX_FILE", &index);
        assert!(add.status().unwrap().success());
        let mut write = env.git_cmd(&wt, &["write-tree"]);
        write.env("GIT_INDEX_FILE", &index);
        String::from_utf8(write.output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string()
    };

    let out = env.agent_ok(
        &repo,
        &["checkpoint", "work", "-m", "Change add, add a script"],
    );
    assert!(out.contains("Checkpoint 1"), "{out}");
    assert_eq!(env.rev(&repo, "agent/work^{tree}"), expected_tree);
    let tree = env.git(&repo, &["ls-tree", "-r", "agent/work"]);
    assert!(
        tree.contains("100755 blob") && tree.contains("\trun.sh"),
        "{tree}"
    );
    assert!(
        tree.contains("120000 blob") && tree.contains("\tlib-link"),
        "{tree}"
    );
    assert!(
        !tree.contains("README.md") && !tree.contains("target/") && !tree.contains("debug.log"),
        "{tree}"
    );

    let trailers = env.trailers(&repo, "agent/work");
    assert_eq!(get(&trailers, "Agent-Task"), Some("work"));
    assert_eq!(get(&trailers, "Agent-Checkpoint"), Some("1"));
    assert_eq!(get(&trailers, "Agent-Tests"), Some("not-run"));
    for key in [
        "Agent-Step",
        "Agent-Expected",
        "Agent-Risks",
        "Agent-Next",
        "Agent-Model",
    ] {
        assert!(
            get(&trailers, key).is_some(),
            "{key} missing in {trailers:?}"
        );
    }
    let body = env.git(&repo, &["log", "-1", "--format=%b", "agent/work"]);
    let numstat = env.git(&repo, &["diff", "--shortstat", "agent/work^", "agent/work"]);
    assert!(
        body.contains(numstat.trim()),
        "body {body:?} lacks git's own stat {numstat:?}"
    );

    // The record note, with the harness's own timing.
    let note = env.git(
        &repo,
        &["notes", "--ref", "agent/work", "show", "agent/work"],
    );
    let note: toml::Table = toml::from_str(&note).unwrap();
    assert_eq!(note["checkpoint"].as_integer(), Some(1));
    assert!(note.contains_key("checkpoint_ms"));
    assert_eq!(note["files_changed"].as_integer(), Some(5));

    // The worktree's index is in step: git sees nothing to commit, and nothing needs rehashing.
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    assert_eq!(env.git(&wt, &["diff-files", "--name-only"]), "");
    env.fsck(&repo);

    // A second checkpoint touching one file changes only that path.
    std::fs::write(wt.join("docs/deep/notes.md"), "one\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "Trim notes"]);
    assert_eq!(
        env.git(&repo, &["diff", "--name-only", "agent/work^", "agent/work"]),
        "docs/deep/notes.md\n"
    );
    assert_eq!(
        get(&env.trailers(&repo, "agent/work"), "Agent-Checkpoint"),
        Some("2")
    );
    let log = env.agent_ok(&repo, &["log", "work"]);
    assert!(
        log.contains("checkpoint 2") && log.contains("checkpoint 1") && log.contains("Trim notes"),
        "{log}"
    );
    env.fsck(&repo);
}

#[test]
fn rollback_keeps_the_old_tip_in_the_attic_records_the_reason_and_can_be_undone() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "t", "--no-run", "goal"]);
    let wt = worktree(&repo, "t");
    std::fs::write(wt.join("a.txt"), "a\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "one"]);
    let first = env.rev(&repo, "agent/t");
    std::fs::write(wt.join("b.txt"), "b\n").unwrap();
    std::fs::write(wt.join("a.txt"), "a2\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "two"]);
    let second = env.rev(&repo, "agent/t");
    let untouched_mtime = std::fs::metadata(wt.join("src/lib.rs"))
        .unwrap()
        .modified()
        .unwrap();
    // Unfinished work in the worktree goes to the attic too.
    std::fs::write(wt.join("wip.txt"), "half done\n").unwrap();

    let out = env.agent_ok(
        &repo,
        &[
            "rollback",
            "t",
            "--steps",
            "1",
            "--reason",
            "tests kept failing",
        ],
    );
    assert!(out.contains("refs/agent/t/attic/1"), "{out}");
    assert_eq!(env.rev(&repo, "agent/t"), first);
    let attic = env.rev(&repo, "refs/agent/t/attic/1");
    assert_eq!(
        env.rev(&repo, "refs/agent/t/attic/1^"),
        second,
        "the attic keeps the unfinished work on top of the old tip"
    );
    assert_eq!(
        env.git(&repo, &["show", &format!("{attic}:wip.txt")]),
        "half done\n"
    );
    // The worktree matches the restored tip; untouched files were not rewritten.
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a\n");
    assert!(!wt.join("b.txt").exists() && !wt.join("wip.txt").exists());
    assert_eq!(
        std::fs::metadata(wt.join("src/lib.rs"))
            .unwrap()
            .modified()
            .unwrap(),
        untouched_mtime
    );
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    // The reason is in the plan's attempts.
    let plan = env.git(&repo, &["notes", "--ref", "agent/t", "show", "agent/t~1"]);
    let plan: toml::Table = toml::from_str(&plan).unwrap();
    let attempts = plan["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["reason"].as_str(), Some("tests kept failing"));
    assert_eq!(attempts[0]["discarded"].as_str(), Some(second.as_str()));
    assert_eq!(attempts[0]["attic"].as_str(), Some("refs/agent/t/attic/1"));
    env.fsck(&repo);

    // Undo: the old tip comes back.
    env.agent_ok(&repo, &["rollback", "t", "--undo"]);
    assert_eq!(env.rev(&repo, "agent/t"), second);
    assert_eq!(std::fs::read_to_string(wt.join("b.txt")).unwrap(), "b\n");
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    env.fsck(&repo);
}

#[test]
fn rollback_to_last_green_and_to_a_revision() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "g", "--no-run", "goal"]);
    let wt = worktree(&repo, "g");
    for n in 1..=3 {
        std::fs::write(wt.join(format!("f{n}.txt")), "x\n").unwrap();
        env.agent_ok(&repo, &["checkpoint", "-m", &format!("c{n}")]);
    }
    let task_commit = env.rev(&repo, "agent/g~3");
    // No checkpoint ran tests, so the last green state is the task commit itself.
    env.agent_ok(
        &repo,
        &["rollback", "--last-green", "--reason", "nothing passed"],
    );
    assert_eq!(env.rev(&repo, "agent/g"), task_commit);
    env.agent_ok(&repo, &["rollback", "--undo"]);
    let c2 = env.rev(&repo, "agent/g~1");
    env.agent_ok(&repo, &["rollback", "--to", &c2]);
    assert_eq!(env.rev(&repo, "agent/g"), c2);
    assert!(!wt.join("f3.txt").exists());
    let (code, _, err) = env.agent(&repo, &["rollback", "--to", "main"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a checkpoint of task 'g'"), "{err}");
    env.fsck(&repo);
}

#[test]
fn notes_interoperate_with_git_notes_including_fanout_trees() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "n", "--no-run", "goal"]);
    // Grow the notes ref with git itself until git writes a fan-out tree.
    let script = "for i in $(seq 1 300); do id=$(echo blob $i | git hash-object -w --stdin); \
                  git notes --ref agent/n add -m \"note $i\" $id; done";
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(&repo)
        .env("HOME", &env.home)
        .env("GIT_CONFIG_GLOBAL", env.home.join(".gitconfig"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let top = env.git(&repo, &["ls-tree", "refs/notes/agent/n"]);
    assert!(
        top.lines().any(|l| l.contains(" tree ")),
        "git did not fan out:\n{top}"
    );

    // We read the plan through git's fan-out tree, and write a record git can read.
    let status = env.agent_ok(&repo, &["status", "n"]);
    assert!(status.contains("goal:        goal"), "{status}");
    let wt = worktree(&repo, "n");
    std::fs::write(wt.join("x.txt"), "x\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "n", "-m", "x"]);
    let note = env.git(&repo, &["notes", "--ref", "agent/n", "show", "agent/n"]);
    assert!(note.contains("checkpoint = 1"), "{note}");
    let blob_150 = {
        let mut c = env.git_cmd(&repo, &["hash-object", "--stdin"]);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"blob 150\n")
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        env.git(&repo, &["notes", "--ref", "agent/n", "show", &blob_150]),
        "note 150\n"
    );
    assert_eq!(
        env.git(&repo, &["notes", "--ref", "agent/n", "list"])
            .lines()
            .count(),
        302
    );
    env.fsck(&repo);
}

#[test]
fn here_works_in_the_clean_checkout_and_refuses_a_dirty_one() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::write(repo.join("README.md"), "dirty\n").unwrap();
    let (code, _, err) = env.agent(&repo, &["start", "--here", "--no-run", "goal"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("uncommitted changes") && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(
        env.git(&repo, &["branch", "--list", "agent/*"]),
        "",
        "nothing was created"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "dirty\n",
        "nothing was lost"
    );

    env.git(&repo, &["checkout", "--", "README.md"]);
    env.agent_ok(
        &repo,
        &["start", "--here", "--name", "h", "--no-run", "goal"],
    );
    assert_eq!(
        env.git(&repo, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/agent/h"
    );
    std::fs::write(repo.join("new.txt"), "n\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "here"]);
    assert_eq!(env.git(&repo, &["show", "agent/h:new.txt"]), "n\n");
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    env.fsck(&repo);
}

#[test]
fn merge_keeps_history_reachable_and_drop_removes_everything() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "m", "--no-run", "add m"]);
    let wt = worktree(&repo, "m");
    std::fs::write(wt.join("m.txt"), "m\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "add m"]);
    let tip = env.rev(&repo, "agent/m");
    let (code, _, err) = env.agent(&repo, &["drop", "m"]);
    assert_eq!(code, 1);
    assert!(err.contains("not merged"), "{err}");

    env.agent_ok(&repo, &["merge", "m"]);
    assert_eq!(env.git(&repo, &["show", "main:m.txt"]), "m\n");
    env.git(&repo, &["merge-base", "--is-ancestor", &tip, "main"]);
    let trailers = env.trailers(&repo, "main");
    assert_eq!(get(&trailers, "Agent-Task"), Some("m"));
    assert_eq!(get(&trailers, "Agent-Task-Tip"), Some(tip.as_str()));
    let status = env.agent_ok(&repo, &["status", "m"]);
    assert!(status.contains("state:       merged"), "{status}");

    env.agent_ok(&repo, &["drop", "m"]);
    assert_eq!(
        env.git(
            &repo,
            &[
                "for-each-ref",
                "refs/heads/agent",
                "refs/notes/agent",
                "refs/agent"
            ]
        ),
        ""
    );
    assert!(!wt.exists());
    assert!(
        !env.git(&repo, &["worktree", "list"])
            .contains("agent/worktrees")
    );
    env.fsck(&repo);
}

#[test]
fn killed_checkpoints_leave_a_consistent_repository() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "k", "--no-run", "goal"]);
    let wt = worktree(&repo, "k");
    let mut rng = 0x2545_f491_u64;
    for round in 0..8 {
        for i in 0..400 {
            std::fs::write(
                wt.join(format!("f{i}.txt")),
                format!("round {round} file {i}\n"),
            )
            .unwrap();
        }
        let before = env.rev(&repo, "agent/k");
        let mut child = env
            .agent_cmd(&repo, &["checkpoint", "k", "-m", &format!("round {round}")])
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // time is what is tested: the checkpoint is killed at a random moment of its work
        std::thread::sleep(std::time::Duration::from_millis(rng % 60));
        let _ = child.kill();
        let _ = child.wait();
        env.fsck(&repo);
        // Either the checkpoint landed whole, or the branch did not move.
        let after = env.rev(&repo, "agent/k");
        if after != before {
            assert_eq!(env.rev(&repo, "agent/k^"), before);
        }
        // The next checkpoint picks up whatever is left, and the lock of the killed run is stale.
        env.agent_ok(
            &repo,
            &["checkpoint", "k", "-m", &format!("round {round} again")],
        );
        assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
        assert_eq!(
            env.git(&repo, &["show", "agent/k:f7.txt"]),
            format!("round {round} file 7\n")
        );
    }
    env.fsck(&repo);
}

#[test]
fn merge_refuses_a_secret_and_force_records_the_override() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "s", "--no-run", "add config"]);
    let wt = worktree(&repo, "s");
    std::fs::write(
        wt.join("config.py"),
        "AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLF\"\n",
    )
    .unwrap();
    env.agent_ok(
        &repo,
        &["checkpoint", "-m", "add config", "--allow-secrets"],
    );
    let main_before = env.rev(&repo, "main");
    let (code, _, err) = env.agent(&repo, &["merge", "s"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("secret scan: config.py:1"), "{err}");
    assert!(
        !err.contains("AKIAIOSFODNN7EXAMPLF"),
        "the secret itself is never printed: {err}"
    );
    assert_eq!(env.rev(&repo, "main"), main_before, "nothing merged");

    env.agent_ok(&repo, &["merge", "s", "--force"]);
    let trailers = env.trailers(&repo, "main");
    assert!(
        get(&trailers, "Agent-Forced").is_some_and(|v| v.contains("secret scan")),
        "{trailers:?}"
    );
}

#[test]
fn merge_runs_the_configured_tests_and_lint_in_the_sandbox() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::write(
        repo.join(".git-agent.toml"),
        "test_command = \"test -e ok.txt\"\nlint_command = \"! grep -rq TODO --include=*.txt .\"\n",
    )
    .unwrap();
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-qm", "policy"]);
    env.agent_ok(&repo, &["start", "--name", "l", "--no-run", "goal"]);
    let wt = worktree(&repo, "l");
    std::fs::write(wt.join("notes.txt"), "TODO: later\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "notes"]);
    let (code, _, err) = env.agent(&repo, &["merge", "l"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("tests: `test -e ok.txt` exited with 1"),
        "{err}"
    );
    assert!(
        err.contains("lint: `! grep -rq TODO --include=*.txt .` exited with 1"),
        "{err}"
    );
    std::fs::write(wt.join("notes.txt"), "done\n").unwrap();
    std::fs::write(wt.join("ok.txt"), "ok\n").unwrap();
    env.agent_ok(&repo, &["checkpoint", "-m", "fix"]);
    env.agent_ok(&repo, &["merge", "l"]);
    assert_eq!(env.git(&repo, &["show", "main:ok.txt"]), "ok\n");
    assert_eq!(get(&env.trailers(&repo, "main"), "Agent-Forced"), None);
}

/// A translation catalog in haiku's format once blocked every checkpoint touching it (issue
/// 24): its "Password:" label, a tab and a class name looked like a password assignment.
#[test]
fn a_translation_catalog_is_checkpointed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "s", "--no-run", "translate"]);
    let catalog = "1\tgerman\tx-vnd.Example-mail\t1234567890\n\
                   Password:\tAccountConfigView\t\tKennwort:\n\
                   Username:\tAccountConfigView\t\tBenutzername:\n";
    std::fs::write(worktree(&repo, "s").join("de.catkeys"), catalog).unwrap();
    env.agent_ok(&repo, &["checkpoint", "s", "-m", "German catalog"]);
    assert_eq!(env.git(&repo, &["show", "agent/s:de.catkeys"]), catalog);
}

/// A repository with no identity (no user.name or user.email in any git config, no
/// GIT_AUTHOR_* or GIT_COMMITTER_*): the first commit git-agent writes is refused with the hint that says
/// how to fix it, found from gix's answer that no identity is configured, not from the
/// words of an error message.
#[test]
fn a_commit_without_an_identity_says_how_to_set_one() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mut cmd = env.agent_cmd(&repo, &["start", "--no-run", "Add a flag"]);
    // The test environment's identity is in its global git config: none here.
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("identity is not configured"), "{stderr}");
    assert!(
        stderr.contains("hint: tell git who you are: git config --global user.name"),
        "{stderr}"
    );
    // Nothing was left half made: no task branch.
    let branches = env.git(&repo, &["branch", "--list", "agent/*"]);
    assert_eq!(branches.trim(), "", "{stderr}");
}
