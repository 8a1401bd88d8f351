//! The secret scan of each checkpoint's change and of a task before merge:
//! a key or private key is never committed.
//!
//! Every rule lives in `secret_rules.rs`, one named row each. Findings name the file, the line and
//! the rule, and show the line with the secret's middle cut out, never the whole secret.

use regex::Regex;
use std::sync::LazyLock;

use super::secret_rules::compiled_rules;

/// The marker that allows a secret-looking line, in a comment on that line.
pub const ALLOW_MARKER: &str = "git-agent: allow-secret";

/// Shannon entropy (bits per character) above which a generic assignment looks random.
const GENERIC_MIN_ENTROPY: f64 = 3.5;
const GENERIC_MIN_LEN: usize = 16;

/// Names that hold a keyword of the generic rule but name no secret: a public or CSRF token,
/// a secret's length, name or file, a key of a map or a keyboard, a library's coordinates.
/// Measured on gitleaks' false positives and real trees (`.ci/secrets-corpus`).
const GENERIC_NOT_SECRET_NAMES: &str = r"(?i)(?:^|[^a-z])(?:public|csrf|xsrf)[_.\-]?(?:key|token)|(?:secret|token|key|password|passwd|credentials?)[_.\-]?(?:names?|length|len|size|ids?|file|path|url|uri|endpoint|type|count|field|label|prompt|hint|policy|requirements|store|vault)(?:$|[^a-z])|jsonwebtoken|keyvault|passwordvariable|tokenfile|(?:key|token)(?:board|word|stroke|press)";

/// A secret found in a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFinding {
    pub path: String,
    pub line: u32,
    pub rule: String,
    /// The line (shortened) with the secret's middle replaced by `…`.
    pub redacted_excerpt: String,
}

impl std::fmt::Display for SecretFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {} in the file name", self.path, self.rule);
        }
        write!(
            f,
            "{}:{}: {} ({})",
            self.path, self.line, self.rule, self.redacted_excerpt
        )
    }
}

/// An invalid allow-list entry.
#[derive(Debug, thiserror::Error)]
pub enum SecretConfigError {
    #[error("invalid secret allow pattern `{pattern}`: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
}

/// What the scan lets through: values matching a regex, files matching a path glob, and any
/// line carrying [`ALLOW_MARKER`].
#[derive(Debug, Clone)]
pub struct SecretAllowList {
    values: Vec<Regex>,
    paths: Vec<Regex>,
    inline_marker: bool,
}

impl Default for SecretAllowList {
    /// Nothing listed; the inline marker is honoured.
    fn default() -> Self {
        Self {
            values: Vec::new(),
            paths: Vec::new(),
            inline_marker: true,
        }
    }
}

impl SecretAllowList {
    /// `values`: regexes searched in the secret found; `paths`: globs (`*`, `**`, `?`) on the
    /// file's path — a glob without `/` matches the file name in any folder.
    pub fn new(values: &[String], paths: &[String]) -> Result<Self, SecretConfigError> {
        let compile = |pattern: &str, regex: &str| {
            Regex::new(regex).map_err(|source| SecretConfigError::Regex {
                pattern: pattern.to_owned(),
                source: Box::new(source),
            })
        };
        Ok(Self {
            values: values
                .iter()
                .map(|v| compile(v, v))
                .collect::<Result<_, _>>()?,
            paths: paths
                .iter()
                .map(|p| compile(p, &path_glob_to_regex(p)))
                .collect::<Result<_, _>>()?,
            inline_marker: true,
        })
    }

    /// Stops honouring [`ALLOW_MARKER`]: the model can write the marker as easily as the
    /// secret, so a scan of lines the agent wrote should not trust it.
    pub fn without_inline_marker(mut self) -> Self {
        self.inline_marker = false;
        self
    }

    pub(crate) fn allows_path(&self, path: &str) -> bool {
        self.paths.iter().any(|re| re.is_match(path))
    }

    fn allows_value(&self, value: &str) -> bool {
        self.values.iter().any(|re| re.is_match(value))
    }
}

fn path_glob_to_regex(glob: &str) -> String {
    let mut out = String::from(if glob.contains('/') { "^" } else { "(^|/)" });
    let mut chars = glob.trim_start_matches('/').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    out.push_str("(.*/)?");
                } else {
                    out.push_str(".*");
                }
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

/// Scans the added lines of one file: `(line number, text)` pairs.
pub fn scan_added_lines<'a>(
    path: &str,
    added: impl Iterator<Item = (u32, &'a str)>,
    allow: &SecretAllowList,
) -> Vec<SecretFinding> {
    if allow.allows_path(path) {
        return Vec::new();
    }
    let mut findings = Vec::new();
    for (line_no, line) in added {
        findings.extend(
            scan_line(path, line_no, line, allow)
                .into_iter()
                .map(|(f, _)| f),
        );
    }
    findings
}

