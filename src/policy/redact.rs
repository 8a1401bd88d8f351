//! Redaction of secrets in text shown to people and to the model: tool output, logs, notes
//! and errors: keys never reach a commit, a note, a log line or an error.

use super::secret_rules::compiled_rules;
use regex::Regex;
use std::sync::{LazyLock, RwLock};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Known values shorter than this are not masked: masking `abc` everywhere would destroy the
/// text and reveal, by the holes, what the value was.
const MIN_SECRET_LEN: usize = 8;

static PEM_BLOCK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?s)-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\z)").ok()
});

/// Values remembered by [`remember_secret`]: the keys in use, masked everywhere.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember a value that must never be shown or stored (a provider key in use). Values too
/// short to be keys are ignored: masking them would garble unrelated text.
pub fn remember_secret(value: &str) {
    let value = value.trim();
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    if let Ok(mut known) = KNOWN.write()
        && !known.iter().any(|k| k == value)
    {
        known.push(value.to_owned());
    }
}

/// [`redact`] with every remembered value: the one call for anything that reaches git, a
/// remote, the terminal or the model.
pub fn redact_known(text: &str) -> String {
    let known = KNOWN.read().map(|k| k.clone()).unwrap_or_default();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    redact(text, &known)
}

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
