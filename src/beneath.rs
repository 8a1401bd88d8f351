//! File operations beneath a root directory that never follow a symbolic link and never
//! check a path and then open it again by name.
//!
//! The task's worktree is enemy territory: a command may have replaced any directory in it
//! with a symlink to the user's `.git`, or made a file a FIFO. Every harness access to it
//! goes through a [`Root`]: paths are resolved by the kernel with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` relative to a directory fd opened once, the file found is checked
//! through its own fd (`fstat`), and reads and writes go through that same fd. Opens use
//! `O_NONBLOCK`, so a FIFO never blocks the harness, and only regular files are read or
//! written. Reads are bounded. `openat2` needs Linux 5.6, older than the Landlock the
//! sandbox already requires.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why an operation beneath the root was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("`{path}` is not a relative path inside the worktree ({why})")]
    BadPath { path: String, why: &'static str },
    #[error("`{path}` goes through a symbolic link; file operations never follow links")]
    Symlink { path: String },
    #[error("`{path}` is a {kind}, not a regular file")]
    NotRegular { path: String, kind: &'static str },
    #[error("`{path}` is {size} bytes, more than the {limit} bytes read at most")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("`{path}` has other hard links; writing it would change a file elsewhere")]
    HardLinked { path: String },
    #[error("`{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl BeneathError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, BeneathError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

type Result<T, E = BeneathError> = std::result::Result<T, E>;

/// What is at a path, without following a link there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File {
        executable: bool,
        size: u64,
    },
    Dir,
    Symlink,
    /// FIFO, socket or device: never read, never committed.
    Special,
}

/// A directory that file operations may not leave.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice | FileType::BlockDevice => "device",
        _ => "special file",
    }
}

