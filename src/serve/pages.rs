//! The pages, as maud templates. Every string from a model, a repository or a remote goes
//! through [`T`]: maud escapes it for HTML and the terminal sanitizer shows its control
//! characters and bidi overrides as text (never `PreEscaped` on data).

use maud::{DOCTYPE, Markup, Render, html};

use super::diff::{self, Diff};
use crate::app::views::{CheckpointView, FleetView, TaskDetail, TaskView, TasksView};

/// Data shown as text: controls and direction overrides made visible, then HTML-escaped.
pub struct T<'a>(pub &'a str);

impl Render for T<'_> {
    fn render_to(&self, buffer: &mut String) {
        crate::text::terminal::block(self.0)
            .as_ref()
            .render_to(buffer);
    }
}

/// A slug in a path: anything but the slug alphabet percent-encoded (a remote's names are
/// checked, but a path is built from them all the same).
pub fn path_part(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn task_href(slug: &str) -> String {
    format!("/task/{}", path_part(slug))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// "3m ago" from seconds.
pub fn age(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub struct Page<'a> {
    pub title: &'a str,
    /// The source shown in the header: the repository, or the remote.
    pub source: &'a str,
    pub live: bool,
    /// The change version the page shows (see `events` in mod.rs).
    pub version: u64,
}

pub fn layout(page: &Page<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "git agent · " (T(page.title)) }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body data-version=(page.version) {
                header {
                    nav { a href="/" { "tasks" } a href="/fleet" { "fleet" } }
                    span.source { (T(page.source)) }
                    span #live {}
                }
                main data-live=[page.live.then_some("1")] { (body) }
            }
        }
    }
}

pub fn tasks_page(view: &TasksView, filter: Option<&str>, now: i64) -> Markup {
    let fleet = view.tasks.iter().any(|g| g.task.queue.is_some());
    let total: usize = view.states.values().sum();
    html! {
        h1 { "Tasks" }
        p.filters {
            a.on[filter.is_none()] href="/" { "all (" (total) ")" }
            @for (state, n) in &view.states {
                a.on[filter == Some(*state)] href={ "/?state=" (state) } { (state) " (" (n) ")" }
            }
        }
        @if view.tasks.is_empty() {
            p.empty { "No tasks here yet. Start one with git agent start \"goal\"." }
        } @else {
            table #tasks {
                thead { tr {
                    th { "task" } th { "state" } th { "step" } th { "checkpoints" } th { "tests" } th { "cost" }
                    th { "tokens" } th { "age" } th { "base" }
                    @if fleet { th { "queue" } th { "holder" } th { "host" } th { "heartbeat" } }
                    th { "goal" }
                } }
                tbody {
                    @for g in &view.tasks {
                        (task_row(&g.task, false, fleet, now))
                        @for a in &g.attempts { (task_row(a, true, fleet, now)) }
                    }
                }
            }
        }
        @for b in &view.broken {
            p.broken { "broken: " (T(&b.slug)) ": " (T(&b.error)) }
        }
    }
}

fn task_row(t: &TaskView, attempt: bool, fleet: bool, now: i64) -> Markup {
    let tests = t.tests.as_deref().unwrap_or("-");
    let verdict = tests.split_whitespace().next().unwrap_or("-");
    html! {
        tr.attempt[attempt] data-slug=(T(&t.slug)) {
            td.slug {
                @if let Some((_, k)) = &t.attempt_of { span.mark { "attempt " (k) " " } }
                a href=(task_href(&t.slug)) { (T(&t.slug)) }
            }
            td { span class={ "state " (t.state) } { (t.state) } }
            td.num { (t.step) "/" (t.steps) }
            td.num.checkpoints { (t.checkpoints) }
            td { span class={ "tests " (T(verdict)) } title=(T(tests)) { (T(verdict)) } }
            td.num { (format!("${:.2}", t.cost_usd)) }
            td.num { (t.tokens) }
            td.num { (age(now, t.tip_time)) }
            td.mono { (short(&t.base)) }
            @if fleet {
                @let q = t.queue.as_ref();
                td.num { (q.map(|q| q.position.to_string()).unwrap_or_default()) }
                td { (T(q.and_then(|q| q.holder.as_deref()).unwrap_or("-"))) }
                td { (T(q.and_then(|q| q.host.as_deref()).unwrap_or("-"))) }
                td.num { (q.and_then(|q| q.heartbeat_time).map(|h| age(now, h)).unwrap_or_else(|| "-".into())) }
            }
            td.goal { (T(&t.goal)) }
        }
    }
}

