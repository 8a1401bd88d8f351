//! Parallel attempts of a task (docs/data-model.md#attempts).
//!
//! `--attempts N` forks N attempt tasks `<slug>--try-<k>` from the task's tip, each with the
//! task's plan (the steps still to do), its own branch, notes, attic, lock and worktree: an
//! attempt is an ordinary task, so the loop, resume, watch, push and pull work on it unchanged.
//! When they have stopped, one is picked and the round is folded back into the task: the
//! winner's commits are written again as commits of the task on its branch, the others' as
//! attic entries of the task, with their records; the attempt tasks are then deleted.

use std::collections::HashMap;

use gix::ObjectId;

use crate::store::format::notes::NotesReader;
use crate::store::format::plan::{
    AttemptOf, AttemptResult, FAILED_TRY, Parallel, Plan, PlanStatus,
};
use crate::store::format::record::{TestsVerdict, Usage, now_rfc3339};
use crate::store::format::refs::{self, Edit, Expect};
use crate::store::format::slug::{attempt_slug, validate_slug};
use crate::store::format::subject::Subject;
use crate::store::format::trailers::{StepOf, key, parse_trailers};
use crate::store::task::{Task, task_message};
use crate::store::{Result, Store, StoreError};

fn attempts_error(message: impl Into<String>, hint: impl Into<String>) -> StoreError {
    StoreError::Attempts {
        message: message.into(),
        hint: hint.into(),
    }
}

fn object_id(hex: &str) -> Result<ObjectId> {
    ObjectId::from_hex(hex.as_bytes()).map_err(|_| {
        attempts_error(
            format!("the plan names {hex:?} where a commit id belongs"),
            "`git agent fsck` checks the task",
        )
    })
}

/// The attempts in the order the pick prefers them: all tests pass and the run finished,
/// then fewest failed tries, then the smallest diff, then the lowest cost (then the lower
/// number, so the order is total). Returns indices into `results`.
pub fn rank(results: &[AttemptResult]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&results[a], &results[b]);
        class(a)
            .cmp(&class(b))
            .then(a.failed_tries.cmp(&b.failed_tries))
            .then(a.diff_lines().cmp(&b.diff_lines()))
            .then(a.cost_usd.total_cmp(&b.cost_usd))
            .then(a.k.cmp(&b.k))
    });
    order
}

/// 0: finished with its tests passing; 1: tests pass at its tip but it did not finish;
/// 2: anything else.
fn class(r: &AttemptResult) -> u8 {
    match (r.tests == "pass", r.stop == "done") {
        (true, true) => 0,
        (true, false) => 1,
        _ => 2,
    }
}

/// Why `loser` ranks below `winner`: the first criterion of [`rank`] that tells them apart.
pub fn why_lost(loser: &AttemptResult, winner: &AttemptResult) -> String {
    let w = winner.k;
    if class(loser) != class(winner) {
        let own = match class(loser) {
            1 => format!(
                "its tests pass but it did not finish (stopped: {})",
                loser.stop
            ),
            _ if loser.tests == "none" => {
                format!("it made no checkpoint (stopped: {})", loser.stop)
            }
            _ => format!(
                "its tests are {} at its tip (stopped: {})",
                loser.tests, loser.stop
            ),
        };
        let theirs = match class(winner) {
            0 => format!("attempt {w} finished with its tests passing"),
            _ => format!("attempt {w} has passing tests at its tip"),
        };
        return format!("{own}, while {theirs}");
    }
    if loser.failed_tries != winner.failed_tries {
        return format!(
            "{} failed tries against {} for attempt {w}",
            loser.failed_tries, winner.failed_tries
        );
    }
    if loser.diff_lines() != winner.diff_lines() {
        return format!(
            "a larger diff: {} lines changed against {} for attempt {w}",
            loser.diff_lines(),
            winner.diff_lines()
        );
    }
    if loser.cost_usd != winner.cost_usd {
        return format!(
            "it cost more: ${:.4} against ${:.4} for attempt {w}",
            loser.cost_usd, winner.cost_usd
        );
    }
    format!("a tie with attempt {w} on tests, tries, diff and cost; the lower number won")
}

