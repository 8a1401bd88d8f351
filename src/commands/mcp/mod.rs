//! `git agent mcp`: the task commands as a Model Context Protocol server over stdio, for
//! Claude Code, Codex, Cursor and any other MCP client.
//!
//! Every tool is built on the application layer's function and view that its CLI command uses
//! too (`crate::app`: `rollback_task`, `merge_task`, `drop_task` …), so the two cannot drift
//! apart; this module only turns parameters into requests, never calls a CLI helper; git
//! work runs on the blocking pool, so one slow call (a merge running the tests) never stalls
//! the others. `start` never waits for a run: see [`runs`]. Stdout is the protocol: nothing
//! else may print there, which is why no tool calls a `cmd_*` function.

mod resources;
mod runs;
mod types;

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData, Json, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router,
};

use super::Context;
use crate::app::Quiet;
use crate::app::drop::Dropped;
use crate::app::merge::{MergeRequest, Merged};
use crate::app::rollback::{RollbackRequest, RolledBack};
use crate::app::say::Said;
use crate::app::stop::StopRequested;
use crate::app::update::Updated;
use crate::error::Exit;
use crate::store::Store;
use types::*;

pub fn cmd_mcp(ctx: &Context) -> anyhow::Result<Exit> {
    // Fail now, on stderr, rather than on every call: the server serves one repository.
    Store::discover(&ctx.cwd)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = GitAgentServer::new(ctx.cwd.clone());
        let service = server.serve(rmcp::transport::stdio()).await?;
        service.waiting().await?;
        anyhow::Ok(())
    })?;
    Ok(Exit::Done)
}

#[derive(Clone)]
pub struct GitAgentServer {
    cwd: Arc<PathBuf>,
    /// One `start` at a time: it picks a free slug, then waits for the run to take it.
    starting: Arc<tokio::sync::Mutex<()>>,
    tool_router: ToolRouter<Self>,
}

/// A failed call as the model and the person behind it see it: the error, its causes, and
/// the hint, as the CLI prints them.
fn describe(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    if let (Some(hint), _) = crate::app::advice::advice_of(err) {
        text.push_str(&format!("\nhint: {hint}"));
    }
    crate::policy::redact_known(&text)
}

/// Run git work on the blocking pool; an error becomes the tool's error result.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(describe(&err)),
        Err(err) => Err(format!("error: the call failed: {err}")),
    }
}

fn task_info(summary: &crate::store::TaskSummary) -> anyhow::Result<TaskInfo> {
    Ok(TaskInfo::from(&summary.row()))
}

