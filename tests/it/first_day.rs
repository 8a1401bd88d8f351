//! The first day with git-agent, as a person lives it: every command typed as `git agent …`
//! (or plain `git …`) in a pseudo-terminal of its own, through git's real wrapper, against the
//! fake model. Start a task and watch it from a second terminal; one Ctrl-C stops it
//! gracefully; say something to it; resume; stop it from another clone through a bare remote;
//! resume to the end; review the diff through the pager; a merge that conflicts changes
//! nothing; update; the agent resolves the conflicts; the merge goes through.
//!
//! Every step waits for what the terminals print (or for the fake model's gate), never for
//! time. With `GIT_AGENT_FIRST_DAY_TRANSCRIPT=<path>` the session is written there as a
//! transcript: each command as typed and what its terminal printed, escape sequences removed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use rexpect::process::WaitStatus;
use rexpect::session::PtySession;

use crate::agent_e2e::{KEY, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script};
use crate::interrupt_pty::path_with_binary;
use crate::merge_daily::{checkout, parents};
use crate::update_pending::{resolved, resolving};

/// What the person tells the task while it is stopped.
const SAID: &str = "Keep the plain greeting exactly as it is";

/// The session written down: commands typed and what each terminal printed.
struct Transcript {
    text: String,
    /// The terminal the last lines came from.
    current: String,
}

impl Transcript {
    fn new() -> Transcript {
        Transcript {
            text: String::new(),
            current: String::new(),
        }
    }

    fn from(&mut self, terminal: &str) {
        if self.current != terminal {
            if !self.text.is_empty() && !self.text.ends_with('\n') {
                self.text.push('\n');
            }
            self.text.push_str(&format!("\n── {terminal} ──\n"));
            self.current = terminal.to_string();
        }
    }

    fn typed(&mut self, terminal: &str, line: &str) {
        self.from(terminal);
        self.text.push_str(&format!("$ {line}\n"));
    }

    fn printed(&mut self, terminal: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        self.from(terminal);
        self.text.push_str(text);
    }

    fn note(&mut self, terminal: &str, what: &str) {
        self.from(terminal);
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.text.push_str(&format!("[{what}]\n"));
    }
}

impl Drop for Transcript {
    /// Written even when the test fails: then it shows how far the day went.
    fn drop(&mut self) {
        if let Some(path) = std::env::var_os("GIT_AGENT_FIRST_DAY_TRANSCRIPT") {
            let _ = std::fs::write(path, self.text.trim_start());
        }
    }
}

/// Terminal output as a person reads it: no escape sequences, no carriage returns. The pty
/// reader hands over each byte as a char of its own; the bytes are UTF-8 again here (a
/// needle is ASCII, so no character is cut at one).
fn readable(raw: &str) -> String {
    let bytes: Vec<u8> = raw
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    strip_ansi_escapes::strip_str(String::from_utf8_lossy(&bytes)).replace('\r', "")
}

/// One command running in a pseudo-terminal of its own.
struct Terminal {
    name: String,
    session: PtySession,
    /// Everything it printed so far, readable.
    seen: String,
}

/// Where a command runs and with what beyond the test environment.
struct Place<'a> {
    env: &'a TestEnv,
    model: &'a FakeModel,
    dir: &'a Path,
    /// The terminal's name in the transcript.
    name: &'a str,
}

impl Place<'_> {
    /// `program args…` as typed in this place's terminal, `shown` as the transcript's line.
    fn spawn_with(
        &self,
        t: &mut Transcript,
        shown: &str,
        program: &str,
        args: &[&str],
        extra: &[(&str, OsString)],
    ) -> Terminal {
        let mut cmd = Command::new(program);
        self.env.apply_env(&mut cmd);
        cmd.env("PATH", path_with_binary())
            .env("TERM", "dumb")
            .env("ANTHROPIC_BASE_URL", &self.model.url)
            .env("ANTHROPIC_API_KEY", KEY)
            .current_dir(self.dir)
            .args(args);
        for (name, value) in extra {
            cmd.env(name, value);
        }
        t.typed(self.name, shown);
        Terminal {
            name: self.name.to_string(),
            session: rexpect::session::spawn_command(cmd, Some(60_000)).unwrap(),
            seen: String::new(),
        }
    }

    /// `git agent <args>` in this place's terminal.
    fn agent(&self, t: &mut Transcript, args: &[&str]) -> Terminal {
        self.agent_with(t, args, &[])
    }

    fn agent_with(
        &self,
        t: &mut Transcript,
        args: &[&str],
        extra: &[(&str, OsString)],
    ) -> Terminal {
        let shown = format!("git agent {}", shell_words(args));
        let argv: Vec<&str> = std::iter::once("agent")
            .chain(args.iter().copied())
            .collect();
        self.spawn_with(t, &shown, "git", &argv, extra)
    }

    /// `git agent <args>` run to its end; returns its exit code and what it printed.
    fn agent_done(&self, t: &mut Transcript, args: &[&str]) -> (i32, String) {
        self.agent(t, args).finish(t)
    }

    /// A shell line (plain git, an edit) run to its end in this place's terminal.
    fn shell(&self, t: &mut Transcript, line: &str) -> String {
        let (code, out) = self.spawn_with(t, line, "sh", &["-c", line], &[]).finish(t);
        assert_eq!(code, 0, "{line}:\n{out}");
        out
    }
}