/// What the pick did.
#[derive(Debug, Clone)]
pub struct PickOutcome {
    pub winner: u32,
    /// The branch's tip before and after.
    pub from: ObjectId,
    pub to: ObjectId,
    pub results: Vec<AttemptResult>,
}

impl Store {
    /// Fork `n` attempt tasks from the tip of `task`, which has a plan ready, each with the
    /// plan's steps after the first `offset`, and record the round in the task's plan — all
    /// in one ref transaction. Returns the attempts' names.
    pub fn create_attempts(
        &self,
        task: &Task,
        n: u32,
        pick: &str,
        offset: u32,
    ) -> Result<Vec<String>> {
        let mut plan = self.plan(task)?;
        if plan.status != PlanStatus::Ready || plan.steps.len() <= offset as usize {
            return Err(attempts_error(
                format!("task '{}' has no plan steps left to attempt", task.slug),
                format!("look at the plan with `git agent plan {}`", task.slug),
            ));
        }
        if self.open_round(&plan).is_some() {
            return Err(attempts_error(
                format!("task '{}' has attempts that are not picked yet", task.slug),
                format!(
                    "finish them with `git agent resume {0}`, or choose one with `git agent pick {0} <k>`",
                    task.slug
                ),
            ));
        }
        let fork = task.tip;
        let tree = self.tree_of(fork)?;
        let mut edits = Vec::new();
        let mut slugs = Vec::new();
        for k in 1..=n {
            let slug = attempt_slug(&task.slug, k);
            validate_slug(&slug)?;
            if self.ref_target(&refs::branch(&slug))?.is_some() {
                return Err(StoreError::TaskExists(slug));
            }
            let commit = self.commit(&task_message(&slug, &task.goal, fork), tree, [fork])?;
            let mut own = plan.clone();
            own.steps = plan.steps[offset as usize..].to_vec();
            own.planner_usage = Usage::default();
            own.pending = Usage::default();
            // The task's rollbacks and failed tries name commits of the task; each attempt
            // keeps its own.
            own.attempts.clear();
            own.stop = None;
            own.merged = None;
            own.here = false;
            own.parallel.clear();
            own.attempt_of = Some(AttemptOf {
                task: task.slug.clone(),
                k,
                n,
                fork: fork.to_string(),
                offset,
            });
            edits.push(self.notes_edit(
                &slug,
                &[(commit, own.to_toml())],
                &format!("plan of {slug}: attempt {k} of {n} of {}", task.slug),
            )?);
            edits.push(Edit::update(
                refs::branch(&slug),
                Expect::Absent,
                commit,
                format!("agent: attempt {k} of {}", task.slug),
            ));
            slugs.push(slug);
        }
        plan.parallel.push(Parallel {
            n,
            pick: pick.to_string(),
            fork: fork.to_string(),
            offset,
            at: now_rfc3339(),
            picked: 0,
            results: Vec::new(),
        });
        edits.push(self.notes_edit(
            &task.slug,
            &[(task.task_commit, plan.to_toml())],
            &format!("{n} attempts of {}", task.slug),
        )?);
        // The branch must not have moved while the attempts were written.
        edits.push(Edit::update(
            refs::branch(&task.slug),
            Expect::At(fork),
            fork,
            format!("agent: {n} attempts fork here"),
        ));
        self.transaction(&edits)?;
        Ok(slugs)
    }

