//! What reaches a person's terminal: a model (and a teammate through a remote) writes control
//! sequences into every field it controls — a clipboard write (OSC 52), a window title
//! (OSC 0), cursor-up plus erase-line that would hide the command it ran, a C1 CSI and a bidi
//! override — and every printer shows them as text: the progress lines and the stop line of
//! a run, `log`, `status`, `plan`, `list`, `watch` (which decodes the run log's JSON) and
//! `queue`. Checked byte-wise on the real binary's output.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, KEY, sample};
use crate::common::{TestEnv, first_line};
use crate::fake_model::{FakeModel, Script, current_step, tool, turn};

const OSC52: &str = "\x1b]52;c;cm0gLXJmIH4=\x07";
const OSC0: &str = "\x1b]0;pwned\x1b\\";
const HIDE: &str = "\x1b[7A\x1b[2K";
const C1_CSI: &str = "\u{9b}31m";
const BIDI: &str = "\u{202e}txt.exe";

fn hostile(label: &str) -> String {
    format!("{label} {OSC52}{OSC0}{HIDE}{C1_CSI}{BIDI} end")
}

/// No byte of `out` is a control a terminal would obey: ESC, BEL, CR, a C1 control (as
/// UTF-8) or a bidi override.
fn assert_inert(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let bad: Vec<(usize, char)> = text
        .char_indices()
        .filter(|&(_, c)| {
            (c.is_control() && c != '\n' && c != '\t')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{what} printed controls {bad:?}:\n{}",
        text.escape_debug()
    );
    assert!(!out.contains(&0x1b), "{what} printed an ESC byte");
}

/// The model: a plan whose objective and titles carry the sequences, a step that runs a
/// command and writes a file named with them and finishes with them in every field, and a
/// step that reports itself blocked with them.
fn script() -> Arc<Script> {
    Arc::new(
        move |request: &Value| match (current_step(request), turn(request)) {
            (None, _) => vec![tool(
                "submit_plan",
                json!({"objective": hostile("objective"), "constraints": [hostile("constraint")],
                       "acceptance_criteria": ["sh test.sh passes"], "test_command": "sh test.sh",
                       "steps": [{"title": hostile("title-1"), "detail": "add it"},
                                 {"title": hostile("title-2"), "detail": "test it"}]}),
            )],
            (Some(1), 0) => vec![
                tool(
                    "run_command",
                    json!({"command": format!("echo {}", hostile("command").replace('\'', ""))}),
                ),
                tool(
                    "write_file",
                    json!({"path": hostile("file").replace(' ', "_"), "content": "x\n"}),
                ),
                tool(
                    "write_file",
                    json!({"path": "greet.sh", "content": GOOD_GREET}),
                ),
            ],
            (Some(1), _) => vec![tool(
                "finish_step",
                json!({"summary": hostile("summary"), "expected_outcome": hostile("expected"),
                       "risks": hostile("risks"), "next_step": hostile("next")}),
            )],
            (Some(_), _) => vec![tool(
                "report_blocked",
                json!({"reason": hostile("blocked")}),
            )],
        },
    )
}

/// Every output of `git agent <args>`, stdout and stderr.
fn printed(env: &TestEnv, dir: &Path, args: &[&str]) -> (Vec<u8>, String) {
    let out = env.agent_cmd(dir, args).output().unwrap();
    let mut all = out.stdout.clone();
    all.extend_from_slice(&out.stderr);
    let text = String::from_utf8_lossy(&all).into_owned();
    (all, text)
}

#[test]
fn control_sequences_from_a_model_or_a_remote_are_shown_never_obeyed() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(script(), Duration::ZERO);
    // The run is held at its first model call until `watch` follows it.
    model.gate.close_from(0);
    let goal = hostile("goal");
    let run = env
        .agent_cmd(&dir, &["start", "--name", "t", &goal])
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `watch` decodes the run log's JSON, which gives back every ESC the run escaped.
    model.gate.wait_for_waiting(crate::support::PATIENCE);
    let mut watch = env
        .agent_cmd(&dir, &["watch", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = first_line(watch.stdout.as_mut().unwrap());
    assert!(first.starts_with("Watching t on "), "{first}");
    model.gate.open();
    let run = run.wait_with_output().unwrap();
    let mut progress = run.stderr.clone();
    progress.extend_from_slice(&run.stdout);
    let progress_text = String::from_utf8_lossy(&progress).into_owned();
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        progress_text.escape_debug()
    );
    assert_inert("the progress lines", &progress);
    // Shown, not dropped: the person sees what the model tried, and the stop line.
    for seen in [
        "objective ^[]52;c;",
        "title-1 ^[]52;c;",
        "command ^[]52;c;",
        "^[[7A^[[2K",
        "\\u{9b}31m",
        "\\u{202e}txt.exe",
        "Stopped: blocked. blocked ^[]52;c;",
    ] {
        assert!(
            progress_text.contains(seen),
            "{seen} is not in the progress:\n{progress_text}"
        );
    }
    let watch = watch.wait_with_output().unwrap();
    let mut watched = format!("{first}\n").into_bytes();
    watched.extend_from_slice(&watch.stdout);
    watched.extend_from_slice(&watch.stderr);
    assert_inert("watch", &watched);
    let watched = String::from_utf8_lossy(&watched);
    assert!(watched.contains("title-1 ^[]52;c;"), "{watched}");
    assert!(watched.contains("Stopped: blocked."), "{watched}");

    for args in [
        &["log", "t"][..],
        &["status", "t"],
        &["plan", "t"],
        &["list"],
        &["watch", "t"],
    ] {
        let (bytes, text) = printed(&env, &dir, args);
        assert_inert(&format!("git agent {args:?}"), &bytes);
        assert!(
            text.contains("^[]52;c;"),
            "git agent {args:?} hid the text:\n{text}"
        );
    }

    // The checkpoint's message holds the summary shown as text: `git log` prints a message
    // raw to the terminal.
    let messages = env
        .git_cmd(&dir, &["log", "--format=%B", "agent/t"])
        .output()
        .unwrap()
        .stdout;
    assert_inert("the commit messages", &messages);
    assert!(String::from_utf8_lossy(&messages).contains("summary ^[]52;c;"));

    // A teammate's goal and a lease's holder and host, through a remote.
    let bare = env.root.path().join("remote.git");
    env.git(
        env.root.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    env.git(&dir, &["remote", "add", "origin", bare.to_str().unwrap()]);
    env.git(&dir, &["push", "-q", "origin", "main"]);
    env.agent_ok(&dir, &["queue", "add", "--name", "q", &hostile("teammate")]);
    let message = format!(
        "agent: lease q\n\nAgent-Task: q\nAgent-Lease-Holder: {}\nAgent-Lease-Host: {}\nAgent-Lease-Pid: 7\nAgent-Lease-Since: {}\nAgent-Lease-Heartbeat: 0\nAgent-Lease-Duration: 300s\n",
        hostile("holder").replace(' ', "_"),
        hostile("host").replace(' ', "_"),
        hostile("since").replace(' ', "_"),
    );
    let file = env.root.path().join("lease-message");
    std::fs::write(&file, message).unwrap();
    let empty = env.git(&bare, &["hash-object", "-t", "tree", "/dev/null"]);
    let lease = env.git(
        &bare,
        &["commit-tree", empty.trim(), "-F", file.to_str().unwrap()],
    );
    env.git(&bare, &["update-ref", "refs/agent/q/lease", lease.trim()]);
    let (bytes, text) = printed(&env, &dir, &["queue"]);
    assert_inert("queue", &bytes);
    assert!(text.contains("teammate ^[]52;c;"), "{text}");
    assert!(text.contains("held by holder_^[]52;c;"), "{text}");
}

/// The same run in a pseudo-terminal, with colours and the spinner, as a person sees it: the
/// renderer's own escape sequences are there, none of the model's.
#[test]
fn in_a_terminal_the_spinner_and_colours_carry_none_of_the_models_sequences() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(script(), Duration::from_millis(50));
    let bin = assert_cmd::cargo::cargo_bin("git-agent");
    let mut cmd = std::process::Command::new("script");
    env.apply_env(&mut cmd);
    let out = cmd
        .current_dir(&dir)
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .args([
            "-qefc",
            &format!("{} start --name p 'a goal'", bin.display()),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("Stopped: "), "{}", text.escape_debug());
    assert!(text.contains("title-1 ^[]52;c;"), "{}", text.escape_debug());
    for (what, sequence) in [
        ("OSC (52 or 0)", "\x1b]"),
        ("BEL", "\x07"),
        ("cursor up 7", "\x1b[7A"),
        ("C1 CSI", "\u{9b}"),
        ("bidi override", "\u{202e}"),
    ] {
        assert!(
            !text.contains(sequence),
            "the model's {what} reached the terminal:\n{}",
            text.escape_debug()
        );
    }
}
