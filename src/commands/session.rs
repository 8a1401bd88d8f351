//! The composition root of a run: configuration → provider → sandbox → toolbox → the loop,
//! and the loop's outcome mapped to an exit code. `start`, `resume`, `demo`, `checkpoint` and
//! `merge` assemble what they need here instead of borrowing from one another.

use std::path::PathBuf;

use super::Context;
use crate::agent::{Agent, Event, Interrupt};
use crate::config::{Config, Flags, Inputs, Warning};
use crate::error::Exit;
use crate::llm::{ApiKey, Provider, ProviderConfig, ProviderKind};
use crate::policy::CommandPolicy;
use crate::store::Store;
use crate::tools::ToolBox;
use crate::tools::mcp::McpServers;

/// The configuration of the checkout; its warnings (ignored keys) go to stderr, once per run.
pub fn load_config(ctx: &Context, store: &Store, flags: Flags) -> anyhow::Result<Config> {
    let inputs = Inputs::discover_in(store.repo(), flags);
    let config = crate::config::load(&inputs)?;
    ctx.warn(&config.warnings);
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

/// Tells the user, before a run, of each configured model without a known price: its calls
/// are recorded at $0, so `max_cost` cannot stop the run. A replay costs what its recording's
/// model does.
pub fn warn_unpriced(ctx: &Context, config: &Config) {
    if config.provider == ProviderKind::Replay {
        return;
    }
    let mut roles = vec![("executor", &config.model)];
    if config.planner_model != config.model {
        roles.insert(0, ("planner", &config.planner_model));
    } else {
        roles[0].0 = "planner and executor";
    }
    let warnings: Vec<Warning> = roles
        .into_iter()
        .filter(|(_, model)| crate::llm::known_model(model).is_none())
        .map(|(role, model)| Warning {
            message: format!(
                "no price is known for the {role} model {model}: its calls are recorded at $0 \
                 (unless the server's answers name a model that has one, as Azure's do), so \
                 max_cost may not stop this run"
            ),
            hint: Some(
                "git agent models lists the models with known prices; max_turns and max_tokens \
                 bound a run on any model"
                    .to_string(),
            ),
        })
        .collect();
    ctx.warn(&warnings);
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

/// Run the loop on a task in `worktree` and map its outcome to an exit code.
#[allow(clippy::too_many_arguments)]
pub fn run_loop(
    ctx: &Context,
    store: &Store,
    slug: &str,
    worktree: PathBuf,
    config: Config,
    provider: Provider,
    resumed: bool,
    plan_only: bool,
) -> anyhow::Result<Exit> {
    run_loop_with(
        ctx,
        store,
        slug,
        worktree,
        config,
        provider,
        resumed,
        plan_only,
        RunHooks::default(),
    )
}

/// What a caller that drives runs (`git agent worker`) adds to one: its own interrupt (it
/// handles the signals itself, and interrupts a run whose lease was lost), and a look at
/// every event before it is rendered (to push after every checkpoint).
#[derive(Default)]
pub struct RunHooks<'a> {
    pub interrupt: Option<Interrupt>,
    pub on_event: Option<&'a mut (dyn FnMut(&Event) + Send)>,
}

#[allow(clippy::too_many_arguments)]
pub fn run_loop_with(
    ctx: &Context,
    store: &Store,
    slug: &str,
    worktree: PathBuf,
    config: Config,
    provider: Provider,
    resumed: bool,
    plan_only: bool,
    hooks: RunHooks<'_>,
) -> anyhow::Result<Exit> {
    let RunHooks {
        interrupt,
        mut on_event,
    } = hooks;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tools = toolbox(&config, worktree.clone())?;
    let mut render = crate::ui::renderer(&ctx.global.style());
    let mut log = crate::ui::RunLog::create(store, slug);
    let _trace = crate::agent::telemetry::start(
        &config,
        crate::agent::telemetry::RunFacts {
            slug,
            provider: provider.name(),
            model: &config.model,
            resumed,
        },
    );
    let mut emit = move |event: Event| {
        crate::agent::telemetry::on_event(&event);
        log.append(&event);
        if let Some(hook) = on_event.as_mut() {
            hook(&event);
        }
        render(event);
    };
    emit(Event::TaskStarted {
        slug: slug.to_string(),
        branch: format!("agent/{slug}"),
        worktree: worktree.display().to_string(),
        resumed,
    });
    let outcome = runtime.block_on(async {
        let interrupt = interrupt.unwrap_or_else(Interrupt::install);
        let mut agent = Agent::new(
            store,
            slug.to_string(),
            worktree,
            config,
            provider,
            tools,
            &mut emit,
            interrupt,
        );
        agent.plan_only = plan_only;
        agent.run().await
    })?;
    Ok(outcome.exit())
}

/// What a run says about the worktree it found (see [`crate::store::RunWorktree`]), if
/// anything.
pub fn run_worktree_text(ready: &crate::store::RunWorktree) -> Option<String> {
    use crate::store::RunWorktree;
    let merge_of = |u: &crate::store::Update| {
        format!(
            "the merge of {} ({}) that step {} resolves",
            u.branch,
            u.base.get(..8).unwrap_or(&u.base),
            u.step
        )
    };
    match ready {
        RunWorktree::Ready => None,
        RunWorktree::Stashed(attic) => Some(format!(
            "Kept the unfinished work of the interrupted step in {attic}"
        )),
        RunWorktree::MergeRestored(update) => Some(format!(
            "The worktree had lost {}: its files, conflict markers included, are back",
            merge_of(update)
        )),
        RunWorktree::ResolutionKept(update) => Some(format!(
            "The worktree holds work on {}: kept, for the step to go on from",
            merge_of(update)
        )),
    }
}
