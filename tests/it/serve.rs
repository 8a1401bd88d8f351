//! `git agent serve`: the real binary serving a repository made by real runs against the fake
//! model, read over HTTP and in a real headless Chromium (WebDriver through chromedriver).
//! A hostile model writes HTML and script into every field it controls; the pages show it as
//! text and run none of it. Off loopback, a request without the token is refused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::agent_e2e::{GOOD_GREET, KEY, sample};
use crate::common::{TestEnv, first_line};
use crate::fake_model::{FakeModel, Script, current_step, tool, turn};
use crate::support::{PATIENCE, poll_until, wait_until};

/// Script and markup a page must show as text: a script element, an element with an event
/// handler, a `javascript:` URL, a bidi override and a terminal title sequence. Run, any of
/// them would set `window.pwned` or the document's title.
fn hostile(label: &str) -> String {
    format!(
        "{label} <script>window.pwned=1;document.title='pwned'</script>\
         <img src=x onerror=\"window.pwned=2\"><a href=\"javascript:window.pwned=3\">x</a> \
         javascript:window.pwned=4 \u{202e}txt.exe \x1b]0;pwned\x07 end"
    )
}

/// A plan, a first step that writes greet.sh and finishes with the payloads in every field, a
/// second that reports itself blocked with them.
fn hostile_script() -> Arc<Script> {
    Arc::new(
        move |request: &Value| match (current_step(request), turn(request)) {
            (None, _) => vec![tool(
                "submit_plan",
                json!({"objective": hostile("objective"), "constraints": [hostile("constraint")],
                       "acceptance_criteria": ["sh test.sh passes"], "test_command": "sh test.sh",
                       "steps": [{"title": hostile("title-1"), "detail": hostile("detail")},
                                 {"title": hostile("title-2"), "detail": "test it"}]}),
            )],
            (Some(1), 0) => vec![tool(
                "write_file",
                json!({"path": "greet.sh", "content": GOOD_GREET}),
            )],
            (Some(1), _) => vec![tool(
                "finish_step",
                json!({"summary": hostile("summary"), "expected_outcome": hostile("expected"),
                       "risks": hostile("risks"), "next_step": hostile("next")}),
            )],
            (Some(_), _) => vec![tool(
                "report_blocked",
                json!({"reason": hostile("blocked")}),
            )],
        },
    )
}

