//! Landing a merge on the user's checkout, as `git merge` does: files and index first (`git
//! read-tree -m -u`), then the branch by compare and swap (`git update-ref`), then `ORIG_HEAD`.
//!
//! Those are three `git` processes, each writing under its own lock file (`index.lock`,
//! `<branch>.lock`). Killed in the middle with git-agent (kill -9, power loss), they leave
//! the checkout half moved and a lock file that blocks the user's next git command. So the
//! landing is written down first, in the `landing` [`MarkedLock`] (`<branch> <old> <new>`),
//! and cleared when it is done; the next `merge` finds a dead landing's record there and
//! finishes it before anything else: the lock files made since it began go, and the checkout
//! and branch are brought to `new` — when the branch is still at `old` and every file the
//! landing changes is still as `old` or `new` has it (nothing of the user's is overwritten);
//! otherwise it says what is in the way.

use gix::ObjectId;

use super::lock::{MarkedLock, clear_lock_since};
use super::{Result, Store, StoreError};

/// The name of the lock whose record is a landing in progress.
const LANDING: &str = "landing";

/// A landing as its record says it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Landing {
    branch: String,
    old: ObjectId,
    new: ObjectId,
}

impl Landing {
    fn record(&self) -> String {
        format!("{} {} {}\n", self.branch, self.old, self.new)
    }

    fn parse(text: &str) -> Option<Landing> {
        let mut fields = text.split_whitespace();
        let branch = fields.next()?.to_string();
        let old = ObjectId::from_hex(fields.next()?.as_bytes()).ok()?;
        let new = ObjectId::from_hex(fields.next()?.as_bytes()).ok()?;
        (branch.starts_with("refs/heads/") && fields.next().is_none()).then_some(Landing {
            branch,
            old,
            new,
        })
    }
}

impl Store {
    /// Move the branch checked out in the user's checkout from `old` to `new` as `git merge`
    /// does: files and index first (`git read-tree -m -u`, a two-tree merge that refuses when
    /// local changes are in the way), then the branch by compare-and-swap (`git update-ref`,
    /// which also writes HEAD's reflog), and `ORIG_HEAD` so `git reset --hard ORIG_HEAD`
    /// undoes it. When the branch moved meanwhile, the files go back and nothing is changed.
    pub fn land_on_checkout(
        &self,
        branch: &str,
        old: ObjectId,
        new: ObjectId,
        reflog: &str,
    ) -> Result<()> {
        let mut lock = MarkedLock::take(self, LANDING)?;
        self.finish_left_over(&mut lock)?;
        let landing = Landing {
            branch: branch.to_string(),
            old,
            new,
        };
        lock.mark(&landing.record())?;
        let landed = self.land(&landing, reflog);
        // Landed, or refused with everything put back: nothing is in the middle.
        lock.clear();
        landed
    }

    fn land(&self, landing: &Landing, reflog: &str) -> Result<()> {
        let (old, new) = (landing.old.to_string(), landing.new.to_string());
        // read-tree trusts the index's stat data, which a touch or a copy of the checkout
        // makes stale though the content is clean (the caller checked it is): refresh it
        // first, as `git merge` does. What really changed is still refused by read-tree.
        let _ = self.git_output(&["update-index", "-q", "--refresh"]);
        self.git_output(&["read-tree", "-m", "-u", &old, &new])?;
        if let Err(err) =
            self.git_output(&["update-ref", "-m", reflog, &landing.branch, &new, &old])
        {
            let _ = self.git_output(&["read-tree", "-m", "-u", &new, &old]);
            return Err(err);
        }
        let _ = self.git_output(&["update-ref", "--no-deref", "ORIG_HEAD", &old]);
        Ok(())
    }

