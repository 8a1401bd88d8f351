//! A task starts where the user is: their uncommitted work (tracked changes, and untracked
//! files that are not ignored) becomes the task's first checkpoint, made the way
//! `git stash create` makes a commit — the user's index, files and stash are never touched.
//!
//! The user's own checkout is trusted, so git itself stages it, with every filter and
//! attribute applied as `git add -A` applies them: on a copy of the user's index, in a temp
//! directory under `$GIT_COMMON_DIR/agent/`, with new objects written to a temp object
//! directory beside it (the repository's objects are an alternate). The secret scan then
//! reads every carried blob; only when it finds nothing do the new objects move into the
//! repository. A refused start leaves nothing behind: a secret in the user's files never
//! becomes an object of the repository, not even an unreachable one.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use gix::ObjectId;

use crate::policy::{SecretAllowList, StreamScan};
use crate::store::{Result, Store, StoreError};

/// The working state carried into a new task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub tree: ObjectId,
    /// `(status, path)`: `A`dded, `M`odified, `D`eleted, `T`ype changed.
    pub changes: Vec<(char, String)>,
}

/// The temp index and object directory of one capture, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Store {
    /// The user's working state as a tree on top of HEAD, scanned for secrets; `None` when
    /// the checkout has nothing uncommitted (ignored files do not count).
    pub fn capture_working_state(&self, allow: &SecretAllowList) -> Result<Option<Carried>> {
        let base_tree = self.tree_of(self.head_commit_id()?)?;
        // `git add -A` would stage conflict markers as resolutions; `git stash` refuses too.
        if let Ok(index) = self.repo.open_index() {
            let unmerged: Vec<String> = index
                .entries()
                .iter()
                .filter(|e| e.stage_raw() != 0)
                .map(|e| e.path(&index).to_string())
                .collect();
            if !unmerged.is_empty() {
                let mut names: Vec<String> = unmerged.into_iter().take(5).collect();
                names.dedup();
                return Err(StoreError::Unmerged(names.join(", ")));
            }
        }
        let scratch_dir = self.agent_dir().join(format!(
            "carry-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let objects = scratch_dir.join("objects");
        std::fs::create_dir_all(&objects).map_err(StoreError::io("could not create", &objects))?;
        let scratch = Scratch { dir: scratch_dir };
        let index = scratch.dir.join("index");
        let user_index = self.repo.index_path();
        if user_index.exists() {
            std::fs::copy(&user_index, &index)
                .map_err(StoreError::io("could not copy the index", &user_index))?;
        }
        let real_objects = self.common_dir().join("objects");
        let env = [
            ("GIT_INDEX_FILE", index.as_os_str()),
            ("GIT_OBJECT_DIRECTORY", objects.as_os_str()),
            ("GIT_ALTERNATE_OBJECT_DIRECTORIES", real_objects.as_os_str()),
        ];
        let excludes = self.carry_excludes(&scratch.dir)?;
        let excludes = format!("core.excludesFile={}", excludes.display());
        self.git_in_checkout(&["-c", &excludes, "add", "-A"], &env)?;
        let tree = self.git_in_checkout(&["write-tree"], &env)?;
        let tree = ObjectId::from_hex(tree.trim().as_bytes()).map_err(|err| StoreError::Git {
            context: "git write-tree gave no tree id".into(),
            source: err.into(),
        })?;
        if tree == base_tree {
            return Ok(None);
        }
        let diff = self.git_in_checkout(
            &[
                "diff-tree",
                "-r",
                "-z",
                "--no-renames",
                &base_tree.to_string(),
                &tree.to_string(),
            ],
            &env,
        )?;
        let entries = parse_raw_diff(&diff);
        let findings = self.scan_blobs(&entries, allow, &env)?;
        if !findings.is_empty() {
            return Err(StoreError::CarriedSecrets { findings });
        }
        move_objects(&objects, &real_objects)?;
        drop(scratch);
        Ok(Some(Carried {
            tree,
            changes: entries.into_iter().map(|e| (e.status, e.path)).collect(),
        }))
    }

    /// An exclude file in `dir` for the carry's `git add -A`: the generated-output list,
    /// then the user's own `core.excludesFile`, which it stands in for (the later lines win, so
    /// the list stays the lowest precedence, as in a task worktree). A `beside` entry becomes a
    /// line per tracked manifest: git cannot be told about the others.
    fn carry_excludes(&self, dir: &Path) -> Result<PathBuf> {
        let generated = self.generated();
        let mut text = generated.exclude_text().into_bytes();
        if let Ok(index) = self.repo.open_index() {
            let manifests: Vec<&gix::bstr::BStr> = index
                .entries()
                .iter()
                .map(|e| e.path(&index))
                .filter(|p| generated.manifests().any(|m| p.ends_with(m.as_bytes())))
                .collect();
            text.extend_from_slice(generated.anchored(manifests.into_iter()).as_bytes());
        }
        let workdir = self.workdir()?.to_path_buf();
        if let Some(own) = super::paths::excludes_file(&self.repo, &workdir)
            && let Ok(own) = std::fs::read(&own)
        {
            text.push(b'\n');
            text.extend_from_slice(&own);
        }
        let path = dir.join("exclude");
        std::fs::write(&path, text).map_err(StoreError::io("could not write", &path))?;
        Ok(path)
    }

    /// git in the user's own checkout (trusted), with `env` added; stdin is closed, so git
    /// never waits on a prompt there.
    pub(crate) fn git_in_checkout(
        &self,
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<String> {
        let output = self
            .git()?
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .map_err(|err| StoreError::GitCommand {
                args: args.join(" "),
                detail: err.to_string(),
            })?;
        if !output.status.success() {
            // Some commands (`git merge` on a conflict) say why on stdout: never an empty error.
            return Err(StoreError::GitCommand {
                args: args.join(" "),
                detail: crate::git_command::output_detail(&output),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The secret scan of every added or changed blob (and every path), each streamed from
    /// one `git cat-file --batch`.
    fn scan_blobs(
        &self,
        entries: &[RawEntry],
        allow: &SecretAllowList,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<Vec<String>> {
        let failed = |detail: String| StoreError::GitCommand {
            args: "cat-file --batch".into(),
            detail,
        };
        let blobs: Vec<&RawEntry> = entries
            .iter()
            .filter(|e| e.status != 'D' && e.new_mode != "160000")
            .collect();
        let mut findings = Vec::new();
        if blobs.is_empty() {
            return Ok(findings);
        }
        let mut child = self
            .git()?
            .args(["cat-file", "--batch"])
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| failed(err.to_string()))?;
        let ids: String = blobs.iter().map(|e| format!("{}\n", e.new_id)).collect();
        // Written from a thread: git answers while it reads, and both pipes are bounded.
        let stdin = child.stdin.take();
        let feeder = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(ids.as_bytes());
            }
        });
        let scanned = (|| {
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| failed("no output".into()))?;
            let mut out = BufReader::new(stdout);
            for entry in &blobs {
                let mut header = String::new();
                out.read_line(&mut header)
                    .map_err(|err| failed(err.to_string()))?;
                let size: u64 = header
                    .split_whitespace()
                    .nth(2)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| failed(format!("unexpected answer `{}`", header.trim_end())))?;
                let mut scan = StreamScan::new(&entry.path, allow);
                let mut content = (&mut out).take(size);
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = content
                        .read(&mut buf)
                        .map_err(|err| failed(err.to_string()))?;
                    if n == 0 {
                        break;
                    }
                    scan.feed(&buf[..n]);
                }
                let mut newline = [0u8; 1];
                out.read_exact(&mut newline)
                    .map_err(|err| failed(err.to_string()))?;
                findings.extend(scan.finish().iter().map(ToString::to_string));
            }
            Ok(())
        })();
        let _ = child.kill();
        let _ = child.wait();
        let _ = feeder.join();
        scanned.map(|()| findings)
    }
}