/// A repository with a task `t` run by the hostile model (one checkpoint, then blocked), a
/// hostile `say`, and a task `quiet` made by hand with one checkpoint.
fn hostile_repo(env: &TestEnv) -> PathBuf {
    let dir = sample(env, "");
    let model = FakeModel::start(hostile_script(), Duration::ZERO);
    let out = env
        .agent_cmd(&dir, &["start", "--name", "t", &hostile("goal")])
        .env("ANTHROPIC_BASE_URL", &model.url)
        .env("ANTHROPIC_API_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.agent_ok(&dir, &["say", "t", &hostile("said")]);
    env.agent_ok(
        &dir,
        &["start", "--no-run", "--name", "quiet", "Write a changelog"],
    );
    let wt = crate::common::worktree(&dir, "quiet");
    std::fs::write(wt.join("CHANGELOG"), "first\n").unwrap();
    env.agent_ok(&dir, &["checkpoint", "quiet", "-m", "Add a changelog"]);
    dir
}

/// `git agent serve` running; killed when dropped.
struct Server {
    child: Child,
    /// `http://host:port` without a trailing slash.
    base: String,
    /// The address it printed, token included.
    printed: String,
}

impl Server {
    fn start(env: &TestEnv, dir: &Path, listen: &str, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--listen", listen];
        args.extend_from_slice(extra);
        let mut child = env
            .agent_cmd(dir, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let line = first_line(child.stdout.as_mut().unwrap());
        let printed = line
            .strip_prefix("Serving ")
            .unwrap_or_else(|| panic!("serve printed {line:?}"))
            .to_string();
        let base = printed.split('/').take(3).collect::<Vec<_>>().join("/");
        Server {
            child,
            base,
            printed,
        }
    }

    fn get(&self, path: &str) -> Reply {
        http("GET", &format!("{}{path}", self.base), &[], None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 exchange on a fresh connection (the server's and chromedriver's).
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).unwrap();
    // Read what the head announces: chromedriver keeps a connection open whatever it is asked.
    let raw = read_reply(&mut stream);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        head: head.to_string(),
        body,
    }
}

/// The bytes of one response: its head, then as many bytes as `Content-Length` says, or
/// chunks up to the last one, or everything up to the end of the connection.
fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let complete = |raw: &[u8]| -> bool {
        let text = String::from_utf8_lossy(raw);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let head = head.to_ascii_lowercase();
        if let Some(n) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            return body.len() >= n;
        }
        head.contains("transfer-encoding: chunked") && body.ends_with("0\r\n\r\n")
    };
    while !complete(&raw) {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    raw
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// No payload survives as markup: no script element, handler or `javascript:` link of the
/// model's, no raw bidi override or escape character; and it is there as text.
fn assert_escaped(what: &str, html: &str) {
    assert!(
        !html.contains("<script>window"),
        "{what}: a script element of the model"
    );
    assert!(
        !html.contains("<img src=x"),
        "{what}: an element of the model"
    );
    assert!(
        !html.contains("href=\"javascript:"),
        "{what}: a javascript: link"
    );
    assert!(!html.contains('\u{202e}'), "{what}: a raw bidi override");
    assert!(!html.contains('\x1b'), "{what}: a raw ESC");
    assert!(
        html.contains("&lt;script&gt;window.pwned=1"),
        "{what}: the payload is not shown as text:\n{html}"
    );
}

#[test]
fn serve_pages_show_every_task_and_a_hostile_model_only_as_text() {
    let env = TestEnv::new();
    let dir = hostile_repo(&env);
    let server = Server::start(&env, &dir, "127.0.0.1:0", &[]);

    let tasks = server.get("/");
    assert_eq!(tasks.status, 200, "{}", tasks.body);
    let csp = tasks.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(tasks.body.contains("href=\"/task/t\""), "{}", tasks.body);
    assert!(tasks.body.contains("href=\"/task/quiet\""));
    assert!(tasks.body.contains("class=\"state blocked\""));
    assert_escaped("tasks page", &tasks.body);

    let filtered = server.get("/?state=idle");
    assert!(filtered.body.contains("/task/quiet") && !filtered.body.contains("href=\"/task/t\""));

    let task = server.get("/task/t");
    assert_eq!(task.status, 200, "{}", task.body);
    assert_escaped("task page", &task.body);
    for shown in [
        "summary &lt;script&gt;",  // the checkpoint's summary
        "expected &lt;script&gt;", // its Agent-Expected trailer
        "title-1 &lt;script&gt;",  // a plan step
        "said &lt;script&gt;",     // a say message
        "blocked &lt;script&gt;",  // the stop record
        "\\u{202e}txt.exe",        // the bidi override, shown
        "+++ b/greet.sh",          // the whole diff
    ] {
        assert!(task.body.contains(shown), "the task page lacks {shown:?}");
    }
    let commit = env.rev(&dir, "agent/t");
    let diff = server.get(&format!("/task/t/diff/{commit}"));
    assert_eq!(diff.status, 200);
    assert!(diff.body.contains("class=\"add\""), "{}", diff.body);
    let base = env.rev(&dir, "HEAD");
    assert_eq!(server.get(&format!("/task/t/diff/{base}")).status, 404);
    assert_eq!(server.get("/task/nope").status, 404);

    let fleet = server.get("/fleet");
    assert_eq!(fleet.status, 200);
    assert!(fleet.body.contains("/task/quiet"));
    assert_escaped("fleet page", &fleet.body);

    let api: Value = serde_json::from_str(&server.get("/api/task/t").body).unwrap();
    assert_eq!(api["task"]["state"], "blocked");
    assert_eq!(api["checkpoints"].as_array().unwrap().len(), 1);
    let script = server.get("/assets/app.js");
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );

    // Read-only: serving and reading changed no ref.
    let refs = env.git(&dir, &["for-each-ref"]);
    drop(server);
    assert_eq!(env.git(&dir, &["for-each-ref"]), refs);
}

#[test]
fn serve_off_loopback_refuses_a_request_without_the_token() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.agent_ok(&dir, &["start", "--no-run", "--name", "a", "Do a thing"]);
    let server = Server::start(&env, &dir, "127.0.0.2:0", &[]);
    let token = server.printed.split("?token=").nth(1).unwrap().to_string();
    assert_eq!(token.len(), 32, "{}", server.printed);
    for path in ["/", "/task/a", "/events", "/api/tasks", "/assets/app.js"] {
        assert_eq!(server.get(path).status, 401, "{path}");
    }
    let wrong = http(
        "GET",
        &format!("{}/", server.base),
        &[("Authorization", "Bearer 0123")],
        None,
    );
    assert_eq!(wrong.status, 401);
    let bearer = format!("Bearer {token}");
    let ok = http(
        "GET",
        &format!("{}/task/a", server.base),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(ok.status, 200);
    // ?token= sets the cookie and sends the browser to the address without it.
    let first = server.get(&format!("/?state=idle&token={token}"));
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location").as_deref(), Some("/?state=idle"));
    let cookie = first.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let again = http(
        "GET",
        &format!("{}/?state=idle", server.base),
        &[("Cookie", pair)],
        None,
    );
    assert_eq!(again.status, 200);
    let all = http(
        "GET",
        &format!("{}/task/a", server.base),
        &[("Cookie", pair)],
        None,
    );
    assert_eq!(all.status, 200);
    assert!(all.body.contains("Do a thing"));

    // A given token is used as given; on loopback a foreign Host is refused.
    let given = Server::start(&env, &dir, "127.0.0.2:0", &["--token", "s3cret"]);
    assert!(given.printed.ends_with("?token=s3cret"));
    assert_eq!(given.get("/").status, 401);
    let local = Server::start(&env, &dir, "127.0.0.1:0", &[]);
    assert!(!local.printed.contains("token"));
    let rebound = http(
        "GET",
        &format!("{}/", local.base),
        &[("Host", "evil.example:80")],
        None,
    );
    assert_eq!(rebound.status, 403);
}

/// Open `/events` and return the stream, past the response head.
fn open_events(server: &Server, since: u64) -> TcpStream {
    let host = server.base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET /events?since={since} HTTP/1.1\r\nHost: {host}\r\n\r\n"
    )
    .unwrap();
    stream
}

