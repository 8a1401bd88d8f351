//! A cache of what each task's refs say, so `list` and `status` read ref tips, not histories.
//!
//! Git stays the truth. What the cache holds about a task (its task commit, checkpoint count,
//! step, last tests, stop record, summed usage …) is a function of three things only: the
//! branch tip, the notes commit and the attic tips. Objects never change, so an entry keyed
//! by the ids of now is exactly what reading git would give, and an entry keyed by any other
//! ids is ignored and recomputed. What depends on anything else — whether a run holds the
//! task's lock — is never cached.
//!
//! The file is `$GIT_COMMON_DIR/agent/cache/tasks`: a version line, then one line per task,
//! `<slug> <sha1 of the JSON> <JSON>`. A line whose checksum does not match (a torn write, a
//! flipped bit, an edit by hand) is ignored like a stale one; a file of another version is
//! ignored whole. It is replaced by rename, so readers see the old file or the new one; when
//! two processes write at once, the last one wins and the other's entries are recomputed
//! later. A missing, unreadable or unwritable cache costs time, never an answer.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::record::{StopRecord, Usage};

const VERSION_LINE: &str = "# git-agent task cache v1";

/// The ids a task's facts are derived from: its cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tips {
    pub tip: ObjectId,
    pub notes: Option<ObjectId>,
    /// `(n, commit)` of every `refs/agent/<slug>/attic/<n>`, by `n`.
    pub attic: Vec<(u32, ObjectId)>,
}

/// Where a task starts: read from its task commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub task_commit: ObjectId,
    pub base: ObjectId,
    pub goal: String,
}

/// Everything `list` and `status` show of a task that git alone decides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Facts {
    pub tips: Tips,
    pub anchor: Anchor,
    /// Committer time of the tip: which task was active last.
    pub tip_time: i64,
    pub checkpoints: usize,
    pub step: (u32, u32),
    pub last_tests: Option<String>,
    /// The task's budget: every record, planning, attic and pending usage summed.
    pub usage: Usage,
    pub stop: Option<StopRecord>,
    pub merged: bool,
    /// The plan's status is `planning`.
    pub planning: bool,
    pub attempts: usize,
}

/// A line of the file. Ids are hex; the usage is kept as integers, the cost as the bits of
/// its `f64`, so a cached sum is the computed sum to the last bit.
#[derive(Serialize, Deserialize)]
struct Entry {
    tip: String,
    notes: Option<String>,
    attic: Vec<(u32, String)>,
    task_commit: String,
    base: String,
    goal: String,
    tip_time: i64,
    checkpoints: usize,
    step: (u32, u32),
    last_tests: Option<String>,
    usage: [u64; 9],
    stop: Option<StopRecord>,
    merged: bool,
    planning: bool,
    attempts: usize,
}

fn usage_bits(u: &Usage) -> [u64; 9] {
    [
        u.turns,
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        u.cost_usd.to_bits(),
        u.wall_ms,
        u.tool_calls,
        u.estimated_turns,
    ]
}

fn usage_of(b: [u64; 9]) -> Usage {
    Usage {
        turns: b[0],
        input_tokens: b[1],
        output_tokens: b[2],
        cache_read_tokens: b[3],
        cache_write_tokens: b[4],
        cost_usd: f64::from_bits(b[5]),
        wall_ms: b[6],
        tool_calls: b[7],
        estimated_turns: b[8],
    }
}

fn id(hex: &str) -> Option<ObjectId> {
    ObjectId::from_hex(hex.as_bytes()).ok()
}

impl Entry {
    fn of(facts: &Facts) -> Entry {
        Entry {
            tip: facts.tips.tip.to_string(),
            notes: facts.tips.notes.map(|n| n.to_string()),
            attic: facts
                .tips
                .attic
                .iter()
                .map(|(n, c)| (*n, c.to_string()))
                .collect(),
            task_commit: facts.anchor.task_commit.to_string(),
            base: facts.anchor.base.to_string(),
            goal: facts.anchor.goal.clone(),
            tip_time: facts.tip_time,
            checkpoints: facts.checkpoints,
            step: facts.step,
            last_tests: facts.last_tests.clone(),
            usage: usage_bits(&facts.usage),
            stop: facts.stop.clone(),
            merged: facts.merged,
            planning: facts.planning,
            attempts: facts.attempts,
        }
    }

