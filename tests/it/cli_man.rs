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
fn the_man_page_documents_every_subcommand_with_its_options() {
    let page = String::from_utf8(git_agent::cli::render_man().unwrap()).unwrap();
    for sub in git_agent::cli::Cli::command().get_subcommands() {
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
