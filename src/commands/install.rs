//! `git agent install-man` and `git agent completions --install`: put the manual page and the
//! completion scripts where `man`, `git help` and the shells look for them, without root and
//! without asking the user to edit a path variable where that can be avoided.

use std::path::{Path, PathBuf};

use clap_complete::Shell;

use super::Context;
use crate::cli::InstallManArgs;
use crate::error::{Exit, UserError};

/// Where `install-man` writes by default: `<dir of the binary>/../share/man`. man-db maps every
/// `PATH` entry `X/bin` to `X/share/man` (and `X/man`) when `MANPATH` is unset, so a page beside
/// `~/.cargo/bin/git-agent` is found with no setup.
pub fn default_man_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let prefix = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| UserError::new(format!("{} has no parent directory", exe.display())))?;
    Ok(prefix.join("share/man"))
}

pub fn cmd_install_man(ctx: &Context, args: InstallManArgs) -> anyhow::Result<Exit> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => default_man_dir()?,
    };
    let path = dir.join("man1/git-agent.1");
    write_file(&path, &crate::cli::render_man()?)?;
    let found = man_finds();
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "installed",
            "what": "man",
            "path": path,
            "man_finds": found,
        }));
        return Ok(Exit::Done);
    }
    ctx.out(format!("Installed the manual page: {}", path.display()));
    match found {
        Some(found) if same_file(&found, &path) => {
            ctx.out("`git help agent` and `git agent --help` show it.");
        }
        Some(found) => ctx.out(format!(
            "`man git-agent` finds another page first: {}\nTo see this one, put its directory first: export MANPATH=\"{}:\"",
            found.display(),
            dir.display()
        )),
        None if which("man").is_none() => {
            ctx.out("There is no `man` program here; `git help agent` needs one (man-db).")
        }
        // A trailing colon keeps man's default search path after the new directory.
        None => ctx.out(format!(
            "`man` does not look in {} yet. Add to your shell's startup file:\n    export MANPATH=\"{}:\"",
            dir.display(),
            dir.display()
        )),
    }
    Ok(Exit::Done)
}

