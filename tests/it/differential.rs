//! The differential suite: random repositories and random edits, checkpointed by git-agent
//! and staged by git itself on a twin, must give the same tree; a rollback must leave a
//! worktree that `git status` calls clean.
//!
//! The repositories have what real ones have: `.gitattributes` (`text`, `eol=crlf`, `-text`,
//! `binary`, `text=auto`), a clean/smudge filter driver standing in for git-lfs (content
//! becomes a pointer), `core.excludesFile`, `info/exclude`, nested `.gitignore` files with
//! negations, files tracked although ignored, links, type changes, odd names, generated output
//! (`__pycache__/`, `node_modules/`, `*.pyc`; git's side gets the same list as the lowest exclude
//! file, and a repository's negations re-include on both sides). The twin is a
//! `git worktree add` of the same commit, so both sides start from a checkout made through
//! the same filters. The edits include git commands typed in the worktree (`git add`,
//! `git add -f`, `git rm --cached`), which change the index under the checkpoint. Before the edit, every file of both sides gets one old mtime: either
//! both indexes are refreshed (stat data matches, nothing is rehashed, even after an edit of
//! `.gitattributes`), or neither is (everything is rehashed with the new attributes). Git
//! itself leaves the case in between to chance: a racily clean file is rehashed and others
//! are not.
//!
//! `GIT_AGENT_DIFF_CASES=N` runs N cases (CI runs 300), `GIT_AGENT_DIFF_SEED=S` starts at
//! seed S. A failure prints the seed and a shell script that rebuilds the case by hand.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use gix::bstr::BString;

use git_agent::store::{
    Changes, CheckpointInput, CheckpointRecord, Store, TestsSummary, TestsVerdict, Watch,
};

use crate::common::{TestEnv, worktree};

/// A random case: a script that builds the base repository's files, and one that edits them.
struct Case {
    base: String,
    edit: String,
    /// Extra lines for `.git/info/exclude`.
    exclude: String,
    /// Lines of the file named by `core.excludesFile`, when it is set.
    excludes_file: Option<String>,
    /// Ignored files committed anyway (`git add -f`).
    forced: Vec<String>,
    /// Whether both indexes are refreshed before the edit.
    refresh: bool,
}

/// The filter driver standing in for git-lfs: content becomes a pointer (its hash and size);
/// a pointer stays as it is, so a checkout (smudge: `cat`) followed by a clean changes nothing.
const LFS_LIKE: &str = r#"#!/bin/sh
f=$(mktemp) || exit 1
cat > "$f"
if [ "$(head -c 17 "$f")" = "version lfs-like " ]; then
  cat "$f"
else
  printf 'version lfs-like 1\noid sha256:%s\nsize %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(wc -c < "$f" | tr -d ' ')"
fi
rm -f "$f"
"#;

const NAMES: &[&str] = &[
    "a.txt",
    "b.rs",
    "c",
    "with space.txt",
    "ünïcödé.md",
    "-leading-dash",
    "x.log",
    "y.bin",
    "z.tmp",
    "keep.log",
    "README",
    "data.dat",
    "CRLF.txt",
    "mixed.md",
    "m.pyc",
];
const DIRS: &[&str] = &[
    "",
    "src/",
    "src/deep/",
    "docs/",
    "build/",
    "odd dir/",
    "ünï/",
    "__pycache__/",
    "src/node_modules/",
];

fn pick<'a>(rng: &mut fastrand::Rng, items: &'a [&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

fn path(rng: &mut fastrand::Rng) -> String {
    format!("{}{}", pick(rng, DIRS), pick(rng, NAMES))
}

/// Shell-quote for `sh`.
fn q(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn content(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..6) {
        0 => String::new(),
        1 => "line one\\r\\nline two\\r\\n".to_string(),
        2 => "mixed\\r\\nendings\\n".to_string(),
        3 => "\\000\\001binary\\377".to_string(),
        4 => format!("no newline {}", rng.u32(..)),
        _ => format!("text {}\\n", rng.u32(..)),
    }
}

fn write(rng: &mut fastrand::Rng, out: &mut String) {
    let p = path(rng);
    let dir = Path::new(&p)
        .parent()
        .map(|d| d.to_string_lossy().into_owned());
    if let Some(d) = dir.filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "mkdir -p {} 2>/dev/null", q(&d));
    }
    let _ = writeln!(out, "printf '{}' > {} 2>/dev/null", content(rng), q(&p));
}

