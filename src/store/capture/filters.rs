//! git's conversion of file content between the worktree and the object database: the
//! `text`, `eol` and `crlf` attributes with `core.autocrlf`, `core.eol` and `core.safecrlf`,
//! `ident`, `working-tree-encoding`, and filter drivers (`filter.<driver>.clean`/`smudge`
//! commands and the long-running `filter.<driver>.process` protocol that git-lfs speaks).
//! A checkpoint cleans what it stores exactly as `git add` does; a checkout smudges what it
//! writes exactly as `git checkout` does, so a checkout followed by a checkpoint records
//! nothing.
//!
//! The conversion itself is gix's pipeline. What this module adds is how the harness feeds
//! it without trusting the worktree:
//! - `.gitattributes` files of the worktree are read through [`Root`] (never through a link,
//!   never a FIFO, at most 1 MiB) and handed to the attribute stack as in-memory blobs; one
//!   that cannot be read so counts as absent and the index's version applies, as in git,
//!   which ignores a `.gitattributes` that is a link. Global attributes
//!   (`core.attributesFile`) and `$GIT_COMMON_DIR/info/attributes` are the user's own.
//! - The commands of filter drivers come only from git configuration, which the worktree
//!   cannot write; a committed `.gitattributes` can only name a driver the user configured.
//!   A driver runs as git runs it: in the worktree, with `GIT_DIR` naming the admin dir.
//! - The file goes to the pipeline as the reader [`Root::open_regular`] opened. A
//!   conversion that needs the whole content in memory (eol, ident, encodings, a single-file
//!   clean command) takes at most [`MAX_CONVERTED_BYTES`]; only a long-running process
//!   filter (git-lfs) reads a larger file, as a stream.
//! - A driver that fails stops the checkpoint when it is `required`; otherwise the content
//!   is stored unfiltered, as git does.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::filter::plumbing as filter;
use gix::filter::plumbing::pipeline::convert::{ToGitOutcome, ToWorktreeOutcome};
use gix::index::entry::{Flags, Mode, Stat};

use crate::beneath::{BeneathError, Root};

/// The largest `.gitattributes` read from the worktree; a larger one counts as absent.
const MAX_ATTRIBUTES_FILE: u64 = 1 << 20;

/// The most content a conversion holds in memory (eol, ident, working-tree-encoding, a clean
/// or smudge command); a larger file with such attributes is refused rather than read whole.
pub const MAX_CONVERTED_BYTES: u64 = 100 << 20;

/// The largest blob a checkpoint stores, after its clean filter: streamed, never held in
/// memory. A larger file is refused with a message.
pub const MAX_BLOB_BYTES: u64 = 2 << 30;

/// Filter output up to this size stays in memory; more goes to a temp file.
const SPOOL_IN_MEMORY: usize = 8 << 20;

/// Why a path could not be converted.
#[derive(Debug)]
pub(crate) enum FilterError {
    /// A `required` filter driver failed: the checkpoint (or checkout) stops.
    Required {
        path: String,
        driver: String,
        detail: String,
    },
    /// The content cannot be converted as it is (`core.safecrlf`, an encoding, the size):
    /// the path is refused, and the model can fix it.
    Refused(String),
    /// The worktree refused the access (a link, a FIFO, a file that vanished).
    Beneath(BeneathError),
    Io(String),
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterError::Required {
                path,
                driver,
                detail,
            } => write!(
                f,
                "the required filter `{driver}` failed on `{path}`: {detail}"
            ),
            FilterError::Refused(why) | FilterError::Io(why) => f.write_str(why),
            FilterError::Beneath(err) => err.fmt(f),
        }
    }
}

/// Content converted for storage: in memory, or in a temp file when large.
pub(crate) struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
}

impl Spool {
    fn from_bytes(bytes: &[u8]) -> Spool {
        Spool {
            memory: bytes.to_vec(),
            file: None,
            len: bytes.len() as u64,
        }
    }