/// Arguments as a person would type them: quoted where they hold spaces.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(' ') || a.is_empty() {
                format!("\"{a}\"")
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Terminal {
    /// Wait until the terminal shows `needle`; returns what it printed up to it.
    fn expect(&mut self, t: &mut Transcript, needle: &str) -> String {
        let before = self.session.exp_string(needle).unwrap_or_else(|err| {
            panic!(
                "{}: never printed {needle:?}: {err}\nit printed:\n{}",
                self.name, self.seen
            )
        });
        let text = readable(&format!("{before}{needle}"));
        t.printed(&self.name, &text);
        self.seen.push_str(&text);
        text
    }

    /// One press of Ctrl-C: the terminal signals its whole foreground process group.
    fn ctrl_c(&mut self, t: &mut Transcript) {
        self.session.send_control('c').unwrap();
        t.note(&self.name, "Ctrl-C");
    }

    /// Wait for the command to end; its exit code (128 + signal when a signal ended it, as a
    /// shell says) and all it printed.
    fn finish(mut self, t: &mut Transcript) -> (i32, String) {
        let rest = readable(&self.session.exp_eof().unwrap_or_else(|err| {
            panic!(
                "{}: did not end: {err}\nit printed:\n{}",
                self.name, self.seen
            )
        }));
        t.printed(&self.name, &rest);
        self.seen.push_str(&rest);
        let code = match self.session.process().wait().unwrap() {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            other => panic!("{}: {other:?}", self.name),
        };
        t.note(&self.name, &format!("exit {code}"));
        (code, self.seen)
    }
}

fn plan_note(env: &TestEnv, dir: &Path, rev: &str) -> toml::Table {
    toml::from_str(&env.git(dir, &["notes", "--ref", "agent/shout", "show", rev])).unwrap()
}

