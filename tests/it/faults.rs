//! The fault suite: a 20-step session against a model server that fails at random the ways
//! real ones do (529, 429, 503, a stream cut inside a tool call, an error event mid-stream,
//! a connection dropped before the headers, an event corrupted mid-stream, a corrupted
//! `message_stop` after a whole answer). The session completes, or stops with a clear error
//! and completes on resume; nothing committed is lost, and the usage git holds is exactly
//! what the server delivered.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounting::assert_books;
use crate::agent_e2e::{agent, sample};
use crate::common::{TestEnv, get};
use crate::fake_model::{FakeModel, Script, current_step, tool, turn};

const STEPS: u32 = 20;

fn twenty_steps(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (None, _) => {
            let steps: Vec<Value> = (1..=STEPS)
                .map(|n| json!({"title": format!("Write part {n}"), "detail": format!("create part{n}.txt")}))
                .collect();
            vec![tool(
                "submit_plan",
                json!({"objective": "write twenty parts", "constraints": [], "acceptance_criteria": ["all parts exist"],
                       "test_command": "sh test.sh", "steps": steps}),
            )]
        }
        (Some(n), 0) => vec![tool(
            "write_file",
            json!({"path": format!("part{n}.txt"), "content": format!("part {n}\n")}),
        )],
        (Some(n), _) => vec![tool(
            "finish_step",
            json!({"summary": format!("Write part {n}"), "expected_outcome": "the part exists", "risks": "none", "next_step": "next"}),
        )],
    }
}

#[test]
fn a_twenty_step_session_survives_random_server_faults() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let seed = std::env::var("GIT_AGENT_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let model = FakeModel::start_with_faults(
        Arc::new(twenty_steps) as Arc<Script>,
        Duration::ZERO,
        seed,
        0.35,
    );
    let mut args = vec!["start", "--name", "f", "Write twenty parts"];
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 10, "the session did not complete in 10 runs");
        let (code, _, err) = agent(&env, &dir, &model, &args);
        env.fsck(&dir);
        match code {
            0 => break,
            // A run that gave up on the server says so, with the server's words.
            1 => assert!(
                err.contains("Stopped: error.") && err.contains("gave up after"),
                "{err}"
            ),
            other => panic!("exit {other}: {err}"),
        }
        args = vec!["resume", "f"];
    }
    let faults = model.faults.lock().unwrap().clone();
    assert!(
        faults.len() >= 10,
        "only {} faults were injected: {faults:?}",
        faults.len()
    );
    for kind in [
        "529",
        "cut_in_tool_call",
        "error_event",
        "corrupt_event",
        "corrupt_stop",
    ] {
        assert!(
            faults.contains(&kind),
            "{kind} was never injected: {faults:?}"
        );
    }
    assert_eq!(
        env.git(&dir, &["rev-list", "--count", "main..agent/f"])
            .trim(),
        (STEPS + 1).to_string()
    );
    for n in 1..=STEPS {
        assert_eq!(
            env.git(&dir, &["show", &format!("agent/f:part{n}.txt")]),
            format!("part {n}\n")
        );
    }
    assert_eq!(
        get(&env.trailers(&dir, "agent/f"), "Agent-Step"),
        Some("20/20")
    );
    // Every answer delivered is in git once; no faulty attempt is.
    assert_books(&env, &dir, "f", &model);
    // No half-received tool call ever ran: every checkpoint wrote exactly its own part.
    for n in 1..=STEPS {
        let rev = format!("agent/f~{}", STEPS - n);
        let changed = env.git(&dir, &["diff", "--name-only", &format!("{rev}^"), &rev]);
        assert_eq!(changed, format!("part{n}.txt\n"));
    }
}
