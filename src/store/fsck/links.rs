//! The rules of one commit above the task commit (docs/data-model.md#checkpoints): what
//! `git agent fsck` checks along a task branch, and what a checkpoint checks of the tip it is
//! about to build on — one check, so a commit fsck rejects is one nothing builds on.

use gix::ObjectId;

use super::{Finding, Link, Mismatch, Rewind};
use crate::store::format::record::CheckpointRecord;
use crate::store::format::trailers::{StepOf, key};
use crate::store::{Result, Store};

/// The note on a commit of the branch, as far as it is known.
pub(super) enum RecordNote {
    /// The notes ref is itself a finding: no note can be read.
    Unreadable,
    Missing,
    Blob(ObjectId),
}

/// What one commit of the branch says and breaks.
pub(super) struct LinkCheck {
    /// Its checkpoint number, when its trailers give one.
    pub number: Option<u32>,
    pub findings: Vec<Finding>,
    /// It is not the task's: nothing below it is checked further.
    pub foreign: bool,
}

impl Store {
    /// Check `link`, whose first parent is numbered `parent_number` (`None`: unreadable, so
    /// its numbering is not checked) and whose note is `record`. `above` counts the commits
    /// above it on the branch; `rewind` takes it off the branch. Its record is checked when its trailers are sound:
    /// a repair that writes a record from the trailers must never copy a value the trailers
    /// should not have. A record that does not parse is a finding of the notes
    /// ([`Store::record_malformed`]), not of the link.
    pub(super) fn check_link(
        &self,
        slug: &str,
        link: &Link,
        parent_number: Option<u32>,
        record: RecordNote,
        above: usize,
        rewind: Rewind,
    ) -> Result<LinkCheck> {
        let task = slug.to_string();
        let names = link.trailers.get(key::TASK);
        if names != Some(slug) {
            return Ok(LinkCheck {
                number: None,
                findings: vec![Finding::ForeignCommit {
                    task,
                    commit: link.commit,
                    names: names.map(str::to_string),
                    above,
                    rewind,
                }],
                foreign: true,
            });
        }
        let mut findings = Vec::new();
        let mut problems = Vec::new();
        let number = match link.trailers.get(key::CHECKPOINT) {
            None => {
                problems.push(format!("no {} trailer", key::CHECKPOINT));
                None
            }
            Some(n) => n.parse::<u32>().ok().or_else(|| {
                problems.push(format!("{}: {n} is not a number", key::CHECKPOINT));
                None
            }),
        };
        let step = match link.trailers.get(key::STEP) {
            None => {
                problems.push(format!("no {} trailer", key::STEP));
                None
            }
            Some(s) => match s.parse::<StepOf>() {
                Ok(step) => Some((step.index, step.steps)),
                Err(why) => {
                    problems.push(format!("{}: {why}", key::STEP));
                    None
                }
            },
        };
        let sound = problems.is_empty();
        if !sound {
            findings.push(Finding::CheckpointTrailers {
                task: task.clone(),
                commit: link.commit,
                problems,
                rewind: rewind.clone(),
            });
        }
        if let (Some(found), Some(before)) = (number, parent_number)
            && found != before + 1
        {
            findings.push(Finding::CheckpointNumber {
                task: task.clone(),
                commit: link.commit,
                expected: before + 1,
                found,
                rewind,
            });
        }
        if sound {
            match record {
                RecordNote::Unreadable => {}
                RecordNote::Missing => findings.push(Finding::RecordMissing {
                    task,
                    commit: link.commit,
                    checkpoint: number.unwrap_or(0),
                    step,
                }),
                RecordNote::Blob(blob) => {
                    let fields = mismatches(&self.blob_text(blob)?, number, step);
                    if !fields.is_empty() {
                        findings.push(Finding::RecordMismatch {
                            task,
                            commit: link.commit,
                            fields,
                        });
                    }
                }
            }
        }
        Ok(LinkCheck {
            number,
            findings,
            foreign: false,
        })
    }

    /// The finding of the note `blob` on `annotated`, an object other than the task commit,
    /// when it is not a checkpoint record; `read` says whether readers read it (it is on a
    /// commit of the branch or of an attic entry's line).
    pub(super) fn record_malformed(
        &self,
        slug: &str,
        notes_commit: ObjectId,
        annotated: ObjectId,
        blob: ObjectId,
        read: bool,
    ) -> Result<Option<Finding>> {
        let Err(err) = toml::from_str::<CheckpointRecord>(&self.blob_text(blob)?) else {
            return Ok(None);
        };
        Ok(Some(Finding::RecordMalformed {
            task: slug.to_string(),
            commit: annotated,
            detail: err.message().to_string(),
            earlier: self.earlier_note::<CheckpointRecord>(notes_commit, annotated, Some(blob))?,
            read,
        }))
    }
}

/// The record fields that disagree with the trailers. A field the record does not have is
/// not a disagreement: readers tolerate it missing. A record that is no checkpoint record at
/// all has no fields to compare.
pub(super) fn mismatches(
    record: &str,
    number: Option<u32>,
    step: Option<(u32, u32)>,
) -> Vec<Mismatch> {
    if toml::from_str::<CheckpointRecord>(record).is_err() {
        return Vec::new();
    }
    let Ok(table) = toml::from_str::<toml::Table>(record) else {
        return Vec::new();
    };
    let expected = [
        ("checkpoint", number),
        ("step", step.map(|s| s.0)),
        ("steps", step.map(|s| s.1)),
    ];
    expected
        .into_iter()
        .filter_map(|(field, trailer)| {
            let trailer = trailer?;
            let record = table.get(field)?.as_integer()?;
            (record != i64::from(trailer)).then_some(Mismatch {
                field,
                record,
                trailer,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn record_fields_are_compared_only_when_present() {
        let record = "checkpoint = 3\nstep = 1\nmodel = \"m\"\n";
        assert_eq!(
            mismatches(record, Some(2), Some((1, 4))),
            vec![Mismatch {
                field: "checkpoint",
                record: 3,
                trailer: 2
            }]
        );
        assert_eq!(mismatches(record, Some(3), None), Vec::new());
    }

    #[test]
    fn a_record_that_is_not_one_has_nothing_to_compare() {
        assert_eq!(mismatches("checkpoint = -1\n", Some(1), None), Vec::new());
    }
}