    fn facts(self) -> Option<Facts> {
        let notes = match self.notes {
            Some(hex) => Some(id(&hex)?),
            None => None,
        };
        let attic = self
            .attic
            .into_iter()
            .map(|(n, hex)| Some((n, id(&hex)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Facts {
            tips: Tips {
                tip: id(&self.tip)?,
                notes,
                attic,
            },
            anchor: Anchor {
                task_commit: id(&self.task_commit)?,
                base: id(&self.base)?,
                goal: self.goal,
            },
            tip_time: self.tip_time,
            checkpoints: self.checkpoints,
            step: self.step,
            last_tests: self.last_tests,
            usage: usage_of(self.usage),
            stop: self.stop,
            merged: self.merged,
            planning: self.planning,
            attempts: self.attempts,
        })
    }
}

fn checksum(json: &str) -> String {
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    hasher.update(json.as_bytes());
    hasher
        .try_finalize()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// The cache file as read, with the changes made since.
pub(crate) struct TaskCache {
    path: PathBuf,
    /// `slug -> (checksum, JSON)`, as read; checked when used.
    lines: BTreeMap<String, (String, String)>,
    /// Entries checked and parsed, by slug; `None` for a line that failed its check.
    parsed: HashMap<String, Option<Facts>>,
    dirty: bool,
}

impl TaskCache {
    pub fn path_in(agent_dir: &Path) -> PathBuf {
        agent_dir.join("cache").join("tasks")
    }

    /// Read the cache; a missing or unreadable file, or one of another version, is empty.
    pub fn load(path: PathBuf) -> TaskCache {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = BTreeMap::new();
        let mut rest = text.lines();
        if rest.next() == Some(VERSION_LINE) {
            for line in rest {
                let mut parts = line.splitn(3, ' ');
                if let (Some(slug), Some(sum), Some(json)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    lines.insert(slug.to_string(), (sum.to_string(), json.to_string()));
                }
            }
        }
        TaskCache {
            path,
            lines,
            parsed: HashMap::new(),
            dirty: false,
        }
    }

    /// The cached facts of `slug`, whatever their key: use [`TaskCache::get`] for facts that
    /// must match the refs of now. `None` for a missing or corrupted entry.
    pub fn any(&mut self, slug: &str) -> Option<&Facts> {
        if !self.parsed.contains_key(slug) {
            let facts = self.lines.get(slug).and_then(|(sum, json)| {
                if checksum(json) != *sum {
                    return None;
                }
                serde_json::from_str::<Entry>(json).ok()?.facts()
            });
            self.parsed.insert(slug.to_string(), facts);
        }
        self.parsed.get(slug).and_then(Option::as_ref)
    }

    /// The facts of `slug` if they were derived from exactly `tips`.
    pub fn get(&mut self, slug: &str, tips: &Tips) -> Option<Facts> {
        self.any(slug).filter(|f| f.tips == *tips).cloned()
    }

    pub fn put(&mut self, slug: &str, facts: &Facts) {
        let Ok(json) = serde_json::to_string(&Entry::of(facts)) else {
            return;
        };
        let line = (checksum(&json), json);
        if self.lines.get(slug) != Some(&line) {
            self.lines.insert(slug.to_string(), line);
            self.dirty = true;
        }
        self.parsed.insert(slug.to_string(), Some(facts.clone()));
    }

    /// Forget the entries of tasks that are gone.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let before = self.lines.len();
        self.lines.retain(|slug, _| keep(slug));
        self.parsed.retain(|slug, _| keep(slug));
        self.dirty |= self.lines.len() != before;
    }

    /// Write the file if anything changed. Failing is fine: the next reader recomputes.
    pub fn save(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let Err(err) = self.write() {
            tracing::debug!(path = %self.path.display(), %err, "could not write the task cache");
        }
    }

    fn write(&self) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut text = String::with_capacity(64 + self.lines.len() * 512);
        text.push_str(VERSION_LINE);
        text.push('\n');
        for (slug, (sum, json)) in &self.lines {
            text.push_str(slug);
            text.push(' ');
            text.push_str(sum);
            text.push(' ');
            text.push_str(json);
            text.push('\n');
        }
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(text.as_bytes())?;
        file.persist(&self.path).map_err(|err| err.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn oid(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn facts() -> Facts {
        Facts {
            tips: Tips {
                tip: oid(1),
                notes: Some(oid(2)),
                attic: vec![(1, oid(3)), (2, oid(4))],
            },
            anchor: Anchor {
                task_commit: oid(5),
                base: oid(6),
                goal: "a goal\nwith \"quotes\" and a second line".into(),
            },
            tip_time: 1_700_000_000,
            checkpoints: 3,
            step: (2, 5),
            last_tests: Some("pass (make: ok)".into()),
            usage: Usage {
                turns: 7,
                cost_usd: 0.1 + 0.2,
                ..Usage::default()
            },
            stop: None,
            merged: false,
            planning: false,
            attempts: 1,
        }
    }

    #[test]
    fn entries_round_trip_to_the_last_bit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = TaskCache::path_in(dir.path());
        let mut cache = TaskCache::load(path.clone());
        cache.put("t", &facts());
        cache.save();
        let mut again = TaskCache::load(path);
        let read = again.get("t", &facts().tips).expect("cached");
        assert_eq!(read, facts());
        assert_eq!(read.usage.cost_usd.to_bits(), (0.1f64 + 0.2).to_bits());
    }

    #[test]
    fn another_key_or_a_corrupted_line_is_a_miss() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = TaskCache::path_in(dir.path());
        let mut cache = TaskCache::load(path.clone());
        cache.put("t", &facts());
        cache.save();
        let mut other = facts().tips;
        other.attic.pop();
        assert_eq!(TaskCache::load(path.clone()).get("t", &other), None);

        let text = std::fs::read_to_string(&path).expect("written");
        std::fs::write(
            &path,
            text.replace("\"checkpoints\":3", "\"checkpoints\":4"),
        )
        .expect("rewritten");
        assert_eq!(TaskCache::load(path).get("t", &facts().tips), None);
    }
}
