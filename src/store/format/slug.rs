//! Task names: derived from the goal, or given with `--name`.

use crate::store::{Result, StoreError};

const MAX_LEN: usize = 40;

/// A slug from a goal: lowercase a-z, 0-9 and '-', at most 40 characters, cut at a word.
pub fn slug_from_goal(goal: &str) -> String {
    let mut slug = String::new();
    for word in goal
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
    {
        let extra = if slug.is_empty() {
            word.len()
        } else {
            word.len() + 1
        };
        if slug.len() + extra > MAX_LEN {
            if slug.is_empty() {
                slug.push_str(&word[..MAX_LEN]);
            }
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word);
    }
    if slug.is_empty() {
        "task".to_string()
    } else {
        slug
    }
}

/// The most attempts one round may run side by side.
pub const MAX_ATTEMPTS: u32 = 16;

/// The name of the task that runs attempt `k` of task `slug` (docs/data-model.md#attempts).
pub fn attempt_slug(slug: &str, k: u32) -> String {
    format!("{slug}--try-{k}")
}

/// The longest name a task with `n` attempts may have: its attempts' names are longer.
pub fn max_len_with_attempts(n: u32) -> usize {
    MAX_LEN - attempt_slug("", n).len()
}

/// Check a slug given by the user; it becomes part of several ref names.
pub fn validate_slug(slug: &str) -> Result<()> {
    let invalid = |reason: &str| StoreError::InvalidSlug {
        slug: slug.to_string(),
        reason: reason.to_string(),
    };
    if slug.is_empty() {
        return Err(invalid("it is empty"));
    }
    if slug.len() > MAX_LEN {
        return Err(invalid("it is longer than 40 characters"));
    }
    if let Some(c) = slug
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(invalid(&format!(
            "git refs for tasks allow only a-z, 0-9 and '-', not {c:?}"
        )));
    }
    if slug.starts_with('-') || slug.ends_with('-') {
        return Err(invalid("it starts or ends with '-'"));
    }
    // Belt and braces: the ref name must also be one git accepts.
    gix::validate::reference::name_partial(format!("agent/{slug}").as_str().into())
        .map_err(|err| invalid(&err.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn slug_is_cut_at_a_word_boundary() {
        assert_eq!(
            slug_from_goal("Add a --json flag to the `list` command!"),
            "add-a-json-flag-to-the-list-command"
        );
        assert_eq!(
            slug_from_goal(
                "refactor the configuration loader so that every layer reports its source"
            ),
            "refactor-the-configuration-loader-so"
        );
        assert_eq!(slug_from_goal("¿¿??"), "task");
        assert_eq!(slug_from_goal(&"x".repeat(50)), "x".repeat(40));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            "Fix",
            "a b",
            "a..b",
            "-a",
            "a-",
            "a/b",
            "x.lock",
            &"a".repeat(41),
        ] {
            assert!(validate_slug(bad).is_err(), "{bad:?} accepted");
        }
        validate_slug("fix-json-2").expect("valid");
    }
}
