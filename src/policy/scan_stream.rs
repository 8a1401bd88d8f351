//! The secret scan over a stream, for content too large to hold in memory: a checkpoint
//! reads a large file once, and every chunk passes through [`StreamScan`] on its way to the
//! object database.
//!
//! It finds what [`super::scan_object`] finds on the whole content, with the same line
//! numbers: complete lines are scanned in blocks of about 256 KiB, and only the unfinished
//! last line is carried over to the next chunk, so a key split across two reads is whole
//! when it is scanned. A line longer than 64 KiB (a minified file, a binary) is scanned in
//! 64 KiB pieces, each one starting with the last 4 KiB of the piece before: a key up to
//! 4 KiB long that straddles two pieces is still seen whole once. Memory stays bounded
//! whatever the size of the content or of its lines.
//!
//! A block is first tested against all the rules at once ([`regex::RegexSet`], multi-line,
//! `\r\n` aware); only a block that might hold a secret is scanned line by line. The set
//! matches everything a single line would (and more, across lines), so it never hides one.

use std::sync::LazyLock;

use regex::{RegexSet, RegexSetBuilder};

use super::secret_rules::RULES;
use super::secrets::{SecretAllowList, SecretFinding, scan_added_lines, scan_line};

/// Complete lines are scanned together once this many bytes are waiting.
const BLOCK: usize = 256 << 10;
/// A line longer than this is scanned in pieces.
const MAX_LINE: usize = 64 << 10;
/// How much of a long line's piece is scanned again at the start of the next piece.
const OVERLAP: usize = 4 << 10;

static PREFILTER: LazyLock<Option<RegexSet>> = LazyLock::new(|| {
    RegexSetBuilder::new(RULES.iter().map(|rule| rule.pattern))
        .multi_line(true)
        .crlf(true)
        .size_limit(64 << 20)
        .dfa_size_limit(64 << 20)
        .build()
        .ok()
});

/// A secret scan fed chunk by chunk; see the module documentation.
pub struct StreamScan<'a> {
    path: String,
    allow: &'a SecretAllowList,
    /// Bytes received and not yet scanned: the start of the current line, and whatever follows.
    pending: Vec<u8>,
    /// The line number of the first line in `pending`.
    line: u32,
    /// The current line was cut into pieces: the start of `pending` was scanned already.
    continued: bool,
    findings: Vec<SecretFinding>,
}