    /// The round of attempts of a plan that is not picked yet.
    pub fn open_round<'p>(&self, plan: &'p Plan) -> Option<&'p Parallel> {
        plan.parallel.last().filter(|round| round.picked == 0)
    }

    /// An attempt as it stands now, read from its task.
    pub fn attempt_result(&self, task: &Task, round: &Parallel, k: u32) -> Result<AttemptResult> {
        let slug = attempt_slug(&task.slug, k);
        let summary = self.summary(&slug)?;
        let fork = object_id(&round.fork)?;
        let checkpoints = self.checkpoints(&summary.task)?;
        let failing = checkpoints
            .iter()
            .filter(|c| c.tests_verdict() == Some(TestsVerdict::Fail))
            .count();
        let tries = summary
            .plan
            .attempts
            .iter()
            .filter(|a| a.kind == FAILED_TRY)
            .count();
        let tip = summary.task.tip;
        let (insertions, deletions, files) = if checkpoints.is_empty() {
            (0, 0, Vec::new())
        } else {
            let (from, to) = (self.tree_of(fork)?, self.tree_of(tip)?);
            let (ins, del) = self.line_stats(from, to)?;
            let files = self
                .diff_trees(from, to)?
                .into_iter()
                .map(|(path, _, _)| path.to_string())
                .collect();
            (ins, del, files)
        };
        let usage = summary.budget.usage;
        let mut plan_usage = summary.plan.planner_usage;
        plan_usage.add(&summary.plan.pending);
        Ok(AttemptResult {
            k,
            stop: summary.state.as_str().to_string(),
            tests: checkpoints
                .last()
                .and_then(|c| c.tests_verdict())
                .map_or("none", |v| v.as_str())
                .to_string(),
            checkpoints: checkpoints.len() as u32,
            failed_tries: (failing + tries) as u32,
            insertions,
            deletions,
            files,
            cost_usd: usage.cost_usd,
            wall_ms: usage.wall_ms,
            turns: usage.turns,
            tip: String::new(),
            attic: String::new(),
            plan_usage,
            ..AttemptResult::default()
        })
    }

    /// Fold the open round of attempts into the task: attempt `winner`'s commits become the
    /// branch, every other attempt's tip and every attempt's attic entries become attic
    /// entries of the task, their records notes of the task, `results` (each attempt as it
    /// ended) the round's record in the plan, and the attempt tasks are deleted — one ref
    /// transaction. The caller holds the locks of the task and of its attempts.
    pub fn pick_attempt(
        &self,
        task: &Task,
        winner: u32,
        mut results: Vec<AttemptResult>,
        by_user: bool,
    ) -> Result<PickOutcome> {
        let mut plan = self.plan(task)?;
        let Some(round) = self.open_round(&plan).cloned() else {
            return Err(attempts_error(
                format!("task '{}' has no attempts waiting for a pick", task.slug),
                format!("`git agent compare {}` shows its attempts", task.slug),
            ));
        };
        let Some(best) = results.iter().find(|r| r.k == winner).cloned() else {
            return Err(attempts_error(
                format!("task '{}' has no attempt {winner}", task.slug),
                format!("its attempts are numbered 1 to {}", round.n),
            ));
        };
        let fork = object_id(&round.fork)?;
        if task.tip != fork {
            return Err(attempts_error(
                format!(
                    "agent/{} moved since its attempts started (from {} to {})",
                    task.slug, fork, task.tip
                ),
                "move it back to where the attempts started (`git reflog` shows it), then pick",
            ));
        }
        let mut graft = Graft {
            store: self,
            to: task.slug.clone(),
            onto: fork,
            base_number: self.checkpoint_number(fork)?,
            offset: round.offset,
            notes: Vec::new(),
        };
        let mut next_attic = self.attic(&task.slug)?.last().map_or(1, |e| e.n + 1);
        let mut edits = Vec::new();
        let mut tip = fork;
        let mut winner_steps = None;
        for result in &mut results {
            let slug = attempt_slug(&task.slug, result.k);
            let attempt = self.task(&slug)?;
            let mut reader = NotesReader::new(self, &slug)?;
            let mut map = HashMap::new();
            if attempt.tip != attempt.task_commit {
                let new_tip = graft.carry(&slug, &attempt, &mut reader, &mut map, attempt.tip)?;
                result.tip = new_tip.to_string();
                if result.k == winner {
                    tip = new_tip;
                } else {
                    let refname = refs::attic(&task.slug, next_attic);
                    next_attic += 1;
                    edits.push(Edit::update(
                        refname.clone(),
                        Expect::Absent,
                        new_tip,
                        format!("agent: attic: attempt {} of {}", result.k, task.slug),
                    ));
                    result.attic = refname;
                }
            }
            for entry in self.attic(&slug)? {
                let carried = graft.carry(&slug, &attempt, &mut reader, &mut map, entry.commit)?;
                edits.push(Edit::update(
                    refs::attic(&task.slug, next_attic),
                    Expect::Absent,
                    carried,
                    format!("agent: attic: {} of attempt {}", entry.refname, result.k),
                ));
                next_attic += 1;
            }
            if result.k == winner {
                let own = reader.plan(attempt.task_commit)?;
                winner_steps = own.map(|p| p.steps);
            }
            edits.extend(self.task_deletions(&slug)?);
            if result.k == winner {
                result.outcome = "won".into();
                result.reason = if by_user {
                    "picked by the user".into()
                } else {
                    "ranked first: tests, then failed tries, then diff size, then cost".into()
                };
            } else {
                result.outcome = "lost".into();
                result.reason = if by_user {
                    format!("not picked: the user picked attempt {winner}")
                } else {
                    why_lost(result, &best)
                };
            }
        }
        if let Some(steps) = winner_steps {
            let mut all = plan.steps[..(round.offset as usize).min(plan.steps.len())].to_vec();
            all.extend(steps);
            plan.steps = all;
        }
        if let Some(open) = plan.parallel.last_mut() {
            open.picked = winner;
            open.results = results.clone();
        }
        let mut notes = std::mem::take(&mut graft.notes);
        notes.push((task.task_commit, plan.to_toml()));
        edits.push(self.notes_edit(
            &task.slug,
            &notes,
            &format!("attempt {winner} of {} picked", task.slug),
        )?);
        edits.push(Edit::update(
            refs::branch(&task.slug),
            Expect::At(fork),
            tip,
            format!("agent: attempt {winner} picked"),
        ));
        self.transaction(&edits)?;
        for result in &results {
            self.remove_worktree(&attempt_slug(&task.slug, result.k))?;
        }
        Ok(PickOutcome {
            winner,
            from: fork,
            to: tip,
            results,
        })
    }

    /// Choose another attempt of the last picked round: the branch moves to its tip (kept in
    /// the attic since the pick), the current tip goes to the attic, and the round's record
    /// says so — one ref transaction.
    pub fn repick_attempt(&self, task: &Task, k: u32) -> Result<PickOutcome> {
        let mut plan = self.plan(task)?;
        let Some(round) = plan.parallel.last_mut().filter(|r| r.picked != 0) else {
            return Err(attempts_error(
                format!("task '{}' has no attempts", task.slug),
                format!(
                    "run some with `git agent resume {} --attempts N`",
                    task.slug
                ),
            ));
        };
        if round.picked == k {
            return Err(attempts_error(
                format!("attempt {k} of '{}' is already the one picked", task.slug),
                format!("`git agent compare {}` shows the attempts", task.slug),
            ));
        }
        let old = round.picked;
        let fork = object_id(&round.fork)?;
        let Some(chosen) = round.results.iter().find(|r| r.k == k) else {
            return Err(attempts_error(
                format!("task '{}' has no attempt {k}", task.slug),
                format!("its attempts are numbered 1 to {}", round.n),
            ));
        };
        let to = if chosen.tip.is_empty() {
            fork
        } else {
            object_id(&chosen.tip)?
        };
        let mut edits = Vec::new();
        let mut kept = String::new();
        if task.tip != fork {
            let (refname, edit) =
                self.attic_edit(&task.slug, task.tip, &format!("attempt {old} replaced"))?;
            kept = refname;
            edits.push(edit);
        }
        for result in &mut round.results {
            if result.k == k {
                result.outcome = "won".into();
                result.reason = "picked by the user".into();
            } else if result.k == old {
                result.outcome = "lost".into();
                result.reason = format!("not picked: the user picked attempt {k}");
                result.attic = kept.clone();
            }
        }
        round.picked = k;
        let results = round.results.clone();
        edits.push(self.notes_edit(
            &task.slug,
            &[(task.task_commit, plan.to_toml())],
            &format!("attempt {k} of {} picked", task.slug),
        )?);
        edits.push(Edit::update(
            refs::branch(&task.slug),
            Expect::At(task.tip),
            to,
            format!("agent: attempt {k} picked instead of {old}"),
        ));
        self.transaction(&edits)?;
        Ok(PickOutcome {
            winner: k,
            from: task.tip,
            to,
            results,
        })
    }

    /// The edits that delete every ref of a task: branch, notes, attic and say.
    pub fn task_deletions(&self, slug: &str) -> Result<Vec<Edit>> {
        let mut edits = Vec::new();
        let branch = refs::branch(slug);
        if let Some(tip) = self.ref_target(&branch)? {
            edits.push(Edit::delete(branch, tip));
        }
        let notes = refs::notes(slug);
        if let Some(id) = self.ref_target(&notes)? {
            edits.push(Edit::delete(notes, id));
        }
        for entry in self.attic(slug)? {
            edits.push(Edit::delete(entry.refname, entry.commit));
        }
        let said = refs::say(slug);
        if let Some(id) = self.ref_target(&said)? {
            edits.push(Edit::delete(said, id));
        }
        Ok(edits)
    }

    /// The attempt tasks of `slug` that exist (`<slug>--try-<k>` whose plan says so).
    pub fn attempt_tasks(&self, slug: &str) -> Result<Vec<(u32, String)>> {
        let prefix = format!("{slug}--try-");
        let mut out = Vec::new();
        for name in self.task_slugs()? {
            let Some(k) = name
                .strip_prefix(&prefix)
                .and_then(|k| k.parse::<u32>().ok())
            else {
                continue;
            };
            if self.attempt_of(&name)?.is_some_and(|of| of.task == slug) {
                out.push((k, name));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether `slug` names an attempt (`<task>--try-<k>`) that this repository does not have
    /// but whose task it has, with no round of attempts open: the attempt was picked and
    /// folded into the task here, and a remote that still has it must not bring it back.
    pub fn is_folded_attempt(&self, slug: &str) -> Result<bool> {
        let Some((task, k)) = slug.rsplit_once("--try-") else {
            return Ok(false);
        };
        if k.parse::<u32>().is_err()
            || self.ref_target(&refs::branch(slug))?.is_some()
            || self.ref_target(&refs::branch(task))?.is_none()
        {
            return Ok(false);
        }
        let task = self.task(task)?;
        let mut reader = NotesReader::new(self, &task.slug)?;
        Ok(reader
            .plan(task.task_commit)?
            .is_some_and(|plan| !plan.parallel.is_empty() && self.open_round(&plan).is_none()))
    }

    /// What task `slug` is an attempt of, if it is one.
    pub fn attempt_of(&self, slug: &str) -> Result<Option<AttemptOf>> {
        let task = self.task(slug)?;
        let mut reader = NotesReader::new(self, slug)?;
        Ok(reader.plan(task.task_commit)?.and_then(|p| p.attempt_of))
    }

    /// Move the files of the task's private worktree, if it has one, from `from` to `to`.
    pub fn move_worktree(&self, slug: &str, from: ObjectId, to: ObjectId) -> Result<()> {
        let path = self.worktree_path(slug);
        if !path.is_dir() || from == to {
            return Ok(());
        }
        let index = self.open_worktree(&path)?.index_path();
        self.checkout_between(&path, &index, self.tree_of(from)?, self.tree_of(to)?)
    }
}

/// Writes an attempt's commits again as commits of the task.
struct Graft<'s> {
    store: &'s Store,
    /// The task the commits are written for.
    to: String,
    /// Where the attempt's task commit is replaced: the fork.
    onto: ObjectId,
    /// The checkpoint number of the fork, added to the attempt's numbers.
    base_number: u32,
    /// The task's steps done at the fork, added to the attempt's step numbers.
    offset: u32,
    /// The records of the commits written, for the task's notes.
    notes: Vec<(ObjectId, String)>,
}

impl Graft<'_> {
    /// The task's copy of `commit` of the attempt `from`, written with every commit below it
    /// down to the attempt's task commit (those already written are in `map`).
    fn carry(
        &mut self,
        from: &str,
        attempt: &Task,
        reader: &mut NotesReader<'_>,
        map: &mut HashMap<ObjectId, ObjectId>,
        commit: ObjectId,
    ) -> Result<ObjectId> {
        let mut chain = Vec::new();
        let mut current = commit;
        let mut base = loop {
            if current == attempt.task_commit {
                break self.onto;
            }
            if let Some(done) = map.get(&current) {
                break *done;
            }
            chain.push(current);
            current = match self.store.parents(current)?.first() {
                Some(parent) => *parent,
                None => {
                    return Err(attempts_error(
                        format!("{commit} of attempt {from} does not descend from its task commit"),
                        format!("`git agent fsck {from}` says what is wrong"),
                    ));
                }
            };
        };
        for old in chain.into_iter().rev() {
            let message = rewrite_message(
                &self.store.commit_message(old)?,
                from,
                &self.to,
                self.base_number,
                self.offset,
            );
            let new = self
                .store
                .commit(&message, self.store.tree_of(old)?, [base])?;
            if let Some(text) = reader.text(old)? {
                self.notes
                    .push((new, rewrite_record(&text, self.base_number, self.offset)));
            }
            map.insert(old, new);
            base = new;
        }
        Ok(base)
    }
}

