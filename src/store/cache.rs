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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::format::record::{StopRecord, Usage};

const VERSION_LINE: &str = "# git-agent task cache v2";

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
    usage: [u64; 10],
    stop: Option<StopRecord>,
    merged: bool,
    planning: bool,
    attempts: usize,
}

fn usage_bits(u: &Usage) -> [u64; 10] {
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
        u.reasoning_tokens,
    ]
}

fn usage_of(b: [u64; 10]) -> Usage {
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
        reasoning_tokens: b[9],
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
    /// The file as read, and where each slug's line is in it: a status reads one line of a
    /// file that holds thousands, and copies none of the others.
    text: String,
    index: HashMap<String, Range<usize>>,
    /// Lines written since (`<checksum> <JSON>`), or removed (`None`), by slug.
    changed: BTreeMap<String, Option<String>>,
    /// Entries checked and parsed, by slug; `None` for a line that failed its check.
    parsed: HashMap<String, Option<Facts>>,
}

impl TaskCache {
    pub fn path_in(agent_dir: &Path) -> PathBuf {
        agent_dir.join("cache").join("tasks")
    }

    /// Read the cache; a missing or unreadable file, or one of another version, is empty.
    pub fn load(path: PathBuf) -> TaskCache {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut cache = TaskCache {
            path,
            text: String::new(),
            index: HashMap::new(),
            changed: BTreeMap::new(),
            parsed: HashMap::new(),
        };
        cache.set_text(text);
        cache
    }

    /// Take `text` as the file's content and index its lines.
    fn set_text(&mut self, mut text: String) {
        let mut index = HashMap::new();
        match text
            .strip_prefix(VERSION_LINE)
            .and_then(|t| t.strip_prefix('\n'))
        {
            None => text.clear(),
            Some(_) => {
                let mut at = VERSION_LINE.len() + 1;
                for line in text[at..].split_inclusive('\n') {
                    let body = line.strip_suffix('\n').unwrap_or(line);
                    if let Some((slug, _)) = body.split_once(' ') {
                        let start = at + slug.len() + 1;
                        index.insert(slug.to_string(), start..at + body.len());
                    }
                    at += line.len();
                }
            }
        }
        self.text = text;
        self.index = index;
        self.changed.clear();
    }

    /// `<checksum> <JSON>` of `slug`, as read or as changed since.
    fn line(&self, slug: &str) -> Option<&str> {
        match self.changed.get(slug) {
            Some(line) => line.as_deref(),
            None => self.index.get(slug).map(|range| &self.text[range.clone()]),
        }
    }

    /// The cached facts of `slug`, whatever their key: use [`TaskCache::get`] for facts that
    /// must match the refs of now. `None` for a missing or corrupted entry.
    pub fn any(&mut self, slug: &str) -> Option<&Facts> {
        if !self.parsed.contains_key(slug) {
            let facts = self.line(slug).and_then(|line| {
                let (sum, json) = line.split_once(' ')?;
                if checksum(json) != sum {
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
        let line = format!("{} {json}", checksum(&json));
        if self.line(slug) != Some(line.as_str()) {
            self.changed.insert(slug.to_string(), Some(line));
        }
        self.parsed.insert(slug.to_string(), Some(facts.clone()));
    }

    /// Forget the entries of tasks that are gone.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .index
            .keys()
            .chain(self.changed.keys())
            .filter(|slug| !keep(slug) && self.line(slug).is_some())
            .cloned()
            .collect();
        for slug in gone {
            self.parsed.remove(&slug);
            self.changed.insert(slug, None);
        }
    }

    /// Write the file if anything changed. Failing is fine: the next reader recomputes.
    pub fn save(&mut self) {
        if self.changed.is_empty() {
            return;
        }
        let text = self.render();
        match self.write(&text) {
            Ok(()) => self.set_text(text),
            Err(err) => {
                tracing::debug!(path = %self.path.display(), %err, "could not write the task cache")
            }
        }
    }

    /// The file with the changes made.
    fn render(&self) -> String {
        let slugs: BTreeSet<&String> = self.index.keys().chain(self.changed.keys()).collect();
        let mut text = String::with_capacity(self.text.len() + 64 + self.changed.len() * 512);
        text.push_str(VERSION_LINE);
        text.push('\n');
        for slug in slugs {
            if let Some(line) = self.line(slug) {
                text.push_str(slug);
                text.push(' ');
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    fn write(&self, text: &str) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
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

    #[test]
    fn changes_and_removals_survive_a_save_and_a_reload() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = TaskCache::path_in(dir.path());
        let mut cache = TaskCache::load(path.clone());
        let mut b = facts();
        b.checkpoints = 9;
        cache.put("a", &facts());
        cache.put("b", &b);
        cache.save();
        let mut cache = TaskCache::load(path.clone());
        b.checkpoints = 10;
        cache.put("b", &b);
        cache.put("c", &facts());
        cache.retain(|slug| slug != "a");
        cache.save();
        // After a save the same cache goes on serving what it wrote.
        assert_eq!(cache.get("b", &b.tips), Some(b.clone()));
        let mut again = TaskCache::load(path);
        assert_eq!(again.get("a", &facts().tips), None);
        assert_eq!(again.get("b", &b.tips), Some(b));
        assert_eq!(again.get("c", &facts().tips), Some(facts()));
    }
}