impl<'a> StreamScan<'a> {
    /// A scan of the content of `path` (the path itself is scanned by [`StreamScan::finish`]).
    pub fn new(path: &str, allow: &'a SecretAllowList) -> StreamScan<'a> {
        StreamScan {
            path: path.to_owned(),
            allow,
            pending: Vec::new(),
            line: 1,
            continued: false,
            findings: Vec::new(),
        }
    }

    /// Whether anything was found so far.
    pub fn found(&self) -> bool {
        !self.findings.is_empty()
    }

    /// Scan the next bytes of the content.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.allow.allows_path(&self.path) {
            return;
        }
        self.pending.extend_from_slice(chunk);
        if self.pending.len() < BLOCK {
            return;
        }
        if let Some(last_newline) = self.pending.iter().rposition(|&b| b == b'\n') {
            let rest = self.pending.split_off(last_newline + 1);
            let block = std::mem::replace(&mut self.pending, rest);
            self.scan_lines(&block);
            let lines = block.iter().filter(|&&b| b == b'\n').count();
            self.line = self
                .line
                .saturating_add(u32::try_from(lines).unwrap_or(u32::MAX));
            self.continued = false;
        }
        while self.pending.len() > MAX_LINE {
            // One line longer than a piece: scan a piece, keep its tail for the next one.
            let piece: Vec<u8> = self.pending[..MAX_LINE].to_vec();
            self.scan_piece(&piece);
            self.pending.drain(..MAX_LINE - OVERLAP);
            self.continued = true;
        }
    }

    /// Scan what is left and the path; every finding of the content and its name.
    pub fn finish(mut self) -> Vec<SecretFinding> {
        let mut findings = scan_added_lines(
            &self.path,
            std::iter::once((0, self.path.as_str())),
            self.allow,
        );
        if !self.pending.is_empty() && !self.allow.allows_path(&self.path) {
            let rest = std::mem::take(&mut self.pending);
            self.scan_lines(&rest);
        }
        findings.append(&mut self.findings);
        findings
    }

    /// Complete lines (and, at the end, a last line without a newline).
    fn scan_lines(&mut self, bytes: &[u8]) {
        let (head, rest) = if self.continued {
            // The first line's start was scanned with the last piece: only what follows the
            // overlap is new there.
            let end = bytes
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| i + 1);
            bytes.split_at(end)
        } else {
            (&[][..], bytes)
        };
        if !head.is_empty() {
            self.scan_piece(head);
            self.line = self.line.saturating_add(1);
            self.continued = false;
        }
        let text = String::from_utf8_lossy(rest);
        if PREFILTER.as_ref().is_some_and(|set| !set.is_match(&text)) {
            return;
        }
        let first = self.line;
        let lines = text.lines().enumerate().map(|(i, line)| {
            let offset = u32::try_from(i).unwrap_or(u32::MAX);
            (first.saturating_add(offset), line)
        });
        let found = scan_added_lines(&self.path, lines, self.allow);
        self.findings.extend(found);
        if !head.is_empty() {
            // `feed` counts the lines of the whole block, the head's included.
            self.line = self.line.saturating_sub(1);
        }
    }

    /// A piece of one long line. After the first piece, a secret that ends inside the
    /// overlap was in the piece before (whole, or it is longer than the overlap).
    fn scan_piece(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        if PREFILTER.as_ref().is_some_and(|set| !set.is_match(&text)) {
            return;
        }
        let seen_until = if self.continued {
            String::from_utf8_lossy(&bytes[..OVERLAP.min(bytes.len())]).len()
        } else {
            0
        };
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        for (finding, end) in scan_line(&self.path, self.line, line, self.allow) {
            if end > seen_until {
                self.findings.push(finding);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::scan_object;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLQ";

    fn streamed(path: &str, data: &[u8], chunk: usize) -> Vec<SecretFinding> {
        let allow = SecretAllowList::default();
        let mut scan = StreamScan::new(path, &allow);
        for piece in data.chunks(chunk.max(1)) {
            scan.feed(piece);
        }
        scan.finish()
    }

    #[test]
    fn finds_what_the_whole_scan_finds_with_the_same_lines() {
        let mut data = Vec::new();
        for i in 0..40_000 {
            data.extend_from_slice(format!("line {i} with some ordinary text\r\n").as_bytes());
            if i % 9_999 == 5 {
                data.extend_from_slice(format!("aws = \"{KEY}\"\n").as_bytes());
            }
        }
        data.extend_from_slice(b"token = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789AB\"");
        let whole = scan_object("f.txt", &data, &SecretAllowList::default());
        assert_eq!(whole.len(), 5, "{whole:?}");
        for chunk in [1 << 10, 8 << 10, 100_003, 1 << 20] {
            assert_eq!(streamed("f.txt", &data, chunk), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn a_key_across_a_chunk_boundary_is_found() {
        let mut data = vec![b'x'; BLOCK - 7];
        data.push(b'\n');
        data.extend_from_slice(format!("key: {KEY}\n").as_bytes());
        // Boundaries everywhere around the key.
        for chunk in [BLOCK - 3, BLOCK, BLOCK + 2, BLOCK + 9] {
            let found = streamed("f", &data, chunk);
            assert_eq!(found.len(), 1, "chunk {chunk}");
            assert_eq!(found[0].line, 2);
        }
    }

    #[test]
    fn a_key_inside_an_endless_line_is_found_once() {
        // A binary-like line of 3 MiB with a key straddling a piece boundary, and one more.
        let mut data = vec![b'.'; 3 << 20];
        let at = MAX_LINE - 10;
        data[at - 1] = b' ';
        data[at..at + KEY.len()].copy_from_slice(KEY.as_bytes());
        data[at + KEY.len()] = b' ';
        let far = (2 << 20) + 77;
        data[far - 1] = b' ';
        data[far..far + KEY.len()].copy_from_slice(KEY.as_bytes());
        data[far + KEY.len()] = b' ';
        let found = streamed("blob.bin", &data, 64 << 10);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| f.line == 1));
    }

    #[test]
    fn the_path_is_scanned_and_allowed_paths_are_skipped() {
        let found = streamed(&format!("dir/{KEY}.txt"), b"nothing\n", 4);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 0);
        let allow = SecretAllowList::new(&[], &["*.pem".to_string()]).unwrap();
        let mut scan = StreamScan::new("certs/k.pem", &allow);
        scan.feed(format!("{KEY}\n").as_bytes());
        assert!(scan.finish().is_empty());
    }
}
