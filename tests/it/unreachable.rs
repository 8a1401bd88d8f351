//! A model server that answers nothing (the network is gone: a laptop changing networks) is
//! retried for `unreachable_wait`, minutes by default, each retry shown — not given up after
//! the few seconds that 5 attempts take. A server that comes back is used; one that stays away
//! past a short window ends the run cleanly, with the reason in the stop record.

use std::io::BufRead;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use crate::agent_e2e::{KEY, good_model, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script};

/// An address on this machine where nothing listens (yet).
fn closed_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn a_model_server_that_comes_up_late_is_waited_for_with_every_retry_shown() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let addr = closed_addr();
    let mut run = env
        .agent_cmd(&dir, &["start", "--name", "t", "Add a --shout flag"])
        .env("ANTHROPIC_BASE_URL", format!("http://{addr}"))
        .env("ANTHROPIC_API_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = run.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    // The server comes up once the run has said it is waiting for it.
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}: no retry announced:\n{}", said.join("\n")));
        let announced = line.contains("model server unreachable (");
        said.push(line);
        if announced {
            break;
        }
    }
    let model = FakeModel::start_at(addr, Arc::new(good_model) as Arc<Script>);
    let status = run.wait().unwrap();
    said.extend(lines.iter());
    let said = said.join("\n");
    assert!(status.success(), "{said}");
    // The first retry, as the user sees it: what failed, the wait, and how many retries the
    // default window (5 minutes) holds.
    let first = said
        .lines()
        .find(|l| l.contains("model server unreachable ("))
        .unwrap();
    assert!(
        first.starts_with(&format!(
            "  model server unreachable (cannot reach anthropic at http://{addr}/v1/messages: "
        )) && first.contains("), retrying in ")
            && first.ends_with("s (1 of 14)"),
        "{first}"
    );
    assert!(said.contains("Stopped: done."), "{said}");
    assert!(!model.requests.lock().unwrap().is_empty());
    env.fsck(&dir);
    env.agent_fsck(&dir);
}

#[test]
fn a_server_unreachable_past_a_short_window_ends_the_run_cleanly_with_a_clear_message() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    // The git config name of `unreachable_wait`: 0.5 s and 1 s waits fit in 2 s, a third does not.
    env.git(&dir, &["config", "agent.unreachableWait", "2s"]);
    let addr = closed_addr();
    let out = env
        .agent_cmd(&dir, &["start", "--name", "t", "Add a --shout flag"])
        .env("ANTHROPIC_BASE_URL", format!("http://{addr}"))
        .env("ANTHROPIC_API_KEY", KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (code, said) = (out.status.code(), String::from_utf8_lossy(&out.stderr));
    assert_eq!(code, Some(1), "{said}");
    let retries: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("model server unreachable ("))
        .collect();
    assert_eq!(retries.len(), 2, "{said}");
    assert!(
        retries[0].ends_with("(1 of 2)") && retries[1].ends_with("(2 of 2)"),
        "{said}"
    );
    let stopped = said
        .lines()
        .find(|l| l.starts_with("Stopped: "))
        .unwrap_or_default();
    assert!(
        stopped.starts_with("Stopped: error. the model server stayed unreachable for ")
            && stopped.contains(&format!(
                "s (2 retries): cannot reach anthropic at http://{addr}/v1/messages: "
            )),
        "{said}"
    );
    assert!(said.contains("unreachable_wait"), "{said}");
    // The stop is in git like any other: the task waits for `resume`.
    let status = env.agent_ok(&dir, &["--json", "status", "t"]);
    assert!(status.contains("\"state\":\"error\""), "{status}");
    env.fsck(&dir);
    env.agent_fsck(&dir);
}
