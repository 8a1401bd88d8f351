//! Path confinement for the file tools: a path the model gives is resolved
//! physically, symlink by symlink, and refused when it leaves the worktree or enters `.git`.
//!
//! The path returned is the resolved one (no symlinks left in its existing part), so the
//! caller opens exactly what was checked rather than re-resolving the model's text.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// Linux's own limit on symlinks followed while resolving one path.
const MAX_SYMLINK_HOPS: usize = 40;

/// Why a path given by the model was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("path `{path}` is absolute; give a path relative to the worktree")]
    Absolute { path: String },
    #[error("path `{path}` resolves outside the worktree (to `{resolved}`)")]
    Escapes { path: String, resolved: PathBuf },
    #[error(
        "path `{path}` is inside `.git`; the repository's metadata belongs to the harness, not to the agent"
    )]
    GitDir { path: String },
    #[error("path `{path}` has too many levels of symbolic links")]
    SymlinkLoop { path: String },
    #[error(
        "path `{path}` is a file with other hard links; writing it would change a file elsewhere"
    )]
    HardLinked { path: String },
    #[error("path `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Resolves `user_path` (relative to `root`) to a physical path inside `root`, or refuses it.
///
/// Refused: absolute paths, paths whose resolution (through `..` or symlinks) leaves `root`,
/// and paths with a `.git` component (before or after resolution), which covers both a
/// repository's `.git` directory and a linked worktree's `.git` file. Components that do
/// not exist yet are fine, so the result may name a file to create.
pub fn confine(root: &Path, user_path: &str) -> Result<PathBuf, PathError> {
    let path = Path::new(user_path);
    if path.is_absolute() {
        return Err(PathError::Absolute {
            path: user_path.to_owned(),
        });
    }
    if path.components().any(|c| is_git_component(c.as_os_str())) {
        return Err(PathError::GitDir {
            path: user_path.to_owned(),
        });
    }
    let root = root.canonicalize().map_err(|source| PathError::Io {
        path: root.display().to_string(),
        source,
    })?;
    let resolved = resolve(&root, path, user_path)?;
    let Ok(inside) = resolved.strip_prefix(&root) else {
        return Err(PathError::Escapes {
            path: user_path.to_owned(),
            resolved,
        });
    };
    if inside.components().any(|c| is_git_component(c.as_os_str())) {
        return Err(PathError::GitDir {
            path: user_path.to_owned(),
        });
    }
    Ok(resolved)
}

/// [`confine`] for a path about to be written: also refuses the worktree root itself and a
/// regular file with other hard links (writing it would change a file outside the worktree).
/// A symlink pointing inside the worktree is written through to its target; one pointing
/// outside is refused by [`confine`].
pub fn confine_for_write(root: &Path, user_path: &str) -> Result<PathBuf, PathError> {
    let resolved = confine(root, user_path)?;
    match std::fs::symlink_metadata(&resolved) {
        Ok(meta) if meta.is_file() && meta.nlink() > 1 => Err(PathError::HardLinked {
            path: user_path.to_owned(),
        }),
        Ok(_) => Ok(resolved),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(resolved),
        Err(source) => Err(PathError::Io {
            path: user_path.to_owned(),
            source,
        }),
    }
}

fn is_git_component(name: &std::ffi::OsStr) -> bool {
    name.eq_ignore_ascii_case(".git")
}

/// Walks `rel` from `root` as the kernel would, following every symlink met on the way, so
/// the result holds no symlink in its existing part. Stops following once a component
/// does not exist: the rest are names to create.
fn resolve(root: &Path, rel: &Path, user_path: &str) -> Result<PathBuf, PathError> {
    let mut current = root.to_path_buf();
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, rel);
    let mut hops = 0;
    let mut missing = false;
    while let Some(name) = pending.pop() {
        if name == ".." {
            current.pop();
            continue;
        }
        if name == "/" {
            current = PathBuf::from("/");
            continue;
        }
        let next = current.join(&name);
        if missing {
            current = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(PathError::SymlinkLoop {
                        path: user_path.to_owned(),
                    });
                }
                let target = std::fs::read_link(&next).map_err(|source| PathError::Io {
                    path: user_path.to_owned(),
                    source,
                })?;
                push_components(&mut pending, &target);
            }
            Ok(_) => current = next,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                missing = true;
                current = next;
            }
            Err(source) => {
                return Err(PathError::Io {
                    path: user_path.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(current)
}

/// Pushes the components of `path` onto a stack that is popped front first.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    for component in path.components().rev() {
        match component {
            Component::Normal(name) => stack.push(name.to_owned()),
            Component::ParentDir => stack.push(OsString::from("..")),
            Component::RootDir | Component::Prefix(_) => stack.push(OsString::from("/")),
            Component::CurDir => {}
        }
    }
}
