//! The task cache (`$GIT_COMMON_DIR/agent/cache/tasks`) never changes an answer: after every
//! kind of change to a task's refs, `list` and `status` print the same with the cache warm,
//! missing, stale (an older file put back), corrupted, truncated or replaced by garbage.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;

use crate::common::{TestEnv, worktree};

const SLUGS: [&str; 2] = ["alpha", "beta"];

fn cache_file(repo: &Path) -> PathBuf {
    repo.join(".git/agent/cache/tasks")
}

/// Everything `list` and `status` say, human and JSON.
fn answers(env: &TestEnv, repo: &Path) -> String {
    let mut out = env.agent_ok(repo, &["list"]);
    out += &env.agent_ok(repo, &["--json", "list"]);
    for slug in SLUGS {
        out += &env.agent_ok(repo, &["status", slug]);
        out += &env.agent_ok(repo, &["--json", "status", slug]);
    }
    out
}

/// The answers read from git alone.
fn from_git(env: &TestEnv, repo: &Path) -> String {
    let _ = std::fs::remove_file(cache_file(repo));
    answers(env, repo)
}

/// Whatever the cache holds, the answers are git's; returns the cache as the answers left it.
fn check(env: &TestEnv, repo: &Path, older: &[String]) -> String {
    let truth = from_git(env, repo);
    assert!(cache_file(repo).exists(), "reading git writes the cache");
    assert_eq!(answers(env, repo), truth, "warm cache");
    let warm = std::fs::read_to_string(cache_file(repo)).unwrap();
    let mut versions: Vec<String> = older.to_vec();
    // Corrupted: a number changed without its checksum, a line cut short, garbage, another
    // version.
    versions.push(warm.replacen("\"checkpoints\":", "\"checkpoints\":1", 1));
    versions.push(warm.replacen("\"usage\":[", "\"usage\":[9", 2));
    versions.push(warm[..warm.len() * 2 / 3].to_string());
    versions.push("garbage\n\0\u{1}".repeat(50));
    versions.push(warm.replacen("v1", "v0", 1));
    for version in versions {
        std::fs::write(cache_file(repo), &version).unwrap();
        assert_eq!(answers(env, repo), truth, "with the cache file:\n{version}");
    }
    warm
}

fn note(env: &TestEnv, repo: &Path, slug: &str, rev: &str, text: &str) {
    env.git(
        repo,
        &[
            "notes",
            "--ref",
            &format!("agent/{slug}"),
            "add",
            "-f",
            "-m",
            text,
            rev,
        ],
    );
}

#[test]
fn a_stale_or_corrupted_cache_never_changes_an_answer() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(
        &repo,
        &["start", "--no-run", "--name", "alpha", "First goal"],
    );
    env.agent_ok(
        &repo,
        &["start", "--no-run", "--name", "beta", "Second goal"],
    );
    let mut seen = vec![check(&env, &repo, &[])];

    // Checkpoints move the branch and the notes.
    let wt = worktree(&repo, "alpha");
    for (n, text) in ["one", "two", "three"].iter().enumerate() {
        std::fs::write(wt.join("a.txt"), format!("{text}\n")).unwrap();
        env.agent_ok(&repo, &["checkpoint", "alpha", "-m", &format!("step {n}")]);
    }
    seen.push(check(&env, &repo, &seen));

    // Records with usage whose sum depends on the order of the additions, pending usage on
    // the tip and planner usage, written by hand: only the notes ref moves.
    let plan = env.git(
        &repo,
        &["notes", "--ref", "agent/alpha", "show", "agent/alpha~3"],
    );
    let mut plan: toml::Table = toml::from_str(&plan).unwrap();
    plan.insert(
        "planner_usage".into(),
        toml::from_str("turns = 2\ncost_usd = 0.3").unwrap(),
    );
    note(&env, &repo, "alpha", "agent/alpha~3", &plan.to_string());
    for (rev, cost) in [("agent/alpha~2", "0.1"), ("agent/alpha~1", "0.2")] {
        note(
            &env,
            &repo,
            "alpha",
            rev,
            &format!("checkpoint = 1\nturns = 1\ninput_tokens = 7\ncost_usd = {cost}\n"),
        );
    }
    note(
        &env,
        &repo,
        "alpha",
        "agent/alpha",
        "checkpoint = 3\n[pending]\nturns = 1\ncost_usd = 0.7\n[stop]\nreason = \"budget\"\ndetail = \"out of money\"\nhint = \"raise --max-cost\"\n",
    );
    seen.push(check(&env, &repo, &seen));

    // A rollback files the old tip in the attic and rewrites the plan; its undo moves the
    // branch back over commits whose sums the cache held before.
    env.agent_ok(&repo, &["rollback", "alpha", "--steps", "2"]);
    seen.push(check(&env, &repo, &seen));
    note(
        &env,
        &repo,
        "alpha",
        "agent/alpha",
        "checkpoint = 1\n[pending]\nturns = 4\ncost_usd = 0.05\n",
    );
    seen.push(check(&env, &repo, &seen));
    env.agent_ok(&repo, &["rollback", "alpha", "--undo"]);
    seen.push(check(&env, &repo, &seen));

    // A running task is not a cached fact: its lock says so.
    let lock = repo.join(".git/agent/locks/beta.lock");
    std::fs::write(&lock, "pid=1\nhost=elsewhere\nsince=then\n").unwrap();
    seen.push(check(&env, &repo, &seen));
    std::fs::write(&lock, "").unwrap();

    // A branch moved by hand is an error, however it was cached.
    let base = env.rev(&repo, "main");
    env.git(&repo, &["update-ref", "refs/heads/agent/beta", &base]);
    let broken = |env: &TestEnv| {
        let mut out = env.agent_ok(&repo, &["list"]);
        out += &env.agent_ok(&repo, &["--json", "list"]);
        out += &format!("{:?}", env.agent(&repo, &["status", "beta"]));
        out
    };
    let _ = std::fs::remove_file(cache_file(&repo));
    let truth = broken(&env);
    assert!(truth.contains("was moved by hand"), "{truth}");
    for version in &seen {
        std::fs::write(cache_file(&repo), version).unwrap();
        assert_eq!(broken(&env), truth);
    }
}

#[test]
fn the_cache_is_read_when_its_key_matches() {
    // Proof that the warm path above reads the cache at all: an entry rewritten with a valid
    // checksum is believed. (The cache sits beside the refs, under the same protection; a
    // sandboxed command cannot write there.)
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.agent_ok(
        &repo,
        &["start", "--no-run", "--name", "alpha", "First goal"],
    );
    env.agent_ok(&repo, &["list"]);
    let text = std::fs::read_to_string(cache_file(&repo)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (slug, rest) = lines[1].split_once(' ').unwrap();
    let (_, json) = rest.split_once(' ').unwrap();
    let json = json.replace("\"goal\":\"First goal\"", "\"goal\":\"From the cache\"");
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    hasher.update(json.as_bytes());
    let sum = hasher.try_finalize().unwrap();
    lines[1] = format!("{slug} {sum} {json}");
    std::fs::write(cache_file(&repo), lines.join("\n") + "\n").unwrap();
    assert!(env.agent_ok(&repo, &["list"]).contains("From the cache"));
}
