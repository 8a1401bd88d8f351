//! README.md is the front page and docs/ holds the rest: the front page stays short, keeps the
//! two commands a newcomer types (CI runs the second, `.ci/run`), and no link of README.md or
//! docs/*.md leads to a file or a heading that is not there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every docs/*.md, sorted.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect::<Vec<_>>();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The text outside fenced code blocks, with inline code spans emptied (`[x](y)` inside one
/// is code, not a link). A code span may go on over a line break, not past a blank line.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if fenced {
            out.push('\n');
            continue;
        }
        if line.trim().is_empty() {
            in_code = false;
        }
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the inline links `[text](target)` of a page.
fn links(markdown: &str) -> Vec<String> {
    let text = prose(markdown);
    let mut found = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].trim();
        if !target.is_empty() && !target.contains(char::is_whitespace) {
            found.push(target.to_owned());
        }
        rest = &after[end.min(after.len())..];
    }
    found
}

/// The anchors a page offers, as GitHub forms them: each heading lowercased, punctuation
/// dropped, spaces made hyphens (`-1`, `-2` … for repeats), and every `<a id="…">`.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("<a id=\"") {
            let id = &rest[at + 7..];
            let end = id.find('"').unwrap_or(id.len());
            found.insert(id[..end].to_owned());
            rest = &id[end..];
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while found.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        found.insert(unique);
    }
    found
}

#[test]
fn the_readme_is_a_front_page_with_the_newcomers_two_commands() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 160,
        "README.md has {lines} lines; the rest belongs in docs/"
    );
    // `.ci/run` runs the second one as "the README's test command".
    for command in [
        "cargo install --locked --path . && git agent demo",
        "cargo test --locked",
    ] {
        assert!(
            readme.lines().any(|l| l.starts_with(command)),
            "README.md has no line starting with `{command}`"
        );
    }
    for needle in ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "Landlock"] {
        assert!(readme.contains(needle), "README.md never says {needle}");
    }
    let ci = read(&root().join(".ci/run"));
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test --locked"),
        ".ci/run no longer runs the README's test command"
    );
}

#[test]
fn the_readme_links_every_page_of_docs() {
    let readme = read(&root().join("README.md"));
    let linked = links(&readme)
        .into_iter()
        .map(|t| t.split('#').next().unwrap_or_default().to_owned())
        .collect::<BTreeSet<_>>();
    for page in pages().iter().skip(1) {
        let name = format!("docs/{}", page.file_name().unwrap().to_string_lossy());
        assert!(linked.contains(&name), "README.md does not link {name}");
    }
}

#[test]
fn every_relative_link_of_the_docs_reaches_a_file_and_its_heading() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages() {
        let text = read(&page);
        let dir = page.parent().unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for target in links(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            if !path.exists() {
                broken.push(format!("{name}: {target}: no such file"));
                continue;
            }
            if let Some(anchor) = anchor
                && path.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&path)).contains(anchor)
            {
                broken.push(format!("{name}: {target}: no such heading"));
            }
        }
        // The project documents itself: nothing outside the repository.
        for word in ["DESIGN.md", "../shared"] {
            if text.contains(word) {
                broken.push(format!("{name}: mentions {word}"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        checked > 40,
        "only {checked} relative links found: is the parser blind?"
    );
}

/// The checker itself: GitHub's anchors for headings with punctuation and code.
#[test]
fn anchors_are_formed_as_github_forms_them() {
    let page = "# Model of trust (what is confined, what is not)\n## Progress and --json events\n\
## `git agent` and you\n## Recipes\n## Recipes\n```sh\n# not a heading\n```\n\
<a id=\"pending-usage\"></a>**Pending**\n";
    let expected = [
        "model-of-trust-what-is-confined-what-is-not",
        "progress-and---json-events",
        "git-agent-and-you",
        "recipes",
        "recipes-1",
        "pending-usage",
    ];
    assert_eq!(
        anchors(page),
        expected
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(
        links("see [a](b.md#c), `[x](y)` and [`z`](../z.md)\n```\n[q](r)\n```\n"),
        vec!["b.md#c".to_owned(), "../z.md".to_owned()]
    );
}

/// docs/tools.md has a row for every tool the models are given, and no row for a tool that
/// does not exist.
#[test]
fn the_tools_page_lists_every_tool() {
    let page = read(&root().join("docs/tools.md"));
    let rows: BTreeSet<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    let tools: BTreeSet<String> = git_agent::tools::registry::TOOLS
        .iter()
        .map(|t| t.name.to_owned())
        .collect();
    assert_eq!(rows, tools);
}

/// docs/configuration.md's key table is written from the key table of the code
/// (src/config/keys.rs) by `cargo run --example gen_man`: a key added, renamed or given
/// another trust level there and not regenerated here fails this test.
#[test]
fn the_configuration_pages_key_table_is_the_one_the_code_writes() {
    let page = read(&root().join("docs/configuration.md"));
    let regenerated = git_agent::config::with_table(&page)
        .expect("docs/configuration.md keeps the markers of its generated key table");
    assert!(
        page == regenerated,
        "docs/configuration.md's key table differs from src/config/keys.rs: run cargo run --example gen_man"
    );
    // Every key is a row, and the table says which need trust.
    for key in git_agent::config::KEYS {
        assert!(
            page.contains(&format!("| `{}` |", key.name)),
            "{}",
            key.name
        );
    }
    assert!(page.contains("| `fsmonitor` | ") && page.contains("after `git agent trust` |"));
    // A planted difference is seen: the guard compares, it does not rewrite.
    let stale = page.replacen("| `fsmonitor` |", "| `fs_monitor` |", 1);
    assert_ne!(git_agent::config::with_table(&stale).unwrap(), stale);
}

/// The man page's trust list is the key table's user-trust keys: none dropped (as
/// `fsmonitor` once was).
#[test]
fn the_man_pages_trust_list_names_every_key_that_needs_trust() {
    let page = read(&root().join("man/git-agent.1"));
    let trust = page
        .lines()
        .find(|l| l.contains("are ignored until you trust the file"))
        .expect("the trust section");
    for name in git_agent::config::user_trust_names() {
        assert!(
            trust.contains(name),
            "{name} missing from the man page's trust list: {trust}"
        );
    }
}
