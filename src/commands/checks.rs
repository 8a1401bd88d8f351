//! The policy checks `git agent merge` runs: secret scan, tests and lint.

use crate::config::Config;
use crate::store::{Plan, Store, Task};

/// Policy checks before a merge; each failure is one line. The secret scan reads every object
/// the task adds; the plan's test command runs in the sandbox, in the task's worktree.
pub fn policy_failures(
    store: &Store,
    task: &Task,
    plan: &Plan,
    config: &Config,
) -> anyhow::Result<Vec<String>> {
    use crate::policy::{SandboxSpec, SecretAllowList};
    let mut failures = Vec::new();
    let allow = SecretAllowList::new(&config.secret_allow, &[])?.without_inline_marker();
    for finding in store.scan_change(task.base, task.tip, &allow)? {
        failures.push(format!("secret scan: {finding}"));
    }
    let test_command = config
        .test_command
        .clone()
        .unwrap_or_else(|| plan.test_command.clone());
    let checks = [
        ("tests", test_command),
        ("lint", config.lint_command.clone().unwrap_or_default()),
    ];
    if checks.iter().any(|(_, command)| !command.trim().is_empty()) {
        let worktree = if plan.here {
            store.workdir()?.to_path_buf()
        } else {
            store.ensure_worktree(task)?
        };
        let spec = SandboxSpec::for_worktree(&worktree, config.network, config.sandbox_off);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        for (what, command) in checks.iter().filter(|(_, c)| !c.trim().is_empty()) {
            let output = runtime.block_on(crate::policy::sandbox::run(
                command,
                &worktree,
                &spec,
                &[],
                config.test_timeout,
                8_000,
            ))?;
            if output.exit_code != Some(0) {
                failures.push(format!(
                    "{what}: `{command}` exited with {}",
                    output
                        .exit_code
                        .map_or_else(|| "a signal or timeout".to_string(), |c| c.to_string())
                ));
            }
        }
    }
    Ok(failures)
}
