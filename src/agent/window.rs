//! Keeps the executor's conversation under the model's context window across a long step,
//! as the vendors' context management does (Anthropic's context editing,
//! `clear_tool_uses`): when the prompt grows past three quarters of the room, the oldest tool
//! results are replaced by a short note saying what was cleared, oldest first, the large
//! string inputs of their calls (a `write_file`'s content) with them, until the prompt is
//! down to half the room; the most recent turns stay whole. Clearing in one large batch
//! rather than a little every turn keeps the prompt cache useful between batches.
//!
//! How full the window is comes from the provider: each answer reports the prompt's tokens,
//! which calibrate an estimate from the request's size ([`crate::llm::estimate_tokens`])
//! for the next request. If the server still answers "prompt is too long", the window it
//! names is taken as the model's and more is cleared, down to the last turn
//! ([`Pressure::Refused`]).

use crate::llm::{ContentBlock, Message, Role, estimate_tokens};

/// Tool-result turns kept whole by a routine clearing (Anthropic's default `keep`).
const KEEP_TURNS: usize = 3;
/// String inputs of a cleared call longer than this are cleared too.
const LARGE_INPUT: usize = 256;
const CLEARED_INPUT: &str = "[cleared to save context]";

/// The note a cleared result leaves.
pub fn cleared_note(tool: &str) -> String {
    format!("[result of {tool} cleared to save context; run it again if needed]")
}

fn is_cleared(content: &str) -> bool {
    content.starts_with("[result of ")
        && content.ends_with("cleared to save context; run it again if needed]")
}

/// Why the conversation is being fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressure {
    /// Before a request: clear when the prompt is past the trigger.
    Routine,
    /// The server refused the last request as too long: clear down to the last turn.
    Refused,
}

/// What one fitting cleared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleared {
    pub results: usize,
    /// Estimated prompt tokens before and after.
    pub before: u64,
    pub after: u64,
}

/// The model's window and how the conversation is measured against it.
#[derive(Debug, Clone)]
pub struct ContextWindow {
    window: u64,
    /// Tokens kept free for the answer (its `max_tokens` and the thinking budget).
    answer: u64,
    /// Prompt tokens the provider reported per estimated token, for the last request it
    /// measured.
    calibration: Option<f64>,
}

impl ContextWindow {
    pub fn new(window: u64, answer: u64) -> ContextWindow {
        ContextWindow {
            window,
            answer,
            calibration: None,
        }
    }

    pub fn window(&self) -> u64 {
        self.window
    }

    /// Tokens the prompt may take.
    fn room(&self) -> u64 {
        self.window.saturating_sub(self.answer).max(1)
    }

    /// Estimated prompt tokens of a request of `bytes` bytes.
    pub fn estimate(&self, bytes: usize) -> u64 {
        let raw = estimate_tokens(bytes) as f64;
        (raw * self.calibration.unwrap_or(1.0)).ceil() as u64
    }

    /// The provider reported `prompt_tokens` for a request of `bytes` bytes.
    pub fn measured(&mut self, bytes: usize, prompt_tokens: u64) {
        let raw = estimate_tokens(bytes);
        if raw > 0 && prompt_tokens > 0 {
            // Bounded: one odd report (a cache the server counts apart) must not make the
            // estimate absurd.
            self.calibration = Some((prompt_tokens as f64 / raw as f64).clamp(0.25, 4.0));
        }
    }

    /// The server's window is smaller than the one assumed.
    pub fn shrink(&mut self, tokens: u64) {
        self.window = self.window.min(tokens);
    }

    /// Clear old tool results of `messages` (sent after `fixed_bytes` of system prompt and
    /// tool definitions) as `pressure` asks.
    pub fn fit(&self, fixed_bytes: usize, messages: &mut [Message], pressure: Pressure) -> Cleared {
        let room = self.room();
        let bytes = fixed_bytes + serialized_len(messages);
        let before = self.estimate(bytes);
        let (trigger, target, keep) = match pressure {
            Pressure::Routine => (room * 3 / 4, room / 2, KEEP_TURNS),
            Pressure::Refused => (0, room * 2 / 5, 1),
        };
        let mut cleared = Cleared {
            results: 0,
            before,
            after: before,
        };
        if before <= trigger {
            return cleared;
        }
        let mut bytes = bytes;
        for (at, block) in clearable(messages, keep) {
            if self.estimate(bytes) <= target {
                break;
            }
            bytes -= clear_result(messages, at, block);
            cleared.results += 1;
        }
        cleared.after = self.estimate(bytes);
        cleared
    }
}

