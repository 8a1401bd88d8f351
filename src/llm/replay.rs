//! Recorded sessions: the replay provider plays one back, the recorder writes one.
//! The format is described in `fixtures/replay/README.md`: JSON Lines, one response per
//! line in call order; blank lines and lines starting with `#` are skipped.

use super::error::LlmError;
use super::types::{ContentBlock, Request, Response, StopReason, StreamEvent, Usage};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// What the request was, for people reading the file; replay ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub model: String,
    pub stop_reason: StopReason,
    #[serde(default)]
    pub usage: Usage,
    pub content: Vec<ContentBlock>,
}

pub(crate) struct Replay {
    file: PathBuf,
    responses: Vec<Recorded>,
    next: AtomicUsize,
}

impl Replay {
    pub fn open(file: &Path) -> Result<Replay, LlmError> {
        let text = std::fs::read_to_string(file).map_err(|source| LlmError::ReplayRead {
            file: file.to_path_buf(),
            source,
        })?;
        let responses = parse(file, &text)?;
        Ok(Replay {
            file: file.to_path_buf(),
            responses,
            next: AtomicUsize::new(0),
        })
    }

    pub fn attempt(
        &self,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<Response, LlmError> {
        let call = self.next.fetch_add(1, Ordering::SeqCst);
        let Some(recorded) = self.responses.get(call) else {
            return Err(LlmError::ReplayExhausted {
                file: self.file.clone(),
                recorded: self.responses.len(),
                call: call + 1,
            });
        };
        for block in &recorded.content {
            match block {
                ContentBlock::Text { text } if !text.is_empty() => {
                    on_event(StreamEvent::TextDelta(text.clone()));
                }
                ContentBlock::ToolUse { id, name, .. } => on_event(StreamEvent::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                }),
                _ => {}
            }
        }
        Ok(Response {
            content: recorded.content.clone(),
            stop_reason: recorded.stop_reason.clone(),
            usage: recorded.usage,
            model: recorded.model.clone(),
            cost_usd: 0.0,
            price_known: false,
            usage_estimated: false,
        })
    }
}

/// Parses a recording; errors name the file and the line.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Recorded>, LlmError> {
    let mut responses = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let recorded: Recorded =
            serde_json::from_str(line).map_err(|e| LlmError::ReplayMalformed {
                file: file.to_path_buf(),
                line: n + 1,
                message: json_message(&e),
            })?;
        if recorded
            .content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolResult { .. }))
        {
            return Err(LlmError::ReplayMalformed {
                file: file.to_path_buf(),
                line: n + 1,
                message: "a model response cannot hold a tool_result".to_string(),
            });
        }
        responses.push(recorded);
    }
    Ok(responses)
}

/// serde_json's message without its own "at line 1 column N", which would contradict the
/// file's line number.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let text = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("{text} (column {})", e.column())
}

/// Appends every response to a recording, one line each, flushed at once so a crashed
/// run leaves a usable file.
pub(crate) struct Recorder {
    file: PathBuf,
    out: Mutex<std::fs::File>,
}

impl Recorder {
    pub fn create(file: &Path) -> Result<Recorder, LlmError> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(|source| LlmError::Record {
                file: file.to_path_buf(),
                source,
            })?;
        Ok(Recorder {
            file: file.to_path_buf(),
            out: Mutex::new(out),
        })
    }

    pub fn record(&self, request: &Request, response: &Response) -> Result<(), LlmError> {
        let recorded = Recorded {
            note: Some(note(request)),
            model: response.model.clone(),
            stop_reason: response.stop_reason.clone(),
            usage: response.usage,
            content: response.content.iter().map(for_the_record).collect(),
        };
        let mut line = serde_json::to_string(&recorded).map_err(|e| LlmError::Record {
            file: self.file.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        // A poisoned lock only means another call panicked mid-write; the file is still ours.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| LlmError::Record {
                file: self.file.clone(),
                source,
            })
    }
}

/// A block as a recording keeps it. What the model thought may quote what it read (a key in
/// a file, an environment dump): it is written with known secrets masked. A replayed
/// conversation is never sent to a provider, so the signature need not match any more.
fn for_the_record(block: &ContentBlock) -> ContentBlock {
    match block {
        ContentBlock::Thinking {
            thinking,
            signature,
        } => ContentBlock::Thinking {
            thinking: crate::policy::redact_known(thinking),
            signature: signature.clone(),
        },
        ContentBlock::Reasoning { reasoning } => ContentBlock::Reasoning {
            reasoning: crate::policy::redact_known(reasoning),
        },
        other => other.clone(),
    }
}

/// A one-line summary of a request: how long the conversation is and what came last.
pub fn note(request: &Request) -> String {
    let last = request.messages.last().and_then(|m| m.content.last());
    let what = match last {
        None => "nothing".to_string(),
        Some(ContentBlock::Text { text }) => {
            let first_line = text.lines().next().unwrap_or("");
            let mut short: String = first_line.chars().take(60).collect();
            if short.len() < first_line.len() {
                short.push('…');
            }
            format!("text {short:?}")
        }
        // What the model reasoned is its own; a note says only that it did.
        Some(
            ContentBlock::Thinking { .. }
            | ContentBlock::RedactedThinking { .. }
            | ContentBlock::Reasoning { .. },
        ) => "thinking".to_string(),
        Some(ContentBlock::ToolUse { name, .. } | ContentBlock::InvalidToolUse { name, .. }) => {
            format!("tool call {name}")
        }
        Some(ContentBlock::ToolResult {
            tool_use_id,
            is_error,
            ..
        }) => {
            format!(
                "tool {} for {tool_use_id}",
                if *is_error { "error" } else { "result" }
            )
        }
    };
    format!(
        "{} messages, {} tools; last: {what}",
        request.messages.len(),
        request.tools.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn malformed_lines_are_named_by_file_and_line() {
        let text = "# a comment\n\n{\"model\":\"m\",\"stop_reason\":\"end_turn\",\"content\":[]}\n{\"model\":\"m\",\"content\":[]}\n";
        let err = parse(Path::new("s.jsonl"), text)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err("s.jsonl:4: missing field `stop_reason` (column 26)".to_string())
        );
    }

    #[test]
    fn a_typo_in_a_field_name_is_an_error() {
        let text = "{\"model\":\"m\",\"stop_reason\":\"end_turn\",\"content\":[],\"usgae\":{}}";
        let err = parse(Path::new("s.jsonl"), text)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err("s.jsonl:1: unknown field `usgae`, expected one of `note`, `model`, `stop_reason`, `usage`, `content` (column 58)".to_string())
        );
    }

    #[test]
    fn the_round_trip_keeps_every_field() {
        let recorded = Recorded {
            note: Some("1 messages, 0 tools; last: text \"hi\"".to_string()),
            model: "claude-sonnet-4-5".to_string(),
            stop_reason: StopReason::Other("something_new".to_string()),
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
                cache_read_tokens: 3,
                cache_write_tokens: 4,
                reasoning_tokens: 0,
            },
            content: vec![
                ContentBlock::text("hi"),
                ContentBlock::ToolUse {
                    id: "toolu_1".to_string(),
                    name: "read_file".to_string(),
                    input: json!({"path": "a"}),
                    extra_content: None,
                },
            ],
        };
        let line = serde_json::to_string(&recorded).map_err(|e| e.to_string());
        let back = line
            .clone()
            .and_then(|l| parse(Path::new("x"), &l).map_err(|e| e.to_string()));
        assert_eq!(back, Ok(vec![recorded]));
    }
}
