//! Ctrl-C: the first one asks the loop to stop and keep the step's work in the attic (a model
//! call in flight may finish first, so that what it cost is recorded); a second one exits
//! immediately.
//!
//! One press of Ctrl-C under `git agent` reaches git-agent twice: the terminal sends SIGINT to
//! the whole foreground process group (git and git-agent), and git, which runs `git-agent` as
//! a dashed external command with `clean_on_exit`, forwards the signal it got to its child
//! (run-command.c, `cleanup_children_on_signal`) and waits for it. The two arrive within
//! moments of each other, in either order. So signals are counted as presses ([`Presses`]): a
//! signal within [`SAME_PRESS`] of the first is the same press, and only a later one is the
//! person pressing again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long after the first signal another one still belongs to the same press. git forwards
/// the signal as soon as it is scheduled (well under this even on a loaded machine); a person
/// who presses Ctrl-C again because nothing seems to happen takes longer.
pub const SAME_PRESS: Duration = Duration::from_millis(500);

/// What a signal means, given the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// The first: stop gracefully.
    First,
    /// The same press again (git's forward of the terminal's signal, or the terminal's after
    /// git's): nothing more to do.
    Echo,
    /// A press after the first: exit at once.
    Again,
}

/// Counts SIGINT and SIGTERM as presses (sans-IO: the caller gives the time).
#[derive(Debug, Default)]
pub struct Presses {
    first: Option<Instant>,
}

impl Presses {
    pub fn press(&mut self, now: Instant) -> Press {
        match self.first {
            None => {
                self.first = Some(now);
                Press::First
            }
            Some(first) if now.saturating_duration_since(first) < SAME_PRESS => Press::Echo,
            Some(_) => Press::Again,
        }
    }
}

#[derive(Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
    /// The stop request of `git agent stop` that set it, if one did (src/store/say.rs).
    requested: Arc<Mutex<Option<gix::ObjectId>>>,
}

impl Interrupt {
    /// Listen for Ctrl-C (SIGINT) and SIGTERM in the background. Call it inside the runtime.
    pub fn install() -> Interrupt {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = Interrupt::default();
        let handle = interrupt.clone();
        // Registered now, not when the task first runs: from here on a Ctrl-C is ours. One
        // listener each for the whole run, so no signal falls between two registrations.
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        tokio::spawn(async move {
            let mut presses = Presses::default();
            loop {
                let term_recv = async {
                    match term.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let int_recv = async {
                    match int.as_mut() {
                        Some(i) => i.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let got = tokio::select! {
                    got = int_recv => got,
                    got = term_recv => got,
                };
                if got.is_none() {
                    return;
                }
                match presses.press(Instant::now()) {
                    Press::Echo => {}
                    Press::Again => {
                        eprintln!("\ninterrupted again: exiting now");
                        std::process::exit(130);
                    }
                    Press::First => {
                        eprintln!(
                            "\ninterrupted: keeping the step's work in the attic once a model call in flight has answered (Ctrl-C again to exit at once)"
                        );
                        handle.set();
                    }
                }
            }
        });
        interrupt
    }

    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Stop as Ctrl-C does, because `git agent stop` asked with the request `commit`.
    pub fn request_stop(&self, commit: gix::ObjectId) {
        if let Ok(mut slot) = self.requested.lock()
            && slot.is_none()
            && !self.is_set()
        {
            *slot = Some(commit);
            eprintln!(
                "\nstop requested with git agent stop: keeping the step's work in the attic once a model call in flight has answered"
            );
        }
        self.set();
    }

    /// The stop request that stopped the run, when one did (and not Ctrl-C before it).
    pub fn stop_request(&self) -> Option<gix::ObjectId> {
        self.requested.lock().ok().and_then(|slot| *slot)
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once the interrupt is set.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_signal_is_the_same_press_and_a_later_one_is_another() {
        let start = Instant::now();
        let mut presses = Presses::default();
        assert_eq!(presses.press(start), Press::First);
        // git's forward, a moment after the terminal's.
        assert_eq!(presses.press(start + Duration::from_millis(3)), Press::Echo);
        assert_eq!(
            presses.press(start + SAME_PRESS - Duration::from_millis(1)),
            Press::Echo
        );
        assert_eq!(presses.press(start + SAME_PRESS), Press::Again);
        assert_eq!(presses.press(start + Duration::from_secs(5)), Press::Again);
    }
}
