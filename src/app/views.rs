//! Read-only views of a repository's agent state, built from the store's readers and
//! serialisable as they are: the tasks table, one task in detail, the fleet of a remote.
//!
//! Every string here is data from a model, a repository or a remote; the front end escapes it.
//! Sizes are bounded where a stranger decides them: the run log's tail, the plan's history.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek, SeekFrom};

use gix::ObjectId;
use serde::Serialize;

use crate::store::remote::lease::QueueRow;
use crate::store::{
    AtticEntry, Checkpoint, NotesReader, Plan, Store, StoreError, TaskRow, TaskState, trailer,
};

/// How many revisions of the plan note a task page shows, newest first.
const PLAN_REVISIONS: usize = 100;
/// How much of the end of a run log the task page reads.
const RUN_LOG_TAIL_BYTES: u64 = 64 * 1024;
/// How many events of a running task's log the page shows.
const RUN_LOG_EVENTS: usize = 50;

/// One task as the tasks table shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub slug: String,
    pub state: &'static str,
    /// The first line of the goal.
    pub goal: String,
    pub step: u32,
    pub steps: u32,
    pub checkpoints: usize,
    pub tests: Option<String>,
    pub cost_usd: f64,
    pub tokens: u64,
    /// Committer time of the tip, seconds since the epoch.
    pub tip_time: i64,
    pub base: String,
    pub tip: String,
    /// The task this one is an attempt of, and its number.
    pub attempt_of: Option<(String, u32)>,
    pub stop_detail: Option<String>,
    /// Set for a task read from a remote's queue.
    pub queue: Option<QueueView>,
}

/// A task's place in a remote's queue and who works on it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub position: usize,
    pub state: String,
    pub holder: Option<String>,
    pub host: Option<String>,
    pub since: Option<String>,
    pub heartbeat: Option<u64>,
    /// Committer time of the lease commit: when the holder last renewed it.
    pub heartbeat_time: Option<i64>,
}

/// A task that could not be read, shown rather than hidden.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenTask {
    pub slug: String,
    pub error: String,
}

/// The tasks table: tasks with their attempts grouped under them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TasksView {
    pub tasks: Vec<TaskGroup>,
    pub broken: Vec<BrokenTask>,
    /// How many tasks are in each state, for the filters.
    pub states: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskGroup {
    pub task: TaskView,
    pub attempts: Vec<TaskView>,
}

/// The task and number of an attempt, read from its name (`<task>--try-<k>`) when that task
/// is listed too: what can be told from ref names alone, without reading every plan.
pub fn attempt_name<'a>(slug: &'a str, names: &HashSet<String>) -> Option<(&'a str, u32)> {
    let (task, k) = slug.rsplit_once("--try-")?;
    let k = k.parse().ok()?;
    names.contains(task).then_some((task, k))
}

fn task_view(row: &TaskRow, names: &HashSet<String>) -> TaskView {
    TaskView {
        slug: row.task.slug.clone(),
        state: row.state.as_str(),
        goal: crate::text::first_line(&row.task.goal, 200),
        step: row.step.0,
        steps: row.step.1,
        checkpoints: row.checkpoints,
        tests: row.last_tests.clone(),
        cost_usd: row.budget.usage.cost_usd,
        tokens: row.budget.usage.total_tokens(),
        tip_time: row.tip_time,
        base: row.task.base.to_string(),
        tip: row.task.tip.to_string(),
        attempt_of: attempt_name(&row.task.slug, names).map(|(t, k)| (t.to_string(), k)),
        stop_detail: row.stop_detail.clone(),
        queue: None,
    }
}

/// Every task of the repository, read from the task cache (`list`'s reader), newest first,
/// keeping only `state` when given.
pub fn tasks(store: &Store, state: Option<&str>) -> Result<TasksView, StoreError> {
    let rows = store.task_rows()?;
    let names: HashSet<String> = rows.iter().map(|(slug, _)| slug.clone()).collect();
    let mut views = Vec::with_capacity(rows.len());
    let mut broken = Vec::new();
    for (slug, row) in rows {
        match row {
            Ok(row) => views.push(task_view(&row, &names)),
            Err(err) => broken.push(BrokenTask {
                slug,
                error: err.to_string(),
            }),
        }
    }
    Ok(group(views, broken, state))
}

