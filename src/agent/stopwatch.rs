//! `git agent stop` while the run waits on a model call or the tests: a thread looks at the
//! task's say chain a few times a second and, at the first stop request meant for this run,
//! interrupts it as Ctrl-C does. The loop also looks at every turn boundary, so this thread
//! only makes the stop come sooner.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Interrupt;
use crate::store::Store;

/// How often the say ref is read: one small file read, and a person waiting for `stop` to
/// take effect does not notice a fifth of a second.
const POLL: Duration = Duration::from_millis(200);

/// Stops looking when dropped.
pub struct StopWatch {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StopWatch {
    /// Look at `say_ref` of the repository at `dir` for stop requests after `base`.
    pub fn start(
        dir: PathBuf,
        say_ref: String,
        base: Option<gix::ObjectId>,
        interrupt: Interrupt,
    ) -> StopWatch {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            // A store of its own: a `Store` stays on the thread that opened it.
            let Ok(store) = Store::discover(&dir) else {
                return;
            };
            let mut checked = base;
            while !stop.load(Ordering::SeqCst) && !interrupt.is_set() {
                if let Ok(tip) = store.ref_target(&say_ref)
                    && tip != checked
                {
                    checked = tip;
                    if let Ok(requests) = store.stop_requests(tip, base)
                        && let Some(first) = requests.first()
                    {
                        interrupt.request_stop(*first);
                        return;
                    }
                }
                std::thread::sleep(POLL);
            }
        });
        StopWatch {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for StopWatch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