/// One random operation; `typed_git` adds git commands a person types in the worktree, which
/// change the index under the checkpoint (`git add`, `git add -f`, `git rm --cached`).
fn edit_op(rng: &mut fastrand::Rng, out: &mut String, attributes: bool, typed_git: bool) {
    match rng.u8(..if typed_git { 22 } else { 19 }) {
        19 => {
            let _ = writeln!(out, "git add {} 2>/dev/null", q(&path(rng)));
        }
        20 => {
            let _ = writeln!(out, "git add -f {} 2>/dev/null", q(&path(rng)));
        }
        21 => {
            let _ = writeln!(out, "git rm -q -r --cached {} 2>/dev/null", q(&path(rng)));
        }
        0..=3 => write(rng, out),
        14 => {
            // A file tracked although ignored, maybe in an ignored directory.
            let dir = if rng.bool() { "build/" } else { "" };
            let _ = writeln!(
                out,
                "printf '{}' >> {dir}forced{}.tmp 2>/dev/null",
                content(rng),
                rng.u8(..4)
            );
        }
        15 => {
            // A file moved over another.
            let _ = writeln!(out, "mv -f {} {} 2>/dev/null", q(&path(rng)), q(&path(rng)));
        }
        16 => {
            // A second name for a file.
            let _ = writeln!(out, "ln -f {} {} 2>/dev/null", q(&path(rng)), q(&path(rng)));
        }
        17 => {
            // A directory replaced by a link to another.
            let (d, other) = (pick(rng, DIRS), pick(rng, DIRS));
            if !d.is_empty() && !other.is_empty() {
                let _ = writeln!(
                    out,
                    "rm -rf {d} && ln -s {} {}",
                    q(&format!("../{}", other.trim_end_matches('/'))),
                    q(d.trim_end_matches('/')),
                    d = q(d)
                );
            }
        }
        18 => {
            let _ = writeln!(out, "touch {} 2>/dev/null", q(&path(rng)));
        }
        4 => {
            let _ = writeln!(out, "rm -f {}", q(&path(rng)));
        }
        5 => {
            let _ = writeln!(out, "chmod +x {} 2>/dev/null", q(&path(rng)));
        }
        6 => {
            let _ = writeln!(out, "chmod -x {} 2>/dev/null", q(&path(rng)));
        }
        7 => {
            // A link: dangling, to a file, to a directory.
            let target = match rng.u8(..3) {
                0 => "nowhere".to_string(),
                1 => pick(rng, NAMES).to_string(),
                _ => "src".to_string(),
            };
            let _ = writeln!(
                out,
                "rm -rf {p}; ln -s {} {p} 2>/dev/null",
                q(&target),
                p = q(&path(rng))
            );
        }
        8 => {
            // A type change: a file becomes a directory, or a directory goes.
            let p = path(rng);
            let _ = writeln!(
                out,
                "rm -rf {p} && mkdir -p {p} && printf 'in\\n' > {p}/inner",
                p = q(&p)
            );
        }
        9 => {
            let d = pick(rng, DIRS);
            if !d.is_empty() {
                let _ = writeln!(out, "rm -rf {}", q(d));
            }
        }
        10 => {
            // Nested ignore files, negations included.
            let d = pick(rng, DIRS);
            let rules = [
                "*.log",
                "!keep.log",
                "build/",
                "*.tmp",
                "/c",
                "deep/",
                "!src/deep/",
                "!m.pyc",
                "!__pycache__/",
            ];
            let rule = rules[rng.usize(..rules.len())];
            let _ = writeln!(
                out,
                "mkdir -p {d} 2>/dev/null; printf '%s\\n' {} >> {d}.gitignore 2>/dev/null",
                q(rule),
                d = if d.is_empty() { String::new() } else { q(d) }
            );
        }
        11 if attributes => {
            let rules = [
                "*.txt text",
                "*.md eol=crlf",
                "*.bin -text",
                "*.dat binary",
                "* text=auto",
                "CRLF.txt -text",
                "*.dat filter=lfs-like",
                "y.bin filter=lfs-like -text",
                "*.rs ident",
            ];
            let _ = writeln!(
                out,
                "printf '%s\\n' {} >> .gitattributes",
                q(rules[rng.usize(..rules.len())])
            );
        }
        _ => write(rng, out),
    }
}

