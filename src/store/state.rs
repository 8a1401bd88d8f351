//! What a task is doing, derived from git alone: the plan note, the checkpoints' trailers and
//! records, the stop record of the tip, and the lock.

use std::collections::{BTreeMap, HashMap, HashSet};

use gix::ObjectId;

use super::cache::{Facts, Tips};
use super::format::notes::NotesReader;
use super::format::plan::Plan;
use super::format::record::{CheckpointRecord, StopReason, StopRecord, TestsVerdict, Usage};
use super::format::refs;
use super::format::refs::TaskRef;
use super::format::trailers::{CheckpointTrailers, Trailers, parse_trailers};
use super::lock::{LockState, TaskLock};
use super::task::Task;
use super::unrecorded::UnrecordedStop;
use super::{Result, Store, StoreError};

/// A checkpoint as git holds it.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub commit: ObjectId,
    pub summary: String,
    pub message: String,
    /// The trailers as written, for display; what they mean is in `typed`.
    pub trailers: Trailers,
    pub typed: CheckpointTrailers,
    pub record: Option<CheckpointRecord>,
}

impl Checkpoint {
    pub fn new(commit: ObjectId, message: String, record: Option<CheckpointRecord>) -> Checkpoint {
        let trailers = parse_trailers(&message);
        Checkpoint {
            commit,
            summary: message.lines().next().unwrap_or_default().to_string(),
            typed: CheckpointTrailers::parse(&trailers),
            trailers,
            message,
            record,
        }
    }

    /// The verdict of the `Agent-Tests` trailer.
    pub fn tests_verdict(&self) -> Option<TestsVerdict> {
        self.typed.tests
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Planning,
    /// No run is working on it and none was cut short: e.g. created with `--no-run`.
    Idle,
    Running,
    Done,
    Blocked,
    Budget,
    Interrupted,
    Error,
    Merged,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Planning => "planning",
            TaskState::Idle => "idle",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Blocked => "blocked",
            TaskState::Budget => "budget",
            TaskState::Interrupted => "interrupted",
            TaskState::Error => "error",
            TaskState::Merged => "merged",
        }
    }
}

/// Sums of every record of a task, planning, discarded attempts and pending usage included:
/// the budget holds across crashes, resumes and rollbacks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    pub usage: Usage,
}

#[derive(Debug, Clone)]
pub struct TaskSummary {
    pub task: Task,
    pub plan: Plan,
    pub state: TaskState,
    pub checkpoints: usize,
    /// The step the tip finished, and the number of steps.
    pub step: (u32, u32),
    pub last_tests: Option<String>,
    pub budget: Budget,
    pub stop_detail: Option<String>,
    /// How to get past what stopped the last run, when it said.
    pub stop_hint: Option<String>,
    /// Why git does not hold the stop shown: it is kept beside the task's lock instead.
    pub stop_unrecorded: Option<String>,
    /// Committer time of the tip (seconds since the epoch): when the task last moved.
    pub tip_time: i64,
}

/// What `list` shows of a task: its summary without the plan, read from ref tips.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub task: Task,
    pub state: TaskState,
    pub checkpoints: usize,
    pub step: (u32, u32),
    pub last_tests: Option<String>,
    pub budget: Budget,
    /// Rolled-back attempts recorded in the plan.
    pub attempts: usize,
    pub stop_detail: Option<String>,
    pub stop_hint: Option<String>,
    /// Why git does not hold the stop shown: it is kept beside the task's lock instead.
    pub stop_unrecorded: Option<String>,
    /// Committer time of the tip (seconds since the epoch): when the task last moved.
    pub tip_time: i64,
}

impl TaskSummary {
    pub fn row(&self) -> TaskRow {
        TaskRow {
            task: self.task.clone(),
            state: self.state,
            checkpoints: self.checkpoints,
            step: self.step,
            last_tests: self.last_tests.clone(),
            budget: self.budget,
            attempts: self.plan.attempts.len(),
            stop_detail: self.stop_detail.clone(),
            stop_hint: self.stop_hint.clone(),
            stop_unrecorded: self.stop_unrecorded.clone(),
            tip_time: self.tip_time,
        }
    }
}

/// The state a stop reason leaves a task in.
fn stopped_state(reason: StopReason) -> TaskState {
    match reason {
        StopReason::Done => TaskState::Done,
        StopReason::Blocked => TaskState::Blocked,
        StopReason::Budget => TaskState::Budget,
        StopReason::Error => TaskState::Error,
        StopReason::Interrupted => TaskState::Interrupted,
    }
}