/// Attempts under their task, newest task first; the counts by state are of every task.
fn group(mut views: Vec<TaskView>, broken: Vec<BrokenTask>, state: Option<&str>) -> TasksView {
    let mut states = BTreeMap::new();
    for v in &views {
        *states.entry(v.state).or_insert(0) += 1;
    }
    views.sort_by(|a, b| b.tip_time.cmp(&a.tip_time).then(a.slug.cmp(&b.slug)));
    let keep = |v: &TaskView| state.is_none_or(|s| v.state == s);
    let (attempts, tops): (Vec<_>, Vec<_>) =
        views.into_iter().partition(|v| v.attempt_of.is_some());
    let mut by_task: BTreeMap<String, Vec<TaskView>> = BTreeMap::new();
    for a in attempts.into_iter().filter(keep) {
        if let Some((task, _)) = &a.attempt_of {
            by_task.entry(task.clone()).or_default().push(a);
        }
    }
    let mut tasks = Vec::with_capacity(tops.len());
    for task in tops {
        let mut attempts = by_task.remove(&task.slug).unwrap_or_default();
        attempts.sort_by_key(|a| a.attempt_of.as_ref().map(|(_, k)| *k));
        if keep(&task) || !attempts.is_empty() {
            tasks.push(TaskGroup { task, attempts });
        }
    }
    TasksView {
        tasks,
        broken,
        states,
    }
}

/// The tasks of a remote as its last fetch shows them, in queue order.
pub fn remote_tasks(
    store: &Store,
    remote: &str,
    state: Option<&str>,
) -> Result<TasksView, StoreError> {
    let rows = store.remote_queue(remote)?;
    let names: HashSet<String> = rows.iter().map(|r| r.slug.clone()).collect();
    let mut views = Vec::with_capacity(rows.len());
    let mut broken = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match remote_task_view(store, remote, row, i + 1, &names) {
            Ok(v) => views.push(v),
            Err(err) => broken.push(BrokenTask {
                slug: row.slug.clone(),
                error: err.to_string(),
            }),
        }
    }
    Ok(group(views, broken, state))
}

fn remote_task_view(
    store: &Store,
    remote: &str,
    row: &QueueRow,
    position: usize,
    names: &HashSet<String>,
) -> Result<TaskView, StoreError> {
    let task = store.task_at_tip(&row.slug, row.tip)?;
    let checkpoint = if row.tip == task.task_commit {
        None
    } else {
        Some(Checkpoint::new(
            row.tip,
            store.commit_message(row.tip)?,
            remote_notes(store, remote, &row.slug)?
                .map(|mut n| n.record(row.tip))
                .transpose()?
                .flatten(),
        ))
    };
    let usage = checkpoint
        .as_ref()
        .and_then(|c| c.record.as_ref())
        .map(|r| r.usage)
        .unwrap_or_default();
    let lease = row.lease.as_ref().map(|(_, l)| l);
    Ok(TaskView {
        slug: row.slug.clone(),
        state: row.state.as_str(),
        goal: row.goal.clone(),
        step: checkpoint.as_ref().map_or(0, |c| c.typed.step_index()),
        steps: checkpoint
            .as_ref()
            .and_then(|c| c.record.as_ref())
            .map_or(0, |r| r.steps),
        checkpoints: row.checkpoints as usize,
        tests: checkpoint
            .as_ref()
            .and_then(|c| c.trailers.get(trailer::TESTS).map(str::to_string)),
        cost_usd: usage.cost_usd,
        tokens: usage.total_tokens(),
        tip_time: store.commit_time(row.tip)?,
        base: task.base.to_string(),
        tip: row.tip.to_string(),
        attempt_of: attempt_name(&row.slug, names).map(|(t, k)| (t.to_string(), k)),
        stop_detail: row.stop_detail.clone(),
        queue: Some(QueueView {
            position,
            state: row.state.as_str().to_string(),
            holder: lease.map(|l| l.holder.clone()),
            host: lease.map(|l| l.host.clone()),
            since: lease.map(|l| l.since.clone()),
            heartbeat: lease.map(|l| l.heartbeat),
            heartbeat_time: row
                .lease
                .as_ref()
                .map(|(commit, _)| store.commit_time(*commit))
                .transpose()?,
        }),
    })
}

fn remote_notes<'s>(
    store: &'s Store,
    remote: &str,
    slug: &str,
) -> Result<Option<NotesReader<'s>>, StoreError> {
    match store.ref_target(&crate::store::tracking_notes(remote, slug))? {
        Some(commit) => Ok(Some(NotesReader::at_commit(store, commit)?)),
        None => Ok(None),
    }
}