/// An attempt's commit message as the task's: its name, checkpoint number and step in the
/// trailers (and the first line of an unfinished-work commit) rewritten, nothing else.
fn rewrite_message(message: &str, from: &str, to: &str, base_number: u32, offset: u32) -> String {
    let body = message.trim_end_matches('\n');
    let (head, block) = match body.rfind("\n\n") {
        Some(i) => (&body[..i + 2], &body[i + 2..]),
        None => ("", body),
    };
    let head = match Subject::of(head) {
        Some(Subject::Unfinished(of)) if of == from => {
            let rest = head.split_once('\n').map_or("", |(_, rest)| rest);
            format!("{}\n{rest}", Subject::Unfinished(to.to_string()))
        }
        _ => head.to_string(),
    };
    let mut trailers = parse_trailers(block);
    if trailers.0.is_empty() {
        return format!("{head}{block}\n");
    }
    trailers.rewrite(key::TASK, |v| (v == from).then(|| to.to_string()));
    trailers.rewrite(key::CHECKPOINT, |v| {
        v.parse::<u32>().ok().map(|n| (n + base_number).to_string())
    });
    trailers.rewrite(key::STEP, |v| {
        let step = v.parse::<StepOf>().ok()?;
        let shifted = StepOf {
            index: step.index + offset,
            steps: step.steps + offset,
        };
        Some(shifted.to_string())
    });
    format!("{head}{}", trailers.render())
}