/// Read the stream until it holds `needle`.
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the event stream ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn serve_events_announce_a_checkpoint_within_a_second() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.agent_ok(&dir, &["start", "--no-run", "--name", "a", "Do a thing"]);
    let server = Server::start(&env, &dir, "127.0.0.1:0", &[]);
    let version: u64 = {
        let page = server.get("/").body;
        let at = page.find("data-version=\"").unwrap() + 14;
        page[at..].split('"').next().unwrap().parse().unwrap()
    };
    let mut events = open_events(&server, version);
    read_until(&mut events, "event: ready");
    std::fs::write(crate::common::worktree(&dir, "a").join("x"), "1\n").unwrap();
    env.agent_ok(&dir, &["checkpoint", "a", "-m", "Add x"]);
    let landed = Instant::now();
    let seen = read_until(&mut events, "event: changed");
    let after = landed.elapsed();
    assert!(
        after < Duration::from_secs(1),
        "the change was announced {after:?} after the checkpoint:\n{seen}"
    );
    assert!(
        server
            .get("/")
            .body
            .contains("<td class=\"num checkpoints\">1</td>")
    );
    // A page rendered before a change it has not seen learns of it as soon as it follows.
    let mut late = open_events(&server, version);
    read_until(&mut late, "event: changed");
}