/// A checkpoint on the task page.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointView {
    pub commit: String,
    pub parent: Option<String>,
    pub number: Option<String>,
    pub step: Option<String>,
    pub summary: String,
    /// The trailers as written, in order.
    pub trailers: Vec<(String, String)>,
    pub tests_verdict: Option<&'static str>,
    pub time: i64,
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub files_changed: u32,
    pub insertions: u32,
    pub deletions: u32,
    pub test_summary: Option<String>,
    pub said: Vec<String>,
    pub stop: Option<StopView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StopView {
    pub reason: &'static str,
    pub detail: String,
    pub at: String,
    pub hint: String,
}

impl From<&crate::store::StopRecord> for StopView {
    fn from(s: &crate::store::StopRecord) -> StopView {
        StopView {
            reason: s.reason.as_str(),
            detail: s.detail.clone(),
            at: s.at.clone(),
            hint: s.hint.clone(),
        }
    }
}

/// What the attic keeps, and why, from the plan's attempts.
#[derive(Debug, Clone, Serialize)]
pub struct AtticView {
    pub n: u32,
    pub refname: String,
    pub commit: String,
    pub summary: String,
    /// The plan's record of the rollback or failed try that filed it.
    pub step: Option<u32>,
    pub reason: Option<String>,
    pub at: Option<String>,
}

/// One revision of the plan note: its notes commit and what the commit says changed.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRevision {
    pub commit: String,
    pub time: i64,
    pub message: String,
}

/// An event of a running task's log, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub kind: String,
    pub text: String,
}

/// One task in detail.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDetail {
    pub task: TaskView,
    pub goal: String,
    pub task_commit: String,
    pub running: bool,
    pub plan: PlanView,
    pub revisions: Vec<PlanRevision>,
    pub said: Vec<String>,
    pub checkpoints: Vec<CheckpointView>,
    pub attic: Vec<AtticView>,
    pub stops: Vec<StopView>,
    pub events: Vec<EventView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub status: &'static str,
    pub objective: String,
    pub constraints: Vec<String>,
    pub acceptance_criteria: Vec<String>,
    pub test_command: String,
    pub steps: Vec<(String, String)>,
    pub questions: Vec<String>,
    pub replans: u32,
    pub stop: Option<StopView>,
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> PlanView {
        PlanView {
            status: p.status.as_str(),
            objective: p.objective.clone(),
            constraints: p.constraints.clone(),
            acceptance_criteria: p.acceptance_criteria.clone(),
            test_command: p.test_command.clone(),
            steps: p
                .steps
                .iter()
                .map(|s| (s.title.clone(), s.detail.clone()))
                .collect(),
            questions: p.questions.clone(),
            replans: p.replans,
            stop: p.stop.as_ref().map(StopView::from),
        }
    }
}

/// One task of this repository in detail.
pub fn task_detail(store: &Store, slug: &str) -> Result<TaskDetail, StoreError> {
    let summary = store.summary(slug)?;
    let names: HashSet<String> = store.task_slugs()?.into_iter().collect();
    let task = task_view(&summary.row(), &names);
    let checkpoints = store.checkpoints(&summary.task)?;
    let notes_ref = crate::store::notes_ref(slug);
    let revisions = match store.ref_target(&notes_ref)? {
        Some(tip) => plan_revisions(store, tip)?,
        None => Vec::new(),
    };
    let said = store
        .said(slug)?
        .into_iter()
        .map(|s| s.message)
        .collect::<Vec<_>>();
    let running = summary.state == TaskState::Running;
    let events = if running {
        run_log_events(store, slug)
    } else {
        Vec::new()
    };
    detail(
        store,
        task,
        &summary.task,
        &summary.plan,
        checkpoints,
        store.attic(slug)?,
        revisions,
        said,
        running,
        events,
    )
}

/// One task of a remote in detail, as its last fetch shows it.
pub fn remote_task_detail(
    store: &Store,
    remote: &str,
    slug: &str,
) -> Result<TaskDetail, StoreError> {
    let rows = store.remote_queue(remote)?;
    let names: HashSet<String> = rows.iter().map(|r| r.slug.clone()).collect();
    let (i, row) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.slug == slug)
        .ok_or_else(|| StoreError::UnknownTask {
            slug: slug.to_string(),
            known: names.iter().cloned().collect(),
        })?;
    let view = remote_task_view(store, remote, row, i + 1, &names)?;
    let task = store.task_at_tip(slug, row.tip)?;
    let mut notes = remote_notes(store, remote, slug)?;
    let plan = match notes.as_mut() {
        Some(n) => n.plan(task.task_commit)?,
        None => None,
    }
    .unwrap_or_else(|| Plan::new(&task.goal));
    let mut checkpoints = Vec::new();
    let mut at = task.tip;
    while at != task.task_commit {
        let record = match notes.as_mut() {
            Some(n) => n.record(at)?,
            None => None,
        };
        checkpoints.push(Checkpoint::new(at, store.commit_message(at)?, record));
        match store.parents(at)?.first() {
            Some(parent) => at = *parent,
            None => break,
        }
    }
    checkpoints.reverse();
    let revisions = match store.ref_target(&crate::store::tracking_notes(remote, slug))? {
        Some(tip) => plan_revisions(store, tip)?,
        None => Vec::new(),
    };
    let running = view.state == "running";
    detail(
        store,
        view,
        &task,
        &plan,
        checkpoints,
        Vec::new(),
        revisions,
        Vec::new(),
        running,
        Vec::new(),
    )
}