fn serialized_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_string(value).map_or(0, |s| s.len())
}

/// The tool results that may be cleared, oldest first: `(message, block)` of every result
/// not cleared yet, outside the last `keep` messages that hold results.
fn clearable(messages: &[Message], keep: usize) -> Vec<(usize, usize)> {
    let with_results: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.role == Role::User
                && m.content
                    .iter()
                    .any(|b| matches!(b, ContentBlock::ToolResult { .. }))
        })
        .map(|(i, _)| i)
        .collect();
    let old = with_results.len().saturating_sub(keep);
    with_results[..old]
        .iter()
        .flat_map(|&at| {
            messages[at]
                .content
                .iter()
                .enumerate()
                .filter(|(_, b)| {
                    matches!(b, ContentBlock::ToolResult { content, .. } if !is_cleared(content))
                })
                .map(move |(block, _)| (at, block))
        })
        .collect()
}

/// Clear one result and the large inputs of its call; returns the bytes saved.
fn clear_result(messages: &mut [Message], at: usize, block: usize) -> usize {
    let before = serialized_len(&messages[at].content[block]);
    let ContentBlock::ToolResult { tool_use_id, .. } = &messages[at].content[block] else {
        return 0;
    };
    let id = tool_use_id.clone();
    let mut tool = "a tool".to_string();
    let mut saved_inputs = 0;
    if let Some(turn) = messages[..at]
        .iter_mut()
        .rev()
        .find(|m| m.role == Role::Assistant)
    {
        // A turn with thinking goes back byte for byte, as the API checks it: its calls keep
        // their inputs. Gemini's thought signatures ride on the calls themselves.
        let thought = turn.content.iter().any(|b| {
            matches!(
                b,
                ContentBlock::Thinking { .. }
                    | ContentBlock::RedactedThinking { .. }
                    | ContentBlock::ToolUse {
                        extra_content: Some(_),
                        ..
                    }
            )
        });
        if let Some(call) = turn.content.iter_mut().find(|b| call_id(b) == Some(&id)) {
            let size = serialized_len(call);
            match call {
                ContentBlock::ToolUse { name, input, .. } => {
                    tool = name.clone();
                    if !thought {
                        clear_large_strings(input);
                    }
                }
                ContentBlock::InvalidToolUse { name, .. } => tool = name.clone(),
                _ => {}
            }
            saved_inputs = size.saturating_sub(serialized_len(call));
        }
    }
    let ContentBlock::ToolResult { content, .. } = &mut messages[at].content[block] else {
        return saved_inputs;
    };
    *content = cleared_note(&tool);
    let after = serialized_len(&messages[at].content[block]);
    before.saturating_sub(after) + saved_inputs
}

fn call_id(block: &ContentBlock) -> Option<&String> {
    match block {
        ContentBlock::ToolUse { id, .. } | ContentBlock::InvalidToolUse { id, .. } => Some(id),
        _ => None,
    }
}

