//! Reading a large loose object as a stream: gix reads objects whole, and so does `git
//! cat-file`; a checkout or a scan of a 1 GiB blob must not.

use std::path::Path;

use gix::ObjectId;

use crate::store::{Result, Store, StoreError};

impl Store {
    /// The content of blob `id` as a reader, with its size, when it is a loose object of the
    /// repository (a checkpoint writes loose objects); `None` when it is packed or elsewhere.
    pub(crate) fn open_loose_blob(&self, id: ObjectId) -> Result<Option<(LooseBlob, u64)>> {
        let hex = id.to_hex().to_string();
        let path = self
            .common_dir()
            .join("objects")
            .join(&hex[..2])
            .join(&hex[2..]);
        open(&path).map_err(StoreError::io("could not read the object", &path))
    }
}

fn open(path: &Path) -> std::io::Result<Option<(LooseBlob, u64)>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let mut loose = LooseBlob {
        file: std::io::BufReader::new(file),
        state: gix::zlib::Decompress::new(),
        header: Vec::new(),
        left: None,
    };
    let size = loose.read_header()?;
    Ok(Some((loose, size)))
}

/// A loose object's content, inflated as it is read.
pub(crate) struct LooseBlob {
    file: std::io::BufReader<std::fs::File>,
    state: gix::zlib::Decompress,
    header: Vec<u8>,
    /// Content bytes inflated with the header, not yet handed out.
    left: Option<(Vec<u8>, usize)>,
}

impl LooseBlob {
    /// Inflate up to the end of `blob <size>\0`; the size.
    fn read_header(&mut self) -> std::io::Result<u64> {
        let mut buf = [0u8; 256];
        loop {
            let n = gix::zlib::stream::inflate::read(&mut self.file, &mut self.state, &mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("the object has no header"));
            }
            self.header.extend_from_slice(&buf[..n]);
            if let Some(nul) = self.header.iter().position(|&b| b == 0) {
                let size = self.header[..nul]
                    .strip_prefix(b"blob ")
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| std::io::Error::other("not a blob"))?;
                self.left = Some((self.header.split_off(nul + 1), 0));
                return Ok(size);
            }
            if self.header.len() > 64 {
                return Err(std::io::Error::other("the object's header is too long"));
            }
        }
    }
}

impl std::io::Read for LooseBlob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some((left, at)) = &mut self.left {
            if *at < left.len() {
                let n = (left.len() - *at).min(buf.len());
                buf[..n].copy_from_slice(&left[*at..*at + n]);
                *at += n;
                return Ok(n);
            }
            self.left = None;
        }
        gix::zlib::stream::inflate::read(&mut self.file, &mut self.state, buf)
    }
}