fn generate(seed: u64, attributes: bool) -> Case {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut base = String::new();
    for _ in 0..rng.usize(3..12) {
        edit_op(&mut rng, &mut base, attributes, false);
    }
    let mut forced = Vec::new();
    if rng.u8(..3) == 0 {
        // Tracked although ignored: committed with `git add -f`, then ignored (the file, or
        // the directory that holds it).
        let dir = if rng.bool() { "build/" } else { "" };
        let name = format!("{dir}forced{}.tmp", rng.u8(..4));
        let _ = writeln!(base, "mkdir -p build; printf 'forced\\n' > {name}");
        forced.push(name);
    }
    // Tracked-but-ignored files also come from ignore rules the edit adds.
    let mut edit = String::new();
    for _ in 0..rng.usize(1..10) {
        edit_op(&mut rng, &mut edit, attributes, true);
    }
    let exclude = if rng.bool() {
        "*.tmp\n".to_string()
    } else {
        String::new()
    };
    let excludes_file = match rng.u8(..4) {
        0 => Some("*.bin\n".to_string()),
        1 => Some("docs/\n!docs/a.txt\n".to_string()),
        _ => None,
    };
    Case {
        base,
        edit,
        exclude,
        excludes_file,
        forced,
        refresh: rng.bool(),
    }
}

/// Gives every file under `dir` (not `.git`) one old mtime, then refreshes the index or not.
fn age_script(refresh: bool) -> String {
    format!(
        "find . -path ./.git -prune -o -exec touch -h -d @1600000000 {{}} + 2>/dev/null{}",
        if refresh {
            "; git update-index -q --refresh >/dev/null 2>&1"
        } else {
            ""
        }
    )
}

fn sh(env: &TestEnv, dir: &Path, script: &str) {
    let out = env.sh_cmd(dir, script).output().unwrap();
    let _ = out; // edits may fail (a path that is now a file): the same on both sides
}

fn sh_ok(env: &TestEnv, dir: &Path, script: &str) -> String {
    let out = env.sh_cmd(dir, script).output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repository's setup after its files are written: exclude rules, the filter driver,
/// the commit.
fn setup_script(case: &Case, root: &Path) -> String {
    let mut script = format!(
        "printf '%s' {} >> .git/info/exclude\n\
         git config filter.lfs-like.clean {}\n\
         git config filter.lfs-like.smudge cat\n\
         git config filter.lfs-like.required true\n",
        q(&case.exclude),
        q(&format!("sh {}", root.join("lfs-like.sh").display())),
    );
    if let Some(lines) = &case.excludes_file {
        let file = root.join("excludes");
        let _ = writeln!(
            script,
            "printf '%s' {} > {}\ngit config core.excludesFile {}",
            q(lines),
            q(&file.display().to_string()),
            q(&file.display().to_string())
        );
    }
    script.push_str("git add -A\n");
    for forced in &case.forced {
        let rule = if forced.starts_with("build/") {
            "build/"
        } else {
            forced.as_str()
        };
        let _ = writeln!(
            script,
            "git add -f {f}\nprintf '%s\\n' {r} >> .gitignore\ngit add .gitignore",
            f = q(forced),
            r = q(rule)
        );
    }
    script.push_str("git commit -qm base --allow-empty\n");
    script
}

/// `git add -A` on the twin with the generated-output list as git-agent applies it: an
/// exclude file below `core.excludesFile` (its lines first, so the repository's own win).
fn twin_add(root: &Path, case: &Case) -> String {
    let file = root.join("generated-excludes");
    let mut text = git_agent::walk::generated::Generated::built_in().exclude_text();
    text.push_str(case.excludes_file.as_deref().unwrap_or_default());
    let file = q(&file.display().to_string());
    format!(
        "printf '%s' {} > {file} && git -c core.excludesFile={file} add -A && git write-tree",
        q(&text)
    )
}

fn repro(seed: u64, case: &Case) -> String {
    let root = Path::new("/tmp/diff-case");
    format!(
        "# seed {seed}\nset -x\nrm -rf /tmp/diff-case && mkdir -p /tmp/diff-case/repo && cd /tmp/diff-case/repo\n\
         cat > ../lfs-like.sh <<'EOF'\n{LFS_LIKE}EOF\ngit init -q\n{}\n{}\n\
         git agent start --no-run --name t goal\ngit worktree add -q --detach ../twin HEAD\n\
         cd .git/agent/worktrees/t\n{age}\n{}\ngit agent checkpoint t -m edit --allow-secrets && git rev-parse 'agent/t^{{tree}}'\n\
         cd /tmp/diff-case/twin\n{age}\n{}\n# the excludes file of twin_add(): the generated list, then core.excludesFile\n\
         {}\n",
        case.base,
        setup_script(case, root),
        case.edit,
        case.edit,
        twin_add(root, case),
        age = age_script(case.refresh),
    )
}

/// How the checkpoint of a case finds what changed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// `git agent checkpoint`: the stat walk over the whole worktree.
    Walk,
    /// As a run does it: a watch armed before the edit names the paths the checkpoint
    /// looks at (in-process, through the library; `Unknown` falls back to the walk).
    Watched,
    /// `git agent checkpoint` with `agent.fsmonitor` on: the task's monitor, started by
    /// `start`, names the paths changed since the mark recorded before the edit.
    Monitored,
}