/// The state of a task: what git says, unless a run holds its lock or died holding it; with
/// no stop in git, the stop git could not record (`unrecorded`), if one is kept.
fn state_of<'u>(
    facts: &Facts,
    running: bool,
    stale: impl FnOnce() -> bool,
    unrecorded: Option<&'u UnrecordedStop>,
) -> (TaskState, Option<&'u UnrecordedStop>) {
    if facts.merged {
        (TaskState::Merged, None)
    } else if running {
        (TaskState::Running, None)
    } else if let Some(stop) = &facts.stop {
        (stopped_state(stop.reason), None)
    } else if stale() {
        // A lock left by a dead run: it died without a word (kill -9, power loss).
        (TaskState::Interrupted, None)
    } else if let Some(kept) = unrecorded {
        (stopped_state(kept.stop.reason), Some(kept))
    } else if facts.planning && facts.checkpoints == 0 {
        (TaskState::Planning, None)
    } else {
        (TaskState::Idle, None)
    }
}

fn row_of(
    slug: &str,
    facts: Facts,
    lock: Option<&LockState>,
    unrecorded: Option<&UnrecordedStop>,
) -> TaskRow {
    let running = lock.is_some_and(|l| l.held);
    let (state, unrecorded) = state_of(
        &facts,
        running,
        || lock.is_some_and(|l| l.stale),
        unrecorded,
    );
    let stop = facts.stop.or_else(|| unrecorded.map(|u| u.stop.clone()));
    TaskRow {
        tip_time: facts.tip_time,
        task: Task {
            slug: slug.to_string(),
            task_commit: facts.anchor.task_commit,
            base: facts.anchor.base,
            goal: facts.anchor.goal,
            tip: facts.tips.tip,
        },
        state,
        checkpoints: facts.checkpoints,
        step: facts.step,
        last_tests: facts.last_tests,
        budget: Budget { usage: facts.usage },
        attempts: facts.attempts,
        stop_hint: stop
            .as_ref()
            .map(|s| s.hint.clone())
            .filter(|h| !h.is_empty()),
        stop_detail: stop.map(|s| s.detail),
        stop_unrecorded: unrecorded.map(|u| u.why.clone()),
    }
}

impl Store {
    /// The plan of a task that is about to be changed (every caller writes to the task next).
    /// A plan in a newer format than this version knows is refused: writing the task would
    /// drop or misread what the newer version meant (docs/data-model.md#format). Commands that
    /// only read use [`NotesReader::plan`], which reads the fields it knows.
    pub fn plan(&self, task: &Task) -> Result<Plan> {
        let mut notes = NotesReader::new(self, &task.slug)?;
        let plan = notes
            .plan(task.task_commit)?
            .unwrap_or_else(|| Plan::new(&task.goal));
        writable(task, &plan)?;
        Ok(plan)
    }

    /// The step the commit finished, from its `Agent-Step` trailer (0 for the task commit).
    pub fn current_step(&self, commit: ObjectId) -> Result<u32> {
        let message = self.commit_message(commit)?;
        Ok(CheckpointTrailers::parse(&parse_trailers(&message)).step_index())
    }

    /// The checkpoints of a task, oldest first, with their records.
    pub fn checkpoints(&self, task: &Task) -> Result<Vec<Checkpoint>> {
        let mut notes = NotesReader::new(self, &task.slug)?;
        self.checkpoints_with(task, &mut notes, usize::MAX)
    }

    /// The newest `limit` checkpoints of a task, oldest first: what a step boundary needs,
    /// at a cost that does not grow with the length of the task.
    pub fn recent_checkpoints(&self, task: &Task, limit: usize) -> Result<Vec<Checkpoint>> {
        let mut notes = NotesReader::new(self, &task.slug)?;
        self.checkpoints_with(task, &mut notes, limit)
    }

