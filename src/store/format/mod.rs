//! The on-disk format of a task (docs/data-model.md): what git holds and how it is spelled.
//!
//! Owns the ref layout (`refs.rs`: every agent ref name, formatted and parsed here alone, and
//! the ref edits a transaction is made of), the commit trailers (`trailers.rs`), the notes
//! (`notes.rs`) with what they hold — the plan (`plan.rs`) and the checkpoint and stop records
//! (`record.rs`) — and task names (`slug.rs`). Each format has its writer beside its reader.
//!
//! May call: the store's face (`Store`, `StoreError`) and gix. Nothing here captures a
//! worktree, talks to a remote or decides what a task does next: those build on this.

pub mod notes;
pub mod plan;
pub mod record;
pub(in crate::store) mod refs;
pub(in crate::store) mod slug;
pub(in crate::store) mod subject;
pub(in crate::store) mod trailers;