    /// Read `from` to its end, refusing more than `limit` bytes.
    fn read(from: &mut dyn Read, limit: u64, temp_dir: &Path, path: &BStr) -> io::Result<Spool> {
        let mut memory = Vec::new();
        from.take(SPOOL_IN_MEMORY as u64 + 1)
            .read_to_end(&mut memory)?;
        if memory.len() <= SPOOL_IN_MEMORY {
            let len = memory.len() as u64;
            return Ok(Spool {
                memory,
                file: None,
                len,
            });
        }
        let mut file = tempfile::tempfile_in(temp_dir)?;
        file.write_all(&memory)?;
        let copied = io::copy(&mut from.take(limit + 1), &mut file)?;
        let len = memory.len() as u64 + copied;
        if len > limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!(
                    "{path}: the filter's output is more than the {} MiB a checkpoint takes",
                    limit >> 20
                ),
            ));
        }
        file.rewind()?;
        Ok(Spool {
            memory: Vec::new(),
            file: Some(file),
            len,
        })
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The content, when it is in memory.
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(self.memory.as_slice())
    }

    pub(crate) fn reader(&mut self) -> Box<dyn Read + '_> {
        match &mut self.file {
            Some(file) => Box::new(file),
            None => Box::new(self.memory.as_slice()),
        }
    }
}

/// What a checkpoint stores for a file.
pub(crate) enum Cleaned {
    /// No conversion applies: the file's own `size` bytes, to be streamed from it.
    Unchanged(File, u64),
    /// What the conversions made of it.
    Converted(Spool),
}

/// `.gitattributes` blobs read from the worktree, served beside the object database to the
/// attribute stack (which finds attribute files by object id).
struct Overlay<'r> {
    blobs: HashMap<ObjectId, Vec<u8>>,
    objects: &'r gix::OdbHandle,
}

impl gix::objs::Find for Overlay<'_> {
    fn try_find<'a>(
        &self,
        id: &gix::oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'a>>> {
        match self.blobs.get(id) {
            Some(blob) => {
                buffer.clear();
                buffer.extend_from_slice(blob);
                Ok(Some(gix::objs::Data {
                    kind: gix::objs::Kind::Blob,
                    object_hash: id.kind(),
                    data: buffer,
                }))
            }
            None => self.objects.try_find(id, buffer),
        }
    }
}

/// A source reader that refuses to give more than `limit` bytes, and says when it did.
struct Limited<'t> {
    inner: File,
    limit: u64,
    read: u64,
    tripped: &'t Cell<bool>,
}

impl Read for Limited<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            self.tripped.set(true);
            return Err(io::Error::other("too large to convert in memory"));
        }
        Ok(n)
    }
}

/// Which way content goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Worktree to git (`git add`): the worktree's `.gitattributes` first, then the index's.
    ToGit,
    /// Git to worktree (`git checkout`): the tree's `.gitattributes` first, then the worktree's.
    ToWorktree,
}

/// The conversion pipeline of one snapshot or checkout.
pub(crate) struct Filters<'r> {
    repo: &'r gix::Repository,
    pipeline: filter::Pipeline,
    /// The same pipeline without drivers: what a failing driver that is not required leaves.
    plain: filter::Pipeline,
    drivers: Vec<filter::Driver>,
    attributes: gix::worktree::Stack,
    overlay: Overlay<'r>,
    /// The index whose version of a path `text=auto` consults (git's CRLF safety check).
    index: Option<&'r gix::index::State>,
    temp_dir: std::path::PathBuf,
    /// Whether the configuration converts files without any attribute (`core.autocrlf`).
    config_converts: bool,
}

