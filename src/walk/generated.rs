//! Generated output that a checkpoint never records: bytecode, tool caches, installed
//! dependencies and build directories, which a test run leaves in a repository that has no
//! ignore file for them.
//!
//! The list is the `generated` configuration key. It applies to task worktrees as the
//! lowest-precedence exclude rules, below `core.excludesFile`, as if it were one more exclude
//! file: a repository's `.gitignore` or `info/exclude` re-includes a path with `!pattern`,
//! and a file the repository tracks stays tracked (its changes are checkpointed), as with any
//! ignore rule. An entry is a gitignore pattern, or `DIR/ beside FILE`: the directory `DIR`
//! next to a manifest `FILE`, a build directory only where a manifest names it
//! (`target/ beside Cargo.toml`; a `target/` elsewhere is somebody's source). A `beside`
//! entry is decided by the walk itself, so a repository's negation does not re-include it.
//!
//! Every walk that decides what is untracked and not ignored goes through
//! [`crate::walk::builder_with_excludes`] with a [`Generated`]: the snapshot, the watch, the
//! file-system monitor. The carry of the user's working state runs git itself, and gets the
//! same rules as an exclude file ([`Generated::exclude_text`]).

use std::path::Path;

use gix::bstr::{BStr, ByteSlice};

/// The built-in list, as the configuration key's default is written (entries split at
/// commas). Conservative: only names no project uses for its sources.
pub const BUILT_IN: &str = "__pycache__/, *.py[co], .pytest_cache/, .mypy_cache/, .ruff_cache/, .tox/, node_modules/, .DS_Store, target/ beside Cargo.toml";

const BESIDE: &str = " beside ";

/// The generated-output rules of one configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    /// Gitignore patterns, in order.
    patterns: Vec<String>,
    /// `(directory name, manifest name)`.
    beside: Vec<(String, String)>,
}

impl Generated {
    /// The rules of the configured entries (empty entries are skipped).
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Generated {
        let mut generated = Generated::default();
        for entry in entries.iter().map(|e| e.as_ref().trim()) {
            if entry.is_empty() {
                continue;
            }
            match beside(entry) {
                Some(pair) => generated.beside.push(pair),
                None => generated.patterns.push(entry.to_string()),
            }
        }
        generated
    }

    /// The built-in list.
    pub fn built_in() -> Generated {
        Generated::new(&BUILT_IN.split(',').collect::<Vec<_>>())
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && self.beside.is_empty()
    }

    /// The entries, as configured.
    pub fn entries(&self) -> Vec<String> {
        self.patterns
            .iter()
            .cloned()
            .chain(
                self.beside
                    .iter()
                    .map(|(dir, manifest)| format!("{dir}/{BESIDE}{manifest}")),
            )
            .collect()
    }

    /// The gitignore patterns as the text of an exclude file.
    pub fn exclude_text(&self) -> String {
        self.patterns.iter().map(|p| format!("{p}\n")).collect()
    }