impl Root {
    /// Open `path` as the root. The root itself may be reached through links (it is ours).
    pub fn open(path: &Path) -> Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(path.display().to_string(), e))?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_at(&self, rel: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd> {
        let name = display(rel);
        check_relative(rel, &name)?;
        rustix::fs::openat2(&self.fd, rel, flags | OFlags::CLOEXEC, mode, resolve())
            .map_err(|e| self.error(name, e))
    }

    fn error(&self, path: String, errno: Errno) -> BeneathError {
        match errno {
            Errno::LOOP | Errno::XDEV => BeneathError::Symlink { path },
            _ => io_err(path, errno),
        }
    }

    /// The directory holding `rel` and the last component's name.
    fn parent_of<'p>(&self, rel: &'p Path) -> Result<(OwnedFd, &'p OsStr)> {
        let (name, parent, file_name) = split(rel)?;
        let fd = if parent.as_os_str().is_empty() {
            self.fd.try_clone().map_err(|e| BeneathError::Io {
                path: name,
                source: e,
            })?
        } else {
            self.open_at(parent, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?
        };
        Ok((fd, file_name))
    }

    /// What is at `rel`, without following a link; `None` when nothing is there.
    pub fn kind(&self, rel: &Path) -> Result<Option<Kind>> {
        let (dir, name) = match self.parent_of(rel) {
            Ok(found) => found,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(BeneathError::Io { source, .. })
                if source.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(kind_of(&stat))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err(display(rel), e)),
        }
    }

    /// Open a regular file for reading, refusing links, FIFOs and devices.
    pub fn open_regular(&self, rel: &Path) -> Result<(File, u64)> {
        let fd = self.open_at(
            rel,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(display(rel), e))?;
        let file_type = FileType::from_raw_mode(stat.st_mode);
        if file_type != FileType::RegularFile {
            return Err(BeneathError::NotRegular {
                path: display(rel),
                kind: kind_name(file_type),
            });
        }
        Ok((File::from(fd), stat.st_size as u64))
    }

    /// The whole content of a regular file of at most `limit` bytes.
    pub fn read(&self, rel: &Path, limit: u64) -> Result<Vec<u8>> {
        let (file, size) = self.open_regular(rel)?;
        if size > limit {
            return Err(BeneathError::TooLarge {
                path: display(rel),
                size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // `take` bounds the read even if the file grows after the fstat.
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| BeneathError::Io {
                path: display(rel),
                source,
            })?;
        if bytes.len() as u64 > limit {
            return Err(BeneathError::TooLarge {
                path: display(rel),
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes)
    }

    /// The target of the symbolic link at `rel`.
    pub fn read_link(&self, rel: &Path) -> Result<PathBuf> {
        let (dir, name) = self.parent_of(rel)?;
        let target =
            rustix::fs::readlinkat(&dir, name, Vec::new()).map_err(|e| io_err(display(rel), e))?;
        Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
    }

    /// Create the directory `rel` and its missing parents. With `replace`, a file or link
    /// standing where a directory must be is removed first (a checkout); without, it is an
    /// error (a tool).
    pub fn create_dir_all(&self, rel: &Path, replace: bool) -> Result<OwnedFd> {
        let name = display(rel);
        check_relative(rel, &name)?;
        let mut dir = self.fd.try_clone().map_err(|e| BeneathError::Io {
            path: name.clone(),
            source: e,
        })?;
        for component in rel.components() {
            let Component::Normal(part) = component else {
                continue;
            };
            let opened = rustix::fs::openat(
                &dir,
                part,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            );
            let next = match opened {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(0o755))
                        .or_else(|e| if e == Errno::EXIST { Ok(()) } else { Err(e) })
                        .map_err(|e| io_err(name.clone(), e))?;
                    open_dir_nofollow(&dir, part).map_err(|e| self.error(name.clone(), e))?
                }
                Err(Errno::NOTDIR | Errno::LOOP) if replace => {
                    rustix::fs::unlinkat(&dir, part, AtFlags::empty())
                        .map_err(|e| io_err(name.clone(), e))?;
                    rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(0o755))
                        .map_err(|e| io_err(name.clone(), e))?;
                    open_dir_nofollow(&dir, part).map_err(|e| self.error(name.clone(), e))?
                }
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    let is_link = rustix::fs::statat(&dir, part, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                    return Err(if is_link {
                        BeneathError::Symlink { path: name }
                    } else {
                        io_err(name, Errno::NOTDIR)
                    });
                }
                Err(e) => return Err(self.error(name, e)),
            };
            dir = next;
        }
        Ok(dir)
    }

    /// Write `bytes` as the regular file `rel`, creating missing parent directories.
    /// Returns whether the file existed. `mode` sets the permission bits (a checkout); `None`
    /// keeps an existing file's bits and makes a new one 0644.
    pub fn write(
        &self,
        rel: &Path,
        bytes: &[u8],
        mode: Option<u32>,
        replace: bool,
    ) -> Result<bool> {
        self.write_from(rel, &mut &bytes[..], mode, replace)
    }

    /// Like [`Root::write`], with the content streamed from `content`: a checkout of a large
    /// file never holds it in memory.
    pub fn write_from(
        &self,
        rel: &Path,
        content: &mut dyn Read,
        mode: Option<u32>,
        replace: bool,
    ) -> Result<bool> {
        let (name, parent, file_name) = split(rel)?;
        let dir = self.create_dir_all(parent, replace)?;
        if replace {
            match rustix::fs::statat(&dir, file_name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                    remove_tree_at(&dir, file_name).map_err(|e| io_err(name.clone(), e))?;
                }
                Ok(stat)
                    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile
                        || stat.st_nlink > 1 =>
                {
                    rustix::fs::unlinkat(&dir, file_name, AtFlags::empty())
                        .map_err(|e| io_err(name.clone(), e))?;
                }
                _ => {}
            }
        }
        let open = |extra: OFlags| {
            rustix::fs::openat(
                &dir,
                file_name,
                OFlags::WRONLY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC
                    | extra,
                Mode::from_raw_mode(mode.unwrap_or(0o644)),
            )
        };
        let opened = match open(OFlags::CREATE | OFlags::EXCL) {
            Ok(fd) => Ok((fd, false)),
            Err(Errno::EXIST) => open(OFlags::empty()).map(|fd| (fd, true)),
            Err(e) => Err(e),
        };
        let (fd, existed) = opened.map_err(|e| match e {
            Errno::LOOP => BeneathError::Symlink { path: name.clone() },
            Errno::NXIO => BeneathError::NotRegular {
                path: name.clone(),
                kind: "FIFO",
            },
            e => io_err(name.clone(), e),
        })?;
        // A file this call created (O_CREAT|O_EXCL, no link followed) is a new, empty regular
        // file of one link: nothing to check, nothing to truncate. A checkout creates tens of
        // thousands of them, and these two calls were an eighth of its system calls.
        if existed {
            let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(name.clone(), e))?;
            let file_type = FileType::from_raw_mode(stat.st_mode);
            if file_type != FileType::RegularFile {
                return Err(BeneathError::NotRegular {
                    path: name,
                    kind: kind_name(file_type),
                });
            }
            if stat.st_nlink > 1 {
                return Err(BeneathError::HardLinked { path: name });
            }
            rustix::fs::ftruncate(&fd, 0).map_err(|e| io_err(name.clone(), e))?;
        }
        if let Some(mode) = mode {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| io_err(name.clone(), e))?;
        }
        let mut file = File::from(fd);
        io::copy(content, &mut file)
            .and_then(|_| file.flush())
            .map_err(|source| BeneathError::Io { path: name, source })?;
        Ok(existed)
    }

    /// Make `rel` a symbolic link to `target`, replacing what stands there.
    pub fn symlink(&self, target: &Path, rel: &Path) -> Result<()> {
        let (name, parent, file_name) = split(rel)?;
        let dir = self.create_dir_all(parent, true)?;
        remove_at(&dir, file_name).map_err(|e| io_err(name.clone(), e))?;
        rustix::fs::symlinkat(target, &dir, file_name).map_err(|e| io_err(name, e))
    }

    /// Remove whatever stands at `rel` (a directory with its content), never following a
    /// link. Nothing there is fine.
    pub fn remove(&self, rel: &Path) -> Result<()> {
        let (dir, name) = match self.parent_of(rel) {
            Ok(found) => found,
            Err(err) if err.is_not_found() => return Ok(()),
            Err(BeneathError::Io { source, .. })
                if source.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) =>
            {
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        remove_at(&dir, name).map_err(|e| io_err(display(rel), e))
    }

    /// Remove the directory `rel` if it is empty; `false` when it is not (or not a directory).
    pub fn remove_empty_dir(&self, rel: &Path) -> bool {
        match self.parent_of(rel) {
            Ok((dir, name)) => rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR).is_ok(),
            Err(_) => false,
        }
    }
}

