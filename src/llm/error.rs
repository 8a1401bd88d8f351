//! Errors of the model providers. Messages carry what the server said, never a request
//! header or a key.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("no API key for {provider}: {env} is not set")]
    MissingKey {
        provider: &'static str,
        env: &'static str,
    },

    #[error("invalid {provider} configuration: {message}")]
    Config {
        provider: &'static str,
        message: String,
    },

    #[error("cannot reach {provider} at {endpoint}: {message}")]
    Connect {
        provider: &'static str,
        endpoint: String,
        message: String,
    },

    #[error("{provider} {what} timed out after {}", humantime::format_duration(*after))]
    Timeout {
        provider: &'static str,
        /// `"request"` (no response headers in time) or `"stream"` (no bytes in time).
        what: &'static str,
        after: Duration,
    },

    #[error("{provider} returned HTTP {status}{}: {message}", kind.as_deref().map(|k| format!(" ({k})")).unwrap_or_default())]
    Http {
        provider: &'static str,
        status: u16,
        /// The error type or code from the body (`rate_limit_error`, `insufficient_quota`).
        kind: Option<String>,
        message: String,
        retry_after: Option<Duration>,
        /// The server's `x-should-retry` header, which overrides the status table.
        should_retry: Option<bool>,
        /// Which environment variable holds the key, for the hint.
        key_env: &'static str,
        base_env: &'static str,
    },

    #[error("{provider} stream broke off: {message}")]
    StreamCut {
        provider: &'static str,
        message: String,
    },

    #[error("{provider} sent an error in the stream ({kind}): {message}")]
    StreamError {
        provider: &'static str,
        kind: String,
        message: String,
    },

    /// An event of the stream that does not parse: garbled on the way (a proxy, a cut). Like a
    /// cut stream it is retried as a whole.
    #[error("{provider} sent a malformed event: {message}")]
    Malformed {
        provider: &'static str,
        message: String,
    },

    #[error("{provider} sent something unexpected: {message}")]
    Protocol {
        provider: &'static str,
        message: String,
    },

    #[error("{}:{line}: {message}", file.display())]
    ReplayMalformed {
        file: PathBuf,
        line: usize,
        message: String,
    },

    #[error("cannot read the replay file {}: {source}", file.display())]
    ReplayRead {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the recording {} ran out: it holds {recorded} responses and call {call} asked for one more", file.display())]
    ReplayExhausted {
        file: PathBuf,
        recorded: usize,
        call: usize,
    },

    #[error("cannot write the recording {}: {source}", file.display())]
    Record {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: Box<LlmError> },

    /// The server answered nothing through the whole `unreachable_wait`.
    #[error("the model server stayed unreachable for {} ({retries} retries): {last}", humantime::format_duration(Duration::from_secs(waited.as_secs())))]
    Unreachable {
        retries: u32,
        waited: Duration,
        last: Box<LlmError>,
    },
}

/// Errors that say the conversation does not fit the model: Anthropic's 400 "prompt is too
/// long", OpenAI's `context_length_exceeded`, and the wording of compatible servers.
fn is_context_overflow(kind: Option<&str>, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    kind == Some("context_length_exceeded")
        || message.contains("prompt is too long")
        || message.contains("context length")
        || message.contains("context window")
        || message.contains("context_length_exceeded")
}

const CONTEXT_HINT: &str = "the conversation is longer than the model's context window: set context_window to the window the server really has, choose a model with a larger one (--model), or make the plan's steps smaller";

const OVERLOADED_HINT: &str = "the provider stayed overloaded or unavailable through every retry; wait a few minutes, then resume";

/// Error types and codes of 429s that mean "out of money", not "slow down".
fn is_quota(kind: Option<&str>, message: &str) -> bool {
    let kind = kind.unwrap_or_default();
    let message = message.to_ascii_lowercase();
    kind.contains("quota")
        || kind.contains("billing")
        || message.contains("quota")
        || message.contains("billing")
        || message.contains("spend limit")
        || message.contains("credit balance")
}