/// The findings of one line, each with where its secret ends in the line (a byte offset).
pub(crate) fn scan_line(
    path: &str,
    line_no: u32,
    line: &str,
    allow: &SecretAllowList,
) -> Vec<(SecretFinding, usize)> {
    let mut findings = Vec::new();
    if allow.inline_marker && line.contains(ALLOW_MARKER) {
        return findings;
    }
    let mut taken: Vec<(usize, usize)> = Vec::new();
    for (rule, regex) in compiled_rules() {
        for caps in regex.captures_iter(line) {
            let Some(secret) = (1..caps.len())
                .find_map(|i| caps.get(i))
                .or_else(|| caps.get(0))
            else {
                continue;
            };
            let span = (secret.start(), secret.end());
            if taken.iter().any(|&(s, e)| span.0 < e && s < span.1) {
                continue;
            }
            let value = secret.as_str();
            if is_placeholder(value)
                || rule.generic
                    && (!looks_random(value) || names_no_secret(&line[start_of(&caps)..]))
            {
                continue;
            }
            if allow.allows_value(value) {
                continue;
            }
            taken.push(span);
            findings.push((
                SecretFinding {
                    path: path.to_owned(),
                    line: line_no,
                    rule: rule.name.to_owned(),
                    redacted_excerpt: if rule.redact_in_text || rule.generic {
                        excerpt(line, span, true)
                    } else {
                        // A private key's header: what follows it on the line is its body.
                        let whole = caps.get(0).map_or(span, |m| (m.start(), m.end()));
                        excerpt(&line[..whole.1], whole, false)
                    },
                },
                span.1,
            ));
        }
    }
    findings
}

/// Scans what is about to become a git object at `path`: the path itself (a key can hide in
/// a file name) and the content — a file's bytes, binary files included, or a link's target.
pub fn scan_object(path: &str, data: &[u8], allow: &SecretAllowList) -> Vec<SecretFinding> {
    let mut findings = scan_added_lines(path, std::iter::once((0, path)), allow);
    findings.extend(scan_file(path, &String::from_utf8_lossy(data), allow));
    findings
}

/// Scans a whole new file.
pub fn scan_file(path: &str, contents: &str, allow: &SecretAllowList) -> Vec<SecretFinding> {
    let lines = contents
        .lines()
        .enumerate()
        .map(|(i, line)| (u32::try_from(i + 1).unwrap_or(u32::MAX), line));
    scan_added_lines(path, lines, allow)
}

/// Scans the added lines of a unified diff (`git diff` output), with the file and the line
/// number in the new version of each.
pub fn scan_diff(unified_diff: &str, allow: &SecretAllowList) -> Vec<SecretFinding> {
    let mut findings = Vec::new();
    for file in parse_diff(unified_diff) {
        findings.extend(scan_added_lines(
            &file.path,
            file.added.iter().map(|(n, l)| (*n, l.as_str())),
            allow,
        ));
    }
    findings
}

/// The lines a diff adds to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedLines {
    pub path: String,
    pub added: Vec<(u32, String)>,
}

/// Reads the added lines per file from unified diff text. Deleted files add nothing.
pub fn parse_diff(unified_diff: &str) -> Vec<AddedLines> {
    let mut files: Vec<AddedLines> = Vec::new();
    let mut path: Option<String> = None;
    let mut new_line = 0u32;
    let mut old_left = 0u32;
    let mut new_left = 0u32;
    for line in unified_diff.lines() {
        if old_left > 0 || new_left > 0 {
            match line.as_bytes().first() {
                Some(b'+') => {
                    if let (Some(p), Some(text)) = (&path, line.get(1..)) {
                        push_added(&mut files, p, new_line, text);
                    }
                    new_line += 1;
                    new_left = new_left.saturating_sub(1);
                }
                Some(b'-') => old_left = old_left.saturating_sub(1),
                Some(b'\\') => {}
                _ => {
                    new_line += 1;
                    new_left = new_left.saturating_sub(1);
                    old_left = old_left.saturating_sub(1);
                }
            }
            continue;
        }
        if line.starts_with("diff --git ") {
            path = None;
        } else if let Some(target) = line.strip_prefix("+++ ") {
            path = match target.trim_end() {
                "/dev/null" => None,
                t => Some(unquote_diff_path(t)),
            };
        } else if let Some((old, new)) = line.strip_prefix("@@ ").and_then(parse_hunk_header) {
            (new_line, new_left) = new;
            old_left = old;
        }
    }
    files
}

fn push_added(files: &mut Vec<AddedLines>, path: &str, line: u32, text: &str) {
    match files.last_mut() {
        Some(last) if last.path == path => last.added.push((line, text.to_owned())),
        _ => files.push(AddedLines {
            path: path.to_owned(),
            added: vec![(line, text.to_owned())],
        }),
    }
}