impl<'r> Filters<'r> {
    /// The pipeline for paths in `dirs` (the directories whose `.gitattributes` matter: those
    /// of every path to convert, and their parents, `""` for the top). `index` holds the
    /// `.gitattributes` entries of the other side: the index for [`Direction::ToGit`], the
    /// target tree's entries for [`Direction::ToWorktree`].
    pub(crate) fn new(
        repo: &'r gix::Repository,
        root: &Root,
        index: &'r gix::index::State,
        dirs: &BTreeSet<BString>,
        direction: Direction,
    ) -> Result<Filters<'r>, FilterError> {
        let git = |context: &str| {
            let context = context.to_owned();
            move |err: gix::Error| FilterError::Io(format!("{context}: {err}"))
        };
        // Only the `.gitattributes` of `dirs` can apply to the paths: looked up, not searched
        // for among every entry (that cost the size of the tree on every checkpoint).
        let attributes_in = |dir: &BString| -> BString {
            if dir.is_empty() {
                ".gitattributes".into()
            } else {
                format!("{dir}/.gitattributes").into()
            }
        };
        let mut sources: BTreeMap<BString, ObjectId> = BTreeMap::new();
        for dir in dirs {
            let rel = attributes_in(dir);
            let Ok(i) = index.entry_index_by_path(rel.as_ref()) else {
                continue;
            };
            let entry = &index.entries()[i];
            if entry.stage_raw() == 0 && entry.mode == Mode::FILE {
                sources.insert(rel, entry.id);
            }
        }
        let mut blobs = HashMap::new();
        for dir in dirs {
            let rel = attributes_in(dir);
            if direction == Direction::ToWorktree && sources.contains_key(&rel) {
                continue;
            }
            // Absent, a link, a FIFO, a directory, too large: git reads no such file either,
            // and falls back to the index.
            if let Ok(bytes) = root.read(&rel.to_path_lossy(), MAX_ATTRIBUTES_FILE) {
                let id = gix::objs::compute_hash(repo.object_hash(), gix::objs::Kind::Blob, &bytes)
                    .map_err(git("could not hash a .gitattributes file"))?;
                blobs.insert(id, bytes);
                sources.insert(rel, id);
            }
        }
        let mut synthetic = gix::index::State::new(repo.object_hash());
        for (path, id) in &sources {
            synthetic.dangerously_push_entry(
                Stat::default(),
                *id,
                Flags::empty(),
                Mode::FILE,
                path.as_ref(),
            );
        }
        synthetic.sort_entries();
        let attributes = repo
            .attributes_only(
                &synthetic,
                gix::worktree::stack::state::attributes::Source::IdMapping,
            )
            .map_err(git("could not read the attributes"))?
            .detach();
        let options = gix::filter::Pipeline::options(repo)
            .map_err(git("could not read the filter configuration"))?;
        let drivers = options.drivers.clone();
        let config_converts = !matches!(
            options.eol_config.auto_crlf,
            filter::eol::AutoCrlf::Disabled
        );
        let context = repo
            .command_context()
            .map_err(git("could not prepare filter commands"))?;
        let plain_options = filter::pipeline::Options {
            drivers: Vec::new(),
            ..options.clone()
        };
        Ok(Filters {
            repo,
            pipeline: filter::Pipeline::new(context.clone(), repo.object_hash(), options),
            plain: filter::Pipeline::new(context, repo.object_hash(), plain_options),
            drivers,
            attributes,
            overlay: Overlay {
                blobs,
                objects: &repo.objects,
            },
            index: (direction == Direction::ToGit).then_some(index),
            temp_dir: repo.common_dir().to_path_buf(),
            config_converts,
        })
    }

    /// The values of `names` at `path`, `None` where unspecified.
    fn attribute_values(
        &mut self,
        path: &BStr,
        names: &[&str],
    ) -> Result<Vec<Option<BString>>, FilterError> {
        let mut out = self
            .attributes
            .selected_attribute_matches(names.iter().copied());
        self.attributes
            .at_entry(path, None, &self.overlay)
            .map_err(|err| FilterError::Io(format!("attributes of {path}: {err}")))?
            .matching_attributes(&mut out);
        let mut values = vec![None; names.len()];
        for found in out.iter_selected() {
            let Some(i) = names
                .iter()
                .position(|n| found.assignment.name.as_str() == *n)
            else {
                continue;
            };
            values[i] = match found.assignment.state {
                gix::attrs::StateRef::Unspecified => None,
                gix::attrs::StateRef::Set => Some("set".into()),
                gix::attrs::StateRef::Unset => Some("unset".into()),
                gix::attrs::StateRef::Value(v) => Some(v.as_bstr().to_owned()),
            };
        }
        Ok(values)
    }

    /// The configured driver the `filter` attribute names at `path`, if any.
    fn driver(&mut self, path: &BStr) -> Result<Option<filter::Driver>, FilterError> {
        let name = self.attribute_values(path, &["filter"])?.remove(0);
        Ok(name.and_then(|name| self.drivers.iter().find(|d| d.name == name).cloned()))
    }

    /// Whether anything may convert `path` on checkout; when not, its blob is written as is
    /// and may be streamed.
    pub(crate) fn may_convert(&mut self, path: &BStr) -> Result<bool, FilterError> {
        if self.config_converts {
            return Ok(true);
        }
        let names = ["text", "eol", "crlf", "ident", "working-tree-encoding"];
        if self
            .attribute_values(path, &names)?
            .iter()
            .any(Option::is_some)
        {
            return Ok(true);
        }
        Ok(self.driver(path)?.is_some())
    }

    /// Clean the file at `path` for storage, as `git add` does. `open` opens it (again,
    /// after a driver failed) beneath the worktree.
    pub(crate) fn clean(
        &mut self,
        path: &BStr,
        open: &dyn Fn() -> Result<(File, u64), BeneathError>,
    ) -> Result<Cleaned, FilterError> {
        let driver = self.driver(path)?;
        match (self.clean_with(path, open, driver.as_ref()), driver) {
            (Err(FilterError::Io(detail)), Some(driver)) => {
                if driver.required {
                    return Err(FilterError::Required {
                        path: path.to_string(),
                        driver: driver.name.to_string(),
                        detail,
                    });
                }
                tracing::warn!(%path, driver = %driver.name, %detail, "filter failed; stored unfiltered, as git does");
                self.clean_with(path, open, None)
            }
            (other, _) => other,
        }
    }

    fn clean_with(
        &mut self,
        path: &BStr,
        open: &dyn Fn() -> Result<(File, u64), BeneathError>,
        driver: Option<&filter::Driver>,
    ) -> Result<Cleaned, FilterError> {
        let (file, size) = open().map_err(FilterError::Beneath)?;
        let with_driver = driver.is_some();
        let streams = driver.is_some_and(|d| d.process.is_some());
        let tripped = Cell::new(false);
        let src = Limited {
            inner: file,
            limit: if streams {
                u64::MAX
            } else {
                MAX_CONVERTED_BYTES
            },
            read: 0,
            tripped: &tripped,
        };
        let rela = path.to_path_lossy();
        let Filters {
            repo,
            pipeline,
            plain: plain_pipeline,
            attributes,
            overlay,
            index,
            temp_dir,
            ..
        } = self;
        let pipeline = if with_driver {
            pipeline
        } else {
            plain_pipeline
        };
        let mut lookup_failed = None;
        let mut attrs = |rela: &BStr, out: &mut gix::attrs::search::Outcome| match attributes
            .at_entry(rela, None, &*overlay)
        {
            Ok(platform) => {
                platform.matching_attributes(out);
            }
            Err(err) => lookup_failed = Some(err.to_string()),
        };
        let mut index_object = |buf: &mut Vec<u8>| -> gix::Result<Option<()>> {
            let Some(entry) = index.and_then(|index| index.entry_by_path(path)) else {
                return Ok(None);
            };
            let found = gix::objs::Find::try_find(&repo.objects, &entry.id, buf)?;
            Ok(found
                .filter(|obj| obj.kind == gix::objs::Kind::Blob)
                .map(|_| ()))
        };
        let converted = pipeline.convert_to_git(src, &rela, &mut attrs, &mut index_object);
        let too_large = || {
            FilterError::Refused(format!(
                "{path}: {size} bytes, more than the {} MiB converted in memory ({}); \
                 delete it, add it to .gitignore, or give it `-text` in .gitattributes",
                MAX_CONVERTED_BYTES >> 20,
                "text/eol/ident/working-tree-encoding attributes or a clean command"
            ))
        };
        let outcome = match converted {
            Ok(outcome) => outcome,
            Err(_) if tripped.get() => return Err(too_large()),
            Err(err) if with_driver => return Err(FilterError::Io(err.to_string())),
            Err(err) => return Err(FilterError::Refused(format!("{path}: {err}"))),
        };
        if let Some(err) = lookup_failed {
            return Err(FilterError::Io(format!("attributes of {path}: {err}")));
        }
        match outcome {
            ToGitOutcome::Unchanged(src) => Ok(Cleaned::Unchanged(src.inner, size)),
            ToGitOutcome::Buffer(bytes) => Ok(Cleaned::Converted(Spool::from_bytes(bytes))),
            ToGitOutcome::Process(mut read) => {
                match Spool::read(&mut read, MAX_BLOB_BYTES, temp_dir, path) {
                    Ok(spool) => Ok(Cleaned::Converted(spool)),
                    Err(_) if tripped.get() => Err(too_large()),
                    Err(err) if err.kind() == io::ErrorKind::FileTooLarge => {
                        Err(FilterError::Refused(err.to_string()))
                    }
                    Err(err) => Err(FilterError::Io(err.to_string())),
                }
            }
        }
    }

    /// Smudge the blob `data` of `path` for the worktree, as `git checkout` does, and hand
    /// the result to `write`.
    pub(crate) fn smudge(
        &mut self,
        path: &BStr,
        data: &[u8],
        write: &mut dyn FnMut(&mut dyn Read) -> Result<(), FilterError>,
    ) -> Result<(), FilterError> {
        let driver = self.driver(path)?;
        let values = self.attribute_values(path, &["ident", "working-tree-encoding"])?;
        let ident = values[0].as_ref().is_some_and(|v| v == "set");
        // gix writes UTF-8 for UTF-16 and UTF-32 (its encoder library cannot make them);
        // git writes them, and so do we, unless a smudge driver comes after the encoding.
        let wide = values[1]
            .as_ref()
            .and_then(|label| Wide::from_label(label.as_ref()))
            .filter(|_| driver.is_none());
        let mut write_fixed = |content: &mut dyn Read| -> Result<(), FilterError> {
            if !ident && wide.is_none() {
                return write(content);
            }
            let mut bytes = Vec::new();
            content
                .read_to_end(&mut bytes)
                .map_err(|err| FilterError::Io(err.to_string()))?;
            if ident {
                bytes = git_ident(bytes);
            }
            if let Some(wide) = wide {
                bytes = wide.encode(&bytes).ok_or_else(|| {
                    FilterError::Io(format!("{path}: not UTF-8, cannot be written as {wide:?}"))
                })?;
            }
            write(&mut &bytes[..])
        };
        let write = &mut write_fixed;
        match (self.smudge_with(path, data, write, true), driver) {
            (Err(FilterError::Io(detail)), Some(driver)) => {
                if driver.required {
                    return Err(FilterError::Required {
                        path: path.to_string(),
                        driver: driver.name.to_string(),
                        detail,
                    });
                }
                tracing::warn!(%path, driver = %driver.name, %detail, "smudge filter failed; checked out unfiltered, as git does");
                self.smudge_with(path, data, write, false)
            }
            (other, _) => other,
        }
    }

    fn smudge_with(
        &mut self,
        path: &BStr,
        data: &[u8],
        write: &mut dyn FnMut(&mut dyn Read) -> Result<(), FilterError>,
        with_driver: bool,
    ) -> Result<(), FilterError> {
        let Filters {
            pipeline,
            plain: plain_pipeline,
            attributes,
            overlay,
            ..
        } = self;
        let pipeline = if with_driver {
            pipeline
        } else {
            plain_pipeline
        };
        let mut lookup_failed = None;
        let mut attrs = |rela: &BStr, out: &mut gix::attrs::search::Outcome| match attributes
            .at_entry(rela, None, &*overlay)
        {
            Ok(platform) => {
                platform.matching_attributes(out);
            }
            Err(err) => lookup_failed = Some(err.to_string()),
        };
        let options = filter::pipeline::convert::to_worktree::Options {
            can_delay: filter::driver::apply::Delay::Forbid,
            unknown_encoding: filter::pipeline::convert::to_worktree::UnknownEncoding::Ignore,
        };
        let mut outcome = pipeline
            .convert_to_worktree(data, path, &mut attrs, options)
            .map_err(|err| FilterError::Io(err.to_string()))?;
        if let Some(err) = lookup_failed {
            return Err(FilterError::Io(format!("attributes of {path}: {err}")));
        }
        match &mut outcome {
            ToWorktreeOutcome::Unchanged(bytes) | ToWorktreeOutcome::Buffer(bytes) => {
                write(&mut &bytes[..])
            }
            ToWorktreeOutcome::Process(filter::driver::apply::MaybeDelayed::Immediate(read)) => {
                // The driver's errors surface while its output is read; they are the
                // driver's, not the worktree's.
                let mut failed = None;
                let mut reader = ErrorTap {
                    inner: read,
                    failed: &mut failed,
                };
                let written = write(&mut reader);
                match failed {
                    Some(err) => Err(FilterError::Io(err)),
                    None => written,
                }
            }
            ToWorktreeOutcome::Process(filter::driver::apply::MaybeDelayed::Delayed(_)) => {
                Err(FilterError::Io(format!(
                    "{path}: the filter delayed it, which was not allowed"
                )))
            }
        }
    }
}