/// The window a "too long" message names: Anthropic's "prompt is too long: 210417 tokens >
/// 200000 maximum", OpenAI's "This model's maximum context length is 128000 tokens".
fn window_in(message: &str) -> Option<u64> {
    let number_after = |text: &str| -> Option<u64> {
        let digits: String = text
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    if let Some(at) = message.find("maximum context length is") {
        return number_after(&message[at + "maximum context length is".len()..]);
    }
    let before = message.find(" maximum")?;
    let gt = message[..before].rfind('>')?;
    number_after(&message[gt + 1..before])
}

impl LlmError {
    /// Whether the server refused the request as longer than the model's context window.
    pub fn is_context_overflow(&self) -> bool {
        match self {
            LlmError::Http {
                status: 400 | 413,
                kind,
                message,
                ..
            } => is_context_overflow(kind.as_deref(), message),
            LlmError::StreamError { kind, message, .. } => is_context_overflow(Some(kind), message),
            _ => false,
        }
    }

    /// The context window in tokens a "too long" error names, if it names one.
    pub fn context_window(&self) -> Option<u64> {
        match self {
            LlmError::Http { message, .. } | LlmError::StreamError { message, .. }
                if self.is_context_overflow() =>
            {
                window_in(message)
            }
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::MissingKey { .. }
            | LlmError::Config { .. }
            | LlmError::Protocol { .. }
            | LlmError::ReplayMalformed { .. }
            | LlmError::ReplayRead { .. }
            | LlmError::ReplayExhausted { .. }
            | LlmError::Record { .. }
            | LlmError::GaveUp { .. }
            | LlmError::Unreachable { .. } => false,
            LlmError::Connect { .. }
            | LlmError::Timeout { .. }
            | LlmError::StreamCut { .. }
            | LlmError::Malformed { .. } => true,
            // Anthropic names the error type; OpenRouter gives the HTTP status as the code.
            LlmError::StreamError { kind, .. } => {
                matches!(
                    kind.as_str(),
                    "overloaded_error"
                        | "api_error"
                        | "rate_limit_error"
                        | "timeout_error"
                        | "server_error"
                ) || kind
                    .parse::<u16>()
                    .is_ok_and(|s| matches!(s, 408 | 409 | 429 | 500..=599))
            }
            LlmError::Http {
                status,
                kind,
                message,
                retry_after,
                should_retry,
                ..
            } => {
                if let Some(decided) = should_retry {
                    return *decided;
                }
                match status {
                    429 => retry_after.is_some() || !is_quota(kind.as_deref(), message),
                    408 | 409 => true,
                    500..=599 => true,
                    _ => false,
                }
            }
        }
    }

    /// Whether the server answered nothing at all: the connection was refused, the name did not
    /// resolve, it did not connect in time, or it closed before any response header. The
    /// network may come back; such failures are retried for `unreachable_wait`.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, LlmError::Connect { .. })
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// How the user can fix it, if we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            LlmError::MissingKey { env, .. } => Some(format!(
                "set {env}, or choose another provider with --provider"
            )),
            LlmError::Config { .. } => None,
            LlmError::Connect { .. } => Some(
                "check the network and the provider's base URL (ANTHROPIC_BASE_URL or OPENAI_BASE_URL)"
                    .to_string(),
            ),
            LlmError::Timeout { .. } | LlmError::StreamCut { .. } => {
                Some("the provider may be overloaded; try again later".to_string())
            }
            LlmError::Malformed { .. } => Some(
                "the stream kept arriving garbled; check any proxy between you and the provider (ANTHROPIC_BASE_URL or OPENAI_BASE_URL), then resume"
                    .to_string(),
            ),
            LlmError::StreamError { kind, message, .. } => {
                if is_context_overflow(Some(kind), message) {
                    Some(CONTEXT_HINT.to_string())
                } else if self.is_retryable() {
                    Some(OVERLOADED_HINT.to_string())
                } else {
                    None
                }
            }
            LlmError::Protocol { .. } => None,
            LlmError::Http {
                status,
                kind,
                message,
                retry_after,
                key_env,
                base_env,
                ..
            } => match status {
                400 | 413 if is_context_overflow(kind.as_deref(), message) => {
                    Some(CONTEXT_HINT.to_string())
                }
                401 => Some(format!("set {key_env} to a valid API key")),
                403 => Some(format!(
                    "the key in {key_env} is not allowed to use this model or resource"
                )),
                404 => Some(format!("check the model name (--model) and {base_env}")),
                413 => Some("the request is too large; shorten the context".to_string()),
                429 if retry_after.is_none() && is_quota(kind.as_deref(), message) => Some(
                    "the account is out of quota or credit: check the plan and billing details"
                        .to_string(),
                ),
                429 => Some("rate limited: wait a little or lower the request rate".to_string()),
                500..=599 => Some(OVERLOADED_HINT.to_string()),
                _ => None,
            },
            LlmError::ReplayMalformed { .. } => {
                Some("see fixtures/replay/README.md for the format".to_string())
            }
            LlmError::ReplayRead { .. } => Some("check --replay-file".to_string()),
            LlmError::ReplayExhausted { .. } => Some(
                "the run asked the model more often than the recording did; record a new session"
                    .to_string(),
            ),
            LlmError::Record { .. } => None,
            LlmError::GaveUp { last, .. } => last.hint(),
            LlmError::Unreachable { .. } => Some(
                "check the network and the provider's base URL (ANTHROPIC_BASE_URL or OPENAI_BASE_URL), then resume; `unreachable_wait` (git config agent.unreachableWait) sets how long a run waits for it"
                    .to_string(),
            ),
        }
    }
}

impl crate::error::Advice for LlmError {
    fn hint(&self) -> Option<String> {
        LlmError::hint(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, kind: &str, message: &str) -> LlmError {
        LlmError::Http {
            provider: "anthropic",
            status,
            kind: Some(kind.to_string()),
            message: message.to_string(),
            retry_after: None,
            should_retry: None,
            key_env: "ANTHROPIC_API_KEY",
            base_env: "ANTHROPIC_BASE_URL",
        }
    }

    #[test]
    fn a_prompt_too_long_names_its_window() {
        let anthropic = http(
            400,
            "invalid_request_error",
            "prompt is too long: 210417 tokens > 200000 maximum",
        );
        assert!(anthropic.is_context_overflow());
        assert_eq!(anthropic.context_window(), Some(200_000));
        let openai = http(
            400,
            "context_length_exceeded",
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130211 tokens.",
        );
        assert!(openai.is_context_overflow());
        assert_eq!(openai.context_window(), Some(128_000));
        let vague = http(400, "invalid_request_error", "context window exceeded");
        assert!(vague.is_context_overflow());
        assert_eq!(vague.context_window(), None);
        let other = http(400, "invalid_request_error", "max_tokens: 1 > 0 maximum");
        assert!(!other.is_context_overflow());
        assert_eq!(other.context_window(), None);
        assert!(!http(429, "rate_limit_error", "prompt is too long").is_context_overflow());
    }
}
