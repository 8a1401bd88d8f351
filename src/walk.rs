//! Walks over a worktree that honour `.gitignore` the way the snapshot, `list_files` and
//! `search` all need: no links followed, no `.git`, nested repositories left alone, and no
//! ignore file read that could hang or exhaust the harness.
//!
//! The `ignore` crate reads each directory's `.gitignore` by name when it enters the
//! directory, following links and blocking on a FIFO. A committed `.gitignore -> /dev/zero`
//! would grow the harness without end, so a directory whose `.gitignore` is not a plain, small
//! file is not entered; the walk reports why, and the snapshot refuses the checkpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub mod generated;

use generated::Generated;

const MAX_IGNORE_FILE: u64 = 1 << 20;

/// Why the `.gitignore` of `dir` cannot be read safely, if it cannot.
pub fn ignore_file_problem(dir: &Path) -> Option<String> {
    let path = dir.join(".gitignore");
    let meta = std::fs::symlink_metadata(&path).ok()?;
    let why = if meta.file_type().is_symlink() {
        "is a symbolic link (ignore rules are never read through a link)"
    } else if !meta.is_file() {
        "is not a regular file"
    } else if meta.len() > MAX_IGNORE_FILE {
        "is larger than 1 MiB"
    } else {
        return None;
    };
    Some(format!(
        "{} {why}; replace it with a plain file",
        path.display()
    ))
}

/// The first ignore-file problem a walk met, if any.
pub type Problem = Arc<Mutex<Option<String>>>;

/// The directories a walk did not enter because they hold a `.git` (nested repositories,
/// checked-out submodules), relative to the root: `git add -A` records them as gitlinks.
pub type Nested = Arc<Mutex<Vec<PathBuf>>>;

/// A walker over `start` (inside `root`), and where it reports a directory it did not enter.
/// When the root's own `.gitignore` is unreadable, no `.gitignore` is honoured at all.
pub fn builder(root: &Path, start: &Path) -> (ignore::WalkBuilder, Problem) {
    let (mut builder, problem, _) = builder_inner(root, start, None, Generated::default());
    builder.git_global(true);
    (builder, problem)
}

/// The exclude rules of a task worktree beyond its own ignore files, lowest precedence last:
/// `core.excludesFile` as git resolves it for the repository (its own configuration included,
/// not only `~/.gitconfig`), then the generated-output list ([`generated`]).
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    pub file: Option<PathBuf>,
    pub generated: Generated,
}

/// Like [`builder`], with the exclude rules of a task worktree; the nested repositories it
/// passes by (not ignored) are listed.
pub fn builder_with_excludes(
    root: &Path,
    start: &Path,
    excludes: &Excludes,
    keep: Option<Keep>,
) -> (ignore::WalkBuilder, Problem, Nested) {
    let generated = excludes.generated.clone();
    let (mut builder, problem, nested) = builder_inner(root, start, keep, generated.clone());
    builder.git_global(false).current_dir(root);
    // The walker takes ignore rules only from files: the list goes through a temp file that
    // is read here, before `core.excludesFile`, which therefore wins over it (the last one
    // added is asked first).
    let text = generated.exclude_text();
    if !text.is_empty() {
        match write_temp(&text) {
            Ok(file) => {
                let _ = builder.add_ignore(file.path());
            }
            Err(err) => {
                if let Ok(mut slot) = problem.lock() {
                    slot.get_or_insert(format!(
                        "could not write the generated-file patterns to a temp file: {err}"
                    ));
                }
            }
        }
    }
    if let Some(file) = excludes.file.as_ref().filter(|f| f.is_file()) {
        // A file that cannot be read is skipped, as git skips it.
        let _ = builder.add_ignore(file);
    }
    (builder, problem, nested)
}

fn write_temp(text: &str) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(file)
}

/// Which entries a walk looks at beyond the ignore rules: called with each entry's path
/// (relative to the root) and whether it is a directory; `false` skips it, and a directory's
/// whole subtree with it, without a stat.
pub type Keep = Box<dyn Fn(&Path, bool) -> bool + Send + Sync + 'static>;

fn builder_inner(
    root: &Path,
    start: &Path,
    keep: Option<Keep>,
    generated: Generated,
) -> (ignore::WalkBuilder, Problem, Nested) {
    let problem: Problem = Arc::new(Mutex::new(ignore_file_problem(root)));
    let nested = Nested::default();
    let passed_by = nested.clone();
    let honour_gitignore = problem.lock().map(|p| p.is_none()).unwrap_or(false);
    let seen = problem.clone();
    let top = start.to_path_buf();
    let base = root.to_path_buf();
    let mut builder = ignore::WalkBuilder::new(start);
    builder
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_ignore(honour_gitignore)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .filter_entry(move |entry| {
            if entry.file_name() == ".git" {
                return false;
            }
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if entry.path() == top {
                return true;
            }
            if let Some(keep) = &keep {
                let rel = entry.path().strip_prefix(&base).unwrap_or(entry.path());
                if !keep(rel, is_dir) {
                    return false;
                }
            }
            if !is_dir {
                return true;
            }
            if generated.skips_dir(entry.path()) {
                return false;
            }
            if let Some(why) = ignore_file_problem(entry.path()) {
                if let Ok(mut slot) = seen.lock() {
                    slot.get_or_insert(why);
                }
                return false;
            }
            // A nested repository is not entered, as git does not enter it. The walker asks
            // this only of entries its ignore rules keep, so an ignored one is not listed.
            if !entry.path().join(".git").exists() {
                return true;
            }
            if let (Ok(rel), Ok(mut nested)) = (entry.path().strip_prefix(&base), passed_by.lock())
            {
                nested.push(rel.to_path_buf());
            }
            false
        });
    (builder, problem, nested)
}

/// The problem a walk met, taken out.
pub fn take(problem: &Problem) -> Option<String> {
    problem.lock().ok().and_then(|mut p| p.take())
}
