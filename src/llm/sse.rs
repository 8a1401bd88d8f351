//! Server-sent events: an incremental parser that takes the body in whatever pieces the
//! network hands over (mid-line, mid-character, CR / LF / CRLF line ends), and a spawned
//! reader that feeds parsed events into a channel with an idle timeout.
//!
//! The parser follows the WHATWG event-stream rules: comment lines (`:` first) are
//! skipped, `data` lines of one event are joined with `\n`, an event is dispatched at a
//! blank line, and an unfinished event at end of stream is dropped.

use super::error::LlmError;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One dispatched event. `event` is `"message"` when the stream named none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The previous piece ended in CR, so an LF at the start of the next one is its pair.
    after_cr: bool,
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the next piece of the body and appends every event it completes to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if !self.started {
            // The BOM may itself arrive split, so collect up to three bytes before deciding.
            let need = BOM.len() - self.line.len();
            let take = need.min(chunk.len());
            self.line.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.line.len() < BOM.len() && BOM.starts_with(&self.line) {
                return;
            }
            self.started = true;
            if self.line == BOM {
                self.line.clear();
            } else {
                let held = std::mem::take(&mut self.line);
                self.feed_lines(&held, out);
            }
        }
        self.feed_lines(chunk, out);
    }

    fn feed_lines(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (line, rest) = chunk.split_at(pos);
            if rest[0] == b'\r' {
                match rest.get(1) {
                    Some(b'\n') => chunk = &rest[2..],
                    Some(_) => chunk = &rest[1..],
                    None => {
                        self.after_cr = true;
                        chunk = &rest[1..];
                    }
                }
            } else {
                chunk = &rest[1..];
            }
            if self.line.is_empty() {
                self.process_line(line, out);
            } else {
                self.line.extend_from_slice(line);
                let whole = std::mem::take(&mut self.line);
                self.process_line(&whole, out);
                self.line = whole;
                self.line.clear();
            }
        }
        self.line.extend_from_slice(chunk);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // `id` and `retry` steer browser reconnection, which we do not do.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event: event.unwrap_or_else(|| "message".to_string()),
            data: std::mem::take(&mut self.data),
        });
    }
}

/// Parsed events of one response body, read by a spawned task. Dropping it stops the task.
pub struct SseStream {
    rx: mpsc::Receiver<Result<SseEvent, LlmError>>,
    task: JoinHandle<()>,
}

impl SseStream {
    /// Starts reading `body`. The task reports a [`LlmError::Timeout`] when no bytes arrive
    /// for `idle`, and a [`LlmError::StreamCut`] when the body fails.
    pub fn spawn<S, E>(provider: &'static str, body: S, idle: Duration) -> SseStream
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: std::error::Error + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(read_body(provider, body, idle, tx));
        SseStream { rx, task }
    }

    /// A stream of events already in hand: a server that answered a streaming request with
    /// one JSON body, rewritten by the provider as the events it would have streamed.
    pub fn from_events(events: Vec<SseEvent>) -> SseStream {
        let (tx, rx) = mpsc::channel(events.len().max(1));
        for event in events {
            // The channel holds them all: it is as large as the list and nobody reads yet.
            let _ = tx.try_send(Ok(event));
        }
        SseStream {
            rx,
            task: tokio::spawn(async {}),
        }
    }