#[allow(clippy::too_many_arguments)]
fn detail(
    store: &Store,
    view: TaskView,
    task: &crate::store::Task,
    plan: &Plan,
    checkpoints: Vec<Checkpoint>,
    attic: Vec<AtticEntry>,
    revisions: Vec<PlanRevision>,
    said: Vec<String>,
    running: bool,
    events: Vec<EventView>,
) -> Result<TaskDetail, StoreError> {
    let mut stops: Vec<StopView> = Vec::new();
    let mut parent = Some(task.task_commit.to_string());
    let mut views = Vec::with_capacity(checkpoints.len());
    for c in &checkpoints {
        let v = checkpoint_view(store, c, parent.take())?;
        if let Some(stop) = &v.stop {
            stops.push(stop.clone());
        }
        parent = Some(v.commit.clone());
        views.push(v);
    }
    if let Some(stop) = &plan.stop {
        stops.insert(0, StopView::from(stop));
    }
    let attic = attic
        .into_iter()
        .map(|e| attic_view(store, plan, e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TaskDetail {
        task: view,
        goal: task.goal.clone(),
        task_commit: task.task_commit.to_string(),
        running,
        plan: PlanView::from(plan),
        revisions,
        said,
        checkpoints: views,
        attic,
        stops,
        events,
    })
}

fn checkpoint_view(
    store: &Store,
    c: &Checkpoint,
    parent: Option<String>,
) -> Result<CheckpointView, StoreError> {
    let record = c.record.as_ref();
    Ok(CheckpointView {
        commit: c.commit.to_string(),
        parent,
        number: c.trailers.get(trailer::CHECKPOINT).map(str::to_string),
        step: c.trailers.get(trailer::STEP).map(str::to_string),
        summary: c.summary.clone(),
        trailers: c.trailers.0.clone(),
        tests_verdict: c.tests_verdict().map(|v| v.as_str()),
        time: store.commit_time(c.commit)?,
        model: record.map(|r| r.model.clone()),
        input_tokens: record.map_or(0, |r| r.usage.input_tokens),
        output_tokens: record.map_or(0, |r| r.usage.output_tokens),
        cost_usd: record.map_or(0.0, |r| r.usage.cost_usd),
        files_changed: record.map_or(0, |r| r.files_changed),
        insertions: record.map_or(0, |r| r.insertions),
        deletions: record.map_or(0, |r| r.deletions),
        test_summary: record.map(|r| r.tests.summary.clone()),
        said: record.map(|r| r.said.clone()).unwrap_or_default(),
        stop: record.and_then(|r| r.stop.as_ref()).map(StopView::from),
    })
}

fn attic_view(store: &Store, plan: &Plan, e: AtticEntry) -> Result<AtticView, StoreError> {
    let message = store.commit_message(e.commit)?;
    let attempt = plan.attempts.iter().find(|a| a.attic == e.refname);
    Ok(AtticView {
        n: e.n,
        refname: e.refname,
        commit: e.commit.to_string(),
        summary: crate::text::first_line(&message, 200),
        step: attempt.map(|a| a.step),
        reason: attempt.map(|a| a.reason.clone()),
        at: attempt.map(|a| a.at.clone()),
    })
}

/// The notes commits of a task, newest first: each rewrite of the plan (`say`, `plan --edit`,
/// a replan) and each record written, with the message saying why.
fn plan_revisions(store: &Store, tip: ObjectId) -> Result<Vec<PlanRevision>, StoreError> {
    let mut out = Vec::new();
    let mut at = Some(tip);
    while let Some(commit) = at {
        if out.len() >= PLAN_REVISIONS {
            break;
        }
        out.push(PlanRevision {
            commit: commit.to_string(),
            time: store.commit_time(commit)?,
            message: crate::text::first_line(&store.commit_message(commit)?, 200),
        });
        at = store.parents(commit)?.first().copied();
    }
    Ok(out)
}

/// The last events of a running task's log (src/ui/runlog.rs), read from its end so a long
/// run costs no more than a short one.
fn run_log_events(store: &Store, slug: &str) -> Vec<EventView> {
    let path = crate::ui::run_log_path(store, slug);
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(RUN_LOG_TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file
        .take(RUN_LOG_TAIL_BYTES)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line was cut by the seek.
        lines.remove(0);
    }
    let mut events: Vec<EventView> = lines
        .iter()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|event| {
            let kind = event["type"].as_str()?.to_string();
            let text = event_text(&event);
            Some(EventView { kind, text })
        })
        .take(RUN_LOG_EVENTS)
        .collect();
    events.reverse();
    events
}

