//! Steering: what the user says to a task with `git agent say`, from any terminal or machine.
//!
//! `refs/agent/<slug>/say` holds a chain of commits with the empty tree, one per message: the
//! message is the commit message (redacted like every message), with the trailer
//! `Agent-Task: <slug>`, and the previous message as parent. A commit with two parents joins
//! what two machines said (`pull`) and says nothing itself. The chain is written with a
//! compare-and-swap of its own ref, never through the notes: a run holding the task lock
//! rewrites the notes all the time, and `say` must neither wait for it nor break it.
//!
//! A message is delivered when a checkpoint record of the task lists its commit in `said`;
//! the loop shows every undelivered message to the model once per run and records it in the
//! next checkpoint.
//!
//! `git agent stop` writes a **stop request** into the same chain: a commit with the trailer
//! `Agent-Say: stop`, which is no message to the model. It travels with push and pull like a
//! message, so a worker on another machine gets it with what was said. A run stops at the first
//! stop request it finds that was not yet in the chain when it took the task's lock (the lock
//! file keeps the chain's tip of that moment, [`TaskLock`](super::lock::TaskLock)): a request is
//! meant for the run under way, never for one started after it.

use std::collections::HashSet;

use gix::ObjectId;

use super::format::notes::NotesReader;
use super::format::refs::{self, Edit, Expect};
use super::format::subject::Subject;
use super::format::trailers::{Trailers, key, parse_trailers};
use super::task::Task;
use super::{Result, Store, StoreError, git_err};

/// One message of `git agent say`.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub commit: ObjectId,
    pub message: String,
}

/// How often `say` tries again when another `say` moved the ref at the same moment.
const RACE_RETRIES: u32 = 8;

impl Store {
    pub(crate) fn empty_tree(&self) -> Result<ObjectId> {
        Ok(self
            .repo
            .write_object(gix::objs::Tree::empty())
            .map_err(|err| StoreError::Git {
                context: "could not write the empty tree".into(),
                source: err.into(),
            })?
            .detach())
    }

    /// Add a message to what was said to the task; returns its commit.
    pub fn say(&self, slug: &str, message: &str) -> Result<ObjectId> {
        let text = format!("{}\n\n{}: {slug}\n", message.trim(), key::TASK);
        self.append_said(slug, &text)
    }

    /// Ask the run of the task to stop (`git agent stop`); returns the request's commit.
    pub fn request_stop(&self, slug: &str) -> Result<ObjectId> {
        let mut trailers = Trailers::default();
        trailers.push(key::TASK, slug);
        trailers.push(key::SAY, STOP);
        let text = format!(
            "{}\n\nrequested with git agent stop\n\n{}",
            Subject::Stop(slug.to_string()),
            trailers.render()
        );
        self.append_said(slug, &text)
    }

    /// The stop requests in the chain ending at `tip` that are not in the chain ending at
    /// `base` (all of them without a base), oldest first.
    pub fn stop_requests(
        &self,
        tip: Option<ObjectId>,
        base: Option<ObjectId>,
    ) -> Result<Vec<ObjectId>> {
        let Some(tip) = tip else {
            return Ok(Vec::new());
        };
        let mut known = HashSet::new();
        if let Some(base) = base {
            let mut stack = vec![base];
            while let Some(commit) = stack.pop() {
                if known.insert(commit) {
                    stack.extend(self.parents(commit)?);
                }
            }
        }
        let mut out = Vec::new();
        let mut stack = vec![tip];
        let mut seen = HashSet::new();
        while let Some(commit) = stack.pop() {
            if known.contains(&commit) || !seen.insert(commit) {
                continue;
            }
            if is_stop(&self.commit_message(commit)?) {
                out.push(commit);
            }
            stack.extend(self.parents(commit)?);
        }
        out.reverse();
        Ok(out)
    }

    /// Add a commit with `text` on top of the say chain, by compare-and-swap.
    fn append_said(&self, slug: &str, text: &str) -> Result<ObjectId> {
        let name = refs::say(slug);
        let tree = self.empty_tree()?;
        let mut tries = 0;
        loop {
            let previous = self.ref_target(&name)?;
            let commit = self.commit(text, tree, previous)?;
            let edit = Edit::update(
                name.clone(),
                Expect::from_option(previous),
                commit,
                format!("agent: say to {slug}"),
            );
            match self.transaction(&[edit]) {
                Ok(()) => return Ok(commit),
                Err(StoreError::RaceLost { .. }) if tries < RACE_RETRIES => tries += 1,
                Err(err) => return Err(err),
            }
        }
    }