// ---- A real headless Chromium through chromedriver (WebDriver). ----

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The browser, or why there is none (then the test says so and passes: `.ci/run` installs
/// both, so CI always runs it).
fn browser(env: &TestEnv) -> Option<Browser> {
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).exists() {
            eprintln!(
                "SKIPPED: {path} is not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        }
    }
    Some(Browser::start(env))
}

struct Browser {
    driver: Child,
    url: String,
    session: String,
}

impl Browser {
    fn start(env: &TestEnv) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        wait_until("chromedriver to answer", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http("GET", &format!("{url}/status"), &[], None)
                    .body
                    .contains("\"ready\":true")
        });
        let profile = env.root.path().join("chromium-profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1400",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}});
        let reply = http("POST", &format!("{url}/session"), &[], Some(&caps));
        let value: Value = serde_json::from_str(&reply.body).unwrap();
        let session = value["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {}", reply.body))
            .to_string();
        Browser {
            driver,
            url,
            session,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let reply = http(
            method,
            &format!("{}/session/{}{path}", self.url, self.session),
            &[],
            body,
        );
        let value: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
        value["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({"url": url})));
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
    }

    fn screenshot(&self, name: &str) {
        let data = self.call("GET", "/screenshot", None);
        let png = base64_decode(data.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            "DELETE",
            &format!("{}/session/{}", self.url, self.session),
            &[],
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !b"=\r\n".contains(c)).collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= (value(*c) as u32) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// What a script of the model would have left behind if it had run.
const PWNED: &str = "return [String(window.pwned), document.title];";

#[test]
fn chromium_renders_the_pages_runs_no_payload_and_follows_a_checkpoint_live() {
    let env = TestEnv::new();
    let Some(browser) = browser(&env) else {
        return;
    };
    let dir = hostile_repo(&env);
    let server = Server::start(&env, &dir, "127.0.0.1:0", &[]);

    for (path, shot, title) in [
        ("/", "tasks.png", "git agent · tasks"),
        ("/task/t", "task.png", "git agent · t"),
        ("/fleet", "fleet.png", "git agent · fleet"),
    ] {
        browser.open(&format!("{}{path}", server.base));
        // The payloads are on the page as text, and none of them ran.
        let text = browser.js("return document.body.innerText;");
        assert!(
            text.as_str().unwrap().contains("<script>window.pwned=1"),
            "{path}: the payload is not shown as text"
        );
        assert_eq!(browser.js(PWNED), json!(["undefined", title]), "{path}");
        let styled = browser
            .js("return getComputedStyle(document.querySelector('header')).borderBottomStyle;");
        assert_eq!(
            styled,
            json!("solid"),
            "{path}: the style sheet did not apply"
        );
        browser.screenshot(shot);
    }

    // Live: the tasks page, open and following, shows a new checkpoint of `quiet`.
    browser.open(&format!("{}/", server.base));
    wait_until("the page to follow the server", || {
        browser.js("return document.getElementById('live').className;") == json!("on")
    });
    let count =
        "return document.querySelector('tr[data-slug=\"quiet\"] td.checkpoints').textContent;";
    assert_eq!(browser.js(count), json!("1"));
    std::fs::write(
        crate::common::worktree(&dir, "quiet").join("CHANGELOG"),
        "second\n",
    )
    .unwrap();
    env.agent_ok(&dir, &["checkpoint", "quiet", "-m", "Extend the changelog"]);
    let landed = Instant::now();
    let shown = poll_until(Duration::from_secs(1), || browser.js(count) == json!("2"));
    let after = landed.elapsed();
    assert!(
        shown,
        "the page did not show the checkpoint within 1 s ({after:?})"
    );
    eprintln!("the live page showed the checkpoint {after:?} after it landed");
    assert_eq!(browser.js(PWNED), json!(["undefined", "git agent · tasks"]));
    let diff = env.rev(&dir, "agent/t");
    browser.open(&format!("{}/task/t/diff/{diff}", server.base));
    browser.screenshot("diff.png");
}
