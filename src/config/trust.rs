//! The repository's `.git-agent.toml` is written by whoever wrote the repository. It is read
//! once, never through a symlink and never from anything but a regular file, and the keys
//! that widen what the agent may do (see [`super::keys::Trust::User`]) apply only when the
//! user trusted that exact content: `git agent trust` records the file's git blob id in the
//! repository's own local config (`agent.trustedConfig` in `.git/config`, which a clone never
//! carries), so any change to the file ends the trust.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The git config name of the trust record.
pub const TRUST_KEY: &str = "agent.trustedConfig";

/// The repository file's name in the checkout.
pub const REPO_FILE: &str = ".git-agent.toml";

/// Larger than any configuration; a bigger file is refused rather than read.
const MAX_LEN: u64 = 256 * 1024;

/// The repository's file, read once: its text and the blob id of those very bytes.
#[derive(Debug, Clone)]
pub struct RepoFile {
    pub path: PathBuf,
    pub text: String,
    /// `git hash-object` of the content, hex.
    pub blob: String,
}

/// What reading the repository's file gave.
#[derive(Debug)]
pub enum RepoRead {
    Absent,
    File(RepoFile),
    /// Not read, and why (a symlink, not a regular file, too large, not UTF-8).
    Refused(String),
}

/// Reads `path` without following a symlink and without blocking on a FIFO.
pub fn read_repo_file(path: &Path) -> std::io::Result<RepoRead> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(RepoRead::Absent),
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(RepoRead::Refused(
                "is a symbolic link; a repository's configuration is read only from a regular file"
                    .into(),
            ));
        }
        Err(err) => return Err(err),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(RepoRead::Refused(
            "is not a regular file; a repository's configuration is read only from a regular file"
                .into(),
        ));
    }
    if meta.len() > MAX_LEN {
        return Ok(RepoRead::Refused(format!(
            "is larger than {} KiB; that is not a configuration",
            MAX_LEN / 1024
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_LEN + 1).read_to_end(&mut bytes)?;
    let blob = blob_id(&bytes);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(RepoRead::File(RepoFile {
            path: path.to_path_buf(),
            text,
            blob,
        })),
        Err(_) => Ok(RepoRead::Refused("is not UTF-8 text".into())),
    }
}

/// The git blob id (SHA-1) of `bytes`, as `git hash-object` prints it.
pub fn blob_id(bytes: &[u8]) -> String {
    // Hashing fails only when SHA-1 collision detection fires; such a file is never trusted.
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "(collision)".to_string())
}

/// The trust the repository records for its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustState {
    /// No record: the file's widening keys are ignored.
    NotTrusted,
    /// The record names this very content.
    Trusted,
    /// The record names other content: the file changed since the user trusted it.
    Changed,
}

impl TrustState {
    pub fn of(file: &RepoFile, record: Option<&str>) -> TrustState {
        match record.map(str::trim) {
            None | Some("") => TrustState::NotTrusted,
            Some(blob) if blob.eq_ignore_ascii_case(&file.blob) => TrustState::Trusted,
            Some(_) => TrustState::Changed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_blob_id_is_gits() {
        // `printf 'sandbox = "off"\n' | git hash-object --stdin`
        assert_eq!(
            blob_id(b"sandbox = \"off\"\n"),
            "d24015ddd47cc9e3e5812de4941e1f80836c845d"
        );
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }
}