pub fn task_page(d: &TaskDetail, whole: &Diff, now: i64) -> Markup {
    let t = &d.task;
    html! {
        h1 { "Task " span.slug { (T(&t.slug)) } " " span class={ "state " (t.state) } { (t.state) } }
        pre.goal { (T(&d.goal)) }
        dl.facts {
            dt { "step" } dd { (t.step) "/" (t.steps) }
            dt { "checkpoints" } dd #checkpoint-count { (t.checkpoints) }
            dt { "tests" } dd { (T(t.tests.as_deref().unwrap_or("not run yet"))) }
            dt { "cost" } dd { (format!("${:.4}", t.cost_usd)) ", " (t.tokens) " tokens" }
            dt { "age" } dd { (age(now, t.tip_time)) }
            dt { "base" } dd.mono { (short(&t.base)) }
            dt { "tip" } dd.mono { (short(&t.tip)) }
            @if let Some(q) = &t.queue {
                dt { "queue" } dd { (q.position) " · " (T(&q.state)) }
                dt { "holder" } dd { (T(q.holder.as_deref().unwrap_or("-"))) " on " (T(q.host.as_deref().unwrap_or("-"))) }
            }
            @if let Some(stop) = &t.stop_detail { dt { "stopped" } dd { (T(stop)) } }
        }
        @if d.running && !d.events.is_empty() {
            section #events {
                h2 { "Live events" }
                ol.events { @for e in &d.events { li { span.kind { (T(&e.kind)) } " " (T(&e.text)) } } }
            }
        }
        section #plan {
            h2 { "Plan " span.small { "(" (d.plan.status) ", " (d.plan.replans) " replans)" } }
            @if !d.plan.objective.is_empty() { p.objective { (T(&d.plan.objective)) } }
            ol.steps {
                @for (i, (title, detail)) in d.plan.steps.iter().enumerate() {
                    li.done[(i as u32) < t.step] { (T(title)) @if !detail.is_empty() { div.detail { (T(detail)) } } }
                }
            }
            (list("Constraints", &d.plan.constraints))
            (list("Acceptance criteria", &d.plan.acceptance_criteria))
            (list("Questions", &d.plan.questions))
            @if !d.plan.test_command.is_empty() { p { "tests: " code { (T(&d.plan.test_command)) } } }
            @if !d.said.is_empty() {
                h3 { "Said (git agent say)" }
                ul.said { @for s in &d.said { li { (T(s)) } } }
            }
            @if !d.revisions.is_empty() {
                details.revisions {
                    summary { "Plan and record history (" (d.revisions.len()) " notes commits)" }
                    ol { @for r in &d.revisions {
                        li { span.mono { (short(&r.commit)) } " " (age(now, r.time)) " ago — " (T(&r.message)) }
                    } }
                }
            }
        }
        section #tests-across {
            h2 { "Tests across checkpoints" }
            p.strip { @for c in &d.checkpoints {
                span class={ "cell " (c.tests_verdict.unwrap_or("none")) } title=(T(c.test_summary.as_deref().unwrap_or(""))) { }
            } }
        }
        section #usage { h2 { "Cost and tokens" } (chart(&d.checkpoints)) }
        section #timeline {
            h2 { "Checkpoints" }
            @if d.checkpoints.is_empty() { p.empty { "No checkpoints yet." } }
            @for c in d.checkpoints.iter().rev() { (checkpoint(&t.slug, c, now)) }
        }
        @if !d.attic.is_empty() {
            section #attic {
                h2 { "Attic (discarded work)" }
                ul { @for a in &d.attic { li {
                    span.mono { (T(&a.refname)) " " (short(&a.commit)) } " " (T(&a.summary))
                    @if let Some(reason) = &a.reason { " — step " (a.step.unwrap_or(0)) ": " (T(reason)) }
                } } }
            }
        }
        @if !d.stops.is_empty() {
            section #stops {
                h2 { "Stops" }
                ul { @for s in &d.stops { li {
                    span class={ "state " (s.reason) } { (s.reason) } " " (T(&s.at)) " " (T(&s.detail))
                    @if !s.hint.is_empty() { " — " (T(&s.hint)) }
                } } }
            }
        }
        section #diff {
            h2 { "Whole change " a.small href={ (task_href(&t.slug)) "/diff" } { "(own page)" } }
            (diff_markup(whole))
        }
    }
}

fn list(title: &str, items: &[String]) -> Markup {
    html! {
        @if !items.is_empty() {
            h3 { (title) }
            ul { @for i in items { li { (T(i)) } } }
        }
    }
}

fn checkpoint(slug: &str, c: &CheckpointView, now: i64) -> Markup {
    html! {
        article.checkpoint id={ "c-" (c.commit) } {
            h3 {
                span class={ "tests " (c.tests_verdict.unwrap_or("none")) } { (c.number.as_deref().map(T).map(|t| html!{ "#" (t) }).unwrap_or_default()) }
                " " (T(&c.summary))
            }
            p.meta {
                span.mono { (short(&c.commit)) } " · step " (T(c.step.as_deref().unwrap_or("?")))
                " · " (age(now, c.time)) " ago · "
                (c.files_changed) " files +" (c.insertions) " −" (c.deletions)
                " · " (c.input_tokens) "/" (c.output_tokens) " tokens · " (format!("${:.4}", c.cost_usd))
                @if let Some(m) = &c.model { " · " (T(m)) }
                " · " a href={ (task_href(slug)) "/diff/" (c.commit) } { "diff" }
            }
            dl.trailers { @for (k, v) in &c.trailers { dt { (T(k)) } dd { (T(v)) } } }
            @if let Some(stop) = &c.stop { p.stop { "stopped: " (stop.reason) " " (T(&stop.detail)) } }
        }
    }
}

