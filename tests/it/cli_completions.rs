//! `git agent completions <shell>`: scripts for the `git-agent` binary that know every
//! subcommand, and a bash script that also serves git's own `git agent <TAB>`.

use std::path::Path;

use clap::CommandFactory;

use crate::common::TestEnv;

fn script(env: &TestEnv, shell: &str) -> String {
    env.agent_ok(env.root.path(), &["completions", shell])
}

#[test]
fn every_shell_gets_a_script_naming_the_binary_and_every_subcommand() {
    let env = TestEnv::new();
    for (shell, binary) in [
        (
            "bash",
            "complete -F _git__agent -o nosort -o bashdefault -o default git-agent",
        ),
        ("zsh", "#compdef git-agent"),
        ("fish", "complete -c git-agent"),
    ] {
        let text = script(&env, shell);
        assert!(text.contains(binary), "{shell}: no {binary:?}");
        assert!(
            !text.contains("git agent\n"),
            "{shell}: a binary name with a space"
        );
        for sub in git_agent::cli::Cli::command().get_subcommands() {
            assert!(
                text.contains(sub.get_name()),
                "{shell}: no {}",
                sub.get_name()
            );
        }
    }
}

/// Complete in a real bash: `(words, cword)` as git's completion passes them to `_git_agent`,
/// or `COMP_WORDS`/`COMP_CWORD` as bash passes them to the `git-agent` binary's function.
fn bash_complete(file: &Path, call: &str) -> String {
    let program = format!(
        "source '{}'\n{call}\necho \"${{COMPREPLY[*]}}\"",
        file.display()
    );
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(program)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn bash_completes_subcommands_and_their_options_both_ways() {
    let env = TestEnv::new();
    let file = env.root.path().join("git-agent.bash");
    std::fs::write(&file, script(&env, "bash")).unwrap();
    // git-agent <TAB>
    assert_eq!(
        bash_complete(
            &file,
            "COMP_WORDS=(git-agent roll); COMP_CWORD=1; _git__agent git-agent roll git-agent"
        ),
        "rollback"
    );
    // git-agent rollback --la<TAB>: the options of the subcommand (clap-rs/clap#6421).
    assert_eq!(
        bash_complete(
            &file,
            "COMP_WORDS=(git-agent rollback --la); COMP_CWORD=2; _git__agent git-agent --la rollback"
        ),
        "--last-green"
    );
    // git agent roll<TAB> and git agent rollback --un<TAB>, through git's completion.
    assert_eq!(
        bash_complete(
            &file,
            "words=(git agent roll); cword=2; cur=roll; _git_agent"
        ),
        "rollback"
    );
    assert_eq!(
        bash_complete(
            &file,
            "words=(git agent rollback --un); cword=3; cur=--un; _git_agent"
        ),
        "--undo"
    );
    // The steering commands: git agent wat<TAB>, git agent plan --ed<TAB>.
    assert_eq!(
        bash_complete(&file, "words=(git agent wat); cword=2; cur=wat; _git_agent"),
        "watch"
    );
    assert_eq!(
        bash_complete(
            &file,
            "words=(git agent plan --ed); cword=3; cur=--ed; _git_agent"
        ),
        "--edit"
    );
}
