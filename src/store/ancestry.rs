//! Which commit holds which: the one question about the commit graph that sync's decisions and
//! an update's pending merge ask, answered by `git merge-base --is-ancestor`.

use gix::ObjectId;

use super::{Result, Store, StoreError};

/// The commit graph, as far as sync and update need it: a trait, so the decisions
/// built on it are unit-tested on a graph in memory.
pub trait Ancestry {
    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: ObjectId, b: ObjectId) -> Result<bool>;
}

impl Ancestry for Store {
    fn is_ancestor(&self, a: ObjectId, b: ObjectId) -> Result<bool> {
        if a == b {
            return Ok(true);
        }
        let out = self.git_raw(&[
            "merge-base",
            "--is-ancestor",
            &a.to_string(),
            &b.to_string(),
        ])?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(StoreError::GitCommand {
                args: "merge-base --is-ancestor".into(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }),
        }
    }
}
