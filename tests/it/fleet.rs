//! A fleet of workers sharing one git remote: `git agent queue` and `git agent worker`, over a
//! plain path and over `git daemon` (the git:// transport with receive-pack on).
//!
//! Sizes of the fleet test come from the environment, small by default (CI):
//! `GIT_AGENT_FLEET_WORKERS`, `GIT_AGENT_FLEET_TASKS`, `GIT_AGENT_FLEET_KILLS`,
//! `GIT_AGENT_FLEET_SEED`, `GIT_AGENT_FLEET_DELAY_MS`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent_e2e::{KEY, good_model, sample};
use crate::common::TestEnv;
use crate::common::{Running, first_line};
use crate::fake_model::{FakeModel, Script, current_step, turn};
use crate::support::{PATIENCE, poll_until, wait_until};

/// A bare repository served by `git daemon` with pushes allowed; stopped on drop.
struct Daemon {
    child: Child,
    url: String,
}

impl Daemon {
    fn serve(env: &TestEnv, base: &Path, repo: &str) -> Daemon {
        // The free port found here may be taken by another test (or another suite beside
        // this one) before the daemon binds it: then the daemon says so and exits, and it
        // is started again on another.
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if let Some(daemon) = Daemon::try_serve(env, base, port) {
                return Daemon {
                    child: daemon,
                    url: format!("git://127.0.0.1:{port}/{repo}"),
                };
            }
        }
        panic!("git daemon found no port to listen on");
    }

    /// A daemon listening on `port`, once it said it is ready; `None` when it could not bind.
    fn try_serve(env: &TestEnv, base: &Path, port: u16) -> Option<Child> {
        let daemon = Path::new("/usr/lib/git-core/git-daemon");
        let program = if daemon.exists() {
            daemon.to_path_buf()
        } else {
            PathBuf::from("git-daemon")
        };
        let mut cmd = Command::new(program);
        env.apply_env(&mut cmd);
        let mut child = cmd
            .args([
                "--verbose",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("git daemon runs");
        // `--verbose` logs "Ready to rumble" once it listens, then a line per connection:
        // read on to the end so that its log never fills the pipe.
        let (ready, said) = std::sync::mpsc::channel();
        let log = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(log)).map_while(Result::ok)
            {
                if line.contains("Ready to rumble") {
                    let _ = ready.send(());
                }
            }
        });
        if said.recv_timeout(PATIENCE).is_ok() {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare remote with the sample project, and the clone that queues tasks.
struct Fleet {
    env: TestEnv,
    bare: PathBuf,
    home: PathBuf,
}

impl Fleet {
    fn new() -> Fleet {
        let env = TestEnv::in_memory();
        let home = sample(&env, "");
        let bare = env.root.path().join("remote.git");
        env.git(
            env.root.path(),
            &["init", "-q", "--bare", bare.to_str().unwrap()],
        );
        env.git(&home, &["remote", "add", "origin", bare.to_str().unwrap()]);
        env.git(&home, &["push", "-q", "origin", "main"]);
        Fleet { env, bare, home }
    }

    /// A clone of the remote for one worker, with `origin` at `url`.
    fn clone(&self, name: &str, url: &str) -> PathBuf {
        let dir = self.env.root.path().join(name);
        self.env.git(
            self.env.root.path(),
            &[
                "clone",
                "-q",
                self.bare.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        self.env.git(&dir, &["remote", "set-url", "origin", url]);
        dir
    }

    fn queue(&self, name: &str) {
        let goal = format!("Add a --shout flag [task {name}]");
        self.env
            .agent_ok(&self.home, &["queue", "add", "--name", name, &goal]);
    }

    fn worker(&self, dir: &Path, model: &FakeModel, args: &[&str]) -> Child {
        self.worker_cmd(dir, model, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn worker_cmd(&self, dir: &Path, model: &FakeModel, args: &[&str]) -> Command {
        let mut all = vec!["--json", "worker"];
        all.extend_from_slice(args);
        let mut cmd = self.env.agent_cmd(dir, &all);
        cmd.env("ANTHROPIC_BASE_URL", &model.url)
            .env("ANTHROPIC_API_KEY", KEY);
        cmd
    }

    /// The remote's refs: name -> id.
    fn remote_refs(&self, prefix: &str) -> BTreeMap<String, String> {
        self.env
            .git(
                &self.bare,
                &["for-each-ref", "--format=%(refname) %(objectname)", prefix],
            )
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// `git agent queue --json` from the home clone: slug -> row.
    fn queue_rows(&self) -> BTreeMap<String, Value> {
        let out = self.env.agent_ok(&self.home, &["--json", "queue"]);
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| (v["slug"].as_str().unwrap().to_string(), v))
            .collect()
    }

    /// The stop reason of the remote's tip of a task.
    fn remote_stop(&self, slug: &str) -> Option<String> {
        let tip = format!("refs/heads/agent/{slug}");
        let note = self
            .env
            .git_cmd(
                &self.bare,
                &[
                    "notes",
                    "--ref",
                    &format!("refs/notes/agent/{slug}"),
                    "show",
                    &tip,
                ],
            )
            .output()
            .unwrap();
        let table: toml::Table = toml::from_str(&String::from_utf8_lossy(&note.stdout)).ok()?;
        table
            .get("stop")
            .and_then(|s| s.get("reason"))
            .and_then(|r| r.as_str())
            .map(str::to_string)
    }
}

/// The worker events (`{"type": "worker", …}`) in a worker's stdout.
fn worker_events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "worker")
        .collect()
}

fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Which queued task a model request is about (its goal names it).
fn task_of(request: &Value) -> Option<String> {
    let text = request.to_string();
    let at = text.find("[task ")? + "[task ".len();
    let rest = &text[at..];
    Some(rest[..rest.find(']')?].to_string())
}

/// A pre-receive hook in the remote that holds every push creating a task's lease (a claim)
/// until the test releases them all at once: the claims race for real, whatever each
/// worker's timing. It holds them on a shared `flock` of a file the test keeps locked.
struct ClaimBarrier {
    dir: PathBuf,
    holder: Child,
}

impl ClaimBarrier {
    fn install(bare: &Path, slug: &str) -> ClaimBarrier {
        let dir = bare.join("claim-barrier");
        std::fs::create_dir_all(&dir).unwrap();
        let lock = dir.join("lock");
        std::fs::write(&lock, "").unwrap();
        let hook = bare.join("hooks/pre-receive");
        std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
        let script = r#"#!/bin/sh
# A push that creates the lease of SLUG is a claim: it waits at the barrier.
claim=
while read old new ref; do
  if [ "$ref" = refs/agent/SLUG/lease ]; then
    case "$old" in *[!0]*) ;; *) claim=1 ;; esac
  fi
done
if [ -n "$claim" ]; then
  : > 'DIR'/claim.$$
  flock -s 'LOCK' true
fi
exit 0
"#;
        let script = script
            .replace("SLUG", slug)
            .replace("DIR", &dir.display().to_string())
            .replace("LOCK", &lock.display().to_string());
        std::fs::write(&hook, script).unwrap();
        let mut perms = std::fs::metadata(&hook).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&hook, perms).unwrap();
        // The lock is held by a `flock` whose command waits for its stdin to close.
        let mut holder = Command::new("flock")
            .arg("-x")
            .arg(&lock)
            .args(["sh", "-c", "echo held; exec cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("flock (util-linux) runs");
        assert_eq!(first_line(holder.stdout.as_mut().unwrap()), "held");
        ClaimBarrier { dir, holder }
    }

    /// Once `n` claims wait at the barrier, let them all through.
    fn release_when(mut self, n: usize) {
        let waiting = || {
            std::fs::read_dir(&self.dir)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("claim."))
                .count()
        };
        wait_until(&format!("{n} claims at the barrier"), || waiting() >= n);
        drop(self.holder.stdin.take());
        assert!(self.holder.wait().unwrap().success());
    }
}

#[test]
fn queue_add_publishes_a_task_and_a_worker_takes_it_over_a_plain_path() {
    let fleet = Fleet::new();
    let env = &fleet.env;
    fleet.queue("q1");
    fleet.queue("q2");
    // Published whole: branch and notes (the plan note of the task commit) on the remote.
    let refs = fleet.remote_refs("refs/");
    assert!(refs.contains_key("refs/heads/agent/q1"), "{refs:?}");
    assert!(refs.contains_key("refs/notes/agent/q2"), "{refs:?}");
    let rows = fleet.queue_rows();
    assert_eq!(rows["q1"]["state"], "queued");
    assert_eq!(rows["q2"]["state"], "queued");
    // The same name again is refused by the remote's lease, not overwritten.
    let other = fleet.clone("other", fleet.bare.to_str().unwrap());
    let (code, _, err) = env.agent(&other, &["queue", "add", "--name", "q1", "something else"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a task named 'q1' exists already"), "{err}");

    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let w = fleet.clone("w1", fleet.bare.to_str().unwrap());
    let (code, out, err) = finish(fleet.worker(&w, &model, &["--once"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let events = worker_events(&out);
    assert_eq!(events[0]["event"], "claimed", "{out}");
    // One of the oldest (its first try is spread over the oldest few, so that idle workers
    // do not all race for one task).
    let took = events[0]["slug"].as_str().unwrap().to_string();
    let other = if took == "q1" { "q2" } else { "q1" };
    assert!(took == "q1" || took == "q2", "{out}");
    assert_eq!(events[1]["event"], "finished");
    assert_eq!(events[1]["state"], "done");
    // The remote has the finished task and no lease; the other is still queued.
    assert_eq!(fleet.remote_stop(&took).as_deref(), Some("done"));
    assert!(
        !fleet
            .remote_refs("refs/agent/")
            .keys()
            .any(|r| r.ends_with("/lease"))
    );
    let rows = fleet.queue_rows();
    assert_eq!(rows[&took]["state"], "done");
    assert_eq!(rows[&took]["checkpoints"], 2);
    assert_eq!(rows[other]["state"], "queued");
    env.fsck(&fleet.bare);
    env.agent_fsck(&w);
    // The home clone pulls the finished work like any task.
    env.agent_ok(&fleet.home, &["pull"]);
    let status = env.agent_ok(&fleet.home, &["status", &took]);
    assert!(status.contains("done"), "{status}");
}

#[test]
fn twenty_workers_race_for_one_task_and_exactly_one_holds_it() {
    let fleet = Fleet::new();
    let env = &fleet.env;
    let daemon = Daemon::serve(env, env.root.path(), "remote.git");
    fleet.queue("only");
    // Every claim waits at a barrier in the remote until all twenty are there: then they race.
    let barrier = ClaimBarrier::install(&fleet.bare, "only");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    model.gate.close_from(0);
    let dirs: Vec<PathBuf> = (0..20)
        .map(|i| fleet.clone(&format!("w{i}"), &daemon.url))
        .collect();
    let children: Vec<Child> = dirs
        .iter()
        .map(|d| fleet.worker(d, &model, &["--once", "--poll", "200ms", "--lease", "30s"]))
        .collect();
    barrier.release_when(20);
    // While the task runs, the remote holds one lease, naming one holder: the winner's run
    // is held at its first model call until the lease is seen.
    let lease_holder = || {
        let lease = fleet
            .remote_refs("refs/agent/only/")
            .get("refs/agent/only/lease")
            .cloned()?;
        let holder = env.git(
            &fleet.bare,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Agent-Lease-Holder,valueonly)",
                &lease,
            ],
        );
        Some(holder.trim().to_string())
    };
    let mut holders = BTreeSet::new();
    model.gate.wait_for_waiting(PATIENCE);
    holders.extend(lease_holder());
    model.gate.open();
    wait_until("the task to finish", || {
        holders.extend(lease_holder());
        fleet.remote_stop("only").as_deref() == Some("done")
            && !fleet
                .remote_refs("refs/agent/only/")
                .contains_key("refs/agent/only/lease")
    });
    let mut claimed = Vec::new();
    let mut lost_cas = 0;
    for child in children {
        let (code, out, err) = finish(child);
        assert_eq!(code, 0, "{out}\n{err}");
        lost_cas += worker_events(&out)
            .iter()
            .filter(|e| e["event"] == "beaten")
            .count();
        for e in worker_events(&out) {
            if e["event"] == "claimed" {
                claimed.push(e["holder"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(claimed.len(), 1, "claimed by {claimed:?}");
    eprintln!("contention: 20 workers, 1 claimed, {lost_cas} lost the compare-and-swap");
    // The race was real: the others pushed their claims at the same time, and the remote
    // refused each.
    assert_eq!(lost_cas, 19, "every other worker lost the compare-and-swap");
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!(holders.iter().next(), claimed.first());
    // One plan, each step once: nobody else worked on it.
    let planners = model
        .bodies()
        .iter()
        .filter(|b| current_step(b).is_none())
        .count();
    assert_eq!(planners, 1);
    env.fsck(&fleet.bare);
}

#[test]
fn a_worker_killed_mid_task_is_taken_over_from_its_last_pushed_checkpoint() {
    let fleet = Fleet::new();
    let env = &fleet.env;
    let daemon = Daemon::serve(env, env.root.path(), "remote.git");
    fleet.queue("t");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The worker is held at its first call of step 2, its first checkpoint pushed.
    model
        .gate
        .close_when(|_, request| current_step(request) == Some(2));
    let a = fleet.clone("a", &daemon.url);
    let b = fleet.clone("b", &daemon.url);
    let mut first = fleet.worker(&a, &model, &["--once", "--lease", "2s", "--poll", "200ms"]);
    model.gate.wait_for_waiting(PATIENCE);
    // Once the first checkpoint is on the remote, the worker is killed without a word.
    let mut pushed = String::new();
    wait_until("a pushed checkpoint", || {
        let tip = fleet.remote_refs("refs/heads/agent/t");
        let Some(tip) = tip.get("refs/heads/agent/t") else {
            return false;
        };
        let count = env.git(&fleet.bare, &["rev-list", "--count", tip]);
        // initial + task commit + one checkpoint
        pushed = tip.clone();
        count.trim() == "3"
    });
    first.kill().unwrap();
    let _ = first.wait();
    assert!(
        fleet
            .remote_refs("refs/agent/t/")
            .contains_key("refs/agent/t/lease")
    );
    model.gate.open();

    let started = Instant::now();
    let (code, out, err) = finish(fleet.worker(&b, &model, &["--lease", "2s", "--poll", "200ms"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let events = worker_events(&out);
    assert_eq!(events[0]["event"], "claimed", "{out}");
    assert_eq!(events[0]["takeover"], true, "{out}");
    // The taker waited out the lease by its own clock.
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(fleet.remote_stop("t").as_deref(), Some("done"));
    // The pushed checkpoint is on the final branch: nothing pushed was lost.
    let tip = fleet.remote_refs("refs/heads/agent/t")["refs/heads/agent/t"].clone();
    env.git(&fleet.bare, &["merge-base", "--is-ancestor", &pushed, &tip]);
    // Each step's work is on the branch once.
    assert_eq!(
        env.git(&fleet.bare, &["rev-list", "--count", &tip]).trim(),
        "4"
    );
    env.fsck(&fleet.bare);
    env.agent_fsck(&b);

    // The killed worker's clone comes back: it finds nothing to do, and its own copy of the
    // task, behind or ahead of the remote, breaks nothing.
    let (code, out, err) = finish(fleet.worker(&a, &model, &["--lease", "2s"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(worker_events(&out).is_empty(), "{out}");
}

#[test]
fn sigterm_finishes_the_tool_call_pushes_releases_and_exits_130() {
    let fleet = Fleet::new();
    let env = &fleet.env;
    fleet.queue("t");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The run is held at its first executor call until the worker has taken the signal.
    model
        .gate
        .close_when(|_, request| current_step(request).is_some());
    let w = fleet.clone("w", fleet.bare.to_str().unwrap());
    let worker = Running::spawn(fleet.worker_cmd(&w, &model, &["--lease", "30s"]));
    model.gate.wait_for_waiting(PATIENCE);
    unsafe_kill(worker.child.id(), "TERM");
    worker.wait_for_line("stopping: the current run finishes its tool call");
    model.gate.open();
    let (code, out, err) = worker.finish();
    assert_eq!(code, 130, "{out}\n{err}");
    let events = worker_events(&out);
    assert_eq!(events.last().unwrap()["state"], "interrupted", "{out}");
    // Pushed and released: the task is queued again, with the run's stop record.
    assert!(
        !fleet
            .remote_refs("refs/agent/")
            .keys()
            .any(|r| r.ends_with("/lease"))
    );
    assert_eq!(fleet.remote_stop("t").as_deref(), Some("interrupted"));
    assert_eq!(fleet.queue_rows()["t"]["state"], "queued");
    env.fsck(&fleet.bare);
    // Another worker finishes it.
    let w2 = fleet.clone("w2", fleet.bare.to_str().unwrap());
    let (code, out, err) = finish(fleet.worker(&w2, &model, &["--once"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(fleet.remote_stop("t").as_deref(), Some("done"));
}

/// Send a signal with kill(1): the test crate has no libc.
fn unsafe_kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn say_reaches_a_task_that_a_worker_elsewhere_runs() {
    let fleet = Fleet::new();
    let env = &fleet.env;
    fleet.queue("t");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    // The run is held at its first executor call until what was said has reached the worker.
    model
        .gate
        .close_when(|_, request| current_step(request).is_some());
    let w = fleet.clone("w", fleet.bare.to_str().unwrap());
    let child = fleet.worker(&w, &model, &["--once", "--lease", "3s"]);
    model.gate.wait_for_waiting(PATIENCE);
    // From the machine that queued it: watch through the remote, say, push what was said.
    let mut watch = env
        .agent_cmd(&fleet.home, &["watch", "--remote", "origin", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watching = first_line(watch.stdout.as_mut().unwrap());
    env.agent_ok(&fleet.home, &["say", "t", "from afar: keep the exit code"]);
    env.agent_ok(&fleet.home, &["push"]);
    // The worker's heartbeat brings it in (src/commands/fleet.rs); the next turn shows it.
    let said = env.rev(&fleet.home, "refs/agent/t/say");
    wait_until("what was said on the worker's machine", || {
        env.git_cmd(&w, &["rev-parse", "-q", "--verify", "refs/agent/t/say"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == said)
    });
    model.gate.open();
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "{out}\n{err}");
    let shown = model
        .bodies()
        .iter()
        .filter(|b| b.to_string().contains("from afar: keep the exit code"))
        .count();
    assert!(
        shown >= 1,
        "the worker never showed the message to the model"
    );
    // A checkpoint record lists it as delivered, on the remote.
    let said = env.git(&fleet.bare, &["rev-parse", "refs/agent/t/say"]);
    let notes = env.git(&fleet.bare, &["log", "-p", "refs/notes/agent/t"]);
    assert!(notes.contains(said.trim()), "not delivered:\n{notes}");
    // The watch saw both checkpoints as they were pushed, the worker's lease, and the end.
    let (code, rest, err) = finish(watch);
    assert_eq!(code, 0, "{watching}\n{rest}\n{err}");
    let out = format!("{watching}\n{rest}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Watching t on origin"), "{out}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("✓ checkpoint")).count(),
        2,
        "{out}"
    );
    assert!(out.contains("held by "), "{out}");
    assert!(out.contains("no worker holds it"), "{out}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("Stopped: done. all 2 steps done"),
        "{out}"
    );
}

/// The proof of the fleet: workers killed at random moments and restarted, every task done
/// exactly once, nothing pushed lost, the remote clean, and no more steps redone than kills.
#[test]
fn a_fleet_with_random_kills_finishes_every_task_exactly_once() {
    let workers = env_or("GIT_AGENT_FLEET_WORKERS", 3) as usize;
    let tasks = env_or("GIT_AGENT_FLEET_TASKS", 6) as usize;
    let kills = env_or("GIT_AGENT_FLEET_KILLS", 2) as usize;
    let seed = env_or("GIT_AGENT_FLEET_SEED", 7);
    let delay = env_or("GIT_AGENT_FLEET_DELAY_MS", 150);
    let fleet = Fleet::new();
    let env = &fleet.env;
    let daemon = Daemon::serve(env, env.root.path(), "remote.git");
    for i in 0..tasks {
        fleet.queue(&format!("q{i:03}"));
    }
    let model = FakeModel::start(
        Arc::new(good_model) as Arc<Script>,
        Duration::from_millis(delay),
    );
    let dirs: Vec<PathBuf> = (0..workers)
        .map(|i| fleet.clone(&format!("w{i}"), &daemon.url))
        .collect();
    let args = ["--lease", "2s", "--poll", "200ms"];
    let mut running: Vec<Option<Child>> = dirs
        .iter()
        .map(|d| Some(fleet.worker(d, &model, &args)))
        .collect();
    let outputs: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut rng = fastrand::Rng::with_seed(seed);
    // Every tip the remote showed, to check none is lost.
    let mut tips_seen: BTreeSet<(String, String)> = BTreeSet::new();
    let observe = |tips: &mut BTreeSet<(String, String)>| {
        for (name, id) in fleet.remote_refs("refs/heads/agent/") {
            tips.insert((name, id));
        }
    };
    let mut killed = 0;
    let started = Instant::now();
    let mut done = 0;
    // time is what is tested: the kills come at random moments
    let mut next_kill = Instant::now() + Duration::from_millis(rng.u64(300..2500));
    let finished = poll_until(PATIENCE + Duration::from_secs(20 * tasks as u64), || {
        observe(&mut tips_seen);
        done = (0..tasks)
            .filter(|i| fleet.remote_stop(&format!("q{i:03}")).as_deref() == Some("done"))
            .count();
        let leases = fleet
            .remote_refs("refs/agent/")
            .keys()
            .filter(|r| r.ends_with("/lease"))
            .count();
        if done == tasks && leases == 0 {
            return true;
        }
        if killed < kills && Instant::now() >= next_kill {
            let i = rng.usize(..workers);
            if let Some(mut child) = running[i].take() {
                child.kill().unwrap();
                let out = child.wait_with_output().unwrap();
                outputs
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&out.stdout).into_owned());
                killed += 1;
                // Restarted at once, in the same clone: it must cope with what it left there.
                running[i] = Some(fleet.worker(&dirs[i], &model, &args));
            }
            next_kill = Instant::now() + Duration::from_millis(rng.u64(300..2500));
        }
        // A worker that finished (nothing left it could take) is started again while work
        // remains, so a dead worker's stale lease is always taken over.
        for i in 0..workers {
            if let Some(child) = running[i].as_mut()
                && child.try_wait().unwrap().is_some()
            {
                let child = running[i].take().unwrap();
                let (code, out, err) = finish(child);
                assert_eq!(code, 0, "a worker failed:\n{out}\n{err}");
                outputs.lock().unwrap().push(out);
                running[i] = Some(fleet.worker(&dirs[i], &model, &args));
            }
        }
        false
    });
    assert!(finished, "the fleet did not finish: {done}/{tasks} done");
    for mut child in running.into_iter().flatten() {
        let exited = poll_until(PATIENCE, || child.try_wait().unwrap().is_some());
        assert!(exited, "a worker did not exit with the queue empty");
        let (_, out, _) = finish(child);
        outputs.lock().unwrap().push(out);
    }
    let elapsed = started.elapsed();

    // Every task done exactly once.
    let mut finished: HashMap<String, usize> = HashMap::new();
    for out in outputs.lock().unwrap().iter() {
        for e in worker_events(out) {
            if e["event"] == "finished" && e["state"] == "done" {
                *finished
                    .entry(e["slug"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    for i in 0..tasks {
        let slug = format!("q{i:03}");
        // A worker killed between its final push and its report finished a task silently, so
        // the reports say at most once. The remote says exactly once: of the checkpoints on
        // the final branch, one record (the tip's) has a `done` stop; a second worker finishing
        // too would have had to push a second one on top.
        let reports = finished.get(&slug).copied().unwrap_or(0);
        assert!(reports <= 1, "{slug} reported finished {reports} times");
        let branch = format!("refs/heads/agent/{slug}");
        let notes = format!("refs/notes/agent/{slug}");
        let dones = env
            .git(&fleet.bare, &["rev-list", "--first-parent", &branch])
            .lines()
            .filter(|commit| {
                let out = env
                    .git_cmd(&fleet.bare, &["notes", "--ref", &notes, "show", commit])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).contains("reason = \"done\"")
            })
            .count();
        assert_eq!(
            dones, 1,
            "{slug}: {dones} checkpoints carry a done stop record"
        );
        assert_eq!(fleet.remote_stop(&slug).as_deref(), Some("done"));
    }
    // No pushed checkpoint lost: every tip the remote ever showed is on its final branch or
    // kept in its attic there.
    let refs = fleet.remote_refs("refs/");
    for (name, id) in &tips_seen {
        let slug = name.trim_start_matches("refs/heads/agent/");
        let keepers: Vec<&String> = refs
            .iter()
            .filter(|(r, _)| *r == name || r.starts_with(&format!("refs/agent/{slug}/attic/")))
            .map(|(_, v)| v)
            .collect();
        let kept = keepers.iter().any(|k| {
            env.git_cmd(&fleet.bare, &["merge-base", "--is-ancestor", id, k])
                .status()
                .unwrap()
                .success()
        });
        assert!(kept, "{name} at {id} was pushed and then lost");
    }
    env.fsck(&fleet.bare);
    // Redone steps: each (task, step) started more than once, counted from the model's
    // first turns (the planner counts as step 0).
    let mut starts: HashMap<(String, u32), usize> = HashMap::new();
    for body in model.bodies() {
        if turn(&body) == 0
            && let Some(task) = task_of(&body)
        {
            *starts
                .entry((task, current_step(&body).unwrap_or(0)))
                .or_default() += 1;
        }
    }
    let redone: usize = starts.values().map(|n| n - 1).sum();
    assert!(redone <= killed, "{redone} steps redone for {killed} kills");
    eprintln!(
        "fleet: {workers} workers, {tasks} tasks, {killed} kills, {redone} steps redone, {:.1}s",
        elapsed.as_secs_f64()
    );
}

/// Figures for the README, on demand (`cargo test --test it fleet_figures -- --ignored
/// --nocapture`): claim latency, throughput from 1 to 6 workers with a fixed model delay,
/// and what the lease costs per task. `GIT_AGENT_FLEET_BENCH_TASKS` (12) tasks per run,
/// `GIT_AGENT_FLEET_DELAY_MS` (300) per model answer, over `git daemon`.
#[test]
#[ignore = "figures, run on demand"]
fn fleet_figures() {
    let tasks = env_or("GIT_AGENT_FLEET_BENCH_TASKS", 12) as usize;
    let delay = env_or("GIT_AGENT_FLEET_DELAY_MS", 300);
    let max_workers = env_or("GIT_AGENT_FLEET_BENCH_WORKERS", 6) as usize;
    let mut baseline = None;
    for workers in [1, 2, 3, 4, 6].into_iter().filter(|w| *w <= max_workers) {
        let fleet = Fleet::new();
        let env = &fleet.env;
        let daemon = Daemon::serve(env, env.root.path(), "remote.git");
        for i in 0..tasks {
            fleet.queue(&format!("q{i:03}"));
        }
        let model = FakeModel::start(
            Arc::new(good_model) as Arc<Script>,
            Duration::from_millis(delay),
        );
        let dirs: Vec<PathBuf> = (0..workers)
            .map(|i| fleet.clone(&format!("w{i}"), &daemon.url))
            .collect();
        let started = Instant::now();
        let children: Vec<Child> = dirs
            .iter()
            .map(|d| fleet.worker(d, &model, &["--lease", "1m", "--poll", "500ms"]))
            .collect();
        let mut claims = Vec::new();
        let mut push_ms = 0u64;
        let mut pushes = 0u64;
        let mut wall_ms = 0u64;
        let mut done = 0;
        for child in children {
            let (code, out, err) = finish(child);
            assert_eq!(code, 0, "{out}\n{err}");
            for e in worker_events(&out) {
                match e["event"].as_str() {
                    Some("claimed") => claims.push(e["claim_ms"].as_u64().unwrap()),
                    Some("finished") => {
                        done += usize::from(e["state"] == "done");
                        push_ms += e["push_ms"].as_u64().unwrap();
                        pushes += e["pushes"].as_u64().unwrap();
                        wall_ms += e["wall_ms"].as_u64().unwrap();
                    }
                    _ => {}
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(done, tasks);
        claims.sort_unstable();
        let per_min = tasks as f64 * 60.0 / elapsed;
        let speedup = per_min / *baseline.get_or_insert(per_min);
        let leases = fleet
            .remote_refs("refs/agent/")
            .keys()
            .filter(|r| r.ends_with("/lease"))
            .count();
        assert_eq!(leases, 0);
        eprintln!(
            "figures: {workers} workers, {tasks} tasks, model delay {delay} ms: {elapsed:.1} s, \
             {per_min:.1} tasks/min (x{speedup:.2}); claim median {} ms, max {} ms; \
             per task {:.1} pushes taking {:.0} ms of {:.0} ms ({:.1} %)",
            claims[claims.len() / 2],
            claims[claims.len() - 1],
            pushes as f64 / tasks as f64,
            push_ms as f64 / tasks as f64,
            wall_ms as f64 / tasks as f64,
            100.0 * push_ms as f64 / wall_ms as f64,
        );
    }
}

#[test]
fn fsck_accepts_a_lease_that_is_a_commit_and_finds_one_that_is_not() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(&repo, &["start", "--name", "t", "--no-run", "goal"]);
    // A repository that serves as a shared remote holds leases next to the task's refs.
    let lease = env.sh(
        &repo,
        "git commit-tree $(git hash-object -t tree /dev/null) -m 'agent: lease t\n\nAgent-Task: t\nAgent-Lease-Holder: w/1/0\nAgent-Lease-Heartbeat: 0\nAgent-Lease-Duration: 300s'",
    );
    env.git(&repo, &["update-ref", "refs/agent/t/lease", lease.trim()]);
    env.agent_fsck(&repo);
    let blob = env.sh(&repo, "echo data | git hash-object -w --stdin");
    env.git(&repo, &["update-ref", "refs/agent/t/lease", blob.trim()]);
    let (code, out, _) = env.agent(&repo, &["fsck", "--json"]);
    assert_eq!(code, 1, "{out}");
    let findings: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|f| f["type"] == "finding")
        .collect();
    assert_eq!(findings.len(), 1, "{out}");
    assert_eq!(findings[0]["rule"], "ref-not-a-commit");
    assert_eq!(findings[0]["where"], "refs/agent/t/lease", "{out}");
    // `git update-ref` kept no reflog of a ref under refs/agent/, so there is nothing to put
    // back: the repair deletes it (a lease is only ever held on a remote, never task state).
    let repair = findings[0]["repair"].as_str().unwrap();
    assert_eq!(repair, "git update-ref --no-deref -d refs/agent/t/lease");
    env.sh(&repo, repair);
    assert_eq!(env.git(&repo, &["for-each-ref", "refs/agent/t/lease"]), "");
    env.agent_fsck(&repo);
}

#[test]
fn hostile_remote_names_and_arguments_are_refused_with_a_clear_error() {
    let fleet = Fleet::new();
    let env = &fleet.env;
    for remote in ["--upload-pack=touch /tmp/pwned", "a b", "../x", ""] {
        for args in [
            vec!["queue", "--remote", remote],
            vec!["worker", "--once", "--remote", remote],
            vec!["push", remote],
        ] {
            let (code, out, err) = env.agent(&fleet.home, &args);
            assert!(code == 1 || code == 2, "{args:?}: {code}\n{out}{err}");
            assert!(
                err.contains("cannot be a remote name") || err.contains("error:"),
                "{args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    // A remote that does not answer: an error naming it, no hang.
    env.git(
        &fleet.home,
        &["remote", "add", "gone", "/nonexistent/remote.git"],
    );
    let (code, _, err) = env.agent(&fleet.home, &["queue", "--remote", "gone"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("could not fetch from gone"), "{err}");
    for lease in ["0s", "soon", "100d"] {
        let (code, _, err) = env.agent(&fleet.home, &["worker", "--lease", lease]);
        assert_eq!(code, 2, "{lease}: {err}");
    }
}

#[test]
fn an_attempt_on_the_remote_is_never_claimed_on_its_own() {
    let fleet = Fleet::new();
    let env = &fleet.env;
    fleet.queue("solo");
    // An attempt of some task (as `start --attempts` makes them), published with its task: it
    // has a plan of its own that says whose attempt it is.
    let name = "solo--try-1";
    env.agent_ok(
        &fleet.home,
        &["start", "--no-run", "--name", name, "an attempt"],
    );
    let commit = env.rev(&fleet.home, &format!("agent/{name}"));
    let notes = format!("refs/notes/agent/{name}");
    let plan = env.git(&fleet.home, &["notes", "--ref", &notes, "show", &commit]);
    let plan = format!(
        "{plan}\n[attempt_of]\ntask = \"solo\"\nk = 1\nn = 2\nfork = \"{commit}\"\noffset = 0\n"
    );
    env.git(
        &fleet.home,
        &["notes", "--ref", &notes, "add", "-f", "-m", &plan, &commit],
    );
    env.agent_ok(&fleet.home, &["push", "origin", name]);
    assert!(
        fleet
            .remote_refs("refs/heads/")
            .contains_key(&format!("refs/heads/agent/{name}"))
    );

    let rows = fleet.queue_rows();
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["solo"], "{rows:?}");
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let w = fleet.clone("w1", fleet.bare.to_str().unwrap());
    // Two workers' worth of claims: the task, then nothing (the attempt is not offered).
    for _ in 0..2 {
        let (code, out, err) = finish(fleet.worker(&w, &model, &["--once"]));
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(
            worker_events(&out).iter().all(|e| e["slug"] != name),
            "{out}"
        );
    }
    assert_eq!(fleet.remote_stop("solo").as_deref(), Some("done"));
    assert!(
        !fleet
            .remote_refs("refs/agent/")
            .keys()
            .any(|r| r.starts_with(&format!("refs/agent/{name}/"))),
        "the attempt got a lease"
    );
}
