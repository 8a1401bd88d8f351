//! How many tokens a model's context window holds: what the executor keeps its
//! conversation under (`crate::agent::window`).
//!
//! By model-name prefix, the longest matching prefix winning, a router's `vendor/` prefix
//! looked past. Checked 2026-12-07 against the vendors' model pages
//! (<https://platform.claude.com/docs/en/about-claude/models/overview>,
//! <https://developers.openai.com/api/docs/models>). Where a model has a larger window only
//! behind a beta header or a tier (Claude's 1M), the default one is listed: that is what a
//! request without it gets.

/// The window assumed for a model the table does not know: small, as local servers run
/// (Ollama's and llama.cpp's default contexts are smaller still; set `context_window`).
pub const UNKNOWN_WINDOW: u64 = 32_000;

const WINDOWS: &[(&str, u64)] = &[
    ("claude-", 200_000),
    ("gpt-4o", 128_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-5", 400_000),
    ("o1", 200_000),
    ("o1-mini", 128_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
];

/// The context window of `model` in tokens, if the table knows it.
pub fn known_window(model: &str) -> Option<u64> {
    let bare = model.rsplit('/').next().unwrap_or(model);
    WINDOWS
        .iter()
        .filter(|(prefix, _)| bare.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, tokens)| *tokens)
}

/// The window the executor keeps under: the configured one, else the model's, else
/// [`UNKNOWN_WINDOW`].
pub fn context_window(model: &str, configured: Option<u64>) -> u64 {
    configured
        .or_else(|| known_window(model))
        .unwrap_or(UNKNOWN_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_by_family_with_a_small_default() {
        assert_eq!(context_window("claude-sonnet-4-5-20250929", None), 200_000);
        assert_eq!(context_window("anthropic/claude-opus-4.1", None), 200_000);
        assert_eq!(context_window("gpt-4.1-mini", None), 1_047_576);
        assert_eq!(context_window("gpt-5.4", None), 400_000);
        assert_eq!(context_window("o1-mini", None), 128_000);
        assert_eq!(context_window("llama3.1:8b", None), UNKNOWN_WINDOW);
        assert_eq!(context_window("claude-sonnet-4-5", Some(100_000)), 100_000);
    }
}