/// One line of `git diff-tree -r -z` (raw format).
#[derive(Debug, PartialEq, Eq)]
struct RawEntry {
    new_mode: String,
    new_id: String,
    status: char,
    path: String,
}

/// `:100644 100644 <old> <new> M\0path\0…`
fn parse_raw_diff(raw: &str) -> Vec<RawEntry> {
    let mut fields = raw.split('\0').filter(|f| !f.is_empty());
    let mut entries = Vec::new();
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if parts.len() < 5 {
            continue;
        }
        entries.push(RawEntry {
            new_mode: parts[1].to_string(),
            new_id: parts[3].to_string(),
            status: parts[4].chars().next().unwrap_or('M'),
            path: path.to_string(),
        });
    }
    entries
}

/// Move every file of the temp object directory into the repository's, packs before their
/// indexes (git finds a pack by its index). What exists already stays.
fn move_objects(from: &Path, to: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect_files(from, &mut files)?;
    files.sort_by_key(|f| f.extension().is_some_and(|e| e == "idx"));
    for file in files {
        let Ok(rel) = file.strip_prefix(from) else {
            continue;
        };
        let target = to.join(rel);
        if target.exists() {
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(StoreError::io("could not create", parent))?;
        }
        if std::fs::rename(&file, &target).is_err() {
            std::fs::copy(&file, &target).map_err(StoreError::io("could not copy", &file))?;
        }
    }
    Ok(())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(StoreError::io("could not read", dir))?;
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(&path, out)?,
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_diff_lines_are_read() {
        let raw = ":100644 100644 aaa bbb M\0src/a b.rs\0:000000 120000 000 ccc A\0l\0";
        let entries = parse_raw_diff(raw);
        assert_eq!(
            entries,
            vec![
                RawEntry {
                    new_mode: "100644".into(),
                    new_id: "bbb".into(),
                    status: 'M',
                    path: "src/a b.rs".into()
                },
                RawEntry {
                    new_mode: "120000".into(),
                    new_id: "ccc".into(),
                    status: 'A',
                    path: "l".into()
                },
            ]
        );
    }
}
