//! Text shaping shared by the loop, the renderers, the commands and the store: a leaf module,
//! so none of them needs another to shorten a line or make it safe for a terminal.

pub mod terminal;

/// The first line of `text`, cut to at most `max` characters with `…` (UTF-8 safe).
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// An error and its causes on one line, each cause once (a message that already quotes its
/// cause does not get it twice).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// `s` as one word of a POSIX shell command line: as it is when that is safe, else quoted.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::{first_line, shell_word};

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("refs/heads/agent/x"), "refs/heads/agent/x");
        assert_eq!(shell_word("format = 1"), "'format = 1'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn first_lines_are_cut_on_characters_not_bytes() {
        assert_eq!(first_line("héllo wörld\nsecond", 5), "héll…");
        assert_eq!(first_line("short", 10), "short");
        assert_eq!(first_line("", 3), "");
    }
}
