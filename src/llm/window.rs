//! How many tokens a model's context window holds: what the executor keeps its
//! conversation under (`crate::agent::window`).
//!
//! The windows themselves are facts of the model table (`super::price`, one owner, checked
//! against the vendors' pages with the prices); here is only what to assume where the table
//! has none.

/// The window assumed for a model the table does not know: small, as local servers run
/// (Ollama's and llama.cpp's default contexts are smaller still; set `context_window`).
pub const UNKNOWN_WINDOW: u64 = 32_000;

/// Every Claude model the vendor lists has at least this window, so a Claude model the table
/// does not know (newer than it, or with no window read) gets it rather than the small default.
const CLAUDE_FLOOR: u64 = 200_000;

/// The context window of `model` in tokens, if the model table knows it (or its vendor's floor).
pub fn known_window(model: &str) -> Option<u64> {
    super::price::known_model(model)
        .and_then(|known| known.context_window)
        .or_else(|| {
            let bare = model.rsplit('/').next().unwrap_or(model);
            bare.starts_with("claude-").then_some(CLAUDE_FLOOR)
        })
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
    fn windows_from_the_model_table_with_a_small_default() {
        assert_eq!(context_window("claude-sonnet-4-5-20250929", None), 200_000);
        assert_eq!(context_window("anthropic/claude-opus-4.1", None), 200_000);
        assert_eq!(context_window("gpt-4.1-mini", None), 1_047_576);
        assert_eq!(context_window("gpt-5.2", None), 400_000);
        assert_eq!(context_window("gpt-5.4", None), 1_050_000);
        // A Claude model the table has no window for gets the vendor's floor.
        assert_eq!(context_window("claude-new-9", None), 200_000);
        assert_eq!(context_window("o1-mini", None), 128_000);
        assert_eq!(context_window("llama3.1:8b", None), UNKNOWN_WINDOW);
        assert_eq!(context_window("claude-sonnet-4-5", Some(100_000)), 100_000);
    }
}