/// A checkpoint of task `t` made through the library, as a run makes it: `scope` names the
/// paths a watch saw change (`None`: the walk).
pub(crate) fn library_checkpoint(
    repo: &Path,
    wt: &Path,
    scope: Option<&BTreeSet<BString>>,
) -> Result<(), String> {
    let store = Store::discover(repo).map_err(|e| e.to_string())?;
    let task = store.task("t").map_err(|e| e.to_string())?;
    store
        .checkpoint(
            &task,
            wt,
            CheckpointInput {
                summary: "edit",
                body: "",
                step: 1,
                steps: 1,
                expected: "x",
                tests: TestsSummary {
                    verdict: TestsVerdict::NotRun,
                    command: String::new(),
                    summary: String::new(),
                },
                risks: "none",
                next: "none",
                model: "test",
                record: CheckpointRecord::default(),
                co_author: None,
                secret_allow: None,
                scope,
                merge_parent: None,
            },
        )
        .map_err(|e| format!("checkpoint failed: {e}"))?;
    Ok(())
}

/// The checkpoint of the edit, as a run makes it: through the watch armed before the edit.
/// Whether the watch named the paths (`false`: it asked for the walk).
fn watched_checkpoint(repo: &Path, wt: &Path, watch: &mut Watch) -> Result<bool, String> {
    let changes = watch.changes();
    let scope = match &changes {
        Changes::Paths(paths) => Some(paths),
        Changes::Unknown(_) => None,
    };
    library_checkpoint(repo, wt, scope)?;
    Ok(scope.is_some())
}

