//! Redaction works on values, before they are rendered as TOML or JSON: a key right after a
//! tab, a newline or an escape character (which TOML and JSON write as `\t`, `\n`, `\u001b`,
//! gluing the key to a letter), a key whose label TOML escapes (`= \"…\"`), and an OpenSSH
//! private key the model writes (whose refusal is quoted in the plan note) never reach the
//! plan note, the stop record, `--json`, the run log or a remote after `push`; and every note
//! stays valid TOML, so the run ends `blocked`, not broken.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, KEY, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script, current_step, tool, turn};

/// A GitHub token, distinct by `n`, built from pieces so this file holds no literal key.
fn gh(n: u32) -> String {
    format!("ghp_{}{n:04}", "Zq8Rw3Tn6Yp1Ua4Si7Od2Fg5Hj0Kl9Mx")
}

fn aws_id() -> String {
    format!("AKIA{}", "Z7Q3W5E8R2T6Y4U1")
}

fn aws_secret() -> String {
    format!("{}{}", "Qm9vb2t3Zx/Lp4Rt8Yu2", "Io6Pa1Sd5Fg9Hj3Kl7Zx")
}

const PEM_BODY: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";

fn private_key() -> String {
    format!(
        "-----BEGIN OPENSSH {}-----\n{PEM_BODY}\nQyNTUxOQAAACDzbG9uZ2tleWJvZHlieXRlcw==\n-----END OPENSSH {}-----\n",
        "PRIVATE KEY", "PRIVATE KEY"
    )
}

/// Every secret the model plays, and a piece of the private key's body.
fn secrets() -> Vec<String> {
    let mut all: Vec<String> = (1..=6).map(gh).collect();
    all.extend([
        aws_id(),
        aws_secret(),
        PEM_BODY.to_string(),
        KEY.to_string(),
    ]);
    all
}

fn first_message(request: &Value) -> String {
    request["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn script() -> Arc<Script> {
    Arc::new(move |request: &Value| {
        let told = first_message(request).contains("The secret scan found secrets");
        let write = |path: &str, content: &str| {
            tool("write_file", json!({"path": path, "content": content}))
        };
        match (current_step(request), turn(request)) {
            (None, _) => vec![tool(
                "submit_plan",
                json!({"objective": format!("shout\t{}", gh(1)), "constraints": [],
                       "acceptance_criteria": ["sh test.sh passes"], "test_command": "sh test.sh",
                       "steps": [{"title": "Add --shout", "detail": format!("use\u{1b}{}", aws_id())},
                                 {"title": "Test it", "detail": "test"}]}),
            )],
            // The first try writes a private key: refused, and the refusal is quoted.
            (Some(1), 0) if !told => vec![
                write("id_ed25519", &private_key()),
                write("greet.sh", GOOD_GREET),
            ],
            (Some(1), _) if !told => vec![tool(
                "finish_step",
                json!({"summary": "add --shout", "expected_outcome": "tests pass",
                       "risks": "none", "next_step": "test it"}),
            )],
            (Some(1), 0) => vec![
                tool("run_command", json!({"command": "rm -f id_ed25519"})),
                write("greet.sh", GOOD_GREET),
            ],
            (Some(1), _) => vec![tool(
                "finish_step",
                json!({"summary": format!("done\n{}", gh(2)), "expected_outcome": "tests pass",
                       "risks": format!("aws_secret_access_key = \"{}\"", aws_secret()),
                       "next_step": format!("next\t{}", gh(3))}),
            )],
            (Some(_), _) => vec![tool(
                "report_blocked",
                json!({"reason": format!(
                    "need\t{} and\n{} and \u{1b}{} and aws_secret_access_key = \"{}\" and {}",
                    gh(4), gh(5), gh(6), aws_secret(), private_key()
                )}),
            )],
        }
    })
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        assert!(!text.contains(&secret), "{secret} is in {what}:\n{text}");
    }
}

/// Every note of the task's notes ref parses as TOML.
fn assert_notes_parse(env: &TestEnv, dir: &Path, slug: &str) {
    let list = env.git(dir, &["notes", "--ref", &format!("agent/{slug}"), "list"]);
    assert!(!list.trim().is_empty());
    for line in list.lines() {
        let blob = line.split_whitespace().next().unwrap();
        let text = env.git(dir, &["cat-file", "-p", blob]);
        if let Err(err) = toml::from_str::<toml::Table>(&text) {
            panic!("the note {blob} is not valid TOML: {err}\n{text}");
        }
    }
}

#[test]
fn keys_are_redacted_as_values_and_notes_stay_valid() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let remote = env.root.path().join("remote.git");
    env.git(
        env.root.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    env.git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]);
    let model = FakeModel::start(script(), Duration::ZERO);
    let out = env
        .agent_cmd(
            &dir,
            &["--json", "start", "--name", "r", "Add a --shout flag"],
        )
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_no_secret("the --json output", &stdout);
    assert_no_secret("stderr", &stderr);
    // Blocked, as the model said: no note was cut into invalid TOML on the way.
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("private-key"),
        "the key was refused: {stdout}"
    );
    for line in stdout.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let log = std::fs::read_to_string(dir.join(".git/agent/runs/r.jsonl")).unwrap();
    assert!(log.contains("\"stopped\""), "{log}");
    assert_no_secret("the run log", &log);

    assert_notes_parse(&env, &dir, "r");
    let notes = env.git(&dir, &["log", "-p", "refs/notes/agent/r"]);
    assert_no_secret("the notes", &notes);
    // The stop record and the refusal quoted in the plan note are there, masked.
    assert!(notes.contains("need"), "{notes}");
    assert!(notes.contains("BEGIN OPENSSH PRIVATE KEY"), "{notes}");
    env.agent_ok(&dir, &["status", "r"]);
    env.agent_ok(&dir, &["plan", "r"]);

    env.agent_ok(&dir, &["push", "origin"]);
    for repo in [&dir, &remote] {
        let objects = env
            .git_cmd(repo, &["cat-file", "--batch-all-objects", "--batch"])
            .output()
            .unwrap()
            .stdout;
        assert_no_secret(
            &format!("an object of {}", repo.display()),
            &String::from_utf8_lossy(&objects),
        );
    }
    env.fsck(&dir);
}