/// An attempt's record as the task's: checkpoint number and step shifted like the trailers,
/// every other field kept. A note that does not parse is kept as it is (fsck reports it).
fn rewrite_record(text: &str, base_number: u32, offset: u32) -> String {
    let Ok(mut table) = text.parse::<toml::Table>() else {
        return text.to_string();
    };
    let shift = |table: &mut toml::Table, key: &str, by: u32| {
        if let Some(toml::Value::Integer(n)) = table.get_mut(key)
            && *n > 0
        {
            *n += i64::from(by);
        }
    };
    shift(&mut table, "checkpoint", base_number);
    shift(&mut table, "step", offset);
    shift(&mut table, "steps", offset);
    toml::to_string(&table).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn result(k: u32, tests: &str, stop: &str, tries: u32, lines: u32, cost: f64) -> AttemptResult {
        AttemptResult {
            k,
            tests: tests.into(),
            stop: stop.into(),
            failed_tries: tries,
            insertions: lines,
            cost_usd: cost,
            ..AttemptResult::default()
        }
    }

    #[test]
    fn the_rank_prefers_passing_then_fewer_tries_then_smaller_diff_then_cost() {
        let results = vec![
            result(1, "fail", "budget", 0, 1, 0.0),
            result(2, "pass", "done", 2, 1, 0.0),
            result(3, "pass", "done", 1, 9, 0.5),
            result(4, "pass", "done", 1, 9, 0.4),
            result(5, "pass", "blocked", 0, 1, 0.0),
            result(6, "none", "blocked", 0, 0, 0.0),
            result(7, "pass", "done", 1, 3, 0.9),
        ];
        let order: Vec<u32> = rank(&results).into_iter().map(|i| results[i].k).collect();
        // Among attempts without passing tests, the smaller diff first: nothing beats a broken change.
        assert_eq!(order, vec![7, 4, 3, 2, 5, 6, 1]);
        let best = &results[6];
        assert_eq!(
            why_lost(&results[0], best),
            "its tests are fail at its tip (stopped: budget), while attempt 7 finished with its tests passing"
        );
        assert_eq!(
            why_lost(&results[5], best),
            "it made no checkpoint (stopped: blocked), while attempt 7 finished with its tests passing"
        );
        assert_eq!(
            why_lost(&results[1], best),
            "2 failed tries against 1 for attempt 7"
        );
        assert_eq!(
            why_lost(&results[3], best),
            "a larger diff: 9 lines changed against 3 for attempt 7"
        );
        assert_eq!(
            why_lost(&results[2], &results[3]),
            "it cost more: $0.5000 against $0.4000 for attempt 4"
        );
    }

    #[test]
    fn messages_and_records_are_renamed_and_renumbered() {
        let message = "Add a flag\n\nbody\n\nAgent-Task: t--try-2\nAgent-Checkpoint: 2\nAgent-Step: 1/2\nAgent-Tests: pass (sh test.sh: ok)\n";
        assert_eq!(
            rewrite_message(message, "t--try-2", "t", 3, 1),
            "Add a flag\n\nbody\n\nAgent-Task: t\nAgent-Checkpoint: 5\nAgent-Step: 2/3\nAgent-Tests: pass (sh test.sh: ok)\n"
        );
        let attic = "agent: unfinished work of t--try-2\n\nwhy\n\nAgent-Task: t--try-2\nAgent-Attic: unfinished\n";
        assert_eq!(
            rewrite_message(attic, "t--try-2", "t", 0, 0),
            "agent: unfinished work of t\n\nwhy\n\nAgent-Task: t\nAgent-Attic: unfinished\n"
        );
        let record = rewrite_record("checkpoint = 2\nstep = 1\nsteps = 2\nmine = \"x\"\n", 3, 1);
        let table: toml::Table = record.parse().expect("parses");
        assert_eq!(table["checkpoint"].as_integer(), Some(5));
        assert_eq!(table["step"].as_integer(), Some(2));
        assert_eq!(table["steps"].as_integer(), Some(3));
        assert_eq!(table["mine"].as_str(), Some("x"));
    }
}
