//! The policy checks `git agent merge` runs: changes to files that decide what runs next,
//! secret scan, tests and lint.

use crate::config::Config;
use crate::store::{Plan, Store, Task};

/// Paths whose change in a task `git agent merge` flags, with what they are: they decide what
/// runs on the next checkout, build or CI run, on someone else's machine. `**/name` matches at
/// any depth, `dir/**` the directory and all below it, anything else the path itself; without
/// regard to case (macOS and Windows checkouts read `.ENVRC` as `.envrc`). Ignore files
/// (`.gitignore`) are not here: they hide files but run nothing.
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
    (".gitlab/**", "CI"),
    (
        ".devcontainer/**",
        "dev container: what an editor builds and runs",
    ),
    (
        "rust-toolchain",
        "Rust toolchain: which cargo and rustc run",
    ),
    (
        "rust-toolchain.toml",
        "Rust toolchain: which cargo and rustc run",
    ),
    (".lfsconfig", "Git LFS configuration"),
    ("**/.npmrc", "npm configuration"),
    ("**/.yarnrc.yml", "Yarn configuration: which yarn runs"),
    (
        "**/.mise.toml",
        "mise: tools and tasks, run on entering the directory",
    ),
];

/// What `path` is, if a change to it is flagged.
pub fn flagged(path: &str) -> Option<&'static str> {
    let path = path.to_lowercase();
    FLAGGED_PATHS.iter().find_map(|(pattern, what)| {
        let pattern = pattern.to_lowercase();
        let hit = if let Some(name) = pattern.strip_prefix("**/") {
            path == name || path.ends_with(&format!("/{name}"))
        } else if let Some(dir) = pattern.strip_suffix("/**") {
            path == dir || path.starts_with(&format!("{dir}/"))
        } else {
            path == pattern
        };
        hit.then_some(*what)
    })
}

/// What a symbolic link at `path` stands in for, if it is a directory where flagged files are
/// read (`.cargo -> build-config`: cargo follows it to `config.toml`), given `targets`, the
/// paths of the tree under what it points to, relative to that.
fn flagged_link(path: &str, targets: &[String]) -> Option<&'static str> {
    let lower = path.to_lowercase();
    let above = FLAGGED_PATHS.iter().find_map(|(pattern, what)| {
        let pattern = pattern.to_lowercase();
        let hit = match pattern.strip_prefix("**/") {
            // `.cargo` (anywhere) for `**/.cargo/config.toml`.
            Some(name) => {
                let dirs: Vec<&str> = name.split('/').collect();
                (1..dirs.len()).any(|n| {
                    let dir = dirs[..n].join("/");
                    lower == dir || lower.ends_with(&format!("/{dir}"))
                })
            }
            // `.github` or `.github/workflows` for `.github/workflows/**`.
            None => {
                let fixed = pattern.trim_end_matches("/**");
                fixed == lower || fixed.starts_with(&format!("{lower}/"))
            }
        };
        hit.then_some(*what)
    });
    above.or_else(|| {
        targets
            .iter()
            .find_map(|rest| flagged(&format!("{path}/{rest}")))
    })
}

/// The changes to flagged paths from tree `from` to tree `to` (what a merge brings in), one
/// line each (`changes .envrc (direnv …)`), in path order. Renames count as a deletion and an
/// addition, so both ends are seen. A new or changed symbolic link is flagged where it stands
/// for a directory flagged files are read from, by its name or by what `to` holds under its
/// target.
pub fn flagged_changes(
    store: &Store,
    from: gix::ObjectId,
    to: gix::ObjectId,
) -> anyhow::Result<Vec<String>> {
    let tip = to.to_string();
    let out = store.git_output(&[
        "diff",
        "--raw",
        "--no-renames",
        "--no-abbrev",
        "-z",
        &from.to_string(),
        &tip,
    ])?;
    let mut lines = Vec::new();
    let mut fields = out.split('\0');
    // `:<old mode> <new mode> <old id> <new id> <status>` NUL `<path>` NUL
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        let meta: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let (new_mode, new_id, status) = match meta.as_slice() {
            [_, mode, _, id, status] => (*mode, *id, *status),
            _ => continue,
        };
        let verb = if status.starts_with('D') {
            "deletes"
        } else {
            "changes"
        };
        if let Some(what) = flagged(path) {
            lines.push(format!("{verb} {path} ({what})"));
        } else if new_mode == "120000" && !status.starts_with('D') {
            let targets = link_targets(store, &tip, path, new_id).unwrap_or_default();
            if let Some(what) = flagged_link(path, &targets) {
                lines.push(format!("{verb} the link {path} ({what}, through the link)"));
            }
        }
    }
    Ok(lines)
}

/// The paths of the tip's tree under where the link `path` (blob `id`) points, relative to
/// that: empty when it points out of the tree or at nothing there.
fn link_targets(store: &Store, tip: &str, path: &str, id: &str) -> anyhow::Result<Vec<String>> {
    let target = store.git_output(&["cat-file", "blob", id])?;
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Ok(Vec::new());
                }
            }
            part => parts.push(part),
        }
    }
    if target.starts_with('/') || parts.is_empty() {
        return Ok(Vec::new());
    }
    let dir = parts.join("/");
    let listed = store.git_output(&["ls-tree", "-r", "-z", "--name-only", tip, "--", &dir])?;
    Ok(listed
        .split('\0')
        .filter_map(|p| p.strip_prefix(&format!("{dir}/")))
        .map(str::to_string)
        .collect())
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
    fn links_that_stand_for_flagged_directories_are_flagged() {
        assert!(flagged_link(".cargo", &[]).is_some());
        assert!(flagged_link("crates/x/.cargo", &[]).is_some());
        assert!(flagged_link(".github", &[]).is_some());
        assert!(flagged_link(".GitHub/workflows", &[]).is_some());
        assert!(flagged_link(".vscode", &[]).is_some());
        assert!(flagged_link("tools", &[".cargo/config.toml".into()]).is_some());
        assert!(flagged_link("docs", &["index.md".into()]).is_none());
        assert!(flagged_link("src", &[]).is_none());
    }

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
            ".ENVRC",
            "sub/.GitAttributes",
            "rust-toolchain",
            "rust-toolchain.toml",
            ".lfsconfig",
            ".devcontainer/devcontainer.json",
            "web/.yarnrc.yml",
            ".npmrc",
            ".mise.toml",
            ".gitlab/ci/build.yml",
        ];
        let misses = [
            "Makefile",
            "package.json",
            "build.rs",
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
