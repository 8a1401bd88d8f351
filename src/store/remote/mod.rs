//! Tasks between repositories: push and pull with their tracking refs and the decision taken
//! for each ref (`sync.rs`), the leases and the queue of a shared remote (`lease.rs`), and
//! parallel attempts, forked from a task and folded back into it (`attempts.rs`).
//!
//! May call: the format (`format/`), the store's operations (lock, task) and the `git`
//! binary for what gix lacks (push and fetch with the user's credentials).

pub(in crate::store) mod attempts;
pub mod lease;
pub mod sync;
