//! A run as the CLI drives it: the loop over what `app::session` assembles, rendered on the
//! terminal, and its outcome mapped to an exit code. `start`, `resume`, `demo` and
//! `checkpoint` assemble what they need here instead of borrowing from one another.

use super::Context;
use crate::agent::{Agent, Event, Interrupt, RunSpec};
use crate::config::{Config, Flags, Warning};
use crate::error::Exit;
use crate::llm::ProviderKind;
use crate::store::Store;

/// The configuration of the checkout; its warnings (ignored keys) go to stderr, once per run.
pub fn load_config(ctx: &Context, store: &Store, flags: Flags) -> anyhow::Result<Config> {
    crate::app::session::load_config(ctx, store, flags)
}

pub use crate::app::session::{provider_for, toolbox};

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

/// Run the loop on a task and map its outcome to an exit code.
pub fn run_loop(ctx: &Context, spec: RunSpec<'_>) -> anyhow::Result<Exit> {
    run_loop_with(ctx, spec, RunHooks::default())
}

/// What a caller that drives runs (`git agent worker`) adds to one: its own interrupt (it
/// handles the signals itself, and interrupts a run whose lease was lost), and a look at
/// every event before it is rendered (to push after every checkpoint).
#[derive(Default)]
pub struct RunHooks<'a> {
    pub interrupt: Option<Interrupt>,
    pub on_event: Option<&'a mut (dyn FnMut(&Event) + Send)>,
}

pub fn run_loop_with(
    ctx: &Context,
    spec: RunSpec<'_>,
    hooks: RunHooks<'_>,
) -> anyhow::Result<Exit> {
    let RunHooks {
        interrupt,
        mut on_event,
    } = hooks;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tools = toolbox(&spec.config, spec.worktree.clone())?;
    let mut render = crate::ui::renderer(&ctx.global.style());
    let mut log = crate::ui::RunLog::create(spec.store, &spec.slug);
    let _trace = crate::agent::telemetry::start(
        &spec.config,
        crate::agent::telemetry::RunFacts {
            slug: &spec.slug,
            provider: spec.provider.name(),
            model: &spec.config.model,
            resumed: spec.resumed,
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
        slug: spec.slug.clone(),
        branch: format!("agent/{}", spec.slug),
        worktree: spec.worktree.display().to_string(),
        resumed: spec.resumed,
    });
    let outcome = runtime.block_on(async {
        let interrupt = interrupt.unwrap_or_else(Interrupt::install);
        Agent::new(spec, tools, &mut emit, interrupt).run().await
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