    /// The `beside` entries as anchored exclude lines, for the manifests at `manifests`
    /// (paths relative to the top of the worktree): what git itself can be told.
    pub fn anchored<'a>(&self, manifests: impl Iterator<Item = &'a BStr>) -> String {
        let mut text = String::new();
        for path in manifests {
            let (dir, name) = match path.rfind_byte(b'/') {
                Some(slash) => (&path[..=slash], &path[slash + 1..]),
                None => (&path[..0], path),
            };
            for (build, manifest) in &self.beside {
                if name == manifest.as_bytes() {
                    text.push_str(&format!(
                        "/{}{build}/\n",
                        escape(dir.to_str_lossy().as_ref())
                    ));
                }
            }
        }
        text
    }

    /// The manifest names of the `beside` entries: their coming and going changes what a
    /// walk sees.
    pub fn manifests(&self) -> impl Iterator<Item = &str> {
        self.beside.iter().map(|(_, manifest)| manifest.as_str())
    }

    /// Whether the directory at `path` is a build directory beside its manifest. The
    /// manifest is looked at without following a link, as the walk looks at everything.
    pub fn skips_dir(&self, path: &Path) -> bool {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            return false;
        };
        self.beside.iter().any(|(dir, manifest)| {
            name == dir.as_str()
                && std::fs::symlink_metadata(parent.join(manifest)).is_ok_and(|m| m.is_file())
        })
    }

    /// A short fingerprint of the rules: a monitor armed with other rules than a
    /// checkpoint's is not asked.
    pub fn fingerprint(&self) -> String {
        let text = self.entries().join("\n");
        // FNV-1a: a fingerprint, not a secret.
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

/// `DIR/ beside FILE` with plain names on both sides.
fn beside(entry: &str) -> Option<(String, String)> {
    let (dir, manifest) = entry.split_once(BESIDE)?;
    let dir = dir.trim().trim_end_matches('/');
    let manifest = manifest.trim();
    let plain = |name: &str| {
        !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '*', '?', '[', '\\', '!', '#'])
    };
    (plain(dir) && plain(manifest)).then(|| (dir.to_string(), manifest.to_string()))
}

/// A literal path as a gitignore pattern.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | '\\' | '!' | '#' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_built_in_list_reads_back_as_written() {
        let generated = Generated::built_in();
        assert_eq!(
            generated.entries().join(", "),
            BUILT_IN,
            "entries() must render what new() read"
        );
        assert_eq!(generated.manifests().collect::<Vec<_>>(), ["Cargo.toml"]);
        assert!(
            generated
                .exclude_text()
                .starts_with("__pycache__/\n*.py[co]\n")
        );
        assert!(!generated.exclude_text().contains("target"));
    }

    #[test]
    fn an_empty_list_and_empty_entries_exclude_nothing() {
        assert!(Generated::new::<&str>(&[]).is_empty());
        assert!(Generated::new(&["", "  "]).is_empty());
        assert_eq!(Generated::new(&[""]).exclude_text(), "");
    }

    #[test]
    fn beside_entries_need_plain_names_else_they_are_patterns() {
        let generated = Generated::new(&[
            "build/ beside setup.py",
            "a/b beside x",
            "out beside *.toml",
        ]);
        assert_eq!(generated.manifests().collect::<Vec<_>>(), ["setup.py"]);
        assert_eq!(
            generated.exclude_text(),
            "a/b beside x\nout beside *.toml\n"
        );
    }

    #[test]
    fn anchored_lines_name_the_build_directory_of_each_manifest() {
        let generated = Generated::built_in();
        let manifests: Vec<&BStr> = vec![
            "Cargo.toml".into(),
            "crates/a b/Cargo.toml".into(),
            "src/lib.rs".into(),
            "x/NotCargo.toml".into(),
        ];
        assert_eq!(
            generated.anchored(manifests.into_iter()),
            "/target/\n/crates/a\\ b/target/\n"
        );
    }

    #[test]
    fn a_build_directory_is_skipped_only_beside_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let generated = Generated::built_in();
        std::fs::create_dir_all(dir.path().join("rust/target")).unwrap();
        std::fs::create_dir_all(dir.path().join("other/target")).unwrap();
        std::fs::write(dir.path().join("rust/Cargo.toml"), "[package]\n").unwrap();
        std::fs::create_dir_all(dir.path().join("linked/target")).unwrap();
        std::os::unix::fs::symlink("../rust/Cargo.toml", dir.path().join("linked/Cargo.toml"))
            .unwrap();
        assert!(generated.skips_dir(&dir.path().join("rust/target")));
        assert!(!generated.skips_dir(&dir.path().join("other/target")));
        assert!(!generated.skips_dir(&dir.path().join("linked/target")));
        assert!(!Generated::default().skips_dir(&dir.path().join("rust/target")));
    }
}