/// `-a,b +c,d @@ …` → (old count, (new start, new count)).
fn parse_hunk_header(header: &str) -> Option<(u32, (u32, u32))> {
    let mut parts = header.split_whitespace();
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let range = |r: &str| -> Option<(u32, u32)> {
        match r.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (_, old_count) = range(old)?;
    Some((old_count, range(new)?))
}

/// `b/src/x.rs` → `src/x.rs`; `"b/with \"quote\""` → `with "quote"` (git's C quoting).
fn unquote_diff_path(target: &str) -> String {
    let unquoted = match target.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => {
            let mut out = Vec::new();
            let bytes = inner.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    let next = bytes[i + 1];
                    let octal = bytes.get(i + 1..i + 4).and_then(|o| {
                        std::str::from_utf8(o)
                            .ok()
                            .and_then(|s| u8::from_str_radix(s, 8).ok())
                    });
                    if let Some(byte) = octal.filter(|_| next.is_ascii_digit()) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                    out.push(match next {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    });
                    i += 2;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        None => target.to_owned(),
    };
    unquoted
        .strip_prefix("b/")
        .map(str::to_owned)
        .unwrap_or(unquoted)
}

/// Shannon entropy in bits per character.
pub fn shannon_entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in value.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// A value of a key's shape that holds none: `ghp_xxxx…`, `xoxb-XXXXXXXX-…`, AWS's documented
/// `…EXAMPLE` keys. A run of eight equal letters is as good as never in a random key (about
/// 40 × 62⁻⁷ for a 40-character one); digits are left out, as ids in keys repeat them.
fn is_placeholder(value: &str) -> bool {
    let mut run = (None, 0);
    for c in value.chars() {
        run = if run.0 == Some(c) {
            (run.0, run.1 + 1)
        } else {
            (Some(c), 1)
        };
        if run.1 >= 8 && c.is_ascii_alphabetic() {
            return true;
        }
    }
    value.to_ascii_lowercase().contains("xxxx") || value.ends_with("EXAMPLE")
}

fn start_of(caps: &regex::Captures<'_>) -> usize {
    caps.get(0).map_or(0, |m| m.start())
}

/// Whether the name a generic assignment starts with (`csrf_token = …`) names no secret.
fn names_no_secret(assignment: &str) -> bool {
    static NOT_SECRET: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(GENERIC_NOT_SECRET_NAMES).ok());
    let name_end = assignment
        .find(|c: char| !(c.is_alphanumeric() || "_.-".contains(c)))
        .unwrap_or(assignment.len());
    NOT_SECRET
        .as_ref()
        .is_some_and(|re| re.is_match(&assignment[..name_end]))
}

/// A generic assignment's value looks like a credential, not a word, an identifier (letters
/// and `_.-` only: `ProtocolConfigView`, `from.fHandlerToken`), a placeholder or a reference
/// to one.
fn looks_random(value: &str) -> bool {
    if value
        .chars()
        .all(|c| c.is_ascii_alphabetic() || "_.-".contains(c))
    {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let placeholder = [
        "example",
        "xxxx",
        "your_",
        "your-",
        "changeme",
        "placeholder",
        "dummy",
    ]
    .iter()
    .any(|p| lower.contains(p))
        || value.contains("${")
        || value.contains('<');
    let classes = [
        value.chars().any(|c| c.is_ascii_lowercase()),
        value.chars().any(|c| c.is_ascii_uppercase()),
        value.chars().any(|c| c.is_ascii_digit()),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    value.chars().count() >= GENERIC_MIN_LEN
        && !placeholder
        && classes >= 2
        && shannon_entropy(value) >= GENERIC_MIN_ENTROPY
}

/// Shows at most a few characters at each end of a secret.
pub fn redact_middle(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let keep = match chars.len() {
        0..=8 => 0,
        9..=19 => 2,
        _ => 4,
    };
    if keep == 0 {
        return "…".to_owned();
    }
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{head}…{tail}")
}

/// The line around a finding, at most ~120 characters, with the secret's middle cut out
/// when `redact` (the private key header itself is not secret).
fn excerpt(line: &str, (start, end): (usize, usize), redact: bool) -> String {
    const CONTEXT: usize = 40;
    let secret = &line[start..end];
    let shown = if redact {
        redact_middle(secret)
    } else {
        secret.to_owned()
    };
    let before = &line[..start];
    let after = &line[end..];
    let before: String = {
        let chars: Vec<char> = before.chars().collect();
        let skip = chars.len().saturating_sub(CONTEXT);
        let text: String = chars[skip..].iter().collect();
        if skip > 0 { format!("…{text}") } else { text }
    };
    let after: String = {
        let chars: Vec<char> = after.chars().collect();
        let text: String = chars.iter().take(CONTEXT).collect();
        if chars.len() > CONTEXT {
            format!("{text}…")
        } else {
            text
        }
    };
    let before = super::redact::redact(before.trim_start(), &[]);
    let after = super::redact::redact(after.trim_end(), &[]);
    // A finding in a binary file must not carry control bytes into a message or a note.
    format!("{before}{shown}{after}")
        .chars()
        .map(|c| if c.is_control() && c != '\t' { '·' } else { c })
        .collect()
}