    /// The next event; `None` once the body has ended cleanly.
    pub async fn next(&mut self) -> Option<Result<SseEvent, LlmError>> {
        self.rx.recv().await
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_body<S, E>(
    provider: &'static str,
    body: S,
    idle: Duration,
    tx: mpsc::Sender<Result<SseEvent, LlmError>>,
) where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + 'static,
{
    let mut body = std::pin::pin!(body);
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(idle, body.next()).await {
            Err(_) => {
                let _ = tx
                    .send(Err(LlmError::Timeout {
                        provider,
                        what: "stream",
                        after: idle,
                    }))
                    .await;
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let _ = tx
                    .send(Err(LlmError::StreamCut {
                        provider,
                        message: crate::text::error_chain(&e),
                    }))
                    .await;
                return;
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        parser.feed(&chunk, &mut events);
        for event in events.drain(..) {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn parse_all(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for piece in pieces {
            parser.feed(piece, &mut out);
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_string(),
            data: data.to_string(),
        }
    }

    /// Every feature at once: BOM, comments, CR, LF and CRLF ends, multi-line data, a field
    /// without a colon, no space after the colon, multi-byte characters, an unknown field,
    /// an event without data, and an unfinished event at the end.
    const MIXED: &[u8] = "\u{FEFF}: hello\r\n\
        event: message_start\r\n\
        data: {\"a\":1}\r\n\
        \r\n\
        event:ping\ndata:{}\n\n\
        data: first\rdata: second\r\r\
        : OPENROUTER PROCESSING\n\n\
        id: 7\nretry: 100\nevent: empty\n\n\
        data\n\n\
        event: delta\ndata: h\u{e9}llo \u{1F600} \u{4e16}\u{754c}\n\n\
        data: unfinished"
        .as_bytes();

    fn mixed_expected() -> Vec<SseEvent> {
        vec![
            ev("message_start", "{\"a\":1}"),
            ev("ping", "{}"),
            ev("message", "first\nsecond"),
            ev("message", ""),
            ev("delta", "h\u{e9}llo \u{1F600} \u{4e16}\u{754c}"),
        ]
    }

    #[test]
    fn parses_a_whole_stream() {
        assert_eq!(parse_all(&[MIXED]), mixed_expected());
    }

    #[test]
    fn same_events_for_every_split_position() {
        for i in 0..=MIXED.len() {
            let (a, b) = MIXED.split_at(i);
            assert_eq!(parse_all(&[a, b]), mixed_expected(), "split at byte {i}");
        }
    }

    #[test]
    fn same_events_for_every_pair_of_split_positions() {
        for i in 0..=MIXED.len() {
            for j in i..=MIXED.len() {
                let pieces = [&MIXED[..i], &MIXED[i..j], &MIXED[j..]];
                assert_eq!(parse_all(&pieces), mixed_expected(), "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn same_events_byte_by_byte_and_in_random_pieces() {
        let single: Vec<&[u8]> = MIXED.chunks(1).collect();
        assert_eq!(parse_all(&single), mixed_expected());
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..500 {
            let mut pieces = Vec::new();
            let mut rest = MIXED;
            while !rest.is_empty() {
                let n = rng.usize(0..=rest.len().min(9));
                let (a, b) = rest.split_at(n);
                pieces.push(a);
                rest = b;
            }
            assert_eq!(parse_all(&pieces), mixed_expected());
        }
    }

    #[test]
    fn cr_at_the_end_of_a_piece_pairs_with_a_following_lf() {
        // "\r" then "\n" must be one line end, not two (which would dispatch early).
        let got = parse_all(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(got, vec![ev("message", "a\nb")]);
    }

    #[test]
    fn bom_only_at_the_start_and_a_split_bom() {
        assert_eq!(
            parse_all(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]),
            vec![ev("message", "x")]
        );
        // A lone 0xEF that is not a BOM is kept as a (lossy) part of the line.
        assert_eq!(
            parse_all(&[b"\xEFdata: x\n\ndata: y\n\n"]),
            vec![ev("message", "y")]
        );
    }

    #[test]
    fn a_stream_of_comments_only_yields_nothing() {
        assert_eq!(parse_all(&[b": ping\n\n: ping\r\n\r\n"]), vec![]);
    }

    #[tokio::test]
    async fn spawned_reader_delivers_events_then_ends() {
        let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"event: a\nda")),
            Ok(Bytes::from_static(b"ta: 1\n\n")),
        ];
        let mut stream = SseStream::spawn(
            "test",
            futures_util::stream::iter(pieces),
            Duration::from_secs(5),
        );
        let first = stream.next().await.map(|r| r.map_err(|e| e.to_string()));
        assert_eq!(first, Some(Ok(ev("a", "1"))));
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn spawned_reader_reports_an_idle_stream() {
        let body = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
        let mut stream = SseStream::spawn("test", body, Duration::from_millis(20));
        let got = stream.next().await.map(|r| r.map_err(|e| e.to_string()));
        assert_eq!(
            got,
            Some(Err("test stream timed out after 20ms".to_string()))
        );
    }

    #[tokio::test]
    async fn spawned_reader_reports_a_broken_body() {
        let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"data: 1\n\n")),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            )),
        ];
        let mut stream = SseStream::spawn(
            "test",
            futures_util::stream::iter(pieces),
            Duration::from_secs(5),
        );
        let mut got = Vec::new();
        while let Some(item) = stream.next().await {
            got.push(item.map_err(|e| e.to_string()));
        }
        assert_eq!(
            got,
            vec![
                Ok(ev("message", "1")),
                Err("test stream broke off: connection reset".to_string())
            ]
        );
    }
}
