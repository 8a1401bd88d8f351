//! The manual page and `-h` of every subcommand, from the clap definitions.

use std::path::Path;

use clap::CommandFactory;

use crate::common::TestEnv;

#[test]
fn the_committed_man_page_is_up_to_date() {
    let rendered = git_agent::cli::render_man().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/git-agent.1");
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "man/git-agent.1 is out of date: run `cargo run --example gen_man`"
    );
}

#[test]
fn the_committed_completions_are_up_to_date() {
    for (shell, name) in git_agent::cli::COMPLETION_FILES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("completions")
            .join(name);
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == git_agent::cli::render_completions(*shell),
            "completions/{name} is out of date: run `cargo run --example gen_man`"
        );
    }
}

#[test]
fn the_man_page_documents_every_subcommand_with_its_options() {
    let page = String::from_utf8(git_agent::cli::render_man().unwrap()).unwrap();
    // A hidden subcommand (the completions' task lister) is no part of the manual.
    for sub in git_agent::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
    {
        let heading = format!(".SS \"git agent {}\"", sub.get_name());
        assert!(page.contains(&heading), "no {heading} in the man page");
    }
    for needle in [
        "\\-\\-last\\-green",
        "\\-\\-max\\-turns",
        "\\-\\-squash",
        ".SH \"EXIT STATUS\"",
        "refs/notes/agent/<slug>",
    ] {
        assert!(page.contains(needle), "no {needle} in the man page");
    }
}

#[test]
fn the_synopses_name_each_options_value() {
    let page = String::from_utf8(git_agent::cli::render_man().unwrap()).unwrap();
    // clap_mangen alone printed `[-C ]` and `[--name]`: an option without the value it takes.
    for needle in [
        "[\\fB\\-C\\fR \\fI<PATH>\\fR]",
        "[\\fB\\-\\-color\\fR \\fI<COLOR>\\fR]",
        "[\\fB\\-q\\fR|\\fB\\-\\-quiet\\fR]",
        "[\\fB\\-\\-name\\fR \\fI<SLUG>\\fR]",
        "[\\fB\\-\\-max\\-turns\\fR \\fI<N>\\fR]",
        "<\\fIGOAL\\fR>",
    ] {
        assert!(page.contains(needle), "no {needle} in the man page");
    }
    // The examples at the end start the same way; the synopses come before them.
    let before_examples = page.split(".SH EXAMPLES").next().unwrap();
    let synopsis = before_examples
        .lines()
        .filter(|l| l.starts_with("\\fBgit agent"))
        .collect::<Vec<_>>();
    assert_eq!(
        synopsis.len(),
        git_agent::cli::Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .count()
            + 1,
        "one synopsis for the page and one per subcommand"
    );
    for line in synopsis {
        assert!(
            !line.contains(" \\fR]"),
            "an option without its value: {line}"
        );
    }
}

#[test]
fn the_man_page_has_examples_of_real_commands_and_see_also() {
    let page = String::from_utf8(git_agent::cli::render_man().unwrap()).unwrap();
    for needle in [
        ".SH EXAMPLES",
        ".SH \"SEE ALSO\"",
        "\\fBgit\\-log\\fR(1)",
        "\\fBgit\\-notes\\fR(1)",
        "\\fBgit\\-worktree\\fR(1)",
        "docs/data\\-model.md",
    ] {
        assert!(page.contains(needle), "no {needle} in the man page");
    }
    let names = git_agent::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect::<Vec<_>>();
    assert!(git_agent::cli::MAN_EXAMPLES.len() >= 8);
    for (line, _) in git_agent::cli::MAN_EXAMPLES {
        for command in line.split("; ") {
            let words = command.split_whitespace().collect::<Vec<_>>();
            match words.as_slice() {
                ["git", "agent", sub, ..] => {
                    assert!(
                        names.iter().any(|n| n == sub),
                        "no `git agent {sub}`: {line}"
                    );
                }
                ["git", _, ..] => {}
                _ => panic!("an example that is not a git command: {line}"),
            }
        }
    }
}

#[test]
fn every_subcommand_has_help() {
    let env = TestEnv::new();
    let dir = env.root.path();
    for sub in git_agent::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        let about = sub.get_about().unwrap().to_string();
        for flag in ["-h", "--help"] {
            let (code, out, err) = env.agent(dir, &[name, flag]);
            assert_eq!(code, 0, "git agent {name} {flag}: {err}");
            let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains(&about),
                "git agent {name} {flag} does not say {about:?}:\n{out}"
            );
            assert!(
                out.contains(&format!("Usage: git agent {name}")),
                "git agent {name} {flag}:\n{out}"
            );
        }
    }
    let (code, out, _) = env.agent(dir, &["-h"]);
    assert_eq!(code, 0);
    assert!(out.contains("rollback"), "{out}");
    for steering in [
        "  say          Tell a task something",
        "  plan         Print a task's plan",
        "  watch        Follow a running task live",
    ] {
        assert!(out.contains(steering), "{out}");
    }
}

