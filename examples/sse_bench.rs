//! Throughput of the SSE parser on a large generated stream of Anthropic-style text deltas
//! (with pings, comments and multi-byte text), fed in network-sized pieces.
//!
//! Run with `cargo run --release --example sse_bench [MEGABYTES]`.

use git_agent::llm::sse::{SseEvent, SseParser};
use std::time::Instant;

fn generate(target_bytes: usize) -> Vec<u8> {
    let mut out = String::with_capacity(target_bytes + 1024);
    let words = [
        "fn ",
        "main",
        "() {",
        " let x = 42;",
        " héllo ",
        "世界",
        " 😀 ",
        "\\n",
        "}",
    ];
    let mut i = 0usize;
    while out.len() < target_bytes {
        let text: String = (0..8).map(|k| words[(i + k) % words.len()]).collect();
        out.push_str("event: content_block_delta\n");
        out.push_str("data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"");
        out.push_str(&text);
        out.push_str("\"}}\n\n");
        if i.is_multiple_of(50) {
            out.push_str("event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n: keep-alive\n\n");
        }
        i += 1;
    }
    out.into_bytes()
}

fn main() {
    let megabytes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let stream = generate(megabytes << 20);
    let piece = 16 * 1024;
    let mut best = f64::INFINITY;
    let mut count = 0;
    for _ in 0..5 {
        let mut parser = SseParser::new();
        let mut events: Vec<SseEvent> = Vec::with_capacity(64);
        count = 0;
        let started = Instant::now();
        for chunk in stream.chunks(piece) {
            parser.feed(chunk, &mut events);
            count += events.len();
            events.clear();
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mb = stream.len() as f64 / (1024.0 * 1024.0);
    println!(
        "sse_bench: {mb:.1} MiB, {count} events, {:?} per pass (best of 5): {:.0} MiB/s",
        std::time::Duration::from_secs_f64(best),
        mb / best
    );
}