    fn checkpoints_with(
        &self,
        task: &Task,
        notes: &mut NotesReader<'_>,
        limit: usize,
    ) -> Result<Vec<Checkpoint>> {
        let mut out = Vec::new();
        let mut current = task.tip;
        while current != task.task_commit && out.len() < limit {
            let message = self.commit_message(current)?;
            out.push(Checkpoint::new(current, message, notes.record(current)?));
            match self.parents(current)?.first() {
                Some(parent) => current = *parent,
                None => break,
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Everything spent on the task: planning, checkpoints, the attic's discarded work, and
    /// the pending usage of runs that stopped (or are working) without a checkpoint.
    pub fn budget(&self, task: &Task, plan: &Plan) -> Result<Budget> {
        let mut notes = NotesReader::new(self, &task.slug)?;
        self.budget_with(task, plan, &mut notes, &[])
    }

    /// The budget, reusing the records of `known` checkpoints (the whole branch, when given).
    fn budget_with(
        &self,
        task: &Task,
        plan: &Plan,
        notes: &mut NotesReader<'_>,
        known: &[Checkpoint],
    ) -> Result<Budget> {
        let attic: Vec<ObjectId> = self
            .attic(&task.slug)?
            .into_iter()
            .map(|e| e.commit)
            .collect();
        self.budget_over(task, plan, notes, known, &attic)
    }

    /// The budget of the branch and the attic tips `attic`.
    fn budget_over(
        &self,
        task: &Task,
        plan: &Plan,
        notes: &mut NotesReader<'_>,
        known: &[Checkpoint],
        attic: &[ObjectId],
    ) -> Result<Budget> {
        let mut usage = plan.planner_usage;
        usage.add(&plan.pending);
        for result in plan.parallel.iter().flat_map(|round| &round.results) {
            usage.add(&result.plan_usage);
        }
        let mut seen = HashSet::new();
        for checkpoint in known {
            seen.insert(checkpoint.commit);
            if let Some(record) = &checkpoint.record {
                usage.add(&record.usage);
                usage.add(&record.pending);
            }
        }
        let mut tips = vec![task.tip];
        tips.extend(attic.iter().copied());
        for tip in tips {
            let mut current = tip;
            while current != task.task_commit && seen.insert(current) {
                if let Some(record) = notes.record(current)? {
                    usage.add(&record.usage);
                    usage.add(&record.pending);
                }
                match self.parents(current)?.first() {
                    Some(parent) => current = *parent,
                    None => break,
                }
            }
        }
        Ok(Budget { usage })
    }

    /// The stop record on the tip: in the tip's checkpoint record, or in the plan when the
    /// task has no checkpoint yet.
    fn stop_of(
        &self,
        task: &Task,
        plan: &Plan,
        tip_record: Option<&CheckpointRecord>,
    ) -> Option<StopRecord> {
        if task.tip == task.task_commit {
            plan.stop.clone()
        } else {
            tip_record.and_then(|r| r.stop.clone())
        }
    }

    /// The ids a task's facts derive from; `None` when the task does not exist.
    fn tips_of(&self, slug: &str) -> Result<Option<Tips>> {
        let Some(tip) = self.ref_target(&refs::branch(slug))? else {
            return Ok(None);
        };
        Ok(Some(Tips {
            tip,
            notes: self.ref_target(&refs::notes(slug))?,
            attic: self
                .attic(slug)?
                .into_iter()
                .map(|e| (e.n, e.commit))
                .collect(),
        }))
    }

    /// The ids of every task, from one listing of each ref namespace.
    fn all_tips(&self) -> Result<BTreeMap<String, Tips>> {
        let mut all = BTreeMap::new();
        for (name, tip) in self.ref_ids_with_prefix(refs::BRANCH_PREFIX)? {
            if let Some((slug, TaskRef::Branch)) = TaskRef::parse(&name) {
                let tips = Tips {
                    tip,
                    notes: None,
                    attic: Vec::new(),
                };
                all.insert(slug.to_string(), tips);
            }
        }
        for (name, id) in self.ref_ids_with_prefix(refs::NOTES_PREFIX)? {
            if let Some((slug, TaskRef::Notes)) = TaskRef::parse(&name)
                && let Some(tips) = all.get_mut(slug)
            {
                tips.notes = Some(id);
            }
        }
        for (name, id) in self.ref_ids_with_prefix(refs::TASK_PREFIX)? {
            if let Some((slug, TaskRef::Attic(n))) = TaskRef::parse(&name)
                && let Some(tips) = all.get_mut(slug)
            {
                tips.attic.push((n, id));
            }
        }
        for tips in all.values_mut() {
            tips.attic.sort_by_key(|(n, _)| *n);
        }
        Ok(all)
    }

    /// The facts of a task at `tips`: from the task cache when it holds them for exactly these
    /// ids, else read from git (and cached). The plan comes along when it was read.
    fn facts(&self, slug: &str, tips: &Tips) -> Result<(Facts, Option<Plan>)> {
        if let Some(facts) = self.with_cache(|c| c.get(slug, tips)) {
            return Ok((facts, None));
        }
        let (facts, plan) = self.derive_facts(slug, tips)?;
        self.with_cache(|c| c.put(slug, &facts));
        Ok((facts, Some(plan)))
    }

    /// Read the facts of a task from git: the plan, every checkpoint and record of the branch,
    /// and the attic — all as of `tips`, so they are exactly what the cache key says.
    fn derive_facts(&self, slug: &str, tips: &Tips) -> Result<(Facts, Plan)> {
        let task = self.task_at(slug, tips.tip)?;
        let mut notes = NotesReader::at(self, slug, tips.notes)?;
        let plan = notes
            .plan(task.task_commit)?
            .unwrap_or_else(|| Plan::new(&task.goal));
        let checkpoints = self.checkpoints_with(&task, &mut notes, usize::MAX)?;
        let attic: Vec<ObjectId> = tips.attic.iter().map(|(_, commit)| *commit).collect();
        let budget = self.budget_over(&task, &plan, &mut notes, &checkpoints, &attic)?;
        let tip = checkpoints.last();
        let stop = self.stop_of(&task, &plan, tip.and_then(|c| c.record.as_ref()));
        let step = tip
            .and_then(|c| c.typed.step)
            .map_or((0, plan.steps.len() as u32), |s| (s.index, s.steps));
        let facts = Facts {
            tips: tips.clone(),
            anchor: super::cache::Anchor {
                task_commit: task.task_commit,
                base: task.base,
                goal: task.goal.clone(),
            },
            tip_time: self.commit_time(task.tip)?,
            checkpoints: checkpoints.len(),
            step,
            last_tests: tip.and_then(|c| c.typed.tests_line.clone()),
            usage: budget.usage,
            stop,
            merged: plan.merged.is_some(),
            planning: plan.status == super::format::plan::PlanStatus::Planning,
            attempts: plan.attempts.len(),
        };
        Ok((facts, plan))
    }

    pub fn summary(&self, slug: &str) -> Result<TaskSummary> {
        let tips = self.tips_of(slug)?.ok_or_else(|| StoreError::UnknownTask {
            slug: slug.to_string(),
            known: self.task_slugs().unwrap_or_default(),
        })?;
        let (facts, plan) = self.facts(slug, &tips)?;
        self.with_cache(|c| c.save());
        let plan = match plan {
            Some(plan) => plan,
            None => NotesReader::at(self, slug, tips.notes)?
                .plan(facts.anchor.task_commit)?
                .unwrap_or_else(|| Plan::new(&facts.anchor.goal)),
        };
        let lock = LockState {
            held: TaskLock::is_held(self, slug),
            stale: TaskLock::is_stale(self, slug),
        };
        let unrecorded = self.unrecorded_stop(slug, tips.tip);
        let row = row_of(slug, facts, Some(&lock), unrecorded.as_ref());
        Ok(TaskSummary {
            task: row.task,
            plan,
            state: row.state,
            checkpoints: row.checkpoints,
            step: row.step,
            last_tests: row.last_tests,
            budget: row.budget,
            stop_detail: row.stop_detail,
            stop_hint: row.stop_hint,
            stop_unrecorded: row.stop_unrecorded,
            tip_time: row.tip_time,
        })
    }

    /// Every task as `list` shows it, by slug, with the error of a task git cannot read.
    /// Reads the ref tips, the task cache and the locks; a task whose refs moved since it was
    /// cached is read from git and cached again.
    pub fn task_rows(&self) -> Result<Vec<(String, Result<TaskRow>)>> {
        let all = self.all_tips()?;
        let locks: HashMap<String, LockState> = TaskLock::states(self);
        let mut rows = Vec::with_capacity(all.len());
        for (slug, tips) in &all {
            let row = self.facts(slug, tips).map(|(facts, _)| {
                let unrecorded = self.unrecorded_stop(slug, tips.tip);
                row_of(slug, facts, locks.get(slug), unrecorded.as_ref())
            });
            rows.push((slug.clone(), row));
        }
        self.with_cache(|c| {
            c.retain(|slug| all.contains_key(slug));
            c.save();
        });
        Ok(rows)
    }

    /// The committer time of each task's tip, for finding the most recent task.
    pub(crate) fn tip_times(&self) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for (name, tip) in self.ref_ids_with_prefix(refs::BRANCH_PREFIX)? {
            let Some((slug, TaskRef::Branch)) = TaskRef::parse(&name) else {
                continue;
            };
            let slug = slug.to_string();
            let cached = self.with_cache(|c| {
                c.any(&slug)
                    .filter(|f| f.tips.tip == tip)
                    .map(|f| f.tip_time)
            });
            let time = match cached {
                Some(time) => time,
                None => self.commit_time(tip)?,
            };
            out.push((slug, time));
        }
        Ok(out)
    }

    /// Write the stop record onto the tip's note (or the plan, before any checkpoint), with
    /// `spent` (usage of the run not yet in git) added to the tip's pending usage.
    pub fn record_stop(&self, task: &Task, stop: StopRecord, spent: &Usage) -> Result<()> {
        let text = self.edit_tip_note(task, |stop_slot, pending| {
            *stop_slot = Some(stop);
            pending.add(spent);
            *pending = pending.rounded();
        })?;
        self.write_note(
            &task.slug,
            task.tip,
            text,
            &format!("stop of {}", task.slug),
        )?;
        // Git holds the latest stop now: one it could not hold earlier is history.
        self.clear_unrecorded_stop(&task.slug);
        Ok(())
    }

    /// Add `spent` to the pending usage of the tip: written after every model turn, so a run
    /// killed at any moment leaves in git every answered call but the one in flight.
    pub fn add_pending(&self, task: &Task, spent: &Usage) -> Result<()> {
        let text = self.edit_tip_note(task, |_, pending| {
            pending.add(spent);
            *pending = pending.rounded();
        })?;
        self.write_note(
            &task.slug,
            task.tip,
            text,
            &super::format::notes::usage_message(&task.slug),
        )
    }

    /// The pending usage of the tip, and the tip's note without it: what a checkpoint on top
    /// of the tip takes into its record and writes back in the same notes commit.
    pub fn take_pending(&self, task: &Task) -> Result<(Usage, String)> {
        let mut taken = Usage::default();
        let text = self.edit_tip_note(task, |_, pending| taken = std::mem::take(pending))?;
        Ok((taken, text))
    }

    /// The tip's note (the plan on the task commit, else the checkpoint record) after `edit`
    /// changed its stop record and pending usage, as text to write back.
    fn edit_tip_note(
        &self,
        task: &Task,
        edit: impl FnOnce(&mut Option<StopRecord>, &mut Usage),
    ) -> Result<String> {
        let mut notes = NotesReader::new(self, &task.slug)?;
        if task.tip == task.task_commit {
            let mut plan = notes
                .plan(task.task_commit)?
                .unwrap_or_else(|| Plan::new(&task.goal));
            writable(task, &plan)?;
            edit(&mut plan.stop, &mut plan.pending);
            Ok(plan.to_toml())
        } else {
            let mut record = notes.record(task.tip)?.unwrap_or_default();
            edit(&mut record.stop, &mut record.pending);
            Ok(toml::to_string(&record).unwrap_or_default())
        }
    }

    /// Rewrite the plan note.
    pub fn write_plan(&self, task: &Task, plan: &Plan, why: &str) -> Result<()> {
        writable(task, plan)?;
        self.write_note(&task.slug, task.task_commit, plan.to_toml(), why)
    }

    /// Record in the plan that the task was merged into `into` as `commit` (the merge commit
    /// itself is made by `git merge`, with [`super::format::trailers::merge_trailers`]).
    pub fn record_merge(
        &self,
        task: &Task,
        plan: &mut Plan,
        into: &str,
        commit: &str,
        squash: bool,
    ) -> Result<()> {
        plan.merged = Some(super::format::plan::Merged {
            into: into.to_string(),
            commit: commit.to_string(),
            squash,
            at: super::format::record::now_rfc3339(),
        });
        self.write_plan(task, plan, &format!("merged {}", task.slug))
    }
}

/// Refuse to write a task whose plan is in a newer format than this version knows.
fn writable(task: &Task, plan: &Plan) -> Result<()> {
    if plan.is_writable() {
        return Ok(());
    }
    Err(StoreError::NewerFormat {
        slug: task.slug.clone(),
        format: plan.format,
        known: super::format::plan::FORMAT,
    })
}
