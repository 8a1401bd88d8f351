//! No guessing on acts that change things: with several tasks and none named or checked out,
//! merge, drop, rollback, say, stop and resume refuse and list the candidates; read-only
//! commands take the most recent and say which. Task names complete in the shells.

use std::path::Path;
use std::process::Command;

use pretty_assertions::assert_eq;

use crate::agent_e2e::sample;
use crate::common::TestEnv;

/// Two tasks, `alpha` then `beta` (the most recent), neither run.
fn two_tasks(env: &TestEnv) -> std::path::PathBuf {
    let dir = sample(env, "");
    env.agent_ok(
        &dir,
        &["start", "--name", "alpha", "--no-run", "Add a --shout flag"],
    );
    // A later second for the newer tip: commit times have one-second resolution.
    let alpha: u64 = env
        .git(&dir, &["log", "-1", "--format=%ct", "agent/alpha"])
        .trim()
        .parse()
        .unwrap();
    crate::support::wait_until("the clock to pass alpha's second", || {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.unwrap().as_secs() > alpha
    });
    env.agent_ok(
        &dir,
        &["start", "--name", "beta", "--no-run", "Add a --quiet flag"],
    );
    dir
}

#[test]
fn acts_that_change_a_task_refuse_to_guess_between_several() {
    let env = TestEnv::new();
    let dir = two_tasks(&env);
    let refs_before = env.git(&dir, &["for-each-ref"]);
    for args in [
        vec!["merge"],
        vec!["drop", "--force"],
        vec!["rollback"],
        vec!["say", "use the v2 API"],
        vec!["stop"],
        vec!["resume"],
        vec!["update"],
        vec!["checkpoint", "-m", "by hand"],
    ] {
        let (code, out, err) = env.agent(&dir, &args);
        assert_eq!(code, 1, "{args:?} did not refuse:\n{out}{err}");
        assert!(
            err.contains("error: which task? 2 could be meant: beta, alpha"),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: name it"), "{args:?}: {err}");
    }
    // Nothing was changed by any of them.
    assert_eq!(env.git(&dir, &["for-each-ref"]), refs_before);

    // Named, it goes where it is told.
    env.agent_ok(&dir, &["say", "alpha", "use the v2 API"]);
    assert!(
        env.git(&dir, &["for-each-ref", "refs/agent/alpha/say"])
            .contains("alpha")
    );
    assert!(
        env.git(&dir, &["for-each-ref", "refs/agent/beta/say"])
            .is_empty()
    );

    // Read-only commands take the most recent and say which, on stderr.
    let (code, out, err) = env.agent(&dir, &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("beta"), "{out}");
    assert!(
        err.contains("note: showing beta, the most recently active of 2 tasks (also: alpha)"),
        "{err}"
    );
    let (code, out, err) = env.agent(&dir, &["--json", "log"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(err.contains("note: showing beta"), "{err}");
    // Named: no note.
    let (_, _, err) = env.agent(&dir, &["status", "alpha"]);
    assert!(!err.contains("note:"), "{err}");
    env.agent_fsck(&dir);
}

#[test]
fn with_one_task_a_missing_name_means_that_task() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    env.agent_ok(
        &dir,
        &["start", "--name", "only", "--no-run", "Add a --shout flag"],
    );
    let out = env.agent_ok(&dir, &["say", "keep it short"]);
    assert!(out.starts_with("Said to only ("), "{out}");
    let (_, _, err) = env.agent(&dir, &["status"]);
    assert!(!err.contains("note:"), "{err}");
}

/// PATH with the binary under test first: the completion scripts call `git-agent __tasks`.
fn path() -> std::ffi::OsString {
    crate::interrupt_pty::path_with_binary()
}

/// Run a completion in a real bash, in `dir`, and return COMPREPLY.
fn bash_complete(dir: &Path, script: &Path, call: &str) -> String {
    let program = format!(
        "source '{}'\n{call}\necho \"${{COMPREPLY[*]}}\"",
        script.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .current_dir(dir)
        .env_clear()
        .env("PATH", path())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn task_names_complete_in_bash_both_ways() {
    let env = TestEnv::new();
    let dir = two_tasks(&env);
    let script = env.root.path().join("git-agent.bash");
    std::fs::write(&script, env.agent_ok(&dir, &["completions", "bash"])).unwrap();
    // git-agent resume <TAB>, as bash calls the binary's function.
    assert_eq!(
        bash_complete(
            &dir,
            &script,
            "COMP_WORDS=(git-agent resume ''); COMP_CWORD=2; _git_agent_complete git-agent '' resume"
        ),
        "beta alpha"
    );
    // git-agent stop al<TAB>
    assert_eq!(
        bash_complete(
            &dir,
            &script,
            "COMP_WORDS=(git-agent stop al); COMP_CWORD=2; _git_agent_complete git-agent al stop"
        ),
        "alpha"
    );
    // git agent say <TAB>, as git's completion calls _git_agent.
    assert_eq!(
        bash_complete(
            &dir,
            &script,
            "words=(git agent say ''); cword=3; cur=''; _git_agent"
        ),
        "beta alpha"
    );
    // Options still complete as before, and a command without a task gets no task names.
    let options = bash_complete(
        &dir,
        &script,
        "COMP_WORDS=(git-agent resume --ma); COMP_CWORD=2; _git_agent_complete git-agent --ma resume",
    );
    assert!(options.contains("--max-turns"), "{options}");
    let start = bash_complete(
        &dir,
        &script,
        "COMP_WORDS=(git-agent start ''); COMP_CWORD=2; _git_agent_complete git-agent '' start",
    );
    assert!(!start.contains("alpha"), "{start}");
    // Outside a repository: nothing, and no error.
    let outside = env.root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    assert_eq!(
        bash_complete(
            &outside,
            &script,
            "COMP_WORDS=(git-agent resume ''); COMP_CWORD=2; _git_agent_complete git-agent '' resume"
        ),
        ""
    );
}

#[test]
fn task_names_complete_in_zsh_and_fish_where_they_are() {
    let env = TestEnv::new();
    let dir = two_tasks(&env);
    // The hidden lister the scripts call: newest first, one a line.
    assert_eq!(env.agent_ok(&dir, &["__tasks"]), "beta\nalpha\n");
    let zsh = env.agent_ok(&dir, &["completions", "zsh"]);
    assert!(zsh.contains("_git_agent_tasks() {"), "no task function");
    assert!(
        zsh.contains("'::slug -- The task (defaults to the task of the current agent/* branch"),
        "{zsh}"
    );
    for line in zsh.lines().filter(|l| l.starts_with("'::slug")) {
        assert!(line.ends_with(":_git_agent_tasks' \\"), "{line}");
    }
    let fish = env.agent_ok(&dir, &["completions", "fish"]);
    let line = fish
        .lines()
        .find(|l| l.contains("git-agent __tasks"))
        .expect("fish completes task names");
    for command in [
        "resume", "stop", "say", "merge", "drop", "rollback", "status", "diff",
    ] {
        assert!(line.contains(command), "{command}: {line}");
    }
    assert!(!line.contains(" start "), "{line}");
    if which("fish") {
        let script = env.root.path().join("git-agent.fish");
        std::fs::write(&script, &fish).unwrap();
        let out = Command::new("fish")
            .arg("-c")
            .arg(format!(
                "source '{}'; complete -C 'git-agent resume '",
                script.display()
            ))
            .current_dir(&dir)
            .env("PATH", path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("beta") && text.contains("alpha"), "{text}");
    }
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}