fn clear_large_strings(input: &mut serde_json::Value) {
    if let Some(fields) = input.as_object_mut() {
        for value in fields.values_mut() {
            if value.as_str().is_some_and(|s| s.len() > LARGE_INPUT) {
                *value = serde_json::Value::String(CLEARED_INPUT.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    /// A step's conversation: the step message, then `turns` reads of `size` bytes each.
    fn conversation(turns: usize, size: usize) -> Vec<Message> {
        let mut messages = vec![Message::user("# Current step 1 of 1: read")];
        for i in 0..turns {
            let id = format!("toolu_{i}");
            messages.push(Message::assistant(vec![ContentBlock::ToolUse {
                id: id.clone(),
                name: "write_file".into(),
                input: json!({"path": format!("f{i}"), "content": "w".repeat(1000)}),
                extra_content: None,
            }]));
            messages.push(Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: id,
                    content: "x".repeat(size),
                    is_error: false,
                }],
            });
        }
        messages
    }

    fn results(messages: &[Message]) -> Vec<String> {
        messages
            .iter()
            .flat_map(|m| &m.content)
            .filter_map(|b| match b {
                ContentBlock::ToolResult { content, .. } => Some(if is_cleared(content) {
                    "cleared".to_string()
                } else {
                    content.len().to_string()
                }),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn below_the_trigger_nothing_is_cleared() {
        let window = ContextWindow::new(100_000, 10_000);
        let mut messages = conversation(10, 3_000);
        let before = messages.clone();
        let cleared = window.fit(0, &mut messages, Pressure::Routine);
        assert_eq!(cleared.results, 0);
        assert_eq!(messages, before);
    }

    #[test]
    fn past_the_trigger_the_oldest_results_go_until_half_the_room_and_the_last_turns_stay() {
        // 90,000 tokens of room, results of 30,000 bytes (10,000 tokens) each.
        let window = ContextWindow::new(100_000, 10_000);
        let mut messages = conversation(8, 30_000);
        let cleared = window.fit(0, &mut messages, Pressure::Routine);
        assert!(cleared.before > 90_000 * 3 / 4, "{cleared:?}");
        assert!(cleared.after <= 45_000, "{cleared:?}");
        assert_eq!(
            results(&messages),
            [
                "cleared", "cleared", "cleared", "cleared", "30000", "30000", "30000", "30000"
            ]
        );
        assert_eq!(cleared.results, 4);
        // The note names the tool; the cleared call's large input went with it, the small stayed.
        let ContentBlock::ToolResult { content, .. } = &messages[2].content[0] else {
            panic!()
        };
        assert_eq!(
            content,
            "[result of write_file cleared to save context; run it again if needed]"
        );
        let ContentBlock::ToolUse { input, .. } = &messages[1].content[0] else {
            panic!()
        };
        assert_eq!(input, &json!({"path": "f0", "content": CLEARED_INPUT}));
        // The estimate after is what the conversation now measures.
        assert_eq!(
            cleared.after,
            window.estimate(serialized_len(&messages[..]))
        );
    }

    #[test]
    fn the_kept_turns_are_whole_even_when_the_room_stays_short() {
        let window = ContextWindow::new(20_000, 2_000);
        let mut messages = conversation(5, 20_000);
        window.fit(0, &mut messages, Pressure::Routine);
        assert_eq!(
            results(&messages),
            ["cleared", "cleared", "20000", "20000", "20000"]
        );
        // Refused by the server: everything but the last turn goes.
        let cleared = window.fit(0, &mut messages, Pressure::Refused);
        assert_eq!(cleared.results, 2);
        assert_eq!(
            results(&messages),
            ["cleared", "cleared", "cleared", "cleared", "20000"]
        );
        // Nothing left to clear: a second refusal clears nothing, and the caller gives up.
        assert_eq!(window.fit(0, &mut messages, Pressure::Refused).results, 0);
    }

    #[test]
    fn a_turn_with_thinking_keeps_its_calls_whole() {
        let window = ContextWindow::new(20_000, 2_000);
        let mut messages = conversation(5, 20_000);
        messages[1].content.insert(
            0,
            ContentBlock::Thinking {
                thinking: "read it".into(),
                signature: "sig".into(),
            },
        );
        let turn = messages[1].clone();
        window.fit(0, &mut messages, Pressure::Routine);
        assert_eq!(messages[1], turn);
        assert_eq!(results(&messages)[0], "cleared");
    }

    #[test]
    fn a_turn_with_a_signed_call_keeps_its_calls_whole() {
        let window = ContextWindow::new(20_000, 2_000);
        let mut messages = conversation(5, 20_000);
        let ContentBlock::ToolUse { extra_content, .. } = &mut messages[1].content[0] else {
            panic!("the conversation starts with a call");
        };
        *extra_content = Some(json!({"google": {"thought_signature": "sig"}}));
        let turn = messages[1].clone();
        window.fit(0, &mut messages, Pressure::Routine);
        assert_eq!(messages[1], turn);
        assert_eq!(results(&messages)[0], "cleared");
    }

    #[test]
    fn the_providers_count_calibrates_the_estimate_and_a_smaller_window_is_learned() {
        let mut window = ContextWindow::new(200_000, 8_000);
        assert_eq!(window.estimate(300_000), 100_000);
        // The server counted four bytes a token where the estimate assumes three.
        window.measured(300_000, 75_000);
        assert_eq!(window.estimate(300_000), 75_000);
        window.shrink(100_000);
        assert_eq!(window.window(), 100_000);
        window.shrink(150_000);
        assert_eq!(window.window(), 100_000);
    }
}
