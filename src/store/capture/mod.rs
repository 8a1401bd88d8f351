//! Capturing a task's worktree as git would: the snapshot that turns files into a tree
//! (`snapshot.rs`) the way `git add -A` stages them, with git's content filters
//! (`filters.rs`), the worktree's index (`index.rs`), the watch that tells a checkpoint what
//! changed (`watch.rs`), repositories inside the worktree (`gitlinks.rs`, `submodules.rs`),
//! large loose objects read as streams (`loose.rs`), the paths they share (`paths.rs`, a leaf), and the user's uncommitted work carried
//! into a new task (`carry.rs`).
//!
//! May call: the store's face (`Store`, `StoreError`), `beneath` (no symlink followed),
//! `walk`, `policy` (the secret scan) and gix. Nothing here knows the task format: capture
//! hands trees and paths to the store's operations, which name them.

pub(in crate::store) mod carry;
pub(in crate::store) mod filters;
pub(in crate::store) mod gitlinks;
pub(in crate::store) mod index;
pub(in crate::store) mod loose;
pub(crate) mod paths;
pub(in crate::store) mod snapshot;
pub(in crate::store) mod submodules;
pub(crate) mod watch;
