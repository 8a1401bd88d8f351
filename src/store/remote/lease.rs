//! Leases and the queue of a shared remote (docs/data-model.md#leases): which worker holds a
//! task, and what state each task of a remote is in.
//!
//! A lease is `refs/agent/<slug>/lease` on the remote, pointing at a commit (empty tree) whose
//! trailers name the holder and carry a heartbeat counter. It is only ever changed by an
//! atomic push with a lease on its old value, so the remote decides every race: two workers
//! can never both move it from the same value. A holder renews it (heartbeat + 1, the old
//! lease as parent) while it works; a taker steals it only after seeing the same lease commit
//! for the lease's whole duration by its own clock — no clocks are compared across machines.

use std::time::{Duration, Instant};

use gix::ObjectId;

use crate::store::format::notes::NotesReader;
use crate::store::format::record::StopReason;
use crate::store::format::refs;
use crate::store::format::refs::tracking_notes;
use crate::store::format::subject::Subject;
use crate::store::format::trailers::{Trailers, key, parse_trailers};
use crate::store::{Result, Store};

/// The longest a lease lasts: what `worker --lease` accepts, and what a pushed lease that says
/// more is read as. Anyone with push access writes leases; one saying `999999999999s` would
/// otherwise keep every worker off the task for ever.
pub const MAX_LEASE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a lease commit says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it: unique per worker process.
    pub holder: String,
    pub host: String,
    pub pid: u32,
    /// When the holder claimed the task, by its own clock (RFC 3339; for people only).
    pub since: String,
    /// Moves on every renewal; the only thing a taker compares.
    pub heartbeat: u64,
    /// How long a taker must see the lease unchanged before it may steal it.
    pub duration: Duration,
}

impl Lease {
    pub fn message(&self, slug: &str) -> String {
        format!(
            "{}\n\n{}",
            Subject::Lease(slug.to_string()),
            self.trailers(slug).render()
        )
    }

    /// The trailers of the lease commit of `slug`.
    pub fn trailers(&self, slug: &str) -> Trailers {
        let mut t = Trailers::default();
        t.push(key::TASK, slug);
        t.push(key::LEASE_HOLDER, &self.holder);
        t.push(key::LEASE_HOST, &self.host);
        t.push(key::LEASE_PID, self.pid.to_string());
        t.push(key::LEASE_SINCE, &self.since);
        t.push(key::LEASE_HEARTBEAT, self.heartbeat.to_string());
        t.push(
            key::LEASE_DURATION,
            format!("{}s", self.duration.as_secs().max(1)),
        );
        t
    }

    /// The lease a commit message describes; `None` when it is not one.
    pub fn parse(message: &str) -> Option<Lease> {
        Lease::from_trailers(&parse_trailers(message))
    }

    fn from_trailers(t: &Trailers) -> Option<Lease> {
        let get = |k: &str| t.get(k).map(str::to_string);
        let duration = get(key::LEASE_DURATION)?;
        let secs: u64 = duration
            .strip_suffix('s')
            .unwrap_or(&duration)
            .parse()
            .ok()?;
        Some(Lease {
            holder: get(key::LEASE_HOLDER)?,
            host: get(key::LEASE_HOST).unwrap_or_default(),
            pid: get(key::LEASE_PID)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            since: get(key::LEASE_SINCE).unwrap_or_default(),
            heartbeat: get(key::LEASE_HEARTBEAT)?.parse().ok()?,
            duration: Duration::from_secs(secs.clamp(1, MAX_LEASE.as_secs())),
        })
    }
}

/// What a taker may do with a task's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseCheck {
    /// No lease: claim it (the remote must still have none).
    Free,
    /// Someone holds it, and its heartbeat moved within its duration as we saw it.
    Held,
    /// The same lease commit for its whole duration by our clock: steal it (by CAS on it).
    Stale,
}

/// When a taker first saw a lease commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub lease: ObjectId,
    pub at: Instant,
}

/// Decide what a taker may do, and what it remembers for next time. Pure: `now` comes from
/// the taker's clock, `seen` from its own earlier look.
pub fn check_lease(
    current: Option<(ObjectId, Duration)>,
    seen: Option<Seen>,
    now: Instant,
) -> (LeaseCheck, Option<Seen>) {
    let Some((lease, duration)) = current else {
        return (LeaseCheck::Free, None);
    };
    match seen {
        Some(seen) if seen.lease == lease => {
            let check = if now.saturating_duration_since(seen.at) >= duration {
                LeaseCheck::Stale
            } else {
                LeaseCheck::Held
            };
            (check, Some(seen))
        }
        // New to us, or its heartbeat moved: the clock starts now.
        _ => (LeaseCheck::Held, Some(Seen { lease, at: now })),
    }
}

