//! The composition root of a run: configuration, provider and toolbox, assembled in one
//! place for every use case that runs the model or the tests (start, resume, merge, update).

use std::path::PathBuf;

use super::Notices;
use crate::config::{Config, Flags, Inputs};
use crate::llm::{ApiKey, Provider, ProviderConfig, ProviderKind};
use crate::policy::CommandPolicy;
use crate::store::Store;
use crate::tools::ToolBox;
use crate::tools::mcp::McpServers;

/// The configuration of the checkout; its warnings (ignored keys) go to `notices`, once per run.
pub fn load_config(notices: &dyn Notices, store: &Store, flags: Flags) -> anyhow::Result<Config> {
    let inputs = Inputs::discover_in(store.repo(), flags);
    let config = crate::config::load(&inputs)?;
    notices.warn(&config.warnings);
    Ok(config)
}

/// The provider of the configuration; checked (key present, recording readable) before any
/// task is created, so a missing key costs nothing.
pub fn provider_for(config: &Config) -> anyhow::Result<Provider> {
    let mut provider = ProviderConfig::from_env(config.provider);
    match config.provider {
        ProviderKind::Anthropic if config.anthropic_base_url.is_some() => {
            provider.base_url = config.anthropic_base_url.clone()
        }
        ProviderKind::Openai if config.openai_base_url.is_some() => {
            provider.base_url = config.openai_base_url.clone()
        }
        _ => {}
    }
    provider.replay_file = config.replay_file.clone();
    provider.record_file = config.record_file.clone();
    provider.retry.unreachable_wait = config.unreachable_wait;
    Ok(Provider::new(provider)?)
}

/// Provider keys of the environment: masked wherever tool output goes.
fn known_secrets() -> Vec<String> {
    [ProviderKind::Anthropic, ProviderKind::Openai]
        .into_iter()
        .filter_map(ApiKey::from_env)
        .map(|k| k.expose_secret().to_string())
        .collect()
}

pub fn toolbox(config: &Config, worktree: PathBuf) -> anyhow::Result<ToolBox> {
    let policy = CommandPolicy::from_config(&config.allow, &config.deny)?;
    let sandbox = config.sandbox_for(&worktree);
    Ok(ToolBox {
        // MCP servers of the configuration run in the commands' sandbox.
        mcp: McpServers::new(
            config.mcp_servers.clone(),
            worktree.clone(),
            sandbox.clone(),
        ),
        sandbox,
        worktree,
        policy,
        command_timeout: config.command_timeout,
        output_tokens: crate::tools::OUTPUT_TOKENS,
        generated: crate::walk::generated::Generated::new(&config.generated),
        secrets: known_secrets(),
        refusals: 0,
    })
}
