//! Text for a terminal. Every string a person sees may come from a model, a repository or a
//! remote, and a terminal obeys the control sequences in what it prints: OSC 52 writes the
//! clipboard, OSC 0 sets the title, cursor-up plus erase-line hides the line above (the
//! command the model ran), a bidi override shows `exe.txt` for `txt.exe`. So the printers pass
//! all such text through here and every control character comes out visible instead:
//!
//! - C0 controls and DEL in caret notation (`^[` for ESC, `^M` for CR, `^?` for DEL);
//! - C1 controls (U+0080–U+009F, which some terminals obey as ESC + letter) and the invisible
//!   direction marks, overrides and isolates as `\u{…}`;
//! - tab stays (it only moves the cursor right); newline stays in a [`block`], where lines
//!   are meant, and shows as `\n` on a [`line`], where a newline could forge a line of ours.
//!
//! The one sanitizer of the crate: the renderers (src/ui), every command's output
//! (`Context::out`, `say`), errors (main.rs), and the store for commit messages
//! (`Store::commit`). In this leaf module so that the store can use it without depending on
//! the renderers.

use std::borrow::Cow;

/// `text` as one line of a terminal: every control shown, newlines included.
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// `text` as lines of a terminal: every control shown except newline and tab.
pub fn block(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// Whether `c` must be shown escaped; `block` keeps newlines.
fn hostile(c: char, block: bool) -> bool {
    match c {
        '\t' => false,
        '\n' => !block,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Direction marks, embeddings, overrides and isolates: they reorder what follows.
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            true
        }
        // Line and paragraph separators: a new line to some terminals and viewers.
        '\u{2028}' | '\u{2029}' => true,
        _ => false,
    }
}

fn escape(text: &str, block: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| hostile(c, block)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !hostile(c, block) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\u{7f}' => out.push_str("^?"),
            '\u{0}'..='\u{1f}' => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn controls_are_shown_not_obeyed() {
        assert_eq!(
            line("\x1b]52;c;aGk=\x07clip"),
            "^[]52;c;aGk=^Gclip",
            "OSC 52"
        );
        assert_eq!(line("\x1b]0;title\x1b\\"), "^[]0;title^[\\", "OSC 0");
        assert_eq!(line("ls\x1b[1A\x1b[2K"), "ls^[[1A^[[2K", "cursor up, erase");
        assert_eq!(line("a\rb\x7f"), "a^Mb^?");
        assert_eq!(line("\u{9b}31m"), "\\u{9b}31m", "C1 CSI");
        assert_eq!(line("txt\u{202e}exe"), "txt\\u{202e}exe", "bidi override");
        assert_eq!(
            line("a\u{2067}b\u{2069}"),
            "a\\u{2067}b\\u{2069}",
            "isolates"
        );
    }

    #[test]
    fn lines_show_newlines_and_blocks_keep_them() {
        assert_eq!(line("one\ntwo\tthree"), "one\\ntwo\tthree");
        assert_eq!(block("one\ntwo\tthree\r"), "one\ntwo\tthree^M");
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(line("héllo · wörld ✓ 日本"), Cow::Borrowed(_)));
        assert!(matches!(block("a\nb"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_text_holds_no_control() {
        let hostile: String = (0u32..0x250)
            .chain(0x2000..0x2070)
            .filter_map(char::from_u32)
            .collect();
        let obeyed = |text: &str| {
            text.chars().any(|c| {
                (c.is_control() && c != '\n' && c != '\t')
                    || ('\u{202a}'..='\u{202e}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c)
            })
        };
        assert!(obeyed(&hostile));
        assert!(!obeyed(&line(&hostile)));
        assert!(!obeyed(&block(&hostile)));
    }
}