/// The laptop's repository (the sample project) with a bare remote `origin` holding main.
fn laptop_with_remote(env: &TestEnv) -> (PathBuf, PathBuf) {
    let laptop = sample(env, "");
    let bare = env.root.path().join("origin.git");
    env.git(
        env.root.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    env.git(
        &laptop,
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    env.git(&laptop, &["push", "-q", "origin", "main"]);
    (laptop, bare)
}

#[test]
fn the_first_day_start_watch_ctrl_c_say_stop_remotely_review_update_merge() {
    let env = TestEnv::new();
    let (dir, bare) = laptop_with_remote(&env);
    let model = FakeModel::start(Arc::new(resolving) as Arc<Script>, Duration::ZERO);
    let mut t = Transcript::new();
    let laptop = Place {
        env: &env,
        model: &model,
        dir: &dir,
        name: "laptop, terminal 1",
    };
    let watcher = Place {
        name: "laptop, terminal 2",
        ..laptop
    };

    // 1. Start, and watch from a second terminal. The run is held at step 1's second model
    //    call (planner, read, write: the third request) until the watcher follows it.
    model.gate.close_from(2);
    let mut run = laptop.agent(&mut t, &["start", "--name", "shout", "Add a --shout flag"]);
    model.gate.wait_for_waiting(Duration::from_secs(60));
    let mut watch = watcher.agent(&mut t, &["watch", "shout"]);
    watch.expect(&mut t, "Step 1/2: Add --shout to greet.sh");
    run.expect(&mut t, "read_file greet.sh");

    // 2. One Ctrl-C: the graceful stop, once, with its summary; the watcher sees it end.
    run.ctrl_c(&mut t);
    run.expect(&mut t, "interrupted: keeping the step's work in the attic");
    model.gate.open();
    let (code, printed) = run.finish(&mut t);
    assert_eq!(code, 130, "{printed}");
    assert!(printed.contains("Stopped: interrupted."), "{printed}");
    assert!(
        !printed.contains("interrupted again"),
        "one Ctrl-C counted as two:\n{printed}"
    );
    let (code, watched) = watch.finish(&mut t);
    assert_eq!(code, 0, "{watched}");
    assert!(watched.contains("Stopped: interrupted."), "{watched}");
    let stopped = plan_note(&env, &dir, "agent/shout");
    assert_eq!(stopped["stop"]["reason"].as_str(), Some("interrupted"));
    assert_eq!(
        std::fs::read_to_string(dir.join(".git/agent/locks/shout.lock")).unwrap(),
        "",
        "the lock was not released"
    );
    let (code, out) = laptop.agent_done(&mut t, &["fsck"]);
    assert_eq!(code, 0, "{out}");

    // 3. Say something to the stopped task, and push it so another machine sees it.
    let (code, out) = laptop.agent_done(&mut t, &["say", "shout", SAID]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = laptop.agent_done(&mut t, &["push", "origin", "shout"]);
    assert_eq!(code, 0, "{out}");

    // 4. Resume; the run is held at its first model call, which carries what was said.
    let held = model.bodies().len();
    model.gate.close_from(held);
    let mut run = laptop.agent(&mut t, &["resume", "shout"]);
    model.gate.wait_for_waiting(Duration::from_secs(60));
    assert!(
        model.bodies()[held].to_string().contains(SAID),
        "the model was not told what was said"
    );
    run.expect(&mut t, &format!("from the user: {SAID}"));

    // 5. From another clone, through the bare remote: stop it.
    let other_dir = env.root.path().join("desktop");
    let elsewhere = Place {
        dir: env.root.path(),
        name: "desktop",
        ..laptop
    };
    elsewhere.shell(
        &mut t,
        &format!("git clone -q {} {}", bare.display(), other_dir.display()),
    );
    let desktop = Place {
        dir: &other_dir,
        ..elsewhere
    };
    let (code, out) = desktop.agent_done(&mut t, &["pull", "origin"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = desktop.agent_done(&mut t, &["stop", "shout"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no run of it is working here"), "{out}");
    let (code, out) = desktop.agent_done(&mut t, &["push", "origin", "shout"]);
    assert_eq!(code, 0, "{out}");
    // The laptop takes in what was said on the remote; its run stops as on Ctrl-C.
    let puller = Place {
        name: "laptop, terminal 2",
        ..laptop
    };
    let (code, out) = puller.agent_done(&mut t, &["pull", "origin"]);
    assert_eq!(code, 0, "{out}");
    run.expect(&mut t, "stop requested with git agent stop");
    model.gate.open();
    let (code, printed) = run.finish(&mut t);
    assert_eq!(code, 130, "{printed}");
    assert!(printed.contains("Stopped: interrupted."), "{printed}");
    let stopped = plan_note(&env, &dir, "agent/shout");
    assert_eq!(
        stopped["stop"]["detail"].as_str(),
        Some("stopped with git agent stop"),
        "{stopped:#?}"
    );

    // 6. Resume again, to the end.
    let (code, printed) = laptop.agent_done(&mut t, &["resume", "shout"]);
    assert_eq!(code, 0, "{printed}");
    assert!(printed.contains("Stopped: done."), "{printed}");

    // 7. Review: the diff goes through git's pager (here one that also keeps a copy).
    let paged = env.root.path().join("paged.txt");
    let pager = OsString::from(format!("tee {}", paged.display()));
    let (code, out) = laptop
        .agent_with(&mut t, &["diff", "shout"], &[("GIT_PAGER", pager)])
        .finish(&mut t);
    assert_eq!(code, 0, "{out}");
    let through_pager = std::fs::read_to_string(&paged).expect("the pager was not used");
    assert!(
        through_pager.contains("diff --git a/greet.sh b/greet.sh"),
        "{through_pager}"
    );
    assert!(
        through_pager.contains("+if [ \"$1\" = \"--shout\" ]"),
        "{through_pager}"
    );

    // 8. Meanwhile main moved: the merge conflicts and changes nothing at all.
    laptop.shell(
        &mut t,
        "sed -i 's/print a greeting/print a friendly greeting/' greet.sh && echo 'from main' > NOTES.md && git add -A && git commit -qm 'Friendlier comment, and notes'",
    );
    let main = env.rev(&dir, "main");
    let tip = env.rev(&dir, "agent/shout");
    let before = checkout(&env, &dir);
    let (code, out) = laptop.agent_done(&mut t, &["merge", "shout"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("conflicts with main; nothing was merged"),
        "{out}"
    );
    assert_eq!(
        checkout(&env, &dir),
        before,
        "the failed merge changed the checkout"
    );

    // 9. Update: the conflicts become step 3, in the task's worktree.
    let (code, out) = laptop.agent_done(&mut t, &["update", "shout"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("Step 3 of the plan is now to resolve them"),
        "{out}"
    );
    assert_eq!(checkout(&env, &dir), before, "update touched the checkout");

    // 10. The agent resolves them; that checkpoint is the merge of main.
    let (code, printed) = laptop.agent_done(&mut t, &["resume", "shout"]);
    assert_eq!(code, 0, "{printed}");
    assert_eq!(parents(&env, &dir, "agent/shout"), vec![tip, main.clone()]);
    assert_eq!(env.git(&dir, &["show", "agent/shout:greet.sh"]), resolved());
    assert_eq!(
        env.git(&dir, &["show", "agent/shout:NOTES.md"]),
        "from main\n"
    );

    // 11. The merge goes through, and git log shows it.
    let (code, out) = laptop.agent_done(&mut t, &["merge", "shout"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Merged task shout into main as "), "{out}");
    let log = laptop.shell(&mut t, "git --no-pager log --oneline --graph -n 8");
    assert!(
        log.contains("Merge task shout: Add a --shout flag"),
        "{log}"
    );
    assert_eq!(
        parents(&env, &dir, "main"),
        vec![main, env.rev(&dir, "agent/shout")]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("greet.sh")).unwrap(),
        resolved()
    );
    let (code, out) = laptop.agent_done(&mut t, &["fsck"]);
    assert_eq!(code, 0, "{out}");
    env.fsck(&dir);
}
