//! `git agent serve`: a read-only web view of every task, over the application layer's views
//! (src/app/views.rs) — the tasks table, a task in detail, the fleet — live through
//! server-sent events. Axum on a current-thread tokio runtime; pages are maud templates;
//! the script and style sheet are embedded. Nothing here writes a ref.
//!
//! May call `app`, `store`, `text` and `git_command`; never `commands`.

mod auth;
mod diff;
mod pages;
mod reader;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::Markup;

pub use auth::{is_local, new_token};
use pages::Page;
use reader::Reader;

/// How often the server looks for a change while a page follows it.
const POLL: Duration = Duration::from_millis(100);
/// How often it looks while no page does: the version a page is rendered at stays current
/// enough that a page opened just after a change still learns of it.
const IDLE_POLL: Duration = Duration::from_secs(1);

pub struct Options {
    pub dir: PathBuf,
    pub listen: SocketAddr,
    /// Required on every request when set.
    pub token: Option<String>,
    pub remote: Option<String>,
    /// How often a remote is fetched.
    pub refresh: Duration,
}

struct App {
    reader: Reader,
    remote: Option<String>,
    source: String,
    changes: tokio::sync::watch::Sender<u64>,
}

type Shared = State<Arc<App>>;

/// Serve until Ctrl-C; `ready` is told the address bound (for a port of 0, the one chosen).
pub fn run(options: Options, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    if let Some(remote) = &options.remote {
        crate::store::remote::sync::validate_remote(remote)?;
        reader::fetch_periodically(options.dir.clone(), remote.clone(), options.refresh)?;
    }
    let reader = Reader::start(options.dir.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let source = match &options.remote {
            Some(r) => format!("remote {r}"),
            None => options.dir.display().to_string(),
        };
        let (changes, _) = tokio::sync::watch::channel(0u64);
        let app = Arc::new(App {
            reader,
            remote: options.remote.clone(),
            source,
            changes,
        });
        // The first fingerprint is taken before the first page is served: a change between
        // a page and the next look is then a change, never the baseline.
        let remote = app.remote.clone();
        let first = app
            .reader
            .read(move |s| reader::fingerprint(s, remote.as_deref()))
            .await;
        tokio::spawn(watch_changes(app.clone(), first));
        let guard = Arc::new(auth::Guard::new(options.token.clone(), addr));
        let router = Router::new()
            .route("/", get(tasks_page))
            .route("/task/{slug}", get(task_page))
            .route("/task/{slug}/diff", get(task_diff))
            .route("/task/{slug}/diff/{commit}", get(checkpoint_diff))
            .route("/fleet", get(fleet_page))
            .route("/events", get(events))
            .route("/api/tasks", get(tasks_json))
            .route("/api/task/{slug}", get(task_json))
            .route("/assets/app.js", get(script))
            .route("/assets/style.css", get(style))
            .with_state(app)
            .layer(axum::middleware::from_fn_with_state(guard, auth::check));
        ready(addr);
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}

/// Bump the version the live pages follow whenever the fingerprint moves.
async fn watch_changes(app: Arc<App>, mut last: Option<u64>) {
    loop {
        let idle = app.changes.receiver_count() == 0;
        tokio::time::sleep(if idle { IDLE_POLL } else { POLL }).await;
        let remote = app.remote.clone();
        let now = app
            .reader
            .read(move |s| reader::fingerprint(s, remote.as_deref()))
            .await;
        if last.is_some() && now != last {
            app.changes.send_modify(|v| *v += 1);
        }
        last = now;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn page(app: &App, title: &str, live: bool, body: Markup) -> Response {
    let page = Page {
        title,
        source: &app.source,
        live,
        version: *app.changes.borrow(),
    };
    Html(pages::layout(&page, body).into_string()).into_response()
}

fn failed(app: &App, status: StatusCode, message: &str) -> Response {
    let mut response = page(app, "error", false, pages::error_page(message));
    *response.status_mut() = status;
    response
}

fn unavailable(app: &App) -> Response {
    failed(
        app,
        StatusCode::SERVICE_UNAVAILABLE,
        "the repository reader stopped",
    )
}

#[derive(serde::Deserialize)]
struct Filter {
    state: Option<String>,
}

async fn tasks_view(
    app: &App,
    state: Option<String>,
) -> Option<Result<crate::app::views::TasksView, crate::store::StoreError>> {
    let remote = app.remote.clone();
    app.reader
        .read(move |s| match &remote {
            Some(r) => crate::app::views::remote_tasks(s, r, state.as_deref()),
            None => crate::app::views::tasks(s, state.as_deref()),
        })
        .await
}

async fn tasks_page(State(app): Shared, Query(filter): Query<Filter>) -> Response {
    match tasks_view(&app, filter.state.clone()).await {
        Some(Ok(view)) => page(
            &app,
            "tasks",
            true,
            pages::tasks_page(&view, filter.state.as_deref(), now()),
        ),
        Some(Err(err)) => failed(&app, StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
        None => unavailable(&app),
    }
}

async fn tasks_json(State(app): Shared, Query(filter): Query<Filter>) -> Response {
    match tasks_view(&app, filter.state).await {
        Some(Ok(view)) => json(&view),
        Some(Err(err)) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
        None => unavailable(&app),
    }
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

type Detail = Result<(crate::app::views::TaskDetail, diff::Diff), crate::store::StoreError>;

async fn detail(app: &App, slug: String, with_diff: bool) -> Option<Detail> {
    let remote = app.remote.clone();
    app.reader
        .read(move |s| {
            let d = match &remote {
                Some(r) => crate::app::views::remote_task_detail(s, r, &slug)?,
                None => crate::app::views::task_detail(s, &slug)?,
            };
            let whole = match (with_diff, d.task.base.parse(), d.task.tip.parse()) {
                (true, Ok(base), Ok(tip)) => diff::read(s, base, tip).unwrap_or_default(),
                _ => diff::Diff::default(),
            };
            Ok((d, whole))
        })
        .await
}

async fn task_page(State(app): Shared, Path(slug): Path<String>) -> Response {
    match detail(&app, slug.clone(), true).await {
        Some(Ok((d, whole))) => page(&app, &slug, true, pages::task_page(&d, &whole, now())),
        Some(Err(err)) => failed(&app, StatusCode::NOT_FOUND, &err.to_string()),
        None => unavailable(&app),
    }
}

async fn task_json(State(app): Shared, Path(slug): Path<String>) -> Response {
    match detail(&app, slug, false).await {
        Some(Ok((d, _))) => json(&d),
        Some(Err(err)) => (StatusCode::NOT_FOUND, err.to_string()).into_response(),
        None => unavailable(&app),
    }
}

async fn task_diff(State(app): Shared, Path(slug): Path<String>) -> Response {
    match detail(&app, slug.clone(), true).await {
        Some(Ok((_, whole))) => page(
            &app,
            &slug,
            false,
            pages::diff_page(&slug, "whole change", &whole),
        ),
        Some(Err(err)) => failed(&app, StatusCode::NOT_FOUND, &err.to_string()),
        None => unavailable(&app),
    }
}

/// The diff of one checkpoint of the task: a commit between its task commit and its tip.
async fn checkpoint_diff(
    State(app): Shared,
    Path((slug, commit)): Path<(String, String)>,
) -> Response {
    let Ok(commit) = commit.parse::<gix::ObjectId>() else {
        return failed(&app, StatusCode::NOT_FOUND, "not a commit id");
    };
    let want = slug.clone();
    let wanted = commit.to_string();
    let found = detail(&app, slug.clone(), false).await;
    let Some(Ok((d, _))) = found else {
        return failed(&app, StatusCode::NOT_FOUND, "no such task");
    };
    let Some(parent) = d
        .checkpoints
        .iter()
        .find(|c| c.commit == wanted)
        .and_then(|c| c.parent.as_deref()?.parse::<gix::ObjectId>().ok())
    else {
        return failed(&app, StatusCode::NOT_FOUND, "not a checkpoint of this task");
    };
    let read = app
        .reader
        .read(move |s| diff::read(s, parent, commit))
        .await;
    match read {
        Some(Ok(d)) => page(
            &app,
            &want,
            false,
            pages::diff_page(
                &want,
                &format!("checkpoint {}", &commit.to_string()[..8]),
                &d,
            ),
        ),
        Some(Err(err)) => failed(&app, StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
        None => unavailable(&app),
    }
}

async fn fleet_page(State(app): Shared) -> Response {
    let remote = app.remote.clone();
    let view = app
        .reader
        .read(move |s| crate::app::views::fleet(s, remote.as_deref()))
        .await;
    match view {
        Some(Ok(view)) => page(&app, "fleet", true, pages::fleet_page(&view, now())),
        Some(Err(err)) => failed(&app, StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
        None => unavailable(&app),
    }
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<u64>,
}

/// `changed` with a version number each time the repository's agent state moves; first
/// `ready`, or `changed` when it moved since the version the page was rendered at (`?since=`).
async fn events(State(app): Shared, Query(since): Query<Since>) -> impl IntoResponse {
    let changes = app.changes.subscribe();
    let now = *changes.borrow();
    // Something at once: the response's head goes out with its first event, and a page
    // rendered before a change it has not seen must hear of it now.
    let first = match since.since {
        Some(v) if v != now => Event::default().event("changed"),
        _ => Event::default().event("ready"),
    }
    .data(now.to_string());
    let first = futures_util::stream::iter([Ok(first)]);
    let rest = futures_util::stream::unfold(changes, |mut changes| async move {
        changes.changed().await.ok()?;
        let version = *changes.borrow_and_update();
        let event = Event::default().event("changed").data(version.to_string());
        Some((Ok::<_, std::convert::Infallible>(event), changes))
    });
    Sse::new(futures_util::StreamExt::chain(first, rest)).keep_alive(KeepAlive::default())
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
        .into_response()
}
