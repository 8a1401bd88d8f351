//! Redaction of secrets in text shown to people and to the model: tool output, logs, notes
//! and errors (DESIGN.md §4: keys never reach a commit, a note, a log line or an error).

use super::secrets::compiled_rules;
use regex::Regex;
use std::sync::LazyLock;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Known values shorter than this are not masked: masking `abc` everywhere would destroy the
/// text and reveal, by the holes, what the value was.
const MIN_SECRET_LEN: usize = 8;

static PEM_BLOCK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?s)-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\z)").ok()
});

/// Replaces every occurrence of each value in `secrets` (the provider keys in use) and
/// anything matching a known key pattern with [`MASK`]. A private key block loses its body.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    let mut known: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| s.len() >= MIN_SECRET_LEN)
        .collect();
    // Longest first, so a key that contains another is masked whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in known {
        if out.contains(secret) {
            out = out.replace(secret, MASK);
        }
    }
    if let Some(pem) = PEM_BLOCK.as_ref() {
        out = pem
            .replace_all(
                &out,
                "-----BEGIN ${1}PRIVATE KEY-----***-----END ${1}PRIVATE KEY-----",
            )
            .into_owned();
    }
    for (rule, regex) in compiled_rules() {
        if !rule.redact_in_text {
            continue;
        }
        out = regex
            .replace_all(&out, |caps: &regex::Captures<'_>| {
                let whole = caps.get(0).map_or("", |m| m.as_str());
                match caps.get(1) {
                    Some(secret) => whole.replace(secret.as_str(), MASK),
                    None => MASK.to_owned(),
                }
            })
            .into_owned();
    }
    out
}
