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
            "complete -F _git_agent_complete -o nosort -o bashdefault -o default git-agent",
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

#[test]
fn completions_install_puts_each_script_where_its_shell_loads_it() {
    let env = TestEnv::new();
    let dir = env.root.path();
    let install = |args: &[&str], vars: &[(&str, &Path)]| {
        let mut cmd = env.agent_cmd(dir, args);
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let home = &env.home;

    // bash: bash-completion's user directory, loaded on demand for `git-agent` and, through
    // git's completion (`_completion_loader git-agent`), for `git agent`.
    let out = install(&["completions", "--install", "--shell", "bash"], &[]);
    let bash = home.join(".local/share/bash-completion/completions/git-agent");
    assert!(
        out.starts_with(&format!("Installed bash completions: {}\n", bash.display())),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&bash).unwrap(),
        script(&env, "bash")
    );
    assert_eq!(
        bash_complete(
            &bash,
            "words=(git agent roll); cword=2; cur=roll; _git_agent"
        ),
        "rollback"
    );
    let xdg = dir.join("xdg-data");
    install(
        &["completions", "--install", "bash"],
        &[("XDG_DATA_HOME", &xdg)],
    );
    assert!(xdg.join("bash-completion/completions/git-agent").is_file());

    // zsh: ~/.zfunc/_git-agent, and the fpath line for .zshrc until it is there.
    let out = install(&["completions", "--install", "--shell", "zsh"], &[]);
    let zsh = home.join(".zfunc/_git-agent");
    assert_eq!(std::fs::read_to_string(&zsh).unwrap(), script(&env, "zsh"));
    assert!(
        out.ends_with(&format!(
            "Add to {}:\n    fpath=(~/.zfunc $fpath)\n    autoload -Uz compinit && compinit\nthen start a new shell.\n",
            home.join(".zshrc").display()
        )),
        "{out}"
    );
    std::fs::write(
        home.join(".zshrc"),
        "fpath=(~/.zfunc $fpath)\nautoload -Uz compinit && compinit\n",
    )
    .unwrap();
    let out = install(&["completions", "--install", "--shell", "zsh"], &[]);
    assert!(
        out.ends_with("nothing to add to its startup file.\n"),
        "{out}"
    );

    // fish: autoloaded from its config directory; the shell from $SHELL.
    let out = install(
        &["completions", "--install"],
        &[("SHELL", Path::new("/usr/bin/fish"))],
    );
    let fish = home.join(".config/fish/completions/git-agent.fish");
    assert_eq!(
        std::fs::read_to_string(&fish).unwrap(),
        script(&env, "fish")
    );
    assert!(out.contains("nothing to add"), "{out}");

    // A shell it cannot install for, and no shell at all, are refused with a hint.
    let (code, _, err) = env.agent(dir, &["completions", "--install", "--shell", "elvish"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("hint: print the script"), "{err}");
    let (code, _, err) = env.agent(dir, &["completions", "--install"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = env.agent(dir, &["completions"]);
    assert_eq!(code, 2, "{err}");
}