/// Remembers the error of a reader, so that a failure of the reading side is told apart
/// from one of the writing side.
struct ErrorTap<'a, R: ?Sized> {
    inner: &'a mut R,
    failed: &'a mut Option<String>,
}

impl<R: Read + ?Sized> Read for ErrorTap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|err| {
            *self.failed = Some(err.to_string());
        })
    }
}

/// A working-tree encoding of 16 or 32 bits per unit, as git (glibc's iconv) writes it:
/// `UTF-16` and `UTF-32` with a byte order mark and little-endian, the `LE`/`BE` forms
/// without one, `UTF-16LE-BOM` with one.
#[derive(Debug, Clone, Copy)]
struct Wide {
    unit: usize,
    big_endian: bool,
    bom: bool,
}

impl Wide {
    fn from_label(label: &BStr) -> Option<Wide> {
        let label = label.to_str().ok()?.to_ascii_uppercase().replace('-', "");
        let (unit, rest) = if let Some(rest) = label.strip_prefix("UTF16") {
            (2, rest)
        } else {
            (4, label.strip_prefix("UTF32")?)
        };
        let (big_endian, bom) = match rest {
            "" => (false, true),
            "LE" => (false, false),
            "BE" => (true, false),
            "LEBOM" => (false, true),
            _ => return None,
        };
        Some(Wide {
            unit,
            big_endian,
            bom,
        })
    }