/// `man`, if this machine has one; else the test says why it skips.
fn man_program() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("man"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("skipped: no `man` on this machine (apt-get install man-db)");
    }
    found
}

/// Run `program args` with the test environment plus `env`; (status, stdout, stderr).
fn run_with(
    env: &TestEnv,
    program: &Path,
    args: &[&str],
    vars: &[(&str, &std::ffi::OsStr)],
) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(program);
    env.apply_env(&mut cmd);
    cmd.args(args).current_dir(env.root.path());
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn install_man_puts_the_page_beside_the_binary_where_man_finds_it_through_path() {
    let env = TestEnv::new();
    // A prefix laid out as `cargo install` lays out ~/.cargo: the binary in bin/.
    let prefix = env.root.path().join("cargo");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    let binary = prefix.join("bin/git-agent");
    let built = assert_cmd::cargo::cargo_bin("git-agent");
    std::fs::hard_link(&built, &binary)
        .or_else(|_| std::fs::copy(&built, &binary).map(drop))
        .unwrap();
    let path = std::env::join_paths(
        std::iter::once(prefix.join("bin"))
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let (ok, out, err) = run_with(&env, &binary, &["install-man"], &[("PATH", &path)]);
    assert!(ok, "{err}");
    let page = prefix.join("share/man/man1/git-agent.1");
    assert_eq!(
        std::fs::read(&page).unwrap(),
        git_agent::cli::render_man().unwrap()
    );
    assert!(
        out.starts_with(&format!("Installed the manual page: {}\n", page.display())),
        "{out}"
    );
    let Some(man) = man_program() else { return };
    // No MANPATH: man derives <prefix>/share/man from <prefix>/bin on PATH.
    let (ok, found, err) = run_with(&env, &man, &["-w", "git-agent"], &[("PATH", &path)]);
    assert!(ok, "man -w git-agent: {err}");
    assert_eq!(found.trim(), page.to_str().unwrap());
    assert!(
        out.contains("`git help agent` and `git agent --help` show it."),
        "{out}"
    );
    // And so git help finds it too.
    let git = std::path::PathBuf::from("git");
    let (ok, shown, err) = run_with(
        &env,
        &git,
        &["help", "agent"],
        &[
            ("PATH", &path),
            ("MANPAGER", "cat".as_ref()),
            ("MANWIDTH", "100".as_ref()),
        ],
    );
    assert!(ok, "git help agent: {err}");
    assert!(shown.contains("GIT-AGENT(1)"), "{shown}");
}

#[test]
fn git_help_agent_and_git_agent_help_show_the_installed_page() {
    let env = TestEnv::new();
    let dir = env.root.path().join("man");
    let out = env.agent_ok(
        env.root.path(),
        &["install-man", "--dir", dir.to_str().unwrap()],
    );
    assert!(
        out.contains(&dir.join("man1/git-agent.1").display().to_string()),
        "{out}"
    );
    let Some(_) = man_program() else { return };
    // git shows `man git-agent` only for a command it finds on PATH (else `man gitagent`, a
    // guide's name).
    let built = assert_cmd::cargo::cargo_bin("git-agent");
    let path = std::env::join_paths(
        std::iter::once(built.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    // `git agent --help` never reaches git-agent: git turns it into `git help agent`.
    for args in [&["help", "agent"][..], &["agent", "--help"]] {
        let (ok, shown, err) = run_with(
            &env,
            Path::new("git"),
            args,
            &[
                ("PATH", &path),
                ("MANPATH", dir.as_os_str()),
                ("MANPAGER", "cat".as_ref()),
                ("MANWIDTH", "100".as_ref()),
            ],
        );
        assert!(ok, "git {args:?}: {err}");
        let flat = shown.split_whitespace().collect::<Vec<_>>().join(" ");
        for needle in [
            "GIT-AGENT(1)",
            "git agent rollback",
            "--last-green",
            "EXIT STATUS",
            "[-C <PATH>]",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            assert!(
                flat.contains(needle),
                "git {args:?} shows no {needle}:\n{shown}"
            );
        }
    }
}