/// Cumulative cost and tokens by checkpoint, as SVG lines drawn on the server.
fn chart(checkpoints: &[CheckpointView]) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let mut cost = Vec::with_capacity(checkpoints.len());
    let mut tokens = Vec::with_capacity(checkpoints.len());
    let (mut c, mut t) = (0.0f64, 0u64);
    for v in checkpoints {
        c += v.cost_usd;
        t += v.input_tokens + v.output_tokens;
        cost.push(c);
        tokens.push(t as f64);
    }
    let line = |ys: &[f64]| -> String {
        let max = ys
            .iter()
            .cloned()
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        let n = ys.len().max(2) - 1;
        ys.iter()
            .enumerate()
            .map(|(i, y)| {
                format!(
                    "{:.1},{:.1}",
                    i as f64 * W / n as f64,
                    H - y / max * (H - 4.0)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        @if checkpoints.is_empty() { p.empty { "No records yet." } } @else {
            svg.chart viewBox="0 0 600 120" role="img" {
                polyline.cost points=(line(&cost)) {}
                polyline.tokens points=(line(&tokens)) {}
            }
            p.legend {
                span.cost { "cost " (format!("${c:.4}")) } " "
                span.tokens { "tokens " (t) }
            }
        }
    }
}

pub fn diff_markup(d: &Diff) -> Markup {
    html! {
        @if d.files.is_empty() { p.empty { "No change." } }
        @for f in &d.files {
            details.file open[f.lines.len() <= diff::OPEN_LINES] {
                summary { (T(&f.header)) " " span.small { "(" (f.lines.len()) " lines)" } }
                pre.diff { @for l in &f.lines { span class=(diff::class(l)) { (T(l)) "\n" } } }
            }
        }
        @if d.truncated { p.truncated { "The diff is longer than " (diff::DIFF_BYTES / 1024) " KiB; the rest is not shown (git agent diff prints all of it)." } }
    }
}

pub fn diff_page(slug: &str, what: &str, d: &Diff) -> Markup {
    html! {
        h1 { a href=(task_href(slug)) { (T(slug)) } " · " (T(what)) }
        (diff_markup(d))
    }
}

pub fn fleet_page(f: &FleetView, now: i64) -> Markup {
    html! {
        h1 { "Fleet" @if let Some(r) = &f.remote { " of " (T(r)) } }
        @if f.remote.is_none() {
            p.small { "This repository's own tasks; git agent serve --remote <name> shows a remote's queue, leases and workers." }
        }
        section #queue {
            h2 { "Queue" }
            table {
                thead { tr { th { "#" } th { "task" } th { "state" } th { "holder" } th { "host" } th { "heartbeat" } th { "checkpoints" } th { "goal" } } }
                tbody { @for (i, t) in f.queue.iter().enumerate() {
                    @let q = t.queue.as_ref();
                    tr {
                        td.num { (q.map_or(i + 1, |q| q.position)) }
                        td { a href=(task_href(&t.slug)) { (T(&t.slug)) } }
                        td { span class={ "state " (t.state) } { (T(q.map_or(t.state, |q| q.state.as_str()))) } }
                        td { (T(q.and_then(|q| q.holder.as_deref()).unwrap_or("-"))) }
                        td { (T(q.and_then(|q| q.host.as_deref()).unwrap_or("-"))) }
                        td.num { (q.and_then(|q| q.heartbeat_time).map(|h| age(now, h)).unwrap_or_else(|| "-".into())) }
                        td.num { (t.checkpoints) }
                        td.goal { (T(&t.goal)) }
                    }
                } }
            }
        }
        section #workers {
            h2 { "Workers seen" }
            @if f.workers.is_empty() { p.empty { "No lease names a worker." } }
            ul { @for w in &f.workers { li { (T(&w.holder)) " on " (T(&w.host)) ": " (T(&w.tasks.join(", "))) } } }
        }
        section #takeovers {
            h2 { "Takeovers" }
            @if f.takeovers.is_empty() { p.empty { "None." } }
            ul { @for t in &f.takeovers { li { (T(&t.slug)) ": " (T(&t.from)) " → " (T(&t.to)) } } }
        }
        section #throughput {
            h2 { "Throughput (tasks finished per hour)" }
            @if f.throughput.is_empty() { p.empty { "Nothing finished yet." } }
            @let max = f.throughput.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
            @let w = 600.0 / f.throughput.len().max(1) as f64;
            @if !f.throughput.is_empty() {
                svg.chart viewBox="0 0 600 120" role="img" {
                    @for (i, (_, n)) in f.throughput.iter().enumerate() {
                        rect.bar x=(format!("{:.1}", i as f64 * w)) y=(format!("{:.1}", 120.0 - *n as f64 / max as f64 * 116.0))
                            width=(format!("{:.1}", (w - 2.0).max(1.0))) height=(format!("{:.1}", *n as f64 / max as f64 * 116.0)) {}
                    }
                }
            }
        }
    }
}

pub fn error_page(message: &str) -> Markup {
    html! { h1 { "Not found" } p { (T(message)) } }
}
