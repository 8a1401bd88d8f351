//! The messages of the commits the agent writes: the subject (first line) of each kind, one
//! spelling each, with the reader that tells them apart; and the task commit's whole message
//! (docs/data-model.md: `agent: start <slug>`, the goal, the trailers `Agent-Task` and
//! `Agent-Base`), written and read here alone.

use std::fmt;

use gix::ObjectId;

use super::trailers::{Trailers, key, parse_trailers};

/// What starts every subject the agent writes itself.
const AGENT: &str = "agent: ";
const START: &str = "start ";
const CARRIED: &str = "carried over from the working tree";
const UNFINISHED: &str = "unfinished work of ";
const STOP: &str = "stop ";
const JOIN_SAID: &str = "join what was said to ";
const LEASE: &str = "lease ";

/// The subject of a commit the agent writes (a checkpoint's subject is the model's summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The task commit of a task.
    Start(String),
    /// The user's uncommitted work, carried into a new task.
    Carried,
    /// The unfinished work of an interrupted step, kept in the task's attic.
    Unfinished(String),
    /// A stop request in a task's say chain.
    Stop(String),
    /// Two lines of what was said to a task, joined.
    JoinSaid(String),
    /// The lease of a task on a shared remote.
    Lease(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Start(slug) => write!(f, "{AGENT}{START}{slug}"),
            Subject::Carried => write!(f, "{AGENT}{CARRIED}"),
            Subject::Unfinished(slug) => write!(f, "{AGENT}{UNFINISHED}{slug}"),
            Subject::Stop(slug) => write!(f, "{AGENT}{STOP}{slug}"),
            Subject::JoinSaid(slug) => write!(f, "{AGENT}{JOIN_SAID}{slug}"),
            Subject::Lease(slug) => write!(f, "{AGENT}{LEASE}{slug}"),
        }
    }
}

impl Subject {
    /// The subject of a commit message, when it is one the agent writes.
    pub fn of(message: &str) -> Option<Subject> {
        let rest = message.lines().next()?.strip_prefix(AGENT)?;
        let named = |prefix: &str, kind: fn(String) -> Subject| {
            rest.strip_prefix(prefix)
                .filter(|slug| !slug.is_empty() && !slug.contains(' '))
                .map(|slug| kind(slug.to_string()))
        };
        if rest == CARRIED {
            return Some(Subject::Carried);
        }
        named(START, Subject::Start)
            .or_else(|| named(UNFINISHED, Subject::Unfinished))
            .or_else(|| named(STOP, Subject::Stop))
            .or_else(|| named(JOIN_SAID, Subject::JoinSaid))
            .or_else(|| named(LEASE, Subject::Lease))
    }

    /// Whether `message` is the task commit of `slug`.
    pub fn starts_task(message: &str, slug: &str) -> bool {
        matches!(Subject::of(message), Some(Subject::Start(s)) if s == slug)
    }
}

/// The task commit's message: what a task is, as its first commit says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCommit {
    pub slug: String,
    /// The goal, verbatim (trimmed).
    pub goal: String,
    /// The commit HEAD named when the task started; `None` when the trailer is missing or
    /// damaged (the task commit's parent says it then).
    pub base: Option<ObjectId>,
}

impl TaskCommit {
    /// `agent: start <slug>`, blank line, the goal, blank line, `Agent-Task` and `Agent-Base`.
    pub fn message(&self) -> String {
        let mut trailers = Trailers::default();
        trailers.push(key::TASK, &self.slug);
        if let Some(base) = self.base {
            trailers.push(key::BASE, base.to_string());
        }
        format!(
            "{}\n\n{}\n\n{}",
            Subject::Start(self.slug.clone()),
            self.goal.trim(),
            trailers.render()
        )
    }

    /// The task commit a message describes; `None` when it is no task commit.
    pub fn parse(message: &str) -> Option<TaskCommit> {
        let Some(Subject::Start(slug)) = Subject::of(message) else {
            return None;
        };
        let trailers = parse_trailers(message);
        let body = message.split_once('\n').map_or("", |(_, body)| body).trim();
        // The goal is what lies between the subject and the trailer paragraph.
        let goal = match body.rfind("\n\n") {
            Some(at) if !trailers.0.is_empty() => &body[..at],
            _ if !trailers.0.is_empty() => "",
            _ => body,
        };
        Some(TaskCommit {
            slug,
            goal: goal.trim().to_string(),
            base: trailers
                .get(key::BASE)
                .and_then(|b| ObjectId::from_hex(b.as_bytes()).ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn every_subject_is_written_from_its_kind_and_read_back_equal() {
        for subject in [
            Subject::Start("fix-it".into()),
            Subject::Carried,
            Subject::Unfinished("fix-it--try-2".into()),
            Subject::Stop("fix-it".into()),
            Subject::JoinSaid("fix-it".into()),
            Subject::Lease("fix-it".into()),
        ] {
            let message = format!("{subject}\n\nbody\n");
            assert_eq!(Subject::of(&message), Some(subject.clone()), "{message}");
        }
        assert_eq!(Subject::Start("a".into()).to_string(), "agent: start a");
        assert_eq!(Subject::of("Add a flag\n\nbody"), None);
        assert_eq!(Subject::of("agent: start \n"), None);
        assert_eq!(Subject::of("agent: start a b\n"), None);
        assert!(Subject::starts_task("agent: start a\n\ngoal", "a"));
        assert!(!Subject::starts_task("agent: start ab\n\ngoal", "a"));
    }

    #[test]
    fn a_task_commit_is_written_from_its_type_and_read_back_equal() {
        let base = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
        for goal in ["add a --json flag", "two paragraphs\n\nof goal", ""] {
            let written = TaskCommit {
                slug: "json".into(),
                goal: goal.into(),
                base: Some(base),
            };
            assert_eq!(TaskCommit::parse(&written.message()), Some(written.clone()));
        }
        let message = TaskCommit {
            slug: "json".into(),
            goal: "g".into(),
            base: Some(base),
        }
        .message();
        assert_eq!(
            message,
            "agent: start json\n\ng\n\nAgent-Task: json\nAgent-Base: 1111111111111111111111111111111111111111\n"
        );
        assert_eq!(TaskCommit::parse("Add a flag\n\nbody\n"), None);
    }
}
