//! MCP resources: `git-agent://<task>/plan` is the plan note as git holds it (TOML), and
//! `git-agent://<task>/checkpoints/<n>` is checkpoint `n` (its `Agent-Checkpoint` trailer) of
//! the task's branch: commit, message, trailers and record note (JSON).

use crate::store::trailer;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};

use crate::store::{Checkpoint, NotesReader, Store, Task};

const SCHEME: &str = "git-agent://";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Plan { task: String },
    Checkpoint { task: String, n: u32 },
}

impl Address {
    pub fn parse(uri: &str) -> Option<Address> {
        let rest = uri.strip_prefix(SCHEME)?;
        let mut parts = rest.split('/');
        let task = parts.next().filter(|t| !t.is_empty())?.to_string();
        let address = match (parts.next()?, parts.next(), parts.next()) {
            ("plan", None, None) => Address::Plan { task },
            ("checkpoints", Some(n), None) => Address::Checkpoint {
                task,
                n: n.parse().ok()?,
            },
            _ => return None,
        };
        Some(address)
    }
}

fn plan_uri(slug: &str) -> String {
    format!("{SCHEME}{slug}/plan")
}

fn checkpoint_uri(slug: &str, n: u32) -> String {
    format!("{SCHEME}{slug}/checkpoints/{n}")
}

/// A checkpoint's number: its `Agent-Checkpoint` trailer.
fn number(checkpoint: &Checkpoint) -> Option<u32> {
    checkpoint
        .trailers
        .get(trailer::CHECKPOINT)
        .and_then(|n| n.trim().parse().ok())
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{SCHEME}{{task}}/plan"), "plan")
            .with_title("A task's plan")
            .with_description("The plan note on the task commit, as git holds it (TOML).")
            .with_mime_type("application/toml"),
        ResourceTemplate::new(format!("{SCHEME}{{task}}/checkpoints/{{n}}"), "checkpoint")
            .with_title("A checkpoint of a task")
            .with_description(
                "Checkpoint n of the task's branch: its commit, message, trailers and record note (JSON).",
            )
            .with_mime_type("application/json"),
    ]
}

/// Every task's plan and checkpoints.
pub fn list(store: &Store) -> anyhow::Result<Vec<Resource>> {
    let mut resources = Vec::new();
    for slug in store.task_slugs()? {
        let Ok(task) = store.task(&slug) else {
            continue;
        };
        resources.push(
            Resource::new(plan_uri(&slug), format!("{slug} plan"))
                .with_description(crate::text::first_line(&task.goal, 100))
                .with_mime_type("application/toml"),
        );
        for checkpoint in store.checkpoints(&task)? {
            if let Some(n) = number(&checkpoint) {
                resources.push(
                    Resource::new(checkpoint_uri(&slug, n), format!("{slug} checkpoint {n}"))
                        .with_description(checkpoint.summary.clone())
                        .with_mime_type("application/json"),
                );
            }
        }
    }
    Ok(resources)
}

/// The plan note's text, or the plan a task without a note starts from.
pub fn plan_text(store: &Store, task: &Task) -> anyhow::Result<String> {
    let mut notes = NotesReader::new(store, &task.slug)?;
    Ok(match notes.text(task.task_commit)? {
        Some(text) => text,
        None => store.plan(task)?.to_toml(),
    })
}

pub fn read(store: &Store, address: &Address, uri: &str) -> anyhow::Result<ReadResourceResult> {
    let content = match address {
        Address::Plan { task } => {
            let task = store.task(&store.resolve_slug(Some(task))?)?;
            ResourceContents::text(plan_text(store, &task)?, uri).with_mime_type("application/toml")
        }
        Address::Checkpoint { task, n } => {
            let task = store.task(&store.resolve_slug(Some(task))?)?;
            let checkpoints = store.checkpoints(&task)?;
            let Some(checkpoint) = checkpoints.iter().find(|c| number(c) == Some(*n)) else {
                let known: Vec<String> = checkpoints
                    .iter()
                    .filter_map(number)
                    .map(|n| n.to_string())
                    .collect();
                anyhow::bail!(
                    "task {} has no checkpoint {n} on its branch (it has: {})",
                    task.slug,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            };
            let mut json =
                serde_json::to_value(crate::app::read::CheckpointInfo::from(checkpoint))?;
            if let Some(object) = json.as_object_mut() {
                object.insert("task".into(), task.slug.clone().into());
                object.insert("checkpoint".into(), (*n).into());
                object.insert("message".into(), checkpoint.message.clone().into());
            }
            ResourceContents::text(serde_json::to_string_pretty(&json)?, uri)
                .with_mime_type("application/json")
        }
    };
    Ok(ReadResourceResult::new(vec![content]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn addresses_parse_and_nothing_else_does() {
        assert_eq!(
            Address::parse("git-agent://add-json/plan"),
            Some(Address::Plan {
                task: "add-json".into()
            })
        );
        assert_eq!(
            Address::parse("git-agent://add-json/checkpoints/12"),
            Some(Address::Checkpoint {
                task: "add-json".into(),
                n: 12
            })
        );
        for bad in [
            "git-agent://add-json",
            "git-agent:///plan",
            "git-agent://t/plan/x",
            "git-agent://t/checkpoints/",
            "git-agent://t/checkpoints/-1",
            "git-agent://t/checkpoints/1/2",
            "file:///t/plan",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
    }
}