fn open_dir_nofollow(dir: &impl AsFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Remove `name` in `dir`, a whole directory tree included; links are removed, not followed.
fn remove_at(dir: &impl AsFd, name: &OsStr) -> rustix::io::Result<()> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
            remove_tree_at(dir, name)
        }
        Ok(_) => rustix::fs::unlinkat(dir, name, AtFlags::empty()),
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

fn remove_tree_at(dir: &impl AsFd, name: &OsStr) -> rustix::io::Result<()> {
    let sub = open_dir_nofollow(dir, name)?;
    let mut entries = Vec::new();
    {
        let mut listing = rustix::fs::Dir::read_from(&sub)?;
        while let Some(entry) = listing.read() {
            let entry = entry?;
            let bytes = entry.file_name().to_bytes();
            if bytes != b"." && bytes != b".." {
                entries.push(OsStr::from_bytes(bytes).to_owned());
            }
        }
    }
    for entry in entries {
        remove_at(&sub, &entry)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

fn kind_of(stat: &rustix::fs::Stat) -> Kind {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Kind::File {
            executable: stat.st_mode & 0o100 != 0,
            size: stat.st_size as u64,
        },
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Special,
    }
}

/// `rel` checked, as (its display name, its parent, its last component).
fn split(rel: &Path) -> Result<(String, &Path, &OsStr)> {
    let name = display(rel);
    check_relative(rel, &name)?;
    let file_name = rel.file_name().ok_or(BeneathError::BadPath {
        path: name.clone(),
        why: "no file name",
    })?;
    Ok((name, rel.parent().unwrap_or(Path::new("")), file_name))
}

/// Relative, with no `..`, no root, and at least one name.
fn check_relative(rel: &Path, name: &str) -> Result<()> {
    let bad = |why| {
        Err(BeneathError::BadPath {
            path: name.to_owned(),
            why,
        })
    };
    if rel.as_os_str().is_empty() {
        return Ok(());
    }
    for component in rel.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return bad("`..` is not allowed"),
            Component::RootDir | Component::Prefix(_) => return bad("it is absolute"),
        }
    }
    Ok(())
}

