//! The run log: every event of a run as a JSON line in `$GIT_COMMON_DIR/agent/runs/<slug>.jsonl`,
//! for `git agent watch` in another terminal. Runtime like the locks, not task state: created
//! fresh when a run starts, flushed after every event, never pushed.

use std::io::Write;
use std::path::PathBuf;

use crate::agent::Event;
use crate::store::Store;

pub fn run_log_path(store: &Store, slug: &str) -> PathBuf {
    store.agent_dir().join("runs").join(format!("{slug}.jsonl"))
}

/// The writing end; a log that cannot be written is skipped, never a reason to stop a run.
pub struct RunLog {
    file: Option<std::fs::File>,
}

impl RunLog {
    /// A fresh log for a run starting now. The old one is removed first, so a watcher that
    /// still holds it open sees no new lines there.
    pub fn create(store: &Store, slug: &str) -> RunLog {
        let path = run_log_path(store, slug);
        let file = path.parent().and_then(|dir| {
            std::fs::create_dir_all(dir).ok()?;
            let _ = std::fs::remove_file(&path);
            std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .ok()
        });
        RunLog { file }
    }

    pub fn append(&mut self, event: &Event) {
        // Streamed text would flood the log with fragments; watchers get the rest.
        if matches!(event, Event::ModelText { .. }) {
            return;
        }
        let (Some(file), Some(line)) = (self.file.as_mut(), super::json_line(event)) else {
            return;
        };
        if writeln!(file, "{line}")
            .and_then(|()| file.flush())
            .is_err()
        {
            self.file = None;
        }
    }
}
