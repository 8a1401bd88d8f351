//! Writes the files generated from the clap definitions: `man/git-agent.1` and the shell
//! completions in `completions/` (packaged by `cargo deb`): `cargo run --example gen_man`.

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
