//! The git data model of DESIGN.md §1: tasks, checkpoints, notes, attic, lock, worktree.

use crate::error::Advice;

/// Errors of the task store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Other(String),
}

impl Advice for StoreError {}