    /// The landing a killed merge left unfinished, for `fsck`: its lock file, the branch and
    /// the task its merge commit names (empty when it names none).
    pub(crate) fn killed_landing(&self) -> Option<(std::path::PathBuf, String, String)> {
        let (path, record) = MarkedLock::left_by_dead(self, LANDING)?;
        let landing = Landing::parse(&record)?;
        let task = self
            .commit_message(landing.new)
            .ok()
            .and_then(|message| {
                crate::store::format::trailers::parse_trailers(&message)
                    .get(crate::store::format::trailers::key::TASK)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        Some((path, landing.branch, task))
    }

    /// Finish the landing of a merge that was killed in the middle, if one was: what `merge`
    /// does before it looks at the checkout.
    pub fn finish_killed_landing(&self) -> Result<()> {
        let mut lock = MarkedLock::take(self, LANDING)?;
        self.finish_left_over(&mut lock)
    }

    fn finish_left_over(&self, lock: &mut MarkedLock) -> Result<()> {
        let Some((record, since)) = lock.left_over() else {
            return Ok(());
        };
        let Some(landing) = Landing::parse(&record) else {
            tracing::warn!("forgetting a landing record this version cannot read: {record}");
            lock.clear();
            return Ok(());
        };
        // Its git processes are gone (we hold the lock its writer held): their lock files are
        // stale. One older than the landing is not theirs.
        // (`update-ref` of the checked-out branch locks HEAD too, for HEAD's reflog.)
        for stale in ["index.lock", "HEAD.lock", "ORIG_HEAD.lock"] {
            clear_lock_since(&self.git_dir().join(stale), since);
        }
        clear_lock_since(
            &self.common_dir().join(format!("{}.lock", landing.branch)),
            since,
        );
        self.redo_landing(&landing)?;
        lock.clear();
        Ok(())
    }

    /// Bring the checkout and the branch of a killed landing to its `new` commit.
    fn redo_landing(&self, landing: &Landing) -> Result<()> {
        let now = self.ref_target(&landing.branch)?;
        if now == Some(landing.new) {
            // The branch moved, and read-tree had finished before it did.
            tracing::warn!(branch = %landing.branch, "a merge killed after it landed: finished");
            return Ok(());
        }
        if now != Some(landing.old) {
            tracing::warn!(branch = %landing.branch, "a killed merge's branch moved since: left as it is");
            return Ok(());
        }
        if self.current_branch()?.as_deref() != Some(landing.branch.as_str()) {
            return Err(self.landing_in_the_way(landing, "the checkout is on another branch now"));
        }
        let (old, new) = (landing.old.to_string(), landing.new.to_string());
        // Stat data the killed refresh never wrote would make clean files look changed.
        let _ = self.git_output(&["update-index", "-q", "--refresh"]);
        let changed = self.git_output(&["diff-tree", "-r", "--name-only", "-z", &old, &new])?;
        let paths: Vec<&str> = changed.split('\0').filter(|p| !p.is_empty()).collect();
        let mut not_theirs = Vec::new();
        for path in &paths {
            if !self.file_is_one_of(path, &[&old, &new])? {
                not_theirs.push(path.to_string());
            }
        }
        // And nothing else differs from `old`: the reset below rewrites the whole index.
        for cached in [false, true] {
            let mut args = vec!["diff-index", "--name-only", "-z"];
            if cached {
                args.push("--cached");
            }
            args.push(&old);
            for path in self
                .git_output(&args)?
                .split('\0')
                .filter(|p| !p.is_empty())
            {
                if !paths.contains(&path) && !not_theirs.iter().any(|p| p == path) {
                    not_theirs.push(path.to_string());
                }
            }
        }
        if !not_theirs.is_empty() {
            return Err(self.landing_in_the_way(
                landing,
                &format!("changed since: {}", not_theirs.join(", ")),
            ));
        }
        // Every file the landing touches is as one side has it: reset those to `new` (the
        // index and files of the other paths are the user's and stay), then move the branch.
        self.git_output(&["read-tree", "--reset", "-u", &new])?;
        self.git_output(&[
            "update-ref",
            "-m",
            "agent: merge (finished after a crash)",
            &landing.branch,
            &new,
            &old,
        ])?;
        let _ = self.git_output(&["update-ref", "--no-deref", "ORIG_HEAD", &old]);
        tracing::warn!(branch = %landing.branch, "a merge killed while it landed: finished");
        Ok(())
    }

    /// Whether the checkout's file at `path` is as one of `commits` has it (absent counts when
    /// the commit has no such path).
    fn file_is_one_of(&self, path: &str, commits: &[&str]) -> Result<bool> {
        let file = self.workdir()?.join(path);
        let here = match std::fs::symlink_metadata(&file) {
            Err(_) => None,
            Ok(_) => Some(
                self.git_output(&["hash-object", "--", path])?
                    .trim()
                    .to_string(),
            ),
        };
        for commit in commits {
            let spec = format!("{commit}:{path}");
            let there = self
                .git_raw(&["rev-parse", "--verify", "--quiet", &spec])?
                .stdout;
            let there = String::from_utf8_lossy(&there).trim().to_string();
            let there = (!there.is_empty()).then_some(there);
            if here == there {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn landing_in_the_way(&self, landing: &Landing, why: &str) -> StoreError {
        StoreError::Git {
            context: format!(
                "a merge into {} was killed while it moved the checkout, and cannot be finished: {why}",
                landing.branch.trim_start_matches("refs/heads/")
            ),
            source: format!(
                "the branch is still at {} and the merge commit is {}: finish it by hand (`git read-tree --reset -u {}` then `git update-ref {} {} {}`), or drop it with `rm {}`",
                landing.old,
                landing.new,
                landing.new,
                landing.branch,
                landing.new,
                landing.old,
                self.agent_dir().join(format!("{LANDING}.lock")).display()
            )
            .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landing_record_reads_back_and_nothing_else_does() {
        let landing = Landing {
            branch: "refs/heads/main".into(),
            old: ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap(),
            new: ObjectId::from_hex(b"2222222222222222222222222222222222222222").unwrap(),
        };
        assert_eq!(Landing::parse(&landing.record()), Some(landing));
        assert_eq!(Landing::parse(""), None);
        assert_eq!(Landing::parse("HEAD 11 22"), None);
        assert_eq!(
            Landing::parse("refs/heads/main 1111111111111111111111111111111111111111"),
            None
        );
    }
}
