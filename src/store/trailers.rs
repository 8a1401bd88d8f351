//! Commit message trailers, written so `git interpret-trailers --parse` reads them back.

/// Ordered `Key: value` pairs of a commit message's trailer block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers(pub Vec<(String, String)>);

impl Trailers {
    pub fn push(&mut self, key: &str, value: impl AsRef<str>) {
        self.0.push((key.to_string(), one_line(value.as_ref())));
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The trailer block, one `Key: value` per line.
    pub fn render(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }
}

/// Trailer values must stay on one line, or git would read a continuation or a new trailer.
fn one_line(value: &str) -> String {
    let joined = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.is_empty() {
        "none".to_string()
    } else {
        joined
    }
}

/// The trailers of a commit message: the last paragraph, when every line of it is `Key: value`.
pub fn parse_trailers(message: &str) -> Trailers {
    let trimmed = message.trim_end();
    let last = trimmed.rsplit("\n\n").next().unwrap_or_default();
    let mut out = Vec::new();
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            return Trailers::default();
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Trailers::default();
        }
        out.push((key.to_string(), value.trim().to_string()));
    }
    Trailers(out)
}

/// A commit summary line: one line, at most 72 characters, cut at a word.
pub fn summary_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("checkpoint");
    if line.chars().count() <= 72 {
        return line.to_string();
    }
    let mut out = String::new();
    for word in line.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > 71 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = line.chars().take(71).collect();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn render_and_parse_round_trip() {
        let mut t = Trailers::default();
        t.push("Agent-Task", "fix");
        t.push("Agent-Risks", "two\nlines  here");
        t.push("Agent-Next", "");
        let message = format!("Summary\n\nBody text: not a trailer\n\n{}", t.render());
        assert_eq!(
            parse_trailers(&message).0,
            vec![
                ("Agent-Task".into(), "fix".into()),
                ("Agent-Risks".into(), "two lines here".into()),
                ("Agent-Next".into(), "none".into())
            ]
        );
    }

    #[test]
    fn summary_is_bounded() {
        assert_eq!(summary_line("short\nsecond"), "short");
        let long = "word ".repeat(30);
        let s = summary_line(&long);
        assert!(s.chars().count() <= 72, "{s}");
        assert!(s.ends_with('…'));
    }
}
