//! Writes the files generated from the clap definitions and the configuration's key table:
//! `man/git-agent.1`, the shell completions in `completions/` (packaged by `cargo deb`) and
//! the key table of docs/configuration.md: `cargo run --example gen_man`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![("man/git-agent.1".to_string(), git_agent::cli::render_man()?)];
    for (shell, name) in git_agent::cli::COMPLETION_FILES {
        files.push((
            format!("completions/{name}"),
            git_agent::cli::render_completions(*shell),
        ));
    }
    let doc = std::fs::read_to_string(root.join("docs/configuration.md"))?;
    let Some(doc) = git_agent::config::with_table(&doc) else {
        return Err(std::io::Error::other(
            "docs/configuration.md has lost the markers of its key table",
        ));
    };
    files.push(("docs/configuration.md".to_string(), doc.into_bytes()));
    for (name, bytes) in files {
        let path = root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
