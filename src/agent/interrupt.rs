//! Ctrl-C: the first one asks the loop to stop and keep the step's work in the attic (a model
//! call in flight may finish first, so that what it cost is recorded); a second one exits
//! immediately.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    /// Listen for Ctrl-C (SIGINT) and SIGTERM in the background.
    pub fn install() -> Interrupt {
        let interrupt = Interrupt::default();
        let handle = interrupt.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                let term_recv = async {
                    match term.as_mut() {
                        Some(t) => {
                            t.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    r = tokio::signal::ctrl_c() => { if r.is_err() { return; } }
                    _ = term_recv => {}
                }
                if handle.is_set() {
                    eprintln!("\ninterrupted again: exiting now");
                    std::process::exit(130);
                }
                eprintln!(
                    "\ninterrupted: keeping the step's work in the attic once a model call in flight has answered (Ctrl-C again to exit at once)"
                );
                handle.set();
            }
        });
        interrupt
    }

    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
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