    /// Join two lines of what was said (ours is where the say ref is now): a commit with both
    /// as parents, so no message of either side is lost.
    pub fn merge_said(&self, slug: &str, ours: ObjectId, theirs: ObjectId) -> Result<ObjectId> {
        let tree = self.empty_tree()?;
        let text = format!(
            "{}\n\n{}: {slug}\n",
            Subject::JoinSaid(slug.to_string()),
            key::TASK
        );
        let commit = self.commit(&text, tree, [ours, theirs])?;
        self.transaction(&[Edit::update(
            refs::say(slug),
            Expect::At(ours),
            commit,
            Subject::JoinSaid(slug.to_string()).to_string(),
        )])?;
        Ok(commit)
    }

    /// Every message said to the task, oldest first (parents before children).
    pub fn said(&self, slug: &str) -> Result<Vec<Said>> {
        match self.ref_target(&refs::say(slug))? {
            None => Ok(Vec::new()),
            Some(tip) => self.said_from(tip),
        }
    }

    /// The messages of the chain ending at `tip`, oldest first.
    pub fn said_from(&self, tip: ObjectId) -> Result<Vec<Said>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        // Post-order over the parents: a message comes after everything said before it.
        let mut stack = vec![(tip, false)];
        while let Some((commit, expanded)) = stack.pop() {
            if expanded {
                let object = self
                    .repo
                    .find_commit(commit)
                    .map_err(git_err(format!("could not read commit {commit}")))?;
                let message = self.commit_message(commit)?;
                // Joins say nothing; stop requests are for the run, not the model.
                if object.parent_ids().count() < 2 && !is_stop(&message) {
                    out.push(Said {
                        commit,
                        message: message_of(&message),
                    });
                }
                continue;
            }
            if !seen.insert(commit) {
                continue;
            }
            stack.push((commit, true));
            let mut parents = self.parents(commit)?;
            parents.reverse();
            stack.extend(parents.into_iter().map(|p| (p, false)));
        }
        Ok(out)
    }

    /// The messages that some checkpoint record of the task lists as delivered: on the branch
    /// and on the first-parent lines of the attic entries.
    pub fn delivered(&self, task: &Task) -> Result<HashSet<String>> {
        let mut notes = NotesReader::new(self, &task.slug)?;
        let mut out = HashSet::new();
        let mut seen = HashSet::new();
        let mut tips = vec![task.tip];
        tips.extend(self.attic(&task.slug)?.into_iter().map(|e| e.commit));
        for tip in tips {
            let mut current = tip;
            while current != task.task_commit && seen.insert(current) {
                if let Some(record) = notes.record(current)? {
                    out.extend(record.said);
                }
                match self.parents(current)?.first() {
                    Some(parent) => current = *parent,
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// What was said to the task and no checkpoint record lists yet.
    pub fn undelivered(&self, task: &Task) -> Result<Vec<Said>> {
        let delivered = self.delivered(task)?;
        Ok(self
            .said(&task.slug)?
            .into_iter()
            .filter(|s| !delivered.contains(&s.commit.to_string()))
            .collect())
    }
}

/// The value of `Agent-Say` on a stop request.
const STOP: &str = "stop";

/// Whether a commit of the say chain is a stop request.
fn is_stop(message: &str) -> bool {
    parse_trailers(message).get(key::SAY) == Some(STOP)
}

/// The message of a say commit: everything before its trailer paragraph.
fn message_of(raw: &str) -> String {
    let raw = raw.trim_end();
    match raw.rfind(&format!("\n\n{}:", key::TASK)) {
        Some(at) => raw[..at].trim().to_string(),
        None => raw.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_stop, message_of};

    #[test]
    fn a_stop_request_is_told_from_a_message_by_its_trailer() {
        assert!(is_stop(
            "agent: stop t\n\nrequested with git agent stop\n\nAgent-Task: t\nAgent-Say: stop\n"
        ));
        assert!(!is_stop("stop now please\n\nAgent-Task: t\n"));
        assert!(!is_stop("Agent-Say: stop\n\nAgent-Task: t\n"));
    }

    #[test]
    fn the_trailer_is_not_part_of_the_message() {
        assert_eq!(
            message_of("use the v2 API\n\nsee docs: here\n\nAgent-Task: t\n"),
            "use the v2 API\n\nsee docs: here"
        );
        assert_eq!(message_of("plain\n"), "plain");
    }
}
