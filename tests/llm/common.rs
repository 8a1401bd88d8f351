//! A small HTTP/1.1 server of the tests' own: it answers each connection with the next
//! scripted reply, writing chunked bodies piece by piece with pauses (or cutting the
//! connection mid-body), and keeps every request it received for the test to check.

use git_agent::llm::{ApiKey, ProviderConfig, ProviderKind, RetryPolicy, StreamEvent};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const KEY: &str = "sk-test-secret-4242";

pub enum Body {
    Full(Vec<u8>),
    /// Written as HTTP chunks, one per piece, with `pause` between them. With `cut` the
    /// connection closes after the last piece without the terminating chunk.
    Chunked {
        pieces: Vec<Vec<u8>>,
        pause: Duration,
        cut: bool,
    },
    /// Sends the headers and the pieces, then stays silent.
    Stall {
        pieces: Vec<Vec<u8>>,
    },
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Reply {
    /// A whole SSE body, written in pieces of `size` bytes (odd sizes split lines and
    /// UTF-8 characters).
    pub fn sse(text: &str, size: usize) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type", "text/event-stream".to_string())],
            body: Body::Chunked {
                pieces: split(text.as_bytes(), size),
                pause: Duration::from_millis(1),
                cut: false,
            },
        }
    }

    /// The first `upto` bytes of an SSE body, then the connection closes.
    pub fn sse_cut(text: &str, upto: usize) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type", "text/event-stream".to_string())],
            body: Body::Chunked {
                pieces: split(&text.as_bytes()[..upto], 13),
                pause: Duration::from_millis(1),
                cut: true,
            },
        }
    }

    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".to_string())],
            body: Body::Full(body.to_string().into_bytes()),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

pub fn split(bytes: &[u8], size: usize) -> Vec<Vec<u8>> {
    bytes.chunks(size.max(1)).map(<[u8]>::to_vec).collect()
}

/// LF line ends to CRLF.
pub fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

pub struct RawServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Captured>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The reply to one request, chosen on seeing it: a server that checks what it is sent.
pub type Judge = Box<dyn FnOnce(&Captured) -> Reply + Send>;

impl RawServer {
    pub async fn start(replies: Vec<Reply>) -> RawServer {
        let judges = replies
            .into_iter()
            .map(|reply| -> Judge { Box::new(move |_| reply) });
        RawServer::judging(judges.collect()).await
    }

    /// A server that answers each request with the reply its judge chooses for it.
    pub async fn judging(replies: Vec<Judge>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, replies) = (seen.clone(), replies.clone());
                tokio::spawn(async move { serve(socket, seen, replies).await });
            }
        });
        RawServer {
            url,
            requests,
            task,
        }
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    seen: Arc<Mutex<Vec<Captured>>>,
    replies: Arc<Mutex<VecDeque<Judge>>>,
) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let judge = replies.lock().unwrap().pop_front();
    let reply = judge.map(|judge| judge(&request));
    seen.lock().unwrap().push(request);
    let reply = reply.unwrap_or_else(|| {
        Reply::json(
            500,
            &serde_json::json!({"error": "the test script has no more replies"}),
        )
    });
    let reason = match reply.status {
        200 => "OK",
        _ => "Whatever",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nconnection: close\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match reply.body {
        Body::Full(body) => {
            head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        }
        Body::Chunked { pieces, pause, cut } => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            for piece in pieces {
                let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                chunk.extend_from_slice(&piece);
                chunk.extend_from_slice(b"\r\n");
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
                let _ = socket.flush().await;
                tokio::time::sleep(pause).await;
            }
            if !cut {
                let _ = socket.write_all(b"0\r\n\r\n").await;
            }
        }
        Body::Stall { pieces } => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            for piece in pieces {
                let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                chunk.extend_from_slice(&piece);
                chunk.extend_from_slice(b"\r\n");
                let _ = socket.write_all(&chunk).await;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }
    let _ = socket.shutdown().await;
}

async fn read_request(socket: &mut TcpStream) -> Option<Captured> {
    let mut buf = Vec::new();
    let mut piece = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = socket.read(&mut piece).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&piece[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let (method, path) = (start.next()?.to_string(), start.next()?.to_string());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut piece).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&piece[..n]);
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Captured {
        method,
        path,
        headers,
        body,
    })
}

/// A configuration for `kind` pointed at `url`, with the test key and fast retries.
pub fn config(kind: ProviderKind, url: &str, attempts: u32) -> ProviderConfig {
    let mut config = ProviderConfig::new(kind);
    config.base_url = Some(url.to_string());
    config.api_key = Some(ApiKey::new(KEY));
    config.retry = RetryPolicy::fast(attempts);
    config.idle_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(5);
    config
}

/// Collects stream events; `Retrying` waits are jittered, so they are kept apart.
#[derive(Default, Debug)]
pub struct Events {
    pub events: Vec<StreamEvent>,
}

impl Events {
    pub fn sink(&mut self) -> impl FnMut(StreamEvent) + Send + '_ {
        |e| self.events.push(e)
    }

    /// The events with retry waits zeroed, for whole-value comparison.
    pub fn normalized(&self) -> Vec<StreamEvent> {
        self.events
            .iter()
            .cloned()
            .map(|e| match e {
                StreamEvent::Retrying {
                    attempt,
                    reason,
                    unreachable,
                    ..
                } => StreamEvent::Retrying {
                    attempt,
                    wait: Duration::ZERO,
                    reason,
                    unreachable,
                },
                other => other,
            })
            .collect()
    }
}

pub fn text(s: &str) -> StreamEvent {
    StreamEvent::TextDelta(s.to_string())
}

pub fn tool(id: &str, name: &str) -> StreamEvent {
    StreamEvent::ToolCall {
        id: id.to_string(),
        name: name.to_string(),
    }
}

pub fn retrying(attempt: u32, reason: &str) -> StreamEvent {
    StreamEvent::Retrying {
        attempt,
        wait: Duration::ZERO,
        reason: reason.to_string(),
        unreachable: None,
    }
}
