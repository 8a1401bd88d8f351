//! The policy checks `git agent merge` runs: changes to files that decide what runs next,
//! secret scan, tests and lint.

use crate::config::Config;
use crate::store::{Plan, Store, Task};

/// Paths whose change in a task `git agent merge` flags, with what they are: they decide what
/// runs on the next checkout, build or CI run, on someone else's machine. `**/name` matches at
/// any depth, `dir/**` the directory and all below it, anything else the path itself. Ignore
/// files (`.gitignore`) are not here: they hide files but run nothing.
pub const FLAGGED_PATHS: &[(&str, &str)] = &[
    (".git-agent.toml", "git-agent configuration"),
    (
        "**/.gitattributes",
        "git attributes: filters, diff and merge drivers",
    ),
    (".gitmodules", "submodules"),
    (".githooks/**", "git hooks"),
    (".git-hooks/**", "git hooks"),
    (".husky/**", "git hooks"),
    (".pre-commit-config.yaml", "git hooks"),
    ("lefthook.yml", "git hooks"),
    ("lefthook.yaml", "git hooks"),
    (".lefthook.yml", "git hooks"),
    (".github/workflows/**", "CI"),
    (".github/actions/**", "CI"),
    (".gitlab-ci.yml", "CI"),
    (".circleci/**", "CI"),
    ("Jenkinsfile", "CI"),
    (".travis.yml", "CI"),
    ("azure-pipelines.yml", "CI"),
    (".buildkite/**", "CI"),
    ("bitbucket-pipelines.yml", "CI"),
    ("**/.envrc", "direnv, run on entering the directory"),
    ("**/.cargo/config.toml", "Cargo configuration"),
    ("**/.cargo/config", "Cargo configuration"),
    (".vscode/tasks.json", "editor tasks"),
];

/// What `path` is, if a change to it is flagged.
pub fn flagged(path: &str) -> Option<&'static str> {
    FLAGGED_PATHS.iter().find_map(|(pattern, what)| {
        let hit = if let Some(name) = pattern.strip_prefix("**/") {
            path == name || path.ends_with(&format!("/{name}"))
        } else if let Some(dir) = pattern.strip_suffix("/**") {
            path == dir || path.starts_with(&format!("{dir}/"))
        } else {
            path == *pattern
        };
        hit.then_some(*what)
    })
}

/// The changes to flagged paths from tree `from` to tree `to` (what a merge brings in), one
/// line each (`changes .envrc (direnv …)`), in path order. Renames count as a deletion and an
/// addition, so both ends are seen.
pub fn flagged_changes(
    store: &Store,
    from: gix::ObjectId,
    to: gix::ObjectId,
) -> anyhow::Result<Vec<String>> {
    let out = store.git_output(&[
        "diff",
        "--name-status",
        "--no-renames",
        "-z",
        &from.to_string(),
        &to.to_string(),
    ])?;
    let mut lines = Vec::new();
    let mut fields = out.split('\0');
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        if let Some(what) = flagged(path) {
            let verb = if status.starts_with('D') {
                "deletes"
            } else {
                "changes"
            };
            lines.push(format!("{verb} {path} ({what})"));
        }
    }
    Ok(lines)
}

/// Policy checks before a merge; each failure is one line. The secret scan reads every object
/// the merge brings in (tree `from` to tree `to`); the plan's test command runs in the
/// sandbox, in the task's worktree.
pub fn policy_failures(
    store: &Store,
    task: &Task,
    plan: &Plan,
    config: &Config,
    from: gix::ObjectId,
    to: gix::ObjectId,
) -> anyhow::Result<Vec<String>> {
    use crate::policy::SecretAllowList;
    let mut failures = Vec::new();
    let allow = SecretAllowList::new(&config.secret_allow, &[])?.without_inline_marker();
    for finding in store.scan_trees(from, to, &allow)? {
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
        let spec = config.sandbox_for(&worktree);
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

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn flagged_paths_match_where_their_tools_read_them() {
        let hits = [
            ".git-agent.toml",
            ".gitattributes",
            "vendor/lib/.gitattributes",
            ".gitmodules",
            ".githooks/pre-commit",
            ".husky/_/husky.sh",
            ".github/workflows/ci.yml",
            ".github/workflows",
            ".github/actions/setup/action.yml",
            ".circleci/config.yml",
            "Jenkinsfile",
            "sub/.envrc",
            ".cargo/config.toml",
            "crates/x/.cargo/config",
            ".vscode/tasks.json",
        ];
        let misses = [
            ".gitignore",
            "src/.gitignore",
            "docs/.github/workflows/ci.yml",
            "sub/.gitmodules",
            "sub/Jenkinsfile",
            ".github/CODEOWNERS",
            ".github/workflows.md",
            ".vscode/settings.json",
            "src/lib.rs",
        ];
        assert_eq!(
            hits.iter()
                .filter(|p| flagged(p).is_none())
                .collect::<Vec<_>>(),
            Vec::<&&str>::new()
        );
        assert_eq!(
            misses
                .iter()
                .filter(|p| flagged(p).is_some())
                .collect::<Vec<_>>(),
            Vec::<&&str>::new()
        );
    }
}