/// Where a task of a remote stands, as `git agent queue` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueState {
    /// Nobody holds it and it has not finished: a worker will take it.
    Queued,
    /// A worker holds it and has pushed no checkpoint yet.
    Claimed,
    /// A worker holds it and has pushed checkpoints.
    Running,
    Done,
    /// It stopped and needs a person: blocked, out of budget, or an error.
    Blocked(StopReason),
    /// A person stopped it with `git agent stop`: it waits for them (`git agent resume`).
    Stopped,
}

impl QueueState {
    pub fn as_str(&self) -> &'static str {
        match self {
            QueueState::Queued => "queued",
            QueueState::Claimed => "claimed",
            QueueState::Running => "running",
            QueueState::Done => "done",
            QueueState::Blocked(_) => "blocked",
            QueueState::Stopped => "stopped",
        }
    }
}

/// The state of a task from its stop record, its lease and whether it has checkpoints. Pure.
/// A run that was interrupted (SIGTERM, a lost lease) or died leaves the task to be taken
/// again; only `done` and the stops that need a person take it out of the queue.
pub fn queue_state(stop: Option<StopReason>, leased: bool, checkpoints: bool) -> QueueState {
    match stop {
        Some(StopReason::Done) => QueueState::Done,
        Some(reason @ (StopReason::Blocked | StopReason::Budget | StopReason::Error)) => {
            QueueState::Blocked(reason)
        }
        Some(StopReason::Interrupted) | None => match (leased, checkpoints) {
            (false, _) => QueueState::Queued,
            (true, false) => QueueState::Claimed,
            (true, true) => QueueState::Running,
        },
    }
}

/// One task of a remote.
#[derive(Debug, Clone)]
pub struct QueueRow {
    pub slug: String,
    pub goal: String,
    pub tip: ObjectId,
    /// When the task was created (its task commit's time): the queue's order.
    pub created: i64,
    pub checkpoints: u32,
    pub state: QueueState,
    pub stop_detail: Option<String>,
    pub lease: Option<(ObjectId, Lease)>,
    /// One of a task's parallel attempts (`start --attempts`): the run of its task runs it,
    /// so a worker never claims it on its own.
    pub attempt: bool,
}

impl Store {
    /// Write a lease commit (not yet pushed): the empty tree, the previous lease as parent.
    pub fn lease_commit(
        &self,
        slug: &str,
        lease: &Lease,
        parent: Option<ObjectId>,
    ) -> Result<ObjectId> {
        let tree = self.empty_tree()?;
        self.commit(&lease.message(slug), tree, parent)
    }

    /// The lease a commit holds, if it is one.
    pub fn read_lease(&self, commit: ObjectId) -> Result<Option<Lease>> {
        Ok(Lease::parse(&self.commit_message(commit)?))
    }

    /// The tasks of a remote as the last fetch saw them, oldest first. A task that cannot be
    /// read (a branch moved by hand) is left out rather than failing the whole queue.
    pub fn remote_queue(&self, remote: &str) -> Result<Vec<QueueRow>> {
        let mut rows = Vec::new();
        for (slug, tip) in self.tracking_tasks(remote)? {
            let Ok(row) = self.queue_row(remote, &slug, tip) else {
                continue;
            };
            rows.push(row);
        }
        rows.sort_by(|a, b| a.created.cmp(&b.created).then(a.slug.cmp(&b.slug)));
        Ok(rows)
    }

