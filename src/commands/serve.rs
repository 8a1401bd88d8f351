//! `git agent serve`: the web view (src/serve/); here only its arguments and what it prints.

use super::Context;
use crate::cli::ServeArgs;
use crate::error::Exit;

pub fn cmd_serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<Exit> {
    // The repository is opened here first, so a wrong directory fails before anything binds.
    ctx.store()?;
    let token = match args.token {
        Some(token) if token.trim().is_empty() => anyhow::bail!("--token is empty"),
        Some(token) => Some(token),
        None if crate::serve::is_local(args.listen.ip()) => None,
        None => Some(crate::serve::new_token()?),
    };
    let options = crate::serve::Options {
        dir: ctx.cwd.clone(),
        listen: args.listen,
        token: token.clone(),
        remote: args.remote,
        refresh: args.refresh,
    };
    let open = args.open;
    crate::serve::run(options, |addr| {
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let url = match &token {
            Some(token) => format!("http://{host}:{}/?token={token}", addr.port()),
            None => format!("http://{host}:{}/", addr.port()),
        };
        if ctx.global.json {
            ctx.json(&serde_json::json!({"type": "serving", "url": url}));
        } else {
            ctx.out(format!("Serving {url}"));
        }
        ctx.say("Read-only; Ctrl-C stops it.");
        if open {
            let opened = std::process::Command::new("xdg-open")
                .arg(&url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            if opened.is_err() {
                ctx.say("Could not start xdg-open: open the address above in a browser.");
            }
        }
    })?;
    Ok(Exit::Done)
}