#[tool_router]
impl GitAgentServer {
    pub fn new(cwd: PathBuf) -> GitAgentServer {
        GitAgentServer {
            cwd: Arc::new(cwd),
            starting: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    fn cwd(&self) -> PathBuf {
        self.cwd.as_ref().clone()
    }

    #[tool(
        description = "Start a new task: the planner turns the goal into a plan and the executor works through it step by step on the branch agent/<slug>, one checkpoint commit per step, in a private worktree (the user's checkout is not touched). Returns at once with the task's slug; the run goes on in the background. Follow it with `status` (state becomes done, blocked, budget, error or interrupted when it stops), `log` and `diff`.",
        annotations(
            title = "Start a task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn start(
        &self,
        Parameters(params): Parameters<StartParams>,
    ) -> Result<Json<Started>, String> {
        let _one_at_a_time = self.starting.lock().await;
        let cwd = self.cwd();
        blocking(move || runs::start_detached(&cwd, &params))
            .await
            .map(Json)
    }

    #[tool(
        description = "One task in detail: state (planning, idle, running, done, blocked, budget, interrupted, error, merged), the step reached, the last test result, cost and tokens, and what stopped the last run with a hint.",
        annotations(title = "Task status", read_only_hint = true, open_world_hint = false)
    )]
    async fn status(
        &self,
        Parameters(params): Parameters<TaskParams>,
    ) -> Result<Json<Status>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let slug = store.resolve_slug(params.task.as_deref())?;
            let summary = store.summary(&slug)?;
            let events = runs::events_log(&store, &slug);
            Ok(Status {
                task: task_info(&summary)?,
                events_log: events.is_file().then(|| events.display().to_string()),
            })
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "All tasks of the repository with state, step, tests and cost.",
        annotations(title = "List tasks", read_only_hint = true, open_world_hint = false)
    )]
    async fn list(&self) -> Result<Json<TaskList>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let mut list = TaskList {
                tasks: Vec::new(),
                broken: Vec::new(),
            };
            // The same rows `git agent list` reads: from the tips, through the task cache.
            for (slug, row) in store.task_rows()? {
                match row {
                    Ok(row) => list.tasks.push(TaskInfo::from(&row)),
                    Err(err) => list.broken.push(BrokenTask {
                        slug,
                        error: err.to_string(),
                    }),
                }
            }
            Ok(list)
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "The checkpoints of a task, oldest first: each commit with its trailers (Agent-Step, Agent-Expected, Agent-Tests, Agent-Risks, Agent-Next …) and its record (model, tokens, cost, test run, changes), and the attic of discarded work.",
        annotations(
            title = "Task checkpoints",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn log(
        &self,
        Parameters(params): Parameters<TaskParams>,
    ) -> Result<Json<TaskLog>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let slug = store.resolve_slug(params.task.as_deref())?;
            let task = store.task(&slug)?;
            let checkpoints = store
                .checkpoints(&task)?
                .iter()
                .map(CheckpointInfo::from)
                .collect();
            let attic = store
                .attic(&slug)?
                .into_iter()
                .map(|e| AtticInfo {
                    refname: e.refname,
                    commit: e.commit.to_string(),
                })
                .collect();
            Ok(TaskLog {
                slug,
                goal: task.goal,
                checkpoints,
                attic,
            })
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "The task's whole change against its base: the files changed with line counts, and the patch (cut at max_bytes).",
        annotations(title = "Task diff", read_only_hint = true, open_world_hint = false)
    )]
    async fn diff(
        &self,
        Parameters(params): Parameters<DiffParams>,
    ) -> Result<Json<TaskDiff>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let slug = store.resolve_slug(params.task.as_deref())?;
            let task = store.task(&slug)?;
            let patch = crate::app::read::task_patch(&store, &task)?;
            let max = params.max_bytes.unwrap_or(100_000);
            let mut text = patch.patch;
            let truncated = text.len() > max;
            if truncated {
                let mut cut = max;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            Ok(TaskDiff {
                slug,
                base: task.base.to_string(),
                tip: task.tip.to_string(),
                files: patch
                    .files
                    .into_iter()
                    .map(|file| FileChange {
                        path: file.path,
                        insertions: file.insertions,
                        deletions: file.deletions,
                    })
                    .collect(),
                patch: text,
                truncated,
            })
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "The task's plan: objective, constraints, acceptance criteria, test command, the steps with which are done, the planner's questions, and the failed attempts rolled back so far.",
        annotations(title = "Task plan", read_only_hint = true, open_world_hint = false)
    )]
    async fn plan(
        &self,
        Parameters(params): Parameters<TaskParams>,
    ) -> Result<Json<PlanInfo>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let slug = store.resolve_slug(params.task.as_deref())?;
            let summary = store.summary(&slug)?;
            let toml = resources::plan_text(&store, &summary.task)?;
            let plan = summary.plan;
            let done = summary.step.0;
            Ok(PlanInfo {
                slug,
                status: plan.status.to_string(),
                goal: plan.goal,
                objective: plan.objective,
                constraints: plan.constraints,
                acceptance_criteria: plan.acceptance_criteria,
                test_command: plan.test_command,
                steps: plan
                    .steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| PlanStepInfo {
                        title: s.title,
                        detail: s.detail,
                        done: (i as u32) < done,
                    })
                    .collect(),
                current_step: done,
                questions: plan.questions,
                replans: plan.replans,
                attempts: plan
                    .attempts
                    .into_iter()
                    .map(|a| AttemptInfo {
                        step: a.step,
                        reason: a.reason,
                        discarded: a.discarded,
                        attic: a.attic,
                        restored: a.restored,
                    })
                    .collect(),
                toml,
            })
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "Move the task's branch back: by `steps` checkpoints (default 1), `to` a checkpoint, or to the `last_green` one; or `undo` the last rollback. The discarded tip is kept in the attic and the reason goes into the plan's attempts. Refused while a run works on the task.",
        annotations(
            title = "Roll a task back",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn rollback(
        &self,
        Parameters(params): Parameters<RollbackParams>,
    ) -> Result<Json<RolledBack>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let request = RollbackRequest {
                slug: Some(params.task),
                to: params.to,
                steps: params.steps,
                last_green: params.last_green,
                undo: params.undo,
                reason: params.reason,
            };
            crate::app::rollback::rollback_task(&store, request)
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "Merge the task into its base branch (the branch checked out when it started), or `into` another branch; that branch must be checked out in the repository, else the merge is refused with the command to run. The merge is computed first: if it conflicts, nothing changes (checkout, index and HEAD as they were) and the conflicting paths are listed with the ways forward (`update`). Then the policy checks (secret scan, tests and lint in the sandbox, changes to CI, hooks and configuration files), then a --no-ff merge, or a squash. A failed check refuses the merge unless `force`, which records it in an Agent-Forced trailer.",
        annotations(
            title = "Merge a task",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn merge(
        &self,
        Parameters(params): Parameters<MergeParams>,
    ) -> Result<Json<Merged>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let request = MergeRequest {
                slug: Some(params.task),
                squash: params.squash,
                force: params.force,
                into: params.into,
            };
            crate::app::merge::merge_task(&Quiet, &store, &request)
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "Bring a task up to date with its base branch: merge the base into the task in the task's own worktree (never the repository's checkout). A clean merge becomes a checkpoint with the tests run (`merged`); a conflicting one leaves the conflict markers in the task's worktree and adds a plan step to resolve them (`conflicts`): `resume` has the agent resolve them, and that checkpoint is the merge commit. Refused while a run works on the task or an earlier update still waits for its conflicts to be resolved.",
        annotations(
            title = "Update a task with its base branch",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn update(
        &self,
        Parameters(params): Parameters<UpdateParams>,
    ) -> Result<Json<Updated>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            crate::app::update::update_task(&Quiet, &store, params.task.as_deref())
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "Delete a task: its branch, notes, attic and worktree. A task that is not merged is refused unless `force` (its work is then lost).",
        annotations(
            title = "Drop a task",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn drop(
        &self,
        Parameters(params): Parameters<DropParams>,
    ) -> Result<Json<Dropped>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            crate::app::drop::drop_task(&store, Some(&params.task), params.force)
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "Stop a task's run as Ctrl-C in its terminal does: the model call in flight answers and is booked, the step's unfinished work goes to the attic, the stop record says interrupted (stopped with git agent stop). The request is stored in git (refs/agent/<slug>/say), so a worker elsewhere gets it with the next push. Waits up to a minute for a run here to stop unless `no_wait`.",
        annotations(
            title = "Stop a task's run",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn stop(
        &self,
        Parameters(params): Parameters<StopParams>,
    ) -> Result<Json<StopRequested>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let slug = store.resolve_slug_to_change(params.task.as_deref())?;
            crate::app::stop::stop_task(&store, &slug, !params.no_wait)
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "Resume a stopped task (interrupted, blocked, out of budget, or created without a run): a run continues from what git holds, in the background like `start`. Returns once the run holds the task; follow it with `status`, `log` and `diff`, stop it with `stop`.",
        annotations(
            title = "Resume a task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn resume(
        &self,
        Parameters(params): Parameters<TaskParams>,
    ) -> Result<Json<Started>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let slug = store.resolve_slug_to_change(params.task.as_deref())?;
            runs::resume_detached(&cwd, &slug)
        })
        .await
        .map(Json)
    }

    #[tool(
        description = "Tell a task something, as the user: a running task shows it to the model at its next turn; a stopped one when it resumes. Stored in git (refs/agent/<slug>/say), it takes no lock.",
        annotations(
            title = "Say something to a task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn say(&self, Parameters(params): Parameters<SayParams>) -> Result<Json<Said>, String> {
        let cwd = self.cwd();
        blocking(move || {
            let store = Store::discover(&cwd)?;
            let slug = store.resolve_slug_to_change(params.task.as_deref())?;
            crate::app::say::say_to(&store, &slug, &params.message)
        })
        .await
        .map(Json)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for GitAgentServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("git-agent", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "git-agent runs an autonomous coding agent on a task branch (agent/<slug>) of this \
repository and keeps all its state in git. `start` a task with a goal (it returns at once), \
poll `status` until the state is no longer running (`stop` ends a run, `resume` continues a \
stopped task, `say` tells a task something), review with `log`, `diff` and `plan`, then \
`merge`, `rollback` or `drop`; `update` brings a task up to date with its base branch. Resources: git-agent://<task>/plan (the plan note, TOML) and \
git-agent://<task>/checkpoints/<n> (a checkpoint's trailers and record, JSON).",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cwd = self.cwd();
        let resources = blocking(move || resources::list(&Store::discover(&cwd)?))
            .await
            .map_err(|err| ErrorData::internal_error(err, None))?;
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let cwd = self.cwd();
        let uri = request.uri.clone();
        let Some(address) = resources::Address::parse(&uri) else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "not a git-agent resource: {uri} (git-agent://<task>/plan or git-agent://<task>/checkpoints/<n>)"
                ),
                None,
            ));
        };
        blocking(move || resources::read(&Store::discover(&cwd)?, &address, &uri))
            .await
            .map(Into::into)
            .map_err(|err| ErrorData::resource_not_found(err, None))
    }
}