    fn queue_row(&self, remote: &str, slug: &str, tip: ObjectId) -> Result<QueueRow> {
        let task = self.task_at(slug, tip)?;
        let checkpoints = if tip == task.task_commit {
            0
        } else {
            self.checkpoint_number(tip)?
        };
        let (stop, attempt) = match self.ref_target(&tracking_notes(remote, slug))? {
            None => (None, false),
            Some(notes) => {
                let mut reader = NotesReader::at_commit(self, notes)?;
                let plan = reader.plan(task.task_commit)?;
                let attempt = plan.as_ref().is_some_and(|p| p.attempt_of.is_some());
                let stop = if tip == task.task_commit {
                    plan.and_then(|p| p.stop)
                } else {
                    reader.record(tip)?.and_then(|r| r.stop)
                };
                (stop, attempt)
            }
        };
        let lease = match self.ref_target(&refs::tracking_lease(remote, slug))? {
            None => None,
            Some(commit) => self.read_lease(commit)?.map(|l| (commit, l)),
        };
        let state = match &stop {
            Some(stop) if stop.requested() && lease.is_none() => QueueState::Stopped,
            _ => queue_state(
                stop.as_ref().map(|s| s.reason),
                lease.is_some(),
                checkpoints > 0,
            ),
        };
        Ok(QueueRow {
            slug: slug.to_string(),
            goal: crate::text::first_line(&task.goal, 120),
            tip,
            created: self.commit_time(task.task_commit)?,
            checkpoints,
            state,
            stop_detail: stop.map(|s| s.detail).filter(|d| !d.is_empty()),
            lease,
            attempt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    #[test]
    fn a_lease_lasts_at_most_the_maximum() {
        let lease = |duration: &str| {
            Lease::parse(&format!(
                "agent: lease t\n\nAgent-Task: t\nAgent-Lease-Holder: w\nAgent-Lease-Heartbeat: 0\nAgent-Lease-Duration: {duration}\n"
            ))
            .map(|l| l.duration)
        };
        assert_eq!(lease("999999999999s"), Some(MAX_LEASE));
        assert_eq!(lease("0s"), Some(Duration::from_secs(1)));
        assert_eq!(lease("300s"), Some(Duration::from_secs(300)));
    }

    #[test]
    fn a_lease_is_written_from_its_type_and_read_back_equal() {
        let lease = Lease {
            holder: "w1-4242".into(),
            host: "box".into(),
            pid: 4242,
            since: "2026-01-01T00:00:00Z".into(),
            heartbeat: 7,
            duration: Duration::from_secs(300),
        };
        let message = lease.message("t");
        assert_eq!(Lease::parse(&message), Some(lease.clone()));
        assert_eq!(Subject::of(&message), Some(Subject::Lease("t".into())));
        assert_eq!(parse_trailers(&message).get(key::TASK), Some("t"));
    }

    #[test]
    fn a_lease_round_trips_through_its_commit_message() {
        let lease = Lease {
            holder: "w1 on\nhost".into(),
            host: "box".into(),
            pid: 42,
            since: "2026-01-01T00:00:00Z".into(),
            heartbeat: 7,
            duration: Duration::from_secs(300),
        };
        let parsed = Lease::parse(&lease.message("t")).unwrap();
        assert_eq!(parsed.holder, "w1 on host");
        assert_eq!(parsed.heartbeat, 7);
        assert_eq!(parsed.duration, Duration::from_secs(300));
        assert_eq!(parsed.pid, 42);
        assert_eq!(Lease::parse("agent: start t\n\nAgent-Task: t\n"), None);
        assert_eq!(
            Lease::parse(
                "x\n\nAgent-Lease-Holder: a\nAgent-Lease-Heartbeat: nope\nAgent-Lease-Duration: 5s\n"
            ),
            None
        );
    }

    #[test]
    fn a_lease_is_stale_only_after_its_duration_unchanged_by_the_takers_clock() {
        let t0 = Instant::now();
        let d = Duration::from_secs(10);
        assert_eq!(check_lease(None, None, t0), (LeaseCheck::Free, None));
        // First sight: held, and the clock starts.
        let (check, seen) = check_lease(Some((id(1), d)), None, t0);
        assert_eq!(check, LeaseCheck::Held);
        assert_eq!(
            seen,
            Some(Seen {
                lease: id(1),
                at: t0
            })
        );
        // Unchanged, but not long enough.
        let (check, seen2) = check_lease(Some((id(1), d)), seen, t0 + Duration::from_secs(9));
        assert_eq!((check, seen2), (LeaseCheck::Held, seen));
        // Unchanged for the whole duration: stale.
        let (check, _) = check_lease(Some((id(1), d)), seen, t0 + d);
        assert_eq!(check, LeaseCheck::Stale);
        // The heartbeat moved: the clock starts again.
        let later = t0 + Duration::from_secs(20);
        let (check, seen3) = check_lease(Some((id(2), d)), seen, later);
        assert_eq!(check, LeaseCheck::Held);
        assert_eq!(
            seen3,
            Some(Seen {
                lease: id(2),
                at: later
            })
        );
    }

    #[test]
    fn queue_states() {
        use StopReason::*;
        assert_eq!(queue_state(None, false, false), QueueState::Queued);
        assert_eq!(
            queue_state(Some(Interrupted), false, true),
            QueueState::Queued
        );
        assert_eq!(queue_state(None, true, false), QueueState::Claimed);
        assert_eq!(
            queue_state(Some(Interrupted), true, true),
            QueueState::Running
        );
        assert_eq!(queue_state(Some(Done), false, true), QueueState::Done);
        assert_eq!(queue_state(Some(Done), true, true), QueueState::Done);
        assert_eq!(
            queue_state(Some(Blocked), false, false),
            QueueState::Blocked(Blocked)
        );
        assert_eq!(
            queue_state(Some(Budget), false, true),
            QueueState::Blocked(Budget)
        );
        assert_eq!(
            queue_state(Some(Error), true, true),
            QueueState::Blocked(Error)
        );
    }
}
