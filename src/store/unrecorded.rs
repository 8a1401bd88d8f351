//! A stop record git could not hold (a full disk, a read-only `.git/refs` or objects dir): the
//! run that ended keeps it in a runtime file beside the task's lock, `locks/<slug>.stop`, so
//! `status`, `list` and `fsck` still say how the last run ended and why git does not. It is
//! removed when a later stop record lands in git, or the task is dropped.

use std::path::PathBuf;

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::format::record::StopRecord;
use super::lock::TaskLock;
use super::task::Task;
use super::{Result, Store, StoreError};

/// The file's suffix beside `<slug>.lock`.
const SUFFIX: &str = ".stop";

/// What the runtime file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnrecordedStop {
    /// The tip the stop belongs to: it describes the task only while the branch is there.
    pub tip: String,
    /// Why git could not hold it, with its causes.
    pub why: String,
    pub stop: StopRecord,
}

impl Store {
    /// Where the stop of `slug` is kept when git cannot hold it.
    pub fn unrecorded_stop_path(&self, slug: &str) -> PathBuf {
        TaskLock::dir(self).join(format!("{slug}{SUFFIX}"))
    }

    /// Keep the stop of a run on `task`'s tip that git could not record. Written whole under
    /// a temporary name and renamed, so a reader never sees half of it.
    pub fn keep_unrecorded_stop(&self, task: &Task, stop: &StopRecord, why: &str) -> Result<()> {
        let kept = UnrecordedStop {
            tip: task.tip.to_string(),
            why: why.to_string(),
            stop: stop.clone(),
        };
        let text = toml::to_string(&kept).map_err(|e| StoreError::Git {
            context: "could not write the stop record".into(),
            source: e.into(),
        })?;
        let path = self.unrecorded_stop_path(&task.slug);
        let partial = path.with_extension(format!("stop.{}", std::process::id()));
        std::fs::write(&partial, text).map_err(StoreError::io("could not write", &partial))?;
        std::fs::rename(&partial, &path).map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            StoreError::io("could not write", &path)(e)
        })
    }

    /// The stop git could not record for `slug`, if one is kept for the tip `tip`.
    pub fn unrecorded_stop(&self, slug: &str, tip: ObjectId) -> Option<UnrecordedStop> {
        let text = std::fs::read_to_string(self.unrecorded_stop_path(slug)).ok()?;
        let kept: UnrecordedStop = toml::from_str(&text).ok()?;
        (ObjectId::from_hex(kept.tip.as_bytes()).ok() == Some(tip)).then_some(kept)
    }

    /// Forget the kept stop of `slug`: a stop record landed in git, or the task is gone.
    pub(crate) fn clear_unrecorded_stop(&self, slug: &str) {
        let path = self.unrecorded_stop_path(slug);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
    }
}