    fn encode(self, utf8: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(utf8).ok()?;
        let mut out = Vec::with_capacity(utf8.len() * self.unit + self.unit);
        let mut push = |unit: u32| {
            let bytes = unit.to_le_bytes();
            let bytes = &bytes[..self.unit];
            if self.big_endian {
                out.extend(bytes.iter().rev());
            } else {
                out.extend_from_slice(bytes);
            }
        };
        if self.bom {
            push(0xFEFF);
        }
        if self.unit == 2 {
            text.encode_utf16().for_each(|u| push(u32::from(u)));
        } else {
            text.chars().for_each(|c| push(u32::from(c)));
        }
        Some(out)
    }
}

/// gix expands `$Id$` to `$Id: <hex>$`; git writes `$Id: <hex> $`, and so do we.
fn git_ident(mut bytes: Vec<u8>) -> Vec<u8> {
    const PREFIX: &[u8] = b"$Id: ";
    let mut at = 0;
    while let Some(found) = bytes[at..].find(PREFIX) {
        let start = at + found + PREFIX.len();
        let hex = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let end = start + hex;
        if (hex == 40 || hex == 64) && bytes.get(end) == Some(&b'$') {
            bytes.insert(end, b' ');
        }
        at = end;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::{Wide, git_ident};

    #[test]
    fn wide_encodings_are_written_as_git_writes_them() {
        let cases: [(&str, &[u8]); 5] = [
            ("UTF-16", &[0xff, 0xfe, 0x68, 0, 0xe9, 0, 0x0a, 0]),
            ("utf-16le", &[0x68, 0, 0xe9, 0, 0x0a, 0]),
            ("UTF-16BE", &[0, 0x68, 0, 0xe9, 0, 0x0a]),
            (
                "UTF-32",
                &[
                    0xff, 0xfe, 0, 0, 0x68, 0, 0, 0, 0xe9, 0, 0, 0, 0x0a, 0, 0, 0,
                ],
            ),
            ("UTF-32BE", &[0, 0, 0, 0x68, 0, 0, 0, 0xe9, 0, 0, 0, 0x0a]),
        ];
        for (label, expected) in cases {
            let wide = Wide::from_label(label.into()).unwrap();
            assert_eq!(wide.encode("hé\n".as_bytes()).unwrap(), expected, "{label}");
        }
        assert!(Wide::from_label("ISO-8859-1".into()).is_none());
    }

    #[test]
    fn ident_is_expanded_the_way_git_writes_it() {
        let hex = "a0749a0c2c0c92aeb7c5f5fa6ace589ef08aceeb";
        assert_eq!(
            git_ident(format!("/* $Id: {hex}$ */ $Id: {hex} $ $Id: x$").into_bytes()),
            format!("/* $Id: {hex} $ */ $Id: {hex} $ $Id: x$").into_bytes()
        );
    }
}
