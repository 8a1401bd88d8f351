//! Writes `man/git-agent.1` from the clap definitions: `cargo run --example gen_man`.

fn main() -> std::io::Result<()> {
    let page = git_agent::cli::render_man()?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/git-agent.1");
    std::fs::write(&path, page)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