fn display(rel: &Path) -> String {
    rel.display().to_string()
}

fn io_err(path: String, errno: Errno) -> BeneathError {
    BeneathError::Io {
        path,
        source: io::Error::from_raw_os_error(errno.raw_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Root) {
        let outside = tempfile::tempdir().unwrap();
        let inside = tempfile::tempdir().unwrap();
        let root = Root::open(inside.path()).unwrap();
        (outside, inside, root)
    }

    #[test]
    fn writes_never_go_through_a_linked_directory() {
        let (outside, inside, root) = setup();
        symlink(outside.path(), inside.path().join("d")).unwrap();
        let err = root
            .write(Path::new("d/hooks/x"), b"evil", None, false)
            .unwrap_err();
        assert!(matches!(err, BeneathError::Symlink { .. }), "{err}");
        // A checkout replaces the link by a directory instead of writing through it.
        root.write(Path::new("d/hooks/x"), b"ok", Some(0o755), true)
            .unwrap();
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        assert!(inside.path().join("d").is_dir() && !inside.path().join("d").is_symlink());
    }

    #[test]
    fn a_final_link_is_never_written_or_read_through() {
        let (outside, inside, root) = setup();
        let target = outside.path().join("config");
        std::fs::write(&target, "secret").unwrap();
        symlink(&target, inside.path().join("f")).unwrap();
        assert!(matches!(
            root.write(Path::new("f"), b"x", None, false).unwrap_err(),
            BeneathError::Symlink { .. }
        ));
        assert!(matches!(
            root.read(Path::new("f"), 100).unwrap_err(),
            BeneathError::Symlink { .. }
        ));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        root.write(Path::new("f"), b"x", Some(0o644), true).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
    }

    #[test]
    fn fifos_and_large_files_are_refused_without_blocking() {
        let (_outside, inside, root) = setup();
        let fifo = inside.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            root.read(Path::new("fifo"), 100).unwrap_err(),
            BeneathError::NotRegular { kind: "FIFO", .. }
        ));
        assert!(matches!(
            root.write(Path::new("fifo"), b"x", None, false)
                .unwrap_err(),
            BeneathError::NotRegular { .. }
        ));
        let big = File::create(inside.path().join("big")).unwrap();
        big.set_len(4 << 30).unwrap();
        assert!(matches!(
            root.read(Path::new("big"), 1 << 20).unwrap_err(),
            BeneathError::TooLarge { .. }
        ));
    }

    #[test]
    fn a_file_with_other_hard_links_is_never_written() {
        let (outside, inside, root) = setup();
        let target = outside.path().join("shared");
        std::fs::write(&target, "theirs").unwrap();
        std::fs::hard_link(&target, inside.path().join("h")).unwrap();
        assert!(matches!(
            root.write(Path::new("h"), b"ours", None, false)
                .unwrap_err(),
            BeneathError::HardLinked { .. }
        ));
        // A checkout replaces the link with a file of its own.
        root.write(Path::new("h"), b"ours", Some(0o644), true)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs");
        assert_eq!(
            std::fs::read_to_string(inside.path().join("h")).unwrap(),
            "ours"
        );
    }

    #[test]
    fn paths_must_stay_relative() {
        let (_outside, _inside, root) = setup();
        for bad in ["../x", "/etc/passwd", "a/../../x"] {
            assert!(matches!(
                root.write(Path::new(bad), b"x", None, false).unwrap_err(),
                BeneathError::BadPath { .. }
            ));
        }
    }

    #[test]
    fn remove_takes_links_away_without_following_them() {
        let (outside, inside, root) = setup();
        std::fs::write(outside.path().join("keep"), "k").unwrap();
        symlink(outside.path(), inside.path().join("l")).unwrap();
        root.remove(Path::new("l")).unwrap();
        assert!(outside.path().join("keep").exists());
        assert!(matches!(
            root.remove(Path::new("l/keep")),
            Ok(()) | Err(BeneathError::Symlink { .. })
        ));
        std::fs::create_dir_all(inside.path().join("t/u")).unwrap();
        std::fs::write(inside.path().join("t/u/f"), "x").unwrap();
        root.remove(Path::new("t")).unwrap();
        assert!(!inside.path().join("t").exists());
    }
}