/// How the tree `theirs` (of git, in `twin`) and `ours` (of git-agent, in `repo`) differ:
/// the lines of `git ls-tree -r` that only one side has.
pub(crate) fn tree_difference(
    env: &TestEnv,
    twin: &Path,
    theirs: &str,
    repo: &Path,
    ours: &str,
) -> String {
    let listing = |dir: &Path, tree: &str| -> Vec<String> {
        env.git(dir, &["ls-tree", "-r", tree.trim()])
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let git_side = listing(twin, theirs);
    let agent_side = listing(repo, ours);
    let mut diff = String::new();
    for line in git_side.iter().filter(|l| !agent_side.contains(l)) {
        let _ = writeln!(diff, "  git only:       {line}");
    }
    for line in agent_side.iter().filter(|l| !git_side.contains(l)) {
        let _ = writeln!(diff, "  git-agent only: {line}");
    }
    diff
}

/// Runs one case; `Err` holds what differed, `Ok` whether a watch named the paths.
fn run_case(env: &TestEnv, seed: u64, attributes: bool, mode: Mode) -> Result<bool, String> {
    let case = generate(seed, attributes);
    let root = env.root.path().join(format!("case-{seed}"));
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(root.join("lfs-like.sh"), LFS_LIKE).unwrap();
    sh(
        env,
        &repo,
        &format!("git init -q --template=\n{}", case.base),
    );
    sh_ok(env, &repo, &setup_script(&case, &root));
    let out = env
        .agent_cmd(&repo, &["start", "--no-run", "--name", "t", "goal"])
        .env(
            "GIT_AGENT_FSMONITOR",
            matches!(mode, Mode::Monitored).to_string(),
        )
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let wt = worktree(&repo, "t");
    let twin = root.join("twin");
    // The twin is checked out by git, the task's worktree by git-agent: both through the
    // same smudge filters.
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            twin.to_str().unwrap(),
            "HEAD",
        ],
    );
    let age = age_script(case.refresh);
    sh(env, &twin, &format!("{age}\n{}", case.edit));
    let scoped = match mode {
        Mode::Walk => {
            sh(env, &wt, &format!("{age}\n{}", case.edit));
            let (code, _, err) =
                env.agent(&repo, &["checkpoint", "t", "-m", "edit", "--allow-secrets"]);
            if code != 0 {
                return Err(format!("checkpoint failed: {err}"));
            }
            false
        }
        Mode::Watched => {
            sh(env, &wt, &age);
            let store = Store::discover(&repo).map_err(|e| e.to_string())?;
            let mut watch = store.watch(&wt).map_err(|why| format!("no watch: {why}"))?;
            sh(env, &wt, &case.edit);
            watched_checkpoint(&repo, &wt, &mut watch)?
        }
        Mode::Monitored => {
            sh(env, &wt, &age);
            // The worktree holds the tip's content (only its mtimes changed): what a
            // checkpoint that just landed would record as its mark.
            let store = Store::discover(&repo).map_err(|e| e.to_string())?;
            let (_, mark) = store
                .fsmonitor_changes(&wt)
                .ok_or("the monitor `start` started does not answer")?;
            store.fsmonitor_record(&wt, &mark);
            sh(env, &wt, &case.edit);
            // Asking does not change the monitor: this is what the checkpoint will hear.
            let scoped = matches!(store.fsmonitor_changes(&wt), Some((Changes::Paths(_), _)));
            let out = env
                .agent_cmd(&repo, &["checkpoint", "t", "-m", "edit", "--allow-secrets"])
                .env("GIT_AGENT_FSMONITOR", "true")
                .output()
                .unwrap();
            if !out.status.success() {
                return Err(format!(
                    "checkpoint failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            scoped
        }
    };
    let ours = env.git(&repo, &["rev-parse", "agent/t^{tree}"]);
    let theirs = sh_ok(env, &twin, &twin_add(&root, &case));
    if ours != theirs {
        let diff = tree_difference(env, &twin, &theirs, &repo, &ours);
        return Err(format!("trees differ:\n{diff}"));
    }
    let (code, _, err) = env.agent(&repo, &["rollback", "t", "--steps", "1"]);
    if code != 0 {
        return Err(format!("rollback failed: {err}"));
    }
    let status = env.git(&wt, &["status", "--porcelain", "--untracked-files=all"]);
    // What the edit left untracked-and-unignored was kept in the attic and stays; a clean
    // rollback leaves nothing tracked modified.
    let dirty: Vec<&str> = status.lines().filter(|l| !l.starts_with("??")).collect();
    if !dirty.is_empty() {
        return Err(format!(
            "worktree not clean after rollback:\n{}",
            dirty.join("\n")
        ));
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(scoped)
}

fn cases() -> (u64, u64) {
    let n = std::env::var("GIT_AGENT_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed = std::env::var("GIT_AGENT_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    (seed, n)
}

fn run_all(attributes: bool, mode: Mode) {
    let env = TestEnv::in_memory();
    let (first, n) = cases();
    // Cases are independent: two threads (the machine's cores) share the seeds.
    let threads = std::thread::available_parallelism().map_or(2, |c| c.get().clamp(1, 4)) as u64;
    let failures = std::sync::Mutex::new(Vec::new());
    let scoped = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (env, failures, scoped) = (&env, &failures, &scoped);
            scope.spawn(move || {
                for seed in (first + t..first + n).step_by(threads as usize) {
                    if failures.lock().unwrap().len() >= 3 {
                        return;
                    }
                    let outcome = run_case(env, seed, attributes, mode);
                    if outcome == Ok(true) {
                        scoped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Err(why) = outcome {
                        failures.lock().unwrap().push(format!(
                            "seed {seed} ({mode:?}): {why}\n--- reproduce:\n{}",
                            repro(seed, &generate(seed, attributes))
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    if let Mode::Watched | Mode::Monitored = mode {
        // An edit of an ignore or attributes file makes the watch ask for the walk; the
        // other cases must have been checkpointed from the watch's paths, or this suite
        // would only test the walk again.
        let scoped = scoped.into_inner();
        eprintln!("{scoped} of {n} cases checkpointed from the watch's paths");
        assert!(
            scoped * 3 >= n,
            "only {scoped} of {n} cases used the watch's paths"
        );
    }
}

#[test]
fn checkpoints_equal_git_add_on_random_repositories() {
    run_all(true, Mode::Walk);
}

#[test]
fn watched_checkpoints_equal_git_add_on_random_repositories() {
    run_all(true, Mode::Watched);
}

#[test]
fn monitored_checkpoints_equal_git_add_on_random_repositories() {
    run_all(true, Mode::Monitored);
}
