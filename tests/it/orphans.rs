//! Commands die with the agent: a run killed with SIGKILL while its command is running leaves
//! nothing behind that writes into the worktree the resumed run will use (issue: orphans of
//! `kill -9` kept writing, and one write ended up in the resumed run's checkpoint).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::agent_e2e::{KEY, finish, plan, sample};
use crate::common::{TestEnv, worktree};
use crate::fake_model::{FakeModel, Script, current_step, tool, turn};
use crate::support::wait_until;

/// Step 1 starts a background writer and a long foreground sleep: the step is in its command
/// when the test kills the agent.
fn writer_model(request: &Value) -> Vec<Value> {
    match (current_step(request), turn(request)) {
        (None, _) => plan(),
        (Some(1), 0) => vec![tool(
            "run_command",
            json!({"command": "(while :; do echo tick >> ticks.txt; sleep 0.05; done) & sleep 60"}),
        )],
        _ => finish("done"),
    }
}

/// Processes whose working directory is at or beneath `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cwd) = std::fs::read_link(entry.path().join("cwd"))
            && cwd.starts_with(dir)
        {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!("{name}: {}", String::from_utf8_lossy(&cmdline)));
        }
    }
    found
}

#[test]
fn a_command_dies_with_an_agent_killed_by_sigkill() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let model = FakeModel::start(
        Arc::new(writer_model) as Arc<Script>,
        Duration::from_millis(1),
    );
    let mut child = env
        .agent_cmd(&dir, &["start", "--name", "orphan", "Add a --shout flag"])
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wt = worktree(&dir, "orphan");
    let ticks = wt.join("ticks.txt");
    wait_until("the command's first write", || ticks.exists());
    child.kill().unwrap();
    child.wait().unwrap();

    wait_until("every process in the worktree to end", || {
        processes_in(&wt).is_empty()
    });
    let size = std::fs::metadata(&ticks).unwrap().len();
    // time is what is tested: a writer left alive appends every 50 ms, ten times meanwhile
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::metadata(&ticks).unwrap().len(),
        size,
        "something still writes into the worktree: {:?}",
        processes_in(&wt)
    );
}