/// The fields of an event that say what happened, as one line of text.
fn event_text(event: &serde_json::Value) -> String {
    let fields = [
        "title", "name", "detail", "command", "verdict", "summary", "message", "reason", "number",
        "commit",
    ];
    fields
        .iter()
        .filter_map(|k| match &event[*k] {
            serde_json::Value::String(s) => Some(crate::text::first_line(s, 200)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A remote's fleet: its queue, the workers its leases name, the takeovers its lease
/// histories show, and how many tasks finished each hour.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FleetView {
    pub remote: Option<String>,
    pub queue: Vec<TaskView>,
    pub workers: Vec<WorkerView>,
    pub takeovers: Vec<Takeover>,
    /// `(hour start, tasks whose tip landed then and that are done)`, oldest first.
    pub throughput: Vec<(i64, usize)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerView {
    pub holder: String,
    pub host: String,
    pub tasks: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Takeover {
    pub slug: String,
    pub from: String,
    pub to: String,
}

/// How many lease commits of a task the takeover history reads.
const LEASE_HISTORY: usize = 50;

/// The fleet page: from a remote's queue when given, else from this repository's tasks.
pub fn fleet(store: &Store, remote: Option<&str>) -> Result<FleetView, StoreError> {
    let Some(remote) = remote else {
        let view = tasks(store, None)?;
        let queue: Vec<TaskView> = view
            .tasks
            .into_iter()
            .flat_map(|g| std::iter::once(g.task).chain(g.attempts))
            .collect();
        return Ok(FleetView {
            throughput: throughput(&queue),
            queue,
            ..FleetView::default()
        });
    };
    let view = remote_tasks(store, remote, None)?;
    let mut queue: Vec<TaskView> = view
        .tasks
        .into_iter()
        .flat_map(|g| std::iter::once(g.task).chain(g.attempts))
        .collect();
    queue.sort_by_key(|t| t.queue.as_ref().map_or(usize::MAX, |q| q.position));
    let mut workers: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut takeovers = Vec::new();
    for t in &queue {
        if let Some(q) = &t.queue
            && let (Some(holder), Some(host)) = (&q.holder, &q.host)
        {
            workers
                .entry((holder.clone(), host.clone()))
                .or_default()
                .push(t.slug.clone());
        }
        takeovers.extend(lease_takeovers(store, remote, &t.slug)?);
    }
    Ok(FleetView {
        remote: Some(remote.to_string()),
        throughput: throughput(&queue),
        workers: workers
            .into_iter()
            .map(|((holder, host), tasks)| WorkerView {
                holder,
                host,
                tasks,
            })
            .collect(),
        takeovers,
        queue,
    })
}

/// Where a task's lease history changes holder: one worker took over from another.
fn lease_takeovers(store: &Store, remote: &str, slug: &str) -> Result<Vec<Takeover>, StoreError> {
    let Some(mut at) = store.ref_target(&crate::store::tracking_lease(remote, slug))? else {
        return Ok(Vec::new());
    };
    let mut holders = Vec::new();
    for _ in 0..LEASE_HISTORY {
        if let Some(lease) = store.read_lease(at)? {
            holders.push(lease.holder);
        }
        match store.parents(at)?.first() {
            Some(parent) => at = *parent,
            None => break,
        }
    }
    holders.reverse();
    holders.dedup();
    Ok(holders
        .windows(2)
        .map(|w| Takeover {
            slug: slug.to_string(),
            from: w[0].clone(),
            to: w[1].clone(),
        })
        .collect())
}

/// Finished tasks by the hour their tip landed.
fn throughput(tasks: &[TaskView]) -> Vec<(i64, usize)> {
    let mut hours: BTreeMap<i64, usize> = BTreeMap::new();
    for t in tasks
        .iter()
        .filter(|t| t.state == "done" || t.state == "merged")
    {
        *hours
            .entry(t.tip_time - t.tip_time.rem_euclid(3600))
            .or_insert(0) += 1;
    }
    hours.into_iter().collect()
}