/// The page `man -w git-agent` resolves to, if `man` exists and finds one.
fn man_finds() -> Option<PathBuf> {
    let output = std::process::Command::new("man")
        .args(["-w", "git-agent"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim();
    (output.status.success() && !line.is_empty()).then(|| PathBuf::from(line))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// Where a shell loads a user's completions from, and what (if anything) the user must add
/// to the shell's startup file for it to.
#[derive(Debug, PartialEq, Eq)]
pub struct CompletionTarget {
    pub path: PathBuf,
    pub rc_file: Option<PathBuf>,
    pub rc_lines: Vec<String>,
}

/// The variables that decide where completions go, read once so the rule is testable.
#[derive(Debug, Default, Clone)]
pub struct ShellEnv {
    pub home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub bash_completion_user_dir: Option<PathBuf>,
    pub zdotdir: Option<PathBuf>,
}

impl ShellEnv {
    pub fn from_process() -> ShellEnv {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        ShellEnv {
            home: var("HOME"),
            xdg_data_home: var("XDG_DATA_HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            bash_completion_user_dir: var("BASH_COMPLETION_USER_DIR"),
            zdotdir: var("ZDOTDIR"),
        }
    }
}

/// bash-completion's script, which loads completions on demand; without it nothing reads the
/// user's completion directory.
const BASH_COMPLETION_SCRIPTS: &[&str] = &[
    "/usr/share/bash-completion/bash_completion",
    "/etc/bash_completion",
    "/usr/local/share/bash-completion/bash_completion",
    "/opt/homebrew/etc/profile.d/bash_completion.sh",
];

/// Where `shell` finds the user's completions for `git-agent`.
///
/// - bash: bash-completion's user directory
///   (`${BASH_COMPLETION_USER_DIR:-${XDG_DATA_HOME:-~/.local/share}/bash-completion}/completions`),
///   loaded on demand for `git-agent` and, through git's own completion, for `git agent`;
/// - zsh: `~/.zfunc/_git-agent`, a directory the user adds to `fpath` before `compinit`;
/// - fish: `${XDG_CONFIG_HOME:-~/.config}/fish/completions/git-agent.fish`, autoloaded.
pub fn completion_target(
    shell: Shell,
    env: &ShellEnv,
    bash_completion_installed: bool,
) -> anyhow::Result<CompletionTarget> {
    let home =
        || {
            env.home.clone().ok_or_else(|| {
                anyhow::Error::from(UserError::new("HOME is not set").hint(
                    "set HOME, or print the script instead: git agent completions bash > FILE",
                ))
            })
        };
    Ok(match shell {
        Shell::Bash => {
            let dir = match &env.bash_completion_user_dir {
                Some(dir) => dir.clone(),
                None => match &env.xdg_data_home {
                    Some(data) => data.join("bash-completion"),
                    None => home()?.join(".local/share/bash-completion"),
                },
            };
            let path = dir.join("completions/git-agent");
            let (rc_file, rc_lines) = if bash_completion_installed {
                (None, Vec::new())
            } else {
                (
                    Some(home()?.join(".bashrc")),
                    vec![format!("source '{}'", path.display())],
                )
            };
            CompletionTarget {
                path,
                rc_file,
                rc_lines,
            }
        }
        Shell::Zsh => {
            let home = home()?;
            let path = home.join(".zfunc/_git-agent");
            let rc_file = env
                .zdotdir
                .clone()
                .unwrap_or_else(|| home.clone())
                .join(".zshrc");
            let configured = std::fs::read_to_string(&rc_file).is_ok_and(|text| {
                text.lines()
                    .any(|l| l.contains("fpath") && l.contains(".zfunc"))
            });
            let rc_lines = if configured {
                Vec::new()
            } else {
                vec![
                    "fpath=(~/.zfunc $fpath)".to_string(),
                    "autoload -Uz compinit && compinit".to_string(),
                ]
            };
            CompletionTarget {
                path,
                rc_file: (!configured).then_some(rc_file),
                rc_lines,
            }
        }
        Shell::Fish => {
            let config = match &env.xdg_config_home {
                Some(dir) => dir.clone(),
                None => home()?.join(".config"),
            };
            CompletionTarget {
                path: config.join("fish/completions/git-agent.fish"),
                rc_file: None,
                rc_lines: Vec::new(),
            }
        }
        other => {
            return Err(UserError::new(format!(
                "completions --install knows bash, zsh and fish, not {other}"
            ))
            .hint(format!(
                "print the script and put it where {other} loads it: git agent completions {other} > FILE"
            ))
            .into());
        }
    })
}

pub fn install_completions(ctx: &Context, shell: Option<Shell>) -> anyhow::Result<Exit> {
    let Some(shell) = shell.or_else(Shell::from_env) else {
        return Err(UserError::usage("cannot tell the shell from $SHELL")
            .hint("name it: git agent completions --install --shell bash (or zsh, fish)")
            .into());
    };
    let bash_completion = BASH_COMPLETION_SCRIPTS
        .iter()
        .any(|p| Path::new(p).is_file());
    let target = completion_target(shell, &ShellEnv::from_process(), bash_completion)?;
    write_file(&target.path, &crate::cli::render_completions(shell))?;
    if ctx.global.json {
        ctx.json(&serde_json::json!({
            "type": "installed",
            "what": "completions",
            "shell": shell.to_string(),
            "path": target.path,
            "rc_file": target.rc_file,
            "rc_lines": target.rc_lines,
        }));
        return Ok(Exit::Done);
    }
    ctx.out(format!(
        "Installed {shell} completions: {}",
        target.path.display()
    ));
    match (&target.rc_file, target.rc_lines.is_empty()) {
        (Some(rc), false) => {
            ctx.out(format!("Add to {}:", rc.display()));
            for line in &target.rc_lines {
                ctx.out(format!("    {line}"));
            }
            ctx.out("then start a new shell.");
        }
        _ => ctx.out(format!(
            "A new {shell} loads them; nothing to add to its startup file."
        )),
    }
    Ok(Exit::Done)
}

/// Write `bytes` to `path` through a temporary file in the same directory, so a reader never
/// sees half a file.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| UserError::new(format!("{} has no directory", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|err| {
        UserError::new(format!("cannot create {}: {err}", dir.display()))
            .hint("choose a directory you can write to with --dir")
    })?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    let file = file.persist(path).map_err(|err| err.error)?;
    // A page or script for everyone who can read the directory, as install(1) leaves it.
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn env(home: &Path) -> ShellEnv {
        ShellEnv {
            home: Some(home.to_path_buf()),
            ..ShellEnv::default()
        }
    }

    #[test]
    fn bash_goes_to_bash_completions_user_dir() {
        let home = Path::new("/home/u");
        let target = completion_target(Shell::Bash, &env(home), true).unwrap();
        assert_eq!(
            target,
            CompletionTarget {
                path: home.join(".local/share/bash-completion/completions/git-agent"),
                rc_file: None,
                rc_lines: vec![],
            }
        );
        let mut xdg = env(home);
        xdg.xdg_data_home = Some("/data".into());
        assert_eq!(
            completion_target(Shell::Bash, &xdg, true).unwrap().path,
            Path::new("/data/bash-completion/completions/git-agent")
        );
        xdg.bash_completion_user_dir = Some("/bc".into());
        assert_eq!(
            completion_target(Shell::Bash, &xdg, true).unwrap().path,
            Path::new("/bc/completions/git-agent")
        );
        // Without bash-completion nothing loads that directory: source the file from .bashrc.
        let bare = completion_target(Shell::Bash, &env(home), false).unwrap();
        assert_eq!(bare.rc_file, Some(home.join(".bashrc")));
        assert_eq!(
            bare.rc_lines,
            vec!["source '/home/u/.local/share/bash-completion/completions/git-agent'"]
        );
    }

    #[test]
    fn zsh_asks_for_fpath_until_zshrc_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = completion_target(Shell::Zsh, &env(dir.path()), true).unwrap();
        assert_eq!(target.path, dir.path().join(".zfunc/_git-agent"));
        assert_eq!(target.rc_file, Some(dir.path().join(".zshrc")));
        assert_eq!(
            target.rc_lines,
            vec![
                "fpath=(~/.zfunc $fpath)",
                "autoload -Uz compinit && compinit"
            ]
        );
        std::fs::write(
            dir.path().join(".zshrc"),
            "fpath=(~/.zfunc $fpath)\ncompinit\n",
        )
        .unwrap();
        let target = completion_target(Shell::Zsh, &env(dir.path()), true).unwrap();
        assert_eq!(target.rc_file, None);
        assert!(target.rc_lines.is_empty());
    }

    #[test]
    fn fish_autoloads_from_its_config_dir() {
        let home = Path::new("/home/u");
        assert_eq!(
            completion_target(Shell::Fish, &env(home), true).unwrap(),
            CompletionTarget {
                path: home.join(".config/fish/completions/git-agent.fish"),
                rc_file: None,
                rc_lines: vec![],
            }
        );
        let mut xdg = env(home);
        xdg.xdg_config_home = Some("/cfg".into());
        assert_eq!(
            completion_target(Shell::Fish, &xdg, true).unwrap().path,
            Path::new("/cfg/fish/completions/git-agent.fish")
        );
    }

    #[test]
    fn other_shells_are_refused_with_a_hint() {
        let err = completion_target(Shell::Elvish, &env(Path::new("/h")), true).unwrap_err();
        let (hint, _) = crate::app::advice::advice_of(&err);
        assert_eq!(
            hint.as_deref(),
            Some(
                "print the script and put it where elvish loads it: git agent completions elvish > FILE"
            )
        );
    }
}
